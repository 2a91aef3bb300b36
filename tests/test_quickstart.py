"""`scjd-edge quickstart --tiny`: the whole path end to end, then skipped and resumed stages."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from scjd_edge.cli import app

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
STAGES = ("teacher", "student", "export", "bench")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("quickstart") / "run"
    result = CliRunner().invoke(app, ["quickstart", "--tiny", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out, result.output


def test_tiny_quickstart_writes_the_report_with_table_and_pictures(tiny_run):
    out, output = tiny_run
    assert "SYNTHETIC" in output
    report = (out / "report.md").read_text()
    assert "SYNTHETIC data" in report
    for picture in ("bench/bench.png", "pose.png"):
        assert f"]({picture})" in report
        assert (out / picture).read_bytes()[:8] == PNG_MAGIC
    export = json.loads((out / "export" / "done.json").read_text())
    assert {row["precision"]: row["status"] for row in export["artifacts"]} == {
        "fp32": "ok",
        "fp16": "ok",
        "int8": "ok",
    }
    bench = json.loads((out / "bench" / "bench.json").read_text())
    models = {row["model"] for row in bench["rows"] if row["status"] == "ok"}
    assert {"best.onnx", "best.fp16.onnx", "best.int8.onnx"} <= models
    for row in bench["rows"]:  # every benchmarked model appears in the report's table
        assert f"| {row['model']} |" in report or f"`{row['model']}`" in report
    assert all(row["mpjpe_mm"] > 0 for row in bench["rows"] if row["status"] == "ok")


def test_a_second_run_skips_every_finished_stage(tiny_run):
    out, _ = tiny_run
    teacher_mtime = (out / "teacher" / "best.pt").stat().st_mtime_ns
    result = CliRunner().invoke(app, ["quickstart", "--tiny", "--out", str(out)])
    assert result.exit_code == 0, result.output
    for stage in STAGES:
        assert f"{stage}: done earlier" in result.output
    assert (out / "teacher" / "best.pt").stat().st_mtime_ns == teacher_mtime


def test_an_unfinished_training_stage_resumes_from_last_checkpoint(tiny_run):
    out, _ = tiny_run
    (out / "student" / "done.json").unlink()
    result = CliRunner().invoke(app, ["quickstart", "--tiny", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "student (resuming)" in result.output
    assert "resuming from" in result.output
    assert (out / "student" / "done.json").is_file()


def test_a_run_folder_of_other_settings_is_refused(tiny_run):
    out, _ = tiny_run
    result = CliRunner().invoke(app, ["quickstart", "--out", str(out)])
    assert result.exit_code == 2
    assert "choose another --out" in result.output


def test_unknown_data_folder_is_refused(tmp_path):
    result = CliRunner().invoke(
        app, ["quickstart", "--tiny", "--data", str(tmp_path), "--out", str(tmp_path / "run")]
    )
    assert result.exit_code == 2
    assert "data_3d_cmu.npz" in result.output
