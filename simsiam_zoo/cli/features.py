"""`extract`: features of DATA by a backbone, into resumable shards."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import get_args

import click

from simsiam_zoo.choices import FeatureDtype, FeatureFormat, Precision
from simsiam_zoo.cli.failures import clean_errors
from simsiam_zoo.cli.shared import WORKER_COUNT, NonEmptyPath, NonEmptyText, bundle, check_device_option
from simsiam_zoo.options import EXTRACT, ExtractOptions

# The options of ExtractOptions the command has (channels_last is always on, as the library's default).
_EXTRACT_FIELDS = (
    "batch_size",
    "shard_size",
    "num_workers",
    "device",
    "device_preprocessing",
    "precision",
    "dtype",
    "output_format",
    "strict",
    "compile",
    "limit",
)


@click.command("extract")
@click.argument("model", type=NonEmptyText("model name or path"))
@click.argument("data", type=NonEmptyText())
@click.option("--out", type=NonEmptyPath(path_type=Path), required=True, help="Output folder of feature shards.")
@click.option("--batch-size", type=click.IntRange(min=1), default=EXTRACT.batch_size, show_default=True)
@click.option("--shard-size", type=click.IntRange(min=1), default=EXTRACT.shard_size, show_default=True)
@click.option(
    "--num-workers",
    type=WORKER_COUNT,
    default=None,
    help="Decoding processes [default: 0 on cpu, where the forward already uses every core; else up to 8, one a core].",
)
@click.option("--device", default=EXTRACT.device, show_default=True, callback=check_device_option)
@click.option(
    "--device-preprocessing/--host-preprocessing",
    default=EXTRACT.device_preprocessing,
    show_default=True,
    help="Resize and crop on --device, one image at a time, instead of in the decoding workers.",
)
@click.option("--precision", type=click.Choice(get_args(Precision)), default=EXTRACT.precision, show_default=True)
@click.option(
    "--dtype",
    type=click.Choice(get_args(FeatureDtype)),
    default=EXTRACT.dtype,
    show_default=True,
    help="Stored embedding dtype.",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(get_args(FeatureFormat)),
    default=EXTRACT.output_format,
    show_default=True,
)
@click.option("--strict", is_flag=True, help="Any unreadable image is an error instead of a listed skip.")
@click.option("--compile", is_flag=True, help="torch.compile the backbone.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Only the first N images of DATA.")
@click.option("--hub-dir", type=NonEmptyPath(path_type=Path), default=None, help="Local hub directory to load from.")
@clean_errors
@functools.partial(bundle, keyword="options", make=ExtractOptions, fields=_EXTRACT_FIELDS)
def extract_command(model: str, data: str, *, out: Path, options: ExtractOptions, hub_dir: Path | None) -> None:
    """Embed DATA with MODEL into --out: an image folder, a text file of paths, fashion_mnist[:train|:test], a
    transfer-suite name, WebDataset tar shards, or a Hugging Face dataset folder or parquet / arrow files.

    MODEL is a zoo name, hf-hub: id, hub folder, .safetensors file or checkpoint; its preprocessing comes
    with it. Rerun the same command to resume an interrupted extraction. Under torchrun the ranks share the work.
    """

    from simsiam_zoo.distributed import device_named, init_distributed, main_first
    from simsiam_zoo.features import extract_features
    from simsiam_zoo.loader import load_backbone

    context = init_distributed(device_named(options.device))
    # Rank 0 downloads and converts; the others then read its cache.
    loaded = main_first(context, lambda: load_backbone(model, hub_dir=hub_dir))
    summary = extract_features(loaded.model, loaded.transform, data, out=out, options=options, model_name=loaded.source)
    if not context.is_main:
        return
    click.echo(
        f"embedded {summary.num_embedded} of {summary.num_images} images ({summary.dim}-d) into {out}; "
        f"skipped {summary.num_skipped} (see {summary.skipped_manifest}); "
        f"{summary.images_per_second:.1f} images/s"
    )
