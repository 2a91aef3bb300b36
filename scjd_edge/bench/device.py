"""What the benchmark ran on: CPU, library versions, GPU and, on Jetson, power mode and clocks.

Every probe tolerates absence (a missing file, command or library gives None), and each
external command runs with a timeout, so the report works on any Linux, macOS or Jetson.
"""

from __future__ import annotations

import importlib
import os
import platform
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import torch

import scjd_edge

JETSON_RELEASE_FILE = Path("/etc/nv_tegra_release")
DEVICE_TREE_MODEL = Path("/proc/device-tree/model")
THERMAL_DIR = Path("/sys/devices/virtual/thermal")
COMMAND_TIMEOUT_S = 5.0
TEGRASTATS_SECONDS = 2.0
TEGRASTATS_INTERVAL_MS = 100
# Whole-module input rail (Orin NX / Orin Nano / Xavier NX: VDD_IN; Nano / TX2: POM_5V_IN).
TOTAL_POWER_RAILS = ("VDD_IN", "POM_5V_IN")
# Jetson AGX Orin has no whole-module rail: its two INA3221 monitors read the GPU+SoC,
# CPU+CV, system 5 V and DDR rails (VIN_SYS_5V0 alone is only the 5 V IO rail), so the
# module power is their sum, which leaves out regulator losses.
AGX_ORIN_RAILS = ("VDD_GPU_SOC", "VDD_CPU_CV", "VIN_SYS_5V0", "VDDQ_VDD2_1V8AO")
POWER_CONVENTION = (
    "tegrastats power rails sampled every {interval} ms during the timed rounds of the model "
    "latency; mean_power_mw is the mean of the `rail` readings (whole module, idle power "
    "included; on AGX Orin the sum of its monitored rails); energy_mj = mean power x wall "
    "time of the rounds; mj_per_pose = energy / poses computed in those rounds"
)
JETSON_CLOCKS_SHOW = ["jetson_clocks", "--show"]


def device_report() -> dict:
    """A JSON-ready description of this machine and its software stack, plus `warnings`."""
    report = {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "cpu": cpu_info(),
        "load_average_1m": _load_average(),
        "versions": library_versions(),
        "onnxruntime_providers": _onnxruntime_providers(),
        "gpu": gpu_info(),
        "jetson": jetson_info(),
        "warnings": [],
    }
    report["summary"] = describe_device(report)
    jetson = report["jetson"]
    if jetson is not None and jetson["clocks_locked"] is not True:
        state = (
            "unknown (`jetson_clocks --show` needs root: run as root or allow "
            "`sudo -n jetson_clocks --show`)"
            if jetson["clocks_locked"] is None
            else "not locked"
        )
        report["warnings"].append(
            f"Jetson clocks {state}: run `sudo jetson_clocks` (and pick the nvpmodel mode) "
            "before benchmarking, or latencies vary with DVFS"
        )
    return report


def describe_device(report: dict) -> str:
    """One line for table captions: CPU (and GPU / Jetson) and thread count."""
    cpu = report["cpu"]
    text = (
        f"{cpu['model']} ({cpu['available_cores']} cores available, "
        f"torch threads {cpu['torch_threads']})"
    )
    if report["gpu"]:
        text += f"; GPU {report['gpu']['name']}"
    if report["jetson"]:
        jetson = report["jetson"]
        text += f"; {jetson['model']} L4T {jetson['l4t']} power mode {jetson['power_mode']}"
    return text


def cpu_info() -> dict:
    return {
        "model": _cpu_model(),
        "logical_cores": os.cpu_count(),
        "physical_cores": _physical_cores(),
        "available_cores": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "governor": _read_text(Path("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor")),
    }


def library_versions() -> dict:
    return {
        "scjd_edge": scjd_edge.__version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "onnx": _module_version("onnx"),
        "onnxruntime": _module_version("onnxruntime"),
        "tensorrt": _module_version("tensorrt"),
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.cuda.is_available() else None,
    }


def gpu_info() -> dict | None:
    if not torch.cuda.is_available():
        return None
    properties = torch.cuda.get_device_properties(0)
    return {
        "name": properties.name,
        "count": torch.cuda.device_count(),
        "compute_capability": f"{properties.major}.{properties.minor}",
        "memory_gb": round(properties.total_memory / 1024**3, 2),
    }


def jetson_info() -> dict | None:
    """Model, L4T, power mode, clock lock, temperatures (deg C) and power rails (mW)."""
    release = _read_text(JETSON_RELEASE_FILE)
    if release is None:
        return None
    clocks = _jetson_clocks_show()
    return {
        "model": _read_text(DEVICE_TREE_MODEL),
        "l4t": parse_l4t_release(release),
        "jetpack": _jetpack_version(),
        "power_mode": parse_nvpmodel(_run(["nvpmodel", "-q"])),
        "clocks_locked": parse_clocks_locked(clocks),
        "temperatures_c": thermal_zones(),
        "power_mw": parse_tegrastats_power(_tegrastats_line()),
    }


def parse_l4t_release(text: str) -> str | None:
    """'# R35 (release), REVISION: 4.1, ...' -> '35.4.1'."""
    match = re.search(r"R(\d+)\s*\(release\),\s*REVISION:\s*([\d.]+)", text)
    return f"{match.group(1)}.{match.group(2)}" if match else None


def parse_nvpmodel(text: str | None) -> str | None:
    """`nvpmodel -q` output ('NV Power Mode: MAXN\\n0') -> 'MAXN (0)'."""
    if not text:
        return None
    match = re.search(r"NV Power Mode:\s*(\S+)\s*(\d+)?", text)
    if not match:
        return None
    return f"{match.group(1)} ({match.group(2)})" if match.group(2) else match.group(1)


def parse_clocks_locked(text: str | None) -> bool | None:
    """`jetson_clocks --show`: are the CPU cores, the GPU and the memory (EMC) at their maximum?

    A clock is locked when MinFreq == MaxFreq, or (the EMC after jetson_clocks) when
    `FreqOverride=1` holds it at CurrentFreq == MaxFreq while MinFreq stays lower.
    """
    if not text:
        return None
    lines = [
        line
        for line in text.splitlines()
        if re.match(r"\s*(cpu\d+|GPU|EMC)\b", line, flags=re.IGNORECASE) and "MaxFreq=" in line
    ]
    if not lines:
        return None
    return all(_clock_locked(line) for line in lines)


def _clock_locked(line: str) -> bool:
    fields = dict(re.findall(r"(\w+)=(\d+)", line))
    if fields.get("MinFreq") == fields.get("MaxFreq"):
        return True
    return fields.get("FreqOverride") == "1" and fields.get("CurrentFreq") == fields.get("MaxFreq")


def _jetson_clocks_show() -> str | None:
    """`jetson_clocks --show` needs root: run as is when root, else through `sudo -n`
    (no password prompt; None when sudo would ask)."""
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return _run(JETSON_CLOCKS_SHOW)
    if shutil.which("jetson_clocks") is None:
        return None
    return _run(["sudo", "-n", *JETSON_CLOCKS_SHOW])


def parse_tegrastats_power(line: str | None) -> dict[str, int] | None:
    """Power rails of one tegrastats line -> current mW.

    Rails read 'VDD_IN 5067mW/5067mW' (JetPack 5+) or 'POM_5V_IN 3000/3000' (JetPack 4).
    """
    if not line:
        return None
    rails = re.findall(r"\b((?:VDDQ?|POM|VIN)_\w+)\s+(\d+)(?:mW)?/(\d+)(?:mW)?", line)
    return {name: int(current) for name, current, _ in rails} or None


def parse_tegrastats_temperatures(line: str | None) -> dict[str, float] | None:
    """'cpu@47.5C gpu@45C tj@48.1C' -> {'cpu': 47.5, 'gpu': 45.0, 'tj': 48.1} (deg C)."""
    found = re.findall(r"\b(\w+)@(-?[\d.]+)C\b", line or "")
    return {name: float(value) for name, value in found} or None


def power_summary(lines: list[str], seconds: float, poses: int) -> dict | None:
    """Mean power, energy and mJ per pose from tegrastats lines recorded over `seconds`.

    None when no line carries a power rail (not a Jetson, or tegrastats printed nothing).
    """
    readings = [r for r in map(parse_tegrastats_power, lines) if r]
    if not readings or seconds <= 0 or poses < 1:
        return None
    rail, totals = _module_power(readings)
    mean_mw = float(np.mean(totals))
    temperatures = [t for t in map(parse_tegrastats_temperatures, lines) if t]
    energy_mj = mean_mw * seconds  # mW x s = mJ
    return {
        "source": "tegrastats",
        "samples": len(readings),
        "seconds": seconds,
        "rail": rail,
        "mean_power_mw": mean_mw,
        "rails_mean_mw": {
            name: float(np.mean([r[name] for r in readings if name in r])) for name in readings[0]
        },
        "energy_mj": energy_mj,
        "poses": poses,
        "mj_per_pose": energy_mj / poses,
        "max_temperatures_c": {
            name: max(t[name] for t in temperatures if name in t) for name in temperatures[0]
        }
        if temperatures
        else None,
        "convention": POWER_CONVENTION.format(interval=TEGRASTATS_INTERVAL_MS),
    }


def _module_power(readings: list[dict[str, int]]) -> tuple[str, list[int]]:
    """(what the total is, module power in mW per reading)."""
    rail = next((name for name in TOTAL_POWER_RAILS if name in readings[0]), None)
    if rail:
        return rail, [r.get(rail, 0) for r in readings]
    agx_orin = [name for name in AGX_ORIN_RAILS if name in readings[0]]
    if "VDD_GPU_SOC" in agx_orin:
        return "+".join(agx_orin), [sum(r.get(name, 0) for name in agx_orin) for r in readings]
    return "sum of rails", [sum(r.values()) for r in readings]


class TegrastatsSampler:
    """Streams tegrastats lines while the `with` block runs; `summary(poses)` afterwards.

    Entered again (one `with` per timing round), it adds the new lines and seconds."""

    def __init__(self, command: list[str] | None = None) -> None:
        self.command = command or ["tegrastats", "--interval", str(TEGRASTATS_INTERVAL_MS)]
        self.lines: list[str] = []
        self.seconds = 0.0

    def __enter__(self) -> TegrastatsSampler:
        self._process = subprocess.Popen(
            self.command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._started = time.perf_counter()
        return self

    def _read(self) -> None:
        for line in self._process.stdout:
            if line.strip():
                self.lines.append(line.strip())

    def __exit__(self, *exc_info: object) -> None:
        self.seconds += time.perf_counter() - self._started
        self._process.terminate()
        try:
            self._process.wait(timeout=COMMAND_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self._process.kill()
        self._reader.join(timeout=COMMAND_TIMEOUT_S)

    def summary(self, poses: int) -> dict | None:
        return power_summary(self.lines, self.seconds, poses)


def power_sampler() -> TegrastatsSampler | None:
    """A tegrastats sampler on a Jetson (tegrastats on PATH), else None."""
    return TegrastatsSampler() if shutil.which("tegrastats") else None


def thermal_zones() -> dict[str, float] | None:
    """Thermal zone name -> temperature in deg C, from /sys/devices/virtual/thermal."""
    temperatures = {}
    for zone in sorted(THERMAL_DIR.glob("thermal_zone*")):
        name, millidegrees = _read_text(zone / "type"), _read_text(zone / "temp")
        if name and millidegrees and millidegrees.lstrip("-").isdigit():
            temperatures[name] = int(millidegrees) / 1000.0
    return temperatures or None


def _cpu_model() -> str:
    cpuinfo = _read_text(Path("/proc/cpuinfo")) or ""
    for key in ("model name", "Hardware", "Model"):
        match = re.search(rf"^{key}\s*:\s*(.+)$", cpuinfo, flags=re.MULTILINE)
        if match:
            return match.group(1).strip()
    if platform.system() == "Darwin":
        brand = _run(["sysctl", "-n", "machdep.cpu.brand_string"])
        if brand:
            return brand.strip()
    return platform.processor() or platform.machine() or "unknown CPU"


def _physical_cores() -> int | None:
    cpuinfo = _read_text(Path("/proc/cpuinfo")) or ""
    cores = {
        (physical, core)
        for physical, core in re.findall(
            r"physical id\s*:\s*(\d+).*?core id\s*:\s*(\d+)", cpuinfo, flags=re.DOTALL
        )
    }
    return len(cores) or None


def _load_average() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def _onnxruntime_providers() -> list[str]:
    try:
        import onnxruntime
    except ImportError:
        return []
    return list(onnxruntime.get_available_providers())


def _module_version(name: str) -> str | None:
    try:
        return getattr(importlib.import_module(name), "__version__", "unknown")
    except Exception:  # an optional library that is absent or broken is simply not reported
        return None


def _jetpack_version() -> str | None:
    text = _run(["dpkg-query", "--showformat=${Version}", "--show", "nvidia-jetpack"])
    return text.strip() if text else None


def _tegrastats_line() -> str | None:
    """First report line of tegrastats, which runs until killed: bounded by TEGRASTATS_SECONDS."""
    if shutil.which("tegrastats") is None:
        return None
    try:
        subprocess.run(
            ["tegrastats", "--interval", "500"],
            capture_output=True,
            timeout=TEGRASTATS_SECONDS,
            check=False,
        )
        return None
    except subprocess.TimeoutExpired as stopped:
        output = stopped.stdout or b""
    except (OSError, subprocess.SubprocessError):
        return None
    text = output.decode(errors="replace") if isinstance(output, bytes) else output
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[0] if lines else None


def _run(command: list[str]) -> str | None:
    if shutil.which(command[0]) is None:
        return None
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout if result.returncode == 0 else None


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip("\x00\n ")
    except OSError:
        return None
