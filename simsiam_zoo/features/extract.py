"""`extract_features`: embed every image of a source into the store, resumably."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import itertools
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from tqdm.auto import tqdm

from simsiam_zoo._io import (
    claim_output_dir,
    hold_lock,
    lock_path_outside,
    read_marker,
    write_text_if_changed,
)
from simsiam_zoo.arguments import check_bool, check_instance
from simsiam_zoo.data import ImageSource, former_listing_sha256, listing_sha256, open_source, rank_stretches
from simsiam_zoo.digests import network_attributes_sha256, network_sha256, weights_sha256
from simsiam_zoo.distributed import (
    DistributedContext,
    all_outcomes,
    check_same_on_every_rank,
    device_named,
    init_distributed,
    job_options,
    local_device,
    on_main,
)
from simsiam_zoo.errors import DataError, listed
from simsiam_zoo.features.pipeline import Pipeline, embed_shards, split_pipeline
from simsiam_zoo.features.store import (
    DTYPES,
    FORMAT,
    INDEX_FILE,
    LOCK_NAME,
    SKIPPED_FILE,
    VERSION,
    Features,
    Shard,
    load_features,
    plan_shards,
    prepare_out,
    resumable_shard,
    write_shard,
)
from simsiam_zoo.model import check_embedding_model, evaluating
from simsiam_zoo.options import EXTRACT, ExtractOptions

_NAMED_SKIPS = 5  # skipped entries named in a strict-mode or no-image error; the rest are counted


@dataclass(frozen=True)
class ExtractSummary:
    """What one `extract_features` call produced; `images_per_second` counts images embedded by this call."""

    out: Path
    num_images: int  # entries in the source list: num_embedded + num_skipped
    num_embedded: int
    num_skipped: int
    num_not_images: int  # of the skipped, the entries listed as no images (the others did not decode)
    dim: int
    shards: int
    resumed_shards: int  # shards kept from an earlier, interrupted run
    images_per_second: float
    skipped_manifest: Path


# ------------------------------------------------------------------------------------------------ shards


def describe_skips(skipped: list[dict[str, Any]], num_images: int) -> str:
    """How many of `num_images` a store skipped, the first few named with their reasons (skipped.json's entries)."""
    named = listed((f"{s['path']}: {s['reason']}" for s in skipped), limit=_NAMED_SKIPS, separator="; ")
    return f"{len(skipped)} of {num_images} entries could not be embedded ({named})"


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
    options: ExtractOptions = EXTRACT,
    progress: bool = True,
    model_name: str | None = None,
    **overrides: Any,
) -> ExtractSummary:
    """Embed every image of `data` with `model(transform(uint8 image))` into shards under `out`.

    `data`: any source `open_source` reads (an image folder, a list file, tar shards, a Hugging Face dataset,
    `fashion_mnist[:test]`). How it runs is `options` (an `ExtractOptions`), with any of its fields given here as
    keywords instead (`batch_size=64`). Rerunning with the same arguments resumes; an `out` holding another
    extraction is refused. Unreadable images are skipped and listed in skipped.json, or raise DataError with
    `strict`. A rerun resumes only when the weights (their sha256), the model's layers as printed (their reprs), the
    preprocessing and the images (paths, sizes, mtimes) are those of the first run; `model_name` (e.g. a zoo
    name) is recorded for people. The model is moved to the device in place.

    Inside a process group (torchrun, or one the caller initialised) every rank calls it alike: each embeds and
    writes its share of the same plan (`rank_shards`: its own stretch of the source), rank 0 writes the index once
    all are done, and the output is the one a single process writes.
    """
    options = _checked_arguments(model, transform, options, overrides, progress=progress)
    context = init_distributed(device_named(options.device))
    # The weights too: a rank given another model (another --hub-dir) would embed its share with them.
    weights = weights_sha256(model)
    model_record = _model_record(model, weights)
    check_same_on_every_rank(context, **job_options(options), data=str(data), out=str(out), weights=weights)
    # Rank 0 lists the source, claims OUT and holds its lock until the index is written (a second extraction
    # into OUT waits, then resumes); every rank then works from that one listing.
    with contextlib.ExitStack() as held:
        prepare = functools.partial(
            _prepare, model_record, transform, data, out, options, held=held, model_name=model_name
        )
        source, out, settings = on_main(context, prepare)
        store = _Store(out, source, settings, _plan(source, options.shard_size), context=context)
        # Each rank's (images embedded, seconds taken); the rate is the whole job's.
        embedded = all_outcomes(
            context,
            lambda: _timed(lambda: _embed_rank(store, model, transform, options, context=context, progress=progress)),
        )
        parts = all_outcomes(context, store.part)
        summary = on_main(context, lambda: store.finish(parts, model_name=model_name, strict=options.strict))
        embedded_now, elapsed = sum(images for images, _ in embedded), max(seconds for _, seconds in embedded)
        return ExtractSummary(
            out=out,
            num_images=len(source.paths),
            num_embedded=summary["num_embedded"],
            num_skipped=summary["num_skipped"],
            num_not_images=len(source.skipped),
            dim=summary["dim"],
            shards=len(store.shards),
            resumed_shards=sum(part.resumed for part in parts),
            images_per_second=embedded_now / elapsed if embedded_now else 0.0,
            skipped_manifest=out / SKIPPED_FILE,
        )


def _model_record(model: nn.Module, weights_sha256: str) -> dict[str, str]:
    """The model as a resume compares it: its weights, its layers as printed and the attributes they do not print."""
    return {
        "weights_sha256": weights_sha256,
        "network": network_sha256(model),
        "network_attributes": network_attributes_sha256(model),
    }


def _checked_arguments(
    model: nn.Module, transform: Any, options: ExtractOptions, overrides: dict[str, Any], *, progress: bool
) -> ExtractOptions:
    """`options` with the `overrides`, each argument checked before any work: None as options failed in
    dataclasses.replace, a None transform on every image after the output was claimed, "no" showed the bars."""
    check_instance("options", options, ExtractOptions)
    options = dataclasses.replace(options, **overrides)
    check_embedding_model(model, bf16=options.precision == "bf16")
    check_bool("progress", progress)
    if not callable(transform):
        raise TypeError(f"transform must be callable (uint8 image -> float tensor), got {transform!r}")
    return options


def labelled_features(
    model: nn.Module,
    transform: Callable[[torch.Tensor], torch.Tensor],
    data: str | Path,
    *,
    out: str | Path,
    progress: bool = False,
    model_name: str | None = None,
    **options: Any,
) -> tuple[torch.Tensor, torch.Tensor]:
    """`extract_features` (resuming what `out` holds), then the embeddings of the images with a label, and their
    labels: what an evaluation reads (images outside a folder's class folders have none)."""
    extract_features(model, transform, data, out=out, progress=progress, model_name=model_name, **options)
    return labelled(load_features(out))


def labelled(features: Features) -> tuple[torch.Tensor, torch.Tensor]:
    """The embeddings of the images with a label, and their labels (images outside a folder's class folders have
    none)."""
    keep = features.labels >= 0
    return features.embeddings[keep], features.labels[keep]


def _embed_rank(
    store: _Store,
    model: nn.Module,
    transform: Callable[[torch.Tensor], torch.Tensor],
    options: ExtractOptions,
    *,
    context: DistributedContext,
    progress: bool,
) -> int:
    """This rank's missing shards embedded on its device; the model is left in the mode and memory format it came
    in (left channels_last, a notebook's `weight.view(-1)` failed)."""
    device = local_device(options.device, context)
    pipeline = split_pipeline(transform, device_preprocessing=options.device_preprocessing)
    memory_format = torch.channels_last if options.channels_last else torch.contiguous_format
    was_format = _memory_format_of(model)
    model.to(device, memory_format=memory_format)
    try:
        with evaluating(model):
            return _embed_missing(
                store,
                pipeline,
                torch.compile(model) if options.compile else model,
                batch_size=options.batch_size,
                device=device,
                num_workers=default_num_workers(device) if options.num_workers is None else options.num_workers,
                precision=options.precision,
                memory_format=memory_format,
                progress=progress,
                strict=options.strict,
            )
    finally:
        model.to(memory_format=was_format)


def _memory_format_of(model: nn.Module) -> torch.memory_format:
    """channels_last where a 4-D parameter is laid out so (and not also contiguous: a 1x1 kernel is both)."""
    laid_out = (
        p.is_contiguous(memory_format=torch.channels_last) and not p.is_contiguous()
        for p in model.parameters()
        if p.dim() == 4
    )
    return torch.channels_last if any(laid_out) else torch.contiguous_format


def _timed(work: Callable[[], int]) -> tuple[int, float]:
    start = time.perf_counter()
    return work(), time.perf_counter() - start


def _prepare(
    model_record: dict[str, str],
    transform: Callable[[torch.Tensor], torch.Tensor],
    data: str | Path,
    out: str | Path,
    options: ExtractOptions,
    *,
    held: contextlib.ExitStack,
    model_name: str | None,
) -> tuple[ImageSource, Path, dict[str, Any]]:
    """Open the source, claim OUT for it (never inside the model's folder, when `model_name` is one), lock it (for
    as long as `held` lasts) and record the settings there (refusing other ones)."""
    source = open_source(data, limit=options.limit)
    out = claim_output_dir(out, kind="features", inputs=(data,), models=(model_name,), legacy_files=(INDEX_FILE,))
    if source.kind == "folder" and Path(data).resolve() in Path(out).resolve().parents:
        # Listed before its marker was written, an empty OUT made beforehand in DATA was a class of its own.
        source = open_source(data, limit=options.limit)
    # A folder taken for an older version's index (no marker) may be a user's own: its lock lives outside it.
    lock = out / LOCK_NAME if read_marker(Path(out)) == "features" else lock_path_outside(Path(out).resolve())
    hold_lock(lock, held, waiting=f"{out}: another extraction is writing here; waiting for it to finish")
    current = _settings(
        source,
        model_record,
        transform,
        limit=options.limit,
        output_format=options.output_format,
        shard_size=options.shard_size,
        precision=options.precision,
        dtype=options.dtype,
    )
    former = {"images": former_listing_sha256(source)} if source.cache_files else {}
    settings = prepare_out(out, current, _plan(source, options.shard_size), options.output_format, former=former)
    return source, out, settings


def _plan(source: ImageSource, shard_size: int) -> list[Shard]:
    return plan_shards(len(source.paths), shard_size, breaks=source.tar_starts())


def rank_shards(shards: list[Shard], source: ImageSource, *, rank: int, world_size: int) -> list[Shard]:
    """Rank r's share of the plan: the shards that start in its stretch of the source (`rank_stretches`, whole tar
    shards when there are at least as many as ranks), so that each rank reads its own tars front to back."""
    stretch = rank_stretches(len(source.paths), world_size, tar_starts=source.tar_starts())[rank]
    return [shard for shard in shards if shard.start in stretch]


def _embed_missing(
    store: _Store, pipeline: Pipeline, model: nn.Module, *, progress: bool, strict: bool, **options: Any
) -> int:
    """Embed this rank's shards that `store` does not hold yet into it; the number of images embedded."""
    done = sum(shard.stop - shard.start for shard in store.mine if shard.number in store.counts)
    bar = _JobBar(store.context, total=len(store.source.paths), enabled=progress)
    try:
        bar.advance(done)
        with torch.inference_mode():
            todo = [shard for shard in store.mine if shard.number not in store.counts]
            stream = embed_shards(todo, store.source, pipeline, model, advance=bar.advance, **options)
            return sum(store.add(*embedded, strict=strict) for embedded in stream)
    finally:
        bar.close()


class _JobBar:
    """The whole job's progress, shown by rank 0: with several ranks each adds its count to the process group's
    key-value store (torch.distributed's own, which every rank reaches), and rank 0 shows the sum."""

    _calls = itertools.count()  # a key per extraction: calls are collective, so every rank counts the same

    def __init__(self, context: DistributedContext, *, total: int, enabled: bool):
        self.bar = tqdm(
            total=total, unit="img", disable=not (enabled and context.is_main), desc="extract", dynamic_ncols=True
        )
        # Without a bar to show, the ranks need not count.
        self.store = dist.distributed_c10d._get_default_store() if context.enabled and enabled else None
        self.key = f"simsiam_zoo/extract/{next(self._calls)}"

    def advance(self, images: int) -> None:
        if self.store is None:
            self.bar.update(images)
        else:
            self.bar.update(self.store.add(self.key, images) - self.bar.n)

    def close(self) -> None:
        self.bar.close()


def _settings(
    source: ImageSource,
    model_record: dict[str, str],
    transform: Callable[[torch.Tensor], torch.Tensor],
    *,
    limit: int | None,
    precision: str,
    dtype: str,
    output_format: str,
    shard_size: int,
) -> dict[str, Any]:
    """What the bytes depend on; batch size, workers, device and compile only change rounding, if anything."""
    return {
        "source": {"kind": source.kind, "location": source.location, "limit": limit, "num_images": len(source.paths)},
        "images": listing_sha256(source),
        **model_record,  # the weights' sha256 and the network's
        # A transform's repr lists its steps and parameters; object addresses (of a lambda, say) are not settings.
        "preprocessing": re.sub(r" at 0x[0-9a-f]+", "", repr(transform)),
        "precision": precision,
        "dtype": dtype,
        "output_format": output_format,
        "shard_size": shard_size,
    }


@dataclass(frozen=True)
class _StorePart:
    """What one rank's store holds, for rank 0 to write the index of all."""

    counts: dict[int, int]
    skips: dict[int, list[dict[str, Any]]]
    dims: set[int]
    empty: list[Shard]
    resumed: int


class _Store:
    """One extraction's shards in OUT: those kept from an earlier run, each new one written as it is embedded
    (an empty one once the embedding size is known), and the index written last. With several ranks each embeds
    and writes its own shards (`rank_shards`), and rank 0 the index of all."""

    def __init__(
        self,
        out: Path,
        source: ImageSource,
        settings: dict[str, Any],
        shards: list[Shard],
        *,
        context: DistributedContext,
    ):
        self.out, self.source, self.settings, self.shards, self.context = out, source, settings, shards, context
        self.mine = rank_shards(shards, source, rank=context.rank, world_size=context.world_size)
        self.settings_sha256 = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()
        self.counts: dict[int, int] = {}  # shard number -> images embedded, for the shards on disk
        self.skips: dict[int, list[dict[str, Any]]] = {}  # shard number -> its skipped entries
        self.dims: set[int] = set()
        self.empty: list[Shard] = []  # shards with nothing embedded, written once D is known
        for shard in self.mine:
            found = resumable_shard(
                out, shard, source, output_format=settings["output_format"], settings_sha256=self.settings_sha256
            )
            if found is not None:
                self.counts[shard.number], self.skips[shard.number] = len(found.paths), found.skipped
                self.dims.add(found.dim)
        self.resumed = len(self.counts)

    def add(
        self,
        shard: Shard,
        positions: list[int],
        embeddings: torch.Tensor | None,
        failures: list[tuple[int, str]],
        *,
        strict: bool,
    ) -> int:
        """Record one embedded shard and write it (unless `strict` and it has a skip); the images it embedded."""
        self.skips[shard.number] = [{"index": i, "path": self.source.paths[i], "reason": r} for i, r in failures]
        if embeddings is not None:
            self._check_finite(positions, embeddings)
            self.dims.add(embeddings.shape[1])
        self._check_dims()
        if strict and self.skips[shard.number]:
            return len(positions)  # strict: a shard with a skip is not written; the error comes once all are seen
        if embeddings is None:
            self.empty.append(shard)
        else:
            self._save(shard, positions, embeddings)
        self._save_empty()
        return len(positions)

    def _check_finite(self, positions: list[int], embeddings: torch.Tensor) -> None:
        """A row of NaN or inf is the model's failure, not the image's: no shard holds one (the readers refuse it)."""
        bad = (~torch.isfinite(embeddings).all(dim=1)).nonzero().flatten().tolist()
        if bad:
            raise DataError(
                f"{self.out}: the model gave non-finite embeddings (NaN or inf) for {len(bad)} of {len(positions)} "
                f"images of a shard, the first {self.source.paths[positions[bad[0]]]}; its weights or its input "
                "are broken"
            )
        dtype = self.settings["dtype"]
        if not torch.isfinite(embeddings.to(DTYPES[dtype])).all():  # stored as inf, which every reader refuses
            largest = embeddings.abs().max().item()
            raise DataError(
                f"{self.out}: the model's embeddings reach {largest:.4g}, beyond --dtype {dtype}'s range "
                f"({torch.finfo(DTYPES[dtype]).max:.4g}); extract with --dtype float32 into a new output folder"
            )

    def _check_dims(self) -> None:
        if len(self.dims) > 1:
            raise DataError(
                f"{self.out}: embeddings of sizes {sorted(self.dims)}: was the model changed between "
                "runs? Choose a new output folder"
            )

    def _save_empty(self) -> None:
        if self.dims:
            for empty_shard in self.empty:
                self._save(empty_shard, [], torch.empty(0, next(iter(self.dims))))
            self.empty.clear()

    def part(self) -> _StorePart:
        return _StorePart(self.counts, self.skips, self.dims, self.empty, self.resumed)

    def _merge(self, parts: list[_StorePart]) -> None:
        """Take in every rank's part (this one's included); write the empty shards a rank could not size."""
        for part in parts:
            self.counts.update(part.counts)
            self.skips.update(part.skips)
            self.dims |= part.dims
        self.empty = [shard for part in parts for shard in part.empty]
        self._check_dims()
        self._save_empty()

    def _save(self, shard: Shard, positions: list[int], embeddings: torch.Tensor) -> None:
        source = self.source
        write_shard(
            self.out,
            shard,
            output_format=self.settings["output_format"],
            settings_sha256=self.settings_sha256,
            embeddings=embeddings.to(DTYPES[self.settings["dtype"]]),
            labels=[source.labels[i] for i in positions],
            indices=positions,
            paths=[source.paths[i] for i in positions],
            skipped=self.skips[shard.number],
        )
        self.counts[shard.number] = len(positions)

    def _check_all_here(self) -> None:
        """Every rank's shards in OUT as this rank (0) sees it: a node's own disk at that path kept its ranks' shards,
        and the index listed them (exit 0, then "missing or corrupt shard")."""
        output_format = self.settings["output_format"]
        missing = [
            name
            for shard in self.shards
            if shard.number in self.counts
            for name in shard.files(output_format)
            if not (self.out / name).is_file()
        ]
        if missing:
            raise DataError(
                f"{self.out}: {listed(missing, limit=3)} that other ranks wrote are not there as rank 0 sees it; give "
                "an output folder that every rank sees (a shared disk, not each node's own)"
            )

    def finish(self, parts: list[_StorePart], *, model_name: str | None, strict: bool) -> dict[str, Any]:
        """With every rank's part: write skipped.json and, last, index.json (which marks the run finished); return
        the index."""
        self._merge(parts)
        self._check_all_here()
        num_images = len(self.source.paths)
        skipped_all = [s for shard in self.shards for s in self.skips[shard.number]]
        if strict and skipped_all:
            raise DataError(
                f"{self.source.location}: strict mode: {describe_skips(skipped_all, num_images)}; their shards were "
                f"not written, and {self.out} records the images as they are: once they are mended or removed, "
                "extract into a new output folder (or delete that one)"
            )
        if not self.dims:
            raise DataError(
                f"{self.source.location}: no image could be embedded: {describe_skips(skipped_all, num_images)}"
            )
        output_format = self.settings["output_format"]
        index = {
            "format": FORMAT,
            "version": VERSION,
            **self.settings,
            "model_name": model_name,
            "settings_sha256": self.settings_sha256,
            "classes": self.source.classes,
            "num_images": num_images,
            "num_embedded": sum(self.counts.values()),
            "num_skipped": len(skipped_all),
            "dim": next(iter(self.dims)),
            "skipped_manifest": SKIPPED_FILE,
            "shards": [
                {
                    "name": shard.name,
                    "files": shard.files(output_format),
                    "start": shard.start,
                    "stop": shard.stop,
                    "num_embedded": self.counts[shard.number],
                    "num_skipped": len(self.skips[shard.number]),
                }
                for shard in self.shards
            ],
        }
        write_text_if_changed(self.out / SKIPPED_FILE, json.dumps(skipped_all, indent=1) + "\n")
        write_text_if_changed(self.out / INDEX_FILE, json.dumps(index, indent=2) + "\n")
        return index
