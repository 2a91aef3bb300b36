"""`scjd-edge quickstart --tiny` on builtin:cmu end to end, then skipped, resumed, re-run
and moved run folders, and the errors of a foreign or corrupt one."""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import int8_speed_step_skipped
from typer.testing import CliRunner

from scjd_edge.cli import app
from scjd_edge.io import write_run_marker
from scjd_edge.quickstart import _recipes

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
STAGES = ("teacher", "student", "baseline", "export", "bench", "test")


def quickstart(out, *extra):
    return CliRunner().invoke(app, ["quickstart", "--tiny", "--out", str(out), *extra])


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("quickstart") / "run"
    with int8_speed_step_skipped():
        result = quickstart(out)
    assert result.exit_code == 0, result.output
    return out, result.output


def test_tiny_quickstart_reports_real_test_results_beside_the_baseline(tiny_run):
    out, output = tiny_run
    assert "REAL motion capture" in output
    report = (out / "report.md").read_text()
    assert "obtained from mocap.cs.cmu.edu" in report
    tested = json.loads((out / "test" / "test.json").read_text())["models"]
    assert set(tested) == {"teacher", "student", "baseline"}
    test_subjects = ["CMU09", "CMU14", "CMU49"]
    for row in tested.values():
        assert row["subjects"] == test_subjects and row["poses"] == 13283 * 4  # every window
        assert f"| {row['mpjpe_mm']:.1f} | {row['detector_mpjpe_mm']:.1f} |" in report
        assert sorted(row["per_subject_mm"]) == test_subjects
        assert row["detector_mpjpe_mm"] != row["mpjpe_mm"]
    for role in ("teacher", "baseline"):  # TCNs, scored with the test-time flip
        assert tested[role]["macs_per_delivered_pose"] == 2 * tested[role]["macs_per_forward"]
    student = tested["student"]
    assert student["macs_per_delivered_pose"] == student["macs_per_forward"] > 0  # no flip
    assert student["input_frames"] == 3 < student["window_frames"] == 27
    assert student["lookahead_frames"] == 9  # offsets -9, 0, +9
    assert tested["baseline"]["recipe"] == "tcn27_cmu"
    assert "**With exact 2D the student is " in report
    assert "; with detector-like 2D the student is " in report
    for picture in ("bench/bench.png", "pose.png"):
        assert f"]({picture})" in report
        assert (out / picture).read_bytes()[:8] == PNG_MAGIC
    export = json.loads((out / "export" / "done.json").read_text())
    assert {row["precision"]: row["status"] for row in export["artifacts"]} == {
        "fp32": "ok",
        "fp16": "ok",
        "int8": "ok",
        "int8-cpu": "ok",
    }
    bench = json.loads((out / "bench" / "bench.json").read_text())
    for row in bench["rows"]:  # every benchmarked model appears in the report's table
        assert f"| {row['model']} |" in report or f"`{row['model']}`" in report


def test_a_second_run_skips_every_finished_stage(tiny_run):
    out, _ = tiny_run
    teacher_mtime = (out / "teacher" / "best.pt").stat().st_mtime_ns
    result = quickstart(out)
    assert result.exit_code == 0, result.output
    for stage in STAGES:
        assert f"{stage}: done earlier" in result.output
    assert (out / "teacher" / "best.pt").stat().st_mtime_ns == teacher_mtime


def test_a_moved_run_folder_used_from_elsewhere_still_finds_its_own_files(
    tiny_run, tmp_path, monkeypatch
):
    out, _ = tiny_run
    moved = tmp_path / "moved"
    shutil.copytree(out, moved)
    monkeypatch.chdir(tmp_path)
    result = quickstart("moved")
    assert result.exit_code == 0, result.output
    assert all(f"{stage}: done earlier" in result.output for stage in STAGES)
    assert "`moved`" in (moved / "report.md").read_text()


def test_a_stage_whose_output_changed_runs_again(tiny_run, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(tiny_run[0], out)
    (out / "bench" / "bench.md").write_text("changed")
    result = quickstart(out)
    assert result.exit_code == 0, result.output
    assert "outputs are missing or changed" in " ".join(result.output.split())
    assert "bench: done earlier" not in result.output
    assert (out / "bench" / "bench.md").read_text() != "changed"
    assert "export: done earlier" in result.output and "test: done earlier" in result.output


def test_an_unfinished_training_stage_resumes_from_last_checkpoint(tiny_run, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(tiny_run[0], out)
    (out / "baseline" / "done.json").write_text("{ not json")
    result = quickstart(out)
    assert result.exit_code == 0, result.output
    assert "baseline (resuming)" in result.output
    assert "resuming from" in result.output
    assert json.loads((out / "baseline" / "done.json").read_text())["outputs"]


def test_a_corrupt_settings_file_is_one_line(tiny_run, tmp_path):
    out = tmp_path / "run"
    write_run_marker(out, "quickstart", None, complete=False)  # a run folder of ours
    (out / "quickstart.json").write_bytes(b"\x00\xff binary")
    result = quickstart(out)
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "not a readable quickstart settings file" in " ".join(result.output.split())


def test_a_run_folder_of_other_settings_is_refused(tiny_run):
    out, _ = tiny_run
    result = CliRunner().invoke(app, ["quickstart", "--out", str(out)])
    assert result.exit_code == 2
    assert "choose another --out" in result.output


def test_unknown_data_folder_is_refused(tmp_path):
    result = quickstart(tmp_path / "run", "--data", str(tmp_path))
    assert result.exit_code == 2
    assert "builtin:cmu" in result.output and "data_3d_cmu.npz" in result.output
    assert not (tmp_path / "run").exists()


def test_synthetic_data_keeps_its_recipes_and_trains_no_baseline():
    recipes = _recipes("builtin:synthetic", tiny=True)
    assert {role: recipe.name for role, recipe in recipes.items()} == {
        "teacher": "teacher_synth",
        "student": "scjd_synth",
    }
    assert all(recipe.data.path == "builtin:synthetic" for recipe in recipes.values())
