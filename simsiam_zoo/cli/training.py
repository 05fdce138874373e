"""`train`, `finetune`, `demo` and `recipes`: the commands that train."""

from __future__ import annotations

import functools
import math
import time
from pathlib import Path
from typing import Any

import click

from simsiam_zoo.cli.failures import clean_errors
from simsiam_zoo.cli.shared import (
    DATA_HELP,
    OVERWRITE_HELP,
    NonEmptyPath,
    NonEmptyText,
    bundle,
    check_card_name,
    check_device_option,
    check_minutes_option,
    data_argument,
    parse_overrides,
    report_result,
    run_options,
    schedule_options,
)
from simsiam_zoo.options import (
    RunOptions,
    Schedule,
)
from simsiam_zoo.recipe import builtin_recipes, load_recipe

# When the command started, before torch is imported: the demo's budget counts from here.
_STARTED = time.monotonic()


@click.command("recipes")
@clean_errors
def recipes_command() -> None:
    """List the built-in training recipes."""
    for name in builtin_recipes():
        recipe = load_recipe(name)
        click.echo(f"{name:34s} {recipe.description}")


@click.command("train")
@click.argument("recipe", type=NonEmptyText("recipe name or file"))
@click.option(
    "--output",
    "output_dir",
    type=NonEmptyPath(path_type=Path),
    required=True,
    help="Run folder: checkpoint, recipe.yaml, metrics.csv, TensorBoard logs. Reused to resume.",
)
@click.option(
    "--data", "data_path", type=NonEmptyText(), default=None, help="Data location (sets data.path of the recipe)."
)
@click.option(
    "--device",
    default="cpu",
    show_default=True,
    callback=check_device_option,
    help="cpu, cuda (one GPU per torchrun rank).",
)
@click.option(
    "--max-minutes",
    type=float,
    default=None,
    callback=check_minutes_option,
    help="Stop (with a checkpoint) after this long.",
)
@click.option(
    "--max-steps", type=click.IntRange(min=1), default=None, help="Stop (with a checkpoint) at this global step."
)
@click.option(
    "--set", "overrides", multiple=True, metavar="KEY=VALUE", callback=parse_overrides, help="Override a recipe key."
)
@click.option(
    "--strict",
    is_flag=True,
    help="An image that does not decode is an error instead of a skip (the next image takes its place).",
)
@clean_errors
def train_command(
    recipe: str,
    *,
    output_dir: Path,
    data_path: str | None,
    device: str,
    max_minutes: float | None,
    max_steps: int | None,
    overrides: dict[str, Any],
    strict: bool,
) -> None:
    """Pretrain with RECIPE (a built-in name or a YAML file); rerun the same command to resume."""
    from simsiam_zoo.distributed import launched_rank
    from simsiam_zoo.pretrain import train

    changes = dict(overrides)
    if data_path is not None:
        if "data.path" in changes:  # the one of them given last won in silence
            raise click.UsageError("--data and --set data.path both set the data's path; give one of them")
        changes["data.path"] = data_path
    chosen = load_recipe(recipe)
    if changes:
        chosen = chosen.replace(changes)
    result = train(
        chosen, output_dir=output_dir, device=device, max_minutes=max_minutes, max_steps=max_steps, strict=strict
    )
    if launched_rank() != 0:  # under torchrun every rank has the result; rank 0 reports it
        return
    for row in result.epochs[-3:]:
        knn = "" if math.isnan(row["knn_top1"]) else f"  kNN {row['knn_top1']:.2f}%"  # NaN: the monitor is off
        if row["epoch"] == 0:  # the kNN monitor's score of the network before any step: no loss yet
            click.echo(f"epoch    0  before training{knn}")
            continue
        click.echo(
            f"epoch {row['epoch']:>4}  loss {row['loss']:+.4f}  z-std {row['z_std']:.4f} "
            f"(1/sqrt(d) = {row['z_std_reference']:.4f}){knn}"
        )
    state = "finished" if result.completed else "stopped early (rerun to resume)"
    click.echo(f"{state} at step {result.step}/{result.total_steps}; checkpoint in {output_dir}")


@click.command("demo")
@click.option("--out", "out_dir", type=NonEmptyPath(path_type=Path), default=Path("demo_output"), show_default=True)
@click.option(
    "--minutes",
    type=float,
    default=5.0,
    show_default=True,
    callback=check_minutes_option,
    help="Time budget of the whole demo.",
)
@click.option("--device", default="cpu", show_default=True, callback=check_device_option)
@clean_errors
def demo_command(*, out_dir: Path, minutes: float, device: str) -> None:
    """Pretrain on Fashion-MNIST, export, publish locally, reload, extract, evaluate, report: all offline."""
    from simsiam_zoo.demo import format_table, run_demo

    result = run_demo(out_dir=out_dir, minutes=minutes, device=device, started=_STARTED)
    click.echo(format_table(result.table))
    click.echo(f"report: {result.report}")


def _card_license(license_: str | None, license_name: str | None, license_link: str | None) -> dict[str, str] | None:
    """--license, --license-name and --license-link as the card's licence fields (None: the backbone's)."""
    from simsiam_zoo.hub.cards import license_metadata

    if (license_name or license_link) and license_ != "other":  # ignored in silence, the card kept another licence
        raise click.UsageError("--license-name and --license-link go with --license other")
    return None if license_ is None else license_metadata(license_, name=license_name, link=license_link)


@click.command("finetune", epilog=DATA_HELP)
@click.argument("model", type=NonEmptyText("model name or path"))
@data_argument
@click.option(
    "--out",
    "out_dir",
    type=NonEmptyPath(path_type=Path),
    required=True,
    help="Classifier folder that timm loads (local-dir:OUT); the result goes to OUT/finetune.json.",
)
@schedule_options()
@click.option("--frozen-backbone", is_flag=True, help="Train only the linear head (the linear protocol).")
@click.option(
    "--name", type=NonEmptyText("model name"), default=None, help="Model name on the card (default ARCH.finetuned)."
)
@click.option(
    "--license",
    "license_",
    default=None,
    help="Card licence, a Hub licence id (default: the backbone's licence, else apache-2.0).",
)
@click.option("--license-name", default=None, help="With --license other: the licence's short name.")
@click.option("--license-link", default=None, help="With --license other: a link to the licence text.")
@click.option("--overwrite", is_flag=True, help=OVERWRITE_HELP.replace("OUT", "--out"))
@run_options
@clean_errors
@functools.partial(bundle, keyword="license", make=_card_license, fields=("license_", "license_name", "license_link"))
def finetune_command(
    model: str,
    data: str | tuple[str, str],
    *,
    out_dir: Path,
    schedule: Schedule,
    frozen_backbone: bool,
    name: str | None,
    license: dict[str, str] | None,
    overwrite: bool,
    run: RunOptions,
) -> None:
    """Fine-tune MODEL on DATA and save the classifier (backbone + fc) as a timm folder --out."""
    from simsiam_zoo.hub.folder import FINETUNE_RESULT_NAME
    from simsiam_zoo.protocols import finetune_classifier

    check_card_name(name)
    result = finetune_classifier(
        model,
        data,
        out_dir,
        schedule=schedule,
        frozen_backbone=frozen_backbone,
        card_name=name,
        license=license,
        run=run,
        overwrite=overwrite,
    )
    report_result(
        result,
        None,  # written in the classifier folder, with it
        [("linear" if frozen_backbone else "fine-tune", result["top1"])],
        closing=f"wrote {out_dir / FINETUNE_RESULT_NAME}\n"
        f"classifier in {out_dir} (timm.create_model('local-dir:{out_dir}', pretrained=True))",
    )
