"""`simsiam-zoo`: thin click wrappers, one library function per command.

Exit codes: 0 success, 2 usage error (click), 3 bad input (a file, folder, recipe or model that cannot
be used; the message names it), 4 training stopped because the loss diverged, 5 offline and not cached,
6 the output cannot be written (read-only folder, disk full), 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import dataclasses
import errno
import functools
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, get_args

import click
import yaml

from simsiam_zoo.choices import FeatureDtype, FeatureFormat, Precision, Shuffle
from simsiam_zoo.errors import (
    EXIT_BAD_INPUT,
    EXIT_CANNOT_WRITE,
    EXIT_INTERRUPTED,
    EXIT_OFFLINE,
    RecipeError,
    SimsiamZooError,
)
from simsiam_zoo.recipe import builtin_recipes, load_recipe
from simsiam_zoo.schedules import (
    DEFAULT_BATCH_SIZE,
    EXTRACT,
    MIN_STEPS_PER_EPOCH,
    OPTIMIZERS,
    LinearProtocolSchedule,
    RunOptions,
    Schedule,
)

# When the command started, before torch is imported: the demo's budget counts from here.
_STARTED = time.monotonic()
# Read-only file system, disk full, quota exceeded, file size limit (RLIMIT_FSIZE or the file system's own).
_CANNOT_WRITE_ERRNOS = (errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def _clean_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Known failures become one line on stderr and a documented exit code, not a traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except KeyboardInterrupt:
            _fail(
                "interrupted; what was written so far is whole, and the same command resumes or redoes the rest",
                EXIT_INTERRUPTED,
            )
        except SimsiamZooError as error:
            _fail(error, error.exit_code)
        except (PermissionError, IsADirectoryError) as error:
            _fail(error, EXIT_CANNOT_WRITE)
        except OSError as error:
            if error.errno in _CANNOT_WRITE_ERRNOS:
                _fail(error, EXIT_CANNOT_WRITE)
            if isinstance(error, (FileNotFoundError, NotADirectoryError)):  # NotADirectory: a path under a file
                _fail(error, EXIT_BAD_INPUT)
            _fail_if_network(error)  # several of the Hub's errors are OSErrors (ConnectionError, requests')
            raise
        except Exception as error:
            _fail_if_network(error)
            raise

    return wrapper


def _network_exit_code(error: Exception) -> int | None:
    """The exit code of an error of the Hub's or the HTTP client's (None for any other): a request the Hub
    refused (4xx: a bad revision, a missing repo, no access) is bad input; offline mode, a Hub or source that
    cannot be reached or answers with garbage is a model that cannot be had."""
    import httpx
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    if isinstance(error, HfHubHTTPError):
        status = error.response.status_code if error.response is not None else None
        return EXIT_BAD_INPUT if status is not None and 400 <= status < 500 else EXIT_OFFLINE
    if isinstance(error, (OfflineModeIsEnabled, httpx.HTTPError)):
        return EXIT_OFFLINE
    try:
        import requests
    except ImportError:
        return None
    return EXIT_OFFLINE if isinstance(error, requests.RequestException) else None


def _fail_if_network(error: Exception) -> None:
    code = _network_exit_code(error)
    if code is not None:
        _fail(f"{type(error).__name__}: {_first_line(error)}", code)


def _first_line(error: Exception) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else "(no message)"


def _fail(error: BaseException | str, code: int) -> None:
    click.echo(f"error: {error}", err=True)
    sys.exit(code)


def _device(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """--device: a device this machine has (a usage error otherwise, before anything runs)."""
    if value is None:
        return None
    from simsiam_zoo.distributed import check_device

    try:
        return check_device(value)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None


def _budget(ctx: click.Context, param: click.Parameter, minutes: float) -> float:
    """--minutes: a finite, positive number (NaN compares false with every bound, so a range type lets it pass)."""
    if not math.isfinite(minutes) or minutes <= 0:
        raise click.BadParameter(f"{minutes}: the budget must be a positive number of minutes", param_hint="--minutes")
    return minutes


@click.group()
@click.version_option(package_name="simsiam-zoo")
def main() -> None:
    """SimSiam recipes, a timm-compatible zoo of self-supervised backbones, features and evaluations."""


@main.command("recipes")
def recipes_command() -> None:
    """List the built-in training recipes."""
    for name in builtin_recipes():
        recipe = load_recipe(name)
        click.echo(f"{name:34s} {recipe.description}")


def _parse_overrides(pairs: tuple[str, ...]) -> dict[str, Any]:
    overrides = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise RecipeError(f"--set {pair!r}: expected KEY=VALUE, e.g. optim.batch_size=64")
        try:
            overrides[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError as error:
            raise RecipeError(f"--set {pair!r}: the value is not valid YAML ({str(error).splitlines()[0]})") from None
    return overrides


@main.command("train")
@click.argument("recipe")
@click.option(
    "--output",
    "output_dir",
    type=click.Path(path_type=Path),
    required=True,
    help="Run folder: checkpoint, recipe.yaml, metrics.csv, TensorBoard logs. Reused to resume.",
)
@click.option("--data", "data_path", default=None, help="Data location (sets data.path of the recipe).")
@click.option(
    "--device", default="cpu", show_default=True, callback=_device, help="cpu, cuda (one GPU per torchrun rank)."
)
@click.option("--max-minutes", type=float, default=None, help="Stop (with a checkpoint) after this long.")
@click.option("--max-steps", type=int, default=None, help="Stop (with a checkpoint) at this global step.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a recipe key.")
@click.option(
    "--strict",
    is_flag=True,
    help="An image that does not decode is an error instead of a skip (the next image takes its place).",
)
@_clean_errors
def train_command(
    recipe: str,
    *,
    output_dir: Path,
    data_path: str | None,
    device: str,
    max_minutes: float | None,
    max_steps: int | None,
    overrides: tuple[str, ...],
    strict: bool,
) -> None:
    """Pretrain with RECIPE (a built-in name or a YAML file); rerun the same command to resume."""
    from simsiam_zoo.train import train

    changes = _parse_overrides(overrides)
    if data_path is not None:
        changes["data.path"] = data_path
    chosen = load_recipe(recipe)
    if changes:
        chosen = chosen.replace(changes)
    result = train(
        chosen, output_dir=output_dir, device=device, max_minutes=max_minutes, max_steps=max_steps, strict=strict
    )
    for row in result.epochs[-3:]:
        click.echo(
            f"epoch {row['epoch']:>4}  loss {row['loss']:+.4f}  z-std {row['z_std']:.4f} "
            f"(1/sqrt(d) = {row['z_std_reference']:.4f})  kNN {row['knn_top1']:.2f}%"
        )
    state = "finished" if result.completed else "stopped early (rerun to resume)"
    click.echo(f"{state} at step {result.step}/{result.total_steps}; checkpoint in {output_dir}")


@main.command("demo")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("demo_output"), show_default=True)
@click.option(
    "--minutes", type=float, default=5.0, show_default=True, callback=_budget, help="Time budget of the whole demo."
)
@click.option("--device", default="cpu", show_default=True, callback=_device)
@_clean_errors
def demo_command(*, out_dir: Path, minutes: float, device: str) -> None:
    """Pretrain on Fashion-MNIST, export, publish locally, reload, extract, evaluate, report: all offline."""
    from simsiam_zoo.demo import format_table, run_demo

    result = run_demo(out_dir=out_dir, minutes=minutes, device=device, started=_STARTED)
    click.echo(format_table(result.table))
    click.echo(f"report: {result.report}")


@main.command("models")
@click.argument("pattern", required=False)
@click.option("--method", default=None, help="Only this method (simsiam, mocov3, dino, swav, ...).")
@click.option("--licence", "--license", "licence", default=None, help="Only this licence (mit, cc-by-nc-4.0, ...).")
@click.option("--all", "show_all", is_flag=True, help="Also the checkpoints that cannot be loaded, and why.")
@click.option("--json", "as_json", is_flag=True, help="One JSON list of entries, for scripts.")
def models_command(
    pattern: str | None, *, method: str | None, licence: str | None, show_all: bool, as_json: bool
) -> None:
    """List the zoo (names containing PATTERN): method, epochs, batch, published linear top-1, licence, cached."""
    import json

    from simsiam_zoo.hub.registry import select_entries
    from simsiam_zoo.loader import is_cached

    entries = select_entries(pattern, method=method, license=licence, include_unsupported=show_all)
    rows = [{**entry.summary_row(), "cached": is_cached(entry)} for entry in entries]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(f"{'name':42s} {'method':13s} {'epochs':>6s} {'batch':>5s} {'linear':>6s}  {'licence':12s} cached")
    for row in rows:
        linear = f"{row['linear_top1']:g}" if row["linear_top1"] is not None else "-"
        cached = "yes" if row["cached"] else "no"
        if row["unsupported"]:
            cached = f"not supported: {row['unsupported']}"
        click.echo(
            f"{row['name']:42s} {row['method']:13s} {row['epochs'] or '-':>6} {row['batch_size'] or '-':>5} "
            f"{linear:>6s}  {row['license']:12s} {cached}"
        )
    click.echo(
        f"{len(rows)} models; linear: published ImageNet-1k linear top-1 (%), epochs/batch '-' where the "
        "source does not state them (`--json` has notes and sources)"
    )


@main.command("download")
@click.argument("name")
@_clean_errors
def download_command(name: str) -> None:
    """Download zoo model NAME (or an hf-hub: id) into the Hugging Face cache and check it."""
    from simsiam_zoo.loader import load_backbone

    loaded = load_backbone(name)
    click.echo(f"{name}: {loaded.arch}, {loaded.model.num_features}-d features, cached and verified")


_OVERWRITE_HELP = (
    "Replace OUT even when it is a folder simsiam-zoo did not write (never an input); a hub folder it "
    "wrote is replaced without this flag."
)


@main.command("export")
@click.argument("checkpoint", type=click.Path(path_type=Path, exists=True))
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--name", required=True, help="Zoo name (arch.tag); a registered name brings its card fields.")
@click.option("--repo-id", default=None, help="Hub repo id for the card's usage snippet (default from the zoo).")
@click.option("--backbone-only", is_flag=True, help="Leave out simsiam.safetensors (projector + predictor).")
@click.option("--overwrite", is_flag=True, help=_OVERWRITE_HELP)
@_clean_errors
def export_command(
    checkpoint: Path, out: Path, *, name: str, repo_id: str | None, backbone_only: bool, overwrite: bool
) -> None:
    """Export a training CHECKPOINT (or run folder) to a hub folder OUT that timm loads."""
    from simsiam_zoo.export import export_checkpoint

    folder = export_checkpoint(
        checkpoint, out, name=name, repo_id=repo_id, include_full_model=not backbone_only, overwrite=overwrite
    )
    click.echo(f"wrote {folder} (validated: timm loads it)")


@main.command("convert")
@click.argument("checkpoint", type=click.Path(path_type=Path, exists=True))
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--name", required=True, help="Zoo name (arch.tag) of the result.")
@click.option("--from", "source", default=None, help="Force the source format instead of detecting it.")
@click.option("--arch", default=None, help="timm architecture (default: the zoo entry's, or inferred).")
@click.option("--overwrite", is_flag=True, help=_OVERWRITE_HELP)
@_clean_errors
def convert_command(
    checkpoint: Path, out: Path, *, name: str, source: str | None, arch: str | None, overwrite: bool
) -> None:
    """Convert another project's CHECKPOINT (SimSiam, MoCo, solo-learn, lightly, ...) to a hub folder OUT."""
    from simsiam_zoo.export import convert_to_hub

    detected, folder = convert_to_hub(checkpoint, out, name=name, source=source, arch=arch, overwrite=overwrite)
    click.echo(f"converted {checkpoint} ({detected}) -> {folder}")


@main.command("mirror")
@click.argument("names", nargs=-1)
@click.option("--org", required=True, help="Hub organisation (or user) to mirror to: ORG/NAME repos.")
@click.option("--dry-run", is_flag=True, help="Fetch, convert and validate; push nothing.")
@_clean_errors
def mirror_command(names: tuple[str, ...], *, org: str, dry_run: bool) -> None:
    """Mirror zoo entries NAMES (default: all) whose licence permits it to the Hub, and print the lines to pin.
    An entry that fails stops the command (its error last), after what was pushed before it and its lines."""
    from simsiam_zoo.mirror import iter_mirror

    results = []
    try:
        for result in iter_mirror(names, org=org, dry_run=dry_run):
            results.append(result)
            click.echo(f"{result.action:10s} {result.repo_id}" + (f" ({result.reason})" if result.reason else ""))
    finally:
        pinned = [result for result in results if result.action in ("pushed", "up to date")]
        if pinned:
            click.echo("\nto pin in simsiam_zoo/hub/registry.py:")
            for result in pinned:
                click.echo(f"  {result.registry_line()}")


@main.command("export-detectron2")
@click.argument("model")
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--overwrite", is_flag=True, help="Replace OUT even if this command did not write it (never MODEL).")
@_clean_errors
def export_detectron2_command(model: str, out: Path, *, overwrite: bool) -> None:
    """Write MODEL's backbone as a detectron2 checkpoint OUT.pkl (MoCo's key renames, matching_heuristics)."""
    from simsiam_zoo.convert.detectron2 import AUTHOR_PREFIX, write_detectron2_pickle
    from simsiam_zoo.loader import load_backbone

    loaded = load_backbone(model)
    write_detectron2_pickle(
        loaded.model.state_dict(), out, author=f"{AUTHOR_PREFIX}:{model}", inputs=(model,), overwrite=overwrite
    )
    click.echo(f"wrote {out}")


@main.command("push")
@click.argument("folder", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--repo-id", required=True, help="ORG/NAME on the Hub.")
@click.option("--private", is_flag=True)
@click.option("--revision", default=None, help="Branch to commit to (created from main if new; default main).")
@click.option("--create-pr", is_flag=True, help="Open a pull request against --revision instead of committing.")
@click.option("--commit-message", default=None, help="Commit message (default: names the weights' sha256).")
@click.option("--overwrite-card", is_flag=True, help="Replace the repo's README.md (default: keep one already there).")
@click.option("--dry-run", is_flag=True, help="Validate and list what would be uploaded; upload nothing.")
@_clean_errors
def push_command(
    folder: Path,
    *,
    repo_id: str,
    private: bool,
    revision: str | None,
    create_pr: bool,
    commit_message: str | None,
    overwrite_card: bool,
    dry_run: bool,
) -> None:
    """Validate a hub FOLDER and upload it to the Hugging Face Hub."""
    from simsiam_zoo.hub.publish import push_hub_folder

    if create_pr and revision is not None:
        raise click.UsageError(
            "--create-pr opens a pull request against main; it cannot be combined with --revision "
            "(push to the branch with --revision alone)"
        )

    result = push_hub_folder(
        folder,
        repo_id=repo_id,
        private=private,
        dry_run=dry_run,
        revision=revision,
        create_pr=create_pr,
        commit_message=commit_message,
        overwrite_card=overwrite_card,
    )
    where = f"{repo_id}@{revision}" if revision else repo_id
    click.echo(f"{'would upload' if dry_run else 'uploaded'} {', '.join(result.files)} to {where}")
    if result.kept_card is not None:
        click.echo(
            f"kept the README.md already on the Hub{': ' + result.kept_card if result.kept_card else ''} "
            "(--overwrite-card replaces it)"
        )
    if result.pr_url:
        click.echo(f"pull request: {result.pr_url}")
    if result.commit_url:
        click.echo(f"commit: {result.commit_url}")


@main.command("extract")
@click.argument("model")
@click.argument("data")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Output folder of feature shards.")
@click.option("--batch-size", type=click.IntRange(min=1), default=EXTRACT.batch_size, show_default=True)
@click.option("--shard-size", type=click.IntRange(min=1), default=EXTRACT.shard_size, show_default=True)
@click.option(
    "--num-workers",
    type=click.IntRange(min=0),
    default=None,
    help="Decoding processes [default: 0 on cpu, where the forward already uses every core; else 8].",
)
@click.option("--device", default=EXTRACT.device, show_default=True, callback=_device)
@click.option(
    "--device-preprocessing/--host-preprocessing",
    default=None,
    help="Resize and crop on --device instead of beside decoding [default: on for cuda].",
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
@click.option("--compile", "compile_model", is_flag=True, help="torch.compile the backbone.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Only the first N images of DATA.")
@click.option("--hub-dir", type=click.Path(path_type=Path), default=None, help="Local hub directory to load from.")
@_clean_errors
def extract_command(
    model: str,
    data: str,
    *,
    out: Path,
    batch_size: int,
    shard_size: int,
    num_workers: int | None,
    device: str,
    device_preprocessing: bool | None,
    precision: str,
    dtype: str,
    output_format: str,
    strict: bool,
    compile_model: bool,
    limit: int | None,
    hub_dir: Path | None,
) -> None:
    """Embed DATA (image folder, text file of paths, or fashion_mnist[:test]) with MODEL into --out.

    MODEL is a zoo name, hf-hub: id, hub folder, .safetensors file or checkpoint; its preprocessing comes
    with it. Rerun the same command to resume an interrupted extraction. Under torchrun the ranks share the work.
    """
    import torch

    from simsiam_zoo.distributed import init_distributed, main_first
    from simsiam_zoo.features import extract_features
    from simsiam_zoo.loader import load_backbone

    context = init_distributed(torch.device(device))
    with main_first(context):  # rank 0 downloads and converts; the others then read its cache
        loaded = load_backbone(model, hub_dir=hub_dir)
    summary = extract_features(
        loaded.model,
        loaded.transform,
        data,
        out=out,
        batch_size=batch_size,
        shard_size=shard_size,
        num_workers=num_workers,
        device=device,
        device_preprocessing=device_preprocessing,
        precision=precision,
        dtype=dtype,
        output_format=output_format,
        strict=strict,
        compile=compile_model,
        limit=limit,
        model_name=loaded.source,
    )
    if not context.is_main:
        return
    click.echo(
        f"embedded {summary.num_embedded} of {summary.num_images} images ({summary.dim}-d) into {out}; "
        f"skipped {summary.num_skipped} (see {summary.skipped_manifest}); "
        f"{summary.images_per_second:.1f} images/s"
    )


@main.group("eval")
def eval_group() -> None:
    """Evaluate extracted features: kNN, linear probe."""


@eval_group.command("knn")
@click.option("--train", "train_features", type=click.Path(path_type=Path, exists=True), required=True)
@click.option("--test", "test_features", type=click.Path(path_type=Path, exists=True), required=True)
@click.option("--k", "ks", type=click.IntRange(min=1), multiple=True, default=(20, 200), show_default=True)
@click.option("--temperature", type=click.FloatRange(min=0, min_open=True), default=0.07, show_default=True)
@click.option("--device", default=None, callback=_device)
@click.option("--out", type=click.Path(path_type=Path), default=None, help="JSON result file.")
@_clean_errors
def eval_knn_command(
    *,
    train_features: Path,
    test_features: Path,
    ks: tuple[int, ...],
    temperature: float,
    device: str | None,
    out: Path | None,
) -> None:
    """Weighted cosine kNN of --test features against --train features (k=20 and 200, T=0.07)."""
    from simsiam_zoo.evaluate.cached import evaluate_knn

    result = evaluate_knn(train_features, test_features, ks=ks, temperature=temperature, device=device)
    _report(result, out, [(f"kNN k={k}", value) for k, value in result["top1"].items()])


@eval_group.command("linear")
@click.option("--train", "train_features", type=click.Path(path_type=Path, exists=True), required=True)
@click.option("--test", "test_features", type=click.Path(path_type=Path, exists=True), required=True)
@click.option("--device", default=None, callback=_device)
@click.option("--out", type=click.Path(path_type=Path), default=None, help="JSON result file.")
@_clean_errors
def eval_linear_command(*, train_features: Path, test_features: Path, device: str | None, out: Path | None) -> None:
    """Linear probe (L-BFGS logistic regression, weight decay chosen on a split of train) on cached features."""
    from simsiam_zoo.evaluate.cached import evaluate_linear

    result = evaluate_linear(train_features, test_features, device=device)
    _report(result, out, [(f"linear (wd {result['weight_decay']:g})", result["top1"])])


def _report(result: dict[str, Any], out: Path | None, rows: list[tuple[str, float]]) -> None:
    from simsiam_zoo.evaluate.cached import write_result

    if os.environ.get("RANK", "0") != "0":  # under torchrun every rank has the result; rank 0 reports it
        return
    click.echo(f"{'evaluation':24s} {'top-1':>8s}")
    for name, value in rows:
        click.echo(f"{name:24s} {value:>7.2f}%")
    if out is not None:
        write_result(result, out)
        click.echo(f"wrote {out}")


def _run_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Options shared by the commands that train on DATA: caps, seed, device, where MODEL lives. The command
    receives them as one `run` (a RunOptions)."""

    command = _bundle(
        command,
        "run",
        RunOptions,
        (
            "train_limit",
            "test_limit",
            "seed",
            "device",
            "num_workers",
            "hub_dir",
            "checkpoint_dir",
            "strict",
            "shuffle",
        ),
    )
    for option in reversed(
        [
            click.option(
                "--train-limit",
                type=click.IntRange(min=1),
                default=_default(RunOptions, "train_limit"),
                help="At most N training images (Fashion-MNIST: the first N, else a seeded sample).",
            ),
            click.option(
                "--test-limit",
                type=click.IntRange(min=1),
                default=_default(RunOptions, "test_limit"),
                help="At most N test images (same).",
            ),
            click.option("--seed", type=int, default=_default(RunOptions, "seed"), show_default=True),
            click.option("--device", default=_default(RunOptions, "device"), show_default=True, callback=_device),
            click.option(
                "--num-workers",
                type=int,
                default=_default(RunOptions, "num_workers"),
                show_default=True,
                help="Decoding processes.",
            ),
            click.option(
                "--hub-dir",
                type=click.Path(path_type=Path),
                default=_default(RunOptions, "hub_dir"),
                help="Local hub directory to load MODEL from.",
            ),
            click.option(
                "--checkpoint-dir",
                type=click.Path(path_type=Path),
                default=_default(RunOptions, "checkpoint_dir"),
                help="Save each network trained there after every epoch; the same command resumes from it.",
            ),
            click.option(
                "--strict",
                is_flag=True,
                default=_default(RunOptions, "strict"),
                help="An image that does not decode is an error instead of a skip.",
            ),
            click.option(
                "--shuffle",
                type=click.Choice(get_args(Shuffle)),
                default=_default(RunOptions, "shuffle"),
                show_default=True,
                help="Under several ranks: one global batch order, or each rank shuffles "
                "its own stretch of DATA (its own tar shards).",
            ),
        ]
    ):
        command = option(command)
    return command


def _default(options: type, name: str) -> Any:
    """The default of the dataclass `options`' field `name`, so that a CLI default and the library's are one."""
    return next(field.default for field in dataclasses.fields(options) if field.name == name)


def _bundle(
    command: Callable[..., Any], keyword: str, make: Callable[..., Any], fields: tuple[str, ...]
) -> Callable[..., Any]:
    """`command` called with the options `fields` replaced by one `keyword` argument, `make(**those options)`; a
    value that `make` rejects (ValueError) is a usage error (exit 2), like one that click rejects itself."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        options = {field: kwargs.pop(field) for field in fields}
        try:
            kwargs[keyword] = make(**options)
        except ValueError as error:
            raise click.UsageError(str(error), ctx=click.get_current_context()) from None
        return command(*args, **kwargs)

    return wrapper


def _schedule_options(*, linear_protocol: bool = False, lr_help: str | None = None) -> Callable[..., Any]:
    """--epochs, --batch-size, --weight-decay, --optimizer and --lr (--base-lr for the linear protocol), with the
    defaults of the schedule class. The command receives them as one `schedule`: a LinearProtocolSchedule or a
    Schedule."""
    schedule = LinearProtocolSchedule if linear_protocol else Schedule
    lr_field = "base_lr" if linear_protocol else "lr"
    lr_option = click.option(
        f"--{lr_field.replace('_', '-')}",
        type=float,
        default=_default(schedule, lr_field),
        show_default=True,
        help="lr = base-lr x batch / 256 (paper 0.02; the official code uses 0.1)." if linear_protocol else lr_help,
    )
    batch_size = _default(schedule, "batch_size")

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        fields = ("epochs", "batch_size", "weight_decay", "optimizer", lr_field)
        command = _bundle(command, "schedule", schedule, fields)
        for option in reversed(
            [
                click.option(
                    "--epochs", type=click.IntRange(min=1), default=_default(schedule, "epochs"), show_default=True
                ),
                click.option(
                    "--batch-size",
                    type=click.IntRange(min=1),
                    default=batch_size,
                    show_default=batch_size is not None,
                    help=None
                    if batch_size
                    else f"[default: {DEFAULT_BATCH_SIZE}, halved on a small train set "
                    f"until an epoch has {MIN_STEPS_PER_EPOCH} steps]",
                ),
                click.option(
                    "--weight-decay",
                    type=click.FloatRange(min=0),
                    default=_default(schedule, "weight_decay"),
                    show_default=True,
                ),
                click.option(
                    "--optimizer",
                    type=click.Choice(OPTIMIZERS),
                    default=_default(schedule, "optimizer"),
                    show_default=True,
                ),
                lr_option,
            ]
        ):
            command = option(command)
        return command

    return decorate


_DATA_HELP = (
    "DATA: fashion_mnist, digits, or a folder with train/ and val/ (or test/) sub-folders (class folders, or "
    "a Hugging Face DatasetDict saved with save_to_disk). With --test-data, DATA is the training source and "
    "--test-data the test one: each an image folder, WebDataset tar shards ('train-{000000..000099}.tar'), "
    "a Hugging Face dataset folder or parquet/arrow files ('data/train-*.parquet')."
)


def _data_argument(command: Callable[..., Any]) -> Callable[..., Any]:
    """DATA and --test-data, handed to the command as one `data`: DATA, or the (DATA, --test-data) pair."""

    @functools.wraps(command)
    def wrapper(*args: Any, data: str, test_data: str | None, **kwargs: Any) -> Any:
        return command(*args, data=data if test_data is None else (data, test_data), **kwargs)

    wrapper = click.option(
        "--test-data",
        default=None,
        metavar="SOURCE",
        help="The test source; DATA is then the training source (see below).",
    )(wrapper)
    return click.argument("data")(wrapper)


@eval_group.command("linear-protocol", epilog=_DATA_HELP)
@click.argument("model")
@_data_argument
@_schedule_options(linear_protocol=True)
@_run_options
@click.option("--out", type=click.Path(path_type=Path), default=None, help="JSON result file.")
@_clean_errors
def eval_linear_protocol_command(
    model: str, data: str | tuple[str, str], *, schedule: LinearProtocolSchedule, run: RunOptions, out: Path | None
) -> None:
    """The paper's linear protocol: a linear classifier on MODEL's frozen backbone (BN in eval mode), on DATA."""
    from simsiam_zoo.evaluate.protocols import linear_protocol

    result = linear_protocol(model, data, schedule=schedule, run=run)
    _report(result, out, [("linear protocol", result["top1"])])


def _parse_subset_files(pairs: tuple[str, ...]) -> dict[float, Path]:
    files = {}
    for pair in pairs:
        fraction, _, path = pair.partition("=")
        try:
            value = float(fraction)
        except ValueError:
            value = None
        if value is None or not 0 < value <= 1 or not path:
            raise click.BadParameter(
                f"{pair!r}: expected FRACTION=PATH with FRACTION in (0, 1], e.g. 0.01=1percent.txt",
                param_hint="--subset-file",
            )
        files[value] = Path(path)
    return files


@eval_group.command("semi", epilog=_DATA_HELP)
@click.argument("model")
@_data_argument
@click.option(
    "--fraction",
    "fractions",
    type=click.FloatRange(0, 1, min_open=True),
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
@_schedule_options()
@_run_options
@click.option("--out", type=click.Path(path_type=Path), default=None, help="JSON result file.")
@_clean_errors
def eval_semi_command(
    model: str,
    data: str | tuple[str, str],
    *,
    fractions: tuple[float, ...],
    subset_files: tuple[str, ...],
    schedule: Schedule,
    run: RunOptions,
    out: Path | None,
) -> None:
    """Semi-supervised: fine-tune all of MODEL on 1% and 10% (--fraction) of DATA's training labels."""
    from simsiam_zoo.evaluate.protocols import semi_supervised

    result = semi_supervised(
        model, data, fractions=fractions, subset_files=_parse_subset_files(subset_files), schedule=schedule, run=run
    )
    _report(
        result,
        out,
        [(f"fine-tune {row['fraction']:g} ({row['num_labelled']})", row["top1"]) for row in result["fractions"]],
    )


def _parse_datasets(entries: tuple[str, ...]) -> dict[str, str]:
    datasets = {}
    for entry in entries:
        name, sep, path = entry.partition("=")
        if sep and not (name and path):
            raise click.BadParameter(f"{entry!r}: expected NAME=PATH or a named dataset", param_hint="--dataset")
        datasets[name] = path if sep else name
    return datasets


@eval_group.command("transfer")
@click.argument("model")
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
    default=("linear", "finetune"),
    show_default=True,
)
@_schedule_options(lr_help="Fine-tuning lr.")
@click.option(
    "--cache-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Keep extracted features here for reuse (default: a temporary folder).",
)
@_run_options
@click.option("--out", type=click.Path(path_type=Path), default=None, help="JSON result file.")
@_clean_errors
def eval_transfer_command(
    model: str,
    *,
    datasets: tuple[str, ...],
    modes: tuple[str, ...],
    schedule: Schedule,
    cache_dir: Path | None,
    run: RunOptions,
    out: Path | None,
) -> None:
    """Transfer MODEL to each --dataset: linear probe on cached features and full fine-tuning."""
    from simsiam_zoo.evaluate.protocols import transfer

    result = transfer(model, _parse_datasets(datasets), modes=modes, schedule=schedule, cache_dir=cache_dir, run=run)
    _report(result, out, [(f"{row['dataset']} {row['mode']}", row["top1"]) for row in result["rows"]])


@main.command("finetune", epilog=_DATA_HELP)
@click.argument("model")
@_data_argument
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    required=True,
    help="Classifier folder that timm loads (local-dir:OUT); the result goes to OUT/finetune.json.",
)
@_schedule_options()
@click.option("--frozen-backbone", is_flag=True, help="Train only the linear head (the linear protocol).")
@click.option("--name", default=None, help="Model name on the card (default ARCH.finetuned).")
@click.option(
    "--license",
    "license_",
    default=None,
    help="Card licence, a Hub licence id (default: the backbone's licence, else apache-2.0).",
)
@click.option("--license-name", default=None, help="With --license other: the licence's short name.")
@click.option("--license-link", default=None, help="With --license other: a link to the licence text.")
@click.option("--overwrite", is_flag=True, help=_OVERWRITE_HELP.replace("OUT", "--out"))
@_run_options
@_clean_errors
def finetune_command(
    model: str,
    data: str | tuple[str, str],
    *,
    out_dir: Path,
    schedule: Schedule,
    frozen_backbone: bool,
    name: str | None,
    license_: str | None,
    license_name: str | None,
    license_link: str | None,
    overwrite: bool,
    run: RunOptions,
) -> None:
    """Fine-tune MODEL on DATA and save the classifier (backbone + fc) as a timm folder --out."""
    from simsiam_zoo.evaluate.protocols import finetune_classifier

    result = finetune_classifier(
        model,
        data,
        out_dir,
        schedule=schedule,
        frozen_backbone=frozen_backbone,
        card_name=name,
        license=license_,
        license_name=license_name,
        license_link=license_link,
        run=run,
        overwrite=overwrite,
    )
    _report(result, out_dir / "finetune.json", [("linear" if frozen_backbone else "fine-tune", result["top1"])])
    click.echo(f"classifier in {out_dir} (timm.create_model('local-dir:{out_dir}', pretrained=True))")


if __name__ == "__main__":
    main()
