"""Evaluations that train networks: the paper's linear protocol, semi-supervised fine-tuning, transfer.

Data (`DataArg`): `"fashion_mnist"` (train split to train, test split to evaluate), `"digits"` (sklearn's 8x8
digits, upsampled, see `digits_datasets`), an image-folder root with `train/` and `val/` (or `test/`) class
sub-folders, a `(train, test)` pair of such class folders, or a `(train, test)` pair of datasets yielding
`(uint8 (3, H, W), label)` with a `labels` tensor.
`train_limit` / `test_limit` cap each split: the first N of Fashion-MNIST (stored in random order, and what
`extract --limit` takes), a seeded random N of anything else (folders are ordered by class).

Each protocol takes what it trains as `schedule=` (a `Schedule`; the linear protocol a `LinearProtocolSchedule`)
and how it runs as `run=` (`RunOptions`: the caps above, where the model is loaded from, device, seed, workers).
"""

from simsiam_zoo.protocols.classifier import finetune_classifier
from simsiam_zoo.protocols.linear import linear_protocol
from simsiam_zoo.protocols.semi import semi_supervised, semi_supervised_subsets
from simsiam_zoo.protocols.shared import FINETUNE_SCHEDULE, LINEAR_PROTOCOL_SCHEDULE, ModelArg
from simsiam_zoo.protocols.splits import DataArg, Splits, TensorImages, digits_datasets, resolve_data
from simsiam_zoo.protocols.transfer import MODES, transfer

__all__ = [
    "FINETUNE_SCHEDULE",
    "LINEAR_PROTOCOL_SCHEDULE",
    "MODES",
    "DataArg",
    "ModelArg",
    "Splits",
    "TensorImages",
    "digits_datasets",
    "finetune_classifier",
    "linear_protocol",
    "resolve_data",
    "semi_supervised",
    "semi_supervised_subsets",
    "transfer",
]
