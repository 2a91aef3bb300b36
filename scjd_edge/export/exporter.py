"""`scjd-edge export`: every deployable artifact of a checkpoint, and the manifest.

    <name>.onnx          FP32, parity-checked against torch on real validation windows
    <name>.fp16.onnx     FP16 weights and compute, FP32 I/O          (--fp16)
    <name>.int8.onnx     QDQ INT8, calibrated on the training split  (--int8)
    <name>.<p>.engine    TensorRT engine + .json sidecar             (--trt)
    manifest.json        every artifact: status (and reason), size, sha256, precision,
                         validation MPJPE and its delta against the torch model

Like Ultralytics' exporter, a format that fails is a row with its reason, not the end of
the run; the FP32 ONNX is the exception, since every other artifact is made from it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from scjd_edge import __version__
from scjd_edge.errors import ExportError, ScjdError
from scjd_edge.export import quantize, tensorrt
from scjd_edge.export.onnx_export import build_metadata, check_parity, export_onnx
from scjd_edge.export.runtime import load_predictor, predict_windows, torch_predictor
from scjd_edge.io import sha256_file, write_json

EVAL_WINDOWS = 512  # validation windows for the parity gate and every artifact's MPJPE
MANIFEST_NAME = "manifest.json"
console = Console()


def export_checkpoint(
    checkpoint: str | Path,
    out_dir: str | Path,
    *,
    fp16: bool = False,
    int8: bool = False,
    calib_data: str | Path | None = None,
    calib_method: str = "minmax",
    calib_samples: int = 256,
    max_mpjpe_drop: float = 1.0,
    force: bool = False,
    trt: bool = False,
    precision: str = "fp32",
    min_batch: int = 1,
    opt_batch: int = 8,
    max_batch: int = 64,
    dla_core: int | None = None,
    workspace_mb: int = 1024,
    timing_cache: str | Path | None = None,
    opset: int = 17,
    simplify: bool = True,
    parity_tolerance_mm: float = 0.1,
) -> dict[str, Any]:
    """Export `checkpoint` into `out_dir`; returns the manifest (also written as JSON).

    calib_data: data folder whose training split calibrates INT8 and whose validation split
    measures every artifact (default: the data the checkpoint was trained on). Raises
    ExportError when the FP32 ONNX fails its parity gate (tolerance in mm of max abs error)
    and, before any work, when --trt is asked without TensorRT.
    """
    _check_options(calib_method, calib_samples, opset, precision, parity_tolerance_mm)
    out_dir = Path(out_dir)
    plan = None
    if trt:
        trt_module = tensorrt.require_tensorrt()
        cache = timing_cache or out_dir / "tensorrt.timing.cache"
        plan = tensorrt.builder_plan(
            trt_module.__version__,
            precision,
            "fp32",
            dla_core,
            min_batch=min_batch,
            opt_batch=opt_batch,
            max_batch=max_batch,
            workspace_mb=workspace_mb,
            timing_cache=cache,
        )
    from scjd_edge.train.checkpoint import build_model_from_checkpoint, recipe_of

    model, ckpt = build_model_from_checkpoint(checkpoint)
    name = Path(checkpoint).stem
    recipe = recipe_of(ckpt, source=str(checkpoint))
    data_path = str(calib_data or ckpt["data"]["source"])
    dataset = _load_dataset(data_path, recipe.data.keypoints)
    window_frames = int(ckpt["deployment"]["window_frames"])
    validation = load_split_windows(
        dataset, recipe.data.val_subjects, "val", window_frames, EVAL_WINDOWS
    )
    reference = torch_predictor(model, ckpt["deployment"], name)
    torch_mpjpe = _mpjpe_mm(predict_windows(reference, validation[0]), validation[1])
    console.print(
        f"[bold]{name}[/]: torch FP32 validation MPJPE {torch_mpjpe:.2f} mm on "
        f"{len(validation[0])} windows of {data_path} ({', '.join(recipe.data.val_subjects)})"
    )
    manifest = {
        "format": "scjd-edge-export",
        "package_version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "checkpoint": str(checkpoint),
        "checkpoint_sha256": sha256_file(checkpoint),
        "model": recipe.model.model_dump(),
        "deployment": ckpt["deployment"],
        "data": {
            "source": data_path,
            "validation_subjects": recipe.data.val_subjects,
            "validation_windows": len(validation[0]),
            "calibration_subjects": recipe.data.train_subjects,
        },
        "torch_mpjpe_mm": torch_mpjpe,
        "tensorrt_plan": plan,
        "artifacts": [],
    }
    context = {"reference": reference, "validation": validation, "torch_mpjpe": torch_mpjpe}
    paths = {
        "fp32": out_dir / f"{name}.onnx",
        "fp16": out_dir / f"{name}.fp16.onnx",
        "int8": out_dir / f"{name}.int8.onnx",
    }

    fp32 = _attempt(
        manifest,
        "onnx",
        "fp32",
        paths["fp32"],
        lambda: _export_fp32(
            model, ckpt, paths["fp32"], context, opset, simplify, parity_tolerance_mm
        ),
    )
    if fp32["status"] != "ok":
        _finish(manifest, out_dir)
        raise ExportError(f"FP32 ONNX export failed: {fp32['reason']}")
    needed = {"fp16": fp16, "int8": int8}
    if plan is not None:
        needed[plan["build_from"]] = True
    if needed.get("fp16"):
        _attempt(
            manifest,
            "onnx",
            "fp16",
            paths["fp16"],
            lambda: _export_fp16(paths["fp32"], paths["fp16"], context),
        )
    if needed.get("int8"):
        _attempt(
            manifest,
            "onnx",
            "int8",
            paths["int8"],
            lambda: _export_int8(
                paths["fp32"],
                paths["int8"],
                dataset,
                recipe,
                window_frames,
                context,
                calib_method,
                calib_samples,
                max_mpjpe_drop,
                force,
                data_path,
            ),
        )
    if plan is not None:
        engine = out_dir / f"{name}.{precision}.engine"
        _attempt(
            manifest,
            "tensorrt",
            precision,
            engine,
            lambda: _build_engine(manifest, paths[plan["build_from"]], engine, plan, ckpt, context),
        )
    _finish(manifest, out_dir)
    return manifest


def _check_options(
    calib_method: str, calib_samples: int, opset: int, precision: str, tolerance_mm: float
) -> None:
    if calib_method not in quantize.CALIBRATION_METHODS:
        methods = list(quantize.CALIBRATION_METHODS)
        raise ExportError(f"--calib-method {calib_method!r}: expected one of {methods}")
    if calib_samples < 1:
        raise ExportError(f"--calib-samples {calib_samples}: expected at least 1")
    if opset < 17:
        raise ExportError(f"--opset {opset}: scjd-edge exports opset 17 or newer")
    if precision not in tensorrt.PRECISIONS:
        raise ExportError(f"--precision {precision!r}: expected one of {tensorrt.PRECISIONS}")
    if tolerance_mm <= 0:
        raise ExportError(f"parity tolerance {tolerance_mm} mm: expected a positive number")


def _load_dataset(data_path: str, keypoints: str) -> Any:
    from scjd_edge.data.formats import load_dataset

    return load_dataset(data_path, keypoints=keypoints)


def load_split_windows(
    dataset: Any, subjects: list[str], split_name: str, window_frames: int, max_windows: int
) -> tuple[np.ndarray, np.ndarray]:
    """Up to `max_windows` windows spread evenly over a split (every frame is a centre).

    Returns keypoints_2d (B, T, 17, 2) normalised 2D and the centre frames' root-relative
    pose_3d (B, 17, 3) in metres.
    """
    from scjd_edge.data.windows import PoseWindows

    windows = PoseWindows(dataset.select(list(subjects), split_name), frames=window_frames)
    count = min(max_windows, len(windows))
    picked = np.unique(np.linspace(0, len(windows) - 1, count).round().astype(np.int64))
    batch = windows[picked.tolist()]
    centre = window_frames // 2
    return batch["keypoints_2d"].numpy(), batch["pose_3d"][:, centre].numpy()


def _mpjpe_mm(pose_3d: np.ndarray, target: np.ndarray) -> float:
    from scjd_edge.metrics import mpjpe

    return 1000.0 * float(mpjpe(pose_3d, target))


def _attempt(
    manifest: dict, kind: str, precision: str, path: Path, make: Callable[[], dict]
) -> dict[str, Any]:
    """Run one format's export; its manifest row records success or the reason it failed."""
    row: dict[str, Any] = {"format": kind, "precision": precision, "file": path.name}
    started = time.perf_counter()
    try:
        row.update(make())
    except Exception as error:  # a failed format is reported, not fatal (Ultralytics-style)
        reason = str(error) if isinstance(error, ScjdError) else f"{type(error).__name__}: {error}"
        row.update(status="failed", reason=reason)
        console.print(f"[bold red]{kind} {precision} failed:[/] {reason}", highlight=False)
    else:
        row.update(status="ok", size_bytes=path.stat().st_size, sha256=sha256_file(path))
    row["seconds"] = round(time.perf_counter() - started, 2)
    manifest["artifacts"].append(row)
    return row


def _accuracy(predictor: Any, context: dict) -> dict[str, float]:
    windows, target = context["validation"]
    mpjpe_mm = _mpjpe_mm(predict_windows(predictor, windows), target)
    return {"mpjpe_mm": mpjpe_mm, "mpjpe_delta_mm": mpjpe_mm - context["torch_mpjpe"]}


def _export_fp32(
    model: Any, ckpt: dict, path: Path, context: dict, opset: int, simplify: bool, tol: float
) -> dict[str, Any]:
    reference = context["reference"]
    model_keypoints_2d, frame_offsets, _ = reference.prepare(context["validation"][0][:2])
    metadata = build_metadata(ckpt, "fp32", sha256_file(ckpt["path"]))
    details = export_onnx(
        model,
        (torch_tensor(model_keypoints_2d), torch_tensor(frame_offsets)),
        path,
        metadata,
        opset=opset,
        simplify=simplify,
    )
    onnx_predictor = load_predictor(path, backend="onnxruntime")
    try:
        parity = check_parity(reference, onnx_predictor, *context["validation"], tolerance_mm=tol)
    except ExportError:
        path.unlink(missing_ok=True)  # an ONNX that does not match torch is not kept
        raise
    console.print(
        f"parity ONNX Runtime vs torch on {parity['windows']} real windows: max abs error "
        f"{parity['max_abs_error_mm']:.5f} mm, MPJPE delta {parity['mpjpe_delta_mm']:+.5f} mm"
    )
    return {**_accuracy(onnx_predictor, context), "parity": parity, **details}


def torch_tensor(array: np.ndarray) -> Any:
    import torch

    return torch.from_numpy(np.ascontiguousarray(array))


def _export_fp16(fp32_path: Path, path: Path, context: dict) -> dict[str, Any]:
    details = quantize.convert_fp16(fp32_path, path)
    accuracy = _accuracy(load_predictor(path, backend="onnxruntime"), context)
    return {**accuracy, **details}


def _export_int8(
    fp32_path: Path,
    path: Path,
    dataset: Any,
    recipe: Any,
    window_frames: int,
    context: dict,
    method: str,
    samples: int,
    max_mpjpe_drop: float,
    force: bool,
    data_path: str,
) -> dict[str, Any]:
    train_subjects = recipe.data.train_subjects
    calibration_windows, _ = load_split_windows(
        dataset, train_subjects, "train", window_frames, samples
    )
    report = quantize.write_int8_onnx(
        fp32_path,
        path,
        calibration_windows,
        *context["validation"],
        method=method,
        max_mpjpe_drop=max_mpjpe_drop,
        force=force,
        source=f"{data_path} training split ({', '.join(train_subjects)})",
    )
    console.print(
        f"INT8 ({method}, {report['samples']} calibration windows): validation MPJPE "
        f"{report['mpjpe_fp32_mm']:.2f} -> {report['mpjpe_int8_mm']:.2f} mm "
        f"({report['mpjpe_delta_mm']:+.2f} mm, gate {max_mpjpe_drop} mm"
        f"{', forced' if force else ''})"
    )
    accuracy = {"mpjpe_mm": report["mpjpe_int8_mm"]}
    accuracy["mpjpe_delta_mm"] = report["mpjpe_int8_mm"] - context["torch_mpjpe"]
    return {**accuracy, "quantization": report}


def _build_engine(
    manifest: dict, onnx_path: Path, engine: Path, plan: dict, ckpt: dict, context: dict
) -> dict[str, Any]:
    source = next(a for a in manifest["artifacts"] if a["file"] == onnx_path.name)
    if source["status"] != "ok":
        raise ExportError(
            f"the engine is built from {onnx_path.name}, which failed: {source['reason']}"
        )
    for note in plan["notes"]:
        console.print(f"TensorRT: {note}")
    sidecar = tensorrt.build_engine(onnx_path, engine, plan, ckpt["deployment"])
    accuracy = _accuracy(load_predictor(engine, backend="tensorrt"), context)
    return {
        **accuracy,
        "built_from": onnx_path.name,
        "sidecar": tensorrt.sidecar_path(engine).name,
        "tensorrt_version": sidecar["tensorrt_version"],
        "gpu_name": sidecar["gpu_name"],
    }


def _finish(manifest: dict, out_dir: Path) -> None:
    """Write manifest.json and print one row per artifact."""
    write_json(out_dir / MANIFEST_NAME, manifest)
    table = Table("format", "precision", "status", "MB", "MPJPE mm", "vs torch mm", "file / reason")
    for row in manifest["artifacts"]:
        ok = row["status"] == "ok"
        table.add_row(
            row["format"],
            row["precision"],
            "[green]ok[/]" if ok else "[red]failed[/]",
            f"{row['size_bytes'] / 1e6:.3f}" if ok else "",
            f"{row['mpjpe_mm']:.2f}" if ok else "",
            f"{row['mpjpe_delta_mm']:+.3f}" if ok else "",
            row["file"] if ok else row["reason"],
        )
    console.print(table)
    console.print(f"wrote {out_dir / MANIFEST_NAME}")
