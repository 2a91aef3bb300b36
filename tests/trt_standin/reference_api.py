"""TensorRT and cuda-python API names as NVIDIA documents them: the INDEPENDENT list that the
project's calls and the stand-in are both checked against (tests/test_tensorrt_surface.py).

Written by hand (Dec 2026) from NVIDIA's documentation read with the search tool, never
from the stand-in. Sources, cited per entry below by key:
  PY   TensorRT Python API pages, docs.nvidia.com/deeplearning/tensorrt/{api/python_api,
       latest/_static/python-api}/infer/Core/<Page>.html (Builder, BuilderConfig, Network,
       Parser, OptimizationProfile, TimingCache, Runtime, Engine, ExecutionContext,
       EngineInspector, Profiler, Logger) and Int8/Calibrator.html
  MIG  "Removed Python APIs and Replacements", TensorRT 10.x -> 11.x migration guide
       (.../latest/api/migration/tensorrt-10x-to-11x-python-api-reference.html)
  GUIDE  TensorRT developer guide: Engine Inspector (engine-tools.html), Timing Cache
       (builder-performance.html), Working with DLA / Strongly Typed Networks for DLA
  CUDA  CUDA Runtime API function names, which cuda.bindings.runtime keeps (each call
       returns (cudaError_t, values...)), nvidia.github.io/cuda-python
Parameter names are listed only where the page text was read (SIGNATURES); elsewhere only
the member name is checked.
"""

from __future__ import annotations

# class or enum -> members, common to TensorRT 10.x and 11.x
COMMON: dict[str, set[str]] = {
    "": {  # PY: the tensorrt module's classes, enums and functions used here
        "__version__",
        "Logger",
        "Builder",
        "OnnxParser",
        "Runtime",
        "nptype",
        "BuilderFlag",
        "NetworkDefinitionCreationFlag",
        "MemoryPoolType",
        "DeviceType",
        "ProfilingVerbosity",
        "LayerInformationFormat",
        "TensorIOMode",
        "DataType",
        "IProfiler",
    },
    "Logger": {"INTERNAL_ERROR", "ERROR", "WARNING", "INFO", "VERBOSE", "log", "min_severity"},
    "Builder": {  # PY Builder
        "create_network",
        "create_builder_config",
        "create_optimization_profile",
        "build_serialized_network",
        "num_DLA_cores",
        "logger",
    },
    "IBuilderConfig": {  # PY BuilderConfig; GUIDE Timing Cache, Working with DLA
        "set_memory_pool_limit",
        "set_flag",
        "clear_flag",
        "get_flag",
        "add_optimization_profile",
        "can_run_on_DLA",
        "create_timing_cache",
        "set_timing_cache",
        "get_timing_cache",
        "builder_optimization_level",
        "default_device_type",
        "DLA_core",
        "profiling_verbosity",
    },
    "INetworkDefinition": {  # PY Network
        "num_inputs",
        "num_outputs",
        "num_layers",
        "get_input",
        "get_output",
        "get_layer",
    },
    "ILayer": {"name", "type"},  # PY Layers
    "ITensor": {"name", "shape", "dtype"},  # PY Tensor
    "OnnxParser": {"parse_from_file", "num_errors", "get_error", "parse"},  # PY Parser
    "IOptimizationProfile": {"set_shape"},  # PY OptimizationProfile
    "ITimingCache": {"serialize", "combine", "reset"},  # PY TimingCache
    "Runtime": {"deserialize_cuda_engine", "DLA_core", "num_DLA_cores", "logger"},  # PY
    "ICudaEngine": {  # PY Engine; GUIDE Engine Inspector (create_engine_inspector)
        "num_io_tensors",
        "get_tensor_name",
        "get_tensor_mode",
        "get_tensor_dtype",
        "get_tensor_profile_shape",
        "create_execution_context",
        "create_engine_inspector",
    },
    "IExecutionContext": {  # PY ExecutionContext
        "set_input_shape",
        "get_tensor_shape",
        "set_tensor_address",
        "execute_async_v3",
        "profiler",
    },
    "EngineInspector": {"get_engine_information", "get_layer_information"},  # PY
    "IProfiler": {"report_layer_time"},  # PY Profiler
    "NetworkDefinitionCreationFlag": {"STRONGLY_TYPED"},  # PY Network; MIG (11.x: deprecated)
    "BuilderFlag": {"TF32", "GPU_FALLBACK"},  # PY BuilderConfig; MIG lists neither as removed
    "MemoryPoolType": {"WORKSPACE"},  # PY BuilderConfig
    "DeviceType": {"GPU", "DLA"},  # PY BuilderConfig
    "ProfilingVerbosity": {"LAYER_NAMES_ONLY", "DETAILED", "NONE"},  # PY BuilderConfig
    "LayerInformationFormat": {"ONELINE", "JSON"},  # PY EngineInspector; GUIDE
    "TensorIOMode": {"NONE", "INPUT", "OUTPUT"},  # PY Engine
    "DataType": {"FLOAT", "HALF", "INT8", "INT32", "INT64", "BOOL"},  # PY DataType
}

# TensorRT 10.x only: removed in 11.0 (MIG: "BuilderFlag.FP16 ... IBuilderConfig.int8_calibrator
# ... Explicit quantization with Q/DQ nodes"; the calibrators, PY Int8/Calibrator.html,
# deprecated in 10.1).
TRT10_ONLY: dict[str, set[str]] = {
    "": {"IInt8EntropyCalibrator2"},
    "IBuilderConfig": {"int8_calibrator"},
    "IInt8EntropyCalibrator2": {
        "get_batch_size",
        "get_batch",
        "read_calibration_cache",
        "write_calibration_cache",
        "get_algorithm",
    },
    "NetworkDefinitionCreationFlag": {"EXPLICIT_BATCH"},
    "BuilderFlag": {
        "FP16",
        "INT8",
        "FP8",
        "BF16",
        "INT4",
        "FP4",
        "OBEY_PRECISION_CONSTRAINTS",
        "PREFER_PRECISION_CONSTRAINTS",
        "DIRECT_IO",
    },
}

# Parameters (without self) where the documented signature was read.
SIGNATURES: dict[tuple[str, str], tuple[str, ...]] = {
    ("ITimingCache", "combine"): ("input_cache", "ignore_mismatch"),  # PY TimingCache
    ("EngineInspector", "get_engine_information"): ("format",),  # PY EngineInspector
    ("EngineInspector", "get_layer_information"): ("layer_index", "format"),  # PY
    ("Runtime", "deserialize_cuda_engine"): ("serialized_engine",),  # PY Runtime
    ("IProfiler", "report_layer_time"): ("layer_name", "ms"),  # PY Profiler
    ("IInt8EntropyCalibrator2", "get_batch"): ("names",),  # PY Int8/Calibrator
}

# cuda.bindings.runtime functions the runner may call (CUDA Runtime API names).
CUDART: set[str] = {
    "cudaError_t",
    "cudaMemcpyKind",
    "cudaStreamCaptureMode",
    "cudaGetErrorString",
    "cudaGetDeviceCount",
    "cudaGetDeviceProperties",
    "cudaSetDevice",
    "cudaDriverGetVersion",
    "cudaMalloc",
    "cudaMallocHost",
    "cudaFree",
    "cudaFreeHost",
    "cudaMemcpy",
    "cudaMemcpyAsync",
    "cudaStreamCreate",
    "cudaStreamSynchronize",
    "cudaStreamDestroy",
    "cudaEventCreate",
    "cudaEventRecord",
    "cudaEventQuery",
    "cudaEventSynchronize",
    "cudaEventElapsedTime",
    "cudaEventDestroy",
    "cudaStreamBeginCapture",
    "cudaStreamEndCapture",
    "cudaGraphInstantiate",
    "cudaGraphLaunch",
    "cudaGraphDestroy",
    "cudaGraphExecDestroy",
}


def reference(major: int) -> dict[str, set[str]]:
    """Class / enum name ("" = the module) -> documented members in TensorRT `major`."""
    names = {key: set(members) for key, members in COMMON.items()}
    if major == 10:
        for key, members in TRT10_ONLY.items():
            names.setdefault(key, set()).update(members)
    return names
