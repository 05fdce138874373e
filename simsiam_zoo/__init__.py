"""simsiam-zoo: SimSiam recipes, a timm-compatible model zoo, feature extraction and evaluation."""

from simsiam_zoo.extract import extract_features, load_features
from simsiam_zoo.hub.loader import create_backbone, load_backbone
from simsiam_zoo.losses import normalized_std, simsiam_loss
from simsiam_zoo.model import SimSiam
from simsiam_zoo.recipe import Recipe, load_recipe
from simsiam_zoo.train import train

__all__ = [
    "Recipe",
    "SimSiam",
    "create_backbone",
    "extract_features",
    "load_backbone",
    "load_features",
    "load_recipe",
    "normalized_std",
    "simsiam_loss",
    "train",
]
__version__ = "0.1.0"
