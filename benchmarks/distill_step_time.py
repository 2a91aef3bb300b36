"""Distillation step time: SCJD with the teacher run live, SCJD with cached teacher targets,
and the same student trained without distillation, timed in interleaved rounds.

The teacher and student are the CMU recipes' shapes (recipes/teacher_cmu.yaml, scjd_cmu.yaml)
with untrained weights: a step's time does not depend on the weights. A step = batch from
the windows, loss, backward, AdamW step. The cache is warmed by one pass over the same
batches first (what every epoch after the first and every later run with the same teacher
sees); that cold pass is reported too. Writes benchmarks/results/distill_step_cpu.{md,json}.

    python benchmarks/distill_step_time.py --data ../shared/data/cmu2 [--steps 20 --rounds 3]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: shared cores

import argparse  # noqa: E402
import datetime  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

from scjd_edge import __version__  # noqa: E402
from scjd_edge.bench.goals import goals_markdown, judged  # noqa: E402
from scjd_edge.bench.timing import seconds_per_training_step  # noqa: E402
from scjd_edge.config import load_recipe  # noqa: E402
from scjd_edge.contract import Deployment  # noqa: E402
from scjd_edge.distill.task import DistillTask  # noqa: E402
from scjd_edge.io import write_json, write_text  # noqa: E402
from scjd_edge.train.checkpoint import save_untrained_checkpoint  # noqa: E402
from scjd_edge.train.engine import load_training_data  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO / "benchmarks" / "results"
STEP_RATIO_GOAL = 1.3
VARIANTS = ("undistilled", "scjd_live", "scjd_cached")


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="scjd-step-") as work:
        tasks = _tasks(Path(work), args.data)
        batches = _batches(tasks["scjd_live"], args.steps, args.batch_size)
        cold_ms = _milliseconds_per_step(tasks["scjd_cached"], batches)  # fills the cache
        rounds = {name: [] for name in tasks}
        for _ in range(args.rounds):
            for name, task in tasks.items():
                rounds[name].append(_milliseconds_per_step(task, batches))
    report = _report(args, rounds, cold_ms)
    write_json(args.out / "distill_step_cpu.json", report)
    write_text(args.out / "distill_step_cpu.md", render_markdown(report))
    print(render_markdown(report))
    return 0


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="data folder, e.g. ../shared/data/cmu2")
    parser.add_argument("--steps", type=int, default=20, help="steps per variant per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    return parser.parse_args(argv)


def _tasks(work: Path, data: str) -> dict[str, DistillTask]:
    teacher_recipe = load_recipe("teacher_cmu", overrides=[f"data.path={data}"])
    torch.manual_seed(0)
    teacher_path = save_untrained_checkpoint(
        work / "teacher.pt",
        teacher_recipe,
        "teacher",
        Deployment.teacher(teacher_recipe.model.frames),
        {"name": "cmu", "source": data, "synthetic": False},
    )
    overrides = {
        "undistilled": [f"distill.{term}_weight=0" for term in ("output", "djed", "ajad", "tcd")],
        "scjd_live": [],
        "scjd_cached": ["distill.teacher_cache=true"],
    }
    return {
        name: DistillTask(load_recipe("scjd_cmu", [f"data.path={data}", *extra]), teacher_path)
        for name, extra in overrides.items()
    }


def _batches(task: DistillTask, steps: int, batch_size: int) -> list[dict[str, torch.Tensor]]:
    windows = load_training_data(task.recipe, task.deployment.window_frames).train
    windows.set_epoch(0)
    order = torch.randperm(len(windows), generator=torch.Generator().manual_seed(0))
    return [windows[order[i * batch_size : (i + 1) * batch_size]] for i in range(steps)]


def _milliseconds_per_step(task: DistillTask, batches: list[dict[str, torch.Tensor]]) -> float:
    optimiser = torch.optim.AdamW(task.trainable.parameters(), lr=1e-4)
    return 1000 * seconds_per_training_step(task, optimiser, batches)


def _report(args: argparse.Namespace, rounds: dict[str, list[float]], cold_ms: float) -> dict:
    median = {name: statistics.median(times) for name, times in rounds.items()}
    # Each round's ratio compares variants timed back to back; the median of those ratios
    # is robust to load that changes between rounds.
    ratios = {
        name: statistics.median(
            step / plain for step, plain in zip(times, rounds["undistilled"], strict=True)
        )
        for name, times in rounds.items()
    }
    return {
        "benchmark": "distill_step_time",
        "created_utc": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "package_version": __version__,
        "machine": {
            "device": "cpu",
            "torch_threads": args.threads,
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "torch": torch.__version__,
            "load_average_1min": os.getloadavg()[0],
        },
        "data": args.data,
        "settings": {"steps": args.steps, "rounds": args.rounds, "batch_size": args.batch_size},
        "step_ms_per_round": rounds,
        "step_ms_median": median,
        "ratio_to_undistilled": ratios,
        "scjd_cached_cold_pass_ms": cold_ms,
        "goals": [
            judged(
                f"SCJD step with cached teacher targets <= {STEP_RATIO_GOAL:g}x the undistilled "
                "step (median over interleaved rounds of the per-round ratio)",
                ratios["scjd_cached"] <= STEP_RATIO_GOAL,
                f"{ratios['scjd_cached']:.2f}x ({median['scjd_cached']:.1f} vs "
                f"{median['undistilled']:.1f} ms); teacher live: {ratios['scjd_live']:.2f}x",
            )
        ],
    }


def render_markdown(report: dict) -> str:
    machine, settings = report["machine"], report["settings"]
    lines = [
        "# Distillation step time (CPU)",
        "",
        f"Created {report['created_utc']}; CPU, {machine['torch_threads']} torch threads, "
        f"torch {machine['torch']}, 1-min load average {machine['load_average_1min']:.1f} "
        f"on {machine['cpu_count']} cores (other jobs shared the cores when above that).",
        f"Data: {report['data']} (training windows of recipes/scjd_cmu.yaml); teacher and "
        "student shapes of recipes/teacher_cmu.yaml and scjd_cmu.yaml, untrained weights. "
        f"{settings['rounds']} interleaved rounds of {settings['steps']} steps of batch "
        f"{settings['batch_size']} per variant; a step = loss, backward, AdamW step.",
        "",
        "| variant | ms per step (median of rounds) | x undistilled (median of per-round "
        "ratios) | rounds (ms) |",
        "|---|---:|---:|---|",
    ]
    for name in VARIANTS:
        rounds = ", ".join(f"{value:.1f}" for value in report["step_ms_per_round"][name])
        lines.append(
            f"| {name} | {report['step_ms_median'][name]:.1f} | "
            f"{report['ratio_to_undistilled'][name]:.2f} | {rounds} |"
        )
    lines += [
        "",
        f"The first (cold) pass of `scjd_cached`, which runs the teacher and writes the cache: "
        f"{report['scjd_cached_cold_pass_ms']:.1f} ms per step.",
        "",
        goals_markdown(report["goals"]),
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
