"""`eval`: kNN and linear probes on extracted features, and the protocols that train on DATA."""

from __future__ import annotations

from pathlib import Path

import click

from simsiam_zoo.cli.failures import clean_errors
from simsiam_zoo.cli.shared import (
    DATA_HELP,
    NonEmptyPath,
    NonEmptyText,
    check_device_option,
    check_each_once,
    check_fractions,
    check_positive_finite,
    check_result_out,
    data_argument,
    parse_datasets,
    parse_subset_files,
    report_result,
    result_out_option,
    run_options,
    schedule_options,
)
from simsiam_zoo.options import (
    LinearProtocolSchedule,
    RunOptions,
    Schedule,
)


@click.group("eval")
def eval_group() -> None:
    """Evaluate backbones: kNN and linear probe of extracted features, and the protocols that train on DATA."""


@eval_group.command("knn")
@click.option("--train", "train_features", type=NonEmptyPath(path_type=Path, exists=True), required=True)
@click.option("--test", "test_features", type=NonEmptyPath(path_type=Path, exists=True), required=True)
@click.option(
    "--k",
    "ks",
    type=click.IntRange(min=1),
    multiple=True,
    default=(20, 200),
    show_default=True,
    callback=check_each_once,
)
@click.option("--temperature", type=float, default=0.07, show_default=True, callback=check_positive_finite)
@click.option("--device", default=None, callback=check_device_option)
@result_out_option
@clean_errors
def eval_knn_command(
    *,
    train_features: Path,
    test_features: Path,
    ks: tuple[int, ...],
    temperature: float,
    device: str | None,
    out: str | None,
) -> None:
    """Weighted cosine kNN of --test features against --train features (k=20 and 200, T=0.07)."""
    check_result_out(out, evaluation="knn", inputs=(train_features, test_features))
    from simsiam_zoo.protocols.cached import evaluate_knn

    result = evaluate_knn(train_features, test_features, ks=ks, temperature=temperature, device=device)
    report_result(result, out, [(_knn_row(k, result["neighbours"][k]), value) for k, value in result["top1"].items()])


def _knn_row(k: str, neighbours: int) -> str:
    """The row of a k, saying where fewer train features than k voted (the k was clamped to them)."""
    return f"kNN k={k}" if int(k) == neighbours else f"kNN k={k} (all {neighbours})"


@eval_group.command("linear")
@click.option("--train", "train_features", type=NonEmptyPath(path_type=Path, exists=True), required=True)
@click.option("--test", "test_features", type=NonEmptyPath(path_type=Path, exists=True), required=True)
@click.option("--device", default=None, callback=check_device_option)
@result_out_option
@clean_errors
def eval_linear_command(*, train_features: Path, test_features: Path, device: str | None, out: str | None) -> None:
    """Linear probe (L-BFGS logistic regression, weight decay chosen on a split of train) on cached features."""
    check_result_out(out, evaluation="linear", inputs=(train_features, test_features))
    from simsiam_zoo.protocols.cached import evaluate_linear

    result = evaluate_linear(train_features, test_features, device=device)
    report_result(result, out, [(f"linear (wd {result['weight_decay']:g})", result["top1"])])


@eval_group.command("linear-protocol", epilog=DATA_HELP)
@click.argument("model", type=NonEmptyText("model name or path"))
@data_argument
@schedule_options(linear_protocol=True)
@run_options
@result_out_option
@clean_errors
def eval_linear_protocol_command(
    model: str, data: str | tuple[str, str], *, schedule: LinearProtocolSchedule, run: RunOptions, out: str | None
) -> None:
    """The paper's linear protocol: a linear classifier on MODEL's frozen backbone (BN in eval mode), on DATA."""
    check_result_out(out, evaluation="linear_protocol", inputs=(model, data))
    from simsiam_zoo.protocols import linear_protocol

    result = linear_protocol(model, data, schedule=schedule, run=run)
    report_result(result, out, [("linear protocol", result["top1"])])


@eval_group.command("semi", epilog=DATA_HELP)
@click.argument("model", type=NonEmptyText("model name or path"))
@data_argument
@click.option(
    "--fraction",
    "fractions",
    type=click.FloatRange(0, 1, min_open=True),
    callback=check_fractions,
    multiple=True,
    default=(0.01, 0.1),
    show_default=True,
    help="Share of the training labels to fine-tune on (class-balanced, seeded).",
)
@click.option(
    "--subset-file",
    "subset_files",
    multiple=True,
    metavar="FRACTION=PATH",
    help="SimCLR subset file (one image basename a line) to use for FRACTION instead of a seeded draw.",
)
@schedule_options()
@run_options
@result_out_option
@clean_errors
def eval_semi_command(
    model: str,
    data: str | tuple[str, str],
    *,
    fractions: tuple[float, ...],
    subset_files: tuple[str, ...],
    schedule: Schedule,
    run: RunOptions,
    out: str | None,
) -> None:
    """Semi-supervised: fine-tune all of MODEL on 1% and 10% (--fraction) of DATA's training labels."""
    check_result_out(out, evaluation="semi_supervised", inputs=(model, data))
    from simsiam_zoo.protocols import semi_supervised

    result = semi_supervised(
        model, data, fractions=fractions, subset_files=parse_subset_files(subset_files), schedule=schedule, run=run
    )
    report_result(
        result,
        out,
        [(f"fine-tune {row['fraction']:g} ({row['num_labelled']})", row["top1"]) for row in result["fractions"]],
    )


@eval_group.command("transfer")
@click.argument("model", type=NonEmptyText("model name or path"))
@click.option(
    "--dataset",
    "datasets",
    multiple=True,
    required=True,
    metavar="NAME=PATH",
    help="A folder with train/ and val/ (or test/) class sub-folders, or digits / fashion_mnist.",
)
@click.option(
    "--mode",
    "modes",
    type=click.Choice(["linear", "finetune"]),
    multiple=True,
    callback=check_each_once,
    default=("linear", "finetune"),
    show_default=True,
)
@schedule_options(lr_help="Fine-tuning lr.")
@click.option(
    "--cache-dir",
    type=NonEmptyPath(path_type=Path),
    default=None,
    help="Keep extracted features here for reuse (default: a temporary folder; under torchrun, give one for data on "
    "disk).",
)
@run_options
@result_out_option
@clean_errors
def eval_transfer_command(
    model: str,
    *,
    datasets: tuple[str, ...],
    modes: tuple[str, ...],
    schedule: Schedule,
    cache_dir: Path | None,
    run: RunOptions,
    out: str | None,
) -> None:
    """Transfer MODEL to each --dataset: linear probe on cached features and full fine-tuning."""
    check_result_out(out, evaluation="transfer", inputs=(model, *parse_datasets(datasets).values()))
    from simsiam_zoo.protocols import transfer

    result = transfer(model, parse_datasets(datasets), modes=modes, schedule=schedule, cache_dir=cache_dir, run=run)
    report_result(result, out, [(f"{row['dataset']} {row['mode']}", row["top1"]) for row in result["rows"]])
