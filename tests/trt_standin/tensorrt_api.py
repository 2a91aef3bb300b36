"""A CPU stand-in for the subset of the TensorRT 10 / 11 Python API that scjd-edge calls.

TEST-ONLY. It builds no engine and times nothing on a GPU: the "engine" it serializes is
the source ONNX plus a JSON header, and `execute_async_v3` computes the outputs with ONNX
Runtime (CPU) on that ONNX, reading and writing the stand-in CUDA memory (`cudart.py`).
Its purpose is to hold the project's calls to the documented contracts in CI.

API facts checked against NVIDIA's documentation (with the `search` tool, Dec 2026):
- TensorRT 11 removed BuilderFlag.FP16, INT8, FP8, BF16, INT4, FP4,
  OBEY_PRECISION_CONSTRAINTS, PREFER_PRECISION_CONSTRAINTS, DIRECT_IO and the INT8
  calibrators; networks are always strongly typed ("Removed Python APIs and Replacements",
  docs.nvidia.com/deeplearning/tensorrt/latest/api/migration/tensorrt-10x-to-11x-python-
  api-reference.html). TF32 and GPU_FALLBACK are not in that list and stay.
- NetworkDefinitionCreationFlag: in 10.x EXPLICIT_BATCH (0, deprecated, ignored) and
  STRONGLY_TYPED (1) (Python API "Builder" page); in 11.x only STRONGLY_TYPED = 0,
  "Deprecated in TensorRT 11.0. Strongly typed mode is always enabled ... ignored" (11.x
  header enum as mirrored by docs.rs trtx-sys). The calibrators were deprecated in 10.1
  (C++ deprecated list).
- Explicit quantization "with Strong Typing. Precision-control build flags are not required
  and should not be specified" (Explicit Quantization page): here a strongly typed network
  with FP16/INT8 flags fails to build.
- DLA (Working with DLA; DLA Supported Layers and Restrictions): FP16 and INT8 only;
  "DLA does not support dynamic dimensions, so the profile's min, max, and opt values must
  be equal"; runtime dimensions equal build dimensions; layers DLA cannot run need
  GPU_FALLBACK; TensorRT 10.7 was the last 10.x release with DLA, 11.0-11.3 have none,
  11.4.1 restores it on Jetson AGX Orin (JetPack 7.2.2+) with strongly typed networks. The
  stand-in reports `num_DLA_cores` 0 where DLA is unsupported.
- Optimization profile (IOptimizationProfile): min <= opt <= max per dimension; inputs
  outside the profile are rejected at run time (here set_input_shape returns False).
- enqueueV3 / execute_async_v3 (8.x-to-10.x migration): every I/O tensor address is set
  with set_tensor_address before it. A plan of another TensorRT version fails to
  deserialize ("Version tag does not match ... Engine deserialization failed", NVIDIA/
  TensorRT issues #2195, #2072; `deserialize_cuda_engine` then returns None, #3834).
- cuda-python: cudaStreamCreate returns a cudaStream_t object, execute_async_v3 takes
  int(stream); cudaGraphInstantiate(graph, 0), cudaEventElapsedTime -> (err, ms) and
  cudaMallocHost -> (err, pointer) as used in NVIDIA's TensorRT samples (code search).
- CUDA graphs: synchronising a capturing stream fails (CUDA docs, "Constraints"). NOT
  confirmed by the search: that TensorRT needs one uncaptured enqueue after a shape change
  before capture (modelled here as in NVIDIA's samples, which all enqueue once first).
- Not confirmed either: BuilderFlag.TF32 in 11.x (kept because the removal lists omit it),
  and whether TensorRT 10 needs the INT8 flag beside FP16 on a weakly typed QDQ network
  (the project sets both, as `trtexec --int8 --fp16` does).
Layers DLA can run: a simplified map of ONNX op types to the documented DLA layer list.
"""

from __future__ import annotations

import enum
import json
import sys
import time
from types import SimpleNamespace
from typing import Any

import numpy as np
import onnx

MAGIC = b"SCJD-TENSORRT-STANDIN\n"
DLA_OP_TYPES = {"Conv", "Gemm", "Relu", "Sigmoid", "Tanh", "Add", "Sub", "Mul", "Div", "Concat"}
DLA_OP_TYPES |= {"MaxPool", "AveragePool", "BatchNormalization", "Softmax", "Reshape"}
QDQ_OPS = {"QuantizeLinear", "DequantizeLinear"}
COMMON_FLAGS = ("TF32", "GPU_FALLBACK")
WEAK_TYPING_FLAGS = ("FP16", "INT8", "OBEY_PRECISION_CONSTRAINTS", "PREFER_PRECISION_CONSTRAINTS")


# DLA cores by platform (Jetson AGX Orin and Orin NX 16GB: 2; Orin NX 8GB: 1; Orin Nano and
# any desktop / server GPU: none), per NVIDIA's Jetson Orin module data sheets.
DLA_CORES = {"agx-orin": 2, "orin-nx-16gb": 2, "orin-nx-8gb": 1, "orin-nano": 0, "desktop": 0}
# Op domains the ONNX parser has importers for: the default ONNX domain only (ONNX Runtime's
# com.microsoft contrib ops such as DynamicQuantizeMatMul have none; the real parser
# reports "No importer registered for op").
PARSER_DOMAINS = {"", "ai.onnx"}
# ONNX ops the parser has no importer for (onnx/onnx-tensorrt, docs/operators.md: "N").
NO_IMPORTER = {"DynamicQuantizeLinear", "MatMulInteger", "ConvInteger", "QLinearMatMul"}
NO_IMPORTER |= {"QLinearConv"}
TIMING_CACHE_MAGIC = b"SCJD-STANDIN-TIMING-CACHE\n"


def supports_dla(version: tuple[int, int, int]) -> bool:
    return version[0] == 10 and version[1] <= 7 or version >= (11, 4, 1)


class _Slots:
    """Setting an attribute the real class lacks is an AttributeError, as in the bindings."""

    __slots__ = ()


class DataType(enum.IntEnum):
    FLOAT = 0
    HALF = 1
    INT8 = 2
    INT32 = 3
    INT64 = 9


NUMPY = {DataType.FLOAT: np.float32, DataType.HALF: np.float16, DataType.INT8: np.int8}
NUMPY |= {DataType.INT32: np.int32, DataType.INT64: np.int64}
ONNX_TYPES = {onnx.TensorProto.FLOAT: DataType.FLOAT, onnx.TensorProto.FLOAT16: DataType.HALF}
ONNX_TYPES |= {onnx.TensorProto.INT64: DataType.INT64, onnx.TensorProto.INT32: DataType.INT32}


class TensorIOMode(enum.IntEnum):
    NONE = 0
    INPUT = 1
    OUTPUT = 2


class MemoryPoolType(enum.IntEnum):
    WORKSPACE = 0


class DeviceType(enum.IntEnum):
    GPU = 0
    DLA = 1


class ProfilingVerbosity(enum.IntEnum):
    LAYER_NAMES_ONLY = 0  # TensorRT's default
    NONE = 1
    DETAILED = 2


class LayerInformationFormat(enum.IntEnum):
    ONELINE = 0
    JSON = 1


class Logger(_Slots):
    __slots__ = ("min_severity",)
    INTERNAL_ERROR, ERROR, WARNING, INFO, VERBOSE = range(5)

    def __init__(self, min_severity: int = 2) -> None:
        self.min_severity = min_severity

    def log(self, severity: int, message: str) -> None:
        if severity <= self.min_severity:
            print(f"[TensorRT stand-in] {message}", file=sys.stderr)


class IProfiler:
    """TensorRT's profiler base: subclasses call __init__ and define report_layer_time."""

    def __init__(self) -> None:
        self._base_initialised = True


class IInt8EntropyCalibrator2:
    """TensorRT 10's calibrator base (removed in 11.0): subclasses call __init__ and define
    get_batch_size, get_batch(names) -> device pointers or None, read/write_calibration_cache."""

    def __init__(self) -> None:
        self._base_initialised = True


def make_module(version: str, cuda: Any) -> SimpleNamespace:
    """The fake `tensorrt` module of TensorRT `version` ("10.3.0", "11.4.1"), over `cuda`."""
    parts = tuple(int(p) for p in version.split("."))
    major = parts[0]
    flags = COMMON_FLAGS + (WEAK_TYPING_FLAGS if major == 10 else ())
    BuilderFlag = enum.IntEnum("BuilderFlag", {name: i for i, name in enumerate(flags)})
    # TensorRT 10: EXPLICIT_BATCH = 0 (ignored), STRONGLY_TYPED = 1; TensorRT 11 dropped
    # EXPLICIT_BATCH, so STRONGLY_TYPED = 0 there (deprecated, ignored: always strongly typed).
    network_flags = {"EXPLICIT_BATCH": 0, "STRONGLY_TYPED": 1} if major == 10 else {}
    NetworkFlag = enum.IntEnum(
        "NetworkDefinitionCreationFlag", network_flags or {"STRONGLY_TYPED": 0}
    )
    api = SimpleNamespace(
        version=parts, cuda=cuda, BuilderFlag=BuilderFlag, NetworkFlag=NetworkFlag
    )
    classes = _classes(api)
    calibrators = {"IInt8EntropyCalibrator2": IInt8EntropyCalibrator2} if major == 10 else {}
    return SimpleNamespace(
        **calibrators,
        __version__=version,
        Logger=Logger,
        Builder=classes["Builder"],
        OnnxParser=classes["OnnxParser"],
        Runtime=classes["Runtime"],
        BuilderFlag=BuilderFlag,
        NetworkDefinitionCreationFlag=NetworkFlag,
        MemoryPoolType=MemoryPoolType,
        DeviceType=DeviceType,
        ProfilingVerbosity=ProfilingVerbosity,
        IProfiler=IProfiler,
        LayerInformationFormat=LayerInformationFormat,
        TensorIOMode=TensorIOMode,
        DataType=DataType,
        nptype=lambda data_type: NUMPY[DataType(data_type)],
    )


def _classes(api: SimpleNamespace) -> dict[str, type]:  # noqa: C901 (one closure per class)
    major = api.version[0]

    class Layer(_Slots):
        __slots__ = ("name", "type")

        def __init__(self, node: onnx.NodeProto) -> None:
            self.name, self.type = node.name or node.op_type, f"LayerType.{node.op_type.upper()}"

    class Tensor(_Slots):
        __slots__ = ("name", "shape", "dtype")

        def __init__(self, value: onnx.ValueInfoProto) -> None:
            tensor_type = value.type.tensor_type
            self.name = value.name
            self.dtype = ONNX_TYPES[tensor_type.elem_type]
            self.shape = tuple(
                d.dim_value if d.HasField("dim_value") else -1 for d in tensor_type.shape.dim
            )

    def dla_cores() -> int:
        return DLA_CORES[api.cuda.platform] if supports_dla(api.version) else 0

    class Network(_Slots):
        __slots__ = ("_strongly_typed", "_model", "_inputs", "_outputs", "_layers")

        def __init__(self, strongly_typed: bool) -> None:
            self._strongly_typed, self._model = strongly_typed, None
            self._inputs, self._outputs, self._layers = [], [], []

        num_inputs = property(lambda self: len(self._inputs))
        num_outputs = property(lambda self: len(self._outputs))
        num_layers = property(lambda self: len(self._layers))

        def get_input(self, index: int) -> Tensor:
            return self._inputs[index]

        def get_output(self, index: int) -> Tensor:
            return self._outputs[index]

        def get_layer(self, index: int) -> Layer:
            return self._layers[index]

    class OnnxParser(_Slots):
        __slots__ = ("_network", "_errors")

        def __init__(self, network: Network, logger: Logger) -> None:
            assert isinstance(network, Network) and isinstance(logger, Logger)
            self._network, self._errors = network, []

        num_errors = property(lambda self: len(self._errors))

        def get_error(self, index: int) -> str:
            return self._errors[index]

        def parse_from_file(self, path: str) -> bool:
            try:
                model = onnx.load(path)
                onnx.checker.check_model(model)
            except Exception as error:  # the real parser reports, it does not raise
                self._errors.append(f"cannot parse {path}: {error}")
                return False
            foreign = [
                n
                for n in model.graph.node
                if n.domain not in PARSER_DOMAINS or n.op_type in NO_IMPORTER
            ]
            if foreign:
                node = foreign[0]
                self._errors.append(
                    f"In node {node.name!r} (importNode): No importer registered for op: "
                    f"{node.op_type} (domain {node.domain})"
                )
                return False
            initializers = {init.name for init in model.graph.initializer}
            self._network._model = model
            self._network._inputs = [
                Tensor(v) for v in model.graph.input if v.name not in initializers
            ]
            self._network._outputs = [Tensor(v) for v in model.graph.output]
            self._network._layers = [Layer(node) for node in model.graph.node]
            return True

    class Profile(_Slots):
        __slots__ = ("_shapes",)

        def __init__(self) -> None:
            self._shapes = {}

        def set_shape(self, name: str, low: Any, opt: Any, high: Any) -> None:
            shapes = [tuple(int(d) for d in s) for s in (low, opt, high)]
            if len({len(s) for s in shapes}) != 1 or not all(
                a <= b <= c for a, b, c in zip(*shapes, strict=False)
            ):
                raise ValueError(
                    f"profile for {name}: need min <= opt <= max of one rank, got {shapes}"
                )
            self._shapes[name] = shapes

    def device_key() -> bytes:
        cuda = api.cuda
        return f"{cuda.gpu_name}|{cuda.capability}|{'.'.join(map(str, api.version))}".encode()

    class TimingCache(_Slots):
        """Tied to the device and TensorRT version that wrote it (its header says which)."""

        __slots__ = ("_device", "_entries")

        def __init__(self, blob: bytes) -> None:
            blob = bytes(blob)
            self._device, self._entries = device_key(), b""
            if blob:
                header, _, self._entries = blob.removeprefix(TIMING_CACHE_MAGIC).partition(b"\n")
                self._device = header if blob.startswith(TIMING_CACHE_MAGIC) else b"unknown"

        def serialize(self) -> bytes:
            return TIMING_CACHE_MAGIC + self._device + b"\n" + self._entries

    class BuilderConfig(_Slots):
        __slots__ = ("_flags", "_pools", "builder_optimization_level", "default_device_type")
        __slots__ += ("DLA_core", "_profiles", "_timing_cache", "profiling_verbosity")
        __slots__ += ("int8_calibrator",) if major == 10 else ()

        def __init__(self) -> None:
            self._flags = {api.BuilderFlag.TF32}  # TF32 is on by default
            self._pools, self._profiles, self._timing_cache = {}, [], None
            self.profiling_verbosity = ProfilingVerbosity.LAYER_NAMES_ONLY
            if major == 10:
                self.int8_calibrator = None
            self.builder_optimization_level, self.default_device_type = 3, DeviceType.GPU
            self.DLA_core = -1

        def set_memory_pool_limit(self, pool: MemoryPoolType, size: int) -> None:
            self._pools[MemoryPoolType(pool)] = int(size)

        def set_flag(self, flag: Any) -> None:
            self._flags.add(api.BuilderFlag(flag))

        def clear_flag(self, flag: Any) -> None:
            self._flags.discard(api.BuilderFlag(flag))

        def get_flag(self, flag: Any) -> bool:
            return api.BuilderFlag(flag) in self._flags

        def add_optimization_profile(self, profile: Profile) -> int:
            self._profiles.append(profile)
            return len(self._profiles) - 1

        def can_run_on_DLA(self, layer: Layer) -> bool:  # noqa: N802 (TensorRT's name)
            return layer.type.removeprefix("LayerType.").title() in {
                op.title() for op in DLA_OP_TYPES
            }

        def create_timing_cache(self, blob: bytes) -> TimingCache:
            return TimingCache(blob)

        def set_timing_cache(self, cache: TimingCache, ignore_mismatch: bool) -> bool:
            if cache._device != device_key() and not ignore_mismatch:
                Logger().log(Logger.ERROR, "timing cache was written by another device/version")
                return False
            self._timing_cache = cache
            return True

        def get_timing_cache(self) -> TimingCache:
            return self._timing_cache

    class Builder(_Slots):
        __slots__ = ("logger",)

        def __init__(self, logger: Logger) -> None:
            assert isinstance(logger, Logger)
            self.logger = logger

        num_DLA_cores = property(lambda self: dla_cores())  # noqa: N815

        def create_network(self, flags: int = 0) -> Network:
            known = sum(1 << int(member) for member in api.NetworkFlag)
            if flags & ~known:
                raise ValueError(f"unknown NetworkDefinitionCreationFlag bits {flags:#x}")
            strong = 1 << int(api.NetworkFlag.STRONGLY_TYPED)
            return Network(major >= 11 or bool(flags & strong))

        def create_builder_config(self) -> BuilderConfig:
            return BuilderConfig()

        def create_optimization_profile(self) -> Profile:
            return Profile()

        def build_serialized_network(self, network: Network, config: BuilderConfig) -> bytes | None:
            problem = _build_problem(network, config, self.num_DLA_cores)
            if problem:
                self.logger.log(Logger.ERROR, problem)
                return None
            calibrator = getattr(config, "int8_calibrator", None)
            if calibrator is not None and "INT8" in {flag.name for flag in config._flags}:
                problem = calibrate(network, config, calibrator)
                if problem:
                    self.logger.log(Logger.ERROR, problem)
                    return None
            dla = config.default_device_type == DeviceType.DLA
            header = {
                "version": list(api.version),
                "strongly_typed": network._strongly_typed,
                "flags": sorted(flag.name for flag in config._flags),
                "device": "DLA" if dla else "GPU",
                "profile": config._profiles[0]._shapes,
                "inputs": [[t.name, int(t.dtype), list(t.shape)] for t in network._inputs],
                "outputs": [[t.name, int(t.dtype), list(t.shape)] for t in network._outputs],
                "layers": engine_layers(network, config),
                "detailed": config.profiling_verbosity == ProfilingVerbosity.DETAILED,
            }
            return MAGIC + json.dumps(header).encode() + b"\n" + network._model.SerializeToString()

    def calibrate(network: Network, config: BuilderConfig, calibrator: Any) -> str | None:
        """Implicit quantization: the cache if the calibrator has one, else every batch it
        gives (device pointers, read here) and a new cache written through it."""
        if not getattr(calibrator, "_base_initialised", False):
            return "the calibrator did not call IInt8EntropyCalibrator2.__init__"
        if calibrator.read_calibration_cache():
            return None
        names, batch = [t.name for t in network._inputs], calibrator.get_batch_size()
        shapes = {name: levels[1] for name, levels in config._profiles[0]._shapes.items()}
        ranges: dict[str, float] = {}
        while pointers := calibrator.get_batch(names):
            for name, pointer in zip(names, pointers, strict=True):
                shape = (batch, *shapes[name][1:])
                raw = api.cuda.device_view(int(pointer), int(np.prod(shape)) * 4)
                if raw is None:
                    return f"calibration batch of {name!r} is not {shape} float32 on the device"
                peak = float(np.abs(raw.view(np.float32)).max())
                ranges[name] = max(ranges.get(name, 0.0), peak)
        if not ranges:
            return "the calibrator gave no batch and no cache"
        version = "".join(map(str, api.version[:2]))
        lines = [f"TRT-{version}00-EntropyCalibration2"]
        lines += [
            f"{name}: {np.float32(peak / 127.0).view(np.uint32):08x}"
            for name, peak in ranges.items()
        ]
        calibrator.write_calibration_cache("\n".join(lines).encode())
        return None

    def engine_layers(network: Network, config: BuilderConfig) -> list[dict[str, str]]:
        """The built engine's layers as the inspector shows them (DETAILED): in a DLA engine
        each run of layers DLA takes is one `{ForeignNode[first...last]}` layer."""
        flags = {flag.name for flag in config._flags}
        gpu_format = (
            "Row major linear FP16 format (kLINEAR)"
            if "FP16" in flags
            else ("Row major linear FP32 format (kLINEAR)")
        )
        dla_format = (
            "Thirty-two wide channel vectorized row major Int8 format (kCHW32)"
            if "INT8" in flags
            else "Channel major FP16 format where channel % 16 == 0 (kCHW16)"
        )
        on_dla = config.default_device_type == DeviceType.DLA
        layers, run = [], []
        for layer in [*network._layers, None]:
            if layer is not None and on_dla and config.can_run_on_DLA(layer):
                run.append(layer.name)
                continue
            if run:
                name = f"{{ForeignNode[{run[0]}...{run[-1]}]}}"
                layers.append({"Name": name, "LayerType": "ForeignNode", "Format": dla_format})
                run = []
            if layer is not None:
                kind = layer.type.removeprefix("LayerType.").title()
                layers.append({"Name": layer.name, "LayerType": kind, "Format": gpu_format})
        return layers

    def _build_problem(network: Network, config: BuilderConfig, dla_cores: int) -> str | None:
        weak_flags = {flag.name for flag in config._flags} & set(WEAK_TYPING_FLAGS)
        if network._strongly_typed and weak_flags:
            return (
                f"precision flags {sorted(weak_flags)} are not allowed on a strongly typed network"
            )
        if len(config._profiles) != 1:
            return "exactly one optimization profile expected"
        qdq = any(n.op_type in QDQ_OPS for n in network._model.graph.node)
        if "INT8" in weak_flags and not qdq and getattr(config, "int8_calibrator", None) is None:
            return "INT8 without Q/DQ nodes needs a calibrator (no dynamic ranges were given)"
        dla = config.default_device_type == DeviceType.DLA
        if dla and qdq and major == 10:
            return "DLA does not support explicit quantization (Q/DQ): calibrate for DLA"
        profile = config._profiles[0]._shapes
        for tensor in network._inputs:
            if -1 in tensor.shape and tensor.name not in profile:
                return f"dynamic input {tensor.name} has no optimization profile"
        if config.default_device_type != DeviceType.DLA:
            return None
        if not 0 <= config.DLA_core < dla_cores:
            return f"DLA core {config.DLA_core} requested, {dla_cores} available"
        if any(low != high for low, _, high in profile.values()) or any(
            low != opt for low, opt, _ in profile.values()
        ):
            return "DLA does not support dynamic dimensions: profile min, opt and max must be equal"
        typed = {init.data_type for init in network._model.graph.initializer}
        reduced = (
            weak_flags & {"FP16", "INT8"}
            if not network._strongly_typed
            else ({"FP16"} if onnx.TensorProto.FLOAT16 in typed else set())
            | ({"INT8"} if onnx.TensorProto.INT8 in typed else set())
        )
        if not reduced:
            return "DLA runs FP16 or INT8 only: the network has neither"
        fallback = api.BuilderFlag.GPU_FALLBACK in config._flags
        if not fallback and not all(config.can_run_on_DLA(layer) for layer in network._layers):
            return "layers DLA cannot run and GPU_FALLBACK is not set"
        return None

    class Engine(_Slots):
        __slots__ = ("_header", "_session", "_tensors", "_dla_core")

        def __init__(self, header: dict, onnx_bytes: bytes) -> None:
            import onnxruntime as ort

            self._header, self._dla_core = header, None
            self._session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
            self._tensors = {
                name: (TensorIOMode.INPUT, DataType(d), s) for name, d, s in header["inputs"]
            }
            self._tensors |= {
                name: (TensorIOMode.OUTPUT, DataType(d), s) for name, d, s in header["outputs"]
            }

        num_io_tensors = property(lambda self: len(self._tensors))

        def get_tensor_name(self, index: int) -> str:
            return list(self._tensors)[index]

        def get_tensor_mode(self, name: str) -> TensorIOMode:
            return self._tensors[name][0] if name in self._tensors else TensorIOMode.NONE

        def get_tensor_dtype(self, name: str) -> DataType:
            return self._tensors[name][1]

        def get_tensor_profile_shape(self, name: str, profile_index: int) -> list[tuple[int, ...]]:
            if profile_index != 0 or name not in self._header["profile"]:
                raise ValueError(f"no profile {profile_index} shape for {name!r}")
            return [tuple(shape) for shape in self._header["profile"][name]]

        def create_execution_context(self) -> Context:
            return Context(self)

        def create_engine_inspector(self) -> EngineInspector:
            return EngineInspector(self)

    class EngineInspector(_Slots):
        """get_engine_information(JSON): {"Layers": [...], "Bindings": [...]} in 10.x,
        "I/O Tensors" objects instead of "Bindings" in 11.x; layer names only unless the
        engine was built with ProfilingVerbosity.DETAILED."""

        __slots__ = ("_engine",)

        def __init__(self, engine: Engine) -> None:
            self._engine = engine

        def get_engine_information(self, format: LayerInformationFormat) -> str:  # noqa: A002
            if LayerInformationFormat(format) != LayerInformationFormat.JSON:
                raise ValueError("the stand-in writes JSON layer information only")
            header = self._engine._header
            layers = [
                {
                    "Name": layer["Name"],
                    "LayerType": layer["LayerType"],
                    "Inputs": [{"Name": "in", "Format/Datatype": layer["Format"]}],
                    "Outputs": [{"Name": "out", "Format/Datatype": layer["Format"]}],
                }
                if header["detailed"]
                else layer["Name"]
                for layer in header["layers"]
            ]
            names = list(self._engine._tensors)
            io = (
                {"Bindings": names}
                if major == 10
                else {"I/O Tensors": [{"Name": n} for n in names]}
            )
            return json.dumps({"Layers": layers, **io})

    class Context(_Slots):
        __slots__ = ("_engine", "_shapes", "_addresses", "_enqueued_shapes", "profiler")

        def __init__(self, engine: Engine) -> None:
            self._engine, self._shapes, self._addresses, self._enqueued_shapes = (
                engine,
                {},
                {},
                None,
            )
            self.profiler = None

        def set_input_shape(self, name: str, shape: Any) -> bool:
            shape = tuple(int(d) for d in shape)
            if self._engine.get_tensor_mode(name) != TensorIOMode.INPUT:
                return False
            low, _, high = self._engine.get_tensor_profile_shape(name, 0)
            if len(shape) != len(low) or not all(
                a <= d <= b for a, d, b in zip(low, shape, high, strict=False)
            ):
                Logger().log(Logger.ERROR, f"{name}: shape {shape} outside profile {low}..{high}")
                return False
            self._shapes[name] = shape
            return True

        def get_tensor_shape(self, name: str) -> tuple[int, ...]:
            mode, _, static = self._engine._tensors[name]
            if mode == TensorIOMode.INPUT:
                return self._shapes.get(name, tuple(static))
            batch = next(iter(self._shapes.values()), (-1,))[0]
            return (batch, *static[1:])

        def set_tensor_address(self, name: str, address: int) -> bool:
            if name not in self._engine._tensors:
                return False
            self._addresses[name] = int(address)
            return True

        def execute_async_v3(self, stream_handle: int) -> bool:
            if not isinstance(stream_handle, int):  # pybind11 takes an int, not a cudaStream_t
                raise TypeError(
                    f"execute_async_v3(): stream_handle must be an int, got {stream_handle!r}"
                )
            problem = self._problem(stream_handle)
            if problem:
                Logger().log(Logger.ERROR, problem)
                return False
            shapes = {name: self.get_tensor_shape(name) for name in self._engine._tensors}
            capturing = api.cuda.streams[stream_handle].capturing is not None
            if capturing and self._engine._header["device"] == "DLA":
                Logger().log(Logger.ERROR, "a DLA engine cannot be captured in a CUDA graph")
                return False
            if capturing and self._enqueued_shapes != shapes:
                Logger().log(Logger.ERROR, "capture needs one enqueue with these shapes first")
                return False
            self._enqueued_shapes = shapes
            error = api.cuda.enqueue(stream_handle, lambda: self._compute(shapes))
            return error == 0

        def _problem(self, stream_handle: int) -> str | None:
            if stream_handle not in api.cuda.streams:
                return f"invalid CUDA stream {stream_handle}"
            for name, (mode, dtype, _) in self._engine._tensors.items():
                if name not in self._addresses:
                    return f"tensor {name!r} has no address (set_tensor_address before execute)"
                if mode == TensorIOMode.INPUT and name not in self._shapes:
                    return f"input {name!r} has no shape (set_input_shape before execute)"
                nbytes = int(np.prod(self.get_tensor_shape(name))) * np.dtype(NUMPY[dtype]).itemsize
                if api.cuda.device_view(self._addresses[name], nbytes) is None:
                    return f"tensor {name!r}: address is not {nbytes} bytes of device memory"
            if self._engine._header["device"] == "DLA":
                for name, shape in self._shapes.items():
                    if list(shape) != self._engine._header["profile"][name][0]:
                        return f"DLA engine: {name} must have its build shape, got {shape}"
            return None

        def _compute(self, shapes: dict[str, tuple[int, ...]]) -> None:
            feed = {}
            for name, (mode, dtype, _) in self._engine._tensors.items():
                if mode == TensorIOMode.INPUT:
                    nbytes = int(np.prod(shapes[name])) * np.dtype(NUMPY[dtype]).itemsize
                    raw = api.cuda.device_view(self._addresses[name], nbytes)
                    feed[name] = raw.view(NUMPY[dtype]).reshape(shapes[name]).copy()
            outputs = [
                n for n, (m, _, _) in self._engine._tensors.items() if m == TensorIOMode.OUTPUT
            ]
            started = time.perf_counter()
            results = self._engine._session.run(outputs, feed)
            self._report_layers(1000.0 * (time.perf_counter() - started))
            for name, value in zip(outputs, results, strict=False):
                value = np.ascontiguousarray(value, NUMPY[self._engine._tensors[name][1]])
                api.cuda.device_view(self._addresses[name], value.nbytes)[:] = value.view(
                    np.uint8
                ).reshape(-1)

        def _report_layers(self, elapsed_ms: float) -> None:
            """IProfiler: once per layer, after the execution completed (CPU time split evenly:
            never a GPU time)."""
            if self.profiler is None:
                return
            if not getattr(self.profiler, "_base_initialised", False):
                raise TypeError("the profiler did not call IProfiler.__init__")
            layers = self._engine._header["layers"]
            for layer in layers:
                self.profiler.report_layer_time(layer["Name"], elapsed_ms / len(layers))

    class Runtime(_Slots):
        __slots__ = ("logger", "DLA_core")

        def __init__(self, logger: Logger) -> None:
            assert isinstance(logger, Logger)
            self.logger, self.DLA_core = logger, -1  # IRuntime::setDLACore: defaults to -1

        num_DLA_cores = property(lambda self: dla_cores())  # noqa: N815

        def deserialize_cuda_engine(self, serialized_engine: bytes) -> Engine | None:
            if not bytes(serialized_engine).startswith(MAGIC):
                self.logger.log(Logger.ERROR, "not a serialized engine")
                return None
            header_line, onnx_bytes = bytes(serialized_engine)[len(MAGIC) :].split(b"\n", 1)
            header = json.loads(header_line)
            if tuple(header["version"]) != api.version:
                self.logger.log(Logger.ERROR, f"engine built with TensorRT {header['version']}")
                return None
            engine = Engine(header, onnx_bytes)
            if header["device"] == "DLA":
                engine._dla_core = max(self.DLA_core, 0)  # the runtime's core, not the build's
                if engine._dla_core >= dla_cores():
                    self.logger.log(Logger.ERROR, f"no DLA core {engine._dla_core} here")
                    return None
            return engine

    return {"Builder": Builder, "OnnxParser": OnnxParser, "Runtime": Runtime}
