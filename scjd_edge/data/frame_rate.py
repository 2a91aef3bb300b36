"""2D that arrives at one frame rate, fed to a model trained at another.

A model's deployment contract records the rate it was trained at (`Deployment.fps`).
2D from a camera at another rate is resampled to that rate (linear interpolation in
time) before windows are cut, so a window spans the time it spanned in training; poses
are then read back at the frames that arrived. `arrived` simulates such a camera on data
recorded at a higher rate.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from scjd_edge.data.dataset import PoseSequence


def resample(values: np.ndarray, from_fps: float, to_fps: float) -> np.ndarray:
    """(F, ...) sampled at `from_fps` -> (F', ...) at `to_fps` over the same time span
    (from the first sample to the last), by linear interpolation in time."""
    if from_fps <= 0 or to_fps <= 0:
        raise ValueError(f"frame rates must be > 0, got {from_fps} and {to_fps}")
    frames = len(values)
    span_s = (frames - 1) / from_fps
    new_frames = int(np.floor(span_s * to_fps + 1e-9)) + 1
    position = np.arange(new_frames) * (from_fps / to_fps)  # in input frames
    before = np.minimum(np.floor(position).astype(np.int64), frames - 1)
    after = np.minimum(before + 1, frames - 1)
    weight = (position - before).reshape(-1, *([1] * (values.ndim - 1)))
    return (values[before] * (1 - weight) + values[after] * weight).astype(values.dtype)


def arrived(sequence: PoseSequence, input_fps: float) -> PoseSequence:
    """The sequence as a camera at `input_fps` would deliver it (2D and 3D)."""
    return dataclasses.replace(
        sequence,
        keypoints_2d=resample(sequence.keypoints_2d, sequence.fps, input_fps),
        pose_3d=resample(sequence.pose_3d, sequence.fps, input_fps),
        fps=float(input_fps),
    )


def coinciding_frames(num_frames: int, model_fps: float, input_fps: float) -> np.ndarray:
    """(num_frames,) bool: the frames at `model_fps` that fall on an arrival at
    `input_fps` (every frame for equal rates, every 2nd for 50 from 25)."""
    time_in_inputs = np.arange(num_frames) * (input_fps / model_fps)
    return np.abs(time_in_inputs - np.round(time_in_inputs)) < 1e-6
