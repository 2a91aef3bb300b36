"""A CPU stand-in for the subset of cuda-python's runtime API (`cuda.bindings.runtime`) that
scjd-edge's TensorRT runner calls. TEST-ONLY: "device" memory is host memory, and event
times are `time.perf_counter` readings, so no time it reports is a GPU time.

Contracts enforced (cuda-python returns a tuple (cudaError_t, value...) from every call):
- streams are asynchronous queues: copies, kernels and event records run only when the
  stream is synchronised (cudaStreamSynchronize, or cudaEventQuery / cudaEventSynchronize
  of an event recorded on it), so a host buffer read before that holds stale data, and
  cudaEventElapsedTime of an event not yet reached is cudaErrorNotReady;
- copies must stay inside an allocation, host-to-device copies must read host memory and
  write device memory (and the reverse); synchronising a capturing stream fails;
- graph launch replays what the capture recorded; cudaGraphInstantiate gives a graph
  executable distinct from the graph, and each must be destroyed on its own;
- every stream, event, graph, graph executable and allocation is tracked until destroyed
  or freed (`CudaState.live()`), so a test can fail on a leak; destroying twice fails.
"""

from __future__ import annotations

import ctypes
import enum
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np


class cudaError_t(enum.IntEnum):  # noqa: N801 (cuda-python's names)
    cudaSuccess = 0
    cudaErrorInvalidValue = 1
    cudaErrorMemoryAllocation = 2
    cudaErrorInvalidResourceHandle = 400
    cudaErrorNotReady = 600
    cudaErrorStreamCaptureUnsupported = 900


class cudaMemcpyKind(enum.IntEnum):  # noqa: N801
    cudaMemcpyHostToDevice = 1
    cudaMemcpyDeviceToHost = 2


class cudaStreamCaptureMode(enum.IntEnum):  # noqa: N801
    cudaStreamCaptureModeGlobal = 0


OK = cudaError_t.cudaSuccess
_MISSING = object()


class cudaStream_t:  # noqa: N801
    """cuda-python returns streams as objects, not ints: TensorRT takes `int(stream)`."""

    def __init__(self, handle: int) -> None:
        self.handle = handle

    def __int__(self) -> int:
        return self.handle


@dataclass
class _Stream:
    capturing: list[Callable[[], None]] | None = None
    pending: list[Callable[[], None]] = field(default_factory=list)

    def run_pending(self) -> None:
        while self.pending:
            self.pending.pop(0)()


@dataclass
class CudaState:
    """Everything the stand-in GPU holds; tests read it to check what the runner did."""

    gpu_name: str = "Orin (stand-in)"
    capability: tuple[int, int] = (8, 7)
    driver_version: int = 12020  # cudaDriverGetVersion: 1000 * major + 10 * minor
    platform: str = "agx-orin"  # which DLA cores exist (tensorrt_api.DLA_CORES)
    device_memory: dict[int, np.ndarray] = field(default_factory=dict)
    pinned_memory: dict[int, np.ndarray] = field(default_factory=dict)
    streams: dict[int, _Stream] = field(default_factory=dict)
    events: dict[int, float | None] = field(default_factory=dict)
    event_streams: dict[int, int] = field(default_factory=dict)
    graphs: dict[int, list[Callable[[], None]]] = field(default_factory=dict)
    graph_execs: dict[int, list[Callable[[], None]]] = field(default_factory=dict)
    copies: list[tuple[str, int, bool]] = field(default_factory=list)  # (kind, bytes, pinned)
    graph_launches: int = 0
    handles: Any = field(default_factory=lambda: itertools.count(0x1000))

    def device_view(self, address: int, nbytes: int) -> np.ndarray | None:
        """The device bytes [address, address + nbytes), or None if outside every allocation."""
        return _view(self.device_memory, address, nbytes)

    def enqueue(self, stream: Any, work: Callable[[], None]) -> cudaError_t:
        stream = int(stream)
        if stream not in self.streams:
            return cudaError_t.cudaErrorInvalidResourceHandle
        capture = self.streams[stream].capturing
        (self.streams[stream].pending if capture is None else capture).append(work)
        return OK

    def live(self) -> dict[str, int]:
        """How many of each resource are still alive (not destroyed or freed)."""
        kinds = {"streams": self.streams, "events": self.events, "graphs": self.graphs}
        kinds |= {"graph_execs": self.graph_execs, "device_memory": self.device_memory}
        kinds |= {"pinned_memory": self.pinned_memory}
        return {kind: len(held) for kind, held in kinds.items() if held}


def _view(memory: dict[int, np.ndarray], address: int, nbytes: int) -> np.ndarray | None:
    for start, buffer in memory.items():
        if start <= address and address + nbytes <= start + buffer.nbytes:
            return buffer[address - start : address - start + nbytes]
    return None


def make_module(state: CudaState) -> SimpleNamespace:
    """The fake `cuda.bindings.runtime` module over `state`."""

    def allocate(memory: dict[int, np.ndarray], nbytes: int) -> tuple:
        if nbytes < 1:
            return (cudaError_t.cudaErrorInvalidValue, 0)
        buffer = np.zeros(nbytes, np.uint8)
        memory[buffer.ctypes.data] = buffer
        return (OK, buffer.ctypes.data)

    def free(memory: dict[int, np.ndarray], pointer: int) -> tuple:
        return (
            (OK,)
            if memory.pop(int(pointer), None) is not None
            else (cudaError_t.cudaErrorInvalidValue,)
        )

    def memcpy_async(dst: int, src: int, count: int, kind: cudaMemcpyKind, stream: int) -> tuple:
        if kind == cudaMemcpyKind.cudaMemcpyHostToDevice:
            device, host = int(dst), int(src)
        elif kind == cudaMemcpyKind.cudaMemcpyDeviceToHost:
            device, host = int(src), int(dst)
        else:
            return (cudaError_t.cudaErrorInvalidValue,)
        view = state.device_view(device, count)
        if view is None or state.device_view(host, 1) is not None:
            return (cudaError_t.cudaErrorInvalidValue,)
        pinned = _view(state.pinned_memory, host, count) is not None
        state.copies.append((kind.name, count, pinned))
        source, target = (
            (host, device) if kind == cudaMemcpyKind.cudaMemcpyHostToDevice else (device, host)
        )
        return (state.enqueue(stream, lambda: ctypes.memmove(target, source, count)),)

    def memcpy(dst: int, src: int, count: int, kind: cudaMemcpyKind) -> tuple:
        """Synchronous cudaMemcpy: a temporary stream run at once."""
        stream = stream_create()[1]
        error = memcpy_async(dst, src, count, kind, stream)[0]
        state.streams.pop(int(stream)).run_pending()
        return (error,)

    def stream_create() -> tuple:
        handle = next(state.handles)
        state.streams[handle] = _Stream()
        return (OK, cudaStream_t(handle))

    def stream_synchronize(stream: Any) -> tuple:
        stream = int(stream)
        if stream not in state.streams:
            return (cudaError_t.cudaErrorInvalidResourceHandle,)
        if state.streams[stream].capturing is not None:
            return (cudaError_t.cudaErrorStreamCaptureUnsupported,)
        state.streams[stream].run_pending()
        return (OK,)

    def stream_destroy(stream: Any) -> tuple:
        held = state.streams.pop(int(stream), None)
        if held is None:
            return (cudaError_t.cudaErrorInvalidResourceHandle,)
        held.run_pending()  # queued work still completes, as with cudaStreamDestroy
        return (OK,)

    def event_create() -> tuple:
        handle = next(state.handles)
        state.events[handle] = None
        return (OK, handle)

    def event_record(event: int, stream: int) -> tuple:
        if event not in state.events:
            return (cudaError_t.cudaErrorInvalidResourceHandle,)
        error = state.enqueue(stream, lambda: state.events.__setitem__(event, time.perf_counter()))
        if error == OK and state.streams[int(stream)].capturing is None:
            state.events[event] = None  # not reached until the stream gets there
            state.event_streams[event] = int(stream)
        return (error,)

    def event_reached(event: int) -> tuple:
        """cudaEventQuery / cudaEventSynchronize: the stream runs up to (here: past) it."""
        if event not in state.events:
            return (cudaError_t.cudaErrorInvalidResourceHandle,)
        stream = state.streams.get(state.event_streams.get(event, -1))
        if stream is not None:
            stream.run_pending()
        return (OK,)

    def event_elapsed_time(start: int, end: int) -> tuple:
        if start not in state.events or end not in state.events:
            return (cudaError_t.cudaErrorInvalidResourceHandle, 0.0)
        times = state.events[start], state.events[end]
        if None in times:
            return (cudaError_t.cudaErrorNotReady, 0.0)
        return (OK, (times[1] - times[0]) * 1000.0)

    def destroy(held: dict, handle: Any) -> tuple:
        if held.pop(int(handle), _MISSING) is _MISSING:
            return (cudaError_t.cudaErrorInvalidResourceHandle,)
        return (OK,)

    def begin_capture(stream: Any, mode: cudaStreamCaptureMode) -> tuple:
        stream = int(stream)
        if stream not in state.streams or state.streams[stream].capturing is not None:
            return (cudaError_t.cudaErrorInvalidValue,)
        state.streams[stream].capturing = []
        return (OK,)

    def end_capture(stream: Any) -> tuple:
        stream = int(stream)
        recorded = state.streams[stream].capturing
        if recorded is None:
            return (cudaError_t.cudaErrorInvalidValue, None)
        state.streams[stream].capturing = None
        handle = next(state.handles)
        state.graphs[handle] = recorded
        return (OK, handle)

    def graph_instantiate(graph: int, flags: int) -> tuple:
        if graph not in state.graphs:
            return (cudaError_t.cudaErrorInvalidValue, None)
        handle = next(state.handles)
        state.graph_execs[handle] = list(state.graphs[graph])
        return (OK, handle)

    def graph_launch(graph_exec: int, stream: int) -> tuple:
        if graph_exec not in state.graph_execs:
            return (cudaError_t.cudaErrorInvalidResourceHandle,)
        state.graph_launches += 1
        for work in state.graph_execs[graph_exec]:
            error = state.enqueue(stream, work)
            if error != OK:
                return (error,)
        return (OK,)

    properties = SimpleNamespace(
        name=state.gpu_name.encode(), major=state.capability[0], minor=state.capability[1]
    )
    return SimpleNamespace(
        cudaError_t=cudaError_t,
        cudaMemcpyKind=cudaMemcpyKind,
        cudaStreamCaptureMode=cudaStreamCaptureMode,
        cudaGetErrorString=lambda error: (OK, cudaError_t(error).name.encode()),
        cudaGetDeviceCount=lambda: (OK, 1),
        cudaDriverGetVersion=lambda: (OK, state.driver_version),
        cudaGetDeviceProperties=lambda device: (
            (OK, properties) if device == 0 else (cudaError_t.cudaErrorInvalidValue, None)
        ),
        cudaSetDevice=lambda device: (OK,) if device == 0 else (cudaError_t.cudaErrorInvalidValue,),
        cudaMalloc=lambda nbytes: allocate(state.device_memory, nbytes),
        cudaMallocHost=lambda nbytes: allocate(state.pinned_memory, nbytes),
        cudaFree=lambda pointer: free(state.device_memory, pointer),
        cudaFreeHost=lambda pointer: free(state.pinned_memory, pointer),
        cudaMemcpyAsync=memcpy_async,
        cudaMemcpy=memcpy,
        cudaStreamCreate=stream_create,
        cudaStreamSynchronize=stream_synchronize,
        cudaStreamDestroy=stream_destroy,
        cudaEventCreate=event_create,
        cudaEventRecord=event_record,
        cudaEventQuery=event_reached,
        cudaEventSynchronize=event_reached,
        cudaEventElapsedTime=event_elapsed_time,
        cudaEventDestroy=lambda event: destroy(state.events, event),
        cudaStreamBeginCapture=begin_capture,
        cudaStreamEndCapture=end_capture,
        cudaGraphInstantiate=graph_instantiate,
        cudaGraphLaunch=graph_launch,
        cudaGraphDestroy=lambda graph: destroy(state.graphs, graph),
        cudaGraphExecDestroy=lambda graph_exec: destroy(state.graph_execs, graph_exec),
    )
