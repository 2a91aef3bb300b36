"""benchmarks/frontier.py: the goal judges, the Pareto front, and a smoke run end to end."""

from __future__ import annotations

import argparse
import json

import pytest
from benchmark_scripts import load_benchmark_script

from scjd_edge.config import load_recipe
from scjd_edge.io import sha256_file

frontier = load_benchmark_script("frontier")


def _model(key, mpjpe_per_seed, macs, lookahead=13):
    return {
        "key": key,
        "test_mpjpe_mm": mpjpe_per_seed,
        "mean_mpjpe_mm": sum(mpjpe_per_seed) / len(mpjpe_per_seed),
        "std_mpjpe_mm": 0.5,
        "macs_per_delivered_pose": macs,
        "lookahead_frames": lookahead,
    }


def _report(scjd, plain, tcn=(75.0, 75.0, 75.0), causal=79.0, teacher=59.0, minutes=25.0,
            step_ms=((10.0, 10.0, 10.0), (9.0, 9.0, 9.0)), scjd_macs=2.0e6):  # fmt: skip
    return {
        "models": [
            _model("scjd", list(scjd), scjd_macs),
            _model("undistilled", list(plain), scjd_macs),
            _model("tcn27", list(tcn), 4.7e6),
            _model("causal0", [causal], 1.8e6, lookahead=0),
        ],
        "teachers": {
            "tcn_teacher": {
                "label": "TCN",
                "test": {"mpjpe": teacher},
                "train_time_s": 60 * minutes,
            },
            "teacher": {"label": "STE", "test": {"mpjpe": 99.0}, "train_time_s": 99 * 60},
        },
        "student_teacher": "tcn_teacher",
        "step_times_ms": {"scjd": list(step_ms[0]), "undistilled": list(step_ms[1])},
    }


def test_every_goal_is_met_just_inside_its_threshold():
    goals = frontier.evaluate_goals(_report(scjd=(69.0, 70.0, 71.0), plain=(73.5, 74.0, 72.0)))
    assert [goal["met"] for goal in goals] == [True, True, True, True, True]
    assert "1.11x" in goals[3]["measured"]


@pytest.mark.parametrize(
    ("change", "missed"),
    [
        ({"scjd": (70.0, 71.0, 72.0), "plain": (75.0, 75.5, 74.5)}, 0),  # 71 mm > 70
        ({"scjd_macs": 2.3e6}, 0),  # too costly
        ({"tcn": (69.0, 69.0, 69.0)}, 0),  # TCN-27 better
        ({"teacher": 60.5}, 1),
        ({"minutes": 31.0}, 1),
        ({"causal": 80.5}, 2),
        ({"step_ms": ((14.0, 14.0, 14.0), (10.0, 10.0, 10.0))}, 3),  # 1.4x
        ({"plain": (72.0, 72.5, 73.0)}, 4),  # gain 2.5 mm < 3
        ({"plain": (74.0, 74.0, 70.5)}, 4),  # gain 3 mm but seeds overlap
    ],
)
def test_each_goal_fails_on_the_other_side(change, missed):
    values = {"scjd": (69.0, 70.0, 71.0), "plain": (73.5, 74.0, 72.0), **change}
    goals = frontier.evaluate_goals(_report(**values))
    assert [index for index, goal in enumerate(goals) if not goal["met"]] == [missed]


def test_pareto_front_keeps_only_undominated_models():
    points = [
        {"key": "cheap", "macs_per_delivered_pose": 1e6, "mean_mpjpe_mm": 90.0},
        {"key": "good", "macs_per_delivered_pose": 1e8, "mean_mpjpe_mm": 60.0},
        {"key": "worse", "macs_per_delivered_pose": 2e6, "mean_mpjpe_mm": 95.0},
        {"key": "middle", "macs_per_delivered_pose": 5e6, "mean_mpjpe_mm": 70.0},
    ]
    assert frontier.pareto_front(points) == ["cheap", "good", "middle"]


@pytest.mark.slow
def test_a_smoke_run_writes_a_judged_report_and_reuses_finished_models(tmp_path, one_thread):
    arguments = ["--budget", "smoke", "--out", str(tmp_path / "runs"), "--threads", "1"]
    assert frontier.main([*arguments, "--results", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "frontier_cmu_smoke.json").read_text())
    assert {model["key"] for model in report["models"]} == {m.key for m in frontier.MODELS}
    assert len(report["goals"]) == 5 and all(isinstance(g["met"], bool) for g in report["goals"])
    by_key = {model["key"]: model for model in report["models"]}
    assert all(model["seeds"] == [0, 1] for model in report["models"])
    assert by_key["causal0"]["lookahead_frames"] == 0
    assert by_key["causal5"]["lookahead_frames"] == 5
    assert all(run["steps"] >= 1 and run["test_poses"] > 0 for run in report["runs"])
    assert set(report["teacher_cache_fill_s"]) == {
        "scjd",
        "causal0",
        "causal5",
        "scjd_transformer_teacher",
        "scjd_all_terms",
        "ajad_uniform",
    }
    assert (tmp_path / "frontier_cmu_smoke.png").stat().st_size > 0
    assert "## Goals" in (tmp_path / "frontier_cmu_smoke.md").read_text()
    again = tmp_path / "again"
    assert frontier.main([*arguments, "--results", str(again), "--reuse"]) == 0
    reused = json.loads((again / "frontier_cmu_smoke.json").read_text())
    assert all(teacher["reused"] for teacher in reused["teachers"].values())
    assert all(run["reused"] for run in reused["runs"])
    distilled = [run for run in report["runs"] if run["key"] == "scjd_transformer_teacher"]
    assert distilled[0]["teacher"] == "teacher"
    assert {run["teacher"] for run in report["runs"] if run["key"] == "scjd"} == {"tcn_teacher"}
    assert all("teacher" not in run for run in report["runs"] if run["key"] == "undistilled")
    assert by_key["undistilled"]["teacher"] is None
    assert "(reused)" in (again / "frontier_cmu_smoke.md").read_text()


def test_reuse_keeps_only_rows_trained_from_the_same_recipe(tmp_path):
    unflipped = "distill.teacher_flip=false"
    recipe = load_recipe("frontier_scjd_cmu", ["train.max_steps=100", unflipped])
    saved = tmp_path / "frontier_row.json"
    saved.write_text(json.dumps({"recipe": recipe.model_dump(mode="json"), "val_mpjpe_mm": 1}))
    reuse, fresh = argparse.Namespace(reuse=True), argparse.Namespace(reuse=False)
    other_steps = load_recipe("frontier_scjd_cmu", ["train.max_steps=250", unflipped])
    assert frontier._reusable_row(reuse, saved, other_steps)["reused"] is True
    assert frontier._reusable_row(fresh, saved, other_steps) is None
    older = recipe.model_dump(mode="json")
    del older["distill"]["teacher_flip"]  # a row saved before that setting existed
    saved.write_text(json.dumps({"recipe": older, "val_mpjpe_mm": 1}))
    assert frontier._reusable_row(reuse, saved, other_steps)["reused"] is True
    other_lr = load_recipe("frontier_scjd_cmu", ["train.lr=1e-4", unflipped])
    assert frontier._reusable_row(reuse, saved, other_lr) is None


def test_reuse_of_a_distilled_row_needs_the_same_teacher_file(tmp_path):
    recipe = load_recipe("frontier_scjd_cmu", ["train.max_steps=100"])
    assert frontier.reads_teacher(recipe.model_dump(mode="json"))
    first, second = tmp_path / "first.pt", tmp_path / "second.pt"
    first.write_bytes(b"teacher one")
    second.write_bytes(b"teacher two")
    saved = tmp_path / "frontier_row.json"
    row = {"recipe": recipe.model_dump(mode="json"), "teacher_sha256": sha256_file(first)}
    saved.write_text(json.dumps(row))
    reuse = argparse.Namespace(reuse=True)
    assert frontier._reusable_row(reuse, saved, recipe, str(first))["reused"] is True
    assert frontier._reusable_row(reuse, saved, recipe, str(second)) is None
    undistilled = load_recipe(
        "frontier_scjd_cmu", [f"distill.{t}_weight=0" for t in frontier.DISTILL_TERMS]
    )
    assert not frontier.reads_teacher(undistilled.model_dump(mode="json"))


def test_every_frontier_student_fits_the_cost_goal():
    """The recipe's claim: each SCJD student costs at most the goal's MACs per delivered
    pose (one forward per pose, no test-time flip), whatever frames its row reads."""
    students = [model for model in frontier.MODELS if model.recipe == "frontier_scjd_cmu"]
    assert {model.key for model in students} >= {"scjd", "undistilled", "causal0", "causal5"}
    for model in students:
        recipe = load_recipe(model.recipe, list(model.overrides))
        assert not recipe.train.test_flip
        cost = frontier.model_cost(recipe.model, recipe.distill.input_frames)
        delivered = frontier.macs_per_delivered_pose(cost, test_time_passes=1)
        assert delivered <= frontier.STUDENT_MACS_GOAL, model.key
