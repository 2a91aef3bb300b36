"""One person's 2D keypoints from a detector file as one H36M-17 track, gaps filled.

`load_keypoints` reads the file (formats: `keypoint_files`), chooses one person
(`tracking`), and checks the image size. `layout` says the joint order, "coco" for
COCO-17 or "h36m" for H36M-17. A keypoint is missing when it is absent, not finite, or its
confidence is below `min_score`; missing keypoints are filled by linear interpolation over
time per joint (nearest valid value before the first and after the last valid frame) and
reported per joint. COCO tracks are then converted to H36M-17.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from scjd_edge.data.skeleton import COCO_JOINT_NAMES, JOINT_NAMES, NUM_JOINTS, coco_to_h36m
from scjd_edge.errors import DataError
from scjd_edge.infer.keypoint_files import Detections, read_detections
from scjd_edge.infer.tracking import select_person

LAYOUTS = ("coco", "h36m")
# A keypoint farther outside the image than this fraction of its width/height means the
# image size does not belong to these coordinates (detectors stay close to the image).
OUTSIDE_IMAGE_TOLERANCE = 0.25


@dataclass
class KeypointTrack:
    """One person's 2D keypoints over a whole sequence, H36M-17 layout, gaps filled.

    keypoints_2d: (F, 17, 2) pixels. interpolated: (F, 17) bool, True where a joint was
    filled in (a derived joint counts as filled if any keypoint it is built from was).
    """

    source: Path
    keypoints_2d: np.ndarray
    interpolated: np.ndarray
    frame_ids: list[Any]
    image_size: tuple[int, int]
    fps: float | None = None
    track_ids: list[int | None] = field(default_factory=list)  # chosen person per frame
    max_people: int = 1
    missing_frames: int = 0  # frames without the chosen person (every joint filled in)

    @property
    def interpolated_counts(self) -> dict[str, int]:
        """Frames filled in, per H36M joint name."""
        counts = self.interpolated.sum(axis=0)
        return {name: int(count) for name, count in zip(JOINT_NAMES, counts, strict=True)}


def load_keypoints(
    path: str | Path,
    layout: str = "coco",
    image_size: tuple[int, int] | None = None,
    track_id: int | None = None,
    min_score: float = 0.3,
) -> KeypointTrack:
    """Read a detector file, choose one person, fill gaps, convert to H36M-17 (pixels)."""
    path = Path(path)
    if layout not in LAYOUTS:
        raise DataError(f"keypoint layout {layout!r}: expected one of {', '.join(LAYOUTS)}")
    detections = read_detections(path)
    size = _resolve_image_size(detections, image_size)
    keypoints, track_ids = select_person(detections, track_id=track_id, min_score=min_score)
    missing_frames = int(np.isnan(keypoints).all(axis=(1, 2)).sum())
    if missing_frames == len(keypoints):
        raise DataError(f"{path}: no person in any of its {len(keypoints)} frames")
    valid = np.isfinite(keypoints).all(axis=-1) & (keypoints[..., 2] >= min_score)
    names = COCO_JOINT_NAMES if layout == "coco" else JOINT_NAMES
    required = coco_joints_used() if layout == "coco" else tuple(range(NUM_JOINTS))
    check_image_size(keypoints[..., :2], valid, size, names, path)
    filled, interpolated = fill_missing(keypoints[..., :2], valid, names, required, path)
    if layout == "coco":
        filled, interpolated = convert_coco_track(filled, interpolated)
    return KeypointTrack(
        source=path,
        keypoints_2d=filled.astype(np.float32),
        interpolated=interpolated,
        frame_ids=detections.frame_ids,
        image_size=size,
        fps=detections.fps,
        track_ids=track_ids,
        max_people=max((len(people) for people in detections.people), default=0),
        missing_frames=missing_frames,
    )


def _resolve_image_size(
    detections: Detections, image_size: tuple[int, int] | None
) -> tuple[int, int]:
    stored = detections.image_size
    if image_size is not None and stored is not None and tuple(image_size) != tuple(stored):
        raise DataError(
            f"{detections.source}: the file says the images are {stored[0]}x{stored[1]} but "
            f"--image-size is {image_size[0]}x{image_size[1]}; drop --image-size or fix the file"
        )
    size = image_size if image_size is not None else stored
    if size is None:
        raise DataError(
            f"{detections.source}: the image size is not in the file ('width'/'height' or COCO "
            f"'images'); pass --image-size WxH (the size of the images the detector ran on)"
        )
    if min(size) <= 0:
        raise DataError(f"{detections.source}: image size {size[0]}x{size[1]} must be positive")
    return int(size[0]), int(size[1])


# ---------------------------------------------------------------- gaps and layout


def fill_missing(
    keypoints_2d: np.ndarray,
    valid: np.ndarray,
    joint_names: tuple[str, ...],
    required: tuple[int, ...],
    source: Path,
) -> tuple[np.ndarray, np.ndarray]:
    """Fill missing keypoints by linear interpolation over time, per joint.

    keypoints_2d: (F, J, 2) pixels; valid: (F, J) bool. Before the first and after the last
    valid frame the nearest valid value is repeated. Returns the filled (F, J, 2) array and
    the (F, J) mask of filled entries. A `required` joint that is never valid is a
    DataError naming it; other never-valid joints are left at 0 and not marked.
    """
    filled = np.where(valid[..., None], keypoints_2d, 0.0)
    interpolated = np.zeros(valid.shape, dtype=bool)
    frames = np.arange(valid.shape[0])
    for joint in range(valid.shape[1]):
        known = valid[:, joint]
        if known.all():
            continue
        if not known.any():
            if joint in required:
                raise DataError(
                    f"{source}: joint {joint_names[joint]!r} is missing (or below the score "
                    f"threshold) in every one of {valid.shape[0]} frames; lower --min-score "
                    f"or check the detector output"
                )
            continue
        for axis in range(2):
            filled[:, joint, axis] = np.interp(frames, frames[known], filled[known, joint, axis])
        interpolated[:, joint] = ~known
    return filled, interpolated


@cache
def coco_joints_used() -> tuple[int, ...]:
    """COCO joints that `coco_to_h36m` builds some H36M joint from (found by probing it)."""
    used = []
    for coco_joint in range(NUM_JOINTS):
        probe = np.ones((NUM_JOINTS, 3), dtype=np.float32)
        probe[coco_joint, 2] = 0.0
        if (coco_to_h36m(probe)[:, 2] < 1).any():
            used.append(coco_joint)
    return tuple(used)


def convert_coco_track(
    keypoints_2d: np.ndarray, interpolated: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(F, 17, 2) COCO pixels and (F, 17) filled mask -> the same in the H36M-17 layout.

    The mask travels through `coco_to_h36m` as a score channel (1 = measured), whose
    derived joints take the minimum of their sources: a derived joint is marked filled as
    soon as one keypoint it is built from was filled.
    """
    measured = (~interpolated).astype(np.float32)[..., None]
    h36m = coco_to_h36m(np.concatenate([keypoints_2d, measured], axis=-1))
    return h36m[..., :2], h36m[..., 2] < 1


def check_image_size(
    keypoints_2d: np.ndarray,
    valid: np.ndarray,
    image_size: tuple[int, int],
    joint_names: tuple[str, ...],
    source: Path,
) -> None:
    """DataError when confident keypoints (F, J, 2) pixels do not fit a WxH image."""
    width, height = image_size
    points = keypoints_2d[valid]
    if points.size and np.abs(points).max() <= 1.5 and max(width, height) > 16:
        raise DataError(
            f"{source}: every keypoint lies within [-1.5, 1.5]: these look like normalised "
            f"coordinates, expected pixels of a {width}x{height} image"
        )
    limits = np.array([width, height], dtype=np.float64)
    outside = (points < -OUTSIDE_IMAGE_TOLERANCE * limits) | (
        points > (1 + OUTSIDE_IMAGE_TOLERANCE) * limits
    )
    if outside.any():
        frame, joint = np.argwhere(valid)[np.argwhere(outside.any(axis=1))[0, 0]]
        x, y = keypoints_2d[frame, joint]
        raise DataError(
            f"{source}: keypoint {joint_names[joint]!r} of frame {frame} at ({x:.0f}, {y:.0f}) "
            f"px lies far outside a {width}x{height} image; give the size of the images the "
            f"detector ran on (--image-size WxH)"
        )
