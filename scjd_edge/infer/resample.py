"""2D keypoints from the video's frame rate to the model's, and 3D poses back.

A lifter sees a fixed number of frames; trained at 50 frames/s, 10 frames/s input spans
5x the time and shows 5x faster motion. So each track's 2D is resampled to the rate in
the model's deployment contract (`Deployment.fps`) by linear interpolation over time,
lifted there, and the poses are interpolated back to the video's frame times.

Confidence: a resampled joint counts as measured only when the frames on both sides of
its time measured it (a joint interpolated from a filled-in one is filled in too).

`StreamingResampler` does the same online: each new video frame yields the model frames
whose times lie between the previous video frame and it (causal: no frame is waited for).
"""

from __future__ import annotations

import numpy as np

from scjd_edge.errors import ConfigError


def check_rate(fps: float, what: str) -> float:
    if not (np.isfinite(fps) and fps > 0):
        raise ConfigError(f"{what} {fps!r}: expected a frame rate > 0 frames/s")
    return float(fps)


# Model frames one clip may be resampled to (about 55 hours at 50 frames/s): a rate far
# below the real one would otherwise ask for more memory than any machine has.
MAX_MODEL_FRAMES = 10_000_000


def model_frame_times(num_frames: int, from_fps: float, to_fps: float) -> np.ndarray:
    """Times (s) of the model frames covering `num_frames` video frames: 0, 1/to_fps, ...
    up to the last video frame's time."""
    duration = (num_frames - 1) / check_rate(from_fps, "video fps")
    count = int(np.floor(duration * check_rate(to_fps, "model fps") + 1e-9)) + 1
    if count > MAX_MODEL_FRAMES:
        raise ConfigError(
            f"{num_frames} frames at {from_fps:g} frames/s last {duration:.3g} s: more than "
            f"{MAX_MODEL_FRAMES:,} frames at the model's {to_fps:g} frames/s; check the "
            "file's frame rate (--fps)"
        )
    return np.arange(count) / to_fps


def interpolate_at(
    times: np.ndarray, values: np.ndarray, query_times: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Linear interpolation of (F, ...) `values` sampled at increasing `times` (F,) at
    `query_times` (Q,): (Q, ...) values, and for each query the rows before and after it
    (equal where a query hits a sample or lies outside, where the end value is kept)."""
    after = np.clip(np.searchsorted(times, query_times, side="left"), 0, len(times) - 1)
    before = np.clip(after - 1, 0, len(times) - 1)
    exact_or_outside = (times[after] <= query_times) | (after == 0)
    before = np.where(exact_or_outside, after, before)
    span = times[after] - times[before]
    weight = np.where(span > 0, (query_times - times[before]) / np.where(span > 0, span, 1), 0.0)
    weight = weight.reshape((-1,) + (1,) * (values.ndim - 1))
    return (1 - weight) * values[before] + weight * values[after], before, after


def resample_2d(
    keypoints_2d: np.ndarray, measured: np.ndarray, from_fps: float, to_fps: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(F, 17, 2) px and (F, 17) bool measured at `from_fps` -> model frame times (G,),
    (G, 17, 2) and (G, 17) measured at `to_fps` (module docstring)."""
    times = np.arange(len(keypoints_2d)) / check_rate(from_fps, "video fps")
    query = model_frame_times(len(keypoints_2d), from_fps, to_fps)
    values, before, after = interpolate_at(times, np.asarray(keypoints_2d, np.float64), query)
    measured = np.asarray(measured, dtype=bool)
    return query, values.astype(np.float32), measured[before] & measured[after]


def poses_at_video_frames(
    model_times: np.ndarray, pose_3d: np.ndarray, num_frames: int, video_fps: float
) -> np.ndarray:
    """(G, 17, 3) poses at `model_times` -> (num_frames, 17, 3) at the video's frame times."""
    video_times = np.arange(num_frames) / check_rate(video_fps, "video fps")
    return interpolate_at(model_times, pose_3d, video_times)[0].astype(np.float32)


class StreamingResampler:
    """Online `resample_2d`: `push(keypoints (17, 2), measured (17,))` -> list of (time s,
    keypoints, measured) model frames due up to this video frame's time."""

    def __init__(self, from_fps: float, to_fps: float):
        self.from_fps = check_rate(from_fps, "video fps")
        self.to_fps = check_rate(to_fps, "model fps")
        self._pushed = 0
        self._emitted = 0
        self._previous: tuple[np.ndarray, np.ndarray] | None = None

    def push(self, keypoints_2d: np.ndarray, measured: np.ndarray) -> list:
        keypoints_2d = np.asarray(keypoints_2d, dtype=np.float64)
        measured = np.asarray(measured, dtype=bool)
        now = self._pushed / self.from_fps
        due = []
        while self._emitted / self.to_fps <= now + 1e-9:
            time = self._emitted / self.to_fps
            weight = (time - (self._pushed - 1) / self.from_fps) * self.from_fps
            if self._previous is None or weight >= 1 - 1e-9:  # at this frame's time
                due.append((time, keypoints_2d.astype(np.float32), measured.copy()))
            else:
                points = (1 - weight) * self._previous[0] + weight * keypoints_2d
                due.append((time, points.astype(np.float32), self._previous[1] & measured))
            self._emitted += 1
        self._previous = (keypoints_2d, measured)
        self._pushed += 1
        return due
