"""Files of lifted poses: npz arrays, or JSON in MMPose's 3D prediction layout.

Coordinates: root-relative camera coordinates in metres (x right, y down, z forward, the
Hip joint at the origin), the convention of the training data; the absolute position of
the person is not estimated.

- `.npz`: `pose_3d` (F, 17, 3) float32, `keypoints_2d` (F, 17, 2) H36M-17 pixels after gap
  filling, `interpolated` (F, 17) bool (2D filled in or held), `keypoint_scores` (F, 17)
  (1 measured, 0 filled in), `joint_names`, `frame_ids`, `image_size` [W, H], `fps`.
- `.json`: `{"meta_info": {...}, "instance_info": [{"frame_id": id, "instances": [{
  "keypoints": (17, 3), "keypoint_scores": (17,), "keypoints_2d": (17, 2),
  "interpolated": (17,)}]}]}` as MMPose's pose-lifter demo saves it; `meta_info` holds
  the joint names, skeleton links, units, coordinates, image size and fps.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from scjd_edge.data.skeleton import BONES, JOINT_NAMES
from scjd_edge.errors import CheckpointError, ConfigError
from scjd_edge.io import write_json, write_npz

OUTPUT_SUFFIXES = (".npz", ".json")
COORDINATES = (
    "root-relative camera coordinates in metres (x right, y down, z forward), Hip at the origin"
)


def check_out_path(out: Path | None) -> None:
    if out is not None and Path(out).suffix.lower() not in OUTPUT_SUFFIXES:
        raise ConfigError(f"--out {out}: expected a .npz or .json file name")


def check_finite_poses(pose_3d: np.ndarray, model: str | Path) -> None:
    """CheckpointError naming the first frame when the model gave NaN or inf."""
    bad = ~np.isfinite(pose_3d).all(axis=(-1, -2))
    if bad.any():
        raise CheckpointError(
            f"{model}: non-finite 3D poses (NaN/inf) in {int(bad.sum())} of {len(bad)} frames "
            f"(first: frame {int(np.argmax(bad))}): the model's weights are broken; nothing "
            f"was written"
        )


def write_poses(
    path: Path,
    pose_3d: np.ndarray,
    keypoints_2d: np.ndarray,
    interpolated: np.ndarray,
    frame_ids: list[Any] | np.ndarray,
    image_size: tuple[int, int],
    fps: float | None,
) -> Path:
    """Write poses as .npz or MMPose-layout .json (see the module docstring)."""
    frame_ids = _frame_id_array(list(np.asarray(frame_ids).tolist()))
    scores = (~np.asarray(interpolated, dtype=bool)).astype(np.float32)
    if Path(path).suffix.lower() == ".npz":
        return write_npz(
            path,
            pose_3d=pose_3d.astype(np.float32),
            keypoints_2d=keypoints_2d.astype(np.float32),
            interpolated=np.asarray(interpolated, dtype=bool),
            keypoint_scores=scores,
            joint_names=np.array(JOINT_NAMES),
            frame_ids=frame_ids,
            image_size=np.array(image_size, dtype=np.int64),
            fps=np.float64(fps or 0.0),
        )
    frames = [
        {
            "frame_id": frame_id,
            "instances": [
                {
                    "keypoints": np.round(pose.astype(np.float64), 5).tolist(),
                    "keypoint_scores": score.tolist(),
                    "keypoints_2d": np.round(points.astype(np.float64), 2).tolist(),
                    "interpolated": mask.tolist(),
                }
            ],
        }
        for frame_id, pose, score, points, mask in zip(
            frame_ids.tolist(), pose_3d, scores, keypoints_2d, interpolated, strict=True
        )
    ]
    return write_json(path, {"meta_info": _meta_info(image_size, fps), "instance_info": frames})


def _frame_id_array(frame_ids: list[Any]) -> np.ndarray:
    """Frame ids as an int64 array, or as strings when the file used names."""
    if all(isinstance(f, int) and not isinstance(f, bool) for f in frame_ids):
        return np.array(frame_ids, dtype=np.int64)
    return np.array([str(f) for f in frame_ids])


def write_people_poses(path: Path, tracks: dict, image_size: tuple[int, int], fps: float) -> Path:
    """Every track's poses (`people_stream.TrackResult` by track id) in one file.

    `.json`: MMPose's layout with one instance per track in each frame, each carrying its
    `track_id`. `.npz`: `track_ids` and per track `track<id>_pose_3d`, `_keypoints_2d`,
    `_interpolated`, `_frame_ids` (the single-person arrays, prefixed), plus `joint_names`,
    `image_size`, `fps`.
    """
    if Path(path).suffix.lower() == ".npz":
        arrays = {}
        for track_id, track in tracks.items():
            arrays[f"track{track_id}_pose_3d"] = track.pose_3d.astype(np.float32)
            arrays[f"track{track_id}_keypoints_2d"] = track.keypoints_2d.astype(np.float32)
            arrays[f"track{track_id}_interpolated"] = track.interpolated
            arrays[f"track{track_id}_frame_ids"] = track.frame_indices
        return write_npz(
            path,
            track_ids=np.array(sorted(tracks), dtype=np.int64),
            joint_names=np.array(JOINT_NAMES),
            image_size=np.array(image_size, dtype=np.int64),
            fps=np.float64(fps),
            **arrays,
        )
    instances: dict[int, list[dict]] = {}
    for track_id, track in sorted(tracks.items()):
        for frame, pose, points, mask in zip(
            track.frame_indices, track.pose_3d, track.keypoints_2d, track.interpolated, strict=True
        ):
            instances.setdefault(int(frame), []).append(
                {
                    "track_id": int(track_id),
                    "keypoints": np.round(pose.astype(np.float64), 5).tolist(),
                    "keypoint_scores": (~mask).astype(float).tolist(),
                    "keypoints_2d": np.round(points.astype(np.float64), 2).tolist(),
                    "interpolated": mask.tolist(),
                }
            )
    frames = [{"frame_id": f, "instances": instances[f]} for f in sorted(instances)]
    meta_info = {**_meta_info(image_size, fps), "track_ids": sorted(int(t) for t in tracks)}
    return write_json(path, {"meta_info": meta_info, "instance_info": frames})


def _meta_info(image_size: tuple[int, int], fps: float) -> dict[str, Any]:
    """MMPose's `meta_info` of a lifted-pose file (H36M-17 joints, metres)."""
    return {
        "dataset_name": "h36m",
        "num_keypoints": len(JOINT_NAMES),
        "keypoint_id2name": dict(enumerate(JOINT_NAMES)),
        "skeleton_links": [list(bone) for bone in BONES],
        "units": "metres",
        "coordinates": COORDINATES,
        "keypoint_scores": "1 where the joint's 2D was measured in this frame, 0 where filled in",
        "image_size": list(image_size),
        "fps": fps,
    }
