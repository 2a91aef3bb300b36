"""Timing honesty: all bench rows timed in interleaved rounds, ratios per round, like for like.

The fake predictors advance a fake clock (timing.time) by latencies the test sets per
round, so the figures are exact and independent of the machine's load.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from benchmark_scripts import load_benchmark_script

from scjd_edge.bench import timing
from scjd_edge.bench.ratios import precision_ratios, speed_ratio
from scjd_edge.bench.report import STATUS_FAILED, read_report
from scjd_edge.bench.runner import RowTiming, Target, time_rows
from scjd_edge.bench.timing import TimedCall, measure_interleaved
from scjd_edge.data.builtin import BUILTIN_CMU
from scjd_edge.io import sha256_file

WARMUP, ITERS, ROUNDS = 1, 2, 3


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(timing, "time", fake)
    return fake


class FakePredictor:
    """Logs each call as "<name>.model" / "<name>.e2e" and takes `latency_ms[round]`."""

    def __init__(self, name, precision, latency_ms, clock, log, fail_at_call=None):
        self.name, self.precision, self.latency_ms = name, precision, latency_ms
        self.clock, self.log, self.fail_at_call = clock, log, fail_at_call
        self.calls = 0

    def prepare(self, windows):
        return windows, np.zeros(len(windows), np.float32), None

    def run_model(self, keypoints_2d, frame_offsets):
        self._call("model")

    def __call__(self, windows):
        self._call("e2e")

    def _call(self, what: str) -> None:
        self.calls += 1
        if self.calls == self.fail_at_call:
            raise RuntimeError(f"{self.name} broke")
        # Calls of one kind: WARMUP untimed, then ITERS per round.
        done = sum(entry == f"{self.name}.{what}" for entry in self.log)
        round_index = max(0, (done - WARMUP) // ITERS)
        self.log.append(f"{self.name}.{what}")
        self.clock.now += self.latency_ms[round_index] / 1000.0


def _row(name: str, precision: str, batch: int = 4, backend: str = "onnxruntime") -> dict:
    return {
        "model": name, "source": "same-checkpoint", "backend": backend, "variant": "CPU EP",
        "device": "cpu", "precision": precision, "batch": batch, "status": "ok", "reason": None,
    }  # fmt: skip


def _timings(predictors: dict[str, FakePredictor]) -> tuple[list[dict], list[RowTiming]]:
    target = Target("onnxruntime", "cpu", "CPU EP")
    windows = np.zeros((4, 9, 17, 2), np.float32)
    rows = [_row(name, predictor.precision) for name, predictor in predictors.items()]
    return rows, [
        RowTiming.of(row, predictor, windows, target)
        for row, predictor in zip(rows, predictors.values(), strict=True)
    ]


SETTINGS = {"warmup": WARMUP, "iters": ITERS, "seconds": None, "rounds": ROUNDS}


def test_rows_are_timed_in_interleaved_rounds_after_a_warm_up_each(clock):
    log: list[str] = []
    fp32 = FakePredictor("A", "fp32", [4.0, 20.0, 4.8], clock, log)
    int8 = FakePredictor("B", "int8", [2.0, 5.0, 4.0], clock, log)
    rows, timings = _timings({"A": fp32, "B": int8})
    time_rows(timings, SETTINGS)

    warm_up = ["A.model", "A.e2e", "B.model", "B.e2e"]
    one_round = [f"{row}.{what}" for row in "AB" for what in ("model", "e2e") for _ in range(ITERS)]
    assert log == warm_up + one_round * ROUNDS
    model = rows[0]["model_latency"]
    assert model["round_p50_ms"] == pytest.approx([4.0, 20.0, 4.8])
    assert model["iterations"] == ROUNDS * ITERS and model["rounds"] == ROUNDS
    assert model["p50_ms"] == pytest.approx(4.8)  # over all rounds: 4, 4, 4.8, 4.8, 20, 20
    assert rows[1]["end_to_end_latency"]["round_p50_ms"] == pytest.approx([2.0, 5.0, 4.0])


def test_speed_ratio_is_the_median_of_per_round_ratios_not_best_of(clock):
    log: list[str] = []
    fp32 = FakePredictor("A", "fp32", [4.0, 20.0, 4.8], clock, log)
    int8 = FakePredictor("B", "int8", [2.0, 5.0, 4.0], clock, log)
    rows, timings = _timings({"A": fp32, "B": int8})
    time_rows(timings, SETTINGS)

    ratios = precision_ratios(rows)
    assert [(ratio["row"], ratio["latency"]) for ratio in ratios] == [
        ("B onnxruntime/CPU EP int8 b4", "model"),
        ("B onnxruntime/CPU EP int8 b4", "end_to_end"),
    ]
    model_ratio = ratios[0]
    assert model_ratio["reference"] == "A onnxruntime/CPU EP fp32 b4"
    assert model_ratio["per_round"] == pytest.approx([2.0, 4.0, 1.2])
    # Median of per-round ratios: 2.0. Best-of (largest round ratio) would say 4.0, and the
    # ratio of pooled p50s 4.8 / 4.0 = 1.2.
    assert model_ratio["median"] == pytest.approx(2.0)
    assert (model_ratio["min"], model_ratio["max"]) == pytest.approx((1.2, 4.0))


def test_speed_ratio_refuses_rows_that_are_not_like_for_like():
    latency = {"round_p50_ms": [1.0, 1.0]}
    fp32 = dict(_row("A", "fp32"), model_latency=latency)
    other_batch = dict(_row("B", "int8", batch=64), model_latency=latency)
    other_backend = dict(_row("C", "int8", backend="torch"), model_latency=latency)
    with pytest.raises(ValueError, match=r"not like for like \(\['batch'\] differ\)"):
        speed_ratio(other_batch, fp32)
    with pytest.raises(ValueError, match=r"not like for like \(\['backend'\] differ\)"):
        speed_ratio(other_backend, fp32)
    fewer_rounds = dict(_row("D", "int8"), model_latency={"round_p50_ms": [1.0]})
    with pytest.raises(ValueError, match="1 vs 2 rounds"):
        speed_ratio(fewer_rounds, fp32)
    assert precision_ratios([fp32, other_batch, other_backend]) == []


def test_a_row_that_fails_while_timed_is_failed_and_the_others_finish(clock):
    log: list[str] = []
    steady = FakePredictor("A", "fp32", [1.0] * ROUNDS, clock, log)
    # B's 4th call (after the two warm-ups): its second timed model call of round 1.
    broken = FakePredictor("B", "int8", [1.0] * ROUNDS, clock, log, fail_at_call=4)
    rows, timings = _timings({"A": steady, "B": broken})
    time_rows(timings, SETTINGS)
    assert rows[0]["model_latency"]["rounds"] == ROUNDS
    assert rows[1]["status"] == STATUS_FAILED
    assert rows[1]["reason"] == "RuntimeError: B broke"
    assert rows[1].get("model_latency") is None
    assert precision_ratios(rows) == []


def test_measure_interleaved_runs_each_round_in_call_order(clock):
    log: list[str] = []

    def call(name: str, milliseconds: float) -> TimedCall:
        def run() -> None:
            log.append(name)
            clock.now += milliseconds / 1000.0

        return TimedCall(run, batch=2)

    stats = measure_interleaved(
        [call("A", 1.0), call("B", 3.0), call("C", 2.0)], warmup=0, iters=1, rounds=2
    )
    assert log == ["A", "B", "C", "A", "B", "C"]
    assert [s.p50_ms for s in stats] == pytest.approx([1.0, 3.0, 2.0])
    assert [s.poses_per_s for s in stats] == pytest.approx([2000.0, 2000.0 / 3, 1000.0])


@pytest.fixture(scope="module")
def run_all_script():
    return load_benchmark_script("run_all")


def _latency(round_p50_ms: list[float]) -> dict:
    return {"round_p50_ms": round_p50_ms, "poses_per_s": 1000.0 / round_p50_ms[0]}


def test_run_all_speedup_goal_is_student_vs_teacher_like_for_like(run_all_script):
    def row(kind, backend, precision, model_ms, e2e_ms):
        return dict(
            _row(f"{kind}.onnx", precision, batch=1, backend=backend),
            kind=kind,
            variant="CPU EP" if backend == "onnxruntime" else "eager",
            model_latency=_latency(model_ms),
            end_to_end_latency=_latency(e2e_ms),
        )

    rows = [
        row("teacher", "torch", "fp32", [100.0] * 3, [100.0] * 3),  # slow, other backend
        row("teacher", "onnxruntime", "fp32", [10.0, 10.0, 10.0], [9.0, 30.0, 12.0]),
        row("student", "onnxruntime", "int8", [0.1] * 3, [0.1] * 3),  # faster, other precision
        row("student", "onnxruntime", "fp32", [1.0, 1.0, 1.0], [1.0, 2.0, 1.5]),
    ]
    goal = run_all_script._speedup_goal(rows)
    # End to end per round 9, 15, 8 -> median 9 (best-of would say 15); neither the torch
    # teacher nor the INT8 student is used.
    assert not goal["met"]
    assert goal["measured"] == (
        "`student.onnx` vs `teacher.onnx`: 9.0x (rounds 8.0x..15.0x; model only: 10.0x)"
    )
    rows[3]["end_to_end_latency"] = _latency([1.0, 1.0, 1.0])
    assert run_all_script._speedup_goal(rows)["met"]
    missing = run_all_script._speedup_goal(rows[:3])
    assert not missing["met"] and missing["measured"].startswith("not measured")


@pytest.mark.slow
def test_run_all_writes_the_report_and_its_manifest(run_all_script, tiny_models, tmp_path):
    out = tmp_path / "results"
    arguments = [
        "--data", BUILTIN_CMU, "--teacher", str(tiny_models.teacher),
        "--student", str(tiny_models.student), "--baseline", str(tiny_models.student),
        "--out", str(out), "--work", str(tmp_path / "work"), "--batch", "1",
        "--iters", "3", "--warmup", "1", "--rounds", "2", "--threads", "1",
        "--eval-windows", "32", "--calib-samples", "32",
    ]  # fmt: skip
    assert run_all_script.main(arguments) == 0
    report = read_report(out / "bench_cpu.json")
    manifest = json.loads((out / "bench_cpu.manifest.json").read_text())
    assert manifest["report"] == "bench_cpu.json"
    assert manifest["checkpoints"]["teacher"]["sha256"] == sha256_file(tiny_models.teacher)
    assert manifest["checkpoints"]["student"]["recipe"]["name"] == "tiny_student"
    artifacts = manifest["checkpoints"]["teacher"]["export_manifest"]["artifacts"]
    assert {artifact["precision"] for artifact in artifacts} >= {"fp32", "fp16", "int8"}
    benchmarked = {Path(entry["path"]).name for entry in manifest["benchmarked_files"]}
    assert {"best.pt", "best.onnx", "best.int8.onnx"} <= benchmarked
    for entry in manifest["benchmarked_files"]:
        assert entry["sha256"] == sha256_file(entry["path"])
    assert set(manifest["data"]["files"]) >= {"data_3d_cmu.npz", "data_2d_cmu_gt.npz"}
    assert len(manifest["load_average"]["end"]) == 3
    assert manifest["machine"] == report["device"]
    assert manifest["goals"] == report["goals"] and len(manifest["goals"]) == 2
    goals = {goal["goal"]: goal for goal in report["goals"]}
    speedup = next(goal for name, goal in goals.items() if name.startswith("SCJD student"))
    assert speedup["measured"].startswith("`student/best.onnx` vs `teacher/best.onnx`: ")
