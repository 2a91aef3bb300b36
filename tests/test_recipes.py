"""Every recipe in recipes/ validates and follows its data's split; a typo in a file is named."""

import pytest
import torch
from typer.testing import CliRunner

from scjd_edge.bench.flops import count_macs
from scjd_edge.cli import app
from scjd_edge.config import RECIPES_DIR, load_recipe
from scjd_edge.data.builtin import BUILTIN_CMU, CMU_SPLIT
from scjd_edge.errors import ConfigError
from scjd_edge.models.registry import create_model

TEACHER_RECIPES = ("teacher_synth", "teacher_cmu", "teacher_h36m_243")
ALL_RECIPES = sorted(path.stem for path in RECIPES_DIR.glob("*.yaml"))
CMU_DATA = (BUILTIN_CMU, "../shared/data/cmu2")


def test_the_recipe_folder_holds_the_known_recipes():
    assert {"teacher_cmu_quick", "scjd_cmu_quick", "poseformerv2_cmu_quick"} <= set(ALL_RECIPES)
    assert set(TEACHER_RECIPES) <= set(ALL_RECIPES)


@pytest.mark.parametrize("name", ALL_RECIPES)
def test_every_recipe_validates(name):
    recipe = load_recipe(name)
    assert recipe.name == name
    if recipe.distill is not None:
        assert recipe.model.frames == recipe.distill.input_frames < recipe.distill.window_frames
    comment_lines = [line for line in (RECIPES_DIR / f"{name}.yaml").read_text().splitlines()
                     if line.lstrip().startswith("#")]  # fmt: skip
    assert 1 <= len(comment_lines) <= 3  # why, in a few lines; numbers live in results
    if recipe.data.path in CMU_DATA:
        assert recipe.data.train_subjects == CMU_SPLIT["train"]
        assert recipe.data.val_subjects == CMU_SPLIT["validation"]
        assert recipe.data.test_subjects == CMU_SPLIT["test"]


def _macs_per_window(name: str) -> int:
    recipe = load_recipe(name)
    with torch.device("meta"):
        model = create_model(recipe.model).eval()
        frames = recipe.model.frames
        return count_macs(model, torch.zeros(1, frames, 17, 2), torch.zeros(1, frames))


def test_quick_baseline_costs_about_what_the_quick_student_costs_per_delivered_pose():
    student, baseline = (
        _macs_per_window("scjd_cmu_quick"),
        _macs_per_window("poseformerv2_cmu_quick"),
    )
    assert abs(baseline / student - 1) < 0.05  # one window per delivered pose, same flip
    assert (
        load_recipe("scjd_cmu_quick").distill.window_frames
        == load_recipe("poseformerv2_cmu_quick").model.frames
        == load_recipe("teacher_cmu_quick").model.frames
    )


@pytest.mark.parametrize("name", TEACHER_RECIPES)
def test_teacher_recipes_validate(name):
    recipe = load_recipe(name)
    assert recipe.name == name
    assert recipe.model.name == "ste" and recipe.model.frames % 2 == 1
    assert recipe.distill is None
    splits = [recipe.data.train_subjects, recipe.data.val_subjects, recipe.data.test_subjects]
    assert all(splits)


def test_cmu_teacher_uses_cmu_v2_s_standard_split():
    recipe = load_recipe("teacher_cmu")
    assert recipe.data.path == "builtin:cmu"
    assert recipe.data.train_subjects == [
        "CMU01", "CMU05", "CMU07", "CMU08", "CMU10", "CMU13", "CMU93", "CMU102", "CMU105"
    ]  # fmt: skip
    assert recipe.data.val_subjects == ["CMU02", "CMU03", "CMU55"]
    assert recipe.data.test_subjects == ["CMU09", "CMU14", "CMU49"]
    assert recipe.model.frames == 81


def test_h36m_teacher_selects_models_on_s8_and_tests_on_s9_s11():
    recipe = load_recipe("teacher_h36m_243")
    assert recipe.data.train_subjects == ["S1", "S5", "S6", "S7"]
    assert recipe.data.val_subjects == ["S8"]
    assert recipe.data.test_subjects == ["S9", "S11"]
    assert (recipe.model.frames, recipe.model.dim, recipe.model.depth) == (243, 512, 8)


def test_typo_in_a_recipe_file_names_the_file_and_the_key(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("model:\n  frames: 27\ntrain:\n  lrr: 0.001\n")
    with pytest.raises(ConfigError) as error:
        load_recipe(path)
    assert str(path) in str(error.value)
    assert "unknown key 'train.lrr' (did you mean 'train.lr'?)" in str(error.value)


def test_cli_reports_an_override_typo_without_a_traceback(tmp_path):
    result = CliRunner().invoke(
        app, ["train-teacher", "teacher_synth", "train.lrr=1e-3", "--out", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "did you mean 'train.lr'" in " ".join(result.output.split())  # rich wraps lines
    assert "Traceback" not in result.output
    assert not any(tmp_path.iterdir())
