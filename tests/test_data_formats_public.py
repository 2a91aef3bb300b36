"""Human3.6M (VideoPose3D npz) and MPI-INF-3DHP (P-STMO/PoseFormerV2 npz) readers, on small
files written here in exactly the published layouts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from scjd_edge.data.camera import h36m_cameras, normalize_screen_coordinates
from scjd_edge.data.formats import H36M_32_TO_17, describe_dataset, load_dataset
from scjd_edge.data.mpi_3dhp import MPI_3DHP_FOR_H36M
from scjd_edge.data.synthetic import REST_OFFSETS, forward_kinematics
from scjd_edge.errors import DataError

H36M_METADATA = {
    "layout_name": "h36m",
    "num_joints": 17,
    "keypoints_symmetry": [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]],
}


def _standing_pose(frames: int, seed: int) -> np.ndarray:
    """(F, 17, 3) a person swaying near the origin, metres, Z up."""
    rng = np.random.default_rng(seed)
    angles = {"r_hip_flex": 0.3 * np.sin(np.arange(frames) / 5), "heading": np.full(frames, 0.4)}
    pose = forward_kinematics(REST_OFFSETS, angles, frames)
    pose[..., 2] += 0.95
    return pose + rng.normal(0, 0.01, (frames, 1, 3))


def _h36m_32(pose_17: np.ndarray) -> np.ndarray:
    """Embed 17 joints in the 32-joint layout; the 15 dropped joints hold far-away junk."""
    full = np.full((len(pose_17), 32, 3), 50.0)
    full[:, list(H36M_32_TO_17)] = pose_17
    return full


def _write_h36m(folder: Path, extra_2d_frames: int = 0) -> dict:
    clips = {
        ("S1", "Walking 1"): _standing_pose(30, 0),
        ("S9", "Directions"): _standing_pose(25, 1),
    }
    positions_3d: dict = {}
    positions_2d: dict = {}
    for (subject, action), pose in clips.items():
        positions_3d.setdefault(subject, {})[action] = _h36m_32(pose).astype(np.float32)
        views = []
        for camera in h36m_cameras(subject):
            pixels = camera.project(camera.world_to_camera(pose))
            padding = np.repeat(pixels[-1:], extra_2d_frames, axis=0)
            views.append(np.concatenate([pixels, padding]).astype(np.float32))
        positions_2d.setdefault(subject, {})[action] = views
    np.savez_compressed(folder / "data_3d_h36m.npz", positions_3d=positions_3d)
    np.savez_compressed(
        folder / "data_2d_h36m_gt.npz", positions_2d=positions_2d, metadata=H36M_METADATA
    )
    return clips


def test_h36m_reduces_32_joints_and_uses_the_published_cameras(tmp_path):
    clips = _write_h36m(tmp_path, extra_2d_frames=4)
    dataset = load_dataset(tmp_path)
    assert dataset.name == "h36m" and dataset.subjects() == ["S1", "S9"]
    assert len(dataset.sequences) == 8
    sequence = next(s for s in dataset.sequences if s.subject == "S9" and s.camera == "58860488")
    camera = h36m_cameras("S9")[2]
    pose_world = clips[("S9", "Directions")]
    np.testing.assert_allclose(sequence.pose_3d, camera.world_to_camera(pose_world), atol=1e-5)
    assert sequence.keypoints_2d.shape == (25, 17, 2)  # 2D trimmed to the 3D length
    expected = normalize_screen_coordinates(
        camera.project(camera.world_to_camera(pose_world)), 1000, 1000
    )
    np.testing.assert_allclose(sequence.keypoints_2d, expected, atol=1e-5)
    assert (sequence.res_w, sequence.res_h, sequence.fps) == (1000, 1000, 50.0)
    info = describe_dataset(tmp_path)
    assert info["subjects"]["S1"] == {
        "sequences": 1, "frames": 30, "seconds": 0.6, "categories": ["Walking"],
    }  # fmt: skip


def test_h36m_detections_file_is_picked_by_keypoints(tmp_path):
    _write_h36m(tmp_path)
    with np.load(tmp_path / "data_2d_h36m_gt.npz", allow_pickle=True) as archive:
        positions_2d = archive["positions_2d"].item()
    for views in (v for actions in positions_2d.values() for v in actions.values()):
        for view in views:
            view += 3.0  # a detector that is 3 px off
    np.savez_compressed(
        tmp_path / "data_2d_h36m_cpn_ft_h36m_dbb.npz", positions_2d=positions_2d,
        metadata=H36M_METADATA,
    )  # fmt: skip
    ground_truth = load_dataset(tmp_path)
    detected = load_dataset(tmp_path, keypoints="cpn_ft_h36m_dbb")
    assert detected.keypoints == "cpn_ft_h36m_dbb"
    difference = detected.sequences[0].keypoints_2d - ground_truth.sequences[0].keypoints_2d
    np.testing.assert_allclose(difference, 3.0 * 2 / 1000, atol=1e-5)
    np.testing.assert_array_equal(detected.sequences[0].pose_3d, ground_truth.sequences[0].pose_3d)


def test_h36m_errors_name_file_and_key(tmp_path):
    _write_h36m(tmp_path)
    positions_3d = {"S2": {"Walking": _h36m_32(_standing_pose(10, 2))}}
    np.savez_compressed(tmp_path / "data_3d_h36m.npz", positions_3d=positions_3d)
    expected = r"data_3d_h36m\.npz: key positions_3d\['S2'\].*cameras_h36m\.json"
    with pytest.raises(DataError, match=expected):
        load_dataset(tmp_path)
    positions_3d = {"S1": {"Walking 1": np.zeros((30, 20, 3))}}
    np.savez_compressed(tmp_path / "data_3d_h36m.npz", positions_3d=positions_3d)
    with pytest.raises(DataError, match=r"data_3d_h36m\.npz: key positions_3d\['S1'\]"):
        load_dataset(tmp_path)


# --- MPI-INF-3DHP ---------------------------------------------------------------------------


def _to_3dhp(pose_h36m: np.ndarray) -> np.ndarray:
    """H36M-17 order -> MPI-INF-3DHP 17-joint order."""
    mpi = np.zeros_like(pose_h36m)
    mpi[:, list(MPI_3DHP_FOR_H36M)] = pose_h36m
    return mpi


def _camera_space_mm(frames: int, seed: int) -> np.ndarray:
    pose = _standing_pose(frames, seed)
    camera_space = np.stack([pose[..., 0], 1.0 - pose[..., 2], pose[..., 1] + 4.0], axis=-1)
    return camera_space * 1000.0


def _pixels(camera_mm: np.ndarray, width: int, height: int) -> np.ndarray:
    return 1500 * camera_mm[..., :2] / camera_mm[..., 2:] + [width / 2, height / 2]


def _write_3dhp(folder: Path) -> dict:
    train_mm = {cam: _camera_space_mm(40, cam) for cam in (0, 2)}
    train = {
        "S1 Seq1": [
            {
                cam: {"data_3d": _to_3dhp(mm), "data_2d": _to_3dhp(_pixels(mm, 2048, 2048))}
                for cam, mm in train_mm.items()
            }
        ]
    }
    test_mm = {"TS1": _camera_space_mm(30, 5), "TS5": _camera_space_mm(30, 6)}
    valid = {"TS1": np.ones(30), "TS5": np.r_[np.ones(10), np.zeros(5), np.ones(15)]}
    test = {
        name: {
            "data_3d": _to_3dhp(mm),
            "data_2d": _to_3dhp(_pixels(mm, *((1920, 1080) if name == "TS5" else (2048, 2048)))),
            "valid": valid[name],
        }
        for name, mm in test_mm.items()
    }
    np.savez_compressed(folder / "data_train_3dhp.npz", data=train)
    np.savez_compressed(folder / "data_test_3dhp.npz", data=test)
    return {"train": train_mm, "test": test_mm}


def test_3dhp_train_and_test_layouts(tmp_path):
    written = _write_3dhp(tmp_path)
    dataset = load_dataset(tmp_path)
    assert dataset.name == "3dhp" and dataset.subjects() == ["S1", "TS1", "TS5"]
    train = [s for s in dataset.sequences if s.subject == "S1"]
    assert [(s.action, s.camera) for s in train] == [("Seq1", "0"), ("Seq1", "2")]
    np.testing.assert_allclose(train[1].pose_3d, written["train"][2] / 1000, atol=1e-6)
    assert train[0].pose_3d[:, 0, 2].min() > 3.0  # pelvis (3DHP joint 14) is joint 0
    expected = normalize_screen_coordinates(_pixels(written["train"][0], 2048, 2048), 2048, 2048)
    np.testing.assert_allclose(train[0].keypoints_2d, expected, atol=1e-5)
    assert (train[0].res_w, train[0].fps) == (2048, 25.0)
    ts5 = [s for s in dataset.sequences if s.subject == "TS5"]
    assert [(s.action, s.num_frames) for s in ts5] == [("Test 5 part0", 10), ("Test 5 part1", 15)]
    assert (ts5[0].res_w, ts5[0].res_h, ts5[0].fps) == (1920, 1080, 50.0)
    np.testing.assert_allclose(ts5[1].pose_3d, written["test"]["TS5"][15:] / 1000, atol=1e-6)
    only_test = load_dataset(tmp_path / "data_test_3dhp.npz")
    assert only_test.subjects() == ["TS1", "TS5"]


def test_3dhp_errors_name_file_and_key(tmp_path):
    _write_3dhp(tmp_path)
    test_path = tmp_path / "data_test_3dhp.npz"
    data = np.load(test_path, allow_pickle=True)["data"].item()
    del data["TS1"]["valid"]
    np.savez_compressed(test_path, data=data)
    with pytest.raises(
        DataError, match=r"data_test_3dhp\.npz: missing key data\['TS1'\]\['valid'\]"
    ):
        load_dataset(test_path)
    data["TS1"]["valid"] = np.ones(30)
    data["TS1"]["data_3d"] = data["TS1"]["data_3d"] / 1000  # metres instead of millimetres
    np.savez_compressed(test_path, data=data)
    with pytest.raises(DataError, match=r"data\['TS1'\]\['data_3d'\].*millimetres"):
        load_dataset(test_path)
    np.savez_compressed(test_path, poses=np.zeros(3))
    with pytest.raises(DataError, match=r"data_test_3dhp\.npz: missing key 'data'"):
        load_dataset(test_path)
