"""Writing a VideoPose3D-format folder (3D npz, 2D npz, cameras json) that `load_dataset` reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from scjd_edge.data.camera import Camera
from scjd_edge.data.dataset import DEFAULT_FPS
from scjd_edge.data.skeleton import LEFT_JOINTS, NUM_JOINTS, RIGHT_JOINTS
from scjd_edge.io import write_json, write_npz


def write_pose_folder(
    out_dir: str | Path,
    name: str,
    positions_3d: dict[str, dict[str, np.ndarray]],
    positions_2d: dict[str, dict[str, list[np.ndarray]]],
    cameras: dict[str, list[Camera]],
    metadata: dict[str, Any] | None = None,
    cameras_note: str = "",
) -> list[Path]:
    """Write a VideoPose3D-format folder that `load_dataset` reads.

    positions_3d: {subject: {action: (F, 17, 3) world metres}}; positions_2d: {subject:
    {action: [per camera (F, 17, 2) pixels]}}; cameras: {subject: [Camera with extrinsics]}.
    Returns the written paths (3D npz, 2D npz, cameras json).
    """
    out_dir = Path(out_dir)
    full_metadata = {
        "layout_name": "h36m",
        "num_joints": NUM_JOINTS,
        "keypoints_symmetry": [list(LEFT_JOINTS), list(RIGHT_JOINTS)],
        "fps": DEFAULT_FPS,
        **(metadata or {}),
    }
    path_3d = write_npz(
        out_dir / f"data_3d_{name}.npz", positions_3d=np.array(positions_3d, dtype=object)
    )
    path_2d = write_npz(
        out_dir / f"data_2d_{name}_gt.npz",
        positions_2d=np.array(positions_2d, dtype=object),
        metadata=np.array(full_metadata, dtype=object),
    )
    first_cameras = next(iter(cameras.values()))
    cameras_json = {
        "note": cameras_note
        or "orientation = quaternion (w,x,y,z) rotating camera into world coordinates; "
        "translation = camera centre in world coordinates (metres).",
        "synthetic": bool(full_metadata.get("synthetic", False)),
        "camera_order": [camera.id for camera in first_cameras],
        "subjects": {
            subject: {"cameras": [camera.to_dict() for camera in subject_cameras]}
            for subject, subject_cameras in cameras.items()
        },
    }
    path_cameras = write_json(out_dir / f"cameras_{name}.json", cameras_json)
    return [path_3d, path_2d, path_cameras]
