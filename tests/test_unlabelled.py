"""Semi-supervised distillation: 2D-only training subjects (data.unlabelled_subjects) are
read without their 3D, and the student learns their poses from the teacher alone."""

from __future__ import annotations

import math

import pytest
import torch

from scjd_edge.config import ModelConfig, validate_recipe
from scjd_edge.data.formats import load_dataset
from scjd_edge.distill.task import DistillTask, distill
from scjd_edge.errors import ConfigError
from scjd_edge.train.engine import load_training_data

TEACHER_FRAMES = 9
LABELLED, UNLABELLED = ["SYN1", "SYN2"], ["SYN3", "SYN4"]


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """Tiny models run far faster on one thread than on cores shared with other jobs."""


@pytest.fixture(scope="module")
def teacher_path(tmp_path_factory, make_checkpoint):
    config = ModelConfig(frames=TEACHER_FRAMES, dim=16, depth=2, heads=2)
    return make_checkpoint(tmp_path_factory.mktemp("teacher") / "teacher.pt", config)


def _recipe(data: dict | None = None, **distill):
    return validate_recipe(
        {
            "name": "tiny_semi_supervised_student",
            "data": {
                "train_subjects": LABELLED,
                "unlabelled_subjects": UNLABELLED,
                "train_stride": 20,
                **(data or {}),
            },
            "model": {"dim": 8, "depth": 2, "heads": 2},
            "train": {"batch_size": 8, "epochs": 1, "max_steps": 3, "val_max_windows": 16},
            "distill": {"input_frames": 3, "output_weight": 1.0, **distill},
        }
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"distill": {"input_frames": 3}}, "distill.output_weight > 0"),
        ({"distill": None}, "distill.output_weight > 0"),
        (
            {"data": {"virtual_camera": {"enabled": True}}, "distill": {"output_weight": 1}},
            "virtual_camera",
        ),
        ({"data": {"train_subjects": ["SYN1", "SYN3"]}}, "in both train and unlabelled"),
        ({"data": {"val_subjects": ["SYN3"]}}, "in both val and unlabelled"),
    ],
)
def test_unlabelled_subjects_need_a_teacher_and_their_own_subjects(change, message):
    recipe = {"data": {"unlabelled_subjects": UNLABELLED, "train_subjects": LABELLED}}
    recipe["data"].update(change.get("data", {}))
    if change.get("distill") is not None:
        recipe["distill"] = change["distill"]
    with pytest.raises(ConfigError, match=message):
        validate_recipe(recipe)


def test_unlabelled_windows_keep_their_2d_and_hide_their_3d():
    recipe = _recipe()
    recipe.train.flip_augment = False  # compare the 2D with the file's, unmirrored
    windows = load_training_data(recipe, TEACHER_FRAMES).train
    dataset = load_dataset("builtin:synthetic")
    labelled = windows.window_sequence_index < len(dataset.select(LABELLED, "train"))
    batch = windows[torch.arange(len(windows))]
    assert torch.equal(batch["labelled"], labelled)
    assert 0 < int(labelled.sum()) < len(windows)
    assert torch.isfinite(batch["pose_3d"][labelled]).all()
    assert torch.isnan(batch["pose_3d"][~labelled]).all()
    assert torch.isfinite(batch["keypoints_2d"]).all()
    first_unlabelled = dataset.select(UNLABELLED, "unlabelled")[0]
    window = windows[int(torch.nonzero(~labelled)[0])]
    centre = TEACHER_FRAMES // 2
    first_frames = torch.from_numpy(first_unlabelled.keypoints_2d[: centre + 1])
    torch.testing.assert_close(window["keypoints_2d"][centre:], first_frames)


def test_the_pose_loss_reads_only_labelled_windows_and_the_teacher_teaches_the_rest(teacher_path):
    task = DistillTask(_recipe(), teacher_path)
    windows = load_training_data(task.recipe, TEACHER_FRAMES).train
    is_labelled = windows[torch.arange(len(windows))]["labelled"]
    labelled = torch.nonzero(is_labelled).flatten()
    unlabelled = torch.nonzero(~is_labelled).flatten()
    mixed = windows[torch.cat([labelled[:3], unlabelled[:3]])]
    _, terms = task.loss(mixed)
    _, labelled_terms = task.loss({key: value[:3] for key, value in mixed.items()})
    assert math.isfinite(float(terms["pose"])) and math.isfinite(float(terms["output"]))
    torch.testing.assert_close(terms["pose"], labelled_terms["pose"])

    only_2d = windows[unlabelled[:4]]
    total, terms = task.loss(only_2d)
    assert float(terms["pose"]) == 0.0
    total.backward()
    gradient = sum(p.grad.abs().sum() for p in task.model.parameters() if p.grad is not None)
    assert float(gradient) > 0  # the teacher's poses train the student on 2D-only windows


def test_a_semi_supervised_distillation_runs_to_a_finite_validation_score(teacher_path, tmp_path):
    summary = distill(_recipe(teacher_cache=True), teacher_path, tmp_path / "student")
    assert summary["step"] == 3
    assert math.isfinite(summary["best_val_mpjpe_mm"])
