"""The in-memory pose data every reader produces: `PoseDataset` of `PoseSequence`s."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from scjd_edge.data.camera import Camera
from scjd_edge.errors import DataError

DEFAULT_FPS = 50.0


@dataclass
class PoseSequence:
    """One sequence seen by one camera."""

    subject: str
    action: str
    camera: str
    keypoints_2d: np.ndarray  # (F, 17, 2) float32 normalised screen coordinates
    pose_3d: np.ndarray  # (F, 17, 3) float32 camera coordinates, metres (absolute)
    fps: float
    res_w: int
    res_h: int
    # The camera that saw it (intrinsics in pixels; extrinsics when known), or None when the
    # data does not say (MPI-INF-3DHP npz files): the virtual camera needs the intrinsics.
    intrinsics: Camera | None = None
    # Unit vector pointing up (against gravity) in this camera's coordinates, when the
    # camera's extrinsics are known; None falls back to the camera's -y axis (level camera).
    camera_up: tuple[float, float, float] | None = None
    # False for 2D-only data (data.unlabelled_subjects): pose_3d is all NaN, never a target.
    labelled: bool = True

    @property
    def num_frames(self) -> int:
        return len(self.pose_3d)

    def without_3d(self) -> PoseSequence:
        """The same 2D with its 3D hidden (NaN), as 2D-only data that a teacher labels."""
        return dataclasses.replace(self, pose_3d=np.full_like(self.pose_3d, np.nan), labelled=False)


@dataclass
class PoseDataset:
    name: str  # "cmu", "h36m", "3dhp", "synthetic", "bvh", ...
    source: str  # folder or file it was read from
    synthetic: bool  # True for the built-in generated data
    sequences: list[PoseSequence]
    keypoints: str = "gt"  # which 2D file was read
    metadata: dict[str, Any] = field(default_factory=dict)

    def subjects(self) -> list[str]:
        """Subject names in natural order (S1, S5, ..., S11)."""
        return sorted({seq.subject for seq in self.sequences}, key=natural_key)

    def select(self, subjects: list[str], split_name: str) -> list[PoseSequence]:
        """The sequences of `subjects`; an unknown subject is a DataError."""
        known = self.subjects()
        unknown = [s for s in subjects if s not in known]
        if unknown:
            raise DataError(
                f"{self.source}: {split_name} subjects {unknown} are not in the {self.name} "
                f"data (known subjects: {', '.join(known)}); check data.{split_name}_subjects"
            )
        wanted = set(subjects)
        return [seq for seq in self.sequences if seq.subject in wanted]


def require_finite(array: np.ndarray, path: Path, where: str) -> None:
    bad = ~np.isfinite(array)
    if bad.any():
        frame = int(np.argwhere(bad)[0][0])
        raise DataError(
            f"{path}: key {where}: {int(bad.sum())} NaN/inf values (first in frame {frame}); "
            f"expected finite coordinates"
        )


def natural_key(text: str) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]
