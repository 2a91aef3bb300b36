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
    CMU_SPLIT,
    STAMP_FILE,
    cmu_folder,
    cmu_positions_3d,
)
from scjd_edge.data.formats import load_dataset
from scjd_edge.data.npz import read_npz, read_npz_dict

MAX_PACKAGE_BYTES = 3_000_000


def test_the_package_data_is_small_and_holds_no_pickles():
    assert sum((CMU_PACKAGE_DIR / name).stat().st_size for name in CMU_FILES) <= MAX_PACKAGE_BYTES
    with np.load(CMU_PACKAGE_DIR / "positions_3d.npz", allow_pickle=False) as archive:
        dtypes = {archive[key].dtype for key in archive.files}
    assert dtypes == {np.dtype(np.float32)}
    assert "mocap.cs.cmu.edu" in (CMU_PACKAGE_DIR / "README.md").read_text()
    clips = json.loads((CMU_PACKAGE_DIR / "clips.json").read_text())["clips"]
    shipped = cmu_positions_3d()
    assert {s: sorted(a) for s, a in clips.items()} == {s: sorted(a) for s, a in shipped.items()}


def test_shipped_3d_and_computed_2d_equal_the_shared_cmu_files(cmu_data_dir):
    expected_3d = read_npz_dict(cmu_data_dir / "data_3d_cmu.npz", "positions_3d")
    expected_2d = read_npz_dict(cmu_data_dir / "data_2d_cmu_gt.npz", "positions_2d")
    folder = cmu_folder()
    cached_3d = read_npz_dict(folder / "data_3d_cmu.npz", "positions_3d")
    cached_2d = read_npz_dict(folder / "data_2d_cmu_gt.npz", "positions_2d")
    assert sorted(cached_2d) == sorted(expected_2d)
    worst_px = 0.0
    for subject, actions in expected_3d.items():
        assert sorted(actions) == sorted(cached_3d[subject])
        for action, pose in actions.items():
            np.testing.assert_array_equal(cached_3d[subject][action], pose)
            for ours, theirs in zip(
                cached_2d[subject][action], expected_2d[subject][action], strict=True
            ):
                worst_px = max(worst_px, float(np.abs(ours - theirs).max()))
    assert worst_px < 1e-3


def test_the_cache_is_built_once_and_rebuilt_when_its_stamp_differs(tmp_path, monkeypatch):
    monkeypatch.setenv("SCJD_CACHE_DIR", str(tmp_path))
    dataset = load_dataset(BUILTIN_CMU)
    assert dataset.source == BUILTIN_CMU and not dataset.synthetic
    folder = tmp_path / "cmu"
    written = (folder / "data_2d_cmu_gt.npz").stat().st_mtime_ns
    assert cmu_folder() == folder
    assert (folder / "data_2d_cmu_gt.npz").stat().st_mtime_ns == written
    stamp = json.loads((folder / STAMP_FILE).read_text())
    stamp["format_version"] = -1  # as if written by another version of the package
    (folder / STAMP_FILE).write_text(json.dumps(stamp))
    cmu_folder()
    assert json.loads((folder / STAMP_FILE).read_text())["format_version"] != -1
    assert not [path for path in tmp_path.iterdir() if path.name.startswith(".")]


def test_the_cached_2d_file_is_written_without_code_objects():
    metadata = read_npz(cmu_folder() / "data_2d_cmu_gt.npz", ["metadata"])["metadata"]
    assert metadata["split"] == CMU_SPLIT and "mocap.cs.cmu.edu" in metadata["acknowledgement"]


def test_data_info_shows_subjects_split_source_and_acknowledgement():
    result = CliRunner().invoke(app, ["data", "info", BUILTIN_CMU])
    assert result.exit_code == 0, result.output
    for subject in ("CMU01", "CMU02", "CMU102"):
        assert f"│ {subject} " in result.output
    text = " ".join(result.output.split())  # rich wraps lines
    assert "50 frames/s" in text
    split = "train CMU02, CMU05, CMU07; validation CMU03, CMU102; test CMU01"
    assert f"split (by subject): {split}" in text
    assert "source: CMU Graphics Lab Motion Capture Database (mocap.cs.cmu.edu)" in text
    assert "The database was created with funding from NSF EIA-0196217." in text


def test_an_unknown_builtin_name_is_one_clear_line():
    result = CliRunner().invoke(app, ["data", "info", "builtin:h36m"])
    assert result.exit_code == 2
    assert "builtin:h36m: no such built-in data set (known: builtin:cmu, builtin:synthetic)" in (
        " ".join(result.output.split())
    )
