"""SCJD ablation on real CMU motion capture: what each part of the method buys, at what cost.

Trains, with the same seed, optimiser steps, data and student size:
  (a) the student without distillation (ground truth at its N frames only),
  (b)-(e) the student plus ONE distillation term each: output, DJED, AJAD, TCD,
  (f) full SCJD with uniform sampling, (g) with motion sampling, (h) with central sampling,
  (i) a PoseFormerV2-style baseline sized to about the student's MACs per output frame,
plus the teacher for reference (trained here from recipes/teacher_cmu.yaml unless
--teacher is given; `smoke` trains a tiny one). Every model is evaluated on the CMU test
subject(s) with `scjd_edge.train.evaluate` (MPJPE, P-MPJPE, MPJVE of the centre frame of
a window centred on every frame), and its cost counted with `scjd_edge.bench.flops`.
Writes benchmarks/results/ablation_cmu.{md,json} (`smoke`: ablation_cmu_smoke.*) with a
goals section computed from the numbers.

    python benchmarks/ablation.py --data ../shared/data/cmu2 --budget smoke
    python benchmarks/ablation.py --data ../shared/data/cmu2 --budget full [--teacher CKPT]

`smoke` (tiny models, a few steps) proves the pipeline in minutes; only `full` measures.
"""

from __future__ import annotations

import os

# Idle OpenMP threads sleep instead of spinning, so that torch threads waiting for cores
# that other processes hold do not slow every small op down many-fold. Must be set before
# torch loads OpenMP.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import torch  # noqa: E402
from rich.console import Console  # noqa: E402

from scjd_edge.bench.flops import (  # noqa: E402
    DELIVERED_POSE_CONVENTION,
    FRAME_CONVENTION,
    MAC_CONVENTION,
    macs_per_delivered_pose,
    model_cost,
)
from scjd_edge.bench.goals import goals_markdown, judged  # noqa: E402
from scjd_edge.config import Recipe, load_recipe  # noqa: E402
from scjd_edge.distill.task import distill  # noqa: E402
from scjd_edge.errors import ScjdError  # noqa: E402
from scjd_edge.io import write_json, write_text  # noqa: E402
from scjd_edge.train.checkpoint import load_checkpoint, recipe_of  # noqa: E402
from scjd_edge.train.evaluate import evaluate_checkpoint  # noqa: E402
from scjd_edge.train.tasks import train_teacher  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO / "benchmarks" / "results"
DISTILL_TERMS = ("output", "djed", "ajad", "tcd")
STUDENT_MACS_GOAL = 1 / 6  # student MACs per output frame <= teacher's / 6
IMPROVEMENT_GOAL_MM = 3.0  # full SCJD better than (a) by >= 3 mm ...
IMPROVEMENT_GOAL_FRACTION = 0.10  # ... or by >= 10 %


@dataclass(frozen=True)
class Variant:
    key: str
    folder: str  # run folder under --out (benchmarks/run_all.py reads scjd/ and poseformerv2/)
    label: str
    terms: tuple[str, ...] = ()  # distillation terms switched on (recipe weights)
    sampling: str = "uniform"


ALL_TERMS = DISTILL_TERMS
VARIANTS = (
    Variant("a", "student_plain", "student, no distillation"),
    Variant("b", "output", "+ output distillation", ("output",)),
    Variant("c", "djed", "+ DJED", ("djed",)),
    Variant("d", "ajad", "+ AJAD", ("ajad",)),
    Variant("e", "tcd", "+ TCD", ("tcd",)),
    Variant("f", "scjd", "full SCJD, uniform sampling", ALL_TERMS),
    Variant("g", "scjd_motion", "full SCJD, motion sampling", ALL_TERMS, "motion"),
    Variant("h", "scjd_central", "full SCJD, central sampling", ALL_TERMS, "central"),
)
BASELINE = Variant("i", "poseformerv2", "PoseFormerV2-style, student's MACs per output frame")
# Accuracy is scored on the centre frame, which costs a student one whole window; so also a
# baseline at the student's MACs per window (reported, not part of the goals).
BASELINE_PER_WINDOW = Variant(
    "j", "poseformerv2_window", "PoseFormerV2-style, student's MACs per window"
)


@dataclass(frozen=True)
class Budget:
    """Recipe overrides of one budget: the same `train` settings for every student and the
    baseline, so that the variants differ only in what the ablation varies."""

    teacher: tuple[str, ...]  # over recipes/teacher_cmu.yaml
    train: tuple[str, ...]  # over scjd_cmu.yaml and poseformerv2_cmu.yaml
    steps: int  # optimiser steps of every student and baseline
    steps_given_teacher: int  # the same when --teacher saves the teacher's training time
    student_model: tuple[str, ...] = ()
    baseline_model: tuple[str, ...] = ()
    # (j), over poseformerv2_cmu.yaml: about the student's MACs per window.
    baseline_window_model: tuple[str, ...] = (
        "model.dim=16",
        "model.depth=1",
        "model.heads=2",
        "model.mlp_ratio=2.5",
        "model.central_frames=3",
    )


_SMOKE_TRAIN = (
    "train.epochs=1",
    "train.batch_size=32",
    "train.warmup_steps=5",
    "train.ema=null",
    "train.val_max_windows=64",
    "train.log_every=10",
)
BUDGETS = {
    # A few minutes on 2 cores: a tiny T = 27 teacher and tiny students, 20-30 steps each.
    # Proves that the pipeline runs; the numbers mean nothing.
    "smoke": Budget(
        teacher=(
            *_SMOKE_TRAIN,
            "train.max_steps=30",
            "model.frames=27",
            "model.dim=16",
            "model.depth=2",
            "model.heads=2",
        ),
        train=_SMOKE_TRAIN,
        steps=20,
        steps_given_teacher=20,
        student_model=("model.dim=8", "model.depth=2", "model.heads=2"),
        baseline_model=("model.dim=8", "model.depth=1", "model.heads=2"),
        baseline_window_model=(
            "model.dim=8",
            "model.depth=1",
            "model.heads=2",
            "model.mlp_ratio=2.0",
            "model.central_frames=3",
        ),
    ),
    # About an hour on 2 free cores: the teacher exactly as recipes/teacher_cmu.yaml
    # (its ~20-30 min), then 800 steps of batch 16 per student (1200 when --teacher is
    # given). The teacher's forward pass dominates a distillation step and grows with the
    # batch, while an under-trained student gains more from steps than from batch size.
    "full": Budget(
        teacher=(),
        train=(
            "train.epochs=2",
            "train.batch_size=16",
            "train.warmup_steps=50",
            "train.ema=null",
            "train.val_max_windows=512",
        ),
        steps=800,
        steps_given_teacher=1200,
    ),
}


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    console = Console(highlight=False)
    torch.set_num_threads(args.threads)
    try:
        report = run_ablation(args, console)
    except ScjdError as error:
        console.print(f"[bold red]error:[/] {error}")
        return 2
    stem = "ablation_cmu" if args.budget == "full" else f"ablation_cmu_{args.budget}"
    write_json(args.results / f"{stem}.json", report)
    write_text(args.results / f"{stem}.md", render_markdown(report))
    console.print(render_markdown(report))
    console.print(f"wrote {args.results / stem}.md and .json")
    return 0


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="CMU data folder")
    parser.add_argument("--budget", choices=sorted(BUDGETS), required=True)
    parser.add_argument("--teacher", type=Path, help="teacher checkpoint (default: train one)")
    parser.add_argument("--out", type=Path, help="run folder (default runs/ablation[_smoke])")
    parser.add_argument("--results", type=Path, default=RESULTS_DIR, help="report folder")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, ... (default cpu)")
    parser.add_argument(
        "--reuse", action="store_true", help="keep runs of --out that already have a result"
    )
    args = parser.parse_args(argv)
    if args.out is None:
        suffix = "" if args.budget == "full" else f"_{args.budget}"
        args.out = REPO / "runs" / f"ablation{suffix}"
    return args


def run_ablation(args: argparse.Namespace, console: Console) -> dict[str, Any]:
    budget = BUDGETS[args.budget]
    started = time.perf_counter()
    teacher_row = _teacher_row(args, budget, console)
    window_frames = teacher_row["window_frames"]
    steps = budget.steps if args.teacher is None else budget.steps_given_teacher
    train = (*budget.train, f"train.max_steps={steps}")
    student_recipe = _recipe("scjd_cmu", args, train + budget.student_model)
    student_recipe.distill.window_frames = window_frames
    rows = [teacher_row]
    for variant in VARIANTS:
        recipe = _variant_recipe(student_recipe, variant)
        rows.append(_run(args, variant, recipe, console, teacher=teacher_row["checkpoint"]))
    for variant, model_overrides in (
        (BASELINE, budget.baseline_model),
        (BASELINE_PER_WINDOW, budget.baseline_window_model),
    ):
        overrides = (*train, *model_overrides, f"model.frames={window_frames}")
        recipe = _recipe("poseformerv2_cmu", args, overrides)
        recipe.name = f"ablation_{variant.folder}"
        rows.append(_run(args, variant, recipe, console))
    return {
        "benchmark": "scjd-edge SCJD ablation",
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "budget": args.budget,
        "data": _data_record(args, student_recipe),
        "settings": {
            "seed": student_recipe.seed,
            "train": student_recipe.train.model_dump(),
            "student_model": student_recipe.model.model_dump(),
            "distill": student_recipe.distill.model_dump(),
            "threads": args.threads,
            "device": args.device,
            "torch": torch.__version__,
            "machine": f"{platform.machine()} {platform.processor()}".strip(),
            "wall_time_s": time.perf_counter() - started,
        },
        "conventions": {
            "macs": MAC_CONVENTION,
            "frames": FRAME_CONVENTION,
            "delivered_pose": DELIVERED_POSE_CONVENTION,
        },
        "rows": rows,
        "goals": evaluate_goals(rows),
    }


def _recipe(name: str, args: argparse.Namespace, overrides: tuple[str, ...]) -> Recipe:
    return load_recipe(name, [f"data.path={args.data}", *overrides])


def _variant_recipe(base: Recipe, variant: Variant) -> Recipe:
    """The student recipe with only the variant's distillation terms switched on."""
    recipe = base.model_copy(deep=True)
    recipe.name = f"ablation_{variant.folder}"
    for term in DISTILL_TERMS:
        if term not in variant.terms:
            setattr(recipe.distill, f"{term}_weight", 0.0)
    recipe.distill.sampling = variant.sampling
    return recipe


def _teacher_row(args: argparse.Namespace, budget: Budget, console: Console) -> dict[str, Any]:
    teacher = Variant("T", "teacher", "teacher (reference)")
    if args.teacher is not None:
        checkpoint = load_checkpoint(args.teacher)
        recipe = recipe_of(checkpoint, source=str(args.teacher))
        return _result_row(args, teacher, recipe, args.teacher, None, console)
    recipe = _recipe("teacher_cmu", args, budget.teacher)
    return _run(args, teacher, recipe, console)


def _run(
    args: argparse.Namespace,
    variant: Variant,
    recipe: Recipe,
    console: Console,
    teacher: str | None = None,
) -> dict[str, Any]:
    """Train one variant (or reuse its finished run) and measure it."""
    run_dir = args.out / variant.folder
    saved = run_dir / "ablation_row.json"
    if args.reuse and saved.is_file():
        console.print(f"[bold]({variant.key}) {variant.label}[/]: reusing {run_dir}")
        return json.loads(saved.read_text(encoding="utf-8"))
    console.print(f"[bold]({variant.key}) {variant.label}[/] -> {run_dir}")
    if teacher is None:  # the teacher and the baselines: supervised on ground truth
        summary = train_teacher(recipe, run_dir, device=args.device)
    else:
        summary = distill(recipe, teacher, run_dir, device=args.device)
    row = _result_row(args, variant, recipe, summary["best_checkpoint"], summary, console)
    write_json(saved, row)
    return row


def _result_row(
    args: argparse.Namespace,
    variant: Variant,
    recipe: Recipe,
    checkpoint_path: str | Path,
    summary: dict[str, Any] | None,
    console: Console,
) -> dict[str, Any]:
    checkpoint = load_checkpoint(checkpoint_path)
    deployment = checkpoint["deployment"]
    model_config = recipe_of(checkpoint, source=str(checkpoint_path)).model
    cost = model_cost(model_config, int(deployment.input_frames))
    evaluation = evaluate_checkpoint(checkpoint_path, args.data, "test", device=args.device)
    row = {
        "key": variant.key,
        "folder": variant.folder,
        "label": variant.label,
        "kind": checkpoint["kind"],
        "checkpoint": str(checkpoint_path),
        "model": model_config.model_dump(),
        "distill_terms": list(variant.terms),
        "distill_weights": (
            {term: getattr(recipe.distill, f"{term}_weight") for term in DISTILL_TERMS}
            if recipe.distill is not None
            else None
        ),
        "sampling": deployment.sampling,
        "window_frames": int(deployment.window_frames),
        "input_frames": int(deployment.input_frames),
        "frame_offsets": deployment.frame_offsets,
        "params": cost.params,
        "output_frames": cost.output_frames,
        "macs_per_window": cost.macs_per_window,
        "macs_per_output_frame": cost.macs_per_output_frame,
        "macs_per_delivered_pose": macs_per_delivered_pose(
            cost, test_time_passes=2 if evaluation["test_flip"] else 1
        ),
        "lookahead_frames": deployment.lookahead_frames,
        "steps": None if summary is None else summary["step"],
        "train_time_s": None if summary is None else summary["wall_time_s"],
        "val_mpjpe_mm": checkpoint["metrics"].get("best_val_mpjpe_mm"),
        "test": {key: evaluation["overall"][key] for key in ("mpjpe", "p_mpjpe", "mpjve")},
        "test_poses": evaluation["poses"],
        "test_flip": evaluation["test_flip"],
    }
    console.print(
        f"  test MPJPE {row['test']['mpjpe']:.1f} mm, P-MPJPE {row['test']['p_mpjpe']:.1f} mm, "
        f"{row['macs_per_delivered_pose'] / 1e6:.2f} M MACs per delivered pose, lookahead "
        f"{row['lookahead_frames']} frames"
    )
    return row


def _data_record(args: argparse.Namespace, recipe: Recipe) -> dict[str, Any]:
    return {
        "path": str(args.data),
        "train_subjects": recipe.data.train_subjects,
        "val_subjects": recipe.data.val_subjects,
        "test_subjects": recipe.data.test_subjects,
        "keypoints_2d": "ground-truth projections"
        + (f" + {recipe.data.noise_px} px noise (training)" if recipe.data.noise_px else ""),
    }


def evaluate_goals(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The claims of METHOD.md, checked on this run's numbers."""
    by_key = {row["key"]: row for row in rows}
    teacher, plain, scjd = by_key["T"], by_key["a"], by_key["f"]
    baseline, equal_pose_cost = by_key["i"], by_key["j"]
    macs_ratio = scjd["macs_per_output_frame"] / teacher["macs_per_output_frame"]
    gain_mm = plain["test"]["mpjpe"] - scjd["test"]["mpjpe"]
    gain_fraction = gain_mm / plain["test"]["mpjpe"]
    margin_mm = baseline["test"]["mpjpe"] - scjd["test"]["mpjpe"]
    return [
        judged(
            "student MACs per output frame <= 1/6 of the teacher's",
            macs_ratio <= STUDENT_MACS_GOAL,
            f"{macs_ratio:.3f} x the teacher (1/{1 / macs_ratio:.1f})",
        ),
        judged(
            "full SCJD (f) beats the undistilled student (a) by >= 3 mm or >= 10 % MPJPE",
            gain_mm >= IMPROVEMENT_GOAL_MM or gain_fraction >= IMPROVEMENT_GOAL_FRACTION,
            f"{gain_mm:+.1f} mm ({100 * gain_fraction:+.1f} %)",
        ),
        judged(
            "full SCJD (f) beats the PoseFormerV2-style baseline (i) on MPJPE",
            margin_mm > 0,
            f"{margin_mm:+.1f} mm at {scjd['macs_per_output_frame'] / 1e6:.2f} vs "
            f"{baseline['macs_per_output_frame'] / 1e6:.2f} M MACs per output frame",
        ),
        judged(
            "full SCJD (f) beats the PoseFormerV2-style baseline at equal MACs per delivered "
            "pose (j) on MPJPE",
            equal_pose_cost["test"]["mpjpe"] > scjd["test"]["mpjpe"],
            f"{equal_pose_cost['test']['mpjpe'] - scjd['test']['mpjpe']:+.1f} mm at "
            f"{_delivered_macs_text(scjd)} vs {_delivered_macs_text(equal_pose_cost)} MACs per "
            "delivered pose",
        ),
    ]


def render_markdown(report: dict[str, Any]) -> str:
    settings, data = report["settings"], report["data"]
    train = settings["train"]
    lines = [
        f"# SCJD ablation on CMU motion capture (budget: {report['budget']})",
        "",
        f"Created {report['created']}; {settings['device']} with {settings['threads']} torch "
        f"threads ({settings['machine']}), torch {settings['torch']}; total wall time "
        f"{settings['wall_time_s'] / 60:.1f} min.",
        "",
        f"Data: real CMU motion capture in the H36M 17-joint layout ({data['path']}); train "
        f"{', '.join(data['train_subjects'])}, validation (model selection) "
        f"{', '.join(data['val_subjects'])}, **test {', '.join(data['test_subjects'])}**; "
        f"2D input: {data['keypoints_2d']}.",
        "",
        f"Every student and the baseline: seed {settings['seed']}, {train['max_steps']} "
        f"optimiser steps of batch {train['batch_size']}, lr {train['lr']}; students are "
        f"`{_model_text(settings['student_model'])}`. Metrics on the centre frame of a window "
        "centred on every test frame (test-time flip as in the recipe).",
        "",
        "| | run | sampling | N / T | params | MACs / window | MACs / output frame | "
        "MACs / delivered pose | lookahead (frames) | "
        "train time (s) | val MPJPE (mm) | test MPJPE (mm) | test P-MPJPE (mm) | "
        "test MPJVE (mm/frame) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in report["rows"]:
        lines.append(_markdown_row(row))
    lines += [
        "",
        "(b)-(e) add ONE distillation term each to (a); (f)-(h) use all four with the "
        "recipe's weights: "
        + ", ".join(f"{term} {weight:g}" for term, weight in _full_weights(report).items())
        + ". (i) and (j) see the full window and predict its centre frame.",
        "",
        f"MACs: {report['conventions']['macs']}. Frames: {report['conventions']['frames']}. "
        "A student predicts all N of its frames in one pass, but the accuracy here is that "
        "of its centre frame, which costs one whole window: per output frame is its cost "
        "only if all N outputs were delivered, which no deployment here does; "
        f"{report['conventions'].get('delivered_pose', 'per delivered pose not recorded')}. "
        "(i) matches the student per output frame, (j) per window.",
        "",
        goals_markdown(report["goals"]),
    ]
    if report["budget"] != "full":
        lines += [
            "",
            f"Budget `{report['budget']}`: tiny models and a few steps that prove the pipeline "
            "runs; these numbers measure nothing. Run `--budget full` for the ablation.",
        ]
    return "\n".join(lines) + "\n"


def _markdown_row(row: dict[str, Any]) -> str:
    def number(value, digits=1):
        return "-" if value is None else f"{value:.{digits}f}"

    test = row["test"]
    return (
        f"| ({row['key']}) | {row['label']} | {row['sampling']} | "
        f"{row['input_frames']} / {row['window_frames']} | {row['params']:,} | "
        f"{row['macs_per_window'] / 1e6:.2f} M | {row['macs_per_output_frame'] / 1e6:.3f} M | "
        f"{_delivered_macs_text(row)} | {row.get('lookahead_frames', '-')} | "
        f"{number(row['train_time_s'], 0)} | {number(row['val_mpjpe_mm'])} | "
        f"{test['mpjpe']:.1f} | {test['p_mpjpe']:.1f} | {test['mpjve']:.2f} |"
    )


def _delivered_macs_text(row: dict[str, Any]) -> str:
    if "macs_per_delivered_pose" not in row:  # results written before it was recorded
        return "-"
    return f"{row['macs_per_delivered_pose'] / 1e6:.2f} M"


def _model_text(model: dict[str, Any]) -> str:
    return f"{model['name']} dim {model['dim']}, depth {model['depth']}, heads {model['heads']}"


def _full_weights(report: dict[str, Any]) -> dict[str, float]:
    full = next(row for row in report["rows"] if row["key"] == "f")
    return full["distill_weights"]


if __name__ == "__main__":
    sys.exit(main())
