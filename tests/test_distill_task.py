"""DistillTask: teacher checks, gradient flow, and a short real distillation run."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from scjd_edge.config import BUILTIN_SYNTHETIC, ModelConfig, validate_recipe
from scjd_edge.contract import Deployment, root_scale_normalise
from scjd_edge.distill.task import DistillTask, distill
from scjd_edge.errors import CheckpointError, ConfigError
from scjd_edge.train.checkpoint import load_checkpoint
from scjd_edge.train.tasks import TeacherTask

TEACHER_FRAMES = 9
ALL_TERMS = {"output_weight": 1.0, "djed_weight": 0.5, "ajad_weight": 0.5, "tcd_weight": 1.0}


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """Tiny models run far faster on one thread than on cores shared with other jobs."""


@pytest.fixture(scope="module")
def teacher_path(tmp_path_factory, make_checkpoint):
    config = ModelConfig(frames=TEACHER_FRAMES, dim=16, depth=2, heads=2)
    return make_checkpoint(tmp_path_factory.mktemp("teacher") / "teacher.pt", config)


def _recipe(**distill):
    return validate_recipe(
        {
            "name": "tiny_student",
            "model": {"dim": 8, "depth": 2, "heads": 2},
            "train": {"batch_size": 8},
            "distill": {"input_frames": 3, **distill},
        }
    )


def _batch(batch: int = 4) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    pose_3d = torch.randn(batch, TEACHER_FRAMES, 17, 3, generator=generator) * 0.2
    pose_3d = pose_3d - pose_3d[:, :, :1]
    return {
        "keypoints_2d": torch.randn(batch, TEACHER_FRAMES, 17, 2, generator=generator).cumsum(1),
        "pose_3d": pose_3d,
        "frame_offsets": (torch.arange(TEACHER_FRAMES) - TEACHER_FRAMES // 2)
        .float()
        .repeat(batch, 1),
        "labelled": torch.ones(batch, dtype=torch.bool),
    }


@pytest.mark.parametrize("sampling", ["uniform", "motion", "central"])
def test_gradients_reach_student_and_projector_never_teacher(teacher_path, sampling):
    task = DistillTask(_recipe(sampling=sampling, **ALL_TERMS), teacher_path)
    total, terms = task.loss(_batch())
    assert set(terms) == {"pose", "output", "djed", "ajad", "tcd"}
    assert all(float(value) > 0 for value in terms.values())
    total.backward()
    student_grads = [p.grad for p in task.model.parameters()]
    assert all(grad is not None for grad in student_grads)
    assert sum(float(grad.abs().sum()) for grad in student_grads) > 0
    assert len(task.trainable.projectors) == 1
    assert float(task.trainable.projectors[0].weight.grad.abs().sum()) > 0
    assert all(not p.requires_grad and p.grad is None for p in task.teacher.parameters())
    assert not task.teacher.training
    trainable_ids = {id(p) for p in task.trainable.parameters()}
    assert not trainable_ids & {id(p) for p in task.teacher.parameters()}


def test_without_distillation_the_teacher_is_not_run(teacher_path):
    task = DistillTask(_recipe(), teacher_path)

    def fail(*args, **kwargs):
        raise AssertionError("the teacher ran although no term needs it")

    task.teacher.forward = fail
    total, terms = task.loss(_batch())
    assert set(terms) == {"pose"} and len(task.trainable.projectors) == 0
    assert torch.equal(total, terms["pose"]) or torch.isclose(total, terms["pose"])


def test_student_records_its_deployment_contract(teacher_path):
    task = DistillTask(_recipe(sampling="uniform"), teacher_path)
    assert task.deployment.window_frames == TEACHER_FRAMES
    assert task.deployment.input_frames == 3
    assert task.deployment.frame_offsets == (-4, 0, 4)
    assert task.deployment.output == "all" and task.deployment.joint_layout == "h36m17"
    assert task.recipe.model.frames == 3 and task.recipe.distill.window_frames == TEACHER_FRAMES
    centre = task.predict_centre(_batch()["keypoints_2d"])
    assert centre.shape == (4, 17, 3)


def test_a_causal_root_scale_student_reads_only_its_listed_frames(teacher_path):
    recipe = _recipe(sampling="offsets", frame_offsets=[-4, -1, 0], **ALL_TERMS)
    recipe.model.input_normalisation = "root_scale"
    task = DistillTask(recipe, teacher_path)
    assert task.deployment.lookahead_frames == 0
    assert task.deployment.input_normalisation == "root_scale"
    batch = _batch()
    total, terms = task.loss(batch)
    assert set(terms) == {"pose", "output", "djed", "ajad", "tcd"}
    total.backward()
    future = dict(batch, keypoints_2d=batch["keypoints_2d"].clone())
    future["keypoints_2d"][:, TEACHER_FRAMES // 2 + 1 :] += 5.0  # change every future frame
    torch.testing.assert_close(
        task.predict_centre(future["keypoints_2d"]), task.predict_centre(batch["keypoints_2d"])
    )


def test_teacher_and_student_each_get_their_own_input_normalisation(tmp_path, make_checkpoint):
    config = ModelConfig(frames=TEACHER_FRAMES, dim=16, depth=2, heads=2)
    contract = Deployment.teacher(TEACHER_FRAMES, input_normalisation="root_scale")
    path = make_checkpoint(tmp_path / "root_scale_teacher.pt", config, deployment=contract)
    task = DistillTask(_recipe(output_weight=1.0), path)
    batch = _batch()
    keypoints_2d, offsets, indices = task.deployment.prepare_model_inputs(batch["keypoints_2d"])
    torch.testing.assert_close(keypoints_2d, batch["keypoints_2d"][:, [0, 4, 8]])  # screen
    expected = task.teacher(root_scale_normalise(batch["keypoints_2d"]), batch["frame_offsets"])
    targets = task.teacher_targets(batch["keypoints_2d"], indices)
    torch.testing.assert_close(targets["pose_3d"], expected)


def test_supervised_training_feeds_the_model_through_its_contract():
    recipe = _recipe()
    recipe.model.frames, recipe.model.input_normalisation = TEACHER_FRAMES, "root_scale"
    task = TeacherTask(recipe)
    batch = _batch()
    total, _ = task.loss(batch)
    predicted = task.model(root_scale_normalise(batch["keypoints_2d"]), batch["frame_offsets"])
    expected = (predicted - batch["pose_3d"]).norm(dim=-1).mean()
    torch.testing.assert_close(total, expected)


def test_delivered_weight_moves_the_pose_loss_to_the_delivered_frame(teacher_path):
    batch = _batch()
    plain = DistillTask(_recipe(sampling="uniform"), teacher_path)
    centre_only = DistillTask(_recipe(sampling="uniform", delivered_weight=1.0), teacher_path)
    with torch.no_grad():
        keypoints_2d, offsets, _ = plain.deployment.prepare_model_inputs(batch["keypoints_2d"])
        predicted = centre_only.model(keypoints_2d, offsets)
    expected = (predicted[:, 1] - batch["pose_3d"][:, TEACHER_FRAMES // 2]).norm(dim=-1).mean()
    _, terms = centre_only.loss(batch)
    torch.testing.assert_close(terms["pose"], expected)


def test_teacher_free_ajad_does_not_run_the_teacher(teacher_path):
    task = DistillTask(_recipe(ajad_weight=1.0, ajad={"target": "uniform"}), teacher_path)

    def fail(*args, **kwargs):
        raise AssertionError("the teacher ran although the AJAD target is uniform")

    task.teacher.forward = fail
    _, terms = task.loss(_batch())
    assert set(terms) == {"pose", "ajad"} and float(terms["ajad"]) > 0


def test_offsets_in_a_recipe_must_match_the_sampling_and_the_frame_count():
    with pytest.raises(ConfigError, match="needs distill.frame_offsets"):
        _recipe(sampling="offsets")
    with pytest.raises(ConfigError, match="has 2 offsets but distill.input_frames is 3"):
        _recipe(sampling="offsets", frame_offsets=[-1, 0])
    with pytest.raises(ConfigError, match="only read with sampling 'offsets'"):
        _recipe(frame_offsets=[-1, 0, 1])


@pytest.mark.parametrize(
    ("distill", "error", "match"),
    [
        ({"window_frames": 27}, CheckpointError, "distill.window_frames is 27"),
        ({"input_frames": 11}, ConfigError, "input_frames=11"),
        ({"input_frames": 4}, ConfigError, "must be odd"),
        ({"djed_weight": 1.0, "djed": {"pairs": [[2, -1]]}}, ConfigError, "teacher block 2"),
        ({"ajad_weight": 1.0, "ajad": {"pairs": [[0, -3]]}}, ConfigError, "student block -3"),
        ({"djed_weight": 1.0, "djed": {"context": "attention"}}, ConfigError, "temporal attention"),
    ],
)
def test_a_teacher_or_recipe_that_does_not_fit_is_named(teacher_path, distill, error, match):
    with pytest.raises(error, match=match):
        DistillTask(_recipe(**distill), teacher_path)


def test_foreign_layouts_are_rejected(tmp_path, make_checkpoint):
    config = ModelConfig(frames=TEACHER_FRAMES, dim=16, depth=1, heads=2)
    coco = dataclasses.replace(Deployment.teacher(TEACHER_FRAMES), joint_layout="coco17")
    with pytest.raises(CheckpointError, match="joint layout 'coco17'"):
        DistillTask(_recipe(), make_checkpoint(tmp_path / "coco.pt", config, deployment=coco))


@pytest.fixture(scope="module")
def tcn_teacher_path(tmp_path_factory, make_checkpoint):
    """A centre-frame teacher: a TCN over the same 9-frame window (3 ** 2)."""
    config = ModelConfig(name="tcn", frames=TEACHER_FRAMES, dim=16, depth=2)
    centre_only = Deployment.teacher(TEACHER_FRAMES, output="centre")
    path = tmp_path_factory.mktemp("tcn") / "tcn.pt"
    return make_checkpoint(path, config, kind="baseline", deployment=centre_only)


@pytest.mark.parametrize(
    ("terms", "named"),
    [
        ({"tcd_weight": 1.0}, "distill.tcd_weight"),
        ({"djed_weight": 0.1}, "distill.djed_weight"),
        ({"ajad_weight": 1.0}, "distill.ajad_weight"),
    ],
)
def test_a_centre_frame_teacher_names_the_terms_it_cannot_feed(tcn_teacher_path, terms, named):
    no_terms = {"djed_weight": 0.0, "ajad_weight": 0.0, "tcd_weight": 0.0}
    with pytest.raises(ConfigError, match=f"centre frame.*{named}"):
        DistillTask(_recipe(**{**no_terms, **terms}), tcn_teacher_path)


def test_a_centre_frame_teacher_distils_the_delivered_frame(tcn_teacher_path):
    recipe = _recipe(
        output_weight=1.0, djed_weight=0.0, ajad_weight=1.0, tcd_weight=0.0, teacher_cache=False
    )
    recipe.distill.ajad.target = "uniform"  # teacher-free, so a TCN teacher can stay
    task = DistillTask(recipe, tcn_teacher_path)
    batch = _batch()
    total, terms = task.loss(batch)
    total.backward()

    inputs, offsets, indices = task.deployment.prepare_model_inputs(batch["keypoints_2d"])
    with torch.no_grad():
        student = task.model(inputs, offsets, return_features=False)
        teacher_inputs = task.teacher_deployment.prepare_model_inputs(batch["keypoints_2d"])
        teacher_centre = task.teacher(*teacher_inputs[:2])[:, 0]
    delivered = task.deployment.delivered_pose(student, indices)
    expected = (delivered - teacher_centre).norm(dim=-1).mean()
    assert teacher_centre.shape == (4, 17, 3)
    assert torch.allclose(terms["output"], expected, atol=1e-6)
    assert all(parameter.grad is None for parameter in task.teacher.parameters())
    assert any(parameter.grad is not None for parameter in task.model.parameters())


def test_a_seq2seq_student_is_required(teacher_path):
    recipe = _recipe()
    recipe.model.name = "poseformerv2"
    with pytest.raises(ConfigError, match="seq2seq student"):
        DistillTask(recipe, teacher_path)


@pytest.mark.slow
def test_twenty_distillation_steps_on_synthetic_data_lower_the_loss(tmp_path, teacher_path):
    from scjd_edge.train.tasks import train_teacher

    data = {"path": BUILTIN_SYNTHETIC, "train_stride": 8}
    train = {"epochs": 1, "batch_size": 16, "warmup_steps": 2, "log_every": 1, "test_flip": False}
    teacher_recipe = validate_recipe(
        {
            "name": "tiny_teacher",
            "data": data,
            "model": {"frames": TEACHER_FRAMES, "dim": 16, "depth": 2, "heads": 2},
            "train": {**train, "max_steps": 20, "val_max_windows": 64},
        }
    )
    train_teacher(teacher_recipe, tmp_path / "teacher")
    student_recipe = validate_recipe(
        {
            "name": "tiny_student",
            "data": data,
            "model": {"dim": 8, "depth": 2, "heads": 2},
            "train": {**train, "max_steps": 20, "val_max_windows": 64, "lr": 2e-3},
            "distill": {"input_frames": 3, **ALL_TERMS},
        }
    )
    summary = distill(student_recipe, tmp_path / "teacher" / "best.pt", tmp_path / "student")
    log = [
        json.loads(line) for line in (tmp_path / "student" / "log.jsonl").read_text().splitlines()
    ]
    losses = [record["loss"] for record in log if "loss" in record]
    assert len(losses) == 20
    assert sum(losses[-5:]) / 5 < 0.8 * sum(losses[:5]) / 5
    assert {"pose", "output", "djed", "ajad", "tcd"} <= set(log[0])
    epoch_record = next(record for record in log if "train_loss" in record)
    step_records = [record for record in log if "loss" in record]
    for term in ("pose", "output", "djed", "ajad", "tcd"):  # log_every=1: every step logged
        mean = sum(record[term] for record in step_records) / len(step_records)
        assert epoch_record[f"train_{term}"] == pytest.approx(mean, rel=1e-5)
    student = load_checkpoint(summary["best_checkpoint"])
    assert student["kind"] == "student" and student["deployment"].input_frames == 3
    assert student["task"]["teacher"]["window_frames"] == TEACHER_FRAMES
    validations = [record["val_mpjpe_mm"] for record in log if "val_mpjpe_mm" in record]
    assert validations and summary["best_val_mpjpe_mm"] == pytest.approx(min(validations))
    with pytest.raises(CheckpointError, match="distilled from the teacher"):
        distill(student_recipe, teacher_path, tmp_path / "student", resume=True)


def test_a_centre_frame_model_filed_as_predicting_all_frames_is_refused(tmp_path, make_checkpoint):
    config = ModelConfig(name="tcn", frames=TEACHER_FRAMES, dim=16, depth=2)
    mislabelled = make_checkpoint(tmp_path / "tcn.pt", config, deployment=Deployment.teacher(9))
    with pytest.raises(CheckpointError, match="predicts only its centre frame"):
        DistillTask(_recipe(djed_weight=0.0, ajad_weight=0.0, tcd_weight=0.0), mislabelled)
