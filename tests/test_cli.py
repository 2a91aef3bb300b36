"""The CLI's help texts and its handling of user errors."""

from __future__ import annotations

import os

import pytest
from typer.testing import CliRunner

from scjd_edge.cli import app
from scjd_edge.io import write_text

COMMANDS_AND_OPTIONS = {
    ("data", "info"): ["PATH"],
    ("data", "convert-bvh"): ["--out"],
    ("data", "synth"): ["--out"],
    ("train-teacher",): ["RECIPE", "--data", "--resume"],
    ("distill",): ["RECIPE", "--teacher", "--resume"],
    ("evaluate",): ["CHECKPOINT", "--data", "--split"],
    ("export",): ["--fp16", "--int8", "--calib-data", "--trt", "--precision", "--dla-core"],
    ("bench",): ["--data", "--batch", "--backends", "--out"],
    ("infer",): ["--keypoints", "--format", "--viz", "--stream"],
    ("quickstart",): ["--data", "--out", "--tiny"],
}


@pytest.mark.parametrize("command", list(COMMANDS_AND_OPTIONS), ids=" ".join)
def test_every_command_explains_its_options(command):
    result = CliRunner().invoke(app, [*command, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    for option in COMMANDS_AND_OPTIONS[command]:
        assert option.lower() in result.output.lower()


def test_top_level_help_lists_every_command():
    result = CliRunner().invoke(app, ["--help"], terminal_width=200)
    assert result.exit_code == 0
    for command in ("data", "train-teacher", "distill", "evaluate", "export", "bench", "infer"):
        assert command in result.output


def test_an_error_message_with_brackets_is_printed_literally(tmp_path):
    checkpoint = tmp_path / "run[bold]" / "best.pt"
    write_text(checkpoint, "not a checkpoint")
    result = CliRunner().invoke(
        app, ["evaluate", str(checkpoint), "--data", "builtin:synthetic"], terminal_width=400
    )
    assert result.exit_code == 2
    assert "run[bold]" in result.output


def test_written_files_are_readable_by_others(tmp_path):
    path = write_text(tmp_path / "report.md", "hello")
    assert os.stat(path).st_mode & 0o777 == 0o644


@pytest.mark.slow
def test_distill_through_the_cli_writes_a_student_with_its_causal_contract(
    tmp_path, make_checkpoint, one_thread
):
    from scjd_edge.config import ModelConfig
    from scjd_edge.train.checkpoint import load_checkpoint

    teacher = make_checkpoint(tmp_path / "teacher.pt", ModelConfig(frames=27, dim=16, depth=2))
    out = tmp_path / "student"
    overrides = [
        "train.max_steps=3", "train.batch_size=8", "data.train_stride=64",
        "train.val_max_windows=16", "distill.sampling=offsets",
        "distill.frame_offsets=[-13,-4,-1,0]", "distill.input_frames=4",
    ]  # fmt: skip
    result = CliRunner().invoke(
        app, ["distill", "scjd_synth", "--teacher", str(teacher), "--out", str(out), *overrides]
    )
    assert result.exit_code == 0, result.output
    assert "best validation MPJPE" in result.output
    student = load_checkpoint(out / "best.pt")
    assert student["kind"] == "student"
    assert student["deployment"].frame_offsets == (-13, -4, -1, 0)
    assert student["deployment"].lookahead_frames == 0
    assert student["task"]["teacher"]["path"] == str(teacher)
