"""INT8 calibration: activation ranges from real 2D windows, with onnxruntime's calibrators.

Three methods, compared by measurement on the validation split (the exporter's `auto`):
  minmax      the largest |value| seen (outliers set the scale);
  entropy     the range minimising the KL divergence of the int8 histogram (TensorRT's);
  percentile  the 99.99th percentile of |value|.
Ranges are symmetric (zero point 0, as TensorRT requires) and computed once per method;
every quantization of the same model then reuses them (TensorQuantOverrides), so the
per-layer sensitivity analysis does not calibrate again for each layer.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, create_calibrator

from scjd_edge.export.onnx_export import INPUT_NAMES
from scjd_edge.export.qdq_placement import WEIGHT_OP_TYPES

CALIBRATION_METHODS = ("minmax", "entropy", "percentile")
PERCENTILE = 99.99
# Histogram bins and quantized bins of the KL search (TensorRT's calibrator used 2048 bins;
# 512 gives the same kind of threshold at a twentieth of ORT's pure-Python search time).
ENTROPY_BINS = (512, 128)
PERCENTILE_BINS = 2048
# Windows per collect_data call: the calibrators keep every intermediate tensor of a call
# in memory (a T = 81 teacher's attention maps are megabytes per window).
CHUNK_WINDOWS = 32

_CALIBRATOR_OPTIONS = {
    "minmax": (CalibrationMethod.MinMax, {"symmetric": True}),
    "entropy": (
        CalibrationMethod.Entropy,
        {"symmetric": True, "num_bins": ENTROPY_BINS[0], "num_quantized_bins": ENTROPY_BINS[1]},
    ),
    "percentile": (
        CalibrationMethod.Percentile,
        {"symmetric": True, "num_bins": PERCENTILE_BINS, "percentile": PERCENTILE},
    ),
}


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


def activation_ranges(
    model_path: Path,
    inputs: dict[str, np.ndarray],
    input_names: Sequence[str],
    method: str,
    tensors: Sequence[str],
    work_dir: Path,
) -> dict[str, tuple[float, float]]:
    """{tensor: (rmin, rmax)} symmetric ranges of `tensors` by `method` over `inputs`."""
    calibrate_method, options = _CALIBRATOR_OPTIONS[method]
    calibrator = create_calibrator(
        model_path,
        list(WEIGHT_OP_TYPES),
        augmented_model_path=str(work_dir / f"augmented_{method}.onnx"),
        calibrate_method=calibrate_method,
        extra_options=options,
    )
    if hasattr(calibrator, "collector"):
        # Histogram calibrators: histograms and threshold searches (slow, pure Python) only
        # for the tensors that get Q/DQ, not for every MatMul input and output.
        calibrator.tensors_to_calibrate = set(tensors)
    samples = len(inputs["keypoints_2d"])
    with contextlib.redirect_stdout(io.StringIO()):  # the calibrators print their progress
        for start in range(0, samples, CHUNK_WINDOWS):
            chunk = {name: inputs[name][start : start + CHUNK_WINDOWS] for name in input_names}
            calibrator.collect_data(ModelInputReader(chunk, input_names))
        computed = calibrator.compute_data()
    # range_value holds numpy arrays of one element (shape () or (1,), by method)
    return {
        name: tuple(float(np.ravel(value)[0]) for value in computed[name].range_value)
        for name in tensors
    }
