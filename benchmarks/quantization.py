"""INT8 on the CPU: the exporter's INT8 ONNX of the CMU student and teacher, against FP32.

For each checkpoint, `scjd_edge.export.exporter.export_checkpoint(..., int8=True,
sensitivity=True)` writes the FP32 ONNX and the INT8 QDQ ONNX with the exporter's defaults:
calibration on --calib-samples windows spread over the training split, the calibration
method chosen on the validation split (`auto`), the per-layer sensitivity ranking and, if
needed, mixed precision (INT8 is kept even past the gate, `force`, so that it is measured).
Optionally NVIDIA ModelOpt's ONNX PTQ (`modelopt.onnx.quantization`, run with the Python
given as --modelopt-python so that it stays out of this environment) quantizes the same
FP32 ONNX on the same calibration windows. The exporter also writes the CPU form
(`export.cpu_int8`: dynamic, DynamicQuantizeMatMul, its layers chosen by profiled speed and
the same validation gate). Then, once, on the test subjects: MPJPE and mean |INT8 - FP32|
per joint; FP32 vs both INT8 files' latency on ONNX Runtime CPU at batch 1 and 64, timed
in interleaved rounds in one process (bench.timing.measure_interleaved; speed-ups as
medians of per-round ratios, bench.ratios); and ORT's per-op kernel profile of FP32 and the
CPU form. Writes quantization_cpu.{md,json} with a `goals` list judged from the numbers.

    python benchmarks/quantization.py --data ../shared/data/cmu2 \\
        --model student=runs/scjd_cmu/best.pt --model teacher=runs/teacher_cmu/best.pt \\
        [--modelopt-python /path/to/venv/bin/python]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console

from scjd_edge.bench.device import device_report
from scjd_edge.bench.goals import goals_markdown, judged
from scjd_edge.bench.ratios import speed_ratio
from scjd_edge.bench.timing import TimedCall, TimingStats, measure_interleaved
from scjd_edge.data.formats import load_dataset
from scjd_edge.errors import ScjdError
from scjd_edge.export.cpu_int8 import layer_kernel_ms, node_kernel_ms
from scjd_edge.export.exporter import EVAL_WINDOWS, export_checkpoint, load_split_windows
from scjd_edge.export.onnx_export import (
    INPUT_NAMES,
    METADATA_PREFIX,
    read_metadata,
    set_metadata,
    stamp_integrity,
)
from scjd_edge.export.qdq_placement import layer_name, quantized_node_names
from scjd_edge.export.runtime import load_predictor, predict_windows
from scjd_edge.io import atomic_path, sha256_file, write_json, write_text
from scjd_edge.train.checkpoint import load_checkpoint, recipe_of

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO / "benchmarks" / "results"
MPJPE_GOAL_MM = 0.5  # |change of test MPJPE|
DEVIATION_GOAL_MM = 2.0  # mean |INT8 - FP32| per joint on the test subjects
SPEED_BATCHES = (1, 64)
# The timed files: "int8" is the exporter's QDQ file (the TensorRT form), "cpu_int8" the
# CPU form of the same layers; the speed goals are judged on the CPU form.
TIMED = ("fp32", "int8", "cpu_int8")
ARTIFACTS = {"fp32": "fp32", "int8": "int8", "cpu_int8": "int8-cpu"}  # key: manifest precision
TOP_OPS = 6  # op types listed per profile


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    console = Console(highlight=False)
    try:
        report = run(args, console)
    except ScjdError as error:
        console.print(f"[bold red]error:[/] {error}")
        return 2
    write_json(args.out / "quantization_cpu.json", report)
    write_text(args.out / "quantization_cpu.md", render_markdown(report))
    write_sensitivity_plot(args.out / "quantization_cpu.png", report)
    console.print(f"wrote {args.out / 'quantization_cpu'}.md, .json and .png")
    return 0


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="data folder, e.g. ../shared/data/cmu2")
    parser.add_argument(
        "--model", action="append", required=True, help="NAME=CHECKPOINT (repeatable)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="report folder")
    parser.add_argument("--work", type=Path, default=REPO / "runs" / "quantization")
    parser.add_argument("--calib-samples", type=int, default=1024, help="calibration windows")
    parser.add_argument("--modelopt-python", help="a Python with nvidia-modelopt[onnx]")
    parser.add_argument("--modelopt-samples", type=int, default=None, help="default: same")
    parser.add_argument("--test-windows", type=int, default=2048)
    parser.add_argument("--threads", type=int, default=1, help="ONNX Runtime CPU threads")
    parser.add_argument("--rounds", type=int, default=6, help="interleaved timing rounds")
    parser.add_argument("--seconds", type=float, default=1.5, help="time budget per round (s)")
    parser.add_argument("--note", default="", help="a sentence on how the models were trained")
    parser.add_argument(
        "--no-sensitivity",
        action="store_true",
        help="skip the full per-layer ranking (mixed precision still ranks what it needs)",
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="take a model's results from WORK/NAME/result.json when an earlier run wrote it",
    )
    return parser.parse_args(argv)


def run(args: argparse.Namespace, console: Console) -> dict[str, Any]:
    device = device_report()
    models = {}
    for spec in args.model:
        name, _, checkpoint = spec.partition("=")
        console.rule(name)
        saved = args.work / name / "result.json"
        if args.reuse and saved.is_file():
            models[name] = json.loads(saved.read_text())
            continue
        model_started, load_start = time.perf_counter(), os.getloadavg()[0]
        models[name] = run_model(name, Path(checkpoint), args, console)
        models[name]["load_average_1m"] = [load_start, os.getloadavg()[0]]
        models[name]["date"] = datetime.datetime.now(datetime.timezone.utc).isoformat(
            "T", "seconds"
        )
        models[name]["wall_time_s"] = time.perf_counter() - model_started
        write_json(saved, models[name])
    report = {
        "benchmark": "quantization_cpu",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "data": args.data,
        "note": args.note,
        "device": device,
        "threads": args.threads,
        "rounds": args.rounds,
        "seconds": args.seconds,
        "calib_samples": args.calib_samples,
        "test_windows": args.test_windows,
        "validation_windows": EVAL_WINDOWS,
        "models": models,
    }
    report["goals"] = goals(models)
    return report


def run_model(name: str, checkpoint: Path, args: argparse.Namespace, console: Console) -> dict:
    work = args.work / name
    manifest = export_checkpoint(
        checkpoint,
        work,
        int8=True,
        calib_data=args.data,
        calib_samples=args.calib_samples,
        sensitivity=not args.no_sensitivity,
        force=True,
    )
    rows = {row["precision"]: row for row in manifest["artifacts"]}
    if rows["int8"]["status"] != "ok":
        raise ScjdError(f"{name}: INT8 export failed: {rows['int8']['reason']}")
    if rows["int8-cpu"]["status"] != "ok":
        raise ScjdError(f"{name}: INT8 CPU form failed: {rows['int8-cpu']['reason']}")
    paths = {key: work / rows[row]["file"] for key, row in ARTIFACTS.items()}
    modelopt = None
    if args.modelopt_python:
        samples = args.modelopt_samples or args.calib_samples
        modelopt = run_modelopt(args.modelopt_python, checkpoint, paths["fp32"], args, samples)
        if modelopt["status"] == "ok":
            paths["modelopt_int8"] = Path(modelopt["file"])
    windows, pose_3d = _windows(checkpoint, args.data, "test", args.test_windows)
    test = test_accuracy(paths, windows, pose_3d)
    console.print(json.dumps(test, indent=1))
    timing = interleaved_timing({name: paths[name] for name in TIMED}, windows, args, console)
    placement = rows["int8-cpu"]["placement"]
    profile = kernel_profile(paths, windows, [row["layer"] for row in placement["speed"]])
    return {
        "checkpoint": str(checkpoint),
        "checkpoint_sha256": sha256_file(checkpoint),
        "kind": load_checkpoint(checkpoint)["kind"],
        "model": manifest["model"],
        "deployment": manifest["deployment"],
        "int8": rows["int8"]["quantization"],
        "int8_file": {"size_bytes": rows["int8"]["size_bytes"], "fp32": rows["fp32"]["size_bytes"]},
        "cpu_int8": {
            "validation": rows["int8-cpu"]["validation"],
            "placement": placement,
            "size_bytes": rows["int8-cpu"]["size_bytes"],
        },
        "modelopt": modelopt,
        "test": test,
        "timing": timing,
        "profile": profile,
    }


def _windows(checkpoint: Path, data: str, split: str, count: int) -> tuple[np.ndarray, np.ndarray]:
    ckpt = load_checkpoint(checkpoint)
    recipe = recipe_of(ckpt, source=str(checkpoint))
    subjects = getattr(recipe.data, f"{split}_subjects")
    dataset = load_dataset(data, keypoints=recipe.data.keypoints)
    window_frames = int(ckpt["deployment"].window_frames)
    return load_split_windows(dataset, subjects, split, window_frames, count)


def run_modelopt(
    python: str, checkpoint: Path, fp32_onnx: Path, args: argparse.Namespace, samples: int
) -> dict[str, Any]:
    """ModelOpt ONNX PTQ (int8, entropy, CPU calibration, float kept FP32) of the FP32 ONNX,
    on the training windows the exporter calibrates with; the file gets the FP32 metadata."""
    windows, _ = _windows(checkpoint, args.data, "train", samples)
    keypoints_2d, frame_offsets, _ = load_predictor(fp32_onnx).prepare(windows)
    out = fp32_onnx.with_name(fp32_onnx.stem + ".modelopt.int8.onnx")
    with tempfile.TemporaryDirectory(prefix="scjd-modelopt-") as work:
        calibration = Path(work) / "calibration.npz"
        inputs = {"keypoints_2d": keypoints_2d, "frame_offsets": frame_offsets}
        np.savez(calibration, **inputs)
        # ModelOpt rewrites the ONNX it is given (seen: the FP32 file replaced by its own
        # pre-processed graph), so it gets a copy.
        source = Path(work) / fp32_onnx.name
        shutil.copyfile(fp32_onnx, source)
        command = [
            python, "-m", "modelopt.onnx.quantization", "--onnx_path", str(source),
            "--quantize_mode", "int8", "--calibration_method", "entropy",
            "--calibration_data_path", str(calibration), "--calibration_eps", "cpu",
            "--high_precision_dtype", "fp32", "--output_path", str(out), "--log_level", "ERROR",
        ]  # fmt: skip
        started = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if result.returncode != 0 or not out.is_file():
        tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        return {"status": "failed", "reason": " | ".join(tail), "seconds": seconds}
    _copy_metadata(fp32_onnx, out)
    import onnx

    proto = onnx.load(out)
    nodes = quantized_node_names(proto)
    return {
        "status": "ok",
        "file": str(out),
        "samples": samples,
        "method": "entropy",
        "seconds": seconds,
        "quantized_nodes": len(nodes),
        "quantized_layers": sorted({layer_name(n) for n in nodes}),
        "quantized_op_types": sorted({n.op_type for n in proto.graph.node if n.name in nodes}),
        "validation": _validation(checkpoint, fp32_onnx, out, args.data),
    }


def _copy_metadata(fp32_onnx: Path, out: Path) -> None:
    """ModelOpt drops metadata_props: give the file the FP32 ONNX's, as precision int8."""
    import onnx

    proto = onnx.load(out)
    metadata = {**read_metadata(fp32_onnx), "precision": "int8", "int8_tool": "modelopt"}
    set_metadata(proto, {METADATA_PREFIX + key: value for key, value in metadata.items()})
    stamp_integrity(proto)
    with atomic_path(out) as tmp:
        onnx.save(proto, tmp)


def _validation(checkpoint: Path, fp32_onnx: Path, int8_onnx: Path, data: str) -> dict:
    windows, pose_3d = _windows(checkpoint, data, "val", EVAL_WINDOWS)
    return _compare(fp32_onnx, {"int8": int8_onnx}, windows, pose_3d)["int8"]


def _compare(
    fp32_onnx: Path, others: dict[str, Path], windows: np.ndarray, pose_3d: np.ndarray
) -> dict[str, dict[str, float]]:
    """MPJPE of FP32 and of each other ONNX, its change and mean |other - FP32| (mm)."""
    fp32_pose = predict_windows(load_predictor(fp32_onnx), windows)
    fp32_mm = _mean_distance_mm(fp32_pose, pose_3d)
    rows = {"fp32": {"mpjpe_mm": fp32_mm}}
    for name, path in others.items():
        pose = predict_windows(load_predictor(path), windows)
        rows[name] = {
            "mpjpe_mm": _mean_distance_mm(pose, pose_3d),
            "mpjpe_delta_mm": _mean_distance_mm(pose, pose_3d) - fp32_mm,
            "joint_deviation_mm": _mean_distance_mm(pose, fp32_pose),
        }
    return rows


def _mean_distance_mm(pose_a: np.ndarray, pose_b: np.ndarray) -> float:
    return 1000.0 * float(np.linalg.norm(pose_a - pose_b, axis=-1).mean())


def test_accuracy(paths: dict[str, Path], windows: np.ndarray, pose_3d: np.ndarray) -> dict:
    """Once, on the test subjects: every ONNX against the ground truth and the FP32 ONNX."""
    others = {name: path for name, path in paths.items() if name != "fp32"}
    return {"windows": len(windows), **_compare(paths["fp32"], others, windows, pose_3d)}


def interleaved_timing(
    paths: dict[str, Path],
    windows: np.ndarray,
    args: argparse.Namespace,
    console: Console,
) -> dict[str, Any]:
    """Model latency (prepared inputs) of every file at each batch, timed together by
    bench.timing.measure_interleaved (rounds fp32, int8, cpu_int8, fp32, ...) so that load
    changes on the shared CPU hit all alike. Speed-ups of each INT8 file against "fp32" by
    bench.ratios.speed_ratio: FP32 p50 / INT8 p50 of the same round, median over rounds."""
    predictors = {name: load_predictor(path, threads=args.threads) for name, path in paths.items()}
    results = {}
    for batch in SPEED_BATCHES:
        inputs = predictors["fp32"].prepare(windows[:batch])[:2]
        calls = [
            TimedCall(
                lambda predictor=predictor, inputs=inputs: predictor.run_model(*inputs), batch
            )
            for predictor in predictors.values()
        ]
        measured = measure_interleaved(calls, warmup=3, seconds=args.seconds, rounds=args.rounds)
        failed = [
            name
            for name, stats in zip(paths, measured, strict=True)
            if not isinstance(stats, TimingStats)
        ]
        if failed:
            raise ScjdError(f"timing failed for {failed}: {measured[list(paths).index(failed[0])]}")
        rows = {
            name: _ratio_row(name, batch, stats)
            for name, stats in zip(paths, measured, strict=True)
        }
        results[str(batch)] = {
            "stats": {name: row["model_latency"] for name, row in rows.items()},
            "speedup": {
                name: speed_ratio(rows[name], rows["fp32"]) for name in paths if name != "fp32"
            },
        }
        console.print(f"batch {batch}: p50 ms {_p50s(results[str(batch)])}")
    return results


def _ratio_row(precision: str, batch: int, stats: TimingStats) -> dict[str, Any]:
    """A bench row as bench.ratios compares them: one ORT CPU session of one file."""
    return {
        "model": "onnx",
        "backend": "onnxruntime",
        "variant": "cpu",
        "device": "cpu",
        "batch": batch,
        "precision": precision,
        "model_latency": stats.as_dict(),
    }


def _p50s(timing: dict[str, Any]) -> dict[str, float]:
    return {name: round(stats["p50_ms"], 3) for name, stats in timing["stats"].items()}


def kernel_profile(
    paths: dict[str, Path], windows: np.ndarray, weight_layers: list[str]
) -> dict[str, Any]:
    """Where the time goes, per batch, FP32 vs the CPU form (ORT profiler, 1 thread, each
    node's median kernel time): the total, the weight layers' part, the top op types."""
    predictor = load_predictor(paths["fp32"])
    profile = {}
    for batch in SPEED_BATCHES:
        feeds = dict(zip(INPUT_NAMES, predictor.prepare(windows[:batch])[:2], strict=True))
        profile[str(batch)] = {}
        for name in ("fp32", "cpu_int8"):
            nodes = node_kernel_ms(paths[name], feeds)
            by_op: dict[str, float] = {}
            for op_type, milliseconds in nodes.values():
                by_op[op_type] = by_op.get(op_type, 0.0) + milliseconds
            top = sorted(by_op.items(), key=lambda item: -item[1])[:TOP_OPS]
            profile[str(batch)][name] = {
                "total_ms": sum(by_op.values()),
                "weight_layers_ms": sum(layer_kernel_ms(nodes, weight_layers).values()),
                "top_op_types_ms": dict(top),
            }
    return profile


def goals(models: dict[str, dict]) -> list[dict[str, Any]]:
    """Every goal of the issue, per model, judged from the measurements."""
    rows = []
    for name, model in models.items():
        target = model["int8"]["target"]
        for key, label in (("int8", "INT8 QDQ"), ("cpu_int8", "INT8 CPU form")):
            rows += _accuracy_goals(name, label, model, key, target)
        for batch, timing in model["timing"].items():
            cpu, qdq = timing["speedup"]["cpu_int8"], timing["speedup"]["int8"]
            rows.append(
                judged(
                    f"{name}: INT8 (CPU form) faster than FP32 on ORT CPU at batch {batch} "
                    "(median of per-round speed-ups > 1)",
                    cpu["median"] > 1.0,
                    f"{cpu['median']:.3f}x (rounds {cpu['min']:.2f}-{cpu['max']:.2f}x; p50 "
                    f"{timing['stats']['fp32']['p50_ms']:.3f} -> "
                    f"{timing['stats']['cpu_int8']['p50_ms']:.3f} ms; QDQ file "
                    f"{qdq['median']:.3f}x)",
                )
            )
    return rows


def _accuracy_goals(
    name: str, label: str, model: dict[str, Any], key: str, target: dict[str, float]
) -> list[dict[str, Any]]:
    test, validation = model["test"][key], model[key]["validation"]
    gate = f"MPJPE +{target['max_mpjpe_drop_mm']} mm, {target['max_joint_deviation_mm']} mm"
    return [
        judged(
            f"{name}: {label}: |change of test MPJPE| <= {MPJPE_GOAL_MM} mm (vs FP32 ONNX)",
            abs(test["mpjpe_delta_mm"]) <= MPJPE_GOAL_MM,
            f"{test['mpjpe_delta_mm']:+.3f} mm",
        ),
        judged(
            f"{name}: {label}: mean |INT8 - FP32| per joint on test <= {DEVIATION_GOAL_MM} mm",
            test["joint_deviation_mm"] <= DEVIATION_GOAL_MM,
            f"{test['joint_deviation_mm']:.3f} mm",
        ),
        judged(
            f"{name}: {label} passes the default gate (validation: {gate})",
            validation["mpjpe_delta_mm"] <= target["max_mpjpe_drop_mm"]
            and validation["joint_deviation_mm"] <= target["max_joint_deviation_mm"],
            f"{validation['mpjpe_delta_mm']:+.3f} mm, {validation['joint_deviation_mm']:.3f} mm",
        ),
    ]


def render_markdown(report: dict[str, Any]) -> str:
    device = report["device"]
    lines = [
        "# INT8 on ONNX Runtime CPU: CMU student and teacher",
        "",
        f"Generated by `benchmarks/quantization.py` on {report['date']}.",
        "",
        f"- Device: {device['summary']}; ONNX Runtime CPU execution provider, "
        f"{report['threads']} intra-op thread(s) for timing. **The 2 cores were shared** with "
        "other jobs (load averages below): latencies are noisy; FP32 and INT8 were timed in "
        f"{report['rounds']} interleaved rounds of {report['seconds']} s per file so that all "
        "saw the same load, and the speed goals are judged on the median per-round ratio.",
        f"- Data: real CMU motion capture (`{report['data']}`), ground-truth 2D. Calibration: "
        f"{report['calib_samples']} windows spread evenly over the training split; every "
        f"choice (calibration method, mixed precision) on {report['validation_windows']} "
        f"validation windows; test: {report['test_windows']} windows spread over the test "
        "subject, reported once.",
        "- Mean |INT8 - FP32| per joint: Euclidean distance between the INT8 and the FP32 "
        "ONNX's centre-frame 3D joints, averaged over poses and joints (mm).",
    ]
    if report["note"]:
        lines.append(f"- Models: {report['note']}")
    for name, model in report["models"].items():
        lines += ["", *_model_markdown(name, model)]
    lines += ["", goals_markdown(report["goals"])]
    return "\n".join(lines) + "\n"


def _model_markdown(name: str, model: dict[str, Any]) -> list[str]:
    int8, config = model["int8"], model["model"]
    lines = [
        f"## {name} (`{model['checkpoint']}`)",
        "",
        f"Checkpoint sha256 `{model['checkpoint_sha256']}`.",
        "",
        f"Measured {model['date']} in {model['wall_time_s'] / 60:.1f} min (1-minute load "
        f"average {model['load_average_1m'][0]:.1f} at the start, "
        f"{model['load_average_1m'][1]:.1f} at the end, on 2 cores).",
        "",
        f"{model['kind']}, {config['name']} dim {config['dim']}, depth {config['depth']}, "
        f"{model['deployment']['input_frames']} of {model['deployment']['window_frames']} "
        f"frames. INT8 file {model['int8_file']['size_bytes'] / 1e3:.0f} kB vs FP32 "
        f"{model['int8_file']['fp32'] / 1e3:.0f} kB.",
        "",
        "Calibration methods (default placement, validation, vs the FP32 ONNX):",
        "",
        "| method | MPJPE change (mm) | mean abs(INT8 - FP32) per joint (mm) |",
        "|---|---:|---:|",
    ]
    for method, measured in int8["methods"].items():
        chosen = " (chosen)" if method == int8["method"] else ""
        lines.append(
            f"| {method}{chosen} | {measured['mpjpe_delta_mm']:+.3f} | "
            f"{measured['joint_deviation_mm']:.3f} |"
        )
    lines += [
        "",
        "Per-layer sensitivity (only that layer in INT8, validation), most sensitive first:",
        "",
        "| layer | default | MPJPE change (mm) | mean abs(INT8 - FP32) per joint (mm) |",
        "|---|---|---:|---:|",
    ]
    if not int8["sensitivity"]:
        lines.append("| (not measured in this run: --no-sensitivity) | | | |")
    for row in int8["sensitivity"] or []:
        lines.append(
            f"| {row['layer']} | {row['default']} | {row['mpjpe_delta_mm']:+.3f} | "
            f"{row['joint_deviation_mm']:.3f} |"
        )
    mixed = int8["mixed_precision"]
    if mixed:
        lines += ["", "Mixed precision (most sensitive quantized layer back to float, in turn):"]
        lines += [""] + [
            f"- {step['float_layer'] or 'start'}: {step['quantized_layers']} layers in INT8, "
            f"MPJPE {step['mpjpe_delta_mm']:+.3f} mm, deviation {step['joint_deviation_mm']:.3f} mm"
            for step in mixed["steps"]
        ]
    else:
        lines += ["", "Mixed precision: not needed (the default placement met the target)."]
    validation = int8["validation"]
    lines += [
        "",
        f"Final INT8: {int8['method']} calibration, {len(int8['int8_layers'])} weight layers in "
        f"INT8, kept in float: {', '.join(int8['float_layers'])}; validation MPJPE "
        f"{validation['mpjpe_delta_mm']:+.3f} mm, deviation "
        f"{validation['joint_deviation_mm']:.3f} mm.",
        "",
        f"Test ({model['test']['windows']} windows):",
        "",
        "| model | MPJPE (mm) | change (mm) | mean abs(INT8 - FP32) per joint (mm) |",
        "|---|---:|---:|---:|",
        f"| FP32 ONNX | {model['test']['fp32']['mpjpe_mm']:.2f} | | |",
    ]
    for key, label in (
        ("int8", "INT8, onnxruntime.quantization"),
        ("cpu_int8", "INT8 CPU form (dynamic)"),
        ("modelopt_int8", "INT8, ModelOpt"),
    ):
        if key in model["test"]:
            row = model["test"][key]
            lines.append(
                f"| {label} | {row['mpjpe_mm']:.2f} | {row['mpjpe_delta_mm']:+.3f} | "
                f"{row['joint_deviation_mm']:.3f} |"
            )
    lines += ["", *_cpu_form_markdown(model["cpu_int8"])]
    lines += [
        "",
        *_modelopt_markdown(model["modelopt"]),
        "",
        *_timing_markdown(model["timing"]),
        "",
        *_profile_markdown(model["profile"]),
    ]
    return lines


def _modelopt_markdown(modelopt: dict | None) -> list[str]:
    if modelopt is None:
        return ["ModelOpt: not run (no --modelopt-python)."]
    if modelopt["status"] != "ok":
        return [f"ModelOpt: failed: {modelopt['reason']}"]
    validation = modelopt["validation"]
    return [
        f"ModelOpt ONNX PTQ (int8, {modelopt['method']} calibration on {modelopt['samples']} "
        f"training windows, CPU, {modelopt['seconds']:.0f} s): {modelopt['quantized_nodes']} "
        f"quantized nodes ({', '.join(modelopt['quantized_op_types'])}); validation MPJPE "
        f"{validation['mpjpe_delta_mm']:+.3f} mm, deviation "
        f"{validation['joint_deviation_mm']:.3f} mm.",
    ]


def _cpu_form_markdown(cpu: dict[str, Any]) -> list[str]:
    placement, validation = cpu["placement"], cpu["validation"]
    lines = [
        f"INT8 CPU form ({cpu['size_bytes'] / 1e3:.0f} kB), placement measured: per-layer "
        "kernel time on ORT CPU (profiler, 1 thread, median of 20 runs per node), FP32 "
        "(MatMul + bias Add) vs int8 (DynamicQuantizeMatMul), with every candidate layer in "
        "int8:",
        "",
        "| layer | FP32 b1 (ms) | int8 b1 (ms) | FP32 b64 (ms) | int8 b64 (ms) | faster |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for row in placement["speed"]:
        fp32, int8 = row["fp32_ms"], row["int8_ms"]
        lines.append(
            f"| {row['layer']} | {fp32['1']:.4f} | {int8['1']:.4f} | {fp32['64']:.3f} | "
            f"{int8['64']:.3f} | {'yes' if row['faster'] else 'no'} |"
        )
    lines += ["", "Then the validation gate on the faster layers:", ""]
    lines += [
        f"- {step['float_layer'] or 'start'}: {step['quantized_layers']} layers in INT8, "
        f"MPJPE {step['mpjpe_delta_mm']:+.3f} mm, deviation {step['joint_deviation_mm']:.3f} mm"
        for step in placement["steps"]
    ]
    lines += [
        "",
        f"Final CPU form: {len(placement['int8_layers'])} layers in INT8 "
        f"({', '.join(placement['int8_layers'])}); validation MPJPE "
        f"{validation['mpjpe_delta_mm']:+.3f} mm, deviation "
        f"{validation['joint_deviation_mm']:.3f} mm.",
    ]
    return lines


def _timing_markdown(timing: dict[str, Any]) -> list[str]:
    lines = [
        "Latency (model only, interleaved rounds; p50 over all rounds; speed-up = FP32 p50 / "
        "INT8 p50 of the same round, median over rounds, min-max beside it):",
        "",
        "| batch | FP32 p50 (ms) | INT8 QDQ p50 (ms) | speed-up | INT8 CPU form p50 (ms) | "
        "speed-up | rounds CPU form faster |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for batch, row in timing.items():
        stats, speedup = row["stats"], row["speedup"]
        cpu = speedup["cpu_int8"]
        faster = sum(ratio > 1.0 for ratio in cpu["per_round"])
        lines.append(
            f"| {batch} | {stats['fp32']['p50_ms']:.3f} | {stats['int8']['p50_ms']:.3f} | "
            f"{speedup['int8']['median']:.3f}x | {stats['cpu_int8']['p50_ms']:.3f} | "
            f"{cpu['median']:.3f}x ({cpu['min']:.2f}-{cpu['max']:.2f}) | "
            f"{faster} of {len(cpu['per_round'])} |"
        )
    return lines


def _profile_markdown(profile: dict[str, Any]) -> list[str]:
    lines = [
        "Where the time goes (ORT profiler, 1 thread, sum of each node's median kernel time "
        "per run, profiling overhead included; weight layers = the CPU form's candidate "
        "layers, the only ones int8 can speed up). The two files were profiled one after the "
        "other, not interleaved: their totals also differ by the load of the moment.",
        "",
        "| batch | file | kernels (ms) | weight layers (ms) | share | top op types (ms) |",
        "|---:|---|---:|---:|---:|---|",
    ]
    for batch, files in profile.items():
        for name, row in files.items():
            top = ", ".join(f"{op} {ms:.3f}" for op, ms in row["top_op_types_ms"].items())
            lines.append(
                f"| {batch} | {name} | {row['total_ms']:.3f} | {row['weight_layers_ms']:.3f} | "
                f"{row['weight_layers_ms'] / row['total_ms']:.0%} | {top} |"
            )
    return lines


def write_sensitivity_plot(path: Path, report: dict[str, Any]) -> None:
    """One panel per model: mean |INT8 - FP32| per joint (mm, validation) with only that
    layer in INT8, most sensitive on top; bars of layers kept float are grey."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ranked = {n: m["int8"]["sensitivity"] for n, m in report["models"].items()}
    ranked = {name: rows for name, rows in ranked.items() if rows}
    if not ranked:
        return
    height = max(len(rows) for rows in ranked.values()) * 0.22 + 1.2
    figure, axes = plt.subplots(1, len(ranked), figsize=(6 * len(ranked), height), squeeze=False)
    for axis, (name, rows) in zip(axes[0], ranked.items(), strict=True):
        final = set(report["models"][name]["int8"]["int8_layers"])
        colours = ["tab:blue" if row["layer"] in final else "grey" for row in rows]
        axis.barh([row["layer"] for row in rows], [row["joint_deviation_mm"] for row in rows])
        for bar, colour in zip(axis.patches, colours, strict=True):
            bar.set_color(colour)
        axis.invert_yaxis()
        axis.set_title(f"{name}: one layer in INT8 (blue: INT8 in the final model)")
        axis.set_xlabel("mean |INT8 - FP32| per joint, validation (mm)")
        axis.tick_params(axis="y", labelsize=7)
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png")
    plt.close(figure)


if __name__ == "__main__":
    sys.exit(main())
