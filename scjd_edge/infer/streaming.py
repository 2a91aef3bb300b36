"""Video (or camera) -> 2D detector -> one person -> 3D, frame by frame, as a live stream.

Per frame: the detector finds people, `tracking.PersonFollower` keeps one, keypoints below
`min_score` keep their last confident position (`CausalGapFiller`: no future frames are
used), COCO-17 becomes H36M-17, coordinates are normalised to the image and (by default)
rescaled to the training data's person size (`rescale`), and `StreamingLifter` lifts it
with the model's lookahead L: the pose of frame i comes out when frame i + L has been
read (L = 0 for a causal model). Optional One-Euro smoothing (`smoothing`) is causal too.
Frames before the person is first seen are counted but not lifted.

Timing, per frame: `detector_ms` is the detector alone; `lifter_ms` the rest (tracking,
conversion, the model through the ring buffer, smoothing). `fps` is frames read per
second of wall time for the whole loop including video decoding (pictures are drawn
afterwards and not counted); `cpu_seconds` is the process CPU time of that loop (all
threads), which other jobs on a shared machine do not inflate.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from scjd_edge.data.camera import normalize_screen_coordinates
from scjd_edge.data.skeleton import NUM_JOINTS, coco_to_h36m
from scjd_edge.errors import CheckpointError
from scjd_edge.infer.detectors import Detector
from scjd_edge.infer.keypoint_files import Person
from scjd_edge.infer.lifting import StreamingLifter
from scjd_edge.infer.rescale import rescale_to_training_size
from scjd_edge.infer.smoothing import OneEuroFilter, OneEuroParams
from scjd_edge.infer.tracking import PersonFollower


class CausalGapFiller:
    """Per joint, the last confident position: (17, 3) pixels + score -> (17, 2), held mask.

    A joint that is not finite or below `min_score` keeps its last confident position
    (held). Before a joint was ever confident, its own position is used if finite, else
    the mean of this frame's confident joints.
    """

    def __init__(self, min_score: float):
        self.min_score = min_score
        self.last = np.full((NUM_JOINTS, 2), np.nan)

    def __call__(self, person: Person) -> tuple[np.ndarray, np.ndarray]:
        keypoints = np.asarray(person.keypoints, dtype=np.float64)
        finite = np.isfinite(keypoints[:, :2]).all(axis=-1)
        confident = finite & (keypoints[:, 2] >= self.min_score)
        self.last[confident] = keypoints[confident, :2]
        filled = self.last.copy()
        never_seen = np.isnan(filled).any(axis=-1)
        filled[never_seen & finite] = keypoints[never_seen & finite, :2]
        still_missing = np.isnan(filled).any(axis=-1)
        if still_missing.any():
            anchor = keypoints[finite, :2].mean(axis=0) if finite.any() else np.zeros(2)
            filled[still_missing] = anchor
        return filled, ~confident


@dataclass
class StreamResult:
    """What a video stream produced. F = lifted frames (from the first one with the person)."""

    frame_indices: np.ndarray  # (F,) video frame index of each lifted frame
    keypoints_2d: np.ndarray  # (F, 17, 2) H36M-17 pixels after gap filling
    interpolated: np.ndarray  # (F, 17) bool: joint held from an earlier frame
    pose_3d: np.ndarray  # (F, 17, 3) root-relative metres
    detected: np.ndarray  # (frames read,) bool: the followed person was found
    detector_ms: list[float] = field(default_factory=list)
    lifter_ms: list[float] = field(default_factory=list)
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    lookahead_frames: int = 0

    @property
    def frames_read(self) -> int:
        return len(self.detected)

    @property
    def fps(self) -> float:
        return self.frames_read / max(self.seconds, 1e-9)


def run_stream(
    frames: Iterable[np.ndarray],
    detector: Detector,
    predictor,
    image_size: tuple[int, int],
    fps: float,
    track_id: int | None = None,
    min_score: float = 0.3,
    rescale: bool = True,
    smoothing: OneEuroParams | None = None,
    on_frame: Callable[[int, np.ndarray], None] | None = None,
) -> StreamResult:
    """Lift the person in a stream of RGB frames (see the module docstring).

    on_frame(index, frame) is called for every frame read (e.g. to keep frames for a
    picture of a camera stream). Raises CheckpointError when the model gives non-finite
    poses, and DataError (from the caller's check) when nobody is ever found.
    """
    follower = PersonFollower(track_id, min_score)
    filler = CausalGapFiller(min_score)
    lifter = StreamingLifter(predictor)
    one_euro = OneEuroFilter(fps, smoothing) if smoothing is not None else None
    width, height = image_size
    kept_2d, kept_held, kept_index, poses, detected = [], [], [], [], []
    detector_ms, lifter_ms = [], []
    started, cpu_started = time.perf_counter(), time.process_time()
    for index, frame in enumerate(frames):
        if on_frame is not None:
            on_frame(index, frame)
        tick = time.perf_counter()
        people = detector(frame, index)
        tock = time.perf_counter()
        detector_ms.append((tock - tick) * 1000.0)
        person = follower.choose(people)
        detected.append(person is not None)
        if person is None and not kept_index:
            continue  # nobody seen yet: nothing to lift
        if person is not None:
            coco_2d, coco_held = filler(person)
        else:  # the person left for a frame: hold every joint
            coco_2d, coco_held = filler.last.copy(), np.ones(NUM_JOINTS, dtype=bool)
        measured = (~coco_held).astype(np.float64)[:, None]
        h36m = coco_to_h36m(np.concatenate([coco_2d, measured], axis=-1))
        kept_2d.append(h36m[:, :2])
        kept_held.append(h36m[:, 2] < 1)
        kept_index.append(index)
        model_2d = model_input(h36m[:, :2], width, height, rescale)
        pose = lifter.push(model_2d)
        if pose is not None:
            poses.append(_finished(pose, one_euro, predictor, len(poses)))
        lifter_ms.append((time.perf_counter() - tock) * 1000.0)
    poses.extend(
        _finished(pose, one_euro, predictor, len(poses) + i)
        for i, pose in enumerate(lifter.flush())
    )
    seconds = time.perf_counter() - started
    return StreamResult(
        frame_indices=np.array(kept_index, dtype=np.int64),
        keypoints_2d=np.array(kept_2d, dtype=np.float32).reshape(-1, NUM_JOINTS, 2),
        interpolated=np.array(kept_held, dtype=bool).reshape(-1, NUM_JOINTS),
        pose_3d=np.array(poses, dtype=np.float32).reshape(-1, NUM_JOINTS, 3),
        detected=np.array(detected, dtype=bool),
        detector_ms=detector_ms,
        lifter_ms=lifter_ms,
        seconds=seconds,
        cpu_seconds=time.process_time() - cpu_started,
        lookahead_frames=lifter.lookahead_frames,
    )


def model_input(keypoints_px: np.ndarray, width: int, height: int, rescale: bool) -> np.ndarray:
    """(17, 2) H36M-17 pixels -> the model's input: normalised to the image (and rescaled)."""
    normalised = normalize_screen_coordinates(keypoints_px, width, height).astype(np.float32)
    return rescale_to_training_size(normalised) if rescale else normalised


def _finished(pose: np.ndarray, one_euro, predictor, frame: int) -> np.ndarray:
    if not np.isfinite(pose).all():
        raise CheckpointError(
            f"{getattr(predictor, 'name', 'the model')}: non-finite 3D pose (NaN/inf) for "
            f"lifted frame {frame}: the model's weights are broken; nothing was written"
        )
    return one_euro(pose) if one_euro is not None else pose
