"""What a protocol trains and tests on: a DATA argument resolved to labelled train and test splits, capped."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from simsiam_zoo.data import (
    TRANSFER_SUITE,
    FashionMNIST,
    LabelledSubset,
    held_out_folder,
    held_out_images,
    image_keys,
    labelled_images,
    unlabelled,
)
from simsiam_zoo.errors import DataError, listed, shown_value, type_name
from simsiam_zoo.evaluate import SELF_RECALL
from simsiam_zoo.evaluate.subsets import balanced_label_subset
from simsiam_zoo.options import RunOptions

DataArg = str | Path | tuple[Dataset, Dataset] | tuple[str | Path, str | Path]


class TensorImages(Dataset):
    """In-memory uint8 (N, 3, H, W) images with their labels."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, *, classes: Sequence[str], paths: Sequence[str]):
        self.images, self.labels, self.classes, self.paths = images, labels, list(classes), list(paths)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.images[index], int(self.labels[index])


def digits_datasets(*, image_size: int = 32) -> tuple[TensorImages, TensorImages]:
    """sklearn's 8x8 digits as (train, test): bilinear-upsampled 3-channel uint8, one stratified 80/20 split (drawn
    with seed 0 whatever a run's seed, as another dataset's test split is fixed: scores of two seeds compare)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    pixels = torch.from_numpy(digits.images).float()[:, None]  # (N, 1, 8, 8), values 0..16
    upsampled = F.interpolate(pixels, size=(image_size, image_size), mode="bilinear", align_corners=False)
    images = (upsampled * (255 / 16)).round().clamp(0, 255).to(torch.uint8).expand(-1, 3, -1, -1).contiguous()
    labels = torch.from_numpy(digits.target).long()
    is_test = torch.zeros(len(labels), dtype=torch.bool)
    is_test[balanced_label_subset(labels, fraction=0.2, seed=0)] = True
    classes = [str(d) for d in range(10)]

    def split(mask: torch.Tensor) -> TensorImages:
        indices = mask.nonzero().squeeze(1)
        # Paths keep the index into load_digits(), so a subset file can name digits images.
        return TensorImages(
            images[indices], labels[indices], classes=classes, paths=[f"digits/{i}" for i in indices.tolist()]
        )

    return split(~is_test), split(is_test)


@dataclass(frozen=True)
class Splits:
    name: str
    train: Dataset
    test: Dataset
    classes: list[str]
    # (location, limit) that `extract_features` reads for each split; None: only available in memory.
    train_source: tuple[str, int | None] | None = None
    test_source: tuple[str, int | None] | None = None
    # Train's index of each class of the test source, where its own numbering differs (a val/ lacking a class).
    test_label_map: tuple[int, ...] | None = None

    def stored_labels(self, split: str, labels: torch.Tensor) -> torch.Tensor:
        """The labels of a split's extracted features (the source's own numbering) as train numbers the classes."""
        if split == "test" and self.test_label_map is not None:
            return torch.tensor(self.test_label_map, dtype=labels.dtype)[labels]
        return labels


def labels_of(dataset: Dataset, role: str) -> torch.Tensor:
    labels = getattr(dataset, "labels", None)
    if labels is None:
        raise DataError(f"the {role} dataset ({type(dataset).__name__}) has no `labels` tensor")
    labels = torch.as_tensor(labels)
    if len(labels) == 0:
        raise DataError(f"the {role} dataset is empty")
    problem = unlabelled(labels, getattr(dataset, "paths", None))
    if problem:
        raise DataError(f"the {role} dataset: {problem}; evaluations need class labels")
    return labels


def paths_of(dataset: Dataset) -> list[str]:
    if isinstance(dataset, LabelledSubset):
        inner = paths_of(dataset.dataset)
        return [inner[i] for i in dataset.indices]
    paths = getattr(dataset, "paths", None)
    if paths is None:
        raise DataError(f"{type(dataset).__name__} has no `paths`, so a subset file cannot name its images")
    return [str(p) for p in paths]


def _cap(dataset: Dataset, limit: int | None, *, seed: int) -> Dataset:
    if limit is None or limit >= len(dataset):
        return dataset
    if limit < 1:
        raise ValueError(f"a limit must be >= 1, got {limit}")
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))
    return LabelledSubset(dataset, order[:limit].sort().values.tolist())


def _head(dataset: Dataset, limit: int | None) -> Dataset:
    return LabelledSubset(dataset, range(limit)) if limit is not None and limit < len(dataset) else dataset


def _folders(
    name: str,
    train_dir: str | Path,
    test_dir: str | Path,
    *,
    train_limit: int | None,
    test_limit: int | None,
    seed: int,
) -> Splits:
    """Two sources (folders, files, or a suite dataset's `NAME:train` and `NAME:test`) as splits."""
    train = labelled_images(train_dir)
    test, test_label_map = held_out_images(test_dir, train, train_name=train_dir)
    capped_train, capped_test = _cap(train, train_limit, seed=seed), _cap(test, test_limit, seed=seed)
    # Whole splits go through extract_features (cached, resumable), sampled ones are embedded in memory; a test
    # split's store holds its own class numbers, which `Splits.stored_labels` maps to train's.
    return Splits(
        name,
        capped_train,
        capped_test,
        train.classes,
        (str(train_dir), None) if capped_train is train else None,
        (str(test_dir), None) if capped_test is test else None,
        test_label_map,
    )


def check_data_arg(data: object) -> None:
    """A `DataArg` by its type (a pair's members are checked as it opens): None or a number failed in Path()."""
    if not isinstance(data, (str, os.PathLike, tuple, list)):
        raise TypeError(
            f"data must be a dataset name, a folder or a (train, test) pair, got {shown_value(data)} "
            f"({type_name(data)})"
        )


def resolve_data(
    data: DataArg, *, train_limit: int | None = None, test_limit: int | None = None, seed: int = 0
) -> Splits:
    """Train and test datasets (and, when on disk, their extraction sources) for a `DataArg`.

    A pair of folders (train, test) is accepted as well as a pair of datasets.
    """
    check_data_arg(data)
    if isinstance(data, (tuple, list)):
        if len(data) != 2:
            raise ValueError(f"expected a (train, test) pair, got {len(data)} items")
        if all(isinstance(d, (str, Path)) for d in data):
            return _folders(  # as given: a string may name a suite dataset's split (`cifar10:test`), a Path not
                f"{data[0]}+{data[1]}",
                data[0],
                data[1],
                train_limit=train_limit,
                test_limit=test_limit,
                seed=seed,
            )
        train, test = _cap(data[0], train_limit, seed=seed), _cap(data[1], test_limit, seed=seed)
        num_classes = int(max(labels_of(train, "train").max(), labels_of(test, "test").max())) + 1
        classes = getattr(data[0], "classes", None) or [str(i) for i in range(num_classes)]
        return Splits("datasets", train, test, list(classes))
    if data == "fashion_mnist":
        train, test = FashionMNIST(split="train"), FashionMNIST(split="test")
        return Splits(
            "fashion_mnist",
            _head(train, train_limit),
            _head(test, test_limit),
            list(FashionMNIST.classes),
            ("fashion_mnist", train_limit),
            ("fashion_mnist:test", test_limit),
        )
    if data == "digits":
        train, test = digits_datasets()
        return Splits("digits", _cap(train, train_limit, seed=seed), _cap(test, test_limit, seed=seed), train.classes)
    if isinstance(data, str) and data in TRANSFER_SUITE:
        return _folders(
            data, f"{data}:train", f"{data}:test", train_limit=train_limit, test_limit=test_limit, seed=seed
        )
    root = Path(data)
    test_dir = held_out_folder(root)
    if not (root / "train").is_dir() or test_dir is None:
        raise DataError(
            f"{root}: expected train/ and val/ (or test/ or validation/) class sub-folders, or a named dataset "
            f"(fashion_mnist, digits, {', '.join(TRANSFER_SUITE)})"
        )
    return _folders(str(root), root / "train", test_dir, train_limit=train_limit, test_limit=test_limit, seed=seed)


def labelled_splits(data: DataArg, run: RunOptions) -> Splits:
    """`resolve_data` with the run's caps, checked to have a class name for every label, two classes or more to
    train on, and train images of every class it is tested on."""
    splits = resolve_data(data, train_limit=run.train_limit, test_limit=run.test_limit, seed=run.seed)
    for dataset, role in ((splits.train, "train"), (splits.test, "test")):
        top = int(labels_of(dataset, role).max())
        if top >= len(splits.classes):
            raise DataError(f"{splits.name}: {role} label {top} but only {len(splits.classes)} classes")
    present = torch.unique(labels_of(splits.train, "train")).tolist()
    if len(present) < 2:
        names = ", ".join(splits.classes[i] for i in present if i >= 0) or "none"
        raise DataError(
            f"{splits.name}: training images of {len(present)} class ({names}); a classifier needs at least two"
        )
    _check_trained_classes(splits, run)
    warn_if_shared(splits, named=splits.name)
    return splits


def warn_if_shared(splits: Splits, *, named: str) -> None:
    """A warning when test images are train images too (`TRAIN,TEST` of one split, a val/ linked to train/): a
    score on them measures how the features recall their own images, as `eval knn` warns too."""
    train, test = image_keys(splits.train), image_keys(splits.test)
    shared = len(set(test) & set(train)) if train is not None and test is not None else 0
    if shared:
        warnings.warn(
            f"{named}: {shared} of its {len(test)} test images are train images too; {SELF_RECALL}", stacklevel=3
        )


def untrained_classes(splits: Splits) -> list[str]:
    """The names of the test split's classes without a train image: their test images could never be right, and
    the score would fall in silence (the protocols and `benchmark` refuse such splits)."""
    trained = set(labels_of(splits.train, "train").tolist())
    untrained = sorted(set(labels_of(splits.test, "test").tolist()) - trained)
    return [splits.classes[i] if i < len(splits.classes) else str(i) for i in untrained]


def _check_trained_classes(splits: Splits, run: RunOptions) -> None:
    if untrained := untrained_classes(splits):
        cap = f" (or --train-limit {run.train_limit} left them out)" if run.train_limit is not None else ""
        raise DataError(f"{splits.name}: test classes with no train image{cap}: {listed(untrained, limit=5)}")
