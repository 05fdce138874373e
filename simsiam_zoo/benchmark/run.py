"""`run_benchmark`: every model and baseline on every dataset with every protocol, cell by cell, resumable."""

from __future__ import annotations

import collections
import functools
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass
from pathlib import Path
from typing import Any

from huggingface_hub import is_offline_mode
from tqdm.auto import tqdm

from simsiam_zoo._io import check_output, check_work_folder, claim_output_dir
from simsiam_zoo.arguments import check_bool, check_instance
from simsiam_zoo.benchmark.cells import (
    PIXELS_PREPROCESSING,
    Contender,
    DataFingerprint,
    Features,
    cell_fingerprint,
    cell_path,
    contender_features,
    protocol_records,
    read_cell,
    write_cell,
)
from simsiam_zoo.benchmark.grid import PIXELS, RANDOM_INIT, Dataset, expand_models, parse_datasets
from simsiam_zoo.benchmark.leaderboard import check_leaderboard_paths, write_leaderboard
from simsiam_zoo.data import is_named_source
from simsiam_zoo.distributed import (
    DistributedContext,
    check_same_on_every_rank,
    check_same_state,
    device_named,
    init_distributed,
    job_options,
    main_first,
    on_main,
)
from simsiam_zoo.loader import load_backbone
from simsiam_zoo.model import seeded
from simsiam_zoo.options import BenchmarkOptions
from simsiam_zoo.zoo import find_entry


def _other_images(rank: int, theirs: dict[str, Any], main: dict[str, Any]) -> str:
    """The refusal of ranks reading other images at one --data path (a node's copy of the data lacking an image),
    before the feature stores, which are named by the data, made it a rank launched with "other out"."""
    name = next(name for name in main if theirs.get(name) != main[name])
    return (
        f"--data {name}: rank {rank} finds other images at its path than rank 0; every node's copy of the data must "
        "hold the same images"
    )


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
    features of one dataset are in memory at a time.

    Under torchrun (or in a process group the caller made) every rank calls it alike: each embeds its share of the
    data on disk (`extract_features`), rank 0 alone embeds data in memory, runs the protocols, writes the cells and
    the leaderboard, and shows the progress; every rank returns the records."""
    models, data = _listed("models", models), _listed("data", data)
    check_bool("progress", progress)  # "no" showed the bars
    check_instance("options", options, BenchmarkOptions)  # None or a dict: an AttributeError naming `device`
    context = init_distributed(device_named(options.device))
    names = expand_models(models)
    check_same_on_every_rank(context, models=names, data=list(data), out=str(out), **job_options(options))
    _check_local_models(names, hub_dir=hub_dir, context=context)
    datasets = parse_datasets(data, options)
    fingerprints = {dataset.name: DataFingerprint.of(dataset.splits) for dataset in datasets}
    check_same_state(context, fingerprints, refusal=_other_images)
    out = on_main(context, lambda: _claim_out(out, names, datasets))
    records: list[dict[str, Any]] = []
    warned: set[str] = set()
    per_contender = len(datasets) * len(options.protocols)
    shown = progress and context.is_main
    with tqdm(total=len(names) * per_contender, unit="cell", desc="benchmark", disable=not shown) as bar:
        for contender in _contenders(names, options, hub_dir=hub_dir, bar=bar, cells=per_contender, context=context):
            for dataset in datasets:
                cell = _Cell(
                    contender, dataset, fingerprints[dataset.name], out=out, options=options, bar=bar, warned=warned
                )
                records += cell.records(context)
    on_main(context, lambda: write_leaderboard(out, records))
    return records


def _claim_out(out: str | Path, names: list[str], datasets: list[Dataset]) -> Path:
    """OUT claimed for the benchmark, outside every split on disk (its feature stores were refused there after the
    first cells were computed, which were left in the data) and with room for each leaderboard file."""
    splits = [dataset.splits for dataset in datasets]
    sources = [source[0] for split in splits for source in (split.train_source, split.test_source) if source]
    on_disk = [source for source in sources if not is_named_source(source)]
    if on_disk:  # after the checks every command makes, worded as theirs
        check_output(out, kind="benchmark", models=names)
        check_work_folder(out, option="--out", inputs=on_disk)
    claimed = claim_output_dir(out, kind="benchmark", models=names)
    check_leaderboard_paths(claimed)
    return claimed


def _check_local_models(names: list[str], *, hub_dir: str | Path | None, context: DistributedContext) -> None:
    """Load each model that needs no download once, before any work: an empty folder or truncated weights
    listed after other models stopped the grid, its leaderboard unwritten, when its turn came (hours in). Offline
    (HF_HUB_OFFLINE=1) that is every model: one missing from the caches stopped the grid so too. Online, the
    others are loaded as the grid reaches them (a zoo of downloads is no check to run first)."""
    offline = is_offline_mode()
    for name in names:
        if offline or hub_dir is not None or (find_entry(name) is None and not name.startswith("hf-hub:")):
            main_first(context, functools.partial(load_backbone, name, hub_dir=hub_dir))  # rank 0 fills a cache


def _listed(argument: str, values: Any) -> list[str]:
    """`values` (a list, a tuple, any iterable of names or paths) as a list of strings; a string alone is a
    TypeError (it is a sequence too: of one-letter names), none at all a ValueError (a generator passed a check for
    an empty list, and then failed in max())."""
    if isinstance(values, (str, os.PathLike)):
        raise TypeError(f"{argument} must be a list, got the single {argument} {str(values)!r}; pass [{argument}]")
    listed = [os.fspath(value) if isinstance(value, os.PathLike) else value for value in values]
    if not listed:
        raise ValueError(f"no {argument} to benchmark")
    return listed


def _contenders(
    names: list[str],
    options: BenchmarkOptions,
    *,
    hub_dir: str | Path | None,
    bar: tqdm,
    cells: int,
    context: DistributedContext,
) -> Iterator[Contender]:
    """The models, loaded one at a time (rank 0 first: it fills the download cache the others then read), then the
    baselines: each network (an architecture and the arguments it is built with) with its standard random init
    (seeded) fed each preprocessing its models have, and the raw pixels.

    Every rank must hold a model's very weights, whatever its `hub_dir` (nodes keep their hubs at paths of their
    own): a rank with others would embed its share of the data with them."""
    fed: dict[tuple[str, str], list[str]] = {}  # (a network's label, a preprocessing) -> the models that are both
    for name in names:
        loaded = main_first(context, functools.partial(load_backbone, name, hub_dir=hub_dir))
        contender = Contender.of(name, loaded)
        fed.setdefault((_network(loaded.arch, loaded.model_args), contender.preprocessing), []).append(name)
        check_same_on_every_rank(context, weights=(name, contender.weights, contender.preprocessing))
        yield contender
    if not options.baselines:
        return
    bar.total += (len(fed) + 1) * cells
    for label, name in _random_inits(fed).items():
        with seeded(options.seed):
            yield Contender.of(label, load_backbone(name, hub_dir=hub_dir, pretrained=False))
    yield Contender(PIXELS, preprocessing=PIXELS_PREPROCESSING)


def _random_inits(fed: dict[tuple[str, str], list[str]]) -> dict[str, str]:
    """Each random-init baseline's name -> the model whose network and preprocessing it takes. A network fed
    several preprocessings gets one baseline for each, named after the first of its models by name (the order
    models were listed in gave one baseline the first model's inputs, unfair to the others)."""
    preprocessings = collections.Counter(network for network, _ in fed)
    return {
        f"{RANDOM_INIT} ({network})"
        if preprocessings[network] == 1
        else f"{RANDOM_INIT} ({network}; preprocessing of {min(models)})": models[0]
        for (network, _), models in fed.items()
    }


def _network(arch: str, model_args: Mapping[str, Any]) -> str:
    """`arch`, with the arguments it is built with beyond timm's defaults (MoCo v3's ViT-S: 12 heads)."""
    return ", ".join([arch, *(f"{key}={value}" for key, value in sorted(model_args.items()))])


@dataclass(frozen=True)
class _Cell:
    """A contender's records on one dataset: the saved cells read back, the missing ones computed (features once)."""

    contender: Contender
    dataset: Dataset
    data: DataFingerprint
    _: KW_ONLY
    out: Path
    options: BenchmarkOptions
    bar: tqdm
    warned: set[str]  # the splits whose undecodable images were said (once a benchmark, not once a contender)

    def records(self, context: DistributedContext) -> list[dict[str, Any]]:
        # Rank 0 decides what is missing, so that every rank takes part in the same extractions.
        saved, pending = on_main(context, self._saved)
        if not pending:
            return saved
        features = contender_features(
            self.contender,
            self.dataset.splits,
            dataset=self.dataset.name,
            data=self.data,
            cache=self.out / "features",
            options=self.options,
            context=context,
            progress=not self.bar.disable,
            warned=self.warned,
        )
        return saved + on_main(context, lambda: self._computed(pending, features))

    def _saved(self) -> tuple[list[dict[str, Any]], list[tuple[str, Path, str]]]:
        records, pending = [], []
        for protocol in self.options.protocols:
            path = cell_path(self.out, self.contender.name, self.dataset.name, protocol)
            fingerprint = cell_fingerprint(self.contender, self.data.both, protocol, self.options)
            saved = read_cell(path, fingerprint)
            if saved is None:
                pending.append((protocol, path, fingerprint))
            else:
                records += saved
                self.bar.update(1)
        return records, pending

    def _computed(self, pending: list[tuple[str, Path, str]], features: Features | None) -> list[dict[str, Any]]:
        assert features is not None  # rank 0 holds them
        records = []
        for protocol, path, fingerprint in pending:
            identity = _identity(self.contender, self.dataset, self.data.both, features, self.options)
            cell = [
                {**identity, **record}
                for record in protocol_records(protocol, features, self.options, dataset=self.dataset.name)
            ]
            write_cell(path, fingerprint, cell)
            records += cell
            self.bar.update(1)
            if not self.bar.disable:  # tqdm writes even for a bar it does not show
                self.bar.write(
                    f"{self.contender.name} on {self.dataset.name}, {protocol}: "
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
