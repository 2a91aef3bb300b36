"""benchmarks/quantization.py: the goals are decided from the report's rows."""

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


def _row(precision: str, batch: int, mpjpe: float, p50_ms: float) -> dict:
    return {
        "precision": precision,
        "batch": batch,
        "status": "ok",
        "mpjpe_mm": mpjpe,
        "p_mpjpe_mm": mpjpe * 0.8,
        "model_latency": {"p50_ms": p50_ms, "poses_per_s": batch / p50_ms * 1000},
    }


MANIFEST = {
    "artifacts": [
        {
            "file": "s.onnx",
            "precision": "fp32",
            "status": "ok",
            "size_bytes": 2_000_000,
            "mpjpe_mm": 50.0,
            "mpjpe_delta_mm": 0.0,
            "parity": {"max_abs_error_mm": 0.0004},
        },
        {"file": "s.int8.onnx", "precision": "int8", "status": "failed", "reason": "gate"},
    ]
}


def test_goals_met_and_not_met_follow_the_numbers(quantization_script):
    goals = quantization_script.goals_markdown
    rows = [_row("fp32", 64, 50.0, 10.0), _row("int8", 64, 50.4, 6.0), _row("int8", 1, 90.0, 1.0)]
    text = goals({"rows": rows}, MANIFEST)
    assert "INT8 MPJPE within 0.5 mm of FP32: **met**: 50.00 -> 50.40 mm (+0.40 mm)" in text
    assert (
        "INT8 faster than FP32 at batch 64 (model latency p50): **met**: 10.00 -> 6.00 ms" in text
    )
    assert "`s.int8.onnx` (int8): export failed: gate" in text
    assert "parity max abs error 0.00040 mm" in text
    slower = goals({"rows": [_row("fp32", 64, 50.0, 5.0), _row("int8", 64, 51.0, 6.0)]}, MANIFEST)
    assert (
        "0.5 mm of FP32: **not met**" in slower
        and "batch 64 (model latency p50): **not met**" in slower
    )


def test_missing_rows_are_not_measured(quantization_script):
    text = quantization_script.goals_markdown({"rows": [_row("fp32", 64, 50.0, 5.0)]}, MANIFEST)
    assert "**not measured** (no INT8 row)" in text
