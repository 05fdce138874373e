"""The zoo: one explicit registry of `arch.tag` names, each a frozen record (schema.py), the methods they were
trained with (methods.py), the records themselves (entries.py), lookup (lookup.py) and the verified download of an
entry's original file (download.py, imported on its own: listing the zoo needs no HTTP client)."""

from simsiam_zoo.zoo.entries import ALIASES, FASHION_MNIST_PREPROCESSING, ZOO
from simsiam_zoo.zoo.lookup import find_entry, get_entry, select_entries
from simsiam_zoo.zoo.methods import METHODS
from simsiam_zoo.zoo.schema import IMAGENET_EVAL, MIRROR_ORG, REDISTRIBUTABLE, Result, Source, ZooEntry

__all__ = [
    "ALIASES",
    "FASHION_MNIST_PREPROCESSING",
    "IMAGENET_EVAL",
    "METHODS",
    "MIRROR_ORG",
    "REDISTRIBUTABLE",
    "ZOO",
    "Result",
    "Source",
    "ZooEntry",
    "find_entry",
    "get_entry",
    "select_entries",
]
