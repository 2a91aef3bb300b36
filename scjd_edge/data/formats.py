"""Pose data sets on disk -> `PoseDataset` (2D normalised + 3D camera space per camera).

Folders in the VideoPose3D format (CMU, Human3.6M, synthetic, BVH conversions) hold
- `data_3d_<name>.npz`: `positions_3d` = {subject: {action: (F, J, 3) world metres}};
- `data_2d_<name>_<keypoints>.npz`: `positions_2d` = {subject: {action: [per camera
  (F2, 17, 2) pixels]}} and `metadata` (`layout_name`, `num_joints`, `keypoints_symmetry`,
  optionally `synthetic`, `fps`);
- `cameras_<name>.json` (CMU layout: `camera_order` and per subject `cameras`, see
  `Camera.from_dict`). Human3.6M needs none: the published extrinsics of S1, S5, S6, S7,
  S8, S9 and S11 ship with the package (a `cameras_h36m.json` in the folder overrides them).
Action keys are `"<Category> <rest>"`: `action.split(" ")[0]` is the category.
2D longer than its 3D is trimmed to the 3D length (VideoPose3D convention); shorter is an
error. MPI-INF-3DHP npz files are read by `_load_3dhp` (layout in its docstring).
"""

from __future__ import annotations

import json
import pickle
import re
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from scjd_edge.data.camera import (
    Camera,
    h36m_cameras,
    h36m_subjects_with_cameras,
    normalize_screen_coordinates,
)
from scjd_edge.data.skeleton import JOINT_LAYOUT, LEFT_JOINTS, NUM_JOINTS, RIGHT_JOINTS
from scjd_edge.errors import DataError
from scjd_edge.io import write_json, write_npz

BUILTIN_SYNTHETIC = "builtin:synthetic"
DEFAULT_FPS = 50.0

# Human3.6M's 32 mocap joints -> the 17 kept by VideoPose3D (same order as skeleton.py).
H36M_32_TO_17 = (0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27)

# MPI-INF-3DHP's 17 joints (P-STMO/PoseFormerV2 npz order) for each H36M-17 joint.
MPI_3DHP_FOR_H36M = (14, 8, 9, 10, 11, 12, 13, 15, 1, 16, 0, 5, 6, 7, 2, 3, 4)
MPI_3DHP_TEST_RESOLUTION = {"TS5": (1920, 1080), "TS6": (1920, 1080)}
MPI_3DHP_TEST_FPS = {"TS5": 50.0, "TS6": 50.0}
MPI_3DHP_DEFAULT_RESOLUTION = (2048, 2048)
MPI_3DHP_DEFAULT_FPS = 25.0


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

    @property
    def num_frames(self) -> int:
        return len(self.pose_3d)


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
        return sorted({seq.subject for seq in self.sequences}, key=_natural_key)

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


def load_dataset(path: str | Path, keypoints: str = "gt") -> PoseDataset:
    """Read a data folder or file, detecting its kind.

    `path`: a VideoPose3D-format folder (or its `data_3d_*.npz`), an MPI-INF-3DHP npz or
    folder, or "builtin:synthetic" (generated once into the cache). `keypoints` picks the
    2D file `data_2d_<name>_<keypoints>.npz` ("gt", or e.g. "cpn_ft_h36m_dbb").
    """
    if str(path) == BUILTIN_SYNTHETIC:
        from scjd_edge.data.synthetic import builtin_dataset_dir

        return load_dataset(builtin_dataset_dir(), keypoints)
    path = Path(path)
    if not path.exists():
        raise DataError(
            f"{path}: no such data folder or file (expected a folder with data_3d_<name>.npz, "
            f"an MPI-INF-3DHP npz, or {BUILTIN_SYNTHETIC!r})"
        )
    if path.is_file():
        if path.name.startswith("data_3d_"):
            return _load_videopose3d(path, keypoints)
        if path.suffix != ".npz" or path.name.startswith("data_2d_"):
            raise DataError(
                f"{path}: pass the data folder, its data_3d_<name>.npz, or an MPI-INF-3DHP npz "
                f"(2D keypoints and cameras are found beside the 3D file)"
            )
        return _load_3dhp([path])
    files_3d = sorted(path.glob("data_3d_*.npz"))
    if len(files_3d) > 1:
        names = ", ".join(f.name for f in files_3d)
        raise DataError(f"{path}: several 3D files ({names}); pass the one to use")
    if files_3d:
        return _load_videopose3d(files_3d[0], keypoints)
    files_3dhp = sorted(path.glob("data_*_3dhp.npz"))
    if files_3dhp:
        return _load_3dhp(files_3dhp)
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
    if dataset.synthetic:
        info["note"] = "SYNTHETIC data generated by scjd-edge (procedural motion), not real"
    return info


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


# --- VideoPose3D-format folders ---------------------------------------------------------


def _load_videopose3d(file_3d: Path, keypoints: str) -> PoseDataset:
    folder = file_3d.parent
    name = file_3d.stem[len("data_3d_") :]
    file_2d = folder / f"data_2d_{name}_{keypoints}.npz"
    if not file_2d.is_file():
        available = sorted(f.name for f in folder.glob(f"data_2d_{name}_*.npz"))
        raise DataError(
            f"{file_2d}: 2D keypoints file not found for keypoints={keypoints!r} "
            f"(2D files for {name!r} here: {', '.join(available) or 'none'})"
        )
    positions_3d = _read_object(file_3d, "positions_3d")
    positions_2d = _read_object(file_2d, "positions_2d")
    metadata = _read_object(file_2d, "metadata")
    _check_metadata(metadata, file_2d)
    cameras = _cameras_for(folder, name, list(positions_3d))
    fps = float(metadata.get("fps", DEFAULT_FPS))
    sequences = []
    for subject, actions in positions_3d.items():
        _require_mapping(actions, file_3d, f"positions_3d[{subject!r}]")
        for action, pose_world in actions.items():
            where_3d = f"positions_3d[{subject!r}][{action!r}]"
            pose_world = _check_pose_3d(pose_world, file_3d, where_3d, reduce_32=name == "h36m")
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
            )
        )
    return sequences


def _read_object(path: Path, key: str) -> Any:
    """`np.load(path)[key]`, unwrapping a pickled dict; errors name the file and key."""
    try:
        with np.load(path, allow_pickle=True) as archive:
            if key not in archive.files:
                raise DataError(
                    f"{path}: missing key {key!r} (keys in the file: {', '.join(archive.files)})"
                )
            value = archive[key]
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, pickle.UnpicklingError) as error:
        raise DataError(f"{path}: not a readable npz file ({error})") from None
    if value.dtype == object and value.shape == ():
        value = value.item()
    if not isinstance(value, dict):
        raise DataError(
            f"{path}: key {key!r} must hold a dict (VideoPose3D format), got {type(value).__name__}"
        )
    return value


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
        return _read_cameras_json(json_path, subjects)
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


def _read_cameras_json(path: Path, subjects: list[str]) -> dict[str, list[Camera]]:
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise DataError(f"{path}: not a readable JSON file ({error})") from None
    by_subject = content.get("subjects") if isinstance(content, dict) else None
    if not isinstance(by_subject, dict):
        raise DataError(f"{path}: missing key 'subjects' (a dict subject -> {{'cameras': [...]}})")
    cameras = {}
    for subject in subjects:
        entry = by_subject.get(subject)
        if not isinstance(entry, dict) or "cameras" not in entry:
            raise DataError(
                f"{path}: missing key subjects[{subject!r}]['cameras'] for subject {subject} "
                f"(subjects in the file: {', '.join(by_subject)})"
            )
        cameras[subject] = [
            Camera.from_dict(camera, f"{path}: subjects[{subject!r}]['cameras'][{index}]")
            for index, camera in enumerate(entry["cameras"])
        ]
    return cameras


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
    _require_finite(pose, path, where)
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
    _require_finite(keypoints, path, where)
    return keypoints.astype(np.float64)


def _require_finite(array: np.ndarray, path: Path, where: str) -> None:
    bad = ~np.isfinite(array)
    if bad.any():
        frame = int(np.argwhere(bad)[0][0])
        raise DataError(
            f"{path}: key {where}: {int(bad.sum())} NaN/inf values (first in frame {frame}); "
            f"expected finite coordinates"
        )


# --- MPI-INF-3DHP -----------------------------------------------------------------------


def _load_3dhp(files: list[Path]) -> PoseDataset:
    """MPI-INF-3DHP in the npz layout used by P-STMO and PoseFormerV2.

    `data_train_3dhp.npz`: key `data` = {"S<k> Seq<m>": [ {camera: {"data_3d": (F, 17, 3),
    "data_2d": (F, 17, 2)}} ]} (a one-element list of a dict keyed by camera index);
    images 2048 x 2048, 25 frames/s. -> subject "S<k>", action "Seq<m>", camera str(index).
    `data_test_3dhp.npz`: key `data` = {"TS<k>": {"data_3d": (F, 17, 3), "data_2d":
    (F, 17, 2), "valid": (F,)}}; TS1-TS4 2048 x 2048 at 25 frames/s, TS5-TS6 1920 x 1080 at
    50 frames/s. -> subject "TS<k>", action "Test <k>" (plus " part<j>" when the valid
    frames form several runs); only frames with valid != 0 are kept, as contiguous runs.
    3D is in camera coordinates, millimetres; 2D in pixels; joints in MPI-INF-3DHP's
    17-joint order (0 head top, 1 neck, 2-4 right arm, 5-7 left arm, 8-10 right leg,
    11-13 left leg, 14 pelvis, 15 spine, 16 head), reordered here to Human3.6M-17.
    """
    sequences: list[PoseSequence] = []
    for path in files:
        data = _read_object(path, "data")
        for key, entry in data.items():
            where = f"data[{key!r}]"
            if isinstance(entry, list | tuple):
                sequences += _read_3dhp_train(path, key, entry)
            elif isinstance(entry, dict):
                sequences += _read_3dhp_test(path, key, entry)
            else:
                raise DataError(
                    f"{path}: key {where} must be a list (train layout) or a dict (test "
                    f"layout), got {type(entry).__name__}"
                )
    if not sequences:
        raise DataError(f"{files[0]}: key data holds no usable sequences")
    return PoseDataset(
        name="3dhp",
        source=str(files[0].parent if len(files) > 1 else files[0]),
        synthetic=False,
        sequences=sequences,
    )


def _read_3dhp_train(path: Path, key: str, entry: list) -> list[PoseSequence]:
    subject, _, action = str(key).partition(" ")
    if not entry or not isinstance(entry[0], dict):
        raise DataError(f"{path}: key data[{key!r}] must be [{{camera: {{'data_3d', 'data_2d'}}}}]")
    sequences = []
    width, height = MPI_3DHP_DEFAULT_RESOLUTION
    for camera, anim in entry[0].items():
        where = f"data[{key!r}][0][{camera!r}]"
        pose_3d, keypoints_px = _read_3dhp_arrays(path, where, anim)
        sequences.append(
            _mpi_sequence(subject, action or subject, camera, pose_3d, keypoints_px, width, height)
        )
    return sequences


def _read_3dhp_test(path: Path, key: str, entry: dict) -> list[PoseSequence]:
    where = f"data[{key!r}]"
    pose_3d, keypoints_px = _read_3dhp_arrays(path, where, entry)
    if "valid" not in entry:
        raise DataError(f"{path}: missing key {where}['valid'] (per-frame validity flags)")
    valid = np.asarray(entry["valid"]).reshape(-1).astype(bool)
    if len(valid) != len(pose_3d):
        raise DataError(
            f"{path}: key {where}['valid'] has {len(valid)} frames, data_3d has {len(pose_3d)}"
        )
    width, height = MPI_3DHP_TEST_RESOLUTION.get(key, MPI_3DHP_DEFAULT_RESOLUTION)
    runs = _true_runs(valid)
    number = re.sub(r"\D", "", str(key)) or str(key)
    sequences = []
    for part, (start, stop) in enumerate(runs):
        action = f"Test {number}" + (f" part{part}" if len(runs) > 1 else "")
        sequence = _mpi_sequence(
            str(key), action, "0", pose_3d[start:stop], keypoints_px[start:stop], width, height
        )
        sequence.fps = MPI_3DHP_TEST_FPS.get(key, MPI_3DHP_DEFAULT_FPS)
        sequences.append(sequence)
    return sequences


def _read_3dhp_arrays(path: Path, where: str, anim: Any) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(anim, dict):
        raise DataError(f"{path}: key {where} must be a dict with 'data_3d' and 'data_2d'")
    for key in ("data_3d", "data_2d"):
        if key not in anim:
            raise DataError(f"{path}: missing key {where}[{key!r}]")
    pose_mm = np.asarray(anim["data_3d"])
    keypoints = np.asarray(anim["data_2d"])
    if pose_mm.ndim != 3 or pose_mm.shape[1:] != (NUM_JOINTS, 3):
        raise DataError(
            f"{path}: key {where}['data_3d']: expected (F, 17, 3) millimetres, "
            f"got shape {pose_mm.shape}"
        )
    if keypoints.ndim != 3 or keypoints.shape[1] != NUM_JOINTS or keypoints.shape[2] < 2:
        raise DataError(
            f"{path}: key {where}['data_2d']: expected (F, 17, 2) pixels, "
            f"got shape {keypoints.shape}"
        )
    keypoints = keypoints[..., :2]
    if len(keypoints) < len(pose_mm):
        raise DataError(
            f"{path}: key {where}['data_2d']: {len(keypoints)} frames of 2D but "
            f"{len(pose_mm)} frames of 3D; 2D must be at least as long as 3D"
        )
    keypoints = keypoints[: len(pose_mm)]
    _require_finite(pose_mm, path, f"{where}['data_3d']")
    _require_finite(keypoints, path, f"{where}['data_2d']")
    order = list(MPI_3DHP_FOR_H36M)
    pose_m = pose_mm[:, order].astype(np.float64) / 1000.0
    thigh = np.median(np.linalg.norm(pose_m[:, 2] - pose_m[:, 1], axis=-1))
    if thigh < 0.05:
        raise DataError(
            f"{path}: key {where}['data_3d']: thigh length {thigh * 1000:.3g} mm after reading "
            f"as millimetres; expected millimetres (typical thigh ~ 400 mm)"
        )
    return pose_m, keypoints[:, order].astype(np.float64)


def _mpi_sequence(subject, action, camera, pose_3d, keypoints_px, width, height) -> PoseSequence:
    return PoseSequence(
        subject=str(subject),
        action=str(action),
        camera=str(camera),
        keypoints_2d=normalize_screen_coordinates(keypoints_px, width, height).astype(np.float32),
        pose_3d=pose_3d.astype(np.float32),
        fps=MPI_3DHP_DEFAULT_FPS,
        res_w=width,
        res_h=height,
    )


def _true_runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) of every run of True values."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return [(int(start), int(stop)) for start, stop in zip(edges[::2], edges[1::2], strict=True)]


def _natural_key(text: str) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]
