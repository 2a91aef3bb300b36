"""Evaluation per subject, with detector-like 2D and at other input rates; subject-weighted
sampling and detector-like training windows."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from scjd_edge.config import ModelConfig
from scjd_edge.data.dataset import PoseSequence
from scjd_edge.data.formats import load_dataset
from scjd_edge.data.windows import PoseWindows, WindowBatchSampler
from scjd_edge.errors import ConfigError
from scjd_edge.train.evaluate import InputCondition, evaluate_checkpoint

DATA = "builtin:synthetic"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, make_checkpoint):
    path = tmp_path_factory.mktemp("evaluate") / "teacher.pt"
    return make_checkpoint(path, ModelConfig(frames=5, dim=16, depth=1, heads=2))


@pytest.fixture(scope="module")
def test_frames():
    """Frames of every test sequence (SYN6, every camera)."""
    return [sequence.num_frames for sequence in load_dataset(DATA).select(["SYN6"], "test")]


def _evaluate(checkpoint, **condition):
    return evaluate_checkpoint(checkpoint, DATA, "test", condition=InputCondition(**condition))


def test_per_subject_figures_add_up_to_the_overall_ones(checkpoint, test_frames):
    result = _evaluate(checkpoint)
    assert list(result["per_subject"]) == ["SYN6"] == result["subjects"]
    assert result["poses"] == sum(test_frames) == result["per_subject"]["SYN6"]["poses"]
    assert result["per_subject"]["SYN6"]["mpjpe"] == pytest.approx(result["overall"]["mpjpe"])
    assert result["condition"]["two_d"] == "exact" and result["model_fps"] == 50.0


def test_detector_like_2d_is_reproducible_from_its_seed_and_changes_the_error(checkpoint):
    exact = _evaluate(checkpoint)["overall"]["mpjpe"]
    first = _evaluate(checkpoint, two_d="detector")["overall"]["mpjpe"]
    again = _evaluate(checkpoint, two_d="detector")["overall"]["mpjpe"]
    other_seed = _evaluate(checkpoint, two_d="detector", noise_seed=1)["overall"]["mpjpe"]
    assert first == again and first != exact and first != other_seed


def test_2d_at_25_frames_per_second_is_scored_at_the_frames_that_arrived(checkpoint, test_frames):
    arrived = sum(math.ceil(frames / 2) for frames in test_frames)
    resampled = _evaluate(checkpoint, input_fps=25.0)
    fed_as_is = _evaluate(checkpoint, input_fps=25.0, resample=False)
    assert resampled["poses"] == fed_as_is["poses"] == arrived
    assert resampled["overall"]["mpjpe"] != fed_as_is["overall"]["mpjpe"]


def test_every_kth_frame_and_bad_conditions(checkpoint, test_frames):
    quick = evaluate_checkpoint(checkpoint, DATA, "test", every=5)
    assert quick["poses"] == sum(math.ceil(frames / 5) for frames in test_frames)
    with pytest.raises(ConfigError, match="2D condition 'noisy'"):
        InputCondition(two_d="noisy")
    with pytest.raises(ConfigError, match="input rate"):
        InputCondition(input_fps=0.0)


def _sequence(subject: str, frames: int) -> PoseSequence:
    rng = np.random.default_rng(len(subject) + frames)
    return PoseSequence(
        subject=subject,
        action="Walk 1",
        camera="c",
        keypoints_2d=rng.uniform(-0.5, 0.5, (frames, 17, 2)).astype(np.float32),
        pose_3d=rng.uniform(1.0, 2.0, (frames, 17, 3)).astype(np.float32),
        fps=50.0,
        res_w=1000,
        res_h=1000,
    )


@pytest.mark.parametrize(("weighting", "share_of_big"), [("equal", 0.5), ("sqrt", 0.75)])
def test_subject_weighting_gives_each_subject_its_share(weighting, share_of_big):
    windows = PoseWindows([_sequence("BIG", 900), _sequence("SMALL", 100)], frames=3)
    assert windows.subject_weights("frames") is None
    weights = windows.subject_weights(weighting)
    is_big = windows.window_sequence_index == 0
    assert weights[is_big].sum().item() == pytest.approx(share_of_big)  # sqrt 900 : sqrt 100
    sampler = WindowBatchSampler(len(windows), 1000, True, 0, False, window_weights=weights)
    drawn = torch.cat(list(sampler))
    assert is_big[drawn].float().mean().item() == pytest.approx(share_of_big, abs=0.03)


def test_detector_like_training_windows_keep_their_exact_2d_beside_them():
    sequences = [_sequence("A", 200)]
    plain = PoseWindows(sequences, frames=9, flip=True, seed=3)
    noisy = PoseWindows(sequences, frames=9, flip=True, seed=3, detector_noise=1.0)
    index = torch.arange(0, 200, 7)
    plain_batch, noisy_batch = plain[index], noisy[index]
    assert "keypoints_2d_exact" not in plain_batch
    assert torch.equal(noisy_batch["keypoints_2d_exact"], plain_batch["keypoints_2d"])
    assert not torch.equal(noisy_batch["keypoints_2d"], plain_batch["keypoints_2d"])
    assert torch.equal(noisy_batch["pose_3d"], plain_batch["pose_3d"])
