"""2D -> 3D lifting of whole sequences (batched) and of live streams (ring buffer).

Both modes give every frame the window the model was trained on: the T = window_frames
frames at offsets -(T//2) .. (T-1)//2 around it, with the first / last frame repeated where
the window runs past the sequence (replicate padding). L, the deployment contract's
`lookahead_frames`, is the largest offset the model reads: (T-1)//2 for models that see
the whole window, less for sampled offsets (0 for a causal model whose frames end at the
current one). Frames beyond +L are never read by the model, so they repeat frame +L and
a pose needs only L future frames. A predictor (`scjd_edge.export.runtime.load_predictor`)
maps such windows (B, T, 17, 2) normalised screen coordinates to the centre frames'
root-relative 3D poses (B, 17, 3) in metres, and does the model's own frame sampling.

Streaming latency: the window of frame i ends at frame i + L, so
`StreamingLifter.push(frame i + L)` returns the pose of frame i: a fixed delay of L frames
(L / fps seconds) plus the model's compute time. `flush()` ends the stream by repeating
the last frame, which is exactly the batch mode's padding, so a stream's poses equal
`lift_sequence`'s for the same frames.
"""

from __future__ import annotations

import time
from typing import Any, Protocol

import numpy as np

from scjd_edge.contract import Deployment
from scjd_edge.data.skeleton import NUM_JOINTS
from scjd_edge.errors import ConfigError, DataError


class Predictor(Protocol):
    """What lifting needs from `scjd_edge.export.runtime.Predictor`."""

    deployment: Deployment

    def __call__(self, keypoints_2d: np.ndarray) -> Any: ...


def window_frames_of(predictor: Predictor) -> int:
    return int(predictor.deployment.window_frames)


def lookahead_frames_of(predictor: Predictor) -> int:
    """Future frames a model's window needs (the contract's `lookahead_frames`)."""
    window_frames = window_frames_of(predictor)
    lookahead = int(predictor.deployment.lookahead_frames)
    if not 0 <= lookahead < window_frames:
        raise ConfigError(
            f"deployment lookahead_frames {lookahead}: expected 0..{window_frames - 1}"
        )
    return lookahead


def centred_windows(
    keypoints_2d: np.ndarray,
    centres: np.ndarray,
    window_frames: int,
    lookahead: int | None = None,
) -> np.ndarray:
    """(F, 17, 2) sequence -> (B, T, 17, 2) windows centred on the frames `centres` (B,).

    Frames centre - T//2 .. centre + (T-1)//2, those after centre + L (L = lookahead,
    default (T-1)//2) replaced by frame centre + L, clamped to the sequence (replicate
    padding).
    """
    lookahead = (window_frames - 1) // 2 if lookahead is None else lookahead
    offsets = np.minimum(np.arange(window_frames) - window_frames // 2, lookahead)
    frames = np.clip(centres[:, None] + offsets[None, :], 0, keypoints_2d.shape[0] - 1)
    return keypoints_2d[frames]


def lift_sequence(
    predictor: Predictor, keypoints_2d: np.ndarray, batch_size: int = 256
) -> np.ndarray:
    """(F, 17, 2) normalised keypoints -> (F, 17, 3) root-relative poses, metres.

    One window per frame, `batch_size` windows per model call.
    """
    keypoints_2d = _check_sequence(keypoints_2d)
    if batch_size < 1:
        raise ConfigError(f"batch_size {batch_size}: expected at least 1")
    window_frames = window_frames_of(predictor)
    lookahead = lookahead_frames_of(predictor)
    num_frames = keypoints_2d.shape[0]
    pose_3d = np.empty((num_frames, NUM_JOINTS, 3), dtype=np.float32)
    for start in range(0, num_frames, batch_size):
        centres = np.arange(start, min(start + batch_size, num_frames))
        windows = centred_windows(keypoints_2d, centres, window_frames, lookahead)
        pose_3d[centres] = _as_poses(predictor(windows), len(centres))
    return pose_3d


class StreamingLifter:
    """Lift a live stream one frame at a time, with a ring buffer of the last T frames.

    `push(frame)` returns the pose of the frame pushed `lookahead_frames` pushes earlier
    (None while the first window is filling); `flush()` returns the poses still owed,
    in frame order, and resets the lifter for a new stream. `latencies_ms` holds, per
    returned pose, the wall time of the push that produced it (buffer + model).
    """

    def __init__(self, predictor: Predictor):
        self.predictor = predictor
        self.window_frames = window_frames_of(predictor)
        self.lookahead_frames = lookahead_frames_of(predictor)
        self.latencies_ms: list[float] = []
        self.reset()

    def reset(self) -> None:
        """Forget the stream (the recorded latencies are kept)."""
        self._ring = np.zeros((self.window_frames, NUM_JOINTS, 2), dtype=np.float32)
        self._oldest = 0  # ring slot of the oldest frame in the window
        self._pushed = 0  # real frames pushed
        self._emitted = 0  # poses returned
        self._advances = 0  # frames entered into the ring, padding included
        self._last_frame: np.ndarray | None = None

    def push(self, keypoints_2d: np.ndarray) -> np.ndarray | None:
        """One frame (17, 2) normalised -> the (17, 3) pose of frame pushed - L, or None."""
        frame = np.asarray(keypoints_2d, dtype=np.float32)
        if frame.shape != (NUM_JOINTS, 2):
            raise DataError(f"streamed frame of shape {frame.shape}, expected (17, 2)")
        self._pushed += 1
        return self._advance(frame)

    def flush(self) -> list[np.ndarray]:
        """End the stream: the (17, 3) poses of the last L frames (replicate padding)."""
        poses = []
        while self._emitted < self._pushed:
            pose = self._advance(self._last_frame)
            if pose is not None:
                poses.append(pose)
        self.reset()
        return poses

    def window(self) -> np.ndarray:
        """(T, 17, 2) the window centred on the frame whose pose is due (L frames before
        the newest), oldest frame first; the frames after the newest repeat it."""
        newest_slot = self.window_frames - 1
        due_slot = newest_slot - self.lookahead_frames
        slots = np.arange(self.window_frames) + due_slot - self.window_frames // 2
        order = (self._oldest + np.minimum(slots, newest_slot)) % self.window_frames
        return self._ring[order]

    def _advance(self, frame: np.ndarray) -> np.ndarray | None:
        started = time.perf_counter()
        if self._last_frame is None:
            self._ring[:] = frame  # frames before the first one repeat it
        else:
            self._ring[self._oldest] = frame
            self._oldest = (self._oldest + 1) % self.window_frames
        self._last_frame = frame
        self._advances += 1
        # The window now ends at the newest frame; its centre is L frames back.
        if self._advances - 1 - self.lookahead_frames < 0:
            return None
        pose = _as_poses(self.predictor(self.window()[None]), 1)[0]
        self._emitted += 1
        self.latencies_ms.append((time.perf_counter() - started) * 1000.0)
        return pose


def stream_sequence(predictor: Predictor, keypoints_2d: np.ndarray) -> tuple[np.ndarray, list]:
    """Feed a whole (F, 17, 2) sequence through a `StreamingLifter`, frame by frame.

    Returns the (F, 17, 3) poses and the per-pose latencies in milliseconds.
    """
    keypoints_2d = _check_sequence(keypoints_2d)
    lifter = StreamingLifter(predictor)
    poses = [pose for frame in keypoints_2d if (pose := lifter.push(frame)) is not None]
    poses.extend(lifter.flush())
    return np.stack(poses).astype(np.float32), lifter.latencies_ms


def _check_sequence(keypoints_2d: np.ndarray) -> np.ndarray:
    keypoints_2d = np.asarray(keypoints_2d, dtype=np.float32)
    if keypoints_2d.ndim != 3 or keypoints_2d.shape[1:] != (NUM_JOINTS, 2) or not len(keypoints_2d):
        raise DataError(
            f"2D keypoints of shape {keypoints_2d.shape}: expected (F, 17, 2) with F >= 1"
        )
    return keypoints_2d


def _as_poses(output: Any, count: int) -> np.ndarray:
    """A predictor's output (numpy or torch) as a (count, 17, 3) float32 array."""
    if hasattr(output, "detach"):
        output = output.detach().cpu().numpy()
    poses = np.asarray(output, dtype=np.float32)
    if poses.shape != (count, NUM_JOINTS, 3):
        raise DataError(
            f"the model returned poses of shape {poses.shape}, expected ({count}, 17, 3)"
        )
    return poses
