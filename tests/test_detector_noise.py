"""Detector-like 2D: each term of the error model has the magnitude its docstring states."""

from __future__ import annotations

import math

import pytest
import torch

from scjd_edge.data import detector_noise
from scjd_edge.data.detector_noise import (
    CPN_H36M_MEAN_ERROR_PX,
    DROPOUT_FRAMES,
    DROPOUT_RATE,
    JITTER_RHO,
    REFERENCE_SIZE_PX,
    DetectorNoise,
    fill_dropped,
    jitter_sigmas,
    person_size,
)


def _standing_people(batch: int, frames: int, size: float) -> torch.Tensor:
    """(B, T, 17, 2) keypoints spread over a box whose diagonal is about `size`."""
    generator = torch.Generator().manual_seed(1)
    pose = torch.rand(batch, 1, 17, 2, generator=generator) * size / math.sqrt(2)
    return pose.expand(batch, frames, 17, 2).clone()


def test_jitter_alone_has_cpn_s_mean_error_at_the_reference_size():
    jitter = DetectorNoise()._jitter((4000, 8, 17, 2), torch.Generator().manual_seed(0))
    error_px = (jitter * jitter_sigmas()[:, None] * REFERENCE_SIZE_PX).norm(dim=-1)
    assert error_px.mean().item() == pytest.approx(CPN_H36M_MEAN_ERROR_PX, rel=0.03)


def test_jitter_is_unit_variance_ar1_with_the_stated_correlation_at_50_and_25_fps():
    generator = torch.Generator().manual_seed(0)
    for fps, rho in ((50.0, JITTER_RHO), (25.0, JITTER_RHO**2)):
        jitter = DetectorNoise(fps=fps)._jitter((2000, 40, 1, 1), generator).reshape(2000, 40)
        assert jitter.var().item() == pytest.approx(1.0, abs=0.05)
        lag_1 = (jitter[:, 1:] * jitter[:, :-1]).mean().item()
        assert lag_1 == pytest.approx(rho, abs=0.03)


def test_runs_are_on_for_their_rate_in_runs_of_their_mean_length():
    runs = DetectorNoise()._runs(
        (400, 400, 17), DROPOUT_RATE, DROPOUT_FRAMES, torch.Generator().manual_seed(0)
    )
    assert runs.float().mean().item() == pytest.approx(DROPOUT_RATE, rel=0.1)
    starts = (runs[:, 1:] & ~runs[:, :-1]).sum().item()
    assert runs[:, 1:].sum().item() / starts == pytest.approx(DROPOUT_FRAMES, rel=0.15)


def test_errors_scale_with_the_person_and_vanish_at_scale_zero():
    small, large = _standing_people(64, 27, 100.0), _standing_people(64, 27, 400.0)
    noisy_small = DetectorNoise().corrupt(small, torch.Generator().manual_seed(3))
    noisy_large = DetectorNoise().corrupt(large, torch.Generator().manual_seed(3))
    torch.testing.assert_close(noisy_large - large, 4.0 * (noisy_small - small))
    assert torch.equal(DetectorNoise(scale=0.0).corrupt(small, torch.Generator()), small)


def test_dropped_joints_are_interpolated_in_time_and_held_at_the_ends():
    frames = torch.arange(6, dtype=torch.float32)
    track = torch.stack([frames, 2 * frames], dim=-1).reshape(1, 6, 1, 2)
    dropped = torch.tensor([True, False, True, True, False, True]).reshape(1, 6, 1)
    filled = fill_dropped(track * 10, dropped)
    expected = torch.tensor([1.0, 1.0, 2.0, 3.0, 4.0, 4.0]) * 10
    torch.testing.assert_close(filled[0, :, 0, 0], expected)
    everywhere = fill_dropped(track, torch.ones(1, 6, 1, dtype=torch.bool))
    assert torch.equal(everywhere, track)  # no frame has it: kept as it was


def test_inversions_swap_left_and_right_labels(monkeypatch):
    monkeypatch.setattr(detector_noise, "INVERSION_RATE", 0.5)
    people = _standing_people(200, 10, 300.0)
    inverted = DetectorNoise()._inverted(people, torch.Generator().manual_seed(0))
    left, right = list(detector_noise.LEFT_JOINTS), list(detector_noise.RIGHT_JOINTS)
    swapped = (inverted[:, :, left] == people[:, :, right]).all(-1)
    untouched = (inverted[:, :, left] == people[:, :, left]).all(-1)
    assert (swapped | untouched).all() and 0.4 < swapped.float().mean().item() < 0.6


def test_person_size_is_the_median_bounding_box_diagonal():
    people = _standing_people(3, 5, 200.0)
    extent = people[:, 0].amax(1) - people[:, 0].amin(1)
    torch.testing.assert_close(person_size(people), extent.norm(dim=-1))
