"""Virtual-camera augmentation of training windows: geometry, projection, flip, determinism,
missing intrinsics and the recipe section."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from scjd_edge.config import VirtualCameraConfig, validate_recipe
from scjd_edge.data.camera import H36M_CAMERA_INTRINSICS, normalize_screen_coordinates
from scjd_edge.data.dataset import PoseSequence
from scjd_edge.data.formats import load_dataset
from scjd_edge.data.skeleton import BONES, flip_pose
from scjd_edge.data.windows import PoseWindows
from scjd_edge.errors import ConfigError, DataError

CAMERA = H36M_CAMERA_INTRINSICS[0]  # with lens distortion
LEVEL_UP = (0.0, -1.0, 0.0)


def _screen(points_camera: np.ndarray) -> np.ndarray:
    """What the loaders compute: projection through CAMERA, then screen normalisation."""
    pixels = CAMERA.project(np.asarray(points_camera, dtype=np.float64))
    return normalize_screen_coordinates(pixels, CAMERA.res_w, CAMERA.res_h)


def _sequence(frames: int = 12, seed: int = 0, up=LEVEL_UP, intrinsics=CAMERA) -> PoseSequence:
    """A subject walking about 5 m in front of the camera, its 2D the exact projection."""
    rng = np.random.default_rng(seed)
    root = np.array([0.3, 0.2, 5.0]) + np.cumsum(rng.normal(0, 0.02, (frames, 3)), axis=0)
    body = rng.normal(0, 0.3, (17, 3))
    body[0] = 0.0
    pose_3d = root[:, None] + body + rng.normal(0, 0.01, (frames, 17, 3))
    return PoseSequence(
        subject="S1", action=f"Walk {seed}", camera=CAMERA.id,
        keypoints_2d=_screen(pose_3d).astype(np.float32), pose_3d=pose_3d.astype(np.float32),
        fps=50.0, res_w=CAMERA.res_w, res_h=CAMERA.res_h, intrinsics=intrinsics, camera_up=up,
    )  # fmt: skip


def _standing(pose: np.ndarray) -> PoseSequence:
    """A one-frame sequence of `pose` (1, 17, 3) seen by a level camera."""
    return PoseSequence(
        subject="S1", action="Stand", camera=CAMERA.id,
        keypoints_2d=_screen(pose).astype(np.float32),
        pose_3d=pose, fps=50.0, res_w=CAMERA.res_w, res_h=CAMERA.res_h, intrinsics=CAMERA,
        camera_up=LEVEL_UP,
    )  # fmt: skip


def _virtual(yaw=(0.0, 0.0), pitch=(0.0, 0.0), distance=(1.0, 1.0)) -> VirtualCameraConfig:
    return VirtualCameraConfig(enabled=True, yaw_deg=yaw, pitch_deg=pitch, distance_factor=distance)


def _all(windows: PoseWindows) -> dict[str, torch.Tensor]:
    return windows[torch.arange(len(windows))]


def test_zero_jitter_gives_the_unaugmented_windows():
    sequences = [_sequence(seed=0), _sequence(seed=1, up=(0.05, -0.97, -0.2))]
    plain = _all(PoseWindows(sequences, frames=5))
    rendered = _all(PoseWindows(sequences, frames=5, virtual_camera=_virtual(), seed=3))
    assert torch.equal(rendered["pose_3d"], plain["pose_3d"])
    torch.testing.assert_close(rendered["keypoints_2d"], plain["keypoints_2d"], atol=2e-6, rtol=0)


def test_zero_jitter_reproduces_the_builtin_cmu_2d():
    """The loader's intrinsics, distortion and screen normalisation, re-applied in torch."""
    sequences = load_dataset("builtin:cmu").select(["CMU02"], "train")[:8]
    plain = PoseWindows(sequences, frames=3, stride=25)
    rendered = PoseWindows(sequences, frames=3, stride=25, virtual_camera=_virtual())
    indices = torch.arange(len(plain))
    torch.testing.assert_close(
        rendered[indices]["keypoints_2d"], plain[indices]["keypoints_2d"], atol=1e-5, rtol=0
    )


def test_disabled_section_changes_nothing():
    sequence = _sequence()
    plain = _all(PoseWindows([sequence], frames=5, flip=True, seed=2))
    off = VirtualCameraConfig(enabled=False, yaw_deg=(90.0, 90.0))
    same = _all(PoseWindows([sequence], frames=5, flip=True, seed=2, virtual_camera=off))
    assert all(torch.equal(plain[key], same[key]) for key in plain)


def test_yaw_of_180_degrees_about_the_vertical():
    """Level camera (up = -y): a half turn about the vertical maps (x, y, z) to (-x, y, -z)
    relative to the root, and the root stays where it was."""
    pose = np.zeros((1, 17, 3), dtype=np.float32)
    pose[0, :] = (0.0, 0.0, 4.0)  # every joint at the root ...
    pose[0, 1] = (0.1, 0.0, 4.0)  # ... but joint 1 10 cm to the right,
    pose[0, 7] = (0.0, -0.5, 4.2)  # joint 7 50 cm up and 20 cm further away
    sequence = _standing(pose)
    window = PoseWindows([sequence], frames=1, virtual_camera=_virtual(yaw=(180.0, 180.0)))[0]
    expected = np.zeros((17, 3), dtype=np.float32)
    expected[1] = (-0.1, 0.0, 0.0)
    expected[7] = (0.0, -0.5, -0.2)
    np.testing.assert_allclose(window["pose_3d"][0].numpy(), expected, atol=1e-6)
    np.testing.assert_allclose(
        window["keypoints_2d"][0].numpy(), _screen(expected + (0.0, 0.0, 4.0)), atol=2e-6
    )


def test_pitch_turns_about_the_horizontal_axis_across_the_line_of_sight():
    pose = np.zeros((1, 17, 3), dtype=np.float32)
    pose[0, :] = (0.0, 0.0, 4.0)
    pose[0, 7] = (0.0, -0.5, 4.0)  # 50 cm straight up from the root
    sequence = _standing(pose)
    window = PoseWindows([sequence], frames=1, virtual_camera=_virtual(pitch=(30.0, 30.0)))[0]
    angle = math.radians(30.0)  # about +x: y' = y cos - z sin, z' = y sin + z cos
    expected = (0.0, -0.5 * math.cos(angle), -0.5 * math.sin(angle))
    np.testing.assert_allclose(window["pose_3d"][0, 7].numpy(), expected, atol=1e-6)


def test_random_views_keep_bones_and_project_their_3d():
    sequences = [_sequence(frames=30, seed=4), _sequence(frames=20, seed=5, up=(0.0, -0.9, -0.3))]
    factor = 1.2  # a fixed distance factor puts the centre frame's root at factor * root
    config = _virtual(yaw=(-180.0, 180.0), pitch=(-10.0, 10.0), distance=(factor, factor))
    windows = PoseWindows(sequences, frames=7, virtual_camera=config, seed=11)
    plain, rendered = _all(PoseWindows(sequences, frames=7)), _all(windows)
    assert not torch.allclose(rendered["pose_3d"], plain["pose_3d"], atol=1e-2)

    def bone_lengths(pose: torch.Tensor) -> torch.Tensor:
        return torch.stack([(pose[..., a, :] - pose[..., b, :]).norm(dim=-1) for a, b in BONES])

    torch.testing.assert_close(bone_lengths(rendered["pose_3d"]), bone_lengths(plain["pose_3d"]))
    centre = windows.pad_before
    for window in range(len(windows)):
        sequence = sequences[int(rendered["sequence_index"][window])]
        root = sequence.pose_3d[int(rendered["centre_frame"][window]), 0]
        points = rendered["pose_3d"][window, centre].numpy() + factor * root
        np.testing.assert_allclose(
            rendered["keypoints_2d"][window, centre].numpy(), _screen(points), atol=1e-5
        )


def test_flip_then_virtual_camera_renders_the_mirrored_scene():
    sequence = _sequence(frames=40, seed=6)
    windows = PoseWindows([sequence], frames=1, flip=True, virtual_camera=_virtual(), seed=5)
    rendered = _all(windows)
    flipped = rendered["flipped"]
    assert 0 < int(flipped.sum()) < len(flipped)
    mirrored = flip_pose(torch.from_numpy(sequence.pose_3d)).numpy()  # x -> -x, sides swapped
    expected_3d = mirrored - mirrored[:, :1]
    np.testing.assert_allclose(rendered["pose_3d"][flipped, 0].numpy(), expected_3d[flipped])
    np.testing.assert_allclose(
        rendered["keypoints_2d"][flipped, 0].numpy(), _screen(mirrored)[flipped], atol=2e-6
    )


def test_a_half_turn_of_a_mirrored_window_is_about_the_mirrored_vertical():
    """A half turn about a unit axis u is 2 u u^T - I; a mirrored window turns about the
    mirrored up direction (x negated), so the tilted camera's up must be mirrored too."""
    up = np.array([0.28, -0.96, 0.0])
    sequence = _sequence(frames=40, seed=9, up=tuple(up))
    config = _virtual(yaw=(180.0, 180.0))
    rendered = _all(PoseWindows([sequence], frames=1, flip=True, virtual_camera=config, seed=2))
    plain_3d = sequence.pose_3d - sequence.pose_3d[:, :1]
    mirrored_3d = flip_pose(torch.from_numpy(plain_3d)).numpy()
    mirrored_up = up * (-1.0, 1.0, 1.0)
    flipped = rendered["flipped"].numpy()
    for is_flipped, axis, original in ((False, up, plain_3d), (True, mirrored_up, mirrored_3d)):
        half_turn = 2 * np.outer(axis, axis) - np.eye(3)
        rows = flipped == is_flipped
        np.testing.assert_allclose(
            rendered["pose_3d"][rows, 0].numpy(), original[rows] @ half_turn.T, atol=1e-5
        )


def test_same_seed_epoch_and_batch_give_the_same_views():
    sequences = [_sequence(frames=30, seed=7)]
    config = VirtualCameraConfig(enabled=True)
    first = PoseWindows(sequences, frames=5, flip=True, noise_px=1.0, virtual_camera=config, seed=1)
    second = PoseWindows(
        sequences, frames=5, flip=True, noise_px=1.0, virtual_camera=config, seed=1
    )
    batch = torch.arange(4, 20)
    for epoch in (0, 3):
        first.set_epoch(epoch)
        second.set_epoch(epoch)
        assert all(torch.equal(first[batch][key], second[batch][key]) for key in first[batch])
    first.set_epoch(4)
    assert not torch.equal(first[batch]["pose_3d"], second[batch]["pose_3d"])


def test_a_sequence_without_intrinsics_is_named():
    sequences = [_sequence(seed=0), _sequence(seed=8, intrinsics=None)]
    PoseWindows(sequences, frames=3)  # fine without the virtual camera
    with pytest.raises(DataError, match=r"S1/Walk 8 .*no camera intrinsics.*data.virtual_camera"):
        PoseWindows(sequences, frames=3, virtual_camera=VirtualCameraConfig(enabled=True))


def test_recipe_section_defaults_and_errors_name_the_field():
    recipe = validate_recipe({})
    assert recipe.data.virtual_camera == VirtualCameraConfig(
        enabled=False, yaw_deg=(-180.0, 180.0), pitch_deg=(-10.0, 10.0), distance_factor=(0.8, 1.25)
    )
    with pytest.raises(
        ConfigError, match=r"unknown key 'data.virtual_camera.pich_deg' .*pitch_deg"
    ):
        validate_recipe({"data": {"virtual_camera": {"pich_deg": [-5, 5]}}})
    bad_values = [("pitch_deg", [10, -10]), ("pitch_deg", [-95, 5]), ("distance_factor", [0, 2])]
    for field, value in bad_values:
        with pytest.raises(ConfigError, match=rf"data.virtual_camera.*{field}"):
            validate_recipe({"data": {"virtual_camera": {field: value}}})


def test_teacher_cache_refuses_virtual_cameras():
    raw = {"data": {"virtual_camera": {"enabled": True}}, "distill": {"teacher_cache": True}}
    with pytest.raises(ConfigError, match=r"distill.teacher_cache.*data.virtual_camera.enabled"):
        validate_recipe(raw)
    raw["distill"]["teacher_cache"] = False
    assert validate_recipe(raw).data.virtual_camera.enabled


def test_only_the_training_windows_get_virtual_cameras():
    from scjd_edge.train.engine import load_training_data

    subjects = {"train_subjects": ["CMU02"], "val_subjects": ["CMU03"], "test_subjects": []}
    data = {"path": "builtin:cmu", **subjects, "virtual_camera": {"enabled": True}}
    windows = load_training_data(validate_recipe({"data": data}), window_frames=3)
    assert windows.train.virtual_camera == VirtualCameraConfig(enabled=True)
    assert windows.val.virtual_camera is None
