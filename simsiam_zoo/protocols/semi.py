"""Semi-supervised fine-tuning on 1% and 10% of the labels (class-balanced, or SimCLR's subset files)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from simsiam_zoo.arguments import as_sequence
from simsiam_zoo.data import LabelledSubset
from simsiam_zoo.errors import DataError, listed
from simsiam_zoo.evaluate.subsets import balanced_label_subset, read_subset_file
from simsiam_zoo.options import RunOptions, Schedule
from simsiam_zoo.protocols.shared import (
    FINETUNE_SCHEDULE,
    ModelArg,
    check_arguments,
    check_checkpoint_dir,
    load_model,
    result_record,
    train_head,
)
from simsiam_zoo.protocols.splits import DataArg, Splits, labelled_splits, labels_of, paths_of


def semi_supervised_subsets(
    train: Dataset,
    *,
    fractions: Sequence[float],
    subset_files: Mapping[float, str | Path] | None = None,
    seed: int = 0,
) -> dict[float, torch.Tensor]:
    """Indices into `train` per fraction: from its subset file when given, else class-balanced and seeded.

    The fractions are `fractions` plus those of `subset_files`.
    """
    subset_files = dict(subset_files or {})
    labels = labels_of(train, "train")
    subsets = {}
    for fraction in sorted({*map(float, fractions), *map(float, subset_files)}):
        if fraction in subset_files:
            try:
                subsets[fraction] = read_subset_file(subset_files[fraction], paths_of(train))
            except (ValueError, OSError) as error:
                raise DataError(f"subset file for {fraction:g}: {error}") from None
            classes = torch.unique(labels[subsets[fraction]]).numel()
            if classes < 2:
                raise DataError(
                    f"{subset_files[fraction]}: its images are of {classes} class; a classifier needs at least two"
                )
        else:
            subsets[fraction] = balanced_label_subset(labels, fraction=fraction, seed=seed)
    return subsets


def _check_labelled_classes(splits: Splits, labelled: torch.Tensor, subset_file: str | Path) -> None:
    """Every test class has a labelled image in the subset file's draw: one without could never be predicted, and
    the score would fall in silence (a class-balanced draw keeps one of each class)."""
    missing = sorted(set(labels_of(splits.test, "test").tolist()) - set(labelled.tolist()))
    if missing:
        names = listed((splits.classes[i] for i in missing), limit=5)
        raise DataError(f"{subset_file}: labels no image of the test classes {names}")


def semi_supervised(
    model: ModelArg,
    data: DataArg,
    *,
    fractions: Sequence[float] = (0.01, 0.1),
    subset_files: Mapping[float, str | Path] | None = None,
    schedule: Schedule = FINETUNE_SCHEDULE,
    run: RunOptions = RunOptions(),
) -> dict[str, Any]:
    """Fine-tune the whole network on each fraction of the train labels; test top-1 per fraction.

    Subsets are class-balanced and seeded (`balanced_label_subset`), or read from SimCLR subset files
    (`{0.01: "1percent.txt"}`, image basenames) where given.
    """
    check_arguments(data, schedule=schedule, run=run)
    fractions = as_sequence("fractions", fractions, example="(0.01, 0.1)")
    check_checkpoint_dir(run, model, data)
    loaded = load_model(model, run)
    splits = labelled_splits(data, run)
    subsets = semi_supervised_subsets(splits.train, fractions=fractions, subset_files=subset_files, seed=run.seed)
    labels = labels_of(splits.train, "train")
    for fraction, path in (subset_files or {}).items():
        _check_labelled_classes(splits, labels[subsets[float(fraction)]], path)
    rows = []
    for fraction, indices in subsets.items():
        result = train_head(
            loaded,
            splits,
            LabelledSubset(splits.train, indices.tolist()),
            schedule=schedule,
            frozen_backbone=False,
            run=run,
            name=f"semi-{fraction:g}",
        )
        per_class = torch.bincount(labels[indices], minlength=len(splits.classes))
        source = subset_files.get(fraction) if subset_files else None
        rows.append(
            {
                "fraction": fraction,
                "subset": str(source) if source is not None else f"class-balanced, seed {run.seed}",
                "num_labelled": len(indices),
                "per_class": per_class.tolist(),
                "batch_size": result.batch_size,
                "top1": result.top1,
                "history": result.history,
            }
        )
    top1 = {f"{row['fraction']:g}": row["top1"] for row in rows}
    return result_record("semi_supervised", loaded, splits, schedule, run, fractions=rows, top1=top1)
