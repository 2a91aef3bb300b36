"""The deployment contract (scjd_edge.contract): inputs, delivered pose, stored forms."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from scjd_edge.contract import CONTRACT_VERSION, Deployment
from scjd_edge.errors import ConfigError, DataError


def _random_walk(batch: int, frames: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    steps = torch.randn(batch, frames, 17, 2, generator=generator) * 0.01
    return steps.cumsum(dim=1)


def test_teacher_student_and_centre_frame_contracts():
    teacher = Deployment.teacher(27)
    assert (teacher.sampling, teacher.input_frames, teacher.output) == ("full", 27, "all")
    assert teacher.frame_offsets == tuple(range(-13, 14))
    assert Deployment.teacher(81, output="centre").output == "centre"
    student = Deployment.student(81, 9, "uniform")
    assert student.frame_offsets == tuple(range(-40, 41, 10))
    assert Deployment.student(81, 9, "motion").frame_offsets is None


def test_lookahead_is_the_future_half_of_the_window():
    assert Deployment.teacher(81).lookahead_frames == 40
    assert Deployment.student(243, 27, "uniform").lookahead_frames == 121
    assert Deployment.teacher(1).lookahead_frames == 0


@pytest.mark.parametrize("mode", ["uniform", "motion", "central"])
def test_prepare_and_delivered_pose_round_trip(mode):
    keypoints_2d = _random_walk(3, 27, seed=1)
    deployment = Deployment.student(27, 9, mode)
    model_keypoints_2d, frame_offsets, indices = deployment.prepare_model_inputs(keypoints_2d)
    assert model_keypoints_2d.shape == (3, 9, 17, 2)
    for sample in range(3):
        torch.testing.assert_close(
            model_keypoints_2d[sample], keypoints_2d[sample, indices[sample]]
        )
    # A stand-in "model output" whose value is the frame offset: the delivered pick is 0.
    pose_3d = frame_offsets[..., None, None].expand(3, 9, 17, 3)
    assert bool((deployment.delivered_pose(pose_3d, indices) == 0).all())


def test_centre_output_model_delivers_its_only_frame():
    deployment = Deployment.teacher(9, output="centre")
    pose_3d = torch.arange(2 * 17 * 3, dtype=torch.float32).reshape(2, 1, 17, 3)
    _, _, indices = deployment.prepare_model_inputs(torch.zeros(2, 9, 17, 2))
    torch.testing.assert_close(deployment.delivered_pose(pose_3d, indices), pose_3d[:, 0])


def test_prepare_rejects_a_window_of_the_wrong_length():
    with pytest.raises(DataError, match="window_frames=81"):
        Deployment.student(81, 9, "uniform").prepare_model_inputs(torch.zeros(2, 27, 17, 2))


@pytest.mark.parametrize("mode", ["uniform", "motion", "central", "full"])
def test_dict_and_json_round_trip(mode):
    deployment = Deployment.student(27, 27 if mode == "full" else 9, mode)
    stored = deployment.to_dict()
    assert stored["version"] == CONTRACT_VERSION
    # central reads offsets -4 .. 4 only: 4 future frames, not the window's 13.
    assert stored["lookahead_frames"] == (4 if mode == "central" else 13)
    assert Deployment.from_dict(stored) == deployment
    assert Deployment.from_json(deployment.to_json()) == deployment
    json.dumps(stored)  # plain data only


def test_version_1_contracts_of_older_checkpoints_still_load():
    version_1 = {
        "window_frames": 81,
        "input_frames": 9,
        "sampling": "motion",
        "frame_offsets": "computed per window",
        "output": "all",
        "joint_layout": "h36m17",
        "units": "metres",
        "root_relative": True,
        "normalisation": "x / w * 2 - [1, h / w]",
    }
    assert Deployment.from_dict(version_1) == Deployment.student(81, 9, "motion")
    uniform = {**version_1, "sampling": "uniform", "frame_offsets": list(range(-40, 41, 10))}
    assert Deployment.from_dict(uniform) == Deployment.student(81, 9, "uniform")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"sampling": "ring"}, "sampling 'ring'"),
        ({"output": "middle"}, "output 'middle'"),
        ({"frame_offsets": [-3, 0, 3]}, "do not match sampling 'uniform'"),
        ({"input_frames": 99}, "input_frames=99"),
        ({"version": 7}, "version 7"),
        ({"colour": "red"}, r"unknown keys \['colour'\]"),
        ({"input_normalisation": "pixels"}, "input_normalisation 'pixels'"),
        ({"window_frames": "many"}, "many"),
    ],
)
def test_a_damaged_contract_is_a_config_error_naming_the_field(change, message):
    stored = {**Deployment.student(81, 9, "uniform").to_dict(), **change}
    with pytest.raises(ConfigError, match=message):
        Deployment.from_dict(stored)


def test_a_missing_field_or_a_non_dict_is_refused():
    stored = Deployment.teacher(9).to_dict()
    del stored["sampling"]
    with pytest.raises(ConfigError, match=r"missing keys \['sampling'\]"):
        Deployment.from_dict(stored)
    with pytest.raises(ConfigError, match="expected a dict, got list"):
        Deployment.from_dict([1, 2])
    with pytest.raises(ConfigError, match="not JSON"):
        Deployment.from_json("{")


def test_the_contract_is_frozen():
    with pytest.raises(AttributeError, match="cannot assign to field 'window_frames'"):
        Deployment.teacher(9).window_frames = 11


def test_listed_offsets_set_the_frames_and_the_lookahead():
    causal = Deployment.student(81, 5, "offsets", [-27, -9, -3, -1, 0])
    assert causal.lookahead_frames == 0
    windows = torch.arange(81, dtype=torch.float32).view(1, 81, 1, 1).expand(2, 81, 17, 2)
    keypoints_2d, frame_offsets, indices = causal.prepare_model_inputs(windows)
    assert indices.tolist() == [[13, 31, 37, 39, 40]] * 2
    assert frame_offsets.tolist() == [[-27.0, -9.0, -3.0, -1.0, 0.0]] * 2
    assert keypoints_2d[0, :, 0, 0].tolist() == [13.0, 31.0, 37.0, 39.0, 40.0]
    assert Deployment.student(81, 3, "offsets", [-5, 0, 5]).lookahead_frames == 5
    assert Deployment.from_json(causal.to_json()) == causal


@pytest.mark.parametrize(
    ("offsets", "message"),
    [
        ([-3, -1, 1], "must hold 0"),
        ([0, -1, 3], "strictly increasing"),
        ([-41, 0, 1], "must lie in -40 .. 40"),
        ([-1, 0], "needs 3 frame_offsets"),
    ],
)
def test_bad_listed_offsets_are_refused(offsets, message):
    with pytest.raises(ConfigError, match=message):
        Deployment(81, 3, "offsets", tuple(offsets))


def test_offsets_are_refused_for_a_computed_sampling():
    with pytest.raises(ConfigError, match="sampling 'offsets' only"):
        Deployment.student(81, 9, "uniform", [-4, -3, -2, -1, 0, 1, 2, 3, 4])


def test_root_scale_input_ignores_where_the_person_is_and_how_large():
    deployment = Deployment.student(9, 3, "uniform", input_normalisation="root_scale")
    generator = torch.Generator().manual_seed(0)
    person = torch.randn(1, 9, 17, 2, generator=generator) * 0.1
    moved_and_scaled = person * 3.0 + torch.tensor([0.4, -0.2])
    plain, _, _ = deployment.prepare_model_inputs(person)
    other, _, _ = deployment.prepare_model_inputs(moved_and_scaled)
    non_root = [joint for joint in range(17) if joint != 0]
    torch.testing.assert_close(plain[:, :, non_root], other[:, :, non_root])
    # RMS distance from the root is 1 on average over the model's frames.
    size = plain[:, :, non_root].pow(2).sum(-1).sum(-1).div(17).sqrt().mean()
    torch.testing.assert_close(size, torch.tensor(1.0))
    # The root slot carries the root's screen position of each sampled frame.
    torch.testing.assert_close(other[:, :, 0], moved_and_scaled[:, [0, 4, 8], 0])


def test_version_2_contracts_still_load():
    stored = Deployment.student(27, 9, "uniform").to_dict()
    stored["version"] = 2
    assert Deployment.from_dict(stored) == Deployment.student(27, 9, "uniform")


def test_frame_rate_is_recorded_and_older_contracts_read_as_50_fps():
    deployment = dataclasses.replace(Deployment.student(81, 3, "offsets", [-5, 0, 5]), fps=25.0)
    stored = deployment.to_dict()
    assert stored["fps"] == 25.0 and stored["lookahead_seconds"] == pytest.approx(0.2)
    assert Deployment.from_dict(stored) == deployment
    version_3 = {key: value for key, value in stored.items() if key != "fps"}
    assert Deployment.from_dict({**version_3, "version": 3}).fps == 50.0


def test_an_infinite_window_is_one_config_error_not_an_overflow():
    stored = {**Deployment.teacher(9).to_dict(), "window_frames": float("inf")}
    with pytest.raises(ConfigError, match="deployment contract"):
        Deployment.from_dict(stored)


@pytest.mark.parametrize("fps", [0, -25, float("nan"), float("inf"), "fast"])
def test_a_rate_that_is_not_a_finite_positive_number_is_refused(fps):
    stored = {**Deployment.teacher(9).to_dict(), "fps": fps}
    with pytest.raises(ConfigError, match="fps|could not convert"):
        Deployment.from_dict(stored)
