"""The recipe schema: typos are named with a suggestion, overrides parse as YAML."""

import pytest

from scjd_edge.config import apply_override, load_recipe, validate_recipe
from scjd_edge.errors import ConfigError


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"train": {"lrr": 1e-3}}, "unknown key 'train.lrr' (did you mean 'train.lr'?)"),
        ({"dat": {}}, "unknown key 'dat' (did you mean 'data'?)"),
        (
            {"distill": {"tcd": {"velocity_weigth": 1.0}}},
            "did you mean 'distill.tcd.velocity_weight'?",
        ),
    ],
)
def test_unknown_key_names_it_and_the_closest_valid_key(raw, expected):
    with pytest.raises(ConfigError) as error:
        validate_recipe(raw, source="my.yaml")
    assert "my.yaml" in str(error.value)
    assert expected in str(error.value)


def test_bad_value_names_the_field():
    with pytest.raises(ConfigError, match=r"'train.lr'"):
        validate_recipe({"train": {"lr": -1}})


def test_overrides_parse_values_as_yaml():
    raw = {}
    for override in ["train.lr=3e-4", "train.amp=bf16", "data.train_subjects=[S1, S5]"]:
        apply_override(raw, override)
    recipe = validate_recipe(raw)
    assert recipe.train.lr == pytest.approx(3e-4)
    assert recipe.train.amp == "bf16"
    assert recipe.data.train_subjects == ["S1", "S5"]


def test_override_without_equals_sign_is_rejected():
    with pytest.raises(ConfigError, match="section.key=value"):
        apply_override({}, "train.lr")


def test_a_subject_in_two_splits_is_rejected():
    with pytest.raises(ConfigError, match=r"\['S9'\] are in both train and test"):
        validate_recipe({"data": {"train_subjects": ["S1", "S9"], "test_subjects": ["S9"]}})


def test_recipe_file_typo_names_file_and_key(tmp_path):
    recipe_file = tmp_path / "typo.yaml"
    recipe_file.write_text("model:\n  dept: 4\n")
    with pytest.raises(ConfigError) as error:
        load_recipe(recipe_file)
    assert str(recipe_file) in str(error.value)
    assert "did you mean 'model.depth'?" in str(error.value)


def test_missing_recipe_lists_known_ones():
    with pytest.raises(ConfigError, match="not found"):
        load_recipe("no_such_recipe")
