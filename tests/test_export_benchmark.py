"""benchmarks/quantization.py: the goals are decided from the measured numbers."""

from __future__ import annotations

import pytest
from benchmark_scripts import load_benchmark_script


@pytest.fixture(scope="module")
def quantization_script():
    return load_benchmark_script("quantization")


def _speedup(per_round: list[float]) -> dict:
    return {
        "per_round": per_round,
        "median": sorted(per_round)[1],
        "min": min(per_round),
        "max": max(per_round),
    }


def _model(test_delta: float, test_deviation: float, val_deviation: float, p50: dict) -> dict:
    """One model's record: the same test and validation numbers for both INT8 files (QDQ and
    CPU form), timing {batch: (fp32 p50, CPU form per-round speed-ups)}; the QDQ file's
    speed-ups are those divided by 1.5."""
    test = {"mpjpe_delta_mm": test_delta, "joint_deviation_mm": test_deviation}
    validation = {"mpjpe_delta_mm": 0.1, "joint_deviation_mm": val_deviation}
    return {
        "test": {"int8": test, "cpu_int8": test},
        "int8": {
            "validation": validation,
            "target": {"max_mpjpe_drop_mm": 0.5, "max_joint_deviation_mm": 2.0},
        },
        "cpu_int8": {"validation": validation},
        "timing": {
            str(batch): {
                "stats": {
                    "fp32": {"p50_ms": fp32},
                    "int8": {"p50_ms": 1.5 * fp32 / sorted(ratios)[1]},
                    "cpu_int8": {"p50_ms": fp32 / sorted(ratios)[1]},
                },
                "speedup": {
                    "int8": _speedup([ratio / 1.5 for ratio in ratios]),
                    "cpu_int8": _speedup(ratios),
                },
            }
            for batch, (fp32, ratios) in p50.items()
        },
    }


def test_goals_met_and_not_met_follow_the_numbers(quantization_script):
    # Speed is judged on the median of the per-round ratios, not on the best round.
    good = _model(-0.4, 1.9, 1.99, {1: (1.0, [0.9, 1.02, 1.3]), 64: (10.0, [1.5, 1.6, 1.7])})
    bad = _model(0.6, 2.1, 2.01, {1: (1.0, [0.9, 0.91, 1.4]), 64: (10.0, [0.8, 1.0, 1.2])})
    goals = quantization_script.goals({"student": good, "teacher": bad})
    verdicts = {goal["goal"]: goal["met"] for goal in goals}
    assert len(verdicts) == 16 and all(set(goal) == {"goal", "met", "measured"} for goal in goals)
    for name, expected in (("student", True), ("teacher", False)):
        mine = [met for goal, met in verdicts.items() if goal.startswith(f"{name}:")]
        assert mine == [expected] * 8, name
    measured = {goal["goal"]: goal["measured"] for goal in goals}
    change = "|change of test MPJPE| <= 0.5 mm (vs FP32 ONNX)"
    assert measured[f"student: INT8 CPU form: {change}"] == "-0.400 mm"
    assert measured[f"student: INT8 QDQ: {change}"] == "-0.400 mm"
    faster = (
        "INT8 (CPU form) faster than FP32 on ORT CPU at batch {} "
        "(median of per-round speed-ups > 1)"
    )
    assert measured["teacher: " + faster.format(1)] == (
        "0.910x (rounds 0.90-1.40x; p50 1.000 -> 1.099 ms; QDQ file 0.607x)"
    )
    assert measured["teacher: " + faster.format(64)].startswith("1.000x")  # a tie is not faster
