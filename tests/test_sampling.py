"""Sparse frame sampling (scjd_edge.sampling)."""

from __future__ import annotations

import pytest
import torch

from scjd_edge.errors import ConfigError
from scjd_edge.sampling import sample_frames, static_offsets


def _random_walk(batch: int, frames: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    steps = torch.randn(batch, frames, 17, 2, generator=generator) * 0.01
    return steps.cumsum(dim=1)


def _hard_windows(frames: int) -> torch.Tensor:
    """Bursty motion, and windows still before the centre, after it or at the end."""
    generator = torch.Generator().manual_seed(1)
    steps = torch.randn(64, frames, 17, 2, generator=generator)
    keypoints_2d = (steps * torch.rand(64, frames, 1, 1, generator=generator) ** 6).cumsum(1)
    keypoints_2d[:8, : frames // 2] = 0
    keypoints_2d[8:16, frames // 2 :] = keypoints_2d[8:16, frames // 2 : frames // 2 + 1]
    keypoints_2d[16:24, -5:] = keypoints_2d[16:24, -6:-5]
    return keypoints_2d


def _fast_second_half(frames: int) -> torch.Tensor:
    """One window whose pose is still for the first 3/4 of the window, then moves fast."""
    keypoints_2d = torch.zeros(1, frames, 17, 2)
    start = frames * 3 // 4
    keypoints_2d[0, start:, :, 0] = torch.linspace(0.0, 1.0, frames - start).unsqueeze(-1)
    return keypoints_2d


@pytest.mark.parametrize("mode", ["uniform", "motion", "central"])
@pytest.mark.parametrize(("window_frames", "num_frames"), [(81, 9), (27, 27), (243, 27), (9, 3)])
def test_indices_sorted_unique_inside_and_hold_centre(mode, window_frames, num_frames):
    keypoints_2d = torch.cat([_random_walk(3, window_frames), _fast_second_half(window_frames)])
    keypoints_2d = torch.cat([keypoints_2d, _hard_windows(window_frames)])
    indices, frame_offsets = sample_frames(keypoints_2d, mode, num_frames)
    assert indices.shape == frame_offsets.shape == (68, num_frames)
    assert indices.dtype == torch.long and frame_offsets.dtype == torch.float32
    assert bool((indices.diff(dim=1) > 0).all())
    assert int(indices.min()) >= 0 and int(indices.max()) <= window_frames - 1
    assert bool((indices == window_frames // 2).any(dim=1).all())
    torch.testing.assert_close(frame_offsets, (indices - window_frames // 2).float())


@pytest.mark.parametrize("mode", ["uniform", "motion"])
def test_uniform_and_motion_span_the_whole_window(mode):
    indices, _ = sample_frames(torch.cat([_random_walk(2, 81), _hard_windows(81)]), mode, 9)
    assert indices[:, 0].tolist() == [0] * 66
    assert indices[:, -1].tolist() == [80] * 66


def test_uniform_stride_and_paper_scale():
    assert static_offsets("uniform", 81, 9) == [-40, -30, -20, -10, 0, 10, 20, 30, 40]
    offsets_243 = static_offsets("uniform", 243, 27)
    assert offsets_243[0] == -121 and offsets_243[-1] == 121 and 0 in offsets_243
    assert offsets_243 == [-o for o in reversed(offsets_243)]  # symmetric about the centre
    gaps = torch.tensor(offsets_243).diff()
    assert set(gaps.tolist()) <= {9, 10}  # stride 242 / 26 = 9.3 rounded per frame


def test_central_and_full():
    assert static_offsets("central", 81, 9) == list(range(-4, 5))
    assert static_offsets("full", 5, 5) == [-2, -1, 0, 1, 2]
    assert static_offsets("motion", 81, 9) is None
    indices, _ = sample_frames(_random_walk(1, 7), "full", 7)
    assert indices.tolist() == [list(range(7))]


def test_motion_puts_more_samples_where_motion_is_fast():
    keypoints_2d = _fast_second_half(81)
    indices, _ = sample_frames(keypoints_2d, "motion", 9)
    fast_start = 81 * 3 // 4
    in_fast_part = int((indices >= fast_start).sum())
    uniform_in_fast_part = sum(o + 40 >= fast_start for o in static_offsets("uniform", 81, 9))
    assert in_fast_part >= 5 > uniform_in_fast_part
    # And a pose that moves at constant speed is sampled uniformly in time.
    steady = torch.linspace(0, 1, 81).view(1, 81, 1, 1).expand(1, 81, 17, 2)
    assert sample_frames(steady, "motion", 9)[0].tolist() == [list(range(0, 81, 10))]


def test_motion_of_a_still_window_is_uniform():
    indices, _ = sample_frames(torch.zeros(2, 81, 17, 2), "motion", 9)
    assert indices.tolist() == [list(range(0, 81, 10))] * 2


@pytest.mark.parametrize(
    ("mode", "window_frames", "num_frames", "message"),
    [
        ("uniform", 81, 8, "input_frames=8 must be odd"),
        ("uniform", 80, 9, "window of 80 frames"),
        ("central", 9, 11, "at most the window's 9 frames"),
        ("full", 9, 3, "uses all 9 frames"),
        ("ring", 9, 3, "'ring' is unknown"),
    ],
)
def test_impossible_sampling_is_a_config_error(mode, window_frames, num_frames, message):
    with pytest.raises(ConfigError, match=message):
        sample_frames(torch.zeros(1, window_frames, 17, 2), mode, num_frames)
