"""What DATA is, for training, extraction and evaluation: image folders, list files, WebDataset tar shards and
Hugging Face datasets (one `ImageSource`), Fashion-MNIST idx files, fake data.

Every source yields `(uint8 tensor (3, H, W), label)`, label -1 when unknown. Random augmentation is
seeded per (seed, epoch, index) so a batch is the same whatever the worker count and after a resume.
"""

from __future__ import annotations

import bisect
import glob
import gzip
import hashlib
import io
import json
import os
import re
import struct
import tarfile
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset, Sampler

from simsiam_zoo._io import read_marker
from simsiam_zoo.errors import DataError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
# 6,000 train + 1,000 test images shipped in the package (MIT, see its LICENSE) for machines without the
# Debian package.
FASHION_MNIST_SUBSET_DIR = Path(__file__).parent / "datasets" / "fashion_mnist_subset"
FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


def decode_image(path: Path, data: bytes | None = None) -> torch.Tensor:
    """Decode any PIL-readable image (the file `path`, or its bytes `data`, e.g. a tar member that `path` names) to
    RGB uint8 (3, H, W); a DataError naming `path` otherwise."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path if data is None else io.BytesIO(data)) as image:
                image = _to_rgb(image)
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as e:
        raise DataError(f"{path}: cannot decode image: too large, possible decompression bomb: {e}") from None
    except Exception as e:
        # Malformed files make PIL raise more than OSError (struct.error, IndexError, ZeroDivisionError, ...);
        # each means only that this one file is unreadable.
        raise DataError(f"{path}: cannot decode image: {e or type(e).__name__}") from None
    return torch.from_numpy(np.asarray(image, dtype=np.uint8).copy()).permute(2, 0, 1).contiguous()


def _to_rgb(image: Image.Image) -> Image.Image:
    """RGB view of any mode: EXIF orientation applied, 16-bit scaled to 8, transparency flattened on white."""
    from PIL import ImageOps

    image = ImageOps.exif_transpose(image)
    if image.mode.startswith("I;16"):
        # 16-bit grayscale (e.g. PNG): a fixed 65535 -> 255 scale keeps relative brightness between images.
        array = np.asarray(image, dtype=np.float64)
        image = Image.fromarray(np.round(array / 257.0).astype(np.uint8))
    elif image.mode in ("I", "F"):
        # 32-bit int or float: no nominal range, so stretch to the image's own peak instead of clipping to white.
        array = np.clip(np.asarray(image, dtype=np.float64), 0.0, None)
        peak = array.max() or 1.0
        image = Image.fromarray(np.round(array * (255.0 / peak)).astype(np.uint8))
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (image.mode == "P" and "transparency" in image.info):
        image = image.convert("RGBA")
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, image)
    return image.convert("RGB")


def _read_idx(path: Path) -> np.ndarray:
    try:
        with gzip.open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise DataError(f"{path}: Fashion-MNIST file not found (apt-get install dataset-fashion-mnist)") from None
    except (OSError, EOFError) as e:
        raise DataError(f"{path}: unreadable idx.gz file: {e}") from None
    if len(data) < 8 or data[:2] != b"\x00\x00" or data[2] != 0x08:
        raise DataError(f"{path}: not an unsigned-byte idx file")
    ndim = data[3]
    shape = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(shape)):
        raise DataError(f"{path}: idx header says {shape} but holds {body.size} bytes")
    return body.reshape(shape)


def default_fashion_mnist_root() -> Path:
    if (FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").exists():
        return FASHION_MNIST_DIR
    warnings.warn(
        f"{FASHION_MNIST_DIR} not found (apt-get install dataset-fashion-mnist); using the 7,000-image "
        "subset shipped with simsiam-zoo",
        stacklevel=3,
    )
    return FASHION_MNIST_SUBSET_DIR


class FashionMNIST(Dataset):
    """Fashion-MNIST from its idx .gz files; 28x28 grayscale repeated to 3 channels."""

    classes = FASHION_MNIST_CLASSES

    def __init__(self, root: str | Path | None = None, *, split: str = "train"):
        root = Path(root) if root is not None else default_fashion_mnist_root()
        prefix = {"train": "train", "test": "t10k"}[split]
        self.images = torch.from_numpy(_read_idx(root / f"{prefix}-images-idx3-ubyte.gz").copy())
        self.labels = torch.from_numpy(_read_idx(root / f"{prefix}-labels-idx1-ubyte.gz").astype(np.int64))
        if len(self.images) != len(self.labels):
            raise DataError(f"{root}: {len(self.images)} images but {len(self.labels)} labels")
        self.paths = [f"fashion_mnist/{split}/{i}" for i in range(len(self.images))]

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.images[index].expand(3, -1, -1).contiguous(), int(self.labels[index])


class FakeImages(Dataset):
    """Deterministic random images whose class sets the mean colour, for tests without files."""

    def __init__(self, size: int, *, image_size: int = 32, num_classes: int = 4, seed: int = 0):
        self.size, self.image_size, self.num_classes, self.seed = size, image_size, num_classes, seed
        self.labels = torch.arange(size) % num_classes
        self.paths = [f"fake/{i}" for i in range(size)]

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + index)
        label = int(self.labels[index])
        noise = torch.randint(0, 96, (3, self.image_size, self.image_size), generator=g)
        return (noise + 40 * label).clamp(0, 255).to(torch.uint8), label


class LabelledSubset(Dataset):
    """The images at `indices` of a labelled dataset, with their `labels` (torch's Subset has none)."""

    def __init__(self, dataset: Dataset, indices: Sequence[int]):
        self.dataset, self.indices = dataset, list(indices)
        self.labels = torch.as_tensor([int(dataset.labels[i]) for i in self.indices], dtype=torch.int64)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.dataset[self.indices[index]]


class Decodable(Dataset):
    """`dataset`, where an image that does not decode (a `DataError`) is skipped, said once in a warning naming it,
    and its place taken by the next item in order that decodes: a seeded batch keeps its size and its other
    samples, on every rank and after a resume. With `strict` it is the error instead."""

    def __init__(self, dataset: Dataset, *, strict: bool = False):
        self.dataset, self.strict = dataset, strict
        self._said: set[int] = set()

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Any:
        try:
            return self.dataset[index]
        except DataError as error:
            if self.strict:
                raise
            problem = error
        for offset in range(1, len(self.dataset)):
            try:
                item = self.dataset[(index + offset) % len(self.dataset)]
            except DataError:
                continue
            if index not in self._said:
                self._said.add(index)
                warnings.warn(
                    f"{problem}; skipped (item {index} of {len(self.dataset)}), the next item that decodes "
                    "takes its place (--strict makes this an error)",
                    stacklevel=2,
                )
            return item
        raise DataError(f"none of the {len(self.dataset)} items decodes; the first: {problem}")


def rank_stretches(size: int, world_size: int, *, tar_starts: Sequence[int] = ()) -> list[range]:
    """`world_size` consecutive stretches of `range(size)`, of equal length; with at least as many tar shards as
    ranks each cut moves on to where the next tar begins, so that a rank's stretch is whole tar shards."""
    firsts = [0, *tar_starts]

    def cut(rank: int) -> int:
        even = -(-rank * size // world_size)
        if len(firsts) < world_size:
            return even
        later = bisect.bisect_left(firsts, even)
        return firsts[later] if later < len(firsts) else size

    cuts = [cut(rank) for rank in range(world_size)] + [size]
    return [range(cuts[rank], cuts[rank + 1]) for rank in range(world_size)]


def dataset_stretches(dataset: Dataset, world_size: int) -> list[range]:
    """`rank_stretches` of a dataset: its tar shards' when it has them (`SourceImages`), else equal ones."""
    tar_starts = dataset.tar_starts() if isinstance(dataset, SourceImages) else []
    return rank_stretches(len(dataset), world_size, tar_starts=tar_starts)


class EpochSampler(Sampler):
    """Shuffled per epoch from (seed, epoch), split across ranks, whole batches only.

    Yields `(epoch, index)` so the dataset can seed each sample's augmentation; `start_batch` skips the
    batches a resumed run has already trained on.

    Global shuffling (the default): global batch b is the b-th run of one permutation of every index, each rank
    taking its slice, so any number of ranks trains on the batches of one process. With `stretches` (one per rank,
    `dataset_stretches`), local shuffling: each rank permutes its own stretch only, so it reads only its own tar
    shards, which its node's page cache can keep; an epoch is the batches the smallest stretch gives. One rank's
    stretch is everything, so a single process shuffles as globally.
    """

    def __init__(
        self,
        size: int,
        *,
        batch_size: int,
        seed: int,
        epoch: int,
        rank: int = 0,
        world_size: int = 1,
        start_batch: int = 0,
        stretches: Sequence[range] | None = None,
    ):
        if stretches is not None and (len(stretches) != world_size or sum(map(len, stretches)) != size):
            raise ValueError(
                f"{len(stretches)} stretches of {sum(map(len, stretches))} indices for {world_size} "
                f"ranks and {size} indices"
            )
        per_rank = size // world_size if stretches is None else min(map(len, stretches))
        self.batches_per_epoch = per_rank // batch_size
        if self.batches_per_epoch == 0 and stretches is None:
            raise DataError(f"{size} images are fewer than one global batch of {batch_size * world_size}")
        if self.batches_per_epoch == 0:
            raise DataError(
                f"the smallest rank's stretch of the data holds {per_rank} images, fewer than one batch of {batch_size}"
            )
        self.size, self.batch_size, self.seed, self.epoch = size, batch_size, seed, epoch
        self.rank, self.world_size, self.start_batch, self.stretches = rank, world_size, start_batch, stretches

    def __len__(self) -> int:
        return (self.batches_per_epoch - self.start_batch) * self.batch_size

    def __iter__(self) -> Iterator[tuple[int, int]]:
        taken = self.batches_per_epoch * self.batch_size
        if self.stretches is None:
            g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
            order = torch.randperm(self.size, generator=g)[: taken * self.world_size]
            # Global batch b holds order[b*B*W:(b+1)*B*W]; rank r takes its r-th slice of B.
            mine = order.view(self.batches_per_epoch, self.world_size, self.batch_size)[self.start_batch :, self.rank]
        else:
            # A seed per rank, or equal stretches would be permuted alike; rank 0's is global shuffling's, so that a
            # single process shuffles as globally.
            g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch + self.rank * 1_000_000_007)
            stretch = self.stretches[self.rank]
            order = torch.randperm(len(stretch), generator=g)[:taken] + stretch.start
            mine = order.view(self.batches_per_epoch, self.batch_size)[self.start_batch :]
        for index in mine.reshape(-1).tolist():
            yield self.epoch, index


class Transformed(Dataset):
    """(transform(image), label) pairs, for evaluation."""

    def __init__(self, dataset: Dataset, transform: Callable[[torch.Tensor], torch.Tensor]):
        self.dataset, self.transform = dataset, transform

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image, label = self.dataset[index]
        return self.transform(image), label


# ---------------------------------------------------------------------------------------------- sources
# What DATA is, for training, extraction and every evaluation: one ImageSource, with one policy for what is not
# an image. Every visible entry is listed in a stable order; an entry that is not an image file by its extension,
# or a link to a folder already listed (a loop would count images twice; other linked folders are followed), is a
# skip with its reason, which extraction records and training and evaluation report; an image that does not
# decode is a skip for extraction and an error naming the file for the others, which cannot leave a sample out of
# a batch.

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
    data_files: list[Path] = field(default_factory=list)  # Hugging Face sources: the Arrow files the rows are in
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
        return ImageSource(
            self.kind,
            self.location,
            self.paths[:limit],
            self.labels[:limit],
            self.classes,
            self.files[:limit],
            self.dataset,
            {i: r for i, r in self.skipped.items() if i < limit},
            self.members[:limit],
        )

    def images(self) -> SourceImages:
        """The entries that are images, as a dataset of (image, label); the skipped ones said in a warning."""
        if self.skipped:
            listed = "; ".join(f"{self.paths[i]}: {reason}" for i, reason in list(self.skipped.items())[:_NAMED_LISTED])
            more = len(self.skipped) - _NAMED_LISTED
            warnings.warn(
                f"{self.location}: skipped {len(self.skipped)} of {len(self.paths)} entries, not images "
                f"({listed}{f'; and {more} more' if more > 0 else ''})",
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


def open_source(data: str | Path, *, limit: int | None = None) -> ImageSource:
    """A named dataset (`fashion_mnist[:split]`), an image folder, a text file listing image paths, WebDataset tar
    shards (`train-{000000..000099}.tar`: each sample's image and `.cls` label, in the shards' order), or a Hugging
    Face dataset: a folder written by `save_to_disk`, or parquet / arrow files (`data/train-*.parquet`) with an
    image column and a label column (read with the `datasets` library, which prepares its Arrow cache once)."""
    if isinstance(data, str) and data.split(":")[0] == "fashion_mnist":
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
        if path.is_dir() and any((path / name).is_file() for name in _HF_SAVED_FILES):
            source = _read_saved_hf_dataset(path)
        elif path.is_dir():  # also a folder whose name ends in .tar
            source = _scan_folder(path)
        elif str(data).endswith((".tar", ".tar.gz", ".tgz")):  # compressed ones are refused, naming the shard
            source = _read_tars(str(data))
        elif str(data).endswith((".parquet", ".arrow")):
            source = _read_hf_files(str(data))
        elif path.is_file():
            source = _read_list(path)
        else:
            raise DataError(f"{path}: no such folder or file (named sources: {', '.join(NAMED_SOURCES)})")
    if limit is not None:
        source = source.head(limit)
    if len(source.skipped) == len(source.paths):
        found = f"only {len(source.paths)} non-image entries" if source.paths else "nothing"
        raise DataError(f"{source.location}: no images found ({found}; extensions: {', '.join(IMAGE_EXTENSIONS)})")
    return source


def _size_and_mtime(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None  # a missing file is skipped at decoding and listed as such
    return stat.st_size, stat.st_mtime_ns


def listing_sha256(source: ImageSource) -> str:
    """What the entries are: their names and labels, and each file's size and mtime (an edit in place shows); for
    tar shards each shard's, once; for a Hugging Face dataset its Arrow files'."""
    shards = dict.fromkeys(shard for shard, _, _ in source.members)
    stats = [_size_and_mtime(shard) for shard in shards] or [_size_and_mtime(p) for p in source.files]
    listing = [source.paths, source.labels, sorted(source.skipped.items()), stats]
    if source.data_files:  # a Hugging Face dataset rewritten in place: its Arrow files change
        listing.append([_size_and_mtime(path) for path in source.data_files])
    return hashlib.sha256(json.dumps(listing).encode()).hexdigest()


def dataset_fingerprint(dataset: Dataset) -> str:
    """sha256 of what a training set's items are, so that work saved for one is never resumed on another: images
    of a source (or a subset) by the source's listing, its class names and the positions taken; other datasets
    (in memory) by their labels and image tensors."""
    digest = hashlib.sha256()
    while True:
        if isinstance(dataset, LabelledSubset):
            digest.update(json.dumps(["subset", dataset.indices]).encode())
            dataset = dataset.dataset
        elif isinstance(dataset, SourceImages):
            digest.update(json.dumps([dataset.positions, dataset.classes, listing_sha256(dataset.source)]).encode())
            return digest.hexdigest()
        elif isinstance(getattr(dataset, "dataset", None), Dataset):  # a wrapper: Transformed, Decodable
            dataset = dataset.dataset
        else:
            for name in ("labels", "images"):
                value = getattr(dataset, name, None)
                if isinstance(value, torch.Tensor):
                    digest.update(value.contiguous().numpy().tobytes())
            classes = getattr(dataset, "classes", None)
            digest.update(json.dumps([type(dataset).__name__, len(dataset), classes]).encode())
            return digest.hexdigest()


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


def _scan_folder(root: Path) -> ImageSource:
    """Every visible entry below root, sorted; label = index of its top-level sub-folder, -1 at the top.

    Classes are all visible top-level sub-folders (sorted), empty ones too, so that a train and a val
    folder with the same class folders agree on the labels. Links to folders are followed (a class folder is
    often one), except to a folder already listed: a loop, or a second path to the same images.
    """
    root = root.resolve()
    entries: dict[tuple[str, ...], str | None] = {}  # relative parts -> reason skipped before decoding
    classes: list[str] = []
    listed = {(root.stat().st_dev, root.stat().st_ino)}  # folders by identity, so that a link to one shows

    def unreadable(error: OSError) -> None:
        if Path(error.filename) == root:
            raise DataError(f"{root}: cannot list folder: {error.strerror}")
        entries[Path(error.filename).relative_to(root).parts] = f"cannot list folder: {error.strerror}"

    for dirpath, dirnames, filenames in os.walk(root, onerror=unreadable, followlinks=True):
        here = Path(dirpath)
        parts = here.relative_to(root).parts
        kept = []
        for name in sorted(d for d in dirnames if not d.startswith(".")):
            if read_marker(here / name) is not None:
                continue  # this project's own output (features, a run, a hub folder): never data, never listed
            try:
                stat = (here / name).stat()
            except OSError as e:
                entries[(*parts, name)] = f"cannot list folder: {e.strerror}"
                continue
            if (stat.st_dev, stat.st_ino) in listed:
                entries[(*parts, name)] = "symbolic link to a folder already listed (a loop), not followed"
            else:
                listed.add((stat.st_dev, stat.st_ino))
                kept.append(name)
        dirnames[:] = kept
        if here == root:
            classes = list(kept)
        for name in filenames:
            if not name.startswith("."):
                is_image = os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS
                entries[(*parts, name)] = None if is_image else "not an image file extension"
    # Sorting by parts keeps each folder's entries together ("a/x" before "a b/y").
    ordered = sorted(entries)
    class_index = {name: i for i, name in enumerate(classes)}
    return ImageSource(
        "folder",
        str(root),
        ["/".join(p) for p in ordered],
        [class_index[p[0]] if len(p) > 1 else -1 for p in ordered],
        classes,
        files=[root.joinpath(*p) for p in ordered],
        skipped={i: entries[p] for i, p in enumerate(ordered) if entries[p] is not None},
    )


def _read_list(list_file: Path) -> ImageSource:
    """One image path a line, relative to the list's folder or absolute; blank lines and `#` comments skipped."""
    list_file = list_file.resolve()
    if list_file.suffix.lower() in IMAGE_EXTENSIONS:
        raise DataError(f"{list_file}: is an image; DATA must be a folder, a text file of paths or a named dataset")
    try:
        raw = list_file.read_bytes()
    except OSError as e:
        raise DataError(f"{list_file}: cannot read: {e.strerror}") from None
    if b"\0" in raw:
        raise DataError(f"{list_file}: not a text file of image paths")
    lines = [line.strip() for line in raw.decode("utf-8", errors="surrogateescape").splitlines()]
    paths = [line for line in lines if line and not line.startswith("#")]
    files = [list_file.parent / p for p in paths]
    return ImageSource("list", str(list_file), paths, [-1] * len(paths), [], files=files)


def expand_braces(pattern: str) -> list[str]:
    """WebDataset's shard patterns: `{000..099}` (zero-padded as written) and `{a,b}`, any number of them."""
    match = re.search(r"\{([^{}]*)\}", pattern)
    if match is None:
        return [pattern]
    head, body, tail = pattern[: match.start()], match.group(1), pattern[match.end() :]
    numeric = re.fullmatch(r"(\d+)\.\.(\d+)", body)
    if numeric:
        first, last = numeric.groups()
        choices = [str(n).zfill(len(first)) for n in range(int(first), int(last) + 1)]
    else:
        choices = body.split(",")
    return [expanded for choice in choices for expanded in expand_braces(head + choice + tail)]


def _read_tars(pattern: str) -> ImageSource:
    """Samples of WebDataset tar shards: members grouped by key (the name up to the basename's first dot), the image
    by its extension, the label from `.cls`; a sample without an image is a listed skip, a missing shard an error."""
    shards = [Path(name) for name in expand_braces(pattern)]
    missing = [str(shard) for shard in shards if not shard.is_file()]
    if missing:
        raise DataError(
            f"{missing[0]}: no such tar shard" + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
        )
    paths, labels, files, members, skipped = [], [], [], [], {}
    # Samples are named SHARD/KEY by the shard's file name, or by its path where two shards share a name.
    by_name = len({shard.name for shard in shards}) == len(shards)
    for shard in shards:
        for key, sample, label, repeated in _samples(shard):
            image = next((kind for kind in sample if kind.split(".", 1)[-1].lower() in _TAR_IMAGE_TYPES), None)
            paths.append(f"{shard.name if by_name else shard}/{key}")
            labels.append(-1 if label is None else label)
            files.append(Path(f"{shard}/{key}.{image}" if image else f"{shard}/{key}"))
            members.append(sample[image] if image else (shard, 0, 0))
            if repeated:
                skipped[len(paths) - 1] = (
                    f"a second sample {key} in the shard ({', '.join(sorted(sample))}): "
                    "WebDataset keys must be unique; the first one is used"
                )
            elif image is None:
                skipped[len(paths) - 1] = f"no image in the sample (members: {', '.join(sorted(sample))})"
    num_classes = max(labels, default=-1) + 1
    return ImageSource(
        "tar",
        pattern,
        paths,
        labels,
        [str(i) for i in range(num_classes)],
        files=files,
        skipped=skipped,
        members=members,
    )


_TAR_IMAGE_TYPES = {extension.lstrip(".") for extension in IMAGE_EXTENSIONS}


# gzip, bzip2, xz, zstd: a member's offset in such a file is not where its bytes lie.
_COMPRESSED_MAGIC = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ", b"\x28\xb5\x2f\xfd")


# Above this, a `.cls` label is taken for a mistake: the classes are numbered up to the largest label.
MAX_CLASS_LABEL = 999_999


def _samples(shard: Path) -> Iterator[tuple[str, dict[str, tuple[Path, int, int]], int | None, bool]]:
    """(key, {extension: (shard, offset, size)}, label from `.cls` or None, repeated) per sample, in the shard's
    order; `repeated`: a member of the key's extension came again right after it (a second sample of that key)."""
    with open(shard, "rb") as f:
        if f.read(6).startswith(_COMPRESSED_MAGIC):
            raise DataError(
                f"{shard}: a compressed tar; images are read where they lie in the file, so shards must "
                "be plain .tar (WebDataset's default): decompress it (e.g. gunzip)"
            )
    try:
        with tarfile.open(shard, mode="r:") as tar:
            key, sample, label, repeated = None, {}, None, False
            for member in tar:
                if not member.isfile():
                    continue
                folder, _, base = member.name.rpartition("/")
                stem, _, extension = base.partition(".")
                name = f"{folder}/{stem}" if folder else stem
                if key is not None and (name != key or extension in sample):
                    yield key, sample, label, repeated
                    repeated = name == key
                    sample, label = {}, None
                key = name
                sample[extension] = (shard, member.offset_data, member.size)
                if extension == "cls":
                    label = _class_label(shard, member, tar.extractfile(member).read())
            if key is not None:
                yield key, sample, label, repeated
    except tarfile.TarError as error:
        raise DataError(f"{shard}: not a readable tar file ({error})") from None


def _class_label(shard: Path, member: tarfile.TarInfo, data: bytes) -> int:
    text = data.decode("utf-8", errors="replace").strip()
    if not re.fullmatch(r"[0-9]{1,9}", text) or int(text) > MAX_CLASS_LABEL:
        raise DataError(
            f"{shard}: {member.name}: a class label must be a decimal number from 0 to "
            f"{MAX_CLASS_LABEL:,}, got {text[:20]!r}"
        )
    return int(text)


# ------------------------------------------------------------------------------------ Hugging Face datasets

_HF_SAVED_FILES = ("state.json", "dataset_dict.json")


def _hf_datasets() -> Any:
    """The `datasets` module, an optional dependency imported when a Hugging Face source is read."""
    try:
        import datasets
    except ImportError:
        raise DataError(
            "reading a Hugging Face dataset needs the datasets library: pip install 'simsiam-zoo[hf]'"
        ) from None
    return datasets


def _read_saved_hf_dataset(folder: Path) -> ImageSource:
    """A `Dataset.save_to_disk` folder; a `DatasetDict`'s folder is refused, naming its splits' folders."""
    datasets = _hf_datasets()
    if (folder / "dataset_dict.json").is_file():
        splits = ", ".join(str(folder / name) for name in sorted(p.name for p in folder.iterdir() if p.is_dir()))
        raise DataError(f"{folder}: a Hugging Face dataset with several splits; give one split's folder ({splits})")
    try:
        dataset = datasets.load_from_disk(str(folder))
    except (OSError, ValueError, KeyError) as error:
        raise DataError(f"{folder}: not a readable Hugging Face dataset folder ({error})") from None
    return _hf_source(dataset, str(folder), name=folder.name)


def _read_hf_files(pattern: str) -> ImageSource:
    """Parquet or arrow files (brace and glob patterns), one dataset in the files' sorted order."""
    datasets = _hf_datasets()
    names = [name for expanded in expand_braces(pattern) for name in (sorted(glob.glob(expanded)) or [expanded])]
    missing = [name for name in names if not Path(name).is_file()]
    if missing:
        raise DataError(f"{missing[0]}: no such file" + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
    builder = "parquet" if pattern.endswith(".parquet") else "arrow"
    try:
        dataset = datasets.load_dataset(builder, data_files=names, split="train")
    except Exception as error:  # the builders raise many types (pyarrow's, datasets') for a file they cannot read
        raise DataError(f"{pattern}: not readable as {builder} files ({type(error).__name__}: {error})") from None
    return _hf_source(dataset, pattern, name=Path(names[0]).parent.name)


def _hf_source(dataset: Any, location: str, *, name: str) -> ImageSource:
    """The entries of a Hugging Face dataset, named `name/row`: its image column (undecoded, so that a bad image is
    this project's listed skip) and its ClassLabel (or integer `label`) column; a row without an image is a skip."""
    datasets = _hf_datasets()
    features = dataset.features
    images = [column for column, feature in features.items() if isinstance(feature, datasets.Image)]
    if not images:
        raise DataError(f"{location}: no image column (columns: {', '.join(features)})")
    image = "image" if "image" in images else images[0]
    class_labels = [column for column, feature in features.items() if isinstance(feature, datasets.ClassLabel)]
    label = "label" if "label" in class_labels else next(iter(class_labels), "label" if "label" in features else None)
    labels, classes = _hf_labels(
        dataset[label] if label is not None else [None] * len(dataset),
        features[label].names if label in class_labels else None,
        location,
        label,
    )
    missing = _rows_without_image(dataset.with_format("arrow")[image])
    return ImageSource(
        "hf",
        location,
        [f"{name}/{i}" for i in range(len(dataset))],
        labels,
        classes,
        data_files=[Path(cache["filename"]) for cache in dataset.cache_files],
        dataset=_HFImages(dataset.cast_column(image, datasets.Image(decode=False)), image, labels, name),
        skipped={i: f"no image in the row (column {image!r} is empty)" for i, gone in enumerate(missing) if gone},
    )


def _hf_labels(
    values: list[Any], names: list[str] | None, location: str, column: str | None
) -> tuple[list[int], list[str]]:
    """Labels and class names of a label column: a ClassLabel's names, integers numbered as they are, or strings
    (classes in sorted order, as an image folder's); an empty row is unlabelled (-1)."""
    present = [value for value in values if value is not None]
    if all(isinstance(value, str) for value in present) and present and names is None:
        classes = sorted(set(present))
        index = {name: i for i, name in enumerate(classes)}
        return [-1 if value is None else index[value] for value in values], classes
    wrong = next(
        (
            value
            for value in present
            if isinstance(value, bool) or not isinstance(value, int) or not -1 <= value <= MAX_CLASS_LABEL
        ),
        None,
    )
    if wrong is not None:
        raise DataError(
            f"{location}: label column {column!r} holds {wrong!r}; expected class names or integers from "
            f"0 to {MAX_CLASS_LABEL:,}"
        )
    labels = [-1 if value is None else value for value in values]
    return labels, list(names) if names is not None else [str(i) for i in range(max(labels, default=-1) + 1)]


def _rows_without_image(column: Any) -> list[bool]:
    """Per row of an image column (memory-mapped arrow chunks): no struct, or neither bytes nor a path. Only the
    validity bitmaps are read, not the image bytes."""
    import pyarrow.compute as pc

    missing: list[bool] = []
    for chunk in column.chunks:
        empty = pc.and_(pc.is_null(chunk.field("bytes")), pc.is_null(chunk.field("path")))
        missing.extend(pc.or_(pc.is_null(chunk), empty).to_pylist())
    return missing


class _HFImages(Dataset):
    """(uint8 (3, H, W), label) of a Hugging Face dataset's undecoded image column, decoded by `decode_image`."""

    def __init__(self, dataset: Any, column: str, labels: list[int], name: str):
        self.dataset, self.column, self.labels, self.name = dataset, column, labels, name

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        value = self.dataset[index][self.column] or {}
        where = Path(f"{self.name}/{index}")
        if value.get("bytes") is not None:
            return decode_image(where, value["bytes"]), self.labels[index]
        if value.get("path") is not None:  # an image the dataset refers to by its file
            return decode_image(Path(value["path"])), self.labels[index]
        raise DataError(f"{where}: no image in the row")
