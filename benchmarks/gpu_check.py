"""GPU acceptance check for TensorRT: engines, bench and infer through the CLI, in < 10 min.

    python benchmarks/gpu_check.py --checkpoint runs/scjd_cmu/best.pt --data ../shared/data/cmu2
    python benchmarks/gpu_check.py --standin --out /tmp/gpu_check   # CI: no GPU needed

On a machine with an NVIDIA GPU, TensorRT and cuda-python it exports the student to ONNX
FP32/FP16/INT8 (INT8 with --force: this check compares the engine with its own INT8 ONNX,
the INT8 accuracy gate is export's business), builds FP32/FP16/INT8 engines from those
ONNX files alone (`scjd-edge export model.onnx --trt`), checks each engine against ONNX
Runtime on the same ONNX (MPJPE between their outputs on validation windows: fp32 <= 0.05
mm, fp16 <= 0.5 mm, int8 <= 0.5 mm), benches the engines (GPU compute from CUDA events vs
end to end) and runs `infer` on one, then writes benchmarks/results/gpu_<device>.md.

--standin runs the same steps on the CPU stand-in of tests/trt_standin (a tiny random
student on the built-in synthetic data, the smallest bench settings, an AGX Orin with two
DLA cores, tegrastats replaying a line recorded on an AGX Orin) so this script cannot rot;
its report (OUT/gpu_standin.md, never in benchmarks/results) says in its first line
that it is NOT a GPU measurement.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
TOLERANCE_MM = {"fp32": 0.05, "fp16": 0.5, "int8": 0.5}
# bench settings: the GPU run, and the stand-in's smallest run (it only proves the path)
BENCH = {"iters": 50, "warmup": 10, "rounds": 3, "eval-windows": 512}
STANDIN_BENCH = {"iters": 2, "warmup": 1, "rounds": 1, "eval-windows": 32}
SOURCE_ONNX = {"fp32": "{stem}.onnx", "fp16": "{stem}.fp16.onnx", "int8": "{stem}.int8.onnx"}
DLA_INT8 = ["--precision", "int8", "--dla-core", 0, "--opt-batch", 8, "--allow-gpu-fallback"]
# Printed by tegrastats on a Jetson AGX Orin (rails and readings from a public log): the
# stand-in's power sampler replays it.
AGX_ORIN_TEGRASTATS = (
    "RAM 9000/62841MB GR3D_FREQ 14%@[407,407] NVDLA0_FREQ @1600 CPU@77.281C GPU@69.125C "
    "VDD_GPU_SOC 3150mW/2971mW VDD_CPU_CV 14312mW/12415mW VIN_SYS_5V0 4968mW/5048mW "
    "VDDQ_VDD2_1V8AO 1091mW/1091mW"
)
STANDIN_WARNING = (
    "STAND-IN MODE: NOT A GPU MEASUREMENT. TensorRT and CUDA were replaced by the CPU "
    "stand-in of tests/trt_standin (engines run ONNX Runtime on the CPU, 'CUDA events' read "
    "time.perf_counter); this run only proves the script and the CLI path work."
)


def cli(*arguments: object) -> dict:
    from scjd_edge.cli import app

    result = CliRunner().invoke(app, [str(a) for a in arguments])
    if result.exit_code != 0:
        raise SystemExit(f"scjd-edge {' '.join(map(str, arguments))} failed:\n{result.output}")
    return {"output": result.output}


def run(checkpoint: Path, data: str, out: Path, report_path: Path, standin: bool) -> dict:
    started = time.perf_counter()
    stem = checkpoint.stem
    cli("export", checkpoint, "--out", out / "onnx", "--fp16", "--int8", "--force",
        "--calib-data", data, "--calib-samples", 16 if standin else 256)  # fmt: skip
    engines, checks = {}, []
    for precision in TOLERANCE_MM:
        onnx = out / "onnx" / SOURCE_ONNX[precision].format(stem=stem)
        folder = out / f"engine_{precision}"
        cli("export", onnx, "--out", folder, "--trt", "--precision", precision,
            "--max-batch", 64, "--calib-data", data, "--inspect")  # fmt: skip
        row = json.loads((folder / "manifest.json").read_text())["artifacts"][-1]
        engines[precision] = folder / row["file"]
        measured = row["mpjpe_vs_onnxruntime_mm"]
        checks.append({
            "goal": f"{precision} engine vs ONNX Runtime on {onnx.name}: MPJPE between outputs "
            f"<= {TOLERANCE_MM[precision]} mm",
            "met": measured <= TOLERANCE_MM[precision],
            "measured": f"{measured:.4f} mm ({row['validation']['windows']} windows)",
        })  # fmt: skip
    settings = [x for k, v in (STANDIN_BENCH if standin else BENCH).items() for x in (f"--{k}", v)]
    cli("bench", *engines.values(), out / "onnx" / f"{stem}.onnx", "--data", data,
        "--backends", "onnxruntime,tensorrt", "--batch", "1,64", *settings, "--cuda-graph",
        "--layer-profile", "--out", out / "bench")  # fmt: skip
    bench = json.loads((out / "bench" / "bench.json").read_text())
    keypoints = out / "keypoints.npz"
    np.savez(keypoints, keypoints=np.random.default_rng(0).uniform(200, 800, (300, 17, 2)))
    cli("infer", engines["fp32"], "--keypoints", keypoints, "--format", "h36m",
        "--image-size", "1000x1000", "--out", out / "poses.npz")  # fmt: skip
    poses = np.load(out / "poses.npz")["pose_3d"]
    checks.append({
        "goal": "infer on the fp32 engine: one finite pose per frame (300 frames, batch 256 > "
        "max batch 64)",
        "met": poses.shape == (300, 17, 3) and bool(np.isfinite(poses).all()),
        "measured": f"shape {poses.shape}",
    })  # fmt: skip
    engine_rows = [r for r in bench["rows"] if r["backend"] == "tensorrt"]
    checks.append({
        "goal": "bench: every engine row ok (MPJPE gated vs ONNX Runtime FP32)",
        "met": bool(engine_rows) and all(r["status"] == "ok" for r in engine_rows),
        "measured": ", ".join(f"{r['model']} b{r['batch']} {r['status']}" for r in engine_rows),
    })  # fmt: skip
    checks += [_inspector_goal(out), _layer_profile_goal(engine_rows), _energy_goal(engine_rows)]
    checks.append(_dla_int8_goal(out / "onnx" / f"{stem}.onnx", out / "engine_dla_int8", data))
    result = {
        "standin": standin,
        "device": bench["device"]["summary"] if not standin else "CPU stand-in (no GPU)",
        "seconds": round(time.perf_counter() - started, 1),
        "goals": checks,
        "latency": [_latency_row(row) for row in engine_rows],
    }
    report_path.parent.mkdir(parents=True, exist_ok=True)
    report_path.write_text(render(result), encoding="utf-8")
    report_path.with_suffix(".json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    return result


def _inspector_goal(out: Path) -> dict:
    rows = [
        json.loads((folder / "manifest.json").read_text())["artifacts"][-1]
        for folder in sorted(out.glob("engine_fp*")) + sorted(out.glob("engine_int8"))
    ]
    written = [r for r in rows if r.get("layers") and r["layer_devices"]["layers"]]
    return {
        "goal": "export --inspect: the engine inspector's layers beside every engine",
        "met": bool(rows) and len(written) == len(rows),
        "measured": "; ".join(
            f"{r['file']}: {len(r['layer_devices']['layers'])} layers" for r in written
        ),
    }


def _layer_profile_goal(engine_rows: list[dict]) -> dict:
    profiled = [r for r in engine_rows if r["variant"] == "engine"]
    return {
        "goal": "bench --layer-profile: per-layer IProfiler times for every engine row",
        "met": bool(profiled) and all(r.get("layer_profile", {}).get("layers") for r in profiled),
        "measured": ", ".join(
            f"{r['model']} b{r['batch']} {len(r.get('layer_profile', {}).get('layers', []))} layers"
            for r in profiled
        ),
    }


def _energy_goal(engine_rows: list[dict]) -> dict:
    powered = [r for r in engine_rows if r.get("power")]
    if not powered:
        return {"goal": "energy per pose from tegrastats", "met": None, "measured": "not a Jetson"}
    whole_module = {"VDD_IN", "POM_5V_IN", "VDD_GPU_SOC+VDD_CPU_CV+VIN_SYS_5V0+VDDQ_VDD2_1V8AO"}
    return {
        "goal": "energy per pose from the module's rails (AGX Orin: sum of its rails)",
        "met": all(r["power"]["rail"] in whole_module for r in powered),
        "measured": ", ".join(
            f"{r['model']} b{r['batch']} {r['power']['mj_per_pose']:.3f} mJ/pose "
            f"({r['power']['rail']})"
            for r in powered
        ),
    }


def _dla_int8_goal(fp32_onnx: Path, folder: Path, data: str) -> dict:
    """INT8 on DLA (TensorRT 10: calibrated by TensorRT), where the device has DLA."""
    import tensorrt as trt

    goal = "INT8 DLA engine from a calibration cache, vs ONNX Runtime on the FP32 ONNX"
    if trt.Builder(trt.Logger()).num_DLA_cores == 0 or not trt.__version__.startswith("10."):
        return {"goal": goal, "met": None, "measured": "no DLA with TensorRT 10 here"}
    cli("export", fp32_onnx, "--out", folder, "--trt", *DLA_INT8, "--calib-data", data,
        "--inspect")  # fmt: skip
    row = json.loads((folder / "manifest.json").read_text())["artifacts"][-1]
    placement = row["layer_devices"]
    dla_int8 = [r for r in placement["layers"] if r["device"] == "DLA" and r["precision"] == "int8"]
    measured = row["mpjpe_vs_onnxruntime_mm"]
    return {
        "goal": f"{goal} (MPJPE between outputs <= {TOLERANCE_MM['int8']} mm)",
        "met": bool(row.get("calibration_cache")) and bool(dla_int8)
        and measured <= TOLERANCE_MM["int8"],
        "measured": f"{measured:.4f} mm; {len(dla_int8)} INT8 DLA layers, "
        f"{placement['gpu_layers']} on the GPU; cache {row.get('calibration_cache')}",
    }  # fmt: skip


def _latency_row(row: dict) -> dict:
    timing = row.get("engine_timing") or {}
    return {
        "engine": row["model"],
        "variant": row["variant"],
        "batch": row["batch"],
        "gpu_compute_p50_ms": (timing.get("compute") or {}).get("p50_ms"),
        "h2d_p50_ms": (timing.get("h2d") or {}).get("p50_ms"),
        "d2h_p50_ms": (timing.get("d2h") or {}).get("p50_ms"),
        "model_call_p50_ms": row["model_latency"]["p50_ms"] if row["model_latency"] else None,
        "end_to_end_p50_ms": (row["end_to_end_latency"] or {}).get("p50_ms"),
        "mpjpe_mm": row["mpjpe_mm"],
    }


def render(result: dict) -> str:
    lines = [f"> **{STANDIN_WARNING}**", ""] if result["standin"] else []
    lines += [
        "# TensorRT GPU check",
        "",
        f"Device: {result['device']}. Wall time {result['seconds']} s.",
        "",
        "| goal | met | measured |",
        "|---|---|---|",
        *(f"| {g['goal']} | {_met(g)} | {g['measured']} |" for g in result["goals"]),
        "",
        "Latency per call, ms (p50): GPU compute = CUDA events around execute_async_v3 alone; "
        "H2D / D2H = the copies from / to pinned host buffers; model call = runner call "
        "(copies + compute + sync, perf_counter); end to end = sampling + model + centre frame.",
        "",
        "| engine | variant | batch | GPU compute | H2D | D2H | model call | end to end "
        "| MPJPE mm |",
        "|---|---|---|---|---|---|---|---|---|",
    ]  # fmt: skip
    for row in result["latency"]:
        cells = [row["engine"], row["variant"], row["batch"]]
        cells += [_ms(row[k]) for k in ("gpu_compute_p50_ms", "h2d_p50_ms", "d2h_p50_ms")]
        cells += [_ms(row["model_call_p50_ms"]), _ms(row["end_to_end_p50_ms"])]
        cells.append(f"{row['mpjpe_mm']:.2f}" if row["mpjpe_mm"] is not None else "")
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    return "\n".join(lines) + "\n"


def _met(goal: dict) -> str:
    return "n/a" if goal["met"] is None else "yes" if goal["met"] else "NO"


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


class ReplayedTegrastats:
    """The stand-in's tegrastats: one recorded AGX Orin line per timed round, through the
    bench's own power summary (a subprocess would print nothing in rounds this short)."""

    def __init__(self) -> None:
        from scjd_edge.bench.device import TegrastatsSampler

        self.sampler = TegrastatsSampler(["tegrastats"])

    def __enter__(self) -> ReplayedTegrastats:
        self.started = time.perf_counter()
        self.sampler.lines.append(AGX_ORIN_TEGRASTATS)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.sampler.seconds += time.perf_counter() - self.started

    def summary(self, poses: int) -> dict | None:
        return self.sampler.summary(poses)


def standin_checkpoint(out: Path, patch: object) -> Path:
    """Install the CPU stand-in (undone by `patch.undo()`) and write a tiny random student."""
    sys.path.insert(0, str(REPO / "tests"))
    from test_tensorrt_standin import tiny_student
    from trt_standin import install

    install(patch, "10.3.0", platform="agx-orin")
    from scjd_edge.bench import runner

    patch.setattr(runner, "power_sampler", ReplayedTegrastats)
    out.mkdir(parents=True, exist_ok=True)
    tiny_student(out / "tiny.pt")
    return out / "tiny.pt"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=REPO / "runs/scjd_cmu/best.pt")
    parser.add_argument("--data", default=str(REPO.parent / "shared/data/cmu2"))
    parser.add_argument("--out", type=Path, default=REPO / "runs/gpu_check")
    parser.add_argument(
        "--report",
        type=Path,
        help="default benchmarks/results/gpu_<device>.md (stand-in: OUT/gpu_standin.md)",
    )
    parser.add_argument("--standin", action="store_true", help="CPU stand-in (CI), no GPU")
    args = parser.parse_args(argv)
    if not args.standin:
        from scjd_edge.export.tensorrt_runner import current_runtime_info

        device = current_runtime_info()["gpu_name"]
        report = args.report or RESULTS / f"gpu_{re.sub(r'[^a-z0-9]+', '_', device.lower())}.md"
        return _finish(run(args.checkpoint, args.data, args.out, report, standin=False), report)
    import pytest

    patch = pytest.MonkeyPatch()
    try:
        checkpoint = standin_checkpoint(args.out, patch)
        report = args.report or args.out / "gpu_standin.md"  # never beside real results
        result = run(checkpoint, "builtin:synthetic", args.out, report, standin=True)
    finally:
        patch.undo()
    return _finish(result, report)


def _finish(result: dict, report: Path) -> dict:
    print(render(result))
    print(f"wrote {report}")
    return result


if __name__ == "__main__":
    outcome = main()
    sys.exit(0 if all(goal["met"] is not False for goal in outcome["goals"]) else 1)
