"""A CPU stand-in for TensorRT 10 / 11 and cuda-python, for the tests ONLY.

    state = install(monkeypatch, "11.4.1")   # `import tensorrt` and cuda-python now fake

Never shipped and never a backend: its engines run ONNX Runtime on the CPU and its "CUDA
events" read `time.perf_counter`, so no time measured under it is a GPU time. See
`tensorrt_api.py` for the contracts it enforces and where each was checked.
"""

from __future__ import annotations

import importlib.machinery
import sys
from types import ModuleType, SimpleNamespace
from typing import Any

from . import cudart, tensorrt_api

VERSIONS = {"10": "10.3.0", "11": "11.4.1"}


def install(
    monkeypatch: Any,
    version: str = "10.3.0",
    gpu_name: str = "Orin (stand-in)",
    platform: str = "agx-orin",
    bindings_version: str = "12.6.2",
) -> Any:
    """Put the fake `tensorrt` and `cuda.bindings.runtime` into sys.modules; returns the
    CudaState (memory, copies, graph launches) that tests inspect. `platform` sets the DLA
    cores (tensorrt_api.DLA_CORES: "desktop" has none); `bindings_version` is
    `cuda.bindings.__version__`."""
    state = cudart.CudaState(gpu_name=gpu_name, platform=platform)
    runtime = _module("cuda.bindings.runtime", cudart.make_module(state))
    trt = _module("tensorrt", tensorrt_api.make_module(version, state))
    cuda, bindings = _module("cuda"), _module("cuda.bindings")
    bindings.runtime, cuda.bindings = runtime, bindings
    bindings.__version__ = bindings_version
    for module in (trt, cuda, bindings, runtime):
        monkeypatch.setitem(sys.modules, module.__name__, module)
    return SimpleNamespace(cuda=state, trt=trt, cudart=runtime)


def _module(name: str, namespace: SimpleNamespace | None = None) -> ModuleType:
    module = ModuleType(name)
    module.__dict__.update(vars(namespace or SimpleNamespace()))
    module.__spec__ = importlib.machinery.ModuleSpec(name, loader=None)
    return module


def surface(version: str) -> dict[str, set[str]]:
    """Attribute names of the fake module and of its enums, for the static API check."""
    trt = tensorrt_api.make_module(version, cudart.CudaState())
    names = {"": set(vars(trt))}
    for name, value in vars(trt).items():
        if isinstance(value, type):
            names[name] = {member for member in dir(value) if not member.startswith("_")}
    return names
