"""One typed recipe per run: frozen dataclasses, read from and written to YAML.

A recipe file may name a `base` recipe and override a few keys; that is how every ablation of the
paper is one switch away from the baseline. Unknown keys and values of the wrong type are errors that
name the file and the key.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
import reprlib
import types
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml

from simsiam_zoo._io import atomic_write_text, read_document
from simsiam_zoo.arguments import is_int, is_real
from simsiam_zoo.choices import MAX_NUM_WORKERS, BNPlacement, Optimizer, PredictorKind, Shuffle, Similarity
from simsiam_zoo.errors import RecipeError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
MAX_FAKE_SIZE = 1_000_000  # generated images (data.dataset: fake), for tests and timings
# Weights and optimizer state are float32 (bf16 autocast keeps them so): torch.optim refused a larger weight decay or
# lr as an overflow, a traceback after the run had claimed its folder.
FLOAT32_MAX = 3.4028234663852886e38
_BEYOND_FLOAT32 = f"must be at most {FLOAT32_MAX:.4g} in size (float32, the weights' type)"
# torch takes every count and size as a C int64 (a tensor shape, a step): a larger one was a C++ overflow traceback.
INT64_LIMIT = 2**63


@dataclass(frozen=True)
class ModelRecipe:
    arch: str = "resnet50"
    dim: int = 2048
    pred_dim: int = 512
    projector_layers: int = 3
    predictor: PredictorKind = "mlp"
    bn_placement: BNPlacement = "default"
    # BYOL variant: base momentum of the EMA target encoder (None = SimSiam, no target encoder).
    momentum_target: float | None = None


@dataclass(frozen=True)
class LossRecipe:
    stop_gradient: bool = True
    symmetric: bool = True
    similarity: Similarity = "cosine"


@dataclass(frozen=True)
class DataRecipe:
    dataset: Literal["imagefolder", "fashion_mnist", "fake"] = "imagefolder"
    path: str | None = None
    image_size: int = 224
    augmentation: Literal["imagenet", "small"] = "imagenet"
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    # Labelled held-out split for the kNN monitor: how many train images form the memory bank and
    # how many test images are classified (0 disables the monitor).
    knn_train_size: int = 0
    knn_test_size: int = 0
    fake_size: int = 64
    num_workers: int = 0
    # Under several ranks: "global" (the paper's one permutation; any number of ranks trains on one process's
    # batches) or "local" (each rank shuffles its own stretch of the data, its own tar shards).
    shuffle: Shuffle = "global"
    # Where the augmentation after the crop runs: on the training device, batched (workers only decode, crop and
    # draw), or per image in the workers. None: on the device on CUDA, in the workers on CPU.
    augment_on_device: bool | None = None


@dataclass(frozen=True)
class OptimRecipe:
    optimizer: Optimizer = "sgd"
    batch_size: int = 512
    # lr = base_lr * batch_size / 256 (the linear scaling rule of the paper, section 4.1).
    base_lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 1e-4
    epochs: int = 100
    warmup_epochs: float = 0
    # Paper: a predictor at a constant lr (not decayed) works better; official code's --fix-pred-lr.
    fix_predictor_lr: bool = True

    @property
    def lr(self) -> float:
        return self.base_lr * self.batch_size / 256


@dataclass(frozen=True)
class RunRecipe:
    seed: int = 0
    precision: Literal["fp32", "bf16"] = "fp32"
    channels_last: bool = False
    compile: bool = False
    sync_batchnorm: bool = True
    checkpoint_every_steps: int = 1000
    log_every_steps: int = 10


@dataclass(frozen=True)
class Recipe:
    name: str
    description: str = ""
    model: ModelRecipe = field(default_factory=ModelRecipe)
    loss: LossRecipe = field(default_factory=LossRecipe)
    data: DataRecipe = field(default_factory=DataRecipe)
    optim: OptimRecipe = field(default_factory=OptimRecipe)
    run: RunRecipe = field(default_factory=RunRecipe)

    def to_dict(self) -> dict[str, Any]:
        return _plain(dataclasses.asdict(self))

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def save(self, path: str | Path) -> None:
        atomic_write_text(Path(path), self.to_yaml())

    def replace(self, overrides: dict[str, Any]) -> Recipe:
        """A copy with dotted-key overrides, e.g. {"optim.batch_size": 64}; validated like a file."""
        data = self.to_dict()
        for dotted, value in overrides.items():
            _set_dotted(data, dotted, value)
        changed = ", ".join(f"{key}={value!r}" for key, value in overrides.items())
        return recipe_from_dict(data, where=f"recipe {self.name!r} with {changed}")


# The keys that change no byte of a run, which a resume or a torchrun rank may set its own way: the decoding workers
# (each sample's augmentation is drawn by seed, epoch and index, whatever process draws it).
PROCESS_KEYS = frozenset({"data.num_workers"})


def recipe_differences(before: Recipe, after: Recipe) -> list[str]:
    """`key: before -> after` for each dotted key whose value differs, but `PROCESS_KEYS`; `data.path` compared as
    the file or folder it names (`data/`, `./data` and an absolute path of it are one)."""
    old, new = shared_settings(before), shared_settings(after)
    return [f"{key}: {old.get(key)!r} -> {value!r}" for key, value in new.items() if _differs(key, old.get(key), value)]


def _differs(key: str, before: Any, after: Any) -> bool:
    if key == "data.path" and isinstance(before, str) and isinstance(after, str):
        return _place(before) != _place(after)
    return before != after


def _place(path: str) -> str:
    """The real path of a file or folder that exists; any other string (a dataset's name, a pattern) as given. Only
    the spelling of one place: a copy elsewhere is other data to a resume, whose digest of the images does not see
    their pixels (nor the kNN monitor's `val/` beside them)."""
    return os.path.realpath(path) if os.path.exists(path) else path


def shared_settings(recipe: Recipe) -> dict[str, Any]:
    """The recipe's dotted keys that every rank of one job must share (all but `PROCESS_KEYS`)."""
    return {key: value for key, value in _dotted(recipe.to_dict()).items() if key not in PROCESS_KEYS}


def _dotted(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict):
            flat.update(_dotted(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = data
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            raise RecipeError(f"overrides: {dotted!r} does not name a recipe section")
        node = child
    if isinstance(value, dict) and isinstance(node.get(leaf), dict):  # a section's keys, merged as `base` merges
        for key, item in value.items():  # (the section was replaced: its other keys fell back to the defaults)
            _set_dotted(data, f"{dotted}.{key}", item)
        return
    node[leaf] = value


def checked_recipe(recipe: Any) -> Recipe:
    """`recipe` built again from its values and validated, as `load_recipe` and `Recipe.replace` validate: one made
    with `dataclasses.replace` or by hand skipped them (a NaN lr trained into NaN weights, reported whole)."""
    if not isinstance(recipe, Recipe):  # a recipe's name was an AttributeError
        raise TypeError(f"recipe must be a Recipe (load_recipe(NAME_OR_PATH)), got {type(recipe).__name__}")
    return recipe_from_dict(recipe.to_dict(), where=f"recipe {recipe.name!r}")


# YAML 1.1 (PyYAML) reads `1e-4` as a string: a float needs a dot there. People write it everywhere, so a string
# that is a number in scientific notation is taken as that number.
_SCIENTIFIC = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def _shown(value: Any) -> str:
    """`value`'s repr cut short: a 433-byte YAML of nested aliases is a list whose whole repr took 351 MB."""
    return _SHORT_REPR.repr(value)


_SHORT_REPR = reprlib.Repr()
_SHORT_REPR.maxlevel, _SHORT_REPR.maxlist, _SHORT_REPR.maxdict, _SHORT_REPR.maxstring = 2, 4, 4, 80


def _check_value(annotation: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(annotation)
    if origin is Literal:
        if value not in typing.get_args(annotation):
            raise RecipeError(f"{where}: {_shown(value)} is not one of {list(typing.get_args(annotation))}")
        return value
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(annotation)
        if value is None and type(None) in options:
            return None
        (inner,) = [o for o in options if o is not type(None)]
        return _check_value(inner, value, where)
    if origin is tuple:
        item_types = typing.get_args(annotation)
        if not isinstance(value, (list, tuple)) or len(value) != len(item_types):
            raise RecipeError(f"{where}: expected a list of {len(item_types)} numbers, got {_shown(value)}")
        pairs = enumerate(zip(item_types, value, strict=True))
        return tuple(_check_value(t, v, f"{where}[{i}]") for i, (t, v) in pairs)
    if dataclasses.is_dataclass(annotation):
        if not isinstance(value, dict):
            raise RecipeError(f"{where}: expected a mapping, got {_shown(value)}")
        return _build(annotation, value, where)
    if annotation is bool:
        if not isinstance(value, bool):
            raise RecipeError(f"{where}: expected true or false, got {_shown(value)}")
        return value
    if annotation is int:
        if not is_int(value):
            raise RecipeError(f"{where}: expected an integer, got {_shown(value)}")
        return int(value)  # a numpy integer would not dump to YAML
    if annotation is float:
        if isinstance(value, str) and _SCIENTIFIC.fullmatch(value.strip()):
            return float(value)
        if not is_real(value):
            raise RecipeError(f"{where}: expected a number, got {_shown(value)}")
        if isinstance(value, int) and abs(value) > FLOAT32_MAX:  # float(10**400) is an OverflowError
            raise RecipeError(f"{where}: {_BEYOND_FLOAT32}")
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            raise RecipeError(f"{where}: expected a string, got {_shown(value)}")
        return value
    raise TypeError(f"unsupported recipe annotation {annotation!r}")


def _build(cls: type, data: dict[str, Any], where: str) -> Any:
    hints = typing.get_type_hints(cls)
    _refuse_unknown_keys(cls, data, where)
    kwargs = {key: _check_value(hints[key], value, f"{where}.{key}" if where else key) for key, value in data.items()}
    try:
        return cls(**kwargs)
    except TypeError as error:  # a required key is missing
        raise RecipeError(f"{where or 'recipe'}: {error}") from None


def _refuse_unknown_keys(cls: type, data: dict[str, Any], where: str, *, deep: bool = False) -> None:
    """A key `cls` has not, named with the closest one; `deep`: in its sections too (a file of a `base` chain, read
    alone, so that the error names the file the key is in, not the one naming it as a base)."""
    known = [f.name for f in dataclasses.fields(cls)]
    unknown = [key for key in data if key not in known]
    if unknown:
        key = unknown[0]
        close = difflib.get_close_matches(str(key), known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(known)}"
        raise RecipeError(f"{where or 'recipe'}: unknown key {key!r}{hint}")
    if deep:
        hints = typing.get_type_hints(cls)
        for key, value in data.items():
            if dataclasses.is_dataclass(hints[key]) and isinstance(value, dict):
                _refuse_unknown_keys(hints[key], value, f"{where}.{key}" if where else key)


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def recipe_from_dict(data: dict[str, Any], *, where: str) -> Recipe:
    try:
        recipe = _build(Recipe, data, "")
    except RecipeError as error:
        raise RecipeError(f"{where}: {error}") from None
    _validate(recipe, where)
    return recipe


def _validate(recipe: Recipe, where: str) -> None:
    """Values of the right type that no run can use, refused before a run claims its folder (NaN compares false with
    every bound, so the float checks hold only for finite numbers)."""
    model, data, optim, run = recipe.model, recipe.data, recipe.optim, recipe.run
    checks = [
        # BatchNorm in training mode needs two samples to have a variance (per process, under DDP too).
        (optim.batch_size >= 2, "optim.batch_size must be at least 2 (BatchNorm needs two images a batch)"),
        (optim.epochs > 0, "optim.epochs must be positive"),
        (0 < optim.base_lr < math.inf, "optim.base_lr must be a positive number"),
        (0 <= optim.weight_decay < math.inf, "optim.weight_decay must be a number >= 0"),
        (0 <= optim.momentum < 1, "optim.momentum must be in [0, 1)"),
        (0 <= optim.warmup_epochs <= optim.epochs, "optim.warmup_epochs must be in [0, optim.epochs]"),
        (model.dim > 0 and model.pred_dim > 0, "model.dim and model.pred_dim must be positive"),
        (model.projector_layers >= 1, "model.projector_layers must be at least 1"),
        (data.image_size >= 16, "data.image_size must be at least 16"),
        # Images are in [0, 1]: beyond these bounds the normalised views overflowed into NaN features.
        (all(-1e6 <= value <= 1e6 for value in data.mean), "data.mean must be numbers in [-1e6, 1e6]"),
        (all(1e-6 <= value <= 1e6 for value in data.std), "data.std must be numbers in [1e-6, 1e6]"),
        (min(data.knn_train_size, data.knn_test_size) >= 0, "data.knn_train_size and knn_test_size must be >= 0"),
        # A billion generated images were listed for minutes before the first step.
        (1 <= data.fake_size <= MAX_FAKE_SIZE, f"data.fake_size must be in [1, {MAX_FAKE_SIZE:_}]"),
        (0 <= data.num_workers <= MAX_NUM_WORKERS, f"data.num_workers must be in [0, {MAX_NUM_WORKERS}]"),
        (run.checkpoint_every_steps >= 1, "run.checkpoint_every_steps must be at least 1"),
        (run.log_every_steps >= 1, "run.log_every_steps must be at least 1"),
        (-(2**63) <= run.seed < 2**64, "run.seed must be in [-2**63, 2**64), torch's seed range"),
        (
            model.momentum_target is None or 0 <= model.momentum_target < 1,
            "model.momentum_target must be in [0, 1)",
        ),
        # The momentum target is never differentiated: without stop-gradient it trained exactly as with it.
        (
            model.momentum_target is None or recipe.loss.stop_gradient,
            "loss.stop_gradient: false has no effect with model.momentum_target (its target gets no gradient)",
        ),
    ]
    for ok, message in checks:
        if not ok:
            raise RecipeError(f"{where}: {message}")
    beyond = _beyond_machine_numbers(recipe)
    if beyond is not None:
        raise RecipeError(f"{where}: {beyond}")


def _beyond_machine_numbers(recipe: Recipe) -> str | None:
    """What is wrong with the first number torch cannot hold, a float beyond float32 or an integer beyond int64, or
    with the lr they make; None when each fits. Run after the checks of each key (NaN, inf and the seed's own range
    are theirs)."""
    for key, value in _dotted(recipe.to_dict()).items():
        for number in value if isinstance(value, list) else [value]:
            if isinstance(number, float) and math.isfinite(number) and abs(number) > FLOAT32_MAX:
                return f"{key} {_BEYOND_FLOAT32}"
            # The seed's range is torch's own, wider one.
            if type(number) is int and key != "run.seed" and not -INT64_LIMIT <= number < INT64_LIMIT:
                return f"{key} must be in [-2**63, 2**63), the int64 torch takes it as"
    if recipe.optim.lr > FLOAT32_MAX:  # each factor fits, their product need not
        return f"optim.base_lr * optim.batch_size / 256 (the lr) {_BEYOND_FLOAT32}"
    return None


def _recipes_dir() -> Path:
    return Path(str(resources.files("simsiam_zoo") / "recipes"))


def builtin_recipes() -> list[str]:
    return sorted(path.stem for path in _recipes_dir().glob("*.yaml"))


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping: PyYAML keeps the last in silence, and a
    recipe with `batch_size` twice trained with the second."""


def _unique_key_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        if key_node.tag == _MERGE_TAG:  # `<<: *defaults`, which the keys beside it override, as YAML means
            continue
        key = loader.construct_object(key_node, deep=deep)
        if not isinstance(key, typing.Hashable):
            continue  # construct_mapping names an unhashable key itself
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"key {key!r} given twice", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_MERGE_TAG = "tag:yaml.org,2002:merge"
_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_key_mapping)


def _read_yaml(path: Path) -> dict[str, Any]:
    data = read_document(
        path,
        lambda text: yaml.load(text, Loader=_UniqueKeyLoader),  # a SafeLoader: no Python objects
        RecipeError,
        kind="YAML",
        parse_errors=yaml.YAMLError,
        missing="no such recipe file",
    )
    if not isinstance(data, dict):
        raise RecipeError(f"{path}: a recipe must be a YAML mapping")
    return data


# Far more than any real recipe's, far less than Python's recursion limit.
MAX_BASE_CHAIN = 64


def _resolve(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    # Resolved: `rec/loop.yaml` and `rec/../rec/loop.yaml` are one file, and a cycle through `..` recursed until
    # the path was too long for the OS.
    real = path.resolve()
    if real in seen:
        raise RecipeError(f"{path}: `base` recipes form a cycle: {' -> '.join(map(str, (*seen, real)))}")
    if len(seen) >= MAX_BASE_CHAIN:  # deeper, Python's recursion limit was blamed on a valid file, "nested too deep"
        raise RecipeError(f"{seen[0]}: its `base` chain is longer than {MAX_BASE_CHAIN} files (at {path})")
    data = _read_yaml(path)
    base = data.pop("base", None)
    try:
        _refuse_unknown_keys(Recipe, data, "", deep=True)
    except RecipeError as error:
        raise RecipeError(f"{path}: {error}") from None
    if base is None:
        return data
    if not isinstance(base, str):
        raise RecipeError(f"{path}: base: expected a recipe name or file, got {_shown(base)}")
    return _deep_merge(_resolve(_locate_base(base, named_in=path), (*seen, real)), data)


def _locate(name_or_path: str) -> Path:
    """The recipe a user names: a path (from the current directory, as every path on a command line), else a
    built-in recipe."""
    for candidate in (Path(name_or_path), _recipes_dir() / f"{name_or_path}.yaml"):
        if candidate.is_file():
            return candidate
    raise RecipeError(f"{name_or_path}: no recipe file or built-in recipe of that name{_closest_builtin(name_or_path)}")


def _locate_base(base: str, *, named_in: Path) -> Path:
    """The `base` a recipe file names: beside that file, else a built-in recipe, never from the current directory
    (a recipe then trained whichever file of that name the directory it was run from held)."""
    folder = named_in.parent
    for candidate in (folder / base, folder / f"{base}.yaml", _recipes_dir() / f"{base}.yaml"):
        try:
            if candidate.is_file():
                return candidate
        except OSError as error:  # a name too long for the file system: its errno named no recipe file
            raise RecipeError(f"{named_in}: base: {_shown(base)}: {error.strerror}") from None
    raise RecipeError(
        f"{named_in}: base: {base!r}: no recipe file beside it (a base is found from the file that names it, "
        f"not from the current directory) or built-in recipe of that name{_closest_builtin(base)}"
    )


def _closest_builtin(name: str) -> str:
    close = difflib.get_close_matches(name, builtin_recipes(), n=3)
    return f"; did you mean {', '.join(close)}?" if close else "; `simsiam-zoo recipes` lists them"


def load_recipe(name_or_path: str | Path) -> Recipe:
    """A built-in recipe by name (`simsiam_r50_in1k_ep100`) or a YAML file, with its `base` chain."""
    path = _locate(str(name_or_path))
    data = _resolve(path)
    data.setdefault("name", path.stem)
    return recipe_from_dict(data, where=str(path))
