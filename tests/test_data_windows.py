"""PoseWindows and make_loader: padding, flip, noise, determinism, DDP sharding."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scjd_edge.data.formats import PoseSequence
from scjd_edge.data.skeleton import flip_pose
from scjd_edge.data.windows import PoseWindows, WindowBatchSampler, make_loader
from scjd_edge.errors import DataError


def _sequence(frames: int, seed: int, res_w: int = 1000) -> PoseSequence:
    """A sequence whose frames are distinguishable: 2D x of joint 0 equals the frame number."""
    rng = np.random.default_rng(seed)
    keypoints_2d = rng.normal(size=(frames, 17, 2)).astype(np.float32)
    keypoints_2d[:, 0, 0] = np.arange(frames)
    pose_3d = rng.normal(size=(frames, 17, 3)).astype(np.float32)
    pose_3d[..., 2] += 5.0
    return PoseSequence(
        subject="S", action=f"A{seed}", camera="c", keypoints_2d=keypoints_2d, pose_3d=pose_3d,
        fps=50.0, res_w=res_w, res_h=res_w,
    )  # fmt: skip


def test_windows_replicate_the_first_and_last_frame():
    sequence = _sequence(10, seed=0)
    windows = PoseWindows([sequence], frames=5)
    assert len(windows) == 10
    first, last = windows[0], windows[9]
    np.testing.assert_array_equal(first["keypoints_2d"][:, 0, 0].numpy(), [0, 0, 0, 1, 2])
    np.testing.assert_array_equal(last["keypoints_2d"][:, 0, 0].numpy(), [7, 8, 9, 9, 9])
    np.testing.assert_array_equal(first["keypoints_2d"][0].numpy(), sequence.keypoints_2d[0])
    np.testing.assert_array_equal(last["keypoints_2d"][4].numpy(), sequence.keypoints_2d[9])
    assert int(first["centre_frame"]) == 0 and int(last["centre_frame"]) == 9
    np.testing.assert_array_equal(first["frame_offsets"].numpy(), [-2, -1, 0, 1, 2])


def test_windows_cross_no_sequence_boundary_and_are_root_relative():
    sequences = [_sequence(6, seed=1), _sequence(4, seed=2)]
    windows = PoseWindows(sequences, frames=7, stride=2)
    assert len(windows) == 3 + 2
    batch = windows[[3, 4]]  # the second sequence's windows at frames 0 and 2
    assert batch["keypoints_2d"].shape == (2, 7, 17, 2)
    assert batch["pose_3d"].shape == (2, 7, 17, 3)
    assert batch["sequence_index"].tolist() == [1, 1]
    assert batch["centre_frame"].tolist() == [0, 2]
    np.testing.assert_array_equal(batch["keypoints_2d"][1, :, 0, 0].numpy(), [0, 0, 1, 2, 3, 3, 3])
    expected_pose = sequences[1].pose_3d[2] - sequences[1].pose_3d[2, :1]
    np.testing.assert_allclose(batch["pose_3d"][1, 3].numpy(), expected_pose, atol=1e-6)
    assert torch.all(batch["pose_3d"][:, :, 0] == 0)
    assert windows.window_sequence_index.tolist() == [0, 0, 0, 1, 1]
    assert windows.window_centre_frame.tolist() == [0, 2, 4, 0, 2]
    same = windows[torch.tensor([4])]
    assert torch.equal(same["keypoints_2d"][0], batch["keypoints_2d"][1])


def test_even_window_length_offsets():
    windows = PoseWindows([_sequence(8, seed=3)], frames=4)
    window = windows[0]
    np.testing.assert_array_equal(window["frame_offsets"].numpy(), [-2, -1, 0, 1])
    np.testing.assert_array_equal(window["keypoints_2d"][:, 0, 0].numpy(), [0, 0, 0, 1])


def test_flip_mirrors_2d_and_3d_together():
    sequences = [_sequence(30, seed=4), _sequence(20, seed=5)]
    plain = PoseWindows(sequences, frames=9)
    flipping = PoseWindows(sequences, frames=9, flip=True, seed=7)
    indices = torch.arange(len(plain))
    original, augmented = plain[indices], flipping[indices]
    mirrored_2d = flip_pose(original["keypoints_2d"])
    is_flipped = (augmented["keypoints_2d"] - mirrored_2d).abs().amax(dim=(1, 2, 3)) < 1e-6
    is_plain = (augmented["keypoints_2d"] - original["keypoints_2d"]).abs().amax(dim=(1, 2, 3)) == 0
    assert torch.all(is_flipped ^ is_plain)
    assert 0.3 < is_flipped.float().mean() < 0.7
    mirrored_3d = flip_pose(original["pose_3d"])
    assert torch.allclose(augmented["pose_3d"][is_flipped], mirrored_3d[is_flipped])
    assert torch.equal(augmented["pose_3d"][is_plain], original["pose_3d"][is_plain])


def test_noise_is_in_pixels_of_each_sequence():
    sequences = [_sequence(400, seed=6, res_w=1000), _sequence(400, seed=7, res_w=2000)]
    plain = PoseWindows(sequences, frames=3)
    noisy = PoseWindows(sequences, frames=3, noise_px=5.0, seed=1)
    for sequence_index, res_w in ((0, 1000), (1, 2000)):
        indices = torch.arange(400) + 400 * sequence_index
        difference = noisy[indices]["keypoints_2d"] - plain[indices]["keypoints_2d"]
        pixels_std = float(difference.std()) * res_w / 2
        assert pixels_std == pytest.approx(5.0, rel=0.05)
    assert torch.equal(noisy[indices]["pose_3d"], plain[indices]["pose_3d"])


def test_augmentation_is_deterministic_per_seed_and_epoch():
    sequences = [_sequence(50, seed=8)]
    first = PoseWindows(sequences, frames=5, flip=True, noise_px=2.0, seed=3)
    second = PoseWindows(sequences, frames=5, flip=True, noise_px=2.0, seed=3)
    indices = [5, 9, 1, 30]
    assert torch.equal(first[indices]["keypoints_2d"], second[indices]["keypoints_2d"])
    first.set_epoch(1)
    assert not torch.equal(first[indices]["keypoints_2d"], second[indices]["keypoints_2d"])
    second.set_epoch(1)
    assert torch.equal(first[indices]["keypoints_2d"], second[indices]["keypoints_2d"])


def test_loader_yields_whole_batches_and_replays_an_epoch():
    windows = PoseWindows([_sequence(40, seed=9), _sequence(27, seed=10)], frames=5, flip=True)
    loader = make_loader(windows, batch_size=16, shuffle=True, seed=0, drop_last=False)
    batches = list(loader)
    assert len(batches) == len(loader) == 5
    assert batches[0]["keypoints_2d"].shape == (16, 5, 17, 2)
    assert batches[-1]["keypoints_2d"].shape == (67 - 64, 5, 17, 2)
    seen = torch.cat([b["sequence_index"] * 1000 + b["centre_frame"] for b in batches])
    assert len(set(seen.tolist())) == 67
    again = list(loader)
    pairs = zip(batches, again, strict=True)
    assert all(torch.equal(a["keypoints_2d"], b["keypoints_2d"]) for a, b in pairs)
    loader.set_epoch(1)
    other = list(loader)
    assert not torch.equal(other[0]["centre_frame"], batches[0]["centre_frame"])
    dropped = make_loader(windows, batch_size=16, shuffle=False, seed=0, drop_last=True)
    assert [len(b["centre_frame"]) for b in dropped] == [16, 16, 16, 16]


def test_sampler_shards_across_ranks():
    shards = [
        WindowBatchSampler(103, 10, shuffle=True, seed=5, drop_last=False, rank=r, world_size=4)
        for r in range(4)
    ]
    per_rank = [torch.cat(list(sampler)) for sampler in shards]
    assert all(len(indices) == 26 for indices in per_rank)  # ceil(103 / 4), padded
    assert set(torch.cat(per_rank).tolist()) == set(range(103))
    assert [len(sampler) for sampler in shards] == [3, 3, 3, 3]
    exact = [
        WindowBatchSampler(100, 10, shuffle=True, seed=5, drop_last=True, rank=r, world_size=4)
        for r in range(4)
    ]
    union = torch.cat([torch.cat(list(sampler)) for sampler in exact]).tolist()
    assert len(union) == 4 * 20 and len(set(union)) == 80  # 25 per rank, 2 full batches of 10


def test_empty_split_is_a_data_error():
    with pytest.raises(DataError, match="no sequences"):
        PoseWindows([], frames=5)
