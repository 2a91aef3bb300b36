"""2D checks before lifting: joints a detector got wrong are marked missing (then held).

Per track and frame, on COCO-17 pixels + confidence, in this order:
- confidence: below `min_score`;
- jump: the joint moved faster than `max_heights_per_second` person heights per second
  since its last accepted position (plus `slack` heights), the person's height being the
  running median of the confident keypoints' vertical extent;
- bone length: an arm or leg bone (shoulder-elbow, elbow-wrist, hip-knee, knee-ankle) more
  than `max_bone_ratio` times its running median for this track (after `warmup` frames
  of it) marks its outer joint missing. Only too long is refused: a bone pointing at the
  camera is legitimately short.
Each check counts the joints it marked (`counts`). Nothing here looks at future frames.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from scjd_edge.data.skeleton import COCO_JOINT_NAMES, NUM_JOINTS

_COCO = {name: index for index, name in enumerate(COCO_JOINT_NAMES)}
LIMB_BONES = tuple(
    (_COCO[f"{side}_{inner}"], _COCO[f"{side}_{outer}"])
    for side in ("left", "right")
    for inner, outer in (
        ("shoulder", "elbow"),
        ("elbow", "wrist"),
        ("hip", "knee"),
        ("knee", "ankle"),
    )
)
CHECKS = ("low_confidence", "jump", "bone_length")


class KeypointChecks:
    """`mark(keypoints (17, 3) px + score, frame_index)` -> (17,) bool: joints kept."""

    def __init__(
        self,
        video_fps: float,
        min_score: float = 0.3,
        max_heights_per_second: float = 4.0,
        slack: float = 0.1,
        max_bone_ratio: float = 1.8,
        warmup: int = 5,
        history: int = 30,
    ):
        self.video_fps = video_fps
        self.min_score = min_score
        self.max_heights_per_second = max_heights_per_second
        self.slack = slack
        self.max_bone_ratio = max_bone_ratio
        self.warmup = warmup
        self._heights: deque[float] = deque(maxlen=history)
        self._bones: list[deque[float]] = [deque(maxlen=history) for _ in LIMB_BONES]
        self._last_position = np.full((NUM_JOINTS, 2), np.nan)
        self._last_frame = np.full(NUM_JOINTS, -1)
        self.counts = dict.fromkeys(CHECKS, 0)

    def mark(self, keypoints: np.ndarray, frame_index: int) -> np.ndarray:
        keypoints = np.asarray(keypoints, dtype=np.float64)
        kept = np.isfinite(keypoints).all(axis=-1) & (keypoints[:, 2] >= self.min_score)
        self.counts["low_confidence"] += int((~kept).sum())
        if kept.sum() >= 2:
            self._heights.append(float(np.ptp(keypoints[kept, 1])))
        height = float(np.median(self._heights)) if self._heights else 0.0
        jumped = kept & self._jumped(keypoints[:, :2], frame_index, height)
        self.counts["jump"] += int(jumped.sum())
        kept &= ~jumped
        too_long = kept & self._too_long(keypoints[:, :2], kept)
        self.counts["bone_length"] += int(too_long.sum())
        kept &= ~too_long
        self._last_position[kept] = keypoints[kept, :2]
        self._last_frame[kept] = frame_index
        return kept

    def _jumped(self, points: np.ndarray, frame_index: int, height: float) -> np.ndarray:
        seen = self._last_frame >= 0
        if height <= 0 or not seen.any():
            return np.zeros(NUM_JOINTS, dtype=bool)
        seconds = (frame_index - self._last_frame) / self.video_fps
        allowed = height * (self.max_heights_per_second * seconds + self.slack)
        moved = np.linalg.norm(points - self._last_position, axis=-1)
        return seen & (moved > allowed)

    def _too_long(self, points: np.ndarray, kept: np.ndarray) -> np.ndarray:
        too_long = np.zeros(NUM_JOINTS, dtype=bool)
        for lengths, (inner, outer) in zip(self._bones, LIMB_BONES, strict=True):
            if not (kept[inner] and kept[outer]):
                continue
            length = float(np.linalg.norm(points[outer] - points[inner]))
            if len(lengths) >= self.warmup and length > self.max_bone_ratio * np.median(lengths):
                too_long[outer] = True
                continue
            lengths.append(length)
        return too_long
