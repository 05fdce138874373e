"""Batched, resumable feature extraction into sharded safetensors (or npy) files.

Layout of OUT:

    shard-00000.safetensors  embeddings (N x D float32/float16), labels (int64, -1 unknown), indices (int64
                             positions in the source list); metadata: paths and skipped (JSON lists),
                             settings_sha256
    (npy format: shard-00000.embeddings.npy, shard-00000.labels.npy, shard-00000.paths.json holding paths,
     indices, skipped and settings_sha256)
    settings.json            what the output depends on (weights' sha256, preprocessing, the images' paths, sizes
                             and mtimes, ...), written first: a rerun with other inputs is refused, naming them
    skipped.json             [{index, path, reason}] for every source entry that was not embedded
    index.json               settings, classes, counts and shard list; written last, so it marks a finished run

Shard k covers source positions [k * shard_size, (k + 1) * shard_size): the plan depends only on the source
list and shard_size. A restarted run keeps every shard that verifies, recomputes the others, and ends with
the same bytes as an uninterrupted run (no timestamps, deterministic key order).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file as load_safetensors
from safetensors.torch import save as safetensors_bytes
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2
from tqdm.auto import tqdm

from simsiam_zoo._io import atomic_write, atomic_write_bytes, atomic_write_text, claim_output_dir
from simsiam_zoo.data import DataError, ImageSource, open_source

FORMAT = "simsiam_zoo.features"
# 2: resumes and evaluations check the weights' sha256, the preprocessing and each image's size and mtime.
VERSION = 2
# What each recorded setting means, for the message that refuses a resume whose settings changed.
_SETTING_NAMES = {
    "images": "the images (paths, sizes or modification times)", "weights_sha256": "the model's weights",
    "preprocessing": "the preprocessing", "source": "the data source",
}
INDEX_FILE = "index.json"
SKIPPED_FILE = "skipped.json"
SETTINGS_FILE = "settings.json"
_DTYPES = {"float32": torch.float32, "float16": torch.float16}
_SAFETENSORS_DTYPES = {"F32": "float32", "F16": "float16"}
_STRICT_LISTED = 50  # skipped entries named in a strict-mode error; the rest are counted


@dataclass(frozen=True)
class ExtractSummary:
    """What one `extract_features` call produced; `images_per_second` counts images embedded by this call."""

    out: Path
    num_images: int  # entries in the source list: num_embedded + num_skipped
    num_embedded: int
    num_skipped: int
    dim: int
    shards: int
    resumed_shards: int  # shards kept from an earlier, interrupted run
    images_per_second: float
    skipped_manifest: Path


@dataclass(frozen=True)
class Features:
    """Embeddings of a finished extraction in source order (skipped entries left out)."""

    embeddings: torch.Tensor  # N x D float32
    labels: torch.Tensor  # N int64, -1 unknown
    paths: list[str]
    indices: torch.Tensor  # N int64 positions in the source list
    classes: list[str]  # label i is classes[i]
    weights_sha256: str  # of the model that embedded them
    preprocessing: str


def _size_and_mtime(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None  # a missing file is skipped at decoding and listed as such
    return stat.st_size, stat.st_mtime_ns


def weights_sha256(model: nn.Module) -> str:
    """sha256 over the model's state dict in its order (dtypes, shapes, bytes; not the names, which a wrapper
    module changes): the same weights give the same digest whatever file, name or path they came from."""
    digest = hashlib.sha256()
    for tensor in model.state_dict().values():
        value = tensor.detach().cpu().contiguous()
        digest.update(f"{value.dtype}:{tuple(value.shape)};".encode())
        digest.update(value.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _listing_sha256(source: ImageSource) -> str:
    """What the entries are: their names and labels, and each file's size and mtime (an edit in place shows)."""
    stats = [_size_and_mtime(path) for path in source.files]
    listing = [source.paths, source.labels, sorted(source.skipped.items()), stats]
    return hashlib.sha256(json.dumps(listing).encode()).hexdigest()


# ------------------------------------------------------------------------------------------------ shards


@dataclass(frozen=True)
class _Shard:
    number: int
    start: int
    stop: int

    @property
    def name(self) -> str:
        return f"shard-{self.number:05d}"

    def files(self, output_format: str) -> list[str]:
        if output_format == "safetensors":
            return [f"{self.name}.safetensors"]
        return [f"{self.name}.embeddings.npy", f"{self.name}.labels.npy", f"{self.name}.paths.json"]


@dataclass
class _StoredShard:
    """A shard's small parts read from disk; the embeddings load on demand."""

    paths: list[str]
    skipped: list[dict[str, Any]]
    settings_sha256: str
    labels: torch.Tensor
    indices: torch.Tensor
    dim: int
    load_embeddings: Callable[[], torch.Tensor]


def _plan(num_images: int, shard_size: int) -> list[_Shard]:
    return [
        _Shard(number, start, min(start + shard_size, num_images))
        for number, start in enumerate(range(0, num_images, shard_size))
    ]


def _canonical_safetensors(tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> bytes:
    raw = safetensors_bytes(tensors, metadata=metadata)
    length = int.from_bytes(raw[:8], "little")
    # safetensors writes its metadata from a hash map, in a different order in each process: sort the header
    # so that a resumed run writes the same bytes as an uninterrupted one.
    header = json.dumps(json.loads(raw[8 : 8 + length]), sort_keys=True, separators=(",", ":")).encode()
    header += b" " * (-len(header) % 8)  # the format pads the header to keep tensor data 8-byte aligned
    return len(header).to_bytes(8, "little") + header + raw[8 + length :]


def _write_shard(
    out: Path, shard: _Shard, *, output_format: str, settings_sha256: str, embeddings: torch.Tensor,
    labels: list[int], indices: list[int], paths: list[str], skipped: list[dict[str, Any]],
) -> None:
    files = [out / name for name in shard.files(output_format)]
    label_tensor = torch.tensor(labels, dtype=torch.int64)
    if output_format == "safetensors":
        indices_tensor = torch.tensor(indices, dtype=torch.int64)
        tensors = {"embeddings": embeddings.contiguous(), "labels": label_tensor, "indices": indices_tensor}
        metadata = {"paths": json.dumps(paths), "skipped": json.dumps(skipped), "settings_sha256": settings_sha256}
        atomic_write_bytes(files[0], _canonical_safetensors(tensors, metadata))
        return
    atomic_write(files[0], lambda f: np.save(f, embeddings.numpy(), allow_pickle=False))
    atomic_write(files[1], lambda f: np.save(f, label_tensor.numpy(), allow_pickle=False))
    record = {"settings_sha256": settings_sha256, "paths": paths, "indices": indices, "skipped": skipped}
    atomic_write_text(files[2], json.dumps(record))


def _read_shard(out: Path, shard: _Shard, output_format: str) -> _StoredShard:
    """Headers, labels and metadata of a shard, checked for consistency; DataError naming a bad file."""
    files = [out / name for name in shard.files(output_format)]
    current = files[0]
    try:
        if output_format == "safetensors":
            with safe_open(str(current), framework="pt") as f:
                meta = f.metadata() or {}
                view = f.get_slice("embeddings")
                shape, dtype = tuple(view.get_shape()), _SAFETENSORS_DTYPES.get(view.get_dtype(), view.get_dtype())
                labels, indices = f.get_tensor("labels"), f.get_tensor("indices")
            record = {
                "paths": json.loads(meta["paths"]), "skipped": json.loads(meta["skipped"]),
                "settings_sha256": meta["settings_sha256"],
            }

            def load_embeddings() -> torch.Tensor:
                return load_safetensors(current)["embeddings"]
        else:
            header = np.load(current, mmap_mode="r", allow_pickle=False)  # reads the header only
            shape, dtype = header.shape, str(header.dtype)
            current = files[1]
            labels = torch.from_numpy(np.load(current, allow_pickle=False))
            current = files[2]
            record = json.loads(current.read_text(encoding="utf-8"))
            indices = torch.tensor(record["indices"], dtype=torch.int64)

            def load_embeddings() -> torch.Tensor:
                return torch.from_numpy(np.load(files[0], allow_pickle=False))
        stored = _StoredShard(
            record["paths"], record["skipped"], record["settings_sha256"], labels, indices,
            shape[1] if len(shape) == 2 else -1, load_embeddings,
        )
    except (OSError, ValueError, KeyError, TypeError, IndexError, SafetensorError) as e:
        raise DataError(f"{current}: missing or corrupt shard: {e}") from None
    rows = {shape[0] if len(shape) == 2 else -1, len(stored.paths), len(stored.labels), len(stored.indices)}
    if len(rows) != 1 or dtype not in _DTYPES or labels.dtype != torch.int64 or indices.dtype != torch.int64:
        raise DataError(f"{files[0]}: corrupt shard: embeddings {shape} {dtype}, {len(stored.paths)} paths, "
                        f"{len(labels)} labels, {len(indices)} indices")
    return stored


def _resumable(
    out: Path, shard: _Shard, source: ImageSource, *, output_format: str, settings_sha256: str
) -> _StoredShard | None:
    """The shard already on disk if it is complete and matches the plan, None if it must be (re)computed."""
    if not any((out / name).exists() for name in shard.files(output_format)):
        return None
    try:
        stored = _read_shard(out, shard, output_format)
    except DataError:
        return None  # damaged (writes are atomic, so only by something else): recompute it
    if stored.settings_sha256 != settings_sha256:
        raise DataError(f"{out / shard.files(output_format)[0]}: written by an extraction with other settings; "
                        "choose a new output folder or delete this one")
    kept = stored.indices.tolist()
    try:
        positions = sorted(kept + [s["index"] for s in stored.skipped])
    except (KeyError, TypeError):
        return None
    if positions != list(range(shard.start, shard.stop)):
        return None
    if stored.paths != [source.paths[i] for i in kept] or stored.labels.tolist() != [source.labels[i] for i in kept]:
        return None
    return stored


def _prepare_out(out: Path, settings: dict[str, Any], shards: list[_Shard], output_format: str) -> None:
    """Refuse an OUT holding another extraction, naming what differs; record this one's settings; clear temp files
    a killed run left behind."""
    settings_file = out / SETTINGS_FILE
    recorded = next((path for path in (settings_file, out / INDEX_FILE) if path.exists()), None)
    if recorded is not None:
        try:
            previous = json.loads(recorded.read_text(encoding="utf-8"))
            version = previous.get("version")
        except (OSError, ValueError, AttributeError) as e:
            raise DataError(f"{recorded}: unreadable ({e}); choose a new output folder or delete this one") from None
        if version != VERSION:
            raise DataError(f"{out}: holds an extraction written by another version of simsiam-zoo (format {version}, "
                            f"this one writes {VERSION}); choose a new output folder or delete this one")
        changed = [_SETTING_NAMES.get(key, key) for key in settings if previous.get(key) != settings[key]]
        if changed:
            raise DataError(f"{out}: holds an extraction of other inputs or settings (changed: {', '.join(changed)}); "
                            "choose a new output folder or delete this one")
    planned = {name for shard in shards for name in shard.files(output_format)}
    foreign = sorted(p.name for p in out.glob("shard-*") if p.name not in planned)
    if foreign:
        raise DataError(f"{out}: holds shards of another extraction ({', '.join(foreign[:5])}); "
                        "choose a new output folder or delete this one")
    for pattern in (".shard-*.tmp", f".{INDEX_FILE}.*.tmp", f".{SKIPPED_FILE}.*.tmp", f".{SETTINGS_FILE}.*.tmp"):
        for stale in out.glob(pattern):
            stale.unlink(missing_ok=True)
    if not settings_file.exists():
        atomic_write_text(settings_file, json.dumps({"version": VERSION, **settings}, indent=2) + "\n")


# -------------------------------------------------------------------------------------------- embedding


class _Decoded(Dataset):
    """(position, transformed image or None, reason or None): a bad image becomes a marker, not an error."""

    def __init__(self, source: ImageSource, transform: Callable[[torch.Tensor], torch.Tensor]):
        self.source, self.transform = source, transform

    def __len__(self) -> int:
        return len(self.source.paths)

    def __getitem__(self, position: int) -> tuple[int, torch.Tensor | None, str | None]:
        try:
            image = self.source.load(position)
        except DataError as e:
            prefix = f"{self.source.files[position]}: " if self.source.files else ""
            return position, None, str(e).removeprefix(prefix)
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
class _Pipeline:
    """`transform` cut in three: `on_host` runs where images are decoded (workers, or inline), `per_image` on
    the device one image at a time (the resize, when sizes differ), `per_batch` on the device on the batch."""

    on_host: Callable[[torch.Tensor], torch.Tensor]
    per_image: v2.Compose | None
    per_batch: v2.Compose | None


def _identity(image: torch.Tensor) -> torch.Tensor:
    return image


def _pipeline(transform: Callable[[torch.Tensor], torch.Tensor], *, device_preprocessing: bool) -> _Pipeline:
    """Move the float conversion and normalisation to the device always (a uint8 batch crosses the worker
    pipe and the PCIe bus at a quarter of the float32 size), and the resize and crop too when asked.

    Only a v2.Compose ending in ToDtype + Normalize (every loader transform) can be cut; any other callable
    runs whole on the host.
    """
    steps = list(transform.transforms) if isinstance(transform, v2.Compose) else []
    cuttable = len(steps) >= 2 and isinstance(steps[-2], v2.ToDtype) and isinstance(steps[-1], v2.Normalize)
    if not cuttable:
        if device_preprocessing:
            raise ValueError("device preprocessing needs a torchvision v2.Compose ending in ToDtype + Normalize "
                             f"(as the loader's transforms are); got {type(transform).__name__}")
        return _Pipeline(transform, None, None)
    geometry, to_float = steps[:-2], v2.Compose(steps[-2:])
    if not device_preprocessing:
        return _Pipeline(v2.Compose(geometry) if geometry else _identity, None, to_float)
    return _Pipeline(_identity, v2.Compose(geometry) if geometry else None, to_float)


def _on_device(
    images: torch.Tensor | list[torch.Tensor], positions: list[int], pipeline: _Pipeline, *, device: torch.device,
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


def _embed_shards(
    shards: list[_Shard], source: ImageSource, pipeline: _Pipeline, model: nn.Module,
    *, batch_size: int, num_workers: int, device: torch.device, precision: str, memory_format: torch.memory_format,
    bar: tqdm,
) -> Iterator[tuple[_Shard, list[int], torch.Tensor | None, list[tuple[int, str]]]]:
    """Per shard: (shard, embedded positions, their float32 embeddings or None, [(position, reason)] skipped)."""
    # Batches never straddle shards, so a resumed shard is computed from the very same batches.
    batch_counts, batches = [], []
    for shard in shards:
        todo = [i for i in range(shard.start, shard.stop) if i not in source.skipped]
        shard_batches = [todo[i : i + batch_size] for i in range(0, len(todo), batch_size)]
        batch_counts.append(len(shard_batches))
        batches.extend(shard_batches)
    loader = DataLoader(
        _Decoded(source, pipeline.on_host), batch_sampler=batches, num_workers=num_workers,
        collate_fn=functools.partial(_collate, stack=pipeline.per_image is None), pin_memory=device.type == "cuda",
    )
    stream = iter(loader) if batches else iter(())  # no worker start-up when every shard was skipped already
    for shard, count in zip(shards, batch_counts, strict=True):
        skipped = [(i, source.skipped[i]) for i in range(shard.start, shard.stop) if i in source.skipped]
        bar.update(len(skipped))
        positions, outputs = [], []
        for _ in range(count):
            batch_positions, images, failures = next(stream)
            bar.update(len(batch_positions) + len(failures))
            skipped.extend(failures)
            if images is None:
                continue
            batch_positions, images, failures = _on_device(
                images, batch_positions, pipeline, device=device, memory_format=memory_format)
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


def _check_options(**options: Any) -> None:
    allowed = {
        "precision": ("fp32", "bf16"), "dtype": tuple(_DTYPES), "output_format": ("safetensors", "npy"),
    }
    for name, choices in allowed.items():
        if options[name] not in choices:
            raise ValueError(f"{name}={options[name]!r}; expected one of {', '.join(choices)}")
    for name in ("batch_size", "shard_size", "limit"):
        if options[name] is not None and options[name] < 1:
            raise ValueError(f"{name} must be at least 1, got {options[name]}")
    if options["num_workers"] is not None and options["num_workers"] < 0:
        raise ValueError(f"num_workers must be >= 0, got {options['num_workers']}")


def _describe_skips(skipped: list[dict[str, Any]], num_images: int) -> str:
    lines = [f"  {s['path']}: {s['reason']}" for s in skipped[:_STRICT_LISTED]]
    if len(skipped) > _STRICT_LISTED:
        lines.append(f"  ... and {len(skipped) - _STRICT_LISTED} more")
    return f"{len(skipped)} of {num_images} images could not be embedded:\n" + "\n".join(lines)


def default_num_workers(device: torch.device) -> int:
    """Decoding processes for `num_workers=None`: none on a CPU device, where the forward pass already keeps
    every core busy and workers only compete with it; up to 8 beside an accelerator."""
    return 0 if device.type == "cpu" else min(8, os.cpu_count() or 1)


def extract_features(
    model: nn.Module,
    transform: Callable[[torch.Tensor], torch.Tensor],
    data: str | Path,
    *,
    out: str | Path,
    batch_size: int = 256,
    shard_size: int = 8192,
    num_workers: int | None = None,
    device: str = "cpu",
    device_preprocessing: bool | None = None,
    precision: Literal["fp32", "bf16"] = "fp32",
    dtype: Literal["float32", "float16"] = "float32",
    output_format: Literal["safetensors", "npy"] = "safetensors",
    strict: bool = False,
    compile: bool = False,
    channels_last: bool = True,
    progress: bool = True,
    model_name: str | None = None,
    limit: int | None = None,
) -> ExtractSummary:
    """Embed every image of `data` with `model(transform(uint8 image))` into shards under `out`.

    `data`: an image folder (class sub-folders give labels), a text file of image paths, or `fashion_mnist`
    / `fashion_mnist:test`. Rerunning with the same arguments resumes; an `out` holding another extraction
    is refused. Unreadable images are skipped and listed in skipped.json, or raise DataError when `strict`.
    A rerun resumes only when the weights (their sha256), the preprocessing and the images (paths, sizes, mtimes)
    are those of the first run; `model_name` (e.g. a zoo name) is recorded for people. `limit` keeps the first
    entries of the source only. The model is moved to `device` in place.

    `num_workers` decoding processes; None is `default_num_workers(device)`. The float conversion and
    normalisation always run on `device`; `device_preprocessing` moves the resize and crop there too (None: on
    for CUDA), so that workers only decode.
    """
    _check_options(
        precision=precision, dtype=dtype, output_format=output_format, batch_size=batch_size,
        shard_size=shard_size, limit=limit, num_workers=num_workers,
    )
    source = open_source(data, limit=limit)
    out = claim_output_dir(out, kind="features", inputs=(data,), legacy_files=(INDEX_FILE,))
    num_images = len(source.paths)
    # What the bytes depend on; batch size, workers, device and compile only change rounding, if anything.
    settings = {
        "source": {"kind": source.kind, "location": source.location, "limit": limit, "num_images": num_images},
        "images": _listing_sha256(source),
        "weights_sha256": weights_sha256(model),
        # A transform's repr lists its steps and parameters; object addresses (of a lambda, say) are not settings.
        "preprocessing": re.sub(r" at 0x[0-9a-f]+", "", repr(transform)),
        "precision": precision,
        "dtype": dtype,
        "output_format": output_format,
        "shard_size": shard_size,
    }
    settings_sha256 = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()
    shards = _plan(num_images, shard_size)
    _prepare_out(out, settings, shards, output_format)
    counts: dict[int, int] = {}  # shard number -> images embedded, for the shards on disk
    skips: dict[int, list[dict[str, Any]]] = {}  # shard number -> its skipped entries
    dims: set[int] = set()
    for shard in shards:
        found = _resumable(out, shard, source, output_format=output_format, settings_sha256=settings_sha256)
        if found is not None:
            counts[shard.number], skips[shard.number] = len(found.paths), found.skipped
            dims.add(found.dim)
    resumed = len(counts)
    todo = [shard for shard in shards if shard.number not in counts]

    device_ = torch.device(device)
    if num_workers is None:
        num_workers = default_num_workers(device_)
    if device_preprocessing is None:
        device_preprocessing = device_.type == "cuda"
    pipeline = _pipeline(transform, device_preprocessing=device_preprocessing)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    was_training = model.training
    model.eval().to(device_, memory_format=memory_format)
    forward = torch.compile(model) if compile else model

    def save(shard: _Shard, positions: list[int], embeddings: torch.Tensor) -> None:
        _write_shard(
            out, shard, output_format=output_format, settings_sha256=settings_sha256,
            embeddings=embeddings.to(_DTYPES[dtype]), labels=[source.labels[i] for i in positions],
            indices=positions, paths=[source.paths[i] for i in positions], skipped=skips[shard.number],
        )
        counts[shard.number] = len(positions)

    empty: list[_Shard] = []  # shards with nothing embedded, written once D is known
    embedded_now = 0
    start = time.perf_counter()
    done = sum(shard.stop - shard.start for shard in shards if shard.number in counts)
    bar = tqdm(total=num_images, initial=done, unit="img", disable=not progress, desc="extract", dynamic_ncols=True)
    try:
        with torch.inference_mode():
            for shard, positions, embeddings, failures in _embed_shards(
                todo, source, pipeline, forward, batch_size=batch_size, num_workers=num_workers,
                device=device_, precision=precision, memory_format=memory_format, bar=bar,
            ):
                skips[shard.number] = [{"index": i, "path": source.paths[i], "reason": r} for i, r in failures]
                if embeddings is not None:
                    dims.add(embeddings.shape[1])
                    embedded_now += len(positions)
                if len(dims) > 1:
                    raise DataError(f"{out}: embeddings of sizes {sorted(dims)}: was the model changed between "
                                    "runs? Choose a new output folder")
                if strict and skips[shard.number]:
                    continue  # strict: a shard with a skip is not written; the error comes once all are seen
                if embeddings is None:
                    empty.append(shard)
                else:
                    save(shard, positions, embeddings)
                if dims:
                    for empty_shard in empty:
                        save(empty_shard, [], torch.empty(0, next(iter(dims))))
                    empty.clear()
    finally:
        bar.close()
        model.train(was_training)
    elapsed = time.perf_counter() - start

    skipped_all = [s for shard in shards for s in skips[shard.number]]
    if strict and skipped_all:
        raise DataError(f"{source.location}: strict mode: {_describe_skips(skipped_all, num_images)}")
    if not dims:
        raise DataError(f"{source.location}: no image could be embedded: {_describe_skips(skipped_all, num_images)}")
    dim = next(iter(dims))
    num_embedded = sum(counts.values())
    index = {
        "format": FORMAT,
        "version": VERSION,
        **settings,
        "model_name": model_name,
        "settings_sha256": settings_sha256,
        "classes": source.classes,
        "num_images": num_images,
        "num_embedded": num_embedded,
        "num_skipped": len(skipped_all),
        "dim": dim,
        "skipped_manifest": SKIPPED_FILE,
        "shards": [
            {"name": shard.name, "files": shard.files(output_format), "start": shard.start, "stop": shard.stop,
             "num_embedded": counts[shard.number], "num_skipped": len(skips[shard.number])}
            for shard in shards
        ],
    }
    atomic_write_text(out / SKIPPED_FILE, json.dumps(skipped_all, indent=1) + "\n")
    atomic_write_text(out / INDEX_FILE, json.dumps(index, indent=2) + "\n")  # last: marks the run finished
    return ExtractSummary(
        out=out, num_images=num_images, num_embedded=num_embedded, num_skipped=len(skipped_all), dim=dim,
        shards=len(shards), resumed_shards=resumed, images_per_second=embedded_now / elapsed if embedded_now else 0.0,
        skipped_manifest=out / SKIPPED_FILE,
    )


def load_features(path: str | Path) -> Features:
    """Embeddings (as float32), labels and paths of a finished extraction folder (or its index.json)."""
    path = Path(path)
    index_file = path if path.is_file() else path / INDEX_FILE
    try:
        index = json.loads(index_file.read_text(encoding="utf-8"))
        output_format, dim, settings_sha256 = index["output_format"], index["dim"], index["settings_sha256"]
        shards = [(_Shard(n, s["start"], s["stop"]), s["num_embedded"]) for n, s in enumerate(index["shards"])]
        if index["format"] != FORMAT:
            raise ValueError(f"format {index['format']!r}, expected {FORMAT!r}")
        if index.get("version") != VERSION:
            raise ValueError(f"written by another version of simsiam-zoo (format {index.get('version')}, this one "
                             f"reads {VERSION}); extract again")
        provenance = {"classes": list(index["classes"]), "weights_sha256": index["weights_sha256"],
                      "preprocessing": index["preprocessing"]}
    except FileNotFoundError:
        raise DataError(f"{index_file}: not found; not a finished extraction (rerun it to resume)") from None
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise DataError(f"{index_file}: corrupt index: {e}") from None
    embeddings, labels, indices, paths = [], [], [], []
    for shard, num_embedded in shards:
        stored = _read_shard(index_file.parent, shard, output_format)
        if stored.settings_sha256 != settings_sha256 or len(stored.paths) != num_embedded or stored.dim != dim:
            raise DataError(f"{index_file.parent / shard.files(output_format)[0]}: does not match {index_file}")
        try:
            embeddings.append(stored.load_embeddings().float())
        except (OSError, ValueError, KeyError, SafetensorError) as e:
            raise DataError(f"{index_file.parent / shard.files(output_format)[0]}: corrupt shard: {e}") from None
        labels.append(stored.labels)
        indices.append(stored.indices)
        paths.extend(stored.paths)
    if not embeddings:
        return Features(torch.empty(0, dim), torch.empty(0, dtype=torch.int64), [], torch.empty(0, dtype=torch.int64),
                        **provenance)
    return Features(torch.cat(embeddings), torch.cat(labels), paths, torch.cat(indices), **provenance)
