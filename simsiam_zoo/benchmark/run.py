"""`run_benchmark`: every model and baseline on every dataset with every protocol, cell by cell, resumable."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from simsiam_zoo._io import claim_output_dir
from simsiam_zoo.benchmark.cells import (
    Contender,
    Features,
    cell_fingerprint,
    cell_path,
    contender_features,
    data_fingerprint,
    protocol_records,
    read_cell,
    write_cell,
)
from simsiam_zoo.benchmark.grid import PIXELS, RANDOM_INIT, Dataset, expand_models, parse_datasets
from simsiam_zoo.benchmark.leaderboard import write_leaderboard
from simsiam_zoo.loader import load_backbone
from simsiam_zoo.options import BenchmarkOptions


def run_benchmark(
    models: Sequence[str],
    data: Sequence[str],
    *,
    out: str | Path,
    options: BenchmarkOptions = BenchmarkOptions(),
    hub_dir: str | Path | None = None,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Rank `models` (zoo names, globs over them, `hf-hub:` ids, hub folders, runs) and the fair baselines on each
    `NAME=SOURCE` of `data`; the leaderboard goes to `out` and its records are returned.

    Every model and dataset is resolved first, so bad input fails before any work. Each cell (model x dataset x
    protocol) is saved in `out/cells` once computed and skipped by a rerun while what it depends on is unchanged;
    features of data on disk are extracted once per (model, dataset) into `out/features`, resumably. One model's
    features of one dataset are in memory at a time."""
    names = expand_models(list(models))
    datasets = parse_datasets(list(data), options)
    fingerprints = {dataset.name: data_fingerprint(dataset.splits) for dataset in datasets}
    out = claim_output_dir(out, kind="benchmark")
    records: list[dict[str, Any]] = []
    per_contender = len(datasets) * len(options.protocols)
    with tqdm(total=len(names) * per_contender, unit="cell", desc="benchmark", disable=not progress) as bar:
        for contender in _contenders(names, options, hub_dir=hub_dir, bar=bar, cells=per_contender):
            for dataset in datasets:
                records += _dataset_cells(
                    contender, dataset, fingerprints[dataset.name], out=out, options=options, bar=bar
                )
    write_leaderboard(out, records)
    return records


def _contenders(
    names: list[str], options: BenchmarkOptions, *, hub_dir: str | Path | None, bar: tqdm, cells: int
) -> Iterator[Contender]:
    """The models, loaded one at a time, then the baselines: each architecture with its standard random init
    (seeded) and the raw pixels."""
    architectures: dict[str, str] = {}
    for name in names:
        loaded = load_backbone(name, hub_dir=hub_dir)
        architectures.setdefault(loaded.arch, name)
        yield Contender.of(name, loaded)
    if not options.baselines:
        return
    bar.total += (len(architectures) + 1) * cells
    for arch, name in architectures.items():
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(options.seed)
            yield Contender.of(f"{RANDOM_INIT} ({arch})", load_backbone(name, hub_dir=hub_dir, pretrained=False))
    yield Contender(PIXELS)


def _dataset_cells(
    contender: Contender, dataset: Dataset, data: str, *, out: Path, options: BenchmarkOptions, bar: tqdm
) -> list[dict[str, Any]]:
    """The contender's records on the dataset: saved cells read back, missing ones computed (features once)."""
    records, pending = [], []
    for protocol in options.protocols:
        path = cell_path(out, contender.name, dataset.name, protocol)
        fingerprint = cell_fingerprint(contender, data, protocol, options)
        saved = read_cell(path, fingerprint)
        if saved is None:
            pending.append((protocol, path, fingerprint))
        else:
            records += saved
            bar.update(1)
    if not pending:
        return records
    features = contender_features(
        contender, dataset.splits, dataset=dataset.name, cache=out / "features", options=options
    )
    for protocol, path, fingerprint in pending:
        identity = _identity(contender, dataset, data, features, options)
        cell = [{**identity, **record} for record in protocol_records(protocol, features, options)]
        write_cell(path, fingerprint, cell)
        records += cell
        bar.update(1)
        bar.write(
            f"{contender.name} on {dataset.name}, {protocol}: "
            + ", ".join(f"{_variant(r)}{r['top1']:.2f}%" for r in cell)
        )
    return records


def _identity(
    contender: Contender, dataset: Dataset, data: str, features: Features, options: BenchmarkOptions
) -> dict[str, Any]:
    return {
        "model": contender.name,
        "dataset": dataset.name,
        "shots": None,
        "weights_sha256": contender.weights,
        "preprocessing": contender.preprocessing,
        "data_fingerprint": data,
        "num_train": len(features[1]),
        "num_test": len(features[3]),
        "seed": options.seed,
    }


def _variant(record: dict[str, Any]) -> str:
    if record.get("k") is not None:
        return f"k={record['k']} "
    if record.get("shots") is not None:
        return f"{record['shots']}-shot {record['protocol'].removeprefix('fewshot-')} "
    return ""
