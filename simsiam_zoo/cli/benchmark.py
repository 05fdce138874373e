"""`benchmark`: which backbone for this data? Models x datasets x protocols into a leaderboard."""

from __future__ import annotations

import functools
from pathlib import Path

import click

from simsiam_zoo.cli.failures import clean_errors
from simsiam_zoo.cli.shared import (
    WORKER_COUNT,
    NonEmptyPath,
    NonEmptyText,
    bundle,
    check_device_option,
    check_each_once,
    option_default,
)
from simsiam_zoo.options import BENCHMARK_PROTOCOLS, BenchmarkOptions


def _shots(ctx: click.Context, param: click.Parameter, value: str) -> tuple[int, ...]:
    """--shots 1,5,10: positive numbers of images a class, each once."""
    try:
        shots = tuple(int(part) for part in value.split(","))
    except ValueError:
        raise click.BadParameter(f"{value!r}: expected numbers separated by commas, e.g. 1,5,10") from None
    if min(shots) < 1:
        raise click.BadParameter(f"{value!r}: expected positive numbers of images a class, e.g. 1,5,10")
    if len(set(shots)) < len(shots):
        raise click.BadParameter(f"{value!r}: a number of shots is given twice")
    return shots


def _make_options(*, protocols: tuple[str, ...], no_baselines: bool, **options: object) -> BenchmarkOptions:
    return BenchmarkOptions(protocols=protocols or BENCHMARK_PROTOCOLS, baselines=not no_baselines, **options)


_FIELDS = (
    "protocols",
    "shots",
    "no_baselines",
    "device",
    "batch_size",
    "num_workers",
    "train_limit",
    "test_limit",
    "seed",
)


def _dataset_entries(ctx: click.Context, param: click.Parameter, entries: tuple[str, ...]) -> tuple[str, ...]:
    """--data entries of a usable form (a name given twice, or no NAME=, is a usage error, not bad input)."""
    from simsiam_zoo.benchmark.grid import dataset_entries

    try:
        dataset_entries(entries)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None
    return entries


@click.command("benchmark")
@click.argument("models", nargs=-1, required=True, type=NonEmptyText("model name or path"))
@click.option(
    "--data",
    "data",
    type=NonEmptyText(),
    multiple=True,
    required=True,
    callback=_dataset_entries,
    metavar="NAME=SOURCE",
    help="A dataset: fashion_mnist, digits, a transfer-suite name (cifar10, pets, ...: `simsiam-zoo datasets`), a "
    "folder with train/ and val/ (or test/), or TRAIN,TEST. A named dataset may stand alone (--data cifar10).",
)
@click.option("--out", type=NonEmptyPath(path_type=Path), required=True, help="Leaderboard folder (resumable).")
@click.option(
    "--protocol",
    "protocols",
    multiple=True,
    type=click.Choice(BENCHMARK_PROTOCOLS),
    callback=check_each_once,
    help="A protocol to run (repeat the option for more) [default: all].",
)
@click.option("--shots", default="1,5,10", show_default=True, callback=_shots, help="Few-shot images a class.")
@click.option("--no-baselines", is_flag=True, help="Leave out random-init and pixels.")
@click.option(
    "--device", default=option_default(BenchmarkOptions, "device"), show_default=True, callback=check_device_option
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=option_default(BenchmarkOptions, "batch_size"),
    show_default=True,
)
@click.option("--num-workers", type=WORKER_COUNT, default=None, help="Decoding processes.")
@click.option("--train-limit", type=click.IntRange(min=1), default=None, help="At most N training images.")
@click.option("--test-limit", type=click.IntRange(min=1), default=None, help="At most N test images.")
@click.option("--seed", type=int, default=option_default(BenchmarkOptions, "seed"), show_default=True)
@click.option("--hub-dir", type=NonEmptyPath(path_type=Path), default=None, help="Local hub directory to load from.")
@clean_errors
@functools.partial(bundle, keyword="options", make=_make_options, fields=_FIELDS)
def benchmark_command(
    models: tuple[str, ...], *, data: tuple[str, ...], out: Path, options: BenchmarkOptions, hub_dir: Path | None
) -> None:
    """Rank MODELS (zoo names, quoted globs such as 'resnet50.*', hf-hub: ids, hub folders, runs) with the
    baselines on each --data; writes leaderboard.{json,md,html,csv} and heatmap.png to --out. A rerun computes only
    the cells that are missing or whose model, data or settings changed."""
    from simsiam_zoo.benchmark import run_benchmark
    from simsiam_zoo.distributed import launched_rank

    run_benchmark(models, data, out=out, options=options, hub_dir=hub_dir)
    if launched_rank() == 0:  # under torchrun, once
        click.echo(f"leaderboard in {out / 'leaderboard.md'} (and .html, .csv, .json)")


@click.command("datasets")
@click.option("--json", "as_json", is_flag=True, help="Print the records as JSON.")
def datasets_command(*, as_json: bool) -> None:
    """The transfer suite that `benchmark --data NAME` reads from the Hugging Face Hub: repo, splits, columns."""
    import dataclasses
    import json

    from simsiam_zoo.data import TRANSFER_SUITE

    if as_json:
        click.echo(json.dumps([dataclasses.asdict(entry) for entry in TRANSFER_SUITE.values()], indent=1))
        return
    for entry in TRANSFER_SUITE.values():
        click.echo(
            f"{entry.name:14s} {entry.title:32s} {entry.repo_id:34s} {entry.train_split} -> {entry.test_split}, "
            f"{entry.image_column}/{entry.label_column}, {entry.num_classes} classes, licence {entry.license}"
        )
