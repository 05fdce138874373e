"""Input checks shared by the evaluation functions."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torch import Tensor

from simsiam_zoo.arguments import is_int
from simsiam_zoo.errors import type_name
from simsiam_zoo.options import MAX_CLASSES, check_class_count

MAX_MAGNITUDE = 1e15


def check_features(features: Tensor, name: str) -> None:
    """Require a non-empty floating-point (N, D) tensor of finite values that float32 arithmetic keeps."""
    if not isinstance(features, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type_name(features)}")
    if features.ndim != 2:
        raise ValueError(f"{name} must be 2-D (N, D), got shape {tuple(features.shape)}")
    if not features.is_floating_point():
        raise ValueError(f"{name} must be floating point, got {features.dtype}")
    if features.shape[0] == 0:
        raise ValueError(f"{name} is empty (0 rows)")
    if features.shape[1] == 0:
        raise ValueError(f"{name} has 0 feature dimensions")
    # Each row's largest magnitude, from its min and max (NaN where the row holds one): N values, with no copy of
    # the whole bank (an abs() of a 1.28 M x 2048 bank is 10 GB more).
    low, high = torch.aminmax(features, dim=1)
    largest = torch.maximum(low.abs(), high.abs())
    bad = int((~torch.isfinite(largest)).sum())
    if bad:
        raise ValueError(f"{name} has {bad} rows with NaN or inf")
    # The evaluations compute in float32: rows of 1e39 (float64) or 1e-50 overflowed or vanished into chance-level
    # scores, in silence. Real features are nowhere near these bounds.
    if bool((largest > MAX_MAGNITUDE).any() or ((largest > 0) & (largest < 1 / MAX_MAGNITUDE)).any()):
        raise ValueError(
            f"{name} has rows whose largest value is beyond {MAX_MAGNITUDE:.0e} or below {1 / MAX_MAGNITUDE:.0e} "
            "in magnitude, which float32 arithmetic does not keep; rescale the features"
        )


def check_labels(labels: Tensor, num_rows: int | None, name: str) -> None:
    """Require a 1-D integer tensor of non-negative labels, one per feature row (any number with None)."""
    if not isinstance(labels, Tensor):  # a list or numpy array failed deep in the checks (AttributeError)
        raise TypeError(f"{name} must be a torch.Tensor, got {type_name(labels)}")
    if labels.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {tuple(labels.shape)}")
    if labels.dtype == torch.bool or labels.dtype.is_floating_point or labels.dtype.is_complex:
        raise ValueError(f"{name} must be an integer tensor, got {labels.dtype}")
    if num_rows is not None and labels.shape[0] != num_rows:
        raise ValueError(f"{name} has {labels.shape[0]} entries but the features have {num_rows} rows")
    if labels.numel() and int(labels.min()) < 0:
        raise ValueError(f"{name} contains negative labels (images without a label); drop them before evaluating")


def check_same_dim(train: Tensor, test: Tensor) -> None:
    """Require train and test features to share the feature dimension."""
    if train.shape[1] != test.shape[1]:
        raise ValueError(f"feature dimensions differ: train has D={train.shape[1]}, test has D={test.shape[1]}")


def check_at_least(minimum: int, **values: int) -> None:
    """Require every named value to be >= minimum, naming the first one that is not."""
    for name, value in values.items():
        if not is_int(value) or value < minimum:  # 2.5 failed in range(), True passed as 1
            raise ValueError(f"{name} must be a whole number >= {minimum}, got {value!r}")


def class_count(labels: Tensor, num_classes: int | None, name: str) -> int:
    """`num_classes`, or the largest label + 1 when None; an error when a label does not fit."""
    max_label = int(labels.max())
    if num_classes is None and max_label >= MAX_CLASSES:  # a label of 2**40 asked the allocator for 44 TB of votes
        raise ValueError(f"{name} contains class {max_label}: over {MAX_CLASSES:_} classes; number them from 0")
    if num_classes is None:
        return max_label + 1
    check_class_count(num_classes)
    if max_label >= num_classes:
        raise ValueError(f"{name} contains class {max_label} but num_classes={num_classes}")
    return num_classes


def untrained_classes(train_labels: Iterable[int], test_labels: Iterable[int], classes: Sequence[str]) -> list[str]:
    """The test classes no train label holds, by name (by number past `classes`), in class order: nothing trained
    on those labels can predict them, and their images scored 0% in silence."""
    numbers = sorted({int(label) for label in test_labels} - {int(label) for label in train_labels})
    return [classes[i] if i < len(classes) else str(i) for i in numbers]


# Said where a score's test images are its train images too (`eval knn` / `linear`, `benchmark`).
SELF_RECALL = (
    "the score measures how the features recall their own images (1-NN: 100%), not how they generalise to others"
)
