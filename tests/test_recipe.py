"""The typed recipe: bad YAML names the file, the key and the problem; every builtin recipe loads and each ablation
differs from the paper's baseline by one switch; numbers in YAML 1.1's scientific notation are numbers."""

import dataclasses

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
    tab = tmp_path / "tab.yaml"
    tab.write_text("base: tiny_fake\ndata:\n\timage_size: 32\n")
    with pytest.raises(RecipeError) as raised:  # PyYAML's own message quotes the line with a caret under it
        load_recipe(tab)
    assert str(raised.value) == (
        f"{tab}: not valid YAML: found character '\\t' that cannot start any token (line 3, column 1)"
    )
    # A key given twice in one mapping, `base` too: PyYAML kept the last in silence (batch 4 trained).
    for text, where in (
        ("base: tiny_fake\noptim:\n  batch_size: 8\n  batch_size: 4\n", "'batch_size' given twice (line 4, column 3)"),
        ("base: tiny_fake\nbase: simsiam_r50_in1k_ep100\n", "'base' given twice (line 2, column 1)"),
    ):
        twice = tmp_path / "twice.yaml"
        twice.write_text(text)
        with pytest.raises(RecipeError) as raised:
            load_recipe(twice)
        assert str(raised.value) == f"{twice}: not valid YAML: key {where}"
    # A recipe as it saves itself, each section's keys once, loads as before.
    saved = tmp_path / "saved.yaml"
    saved.write_text(load_recipe("tiny_fake").to_yaml())
    assert load_recipe(saved).to_dict() == load_recipe("tiny_fake").to_dict()


UNUSABLE_VALUES = [
    ({"run.log_every_steps": 0}, "run.log_every_steps must be at least 1"),
    ({"run.checkpoint_every_steps": -3}, "run.checkpoint_every_steps must be at least 1"),
    ({"data.fake_size": -5}, r"data.fake_size must be in \[1, 1_000_000\]"),
    ({"data.fake_size": 10**9}, r"data.fake_size must be in \[1, 1_000_000\]"),
    ({"data.num_workers": -1}, r"data.num_workers must be in \[0, 256\]"),
    ({"data.num_workers": 10**20}, r"data.num_workers must be in \[0, 256\]"),
    ({"data.knn_train_size": -1}, "data.knn_train_size and knn_test_size must be >= 0"),
    ({"data.std": [0, 0, 0]}, r"data.std must be numbers in \[1e-6, 1e6\]"),
    ({"data.std": [1e-45, 1, 1]}, r"data.std must be numbers in \[1e-6, 1e6\]"),  # NaN features, then a traceback
    ({"data.mean": [float("nan"), 0, 0]}, r"data.mean must be numbers in \[-1e6, 1e6\]"),
    ({"data.mean": [1e40, 0, 0]}, r"data.mean must be numbers in \[-1e6, 1e6\]"),
    ({"model.projector_layers": 0}, "model.projector_layers must be at least 1"),
    (  # trained exactly as with stop-gradient: the momentum target is never differentiated
        {"model.momentum_target": 0.99, "loss.stop_gradient": False},
        "loss.stop_gradient: false has no effect with model.momentum_target",
    ),
    ({"optim.weight_decay": -1}, "optim.weight_decay must be a number >= 0"),
    ({"optim.base_lr": float("inf")}, "optim.base_lr must be a positive number"),
    ({"optim.warmup_epochs": -1}, r"optim.warmup_epochs must be in \[0, optim.epochs\]"),
    ({"optim.momentum": 1.0}, r"optim.momentum must be in \[0, 1\)"),
    # Each was torch's overflow traceback (torch.optim's, or C++ unpacking an int64) after the run claimed its folder.
    ({"optim.weight_decay": 1e300}, r"optim.weight_decay must be at most 3.403e\+38 in size \(float32"),
    ({"optim.base_lr": 1e300}, r"optim.base_lr must be at most 3.403e\+38 in size \(float32"),
    ({"optim.base_lr": 1e38, "optim.batch_size": 2**20}, r"optim.base_lr \* optim.batch_size / 256 \(the lr\)"),
    ({"model.pred_dim": 10**20}, r"model.pred_dim must be in \[-2\*\*63, 2\*\*63\), the int64 torch takes"),
    ({"data.image_size": 10**20}, r"data.image_size must be in \[-2\*\*63, 2\*\*63\)"),
]


@pytest.mark.parametrize(
    ("override", "message"),
    [pytest.param(*case, id=", ".join(f"{k}={v}" for k, v in case[0].items())) for case in UNUSABLE_VALUES],
)
def test_values_no_run_can_use_are_refused_naming_the_key(override, message):
    """Each passed the type check and failed later (a ZeroDivisionError, torch's or timm's error after the run had
    claimed its folder) or was used in silence (a kNN monitor of nan, a schedule shifted by a negative warm-up)."""
    with pytest.raises(RecipeError, match=message):
        load_recipe("tiny_fake").replace(override)


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


def test_a_section_given_whole_to_replace_keeps_its_other_keys() -> None:
    """`replace({"optim": {"batch_size": 4}})` reset the section's other keys to the dataclass defaults (epochs 100
    where the recipe says 2); it now merges, as a YAML `base` does."""
    recipe = load_recipe("tiny_fake")
    merged = recipe.replace({"optim": {"batch_size": 4}})
    assert merged.optim == dataclasses.replace(recipe.optim, batch_size=4)
    with pytest.raises(RecipeError, match="optim"):
        recipe.replace({"optim": {"batch_sise": 4}})


def test_numbers_at_the_edge_of_their_machine_types_are_kept() -> None:
    """The bounds refuse only what torch cannot hold: the seed keeps torch's own range, wider than int64."""
    recipe = load_recipe("tiny_fake").replace(
        {"run.seed": 2**64 - 1, "run.checkpoint_every_steps": 2**63 - 1, "optim.weight_decay": 3.4e38}
    )
    assert (recipe.run.seed, recipe.optim.weight_decay) == (2**64 - 1, 3.4e38)


def test_an_integer_beyond_float_range_for_a_float_key_is_refused() -> None:
    """float(10**400) was Python's OverflowError, a traceback."""
    with pytest.raises(RecipeError, match=r"optim.weight_decay: must be at most 3.403e\+38 in size \(float32"):
        load_recipe("tiny_fake").replace({"optim.weight_decay": 10**400})


def test_a_base_is_found_beside_the_file_that_names_it_never_in_the_current_directory(tmp_path, monkeypatch) -> None:
    """`base: parent.yaml` was looked up in the current directory first (and `parent.yaml` never beside the file): from
    elsewhere the recipe failed, from a directory with another parent.yaml it trained that one."""
    recipes, elsewhere = tmp_path / "recipes", tmp_path / "elsewhere"
    recipes.mkdir()
    elsewhere.mkdir()
    (recipes / "parent.yaml").write_text("base: tiny_fake\noptim:\n  batch_size: 4\n")
    (elsewhere / "parent.yaml").write_text("base: tiny_fake\noptim:\n  batch_size: 16\n")
    (elsewhere / "nowhere.yaml").write_text("base: tiny_fake\n")
    monkeypatch.chdir(elsewhere)
    for name, base in (("child.yaml", "parent.yaml"), ("short.yaml", "parent"), ("up.yaml", "../recipes/parent")):
        (recipes / name).write_text(f"base: {base}\n")
        assert load_recipe(recipes / name).optim.batch_size == 4, base
    orphan = recipes / "orphan.yaml"
    orphan.write_text("base: nowhere.yaml\n")
    with pytest.raises(RecipeError) as raised:
        load_recipe(orphan)
    assert str(raised.value).startswith(
        f"{orphan}: base: 'nowhere.yaml': no recipe file beside it (a base is found from the file that names it, "
        "not from the current directory) or built-in recipe of that name; "
    )
    orphan.write_text("base: [tiny_fake]\n")
    with pytest.raises(RecipeError, match=r"orphan.yaml: base: expected a recipe name or file, got \['tiny_fake'\]"):
        load_recipe(orphan)
    # The recipe named on the command line is a path from the current directory, as any path there.
    assert load_recipe("parent.yaml").optim.batch_size == 16


def test_a_base_cycle_through_parent_folders_is_one_error_naming_the_files(tmp_path, monkeypatch) -> None:
    """`rec/loop.yaml` with `base: ../rec/loop` recursed until the OS refused the path as too long."""
    folder = tmp_path / "rec"
    folder.mkdir()
    folder = folder.resolve()  # the cycle is said in the files' own names, links followed
    loop = folder / "loop.yaml"
    loop.write_text("base: ../rec/loop\n")
    with pytest.raises(RecipeError) as raised:
        load_recipe(loop)
    assert str(raised.value).endswith(f"`base` recipes form a cycle: {loop} -> {loop}")
    (folder / "a.yaml").write_text("base: ../rec/b.yaml\n")
    (folder / "b.yaml").write_text("base: ./a\n")
    monkeypatch.chdir(folder)
    with pytest.raises(RecipeError) as raised:
        load_recipe("a.yaml")
    message = str(raised.value)
    assert "\n" not in message
    assert message.endswith(f"form a cycle: {folder / 'a.yaml'} -> {folder / 'b.yaml'} -> {folder / 'a.yaml'}")


def test_a_base_chain_too_long_or_a_base_name_too_long_is_named(tmp_path) -> None:
    """A chain of ~970 files was blamed on a valid one of them as YAML "nested too deep" (Python's recursion limit);
    a 5,000-letter base was the OS's errno, naming no recipe file."""
    for i in range(100):
        (tmp_path / f"r{i}.yaml").write_text(f"base: r{i + 1}\n")
    (tmp_path / "r100.yaml").write_text("base: tiny_fake\n")
    with pytest.raises(RecipeError, match=r"r0.yaml: its `base` chain is longer than 64 files \(at .*r64.yaml\)$"):
        load_recipe(tmp_path / "r0.yaml")
    assert load_recipe(tmp_path / "r40.yaml").name  # 60 files and a built-in: taken
    (tmp_path / "long.yaml").write_text(f"base: {'b' * 5000}\n")
    with pytest.raises(RecipeError, match=r"long.yaml: base: 'bbb.*bbb': File name too long$"):
        load_recipe(tmp_path / "long.yaml")


def test_a_value_of_nested_aliases_is_named_in_a_short_line(tmp_path) -> None:
    """433 bytes of YAML aliases made a 351 MB error message (each level repeats the one below nine times), and the
    CLI's one-line rendering of it a MemoryError traceback."""
    levels = ["      - &a0 [" + ", ".join(['"lol"'] * 9) + "]"]
    levels += [f"      - &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 8)]
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("base: tiny_fake\nmodel:\n  arch:\n" + "\n".join(levels) + "\n")
    with pytest.raises(RecipeError) as raised:
        load_recipe(bomb)
    assert "model.arch: expected a string, got [['lol', 'lol', 'lol', 'lol', ...]," in str(raised.value)
    assert len(str(raised.value)) < 300


def test_yaml_merge_keys_are_read_as_yaml_means_them(tmp_path) -> None:
    """`<<: *defaults` was "not valid YAML" (the duplicate-key check built the merge key); the keys beside it
    override the merged ones, and a key given twice beside it is still refused."""
    merged = tmp_path / "merged.yaml"
    merged.write_text(
        "base: tiny_fake\nx-defaults: &defaults {batch_size: 4, epochs: 3}\noptim:\n  <<: *defaults\n  epochs: 5\n"
    )
    with pytest.raises(RecipeError, match="unknown key 'x-defaults'"):  # read as YAML; the recipe's keys still rule
        load_recipe(merged)
    merged.write_text("base: tiny_fake\noptim:\n  <<: {batch_size: 4, epochs: 3}\n  epochs: 5\n")
    assert (load_recipe(merged).optim.batch_size, load_recipe(merged).optim.epochs) == (4, 5)
    merged.write_text("base: tiny_fake\noptim:\n  <<: {batch_size: 4}\n  epochs: 5\n  epochs: 6\n")
    with pytest.raises(RecipeError, match="key 'epochs' given twice"):
        load_recipe(merged)


def test_an_unknown_key_in_a_base_is_named_with_the_file_it_is_in(tmp_path) -> None:
    """It was blamed on the file naming that base."""
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "typo.yaml").write_text("base: tiny_fake\noptim:\n  batch_sise: 8\n")
    (tmp_path / "lib" / "mine.yaml").write_text("base: typo\n")
    with pytest.raises(RecipeError, match=r"typo.yaml: optim: unknown key 'batch_sise'; did you mean 'batch_size'"):
        load_recipe(tmp_path / "lib" / "mine.yaml")
