"""Resampling 2D between frame rates, and what an evaluation scores at another rate."""

from __future__ import annotations

import numpy as np
import pytest

from scjd_edge.data.dataset import PoseSequence
from scjd_edge.data.frame_rate import arrived, coinciding_frames, resample


def test_resampling_picks_every_other_frame_and_interpolates_back():
    values = np.arange(11, dtype=np.float32).reshape(11, 1) * 3.0
    half = resample(values, 50.0, 25.0)
    np.testing.assert_array_equal(half[:, 0], values[::2, 0])
    back = resample(half, 25.0, 50.0)
    np.testing.assert_allclose(back[:, 0], values[:, 0])  # linear motion is recovered


def test_resampling_keeps_the_time_span_at_non_integer_ratios():
    values = np.linspace(0.0, 1.0, 51).reshape(51, 1)  # one second at 50 frames/s
    at_30 = resample(values, 50.0, 30.0)
    assert len(at_30) == 31
    np.testing.assert_allclose(at_30[:, 0], np.linspace(0.0, 1.0, 31), atol=1e-12)


def test_coinciding_frames_are_the_arrivals_on_the_model_grid():
    assert coinciding_frames(7, 50.0, 25.0).tolist() == [1, 0, 1, 0, 1, 0, 1]
    assert coinciding_frames(11, 50.0, 30.0).nonzero()[0].tolist() == [0, 5, 10]
    assert coinciding_frames(3, 50.0, 50.0).all()


def test_an_arrived_sequence_is_its_2d_and_3d_at_the_camera_rate():
    frames = 21
    sequence = PoseSequence(
        subject="S",
        action="Walk 1",
        camera="c",
        keypoints_2d=np.random.default_rng(0).random((frames, 17, 2), dtype=np.float32),
        pose_3d=np.random.default_rng(1).random((frames, 17, 3), dtype=np.float32),
        fps=50.0,
        res_w=1000,
        res_h=1000,
    )
    at_10 = arrived(sequence, 10.0)
    assert at_10.fps == 10.0 and at_10.num_frames == 5
    np.testing.assert_array_equal(at_10.keypoints_2d, sequence.keypoints_2d[::5])
    np.testing.assert_array_equal(at_10.pose_3d, sequence.pose_3d[::5])


def test_a_rate_that_is_not_positive_is_refused():
    with pytest.raises(ValueError, match="> 0"):
        resample(np.zeros((3, 1)), 0.0, 25.0)
