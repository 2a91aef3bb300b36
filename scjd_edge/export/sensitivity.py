"""How much each layer's int8 costs, and mixed precision that keeps the costly ones float.

An INT8 model is judged against the FP32 ONNX on the validation windows by two numbers:
  mpjpe_delta_mm      MPJPE(INT8) - MPJPE(FP32) against the ground truth (errors can cancel);
  joint_deviation_mm  mean over poses and joints of |INT8 - FP32| (Euclidean, mm): how far
                      the quantized model moves from the one it replaces.
Sensitivity: each weight layer quantized ALONE, both numbers, ranked by the deviation.
Mixed precision: start from the default placement and return the most sensitive quantized
layer to float, one at a time, until both numbers are within the target.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from scjd_edge.export.runtime import load_predictor, predict_windows


class Int8Evaluator:
    """Measures INT8 ONNX files against the FP32 ONNX on fixed validation windows."""

    def __init__(self, fp32_predictor: Any, windows: np.ndarray, pose_3d: np.ndarray) -> None:
        self.windows = windows
        self.pose_3d = pose_3d
        self.fp32_pose = predict_windows(fp32_predictor, windows)
        self.fp32_mpjpe_mm = _mean_distance_mm(self.fp32_pose, pose_3d)

    def __call__(self, int8_onnx: str | Path) -> dict[str, float]:
        """{"mpjpe_mm", "mpjpe_delta_mm", "joint_deviation_mm"} of one INT8 ONNX."""
        int8_pose = predict_windows(load_predictor(int8_onnx, backend="onnxruntime"), self.windows)
        mpjpe_mm = _mean_distance_mm(int8_pose, self.pose_3d)
        return {
            "mpjpe_mm": mpjpe_mm,
            "mpjpe_delta_mm": mpjpe_mm - self.fp32_mpjpe_mm,
            "joint_deviation_mm": _mean_distance_mm(int8_pose, self.fp32_pose),
        }


def _mean_distance_mm(pose_a: np.ndarray, pose_b: np.ndarray) -> float:
    return 1000.0 * float(np.linalg.norm(pose_a - pose_b, axis=-1).mean())


@dataclass(frozen=True)
class Target:
    """The INT8 accuracy target (the export gate): both limits in mm on validation."""

    max_mpjpe_drop_mm: float
    max_joint_deviation_mm: float

    def met(self, measured: dict[str, float]) -> bool:
        return (
            measured["mpjpe_delta_mm"] <= self.max_mpjpe_drop_mm
            and measured["joint_deviation_mm"] <= self.max_joint_deviation_mm
        )


# quantize(layers, path): write an INT8 ONNX with exactly `layers` quantized at `path`.
Quantize = Callable[[Sequence[str], Path], None]


def layer_sensitivity(
    layers: Sequence[str], quantize: Quantize, evaluate: Int8Evaluator, work_dir: Path
) -> list[dict[str, Any]]:
    """One row per layer, quantized alone: {"layer", "mpjpe_delta_mm", "joint_deviation_mm",
    "mpjpe_mm"}, most sensitive (largest joint deviation) first."""
    rows = []
    for layer in layers:
        path = work_dir / "sensitivity.onnx"
        quantize([layer], path)
        rows.append({"layer": layer, **evaluate(path)})
    return sorted(rows, key=lambda row: row["joint_deviation_mm"], reverse=True)


def mixed_precision(
    start: Sequence[str],
    ranking: Sequence[dict[str, Any]],
    quantize: Quantize,
    evaluate: Int8Evaluator,
    target: Target,
    work_dir: Path,
) -> tuple[list[str], list[dict[str, Any]]]:
    """Return the most sensitive layers of `start` to float until `target` is met.

    Returns the layers left quantized (at least one) and one step per placement tried:
    {"float_layer" (None for `start`), "quantized_layers", measurements}.
    """
    order = [row["layer"] for row in ranking if row["layer"] in start]
    quantized = list(start)
    steps: list[dict[str, Any]] = []
    for float_layer in [None, *order[:-1]]:
        if float_layer is not None:
            quantized.remove(float_layer)
        path = work_dir / "mixed.onnx"
        quantize(quantized, path)
        measured = evaluate(path)
        steps.append({"float_layer": float_layer, "quantized_layers": len(quantized), **measured})
        if target.met(measured):
            break
    return quantized, steps
