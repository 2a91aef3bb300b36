"""Jetson power during timed rounds: recorded tegrastats lines -> mean power and mJ/pose."""

from __future__ import annotations

import sys
import time

import pytest

from scjd_edge.bench import device
from scjd_edge.bench.device import (
    TegrastatsSampler,
    parse_clocks_locked,
    parse_tegrastats_temperatures,
    power_summary,
)

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


# Tegrastats lines in the layouts of JetPack 6 (L4T r36) by module. AGX Orin: as printed on
# an AGX Orin in a public tegrastats log (rails and values copied from it); Orin NX / Nano:
# the VDD_IN layout above with other readings. AGX Orin has no VDD_IN rail.
AGX_ORIN_LINE = (
    "12-01-2026 10:00:00 RAM 9000/62841MB EMC_FREQ 1%@2133 GR3D_FREQ 14%@[407,407] "
    "NVDLA0_FREQ @1600 CPU@77.281C GPU@69.125C tj@77.281C VDD_GPU_SOC 3150mW/2971mW "
    "VDD_CPU_CV 14312mW/12415mW VIN_SYS_5V0 4968mW/5048mW VDDQ_VDD2_1V8AO 1091mW/1091mW"
)
ORIN_NX_LINE = (
    "12-01-2026 10:00:00 RAM 3500/15656MB GR3D_FREQ 0% cpu@45.5C gpu@44C tj@46C "
    "VDD_IN 7210mW/7210mW VDD_CPU_GPU_CV 2010mW/2010mW VDD_SOC 2250mW/2250mW"
)
ORIN_NANO_LINE = (
    "12-01-2026 10:00:00 RAM 2100/7620MB GR3D_FREQ 60% cpu@50C gpu@49.5C tj@51C "
    "VDD_IN 5067mW/5067mW VDD_CPU_GPU_CV 1432mW/1432mW VDD_SOC 1591mW/1591mW"
)


@pytest.mark.parametrize(
    ("line", "rail", "module_mw"),
    [
        (
            AGX_ORIN_LINE,
            "VDD_GPU_SOC+VDD_CPU_CV+VIN_SYS_5V0+VDDQ_VDD2_1V8AO",
            3150 + 14312 + 4968 + 1091,
        ),
        (ORIN_NX_LINE, "VDD_IN", 7210),
        (ORIN_NANO_LINE, "VDD_IN", 5067),
    ],
)
def test_module_power_per_orin_module(line, rail, module_mw):
    summary = power_summary([line], seconds=1.0, poses=100)
    assert summary["rail"] == rail
    assert summary["mean_power_mw"] == pytest.approx(module_mw)
    assert summary["mj_per_pose"] == pytest.approx(module_mw / 100)


def test_agx_orin_energy_is_not_the_5v_io_rail_alone():
    summary = power_summary([AGX_ORIN_LINE], seconds=2.0, poses=10)
    io_rail_only = summary["rails_mean_mw"]["VIN_SYS_5V0"]
    assert summary["mean_power_mw"] > 4 * io_rail_only


# In the format of `sudo jetson_clocks --show` on JetPack 6 after `sudo jetson_clocks` (written
# here, not recorded on a device): CPU and GPU pinned,
# the EMC held at its maximum by FreqOverride=1 while MinFreq stays at the floor.
JETSON_CLOCKS_LOCKED = """SOC family:tegra234  Machine:NVIDIA Jetson AGX Orin Developer Kit
Online CPUs: 0-11
cpu0: Online=1 Governor=schedutil MinFreq=2201600 MaxFreq=2201600 CurrentFreq=2201600
cpu1: Online=1 Governor=schedutil MinFreq=2201600 MaxFreq=2201600 CurrentFreq=2201600
GPU MinFreq=1300500000 MaxFreq=1300500000 CurrentFreq=1300500000
EMC MinFreq=204000000 MaxFreq=3199000000 CurrentFreq=3199000000 FreqOverride=1
NV Power Mode: MAXN"""


def test_clocks_locked_after_jetson_clocks_with_emc_override():
    assert parse_clocks_locked(JETSON_CLOCKS_LOCKED) is True
    unlocked_emc = JETSON_CLOCKS_LOCKED.replace("FreqOverride=1", "FreqOverride=0")
    assert parse_clocks_locked(unlocked_emc) is False
    idle_gpu = JETSON_CLOCKS_LOCKED.replace("GPU MinFreq=1300500000", "GPU MinFreq=306000000")
    assert parse_clocks_locked(idle_gpu) is False


def test_jetson_clocks_show_goes_through_sudo_without_a_prompt(monkeypatch):
    commands = []
    monkeypatch.setattr(device.os, "geteuid", lambda: 1000)
    monkeypatch.setattr(device.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(device, "_run", lambda command: commands.append(command))
    device._jetson_clocks_show()
    monkeypatch.setattr(device.os, "geteuid", lambda: 0)
    device._jetson_clocks_show()
    assert commands == [["sudo", "-n", "jetson_clocks", "--show"], ["jetson_clocks", "--show"]]


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
