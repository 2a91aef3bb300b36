"""FP16 and INT8 ONNX: precision decided in the graph, so every runtime builds the same file.

- FP16: weights and compute in FP16, inputs and outputs FP32 (keep_io_types); numerically
  fragile ops (LayerNormalization, Softmax, and the reductions of a decomposed norm) stay
  FP32. ModelOpt AutoCast when importable, else onnxconverter-common's converter.
- INT8: static post-training quantization with onnxruntime.quantization in QDQ format,
  symmetric int8 activations and per-channel weights (every zero point 0, as TensorRT
  requires), calibrated on real 2D windows of the training split (calibration.py). Only
  weight x activation MatMul/Gemm nodes are quantized, and not all of them
  (qdq_placement.py); the calibration method is chosen on the validation windows; when the
  result misses the target, the most sensitive layers go back to float (sensitivity.py).
  The gate refuses a model whose validation MPJPE gets worse by more than
  `max_mpjpe_drop` mm or whose outputs move from FP32's by more than `max_joint_deviation`
  mm per joint on average.
- INT8 for ONNX Runtime's CPU (`write_cpu_int8`): given weight layers in dynamic form
  (DynamicQuantizeMatMul: int8 per-channel weights, activations quantized per call, bias
  fused), from the exported FP32 graph without pre-processing; which layers, cpu_int8.py
  measures. ORT's CPU EP turns each QDQ MatMul into QuantizeLinear + MatMulIntegerToFloat
  and leaves the bias Add apart, which added nodes and made the QDQ file slower than FP32
  on these small models (benchmarks/results/quantization_cpu.md); TensorRT needs the QDQ
  form.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper
from onnxruntime.quantization import (
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_dynamic,
    quantize_static,
)

from scjd_edge.errors import DataError, ExportError
from scjd_edge.export.calibration import (
    CALIBRATION_METHODS,
    PERCENTILE,
    ModelInputReader,
    activation_ranges,
)
from scjd_edge.export.onnx_export import (
    INPUT_NAMES,
    METADATA_PREFIX,
    graph_input_names,
    load_onnx,
    read_deployment,
    read_metadata,
    set_metadata,
    stamp_integrity,
)
from scjd_edge.export.qdq_placement import (
    WEIGHT_OP_TYPES,
    default_int8_layers,
    nodes_of,
    weight_layers,
)
from scjd_edge.export.runtime import load_predictor
from scjd_edge.export.sensitivity import Int8Evaluator, Target, layer_sensitivity, mixed_precision
from scjd_edge.io import atomic_path

FP16_KEEP_FP32_OPS = ("LayerNormalization", "Softmax", "ReduceMean", "Pow", "Sqrt")


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


class Int8Workspace:
    """One FP32 model prepared for INT8: pre-processed once, calibrated once per method,
    then quantized with any set of layers (the sensitivity analysis quantizes many)."""

    def __init__(
        self,
        fp32_onnx: Path,
        calibration_inputs: dict[str, np.ndarray],
        work_dir: Path,
        source: str,
    ) -> None:
        self.work_dir = work_dir
        self.source = source
        self.metadata = read_metadata(fp32_onnx)
        self.model_path, self.pre_process = _pre_process(fp32_onnx, work_dir / "pre.onnx")
        graph = load_onnx(self.model_path)
        self.input_names = graph_input_names(graph)
        self.layers = weight_layers(graph)
        self.activations = _activation_inputs(graph, self.layers)
        self.inputs = calibration_inputs
        self._ranges: dict[str, dict[str, tuple[float, float]]] = {}

    def ranges(self, method: str) -> dict[str, tuple[float, float]]:
        """Activation ranges of every weight layer's input by `method` (computed once)."""
        if method not in self._ranges:
            tensors = sorted(set(self.activations.values()))
            self._ranges[method] = activation_ranges(
                self.model_path, self.inputs, self.input_names, method, tensors, self.work_dir
            )
        return self._ranges[method]

    def quantize(self, method: str, int8_layers: Sequence[str], out_path: Path) -> onnx.ModelProto:
        """QDQ INT8 of exactly `int8_layers` (per-channel weights, per-tensor activations
        with the `method` ranges) at `out_path`; returns the written graph."""
        unknown = sorted(set(int8_layers) - set(self.layers))
        if unknown:
            raise ExportError(f"INT8 layers {unknown} are not weight layers of the model")
        nodes = nodes_of(self.layers, int8_layers)
        ranges = self.ranges(method)
        overrides = {
            self.activations[node]: [
                dict(zip(("rmin", "rmax"), np.float32(ranges[self.activations[node]]), strict=True))
            ]
            for node in nodes
        }
        # The ranges come from the overrides; quantize_static's own calibration pass only
        # has to run, so it gets one window.
        one_window = {name: array[:1] for name, array in self.inputs.items()}
        with contextlib.redirect_stdout(io.StringIO()):
            quantize_static(
                str(self.model_path),
                str(out_path),
                ModelInputReader(one_window, self.input_names),
                quant_format=QuantFormat.QDQ,
                op_types_to_quantize=list(WEIGHT_OP_TYPES),
                nodes_to_quantize=nodes,
                per_channel=True,
                activation_type=QuantType.QInt8,
                weight_type=QuantType.QInt8,
                calibrate_method=CalibrationMethod.MinMax,
                extra_options={
                    "ActivationSymmetric": True,
                    "WeightSymmetric": True,
                    # Biases stay float: TensorRT dequantizes int8 only, not int32 biases.
                    "QuantizeBias": False,
                    # Q/DQ on the inputs of the chosen MatMul/Gemm only (TensorRT's pattern):
                    # their outputs, the bias Adds and everything downstream stay float.
                    "OpTypesToExcludeOutputQuantization": list(WEIGHT_OP_TYPES),
                    "TensorQuantOverrides": overrides,
                },
            )
        proto = onnx.load(out_path)
        _drop_unused_domains(proto)
        check_symmetric_qdq(proto, out_path)
        # Metadata for the new graph (its sha256 too), so that the file loads as a predictor.
        _set_scjd_metadata(proto, self.metadata, precision="int8")
        onnx.save(proto, out_path)
        return proto


def write_cpu_int8(
    fp32_onnx: str | Path, out_path: str | Path, int8_layers: Sequence[str]
) -> onnx.ModelProto:
    """Dynamic INT8 of exactly `int8_layers` (DynamicQuantizeMatMul nodes) for ONNX
    Runtime's CPU EP, with the FP32 ONNX's metadata; no gate (measure it as the QDQ file)."""
    graph = load_onnx(fp32_onnx)
    layers = weight_layers(graph)
    unknown = sorted(set(int8_layers) - set(layers))
    if unknown:
        raise ExportError(f"INT8 layers {unknown} are not weight layers of {fp32_onnx}")
    if not int8_layers:  # quantize_dynamic reads an empty node list as "every node"
        raise ExportError(f"{out_path}: no INT8 layer given")
    with atomic_path(out_path) as tmp:
        with contextlib.redirect_stdout(io.StringIO()), _no_pre_process_advice():
            quantize_dynamic(
                str(fp32_onnx),
                str(tmp),
                op_types_to_quantize=["MatMul"],
                nodes_to_quantize=nodes_of(layers, int8_layers),
                per_channel=True,
                weight_type=QuantType.QInt8,
            )
        proto = onnx.load(tmp)
        _set_scjd_metadata(
            proto,
            read_metadata(graph),
            precision="int8",
            int8_form="dynamic",
            int8_layers=json.dumps(list(int8_layers)),
        )
        _check(proto, out_path)
        onnx.save(proto, tmp)
    return proto


@contextlib.contextmanager
def _no_pre_process_advice() -> Iterator[None]:
    """Silence quantize_dynamic's root-logger advice to pre-process the graph: the CPU form
    is quantized from the exported graph on purpose, and the placement search runs it often."""

    def not_the_advice(record: logging.LogRecord) -> bool:
        return "pre-processing" not in record.getMessage()

    logging.root.addFilter(not_the_advice)
    try:
        yield
    finally:
        logging.root.removeFilter(not_the_advice)


def _activation_inputs(graph: onnx.ModelProto, layers: dict[str, list[str]]) -> dict[str, str]:
    """{weight node: its activation input tensor}."""
    nodes = {node.name: node for node in graph.graph.node}
    return {name: nodes[name].input[0] for names in layers.values() for name in names}


def quantize_int8(
    fp32_onnx: str | Path,
    out_path: str | Path,
    calibration_inputs: dict[str, np.ndarray],
    *,
    method: str = "percentile",
    int8_layers: Sequence[str] | None = None,
    source: str = "calibration data",
) -> dict[str, Any]:
    """Static INT8 PTQ of an exported FP32 ONNX into a QDQ ONNX at `out_path`, no gate.

    calibration_inputs: prepared model inputs (see ModelInputReader); int8_layers: the
    weight layers to quantize (default: qdq_placement.default_int8_layers). Returns
    {"method", "samples", "pre_process", "int8_layers", "float_layers", "qdq_nodes"}.
    """
    _check_method(method, allow_auto=False)
    metadata = read_metadata(fp32_onnx)
    input_frames = read_deployment(fp32_onnx).input_frames
    check_model_inputs(calibration_inputs, input_frames, source)
    with tempfile.TemporaryDirectory(prefix="scjd-int8-") as work_dir:
        workspace = Int8Workspace(Path(fp32_onnx), calibration_inputs, Path(work_dir), source)
        layers = default_int8_layers(workspace.layers) if int8_layers is None else int8_layers
        with atomic_path(out_path) as tmp:
            proto = workspace.quantize(method, layers, tmp)
            report = _placement_report(workspace, method, layers, proto)
            _write_int8_metadata(proto, metadata, report, out_path)
            onnx.save(proto, tmp)
    return report


def _placement_report(
    workspace: Int8Workspace, method: str, int8_layers: Sequence[str], proto: onnx.ModelProto
) -> dict[str, Any]:
    qdq_nodes = sum(
        node.op_type in ("QuantizeLinear", "DequantizeLinear") for node in proto.graph.node
    )
    return {
        "method": method,
        "samples": len(workspace.inputs["keypoints_2d"]),
        "source": workspace.source,
        "pre_process": workspace.pre_process,
        "int8_layers": list(int8_layers),
        "float_layers": [layer for layer in workspace.layers if layer not in int8_layers],
        "qdq_nodes": qdq_nodes,
    }


def _write_int8_metadata(
    proto: onnx.ModelProto, metadata: dict[str, str], report: dict[str, Any], path: str | Path
) -> None:
    calibration = {key: report[key] for key in ("method", "samples", "source")}
    if report["method"] == "percentile":
        calibration["percentile"] = PERCENTILE
    updates = {
        "int8_calibration": json.dumps(calibration),
        "int8_layers": json.dumps(report["int8_layers"]),
        "int8_float_layers": json.dumps(report["float_layers"]),
    }
    if "validation" in report:
        updates["int8_validation"] = json.dumps(report["validation"])
    _set_scjd_metadata(proto, metadata, precision="int8", **updates)
    _check(proto, path)


def _check_method(method: str, allow_auto: bool) -> None:
    allowed = [*(("auto",) if allow_auto else ()), *CALIBRATION_METHODS]
    if method not in allowed:
        raise ExportError(f"calibration method {method!r}: expected one of {allowed}")


def check_int8_thresholds(max_mpjpe_drop: float, max_joint_deviation: float) -> None:
    """ExportError for a negative (or NaN) INT8 gate threshold."""
    for flag, value in (
        ("--max-mpjpe-drop", max_mpjpe_drop),
        ("--max-joint-deviation", max_joint_deviation),
    ):
        if not value >= 0:
            raise ExportError(f"{flag} {value} mm: expected a threshold >= 0 mm")


def check_int8_gate(
    measured: dict[str, float], target: Target, force: bool, path: str | Path
) -> None:
    """ExportError when the INT8 model misses either limit of `target` (unless `force`)."""
    if force or target.met(measured):
        return
    drop, deviation = measured["mpjpe_delta_mm"], measured["joint_deviation_mm"]
    raise ExportError(
        f"{path}: INT8 validation MPJPE {drop:+.2f} mm vs FP32 (limit "
        f"{target.max_mpjpe_drop_mm} mm) and mean |INT8 - FP32| {deviation:.2f} mm per joint "
        f"(limit {target.max_joint_deviation_mm} mm); not written. Try another "
        "--calib-method, more --calib-samples, or --force to keep it"
    )


def write_int8_onnx(
    fp32_onnx: str | Path,
    out_path: str | Path,
    calibration_windows: np.ndarray,
    validation_windows: np.ndarray,
    validation_pose_3d: np.ndarray,
    *,
    method: str = "auto",
    int8_layers: Sequence[str] | None = None,
    max_mpjpe_drop: float = 0.5,
    max_joint_deviation: float = 2.0,
    sensitivity: bool = False,
    mixed: bool = True,
    force: bool = False,
    source: str = "calibration data",
) -> dict[str, Any]:
    """Calibrate, quantize, measure, fall back to mixed precision, gate: the INT8 ONNX is
    written only if it passes.

    calibration_windows: (S, T, 17, 2) 2D windows of the training split; validation_windows
    (B, T, 17, 2) and validation_pose_3d (B, 17, 3) centre-frame ground truth (metres).
    method: a calibration method, or "auto": each one measured on the validation windows,
    the smallest mean |INT8 - FP32| kept. int8_layers: the starting placement (default:
    qdq_placement.default_int8_layers). sensitivity: measure every weight layer alone
    (done anyway when the start misses the target and `mixed`). mixed: return the most
    sensitive layers to float until the target is met. Returns the quantize_int8 report
    plus "validation" (the final measurements), "methods", "sensitivity", "mixed_precision".
    """
    _check_method(method, allow_auto=True)
    check_int8_thresholds(max_mpjpe_drop, max_joint_deviation)
    target = Target(max_mpjpe_drop, max_joint_deviation)
    fp32 = load_predictor(fp32_onnx, backend="onnxruntime")
    window_frames = int(fp32.deployment.window_frames)
    calibration_windows = check_windows(calibration_windows, window_frames, source)
    validation_windows = check_windows(validation_windows, window_frames, "validation windows")
    keypoints_2d, frame_offsets, _ = fp32.prepare(calibration_windows)
    inputs = {"keypoints_2d": keypoints_2d, "frame_offsets": frame_offsets}
    evaluate = Int8Evaluator(fp32, validation_windows, validation_pose_3d)
    metadata = read_metadata(fp32_onnx)
    with tempfile.TemporaryDirectory(prefix="scjd-int8-") as work:
        workspace = Int8Workspace(Path(fp32_onnx), inputs, Path(work), source)
        layers = default_int8_layers(workspace.layers) if int8_layers is None else int8_layers
        methods = CALIBRATION_METHODS if method == "auto" else (method,)
        measured = {m: _measure(workspace, evaluate, m, layers) for m in methods}
        method = min(methods, key=lambda m: measured[m]["joint_deviation_mm"])
        search = _sensitivity_and_mixed(
            workspace, evaluate, method, layers, measured[method], target, sensitivity, mixed
        )
        layers = search["mixed_precision"]["int8_layers"] if search["mixed_precision"] else layers
        with atomic_path(out_path) as tmp:
            proto = workspace.quantize(method, layers, tmp)
            report = _placement_report(workspace, method, layers, proto)
            report.update(validation=evaluate(tmp), methods=measured, **search)
            report["validation"]["fp32_mpjpe_mm"] = evaluate.fp32_mpjpe_mm
            report["target"] = asdict(target)
            check_int8_gate(report["validation"], target, force, out_path)
            _write_int8_metadata(proto, metadata, report, out_path)
            onnx.save(proto, tmp)
    return report


def _measure(
    workspace: Int8Workspace, evaluate: Int8Evaluator, method: str, layers: Sequence[str]
) -> dict[str, float]:
    path = workspace.work_dir / f"{method}.onnx"
    workspace.quantize(method, layers, path)
    return evaluate(path)


def _sensitivity_and_mixed(
    workspace: Int8Workspace,
    evaluate: Int8Evaluator,
    method: str,
    layers: Sequence[str],
    start: dict[str, float],
    target: Target,
    sensitivity: bool,
    mixed: bool,
) -> dict[str, Any]:
    """{"sensitivity": ranked rows or None, "mixed_precision": the search or None}."""
    needs_mixed = mixed and not target.met(start)
    if not (sensitivity or needs_mixed):
        return {"sensitivity": None, "mixed_precision": None}

    def quantize(chosen: Sequence[str], path: Path) -> None:
        workspace.quantize(method, chosen, path)

    # Without --sensitivity, only the layers mixed precision may return to float are ranked.
    ranked = list(workspace.layers) if sensitivity else list(layers)
    ranking = layer_sensitivity(ranked, quantize, evaluate, workspace.work_dir)
    for row in ranking:
        row["default"] = "int8" if row["layer"] in layers else "float"
    if not needs_mixed:
        return {"sensitivity": ranking, "mixed_precision": None}
    kept, steps = mixed_precision(layers, ranking, quantize, evaluate, target, workspace.work_dir)
    return {
        "sensitivity": ranking,
        "mixed_precision": {
            "int8_layers": kept,
            "steps": steps,
            "target_met": target.met(steps[-1]),
        },
    }


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


def _set_scjd_metadata(proto: onnx.ModelProto, metadata: dict[str, str], **updates: str) -> None:
    """The source model's scjd_edge.* metadata (converters may drop it) with `updates`."""
    merged = {**metadata, **updates}
    set_metadata(proto, {METADATA_PREFIX + key: value for key, value in merged.items()})
    stamp_integrity(proto)


def _check(proto: onnx.ModelProto, path: str | Path) -> None:
    try:
        onnx.checker.check_model(proto)
    except onnx.checker.ValidationError as error:
        raise ExportError(f"{path}: the converted graph fails onnx.checker: {error}") from None


def _save_checked(proto: onnx.ModelProto, out_path: str | Path) -> None:
    _check(proto, out_path)
    with atomic_path(out_path) as tmp:
        onnx.save(proto, tmp)


def describe_int8(report: dict[str, Any]) -> str:
    """Console lines of a write_int8_onnx report: methods, sensitivity, mixed precision,
    and the final validation numbers against the gate."""
    lines = [f"INT8 calibration on {report['samples']} training windows, validation vs FP32 ONNX:"]
    for method, measured in report["methods"].items():
        chosen = " <- chosen" if method == report["method"] else ""
        lines.append(f"  {method:<10} {_numbers(measured)}{chosen}")
    if report["sensitivity"]:
        lines.append("  layer sensitivity (that layer alone in int8), most sensitive first:")
        lines += [
            f"    {row['layer']:<32} {_numbers(row)} [{row['default']}]"
            for row in report["sensitivity"]
        ]
    if report["mixed_precision"]:
        for step in report["mixed_precision"]["steps"][1:]:
            lines.append(f"  mixed precision: {step['float_layer']} -> float: {_numbers(step)}")
    target = report["target"]
    lines.append(
        f"INT8 {len(report['int8_layers'])} of "
        f"{len(report['int8_layers']) + len(report['float_layers'])} weight layers, "
        f"{report['method']}: {_numbers(report['validation'])} (gate: MPJPE +"
        f"{target['max_mpjpe_drop_mm']} mm, deviation {target['max_joint_deviation_mm']} mm)"
    )
    return "\n".join(lines)


def _numbers(measured: dict[str, float]) -> str:
    return (
        f"MPJPE {measured['mpjpe_delta_mm']:+.3f} mm, mean |INT8 - FP32| "
        f"{measured['joint_deviation_mm']:.3f} mm/joint"
    )
