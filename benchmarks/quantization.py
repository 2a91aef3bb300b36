"""Quantization on the CPU: FP32 vs FP16 vs INT8 ONNX of one checkpoint on ONNX Runtime.

The checkpoint is exported (`scjd_edge.export.exporter.export_checkpoint`: FP32 with its
parity gate, FP16, INT8 QDQ calibrated on the training split; INT8 is kept even past the
exporter's gate so that it is measured) and the three files are benchmarked with the CPU
execution provider at batch 1 and 64 (`scjd_edge.bench.runner.run_bench`): file size,
latency p50, poses/s, MPJPE and P-MPJPE on the test subjects (centre frame of every
window). Writes quantization_cpu.{md,json,csv,png} into benchmarks/results/ (or --out), the
markdown with the export details and a goals section computed from the rows:

- INT8 MPJPE within 0.5 mm of FP32 (both on ONNX Runtime CPU, test subjects);
- INT8 faster than FP32 at batch 64 (model latency p50).

    python benchmarks/quantization.py --data ../shared/data/cmu --checkpoint CKPT
"""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path

from rich.console import Console

from scjd_edge.bench.runner import run_bench
from scjd_edge.errors import ScjdError

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO / "benchmarks" / "results"
INT8_MPJPE_GOAL_MM = 0.5
SPEED_BATCH = 64


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    console = Console()
    try:
        manifest, models = export_variants(args)
        run_bench(
            models=models,
            data=args.data,
            backends=["onnxruntime"],
            devices=["cpu"],
            batches=[int(b) for b in args.batch.split(",")],
            iters=args.iters,
            seconds=args.seconds,
            warmup=args.warmup,
            rounds=args.rounds,
            threads=args.threads,
            out_dir=args.out,
            eval_windows=args.eval_windows,
            console=console,
            stem="quantization_cpu",
            extra_markdown=functools.partial(goals_markdown, manifest=manifest),
        )
    except ScjdError as error:
        console.print(f"[bold red]error:[/] {error}", highlight=False)
        return 2
    return 0


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="data folder, e.g. ../shared/data/cmu")
    parser.add_argument("--checkpoint", type=Path, required=True, help="checkpoint (.pt)")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="report folder")
    parser.add_argument(
        "--work", type=Path, default=REPO / "runs" / "quantization", help="folder for the exports"
    )
    parser.add_argument("--calib-method", default="minmax", help="minmax, entropy or percentile")
    parser.add_argument("--calib-samples", type=int, default=256, help="INT8 calibration windows")
    parser.add_argument("--batch", default=f"1,{SPEED_BATCH}", help="comma list of batch sizes")
    parser.add_argument("--iters", type=int, default=None, help="timed iterations per round")
    parser.add_argument("--seconds", type=float, default=2.0, help="time budget per round (s)")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="CPU threads")
    parser.add_argument("--eval-windows", type=int, default=2048)
    return parser.parse_args(argv)


def export_variants(args: argparse.Namespace) -> tuple[dict, list[Path]]:
    """The export manifest and the ONNX files that were written (FP32 first)."""
    from scjd_edge.export.exporter import export_checkpoint

    manifest = export_checkpoint(
        args.checkpoint,
        args.work,
        fp16=True,
        int8=True,
        calib_data=args.data,
        calib_method=args.calib_method,
        calib_samples=args.calib_samples,
        force=True,
    )
    models = [args.work / a["file"] for a in manifest["artifacts"] if a["status"] == "ok"]
    return manifest, models


def goals_markdown(report: dict, manifest: dict) -> str:
    """Export details, then each goal with the numbers it was decided on."""
    lines = ["## Export", ""]
    for artifact in manifest["artifacts"]:
        lines.append(f"- {_export_line(artifact)}")
    rows = {
        (row["precision"], row["batch"]): row for row in report["rows"] if row["status"] != "failed"
    }
    lines += ["", "## Goals", ""]
    fp32, int8 = rows.get(("fp32", SPEED_BATCH)), rows.get(("int8", SPEED_BATCH))
    accuracy_goal = f"INT8 MPJPE within {INT8_MPJPE_GOAL_MM:g} mm of FP32"
    speed_goal = f"INT8 faster than FP32 at batch {SPEED_BATCH} (model latency p50)"
    if fp32 is None or int8 is None:
        missing = "FP32" if fp32 is None else "INT8"
        lines.append(f"- {accuracy_goal}; {speed_goal}: **not measured** (no {missing} row)")
        return "\n".join(lines)
    change = int8["mpjpe_mm"] - fp32["mpjpe_mm"]
    lines.append(
        f"- {accuracy_goal}: **{_met(abs(change) <= INT8_MPJPE_GOAL_MM)}**: "
        f"{fp32['mpjpe_mm']:.2f} -> {int8['mpjpe_mm']:.2f} mm ({change:+.2f} mm); P-MPJPE "
        f"{fp32['p_mpjpe_mm']:.2f} -> {int8['p_mpjpe_mm']:.2f} mm"
    )
    fp32_ms, int8_ms = (row["model_latency"]["p50_ms"] for row in (fp32, int8))
    lines.append(
        f"- {speed_goal}: **{_met(int8_ms < fp32_ms)}**: {fp32_ms:.2f} -> {int8_ms:.2f} ms "
        f"({fp32_ms / int8_ms:.2f}x; {fp32['model_latency']['poses_per_s']:.0f} -> "
        f"{int8['model_latency']['poses_per_s']:.0f} poses/s)"
    )
    return "\n".join(lines)


def _export_line(artifact: dict) -> str:
    name = f"`{artifact['file']}` ({artifact['precision']})"
    if artifact["status"] != "ok":
        return f"{name}: export failed: {artifact['reason']}"
    line = (
        f"{name}: {artifact['size_bytes'] / 1e6:.3f} MB, validation MPJPE "
        f"{artifact['mpjpe_mm']:.2f} mm ({artifact['mpjpe_delta_mm']:+.3f} mm vs torch)"
    )
    if "parity" in artifact:
        line += f", parity max abs error {artifact['parity']['max_abs_error_mm']:.5f} mm"
    if "converter" in artifact:
        kept = ", ".join(artifact["kept_fp32_ops"])
        line += f", converter {artifact['converter']}, kept in FP32: {kept}"
    if "quantization" in artifact:
        quantization = artifact["quantization"]
        line += (
            f", {quantization['method']} calibration on {quantization['samples']} training "
            f"windows, {quantization['qdq_nodes']} Q/DQ nodes, validation change "
            f"{quantization['mpjpe_delta_mm']:+.3f} mm vs the FP32 ONNX"
        )
    return line


def _met(condition: bool) -> str:
    return "met" if condition else "not met"


if __name__ == "__main__":
    sys.exit(main())
