"""Exact 2D from 3D and cameras: for data folders that ship 3D + cameras and no 2D file.

`project_views` is the one projection used for the built-in CMU data and for any folder
with `data_3d_<name>.npz` and `cameras_<name>.json` but no `data_2d_<name>_gt.npz` (CMU
v2): the 2D of such a folder is computed once and kept under `$SCJD_CACHE_DIR`, keyed by
the sha256 of both input files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from scjd_edge.data.cache import cached_folder
from scjd_edge.data.camera import Camera
from scjd_edge.data.npz import read_npz_dict
from scjd_edge.io import sha256_file, write_npz

PROJECTION_VERSION = 1
PROJECTED_FILE = "positions_2d.npz"


def project_views(pose_world: np.ndarray, cameras: list[Camera]) -> list[np.ndarray]:
    """(F, 17, 3) world metres -> one (F, 17, 2) float32 pixel array per camera."""
    pose = pose_world.astype(np.float64)
    return [camera.project(camera.world_to_camera(pose)).astype(np.float32) for camera in cameras]


def project_positions(
    positions_3d: dict[str, dict[str, np.ndarray]], cameras: dict[str, list[Camera]]
) -> dict[str, dict[str, list[np.ndarray]]]:
    """{subject: {action: (F, 17, 3)}} -> {subject: {action: [per camera (F, 17, 2) px]}}."""
    return {
        subject: {action: project_views(pose, cameras[subject]) for action, pose in actions.items()}
        for subject, actions in positions_3d.items()
    }


def cached_projection(
    file_3d: Path,
    file_cameras: Path,
    positions_3d: dict[str, dict[str, np.ndarray]],
    cameras: dict[str, list[Camera]],
) -> tuple[dict[str, dict[str, list[np.ndarray]]], Path]:
    """The exact 2D of a 3D + cameras folder, computed once; returns (positions_2d, file)."""
    digests = {path.name: sha256_file(path) for path in (file_3d, file_cameras)}
    stamp = {"projection_version": PROJECTION_VERSION, "sha256": digests}

    def build(staging: Path) -> None:
        write_npz(staging / PROJECTED_FILE, positions_2d=project_positions(positions_3d, cameras))

    folder = cached_folder(f"projected-{file_3d.stem}", stamp, build)
    path = folder / PROJECTED_FILE
    return read_npz_dict(path, "positions_2d"), path
