"""benchmarks/gpu_check.py in its stand-in mode, so the GPU acceptance script cannot rot."""

from __future__ import annotations

import json

from benchmark_scripts import load_benchmark_script


def test_gpu_check_standin_runs_every_step_and_says_it_is_not_a_gpu(tmp_path):
    gpu_check = load_benchmark_script("gpu_check")
    result = gpu_check.main(["--standin", "--out", str(tmp_path / "work")])
    report = tmp_path / "work" / "gpu_standin.md"
    text = report.read_text()
    assert text.startswith("> **STAND-IN MODE: NOT A GPU MEASUREMENT.")
    assert json.loads(report.with_suffix(".json").read_text())["standin"] is True
    goals = {goal["goal"].split(":")[0]: goal for goal in result["goals"]}
    assert len(goals) == 9 and all(goal["met"] for goal in goals.values()), goals
    dla = next(g for g in result["goals"] if g["goal"].startswith("INT8 DLA engine"))
    assert "INT8 DLA layers" in dla["measured"] and ".calib.cache" in dla["measured"]
    energy = next(g for g in result["goals"] if g["goal"].startswith("energy per pose"))
    assert "VDD_GPU_SOC+VDD_CPU_CV+VIN_SYS_5V0+VDDQ_VDD2_1V8AO" in energy["measured"]
    batches = {(row["variant"], row["batch"]) for row in result["latency"]}
    assert batches == {("engine", 1), ("engine", 64), ("engine+graph", 1), ("engine+graph", 64)}
    assert all(row["gpu_compute_p50_ms"] is not None for row in result["latency"])
