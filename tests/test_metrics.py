"""Metrics against hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from scjd_edge import metrics


def _random_poses(shape=(4,), seed=0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, 17, 3, generator=generator, dtype=torch.float64)


def _rotation(seed: int = 1) -> torch.Tensor:
    """A random proper rotation (det +1)."""
    generator = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(3, 3, generator=generator, dtype=torch.float64))
    return q * torch.sign(torch.linalg.det(q))


def _signed_volume(pose: torch.Tensor) -> torch.Tensor:
    """Handedness of a pose: det of three bone vectors from the hip (sign flips in a mirror)."""
    bones = pose[..., [1, 7, 4], :] - pose[..., :1, :]
    return torch.linalg.det(bones)


def test_mpjpe_of_a_constant_offset_is_its_length():
    target = _random_poses()
    predicted = target + torch.tensor([3.0, 4.0, 0.0], dtype=torch.float64)
    assert metrics.mpjpe(predicted, target).item() == pytest.approx(5.0)
    per_pose = metrics.mpjpe(predicted, target, reduction="none")
    assert per_pose.shape == (4,)
    torch.testing.assert_close(per_pose, torch.full((4,), 5.0, dtype=torch.float64))


def test_mpjpe_per_pose_over_leading_dimensions():
    target = torch.zeros(2, 3, 17, 3)
    predicted = target.clone()
    predicted[1, 2, :8, 0] = 17.0  # 8 of 17 joints off by 17 mm in one pose
    per_pose = metrics.mpjpe(predicted, target, reduction="none")
    expected = torch.zeros(2, 3)
    expected[1, 2] = 8.0
    torch.testing.assert_close(per_pose, expected)
    assert metrics.mpjpe(predicted, target).item() == pytest.approx(8.0 / 6)


def test_p_mpjpe_of_a_rotated_scaled_translated_copy_is_zero():
    target = _random_poses()
    predicted = 1.7 * target @ _rotation() + torch.tensor([0.3, -2.0, 5.0], dtype=torch.float64)
    assert metrics.mpjpe(predicted, target).item() > 1.0
    torch.testing.assert_close(
        metrics.p_mpjpe(predicted, target, reduction="none"),
        torch.zeros(4, dtype=torch.float64),
        atol=1e-9,
        rtol=0,
    )


def test_p_mpjpe_enforces_a_proper_rotation_for_a_mirrored_copy():
    """A mirror image is not a rotation: the best proper-rotation fit keeps an error,
    and the aligned pose keeps the prediction's handedness (the SVD sign fix)."""
    target = _random_poses()
    mirrored = target * torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64)
    errors = metrics.p_mpjpe(mirrored, target, reduction="none")
    assert bool((errors > 0.1).all())  # unit-variance poses: far from 0
    aligned = metrics.procrustes_align(mirrored, target)
    assert bool((torch.sign(_signed_volume(aligned)) == torch.sign(_signed_volume(mirrored))).all())
    # The aligned pose is a similarity image of the prediction: distance ratios are constant.
    ratios = torch.cdist(aligned, aligned)[:, 0, 1:] / torch.cdist(mirrored, mirrored)[:, 0, 1:]
    torch.testing.assert_close(ratios, ratios[:, :1].expand_as(ratios))


def test_p_mpjpe_of_a_mirrored_planar_pose_is_zero():
    """In 3D a planar pose's mirror image is a 180-degree rotation of it, so it aligns."""
    target = _random_poses()
    target[..., 2] = 0.0
    mirrored = target * torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64)
    assert metrics.p_mpjpe(mirrored, target).item() == pytest.approx(0.0, abs=1e-9)


def test_p_mpjpe_accepts_numpy_and_returns_numpy_or_float():
    target = _random_poses().numpy().astype(np.float32)
    rotation = _rotation().numpy().astype(np.float32)
    predicted = 0.5 * target @ rotation + np.float32(1.0)
    mean_error = metrics.p_mpjpe(predicted, target)
    assert isinstance(mean_error, float)
    assert mean_error == pytest.approx(0.0, abs=1e-5)
    per_pose = metrics.p_mpjpe(predicted, target, reduction="none")
    assert isinstance(per_pose, np.ndarray)
    assert per_pose.shape == (4,)
    assert per_pose.dtype == np.float32


def test_n_mpjpe_removes_scale_only():
    target = _random_poses()
    assert metrics.n_mpjpe(0.8 * target, target).item() == pytest.approx(0.0, abs=1e-12)
    assert metrics.mpjpe(0.8 * target, target).item() > 0.1
    rotated = target @ _rotation()
    assert metrics.n_mpjpe(rotated, target).item() > 0.1


def test_mpjve_of_a_constant_shift_along_a_constant_velocity_motion_is_zero():
    frames = torch.arange(10, dtype=torch.float64).reshape(10, 1, 1)
    walking = _random_poses(shape=(1,)) + frames * torch.tensor([0.0, 12.0, 0.0])  # (10, 17, 3)
    shifted = walking + torch.tensor([30.0, -5.0, 2.0], dtype=torch.float64)
    assert metrics.mpjve(shifted, walking).item() == pytest.approx(0.0, abs=1e-12)
    # A prediction drifting by 3 mm per frame along x has a velocity error of exactly 3.
    drifting = walking + frames * torch.tensor([3.0, 0.0, 0.0], dtype=torch.float64)
    per_pair = metrics.mpjve(drifting, walking, reduction="none")
    assert per_pair.shape == (9,)
    torch.testing.assert_close(per_pair, torch.full((9,), 3.0, dtype=torch.float64))


def test_mpjve_needs_two_frames():
    with pytest.raises(ValueError, match="F >= 2"):
        metrics.mpjve(torch.zeros(1, 17, 3), torch.zeros(1, 17, 3))


def _pose_with_joint_errors(errors_mm: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """A target at zero and a prediction whose joint j is errors_mm[j] away along z."""
    target = np.zeros((1, len(errors_mm), 3))
    predicted = target.copy()
    predicted[0, :, 2] = errors_mm
    return predicted, target


def test_pck_counts_joints_strictly_below_the_threshold():
    joint_errors = [0, 10, 50, 100, 149.9, 150, 151, 400] + [20] * 9  # 17 joints
    predicted, target = _pose_with_joint_errors(joint_errors)
    assert metrics.pck(predicted, target) == pytest.approx(14 / 17)
    assert metrics.pck(predicted, target, threshold=50.0) == pytest.approx(11 / 17)


def test_auc_is_the_mean_pck_over_0_to_150_mm():
    joint_errors = [0.0] * 10 + [52.0] * 5 + [1000.0] * 2
    predicted, target = _pose_with_joint_errors(joint_errors)
    # error 0 is below 30 of the 31 thresholds (not 0); 52 is below 55..150 (20 of 31).
    expected = (10 * 30 / 31 + 5 * 20 / 31) / 17
    assert metrics.auc(predicted, target) == pytest.approx(expected)
    assert len(metrics.AUC_THRESHOLDS_MM) == 31
    per_pose = metrics.auc(torch.as_tensor(predicted), torch.as_tensor(target), reduction="none")
    assert isinstance(per_pose, torch.Tensor)
    assert per_pose.shape == (1,)


def test_torch_metrics_are_differentiable_losses():
    target = _random_poses()
    predicted = (target + 0.1).requires_grad_(True)
    loss = metrics.mpjpe(predicted, target)
    assert loss.dim() == 0
    loss.backward()
    expected_grad = torch.full_like(target, 1 / (4 * 17 * math.sqrt(3)))
    torch.testing.assert_close(predicted.grad, expected_grad)


def test_per_action_groups_by_the_text_before_the_first_space():
    errors = np.array([10.0, 20.0, 30.0, 5.0, 7.0])
    actions = ["Walk 07_01", "Walk 07_02 chunk1", "Dance 05_02", "Walk-on-uneven 03_01", "Dance"]
    result = metrics.per_action(errors, actions)
    assert result == {"Dance": 18.5, "Walk": 15.0, "Walk-on-uneven": 5.0}
    assert metrics.per_action(torch.tensor(errors), actions) == result
    with pytest.raises(ValueError, match="5 errors for 2"):
        metrics.per_action(errors, actions[:2])


def test_mismatched_shapes_and_unknown_reduction_are_rejected():
    with pytest.raises(ValueError, match="same"):
        metrics.mpjpe(np.zeros((2, 17, 3)), np.zeros((3, 17, 3)))
    with pytest.raises(ValueError, match="reduction"):
        metrics.mpjpe(np.zeros((2, 17, 3)), np.zeros((2, 17, 3)), reduction="sum")
