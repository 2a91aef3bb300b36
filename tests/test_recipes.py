"""The teacher recipes validate, follow the data splits, and a typo in a file is named."""

import pytest
from typer.testing import CliRunner

from scjd_edge.cli import app
from scjd_edge.config import load_recipe
from scjd_edge.errors import ConfigError

TEACHER_RECIPES = ("teacher_synth", "teacher_cmu", "teacher_h36m_243")


@pytest.mark.parametrize("name", TEACHER_RECIPES)
def test_teacher_recipes_validate(name):
    recipe = load_recipe(name)
    assert recipe.name == name
    assert recipe.model.name == "ste" and recipe.model.frames % 2 == 1
    assert recipe.distill is None
    splits = [recipe.data.train_subjects, recipe.data.val_subjects, recipe.data.test_subjects]
    assert all(splits)


def test_cmu_teacher_uses_the_standard_split():
    recipe = load_recipe("teacher_cmu")
    assert recipe.data.path == "../shared/data/cmu"
    assert recipe.data.train_subjects == ["CMU02", "CMU05", "CMU07"]
    assert recipe.data.val_subjects == ["CMU03", "CMU102"]
    assert recipe.data.test_subjects == ["CMU01"]
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
