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
from pathlib import Path

import numpy as np
import torch

import scjd_edge

JETSON_RELEASE_FILE = Path("/etc/nv_tegra_release")
DEVICE_TREE_MODEL = Path("/proc/device-tree/model")
THERMAL_DIR = Path("/sys/devices/virtual/thermal")
COMMAND_TIMEOUT_S = 5.0
TEGRASTATS_SECONDS = 2.0


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
        state = "unknown" if jetson["clocks_locked"] is None else "not locked"
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
    clocks = _run(["jetson_clocks", "--show"])
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
    """`jetson_clocks --show`: locked when every clock with MinFreq/MaxFreq has Min == Max."""
    if not text:
        return None
    pairs = re.findall(r"MinFreq=(\d+)\s+MaxFreq=(\d+)", text)
    if not pairs:
        return None
    return all(low == high for low, high in pairs)


def parse_tegrastats_power(line: str | None) -> dict[str, int] | None:
    """Power rails of one tegrastats line -> current mW.

    Rails read 'VDD_IN 5067mW/5067mW' (JetPack 5+) or 'POM_5V_IN 3000/3000' (JetPack 4).
    """
    if not line:
        return None
    rails = re.findall(r"\b((?:VDD|POM)_\w+|VIN_\w+)\s+(\d+)(?:mW)?/(\d+)(?:mW)?", line)
    return {name: int(current) for name, current, _ in rails} or None


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
