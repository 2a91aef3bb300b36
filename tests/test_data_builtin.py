"""builtin:cmu: the real CMU data shipped in the package, its 2D computed and cached."""

from __future__ import annotations

import json

import numpy as np
from typer.testing import CliRunner

from scjd_edge.cli import app
from scjd_edge.data.builtin import (
    BUILTIN_CMU,
    CMU_FILES,
    CMU_PACKAGE_DIR,
    CMU_POSITION_QUANTUM_M,
    CMU_SPLIT,
    cmu_folder,
    cmu_positions_3d,
    pack_cmu_positions,
)
from scjd_edge.data.cache import STAMP_FILE, cached_folder
from scjd_edge.data.formats import load_dataset
from scjd_edge.data.npz import read_npz, read_npz_dict

MAX_PACKAGE_BYTES = 12_000_000  # the budget for CMU v2 inside the wheel


def test_the_package_data_fits_its_budget_and_holds_no_pickles():
    assert sum((CMU_PACKAGE_DIR / name).stat().st_size for name in CMU_FILES) <= MAX_PACKAGE_BYTES
    with np.load(CMU_PACKAGE_DIR / "positions_3d.npz", allow_pickle=False) as archive:
        dtypes = {archive[key].dtype for key in archive.files}
    assert dtypes == {np.dtype(np.int32)}
    assert "mocap.cs.cmu.edu" in (CMU_PACKAGE_DIR / "README.md").read_text()
    clips = json.loads((CMU_PACKAGE_DIR / "clips.json").read_text())["clips"]
    shipped = cmu_positions_3d()
    assert {s: sorted(a) for s, a in clips.items()} == {s: sorted(a) for s, a in shipped.items()}


def test_shipped_3d_is_the_shared_cmu_v2_within_its_stated_error(cmu_data_dir):
    expected_3d = read_npz_dict(cmu_data_dir / "data_3d_cmu.npz", "positions_3d")
    shipped = cmu_positions_3d()
    assert {s: sorted(a) for s, a in shipped.items()} == {
        s: sorted(a) for s, a in expected_3d.items()
    }
    worst_m = max(
        float(np.abs(shipped[subject][action].astype(np.float64) - pose).max())
        for subject, actions in expected_3d.items()
        for action, pose in actions.items()
    )
    # Rounding to the quantum, plus float32 decoding: the README states 0.0051 mm.
    assert worst_m <= 0.51 * CMU_POSITION_QUANTUM_M


def test_packing_round_trips_to_the_quantum(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    poses = {"S": {"Walk 1": rng.uniform(-3, 3, (50, 17, 3)).astype(np.float32)}}
    pack_cmu_positions(poses, tmp_path / "positions_3d.npz")
    monkeypatch.setattr("scjd_edge.data.builtin.CMU_PACKAGE_DIR", tmp_path)
    decoded = cmu_positions_3d()["S"]["Walk 1"]
    assert np.abs(decoded - poses["S"]["Walk 1"]).max() <= 0.51 * CMU_POSITION_QUANTUM_M


def test_a_folder_of_3d_and_cameras_loads_with_its_2d_projected_and_cached(
    cmu_data_dir, tmp_path, monkeypatch
):
    monkeypatch.setenv("SCJD_CACHE_DIR", str(tmp_path))
    assert not list(cmu_data_dir.glob("data_2d_*.npz"))  # CMU v2 ships no 2D file
    dataset = load_dataset(cmu_data_dir)
    builtin = load_dataset(BUILTIN_CMU)
    assert dataset.subjects() == builtin.subjects() and len(dataset.subjects()) == 15
    cached = list(tmp_path.glob("projected-data_3d_cmu-*/positions_2d.npz"))
    assert len(cached) == 1
    written = cached[0].stat().st_mtime_ns
    again = load_dataset(cmu_data_dir)
    assert cached[0].stat().st_mtime_ns == written  # read, not recomputed
    pairs = zip(dataset.sequences, again.sequences, builtin.sequences, strict=True)
    for first, second, shipped in pairs:
        assert (first.subject, first.action, first.camera) == (
            shipped.subject,
            shipped.action,
            shipped.camera,
        )
        np.testing.assert_array_equal(first.keypoints_2d, second.keypoints_2d)
        # The shipped 3D is within 0.005 mm of the shared 3D: its 2D within a few 1e-3 px.
        pixels = np.abs(first.keypoints_2d - shipped.keypoints_2d).max() * first.res_w / 2
        assert pixels < 0.02


def test_the_cache_is_built_once_and_rebuilt_when_damaged(tmp_path, monkeypatch):
    monkeypatch.setenv("SCJD_CACHE_DIR", str(tmp_path))
    dataset = load_dataset(BUILTIN_CMU)
    assert dataset.source == BUILTIN_CMU and not dataset.synthetic
    (folder,) = tmp_path.glob("cmu-*")
    written = (folder / "data_2d_cmu_gt.npz").stat().st_mtime_ns
    assert cmu_folder() == folder
    assert (folder / "data_2d_cmu_gt.npz").stat().st_mtime_ns == written
    stamp = json.loads((folder / STAMP_FILE).read_text())
    (folder / STAMP_FILE).write_text("{")  # a damaged stamp
    assert cmu_folder() == folder
    assert json.loads((folder / STAMP_FILE).read_text()) == stamp
    assert not [path for path in tmp_path.iterdir() if path.name.startswith(".")]


def test_other_package_data_gets_its_own_cache_folder(tmp_path, monkeypatch):
    """Two versions of the package (two environments) never rebuild each other's data."""
    monkeypatch.setenv("SCJD_CACHE_DIR", str(tmp_path))
    ours = cached_folder("cmu", {"format_version": 2}, lambda out: (out / "a").write_text("2"))
    other = cached_folder("cmu", {"format_version": 1}, lambda out: (out / "a").write_text("1"))
    assert ours != other and (ours / "a").read_text() == "2" and (other / "a").read_text() == "1"
    again = cached_folder("cmu", {"format_version": 2}, lambda out: 1 / 0)  # not rebuilt
    assert again == ours


def test_the_cached_2d_file_is_written_without_code_objects():
    metadata = read_npz(cmu_folder() / "data_2d_cmu_gt.npz", ["metadata"])["metadata"]
    assert metadata["split"] == CMU_SPLIT and "mocap.cs.cmu.edu" in metadata["acknowledgement"]


def test_data_info_shows_subjects_split_source_and_acknowledgement():
    result = CliRunner().invoke(app, ["data", "info", BUILTIN_CMU])
    assert result.exit_code == 0, result.output
    for subject in ("CMU01", "CMU02", "CMU49", "CMU105"):
        assert f"│ {subject} " in result.output
    text = " ".join(result.output.split())  # rich wraps lines
    assert "50 frames/s" in text
    split = (
        "train CMU01, CMU05, CMU07, CMU08, CMU10, CMU13, CMU93, CMU102, CMU105; "
        "validation CMU02, CMU03, CMU55; test CMU09, CMU14, CMU49"
    )
    assert f"split (by subject): {split}" in text
    assert "source: CMU Graphics Lab Motion Capture Database (mocap.cs.cmu.edu)" in text
    assert "The database was created with funding from NSF EIA-0196217." in text


def test_an_unknown_builtin_name_is_one_clear_line():
    result = CliRunner().invoke(app, ["data", "info", "builtin:h36m"])
    assert result.exit_code == 2
    assert "builtin:h36m: no such built-in data set (known: builtin:cmu, builtin:synthetic)" in (
        " ".join(result.output.split())
    )
