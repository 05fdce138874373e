"""Evaluations on extracted feature folders (`simsiam-zoo extract`), each written as a JSON result."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from simsiam_zoo._io import atomic_write_text
from simsiam_zoo.evaluate.knn import knn_accuracy
from simsiam_zoo.evaluate.linear_probe import DEFAULT_WEIGHT_DECAYS, linear_probe_sweep


def _load_labelled(path: str | Path, role: str) -> Any:
    from simsiam_zoo.data import DataError
    from simsiam_zoo.extract import load_features

    features = load_features(path)
    unlabelled = int((features.labels < 0).sum())
    if unlabelled:
        raise DataError(f"{path}: {unlabelled} of {len(features.labels)} {role} images have no label "
                        "(extract from a folder with class sub-folders or a labelled dataset)")
    return features


def evaluate_knn(
    train: str | Path, test: str | Path, *, ks: Sequence[int] = (20, 200), temperature: float = 0.07,
    device: str | None = None,
) -> dict[str, Any]:
    """Weighted cosine kNN (InstDisc/DINO protocol) of test features against train features."""
    train_f, test_f = _load_labelled(train, "train"), _load_labelled(test, "test")
    accuracies = knn_accuracy(train_f.embeddings, train_f.labels, test_f.embeddings, test_f.labels, ks=tuple(ks),
                              temperature=temperature, device=device)
    return {
        "evaluation": "knn", "train": str(train), "test": str(test), "temperature": temperature,
        "num_train": len(train_f.labels), "num_test": len(test_f.labels),
        "top1": {str(k): accuracy for k, accuracy in accuracies.items()},
    }


def evaluate_linear(
    train: str | Path, test: str | Path, *, weight_decays: Sequence[float] = DEFAULT_WEIGHT_DECAYS,
    device: str | None = None,
) -> dict[str, Any]:
    """L-BFGS logistic regression on cached features, weight decay chosen on a held-out split of train."""
    train_f, test_f = _load_labelled(train, "train"), _load_labelled(test, "test")
    sweep = linear_probe_sweep(train_f.embeddings, train_f.labels, test_f.embeddings, test_f.labels,
                               weight_decays=tuple(weight_decays), device=device)
    return {
        "evaluation": "linear", "train": str(train), "test": str(test),
        "num_train": len(train_f.labels), "num_test": len(test_f.labels),
        "top1": sweep["test_accuracy"], "weight_decay": sweep["weight_decay"],
        "val_top1": {f"{wd:g}": accuracy for wd, accuracy in sweep["val_accuracies"].items()},
    }


def write_result(result: dict[str, Any], path: str | Path) -> None:
    atomic_write_text(Path(path), json.dumps(result, indent=2) + "\n")
