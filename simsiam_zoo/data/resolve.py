"""A DATA argument (a path, a pattern or a name) to its `ImageSource`, and the labelled images for training."""

from __future__ import annotations

import dataclasses
import difflib
from pathlib import Path

from simsiam_zoo.data.builtin import FashionMNIST
from simsiam_zoo.data.decode import IMAGE_EXTENSIONS
from simsiam_zoo.data.folder import read_list, scan_folder
from simsiam_zoo.data.hf import is_saved_hf_dataset, read_hf_files, read_hub_dataset, read_saved_hf_dataset
from simsiam_zoo.data.source import NAMED_SOURCES, ImageSource, SourceImages, numbered_alike
from simsiam_zoo.data.suite import TRANSFER_SUITE
from simsiam_zoo.data.tar import read_tars
from simsiam_zoo.errors import DataError, listed


def is_named_source(data: str | Path) -> bool:
    """Whether DATA names a dataset (`fashion_mnist[:split]`, a transfer-suite name[:split]): a string only, as a
    command gets it (a Path drops the `./` that makes `./cifar10` a folder)."""
    return isinstance(data, str) and data.split(":")[0] in ("fashion_mnist", *TRANSFER_SUITE)


def open_source(data: str | Path, *, limit: int | None = None) -> ImageSource:
    """A named dataset (`fashion_mnist[:split]`, or a transfer-suite name such as `cifar10[:train|:test]`, read
    from the Hugging Face Hub), an image folder, a text file listing image paths, WebDataset tar
    shards (`train-{000000..000099}.tar`: each sample's image and `.cls` label, in the shards' order), or a Hugging
    Face dataset: a folder written by `save_to_disk`, or parquet / arrow files (`data/train-*.parquet`) with an
    image column and a label column (read with the `datasets` library, which prepares its Arrow cache once)."""
    if is_named_source(data) and data.split(":")[0] in TRANSFER_SUITE:
        name, colon, role = data.partition(":")
        if role not in ("", "train", "test") or (colon and not role):  # `cifar10:$SPLIT` with SPLIT unset
            raise DataError(f"{data!r}: a suite dataset's split is :train or :test, got {role!r}")
        source = read_hub_dataset(TRANSFER_SUITE[name], role or "train")
    elif is_named_source(data):  # fashion_mnist[:split]
        if data not in NAMED_SOURCES:
            raise DataError(f"unknown named source {data!r}; expected one of {', '.join(NAMED_SOURCES)}")
        split = NAMED_SOURCES[data]
        dataset = FashionMNIST(split=split)
        source = ImageSource(
            "dataset",
            f"fashion_mnist:{split}",
            list(dataset.paths),
            dataset.labels.tolist(),
            list(dataset.classes),
            dataset=dataset,
        )
    else:
        path = Path(data)
        if path.is_symlink() and not path.exists():
            raise DataError(f"{path}: not a folder or file: a link that leads nowhere (broken, or a loop)")
        if path.is_dir() and is_saved_hf_dataset(path):
            source = read_saved_hf_dataset(path)
        elif path.is_dir():  # also a folder whose name ends in .tar
            source = scan_folder(path)
        elif str(data).endswith((".tar", ".tar.gz", ".tgz")):  # compressed ones are refused, naming the shard
            source = read_tars(str(data))
        elif str(data).endswith((".parquet", ".arrow")):
            source = read_hf_files(str(data))
        elif path.is_file():
            source = read_list(path)
        elif path.exists():  # `<(find ...)` too: a list is read again on a resume, and its paths are relative to it
            raise DataError(
                f"{path}: not a folder or a regular file (a pipe or a device); write a list of image paths "
                "to a file and give that"
            )
        else:
            raise DataError(f"{path}: no such folder or file{_named_like(str(data))}")
    if limit is not None:
        source = source.head(limit)
    if len(source.skipped) == len(source.paths):
        found = f"only {len(source.paths)} non-image entries" if source.paths else "nothing"
        raise DataError(f"{source.location}: no images found ({found}; extensions: {', '.join(IMAGE_EXTENSIONS)})")
    return source


def _named_like(data: str) -> str:
    """The named sources, for a path that does not exist: the one it is close to, or all of them."""
    named = [*NAMED_SOURCES, *TRANSFER_SUITE]
    close = difflib.get_close_matches(data.lower(), named, n=1, cutoff=0.8)
    if close:
        return f"; did you mean the named source {close[0]}?"
    return f" (named sources: {', '.join(NAMED_SOURCES)}; the transfer suite's: {', '.join(TRANSFER_SUITE)})"


def labelled_images(data: str | Path) -> SourceImages:
    """The images of a source for training or evaluation (`open_source`: a folder, tar shards, a Hugging Face
    dataset, ...), with their labels; a folder's empty class folders are refused."""
    images = open_source(data).images()
    present = set(images.labels.tolist())
    # As torchvision's ImageFolder: a class with no images would be a label nothing can predict or be scored on.
    empty = [name for i, name in enumerate(images.classes) if i not in present]
    if empty and images.source.kind == "folder":
        raise DataError(f"{data}: class folder(s) with no images: {', '.join(empty)}; add images or remove them")
    return images


def held_out_folder(root: Path) -> Path | None:
    """A data folder's images apart from its training images: `val/`, else `test/`, else a Hugging Face
    DatasetDict's `validation/` (after `test/`, as it was chosen before `validation/` was read); None without."""
    return next((root / name for name in ("val", "test", "validation") if (root / name).is_dir()), None)


def held_out_images(
    test_dir: str | Path, train: SourceImages, *, train_name: str | Path
) -> tuple[SourceImages, tuple[int, ...] | None]:
    """The test split's images, labelled with train's indices of their classes (matched by name), and those indices
    by the split's own (None: the same numbers). A test split may lack some of train's classes, and hold empty class
    folders (nothing to score there), but a class with test images that train lacks is refused: no classifier
    trained there can predict it. Names are matched within one kind of source only (a tar's classes are its numbers).
    """
    source = open_source(test_dir)
    images = source.images()
    if numbered_alike(train.classes, source.classes):
        return images, None
    if source.kind != train.source.kind:
        raise DataError(f"{train_name} and {test_dir} have different classes, and are not two sources of one kind")
    present = sorted(set(images.labels.tolist()) - {-1})
    unknown = [source.classes[i] for i in present if source.classes[i] not in train.classes]
    if unknown:
        raise DataError(
            f"{test_dir}: {len(unknown)} class(es) that {train_name} lacks, which no classifier trained there can "
            f"predict: {listed(unknown, limit=5)}"
        )
    index = {name: i for i, name in enumerate(train.classes)}
    to_train = tuple(index.get(name, -1) for name in source.classes)  # -1: a class train lacks, with no image
    # -1 (no label) stays; so do the entries of a class train lacks, which are skipped ones (not images)
    labels = [to_train[label] if label >= 0 else -1 for label in source.labels]
    relabelled = SourceImages(dataclasses.replace(source, labels=labels, classes=train.classes), images.positions)
    return relabelled, to_train
