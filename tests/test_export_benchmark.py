"""benchmarks/quantization.py: the goals are decided from the measured numbers."""

from __future__ import annotations

import pytest
from benchmark_scripts import load_benchmark_script


@pytest.fixture(scope="module")
def quantization_script():
    return load_benchmark_script("quantization")


def _model(test_delta: float, test_deviation: float, val_deviation: float, p50: dict) -> dict:
    """One model's record: the same test and validation numbers for both INT8 files (QDQ and
    CPU form), timing {batch: (fp32, CPU form)}; the QDQ file is timed 1.5x slower."""
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
                "median_p50_ms": {"fp32": fp32, "int8": 1.5 * cpu, "cpu_int8": cpu},
                "speedup": {"int8": fp32 / (1.5 * cpu), "cpu_int8": fp32 / cpu},
            }
            for batch, (fp32, cpu) in p50.items()
        },
    }


def test_goals_met_and_not_met_follow_the_numbers(quantization_script):
    good = _model(-0.4, 1.9, 1.99, {1: (1.0, 0.9), 64: (10.0, 6.0)})
    bad = _model(0.6, 2.1, 2.01, {1: (1.0, 1.1), 64: (10.0, 10.0)})
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
    assert measured["teacher: INT8 (CPU form) faster than FP32 on ORT CPU at batch 1"].endswith(
        "(0.91x; QDQ file 0.61x)"
    )
