"""`ImageSource`, the one abstraction of DATA (a listing of images and labels, wherever the bytes are), its
dataset, and the fingerprints that tell one listing from another."""

from __future__ import annotations

import bisect
import dataclasses
import functools
import hashlib
import io
import itertools
import json
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch.utils.data import Dataset

from simsiam_zoo.data.decode import decode_image
from simsiam_zoo.data.wrappers import LabelledSubset
from simsiam_zoo.errors import DataError, listed

NAMED_SOURCES = {"fashion_mnist": "train", "fashion_mnist:train": "train", "fashion_mnist:test": "test"}


_NAMED_LISTED = 5  # skipped entries named in the warning of a training or evaluation source; the rest are counted


class _MemberReader:
    """Tar members read through one open file per process, kept while the reads stay in its shard: a process
    reading its samples in order goes through each shard front to back, a stream to the OS, which reads ahead.
    `os.pread` leaves the file position alone, so workers forked with the file open share it safely."""

    def __init__(self) -> None:
        self.file: io.BufferedReader | None = None

    def read(self, shard: Path, offset: int, size: int) -> bytes:
        if self.file is None or self.file.name != str(shard):
            if self.file is not None:
                self.file.close()
            try:
                self.file = open(str(shard), "rb")  # noqa: SIM115 - kept open across reads, closed on the next shard
            except OSError as error:
                self.file = None
                raise DataError(f"{shard}: cannot read tar shard: {error.strerror}") from None
        return os.pread(self.file.fileno(), size, offset)

    def __getstate__(self) -> dict[str, Any]:
        return {}  # a copy in another process (a spawned worker) opens its own file

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.file = None

    def __del__(self) -> None:
        if self.file is not None:
            self.file.close()


@dataclass(frozen=True)
class ImageSource:
    """Ordered entries and how to load entry i as uint8 (3, H, W).

    `paths` are the names recorded for the entries (relative to the folder, as listed, or dataset/split/i);
    `labels` index `classes`, -1 when unknown; `skipped` maps the positions of entries that are not images to why.
    """

    kind: Literal["folder", "list", "dataset", "tar", "hf"]
    location: str
    paths: list[str]
    labels: list[int]
    classes: list[str]
    files: list[Path] = field(default_factory=list)  # per entry, for folder, list and tar sources (shard/member)
    dataset: Dataset | None = None  # named and Hugging Face sources: entry i is dataset[i][0]
    skipped: dict[int, str] = field(default_factory=dict)
    members: list[tuple[Path, int, int]] = field(default_factory=list)  # tar sources: (shard, offset, size) per entry
    # Hugging Face sources: the parquet or Arrow files the rows are in, the rows of each (where each row is, to tell
    # two splits that share rows), and the image files rows refer to by path (the images themselves, to tell an edit).
    data_files: list[Path] = field(default_factory=list)
    data_rows: list[int] = field(default_factory=list)
    linked_files: dict[int, Path] = field(default_factory=dict)
    cache_files: list[Path] = field(default_factory=list)  # datasets' Arrow cache of them, which versions before listed
    reader: _MemberReader = field(default_factory=_MemberReader, repr=False, compare=False)

    def load(self, position: int) -> torch.Tensor:
        if self.dataset is not None:
            return self.dataset[position][0]
        if self.members:
            return decode_image(self.files[position], self.reader.read(*self.members[position]))
        return decode_image(self.files[position])

    def tar_starts(self, positions: Sequence[int] | None = None) -> list[int]:
        """Where a tar shard other than the first begins, in the list of entries or of those at `positions` (none
        for other sources)."""
        if not self.members:
            return []
        shards = [self.members[i][0] for i in (range(len(self.members)) if positions is None else positions)]
        return [i for i in range(1, len(shards)) if shards[i] != shards[i - 1]]

    def head(self, limit: int) -> ImageSource:
        """The entries up to the `limit`-th image: the ones skipped before it are kept, as listed, but not counted.
        The rest of the listing stays whole (a Hugging Face dataset's Arrow files, which tell a rewrite)."""
        images = (i for i in range(len(self.paths)) if i not in self.skipped)
        # islice refuses a start beyond sys.maxsize: a limit past the listing is the listing
        start = max(min(limit, len(self.paths)), 1) - 1  # an empty listing stays empty ("no images found")
        end = next(itertools.islice(images, start, None), len(self.paths) - 1) + 1
        return dataclasses.replace(
            self,
            paths=self.paths[:end],
            labels=self.labels[:end],
            files=self.files[:end],
            skipped={i: reason for i, reason in self.skipped.items() if i < end},
            members=self.members[:end],
            reader=_MemberReader(),
        )

    def images(self) -> SourceImages:
        """The entries that are images, as a dataset of (image, label); the skipped ones said in a warning."""
        if self.skipped:
            reasons = [f"{self.paths[i]}: {reason}" for i, reason in self.skipped.items()]
            warnings.warn(
                f"{self.location}: skipped {len(self.skipped)} of {len(self.paths)} entries, not images "
                f"({listed(reasons, limit=_NAMED_LISTED, separator='; ')})",
                stacklevel=2,
            )
        return SourceImages(self, [i for i in range(len(self.paths)) if i not in self.skipped])


class SourceImages(Dataset):
    """The images of an ImageSource: `(uint8 (3, H, W), label)`, with `labels`, `paths` and `classes`."""

    def __init__(self, source: ImageSource, positions: list[int]):
        self.source, self.positions = source, positions
        self.labels = torch.tensor([source.labels[i] for i in positions], dtype=torch.int64)
        self.paths = [source.paths[i] for i in positions]
        self.classes = source.classes

    def __len__(self) -> int:
        return len(self.positions)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.source.load(self.positions[index]), int(self.labels[index])

    def tar_starts(self) -> list[int]:
        return self.source.tar_starts(self.positions)


def numbered_alike(train_classes: Sequence[str], test_classes: Sequence[str]) -> bool:
    """Whether a test set's labels name the classes that the same numbers name in a training set: its classes are
    the training set's first ones (all of them, or a test split without the last; tar shards' classes are their
    numbers up to the largest label)."""
    return list(test_classes) == list(train_classes[: len(test_classes)])


def unlabelled(labels: torch.Tensor, paths: Sequence[object] | None = None) -> str | None:
    """None when every image has a label, else how many have none (label -1), naming the first when `paths` are
    known: the one wording of every "these images have no label" refusal or warning."""
    missing = (torch.as_tensor(labels) < 0).nonzero().flatten()
    if len(missing) == 0:
        return None
    first = f", the first {paths[int(missing[0])]}" if paths is not None else ""
    return f"{len(missing)} of {len(labels)} images have no label{first}"


def _size_and_mtime(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None  # a missing file is skipped at decoding and listed as such
    return stat.st_size, stat.st_mtime_ns


def listing_sha256(source: ImageSource, *, file_stats: bool = True) -> str:
    """What the entries are: their names and labels, and with `file_stats` each file's size and mtime (an edit in
    place shows); for tar shards each shard's, once; for a Hugging Face dataset its Arrow files'."""
    listing: list[Any] = [source.paths, source.labels, sorted(source.skipped.items())]
    if file_stats:
        shards = dict.fromkeys(shard for shard, _, _ in source.members)
        listing.append([_size_and_mtime(shard) for shard in shards] or [_size_and_mtime(p) for p in source.files])
        if source.data_files:  # a Hugging Face dataset rewritten in place: its Arrow files change
            listing.append([_size_and_mtime(path) for path in source.data_files])
        if source.linked_files:
            listing.append([[row, str(path), _size_and_mtime(path)] for row, path in source.linked_files.items()])
    return hashlib.sha256(json.dumps(listing).encode()).hexdigest()


def former_listing_sha256(source: ImageSource) -> str | None:
    """`listing_sha256` as versions before computed it for a Hugging Face source: over datasets' Arrow cache of
    its files (not the files), without the image files rows refer to; None for other sources. A store they wrote
    resumes."""
    if not source.cache_files:
        return None
    return listing_sha256(dataclasses.replace(source, data_files=source.cache_files, linked_files={}))


def dataset_fingerprint(dataset: Dataset, *, file_stats: bool = True) -> str:
    """sha256 of what a training set's items are, so that work saved for one is never resumed on another: images
    of a source (or a subset) by the source's listing (`listing_sha256`), its class names and the positions taken;
    other datasets (in memory) by their labels and image tensors."""
    return _fingerprint(
        dataset, lambda images: [images.positions, images.classes, listing_sha256(images.source, file_stats=file_stats)]
    )


def images_fingerprint(dataset: Dataset) -> str:
    """`dataset_fingerprint` of the images alone: their names, labels and class names. Entries that are no image (a
    README beside them) and file times change nothing: what pretraining's resume checks."""
    return _fingerprint(dataset, lambda images: [images.classes, images.paths, images.labels.tolist()])


def _fingerprint(dataset: Dataset, describe: Callable[[SourceImages], list[Any]]) -> str:
    """sha256 of `describe` of the source images under `dataset`'s subsets and wrappers (and the subsets' indices),
    or of an in-memory dataset's labels and image tensors."""
    digest = hashlib.sha256()
    while True:
        if isinstance(dataset, LabelledSubset):
            digest.update(json.dumps(["subset", dataset.indices]).encode())
            dataset = dataset.dataset
        elif isinstance(dataset, SourceImages):
            digest.update(json.dumps(describe(dataset)).encode())
            return digest.hexdigest()
        elif isinstance(getattr(dataset, "dataset", None), Dataset):  # a wrapper: Transformed, NextIfUndecodable
            dataset = dataset.dataset
        else:
            for name in ("labels", "images"):
                value = getattr(dataset, name, None)
                if isinstance(value, torch.Tensor):
                    digest.update(value.detach().cpu().contiguous().numpy().tobytes())
            classes = getattr(dataset, "classes", None)
            digest.update(json.dumps([type(dataset).__name__, len(dataset), classes], default=str).encode())
            return digest.hexdigest()


def image_keys(dataset: Dataset) -> list[str] | None:
    """Where each item's image is (a file through its folder's real path, a tar member, a named dataset's entry), so
    that two splits can be told to share images; None for a dataset of other items (in memory)."""
    if isinstance(dataset, LabelledSubset):
        inner = image_keys(dataset.dataset)
        return None if inner is None else [inner[i] for i in dataset.indices]
    if not isinstance(dataset, SourceImages):
        paths = getattr(dataset, "paths", None)  # the digits' "digits/INDEX"
        return [f"{type(dataset).__name__}:{path}" for path in paths] if paths is not None else None
    source, real = dataset.source, functools.lru_cache(maxsize=None)(os.path.realpath)
    if source.members:  # (shard, offset, size)
        return [f"{real(source.members[i][0])}@{source.members[i][1]}" for i in dataset.positions]
    if source.files:
        return [os.path.join(real(source.files[i].parent), source.files[i].name) for i in dataset.positions]
    if source.data_rows:  # a Hugging Face row: its file and its row there (two patterns may share files)
        starts = list(itertools.accumulate(source.data_rows, initial=0))
        where = [bisect.bisect_right(starts, i) - 1 for i in dataset.positions]
        return [f"{real(source.data_files[f])}@{i - starts[f]}" for f, i in zip(where, dataset.positions, strict=True)]
    where = source.location if source.kind == "dataset" or ":" in source.location else real(source.location)
    return [f"{where}:{source.paths[i]}" for i in dataset.positions]
