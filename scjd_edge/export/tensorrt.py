"""TensorRT engines from the exported ONNX files, for TensorRT 10 (JetPack 6) and 11.

Precision is decided in the ONNX graph: an FP16 ONNX (FP16 weights and compute) and a QDQ
INT8 ONNX are built as strongly typed networks, so TensorRT runs exactly the types in the
file. TensorRT 11 removed the FP16/INT8 builder flags and the calibrators and always builds
strongly typed; TensorRT 10 also accepts weakly typed networks with the FP16 flag, which the
plan uses only when asked (`strongly_typed=False`) or for DLA, whose TensorRT 10 builds take
precision from builder flags.

`builder_plan` and `check_sidecar` are plain functions (tested without a GPU);
`build_engine` and `TensorRTRunner` use the name-based TensorRT Python API, imported lazily,
so nothing here needs TensorRT until an engine is built or run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from scjd_edge.contract import Deployment
from scjd_edge.errors import ConfigError, ExportError
from scjd_edge.io import atomic_path, sha256_file, write_json

PRECISIONS = ("fp32", "fp16", "int8")
INSTALL_GUIDANCE = (
    "TensorRT is not installed (the Python module `tensorrt` cannot be imported). "
    "On Jetson it comes with JetPack 6 (`sudo apt install nvidia-tensorrt`, which also "
    "provides the Python bindings); on a desktop or server with an NVIDIA GPU install "
    'NVIDIA\'s wheels: `pip install "scjd-edge[trt]"` (or `pip install tensorrt`). '
    "The ONNX, FP16 and INT8 exports need no TensorRT."
)
BUFFER_GUIDANCE = (
    "running a TensorRT engine needs CUDA buffers: a CUDA build of torch, or "
    "`pip install cuda-python` (or pycuda)"
)


def require_tensorrt() -> Any:
    """The `tensorrt` module, or an ExportError that says how to install it."""
    try:
        import tensorrt
    except ImportError:
        raise ExportError(INSTALL_GUIDANCE) from None
    return tensorrt


def tensorrt_version_parts(version: str | int) -> tuple[int, int]:
    """'10.3.0' -> (10, 3); a bare major version 11 -> (11, 0)."""
    parts = str(version).split(".")
    try:
        return int(parts[0]), int(parts[1]) if len(parts) > 1 else 0
    except ValueError:
        raise ExportError(f"TensorRT version {version!r} is not of the form MAJOR.MINOR") from None


def check_profile(min_batch: int, opt_batch: int, max_batch: int) -> dict[str, int]:
    """The optimisation profile's batch sizes, validated: 1 <= min <= opt <= max."""
    if not 1 <= min_batch <= opt_batch <= max_batch:
        raise ExportError(
            f"TensorRT optimisation profile min_batch={min_batch}, opt_batch={opt_batch}, "
            f"max_batch={max_batch}: expected 1 <= min_batch <= opt_batch <= max_batch"
        )
    return {"min": int(min_batch), "opt": int(opt_batch), "max": int(max_batch)}


def builder_plan(
    trt_version: str | int,
    precision: str,
    onnx_precision: str = "fp32",
    dla_core: int | None = None,
    *,
    min_batch: int = 1,
    opt_batch: int = 8,
    max_batch: int = 64,
    workspace_mb: int = 1024,
    strongly_typed: bool = True,
    optimization_level: int = 3,
    timing_cache: str | Path | None = None,
) -> dict[str, Any]:
    """How to build an engine of `precision` with TensorRT `trt_version`.

    onnx_precision: precision of the ONNX file at hand ("fp32", "fp16" or "int8" QDQ).
    Returns a JSON-able dict: `build_from` (which ONNX precision to parse: the exporter
    writes that file if needed), `strongly_typed`, `network_flags` and `builder_flags`
    (names of NetworkDefinitionCreationFlag / BuilderFlag members), `device`, `dla_core`,
    `profile` (batch min/opt/max), `workspace_bytes`, `optimization_level`,
    `timing_cache` and `notes` (each decision said in words). Raises ExportError for a
    request that cannot be built.
    """
    major, minor = tensorrt_version_parts(trt_version)
    for name, value in (("precision", precision), ("onnx_precision", onnx_precision)):
        if value not in PRECISIONS:
            raise ExportError(f"TensorRT {name} {value!r}: expected one of {PRECISIONS}")
    if major < 10:
        raise ExportError(
            f"TensorRT {trt_version} is too old: scjd-edge builds with the name-based API of "
            "TensorRT 10 or newer (JetPack 6 ships TensorRT 10)"
        )
    if workspace_mb < 1:
        raise ExportError(f"TensorRT workspace {workspace_mb} MiB: expected at least 1 MiB")
    if not 0 <= optimization_level <= 5:
        raise ExportError(f"builder_optimization_level {optimization_level}: expected 0..5")
    notes: list[str] = []
    if major >= 11:
        strongly_typed = True
        notes.append(
            "TensorRT 11 builds strongly typed networks only: precision comes from the ONNX"
        )
    elif dla_core is not None:
        strongly_typed = False
        notes.append("DLA on TensorRT 10 takes precision from builder flags (weakly typed network)")
    build_from, builder_flags = _precision_source(major, precision, onnx_precision, strongly_typed)
    if build_from != onnx_precision:
        why = (
            " (TensorRT 11 has no FP16 builder flag)" if major >= 11 and precision == "fp16" else ""
        )
        notes.append(
            f"{precision} requested with an {onnx_precision} ONNX: "
            f"building from the {build_from.upper()} ONNX{why}"
        )
    if builder_flags:
        notes.append(f"weakly typed network with builder flags {builder_flags}")
    device = "GPU"
    if dla_core is not None:
        _check_dla(major, minor, precision, dla_core)
        device = "DLA"
        builder_flags = [*builder_flags, "GPU_FALLBACK"]
        notes.append(f"DLA core {dla_core}; layers DLA cannot run fall back to the GPU")
    return {
        "tensorrt_version": str(trt_version),
        "precision": precision,
        "build_from": build_from,
        "strongly_typed": strongly_typed,
        # TensorRT 11 ignores (and deprecates) the flag: strong typing is always on.
        "network_flags": ["STRONGLY_TYPED"] if strongly_typed and major == 10 else [],
        "builder_flags": builder_flags,
        "device": device,
        "dla_core": dla_core,
        "profile": check_profile(min_batch, opt_batch, max_batch),
        "workspace_bytes": int(workspace_mb) << 20,
        "optimization_level": int(optimization_level),
        "timing_cache": None if timing_cache is None else str(timing_cache),
        "notes": notes,
    }


def _precision_source(
    major: int, precision: str, onnx_precision: str, strongly_typed: bool
) -> tuple[str, list[str]]:
    """(ONNX precision to build from, builder flags) for a requested engine precision."""
    if precision == "int8":
        # Explicit quantization only: TensorRT 10 deprecated the calibrators, 11 removed them.
        return "int8", [] if strongly_typed else ["INT8"]
    if precision == "fp16" and not strongly_typed and major == 10:
        return "fp32", ["FP16"]
    return precision, []


def _check_dla(major: int, minor: int, precision: str, dla_core: int) -> None:
    if dla_core < 0:
        raise ExportError(f"DLA core {dla_core}: expected 0 or 1 (Jetson Orin has two)")
    if precision == "fp32":
        raise ExportError(
            "DLA runs FP16 or INT8 only: use --precision fp16 or int8 with --dla-core"
        )
    if major == 11 and minor < 4:
        raise ExportError(
            f"TensorRT {major}.{minor} has no DLA support (restored in 11.4.1 for Jetson AGX Orin "
            "on JetPack 7.2.2+); on JetPack 6 use its TensorRT 10"
        )


def profile_shapes(profile: dict[str, int], input_frames: int) -> dict[str, dict[str, list[int]]]:
    """Min/opt/max shapes of each model input for a batch profile (N = input_frames)."""
    shapes = {}
    for name, tail in (("keypoints_2d", [input_frames, 17, 2]), ("frame_offsets", [input_frames])):
        shapes[name] = {level: [profile[level], *tail] for level in ("min", "opt", "max")}
    return shapes


def sidecar_path(engine_path: str | Path) -> Path:
    """`model.fp16.engine` -> `model.fp16.engine.json`."""
    engine_path = Path(engine_path)
    return engine_path.with_name(engine_path.name + ".json")


def read_sidecar(engine_path: str | Path) -> dict[str, Any]:
    path = sidecar_path(engine_path)
    if not path.is_file():
        raise ExportError(
            f"{engine_path}: its sidecar {path.name} is missing; an engine is only trusted "
            "with the sidecar written beside it by `scjd-edge export --trt`"
        )
    try:
        sidecar = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ExportError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(sidecar, dict) or "deployment" not in sidecar:
        raise ExportError(f"{path}: not an engine sidecar (no 'deployment' object)")
    try:
        sidecar["deployment"] = Deployment.from_dict(sidecar["deployment"])
    except ConfigError as error:
        raise ExportError(f"{path}: {error}") from None
    return sidecar


def check_sidecar(
    sidecar: dict[str, Any], runtime_info: dict[str, Any], source: str = "engine sidecar"
) -> None:
    """Raise ExportError unless the engine was built for this TensorRT and GPU.

    Both dicts hold `tensorrt_version`, `gpu_name` and `compute_capability` ("8.7"). A
    TensorRT engine only runs with the TensorRT version and the GPU model it was built for.
    """
    for key in ("tensorrt_version", "gpu_name", "compute_capability"):
        if key not in sidecar:
            raise ExportError(f"{source}: key {key!r} is missing")
    problems = [
        f"{label} {sidecar[key]!r} at build time, {runtime_info.get(key)!r} here"
        for key, label in (
            ("tensorrt_version", "TensorRT"),
            ("compute_capability", "compute capability"),
            ("gpu_name", "GPU"),
        )
        if str(sidecar[key]) != str(runtime_info.get(key))
    ]
    if problems:
        raise ExportError(
            f"{source}: the engine does not fit this machine ({'; '.join(problems)}); "
            "rebuild it here from the ONNX with `scjd-edge export --trt`"
        )


def build_engine(
    onnx_path: str | Path,
    engine_path: str | Path,
    plan: dict[str, Any],
    deployment: Deployment,
) -> dict[str, Any]:
    """Build and write the engine and its JSON sidecar; returns the sidecar dict."""
    trt = require_tensorrt()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    flags = 0
    for name in plan["network_flags"]:
        flags |= 1 << int(getattr(trt.NetworkDefinitionCreationFlag, name))
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise ExportError(f"{onnx_path}: TensorRT cannot parse it: {'; '.join(errors)}")
    config = _builder_config(trt, builder, plan)
    profile = builder.create_optimization_profile()
    graph_inputs = {network.get_input(i).name for i in range(network.num_inputs)}
    shapes = profile_shapes(plan["profile"], int(deployment.input_frames))
    shapes = {name: levels for name, levels in shapes.items() if name in graph_inputs}
    for name, levels in shapes.items():
        profile.set_shape(name, levels["min"], levels["opt"], levels["max"])
    config.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise ExportError(f"{onnx_path}: TensorRT failed to build an engine (see its log above)")
    if plan["timing_cache"]:
        cache_bytes = config.get_timing_cache().serialize()
        with atomic_path(plan["timing_cache"]) as tmp:
            tmp.write_bytes(bytes(cache_bytes))
    with atomic_path(engine_path) as tmp:
        tmp.write_bytes(bytes(serialized))
    sidecar = {
        **current_runtime_info(trt),
        "precision": plan["precision"],
        "plan": plan,
        "inputs": shapes,
        "outputs": {
            network.get_output(i).name: list(network.get_output(i).shape)
            for i in range(network.num_outputs)
        },
        "onnx": Path(onnx_path).name,
        "onnx_sha256": sha256_file(onnx_path),
        "deployment": deployment,
    }
    write_json(sidecar_path(engine_path), {**sidecar, "deployment": deployment.to_dict()})
    return sidecar


def _builder_config(trt: Any, builder: Any, plan: dict[str, Any]) -> Any:
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, plan["workspace_bytes"])
    config.builder_optimization_level = plan["optimization_level"]
    for name in plan["builder_flags"]:
        config.set_flag(getattr(trt.BuilderFlag, name))
    if plan["device"] == "DLA":
        config.default_device_type = trt.DeviceType.DLA
        config.DLA_core = int(plan["dla_core"])
    if plan["timing_cache"]:
        cache_file = Path(plan["timing_cache"])
        cached = cache_file.read_bytes() if cache_file.is_file() else b""
        cache = config.create_timing_cache(cached)
        config.set_timing_cache(cache, ignore_mismatch=False)
    return config


def current_runtime_info(trt: Any, device: int = 0) -> dict[str, str]:
    """TensorRT version, GPU name and compute capability of this machine."""
    name, capability = _cuda_device(device)
    return {"tensorrt_version": trt.__version__, "gpu_name": name, "compute_capability": capability}


def _cuda_device(device: int) -> tuple[str, str]:
    import torch

    if torch.cuda.is_available():
        major, minor = torch.cuda.get_device_capability(device)
        return torch.cuda.get_device_name(device), f"{major}.{minor}"
    cudart = _import_cudart()
    if cudart is not None:
        props = _cuda_call(cudart, cudart.cudaGetDeviceProperties(device))
        name = props.name.decode() if isinstance(props.name, bytes) else str(props.name)
        return name.rstrip("\x00"), f"{props.major}.{props.minor}"
    try:
        import pycuda.autoinit  # noqa: F401  (creates the CUDA context)
        import pycuda.driver as pycuda_driver
    except ImportError:
        raise ExportError(BUFFER_GUIDANCE) from None
    gpu = pycuda_driver.Device(device)
    major, minor = gpu.compute_capability()
    return gpu.name(), f"{major}.{minor}"


class TensorRTRunner:
    """Runs a serialized engine: `runner(keypoints_2d, frame_offsets) -> pose_3d` (numpy).

    Checks the sidecar against this machine, allocates device buffers for the profile's
    largest batch once (torch CUDA tensors, else cuda-python, else pycuda) and runs every
    call on its own CUDA stream with `execute_async_v3`.
    """

    def __init__(self, engine_path: str | Path, device: int = 0) -> None:
        trt = require_tensorrt()
        self.engine_path = Path(engine_path)
        self.sidecar = read_sidecar(engine_path)
        check_sidecar(
            self.sidecar, current_runtime_info(trt, device), source=str(sidecar_path(engine_path))
        )
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)  # must outlive the engine
        self.engine = self._runtime.deserialize_cuda_engine(self.engine_path.read_bytes())
        if self.engine is None:
            raise ExportError(f"{engine_path}: TensorRT cannot deserialize this engine")
        self.context = self.engine.create_execution_context()
        self.max_batch = int(self.sidecar["plan"]["profile"]["max"])
        self.min_batch = int(self.sidecar["plan"]["profile"]["min"])
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self.input_names = [
            n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT
        ]
        self.output_names = [n for n in names if n not in self.input_names]
        self._dtypes = {n: np.dtype(trt.nptype(self.engine.get_tensor_dtype(n))) for n in names}
        self._memory = _device_memory(device)
        self._buffers = self._allocate()

    def _allocate(self) -> dict[str, Any]:
        """One device buffer per I/O tensor, sized for the profile's largest batch."""
        for name in self.input_names:
            self.context.set_input_shape(name, self.engine.get_tensor_profile_shape(name, 0)[2])
        buffers = {}
        for name in self.input_names + self.output_names:
            shape = tuple(self.context.get_tensor_shape(name))
            buffers[name] = self._memory.allocate(int(np.prod(shape)) * self._dtypes[name].itemsize)
        return buffers

    def __call__(self, keypoints_2d: np.ndarray, frame_offsets: np.ndarray) -> np.ndarray:
        """(B, N, 17, 2), (B, N) float32 -> the engine's pose_3d output (B, N_out, 17, 3)."""
        batch = keypoints_2d.shape[0]
        if not self.min_batch <= batch <= self.max_batch:
            raise ExportError(
                f"{self.engine_path}: batch {batch} is outside the engine's profile "
                f"{self.min_batch}..{self.max_batch}; rebuild with other --min-batch/--max-batch"
            )
        inputs = {"keypoints_2d": keypoints_2d, "frame_offsets": frame_offsets}
        for name in self.input_names:
            array = np.ascontiguousarray(inputs[name], dtype=self._dtypes[name])
            self.context.set_input_shape(name, array.shape)
            self._memory.to_device(self._buffers[name], array)
        outputs = {}
        for name in self.output_names:
            outputs[name] = np.empty(tuple(self.context.get_tensor_shape(name)), self._dtypes[name])
        for name, buffer in self._buffers.items():
            self.context.set_tensor_address(name, self._memory.address(buffer))
        if not self.context.execute_async_v3(self._memory.stream_handle):
            raise ExportError(f"{self.engine_path}: TensorRT execution failed")
        for name, array in outputs.items():
            self._memory.to_host(array, self._buffers[name])
        self._memory.synchronize()
        return outputs[self.output_names[0]]


def _device_memory(device: int) -> Any:
    import torch

    if torch.cuda.is_available():
        return _TorchMemory(device)
    cudart = _import_cudart()
    if cudart is not None:
        return _CudaPythonMemory(cudart)
    try:
        return _PyCudaMemory()
    except ImportError:
        raise ExportError(BUFFER_GUIDANCE) from None


class _TorchMemory:
    """Device buffers as torch CUDA byte tensors on a non-default stream."""

    def __init__(self, device: int) -> None:
        import torch

        self.torch = torch
        self.device = torch.device("cuda", device)
        self.stream = torch.cuda.Stream(self.device)
        self.stream_handle = self.stream.cuda_stream

    def allocate(self, nbytes: int) -> Any:
        return self.torch.empty(nbytes, dtype=self.torch.uint8, device=self.device)

    def address(self, buffer: Any) -> int:
        return buffer.data_ptr()

    def to_device(self, buffer: Any, array: np.ndarray) -> None:
        source = self.torch.from_numpy(array.reshape(-1).view(np.uint8))
        with self.torch.cuda.stream(self.stream):
            buffer[: source.numel()].copy_(source, non_blocking=True)

    def to_host(self, array: np.ndarray, buffer: Any) -> None:
        target = self.torch.from_numpy(array.reshape(-1).view(np.uint8))
        with self.torch.cuda.stream(self.stream):
            target.copy_(buffer[: target.numel()], non_blocking=False)

    def synchronize(self) -> None:
        self.stream.synchronize()


class _CudaPythonMemory:
    """Device buffers from cuda-python's runtime API (cudaMalloc / cudaMemcpyAsync)."""

    def __init__(self, cudart: Any) -> None:
        self.cudart = cudart
        self.stream = _cuda_call(cudart, cudart.cudaStreamCreate())
        self.stream_handle = int(self.stream)
        self._allocations: list[Any] = []

    def allocate(self, nbytes: int) -> Any:
        pointer = _cuda_call(self.cudart, self.cudart.cudaMalloc(nbytes))
        self._allocations.append(pointer)
        return pointer

    def address(self, buffer: Any) -> int:
        return int(buffer)

    def to_device(self, buffer: Any, array: np.ndarray) -> None:
        kind = self.cudart.cudaMemcpyKind.cudaMemcpyHostToDevice
        result = self.cudart.cudaMemcpyAsync(
            buffer, array.ctypes.data, array.nbytes, kind, self.stream
        )
        _cuda_call(self.cudart, result)

    def to_host(self, array: np.ndarray, buffer: Any) -> None:
        kind = self.cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
        result = self.cudart.cudaMemcpyAsync(
            array.ctypes.data, buffer, array.nbytes, kind, self.stream
        )
        _cuda_call(self.cudart, result)

    def synchronize(self) -> None:
        _cuda_call(self.cudart, self.cudart.cudaStreamSynchronize(self.stream))

    def __del__(self) -> None:
        for pointer in self._allocations:
            self.cudart.cudaFree(pointer)


class _PyCudaMemory:
    """Device buffers from pycuda (raises ImportError when pycuda is missing)."""

    def __init__(self) -> None:
        import pycuda.autoinit  # noqa: F401  (creates the CUDA context)
        import pycuda.driver as driver

        self.driver = driver
        self.stream = driver.Stream()
        self.stream_handle = self.stream.handle

    def allocate(self, nbytes: int) -> Any:
        return self.driver.mem_alloc(nbytes)

    def address(self, buffer: Any) -> int:
        return int(buffer)

    def to_device(self, buffer: Any, array: np.ndarray) -> None:
        self.driver.memcpy_htod_async(buffer, array, self.stream)

    def to_host(self, array: np.ndarray, buffer: Any) -> None:
        self.driver.memcpy_dtoh_async(array, buffer, self.stream)

    def synchronize(self) -> None:
        self.stream.synchronize()


def _import_cudart() -> Any:
    """cuda-python's runtime module (new and old import paths), or None."""
    try:
        from cuda.bindings import runtime as cudart
    except ImportError:
        try:
            from cuda import cudart
        except ImportError:
            return None
    return cudart


def _cuda_call(cudart: Any, result: tuple) -> Any:
    """Unpack cuda-python's (error, value...) tuples, raising on an error code."""
    error, *values = result
    if error != cudart.cudaError_t.cudaSuccess:
        raise ExportError(f"CUDA call failed: {cudart.cudaGetErrorString(error)[1]!r}")
    return values[0] if len(values) == 1 else (values or None)
