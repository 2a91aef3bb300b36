"""Pose data sets on disk -> `PoseDataset` (2D normalised + 3D camera space per camera).

Folders in the VideoPose3D format (CMU, Human3.6M, synthetic, BVH conversions) hold
- `data_3d_<name>.npz`: `positions_3d` = {subject: {action: (F, J, 3) world metres, Z up}};
- `data_2d_<name>_<keypoints>.npz`: `positions_2d` = {subject: {action: [per camera
  (F2, 17, 2) pixels]}} and `metadata` (`layout_name`, `num_joints`, `keypoints_symmetry`,
  optionally `synthetic`, `fps`);
- `cameras_<name>.json` (CMU layout: `camera_order` and per subject `cameras`, see
  `Camera.from_dict`). Human3.6M needs none: the published extrinsics of S1, S5, S6, S7,
  S8, S9 and S11 ship with the package (a `cameras_h36m.json` in the folder overrides them).
Action keys are `"<Category> <rest>"`: `action.split(" ")[0]` is the category.
2D longer than its 3D is trimmed to the 3D length (VideoPose3D convention); shorter is an
error. MPI-INF-3DHP npz files are read by `mpi_3dhp.load_3dhp`; `builtin:cmu` and
`builtin:synthetic` by `builtin` (cached folders of this format).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from scjd_edge.data.builtin import BUILTIN_NAMES, builtin_folder
from scjd_edge.data.camera import (
    Camera,
    h36m_cameras,
    h36m_subjects_with_cameras,
    normalize_screen_coordinates,
    read_cameras_json,
)
from scjd_edge.data.dataset import DEFAULT_FPS, PoseDataset, PoseSequence, require_finite
from scjd_edge.data.mpi_3dhp import load_3dhp
from scjd_edge.data.npz import read_npz_dict
from scjd_edge.data.projection import cached_projection
from scjd_edge.data.skeleton import JOINT_LAYOUT, LEFT_JOINTS, NUM_JOINTS, RIGHT_JOINTS
from scjd_edge.errors import DataError

WORLD_UP = (0.0, 0.0, 1.0)  # the world's up axis in VideoPose3D-format folders
# Human3.6M's 32 mocap joints -> the 17 kept by VideoPose3D (same order as skeleton.py).
H36M_32_TO_17 = (0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27)


def load_dataset(path: str | Path, keypoints: str = "gt") -> PoseDataset:
    """Read a data folder or file, detecting its kind.

    `path`: a VideoPose3D-format folder (or its `data_3d_*.npz`), an MPI-INF-3DHP npz or
    folder, or a built-in set ("builtin:cmu", "builtin:synthetic"; written once into the
    cache). `keypoints` picks the 2D file `data_2d_<name>_<keypoints>.npz` ("gt", or e.g.
    "cpn_ft_h36m_dbb").
    """
    if str(path).startswith("builtin:"):
        dataset = load_dataset(builtin_folder(str(path)), keypoints)
        dataset.source = str(path)  # checkpoints then name data any machine can find
        return dataset
    path = Path(path)
    if not path.exists():
        raise DataError(
            f"{path}: no such data folder or file (expected a folder with data_3d_<name>.npz, "
            f"an MPI-INF-3DHP npz, or one of {', '.join(BUILTIN_NAMES)})"
        )
    if path.is_file():
        if path.name.startswith("data_3d_"):
            return _load_videopose3d(path, keypoints)
        if path.suffix != ".npz" or path.name.startswith("data_2d_"):
            raise DataError(
                f"{path}: pass the data folder, its data_3d_<name>.npz, or an MPI-INF-3DHP npz "
                f"(2D keypoints and cameras are found beside the 3D file)"
            )
        return load_3dhp([path])
    files_3d = sorted(path.glob("data_3d_*.npz"))
    if len(files_3d) > 1:
        names = ", ".join(f.name for f in files_3d)
        raise DataError(f"{path}: several 3D files ({names}); pass the one to use")
    if files_3d:
        return _load_videopose3d(files_3d[0], keypoints)
    files_3dhp = sorted(path.glob("data_*_3dhp.npz"))
    if files_3dhp:
        return load_3dhp(files_3dhp)
    raise DataError(
        f"{path}: no data_3d_<name>.npz (VideoPose3D format) and no data_train_3dhp.npz / "
        f"data_test_3dhp.npz (MPI-INF-3DHP) in this folder"
    )


def describe_dataset(path: str | Path, keypoints: str = "gt") -> dict[str, Any]:
    """Summary for `scjd-edge data info`: source, cameras, fps, per-subject counts."""
    dataset = load_dataset(path, keypoints)
    fps_counts = Counter(seq.fps for seq in dataset.sequences)
    camera_ids = list(dict.fromkeys(seq.camera for seq in dataset.sequences))
    subjects: dict[str, dict[str, Any]] = {}
    for subject in dataset.subjects():
        # Every action is seen by several cameras: count its 3D frames once.
        frames_per_action: dict[str, tuple[int, float]] = {}
        for seq in dataset.sequences:
            if seq.subject == subject:
                frames_per_action.setdefault(seq.action, (seq.num_frames, seq.fps))
        frames = sum(count for count, _ in frames_per_action.values())
        seconds = sum(count / fps for count, fps in frames_per_action.values())
        categories = sorted({action.split(" ")[0] for action in frames_per_action})
        subjects[subject] = {
            "sequences": len(frames_per_action),
            "frames": frames,
            "seconds": round(seconds, 2),
            "categories": categories,
        }
    info = {
        "name": dataset.name,
        "source": dataset.source,
        "synthetic": dataset.synthetic,
        "keypoints": dataset.keypoints,
        "fps": fps_counts.most_common(1)[0][0] if fps_counts else DEFAULT_FPS,
        "fps_values": sorted(fps_counts),
        "joint_layout": JOINT_LAYOUT,
        "num_cameras": len(camera_ids),
        "cameras": camera_ids,
        "subjects": subjects,
        "actions": sorted({c for row in subjects.values() for c in row["categories"]}),
        "total": {
            "sequences": sum(row["sequences"] for row in subjects.values()),
            "frames": sum(row["frames"] for row in subjects.values()),
            "seconds": round(sum(row["seconds"] for row in subjects.values()), 2),
        },
    }
    for key in ("source", "acknowledgement", "split"):  # what a built-in set records
        if key in dataset.metadata:
            info[f"data_{key}"] = dataset.metadata[key]
    if dataset.synthetic:
        info["note"] = "SYNTHETIC data generated by scjd-edge (procedural motion), not real"
    return info


# --- VideoPose3D-format folders ---------------------------------------------------------


def _load_videopose3d(file_3d: Path, keypoints: str) -> PoseDataset:
    folder = file_3d.parent
    name = file_3d.stem[len("data_3d_") :]
    poses_world = _checked_positions_3d(read_npz_dict(file_3d, "positions_3d"), file_3d, name)
    positions_2d, metadata, file_2d = _read_2d(folder, name, keypoints, file_3d, poses_world)
    _check_metadata(metadata, file_2d)
    cameras = _cameras_for(folder, name, list(poses_world))
    fps = float(metadata.get("fps", DEFAULT_FPS))
    sequences = []
    for subject, actions in poses_world.items():
        for action, pose_world in actions.items():
            views = _views_2d(positions_2d, subject, action, file_2d)
            sequences += _camera_sequences(
                subject, action, pose_world, views, cameras[subject], file_2d, fps
            )
    if not sequences:
        raise DataError(f"{file_3d}: key positions_3d holds no sequences")
    return PoseDataset(
        name=name,
        source=str(folder),
        synthetic=bool(metadata.get("synthetic", False)),
        sequences=sequences,
        keypoints=keypoints,
        metadata=dict(metadata),
    )


def _read_2d(
    folder: Path, name: str, keypoints: str, file_3d: Path, poses_world: dict
) -> tuple[dict, dict[str, Any], Path]:
    """(positions_2d, metadata, the file they came from): the folder's 2D file, or for
    keypoints "gt" in a folder with 3D + cameras and no 2D file (CMU v2) the exact
    projection, computed once and cached (`data/projection.py`)."""
    file_2d = folder / f"data_2d_{name}_{keypoints}.npz"
    if file_2d.is_file():
        metadata = read_npz_dict(file_2d, "metadata")
        return read_npz_dict(file_2d, "positions_2d"), metadata, file_2d
    file_cameras = folder / f"cameras_{name}.json"
    if keypoints == "gt" and file_cameras.is_file():
        cameras = read_cameras_json(file_cameras, list(poses_world))
        positions_2d, cached = cached_projection(file_3d, file_cameras, poses_world, cameras)
        return positions_2d, {}, cached
    available = sorted(f.name for f in folder.glob(f"data_2d_{name}_*.npz"))
    raise DataError(
        f"{file_2d}: 2D keypoints file not found for keypoints={keypoints!r} "
        f"(2D files for {name!r} here: {', '.join(available) or 'none'}; exact 2D is "
        f"projected for keypoints 'gt' when {file_cameras.name} is present)"
    )


def _checked_positions_3d(positions_3d: dict, file_3d: Path, name: str) -> dict:
    """{subject: {action: (F, 17, 3) float64 world metres}}, every array checked."""
    checked: dict[str, dict[str, np.ndarray]] = {}
    for subject, actions in positions_3d.items():
        _require_mapping(actions, file_3d, f"positions_3d[{subject!r}]")
        checked[subject] = {
            action: _check_pose_3d(
                pose, file_3d, f"positions_3d[{subject!r}][{action!r}]", reduce_32=name == "h36m"
            )
            for action, pose in actions.items()
        }
    return checked


def _camera_sequences(
    subject: str,
    action: str,
    pose_world: np.ndarray,
    views: list,
    cameras: list[Camera],
    file_2d: Path,
    fps: float,
) -> list[PoseSequence]:
    """One PoseSequence per camera: 3D moved into the camera, 2D checked and normalised."""
    if len(views) != len(cameras):
        raise DataError(
            f"{file_2d}: key positions_2d[{subject!r}][{action!r}] holds {len(views)} "
            f"camera views, expected {len(cameras)} (cameras of {subject})"
        )
    sequences = []
    for index, (camera, keypoints_px) in enumerate(zip(cameras, views, strict=True)):
        where = f"positions_2d[{subject!r}][{action!r}][{index}] (camera {camera.id})"
        keypoints_px = _check_keypoints_2d(keypoints_px, file_2d, where, len(pose_world))
        keypoints_2d = normalize_screen_coordinates(keypoints_px, camera.res_w, camera.res_h)
        sequences.append(
            PoseSequence(
                subject=str(subject),
                action=str(action),
                camera=camera.id,
                keypoints_2d=keypoints_2d.astype(np.float32),
                pose_3d=camera.world_to_camera(pose_world).astype(np.float32),
                fps=fps,
                res_w=camera.res_w,
                res_h=camera.res_h,
                intrinsics=camera,
                camera_up=tuple(float(v) for v in camera.direction_to_camera(WORLD_UP)),
            )
        )
    return sequences


def _require_mapping(value: Any, path: Path, key: str) -> None:
    if not isinstance(value, dict):
        raise DataError(f"{path}: key {key} must be a dict of actions, got {type(value).__name__}")


def _check_metadata(metadata: dict[str, Any], path: Path) -> None:
    num_joints = metadata.get("num_joints", NUM_JOINTS)
    if num_joints != NUM_JOINTS:
        raise DataError(
            f"{path}: key metadata['num_joints'] is {num_joints}, expected {NUM_JOINTS} "
            f"(Human3.6M-17 layout)"
        )
    symmetry = metadata.get("keypoints_symmetry")
    if symmetry is not None:
        left, right = (sorted(int(j) for j in side) for side in symmetry)
        if left != sorted(LEFT_JOINTS) or right != sorted(RIGHT_JOINTS):
            raise DataError(
                f"{path}: key metadata['keypoints_symmetry'] is {[left, right]}, expected "
                f"{[list(LEFT_JOINTS), list(RIGHT_JOINTS)]} (Human3.6M-17 left/right joints)"
            )


def _cameras_for(folder: Path, name: str, subjects: list[str]) -> dict[str, list[Camera]]:
    """Cameras of every subject from `cameras_<name>.json` (or the built-in H36M set)."""
    json_path = folder / f"cameras_{name}.json"
    if json_path.is_file():
        return read_cameras_json(json_path, subjects)
    if name == "h36m":
        known = h36m_subjects_with_cameras()
        for subject in subjects:
            if subject not in known:
                raise DataError(
                    f"{folder / 'data_3d_h36m.npz'}: key positions_3d[{subject!r}]: no camera "
                    f"extrinsics ship for this Human3.6M subject (known: {', '.join(known)}); "
                    f"add {json_path.name} (layout of cameras_cmu.json) to the folder"
                )
        return {subject: h36m_cameras(subject) for subject in subjects}
    raise DataError(
        f"{json_path}: camera file not found; a {name!r} data folder needs it to move the "
        f"world-space 3D poses into each camera (per subject: 'cameras' with orientation, "
        f"translation, intrinsics; see cameras_cmu.json)"
    )


def _check_pose_3d(pose: Any, path: Path, where: str, reduce_32: bool) -> np.ndarray:
    pose = np.asarray(pose)
    if reduce_32 and pose.ndim == 3 and pose.shape[1] == 32:
        pose = pose[:, list(H36M_32_TO_17)]
    if pose.ndim != 3 or pose.shape[1:] != (NUM_JOINTS, 3) or pose.dtype.kind not in "fiu":
        expected = "(F, 32 or 17, 3)" if reduce_32 else f"(F, {NUM_JOINTS}, 3)"
        raise DataError(
            f"{path}: key {where}: expected a {expected} array of metres, "
            f"got shape {pose.shape} dtype {pose.dtype}"
        )
    if len(pose) == 0:
        raise DataError(f"{path}: key {where}: a sequence with 0 frames")
    require_finite(pose, path, where)
    return pose.astype(np.float64)


def _views_2d(positions_2d: dict, subject: str, action: str, path: Path) -> list:
    if subject not in positions_2d:
        raise DataError(
            f"{path}: missing key positions_2d[{subject!r}] (subject {subject} has 3D poses; "
            f"subjects with 2D: {', '.join(map(str, positions_2d))})"
        )
    actions = positions_2d[subject]
    _require_mapping(actions, path, f"positions_2d[{subject!r}]")
    if action not in actions:
        raise DataError(
            f"{path}: missing key positions_2d[{subject!r}][{action!r}] "
            f"(the 3D file has this sequence)"
        )
    views = actions[action]
    if isinstance(views, np.ndarray) and views.dtype != object:
        views = list(views)  # (cameras, F, 17, 2) stacked in one array
    if not isinstance(views, list | tuple):
        raise DataError(
            f"{path}: key positions_2d[{subject!r}][{action!r}] must be a list with one "
            f"(F, 17, 2) array per camera, got {type(views).__name__}"
        )
    return list(views)


def _check_keypoints_2d(keypoints: Any, path: Path, where: str, frames_3d: int) -> np.ndarray:
    keypoints = np.asarray(keypoints)
    if (
        keypoints.ndim != 3
        or keypoints.shape[1:] != (NUM_JOINTS, 2)
        or keypoints.dtype.kind not in "fiu"
    ):
        raise DataError(
            f"{path}: key {where}: expected a (F, {NUM_JOINTS}, 2) array of pixels, "
            f"got shape {keypoints.shape} dtype {keypoints.dtype}"
        )
    if len(keypoints) < frames_3d:
        raise DataError(
            f"{path}: key {where}: {len(keypoints)} frames of 2D but {frames_3d} frames of 3D; "
            f"2D must be at least as long as 3D"
        )
    keypoints = keypoints[:frames_3d]  # VideoPose3D convention: extra 2D frames are dropped
    require_finite(keypoints, path, where)
    return keypoints.astype(np.float64)
