"""The Human3.6M 17-joint layout (VideoPose3D order) and the COCO-17 keypoint layout."""

from __future__ import annotations

import numpy as np
import torch

JOINT_NAMES = (
    "Hip", "RHip", "RKnee", "RFoot", "LHip", "LKnee", "LFoot", "Spine", "Thorax",
    "Neck/Nose", "Head", "LShoulder", "LElbow", "LWrist", "RShoulder", "RElbow", "RWrist",
)  # fmt: skip
NUM_JOINTS = 17
ROOT_JOINT = 0
PARENTS = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)
LEFT_JOINTS = (4, 5, 6, 11, 12, 13)
RIGHT_JOINTS = (1, 2, 3, 14, 15, 16)
JOINT_LAYOUT = "h36m17"

# (parent, child) for every joint but the root: 16 bones.
BONES = tuple((parent, child) for child, parent in enumerate(PARENTS) if parent >= 0)

# Permutation that swaps every left joint with its right twin (an involution).
FLIP_PERMUTATION = list(range(NUM_JOINTS))
for _left, _right in zip(LEFT_JOINTS, RIGHT_JOINTS, strict=True):
    FLIP_PERMUTATION[_left], FLIP_PERMUTATION[_right] = _right, _left
FLIP_PERMUTATION = tuple(FLIP_PERMUTATION)

COCO_JOINT_NAMES = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip",
    "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
)  # fmt: skip

# H36M joints that have a COCO twin: h36m index -> coco index.
COCO_TO_H36M_DIRECT = {
    1: 12, 2: 14, 3: 16, 4: 11, 5: 13, 6: 15,
    11: 5, 12: 7, 13: 9, 14: 6, 15: 8, 16: 10,
}  # fmt: skip


def adjacency_matrix(hops: int = 1, self_loops: bool = True) -> np.ndarray:
    """(17, 17) bool matrix: True where two joints are at most `hops` bones apart."""
    direct = np.eye(NUM_JOINTS, dtype=np.int64)
    for parent, child in BONES:
        direct[parent, child] = direct[child, parent] = 1
    reach = np.eye(NUM_JOINTS, dtype=np.int64)
    for _ in range(hops):
        reach = np.minimum(reach @ direct, 1)
    adjacency = reach.astype(bool)
    if not self_loops:
        np.fill_diagonal(adjacency, False)
    return adjacency


def bone_lengths(pose_3d: np.ndarray | torch.Tensor):
    """(..., 17, 3) joint positions -> (..., 16) bone lengths in the input units."""
    parents = [p for p, _ in BONES]
    children = [c for _, c in BONES]
    delta = pose_3d[..., children, :] - pose_3d[..., parents, :]
    if isinstance(delta, torch.Tensor):
        return delta.norm(dim=-1)
    return np.linalg.norm(delta, axis=-1)


def flip_pose(pose: np.ndarray | torch.Tensor):
    """Mirror a pose horizontally: negate x and swap left/right joints.

    Works for 2D (..., 17, 2) normalised screen coordinates and 3D (..., 17, 3) camera
    coordinates alike, because both put x on the image's horizontal axis.
    """
    flipped = pose[..., FLIP_PERMUTATION, :]
    flipped = flipped.clone() if isinstance(flipped, torch.Tensor) else flipped.copy()
    flipped[..., 0] = -flipped[..., 0]
    return flipped


def coco_to_h36m(keypoints: np.ndarray) -> np.ndarray:
    """(..., 17, C) COCO-17 keypoints -> (..., 17, C) H36M-17 keypoints.

    C is 2 (x, y) or 3 (x, y, score). The joints COCO lacks are derived:
    Hip = mid-hips, Thorax = mid-shoulders, Spine = midpoint of Hip and Thorax,
    Neck/Nose = COCO nose, Head = mid-eyes pushed away from Thorax by half the
    Thorax-to-eyes vector (COCO has no head top). A derived joint's score is the
    minimum of the scores it is built from.
    """
    coco = np.asarray(keypoints, dtype=np.float32)
    out = np.zeros(coco.shape[:-2] + (NUM_JOINTS, coco.shape[-1]), dtype=np.float32)
    for h36m_index, coco_index in COCO_TO_H36M_DIRECT.items():
        out[..., h36m_index, :] = coco[..., coco_index, :]

    def mean_of(*indices: int) -> np.ndarray:
        point = np.mean([coco[..., i, :] for i in indices], axis=0)
        if coco.shape[-1] == 3:
            point[..., 2] = np.min([coco[..., i, 2] for i in indices], axis=0)
        return point

    hip = mean_of(11, 12)
    thorax = mean_of(5, 6)
    out[..., 0, :] = hip
    out[..., 8, :] = thorax
    out[..., 7, :] = (hip + thorax) / 2
    if coco.shape[-1] == 3:
        out[..., 7, 2] = np.minimum(hip[..., 2], thorax[..., 2])
    out[..., 9, :] = coco[..., 0, :]
    eyes = mean_of(1, 2)
    head = eyes.copy()
    head[..., :2] = eyes[..., :2] + (eyes[..., :2] - thorax[..., :2]) * 0.5
    if coco.shape[-1] == 3:
        head[..., 2] = np.minimum(eyes[..., 2], thorax[..., 2])
    out[..., 10, :] = head
    return out
