"""CPU deployment benchmark: teacher vs SCJD student vs PoseFormerV2-style baseline.

Each checkpoint is exported (ONNX FP32, FP16 and INT8 QDQ, via
`scjd_edge.export.exporter.export_checkpoint`) and benchmarked as torch FP32 (eager) and
ONNX Runtime CPU FP32 / FP16 / INT8 at batch 1 and 64, accuracy measured from each
backend's own outputs on the test subjects. Writes bench_cpu.{md,json,csv,png} into
benchmarks/results/ (or --out), with `goals` judged from the rows (JSON and markdown):

- the SCJD student serves >= 10x the poses/s of the teacher, both run the same way (ONNX
  Runtime CPU EP, FP32, batch 1, end to end, i.e. sampling + model + centre frame): the
  median over the bench's interleaved rounds of the per-round ratio (never best-of);
- every deployed row's MPJPE is within 1 mm of its own torch FP32 row.

Beside the report, bench_cpu.manifest.json records every input it depends on: the
checkpoints (sha256, recipe, export manifest), every benchmarked file's sha256, the data
files' sha256, settings, command, git commit, machine and load average at start and end.

    python benchmarks/run_all.py --data ../shared/data/cmu2 \\
        [--teacher CKPT --student CKPT --baseline CKPT] [--out DIR]

Checkpoints default to the ones benchmarks/ablation.py writes.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
from pathlib import Path

from rich.console import Console

from scjd_edge.bench.goals import judged, not_measured
from scjd_edge.bench.ratios import LATENCY_KEYS, speed_ratio
from scjd_edge.bench.runner import run_bench
from scjd_edge.data.builtin import builtin_folder
from scjd_edge.errors import ScjdError
from scjd_edge.io import sha256_file, write_json

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO / "benchmarks" / "results"
# Where benchmarks/ablation.py leaves its checkpoints: <its --out>/<run folder>/best.pt,
# --out defaulting to runs/ablation (runs/ablation_smoke for --budget smoke).
ABLATION_DIR = REPO / "runs" / "ablation"
ABLATION_RUNS = {"teacher": "teacher", "student": "scjd", "baseline": "poseformerv2"}
STEM = "bench_cpu"
SPEEDUP_GOAL = 10.0
ACCURACY_GOAL_MM = 1.0


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    console = Console()
    try:
        checkpoints = _checkpoints(args)
        load_at_start = _load_average()
        models, export_failures = list(checkpoints.values()), []
        for role, checkpoint in checkpoints.items():
            exported, failures = export_onnx_variants(
                checkpoint, args.work / "exports" / role, args
            )
            models += exported
            export_failures += [f"{role} ({checkpoint.name}): {failure}" for failure in failures]
        report = run_bench(
            models=models,
            data=args.data,
            backends=args.backends.split(","),
            batches=[int(b) for b in args.batch.split(",")],
            iters=args.iters,
            seconds=args.seconds,
            warmup=args.warmup,
            rounds=args.rounds,
            threads=args.threads,
            out_dir=args.out,
            eval_windows=args.eval_windows,
            gate_mm=ACCURACY_GOAL_MM,
            devices=["cpu"],
            console=console,
            stem=STEM,
            extra_markdown=functools.partial(failures_markdown, export_failures=export_failures),
            goals=functools.partial(evaluate_goals, export_failures=export_failures),
        )
        path = write_manifest(
            args.out / f"{STEM}.manifest.json", args, checkpoints, models, report, load_at_start
        )
        console.print(f"wrote {path}")
    except ScjdError as error:
        console.print(f"[bold red]error:[/] {error}", highlight=False)
        return 2
    return 0


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="data folder, e.g. ../shared/data/cmu2")
    parser.add_argument(
        "--ablation-dir", type=Path, default=ABLATION_DIR, help="benchmarks/ablation.py --out"
    )
    for role, run in ABLATION_RUNS.items():
        parser.add_argument(
            f"--{role}", type=Path, help=f"{role} checkpoint (default ABLATION_DIR/{run}/best.pt)"
        )
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="report folder")
    parser.add_argument(
        "--work", type=Path, default=REPO / "runs" / "bench_cpu", help="folder for the exports"
    )
    parser.add_argument("--backends", default="torch,onnxruntime", help="comma list")
    parser.add_argument("--batch", default="1,64", help="comma list of batch sizes")
    parser.add_argument("--iters", type=int, default=None, help="timed iterations per round")
    parser.add_argument("--seconds", type=float, default=2.0, help="time budget per round (s)")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="CPU threads")
    parser.add_argument("--eval-windows", type=int, default=2048)
    parser.add_argument("--calib-samples", type=int, default=256, help="INT8 calibration windows")
    return parser.parse_args(argv)


def _checkpoints(args: argparse.Namespace) -> dict[str, Path]:
    checkpoints = {
        role: getattr(args, role) or args.ablation_dir / run / "best.pt"
        for role, run in ABLATION_RUNS.items()
    }
    missing = [f"--{role} {path}" for role, path in checkpoints.items() if not path.is_file()]
    if missing:
        raise ScjdError(
            f"checkpoints not found: {'; '.join(missing)} (run benchmarks/ablation.py first, "
            "or pass --teacher/--student/--baseline)"
        )
    return checkpoints


def export_onnx_variants(
    checkpoint: Path, out_dir: Path, args: argparse.Namespace
) -> tuple[list[Path], list[str]]:
    """ONNX FP32, FP16 and INT8 of `checkpoint`, and the reasons of those that failed.

    INT8 is written even past the exporter's accuracy gate (force=True), so that the bench
    measures it instead of skipping it; a failed FP32 export (no other format without it)
    is reported, and the checkpoint is still benchmarked on torch.
    """
    from scjd_edge.export.exporter import export_checkpoint

    try:
        manifest = export_checkpoint(
            checkpoint,
            out_dir,
            fp16=True,
            int8=True,
            calib_data=args.data,
            calib_samples=args.calib_samples,
            max_mpjpe_drop=ACCURACY_GOAL_MM,
            force=True,
        )
    except ScjdError as error:
        return [], [f"export failed: {error}"]
    exported = [
        out_dir / artifact["file"]
        for artifact in manifest["artifacts"]
        if artifact["status"] == "ok" and artifact["format"] == "onnx"
    ]
    failures = [
        f"{artifact['format']} {artifact['precision']} export failed: {artifact['reason']}"
        for artifact in manifest["artifacts"]
        if artifact["status"] != "ok"
    ]
    return exported, failures


def evaluate_goals(report: dict, export_failures: list[str] = ()) -> list[dict]:
    """Each goal with the numbers it was decided on (scjd_edge.bench.goals)."""
    return [_speedup_goal(report["rows"]), _accuracy_goal(report["rows"], export_failures)]


def failures_markdown(report: dict, export_failures: list[str] = ()) -> str:
    if not export_failures:
        return ""
    lines = ["## Exports that failed (not benchmarked)", ""]
    return "\n".join(lines + [f"- {failure}" for failure in export_failures])


def _speedup_goal(rows: list[dict]) -> dict:
    """Student vs teacher run the same way (ORT CPU EP, FP32, batch 1), timed in the same
    interleaved rounds: the median of the per-round ratios (ratios.speed_ratio)."""
    goal = (
        f"SCJD student >= {SPEEDUP_GOAL:g}x the teacher's poses/s, both ONNX Runtime CPU EP "
        "FP32 at batch 1, end to end (median of per-round ratios)"
    )
    like = {"backend": "onnxruntime", "variant": "CPU EP", "precision": "fp32", "batch": 1}
    student, teacher = (_first(rows, kind=kind, **like) for kind in ("student", "teacher"))
    if any(row is None or row["status"] == "failed" for row in (student, teacher)):
        return not_measured(goal, "the student's or the teacher's ORT CPU FP32 batch-1 row")
    ratios = {latency: speed_ratio(student, teacher, latency) for latency in LATENCY_KEYS}
    end_to_end = ratios["end_to_end"]
    measured = (
        f"`{student['model']}` vs `{teacher['model']}`: {end_to_end['median']:.1f}x "
        f"(rounds {end_to_end['min']:.1f}x..{end_to_end['max']:.1f}x; model only: "
        f"{ratios['model']['median']:.1f}x)"
    )
    return judged(goal, end_to_end["median"] >= SPEEDUP_GOAL, measured)


def _accuracy_goal(rows: list[dict], export_failures: list[str]) -> dict:
    goal = f"every deployed row's MPJPE within {ACCURACY_GOAL_MM:g} mm of its torch FP32 row"
    deployed = [
        row
        for row in rows
        if not (row["backend"] == "torch" and row["precision"] == "fp32")
        and row["status"] != "failed"
    ]
    if not deployed:
        return not_measured(goal, "no deployed row ran")
    failed = [row for row in rows if row["status"] == "failed"]
    outside = [
        row
        for row in deployed
        if row["mpjpe_delta_mm"] is None or abs(row["mpjpe_delta_mm"]) > ACCURACY_GOAL_MM
    ]
    parts = {}
    for row in deployed:
        delta = row["mpjpe_delta_mm"]
        delta_text = "no torch FP32 row" if delta is None else f"{delta:+.2f} mm"
        parts.setdefault(
            (row["model"], row["backend"], row["precision"]),
            f"`{row['model']}` {row['backend']} {row['precision']} {delta_text}",
        )
    failures = {
        f"`{row['model']}` {row['backend']} {row['variant']} failed" for row in failed
    } | set(export_failures)
    measured = "; ".join([*parts.values(), *sorted(failures)])
    return judged(goal, not outside and not failures, measured)


def write_manifest(
    path: Path,
    args: argparse.Namespace,
    checkpoints: dict[str, Path],
    models: list[Path],
    report: dict,
    load_at_start: list[float] | None,
) -> Path:
    """Every input the report depends on, beside it: the checkpoints (sha256, recipe), each
    role's export manifest, every benchmarked file by sha256, the data files by sha256, the
    settings and command, the machine and its load average at start and end, and the
    report's goals."""
    from scjd_edge.export.exporter import MANIFEST_NAME
    from scjd_edge.train.checkpoint import load_checkpoint, recipe_of

    def export_manifest(role: str) -> dict | None:
        manifest = args.work / "exports" / role / MANIFEST_NAME
        return json.loads(manifest.read_text(encoding="utf-8")) if manifest.is_file() else None

    manifest = {
        "report": f"{STEM}.json",
        "created_utc": report["created_utc"],
        "command": [Path(sys.argv[0]).name, *sys.argv[1:]],
        "git_commit": _git_commit(),
        "settings": {key: str(value) for key, value in vars(args).items()},
        "checkpoints": {
            role: {
                "path": str(checkpoint),
                "sha256": sha256_file(checkpoint),
                "recipe": recipe_of(load_checkpoint(checkpoint), str(checkpoint)).model_dump(
                    mode="json"
                ),
                "export_manifest": export_manifest(role),
            }
            for role, checkpoint in checkpoints.items()
        },
        "benchmarked_files": [{"path": str(m), "sha256": sha256_file(m)} for m in models],
        "data": {**report["data"], "files": _data_files(args.data)},
        "machine": report["device"],
        "load_average": {"start": load_at_start, "end": _load_average()},
        "goals": report["goals"],  # the report's own goals, judged from its rows
    }
    return write_json(path, manifest)


def _data_files(data: str) -> dict[str, str]:
    """sha256 of the data set's files (.npz and .json directly in its folder)."""
    folder = builtin_folder(data) if data.startswith("builtin:") else Path(data)
    folder = folder.parent if folder.is_file() else folder
    files = sorted(p for p in folder.iterdir() if p.suffix in (".npz", ".json") and p.is_file())
    return {file.name: sha256_file(file) for file in files}


def _load_average() -> list[float] | None:
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return None


def _git_commit() -> str | None:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None


def _first(rows: list[dict], **match) -> dict | None:
    return next((row for row in rows if all(row[k] == v for k, v in match.items())), None)


if __name__ == "__main__":
    sys.exit(main())
