"""Virtual-camera augmentation: a training window re-rendered from a random viewpoint.

Per window (all frames alike, so the motion stays one rigid transform of the original):
1. yaw: rotate the subject about the vertical through the root at the window's centre
   frame (the camera's "up" from the sequence's extrinsics, else its -y axis);
2. pitch: rotate it about the horizontal axis through that root that is perpendicular to
   the line of sight (the view from slightly above or below);
3. distance: move it along the camera ray through that root by a factor (log-uniform, so
   0.8 and 1.25 are equally likely), which changes its apparent size, not its shape;
4. project the moved 3D through the sequence's own intrinsics (focal length, centre, lens
   distortion: `camera.distort_and_scale`) and normalise to screen coordinates as the
   loaders do.
The root-relative 3D target is the rotated pose, so 2D and 3D stay consistent. The 2D is
rendered from the 3D ground truth: with detected 2D (e.g. CPN keypoints) the detections
are replaced by exact projections on every augmented window.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields

import torch

from scjd_edge.config import VirtualCameraConfig
from scjd_edge.data.camera import Camera, distort_and_scale
from scjd_edge.data.dataset import PoseSequence
from scjd_edge.errors import DataError

LEVEL_CAMERA_UP = (0.0, -1.0, 0.0)  # camera y points down: a level camera's up is -y


@dataclass
class SequenceCameras:
    """Per-sequence camera tensors (S = number of sequences), float32."""

    focal: torch.Tensor  # (S, 2) pixels
    center: torch.Tensor  # (S, 2) pixels
    radial: torch.Tensor  # (S, 3)
    tangential: torch.Tensor  # (S, 2)
    size: torch.Tensor  # (S, 2) image width and height in pixels
    up: torch.Tensor  # (S, 3) unit vector, camera coordinates

    @classmethod
    def of(cls, sequences: Sequence[PoseSequence]) -> SequenceCameras:
        """The cameras of `sequences`; a sequence without intrinsics is a DataError."""
        cameras = [_intrinsics_of(sequence) for sequence in sequences]
        ups = _column([sequence.camera_up or LEVEL_CAMERA_UP for sequence in sequences])
        return cls(
            focal=_column([camera.focal_length for camera in cameras]),
            center=_column([camera.center for camera in cameras]),
            radial=_column([camera.radial_distortion for camera in cameras]),
            tangential=_column([camera.tangential_distortion for camera in cameras]),
            size=_column([(camera.res_w, camera.res_h) for camera in cameras]),
            up=torch.nn.functional.normalize(ups, dim=1),
        )

    def gather(self, sequence_index: torch.Tensor) -> SequenceCameras:
        """The cameras of a batch's windows, (B, ...)."""
        return SequenceCameras(
            **{f.name: getattr(self, f.name)[sequence_index] for f in fields(self)}
        )


def _intrinsics_of(sequence: PoseSequence) -> Camera:
    if sequence.intrinsics is None:
        raise DataError(
            f"sequence {sequence.subject}/{sequence.action} (camera {sequence.camera}) has no "
            "camera intrinsics; data.virtual_camera needs the focal length and centre of every "
            "training camera (VideoPose3D-format folders and builtin: data have them, "
            "MPI-INF-3DHP npz files do not): set data.virtual_camera.enabled=false"
        )
    return sequence.intrinsics


def _column(rows: list) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float32)


@dataclass
class ViewChange:
    """One draw per window (B,): radians and a distance factor."""

    yaw: torch.Tensor
    pitch: torch.Tensor
    distance: torch.Tensor

    @classmethod
    def draw(
        cls, config: VirtualCameraConfig, batch_size: int, generator: torch.Generator
    ) -> ViewChange:
        uniform = torch.rand(batch_size, 3, generator=generator, dtype=torch.float64)

        def between(column: int, low: float, high: float) -> torch.Tensor:
            return low + uniform[:, column] * (high - low)

        yaw = between(0, *(math.radians(v) for v in config.yaw_deg))
        pitch = between(1, *(math.radians(v) for v in config.pitch_deg))
        distance = between(2, *(math.log(v) for v in config.distance_factor)).exp()
        return cls(yaw.float(), pitch.float(), distance.float())


def rotation_about(axis: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """(B, 3) unit axes and (B,) angles -> (B, 3, 3) rotation matrices (Rodrigues)."""
    x, y, z = axis.unbind(-1)
    zero = torch.zeros_like(x)
    cross = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], dim=-1).view(-1, 3, 3)
    sin, one_minus_cos = angle.sin()[:, None, None], (1 - angle.cos())[:, None, None]
    identity = torch.eye(3, dtype=axis.dtype).expand_as(cross)
    return identity + sin * cross + one_minus_cos * (cross @ cross)


def view_rotation(up: torch.Tensor, root: torch.Tensor, view: ViewChange) -> torch.Tensor:
    """(B, 3, 3): yaw about `up`, then pitch about the horizontal axis perpendicular to the
    line of sight to `root` (B, 3); looking straight along `up` takes the camera's x axis."""
    horizontal = torch.linalg.cross(root, up)
    length = horizontal.norm(dim=-1, keepdim=True)
    camera_x = torch.tensor([1.0, 0.0, 0.0]).expand_as(horizontal)
    horizontal = torch.where(length > 1e-6, horizontal / length.clamp_min(1e-6), camera_x)
    return rotation_about(horizontal, view.pitch) @ rotation_about(up, view.yaw)


def render(
    pose_3d: torch.Tensor,
    root: torch.Tensor,
    centre: int,
    cameras: SequenceCameras,
    view: ViewChange,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Re-render windows through their virtual cameras.

    pose_3d (B, T, 17, 3) root-relative and root (B, T, 3) absolute, camera metres;
    `centre` the frame whose root the rotations pivot on; `cameras` gathered per window.
    Returns keypoints_2d (B, T, 17, 2) normalised screen coordinates and pose_3d
    (B, T, 17, 3) root-relative, both of the moved subject.
    """
    pivot = root[:, centre]  # (B, 3)
    rotation = view_rotation(cameras.up, pivot, view).transpose(1, 2)  # rows @ rotation
    rotated_3d = (pose_3d.flatten(1, 2) @ rotation).view_as(pose_3d)
    rotated_root = (root - pivot[:, None]) @ rotation
    moved_root = rotated_root + view.distance[:, None, None] * pivot[:, None]
    points = rotated_3d + moved_root[:, :, None]
    plane = (points[..., :2] / points[..., 2:3]).clip(-1.0, 1.0)
    lens = (cameras.focal, cameras.center, cameras.radial, cameras.tangential)
    pixels = distort_and_scale(plane, *(value[:, None, None] for value in lens))
    width, height = (value[:, None, None, None] for value in cameras.size.unbind(-1))
    keypoints_2d = normalize_screen_torch(pixels, width, height)
    return keypoints_2d, rotated_3d


def normalize_screen_torch(uv: torch.Tensor, w: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """`camera.normalize_screen_coordinates` for tensors, with `w`, `h` broadcast per row:
    `uv / w * 2 - [1, h / w]`."""
    offset = torch.cat([torch.ones_like(h), h / w], dim=-1)
    return uv / w * 2 - offset
