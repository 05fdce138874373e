"""Evaluations on extracted feature folders (`simsiam-zoo extract`), each written as a JSON result."""

from __future__ import annotations

import dataclasses
import json
import os
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch

from simsiam_zoo._io import atomic_write_text, check_output_file
from simsiam_zoo.arguments import as_sequence
from simsiam_zoo.data import numbered_alike, unlabelled
from simsiam_zoo.errors import DataError, listed
from simsiam_zoo.evaluate import SELF_RECALL, check_features, untrained_classes
from simsiam_zoo.evaluate.knn import knn_accuracy
from simsiam_zoo.evaluate.linear_probe import DEFAULT_WEIGHT_DECAYS, check_weight_decays, linear_probe_sweep
from simsiam_zoo.evaluate.subsets import class_sizes
from simsiam_zoo.features import Features

# What the linear probe holds out of train to choose the weight decay on (a seeded, class-stratified fifth), and
# the L-BFGS iterations of each fit: stated in the result beside the decay chosen.
LINEAR_PROBE_SETTINGS = {"val_fraction": 0.2, "seed": 0, "max_iter": 200}


def _load_labelled(path: str | Path, role: str) -> Any:
    from simsiam_zoo.features import load_features

    features = load_features(path)
    try:  # values float32 arithmetic cannot keep (a diverged model's): a ValueError traceback from the evaluation
        check_features(features.embeddings, "the store")
    except ValueError as error:
        raise DataError(f"{path}: {error}") from None
    problem = unlabelled(features.labels)
    if problem:
        raise DataError(
            f"{path}: {problem} among the {role} features "
            "(extract from a folder with class sub-folders or a labelled dataset)"
        )
    return features


def _numbered_as_train(train_f: Features, test_f: Features, *, where: str) -> Features:
    """The test features with labels that number classes as the train features do, matched by name (a test split
    without one of the middle classes numbers the rest otherwise); a DataError where a test image's class is none
    of train's."""
    if numbered_alike(train_f.classes, test_f.classes):
        return test_f
    number = {name: i for i, name in enumerate(train_f.classes)}
    present = [test_f.classes[label] for label in sorted({int(label) for label in test_f.labels})]
    if unknown := [name for name in present if name not in number]:
        raise DataError(
            f"{where}: different classes ({', '.join(train_f.classes)} vs {', '.join(test_f.classes)}): the test "
            f"classes {listed(unknown, limit=5)} are none of train's, and nothing trained there can predict them"
        )
    renumbered = torch.tensor([number.get(name, -1) for name in test_f.classes], dtype=test_f.labels.dtype)
    return dataclasses.replace(test_f, labels=renumbered[test_f.labels], classes=list(train_f.classes))


def _load_pair(train: str | Path, test: str | Path) -> tuple[Any, Any]:
    """Train and test features that can be compared: one model, one preprocessing, one list of classes, two or
    more classes to tell apart."""

    train_f, test_f = _load_labelled(train, "train"), _load_labelled(test, "test")
    for field, what in (("weights_sha256", "models (weights sha256"), ("preprocessing", "preprocessing (")):
        a, b = getattr(train_f, field), getattr(test_f, field)
        if a != b:
            shown = (a[:12], b[:12]) if field == "weights_sha256" else (a, b)
            raise DataError(
                f"{train} and {test}: extracted with different {what} {shown[0]} vs {shown[1]}); "
                "extract both with the same model"
            )
    test_f = _numbered_as_train(train_f, test_f, where=f"{train} and {test}")
    if train_f.images_sha256 and train_f.images_sha256 == test_f.images_sha256:
        warnings.warn(f"{train} and {test}: features of the same images; {SELF_RECALL}", stacklevel=2)
    elif shared := len(set(test_f.image_keys()) & set(train_f.image_keys())):  # a --limit of one, a split in another
        warnings.warn(
            f"{train} and {test}: {shared} of the {len(test_f.paths)} test images are train images too; {SELF_RECALL}",
            stacklevel=2,
        )
    present = sorted({int(label) for label in train_f.labels})
    if len(present) < 2:
        names = ", ".join(train_f.classes[i] for i in present) or "none"
        raise DataError(f"{train}: images of {len(present)} class ({names}); a classifier needs at least two")
    if untrained := untrained_classes(present, test_f.labels, test_f.classes):
        raise DataError(
            f"{train}: no features of the test classes {listed(untrained, limit=5)} (a --limit, or images that did not "
            "decode, left them out), which nothing trained there can predict"
        )
    return train_f, test_f


def _inputs(train: str | Path, test: str | Path, features: Any) -> dict[str, str]:
    """What a result was computed from: the two feature folders (absolute: the result may be read from elsewhere),
    and the model and preprocessing that embedded both."""
    return {
        "train": os.path.abspath(train),
        "test": os.path.abspath(test),
        "weights_sha256": features.weights_sha256,
        "preprocessing": features.preprocessing,
    }


def _tensors(train: Any, test: Any) -> tuple[Any, Any, Any, Any]:
    """(train embeddings, train labels, test embeddings, test labels), as the evaluations take them."""
    return train.embeddings, train.labels, test.embeddings, test.labels


def evaluate_knn(
    train: str | Path,
    test: str | Path,
    *,
    ks: Sequence[int] = (20, 200),
    temperature: float = 0.07,
    device: str | None = None,
) -> dict[str, Any]:
    """Weighted cosine kNN (InstDisc/DINO protocol) of test features against train features."""
    ks = as_sequence("ks", ks, example="(20, 200)")
    train_f, test_f = _load_pair(train, test)
    accuracies = knn_accuracy(*_tensors(train_f, test_f), ks=ks, temperature=temperature, device=device)
    return {
        "evaluation": "knn",
        **_inputs(train, test, train_f),
        "temperature": temperature,
        "num_train": len(train_f.labels),
        "num_test": len(test_f.labels),
        "top1": {str(k): accuracy for k, accuracy in accuracies.items()},
        # a k beyond the train features is clamped to them (kNN's keys stay the ks asked for)
        "neighbours": {str(k): min(k, len(train_f.labels)) for k in accuracies},
    }


def evaluate_linear(
    train: str | Path,
    test: str | Path,
    *,
    weight_decays: Sequence[float] = DEFAULT_WEIGHT_DECAYS,
    device: str | None = None,
) -> dict[str, Any]:
    """L-BFGS logistic regression on cached features, weight decay chosen on a held-out split of train."""
    weight_decays = check_weight_decays(weight_decays)
    train_f, test_f = _load_pair(train, test)
    if int(class_sizes(train_f.labels).max()) < 2:  # linear_probe_sweep's ValueError, named as the input it is
        raise DataError(f"{train}: each class has one image, which leaves none to choose the weight decay on")
    sweep = linear_probe_sweep(
        *_tensors(train_f, test_f), weight_decays=weight_decays, device=device, **LINEAR_PROBE_SETTINGS
    )
    return {
        "evaluation": "linear",
        **_inputs(train, test, train_f),
        "num_train": len(train_f.labels),
        "num_test": len(test_f.labels),
        "top1": sweep["test_accuracy"],
        "weight_decay": sweep["weight_decay"],
        "val_top1": {f"{wd:g}": accuracy for wd, accuracy in sweep["val_accuracies"].items()},
        **LINEAR_PROBE_SETTINGS,
    }


def check_result_path(path: str | Path, *, evaluation: str, inputs: Iterable[str | Path | None] = ()) -> Path:
    """`path` as an absolute path if a result of `evaluation` may be written there: new, or a result file of that
    same evaluation, never a folder, another file or another command's result, nor a path in one of `inputs` (a
    features folder, MODEL's) or in a hub folder, such as a classifier's `finetune.json` (OutputRefused). Commands
    check it before they run."""
    return check_output_file(path, ours=lambda file: _result_of(file) == evaluation, inputs=inputs)


def write_result(result: dict[str, Any], path: str | Path) -> None:
    """The result as JSON at `path`, where `check_result_path` allows it."""
    target = check_result_path(path, evaluation=result["evaluation"])
    atomic_write_text(target, json.dumps(result, indent=2) + "\n")


def _result_of(path: Path) -> str | None:
    """The evaluation whose result `path` holds, or None (not a result this project wrote)."""
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return None
    # Every result names its sizes and scores (rows: eval transfer's); a user's JSON of an "evaluation" is no result.
    if not isinstance(saved, dict) or not (("top1" in saved and "num_train" in saved) or "rows" in saved):
        return None
    return saved.get("evaluation") if isinstance(saved.get("evaluation"), str) else None
