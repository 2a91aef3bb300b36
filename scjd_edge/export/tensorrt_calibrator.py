"""INT8 calibration inside TensorRT (implicit quantization), for DLA on TensorRT 10.

DLA does not take explicit quantization (Q/DQ) on TensorRT 10 (NVIDIA, "Working with DLA"),
so an INT8 DLA engine is built from the FP32 ONNX with the INT8 flag and an
IInt8EntropyCalibrator2 (the calibrator DLA requires: it scales per activation tensor) fed
with the project's calibration windows; TensorRT writes the scales as a calibration cache,
kept beside the engine and read back by the next build. TensorRT deprecated the
calibrators in 10.1 and removed them in 11.0: there INT8 on DLA comes from the QDQ ONNX.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from scjd_edge.errors import ExportError


def calibration_cache_path(engine_path: str | Path) -> Path:
    """`model.int8.engine` -> `model.int8.engine.calib.cache`."""
    engine_path = Path(engine_path)
    return engine_path.with_name(engine_path.name + ".calib.cache")


def make_entropy_calibrator(
    trt: Any, inputs: dict[str, np.ndarray], batch: int, cache_path: Path
) -> Any:
    """An IInt8EntropyCalibrator2 over `inputs` (model inputs by name, (S, ...) float32) in
    batches of `batch` windows (the DLA profile's fixed batch; the last partial batch is
    dropped); `close()` frees its device buffers."""
    from scjd_edge.export.tensorrt_runner import cuda_call, require_cudart

    cudart = require_cudart()
    samples = len(next(iter(inputs.values())))
    if samples < batch:
        raise ExportError(
            f"INT8 calibration needs at least {batch} windows (the engine's batch), got {samples}"
        )

    class EntropyCalibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self) -> None:
            trt.IInt8EntropyCalibrator2.__init__(self)  # the bindings require this call
            self.inputs = {name: np.ascontiguousarray(a, np.float32) for name, a in inputs.items()}
            self.start, self.batches = 0, 0
            self.device = {
                name: int(cuda_call(cudart, cudart.cudaMalloc(array[:batch].nbytes)))
                for name, array in self.inputs.items()
            }

        def get_batch_size(self) -> int:
            return batch

        def get_batch(self, names: list[str]) -> list[int] | None:
            if self.start + batch > samples:
                return None  # no more batches: calibration ends
            kind = cudart.cudaMemcpyKind.cudaMemcpyHostToDevice
            for name in names:
                chunk = np.ascontiguousarray(self.inputs[name][self.start : self.start + batch])
                cuda_call(
                    cudart,
                    cudart.cudaMemcpy(self.device[name], chunk.ctypes.data, chunk.nbytes, kind),
                )
            self.start += batch
            self.batches += 1
            return [self.device[name] for name in names]

        def read_calibration_cache(self) -> bytes | None:
            return cache_path.read_bytes() if cache_path.is_file() else None

        def write_calibration_cache(self, cache: Any) -> None:
            cache_path.write_bytes(bytes(cache))

        def close(self) -> None:
            for pointer in self.device.values():
                cuda_call(cudart, cudart.cudaFree(pointer))
            self.device = {}

    return EntropyCalibrator()
