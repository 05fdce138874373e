"""Evaluation on cached features: weighted kNN, L-BFGS linear probe and label subsets."""

from __future__ import annotations

from simsiam_zoo.evaluate._validation import SELF_RECALL, check_features, untrained_classes
from simsiam_zoo.evaluate.knn import knn_accuracy, knn_classify
from simsiam_zoo.evaluate.linear_probe import (
    DEFAULT_WEIGHT_DECAYS,
    LinearProbe,
    SweepResult,
    fit_linear_probe,
    linear_probe_sweep,
    weight_decay_to_sklearn_c,
)
from simsiam_zoo.evaluate.subsets import balanced_label_subset, class_sizes, read_subset_file

__all__ = [
    "DEFAULT_WEIGHT_DECAYS",
    "LinearProbe",
    "SweepResult",
    "balanced_label_subset",
    "check_features",
    "class_sizes",
    "fit_linear_probe",
    "knn_accuracy",
    "knn_classify",
    "linear_probe_sweep",
    "read_subset_file",
    "untrained_classes",
    "SELF_RECALL",
    "weight_decay_to_sklearn_c",
]
