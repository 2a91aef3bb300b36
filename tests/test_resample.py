"""Resampling 2D to the model's frame rate and 3D back (infer.resample)."""

from __future__ import annotations

import numpy as np
import pytest

from scjd_edge.errors import ConfigError
from scjd_edge.infer.resample import (
    StreamingResampler,
    model_frame_times,
    poses_at_video_frames,
    resample_2d,
)


def moving_points(frames: int) -> np.ndarray:
    """(F, 17, 2): joint j at x = 10 * frame + j, y = 2 * frame."""
    frame = np.arange(frames, dtype=np.float64)[:, None]
    joints = np.arange(17, dtype=np.float64)[None, :]
    return np.stack([10 * frame + joints, 2 * frame + 0 * joints], axis=-1)


def test_10_fps_becomes_50_fps_by_linear_interpolation():
    points = moving_points(4)  # 0.3 s
    measured = np.ones((4, 17), dtype=bool)
    measured[2, 5] = False
    times, resampled, resampled_measured = resample_2d(points, measured, 10.0, 50.0)
    np.testing.assert_allclose(times, np.arange(16) / 50)
    np.testing.assert_allclose(resampled[:, 3, 0], 100 * times + 3, atol=1e-4)
    np.testing.assert_allclose(resampled[:, 3, 1], 20 * times, atol=1e-4)
    # joint 5 was filled in at video frame 2 (t = 0.2 s): model frames from 0.12 to 0.28 s
    # lean on it, the one at exactly 0.2 s included
    filled = np.flatnonzero(~resampled_measured[:, 5])
    np.testing.assert_allclose(times[filled], [0.12, 0.14, 0.16, 0.18, 0.2, 0.22, 0.24, 0.26, 0.28])
    assert resampled_measured[:, 4].all()


def test_the_stream_gives_the_batch_frames_and_never_waits():
    points = moving_points(7)
    measured = np.random.default_rng(0).random((7, 17)) > 0.2
    times, batch, batch_measured = resample_2d(points, measured, 10.0, 25.0)
    resampler = StreamingResampler(10.0, 25.0)
    streamed = []
    for index in range(7):
        due = resampler.push(points[index], measured[index])
        assert all(time <= index / 10.0 + 1e-9 for time, _, _ in due)  # causal
        streamed.extend(due)
    np.testing.assert_allclose([t for t, _, _ in streamed], times)
    np.testing.assert_allclose(np.stack([p for _, p, _ in streamed]), batch, atol=1e-4)
    np.testing.assert_array_equal(np.stack([m for _, _, m in streamed]), batch_measured)


def test_poses_come_back_at_the_video_frames():
    model_times = model_frame_times(5, 10.0, 50.0)
    pose_3d = np.zeros((len(model_times), 17, 3))
    pose_3d[..., 2] = model_times[:, None]  # z = time
    back = poses_at_video_frames(model_times, pose_3d, 5, 10.0)
    np.testing.assert_allclose(back[:, 0, 2], np.arange(5) / 10, atol=1e-6)
    slower = poses_at_video_frames(model_frame_times(9, 30.0, 10.0), pose_3d[:3] * 0 + 1, 9, 30.0)
    assert slower.shape == (9, 17, 3)


def test_a_rate_of_zero_is_refused():
    with pytest.raises(ConfigError, match="frame rate"):
        resample_2d(moving_points(3), np.ones((3, 17), bool), 0.0, 50.0)


def test_a_frame_rate_far_below_the_real_one_is_refused_before_any_allocation():
    with pytest.raises(ConfigError, match="check the file's frame rate"):
        model_frame_times(30, 1e-4, 50.0)
