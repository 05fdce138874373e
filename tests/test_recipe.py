"""The typed recipe: bad YAML names the file, the key and the problem; every builtin recipe loads and each ablation
differs from the paper's baseline by one switch; numbers in YAML 1.1's scientific notation are numbers."""

import pytest

from simsiam_zoo.errors import RecipeError
from simsiam_zoo.recipe import builtin_recipes, load_recipe


def test_bad_recipes_name_the_problem(tmp_path):
    bad_key = tmp_path / "bad_key.yaml"
    bad_key.write_text("base: tiny_fake\noptim:\n  batch_sise: 8\n")
    with pytest.raises(RecipeError, match=r"bad_key.yaml.*batch_sise.*did you mean 'batch_size'"):
        load_recipe(bad_key)
    bad_value = tmp_path / "bad_value.yaml"
    bad_value.write_text("base: tiny_fake\nloss:\n  similarity: dot\n")
    with pytest.raises(RecipeError, match=r"bad_value.yaml: .*loss.similarity: 'dot' is not one of"):
        load_recipe(bad_value)
    bad_type = tmp_path / "bad_type.yaml"
    bad_type.write_text("base: tiny_fake\noptim:\n  batch_size: 8.5\n")
    with pytest.raises(RecipeError, match="batch_size: expected an integer"):
        load_recipe(bad_type)
    with pytest.raises(RecipeError, match="did you mean"):
        load_recipe("simsiam_r50_in1k_ep10")


def test_every_builtin_recipe_loads_and_ablations_differ_by_one_switch():
    baseline = load_recipe("simsiam_r50_in1k_ep100").to_dict()
    assert baseline["optim"]["batch_size"] == 512 and baseline["optim"]["base_lr"] == 0.05
    for name in builtin_recipes():
        recipe = load_recipe(name)
        if name.startswith("ablation_") and "lars" not in name:
            changed = {
                (section, key)
                for section, values in recipe.to_dict().items()
                if isinstance(values, dict)
                for key, value in values.items()
                if baseline[section][key] != value
            }
            assert len(changed - {("optim", "warmup_epochs")}) == 1, (name, changed)


def test_scientific_notation_in_yaml_is_a_number(tmp_path):
    """PyYAML (YAML 1.1) reads `1e-4` as a string; people write it everywhere."""
    recipe_file = tmp_path / "recipe.yaml"
    recipe_file.write_text("base: tiny_fake\noptim:\n  weight_decay: 1e-4\n  base_lr: 5E-2\n")
    recipe = load_recipe(str(recipe_file))
    assert (recipe.optim.weight_decay, recipe.optim.base_lr) == (1e-4, 0.05)
    with pytest.raises(RecipeError, match="optim.base_lr: expected a number, got 'fast'"):
        recipe.replace({"optim.base_lr": "fast"})
