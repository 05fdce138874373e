"""What a benchmark runs: the models (zoo names, globs over them, `hf-hub:` ids, hub folders, runs) and the
datasets (`NAME=SOURCE`), all resolved, and every bad one refused, before any work."""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from pathlib import Path

from simsiam_zoo.data import TRANSFER_SUITE
from simsiam_zoo.errors import DataError, UnknownModelError, listed
from simsiam_zoo.evaluate import class_sizes
from simsiam_zoo.loader import zoo_entry
from simsiam_zoo.options import BenchmarkOptions
from simsiam_zoo.protocols import Splits, resolve_data
from simsiam_zoo.protocols.splits import labels_of, untrained_classes, warn_if_shared
from simsiam_zoo.zoo import ZOO, find_entry

NAMED_DATASETS = ("fashion_mnist", "digits", *TRANSFER_SUITE)

RANDOM_INIT, PIXELS = "random-init", "pixels"


def expand_models(patterns: list[str]) -> list[str]:
    """The models the patterns name, in order, each once: a glob (`'resnet50.*'`) is the zoo names it matches,
    loadable ones only; a zoo name, an `hf-hub:` id or an existing path is itself; a path that does not exist is
    an error saying so, anything else one naming the closest zoo names."""
    models: list[str] = []
    for pattern in patterns:
        if pattern in (RANDOM_INIT, PIXELS):
            raise UnknownModelError(
                f"{pattern}: the baselines are in every table already (--no-baselines leaves them out)"
            )
        if pattern.startswith(f"{RANDOM_INIT} ("):  # a folder named like a baseline's row would take its place
            raise UnknownModelError(f"{pattern}: named like a random-init baseline's row; pass it as ./{pattern}")
        if any(char in pattern for char in "*?[") and not Path(pattern).exists():
            matched = [name for name in ZOO if fnmatch.fnmatchcase(name, pattern) and not ZOO[name].unsupported]
            if not matched:
                raise UnknownModelError(f"{pattern}: matches no zoo model; `simsiam-zoo models` lists them")
            models += matched
        elif pattern.startswith("hf-hub:") or find_entry(pattern) is not None or Path(pattern).exists():
            models.append(pattern)
        else:
            zoo_entry(pattern)  # the error: a path that does not exist, or a name with the closest zoo names
    # Each once: a folder by any of its spellings (`models/m`, `./models/m` were two rows of one model), a zoo
    # model by any of its names (an alias and its name were two rows, ranked against each other).
    unique: dict[str, str] = {}
    for model in models:
        entry = None if model.startswith("hf-hub:") else find_entry(model)
        key = model if model.startswith("hf-hub:") else entry.name if entry is not None else str(Path(model).resolve())
        unique.setdefault(key, model)
    return list(unique.values())


@dataclass(frozen=True)
class Dataset:
    name: str
    source: str
    splits: Splits


def dataset_entries(entries: list[str] | tuple[str, ...]) -> dict[str, str]:
    """The `--data` entries as {NAME: SOURCE}, each of a usable form, else a ValueError naming it: the CLI's usage
    error and `parse_datasets`' DataError."""
    sources: dict[str, str] = {}
    for entry in entries:
        name, sep, source = (entry, "=", entry) if entry in NAMED_DATASETS else entry.partition("=")
        if not sep or not name or not source.strip():
            raise ValueError(
                f"{entry!r}: expected NAME=SOURCE (e.g. fmnist=fashion_mnist) or a named dataset: "
                f"{', '.join(NAMED_DATASETS)}"
            )
        if not re.fullmatch(r"[\w.-]+", name) or not name.strip("."):  # '.' and '..' name other folders
            raise ValueError(f"{entry!r}: a dataset name is letters, digits, '.', '-' and '_', not dots alone")
        if name in sources:
            raise ValueError(f"{entry!r}: the name {name} is given twice")
        sides = train_test(source)
        if isinstance(sides, tuple) and not all(side.strip() for side in sides):  # read as the current folder
            raise ValueError(f"{entry!r}: TRAIN,TEST with an empty side (an unset variable?)")
        sources[name] = source
    return sources


def train_test(source: str) -> str | tuple[str, str]:
    """`TRAIN,TEST` split at its first comma outside braces (`a-{0,1}.parquet` is one source), else `source`."""
    depth = 0
    for i, char in enumerate(source):
        depth += {"{": 1, "}": -1}.get(char, 0)
        if char == "," and depth <= 0:
            return source[:i], source[i + 1 :]
    return source


def parse_datasets(entries: list[str], options: BenchmarkOptions) -> list[Dataset]:
    """`NAME=SOURCE` (SOURCE: `fashion_mnist`, `digits`, a transfer-suite name, a folder with train/ and val/ or
    test/, or `TRAIN,TEST`; a named dataset alone is its own NAME), each resolved to capped, labelled splits with
    at least two classes."""
    try:
        sources = dataset_entries(entries)
    except ValueError as error:
        raise DataError(f"--data {error}") from None
    if not sources:
        raise DataError("no --data NAME=SOURCE given")
    datasets = []
    for name, source in sources.items():
        data = train_test(source)
        splits = resolve_data(data, train_limit=options.train_limit, test_limit=options.test_limit, seed=options.seed)
        _check_classes(name, splits, options)
        warn_if_shared(splits, named=f"--data {name}")
        datasets.append(Dataset(name, source, splits))
    return datasets


def _check_classes(name: str, splits: Splits, options: BenchmarkOptions) -> None:
    """Two classes or more; and where few-shot is the only protocol, a smallest class with one of --shots' numbers
    (the protocol leaves out a number of shots above it: with none left the dataset would have no result)."""
    labels = labels_of(splits.train, f"{name} train")
    present = class_sizes(labels)
    if len(present) < 2:
        raise DataError(f"--data {name}: its train split has images of {len(present)} class; ranking needs two or more")
    if untrained := untrained_classes(splits):
        cap = f" (--train-limit {options.train_limit} left them out)" if options.train_limit is not None else ""
        raise DataError(
            f"--data {name}: {len(untrained)} classes of its test split have no train image{cap}: "
            f"{listed(untrained, limit=5)}"
        )
    smallest = int(present.min())
    if set(options.protocols) == {"fewshot"} and smallest < min(options.shots):
        raise DataError(
            f"--data {name}: its smallest class has {smallest} train images, fewer than every --shots "
            f"({', '.join(map(str, options.shots))}); few-shot would give it no result"
        )
