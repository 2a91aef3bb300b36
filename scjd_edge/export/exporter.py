"""`scjd-edge export`: every deployable artifact of a checkpoint, and the manifest.

    <name>.onnx          FP32, parity-checked against torch on real validation windows
    <name>.fp16.onnx     FP16 weights and compute, FP32 I/O          (--fp16)
    <name>.int8.onnx     QDQ INT8, calibrated on the training split  (--int8)
    <name>.<p>.engine    TensorRT engine + .json sidecar             (--trt)
    manifest.json        every artifact: status (and reason), size, sha256, precision,
                         validation MPJPE and its delta against the torch model

Like Ultralytics' exporter, a format that fails is a row with its reason, not the end of
the run; the FP32 ONNX is the exception, since every other artifact is made from it. The
folder is one transaction (`scjd_edge.io.staged_folder`): built beside `out_dir` and
swapped in whole, so it always holds one complete export, and a refused export (e.g. the
parity gate) leaves the previous one untouched.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from scjd_edge import __version__
from scjd_edge.errors import ExportError, ScjdError
from scjd_edge.export import quantize, tensorrt
from scjd_edge.export.onnx_export import build_metadata, check_parity, export_onnx
from scjd_edge.export.runtime import load_predictor, predict_windows, torch_predictor
from scjd_edge.io import check_writable, sha256_file, staged_folder, write_json

EVAL_WINDOWS = 512  # validation windows for the parity gate and every artifact's MPJPE
MANIFEST_NAME = "manifest.json"
TIMING_CACHE_NAME = "tensorrt.timing.cache"  # kept across exports into the same folder
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
    _check_out_dir(out_dir)
    plan = None
    if trt:  # before any expensive work: TensorRT missing or a bad profile fails at once
        plan = tensorrt.builder_plan(
            tensorrt.require_tensorrt().__version__,
            precision,
            "fp32",
            dla_core,
            min_batch=min_batch,
            opt_batch=opt_batch,
            max_batch=max_batch,
            workspace_mb=workspace_mb,
            timing_cache=timing_cache or out_dir / TIMING_CACHE_NAME,
        )
    job = _prepare(Path(checkpoint), calib_data)
    # Built beside out_dir and swapped in whole: a failed or killed export leaves the old
    # folder as it was, and two exports into one folder never mix their files.
    with staged_folder(out_dir, keep=(TIMING_CACHE_NAME,)) as staging:
        job.paths = _artifact_paths(staging, job.name)
        manifest = _manifest_header(job, plan)
        fp32 = _attempt(
            manifest,
            "onnx",
            "fp32",
            job.paths["fp32"],
            lambda: _export_fp32(job, opset, simplify, parity_tolerance_mm),
        )
        if fp32["status"] != "ok":
            raise ExportError(f"FP32 ONNX export failed (nothing written): {fp32['reason']}")
        needed = {"fp16": fp16, "int8": int8}
        if plan is not None:
            needed[plan["build_from"]] = True
        if needed["fp16"]:
            _attempt(manifest, "onnx", "fp16", job.paths["fp16"], lambda: _export_fp16(job))
        if needed["int8"]:
            _attempt(
                manifest,
                "onnx",
                "int8",
                job.paths["int8"],
                lambda: _export_int8(job, calib_method, calib_samples, max_mpjpe_drop, force),
            )
        if plan is not None:
            engine = staging / f"{job.name}.{precision}.engine"
            _attempt(
                manifest,
                "tensorrt",
                precision,
                engine,
                lambda: _build_engine(job, manifest, engine, plan),
            )
        for row in manifest["artifacts"]:  # reasons name the files where they will be
            if row.get("reason"):
                row["reason"] = row["reason"].replace(str(staging), str(out_dir))
        write_json(staging / MANIFEST_NAME, manifest)
    _print_summary(manifest, out_dir)
    return manifest


@dataclass
class _ExportJob:
    """What every format's export needs: the model, its checkpoint and the real windows."""

    name: str
    model: Any
    checkpoint: dict[str, Any]
    recipe: Any
    dataset: Any
    data_path: str
    validation: tuple[np.ndarray, np.ndarray]  # keypoints_2d (B, T, 17, 2), pose_3d (B, 17, 3)
    reference: Any  # the torch Predictor
    torch_mpjpe_mm: float
    paths: dict[str, Path] = field(default_factory=dict)


def _check_out_dir(out_dir: Path) -> None:
    """An export replaces the whole folder: refuse one holding files no manifest lists."""
    check_writable(out_dir, "--out", folder=True)
    if not out_dir.is_dir():
        return
    listed = {MANIFEST_NAME, TIMING_CACHE_NAME}
    try:
        rows = json.loads((out_dir / MANIFEST_NAME).read_text(encoding="utf-8"))["artifacts"]
        listed |= {row.get(key) for row in rows for key in ("file", "sidecar")}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass  # no readable manifest: every file in the folder is foreign
    foreign = sorted(path.name for path in out_dir.iterdir() if path.name not in listed)
    if foreign:
        raise ExportError(
            f"--out {out_dir}: holds {foreign[0]!r}, which no earlier export's manifest.json "
            "lists; an export replaces the whole folder, so choose a new or empty folder"
        )


def _artifact_paths(folder: Path, name: str) -> dict[str, Path]:
    return {
        "fp32": folder / f"{name}.onnx",
        "fp16": folder / f"{name}.fp16.onnx",
        "int8": folder / f"{name}.int8.onnx",
    }


def _prepare(checkpoint: Path, calib_data: str | Path | None) -> _ExportJob:
    """Load the model and the validation windows, and measure the torch model on them."""
    from scjd_edge.data.formats import load_dataset
    from scjd_edge.train.checkpoint import build_model_from_checkpoint, recipe_of

    model, ckpt = build_model_from_checkpoint(checkpoint)
    recipe = recipe_of(ckpt, source=str(checkpoint))
    data_path = str(calib_data or ckpt["data"]["source"])
    dataset = load_dataset(data_path, keypoints=recipe.data.keypoints)
    window_frames = int(ckpt["deployment"].window_frames)
    subjects = recipe.data.val_subjects
    validation = load_split_windows(dataset, subjects, "val", window_frames, EVAL_WINDOWS)
    name = checkpoint.stem
    reference = torch_predictor(model, ckpt["deployment"], name)
    torch_mpjpe = _mpjpe_mm(predict_windows(reference, validation[0]), validation[1])
    if not np.isfinite(torch_mpjpe):
        raise ExportError(
            f"{checkpoint}: the torch model's outputs hold NaN or Inf on validation windows "
            "(diverged training?); nothing exported"
        )
    console.print(
        f"[bold]{name}[/]: torch FP32 validation MPJPE {torch_mpjpe:.2f} mm on "
        f"{len(validation[0])} windows of {escape(data_path)} ({', '.join(subjects)})"
    )
    return _ExportJob(
        name, model, ckpt, recipe, dataset, data_path, validation, reference, torch_mpjpe
    )


def _manifest_header(job: _ExportJob, plan: dict | None) -> dict[str, Any]:
    checkpoint_path = job.checkpoint["path"]
    return {
        "format": "scjd-edge-export",
        "package_version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "checkpoint": str(checkpoint_path),
        "checkpoint_sha256": sha256_file(checkpoint_path),
        "model": job.recipe.model.model_dump(),
        "deployment": job.checkpoint["deployment"].to_dict(),
        "data": {
            "source": job.data_path,
            "validation_subjects": job.recipe.data.val_subjects,
            "validation_windows": len(job.validation[0]),
            "calibration_subjects": job.recipe.data.train_subjects,
        },
        "torch_mpjpe_mm": job.torch_mpjpe_mm,
        "tensorrt_plan": plan,
        "artifacts": [],
    }


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
        path.unlink(missing_ok=True)  # no half-written file where the manifest says failed
        console.print(f"[bold red]{kind} {precision} failed:[/] {escape(reason)}", highlight=False)
    else:
        row.update(status="ok", size_bytes=path.stat().st_size, sha256=sha256_file(path))
    row["seconds"] = round(time.perf_counter() - started, 2)
    manifest["artifacts"].append(row)
    return row


def _accuracy(predictor: Any, job: _ExportJob) -> dict[str, float]:
    """Validation MPJPE of an artifact and its difference from the torch model, mm."""
    mpjpe_mm = _mpjpe_mm(predict_windows(predictor, job.validation[0]), job.validation[1])
    if not np.isfinite(mpjpe_mm):
        raise ExportError(f"{predictor.name}: validation MPJPE is {mpjpe_mm} (NaN/Inf outputs)")
    return {"mpjpe_mm": mpjpe_mm, "mpjpe_delta_mm": mpjpe_mm - job.torch_mpjpe_mm}


def _export_fp32(job: _ExportJob, opset: int, simplify: bool, tolerance_mm: float) -> dict:
    import torch

    path = job.paths["fp32"]
    model_keypoints_2d, frame_offsets, _ = job.reference.prepare(job.validation[0][:2])
    sample_inputs = (torch.from_numpy(model_keypoints_2d), torch.from_numpy(frame_offsets))
    metadata = build_metadata(job.checkpoint, "fp32", sha256_file(job.checkpoint["path"]))
    details = export_onnx(job.model, sample_inputs, path, metadata, opset=opset, simplify=simplify)
    onnx_predictor = load_predictor(path, backend="onnxruntime")
    parity = check_parity(job.reference, onnx_predictor, *job.validation, tolerance_mm=tolerance_mm)
    console.print(
        f"parity ONNX Runtime vs torch on {parity['windows']} real windows: max abs error "
        f"{parity['max_abs_error_mm']:.5f} mm, MPJPE delta {parity['mpjpe_delta_mm']:+.5f} mm"
    )
    return {**_accuracy(onnx_predictor, job), "parity": parity, **details}


def _export_fp16(job: _ExportJob) -> dict[str, Any]:
    details = quantize.convert_fp16(job.paths["fp32"], job.paths["fp16"])
    accuracy = _accuracy(load_predictor(job.paths["fp16"], backend="onnxruntime"), job)
    return {**accuracy, **details}


def _export_int8(
    job: _ExportJob, method: str, samples: int, max_mpjpe_drop: float, force: bool
) -> dict[str, Any]:
    subjects = job.recipe.data.train_subjects
    window_frames = int(job.checkpoint["deployment"].window_frames)
    calibration, _ = load_split_windows(job.dataset, subjects, "train", window_frames, samples)
    report = quantize.write_int8_onnx(
        job.paths["fp32"],
        job.paths["int8"],
        calibration,
        *job.validation,
        method=method,
        max_mpjpe_drop=max_mpjpe_drop,
        force=force,
        source=f"{job.data_path} training split ({', '.join(subjects)})",
    )
    console.print(
        f"INT8 ({method}, {report['samples']} calibration windows): validation MPJPE "
        f"{report['mpjpe_fp32_mm']:.2f} -> {report['mpjpe_int8_mm']:.2f} mm "
        f"({report['mpjpe_delta_mm']:+.2f} mm, gate {max_mpjpe_drop} mm"
        f"{', forced' if force else ''})"
    )
    mpjpe_mm = report["mpjpe_int8_mm"]
    if not np.isfinite(mpjpe_mm):
        raise ExportError(f"{job.paths['int8'].name}: validation MPJPE is {mpjpe_mm} (NaN/Inf)")
    return {
        "mpjpe_mm": mpjpe_mm,
        "mpjpe_delta_mm": mpjpe_mm - job.torch_mpjpe_mm,
        "quantization": report,
    }


def _build_engine(job: _ExportJob, manifest: dict, engine: Path, plan: dict) -> dict[str, Any]:
    onnx_path = job.paths[plan["build_from"]]
    source = next(a for a in manifest["artifacts"] if a["file"] == onnx_path.name)
    if source["status"] != "ok":
        raise ExportError(
            f"the engine is built from {onnx_path.name}, which failed: {source['reason']}"
        )
    for note in plan["notes"]:
        console.print(f"TensorRT: {escape(note)}")
    sidecar = tensorrt.build_engine(onnx_path, engine, plan, job.checkpoint["deployment"])
    accuracy = _accuracy(load_predictor(engine, backend="tensorrt"), job)
    return {
        **accuracy,
        "built_from": onnx_path.name,
        "sidecar": tensorrt.sidecar_path(engine).name,
        "tensorrt_version": sidecar["tensorrt_version"],
        "gpu_name": sidecar["gpu_name"],
    }


def _print_summary(manifest: dict, out_dir: Path) -> None:
    """One row per artifact."""
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
            escape(row["file"] if ok else row["reason"]),
        )
    console.print(table)
    console.print(f"wrote {escape(str(out_dir / MANIFEST_NAME))}")
