"""Pose metrics: MPJPE (P1), P-MPJPE (P2), N-MPJPE, MPJVE, PCK and AUC.

Every metric takes `predicted` and `target` of the same shape `(..., J, 3)` (MPJVE:
`(..., F, J, 3)`, frames on axis -3) and is computed batched in torch. Units in are
units out: pass millimetres to get millimetres (PCK/AUC thresholds are in the input
units too; the defaults, 150 and 0..150 in steps of 5, assume millimetres).

Convention for what comes back:
- torch in, torch out: `reduction="none"` gives a tensor of per-pose values `(...)`
  (MPJVE: `(..., F-1)`), `reduction="mean"` a 0-d tensor, both differentiable, so the
  same functions serve as losses;
- numpy in (or anything `np.asarray` takes), numpy out: an array of per-pose values for
  `"none"`, a Python float for `"mean"`.
The kind of `predicted` decides; `target` may be either.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch

Reduction = Literal["mean", "none"]
PCK_THRESHOLD_MM = 150.0
AUC_THRESHOLDS_MM = tuple(float(t) for t in range(0, 151, 5))  # 31 thresholds, MPI-INF-3DHP


def mpjpe(predicted, target, reduction: Reduction = "mean"):
    """Mean per-joint position error: mean Euclidean distance over joints."""
    predicted_t, target_t, as_numpy = _as_tensors(predicted, target)
    return _finish(_joint_distances(predicted_t, target_t).mean(dim=-1), reduction, as_numpy)


def p_mpjpe(predicted, target, reduction: Reduction = "mean"):
    """MPJPE after aligning each predicted pose to its target by similarity Procrustes
    (translation, proper rotation, uniform scale). See `procrustes_align`."""
    predicted_t, target_t, as_numpy = _as_tensors(predicted, target)
    aligned = procrustes_align(predicted_t, target_t)
    return _finish(_joint_distances(aligned, target_t).mean(dim=-1), reduction, as_numpy)


def n_mpjpe(predicted, target, reduction: Reduction = "mean"):
    """MPJPE after the least-squares uniform scale of each predicted pose about the origin
    (no translation or rotation; inputs are root-relative)."""
    predicted_t, target_t, as_numpy = _as_tensors(predicted, target)
    numerator = (predicted_t * target_t).sum(dim=(-2, -1), keepdim=True)
    denominator = predicted_t.pow(2).sum(dim=(-2, -1), keepdim=True)
    scaled = predicted_t * numerator / denominator.clamp_min(torch.finfo(denominator.dtype).tiny)
    return _finish(_joint_distances(scaled, target_t).mean(dim=-1), reduction, as_numpy)


def mpjve(predicted, target, reduction: Reduction = "mean"):
    """Mean per-joint velocity error over a sequence `(..., F, J, 3)`, frames on axis -3.

    Velocities are first differences between consecutive frames (units per frame); per-pose
    values `(..., F-1)` belong to the frame pairs (0, 1), (1, 2), ...
    """
    predicted_t, target_t, as_numpy = _as_tensors(predicted, target)
    if predicted_t.dim() < 3 or predicted_t.shape[-3] < 2:
        shape = tuple(predicted_t.shape)
        raise ValueError(f"mpjve needs (..., F >= 2, J, 3) sequences, got {shape}")
    velocities = predicted_t.diff(dim=-3), target_t.diff(dim=-3)
    velocity_error = _joint_distances(*velocities)  # (..., F-1, J)
    return _finish(velocity_error.mean(dim=-1), reduction, as_numpy)


def pck(predicted, target, threshold: float = PCK_THRESHOLD_MM, reduction: Reduction = "mean"):
    """Percentage of correct keypoints, as a fraction in [0, 1]: joints whose error is
    strictly below `threshold` (input units; the default 150 is for millimetres)."""
    predicted_t, target_t, as_numpy = _as_tensors(predicted, target)
    correct = _joint_distances(predicted_t, target_t) < threshold
    return _finish(correct.to(predicted_t.dtype).mean(dim=-1), reduction, as_numpy)


def auc(
    predicted,
    target,
    thresholds: Sequence[float] = AUC_THRESHOLDS_MM,
    reduction: Reduction = "mean",
):
    """Area under the PCK curve: the mean of PCK over `thresholds` (input units; the default
    0, 5, ..., 150 is for millimetres), a fraction in [0, 1]."""
    predicted_t, target_t, as_numpy = _as_tensors(predicted, target)
    distances = _joint_distances(predicted_t, target_t).unsqueeze(-1)  # (..., J, 1)
    limits = torch.as_tensor(thresholds, dtype=distances.dtype, device=distances.device)
    correct = (distances < limits).to(distances.dtype)  # (..., J, K)
    return _finish(correct.mean(dim=(-2, -1)), reduction, as_numpy)


def procrustes_align(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """`(..., J, 3)` predicted poses moved onto their targets by the least-squares
    similarity transform: scale * predicted @ R + t, with R a proper rotation (det +1).

    A mirror image cannot be aligned by a proper rotation, so a reflected copy of the
    target keeps a nonzero error: the SVD sign fix (Kabsch/Umeyama) flips the axis of
    the smallest singular value instead of allowing det(R) = -1. Computed in float64 and
    returned in the dtype of `predicted`.
    """
    predicted_64, target_64 = predicted.double(), target.double()
    predicted_centre = predicted_64.mean(dim=-2, keepdim=True)
    target_centre = target_64.mean(dim=-2, keepdim=True)
    predicted_0 = predicted_64 - predicted_centre
    target_0 = target_64 - target_centre
    left, singular, right_t = torch.linalg.svd(predicted_0.transpose(-2, -1) @ target_0)
    determinant = torch.linalg.det(left @ right_t)
    signs = torch.ones_like(singular)
    signs[..., -1] = torch.where(determinant < 0, -1.0, 1.0)
    rotation = (left * signs.unsqueeze(-2)) @ right_t  # (..., 3, 3), applied on the right
    spread = predicted_0.pow(2).sum(dim=(-2, -1)).clamp_min(torch.finfo(torch.float64).tiny)
    scale = (singular * signs).sum(dim=-1) / spread
    aligned = scale[..., None, None] * (predicted_0 @ rotation) + target_centre
    return aligned.to(predicted.dtype)


def per_action(errors, actions: Sequence[str]) -> dict[str, float]:
    """Mean of per-pose `errors` `(S,)` by action category, sorted by name.

    The category is the action key's text before the first space (VideoPose3D convention:
    "Walk 07_02" and "Walk 07_03 chunk1" both count as "Walk").
    """
    return per_group(errors, [action.split(" ")[0] for action in actions])


def per_group(errors, groups: Sequence[str]) -> dict[str, float]:
    """Mean of per-pose `errors` `(S,)` by the group name of each pose, sorted by name."""
    values = errors.detach().cpu().numpy() if isinstance(errors, torch.Tensor) else errors
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    if len(values) != len(groups):
        raise ValueError(f"got {len(values)} errors for {len(groups)} group names")
    members: dict[str, list[float]] = defaultdict(list)
    for value, group in zip(values, groups, strict=True):
        members[group].append(float(value))
    return {group: float(np.mean(members[group])) for group in sorted(members)}


def _as_tensors(predicted, target) -> tuple[torch.Tensor, torch.Tensor, bool]:
    as_numpy = not isinstance(predicted, torch.Tensor)
    predicted_t, target_t = (_to_float_tensor(array) for array in (predicted, target))
    if predicted_t.shape != target_t.shape or predicted_t.dim() < 2:
        raise ValueError(
            f"predicted {tuple(predicted_t.shape)} and target {tuple(target_t.shape)} "
            "must have the same (..., J, 3) shape"
        )
    return predicted_t, target_t.to(predicted_t.device), as_numpy


def _to_float_tensor(array) -> torch.Tensor:
    tensor = array if isinstance(array, torch.Tensor) else torch.as_tensor(np.asarray(array))
    return tensor if tensor.is_floating_point() else tensor.double()


def _joint_distances(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """`(..., J, 3)` pairs -> `(..., J)` Euclidean distances."""
    return torch.linalg.vector_norm(predicted - target, dim=-1)


def _finish(per_pose: torch.Tensor, reduction: Reduction, as_numpy: bool):
    if reduction == "mean":
        return float(per_pose.mean()) if as_numpy else per_pose.mean()
    if reduction == "none":
        return per_pose.detach().cpu().numpy() if as_numpy else per_pose
    raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
