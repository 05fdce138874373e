"""Features: extraction into a resumable sharded store, the store itself, and the embedding pipeline both use.

`extract` runs a source through `pipeline` into `store`; `embed_dataset` is the pipeline's in-memory path.
"""

from simsiam_zoo.digests import weights_sha256
from simsiam_zoo.features.extract import (
    ExtractSummary,
    default_num_workers,
    describe_skips,
    extract_features,
    labelled,
    labelled_features,
)
from simsiam_zoo.features.pipeline import embed_dataset
from simsiam_zoo.features.store import INDEX_FILE, SETTINGS_FILE, SKIPPED_FILE, Features, load_features

__all__ = [
    "INDEX_FILE",
    "SETTINGS_FILE",
    "SKIPPED_FILE",
    "ExtractSummary",
    "Features",
    "default_num_workers",
    "describe_skips",
    "embed_dataset",
    "extract_features",
    "labelled",
    "labelled_features",
    "load_features",
    "weights_sha256",
]
