"""What `scjd-edge export` was asked for: two frozen option objects from the CLI to the exporter.

Both validate themselves on construction, so a bad flag fails before any work with one
line naming the flag (an ExportError, exit status 2 in the CLI).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from scjd_edge.errors import ExportError
from scjd_edge.export.quantize import CALIBRATION_METHODS, check_int8_thresholds

PRECISIONS = ("fp32", "fp16", "int8")
MIN_OPSET = 17


@dataclass(frozen=True)
class TensorRTOptions:
    """How to build a TensorRT engine (`--trt`).

    The profile's batch sizes bound every engine call: the runner splits larger calls into
    chunks of at most `max_batch`. `opt_batch` defaults to 1, the streaming case. `tf32`
    lets FP32 layers use TF32 math (off unless asked: TensorRT enables it by default).
    """

    precision: str = "fp32"
    min_batch: int = 1
    opt_batch: int = 1
    max_batch: int = 64
    dla_core: int | None = None
    workspace_mb: int = 1024
    timing_cache: Path | None = None
    optimization_level: int = 3
    tf32: bool = False
    inspect: bool = False  # write the engine inspector's layer information beside the engine
    allow_gpu_fallback: bool = False  # DLA: layers DLA cannot run go to the GPU (else refused)

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ExportError(f"--precision {self.precision!r}: expected one of {PRECISIONS}")
        if not 1 <= self.min_batch <= self.opt_batch <= self.max_batch:
            raise ExportError(
                f"TensorRT optimisation profile --min-batch {self.min_batch}, --opt-batch "
                f"{self.opt_batch}, --max-batch {self.max_batch}: expected 1 <= min <= opt <= max"
            )
        if self.workspace_mb < 1:
            raise ExportError(f"--workspace {self.workspace_mb} MiB: expected at least 1 MiB")
        if not 0 <= self.optimization_level <= 5:
            raise ExportError(
                f"builder optimization level {self.optimization_level}: expected 0..5"
            )
        if self.dla_core is not None and self.dla_core < 0:
            raise ExportError(f"--dla-core {self.dla_core}: expected 0 or 1 (Jetson Orin has two)")


@dataclass(frozen=True)
class ExportOptions:
    """Which artifacts to write and how (`scjd-edge export`); `trt` None means no engine."""

    fp16: bool = False
    int8: bool = False
    calib_data: str | None = None
    calib_method: str = "auto"  # each method measured on validation, the best kept
    calib_samples: int = 1024
    max_mpjpe_drop: float = 0.5
    max_joint_deviation: float = 2.0  # mean |INT8 - FP32| per joint on validation, mm
    sensitivity: bool = False  # rank every weight layer (only that layer in INT8)
    mixed_precision: bool = True  # return the most sensitive layers to float until the gate
    force: bool = False
    opset: int = MIN_OPSET
    simplify: bool = True
    parity_tolerance_mm: float = 0.1
    trt: TensorRTOptions | None = None

    def __post_init__(self) -> None:
        if self.trt is not None and not isinstance(self.trt, TensorRTOptions):
            raise TypeError(f"ExportOptions.trt: a TensorRTOptions or None, not {self.trt!r}")
        methods = ["auto", *CALIBRATION_METHODS]
        if self.calib_method not in methods:
            raise ExportError(f"--calib-method {self.calib_method!r}: expected one of {methods}")
        check_int8_thresholds(self.max_mpjpe_drop, self.max_joint_deviation)
        if self.calib_samples < 1:
            raise ExportError(f"--calib-samples {self.calib_samples}: expected at least 1")
        if self.opset < MIN_OPSET:
            raise ExportError(f"--opset {self.opset}: scjd-edge exports opset 17 or newer")
        if self.parity_tolerance_mm <= 0:
            raise ExportError(
                f"parity tolerance {self.parity_tolerance_mm} mm: expected a positive number"
            )
