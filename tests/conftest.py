"""Shared fixtures: where the real CMU data lives.

Set SCJD_DATA_DIR to point elsewhere. Under CI (CI=true) a missing data folder fails the
tests that need it; on a developer machine they are skipped with the reason.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

DEFAULT_CMU_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cmu"


@pytest.fixture(scope="session")
def cmu_data_dir() -> Path:
    path = Path(os.environ.get("SCJD_DATA_DIR", DEFAULT_CMU_DIR))
    if not (path / "data_3d_cmu.npz").is_file():
        message = f"CMU data not found in {path} (set SCJD_DATA_DIR)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path
