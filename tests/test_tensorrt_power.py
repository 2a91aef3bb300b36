"""Jetson power during timed rounds: recorded tegrastats lines -> mean power and mJ/pose."""

from __future__ import annotations

import sys
import time

import pytest

from scjd_edge.bench.device import TegrastatsSampler, parse_tegrastats_temperatures, power_summary

# Recorded format of JetPack 6 (Orin): whole-module rail VDD_IN first.
ORIN_LINES = [
    "12-01-2026 10:00:00 RAM 3012/7620MB CPU [5%@1510] GR3D_FREQ 40% cpu@47.5C gpu@45.1C "
    "tj@48C VDD_IN 6000mW/6000mW VDD_CPU_GPU_CV 1200mW/1200mW VDD_SOC 1500mW/1500mW",
    "12-01-2026 10:00:01 RAM 3012/7620MB CPU [9%@1510] GR3D_FREQ 99% cpu@48.0C gpu@46.9C "
    "tj@49C VDD_IN 8000mW/7000mW VDD_CPU_GPU_CV 2800mW/2000mW VDD_SOC 1700mW/1600mW",
]


def test_power_summary_of_recorded_orin_lines():
    summary = power_summary(ORIN_LINES, seconds=2.0, poses=400)
    assert summary["rail"] == "VDD_IN" and summary["samples"] == 2
    assert summary["mean_power_mw"] == pytest.approx(7000.0)  # current readings 6000, 8000
    assert summary["energy_mj"] == pytest.approx(14000.0)  # 7 W x 2 s
    assert summary["mj_per_pose"] == pytest.approx(35.0)
    assert summary["rails_mean_mw"]["VDD_CPU_GPU_CV"] == pytest.approx(2000.0)
    assert summary["max_temperatures_c"] == {"cpu": 48.0, "gpu": 46.9, "tj": 49.0}


def test_power_summary_without_rails_or_poses_is_none():
    assert power_summary(["RAM 3012/7620MB cpu@40C"], seconds=1.0, poses=10) is None
    assert power_summary(ORIN_LINES, seconds=1.0, poses=0) is None


def test_rails_are_summed_when_no_total_rail_is_known():
    summary = power_summary(["VDD_GPU 300/300 VDD_CPU 500/500"], seconds=1.0, poses=1)
    assert summary["rail"] == "sum of rails" and summary["mean_power_mw"] == 800.0


def test_temperatures_are_parsed_per_sensor():
    assert parse_tegrastats_temperatures(ORIN_LINES[0]) == {"cpu": 47.5, "gpu": 45.1, "tj": 48.0}


def test_sampler_streams_lines_while_the_block_runs():
    script = (
        "import sys, time\nfor line in sys.argv[1:]:\n    print(line, flush=True)\ntime.sleep(30)"
    )
    sampler = TegrastatsSampler([sys.executable, "-c", script, *ORIN_LINES])
    deadline = time.monotonic() + 20.0
    with sampler:
        while len(sampler.lines) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    assert sampler.lines == ORIN_LINES and sampler.seconds > 0
    assert sampler.summary(poses=10)["mean_power_mw"] == pytest.approx(7000.0)
