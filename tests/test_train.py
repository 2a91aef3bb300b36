"""The training engine and the teacher task on tiny models and the built-in synthetic data."""

import json
import math
import signal

import pytest
import torch
from typer.testing import CliRunner

from scjd_edge.cli import app
from scjd_edge.config import validate_recipe
from scjd_edge.contract import Deployment
from scjd_edge.errors import CheckpointError, ConfigError, DataError
from scjd_edge.train.checkpoint import build_model_from_checkpoint, load_checkpoint, save_checkpoint
from scjd_edge.train.engine import (
    TrainingInterrupted,
    fit,
    load_training_data,
    lr_factor,
    seed_everything,
    validate,
)
from scjd_edge.train.evaluate import evaluate_checkpoint
from scjd_edge.train.tasks import TeacherTask, train_teacher

TINY_MODEL = {"name": "ste", "frames": 9, "dim": 16, "depth": 1, "heads": 2, "dropout": 0.1}


def tiny_recipe(**train):
    """~870 training windows of 9 frames (27 steps per epoch), a one-block 16-wide model."""
    return validate_recipe(
        {
            "name": "tiny",
            "data": {"path": "builtin:synthetic", "train_stride": 40},
            "model": TINY_MODEL,
            "train": {
                "epochs": 2,
                "batch_size": 32,
                "lr": 3e-3,
                "warmup_steps": 5,
                "log_every": 1,
                "ema": 0.9,
                "val_max_windows": 1024,
                **train,
            },
        }
    )


def log_lines(out_dir):
    return [json.loads(line) for line in (out_dir / "log.jsonl").read_text().splitlines()]


def same_weights(first, second):
    return all(torch.equal(first[name], second[name]) for name in first) and set(first) == set(
        second
    )


@pytest.fixture(scope="module")
def straight_run(tmp_path_factory):
    """Two epochs without interruption (constant schedule, so the horizon does not matter)."""
    out_dir = tmp_path_factory.mktemp("straight")
    summary = train_teacher(tiny_recipe(schedule="constant"), out_dir)
    return out_dir, summary


def test_thirty_steps_lower_the_loss(tmp_path):
    summary = train_teacher(tiny_recipe(max_steps=30, val_max_windows=64), tmp_path)
    losses = [line["loss"] for line in log_lines(tmp_path) if "loss" in line]
    assert len(losses) == 30 == summary["step"]
    assert sum(losses[-5:]) < 0.7 * sum(losses[:5])
    assert (tmp_path / "best.pt").is_file() and (tmp_path / "last.pt").is_file()
    validations = [line for line in log_lines(tmp_path) if "val_mpjpe_mm" in line]
    assert validations[-1]["step"] == 30
    assert validations[-1]["val_mpjpe_mm"] == pytest.approx(summary["last_val_mpjpe_mm"])


def test_checkpoint_holds_what_the_format_promises(straight_run):
    out_dir, summary = straight_run
    last = load_checkpoint(out_dir / "last.pt")
    assert last["kind"] == "teacher"
    assert (last["epoch"], last["step"]) == (2, summary["step"])
    assert last["deployment"] == Deployment.teacher(9)
    assert last["data"] == {
        "name": "synthetic",
        "source": last["data"]["source"],
        "synthetic": True,
    }
    assert last["ema_state"] is not None and last["optimizer_state"]["state"]
    best = load_checkpoint(out_dir / "best.pt")
    assert best["metrics"]["val_mpjpe_mm"] == pytest.approx(summary["best_val_mpjpe_mm"])


def test_resume_after_an_epoch_equals_the_straight_run(straight_run, tmp_path):
    out_dir, summary = straight_run
    train_teacher(tiny_recipe(schedule="constant", epochs=1), tmp_path)
    resumed = train_teacher(tiny_recipe(schedule="constant"), tmp_path, resume=True)
    assert resumed["step"] == summary["step"]
    straight, continued = (
        load_checkpoint(out_dir / "last.pt"),
        load_checkpoint(tmp_path / "last.pt"),
    )
    assert same_weights(straight["model_state"], continued["model_state"])
    assert same_weights(straight["ema_state"], continued["ema_state"])
    assert resumed["best_val_mpjpe_mm"] == summary["best_val_mpjpe_mm"]


class _CtrlCAtStep(TeacherTask):
    """Sends SIGINT to this process while computing the loss of step `stop_step`."""

    def __init__(self, recipe, stop_step):
        super().__init__(recipe)
        self.calls, self.stop_step = 0, stop_step

    def loss(self, batch):
        self.calls += 1
        if self.calls == self.stop_step:
            signal.raise_signal(signal.SIGINT)
        return super().loss(batch)


def test_ctrl_c_mid_epoch_saves_and_resume_equals_the_straight_run(straight_run, tmp_path):
    out_dir, summary = straight_run
    recipe = tiny_recipe(schedule="constant")
    seed_everything(recipe.seed)
    with pytest.raises(TrainingInterrupted, match="--resume"):
        fit(recipe, tmp_path, _CtrlCAtStep(recipe, stop_step=31))
    assert load_checkpoint(tmp_path / "last.pt")["step"] == 31  # the step that was running
    assert max(line["step"] for line in log_lines(tmp_path)) == 31
    resumed = train_teacher(recipe, tmp_path, resume=True)
    assert resumed["step"] == summary["step"]
    straight, continued = (
        load_checkpoint(out_dir / "last.pt"),
        load_checkpoint(tmp_path / "last.pt"),
    )
    assert same_weights(straight["model_state"], continued["model_state"])
    assert [line["step"] for line in log_lines(tmp_path)] == [
        line["step"] for line in log_lines(out_dir)
    ]


def test_resume_refuses_a_different_recipe_or_a_missing_run(straight_run, tmp_path):
    out_dir, _ = straight_run
    with pytest.raises(CheckpointError, match=r"train\.lr differ"):
        train_teacher(tiny_recipe(schedule="constant", lr=1e-4), out_dir, resume=True)
    with pytest.raises(CheckpointError, match="nothing to resume"):
        train_teacher(tiny_recipe(), tmp_path, resume=True)


def test_train_teacher_refuses_a_distillation_recipe(tmp_path):
    recipe = validate_recipe({"distill": {"input_frames": 3}})
    with pytest.raises(ConfigError, match="scjd-edge distill"):
        train_teacher(recipe, tmp_path)


def test_learning_rate_schedules():
    config = tiny_recipe(warmup_steps=10, schedule="cosine").train
    cosine = lr_factor(config, steps_per_epoch=50, total_steps=110)
    assert [cosine(step) for step in (0, 4, 9)] == pytest.approx([0.1, 0.5, 1.0])
    assert cosine(10) == pytest.approx(1.0) and cosine(60) == pytest.approx(0.5)
    assert cosine(110) == pytest.approx(0.0, abs=1e-12)
    config = tiny_recipe(warmup_steps=0, schedule="exponential", lr_decay=0.9).train
    exponential = lr_factor(config, steps_per_epoch=50, total_steps=500)
    assert exponential(100) == pytest.approx(0.81)
    constant = lr_factor(tiny_recipe(warmup_steps=0, schedule="constant").train, 50, 500)
    assert constant(0) == constant(499) == 1.0
    assert not math.isnan(lr_factor(config, 1, 1)(0))


def test_evaluate_matches_the_engine_validation(straight_run):
    out_dir, _ = straight_run
    result = evaluate_checkpoint(out_dir / "best.pt", "builtin:synthetic", split="val")
    assert result["subjects"] == ["SYN5"]
    model, checkpoint = build_model_from_checkpoint(out_dir / "best.pt")
    recipe = validate_recipe(checkpoint["recipe"])
    task = TeacherTask(recipe)
    windows = load_training_data(recipe, window_frames=9).val
    every_window = recipe.train.model_copy(update={"val_max_windows": None})
    engine_mm = validate(task, model, windows, every_window, torch.device("cpu"))
    assert result["poses"] == len(windows)
    assert result["overall"]["mpjpe"] == pytest.approx(engine_mm, abs=1e-3)


def test_evaluate_cli_prints_and_writes_metrics(straight_run, tmp_path):
    out_dir, _ = straight_run
    json_path = tmp_path / "eval.json"
    result = CliRunner().invoke(
        app,
        [
            "evaluate",
            str(out_dir / "best.pt"),
            "--data",
            "builtin:synthetic",
            "--json",
            str(json_path),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "overall" in result.output and "SYNTHETIC" in result.output
    metrics = json.loads(json_path.read_text())
    assert metrics["split"] == "test" and metrics["subjects"] == ["SYN6"]
    assert metrics["data"]["synthetic"] is True
    per_action = metrics["per_action"]
    assert set(per_action) == {"Gesture", "Jump", "Run", "Turn", "Walk"}
    assert sum(row["poses"] for row in per_action.values()) == metrics["poses"]
    overall = metrics["overall"]
    weighted = sum(row["mpjpe"] * row["poses"] for row in per_action.values()) / metrics["poses"]
    assert overall["mpjpe"] == pytest.approx(weighted, rel=1e-6)
    assert 0 < overall["p_mpjpe"] < overall["mpjpe"]
    assert 0 < overall["n_mpjpe"] <= overall["mpjpe"] + 1e-6
    assert overall["mpjve"] > 0
    cost = metrics["cost"]  # flip averaging doubles the MACs of one forward
    assert cost["test_time_passes"] == (2 if metrics["test_flip"] else 1)
    assert cost["macs_per_delivered_pose"] == cost["macs_per_window"] * cost["test_time_passes"]
    assert cost["lookahead_frames"] == metrics["deployment"]["lookahead_frames"]
    assert "M MACs per delivered pose" in result.output


def test_evaluate_unknown_split_or_subject(straight_run, tmp_path):
    out_dir, _ = straight_run
    with pytest.raises(ConfigError, match="--split"):
        evaluate_checkpoint(out_dir / "best.pt", "builtin:synthetic", split="dev")
    checkpoint = load_checkpoint(out_dir / "best.pt")
    checkpoint["recipe"]["data"]["test_subjects"] = ["SYN9"]
    odd = save_checkpoint(tmp_path / "odd.pt", checkpoint)
    with pytest.raises(DataError, match="SYN9"):
        evaluate_checkpoint(odd, "builtin:synthetic", split="test")


def test_cli_train_teacher_with_overrides(tmp_path):
    overrides = [f"model.{key}={value}" for key, value in TINY_MODEL.items()]
    overrides += ["data.train_stride=40", "train.max_steps=3", "train.val_max_windows=32"]
    result = CliRunner().invoke(
        app,
        ["train-teacher", "teacher_synth", *overrides, "--out", str(tmp_path), "--device", "cpu"],
    )
    assert result.exit_code == 0, result.output
    assert load_checkpoint(tmp_path / "best.pt")["step"] == 3
