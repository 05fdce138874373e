"""The data this package ships or finds by name: Fashion-MNIST's idx files (and its embedded subset), fake images."""

from __future__ import annotations

import gzip
import struct
import warnings
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from simsiam_zoo.errors import DataError
from simsiam_zoo.options import folded_seed

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")


# 6,000 train + 1,000 test images shipped in the package (MIT, see its LICENSE) for machines without the
# Debian package.
FASHION_MNIST_SUBSET_DIR = Path(__file__).parents[1] / "datasets" / "fashion_mnist_subset"


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


def _read_idx(path: Path, *, ndim: int) -> np.ndarray:
    """The array of an idx.gz file of unsigned bytes with `ndim` dimensions (labels 1, images 3)."""
    try:
        with gzip.open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise DataError(f"{path}: Fashion-MNIST file not found (apt-get install dataset-fashion-mnist)") from None
    except (OSError, EOFError) as e:
        raise DataError(f"{path}: unreadable idx.gz file: {e}") from None
    if len(data) < 8 or data[:2] != b"\x00\x00" or data[2] != 0x08:
        raise DataError(f"{path}: not an unsigned-byte idx file")
    if data[3] != ndim or len(data) < 4 + 4 * ndim:
        raise DataError(f"{path}: an idx file of {data[3]} dimensions; Fashion-MNIST's has {ndim}")
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
        self.images = torch.from_numpy(_read_idx(root / f"{prefix}-images-idx3-ubyte.gz", ndim=3).copy())
        labels = root / f"{prefix}-labels-idx1-ubyte.gz"
        self.labels = torch.from_numpy(_read_idx(labels, ndim=1).astype(np.int64))
        if len(self.labels) and int(self.labels.max()) >= len(self.classes):
            raise DataError(f"{labels}: a label of {int(self.labels.max())}; Fashion-MNIST's are 0 to 9")
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
        g = torch.Generator().manual_seed(folded_seed(self.seed * 1_000_003 + index))
        label = int(self.labels[index])
        noise = torch.randint(0, 96, (3, self.image_size, self.image_size), generator=g)
        return (noise + 40 * label).clamp(0, 255).to(torch.uint8), label
