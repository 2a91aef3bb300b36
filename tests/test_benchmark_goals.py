"""The goal judges of benchmarks/: each goal is met on one side of its threshold only."""

from __future__ import annotations

import pytest
from benchmark_scripts import load_benchmark_script

from scjd_edge.bench.goals import goals_markdown, judged, not_measured


def test_goal_records_and_markdown():
    goals = [judged("fast", 3 > 2, "3x"), not_measured("accurate", "no row")]
    assert goals == [
        {"goal": "fast", "met": True, "measured": "3x"},
        {"goal": "accurate", "met": False, "measured": "not measured: no row"},
    ]
    assert goals_markdown(goals).splitlines()[2:] == [
        "- fast: **met** (3x)",
        "- accurate: **NOT met** (not measured: no row)",
    ]


def _bench_row(kind, backend, precision, poses_per_s, delta_mm, status="ok", variant="eager"):
    # Three interleaved rounds at a steady latency (per-round p50 = 1000 / poses_per_s ms).
    round_p50_ms = [1000.0 / poses_per_s] * 3 if poses_per_s else None
    latency = {"poses_per_s": poses_per_s, "round_p50_ms": round_p50_ms}
    return {
        "model": f"{kind}.{precision}",
        "kind": kind,
        "backend": backend,
        "variant": variant,
        "device": "cpu",
        "batch": 1,
        "precision": precision,
        "status": status,
        "mpjpe_delta_mm": delta_mm,
        "end_to_end_latency": latency,
        "model_latency": latency,
    }


@pytest.mark.parametrize(
    ("student_speed", "int8_delta", "met"), [(1000, 0.5, [True, True]), (999, 1.5, [False, False])]
)
def test_bench_cpu_goals(student_speed, int8_delta, met):
    run_all = load_benchmark_script("run_all")
    rows = [
        _bench_row("teacher", "torch", "fp32", 10, 0.0),  # not like for like: not used
        _bench_row("teacher", "onnxruntime", "fp32", 100, 0.0, variant="CPU EP"),
        _bench_row("student", "onnxruntime", "fp32", student_speed, 0.0, variant="CPU EP"),
        # Faster, but another precision: not used for the speed-up either.
        _bench_row("student", "onnxruntime", "int8", 5000, int8_delta, variant="CPU EP"),
    ]
    goals = run_all.evaluate_goals({"rows": rows})
    assert [goal["met"] for goal in goals] == met
    assert f"{student_speed / 100:.1f}x" in goals[0]["measured"]


def test_bench_cpu_goals_fail_on_failed_rows_and_missing_teacher():
    run_all = load_benchmark_script("run_all")
    rows = [
        _bench_row("student", "onnxruntime", "fp32", 5000, 0.0, variant="CPU EP"),
        _bench_row("student", "onnxruntime", "fp16", 0, None, status="failed", variant="CPU EP"),
    ]
    speed, accuracy = run_all.evaluate_goals({"rows": rows}, export_failures=["int8: refused"])
    assert not speed["met"] and speed["measured"].startswith("not measured")
    assert not accuracy["met"] and "int8: refused" in accuracy["measured"]


def _ablation_row(key, mpjpe, macs_per_output_frame):
    return {
        "key": key,
        "test": {"mpjpe": mpjpe},
        "macs_per_output_frame": macs_per_output_frame,
        "macs_per_delivered_pose": 2 * macs_per_output_frame,
    }


@pytest.mark.parametrize(
    ("student_macs", "scjd_mpjpe", "baseline_mpjpe", "met"),
    [
        (1.0e6, 96.0, 97.0, [True, True, True, True]),  # 1/6 of T, 4 mm gain, beats (i), (j)
        (1.1e6, 98.0, 98.0, [False, False, False, False]),  # 2 mm and 2 %: neither 3 mm nor 10 %
    ],
)
def test_ablation_goals(student_macs, scjd_mpjpe, baseline_mpjpe, met):
    ablation = load_benchmark_script("ablation")
    rows = [
        _ablation_row("T", 70.0, 6.0e6),
        _ablation_row("a", 100.0, student_macs),
        _ablation_row("f", scjd_mpjpe, student_macs),
        _ablation_row("i", baseline_mpjpe, student_macs),
        _ablation_row("j", baseline_mpjpe, student_macs),
    ]
    assert [goal["met"] for goal in ablation.evaluate_goals(rows)] == met


def test_teacher_goal_is_strictly_below_the_threshold():
    teacher_cmu = load_benchmark_script("teacher_cmu")
    limit = teacher_cmu.GOAL_TEST_MPJPE_MM
    assert teacher_cmu.evaluate_goals(limit - 0.1)[0]["met"]
    assert not teacher_cmu.evaluate_goals(limit)[0]["met"]


def test_distill_step_goal_is_the_cached_ratio(tmp_path):
    step_time = load_benchmark_script("distill_step_time")
    args = step_time._parse(["--data", "x", "--out", str(tmp_path), "--steps", "2"])
    plain = [10.0, 20.0, 11.0]  # the load doubled in round 2
    for factor, met in ((1.3, True), (1.31, False)):
        rounds = {"undistilled": plain, "scjd_live": [4 * ms for ms in plain]}
        rounds["scjd_cached"] = [factor * ms for ms in plain]
        report = step_time._report(args, rounds, cold_ms=50.0)
        assert report["goals"][0]["met"] is met
        assert report["ratio_to_undistilled"]["scjd_live"] == pytest.approx(4.0)
        assert "| scjd_cached |" in step_time.render_markdown(report)
