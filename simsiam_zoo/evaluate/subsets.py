"""Label subsets for low-shot evaluation: seeded class-balanced fractions and SimCLR subset files."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor

from simsiam_zoo._io import read_text_once
from simsiam_zoo.arguments import is_int
from simsiam_zoo.evaluate._validation import check_labels
from simsiam_zoo.options import check_seed


def class_sizes(labels: Tensor) -> Tensor:
    """The number of samples of each class that ``labels`` has, classes without one left out."""
    counts = torch.bincount(labels)
    return counts[counts > 0]


def balanced_label_subset(
    labels: Tensor, *, fraction: float | None = None, per_class: int | None = None, seed: int
) -> Tensor:
    """Sorted int64 indices (on CPU) of a class-balanced random subset of ``labels``.

    Each class keeps round-half-up(fraction x its count) samples, at least one, or (``per_class``) that many
    (all it has if fewer), drawn without replacement from a generator seeded with ``seed``, so the same labels and
    seed always give the same subset.
    """
    check_labels(labels, None, "labels")
    if labels.numel() == 0:
        raise ValueError("labels is empty")
    if (fraction is None) == (per_class is None):
        raise ValueError("give one of fraction and per_class")
    if fraction is not None and not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    if per_class is not None and not (is_int(per_class) and per_class >= 1):
        raise ValueError(f"per_class must be a whole number >= 1, got {per_class!r}")
    check_seed(seed)  # 0.5 and 2**70 were torch's errors

    labels = labels.cpu()
    generator = torch.Generator().manual_seed(seed)
    # A stable sort groups each class's indices in ascending order, so the draw depends only on the data.
    order = torch.sort(labels, stable=True).indices
    counts = torch.unique_consecutive(labels[order], return_counts=True)[1]
    chosen = []
    for class_indices in torch.split(order, counts.tolist()):
        count = class_indices.numel()
        keep = min(count, per_class) if per_class is not None else max(1, math.floor(fraction * count + 0.5))
        chosen.append(class_indices[torch.randperm(count, generator=generator)[:keep]])
    return torch.cat(chosen).sort().values


def read_subset_file(path: str | os.PathLike[str], image_paths: Sequence[str | os.PathLike[str]]) -> Tensor:
    """Sorted int64 indices into ``image_paths`` of the images listed in a SimCLR subset file.

    The file (``1percent.txt`` / ``10percent.txt``) has one image filename per line, e.g.
    ``n01440764_10026.JPEG``, matched against each path's basename. Names not found in
    ``image_paths`` raise ValueError.
    """
    try:
        text = read_text_once(Path(path))
    except ValueError as error:
        raise ValueError(f"subset file {os.fspath(path)!r}: {error}") from None
    names = {line.strip() for line in text.splitlines() if line.strip()}
    if not names:
        raise ValueError(f"subset file {os.fspath(path)!r} lists no images")
    index_of: dict[str, int] = {}
    for i, image_path in enumerate(image_paths):
        basename = os.path.basename(os.fspath(image_path))
        if basename in names and index_of.setdefault(basename, i) != i:
            raise ValueError(f"{basename!r} matches several image paths; subset file names must be unique")
    missing = sorted(names - index_of.keys())
    if missing:
        raise ValueError(
            f"{len(missing)} of {len(names)} names in {os.fspath(path)!r} are not among the "
            f"{len(image_paths)} image paths, e.g. {missing[:5]}"
        )
    return torch.tensor(sorted(index_of.values()), dtype=torch.long)
