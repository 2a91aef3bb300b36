"""BVH parsing, H36M-17 mapping, resampling, folder conversion and malformed files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from scjd_edge.data.bvh import (
    bvh_to_h36m,
    convert_bvh_folder,
    detect_family,
    forward_kinematics,
    local_transforms,
    place_on_ground_plane,
    read_bvh,
)
from scjd_edge.data.formats import load_dataset
from scjd_edge.data.skeleton import BONES, bone_lengths
from scjd_edge.errors import DataError

LIMBS = [(1, 2), (2, 3), (4, 5), (5, 6), (11, 12), (12, 13), (14, 15), (15, 16)]

TINY_BVH = """HIERARCHY
ROOT Hips
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Yrotation Xrotation
  JOINT Chest
  {
    OFFSET 0 10 0
    CHANNELS 3 Zrotation Xrotation Yrotation
    End Site
    {
      OFFSET 0 5 0
    }
  }
}
MOTION
Frames: 3
Frame Time: 0.1
1 2 3 0 0 0 90 0 0
1 2 3 0 0 0 0 0 0
1 2 3 0 0 0 0 0 0
"""


@pytest.fixture(scope="module")
def bvh_dir(cmu_bvh_dir) -> Path:
    return cmu_bvh_dir


def test_parse_tiny_file_channels_and_forward_kinematics(tmp_path):
    path = tmp_path / "tiny.bvh"
    path.write_text(TINY_BVH)
    bvh = read_bvh(path)
    assert [j.name for j in bvh.joints] == ["Hips", "Chest", "Chest_EndSite"]
    assert bvh.joints[1].channels == ["Zrotation", "Xrotation", "Yrotation"]
    assert bvh.joints[1].first_channel == 6 and bvh.motion.shape == (3, 9)
    assert bvh.fps == pytest.approx(10.0)
    positions, _ = forward_kinematics(bvh, *local_transforms(bvh))
    np.testing.assert_allclose(positions[:, 0], [[1, 2, 3]] * 3)
    np.testing.assert_allclose(positions[1, 2], [1, 17, 3])  # straight up: 10 + 5
    # Frame 0: the chest turns 90 degrees about Z, so its child offset (0, 5, 0) -> (-5, 0, 0).
    np.testing.assert_allclose(positions[0, 2], [1 - 5, 12, 3], atol=1e-12)


@pytest.mark.parametrize(
    ("file_name", "subject", "action"),
    [("007_02.bvh", "CMU07", "Walk 07_02"), ("102_01.bvh", "CMU102", "Basketball 102_01")],
)
def test_reproduces_the_cmu_sequence(bvh_dir, file_name, subject, action):
    # The reference is the conversion these BVH files were made into (the v1 folder).
    converted = bvh_dir.parent
    clip = json.loads((converted / "clips.json").read_text())["clips"][subject][action]
    reference = np.load(converted / "data_3d_cmu.npz", allow_pickle=True)["positions_3d"]
    expected = reference.item()[subject][action]
    bvh = read_bvh(bvh_dir / file_name)
    assert detect_family(bvh).name == clip["skeleton"]
    assert bvh.fps == pytest.approx(clip["fps_in"], abs=1e-3)
    placement = clip["placement"]
    pose = place_on_ground_plane(bvh_to_h36m(bvh), placement["yaw_deg"], placement["shift_xy_m"])
    start, stop = clip["output_frames_50hz"]
    error_mm = np.linalg.norm(pose[start:stop] - expected, axis=-1).max() * 1000
    assert error_mm < 0.1


def test_converted_folder_is_upright_and_rigid(bvh_dir, tmp_path):
    written = convert_bvh_folder(bvh_dir, tmp_path / "out")
    names = sorted(path.name for path in written)
    assert names == ["cameras_bvh.json", "clips_bvh.json", "data_2d_bvh_gt.npz", "data_3d_bvh.npz"]
    dataset = load_dataset(tmp_path / "out")
    assert dataset.name == "bvh" and not dataset.synthetic
    assert dataset.subjects() == ["BVH07", "BVH102"]
    positions = np.load(tmp_path / "out" / "data_3d_bvh.npz", allow_pickle=True)["positions_3d"]
    limb_columns = [BONES.index(bone) for bone in LIMBS]
    for actions in positions.item().values():
        for pose in actions.values():
            feet = pose[:, [3, 6], 2].max(axis=1)
            assert (pose[:, 10, 2] > pose[:, 0, 2]).all() and (pose[:, 0, 2] > feet).all()
            lengths = bone_lengths(pose.astype(np.float64))[:, limb_columns]
            assert lengths.std(axis=0).max() < 1e-3
            assert np.abs(pose[:, 0, :2].mean(axis=0)).max() < 1.5  # near the origin
    for sequence in dataset.sequences:
        assert sequence.pose_3d[..., 2].min() > 1.0


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "broken.bvh"
    path.write_text(text)
    return path


def test_truncated_file_names_file_and_line(tmp_path):
    path = _write(tmp_path, TINY_BVH.rsplit("\n", 2)[0] + "\n")
    with pytest.raises(DataError, match=r"broken\.bvh: line 20: .*Frames: 3"):
        read_bvh(path)
    path = _write(tmp_path, TINY_BVH[: TINY_BVH.index("JOINT")])
    with pytest.raises(DataError, match=r"broken\.bvh: line \d+: file ends early"):
        read_bvh(path)


def test_bad_channel_count_names_file_and_line(tmp_path):
    path = _write(tmp_path, TINY_BVH.replace("CHANNELS 3 Zrotation", "CHANNELS 4 Zrotation"))
    with pytest.raises(DataError, match=r"broken\.bvh: line \d+: joint 'Chest' declares"):
        read_bvh(path)
    path = _write(tmp_path, TINY_BVH.replace("1 2 3 0 0 0 0 0 0\n", "1 2 3 0 0 0 0 0\n", 1))
    with pytest.raises(DataError, match=r"broken\.bvh: line 20: 8 values .* expected 9"):
        read_bvh(path)


def test_non_numeric_motion_names_file_and_line(tmp_path):
    path = _write(tmp_path, TINY_BVH.replace("1 2 3 0 0 0 90 0 0", "1 2 3 0 0 abc 90 0 0"))
    with pytest.raises(DataError, match=r"broken\.bvh: line 19: non-numeric value 'abc'"):
        read_bvh(path)
    path = _write(tmp_path, TINY_BVH.replace("OFFSET 0 10 0", "OFFSET 0 ten 0"))
    with pytest.raises(DataError, match=r"broken\.bvh: line 8: expected a number, got 'ten'"):
        read_bvh(path)


def test_unknown_skeleton_and_empty_folder(tmp_path):
    path = _write(tmp_path, TINY_BVH)
    with pytest.raises(DataError, match=r"broken\.bvh: unknown BVH skeleton"):
        bvh_to_h36m(read_bvh(path))
    with pytest.raises(DataError, match="no .bvh files"):
        convert_bvh_folder(tmp_path / "nothing", tmp_path / "out")
