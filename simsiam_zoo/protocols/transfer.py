"""Transfer to other datasets: a linear probe on cached features and fine-tuning of the whole network."""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from simsiam_zoo._io import check_work_folder
from simsiam_zoo.arguments import as_sequence
from simsiam_zoo.backbone import LoadedBackbone
from simsiam_zoo.data import NoneIfUndecodable, Transformed, is_named_source, not_decoding
from simsiam_zoo.digests import weights_sha256
from simsiam_zoo.distributed import device_named, init_distributed
from simsiam_zoo.errors import DataError, OutputRefused, listed, type_name
from simsiam_zoo.evaluate import class_sizes, untrained_classes
from simsiam_zoo.evaluate.linear_probe import DEFAULT_WEIGHT_DECAYS, check_weight_decays, linear_probe_sweep
from simsiam_zoo.finetune import (
    EVAL_BATCH_SIZE,
)
from simsiam_zoo.options import RunOptions, Schedule
from simsiam_zoo.protocols.shared import (
    FINETUNE_SCHEDULE,
    ModelArg,
    check_arguments,
    check_checkpoint_dir,
    load_model,
    local_paths,
    train_head,
)
from simsiam_zoo.protocols.splits import DataArg, Splits, labelled_splits, labels_of

MODES = ("linear", "finetune")


def _fingerprint(loaded: LoadedBackbone) -> str:
    """sha256 of the weights and preprocessing, so cached features never outlive the model they came from."""
    return hashlib.sha256(f"{loaded.preprocessing!r};{weights_sha256(loaded.model)}".encode()).hexdigest()


def _features(
    loaded: LoadedBackbone, splits: Splits, split: str, *, name: str, cache: _FeatureCache, run: RunOptions
) -> tuple[torch.Tensor, torch.Tensor]:
    """(embeddings, labels) of a split: cached by `extract_features` when on disk, else embedded in memory."""
    from simsiam_zoo.features import embed_dataset, labelled_features

    source = splits.train_source if split == "train" else splits.test_source
    if source is None:
        loaded.model.to(run.device)
        dataset = splits.train if split == "train" else splits.test
        transformed = Transformed(dataset, loaded.transform)
        return embed_dataset(  # an image that does not decode left out, as extraction leaves it out
            loaded.model,
            transformed if run.strict else NoneIfUndecodable(transformed),
            batch_size=cache.batch_size,
            device=run.device,
            num_workers=run.num_workers,
        )
    location, limit = source
    # Named by what is extracted (the model, the source wherever it is run from, its cap) and not by the name alone:
    # another --train-limit, or a name that reads as another once made safe, gets a folder of its own (both were
    # refused as "other inputs", and deleting the folder only brought the refusal back).
    where = location if is_named_source(location) else str(Path(location).resolve())
    inputs = hashlib.sha256(json.dumps([cache.fingerprint, where, limit]).encode()).hexdigest()[:16]
    safe_name = re.sub(r"[^\w.-]", "_", name)
    out = cache.folder / f"{safe_name}-{split}-{inputs}"
    embeddings, labels = labelled_features(
        loaded.model,
        loaded.transform,
        location,
        out=out,
        batch_size=cache.batch_size,
        limit=limit,
        device=run.device,
        num_workers=run.num_workers,
        progress=run.progress,
        strict=run.strict and cache.kept,  # the store's strict error advises on a folder the user keeps
        model_name=f"{loaded.source} sha256:{cache.fingerprint}",
    )
    if run.strict and not cache.kept:
        _refuse_skips(out, location, num_images=len(splits.train if split == "train" else splits.test))
    return embeddings, splits.stored_labels(split, labels)


def _refuse_skips(store: Path, location: str, *, num_images: int) -> None:
    """--strict over a temporary feature store: a DataError naming the images it skipped, read before the store
    is deleted (its own error named the store, gone by then, as a folder to mend or delete)."""
    from simsiam_zoo.features import SKIPPED_FILE, describe_skips

    if skipped := json.loads((store / SKIPPED_FILE).read_text(encoding="utf-8")):
        raise DataError(f"{location}: strict mode: {describe_skips(skipped, num_images)}")


def transfer(
    model: ModelArg,
    datasets: Mapping[str, DataArg],
    *,
    modes: Sequence[str] = MODES,
    schedule: Schedule = FINETUNE_SCHEDULE,
    weight_decays: Sequence[float] = DEFAULT_WEIGHT_DECAYS,
    cache_dir: str | Path | None = None,
    run: RunOptions = RunOptions(),
) -> dict[str, Any]:
    """Per downstream dataset: `linear` (L-BFGS probe on cached features, weight decay chosen among
    `weight_decays` on a split of train) and `finetune` (the whole network, trained by `schedule`) -> `rows` of
    {dataset, mode, top1, ...}.

    Features of on-disk splits are extracted (in batches of `schedule.batch_size`, default 256) into
    `cache_dir` (a temporary folder when None) and reused by later calls with the same model weights.
    """
    modes = _checked_modes(modes)
    _check_datasets(datasets)
    check_arguments(*datasets.values(), schedule=schedule, run=run)
    weight_decays = check_weight_decays(weight_decays)
    check_checkpoint_dir(run, model, *datasets.values())
    if cache_dir is not None:
        check_work_folder(cache_dir, option="--cache-dir", inputs=local_paths(model, *datasets.values()))
    loaded = load_model(model, run)
    fingerprint = _fingerprint(loaded)[:16]
    # Every dataset is opened before the first trains: a bad one stops the call before hours of work are lost.
    all_splits = {name: labelled_splits(data, run) for name, data in datasets.items()}
    if "linear" in modes:
        _check_weight_decay_choosable(all_splits)
    if "linear" in modes and cache_dir is None:
        _check_extraction_shared(all_splits, run)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="simsiam-zoo-features-") as scratch:
        cache = Path(cache_dir) if cache_dir is not None else Path(scratch)
        for name, splits in all_splits.items():
            sizes = {"num_train": len(splits.train), "num_test": len(splits.test)}
            if "linear" in modes:
                cached = _FeatureCache(
                    cache, fingerprint, batch_size=schedule.batch_size or EVAL_BATCH_SIZE, kept=cache_dir is not None
                )
                rows.append(
                    {**sizes, **_linear_row(loaded, splits, name, cached, weight_decays=weight_decays, run=run)}
                )
            if "finetune" in modes:
                rows.append({**_finetune_row(loaded, splits, name, schedule=schedule, run=run), **sizes})
    return {
        "evaluation": "transfer",
        "model": loaded.source,
        "arch": loaded.arch,
        "seed": run.seed,
        "shuffle": run.shuffle,
        "rows": rows,
    }


def _checked_modes(modes: Sequence[str]) -> tuple[str, ...]:
    modes = as_sequence("modes", modes, example=repr(MODES))
    if set(modes) - set(MODES) or not modes:
        raise ValueError(f"modes must be a non-empty subset of {MODES}, got {modes}")
    return modes


def _check_datasets(datasets: Mapping[str, DataArg]) -> None:
    if not isinstance(datasets, Mapping):  # a list of names had no .values()
        raise TypeError(
            f"datasets must be a mapping of names to data, such as {{'pets': 'pets'}}, got {type_name(datasets)}"
        )
    if not datasets:
        raise ValueError("no datasets to transfer to")


def _check_weight_decay_choosable(all_splits: Mapping[str, Splits]) -> None:
    """The linear probe chooses its weight decay on train images held out of a class of two or more: a dataset
    whose classes have one train image each failed in the sweep, after the datasets before it were evaluated."""
    for name, splits in all_splits.items():
        if int(class_sizes(labels_of(splits.train, "train")).max()) < 2:
            raise DataError(
                f"--dataset {name}: each class of its train split has one image, which leaves none to choose the "
                "linear probe's weight decay on (--mode finetune alone needs none)"
            )


def _check_extraction_shared(all_splits: Mapping[str, Splits], run: RunOptions) -> None:
    """Under torchrun, a split on disk is extracted into one feature folder every rank reads: not a temporary one,
    each rank's own (the ranks were refused as "launched with other out"). In-memory splits need none."""
    on_disk = [name for name, splits in all_splits.items() if (splits.train_source or splits.test_source)]
    if on_disk and init_distributed(device_named(run.device)).enabled:
        raise OutputRefused(
            f"--cache-dir: under torchrun the linear probe extracts {on_disk[0]}'s images into one feature folder "
            "every rank reads; give one (on a file system every node reaches)"
        )


@dataclass(frozen=True)
class _FeatureCache:
    """Where transfer's features live (`cache`/NAME-SPLIT-INPUTS, INPUTS a digest of the model's fingerprint and
    of what is extracted), and the batch they are extracted in."""

    folder: Path
    fingerprint: str
    batch_size: int
    kept: bool  # False: a temporary folder, deleted when the call returns


def _linear_row(
    loaded: LoadedBackbone,
    splits: Splits,
    name: str,
    cache: _FeatureCache,
    *,
    weight_decays: Sequence[float],
    run: RunOptions,
) -> dict[str, Any]:
    """The L-BFGS probe on the split's cached features, its weight decay chosen on a part of train."""
    train_x, train_y = _features(loaded, splits, "train", name=name, cache=cache, run=run)
    test_x, test_y = _features(loaded, splits, "test", name=name, cache=cache, run=run)
    for split, images, labels in (("train", splits.train, train_y), ("test", splits.test, test_y)):
        if left_out := len(images) - len(labels):  # a temporary feature store's skip list goes with it
            warnings.warn(f"{name}, its {split} split: {not_decoding(left_out)}, left out", stacklevel=2)
    # The splits' check counts listed images; one that did not decode has no feature (a class can lose them all).
    if lost := untrained_classes(train_y.tolist(), test_y.tolist(), splits.classes):
        raise DataError(
            f"{name}: no train image of the test classes {listed(lost, limit=5)} decoded; nothing trained can predict "
            "them"
        )
    sweep = linear_probe_sweep(train_x, train_y, test_x, test_y, weight_decays=tuple(weight_decays), seed=run.seed)
    return {
        "dataset": name,
        "mode": "linear",
        "top1": sweep["test_accuracy"],
        "weight_decay": sweep["weight_decay"],
        "num_train": len(train_y),  # the images scored: those that decode
        "num_test": len(test_y),
    }


def _finetune_row(
    loaded: LoadedBackbone, splits: Splits, name: str, *, schedule: Schedule, run: RunOptions
) -> dict[str, Any]:
    """The whole network fine-tuned on the split by `schedule`."""
    result = train_head(
        loaded, splits, splits.train, schedule=schedule, frozen_backbone=False, run=run, name=f"transfer-{name}"
    )
    return {
        "dataset": name,
        "mode": "finetune",
        "top1": result.top1,
        "epochs": schedule.epochs,
        "batch_size": result.batch_size,
        "lr": schedule.lr,
    }
