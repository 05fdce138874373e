"""Image sources for training and evaluation: image folders, Fashion-MNIST idx files, fake data.

Every source yields `(uint8 tensor (3, H, W), label)`, label -1 when unknown. Random augmentation is
seeded per (seed, epoch, index) so a batch is the same whatever the worker count and after a resume.
"""

from __future__ import annotations

import gzip
import os
import struct
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset, Sampler

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
# 6,000 train + 1,000 test images shipped in the package (MIT, see its LICENSE) for machines without the
# Debian package.
FASHION_MNIST_SUBSET_DIR = Path(__file__).parent / "datasets" / "fashion_mnist_subset"
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)


class DataError(ValueError):
    """A data file or folder that cannot be read as given."""


def decode_image(path: Path) -> torch.Tensor:
    """Decode any PIL-readable image to RGB uint8 (3, H, W); a DataError naming the file otherwise."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
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


def scan_image_folder(root: str | Path) -> tuple[list[Path], list[int], list[str]]:
    """Files of an image folder: class sub-folders give labels (sorted names), a flat folder gives -1."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: not a folder")
    subdirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    resolved_root = root.resolve()
    for subdir in subdirs:
        # A linked class folder is fine; one that leads back to the data folder would count every image twice.
        if subdir.is_symlink() and resolved_root.is_relative_to(subdir.resolve()):
            raise DataError(f"{subdir}: a link back to the data folder (a loop), not a class folder")
    classes = [p.name for p in subdirs]
    paths: list[Path] = []
    labels: list[int] = []
    groups = [(d, i) for i, d in enumerate(subdirs)] if subdirs else [(root, -1)]
    for folder, label in groups:
        for path in _walk_images(folder, recursive=bool(subdirs)):
            paths.append(path)
            labels.append(label)
    if not paths:
        raise DataError(f"{root}: no images found (extensions: {', '.join(IMAGE_EXTENSIONS)})")
    # As torchvision's ImageFolder: a class with no images would be a label nothing can predict or be scored on.
    empty = [name for i, name in enumerate(classes) if i not in set(labels)]
    if empty:
        raise DataError(f"{root}: class folder(s) with no images: {', '.join(empty)}; add images or remove them")
    return paths, labels, classes


def _walk_images(folder: Path, *, recursive: bool) -> Iterator[Path]:
    # followlinks=False: a symlink loop cannot make the scan spin forever.
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".")) if recursive else []
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            path = Path(dirpath) / name
            if path.suffix.lower() not in IMAGE_EXTENSIONS:
                raise DataError(f"{path}: not an image file (extensions: {', '.join(IMAGE_EXTENSIONS)})")
            yield path


class ImageFolder(Dataset):
    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.paths, labels, self.classes = scan_image_folder(root)
        self.labels = torch.tensor(labels, dtype=torch.int64)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return decode_image(self.paths[index]), int(self.labels[index])


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


class Subset(Dataset):
    def __init__(self, dataset: Dataset, indices: Sequence[int]):
        self.dataset, self.indices = dataset, list(indices)
        self.labels = torch.as_tensor([int(dataset.labels[i]) for i in self.indices], dtype=torch.int64)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.dataset[self.indices[index]]


class EpochSampler(Sampler):
    """Shuffled per epoch from (seed, epoch), split across ranks, whole batches only.

    Yields `(epoch, index)` so the dataset can seed each sample's augmentation; `start_batch` skips the
    batches a resumed run has already trained on.
    """

    def __init__(
        self, size: int, *, batch_size: int, seed: int, epoch: int, rank: int = 0, world_size: int = 1,
        start_batch: int = 0,
    ):
        self.batches_per_epoch = size // (batch_size * world_size)
        if self.batches_per_epoch == 0:
            raise DataError(f"{size} images are fewer than one global batch of {batch_size * world_size}")
        self.size, self.batch_size, self.seed, self.epoch = size, batch_size, seed, epoch
        self.rank, self.world_size, self.start_batch = rank, world_size, start_batch

    def __len__(self) -> int:
        return (self.batches_per_epoch - self.start_batch) * self.batch_size

    def __iter__(self) -> Iterator[tuple[int, int]]:
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        order = torch.randperm(self.size, generator=g)[: self.batches_per_epoch * self.batch_size * self.world_size]
        # Global batch b holds order[b*B*W:(b+1)*B*W]; rank r takes its r-th slice of B.
        mine = order.view(self.batches_per_epoch, self.world_size, self.batch_size)[self.start_batch :, self.rank]
        for index in mine.reshape(-1).tolist():
            yield self.epoch, index


class TwoViews(Dataset):
    """Two augmented views of each image, augmentation seeded by (seed, epoch, index)."""

    def __init__(self, dataset: Dataset, transform: Callable[[torch.Tensor], torch.Tensor], *, seed: int):
        self.dataset, self.transform, self.seed = dataset, transform, seed

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        epoch, index = key
        image, _ = self.dataset[index]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed((self.seed * 1_000_003 + epoch) * 10_000_019 + index)
            return self.transform(image), self.transform(image)


class Transformed(Dataset):
    """(transform(image), label) pairs, for evaluation."""

    def __init__(self, dataset: Dataset, transform: Callable[[torch.Tensor], torch.Tensor]):
        self.dataset, self.transform = dataset, transform

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image, label = self.dataset[index]
        return self.transform(image), label
