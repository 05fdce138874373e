"""simsiam-zoo: SimSiam recipes, a timm-compatible model zoo, feature extraction and evaluation.

The names below load their modules (and torch) on first use, so that `simsiam-zoo --help` and recipe reading
start without the deep-learning stack.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "Recipe": "simsiam_zoo.recipe",
    "SimSiam": "simsiam_zoo.model",
    "extract_features": "simsiam_zoo.features",
    "load_backbone": "simsiam_zoo.loader",
    "load_features": "simsiam_zoo.features",
    "load_recipe": "simsiam_zoo.recipe",
    "normalized_std": "simsiam_zoo.losses",
    "simsiam_loss": "simsiam_zoo.losses",
    "train": "simsiam_zoo.pretrain",
}
__all__ = [
    "Recipe",
    "SimSiam",
    "extract_features",
    "load_backbone",
    "load_features",
    "load_recipe",
    "normalized_std",
    "simsiam_loss",
    "train",
]
__version__ = "0.1.0"

if TYPE_CHECKING:
    from simsiam_zoo.features import extract_features, load_features
    from simsiam_zoo.loader import load_backbone
    from simsiam_zoo.losses import normalized_std, simsiam_loss
    from simsiam_zoo.model import SimSiam
    from simsiam_zoo.pretrain import train
    from simsiam_zoo.recipe import Recipe, load_recipe


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'simsiam_zoo' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
