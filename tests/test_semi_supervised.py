"""benchmarks/semi_supervised.py: its students' recipes, the goal judge, a smoke run."""

from __future__ import annotations

import json

import pytest
from benchmark_scripts import load_benchmark_script

from scjd_edge.config import load_recipe

semi = load_benchmark_script("semi_supervised")


def _models(plain, scjd):
    return {
        "models": [
            {"key": "labels_only", "test_mpjpe_mm": list(plain), "std_mpjpe_mm": 0.5,
             "mean_mpjpe_mm": sum(plain) / len(plain)},
            {"key": "scjd_with_2d_only", "test_mpjpe_mm": list(scjd), "std_mpjpe_mm": 0.5,
             "mean_mpjpe_mm": sum(scjd) / len(scjd)},
        ]
    }  # fmt: skip


@pytest.mark.parametrize(
    ("plain", "scjd", "met"),
    [
        ((80.0, 81.0, 82.0), (76.0, 77.0, 78.0), True),  # 4 mm, apart
        ((80.0, 81.0, 82.0), (78.0, 78.5, 79.0), False),  # 2.5 mm
        ((80.0, 85.0, 82.0), (76.0, 77.0, 81.0), False),  # 4.3 mm, seeds overlap
    ],
)
def test_the_goal_needs_3_mm_with_the_seeds_apart(plain, scjd, met):
    (goal,) = semi.evaluate_goals(_models(plain, scjd))
    assert goal["met"] is met


def test_only_the_semi_supervised_student_reads_2d_only_subjects_and_none_sees_their_3d():
    for model in semi.MODELS:
        recipe = load_recipe(model.recipe, list(model.overrides))
        reads_2d_only = model.key == "scjd_with_2d_only"
        assert bool(recipe.data.unlabelled_subjects) is reads_2d_only, model.key
        if model.key != "all_labels":
            assert recipe.data.train_subjects == semi.LABELLED, model.key
    assert not set(semi.LABELLED) & set(semi.UNLABELLED)


@pytest.mark.slow
def test_a_smoke_run_writes_a_judged_report(tmp_path, one_thread):
    arguments = ["--budget", "smoke", "--out", str(tmp_path / "runs"), "--threads", "1"]
    assert semi.main([*arguments, "--results", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "semi_supervised_cmu_smoke.json").read_text())
    assert [model["key"] for model in report["models"]] == [m.key for m in semi.MODELS]
    assert all(model["seeds"] == [0, 1] for model in report["models"])
    assert {run["steps"] for run in report["runs"]} == {report["settings"]["steps_per_student"]}
    teacher = report["teacher"]["recipe"]
    assert teacher["data"]["train_subjects"] == semi.LABELLED
    assert teacher["data"]["virtual_camera"]["enabled"] and teacher["model"]["frames"] == 27
    (goal,) = report["goals"]
    assert isinstance(goal["met"], bool) and goal["measured"]
    assert "## Goals" in (tmp_path / "semi_supervised_cmu_smoke.md").read_text()
