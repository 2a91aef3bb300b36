"""Accuracy per cost on CMU v2 (new bodies): where SCJD students sit on the frontier.

One run trains and scores, on the same data and machine:
  the teacher: a wide VideoPose3D-style TCN (recipes/frontier_tcn_teacher_cmu.yaml, centre
  frame only: it feeds SCJD's output term), given `teacher_steps` (an interrupted or
  separately started run of the same recipe is resumed, and its training time is read
  from its log);
  the SCJD student (recipes/frontier_scjd_cmu.yaml), the same student without
  distillation, the causal SCJD student (lookahead 0) and the VideoPose3D-style TCN-27
  (recipes/tcn27_cmu.yaml); every one of them with every seed of the budget.
Every model but the teacher gets the same training time: its optimiser steps are its
budget divided by its step time, measured for all models in interleaved rounds
(A B C ... A B C ...) before any of them trains, with the teacher's targets cached first
(their one-off cost is reported). Models are chosen on the validation subjects; each
best.pt is scored on the full validation split and, once, on the test subjects, each with
exact 2D and with detector-like 2D (scjd_edge/data/detector_noise.py), per test subject;
the SCJD student also with 2D arriving at 25 and 10 frames/s (resampled to its 50, and
at 10 frames/s not resampled, as a control).

Writes benchmarks/results/frontier_cmu.{md,json,png} (`smoke`: frontier_cmu_smoke.*): a
table per model (mean and spread over seeds), MPJPE against MACs per delivered pose (log x)
with the Pareto front, and the issue's goals judged by code.

    python benchmarks/frontier.py --budget full [--data builtin:cmu] [--reuse]
    python benchmarks/frontier.py --budget smoke     # tiny models, minutes: the pipeline only
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: shared cores

import argparse  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import torch  # noqa: E402
from rich.console import Console  # noqa: E402

from scjd_edge import __version__  # noqa: E402
from scjd_edge.bench.flops import (  # noqa: E402
    DELIVERED_POSE_CONVENTION,
    MAC_CONVENTION,
    macs_per_delivered_pose,
    model_cost,
)
from scjd_edge.bench.goals import goals_markdown, judged, not_measured  # noqa: E402
from scjd_edge.bench.timing import seconds_per_training_step  # noqa: E402
from scjd_edge.config import Recipe, load_recipe, validate_recipe  # noqa: E402
from scjd_edge.distill.task import DistillTask, distill  # noqa: E402
from scjd_edge.errors import ScjdError  # noqa: E402
from scjd_edge.io import atomic_path, sha256_file, write_json, write_text  # noqa: E402
from scjd_edge.train.checkpoint import load_checkpoint, recipe_of  # noqa: E402
from scjd_edge.train.engine import load_training_data, training_seconds  # noqa: E402
from scjd_edge.train.evaluate import InputCondition, evaluate_checkpoint  # noqa: E402
from scjd_edge.train.tasks import TeacherTask, train_teacher  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO / "benchmarks" / "results"
DISTILL_TERMS = ("output", "djed", "ajad", "tcd")
# The goals (test MPJPE on CMU09/14/49, mm, means over seeds; MACs per delivered
# pose; the teacher's lead on validation).
STUDENT_EXACT_GOAL_MM = 55.0
STUDENT_DETECTOR_GOAL_MM = 70.0
STUDENT_MACS_GOAL = 2.2e6
LEAD_OVER_TCN_GOAL_MM = 3.0
TEACHER_LEAD_GOAL_MM = 8.0
TEACHER_MINUTES_GOAL = 60.0
STEP_RATIO_GOAL = 1.3
DISTILL_GAIN_GOAL_MM = 2.0
FRAME_RATE_GOAL_MM = 3.0
TWO_D = {"exact": InputCondition(), "detector": InputCondition(two_d="detector")}
# The SCJD student fed 2D that arrived at another rate (exact 2D, test split).
FRAME_RATES = {
    "25_resampled": InputCondition(input_fps=25.0),
    "10_resampled": InputCondition(input_fps=10.0),
    "10_not_resampled": InputCondition(input_fps=10.0, resample=False),
}


@dataclass(frozen=True)
class Teacher:
    key: str  # run folder and JSON key
    label: str
    recipe: str


TEACHERS = (Teacher("tcn_teacher", "teacher: TCN-27, 512 channels", "frontier_tcn_teacher_cmu"),)
# The SCJD students' teacher, chosen on validation (recipes/frontier_scjd_cmu.yaml).
STUDENT_TEACHER = "tcn_teacher"


@dataclass(frozen=True)
class Model:
    """One line of the frontier: a recipe, its overrides and how it is trained."""

    key: str  # run folder and JSON key
    label: str
    recipe: str
    overrides: tuple[str, ...] = ()
    distilled: bool = False  # trained by `distill` (DistillTask), else supervised
    teacher: str = STUDENT_TEACHER  # the key of the teacher a distilled model learns from


NO_DISTILLATION = tuple(f"distill.{term}_weight=0" for term in DISTILL_TERMS)
# The four SCJD terms at METHOD.md's weights (the recipe keeps only those that helped on
# validation): the method as specified, as a control.
ALL_FOUR_TERMS = (
    "distill.output_weight=1",
    "distill.djed_weight=0.01",
    "distill.ajad_weight=10",
    "distill.tcd_weight=1",
)


def listed_offsets(*offsets: int) -> tuple[str, ...]:
    """Overrides that make a student read exactly these frame offsets."""
    return (
        "distill.sampling=offsets",
        f"distill.frame_offsets=[{','.join(str(offset) for offset in offsets)}]",
        f"distill.input_frames={len(offsets)}",
    )


MODELS = (
    Model("scjd", "SCJD student", "frontier_scjd_cmu", distilled=True),
    Model(
        "undistilled",
        "student, no distillation",
        "frontier_scjd_cmu",
        NO_DISTILLATION + ("distill.teacher_cache=false",),
        distilled=True,
    ),
    Model(
        "causal0",
        "causal SCJD student, lookahead 0",
        "frontier_scjd_cmu",
        listed_offsets(-9, -3, 0),
        distilled=True,
    ),
    Model("tcn27", "VideoPose3D-style TCN-27", "tcn27_cmu"),
)


@dataclass(frozen=True)
class Budget:
    teacher_steps: dict[str, int]  # per teacher key
    model_minutes: float  # every other model's training time
    seeds: tuple[int, ...]
    overrides: tuple[str, ...] = ()  # over every recipe (smoke: tiny models and data)
    teacher_overrides: dict[str, tuple[str, ...]] | None = None  # per teacher key
    calibration_steps: int = 8  # timed steps per model per round
    calibration_rounds: int = 3
    score_every: int = 1  # score every k-th frame of validation and test (smoke: a look)


_SMOKE_DATA = ("data.train_stride=64", "train.val_max_windows=64", "train.log_every=5")
BUDGETS = {
    "full": Budget(teacher_steps={"tcn_teacher": 4000}, model_minutes=2.0, seeds=(0, 1, 2)),
    "smoke": Budget(
        teacher_steps={"tcn_teacher": 4},
        model_minutes=0.02,
        seeds=(0, 1),
        overrides=_SMOKE_DATA,
        teacher_overrides={"tcn_teacher": ("model.dim=16",)},
        calibration_steps=2,
        calibration_rounds=2,
        score_every=97,
    ),
}


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    console = Console(highlight=False)
    torch.set_num_threads(args.threads)
    try:
        report = run_frontier(args, console)
    except ScjdError as error:
        console.print(f"[bold red]error:[/] {error}")
        return 2
    if report is None:
        console.print(f"teachers trained and scored in {args.out}; run again with --reuse")
        return 0
    stem = "frontier_cmu" if args.budget == "full" else f"frontier_cmu_{args.budget}"
    write_json(args.results / f"{stem}.json", report)
    write_text(args.results / f"{stem}.md", render_markdown(report, f"{stem}.png"))
    plot_frontier(report, args.results / f"{stem}.png")
    console.print(render_markdown(report, f"{stem}.png"))
    console.print(f"wrote {args.results / stem}.md, .json and .png")
    return 0


def _parse(
    argv: list[str] | None,
    budgets: dict[str, Budget] | None = None,
    name: str = "frontier",
    description: str = __doc__.split("\n\n")[0],
) -> argparse.Namespace:
    """The command line of this script, or of another that runs its models (`name` names
    the run folder runs/<name>[_<budget>])."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--data", default="builtin:cmu", help="CMU data (default builtin:cmu)")
    parser.add_argument("--budget", choices=sorted(budgets or BUDGETS), required=True)
    parser.add_argument("--out", type=Path, help=f"run folder (default runs/{name}[_smoke])")
    parser.add_argument("--results", type=Path, default=RESULTS_DIR, help="report folder")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument(
        "--teachers-only",
        action="store_true",
        help="train and score the teachers, then stop (a later --reuse run keeps them)",
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep models of --out that already have a result (marked 'reused' in the report)",
    )
    args = parser.parse_args(argv)
    if args.out is None:
        args.out = REPO / "runs" / (name if args.budget == "full" else f"{name}_{args.budget}")
    return args


def run_frontier(args: argparse.Namespace, console: Console) -> dict[str, Any] | None:
    budget = BUDGETS[args.budget]
    started = time.perf_counter()
    load_before = os.getloadavg()
    teachers = {teacher.key: _teacher(teacher, args, budget, console) for teacher in TEACHERS}
    if args.teachers_only:
        return None
    teacher_paths = {
        model.key: teachers[model.teacher]["checkpoint"] for model in MODELS if model.distilled
    }
    # The step count, set below from the time budget, ends every run (not an epoch count).
    recipes = {
        (model.key, seed): _recipe(
            model.recipe, args, budget, (*model.overrides, "train.epochs=10000"), seed
        )
        for model in MODELS
        for seed in budget.seeds
    }
    cache_fill_s = _fill_teacher_caches(recipes, teacher_paths, console)
    step_times = _step_times(recipes, teacher_paths, budget, console)
    runs = []
    for (key, seed), recipe in recipes.items():
        model = next(model for model in MODELS if model.key == key)
        steps = max(1, round(budget.model_minutes * 60 / statistics.median(step_times[key])))
        recipe.train.max_steps = steps
        runs.append(_train_and_score(args, model, seed, recipe, teacher_paths.get(key), console))
    for row in runs:
        if row["key"] == "scjd" and "frame_rates" not in row:
            row["frame_rates"] = score_frame_rates(args, row)
    report = {
        "benchmark": "scjd-edge accuracy-per-cost frontier",
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "budget": args.budget,
        "data": _data_record(args, next(iter(recipes.values()))),
        "settings": {
            "teacher_steps": budget.teacher_steps,
            "model_minutes": budget.model_minutes,
            "seeds": list(budget.seeds),
            "threads": args.threads,
            "torch": torch.__version__,
            "scjd_edge": __version__,
            "machine": " ".join(part for part in (platform.machine(), platform.processor()) if part)
            + f", {os.cpu_count()} logical CPUs",
            "load_average_before": [round(value, 2) for value in load_before],
            "load_average_after": [round(value, 2) for value in os.getloadavg()],
            "wall_time_s": time.perf_counter() - started,
        },
        "conventions": {"macs": MAC_CONVENTION, "delivered_pose": DELIVERED_POSE_CONVENTION},
        "teachers": teachers,
        "student_teacher": STUDENT_TEACHER,
        "teacher_cache_fill_s": cache_fill_s,
        "step_times_ms": {key: [t * 1000 for t in times] for key, times in step_times.items()},
        "runs": runs,
        "models": summarise(runs, [model.key for model in MODELS]),
    }
    report["pareto"] = pareto_front(report["models"] + _teacher_points(teachers))
    report["goals"] = evaluate_goals(report)
    return report


def _recipe(
    name: str, args: argparse.Namespace, budget: Budget, overrides: tuple[str, ...], seed: int
) -> Recipe:
    return load_recipe(
        name, [f"data.path={args.data}", *budget.overrides, *overrides, f"seed={seed}"]
    )


def _teacher(
    teacher: Teacher, args: argparse.Namespace, budget: Budget, console: Console
) -> dict[str, Any]:
    """Train (or resume, or reuse) a teacher for its steps; its scores."""
    overrides = (*(budget.teacher_overrides or {}).get(teacher.key, ()), "train.epochs=10000")
    recipe = _recipe(teacher.recipe, args, budget, overrides, budget.seeds[0])
    recipe.train.max_steps = budget.teacher_steps[teacher.key]
    saved = args.out / teacher.key / "frontier_row.json"
    reused = _reusable_row(args, saved, recipe)
    if reused is not None:
        console.print(f"[bold]{teacher.label}[/]: reusing {saved.parent}")
        return {**reused, "key": teacher.key, "label": teacher.label}
    resume = (saved.parent / "last.pt").is_file()
    console.print(
        f"[bold]{teacher.label}[/]: {recipe.train.max_steps} steps -> {saved.parent}"
        + (" (resuming)" if resume else "")
    )
    summary = train_teacher(recipe, saved.parent, resume=resume)
    summary["wall_time_s"] = training_seconds(saved.parent / "log.jsonl")
    row = {"key": teacher.key, "label": teacher.label, **_score(args, recipe, summary, console)}
    write_json(saved, row)
    return row


def _reusable_row(
    args: argparse.Namespace, saved: Path, recipe: Recipe, teacher_path: str | None = None
) -> dict | None:
    """With --reuse, the saved row of a model trained from this same recipe (its step count
    aside: that comes from this run's timing) and, if distilled, from this same teacher
    file, marked reused; None means train it."""
    if not (args.reuse and saved.is_file()):
        return None
    row = json.loads(saved.read_text(encoding="utf-8"))
    # Validated again, so that settings added since take their defaults.
    saved_recipe = validate_recipe(row["recipe"], source=str(saved))
    if _without_step_count(saved_recipe) != _without_step_count(recipe):
        return None
    if teacher_path is not None and row.get("teacher_sha256") != sha256_file(teacher_path):
        return None
    return {**row, "reused": True}


def _without_step_count(recipe: Recipe) -> dict[str, Any]:
    settings = recipe.model_dump(mode="json")
    return {**settings, "train": {**settings["train"], "max_steps": None}}


def _fill_teacher_caches(
    recipes: dict[tuple[str, int], Recipe], teacher_paths: dict[str, str], console: Console
) -> dict[str, float]:
    """Seconds to cache the teacher's targets of every training window, per model that
    reads a cache (seeds share one: the key does not hold the seed)."""
    fill_s = {}
    for (key, _), recipe in recipes.items():
        if key in fill_s or recipe.distill is None or not recipe.distill.teacher_cache:
            continue
        started = time.perf_counter()
        windows = DistillTask(recipe, teacher_paths[key]).fill_teacher_cache()
        fill_s[key] = time.perf_counter() - started
        console.print(f"teacher targets of {windows} windows for {key}: {fill_s[key]:.0f} s")
    return fill_s


def _step_times(
    recipes: dict[tuple[str, int], Recipe],
    teacher_paths: dict[str, str],
    budget: Budget,
    console: Console,
) -> dict[str, list[float]]:
    """Seconds per optimiser step of every model (seed 0), timed in interleaved rounds."""
    tasks = {}
    for (key, seed), recipe in recipes.items():
        if seed == budget.seeds[0]:
            distilled = key in teacher_paths
            task = DistillTask(recipe, teacher_paths[key]) if distilled else TeacherTask(recipe)
            tasks[key] = (task, recipe)
    times = _interleaved_step_times(tasks, budget)
    for key, seconds in times.items():
        console.print(f"step time {key}: {statistics.median(seconds) * 1000:.1f} ms (median)")
    return times


def _interleaved_step_times(
    tasks: dict[str, tuple[Any, Recipe]], budget: Budget
) -> dict[str, list[float]]:
    """Per task, seconds per step of each round; rounds visit the tasks A B C ... in turn.
    A step: a batch of the recipe's training windows, loss, backward, AdamW step."""
    batches = {
        key: _batches(task, recipe, budget.calibration_steps)
        for key, (task, recipe) in tasks.items()
    }
    optimisers = {
        key: torch.optim.AdamW(task.trainable.parameters(), lr=1e-4)
        for key, (task, _) in tasks.items()
    }
    for key, (task, _) in tasks.items():  # warm-up: allocator, caches, lazy initialisation
        seconds_per_training_step(task, optimisers[key], batches[key][:1])
    times: dict[str, list[float]] = {key: [] for key in tasks}
    for _ in range(budget.calibration_rounds):
        for key, (task, _) in tasks.items():
            times[key].append(seconds_per_training_step(task, optimisers[key], batches[key]))
    return times


def _batches(task: Any, recipe: Recipe, count: int) -> list[dict[str, torch.Tensor]]:
    windows = load_training_data(recipe, task.deployment.window_frames).train
    windows.set_epoch(0)
    size = recipe.train.batch_size
    order = torch.randperm(len(windows), generator=torch.Generator().manual_seed(0))
    return [windows[order[i * size : (i + 1) * size]] for i in range(count)]


def _train_and_score(
    args: argparse.Namespace,
    model: Model,
    seed: int,
    recipe: Recipe,
    teacher_path: str | None,
    console: Console,
) -> dict[str, Any]:
    run_dir = args.out / f"{model.key}_seed{seed}"
    saved = run_dir / "frontier_row.json"
    uses_teacher = reads_teacher(recipe.model_dump(mode="json"))
    reused = _reusable_row(args, saved, recipe, teacher_path if uses_teacher else None)
    if reused is not None:
        console.print(f"[bold]{model.label}[/] seed {seed}: reusing {run_dir}")
        return reused
    console.print(f"[bold]{model.label}[/] seed {seed}: {recipe.train.max_steps} steps")
    if model.distilled:
        summary = distill(recipe, teacher_path, run_dir)
    else:
        summary = train_teacher(recipe, run_dir)
    row = {"key": model.key, "label": model.label, "seed": seed}
    if uses_teacher:
        row.update(teacher=model.teacher, teacher_sha256=sha256_file(teacher_path))
    row.update(_score(args, recipe, summary, console))
    write_json(saved, row)
    return row


def _score(
    args: argparse.Namespace, recipe: Recipe, summary: dict[str, Any], console: Console
) -> dict[str, Any]:
    """Full-validation and test MPJPE in both 2D conditions, cost and lookahead of a run."""
    path = summary["best_checkpoint"]
    checkpoint = load_checkpoint(path)
    deployment = checkpoint["deployment"]
    model_config = recipe_of(checkpoint, source=str(path)).model
    cost = model_cost(model_config, int(deployment.input_frames))
    every = BUDGETS[args.budget].score_every if args.budget in BUDGETS else 1
    scores = {
        (split, two_d): evaluate_checkpoint(
            path, args.data, split, condition=condition, every=every
        )
        for split in ("val", "test")
        for two_d, condition in TWO_D.items()
    }
    passes = 2 if scores[("test", "exact")]["test_flip"] else 1
    row = {
        "checkpoint": str(path),
        "recipe": recipe.model_dump(mode="json"),
        "sampling": deployment.sampling,
        "frame_offsets": deployment.frame_offsets,
        "input_normalisation": deployment.input_normalisation,
        "window_frames": int(deployment.window_frames),
        "input_frames": int(deployment.input_frames),
        "params": cost.params,
        "macs_per_window": cost.macs_per_window,
        "test_time_passes": passes,
        "macs_per_delivered_pose": macs_per_delivered_pose(cost, test_time_passes=passes),
        "lookahead_frames": deployment.lookahead_frames,
        "steps": summary["step"],
        "train_time_s": summary["wall_time_s"],
        "val_mpjpe_mm": scores[("val", "exact")]["overall"]["mpjpe"],
        "val_detector_mpjpe_mm": scores[("val", "detector")]["overall"]["mpjpe"],
        "test": _test_figures(scores[("test", "exact")]),
        "test_detector": _test_figures(scores[("test", "detector")]),
        "test_poses": scores[("test", "exact")]["poses"],
    }
    console.print(
        f"  val {row['val_mpjpe_mm']:.1f} / {row['val_detector_mpjpe_mm']:.1f} mm, test "
        f"{row['test']['mpjpe']:.1f} / {row['test_detector']['mpjpe']:.1f} mm (exact / "
        f"detector-like 2D), {row['macs_per_delivered_pose'] / 1e6:.2f} M MACs per delivered "
        f"pose, lookahead {row['lookahead_frames']} frames, {row['steps']} steps in "
        f"{row['train_time_s']:.0f} s"
    )
    return row


def _test_figures(result: dict[str, Any]) -> dict[str, Any]:
    figures = {key: result["overall"][key] for key in ("mpjpe", "p_mpjpe", "mpjve")}
    figures["per_subject"] = {s: v["mpjpe"] for s, v in result["per_subject"].items()}
    return figures


def score_frame_rates(args: argparse.Namespace, row: dict[str, Any]) -> dict[str, float]:
    """Test MPJPE (exact 2D) of a row's model fed 2D that arrived at other rates."""
    every = BUDGETS[args.budget].score_every
    return {
        key: evaluate_checkpoint(
            row["checkpoint"], args.data, "test", condition=condition, every=every
        )["overall"]["mpjpe"]
        for key, condition in FRAME_RATES.items()
    }


def _data_record(args: argparse.Namespace, recipe: Recipe) -> dict[str, Any]:
    return {
        "path": str(args.data),
        "train_subjects": recipe.data.train_subjects,
        "val_subjects": recipe.data.val_subjects,
        "test_subjects": recipe.data.test_subjects,
        "keypoints_2d": "ground-truth projections through real Human3.6M cameras",
    }


def reads_teacher(recipe: dict[str, Any]) -> bool:
    """Whether a run of this recipe (as saved in a row) learns from a teacher: a student
    with every distillation weight 0 is the undistilled control."""
    distill = recipe.get("distill") or {}
    return any(distill.get(f"{term}_weight", 0) > 0 for term in DISTILL_TERMS)


def summarise(runs: list[dict[str, Any]], keys: list[str]) -> list[dict[str, Any]]:
    """One entry per model: test MPJPE mean, population standard deviation and range over
    its seeds in both 2D conditions, per test subject, with its cost (the same for every
    seed)."""
    models = []
    for key in keys:
        mine = [run for run in runs if run["key"] == key]
        if not mine:
            continue
        model = {
            "key": key,
            "label": mine[0]["label"],
            "seeds": [run["seed"] for run in mine],
            "mean_val_mpjpe_mm": statistics.fmean(run["val_mpjpe_mm"] for run in mine),
            "mean_p_mpjpe_mm": statistics.fmean(run["test"]["p_mpjpe"] for run in mine),
            "macs_per_delivered_pose": mine[0]["macs_per_delivered_pose"],
            "params": mine[0]["params"],
            "lookahead_frames": mine[0]["lookahead_frames"],
            "mean_steps": statistics.fmean(run["steps"] for run in mine),
            "mean_train_time_s": statistics.fmean(run["train_time_s"] for run in mine),
            "reused": any(run.get("reused", False) for run in mine),
            "teacher": mine[0].get("teacher") if reads_teacher(mine[0]["recipe"]) else None,
        }
        model.update(_condition_summary(mine, "test", ""))
        if all("test_detector" in run for run in mine):
            model.update(_condition_summary(mine, "test_detector", "detector_"))
            model["mean_val_detector_mpjpe_mm"] = statistics.fmean(
                run["val_detector_mpjpe_mm"] for run in mine
            )
        if all("frame_rates" in run for run in mine):
            model["mean_frame_rates_mm"] = {
                rate: statistics.fmean(run["frame_rates"][rate] for run in mine)
                for rate in mine[0]["frame_rates"]
            }
        models.append(model)
    return models


def _condition_summary(runs: list[dict[str, Any]], field: str, prefix: str) -> dict[str, Any]:
    """Seeds' test MPJPE under one 2D condition: list, mean, spread, per-subject means."""
    mpjpe = [run[field]["mpjpe"] for run in runs]
    summary = {
        f"test_{prefix}mpjpe_mm": mpjpe,
        f"mean_{prefix}mpjpe_mm": statistics.fmean(mpjpe),
        f"std_{prefix}mpjpe_mm": statistics.pstdev(mpjpe),
    }
    if all("per_subject" in run[field] for run in runs):
        subjects = runs[0][field]["per_subject"]
        summary[f"mean_{prefix}per_subject_mm"] = {
            subject: statistics.fmean(run[field]["per_subject"][subject] for run in runs)
            for subject in subjects
        }
    return summary


def _teacher_points(teachers: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "key": key,
            "mean_mpjpe_mm": teacher["test"]["mpjpe"],
            "std_mpjpe_mm": 0.0,
            "macs_per_delivered_pose": teacher["macs_per_delivered_pose"],
        }
        for key, teacher in teachers.items()
    ]


def pareto_front(points: list[dict[str, Any]]) -> list[str]:
    """Keys of the points no other point beats on both MACs per pose and mean MPJPE."""
    front = []
    for point in points:
        dominated = any(
            other["macs_per_delivered_pose"] <= point["macs_per_delivered_pose"]
            and other["mean_mpjpe_mm"] <= point["mean_mpjpe_mm"]
            and (
                other["macs_per_delivered_pose"] < point["macs_per_delivered_pose"]
                or other["mean_mpjpe_mm"] < point["mean_mpjpe_mm"]
            )
            for other in points
        )
        if not dominated:
            front.append(point["key"])
    return front


def evaluate_goals(report: dict[str, Any]) -> list[dict[str, Any]]:
    models = {model["key"]: model for model in report["models"]}
    scjd, plain, tcn = models["scjd"], models["undistilled"], models["tcn27"]
    causal, teacher = models["causal0"], report["teachers"][report["student_teacher"]]
    teacher_minutes = teacher["train_time_s"] / 60
    teacher_lead = scjd["mean_val_mpjpe_mm"] - teacher["val_mpjpe_mm"]
    ratio = _step_ratio(report["step_times_ms"])
    return [
        _student_goal("SCJD student", scjd, tcn),
        _student_goal("causal SCJD student (lookahead 0)", causal, tcn),
        judged(
            f"teacher >= {TEACHER_LEAD_GOAL_MM:.0f} mm better than the SCJD student on "
            f"validation (exact 2D), trained within {TEACHER_MINUTES_GOAL:.0f} minutes",
            teacher_lead >= TEACHER_LEAD_GOAL_MM and teacher_minutes <= TEACHER_MINUTES_GOAL,
            f"{teacher['label']}: {teacher['val_mpjpe_mm']:.1f} mm vs the student's "
            f"{scjd['mean_val_mpjpe_mm']:.1f} ({teacher_lead:+.1f} mm) after "
            f"{teacher_minutes:.1f} min",
        ),
        _distillation_goal(scjd, plain),
        _frame_rate_goal(scjd),
        judged(
            f"SCJD step (cached teacher targets) <= {STEP_RATIO_GOAL}x the undistilled step",
            ratio <= STEP_RATIO_GOAL,
            f"{ratio:.2f}x (median of per-round ratios, interleaved rounds)",
        ),
    ]


def _student_goal(name: str, student: dict[str, Any], tcn: dict[str, Any]) -> dict[str, Any]:
    exact, detector = student["mean_mpjpe_mm"], student["mean_detector_mpjpe_mm"]
    lead_exact = tcn["mean_mpjpe_mm"] - exact
    lead_detector = tcn["mean_detector_mpjpe_mm"] - detector
    return judged(
        f"{name} <= {STUDENT_EXACT_GOAL_MM:.0f} mm (exact 2D) and <= "
        f"{STUDENT_DETECTOR_GOAL_MM:.0f} mm (detector-like 2D) at <= "
        f"{STUDENT_MACS_GOAL / 1e6:.1f} M MACs per delivered pose, >= "
        f"{LEAD_OVER_TCN_GOAL_MM:.0f} mm better than TCN-27 trained for the same time in both",
        exact <= STUDENT_EXACT_GOAL_MM
        and detector <= STUDENT_DETECTOR_GOAL_MM
        and student["macs_per_delivered_pose"] <= STUDENT_MACS_GOAL
        and min(lead_exact, lead_detector) >= LEAD_OVER_TCN_GOAL_MM,
        f"exact {_mean_text(student)} vs TCN-27 {_mean_text(tcn)} ({lead_exact:+.1f}); "
        f"detector-like {_mean_text(student, 'detector_')} vs "
        f"{_mean_text(tcn, 'detector_')} ({lead_detector:+.1f}); "
        f"{student['macs_per_delivered_pose'] / 1e6:.2f} M MACs/pose",
    )


def _distillation_goal(scjd: dict[str, Any], plain: dict[str, Any]) -> dict[str, Any]:
    verdicts = []
    for prefix, name in (("", "exact"), ("detector_", "detector-like")):
        gain = plain[f"mean_{prefix}mpjpe_mm"] - scjd[f"mean_{prefix}mpjpe_mm"]
        apart = max(scjd[f"test_{prefix}mpjpe_mm"]) < min(plain[f"test_{prefix}mpjpe_mm"])
        verdicts.append(
            (gain >= DISTILL_GAIN_GOAL_MM and apart, f"{name} {gain:+.1f} mm, seeds "
             f"{'apart' if apart else 'not apart'}")
        )  # fmt: skip
    return judged(
        f"SCJD >= {DISTILL_GAIN_GOAL_MM:.0f} mm better than the undistilled student (every "
        "SCJD seed better than every undistilled seed) in at least one 2D condition",
        any(met for met, _ in verdicts),
        "; ".join(text for _, text in verdicts),
    )


def _frame_rate_goal(scjd: dict[str, Any]) -> dict[str, Any]:
    rates = scjd.get("mean_frame_rates_mm")
    if rates is None:
        return not_measured("25 frames/s input resampled within 3 mm of 50", "no frame rates")
    cost = rates["25_resampled"] - scjd["mean_mpjpe_mm"]
    return judged(
        f"SCJD student fed 25 frames/s 2D, resampled to its 50: within "
        f"{FRAME_RATE_GOAL_MM:.0f} mm of 50 frames/s input (test, exact 2D)",
        abs(cost) <= FRAME_RATE_GOAL_MM,
        f"{rates['25_resampled']:.1f} vs {scjd['mean_mpjpe_mm']:.1f} mm ({cost:+.1f}); "
        f"10 frames/s resampled {rates['10_resampled']:.1f}, not resampled "
        f"{rates['10_not_resampled']:.1f}",
    )


def _step_ratio(step_times_ms: dict[str, list[float]]) -> float:
    per_round = [
        scjd / plain
        for scjd, plain in zip(step_times_ms["scjd"], step_times_ms["undistilled"], strict=True)
    ]
    return statistics.median(per_round)


def _mean_text(model: dict[str, Any], prefix: str = "") -> str:
    seeds = len(model[f"test_{prefix}mpjpe_mm"])
    if seeds == 1:
        return f"{model[f'mean_{prefix}mpjpe_mm']:.1f} mm (1 seed)"
    return (
        f"{model[f'mean_{prefix}mpjpe_mm']:.1f} +- {model[f'std_{prefix}mpjpe_mm']:.1f} mm "
        f"({seeds} seeds)"
    )


def render_markdown(report: dict[str, Any], png_name: str) -> str:
    settings, data = report["settings"], report["data"]
    subjects = data["test_subjects"]
    lines = [
        "# Accuracy per cost on CMU v2 motion capture, new bodies (the frontier)",
        "",
        f"Created {report['created']} by `benchmarks/frontier.py --budget {report['budget']}`; "
        f"{settings['machine']}, {settings['threads']} torch threads, torch "
        f"{settings['torch']}; load average before/after {settings['load_average_before']} / "
        f"{settings['load_average_after']} (shared cores); total {settings['wall_time_s'] / 60:.0f}"
        " min.",
        "",
        f"Data: real CMU motion capture in the H36M 17-joint layout (`{data['path']}`), every "
        f"subject on its own body; train {', '.join(data['train_subjects'])}, validation "
        f"(every choice) {', '.join(data['val_subjects'])}, **test {', '.join(subjects)}** "
        "(scored once per model, at the end). Each model is scored with exact 2D (projections) "
        "and with detector-like 2D (jitter, left/right swaps, outliers and dropouts of a real "
        "detector, scjd_edge/data/detector_noise.py).",
        "",
        "Budget: the teacher "
        + ", ".join(f"{steps} steps" for steps in settings["teacher_steps"].values())
        + "; every other model "
        f"{settings['model_minutes']:.1f} min of training (steps = budget / its step time, "
        "step times measured for all models in interleaved rounds before training); seeds "
        f"{settings['seeds']}.",
        "",
        "| model | distilled from | seeds | test exact 2D | test detector-like 2D | val exact "
        "| val detector-like | per test subject, exact / detector-like | MACs / delivered pose "
        "| lookahead (frames) | params | steps | train time (s) |",
        "|---|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    lines += [_teacher_line(teacher, subjects) for teacher in report["teachers"].values()]
    lines += [_model_line(model, subjects) for model in report["models"]]
    lines += [
        "",
        "MPJPE in mm (centre frame of every window); mean +- population standard deviation "
        "over seeds. Pareto front on exact 2D (no other model has both fewer MACs per pose and "
        f"lower mean MPJPE): {', '.join(report['pareto'])}.",
        "",
        *_frame_rate_lines(report),
        f"![MPJPE against MACs per delivered pose]({png_name})",
        "",
        f"MACs: {report['conventions']['macs']}",
        f"Delivered pose: {report['conventions']['delivered_pose']}",
        "",
        "Teacher target cache (one-off per teacher and student frames, not in the training "
        "times): "
        + (
            ", ".join(f"{key} {s:.0f} s" for key, s in report["teacher_cache_fill_s"].items())
            or "none"
        )
        + ".",
        "",
        goals_markdown(report["goals"]),
    ]
    return "\n".join(lines) + "\n"


def _per_subject_text(exact: dict[str, float], detector: dict[str, float], subjects) -> str:
    return ", ".join(f"{s} {exact[s]:.1f} / {detector[s]:.1f}" for s in subjects)


def _teacher_line(teacher: dict[str, Any], subjects: list[str]) -> str:
    test, detector = teacher["test"], teacher["test_detector"]
    per_subject = _per_subject_text(test["per_subject"], detector["per_subject"], subjects)
    return (
        f"| {teacher['label']}{' (reused)' if teacher.get('reused') else ''} | - | 1 | "
        f"{test['mpjpe']:.1f} | {detector['mpjpe']:.1f} | {teacher['val_mpjpe_mm']:.1f} | "
        f"{teacher['val_detector_mpjpe_mm']:.1f} | {per_subject} | "
        f"{teacher['macs_per_delivered_pose'] / 1e6:.2f} M | {teacher['lookahead_frames']} | "
        f"{teacher['params']:,} | {teacher['steps']} | {teacher['train_time_s']:.0f} |"
    )


def _model_line(model: dict[str, Any], subjects: list[str]) -> str:
    def spread(prefix: str) -> str:
        if len(model[f"test_{prefix}mpjpe_mm"]) < 2:
            return ""
        return f" +- {model[f'std_{prefix}mpjpe_mm']:.1f}"

    per_subject = _per_subject_text(
        model["mean_per_subject_mm"], model["mean_detector_per_subject_mm"], subjects
    )
    return (
        f"| {model['label']}{' (reused)' if model['reused'] else ''} | "
        f"{model['teacher'] or '-'} | {len(model['seeds'])} | "
        f"{model['mean_mpjpe_mm']:.1f}{spread('')} | "
        f"{model['mean_detector_mpjpe_mm']:.1f}{spread('detector_')} | "
        f"{model['mean_val_mpjpe_mm']:.1f} | {model['mean_val_detector_mpjpe_mm']:.1f} | "
        f"{per_subject} | {model['macs_per_delivered_pose'] / 1e6:.2f} M | "
        f"{model['lookahead_frames']} | {model['params']:,} | {model['mean_steps']:.0f} | "
        f"{model['mean_train_time_s']:.0f} |"
    )


def _frame_rate_lines(report: dict[str, Any]) -> list[str]:
    models = {model["key"]: model for model in report["models"]}
    rates = models.get("scjd", {}).get("mean_frame_rates_mm")
    if rates is None:
        return []
    return [
        "Frame rate (SCJD student, trained at 50 frames/s; test, exact 2D, mean over seeds): "
        f"50 frames/s {models['scjd']['mean_mpjpe_mm']:.1f} mm; 2D arriving at 25 frames/s, "
        f"resampled to 50: {rates['25_resampled']:.1f}; at 10 frames/s resampled: "
        f"{rates['10_resampled']:.1f}, fed as if 50 frames/s (not resampled): "
        f"{rates['10_not_resampled']:.1f}. Scored at the frames that arrived.",
        "",
    ]


def plot_frontier(report: dict[str, Any], path: Path) -> None:
    """MPJPE against MACs per delivered pose (log x), seeds as error bars, the Pareto front
    as a line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = [*report["models"], *_teacher_points(report["teachers"])]
    figure, axes = plt.subplots(figsize=(10, 5))
    markers = "osD^v<>phX*"
    # A legend entry per model instead of text beside each point: models of the same cost
    # sit on one vertical line, where labels overlap.
    for index, point in enumerate(points):
        axes.errorbar(
            point["macs_per_delivered_pose"],
            point["mean_mpjpe_mm"],
            yerr=point["std_mpjpe_mm"],
            fmt=markers[index % len(markers)],
            capsize=3,
            label=f"{point['key']} ({point['mean_mpjpe_mm']:.1f} mm)",
        )
    front = sorted(
        (p for p in points if p["key"] in report["pareto"]),
        key=lambda p: p["macs_per_delivered_pose"],
    )
    axes.step(
        [p["macs_per_delivered_pose"] for p in front],
        [p["mean_mpjpe_mm"] for p in front],
        where="post",
        color="grey",
        linestyle="--",
        label="Pareto front",
    )
    axes.set_xscale("log")
    axes.set_xlabel("MACs per delivered pose (log scale)")
    axes.set_ylabel(f"test MPJPE (mm), {', '.join(report['data']['test_subjects'])}")
    axes.set_title("CMU v2 motion capture (new bodies), exact 2D, CPU budget")
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=120, format="png")
    plt.close(figure)


if __name__ == "__main__":
    raise SystemExit(main())
