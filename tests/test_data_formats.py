"""load_dataset / describe_dataset on the real CMU data (builtin:cmu) and on malformed folders."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from scjd_edge.data.builtin import BUILTIN_CMU, CMU_SPLIT, cmu_folder
from scjd_edge.data.camera import H36M_CAMERA_INTRINSICS, image_coordinates, look_at_camera
from scjd_edge.data.formats import describe_dataset, load_dataset
from scjd_edge.data.pose_folder import write_pose_folder
from scjd_edge.data.skeleton import BONES, bone_lengths
from scjd_edge.errors import DataError

LIMB_BONES = [BONES.index(bone) for bone in ((1, 2), (2, 3), (4, 5), (5, 6))] + [
    BONES.index(bone) for bone in ((11, 12), (12, 13), (14, 15), (15, 16))
]


@pytest.fixture(scope="module")
def cmu_dataset():
    return load_dataset(BUILTIN_CMU)


def test_cmu_loads_in_camera_space_with_rigid_limbs(cmu_dataset):
    assert cmu_dataset.name == "cmu" and not cmu_dataset.synthetic
    assert cmu_dataset.subjects() == [
        "CMU01", "CMU02", "CMU03", "CMU05", "CMU07", "CMU08", "CMU09", "CMU10", "CMU13",
        "CMU14", "CMU49", "CMU55", "CMU93", "CMU102", "CMU105",
    ]  # fmt: skip
    assert len(cmu_dataset.sequences) == 193 * 4
    for sequence in cmu_dataset.sequences:
        assert sequence.keypoints_2d.dtype == np.float32 and sequence.pose_3d.dtype == np.float32
        assert sequence.pose_3d.shape[1:] == (17, 3) and sequence.keypoints_2d.shape[1:] == (17, 2)
        assert sequence.pose_3d[..., 2].min() > 1.0  # every joint in front of the camera
        limbs = bone_lengths(sequence.pose_3d)[:, LIMB_BONES]
        assert limbs.std(axis=0).max() < 1e-4  # metres
        assert np.abs(sequence.keypoints_2d[..., 0]).max() <= 1.0


def test_cmu_2d_is_the_projection_of_the_camera_space_3d(cmu_dataset):
    sequence = next(s for s in cmu_dataset.sequences if s.action == "Walk 07_02")
    camera = next(c for c in H36M_CAMERA_INTRINSICS if c.id == sequence.camera)
    pixels = camera.project(sequence.pose_3d.astype(np.float64))
    expected = image_coordinates(sequence.keypoints_2d, sequence.res_w, sequence.res_h)
    np.testing.assert_allclose(pixels, expected, atol=0.01)


def test_cmu_select_and_unknown_subject(cmu_dataset):
    train = cmu_dataset.select(CMU_SPLIT["train"], "train")
    assert sum(s.num_frames for s in train) == 74420 * 4  # the CMU v2 README's count
    with pytest.raises(DataError, match=r"S9.*CMU01"):
        cmu_dataset.select(["CMU01", "S9"], "test")


def test_describe_cmu():
    info = describe_dataset(BUILTIN_CMU)
    assert info["name"] == "cmu" and info["synthetic"] is False
    assert info["fps"] == 50.0 and info["joint_layout"] == "h36m17"
    assert info["num_cameras"] == 4 and info["cameras"][0] == "54138969"
    assert info["subjects"]["CMU07"]["sequences"] == 12
    assert info["subjects"]["CMU07"]["frames"] == 1815
    assert info["subjects"]["CMU01"]["seconds"] == pytest.approx(384.96)
    assert info["total"]["frames"] == 98878
    assert "Walk" in info["actions"] and "Dance" in info["subjects"]["CMU05"]["categories"]


# --- malformed folders ----------------------------------------------------------------------


def _write_small_set(folder: Path, frames_2d: int = 20, frames_3d: int = 20) -> None:
    rng = np.random.default_rng(0)
    pose = np.zeros((frames_3d, 17, 3))
    pose[:, :, :2] = rng.uniform(-0.3, 0.3, (frames_3d, 17, 2))
    pose[:, :, 2] = rng.uniform(0.1, 1.8, (frames_3d, 17))
    cameras = [
        look_at_camera(intrinsics, (5 * np.cos(a), 5 * np.sin(a), 1.5), (0, 0, 1))
        for intrinsics, a in zip(H36M_CAMERA_INTRINSICS, (0.3, 1.9, 3.4, 5.0), strict=True)
    ]
    views = []
    for camera in cameras:
        pixels = camera.project(camera.world_to_camera(pose))
        extra = np.repeat(pixels[-1:], max(frames_2d - frames_3d, 0), axis=0)
        views.append(np.concatenate([pixels, extra])[:frames_2d].astype(np.float32))
    write_pose_folder(
        folder, "toy", {"P1": {"Walk 1": pose.astype(np.float32)}}, {"P1": {"Walk 1": views}},
        {"P1": cameras},
    )  # fmt: skip


def _rewrite(path: Path, key: str, edit) -> None:
    with np.load(path, allow_pickle=True) as archive:
        content = {name: archive[name] for name in archive.files}
    value = content[key].item() if content[key].dtype == object else content[key]
    content[key] = np.array(edit(value), dtype=object)
    np.savez(path, **content)


def test_small_set_round_trips_and_trims_long_2d(tmp_path):
    _write_small_set(tmp_path, frames_2d=25, frames_3d=20)
    dataset = load_dataset(tmp_path)
    assert dataset.name == "toy" and len(dataset.sequences) == 4
    assert all(s.keypoints_2d.shape == (20, 17, 2) for s in dataset.sequences)
    assert load_dataset(tmp_path / "data_3d_toy.npz").subjects() == ["P1"]


def test_short_2d_is_an_error(tmp_path):
    _write_small_set(tmp_path, frames_2d=15, frames_3d=20)
    with pytest.raises(DataError, match=r"data_2d_toy_gt\.npz.*positions_2d\['P1'\]\['Walk 1'\]"):
        load_dataset(tmp_path)


def _expect_error(folder: Path, file_name: str, *fragments: str) -> None:
    with pytest.raises(DataError) as error:
        load_dataset(folder)
    message = str(error.value)
    assert file_name in message
    for fragment in fragments:
        assert fragment in message, message


def test_missing_keys_name_file_and_key(tmp_path):
    _write_small_set(tmp_path)
    np.savez(tmp_path / "data_3d_toy.npz", poses=np.zeros(3))
    _expect_error(tmp_path, "data_3d_toy.npz", "positions_3d")
    _write_small_set(tmp_path)
    with np.load(tmp_path / "data_2d_toy_gt.npz", allow_pickle=True) as archive:
        np.savez(tmp_path / "data_2d_toy_gt.npz", positions_2d=archive["positions_2d"])
    _expect_error(tmp_path, "data_2d_toy_gt.npz", "metadata")
    _write_small_set(tmp_path)
    _rewrite(tmp_path / "data_2d_toy_gt.npz", "positions_2d", lambda p: {"P1": {"Run 1": []}})
    _expect_error(tmp_path, "data_2d_toy_gt.npz", "positions_2d['P1']['Walk 1']")
    _write_small_set(tmp_path)
    _rewrite(tmp_path / "data_2d_toy_gt.npz", "positions_2d", lambda p: {"P2": p["P1"]})
    _expect_error(tmp_path, "data_2d_toy_gt.npz", "positions_2d['P1']")


def test_wrong_joint_count_and_non_finite_values(tmp_path):
    _write_small_set(tmp_path)
    _rewrite(
        tmp_path / "data_3d_toy.npz",
        "positions_3d",
        lambda p: {"P1": {"Walk 1": p["P1"]["Walk 1"][:, :16]}},
    )
    _expect_error(tmp_path, "data_3d_toy.npz", "positions_3d['P1']['Walk 1']", "(20, 16, 3)")

    def add_nan(positions_2d):
        positions_2d["P1"]["Walk 1"][2][7, 3, 0] = np.nan
        return positions_2d

    _write_small_set(tmp_path)
    _rewrite(tmp_path / "data_2d_toy_gt.npz", "positions_2d", add_nan)
    _expect_error(tmp_path, "data_2d_toy_gt.npz", "positions_2d['P1']['Walk 1'][2]", "NaN")

    def add_inf(positions_3d):
        positions_3d["P1"]["Walk 1"][4, 0, 1] = np.inf
        return positions_3d

    _write_small_set(tmp_path)
    _rewrite(tmp_path / "data_3d_toy.npz", "positions_3d", add_inf)
    _expect_error(tmp_path, "data_3d_toy.npz", "positions_3d['P1']['Walk 1']", "frame 4")


def test_wrong_camera_count_metadata_and_missing_camera_file(tmp_path):
    _write_small_set(tmp_path)
    _rewrite(
        tmp_path / "data_2d_toy_gt.npz",
        "positions_2d",
        lambda p: {"P1": {"Walk 1": p["P1"]["Walk 1"][:3]}},
    )
    _expect_error(tmp_path, "data_2d_toy_gt.npz", "positions_2d['P1']['Walk 1']", "expected 4")
    _write_small_set(tmp_path)
    _rewrite(
        tmp_path / "data_2d_toy_gt.npz",
        "metadata",
        lambda m: {**m, "keypoints_symmetry": [[1, 2, 3], [4, 5, 6]]},
    )
    _expect_error(tmp_path, "data_2d_toy_gt.npz", "keypoints_symmetry")
    _write_small_set(tmp_path)
    (tmp_path / "cameras_toy.json").unlink()
    _expect_error(tmp_path, "cameras_toy.json", "not found")
    _write_small_set(tmp_path)
    content = json.loads((tmp_path / "cameras_toy.json").read_text())
    content["subjects"] = {"P7": content["subjects"]["P1"]}
    (tmp_path / "cameras_toy.json").write_text(json.dumps(content))
    _expect_error(tmp_path, "cameras_toy.json", "subjects['P1']")


def test_unknown_folder_and_keypoints(tmp_path):
    _expect_error(tmp_path, str(tmp_path), "data_3d_<name>.npz")
    _expect_error(tmp_path / "missing", "missing", "no such")
    _write_small_set(tmp_path)
    with pytest.raises(DataError, match=r"data_2d_toy_cpn\.npz.*data_2d_toy_gt\.npz"):
        load_dataset(tmp_path, keypoints="cpn")
    with pytest.raises(DataError, match=r"data_2d_toy_gt\.npz: pass the data folder"):
        load_dataset(tmp_path / "data_2d_toy_gt.npz")
    (tmp_path / "data_3d_toy.npz").write_bytes(b"not a zip")
    _expect_error(tmp_path, "data_3d_toy.npz", "not a readable npz")


def test_copy_of_cmu_folder_without_cameras_fails_clearly(tmp_path):
    for name in ("data_3d_cmu.npz", "data_2d_cmu_gt.npz"):
        shutil.copy(cmu_folder() / name, tmp_path / name)
    _expect_error(tmp_path, "cameras_cmu.json", "not found")
