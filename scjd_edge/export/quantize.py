"""FP16 and INT8 ONNX: precision decided in the graph, so every runtime builds the same file.

- FP16: weights and compute in FP16, inputs and outputs FP32 (keep_io_types); numerically
  fragile ops (LayerNormalization, Softmax, and the reductions of a decomposed norm) stay
  FP32. ModelOpt AutoCast when importable, else onnxconverter-common's converter.
- INT8: static post-training quantization with onnxruntime.quantization in QDQ format,
  symmetric int8 activations and per-channel weights (every zero point 0, as TensorRT
  requires), calibrated on real 2D windows; only MatMul/Gemm/Conv are quantized, while
  LayerNorm, Softmax, GELU and the residual Adds stay float. The gate refuses a model whose
  validation MPJPE gets worse by more than `max_mpjpe_drop` mm.
"""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    create_calibrator,
    quantize_static,
)

from scjd_edge.errors import DataError, ExportError
from scjd_edge.export.onnx_export import (
    INPUT_NAMES,
    METADATA_PREFIX,
    graph_input_names,
    load_onnx,
    read_deployment,
    read_metadata,
    set_metadata,
    stamp_graph_sha256,
)
from scjd_edge.io import atomic_path

FP16_KEEP_FP32_OPS = ("LayerNormalization", "Softmax", "ReduceMean", "Pow", "Sqrt")
INT8_OP_TYPES = ("MatMul", "Gemm", "Conv")
CALIBRATION_METHODS = {
    "minmax": CalibrationMethod.MinMax,
    "entropy": CalibrationMethod.Entropy,
    "percentile": CalibrationMethod.Percentile,
}


def convert_fp16(
    fp32_onnx: str | Path,
    out_path: str | Path,
    keep_fp32_ops: Sequence[str] = FP16_KEEP_FP32_OPS,
    converter: str = "auto",
) -> dict[str, Any]:
    """Write an FP16 copy of an exported FP32 ONNX (FP32 inputs/outputs).

    converter: "modelopt" (NVIDIA ModelOpt AutoCast), "onnxconverter" (onnxconverter-common)
    or "auto" (ModelOpt when importable). Returns {"converter", "kept_fp32_ops"}.
    """
    proto = load_onnx(fp32_onnx)
    metadata = read_metadata(proto)
    converter = _fp16_converter(converter)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "values truncated to fp16" notices
        if converter == "modelopt":
            from modelopt.onnx.autocast.convert import convert_to_f16

            converted = convert_to_f16(
                proto,
                low_precision_type="fp16",
                keep_io_types=True,
                op_block_list=list(keep_fp32_ops),
            )
        else:
            from onnxconverter_common import float16

            block = [*float16.DEFAULT_OP_BLOCK_LIST, *keep_fp32_ops]
            converted = float16.convert_float_to_float16(
                proto, keep_io_types=True, op_block_list=block
            )
            _retype_float_casts(converted)
    _set_scjd_metadata(
        converted,
        metadata,
        precision="fp16",
        fp16_converter=converter,
        fp16_kept_fp32_ops=json.dumps(list(keep_fp32_ops)),
    )
    _save_checked(converted, out_path)
    return {"converter": converter, "kept_fp32_ops": list(keep_fp32_ops)}


def _retype_float_casts(proto: onnx.ModelProto) -> None:
    """Make every Cast's `to` agree with the FP16 type the converter gave its output.

    onnxconverter-common 1.16 declares the outputs of the graph's `Cast(to=FLOAT)` nodes
    (torch's dtype conversions) as FP16 but leaves `to=FLOAT`, which ONNX Runtime rejects.
    """
    declared = {
        info.name: info.type.tensor_type.elem_type
        for info in [*proto.graph.value_info, *proto.graph.output]
    }
    for node in proto.graph.node:
        if node.op_type != "Cast" or declared.get(node.output[0]) != onnx.TensorProto.FLOAT16:
            continue
        for attribute in node.attribute:
            if attribute.name == "to" and attribute.i == onnx.TensorProto.FLOAT:
                attribute.i = onnx.TensorProto.FLOAT16


def _fp16_converter(converter: str) -> str:
    if converter not in ("auto", "modelopt", "onnxconverter"):
        raise ExportError(f"FP16 converter {converter!r}: expected auto, modelopt or onnxconverter")
    if converter != "auto":
        return converter
    try:
        import modelopt.onnx.autocast  # noqa: F401
    except ImportError:
        return "onnxconverter"
    return "modelopt"


class ModelInputReader(CalibrationDataReader):
    """Calibration batches of prepared model inputs for onnxruntime.quantization.

    inputs: {"keypoints_2d": (S, N, 17, 2), "frame_offsets": (S, N)} float32.
    """

    def __init__(
        self,
        inputs: dict[str, np.ndarray],
        input_names: Sequence[str] = INPUT_NAMES,
        batch_size: int = 32,
    ) -> None:
        self.inputs = {name: np.ascontiguousarray(inputs[name], np.float32) for name in input_names}
        self.batch_size = batch_size
        self.start = 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self.start >= len(self.inputs["keypoints_2d"]):  # every model reads keypoints_2d
            return None
        stop = self.start + self.batch_size
        batch = {name: array[self.start : stop] for name, array in self.inputs.items()}
        self.start = stop
        return batch

    def rewind(self) -> None:
        self.start = 0

    def __len__(self) -> int:
        return -(-len(self.inputs["keypoints_2d"]) // self.batch_size)


def check_model_inputs(inputs: dict[str, Any], input_frames: int, source: str) -> None:
    """DataError unless `inputs` holds keypoints_2d (S, N, 17, 2) and frame_offsets (S, N)."""
    missing = [name for name in INPUT_NAMES if name not in inputs]
    if missing:
        raise DataError(
            f"{source}: calibration data lacks {missing} (has {sorted(inputs)}); expected "
            f"keypoints_2d (S, {input_frames}, 17, 2) and frame_offsets (S, {input_frames})"
        )
    keypoints_2d, frame_offsets = (np.asarray(inputs[name]) for name in INPUT_NAMES)
    if keypoints_2d.ndim != 4 or keypoints_2d.shape[1:] != (input_frames, 17, 2):
        raise DataError(
            f"{source}: calibration keypoints_2d has shape {keypoints_2d.shape}, expected "
            f"(S, {input_frames}, 17, 2) (N = the model's input frames, H36M-17 joints)"
        )
    if frame_offsets.shape != keypoints_2d.shape[:2]:
        raise DataError(
            f"{source}: calibration frame_offsets has shape {frame_offsets.shape}, "
            f"expected {keypoints_2d.shape[:2]}"
        )
    if len(keypoints_2d) == 0:
        raise DataError(f"{source}: no calibration samples")


def check_windows(keypoints_2d_windows: Any, window_frames: int, source: str) -> np.ndarray:
    """(S, T, 17, 2) float32 windows of 2D keypoints, or a DataError naming `source`."""
    windows = np.asarray(keypoints_2d_windows, dtype=np.float32)
    if windows.ndim != 4 or windows.shape[1:] != (window_frames, 17, 2) or not len(windows):
        raise DataError(
            f"{source}: 2D windows of shape {windows.shape}, expected (S >= 1, "
            f"{window_frames}, 17, 2): T = the deployment's window_frames, H36M-17 joints"
        )
    if not np.isfinite(windows).all():
        raise DataError(f"{source}: 2D windows hold NaN or infinite values")
    return windows


def quantize_int8(
    fp32_onnx: str | Path,
    out_path: str | Path,
    calibration_inputs: dict[str, np.ndarray],
    *,
    method: str = "minmax",
    op_types: Sequence[str] = INT8_OP_TYPES,
    per_channel: bool = True,
    keep_inputs_float: bool = True,
    source: str = "calibration data",
) -> dict[str, Any]:
    """Static INT8 PTQ of an exported FP32 ONNX into a QDQ ONNX at `out_path`.

    calibration_inputs: prepared model inputs (see ModelInputReader). Returns
    {"method", "samples", "op_types", "pre_process", "qdq_nodes"}.
    """
    if method not in CALIBRATION_METHODS:
        raise ExportError(
            f"calibration method {method!r}: expected one of {list(CALIBRATION_METHODS)}"
        )
    metadata = read_metadata(fp32_onnx)
    input_frames = read_deployment(fp32_onnx).input_frames
    check_model_inputs(calibration_inputs, input_frames, source)
    samples = len(calibration_inputs["keypoints_2d"])
    with tempfile.TemporaryDirectory(prefix="scjd-int8-") as work_dir:
        model_in, pre_process = _pre_process(Path(fp32_onnx), Path(work_dir) / "pre.onnx")
        graph = load_onnx(model_in)
        reader = ModelInputReader(calibration_inputs, graph_input_names(graph))
        extra_options = {
            "ActivationSymmetric": True,
            "WeightSymmetric": True,
            # Only MatMuls with a weight: the attention products of two activations stay
            # float (they cost little and lose accuracy in int8).
            "MatMulConstBOnly": True,
            # Biases stay float: TensorRT dequantizes int8 only, not int32 biases.
            "QuantizeBias": False,
            # Q/DQ on the inputs of MatMul/Gemm/Conv only (TensorRT's pattern): their outputs,
            # the bias Adds, Softmax and the residual stream stay float.
            "OpTypesToExcludeOutputQuantization": list(op_types),
        }
        if method == "entropy":
            # quantize_static's entropy calibrator has as many histogram bins as int8 levels,
            # which leaves the KL search one candidate (the min-max range): calibrate here.
            ranges = _entropy_ranges(model_in, reader, op_types, Path(work_dir))
            extra_options["TensorQuantOverrides"] = ranges
            reader.rewind()
        with atomic_path(out_path) as tmp, contextlib.redirect_stdout(io.StringIO()):
            quantize_static(
                str(model_in),
                str(tmp),
                reader,
                quant_format=QuantFormat.QDQ,
                op_types_to_quantize=list(op_types),
                per_channel=per_channel,
                activation_type=QuantType.QInt8,
                weight_type=QuantType.QInt8,
                # entropy: the ranges come from the overrides above
                calibrate_method=CALIBRATION_METHODS["minmax" if method == "entropy" else method],
                nodes_to_exclude=_nodes_reading_inputs(graph, op_types)
                if keep_inputs_float
                else [],
                extra_options=extra_options,
            )
            proto = onnx.load(tmp)
            _drop_unused_domains(proto)
            qdq_nodes = check_symmetric_qdq(proto, out_path)
            calibration = {"method": method, "samples": samples, "source": source}
            _set_scjd_metadata(
                proto, metadata, precision="int8", int8_calibration=json.dumps(calibration)
            )
            _check(proto, out_path)
            onnx.save(proto, tmp)
    return {
        "method": method,
        "samples": samples,
        "op_types": list(op_types),
        "pre_process": pre_process,
        "qdq_nodes": qdq_nodes,
    }


# Histogram bins and quantized bins of the KL search (TensorRT's calibrator used 2048 bins;
# 512 gives the same kind of threshold at a twentieth of ORT's pure-Python search time).
ENTROPY_BINS = (512, 128)


def _entropy_ranges(
    model_path: Path, reader: ModelInputReader, op_types: Sequence[str], work_dir: Path
) -> dict[str, list[dict[str, float]]]:
    """KL-divergence (entropy) ranges of the activations, as TensorQuantOverrides."""
    num_bins, num_quantized_bins = ENTROPY_BINS
    calibrator = create_calibrator(
        model_path,
        list(op_types),
        augmented_model_path=str(work_dir / "augmented.onnx"),
        calibrate_method=CalibrationMethod.Entropy,
        extra_options={
            "symmetric": True,
            "num_bins": num_bins,
            "num_quantized_bins": num_quantized_bins,
        },
    )
    with contextlib.redirect_stdout(io.StringIO()):  # the calibrator prints its progress
        calibrator.collect_data(reader)
        ranges = calibrator.compute_data()
    # float32 scalars: the quantizer computes scales with numpy on the override values.
    return {
        name: [dict(zip(("rmin", "rmax"), np.float32(ranges[name].range_value), strict=True))]
        for name in ranges
    }


def _nodes_reading_inputs(graph: onnx.ModelProto, op_types: Sequence[str]) -> list[str]:
    """Quantizable nodes fed straight by a graph input: the 2D keypoints keep full precision
    (int8 steps of 1/127 of the normalised range are pixels wide)."""
    inputs = set(graph_input_names(graph))
    return [
        node.name
        for node in graph.graph.node
        if node.op_type in op_types and inputs.intersection(node.input)
    ]


def _pre_process(fp32_onnx: Path, pre_path: Path) -> tuple[Path, str]:
    """Shape inference + graph optimisation before quantization, when it succeeds."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    try:
        quant_pre_process(str(fp32_onnx), str(pre_path))
    except Exception as error:  # symbolic shape inference gives up on some graphs
        return fp32_onnx, f"skipped ({type(error).__name__}: {error})"
    return pre_path, "quant_pre_process"


def _drop_unused_domains(proto: onnx.ModelProto) -> None:
    """Remove opset imports no node uses (quant_pre_process adds every ORT domain)."""
    used = {node.domain for node in proto.graph.node} | {"", "ai.onnx"}
    kept = [opset for opset in proto.opset_import if opset.domain in used]
    del proto.opset_import[:]
    proto.opset_import.extend(kept)


def check_symmetric_qdq(proto: onnx.ModelProto, path: str | Path) -> int:
    """Count QuantizeLinear/DequantizeLinear nodes; ExportError if any zero point is not 0."""
    initializers = {init.name: init for init in proto.graph.initializer}
    qdq = [n for n in proto.graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")]
    if not qdq:
        raise ExportError(f"{path}: quantization produced no QuantizeLinear/DequantizeLinear node")
    for node in qdq:
        if len(node.input) < 3 or not node.input[2]:
            continue  # no zero point: 0 by definition
        zero_point = initializers.get(node.input[2])
        if zero_point is None or np.any(numpy_helper.to_array(zero_point) != 0):
            raise ExportError(
                f"{path}: node {node.name} has a non-zero or non-constant zero point; "
                "TensorRT needs symmetric quantization"
            )
    return len(qdq)


def check_mpjpe_gate(
    reference_mm: float, quantized_mm: float, max_drop_mm: float, force: bool, path: str | Path
) -> None:
    """ExportError when the quantized model's MPJPE exceeds the reference's by > max_drop_mm."""
    drop = quantized_mm - reference_mm
    if drop > max_drop_mm and not force:
        raise ExportError(
            f"{path}: INT8 validation MPJPE {quantized_mm:.2f} mm vs FP32 {reference_mm:.2f} mm "
            f"({drop:+.2f} mm) is worse than the allowed {max_drop_mm} mm; not written. Try "
            "--calib-method entropy or percentile, more --calib-samples, or --force to keep it"
        )


def write_int8_onnx(
    fp32_onnx: str | Path,
    out_path: str | Path,
    calibration_windows: np.ndarray,
    validation_windows: np.ndarray,
    validation_pose_3d: np.ndarray,
    *,
    method: str = "minmax",
    op_types: Sequence[str] = INT8_OP_TYPES,
    max_mpjpe_drop: float = 1.0,
    force: bool = False,
    keep_inputs_float: bool = True,
    source: str = "calibration data",
) -> dict[str, Any]:
    """Quantize, measure and gate: the INT8 ONNX is written only if it passes.

    calibration_windows: (S, T, 17, 2) 2D windows of the training split; validation_windows
    (B, T, 17, 2) and validation_pose_3d (B, 17, 3) centre-frame ground truth (metres).
    MPJPE before/after is measured with ONNX Runtime. Returns the quantize_int8 report plus
    mpjpe_fp32_mm, mpjpe_int8_mm and mpjpe_delta_mm.
    """
    from scjd_edge.export.runtime import load_predictor, predict_windows
    from scjd_edge.metrics import mpjpe

    fp32 = load_predictor(fp32_onnx, backend="onnxruntime")
    window_frames = int(fp32.deployment.window_frames)
    calibration_windows = check_windows(calibration_windows, window_frames, source)
    validation_windows = check_windows(validation_windows, window_frames, "validation windows")
    keypoints_2d, frame_offsets, _ = fp32.prepare(calibration_windows)
    calibration_inputs = {"keypoints_2d": keypoints_2d, "frame_offsets": frame_offsets}
    with atomic_path(out_path) as tmp:
        report = quantize_int8(
            fp32_onnx,
            tmp,
            calibration_inputs,
            method=method,
            op_types=op_types,
            keep_inputs_float=keep_inputs_float,
            source=source,
        )
        int8 = load_predictor(tmp, backend="onnxruntime")
        report["mpjpe_fp32_mm"] = 1000.0 * mpjpe(
            predict_windows(fp32, validation_windows), validation_pose_3d
        )
        report["mpjpe_int8_mm"] = 1000.0 * mpjpe(
            predict_windows(int8, validation_windows), validation_pose_3d
        )
        report["mpjpe_delta_mm"] = report["mpjpe_int8_mm"] - report["mpjpe_fp32_mm"]
        check_mpjpe_gate(
            report["mpjpe_fp32_mm"], report["mpjpe_int8_mm"], max_mpjpe_drop, force, out_path
        )
    return report


def _set_scjd_metadata(proto: onnx.ModelProto, metadata: dict[str, str], **updates: str) -> None:
    """The source model's scjd_edge.* metadata (converters may drop it) with `updates`."""
    merged = {**metadata, **updates}
    set_metadata(proto, {METADATA_PREFIX + key: value for key, value in merged.items()})
    stamp_graph_sha256(proto)


def _check(proto: onnx.ModelProto, path: str | Path) -> None:
    try:
        onnx.checker.check_model(proto)
    except onnx.checker.ValidationError as error:
        raise ExportError(f"{path}: the converted graph fails onnx.checker: {error}") from None


def _save_checked(proto: onnx.ModelProto, out_path: str | Path) -> None:
    _check(proto, out_path)
    with atomic_path(out_path) as tmp:
        onnx.save(proto, tmp)
