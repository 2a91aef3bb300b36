"""MPI-INF-3DHP npz files (the layout used by P-STMO and PoseFormerV2) -> `PoseDataset`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from scjd_edge.data.camera import normalize_screen_coordinates
from scjd_edge.data.dataset import PoseDataset, PoseSequence, require_finite
from scjd_edge.data.npz import read_npz_dict
from scjd_edge.data.skeleton import NUM_JOINTS
from scjd_edge.errors import DataError

# MPI-INF-3DHP's 17 joints (P-STMO/PoseFormerV2 npz order) for each H36M-17 joint.
MPI_3DHP_FOR_H36M = (14, 8, 9, 10, 11, 12, 13, 15, 1, 16, 0, 5, 6, 7, 2, 3, 4)
MPI_3DHP_TEST_RESOLUTION = {"TS5": (1920, 1080), "TS6": (1920, 1080)}
MPI_3DHP_TEST_FPS = {"TS5": 50.0, "TS6": 50.0}
MPI_3DHP_DEFAULT_RESOLUTION = (2048, 2048)
MPI_3DHP_DEFAULT_FPS = 25.0


def load_3dhp(files: list[Path]) -> PoseDataset:
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
        data = read_npz_dict(path, "data")
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
    require_finite(pose_mm, path, f"{where}['data_3d']")
    require_finite(keypoints, path, f"{where}['data_2d']")
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
