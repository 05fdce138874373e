"""One benchmark cell: a model's (or a baseline's) features of a dataset, and a protocol's records on them.

A cell is written as JSON once computed, with the fingerprint of everything its numbers depend on (the weights'
sha256, the preprocessing, the data, the protocol's settings); a rerun skips the cells whose fingerprint holds.
"""

from __future__ import annotations

import hashlib
import json
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from simsiam_zoo._io import atomic_write_text
from simsiam_zoo.backbone import LoadedBackbone
from simsiam_zoo.data import NoneIfUndecodable, Transformed, dataset_fingerprint, not_decoding
from simsiam_zoo.digests import weights_sha256
from simsiam_zoo.distributed import DistributedContext
from simsiam_zoo.errors import DataError, OutputRefused
from simsiam_zoo.evaluate import balanced_label_subset, class_sizes, fit_linear_probe, knn_accuracy, linear_probe_sweep
from simsiam_zoo.features import embed_dataset, extract_features, labelled, load_features
from simsiam_zoo.options import BenchmarkOptions
from simsiam_zoo.protocols import Splits

KNN_KS, KNN_TEMPERATURE = (20, 200), 0.07
PIXELS_SIDE = 32  # the raw-pixel baseline's longest side (CIFAR's): Fashion-MNIST's 28 px and digits' 32 px stay
# In the pixels' cells' fingerprint and records: cells of pixels at a photo's own size are computed again.
PIXELS_PREPROCESSING = f"the first train image's size, at most {PIXELS_SIDE} px a side, bilinear with antialias"
FIXED_WEIGHT_DECAY = 1e-4  # the middle of linear_probe_sweep's defaults, where each class has one image
Features = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]  # train x, train y, test x, test y


@dataclass(frozen=True)
class Contender:
    """A row of the leaderboard: a loaded model (its network, its weights' sha256 and preprocessing), or the raw
    pixels."""

    name: str
    loaded: LoadedBackbone | None = None
    weights: str | None = None
    preprocessing: str | None = None
    # The architecture and its `model_args`: the same weights in another network (`global_pool: max`, another
    # `num_heads`) embed otherwise, and their cells were reused.
    network: str | None = None

    @classmethod
    def of(cls, name: str, loaded: LoadedBackbone) -> Contender:
        network = json.dumps({"arch": loaded.arch, "model_args": dict(loaded.model_args)}, sort_keys=True)
        return cls(name, loaded, weights_sha256(loaded.model), repr(loaded.preprocessing), network)

    @property
    def digest(self) -> str:
        """What the features depend on besides the data."""
        return hashlib.sha256(f"{self.weights};{self.preprocessing};{self.network}".encode()).hexdigest()


def slug(name: str) -> str:
    """A file-name-safe form of a model or dataset name."""
    return re.sub(r"[^\w.-]+", "_", name).strip("_") or "_"


def cell_path(out: Path, contender: str, dataset: str, protocol: str) -> Path:
    """The cell's file; the model's folder carries a hash of its exact name, since two names (`a/b`, `a_b`) can
    share a slug. Dataset names are file-name-safe already."""
    folder = f"{slug(contender)}-{hashlib.sha256(contender.encode()).hexdigest()[:8]}"
    return out / "cells" / folder / dataset / f"{protocol}.json"


@dataclass(frozen=True)
class DataFingerprint:
    """What a dataset's splits are (`dataset_fingerprint` of each), and of both together, which cells record."""

    train: str
    test: str

    @classmethod
    def of(cls, splits: Splits) -> DataFingerprint:
        return cls(dataset_fingerprint(splits.train), dataset_fingerprint(splits.test))

    @property
    def both(self) -> str:
        return hashlib.sha256(f"{self.train};{self.test}".encode()).hexdigest()


def cell_fingerprint(contender: Contender, data: str, protocol: str, options: BenchmarkOptions) -> str:
    """Everything a cell's numbers depend on: the model, the data (`DataFingerprint.both`), the protocol's settings."""
    settings = {
        "model": contender.digest,
        "data": data,
        "protocol": protocol,
        "seed": options.seed,
        **({"ks": KNN_KS, "temperature": KNN_TEMPERATURE} if protocol in ("knn", "fewshot") else {}),
        **({"shots": options.shots, "draws": options.draws} if protocol == "fewshot" else {}),
    }
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()


def _records_sha256(records: Any) -> str:
    return hashlib.sha256(json.dumps(records, sort_keys=True).encode()).hexdigest()


def read_cell(path: Path, fingerprint: str) -> list[dict[str, Any]] | None:
    """The cell's records when it was computed with these settings, else None (computed again). Records that are
    not the ones written (their sha256, saved with them, differs: a cell edited by hand or by another program)
    are computed again too, with a warning, rather than ranked or read as numbers. A folder in its place is
    refused before the cell is computed: writing the cell would fail there (a raw errno, after the work)."""
    if path.is_dir():
        raise OutputRefused(f"{path}: a folder where the benchmark keeps this cell's result file; move it away")
    for folder in path.parents[:3]:  # the dataset's, the model's and the cells folder
        if folder.exists() and not folder.is_dir():
            raise OutputRefused(f"{folder}: a file where the benchmark keeps a folder of cells; move it away")
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return None
    if not isinstance(saved, dict) or saved.get("fingerprint") != fingerprint:
        return None
    if saved.get("records_sha256") != _records_sha256(saved.get("records")):
        if "records_sha256" in saved:  # a cell of an earlier version has none, and is computed again in silence
            warnings.warn(f"{path}: its records are not those the benchmark wrote; computing it again", stacklevel=2)
        return None
    return saved["records"]


def write_cell(path: Path, fingerprint: str, records: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cell = {"fingerprint": fingerprint, "records_sha256": _records_sha256(records), "records": records}
    atomic_write_text(path, json.dumps(cell, indent=1) + "\n")


def contender_features(
    contender: Contender,
    splits: Splits,
    *,
    dataset: str,
    data: DataFingerprint,
    cache: Path,
    options: BenchmarkOptions,
    context: DistributedContext | None = None,
    progress: bool = True,
    warned: set[str] | None = None,
) -> Features | None:
    """(train x, train y, test x, test y): a model's embeddings (through the resumable feature store for data on
    disk, in memory otherwise) or the raw pixels (`_pixels`). In a process group every rank takes part
    in the extraction of data on disk, and only rank 0 gets the features (the others None). Each split's store is
    named by the model and that split's fingerprint (`data`), so that other caps or an edited folder get stores of
    their own (a store of other inputs is refused, not replaced) and an unchanged split keeps its store. Images
    that do not decode are said once a split, for the first contender that meets them: `warned` (shared by the
    calls of one benchmark) holds the splits said."""
    main = context is None or context.is_main
    warned = set() if warned is None else warned
    if contender.loaded is None:
        if not main:
            return None
        # One size for both splits, the first train image's: the test split's first one may be another shape.
        train_x, train_y, size = _pixels(splits.train, size=None, said=_said(dataset, "train", splits), warned=warned)
        test_x, test_y, _ = _pixels(splits.test, size=size, said=_said(dataset, "test", splits), warned=warned)
        return train_x, train_y, test_x, test_y

    def store(split: str, fingerprint: str) -> Path:
        inputs = hashlib.sha256(f"{contender.digest};{fingerprint}".encode()).hexdigest()
        return cache / f"{slug(contender.name)}-{slug(dataset)}-{inputs[:16]}-{split}"

    embedded = [
        _embedded(
            contender.loaded,
            split,
            source,
            out=store(name, fingerprint),
            main=main,
            options=options,
            progress=progress,
            said=_said(dataset, name, splits),
            warned=warned,
        )
        for name, split, source, fingerprint in (
            ("train", splits.train, splits.train_source, data.train),
            ("test", splits.test, splits.test_source, data.test),
        )
    ]
    if not main:
        return None
    (train_x, train_y), (test_x, test_y) = embedded
    stored = splits.test_source is not None  # its store numbers the classes its own way
    return train_x, train_y, test_x, splits.stored_labels("test", test_y) if stored else test_y


def _said(dataset: str, split: str, splits: Splits) -> str:
    """How the warnings name a split's images: the location extraction reads, or the sample a cap drew."""
    source = splits.train_source if split == "train" else splits.test_source
    return source[0] if source is not None else f"--data {dataset}, its sampled {split} split"


def _left_out(said: str, count: int, warned: set[str], *, named: str = "") -> None:
    """One warning a split (`said`) for its images that do not decode, by the first contender that meets them."""
    if count and said not in warned:
        warned.add(said)
        warnings.warn(f"{said}: {not_decoding(count)}, left out for every contender{named}", stacklevel=3)


def _embedded(
    loaded: LoadedBackbone,
    dataset: Dataset,
    source: tuple[str, int | None] | None,
    *,
    out: Path,
    main: bool,
    options: BenchmarkOptions,
    progress: bool,
    said: str,
    warned: set[str],
) -> tuple[torch.Tensor, torch.Tensor] | tuple[()]:
    if source is None:
        if not main:
            return ()
        loaded.model.to(options.device)
        embedded = embed_dataset(
            loaded.model,
            NoneIfUndecodable(Transformed(dataset, loaded.transform)),
            batch_size=options.batch_size,
            device=options.device,
            num_workers=options.num_workers or 0,
        )
        _left_out(said, len(dataset) - len(embedded[1]), warned)
        return embedded
    location, limit = source
    summary = extract_features(
        loaded.model,
        loaded.transform,
        location,
        out=out,
        batch_size=options.batch_size,
        limit=limit,
        device=options.device,
        num_workers=options.num_workers,
        model_name=loaded.source,
        progress=progress,
    )
    if main:  # the entries that are no images were said, listed
        named = f" (each feature store's {summary.skipped_manifest.name} names them)"
        _left_out(said, summary.num_skipped - summary.num_not_images, warned, named=named)
    return labelled(load_features(out)) if main else ()


def _pixels(
    dataset: Dataset, *, size: tuple[int, int] | None, said: str, warned: set[str]
) -> tuple[torch.Tensor, torch.Tensor, tuple[int, int]]:
    """Each image as its pixels in [0, 1] at `size` (None: the first image's, at most `PIXELS_SIDE` a side), resized
    as it is read, and that size. An image that does not decode is left out, as it is for every model (said once
    a split, `_left_out`, naming the first)."""
    rows, labels, problems = [], [], []
    for index in range(len(dataset)):
        try:
            image, label = dataset[index]
        except DataError as problem:
            problems.append(problem)
            continue
        size = size or _pixel_size(image.shape[-2:])
        if image.shape[-2:] != size:
            image = F.interpolate(image[None].float(), size=size, mode="bilinear", antialias=True)[0]
        rows.append(image.float().flatten() / 255)
        labels.append(label)
    _left_out(said, len(problems), warned, named=f" (the first: {problems[0]})" if problems else "")
    return torch.stack(rows), torch.tensor(labels, dtype=torch.long), size


def _pixel_size(shape: torch.Size) -> tuple[int, int]:
    """The raw-pixel baseline's size for a first image of `shape`: its own, scaled down to `PIXELS_SIDE` on its
    longer side (a photo at its own size was half a million features an image: a suite dataset needed 100s of GB)."""
    height, width = int(shape[0]), int(shape[1])
    scale = min(1.0, PIXELS_SIDE / max(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))


def protocol_records(
    protocol: str, features: Features, options: BenchmarkOptions, *, dataset: str
) -> list[dict[str, Any]]:
    """The protocol's records on the `dataset`'s features: top-1 (percent), its settings and, for few-shot, the
    spread."""
    if protocol == "fewshot":
        return _fewshot(features, options, dataset=dataset)
    compute: dict[str, Callable[[Features, BenchmarkOptions], list[dict[str, Any]]]] = {"knn": _knn, "linear": _linear}
    return compute[protocol](features, options)


def _knn(features: Features, options: BenchmarkOptions) -> list[dict[str, Any]]:
    accuracies = knn_accuracy(*features, ks=KNN_KS, temperature=KNN_TEMPERATURE, device=options.device)
    return [{"protocol": "knn", "k": k, "temperature": KNN_TEMPERATURE, "top1": accuracies[k]} for k in KNN_KS]


def _linear(features: Features, options: BenchmarkOptions) -> list[dict[str, Any]]:
    accuracy, weight_decay = _probe(*features, seed=options.seed, val_fraction=0.2, options=options)
    return [{"protocol": "linear", "top1": accuracy, "weight_decay": weight_decay}]


def _fewshot(features: Features, options: BenchmarkOptions, *, dataset: str) -> list[dict[str, Any]]:
    """For each number of shots, `draws` seeded class-balanced draws from train: a linear probe (its weight decay
    chosen among the defaults on the draw itself, by leave-some-out when it has two or more a class) and kNN. A
    number of shots that the smallest class has not is left out with a warning: every draw would be that class
    whole, and the column would name more shots than it had."""
    train_x, train_y, test_x, test_y = features
    smallest = int(class_sizes(train_y).min())
    records = []
    for shots in options.shots:
        if shots > smallest:
            warnings.warn(
                f"{dataset}: {shots}-shot left out: its smallest class has {smallest} train images", stacklevel=2
            )
            continue
        scores: dict[str, list[float]] = {"fewshot-linear": [], "fewshot-knn": []}
        seeds = [options.seed + draw for draw in range(options.draws)]
        for seed in seeds:
            chosen = balanced_label_subset(train_y, per_class=shots, seed=seed)
            x, y = train_x[chosen], train_y[chosen]
            scores["fewshot-knn"].append(
                knn_accuracy(
                    x,
                    y,
                    test_x,
                    test_y,
                    ks=(min(KNN_KS[0], len(y)),),
                    temperature=KNN_TEMPERATURE,
                    device=options.device,
                )[min(KNN_KS[0], len(y))]
            )
            accuracy, _ = _probe(x, y, test_x, test_y, seed=seed, val_fraction=0.5, options=options)
            scores["fewshot-linear"].append(accuracy)
        for protocol, values in scores.items():
            spread = torch.tensor(values, dtype=torch.float64)
            records.append(
                {
                    "protocol": protocol,
                    "shots": shots,
                    "top1": float(spread.mean()),
                    "spread": float(spread.std(unbiased=False)),
                    "seeds": seeds,
                }
            )
    return records


def _probe(
    x: torch.Tensor,
    y: torch.Tensor,
    test_x: torch.Tensor,
    test_y: torch.Tensor,
    *,
    seed: int,
    val_fraction: float,
    options: BenchmarkOptions,
) -> tuple[float, float]:
    """(test top-1, weight decay) of a linear probe, its weight decay chosen on a held-out `val_fraction` of each
    class; one image a class leaves nothing to choose on, and the decay is `FIXED_WEIGHT_DECAY`."""
    if int(class_sizes(y).max()) < 2:
        probe = fit_linear_probe(x, y, weight_decay=FIXED_WEIGHT_DECAY, device=options.device)
        return float(probe.accuracy(test_x, test_y)), FIXED_WEIGHT_DECAY
    sweep = linear_probe_sweep(x, y, test_x, test_y, seed=seed, val_fraction=val_fraction, device=options.device)
    return float(sweep["test_accuracy"]), float(sweep["weight_decay"])
