"""The SCJD losses (METHOD.md sections 2 and 3), as plain functions of tensors.

Shapes: B windows, T teacher frames, N student frames (picked at window `indices` (B, N)
with `frame_offsets` (B, N) from the centre frame), 17 joints, C channels. Poses in metres.
Every loss is zero where teacher and student agree and positive otherwise.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from scjd_edge.data.skeleton import adjacency_matrix
from scjd_edge.sampling import gather_frames


def mpjpe_loss(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean per-joint position error, (..., 17, 3) -> scalar, in the input's units."""
    return (predicted - target).norm(dim=-1).mean()


def pose_loss(
    student_pose_3d: torch.Tensor,
    ground_truth_3d: torch.Tensor,
    delivered: torch.Tensor | None = None,
    delivered_weight: float = 0.0,
) -> torch.Tensor:
    """MPJPE of the student's (B, N, 17, 3) output against the ground truth at its frames;
    with `delivered` (B, N) bool marking each window's delivered frame, `delivered_weight`
    of the loss is that frame's MPJPE alone (the frame that is scored and deployed)."""
    all_frames = mpjpe_loss(student_pose_3d, ground_truth_3d)
    if delivered is None or delivered_weight == 0:
        return all_frames
    delivered_error = mpjpe_loss(student_pose_3d[delivered], ground_truth_3d[delivered])
    return (1 - delivered_weight) * all_frames + delivered_weight * delivered_error


def output_distillation_loss(
    student_pose_3d: torch.Tensor, teacher_pose_3d: torch.Tensor, indices: torch.Tensor
) -> torch.Tensor:
    """MPJPE of the student's (B, N, 17, 3) output against the teacher's (B, T, 17, 3)
    output at the same true frames."""
    return mpjpe_loss(student_pose_3d, gather_frames(teacher_pose_3d, indices))


# --- DJED: dynamic joint embedding distillation -------------------------------------


def neighbourhood_mask(indices: torch.Tensor, window_frames: int) -> torch.Tensor:
    """(B, N) sampled indices -> (B, N, T) bool: the teacher frames each student frame
    stands for.

    A sampled frame stands for the frames up to half-way to each neighbouring sample; the
    first and last samples reach as far outwards as inwards (so `uniform` cells tile the
    window and `central` cells are single frames). Frames exactly half-way belong to both.
    """
    positions = indices.float()
    if indices.shape[1] == 1:
        half_gap_before = half_gap_after = positions.new_zeros(positions.shape)
    else:
        half_gaps = (positions[:, 1:] - positions[:, :-1]) / 2
        half_gap_before = torch.cat([half_gaps[:, :1], half_gaps], dim=1)
        half_gap_after = torch.cat([half_gaps, half_gaps[:, -1:]], dim=1)
    frames = torch.arange(window_frames, device=indices.device, dtype=torch.float32)
    distance = frames.view(1, 1, -1) - positions.unsqueeze(-1)  # (B, N, T)
    return (distance >= -half_gap_before.unsqueeze(-1)) & (distance <= half_gap_after.unsqueeze(-1))


def similarity_context(teacher_embeddings: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """Multi-frame context feature of each student frame, pooled by feature similarity.

    teacher_embeddings: (B, T, 17, C). For the sampled frame at index i and each joint,
    the teacher embeddings of the frames i stands for are pooled with softmax weights of
    their scaled dot product with frame i's embedding (after LayerNorm, so the weights do
    not depend on the feature scale). Returns (B, N, 17, C).
    """
    channels = teacher_embeddings.shape[-1]
    normalised = F.layer_norm(teacher_embeddings, (channels,))
    centre = gather_frames(normalised, indices)  # (B, N, 17, C)
    scores = torch.einsum("bnjc,btjc->bnjt", centre, normalised) / math.sqrt(channels)
    return _pool_neighbourhood(teacher_embeddings, indices, scores)


def attention_context(
    teacher_embeddings: torch.Tensor, temporal_attention: torch.Tensor, indices: torch.Tensor
) -> torch.Tensor:
    """Multi-frame context feature pooled with the teacher's own temporal attention.

    temporal_attention: (B, 17, heads, T, T) attention of each joint's frames over time
    (rows: queries). The row of the sampled frame, averaged over heads and restricted to
    the frames it stands for, gives the pooling weights. Returns (B, N, 17, C).
    """
    attention = temporal_attention.mean(dim=2)  # (B, 17, T, T)
    rows = attention.gather(
        2, indices[:, None, :, None].expand(-1, attention.shape[1], -1, attention.shape[-1])
    )  # (B, 17, N, T)
    scores = rows.clamp_min(1e-12).log().permute(0, 2, 1, 3)  # (B, N, 17, T)
    return _pool_neighbourhood(teacher_embeddings, indices, scores)


def _pool_neighbourhood(
    teacher_embeddings: torch.Tensor, indices: torch.Tensor, scores: torch.Tensor
) -> torch.Tensor:
    """Softmax of `scores` (B, N, 17, T) over each student frame's neighbourhood, applied
    to the teacher embeddings (B, T, 17, C) -> (B, N, 17, C)."""
    mask = neighbourhood_mask(indices, teacher_embeddings.shape[1])  # (B, N, T)
    scores = scores.masked_fill(~mask[:, :, None, :], float("-inf"))
    weights = scores.softmax(dim=-1)
    return torch.einsum("bnjt,btjc->bnjc", weights, teacher_embeddings)


def dynamic_joint_weights(discrepancy: torch.Tensor, temperature: float) -> torch.Tensor:
    """(B, N, 17) per-joint discrepancy -> (B, 1, 17) weights, detached.

    A softmax over joints of each sample's mean discrepancy / temperature, times 17 so
    that equal discrepancies give every joint weight 1: the hard joints get more signal.
    """
    per_sample = discrepancy.detach().mean(dim=1, keepdim=True)
    return (per_sample / temperature).softmax(dim=-1) * discrepancy.shape[-1]


def djed_loss(
    student_embeddings: torch.Tensor,
    teacher_context: torch.Tensor,
    projector: nn.Module,
    temperature: float,
) -> torch.Tensor:
    """Dynamic joint embedding distillation of one block pair.

    student_embeddings: (B, N, 17, C_s); teacher_context: (B, N, 17, C_t) multi-frame
    context features; projector: C_s -> C_t. MSE after LayerNorm (no affine) on both
    sides, per joint, weighted by `dynamic_joint_weights`.
    """
    channels = teacher_context.shape[-1]
    projected = F.layer_norm(projector(student_embeddings), (channels,))
    target = F.layer_norm(teacher_context, (channels,))
    discrepancy = (projected - target).pow(2).mean(dim=-1)  # (B, N, 17)
    return (dynamic_joint_weights(discrepancy, temperature) * discrepancy).mean()


# --- AJAD: adjacent joint attention distillation --------------------------------------


def adjacency_mask(hops: int, device: torch.device | str | None = None) -> torch.Tensor:
    """(17, 17) bool: joints at most `hops` bones apart, with self-loops."""
    return torch.as_tensor(adjacency_matrix(hops, self_loops=True), device=device)


def masked_attention_rows(
    attention: torch.Tensor, mask: torch.Tensor, eps: float = 1e-6
) -> torch.Tensor:
    """(..., 17, 17) attention -> the same rows restricted to `mask` and renormalised.

    `eps` is added inside the mask before renormalising so every allowed entry is
    positive (finite logs) and each row is still a distribution; entries outside the
    mask are exactly 0.
    """
    restricted = (attention + eps) * mask
    return restricted / restricted.sum(dim=-1, keepdim=True)


def ajad_teacher_rows(teacher_attention: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """The teacher's (B, T, heads, 17, 17) spatial attention averaged over heads, at the
    student's true frames: (B, N, 17, 17), what `ajad_loss` compares the student with."""
    return gather_frames(teacher_attention.mean(dim=2), indices)


def ajad_loss(
    student_attention: torch.Tensor,
    teacher_rows: torch.Tensor,
    hops: int,
    eps: float = 1e-6,
) -> torch.Tensor:
    """Adjacent joint attention distillation of one block pair.

    student_attention: (B, N, heads_s, 17, 17) spatial attention (rows: query joints),
    averaged over heads; teacher_rows: (B, N, 17, 17) from `ajad_teacher_rows`. Both are
    masked to the k-hop adjacency and renormalised per row; returns KL(teacher || student)
    summed over each row's joints, averaged over rows, frames and windows.
    """
    mask = adjacency_mask(hops, student_attention.device)
    teacher_rows = masked_attention_rows(teacher_rows, mask, eps)
    student_rows = masked_attention_rows(student_attention.mean(dim=2), mask, eps)
    log_ratio = torch.where(
        mask, teacher_rows.clamp_min(eps).log() - student_rows.clamp_min(eps).log(), 0.0
    )
    return (teacher_rows * log_ratio).sum(dim=-1).mean()


# --- TCD: temporal consistency distillation -------------------------------------------


def interpolation_matrix(frame_offsets: torch.Tensor, window_frames: int) -> torch.Tensor:
    """(B, N) sorted student offsets -> (B, T, N) linear interpolation weights.

    Row t holds the weights that interpolate the N student frames at the teacher frame
    with offset t - T // 2. Frames outside the student's span hold the nearest end value
    (their rows are one-hot); `span_mask` says which frames are inside. Each row sums to 1.
    """
    batch, num_frames = frame_offsets.shape
    device = frame_offsets.device
    targets = (torch.arange(window_frames, device=device) - window_frames // 2).float()
    targets = targets.expand(batch, -1).contiguous()
    weights = frame_offsets.new_zeros(batch, window_frames, num_frames)
    if num_frames == 1:
        return weights + 1.0
    offsets = frame_offsets.float().contiguous()
    right = torch.searchsorted(offsets, targets, right=True).clamp(1, num_frames - 1)
    left = right - 1
    left_offset, right_offset = offsets.gather(1, left), offsets.gather(1, right)
    fraction = ((targets - left_offset) / (right_offset - left_offset)).clamp(0.0, 1.0)
    weights.scatter_add_(2, left.unsqueeze(-1), (1 - fraction).unsqueeze(-1))
    weights.scatter_add_(2, right.unsqueeze(-1), fraction.unsqueeze(-1))
    return weights


def span_mask(frame_offsets: torch.Tensor, window_frames: int) -> torch.Tensor:
    """(B, N) offsets -> (B, T) bool: teacher frames between the first and last student frame."""
    frames = torch.arange(window_frames, device=frame_offsets.device)
    targets = (frames - window_frames // 2).float()
    return (targets >= frame_offsets[:, :1]) & (targets <= frame_offsets[:, -1:])


def upsample_to_window(
    student_sequence: torch.Tensor, frame_offsets: torch.Tensor, window_frames: int
) -> torch.Tensor:
    """(B, N, ...) student frames -> (B, T, ...) by linear interpolation at true offsets."""
    weights = interpolation_matrix(frame_offsets, window_frames).to(student_sequence.dtype)
    flat = student_sequence.reshape(student_sequence.shape[0], student_sequence.shape[1], -1)
    upsampled = torch.bmm(weights, flat)
    return upsampled.reshape((flat.shape[0], window_frames) + student_sequence.shape[2:])


def tcd_loss(
    student_pose_3d: torch.Tensor,
    teacher_pose_3d: torch.Tensor,
    frame_offsets: torch.Tensor,
    velocity_weight: float,
) -> torch.Tensor:
    """Temporal consistency distillation.

    The student's (B, N, 17, 3) output, linearly interpolated to the teacher's T frames,
    against the teacher's (B, T, 17, 3) output: MPJPE over the window plus velocity_weight
    x the error of the first differences. Only frames inside the student's span count
    (all of them for `uniform` and `motion`, which span the window; `central` does not).
    """
    window_frames = teacher_pose_3d.shape[1]
    upsampled = upsample_to_window(student_pose_3d, frame_offsets, window_frames)
    inside = span_mask(frame_offsets, window_frames).to(upsampled.dtype)  # (B, T)
    position_error = (upsampled - teacher_pose_3d).norm(dim=-1).mean(dim=-1)  # (B, T)
    loss = (position_error * inside).sum() / inside.sum()
    if velocity_weight > 0 and window_frames > 1:
        velocity_error = (upsampled.diff(dim=1) - teacher_pose_3d.diff(dim=1)).norm(dim=-1)
        both_inside = inside[:, 1:] * inside[:, :-1]
        velocity_sum = (velocity_error.mean(dim=-1) * both_inside).sum()
        velocity = velocity_sum / both_inside.sum().clamp_min(1)
        loss = loss + velocity_weight * velocity
    return loss
