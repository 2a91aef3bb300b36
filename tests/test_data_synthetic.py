"""The built-in SYNTHETIC data: format, rigid bones, visibility, determinism, cache."""

from __future__ import annotations

import numpy as np
import pytest

from scjd_edge.data.builtin import synthetic_folder
from scjd_edge.data.formats import describe_dataset, load_dataset
from scjd_edge.data.skeleton import bone_lengths
from scjd_edge.data.synthetic import ACTIONS, MARKER_FILE, generate_synthetic


@pytest.fixture(scope="module")
def small_set(tmp_path_factory):
    folder = tmp_path_factory.mktemp("synthetic")
    return generate_synthetic(folder, seed=3, seconds_per_action=2.0, num_subjects=2)


def test_synthetic_folder_loads_and_says_it_is_synthetic(small_set):
    dataset = load_dataset(small_set)
    assert dataset.name == "synthetic" and dataset.synthetic
    assert dataset.subjects() == ["SYN1", "SYN2"]
    assert len(dataset.sequences) == 2 * len(ACTIONS) * 4
    assert {s.action.split(" ")[0] for s in dataset.sequences} == set(ACTIONS)
    info = describe_dataset(small_set)
    assert info["synthetic"] is True and "SYNTHETIC" in info["note"]
    assert info["subjects"]["SYN1"]["sequences"] == len(ACTIONS)
    assert (small_set / MARKER_FILE).is_file()


def test_synthetic_motion_is_rigid_upright_visible_and_varied(small_set):
    positions = np.load(small_set / "data_3d_synthetic.npz", allow_pickle=True)["positions_3d"]
    for actions in positions.item().values():
        for action, pose in actions.items():
            lengths = bone_lengths(pose.astype(np.float64))
            assert lengths.std(axis=0).max() < 1e-5, action
            assert (pose[:, 10, 2] > pose[:, 0, 2]).all() and (pose[:, 0, 2] > 0.4).all()
            assert pose[:, [3, 6], 2].min() == pytest.approx(0.08, abs=1e-4)  # ankles on floor
            root_relative = pose - pose[:, :1]
            assert root_relative.std(axis=0).mean() > 0.02, action  # the body moves
    for sequence in load_dataset(small_set).sequences:
        assert sequence.pose_3d[..., 2].min() > 1.0
        pixels = (sequence.keypoints_2d + [1, sequence.res_h / sequence.res_w]) * sequence.res_w / 2
        inside = (pixels >= 0).all(-1) & (pixels[..., 0] < sequence.res_w)
        inside &= pixels[..., 1] < sequence.res_h
        assert inside.mean() > 0.99


def test_subjects_differ_in_bone_lengths(small_set):
    positions = np.load(small_set / "data_3d_synthetic.npz", allow_pickle=True)["positions_3d"]
    walks = [positions.item()[s]["Walk 01"] for s in ("SYN1", "SYN2")]
    first, second = (bone_lengths(w[0].astype(np.float64)) for w in walks)
    assert np.abs(first - second).max() > 0.01


def test_same_seed_same_data_other_seed_other_data(small_set, tmp_path):
    again = generate_synthetic(tmp_path / "a", seed=3, seconds_per_action=2.0, num_subjects=2)
    other = generate_synthetic(tmp_path / "b", seed=4, seconds_per_action=2.0, num_subjects=2)

    def walk(folder):
        archive = np.load(folder / "data_3d_synthetic.npz", allow_pickle=True)
        return archive["positions_3d"].item()["SYN2"]["Walk 01"]

    np.testing.assert_array_equal(walk(small_set), walk(again))
    assert walk(other).shape != walk(small_set).shape or not np.allclose(
        walk(other), walk(small_set)
    )


def test_builtin_is_generated_once_into_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SCJD_CACHE_DIR", str(tmp_path))
    dataset = load_dataset("builtin:synthetic")
    (folder,) = tmp_path.glob("synthetic-seed0-*")  # named by the digest of its stamp
    assert dataset.synthetic and dataset.source == "builtin:synthetic"
    assert dataset.subjects() == [f"SYN{i}" for i in range(1, 7)]
    frames = sum(s.num_frames for s in dataset.sequences) / 4
    assert 6 * 5 * 8 * 50 * 0.8 < frames < 6 * 5 * 8 * 50 * 1.2
    stamp = (folder / "data_3d_synthetic.npz").stat().st_mtime_ns
    assert synthetic_folder() == folder
    assert (folder / "data_3d_synthetic.npz").stat().st_mtime_ns == stamp
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left
