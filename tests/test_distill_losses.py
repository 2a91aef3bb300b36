"""The SCJD losses: zero where teacher and student agree, positive otherwise, exact masks."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from scjd_edge.data.skeleton import BONES, adjacency_matrix
from scjd_edge.distill import losses
from scjd_edge.sampling import gather_frames, sample_frames

T, N, C = 27, 9, 8


def _generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _identity_projector(channels: int) -> nn.Linear:
    projector = nn.Linear(channels, channels)
    with torch.no_grad():
        projector.weight.copy_(torch.eye(channels))
        projector.bias.zero_()
    return projector


def _uniform_indices(batch: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    return sample_frames(torch.zeros(batch, T, 17, 2), "uniform", N)


def _attention(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=_generator(seed)).softmax(dim=-1)


def test_pose_and_output_losses():
    teacher = torch.randn(2, T, 17, 3, generator=_generator())
    indices, _ = _uniform_indices()
    at_student_frames = gather_frames(teacher, indices)
    assert losses.pose_loss(at_student_frames, at_student_frames) == 0
    assert losses.output_distillation_loss(at_student_frames, teacher, indices) == 0
    moved = at_student_frames + torch.tensor([0.0, 0.0, 0.01])
    torch.testing.assert_close(losses.pose_loss(moved, at_student_frames), torch.tensor(0.01))
    torch.testing.assert_close(
        losses.output_distillation_loss(moved, teacher, indices), torch.tensor(0.01)
    )


def test_neighbourhoods_tile_a_uniform_window_and_are_single_frames_when_central():
    indices, _ = _uniform_indices(1)
    mask = losses.neighbourhood_mask(indices, T)  # stride 3.25 -> cells of 3 to 5 frames
    assert bool(mask.any(dim=1).all())  # every teacher frame is stood for
    assert bool(mask[0, torch.arange(N), indices[0]].all())  # each cell holds its own frame
    central, _ = sample_frames(torch.zeros(1, T, 17, 2), "central", N)
    central_mask = losses.neighbourhood_mask(central, T)
    assert central_mask.sum(dim=-1).tolist() == [[1] * N]


def test_djed_zero_when_student_matches_the_teacher_context():
    # Window 25, stride 3: the neighbourhoods do not overlap. Teacher embeddings constant
    # over each neighbourhood make the context feature equal the sampled frame's.
    indices, _ = sample_frames(torch.zeros(2, 25, 17, 2), "uniform", N)
    mask = losses.neighbourhood_mask(indices, 25).float()
    assert mask.sum(dim=1).max() == 1
    owner = mask.argmax(dim=1)  # (B, T): one student frame per teacher frame
    per_slot = torch.randn(2, N, 17, C, generator=_generator(1))
    teacher = gather_frames(per_slot, owner)
    context = losses.similarity_context(teacher, indices)
    torch.testing.assert_close(context, per_slot)
    projector = _identity_projector(C)
    assert losses.djed_loss(per_slot, context, projector, temperature=1.0) < 1e-10
    scale_and_shift = per_slot * 3 + 1  # LayerNorm removes both: still zero
    assert losses.djed_loss(scale_and_shift, context, projector, 1.0) < 1e-10
    other = torch.randn(2, N, 17, C, generator=_generator(2))
    assert losses.djed_loss(other, context, projector, 1.0) > 0.1


def test_similarity_context_pools_only_the_neighbourhood():
    indices, _ = _uniform_indices(1)
    teacher = torch.randn(1, T, 17, C, generator=_generator(3))
    context = losses.similarity_context(teacher, indices)
    mask = losses.neighbourhood_mask(indices, T)[0]
    outside = teacher.clone()
    outside[:, ~mask[4]] += 100.0  # change every frame slot 4 does not stand for
    torch.testing.assert_close(losses.similarity_context(outside, indices)[:, 4], context[:, 4])


def test_attention_context_follows_the_teacher_attention():
    indices, _ = _uniform_indices(1)
    teacher = torch.randn(1, T, 17, C, generator=_generator(4))
    # Attention rows that put (almost) all weight on the query frame itself.
    attention = torch.eye(T).expand(1, 17, 2, T, T) * 0.999 + 0.001 / T
    context = losses.attention_context(teacher, attention, indices)
    torch.testing.assert_close(context, gather_frames(teacher, indices), atol=1e-2, rtol=0)


def test_dynamic_joint_weights():
    equal = torch.ones(2, N, 17)
    torch.testing.assert_close(losses.dynamic_joint_weights(equal, 1.0), torch.ones(2, 1, 17))
    hard_joint = equal.clone()
    hard_joint[:, :, 13] = 5.0
    weights = losses.dynamic_joint_weights(hard_joint, 1.0)
    assert bool((weights[..., 13] > weights[..., 0]).all())
    torch.testing.assert_close(weights.sum(dim=-1), torch.full((2, 1), 17.0))


@pytest.mark.parametrize("hops", [1, 2, 3])
def test_ajad_mask_is_the_k_hop_skeleton_adjacency(hops):
    mask = losses.adjacency_mask(hops)
    assert torch.equal(mask, torch.as_tensor(adjacency_matrix(hops)))
    assert bool(mask.diagonal().all())
    if hops == 1:
        expected = torch.eye(17, dtype=torch.bool)
        for parent, child in BONES:
            expected[parent, child] = expected[child, parent] = True
        assert torch.equal(mask, expected)


def test_masked_rows_are_distributions_on_the_mask():
    mask = losses.adjacency_mask(1)
    rows = losses.masked_attention_rows(_attention((3, 17, 17), seed=5), mask)
    torch.testing.assert_close(rows.sum(dim=-1), torch.ones(3, 17))
    assert bool((rows[:, ~mask] == 0).all()) and bool((rows[:, mask] > 0).all())


def test_ajad_zero_when_maps_agree_on_the_adjacency_and_positive_otherwise():
    indices, _ = _uniform_indices()
    teacher = _attention((2, T, 4, 17, 17), seed=6)
    head_mean = gather_frames(teacher.mean(dim=2, keepdim=True), indices)
    student = head_mean.expand(-1, -1, 2, -1, -1).clone()  # 2 student heads, same mean map
    assert (
        losses.ajad_loss(student, losses.ajad_teacher_rows(teacher, indices), hops=1).abs() < 1e-6
    )
    # Changing attention only between joints far apart on the skeleton changes nothing.
    far = ~losses.adjacency_mask(1)
    outside = student.clone()
    outside[..., far] = outside[..., far] * 5
    assert (
        losses.ajad_loss(outside, losses.ajad_teacher_rows(teacher, indices), hops=1).abs() < 1e-6
    )
    different = _attention((2, N, 2, 17, 17), seed=7)
    assert losses.ajad_loss(different, losses.ajad_teacher_rows(teacher, indices), hops=1) > 1e-3


def test_interpolation_reproduces_a_linear_trajectory_exactly():
    keypoints_2d = torch.cumsum(torch.rand(2, T, 17, 2, generator=_generator(8)), dim=1)
    for mode in ("uniform", "motion"):
        indices, frame_offsets = sample_frames(keypoints_2d, mode, N)
        start = torch.randn(2, 1, 17, 3, generator=_generator(9))
        velocity = torch.randn(2, 1, 17, 3, generator=_generator(10))
        offsets_t = (torch.arange(T) - T // 2).float().view(1, T, 1, 1)
        trajectory = start + velocity * offsets_t  # (2, T, 17, 3), linear in time
        student = gather_frames(trajectory, indices)
        upsampled = losses.upsample_to_window(student, frame_offsets, T)
        torch.testing.assert_close(upsampled, trajectory, atol=1e-5, rtol=1e-5)
        weights = losses.interpolation_matrix(frame_offsets, T)
        torch.testing.assert_close(weights.sum(dim=-1), torch.ones(2, T))
        assert losses.tcd_loss(student, trajectory, frame_offsets, velocity_weight=1.0) < 1e-5


def test_tcd_positive_when_the_teacher_moves_between_student_frames():
    indices, frame_offsets = _uniform_indices()
    teacher = torch.randn(2, T, 17, 3, generator=_generator(11))
    student = gather_frames(teacher, indices)  # right at its frames, wrong in between
    assert losses.tcd_loss(student, teacher, frame_offsets, velocity_weight=0.0) > 0.1
    position_only = losses.tcd_loss(student, teacher, frame_offsets, velocity_weight=0.0)
    assert losses.tcd_loss(student, teacher, frame_offsets, velocity_weight=1.0) > position_only


def test_tcd_counts_only_frames_inside_a_central_span():
    indices, frame_offsets = sample_frames(torch.zeros(1, T, 17, 2), "central", N)
    teacher = torch.randn(1, T, 17, 3, generator=_generator(12))
    student = gather_frames(teacher, indices)
    assert losses.tcd_loss(student, teacher, frame_offsets, velocity_weight=1.0) < 1e-6
    assert losses.span_mask(frame_offsets, T).sum() == N
