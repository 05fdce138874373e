"""The features store: the shard files, their index and `load_features`.

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

Shard k covers the next shard_size source positions, cut short where a tar shard of the source begins: the plan
depends only on the source list and shard_size. A restarted run keeps every shard that verifies, recomputes the
others, and ends with the same bytes as an uninterrupted run (no timestamps, deterministic key order).
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file as load_safetensors
from safetensors.torch import save as safetensors_bytes

from simsiam_zoo._io import atomic_write, atomic_write_bytes, atomic_write_text, refuse_special_file
from simsiam_zoo.data import ImageSource
from simsiam_zoo.errors import DataError, listed

FORMAT = "simsiam_zoo.features"
# 2: resumes and evaluations check the weights' sha256, the preprocessing and each image's size and mtime.
VERSION = 2
# What each recorded setting means, for the message that refuses a resume whose settings changed.
_SETTING_NAMES = {
    "images": "the images (paths, sizes or modification times)",
    "weights_sha256": "the model's weights",
    "network": "the network (its architecture or settings)",
    "network_attributes": "the network's settings (attributes such as a ViT's global_pool or num_heads)",
    "preprocessing": "the preprocessing",
    "source": "the data source",
}
INDEX_FILE = "index.json"
SKIPPED_FILE = "skipped.json"
SETTINGS_FILE = "settings.json"
# Held by the process extracting into the folder: a second one waits (it would delete the first's temp files).
LOCK_NAME = ".extract.lock"
# Settings that versions before recorded none of: such a store resumes (as it was, unchecked for them).
_RECORDED_LATER = ("network", "network_attributes")
DTYPES = {"float32": torch.float32, "float16": torch.float16}
_SAFETENSORS_DTYPES = {"F32": "float32", "F16": "float16"}


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
    images_sha256: str = ""  # of the source's listing (`listing_sha256`), "" where the index does not record it
    source_kind: str = ""  # "folder", "list", "tar", "dataset" or "hf" (`ImageSource.kind`), as extracted
    source_location: str = ""

    def image_keys(self) -> list[str]:
        """Where each embedded image is, comparable across two extractions: a folder's, a list's and a tar's images
        by their files' paths, a dataset's by its location and entry."""
        if self.source_kind in ("folder", "list", "tar"):
            base = self.source_location if self.source_kind == "folder" else os.path.dirname(self.source_location)
            return [os.path.normpath(os.path.join(base, path)) for path in self.paths]
        return [f"{self.source_kind}:{self.source_location}:{path}" for path in self.paths]


@dataclass(frozen=True)
class Shard:
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
class StoredShard:
    """A shard's small parts read from disk; the embeddings load on demand."""

    paths: list[str]
    skipped: list[dict[str, Any]]
    settings_sha256: str
    labels: torch.Tensor
    indices: torch.Tensor
    dim: int
    load_embeddings: Callable[[], torch.Tensor]


def plan_shards(num_images: int, shard_size: int, *, breaks: Sequence[int] = ()) -> list[Shard]:
    """Runs of `shard_size` consecutive positions, also cut at each of `breaks` (where a tar shard of the source
    begins), so that an output shard is read from one input shard."""
    edges = sorted({0, *breaks, num_images})
    spans = [
        (start, min(start + shard_size, stop))
        for first, stop in itertools.pairwise(edges)
        for start in range(first, stop, shard_size)
    ]
    return [Shard(number, start, stop) for number, (start, stop) in enumerate(spans)]


def _reason(error: Exception) -> str:
    return "nested too deep" if isinstance(error, RecursionError) else str(error)


def _canonical_safetensors(tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> bytes:
    raw = safetensors_bytes(tensors, metadata=metadata)
    length = int.from_bytes(raw[:8], "little")
    # safetensors writes its metadata from a hash map, in a different order in each process: sort the header
    # so that a resumed run writes the same bytes as an uninterrupted one.
    header = json.dumps(json.loads(raw[8 : 8 + length]), sort_keys=True, separators=(",", ":")).encode()
    header += b" " * (-len(header) % 8)  # the format pads the header to keep tensor data 8-byte aligned
    return len(header).to_bytes(8, "little") + header + raw[8 + length :]


def write_shard(
    out: Path,
    shard: Shard,
    *,
    output_format: str,
    settings_sha256: str,
    embeddings: torch.Tensor,
    labels: list[int],
    indices: list[int],
    paths: list[str],
    skipped: list[dict[str, Any]],
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


def read_shard(out: Path, shard: Shard, output_format: str) -> StoredShard:
    """Headers, labels and metadata of a shard, checked for consistency; DataError naming a bad file."""
    files = [out / name for name in shard.files(output_format)]
    for file in files:
        refuse_special_file(file, DataError)
    current = files[0]
    try:
        if output_format == "safetensors":
            with safe_open(str(current), framework="pt") as f:
                meta = f.metadata() or {}
                view = f.get_slice("embeddings")
                shape, dtype = tuple(view.get_shape()), _SAFETENSORS_DTYPES.get(view.get_dtype(), view.get_dtype())
                labels, indices = f.get_tensor("labels"), f.get_tensor("indices")
            record = {
                "paths": json.loads(meta["paths"]),
                "skipped": json.loads(meta["skipped"]),
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

        stored = StoredShard(
            record["paths"],
            record["skipped"],
            record["settings_sha256"],
            labels,
            indices,
            shape[1] if len(shape) == 2 else -1,
            load_embeddings,
        )
    except (OSError, ValueError, KeyError, TypeError, RecursionError, IndexError, SafetensorError) as e:
        raise DataError(f"{current}: missing or corrupt shard: {_reason(e)}") from None
    rows = {shape[0] if len(shape) == 2 else -1, len(stored.paths), len(stored.labels), len(stored.indices)}
    if len(rows) != 1 or dtype not in DTYPES or labels.dtype != torch.int64 or indices.dtype != torch.int64:
        raise DataError(
            f"{files[0]}: corrupt shard: embeddings {shape} {dtype}, {len(stored.paths)} paths, "
            f"{len(labels)} labels, {len(indices)} indices"
        )
    return stored


def resumable_shard(
    out: Path, shard: Shard, source: ImageSource, *, output_format: str, settings_sha256: str
) -> StoredShard | None:
    """The shard already on disk if it is complete and matches the plan, None if it must be (re)computed."""
    if not any((out / name).exists() for name in shard.files(output_format)):
        return None
    try:
        stored = read_shard(out, shard, output_format)
    except DataError:
        return None  # damaged (writes are atomic, so only by something else): recompute it
    if stored.settings_sha256 != settings_sha256:
        raise DataError(
            f"{out / shard.files(output_format)[0]}: written by an extraction with other settings; "
            "choose a new output folder or delete this one"
        )
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


def prepare_out(
    out: Path, settings: dict[str, Any], shards: list[Shard], output_format: str, *, former: dict[str, Any]
) -> dict[str, Any]:
    """Refuse an OUT holding another extraction, naming what differs; record this one's settings; clear temp files
    a killed run left behind. Returns the settings to go on under: those recorded, where a version before recorded
    fewer, a pattern as typed, or a setting as `former` has it (its shards carry the digest of that record)."""
    settings_file = out / SETTINGS_FILE
    embedded = (out / INDEX_FILE).exists() or any(out.glob("shard-*"))
    # Settings recorded by a run that failed before its first shard protect nothing: the fixed rerun (another
    # model, say) replaces them, where it was refused until the folder was deleted by hand.
    previous = _recorded_settings(out) if embedded else None
    if previous is not None:
        changed = [
            _SETTING_NAMES.get(name, name)
            for name, value in settings.items()
            if not _alike(name, previous, value, former=former)
        ]
        if changed:
            raise DataError(
                f"{out}: holds an extraction of other inputs or settings (changed: {', '.join(changed)}); "
                "choose a new output folder or delete this one"
            )
        settings = {name: previous[name] for name in settings if name in previous}
    planned = {name for shard in shards for name in shard.files(output_format)}
    foreign = sorted(p.name for p in out.glob("shard-*") if p.name not in planned)
    if foreign:
        raise DataError(
            f"{out}: holds shards of another extraction ({', '.join(foreign[:5])}); "
            "choose a new output folder or delete this one"
        )
    for pattern in (".shard-*.tmp", f".{INDEX_FILE}.*.tmp", f".{SKIPPED_FILE}.*.tmp", f".{SETTINGS_FILE}.*.tmp"):
        for stale in out.glob(pattern):
            stale.unlink(missing_ok=True)
    if not embedded or not settings_file.exists():
        atomic_write_text(settings_file, json.dumps({"version": VERSION, **settings}, indent=2) + "\n")
    return settings


def _recorded_settings(out: Path) -> dict[str, Any] | None:
    """The settings an extraction recorded in OUT (in its index, for the versions before settings.json), None
    where there are none; an unreadable record, another format or version refused."""
    recorded = next((path for path in (out / SETTINGS_FILE, out / INDEX_FILE) if path.exists()), None)
    if recorded is None:
        return None
    try:
        previous = json.loads(recorded.read_text(encoding="utf-8"))
        version = previous.get("version")
    except (OSError, ValueError, AttributeError, RecursionError) as e:
        raise DataError(
            f"{recorded}: unreadable ({_reason(e)}); choose a new output folder or delete this one"
        ) from None
    if recorded.name == INDEX_FILE and previous.get("format") != FORMAT:  # a user's own index.json
        raise DataError(f"{recorded}: not an index of features simsiam-zoo wrote; choose another output folder")
    if version != VERSION:
        raise DataError(
            f"{out}: holds an extraction written by another version of simsiam-zoo (format {version}, "
            f"this one writes {VERSION}); choose a new output folder or delete this one"
        )
    return previous


def _alike(name: str, previous: dict[str, Any], current: Any, *, former: dict[str, Any]) -> bool:
    """Setting `name` recorded (in `previous`) as it is now, or as versions before computed it (`former`). The
    version before recorded tar and parquet patterns as typed (relative): such a pattern is read from the folder the
    resume runs in."""
    recorded = previous.get(name)
    if recorded == current or (name in _RECORDED_LATER and name not in previous):
        return True
    if name in former and recorded == former[name]:
        return True
    if name == "source" and isinstance(recorded, dict) and isinstance(recorded.get("location"), str):
        return {**recorded, "location": os.path.abspath(recorded["location"])} == current
    return False


def _check_values(shard_file: Path, embeddings: torch.Tensor, labels: torch.Tensor, *, classes: int) -> None:
    """Values no evaluation can use, said naming the shard: NaN or inf features (a shard edited, or a model whose
    features overflow), labels outside the index's classes (an edit; -1, no label, aside)."""
    bad_rows = (~torch.isfinite(embeddings)).any(dim=1).nonzero().flatten()
    if len(bad_rows):
        raise DataError(f"{shard_file}: corrupt shard: NaN or inf in {len(bad_rows)} rows (the first: {bad_rows[0]})")
    bad_labels = labels[(labels < -1) | (labels >= classes)].unique()
    if len(bad_labels):
        raise DataError(
            f"{shard_file}: corrupt shard: labels {listed(bad_labels.tolist(), limit=5)} are not among the "
            f"{classes} classes of its index"
        )


def _check_coverage(shards: list[tuple[Shard, int]], *, num_images: int, num_embedded: int) -> None:
    """A finished extraction's shards follow one another from its first image to its last, and hold what it
    embedded, one image at least (an index edited to list no shards gave empty features, then a traceback)."""
    stops = [0] + [shard.stop for shard, _ in shards]
    if any(shard.start != stop for (shard, _), stop in zip(shards, stops, strict=False)) or stops[-1] != num_images:
        raise ValueError(f"its shards do not cover its {num_images} images one after another")
    if sum(count for _, count in shards) != num_embedded or num_embedded < 1:
        raise ValueError(f"its shards hold {sum(count for _, count in shards)} embeddings, not its {num_embedded}")


def load_features(path: str | Path) -> Features:
    """Embeddings (as float32), labels and paths of a finished extraction folder (or its index.json)."""
    path = Path(path)
    index_file = path if path.is_file() else path / INDEX_FILE
    index, shards = _read_index(index_file)
    provenance = {key: index[key] for key in ("classes", "weights_sha256", "preprocessing")}
    provenance["images_sha256"] = str(index.get("images", ""))
    provenance["source_kind"], provenance["source_location"] = (
        str(index["source"].get(key, "")) for key in ("kind", "location")
    )
    embeddings, labels, indices, paths = [], [], [], []
    for shard, num_embedded in shards:  # one at least: the index was checked
        stored = read_shard(index_file.parent, shard, index["output_format"])
        shard_file = index_file.parent / shard.files(index["output_format"])[0]
        positions = torch.as_tensor(stored.indices)
        inside = bool(((positions >= shard.start) & (positions < shard.stop)).all())
        recorded = stored.settings_sha256 == index["settings_sha256"] and len(stored.paths) == num_embedded
        if not (recorded and stored.dim == index["dim"] and inside):
            raise DataError(f"{shard_file}: does not match {index_file}")
        try:
            embeddings.append(stored.load_embeddings().float())
        except (OSError, ValueError, KeyError, SafetensorError) as e:
            raise DataError(f"{shard_file}: corrupt shard: {e}") from None
        _check_values(shard_file, embeddings[-1], stored.labels, classes=len(provenance["classes"]))
        labels.append(stored.labels)
        indices.append(stored.indices)
        paths.extend(stored.paths)
    return Features(torch.cat(embeddings), torch.cat(labels), paths, torch.cat(indices), **provenance)


def _read_index(index_file: Path) -> tuple[dict[str, Any], list[tuple[Shard, int]]]:
    """A finished extraction's index, checked (DataError naming it), and its shards with their embedding counts."""
    refuse_special_file(index_file, DataError)
    try:
        index = json.loads(index_file.read_text(encoding="utf-8"))
        shards = [(Shard(n, s["start"], s["stop"]), s["num_embedded"]) for n, s in enumerate(index["shards"])]
        _check_coverage(shards, num_images=index["num_images"], num_embedded=index["num_embedded"])
        if index["source"]["num_images"] != index["num_images"]:  # the source's listing, recorded in the settings
            raise ValueError(f"it lists {index['num_images']} images of a source of {index['source']['num_images']}")
        if index["format"] != FORMAT:
            raise ValueError(f"format {index['format']!r}, expected {FORMAT!r}")
        if index.get("version") != VERSION:
            raise ValueError(
                f"written by another version of simsiam-zoo (format {index.get('version')}, this one "
                f"reads {VERSION}); extract again"
            )
        missing = sorted({"output_format", "dim", "settings_sha256", "weights_sha256", "preprocessing"} - set(index))
        if missing:
            raise ValueError(f"it has no {', '.join(missing)}")
        index["classes"] = list(index["classes"])
    except FileNotFoundError:
        raise DataError(f"{index_file}: not found; not a finished extraction (rerun it to resume)") from None
    except (OSError, ValueError, KeyError, TypeError, RecursionError) as e:
        raise DataError(f"{index_file}: corrupt index: {_reason(e)}") from None
    return index, shards
