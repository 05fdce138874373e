"""The embedding engine: decoding in workers, the host/device split of the transform, batches through the model;
for extraction's shards (`embed_shards`) and for in-memory datasets (`embed_dataset`)."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, default_collate
from torchvision.transforms import v2

from simsiam_zoo.arguments import is_int
from simsiam_zoo.data import ImageSource
from simsiam_zoo.distributed import device_named
from simsiam_zoo.errors import DataError
from simsiam_zoo.features.store import Shard
from simsiam_zoo.model import check_embedding_model, evaluating
from simsiam_zoo.options import check_num_workers


class _MarkUndecodable(Dataset):
    """(position, transformed image or None, reason or None): a bad image becomes a marker, not an error."""

    def __init__(self, source: ImageSource, transform: Callable[[torch.Tensor], torch.Tensor]):
        self.source, self.transform = source, transform

    def __len__(self) -> int:
        return len(self.source.paths)

    def __getitem__(self, position: int) -> tuple[int, torch.Tensor | None, str | None]:
        try:
            image = self.source.load(position)
        except DataError as e:
            # The error names the entry (its file, or its name in a dataset); the skip list names it already.
            where = self.source.files[position] if self.source.files else self.source.paths[position]
            return position, None, str(e).removeprefix(f"{where}: ")
        try:
            return position, self.transform(image), None
        except Exception as e:  # e.g. an image too small for the transform: that image's problem only
            return position, None, f"transform failed: {type(e).__name__}: {e}"


def _collate(
    samples: list[tuple[int, torch.Tensor | None, str | None]], *, stack: bool
) -> tuple[list[int], torch.Tensor | list[torch.Tensor] | None, list[tuple[int, str]]]:
    """(positions, images, failures); images stay a list when `stack` is off (sizes differ before the resize)."""
    good = [(position, image) for position, image, _ in samples if image is not None]
    failures = [(position, reason) for position, image, reason in samples if image is None]
    if not good:
        return [], None, failures
    images = [image for _, image in good]
    if stack:
        shapes = {tuple(image.shape) for image in images}
        if len(shapes) > 1:
            raise ValueError(f"the transform must give images of one shape to batch them; got {sorted(shapes)}")
        images = torch.stack(images)
    return [position for position, _ in good], images, failures


@dataclass(frozen=True)
class Pipeline:
    """`transform` cut in three: `on_host` runs where images are decoded (workers, or inline), `per_image` on
    the device one image at a time (the resize, when sizes differ), `per_batch` on the device on the batch."""

    on_host: Callable[[torch.Tensor], torch.Tensor]
    per_image: v2.Compose | None
    per_batch: v2.Compose | None


def _identity(image: torch.Tensor) -> torch.Tensor:
    return image


def split_pipeline(transform: Callable[[torch.Tensor], torch.Tensor], *, device_preprocessing: bool) -> Pipeline:
    """Move the float conversion and normalisation to the device always (a uint8 batch crosses the worker
    pipe and the PCIe bus at a quarter of the float32 size), and the resize and crop too when asked.

    Only a v2.Compose ending in ToDtype + Normalize (every loader transform) can be cut; any other callable
    runs whole on the host.
    """
    steps = list(transform.transforms) if isinstance(transform, v2.Compose) else []
    cuttable = len(steps) >= 2 and isinstance(steps[-2], v2.ToDtype) and isinstance(steps[-1], v2.Normalize)
    if not cuttable:
        if device_preprocessing:
            raise ValueError(
                "device preprocessing needs a torchvision v2.Compose ending in ToDtype + Normalize "
                f"(as the loader's transforms are); got {type(transform).__name__}"
            )
        return Pipeline(transform, None, None)
    geometry, to_float = steps[:-2], v2.Compose(steps[-2:])
    if not device_preprocessing:
        return Pipeline(v2.Compose(geometry) if geometry else _identity, None, to_float)
    return Pipeline(_identity, v2.Compose(geometry) if geometry else None, to_float)


def _on_device(
    images: torch.Tensor | list[torch.Tensor],
    positions: list[int],
    pipeline: Pipeline,
    *,
    device: torch.device,
    memory_format: torch.memory_format,
) -> tuple[list[int], torch.Tensor | None, list[tuple[int, str]]]:
    """The device half of the pipeline: (positions kept, float batch or None, failures)."""
    failures = []
    if pipeline.per_image is not None:
        kept, resized = [], []
        for position, image in zip(positions, images, strict=True):
            try:
                resized.append(pipeline.per_image(image.to(device, non_blocking=True)))
                kept.append(position)
            except Exception as e:  # as on the host: that image's problem only
                failures.append((position, f"transform failed: {type(e).__name__}: {e}"))
        if not resized:
            return [], None, failures
        positions, images = kept, torch.stack(resized)
    else:
        images = images.to(device, non_blocking=True)
    if pipeline.per_batch is not None:
        images = pipeline.per_batch(images)
    return positions, images.contiguous(memory_format=memory_format), failures


def embed_shards(
    shards: list[Shard],
    source: ImageSource,
    pipeline: Pipeline,
    model: nn.Module,
    *,
    batch_size: int,
    num_workers: int,
    device: torch.device,
    precision: str,
    memory_format: torch.memory_format,
    advance: Callable[[int], None],
) -> Iterator[tuple[Shard, list[int], torch.Tensor | None, list[tuple[int, str]]]]:
    """Per shard: (shard, embedded positions, their float32 embeddings or None, [(position, reason)] skipped);
    `advance(n)` as n more entries are done."""
    # Batches never straddle shards, so a resumed shard is computed from the very same batches.
    batch_counts, batches = [], []
    for shard in shards:
        todo = [i for i in range(shard.start, shard.stop) if i not in source.skipped]
        shard_batches = [todo[i : i + batch_size] for i in range(0, len(todo), batch_size)]
        batch_counts.append(len(shard_batches))
        batches.extend(shard_batches)
    loader = DataLoader(
        _MarkUndecodable(source, pipeline.on_host),
        batch_sampler=batches,
        num_workers=num_workers,
        collate_fn=functools.partial(_collate, stack=pipeline.per_image is None),
        pin_memory=device.type == "cuda",
        generator=torch.Generator(),  # the workers' base seed: drawn from its own, not the caller's generator
    )
    stream = iter(loader) if batches else iter(())  # no worker start-up when every shard was skipped already
    for shard, count in zip(shards, batch_counts, strict=True):
        skipped = [(i, source.skipped[i]) for i in range(shard.start, shard.stop) if i in source.skipped]
        advance(len(skipped))
        positions, outputs = [], []
        for _ in range(count):
            batch_positions, images, failures = next(stream)
            advance(len(batch_positions) + len(failures))
            skipped.extend(failures)
            if images is None:
                continue
            batch_positions, images, failures = _on_device(
                images, batch_positions, pipeline, device=device, memory_format=memory_format
            )
            skipped.extend(failures)
            if images is None:
                continue
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
                output = model(images)
            if not isinstance(output, torch.Tensor) or output.ndim != 2:
                got = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
                raise ValueError(f"the model must return N x D embeddings; got {got}")
            outputs.append(output.float().cpu())
            positions.extend(batch_positions)
        yield shard, positions, torch.cat(outputs) if outputs else None, sorted(skipped)


@torch.no_grad()
def embed_dataset(
    backbone: nn.Module,
    dataset: Dataset,
    *,
    batch_size: int = 256,
    device: torch.device | str = "cpu",
    num_workers: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(N x D float32 embeddings, N int64 labels) of an in-memory dataset yielding (transformed float image tensor,
    whole-number label), or None for an item it leaves out (`NoneIfUndecodable`), for monitors and evaluations;
    the backbone's train/eval mode is restored."""
    check_embedding_model(backbone, name="backbone")
    device = device_named(device)
    if not (is_int(batch_size) and batch_size >= 1) or len(dataset) == 0:
        raise ValueError(f"embed_dataset needs a batch_size >= 1 and images, got {batch_size!r} and {len(dataset)}")
    check_num_workers(num_workers, default_allowed=False)  # torch's error came after the backbone was set to eval
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        num_workers=num_workers,
        pin_memory=device.type == "cuda",
        collate_fn=_images_stacked,
        generator=torch.Generator(),  # the workers' base seed: drawn from its own, not the caller's generator
    )
    features, labels = [], []
    with evaluating(backbone):
        for images, batch_labels in loader:
            if not batch_labels:
                continue  # every item of the batch left out
            labels.append(_whole_labels(batch_labels))
            if not images.is_floating_point():  # a uint8 image is the backbone's transform's input, not its own
                raise ValueError(f"images must be float tensors (the backbone's transform applied), got {images.dtype}")
            features.append(backbone(images.to(device, non_blocking=True)).float().cpu())
    if not labels:
        raise DataError(f"none of the {len(dataset)} images decodes")
    return torch.cat(features), torch.cat(labels)


def _images_stacked(batch: list[tuple[Any, Any] | None]) -> tuple[Any, list[Any]]:
    """The images collated as usual, the labels left a list for `_whole_labels` to check (collating 2**70 was
    torch's overflow error); the items left out (None) dropped."""
    kept = [item for item in batch if item is not None]
    return (default_collate([image for image, _ in kept]) if kept else None), [label for _, label in kept]


def _whole_labels(batch_labels: list[Any]) -> torch.Tensor:
    """A batch's labels as int64, refusing fractions (0.7 and 1.9 became 0 and 1 in silence), bools, and what is
    no number or does not fit (class names, 2**70: torch's own error came from inside the loop). The error names
    the first such label."""
    indices = [_class_index(label) for label in batch_labels]
    if None in indices:
        bad = batch_labels[indices.index(None)]
        raise ValueError(f"labels must be whole numbers (class indices), got labels such as {bad!r}")
    return torch.tensor(indices, dtype=torch.int64)


def _class_index(label: Any) -> int | None:
    """The label as a Python int (from an int, a numpy or torch integer, or a one-element array of one), or None."""
    if isinstance(label, np.ndarray | np.generic) and label.dtype.kind not in "iuO":  # datetime64 .item()s an int
        return None
    if isinstance(label, torch.Tensor | np.ndarray | np.generic) and math.prod(label.shape) == 1:
        label = label.item()
    if not is_int(label):
        return None
    return int(label) if -(2**63) <= label < 2**63 else None
