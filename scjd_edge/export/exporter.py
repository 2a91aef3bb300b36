"""`scjd-edge export`: every deployable artifact of a checkpoint, and the manifest.

    <name>.onnx          FP32, parity-checked against torch on real validation windows
    <name>.fp16.onnx     FP16 weights and compute, FP32 I/O          (--fp16)
    <name>.int8.onnx     QDQ INT8, calibrated on the training split  (--int8; TensorRT's form)
    <name>.int8.cpu.onnx dynamic INT8 of the layers int8 speeds up  (--int8; ONNX Runtime CPU)
    <name>.<p>.engine    TensorRT engine + .json sidecar             (--trt)
    manifest.json        every artifact: status (and reason), size, sha256, precision,
                         validation MPJPE and its delta against the torch model

From an exported ONNX file alone (`export_onnx_engine`, `scjd-edge export model.onnx --trt`)
it builds the engine on the device, with no checkpoint, torch model or data set needed.

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
import torch
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from scjd_edge import __version__
from scjd_edge.contract import Deployment
from scjd_edge.data.builtin import CMU_SPLIT
from scjd_edge.errors import ArtifactSkipped, ExportError, ScjdError
from scjd_edge.export import cpu_int8, quantize, tensorrt_plan
from scjd_edge.export.onnx_export import (
    build_metadata,
    check_parity,
    export_onnx,
    read_deployment,
    read_metadata,
)
from scjd_edge.export.options import ExportOptions
from scjd_edge.export.runtime import load_predictor, predict_windows, torch_predictor
from scjd_edge.export.sensitivity import Int8Evaluator, Target
from scjd_edge.export.tensorrt_calibrator import calibration_cache_path
from scjd_edge.io import (
    RUN_MARKER_NAME,
    check_writable,
    sha256_file,
    staged_folder,
    write_json,
    write_run_marker,
)

EVAL_WINDOWS = 512  # validation windows for the parity gate and every artifact's MPJPE
MANIFEST_NAME = "manifest.json"
TIMING_CACHE_NAME = "tensorrt.timing.cache"  # kept across exports into the same folder
console = Console()


def export_checkpoint(
    checkpoint: str | Path,
    out_dir: str | Path,
    options: ExportOptions | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """Export `checkpoint` into `out_dir`; returns the manifest (also written as JSON).

    options: what to write (`fields` build one when it is not given). Its calib_data is the
    data folder whose training split calibrates INT8 and whose validation split measures
    every artifact (default: the data the checkpoint was trained on). Raises ExportError
    when the FP32 ONNX fails its parity gate and, before any work, when --trt is asked
    without TensorRT.
    """
    if options is not None and fields:
        raise TypeError(f"export_checkpoint: pass options or {sorted(fields)}, not both")
    options = options or ExportOptions(**fields)
    out_dir = Path(out_dir)
    _check_out_dir(out_dir)
    plan = _tensorrt_plan(options, out_dir)  # before any work: no TensorRT fails at once
    job = _prepare(Path(checkpoint), options.calib_data)
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
            lambda: _export_fp32(job, options.opset, options.simplify, options.parity_tolerance_mm),
        )
        if fp32["status"] != "ok":
            raise ExportError(f"FP32 ONNX export failed (nothing written): {fp32['reason']}")
        needed = {"fp16": options.fp16, "int8": options.int8}
        if plan is not None:
            needed[plan["build_from"]] = True
        if needed["fp16"]:
            _attempt(manifest, "onnx", "fp16", job.paths["fp16"], lambda: _export_fp16(job))
        if needed["int8"]:
            int8 = _attempt(
                manifest, "onnx", "int8", job.paths["int8"], lambda: _export_int8(job, options)
            )
            if int8["status"] == "ok":
                _attempt(
                    manifest,
                    "onnx",
                    "int8-cpu",
                    job.paths["int8_cpu"],
                    lambda: _export_int8_cpu(job, options),
                )
        if plan is not None:
            engine = staging / f"{job.name}.{plan['precision']}.engine"
            _attempt(
                manifest,
                "tensorrt",
                plan["precision"],
                engine,
                lambda: _build_engine(job, manifest, engine, plan),
                companions=_engine_companions(engine),
            )
        _write_manifest(manifest, staging, out_dir)
    _print_summary(manifest, out_dir)
    return manifest


def _tensorrt_plan(options: ExportOptions, out_dir: Path) -> dict[str, Any] | None:
    if options.trt is None:
        return None
    from scjd_edge.export.tensorrt_runner import check_cuda_python, require_cudart

    trt_version = tensorrt_plan.require_tensorrt().__version__
    check_cuda_python(require_cudart())  # before any build: a wrong cuda-python fails after it
    return tensorrt_plan.builder_plan(
        trt_version,
        options.trt,
        timing_cache=options.trt.timing_cache or out_dir / TIMING_CACHE_NAME,
    )


def _write_manifest(manifest: dict, staging: Path, out_dir: Path) -> None:
    for row in manifest["artifacts"]:  # reasons name the files where they will be
        if row.get("reason"):
            row["reason"] = row["reason"].replace(str(staging), str(out_dir))
    write_json(staging / MANIFEST_NAME, manifest)
    made_from = manifest.get("checkpoint_sha256") or manifest.get("onnx_sha256")
    write_run_marker(staging, "export", made_from, complete=True)


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
    listed = {MANIFEST_NAME, TIMING_CACHE_NAME, RUN_MARKER_NAME}
    try:
        rows = json.loads((out_dir / MANIFEST_NAME).read_text(encoding="utf-8"))["artifacts"]
        keys = ("file", "sidecar", "layers", "calibration_cache")
        listed |= {row.get(key) for row in rows for key in keys}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass  # no readable manifest: every file in the folder is foreign
    foreign = sorted(path for path in out_dir.iterdir() if path.name not in listed)
    if foreign:
        inside = sorted(path for path in foreign[0].rglob("*") if not path.is_dir())
        raise ExportError(
            f"{inside[0] if inside else foreign[0]}: --out {out_dir} holds files scjd-edge did "
            "not write (no earlier export's manifest.json lists them); they are left alone, "
            "but an export replaces the whole folder: choose a new or empty folder"
        )


def _artifact_paths(folder: Path, name: str) -> dict[str, Path]:
    return {
        "fp32": folder / f"{name}.onnx",
        "fp16": folder / f"{name}.fp16.onnx",
        "int8": folder / f"{name}.int8.onnx",
        "int8_cpu": folder / f"{name}.int8.cpu.onnx",
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
    manifest: dict,
    kind: str,
    precision: str,
    path: Path,
    make: Callable[[], dict],
    companions: tuple[Path, ...] = (),
) -> dict[str, Any]:
    """Run one format's export; its manifest row records success, a skip or a failure, with why.

    companions: files written with `path` (an engine's sidecar), removed with it on failure.
    """
    row: dict[str, Any] = {"format": kind, "precision": precision, "file": path.name}
    started = time.perf_counter()
    try:
        row.update(make())
    except ArtifactSkipped as skipped:
        row.update(status="skipped", reason=str(skipped))
        path.unlink(missing_ok=True)
        console.print(f"[yellow]{kind} {precision} skipped:[/] {escape(str(skipped))}")
    except Exception as error:  # a failed format is reported, not fatal (Ultralytics-style)
        reason = str(error) if isinstance(error, ScjdError) else f"{type(error).__name__}: {error}"
        row.update(status="failed", reason=reason)
        for stale in (path, *companions):  # no half-written file where it says failed
            stale.unlink(missing_ok=True)
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


def _export_int8(job: _ExportJob, options: ExportOptions) -> dict[str, Any]:
    subjects = job.recipe.data.train_subjects
    window_frames = int(job.checkpoint["deployment"].window_frames)
    calibration, _ = load_split_windows(
        job.dataset, subjects, "train", window_frames, options.calib_samples
    )
    report = quantize.write_int8_onnx(
        job.paths["fp32"],
        job.paths["int8"],
        calibration,
        *job.validation,
        method=options.calib_method,
        max_mpjpe_drop=options.max_mpjpe_drop,
        max_joint_deviation=options.max_joint_deviation,
        sensitivity=options.sensitivity,
        mixed=options.mixed_precision,
        force=options.force,
        source=f"{job.data_path} training split ({', '.join(subjects)})",
    )
    console.print(quantize.describe_int8(report) + (" (forced)" if options.force else ""))
    mpjpe_mm = report["validation"]["mpjpe_mm"]
    if not np.isfinite(mpjpe_mm):
        raise ExportError(f"{job.paths['int8'].name}: validation MPJPE is {mpjpe_mm} (NaN/Inf)")
    return {
        "mpjpe_mm": mpjpe_mm,
        "mpjpe_delta_mm": mpjpe_mm - job.torch_mpjpe_mm,
        "quantization": report,
    }


def _export_int8_cpu(job: _ExportJob, options: ExportOptions) -> dict[str, Any]:
    """INT8 for ONNX Runtime's CPU EP (dynamic, DynamicQuantizeMatMul): the layers that are
    faster in int8 there and keep the gate (cpu_int8.py); gated by the same two numbers."""
    path = job.paths["int8_cpu"]
    fp32 = load_predictor(job.paths["fp32"], backend="onnxruntime")
    target = Target(options.max_mpjpe_drop, options.max_joint_deviation)
    report = cpu_int8.write_chosen_cpu_int8(
        job.paths["fp32"], path, Int8Evaluator(fp32, *job.validation), target
    )
    measured = report["validation"]
    quantize.check_int8_gate(measured, target, options.force, path)
    console.print(
        f"{path.name}: INT8 for ONNX Runtime CPU (dynamic), {len(report['int8_layers'])} "
        f"layers in int8 ({sum(row['faster'] for row in report['speed'])} of "
        f"{len(report['speed'])} faster in int8 on this CPU), validation MPJPE "
        f"{measured['mpjpe_delta_mm']:+.2f} mm vs FP32, mean |INT8 - FP32| "
        f"{measured['joint_deviation_mm']:.2f} mm per joint"
    )
    return {
        "mpjpe_mm": measured["mpjpe_mm"],
        "mpjpe_delta_mm": measured["mpjpe_mm"] - job.torch_mpjpe_mm,
        "int8_form": "dynamic",
        "validation": measured,
        "placement": report,
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
    deployment = job.checkpoint["deployment"]
    subjects = job.recipe.data.train_subjects
    calibration = _engine_calibration(plan, job.dataset, subjects, deployment, CALIB_WINDOWS)
    sidecar = tensorrt_plan.build_engine(onnx_path, engine, plan, deployment, calibration)
    accuracy = _accuracy(load_predictor(engine, backend="tensorrt"), job)
    return {**accuracy, **_engine_row(onnx_path, engine, sidecar)}


def _engine_companions(engine: Path) -> tuple[Path, ...]:
    return (
        tensorrt_plan.sidecar_path(engine),
        tensorrt_plan.layers_path(engine),
        calibration_cache_path(engine),
    )


def _engine_calibration(
    plan: dict, dataset: Any, subjects: list[str], deployment: Deployment, samples: int
) -> dict[str, np.ndarray] | None:
    """Prepared model inputs of training windows for TensorRT's own INT8 calibration (INT8
    on DLA with TensorRT 10), else None."""
    if not plan.get("calibration"):
        return None
    windows, _ = load_split_windows(
        dataset, subjects, "train", int(deployment.window_frames), samples
    )
    keypoints_2d, frame_offsets, _ = deployment.prepare_model_inputs(torch.as_tensor(windows))
    return {"keypoints_2d": keypoints_2d.numpy(), "frame_offsets": frame_offsets.numpy()}


def _engine_row(onnx_path: Path, engine: Path, sidecar: dict[str, Any]) -> dict[str, Any]:
    layers = tensorrt_plan.layers_path(engine)
    console.print(
        f"TensorRT engine: {escape(tensorrt_plan.describe_layers(sidecar['layer_devices']))}"
    )
    return {
        "built_from": onnx_path.name,
        "sidecar": tensorrt_plan.sidecar_path(engine).name,
        "layers": layers.name if layers.is_file() else None,
        "calibration_cache": sidecar.get("calibration_cache"),
        "tensorrt_version": sidecar["tensorrt_version"],
        "gpu_name": sidecar["gpu_name"],
        "layer_devices": sidecar["layer_devices"],
    }


STATUS_STYLE = {"ok": "[green]ok[/]", "skipped": "[yellow]skipped[/]", "failed": "[red]failed[/]"}


def _print_summary(manifest: dict, out_dir: Path) -> None:
    """One row per artifact."""
    table = Table("format", "precision", "status", "MB", "MPJPE mm", "vs torch mm", "file / reason")
    for row in manifest["artifacts"]:
        ok = row["status"] == "ok"
        table.add_row(
            row["format"],
            row["precision"],
            STATUS_STYLE[row["status"]],
            f"{row['size_bytes'] / 1e6:.3f}" if ok else "",
            f"{row['mpjpe_mm']:.2f}" if ok and "mpjpe_mm" in row else "",
            f"{row['mpjpe_delta_mm']:+.3f}" if ok and "mpjpe_delta_mm" in row else "",
            escape(row["file"] if ok else row["reason"]),
        )
    console.print(table)
    console.print(f"wrote {escape(str(out_dir / MANIFEST_NAME))}")


# --- an engine from an ONNX file alone (no checkpoint, torch model or training data) --------

# Validation subjects of the data sets with a fixed split (data/README), for the optional
# on-device accuracy check of an engine built from an ONNX file.
VALIDATION_SUBJECTS = {"cmu": CMU_SPLIT["validation"], "h36m": ["S8"], "synthetic": ["SYN5"]}
TRAINING_SUBJECTS = {
    "cmu": CMU_SPLIT["train"],
    "h36m": ["S1", "S5", "S6", "S7"],
    "synthetic": ["SYN1", "SYN2", "SYN3", "SYN4"],
}
CALIB_WINDOWS = 512  # training windows TensorRT calibrates an INT8 DLA engine on


def export_onnx_engine(
    onnx_path: str | Path, out_dir: str | Path, options: ExportOptions
) -> dict[str, Any]:
    """Build `options.trt`'s engine from an exported ONNX file and its metadata (trtexec's job).

    An FP16 engine on TensorRT 11 needs the FP16 ONNX: given the FP32 one it is converted
    here; an INT8 engine needs the QDQ `.int8.onnx` itself. With `options.calib_data`, the
    engine's validation MPJPE is compared with ONNX Runtime's on the same ONNX file.
    Returns the manifest (also written as JSON).
    """
    onnx_path, out_dir = Path(onnx_path), Path(out_dir)
    if options.trt is None:
        raise ExportError(
            f"{onnx_path}: from an ONNX file `scjd-edge export` builds a TensorRT engine only; "
            "add --trt (ONNX, FP16 and INT8 exports start from a checkpoint)"
        )
    if out_dir.resolve() in onnx_path.resolve().parents:
        raise ExportError(
            f"--out {out_dir}: holds the ONNX file itself, and an export replaces the whole "
            "folder; choose another folder for the engine"
        )
    _check_out_dir(out_dir)
    plan = _tensorrt_plan(options, out_dir)
    deployment = read_deployment(onnx_path)
    tensorrt_plan.check_engine_source(onnx_path)
    given = read_metadata(onnx_path).get("precision", "fp32")
    stem = onnx_path.name.removesuffix(".onnx").removesuffix(f".{given}")
    manifest = {
        "format": "scjd-edge-export",
        "package_version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "onnx": str(onnx_path),
        "onnx_sha256": sha256_file(onnx_path),
        "deployment": deployment.to_dict(),
        "tensorrt_plan": plan,
        "artifacts": [],
    }
    with staged_folder(out_dir, keep=(TIMING_CACHE_NAME,)) as staging:
        fp16_copy = staging / f"{stem}.fp16.onnx"
        source = _onnx_source(onnx_path, given, plan["build_from"], fp16_copy)
        if source == fp16_copy:
            _attempt(
                manifest, "onnx", "fp16", source, lambda: quantize.convert_fp16(onnx_path, source)
            )
        engine = staging / f"{stem}.{plan['precision']}.engine"
        _attempt(
            manifest,
            "tensorrt",
            plan["precision"],
            engine,
            lambda: _engine_from_onnx(source, engine, plan, deployment, options.calib_data),
            companions=_engine_companions(engine),
        )
        _write_manifest(manifest, staging, out_dir)
    _print_summary(manifest, out_dir)
    return manifest


def _onnx_source(onnx_path: Path, given: str, wanted: str, fp16_path: Path) -> Path:
    """The ONNX file the engine is parsed from: the given one, or its FP16 conversion."""
    if given == wanted:
        return onnx_path
    if (given, wanted) == ("fp32", "fp16"):
        return fp16_path
    hint = {
        "int8": "the QDQ .int8.onnx written by `scjd-edge export --int8`",
        "fp32": "the FP32 .onnx",
        "fp16": "the .fp16.onnx or the FP32 .onnx",
    }[wanted]
    raise ExportError(
        f"{onnx_path}: a {given} ONNX cannot give this engine (TensorRT parses a {wanted} "
        f"ONNX for it); pass {hint}"
    )


def _engine_from_onnx(
    onnx_path: Path, engine: Path, plan: dict, deployment: Deployment, calib_data: str | None
) -> dict[str, Any]:
    for note in plan["notes"]:
        console.print(f"TensorRT: {escape(note)}")
    dataset = None
    if calib_data is not None:
        from scjd_edge.data.formats import load_dataset

        dataset = load_dataset(calib_data)
        if dataset.name not in VALIDATION_SUBJECTS:
            raise ExportError(f"--calib-data {calib_data}: no known training/validation split")
    calibration = None
    if dataset is not None:
        subjects = TRAINING_SUBJECTS[dataset.name]
        calibration = _engine_calibration(plan, dataset, subjects, deployment, CALIB_WINDOWS)
    sidecar = tensorrt_plan.build_engine(onnx_path, engine, plan, deployment, calibration)
    row = _engine_row(onnx_path, engine, sidecar)
    if dataset is None:
        return row
    subjects = VALIDATION_SUBJECTS[dataset.name]
    windows, truth = load_split_windows(
        dataset, subjects, "val", int(deployment.window_frames), EVAL_WINDOWS
    )
    reference = predict_windows(load_predictor(onnx_path, backend="onnxruntime"), windows)
    poses = predict_windows(load_predictor(engine, backend="tensorrt"), windows)
    onnx_mpjpe, engine_mpjpe = _mpjpe_mm(reference, truth), _mpjpe_mm(poses, truth)
    console.print(
        f"engine vs ONNX Runtime on {onnx_path.name}, {len(windows)} validation windows of "
        f"{escape(str(calib_data))}: MPJPE {engine_mpjpe:.2f} vs {onnx_mpjpe:.2f} mm"
    )
    return {
        **row,
        "mpjpe_mm": engine_mpjpe,
        "onnxruntime_mpjpe_mm": onnx_mpjpe,
        "mpjpe_delta_mm": engine_mpjpe - onnx_mpjpe,
        "max_abs_diff_vs_onnxruntime_mm": 1000.0 * float(np.abs(poses - reference).max()),
        "mpjpe_vs_onnxruntime_mm": 1000.0
        * float(np.linalg.norm(poses - reference, axis=-1).mean()),
        "validation": {"data": str(calib_data), "subjects": subjects, "windows": len(windows)},
    }
