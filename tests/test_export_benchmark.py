"""benchmarks/quantization.py: the goals are decided from the measured numbers."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "quantization.py"


@pytest.fixture(scope="module")
def quantization_script():
    spec = importlib.util.spec_from_file_location("quantization_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _model(test_delta: float, test_deviation: float, val_deviation: float, p50: dict) -> dict:
    """One model's record: test and validation INT8 numbers, timing {batch: (fp32, int8)}."""
    return {
        "test": {"int8": {"mpjpe_delta_mm": test_delta, "joint_deviation_mm": test_deviation}},
        "int8": {
            "validation": {"mpjpe_delta_mm": 0.1, "joint_deviation_mm": val_deviation},
            "target": {"max_mpjpe_drop_mm": 0.5, "max_joint_deviation_mm": 2.0},
        },
        "timing": {
            str(batch): {"median_p50_ms": {"fp32": fp32, "int8": int8}, "speedup": fp32 / int8}
            for batch, (fp32, int8) in p50.items()
        },
    }


def test_goals_met_and_not_met_follow_the_numbers(quantization_script):
    good = _model(-0.4, 1.9, 1.99, {1: (1.0, 0.9), 64: (10.0, 6.0)})
    bad = _model(0.6, 2.1, 2.01, {1: (1.0, 1.1), 64: (10.0, 10.0)})
    goals = quantization_script.goals({"student": good, "teacher": bad})
    verdicts = {goal["goal"]: goal["met"] for goal in goals}
    assert len(verdicts) == 10 and all(set(goal) == {"goal", "met", "measured"} for goal in goals)
    for name, expected in (("student", True), ("teacher", False)):
        mine = [met for goal, met in verdicts.items() if goal.startswith(f"{name}:")]
        assert mine == [expected] * 5, name
    measured = {goal["goal"]: goal["measured"] for goal in goals}
    assert measured["student: |change of test MPJPE| <= 0.5 mm (INT8 vs FP32 ONNX)"] == "-0.400 mm"
    assert measured["teacher: INT8 faster than FP32 on ORT CPU at batch 1"].endswith("(0.91x)")
