"""The `[video]` extra resolves to wheels on the project's targets: linux x86_64 and
aarch64 (Jetson, JetPack 6: Python 3.10), with a MediaPipe that has the BlazePose model
and no `opencv-python` beside `opencv-contrib-python`. Asks PyPI through `pip download`,
so it is skipped, with the reason, when PyPI cannot be reached."""

from __future__ import annotations

import socket
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib", reason="Python < 3.11 has no tomllib to read pyproject")
markers = pytest.importorskip("packaging.markers", reason="needs packaging (pip's own dependency)")
requirements_module = pytest.importorskip("packaging.requirements")
Requirement = requirements_module.Requirement

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
TARGETS = {
    "x86_64": ("manylinux_2_28_x86_64", "manylinux2014_x86_64"),
    "aarch64": ("manylinux_2_28_aarch64", "manylinux2014_aarch64"),
}
PYTHON = "3.10"


def video_requirements(machine: str) -> list:
    """The extra's requirements that apply on linux `machine` with Python 3.10."""
    extra = tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"]["video"]
    environment = markers.default_environment()
    environment.update(platform_machine=machine, sys_platform="linux", python_version=PYTHON,
                       python_full_version=f"{PYTHON}.0", platform_system="Linux")  # fmt: skip
    requirements = [Requirement(text) for text in extra]
    return [r for r in requirements if r.marker is None or r.marker.evaluate(environment)]


def test_each_target_gets_exactly_one_mediapipe():
    for machine in TARGETS:
        pinned = [str(r.specifier) for r in video_requirements(machine) if r.name == "mediapipe"]
        assert len(pinned) == 1, (machine, pinned)


def pypi_reachable() -> bool:
    try:
        socket.create_connection(("pypi.org", 443), timeout=5).close()
    except OSError:
        return False
    return True


@pytest.mark.parametrize("machine", sorted(TARGETS))
def test_the_video_extra_downloads_as_wheels(machine, tmp_path):
    if not pypi_reachable():
        pytest.skip("offline: PyPI cannot be reached, so pip download cannot check the wheels")
    requirements = [str(r).split(";")[0] for r in video_requirements(machine)]
    platforms = [flag for tag in TARGETS[machine] for flag in ("--platform", tag)]
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:",
               "--no-deps", *platforms, "--python-version", PYTHON, "-d", str(tmp_path),
               *requirements]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    (wheel,) = tmp_path.glob("mediapipe-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = archive.read(next(n for n in names if n.endswith(".dist-info/METADATA")))
    assert "mediapipe/modules/pose_landmark/pose_landmark_full.tflite" in names
    depends = [line for line in metadata.decode().splitlines() if line.startswith("Requires-Dist")]
    assert not any(line.split()[1].startswith("opencv-python") for line in depends), depends
