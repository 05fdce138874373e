"""Decoding any PIL-readable image to RGB uint8, and the one policy for images that do not decode."""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from simsiam_zoo.errors import DataError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


def decode_image(path: Path, data: bytes | None = None) -> torch.Tensor:
    """Decode any PIL-readable image (the file `path`, or its bytes `data`, e.g. a tar member that `path` names) to
    RGB uint8 (3, H, W); a DataError naming `path` otherwise."""
    if data is None and not path.is_file():  # opening a FIFO or a device would wait for a writer, maybe forever
        raise DataError(f"{path}: {'not a regular file' if path.exists() else 'no such file'}")
    try:
        # Recorded as the caller's filters let them through (an ignored one is not named; under `-W error` one is
        # this image's error, as before), then named.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path if data is None else io.BytesIO(data)) as image:
                image = _to_rgb(image)
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as e:
        raise DataError(f"{path}: cannot decode image: too large, possible decompression bomb: {e}") from None
    except UnidentifiedImageError:  # PIL's message names the file object: of bytes, by its address in memory
        raise DataError(f"{path}: cannot decode image: cannot identify image file (no format PIL reads)") from None
    except Exception as e:
        # Malformed files make PIL raise more than OSError (struct.error, IndexError, ZeroDivisionError, ...);
        # each means only that this one file is unreadable.
        raise DataError(f"{path}: cannot decode image: {e or type(e).__name__}") from None
    for warning in caught:
        _warn_naming(path, warning)
    return torch.from_numpy(np.asarray(image, dtype=np.uint8).copy()).permute(2, 0, 1).contiguous()


_WARNED: set[str] = set()


def _warn_naming(path: Path, warning: warnings.WarningMessage) -> None:
    """PIL's warning about an image it decodes ("Corrupt EXIF data"), naming the image, once a message a process
    (a dataset may hold thousands alike; each was PIL's line without a name)."""
    message = str(warning.message)
    if message not in _WARNED:
        _WARNED.add(message)
        warnings.warn(
            f"{path}: {message} (the image is used; later ones alike are not named)", warning.category, stacklevel=3
        )


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


class NextIfUndecodable(Dataset):
    """`dataset`, where an image that does not decode (a `DataError`) is skipped, said once in a warning naming it,
    and its place taken by the next item in order that decodes: a seeded batch keeps its size and its other
    samples, on every rank and after a resume. With `strict` it is the error instead."""

    def __init__(self, dataset: Dataset, *, strict: bool = False):
        self.dataset, self.strict = dataset, strict
        self._said: set[int] = set()

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Any:
        item, problem = self.next_decoding(index)
        if problem is not None:
            self.say_skipped(index, problem)
        return item

    def next_decoding(self, index: int) -> tuple[Any, str | None]:
        """Item `index` and None, or the next item that decodes and why `index` did not (raised with `strict`)."""
        try:
            return self.dataset[index], None
        except DataError as error:
            if self.strict:
                raise
            problem = error
        for offset in range(1, len(self.dataset)):
            try:
                return self.dataset[(index + offset) % len(self.dataset)], str(problem)
            except DataError:
                continue
        raise DataError(f"none of the {len(self.dataset)} items decodes; the first: {problem}")

    def say_skipped(self, index: int, problem: str) -> None:
        """The warning that item `index` was skipped for `problem`, once."""
        if index not in self._said:
            self._said.add(index)
            warnings.warn(
                f"{problem}; skipped (item {index} of {len(self.dataset)}), the next item that decodes "
                "takes its place (--strict makes this an error)",
                stacklevel=3,
            )


class NoneIfUndecodable(Dataset):
    """`dataset`, where an item whose image does not decode (a `DataError`) is None: a split embedded in memory
    leaves it out (`embed_dataset` drops the Nones), as an extraction leaves it out of a split on disk."""

    def __init__(self, dataset: Dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Any:
        try:
            return self.dataset[index]
        except DataError:
            return None


def not_decoding(count: int) -> str:
    """How many images do not decode, as a warning says it."""
    return "1 image does not decode" if count == 1 else f"{count} images do not decode"
