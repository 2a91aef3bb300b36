"""Latency measurement: warm-up, timed iterations in interleaved rounds, percentile statistics.

Several calls measured together are timed in interleaved rounds (A B C, A B C, ...) in one
process, so that load changes on a shared machine hit all of them alike; each call keeps
the latencies of every round, so ratios can be taken round by round (`ratios.py`).

CPU work is timed with `time.perf_counter` around each call. Work queued on a CUDA device
is timed with CUDA events recorded around each call and read after one synchronisation at
the end of the round, so the figures are device time, not launch time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass

import numpy as np
import torch

DEFAULT_ITERS = 50
MIN_ITERS_PER_ROUND = 5


@dataclass(frozen=True)
class TimingStats:
    """Latency of one call processing `batch` windows, over every timed iteration.

    All latencies in milliseconds. `poses_per_s` = batch / mean latency (one pose = the
    centre-frame 3D pose of one window); `throughput_poses_per_s` = all poses processed /
    wall-clock seconds of the timed loops (includes the loop's own overhead).
    """

    batch: int
    iterations: int
    rounds: int
    timer: str  # "perf_counter" or "cuda_events"
    mean_ms: float
    std_ms: float
    min_ms: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    poses_per_s: float
    throughput_poses_per_s: float
    round_mean_ms: tuple[float, ...]
    round_p50_ms: tuple[float, ...]  # median latency of each round: per-round ratios use it

    def as_dict(self) -> dict:
        stats = asdict(self)
        stats["round_mean_ms"] = list(self.round_mean_ms)
        stats["round_p50_ms"] = list(self.round_p50_ms)
        return stats


@dataclass(frozen=True)
class TimedCall:
    """One thing to time: `run()` processes one batch of `batch` windows on `device`.

    around_round: a context manager factory entered around each of this call's rounds
    (e.g. a power sampler that must see only this call's work).
    """

    run: Callable[[], object]
    batch: int
    device: str = "cpu"
    around_round: Callable[[], AbstractContextManager] = nullcontext


def measure_latency(
    run: Callable[[], object],
    batch: int,
    warmup: int = 10,
    iters: int | None = None,
    seconds: float | None = None,
    rounds: int = 3,
    device: str = "cpu",
) -> TimingStats:
    """Time `run()` (one call = one batch of `batch` windows): `measure_interleaved` of one
    call; its error is raised."""
    result = measure_interleaved([TimedCall(run, batch, device)], warmup, iters, seconds, rounds)
    if isinstance(result[0], BaseException):
        raise result[0]
    return result[0]


def measure_interleaved(
    calls: Sequence[TimedCall],
    warmup: int = 10,
    iters: int | None = None,
    seconds: float | None = None,
    rounds: int = 3,
) -> list[TimingStats | Exception]:
    """Time every call in interleaved rounds: round r times calls[0], calls[1], ... in turn,
    so that a change of machine load hits all of them alike.

    `warmup` untimed runs of each call precede the first round. Each round of a call runs
    `iters` iterations, or as many as fit in `seconds` (at least MIN_ITERS_PER_ROUND); with
    both, whichever limit comes first ends it; with neither, DEFAULT_ITERS. Returns, per
    call, its statistics over all its rounds, or the exception that stopped it (that call
    is left out of the later rounds; the others go on).
    """
    if any(call.batch < 1 for call in calls) or rounds < 1 or warmup < 0:
        raise ValueError(f"batch and rounds ({rounds}) must be >= 1, warmup ({warmup}) >= 0")
    if iters is not None and iters < 1:
        raise ValueError(f"iters must be >= 1, got {iters}")
    if seconds is not None and seconds <= 0:
        raise ValueError(f"seconds must be > 0, got {seconds}")
    if iters is None and seconds is None:
        iters = DEFAULT_ITERS
    timings = [_CallTimings(call) for call in calls]
    for timing in timings:
        timing.guard(timing.warm_up, warmup)
    for _ in range(rounds):
        for timing in timings:
            timing.guard(timing.time_round, iters, seconds)
    return [timing.error or timing.summary() for timing in timings]


class _CallTimings:
    """The rounds of one TimedCall so far, or the error that stopped it."""

    def __init__(self, call: TimedCall) -> None:
        self.call = call
        self.cuda_events = call.device.startswith("cuda") and torch.cuda.is_available()
        self.rounds_ms: list[np.ndarray] = []
        self.wall_seconds = 0.0
        self.error: Exception | None = None

    def guard(self, step: Callable, *args) -> None:
        if self.error is not None:
            return
        try:
            step(*args)
        except Exception as error:  # one call's failure must not stop the others
            self.error = error

    def warm_up(self, warmup: int) -> None:
        for _ in range(warmup):
            self.call.run()
        if self.cuda_events:
            torch.cuda.synchronize()

    def time_round(self, iters: int | None, seconds: float | None) -> None:
        time_one_round = _cuda_round if self.cuda_events else _cpu_round
        with self.call.around_round():
            round_start = time.perf_counter()
            round_ms = time_one_round(self.call.run, iters, seconds)
            self.wall_seconds += time.perf_counter() - round_start
        self.rounds_ms.append(round_ms)

    def summary(self) -> TimingStats:
        return _summarise(self.rounds_ms, self.call.batch, self.wall_seconds, self.cuda_events)


def _cpu_round(run: Callable[[], object], iters: int | None, seconds: float | None) -> np.ndarray:
    timings = []
    deadline = None if seconds is None else time.perf_counter() + seconds
    while _keep_going(len(timings), iters, deadline):
        start = time.perf_counter()
        run()
        timings.append(time.perf_counter() - start)
    return np.asarray(timings) * 1000.0


def _cuda_round(run: Callable[[], object], iters: int | None, seconds: float | None) -> np.ndarray:
    events = []
    deadline = None if seconds is None else time.perf_counter() + seconds
    while _keep_going(len(events), iters, deadline):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        run()
        end.record()
        events.append((start, end))
    torch.cuda.synchronize()
    return np.asarray([start.elapsed_time(end) for start, end in events])


def _keep_going(done: int, iters: int | None, deadline: float | None) -> bool:
    if iters is not None and done >= iters:
        return False
    if deadline is not None and done >= MIN_ITERS_PER_ROUND:
        return time.perf_counter() < deadline
    return True


def _summarise(
    latencies_ms: list[np.ndarray], batch: int, wall_seconds: float, cuda_events: bool
) -> TimingStats:
    pooled = np.concatenate(latencies_ms)
    p50, p90, p99 = np.percentile(pooled, [50, 90, 99])
    mean_ms = float(pooled.mean())
    return TimingStats(
        batch=batch,
        iterations=int(pooled.size),
        rounds=len(latencies_ms),
        timer="cuda_events" if cuda_events else "perf_counter",
        mean_ms=mean_ms,
        std_ms=float(pooled.std()),
        min_ms=float(pooled.min()),
        p50_ms=float(p50),
        p90_ms=float(p90),
        p99_ms=float(p99),
        poses_per_s=batch / (mean_ms / 1000.0),
        throughput_poses_per_s=batch * pooled.size / wall_seconds,
        round_mean_ms=tuple(float(r.mean()) for r in latencies_ms),
        round_p50_ms=tuple(float(np.median(r)) for r in latencies_ms),
    )


def phase_stats(samples: list[dict[str, float]], batch: int) -> dict[str, dict]:
    """Per-phase statistics of device times read from CUDA events, one dict per call.

    samples: [{"h2d": ms, "compute": ms, "d2h": ms}, ...] (tensorrt_runner.PHASES) ->
    {"h2d": TimingStats dict, ...}; throughput counts only that phase's own time.
    """
    if not samples:
        raise ValueError("phase_stats needs at least one sample")
    stats = {}
    for phase in samples[0]:
        values = np.asarray([sample[phase] for sample in samples], dtype=np.float64)
        wall_seconds = max(float(values.sum()) / 1000.0, 1e-12)
        stats[phase] = _summarise([values], batch, wall_seconds, cuda_events=True).as_dict()
    return stats


def seconds_per_training_step(task, optimiser: torch.optim.Optimizer, batches: list) -> float:
    """Mean seconds per optimiser step of a training task (`task.loss(batch)` -> (total,
    terms); `task.trainable`) over `batches`: loss, backward, optimiser step."""
    task.trainable.train()
    started = time.perf_counter()
    for batch in batches:
        total, _ = task.loss(batch)
        optimiser.zero_grad(set_to_none=True)
        total.backward()
        optimiser.step()
    return (time.perf_counter() - started) / len(batches)
