"""Running a TensorRT engine on the GPU: device and pinned host buffers, CUDA events, graphs.

`TensorRTRunner(engine)(keypoints_2d, frame_offsets) -> pose_3d` checks the engine's
sidecar against this machine, allocates one device buffer and one pinned (page-locked)
host buffer per I/O tensor for the profile's largest batch, and runs every call on its
own CUDA stream with `execute_async_v3`. A call of any batch size is split into chunks of
at most the profile's max batch, and a chunk below the profile's min batch (a fixed-shape
DLA engine) is padded by repeating its last window.

Every call records four CUDA events on the stream, so `last_phases_ms` holds the device
time of the host-to-device copies, of `execute_async_v3` alone (the engine's compute) and
of the device-to-host copies. With `cuda_graph=True` the engine's work for each batch size
is captured once in a CUDA graph and replayed. CUDA comes from cuda-python's runtime API
(`pip install cuda-python`, part of `scjd-edge[trt]`).
"""

from __future__ import annotations

import ctypes
import importlib.metadata
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from scjd_edge.errors import ExportError
from scjd_edge.export.tensorrt_plan import (
    check_sidecar,
    engine_sidecar,
    require_tensorrt,
    sidecar_path,
)

CUDA_GUIDANCE = (
    "running a TensorRT engine needs cuda-python's CUDA runtime bindings of this device's CUDA "
    'major: `pip install "cuda-python>=12.2,<13"` on JetPack 6 (CUDA 12), or '
    '`pip install "scjd-edge[trt-cu12]"` / `"scjd-edge[trt-cu13]"` on a desktop GPU'
)
PHASES = ("h2d", "compute", "d2h")


def require_cudart() -> Any:
    """cuda-python's runtime module (new and old import paths), or an ExportError."""
    try:
        from cuda.bindings import runtime as cudart
    except ImportError:
        try:
            from cuda import cudart
        except ImportError:
            raise ExportError(CUDA_GUIDANCE) from None
    return cudart


def check_cuda_python(cudart: Any) -> None:
    """Raise ExportError, in one line saying what to install, when cuda-python's major is
    newer than the driver's CUDA (cuda-bindings 13 needs a CUDA 13 driver, 580+; JetPack 6
    ships CUDA 12): every later CUDA call would fail. Run it before building an engine."""
    bindings = _bindings_version()
    try:
        driver = int(cuda_call(cudart, cudart.cudaDriverGetVersion()))
    except Exception as error:  # bindings that cannot talk to this driver at all
        raise ExportError(
            f"cuda-python {bindings} cannot query the CUDA driver ({error}); install the "
            "cuda-python major of the driver's CUDA (JetPack 6: "
            '`pip install "cuda-python>=12.2,<13"`)'
        ) from None
    driver_major, bindings_major = driver // 1000, int(bindings.split(".")[0])
    if bindings_major > driver_major:
        raise ExportError(
            f"cuda-python {bindings} needs a CUDA {bindings_major} driver, this driver runs CUDA "
            f"{driver_major}.{driver % 1000 // 10}: "
            f'`pip install "cuda-python>={driver_major},<{driver_major + 1}"` '
            f"(scjd-edge[trt-cu{driver_major}])"
        )


def _bindings_version() -> str:
    version = getattr(sys.modules.get("cuda.bindings"), "__version__", None)
    for distribution in ("cuda-bindings", "cuda-python"):
        if version is None:
            try:
                version = importlib.metadata.version(distribution)
            except importlib.metadata.PackageNotFoundError:
                continue
    return version or "0"


def cuda_call(cudart: Any, result: Any) -> Any:
    """Unpack cuda-python's (error, value...) tuples, raising ExportError on an error code."""
    error, *values = result if isinstance(result, tuple) else (result,)
    if error != cudart.cudaError_t.cudaSuccess:
        raise ExportError(f"CUDA call failed: {cudart.cudaGetErrorString(error)[1]!r}")
    return values[0] if len(values) == 1 else (values or None)


def current_runtime_info(device: int = 0) -> dict[str, str]:
    """TensorRT version, GPU name and compute capability of this machine."""
    trt, cudart = require_tensorrt(), require_cudart()
    props = cuda_call(cudart, cudart.cudaGetDeviceProperties(device))
    name = props.name.decode() if isinstance(props.name, bytes) else str(props.name)
    return {
        "tensorrt_version": trt.__version__,
        "gpu_name": name.rstrip("\x00"),
        "compute_capability": f"{props.major}.{props.minor}",
    }


class TensorRTRunner:
    """A deserialized engine with its buffers: `runner(keypoints_2d, frame_offsets)`."""

    def __init__(
        self,
        engine_path: str | Path,
        device: int = 0,
        cuda_graph: bool = False,
        onnx_path: str | Path | None = None,
    ) -> None:
        """onnx_path: the source ONNX of an engine without a sidecar (see engine_sidecar)."""
        trt, self._cudart = require_tensorrt(), require_cudart()
        check_cuda_python(self._cudart)
        self.engine_path = Path(engine_path)
        self.sidecar = engine_sidecar(engine_path, onnx_path)
        if self.sidecar.get("sidecar", True) is not None:
            source = str(sidecar_path(engine_path))
            check_sidecar(self.sidecar, current_runtime_info(device), source=source)
        self._call(self._cudart.cudaSetDevice(device))
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)  # must outlive the engine
        self.dla_core = self.sidecar["plan"].get("dla_core")
        if self.dla_core is not None:
            # The runtime, not the build, picks the DLA core an engine runs on.
            self._runtime.DLA_core = int(self.dla_core)
        self.engine = self._runtime.deserialize_cuda_engine(self.engine_path.read_bytes())
        if self.engine is None:
            raise ExportError(f"{engine_path}: TensorRT cannot deserialize this engine")
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self.input_names = [
            n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT
        ]
        self.output_names = [n for n in names if n not in self.input_names]
        self._dtypes = {n: np.dtype(trt.nptype(self.engine.get_tensor_dtype(n))) for n in names}
        low, _, high = self.engine.get_tensor_profile_shape(self.input_names[0], 0)
        self.min_batch, self.max_batch = int(low[0]), int(high[0])
        self._cuda_graph = False
        self.cuda_graph = cuda_graph
        self._graphs: dict[int, tuple[Any, Any]] = {}  # batch -> (graph, graph executable)
        self._allocations: list[tuple[str, Any]] = []
        self._events: list[Any] = []
        self._stream = self._call(self._cudart.cudaStreamCreate())  # a cudaStream_t
        self._stream_handle = int(self._stream)  # what TensorRT's execute_async_v3 takes
        self._events = [self._call(self._cudart.cudaEventCreate()) for _ in range(4)]
        self._device, self._host = self._allocate()
        self.last_phases_ms: dict[str, float] = {}  # per call, summed over its chunks
        self.last_chunk_ms: dict[str, float] = {}
        self.chunks_last_call = 0

    @property
    def cuda_graph(self) -> bool:
        """Replay each batch size's engine work from a CUDA graph (never for a DLA engine)."""
        return self._cuda_graph

    @cuda_graph.setter
    def cuda_graph(self, wanted: bool) -> None:
        if wanted and self.dla_core is not None:
            raise ExportError(
                f"{self.engine_path}: a DLA engine cannot be captured in a CUDA graph "
                "(TensorRT runs DLA work outside CUDA graphs); time it without --cuda-graph"
            )
        self._cuda_graph = bool(wanted)

    def _call(self, result: Any) -> Any:
        return cuda_call(self._cudart, result)

    def _allocate(self) -> tuple[dict[str, int], dict[str, np.ndarray]]:
        """A device buffer and a pinned host buffer per I/O tensor, for the largest batch."""
        for name in self.input_names:
            self._set_shape(name, self.engine.get_tensor_profile_shape(name, 0)[2])
        device, host = {}, {}
        for name in self.input_names + self.output_names:
            shape = tuple(self.context.get_tensor_shape(name))
            nbytes = int(np.prod(shape)) * self._dtypes[name].itemsize
            device[name] = int(self._call(self._cudart.cudaMalloc(nbytes)))
            self._allocations.append(("device", device[name]))
            pinned = int(self._call(self._cudart.cudaMallocHost(nbytes)))
            self._allocations.append(("host", pinned))
            raw = (ctypes.c_uint8 * nbytes).from_address(pinned)
            host[name] = np.frombuffer(raw, dtype=self._dtypes[name]).reshape(shape)
        return device, host

    def _set_shape(self, name: str, shape: tuple[int, ...]) -> None:
        if not self.context.set_input_shape(name, tuple(shape)):
            raise ExportError(
                f"{self.engine_path}: TensorRT refused input {name!r} of shape {tuple(shape)} "
                f"(profile batch {self.min_batch}..{self.max_batch})"
            )

    def __call__(self, keypoints_2d: np.ndarray, frame_offsets: np.ndarray) -> np.ndarray:
        """(B, N, 17, 2), (B, N) float32 -> the engine's pose_3d output (B, N_out, 17, 3)."""
        inputs = {"keypoints_2d": keypoints_2d, "frame_offsets": frame_offsets}
        batch = len(keypoints_2d)
        outputs, totals = [], dict.fromkeys(PHASES, 0.0)
        starts = range(0, batch, self.max_batch)
        for start in starts:
            chunk = {name: array[start : start + self.max_batch] for name, array in inputs.items()}
            outputs.append(self._run_chunk(chunk))
            for phase, ms in self.last_chunk_ms.items():
                totals[phase] += ms
        self.last_phases_ms, self.chunks_last_call = totals, len(starts)
        return np.concatenate(outputs)

    def _run_chunk(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        batch = len(inputs["keypoints_2d"])
        padded = max(batch, self.min_batch)
        cudart, stream, events = self._cudart, self._stream, self._events
        kind = cudart.cudaMemcpyKind
        self._call(cudart.cudaEventRecord(events[0], stream))
        for name in self.input_names:
            staged = self._host[name][:padded]
            staged[:batch] = inputs[name]
            staged[batch:] = inputs[name][-1:]  # padding for a fixed-shape (DLA) profile
            self._set_shape(name, staged.shape)
            self._copy(self._device[name], staged, kind.cudaMemcpyHostToDevice)
        self._call(cudart.cudaEventRecord(events[1], stream))
        self._execute(padded)
        self._call(cudart.cudaEventRecord(events[2], stream))
        results = {}
        for name in self.output_names:
            shape = tuple(self.context.get_tensor_shape(name))
            results[name] = self._host[name].reshape(-1)[: int(np.prod(shape))].reshape(shape)
            self._copy(results[name], self._device[name], kind.cudaMemcpyDeviceToHost)
        self._call(cudart.cudaEventRecord(events[3], stream))
        self._call(cudart.cudaStreamSynchronize(stream))
        self.last_chunk_ms = {
            phase: float(self._call(cudart.cudaEventElapsedTime(events[i], events[i + 1])))
            for i, phase in enumerate(PHASES)
        }
        return results[self.output_names[0]][:batch].copy()

    def layer_profile(
        self, keypoints_2d: np.ndarray, frame_offsets: np.ndarray, iterations: int = 10
    ) -> dict[str, Any]:
        """Mean time per engine layer over `iterations` calls, ms, from TensorRT's IProfiler
        on a second execution context (so the timed one keeps no profiler), no CUDA graph."""
        trt = require_tensorrt()
        times: dict[str, list[float]] = {}

        class LayerTimes(trt.IProfiler):
            def __init__(self) -> None:
                trt.IProfiler.__init__(self)  # the bindings require this call

            def report_layer_time(self, layer_name: str, ms: float) -> None:
                times.setdefault(layer_name, []).append(float(ms))

        profiling = self.engine.create_execution_context()
        profiling.profiler = LayerTimes()
        timed, graph = self.context, self._cuda_graph
        self.context, self._cuda_graph = profiling, False
        try:
            for _ in range(iterations):
                self(keypoints_2d, frame_offsets)
        finally:
            self.context, self._cuda_graph = timed, graph
        layers = sorted(
            ({"layer": name, "mean_ms": float(np.mean(ms))} for name, ms in times.items()),
            key=lambda row: -row["mean_ms"],
        )
        return {
            "source": "TensorRT IProfiler",
            "iterations": iterations,
            "engine_calls": max((len(ms) for ms in times.values()), default=0),
            "total_ms": float(sum(row["mean_ms"] for row in layers)),
            "layers": layers,
        }

    def _copy(self, target: Any, source: Any, kind: Any) -> None:
        """One async copy on the stream; host sides are pinned numpy arrays."""
        nbytes = source.nbytes if isinstance(source, np.ndarray) else target.nbytes
        pointers = [x.ctypes.data if isinstance(x, np.ndarray) else x for x in (target, source)]
        self._call(self._cudart.cudaMemcpyAsync(*pointers, nbytes, kind, self._stream))

    def _execute(self, batch: int) -> None:
        for name, address in self._device.items():
            if not self.context.set_tensor_address(name, address):
                raise ExportError(f"{self.engine_path}: TensorRT refused the address of {name!r}")
        if not self.cuda_graph:
            if not self.context.execute_async_v3(self._stream_handle):
                raise ExportError(f"{self.engine_path}: TensorRT execution failed")
            return
        if batch not in self._graphs:
            self._graphs[batch] = self._capture()
        self._call(self._cudart.cudaGraphLaunch(self._graphs[batch][1], self._stream))

    def _capture(self) -> tuple[Any, Any]:
        """A CUDA graph of execute_async_v3 for the current shapes (run once uncaptured first,
        as TensorRT needs after a shape change)."""
        cudart, stream = self._cudart, self._stream
        if not self.context.execute_async_v3(self._stream_handle):
            raise ExportError(f"{self.engine_path}: TensorRT execution failed")
        self._call(cudart.cudaStreamSynchronize(stream))
        mode = cudart.cudaStreamCaptureMode.cudaStreamCaptureModeGlobal
        self._call(cudart.cudaStreamBeginCapture(stream, mode))
        executed = self.context.execute_async_v3(self._stream_handle)
        graph = self._call(cudart.cudaStreamEndCapture(stream))
        if not executed:
            self._call(cudart.cudaGraphDestroy(graph))
            raise ExportError(f"{self.engine_path}: TensorRT cannot be captured in a CUDA graph")
        try:
            return graph, self._call(cudart.cudaGraphInstantiate(graph, 0))
        except ExportError:
            self._call(cudart.cudaGraphDestroy(graph))
            raise

    def close(self) -> None:
        """Destroy the CUDA graphs, events and stream and free the buffers (once); raises
        ExportError naming every CUDA call that failed."""
        if getattr(self, "_cudart", None) is None:
            return
        cudart, releases = self._cudart, []
        for graph, graph_exec in getattr(self, "_graphs", {}).values():
            releases += [
                ("cudaGraphExecDestroy", cudart.cudaGraphExecDestroy, graph_exec),
                ("cudaGraphDestroy", cudart.cudaGraphDestroy, graph),
            ]
        for event in getattr(self, "_events", []):
            releases.append(("cudaEventDestroy", cudart.cudaEventDestroy, event))
        if getattr(self, "_stream", None) is not None:
            releases.append(("cudaStreamDestroy", cudart.cudaStreamDestroy, self._stream))
        for kind, pointer in getattr(self, "_allocations", []):
            free = (
                ("cudaFree", cudart.cudaFree)
                if kind == "device"
                else ("cudaFreeHost", cudart.cudaFreeHost)
            )
            releases.append((*free, pointer))
        self._graphs, self._events, self._stream, self._allocations = {}, [], None, []
        failed = []
        for name, release, handle in releases:
            try:
                self._call(release(handle))
            except ExportError as error:
                failed.append(f"{name}: {error}")
        self._cudart = None
        if failed:
            raise ExportError(
                f"{self.engine_path}: releasing CUDA resources failed ({'; '.join(failed)})"
            )

    def __del__(self) -> None:
        try:
            self.close()
        except ExportError as error:  # no exception may leave __del__: say it instead
            warnings.warn(str(error), RuntimeWarning, stacklevel=1)
