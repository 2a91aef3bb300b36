"""Validation pilots on CMU v2: the training settings of the frontier student, chosen on the
validation subjects only (no test figure is computed here).

Each pilot trains the student of recipes/frontier_scjd_cmu.yaml without distillation,
from exact training 2D with every window alike (`BASE`; seed 0, the same number of
optimiser steps for every pilot) with one setting changed,
and scores its best.pt on the full validation split with exact and with detector-like 2D
(scjd_edge/data/detector_noise.py). The choice is the lowest mean of the two conditions,
since users feed detector 2D and the goals name both. The undistilled student reads no
teacher output: its teacher file (an untrained TCN of the frontier teacher's recipe) only
gives the 27-frame window that the student's frames are sampled from.

Writes benchmarks/results/pilots_cmu.{md,json}; a pilot whose folder holds the row of a
run with the same overrides and steps is reused (marked so).

    python benchmarks/pilots.py --steps 1500 [--threads 1]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: shared cores

import argparse  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import torch  # noqa: E402

from scjd_edge.bench.goals import goals_markdown, judged  # noqa: E402
from scjd_edge.config import load_recipe  # noqa: E402
from scjd_edge.contract import Deployment  # noqa: E402
from scjd_edge.distill.task import distill  # noqa: E402
from scjd_edge.io import write_json, write_text  # noqa: E402
from scjd_edge.train.checkpoint import load_checkpoint, save_untrained_checkpoint  # noqa: E402
from scjd_edge.train.engine import training_seconds  # noqa: E402
from scjd_edge.train.evaluate import InputCondition, evaluate_checkpoint  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO / "benchmarks" / "results"
NO_DISTILLATION = tuple(
    f"distill.{term}_weight=0" for term in ("output", "djed", "ajad", "tcd")
) + ("distill.teacher_cache=false",)
# Every pilot starts from the student recipe with exact training 2D and every window alike
# (the recipe before these pilots); name: (run folder, overrides).
BASE = ("data.detector_noise=0", "data.subject_weighting=frames")
PILOTS = {
    "exact training 2D": ("recipe_as_committed", ()),
    "detector-like training 2D, scale 1": (
        "detector-like_training_2D_scale_1",
        ("data.detector_noise=1",),
    ),
    "detector-like training 2D, scale 0.5": (
        "detector-like_training_2D_scale_0.5",
        ("data.detector_noise=0.5",),
    ),
    "subjects weighted by sqrt(frames)": (
        "subjects_weighted_by_sqrtframes",
        ("data.subject_weighting=sqrt",),
    ),
}
CONDITIONS = {"exact": InputCondition(), "detector": InputCondition(two_d="detector")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=1500, help="optimiser steps per pilot")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "pilots")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    window_teacher = _window_teacher(args.out / "window_teacher.pt")
    rows = [_pilot(name, *pilot, args, window_teacher) for name, pilot in PILOTS.items()]
    report = {
        "benchmark": "validation pilots of the frontier student on CMU v2",
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "steps": args.steps,
        "threads": args.threads,
        "pilots": rows,
        "chosen": min(rows, key=lambda row: row["val_mean_mm"])["name"],
    }
    steps = {row["steps"] for row in rows}
    report["goals"] = [
        judged("every pilot trained the same number of steps", len(steps) == 1, f"{steps}"),
    ]
    write_json(RESULTS_DIR / "pilots_cmu.json", report)
    write_text(RESULTS_DIR / "pilots_cmu.md", render_markdown(report))
    print(render_markdown(report))
    return 0


def _window_teacher(path: Path) -> Path:
    """Written once: students resume only from the same teacher file."""
    if path.is_file():
        return path
    recipe = load_recipe("frontier_tcn_teacher_cmu")
    torch.manual_seed(0)
    data = {"name": "cmu", "source": "builtin:cmu", "synthetic": False}
    deployment = Deployment.teacher(recipe.model.frames, "centre", recipe.model.input_normalisation)
    return save_untrained_checkpoint(path, recipe, "baseline", deployment, data)


def _pilot(
    name: str, slug: str, overrides: tuple[str, ...], args, window_teacher: Path
) -> dict[str, Any]:
    folder = args.out / slug
    saved = folder / "pilot_row.json"
    if saved.is_file():
        row = json.loads(saved.read_text(encoding="utf-8"))
        if row["overrides"] == list(overrides) and row["steps"] == args.steps:
            return {**row, "name": name, "reused": True}
    recipe = load_recipe(
        "frontier_scjd_cmu",
        [
            *NO_DISTILLATION,
            *BASE,
            *overrides,
            f"train.max_steps={args.steps}",
            "train.epochs=10000",
        ],
    )
    summary = _finished(folder, recipe) or distill(recipe, window_teacher, folder)
    val = {
        key: evaluate_checkpoint(summary["best_checkpoint"], "builtin:cmu", "val", condition=c)
        for key, c in CONDITIONS.items()
    }
    row = {
        "name": name,
        "overrides": list(overrides),
        "steps": summary["step"],
        "train_time_s": summary["wall_time_s"],
        **{f"val_{key}_mm": result["overall"]["mpjpe"] for key, result in val.items()},
        "val_per_subject_mm": {
            key: {s: v["mpjpe"] for s, v in result["per_subject"].items()}
            for key, result in val.items()
        },
    }
    row["val_mean_mm"] = (row["val_exact_mm"] + row["val_detector_mm"]) / 2
    write_json(saved, row)
    print(f"{name}: val exact {row['val_exact_mm']:.1f} mm, detector {row['val_detector_mm']:.1f}")
    return row


def _finished(folder: Path, recipe) -> dict[str, Any] | None:
    """The summary of a finished run in `folder` with this recipe's data and training
    settings (the pilots differ only there), else None."""
    last = folder / "last.pt"
    if not last.is_file():
        return None
    stored = load_checkpoint(last)
    settings = recipe.model_dump(mode="json")
    same = all(stored["recipe"][key] == settings[key] for key in ("data", "train"))
    if not same or stored["train_state"]["step"] < recipe.train.max_steps:
        return None
    return {
        "best_checkpoint": str(folder / "best.pt"),
        "step": stored["train_state"]["step"],
        "wall_time_s": training_seconds(folder / "log.jsonl"),
    }


def render_markdown(report: dict[str, Any]) -> str:
    lines = [
        "# Validation pilots: the frontier student on CMU v2",
        "",
        f"Created {report['created']} by `benchmarks/pilots.py`; every pilot: the student of "
        f"recipes/frontier_scjd_cmu.yaml without distillation, from `{' '.join(BASE)}`, "
        f"seed 0, {report['steps']} steps, {report['threads']} thread(s) on shared cores "
        "(a reused pilot was trained by an earlier run of the same settings). MPJPE (mm) of "
        "best.pt on the full validation split (CMU02, CMU03, CMU55), centre frame of every "
        "window, with exact 2D and with detector-like 2D (scjd_edge/data/detector_noise.py). "
        "No test figure is computed here.",
        "",
        "| pilot | overrides | exact 2D | detector-like 2D | mean "
        "| per subject (exact / detector) |",
        "|---|---|---:|---:|---:|---|",
    ]
    for row in report["pilots"]:
        per_subject = ", ".join(
            f"{subject} {exact:.1f} / {row['val_per_subject_mm']['detector'][subject]:.1f}"
            for subject, exact in row["val_per_subject_mm"]["exact"].items()
        )
        lines.append(
            f"| {row['name']}{' (reused)' if row.get('reused') else ''} | "
            f"{' '.join(row['overrides']) or '-'} | {row['val_exact_mm']:.1f} "
            f"| {row['val_detector_mm']:.1f} | {row['val_mean_mm']:.1f} | {per_subject} |"
        )
    lines += [
        "",
        f"Chosen (lowest mean): **{report['chosen']}**.",
        "",
        goals_markdown(report["goals"]),
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
