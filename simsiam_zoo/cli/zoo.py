"""The zoo and the Hub: `models`, `download`, `export`, `convert`, `export-detectron2`, `mirror`, `push`."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import click

from simsiam_zoo.cli.failures import clean_errors
from simsiam_zoo.cli.shared import (
    OVERWRITE_HELP,
    NonEmptyPath,
    NonEmptyText,
    check_branch_option,
    check_card_name,
    check_repo_id_option,
)
from simsiam_zoo.errors import UncheckedFileWarning


def _zoo_value(field: str) -> Callable[[click.Context, click.Parameter, str | None], str | None]:
    """A filter's value that some zoo entry has (any case), else a usage error listing the closest ones: a
    misspelt filter would list no model and say nothing of why."""

    def check(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
        import difflib

        from simsiam_zoo.zoo import ZOO

        known = sorted({str(getattr(entry, field)) for entry in ZOO.values()})
        if value is None or value.lower() in known:
            return value
        close = difflib.get_close_matches(value.lower(), known, n=3)
        raise click.BadParameter(
            f"{value!r}: no zoo entry has it" + (f"; did you mean {', '.join(close)}?" if close else "")
        )

    return check


_UNVERIFIED = "unverified: size or time not as last verified; the next load hashes it (refused if changed)"


@click.command("models")
@click.argument("pattern", required=False)
@click.option(
    "--method", default=None, callback=_zoo_value("method"), help="Only this method (simsiam, mocov3, dino, swav, ...)."
)
@click.option(
    "--licence",
    "--license",
    "licence",
    default=None,
    callback=_zoo_value("license"),
    help="Only this licence (mit, cc-by-nc-4.0, ...).",
)
@click.option(
    "--arch",
    default=None,
    callback=_zoo_value("arch"),
    help="Only this timm architecture (resnet50, vit_small_patch16_224, ...).",
)
@click.option("--all", "show_all", is_flag=True, help="Also the checkpoints that cannot be loaded, and why.")
@click.option("--json", "as_json", is_flag=True, help="One JSON list of entries, for scripts.")
def models_command(
    pattern: str | None, *, method: str | None, licence: str | None, arch: str | None, show_all: bool, as_json: bool
) -> None:
    """List the zoo (names containing PATTERN, or matching it where it has wildcards: 'resnet50.*_ep800*'): method,
    epochs, batch, published linear top-1, licence, cached."""
    import json

    from simsiam_zoo.loader import cache_status
    from simsiam_zoo.zoo import select_entries

    entries = select_entries(pattern, method=method, license=licence, arch=arch, include_unsupported=show_all)
    rows = [{**entry.summary_row(), "cached": cache_status(entry)} for entry in entries]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    width = max([len("name"), *(len(row["name"]) for row in rows)])  # the longest name sets the column
    click.echo(f"{'name':{width}s} {'method':13s} {'epochs':>6s} {'batch':>5s} {'linear':>6s}  {'licence':12s} cached")
    for row in rows:
        linear = f"{row['linear_top1']:g}" if row["linear_top1"] is not None else "-"
        cached = _UNVERIFIED if row["cached"] == "unverified" else row["cached"]
        if row["unsupported"]:
            cached = f"not supported: {row['unsupported']}"
        click.echo(
            f"{row['name']:{width}s} {row['method']:13s} {row['epochs'] or '-':>6} {row['batch_size'] or '-':>5} "
            f"{linear:>6s}  {row['license']:12s} {cached}"
        )
    click.echo(
        f"{len(rows)} model{'' if len(rows) == 1 else 's'}; linear: published ImageNet-1k linear top-1 (%), "
        "epochs/batch '-' where the source does not state them (`--json` has notes and sources)"
    )


@click.command("download")
@click.argument("name", type=NonEmptyText("model name or hf-hub: id"))
@clean_errors
def download_command(name: str) -> None:
    """Download zoo model NAME (or an hf-hub: id) into the Hugging Face cache and check it."""
    from simsiam_zoo.loader import load_backbone
    from simsiam_zoo.model import pooled_width
    from simsiam_zoo.zoo import find_entry

    if not name.startswith("hf-hub:") and find_entry(name) is None and Path(name).exists():
        raise click.BadParameter(
            f"{name!r} is a local file or folder, which loads as it is; download fetches zoo names and hf-hub: ids",
            param_hint="'NAME'",
        )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UncheckedFileWarning)
        loaded = load_backbone(name)
    for warning in caught:
        warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    checked = not any(issubclass(warning.category, UncheckedFileWarning) for warning in caught)
    state = "cached and verified" if checked else "cached, not all of it verified (see the warning)"
    click.echo(f"{name}: {loaded.arch}, {pooled_width(loaded.model)}-d features, {state}")


@click.command("export")
@click.argument("checkpoint", type=NonEmptyPath(path_type=Path, exists=True))
@click.argument("out", type=NonEmptyPath(path_type=Path))
@click.option("--name", required=True, help="Zoo name (arch.tag); a registered name brings its card fields.")
@click.option(
    "--repo-id",
    default=None,
    callback=check_repo_id_option,
    help="Hub repo id for the card's usage snippet (default from the zoo).",
)
@click.option("--backbone-only", is_flag=True, help="Leave out simsiam.safetensors (projector + predictor).")
@click.option("--overwrite", is_flag=True, help=OVERWRITE_HELP)
@clean_errors
def export_command(
    checkpoint: Path, out: Path, *, name: str, repo_id: str | None, backbone_only: bool, overwrite: bool
) -> None:
    """Export a training CHECKPOINT (or run folder) to a hub folder OUT that timm loads."""
    from simsiam_zoo.export import export_checkpoint

    check_card_name(name, repo_id=repo_id)
    folder = export_checkpoint(
        checkpoint, out, name=name, repo_id=repo_id, include_full_model=not backbone_only, overwrite=overwrite
    )
    click.echo(f"wrote {folder} (validated: timm loads it)")


def _converter_name(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A converter's name; checked here, not as a click.Choice, whose list would import torch at --help."""
    if value is None:
        return None
    from simsiam_zoo.convert import CONVERTERS

    if value not in CONVERTERS:
        raise click.BadParameter(f"{value!r} is no converter; one of {', '.join(CONVERTERS)}")
    return value


@click.command("convert")
@click.argument("checkpoint", type=NonEmptyPath(path_type=Path, exists=True))
@click.argument("out", type=NonEmptyPath(path_type=Path))
@click.option("--name", required=True, help="Zoo name (arch.tag) of the result.")
@click.option(
    "--from", "source", default=None, callback=_converter_name, help="Force the source format instead of detecting it."
)
@click.option(
    "--arch",
    type=NonEmptyText("architecture"),
    default=None,
    help="timm architecture (default: the zoo entry's, or inferred).",
)
@click.option("--overwrite", is_flag=True, help=OVERWRITE_HELP)
@clean_errors
def convert_command(
    checkpoint: Path, out: Path, *, name: str, source: str | None, arch: str | None, overwrite: bool
) -> None:
    """Convert another project's CHECKPOINT (SimSiam, MoCo, solo-learn, lightly, ...) to a hub folder OUT."""
    from simsiam_zoo.export import convert_to_hub

    check_card_name(name)
    detected, folder = convert_to_hub(checkpoint, out, name=name, source=source, arch=arch, overwrite=overwrite)
    click.echo(f"converted {checkpoint} ({detected}) -> {folder}")


def _hub_org(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """An organisation or user name the Hub takes in ORG/NAME (an error said "repo id '/resnet50...'")."""
    from simsiam_zoo.errors import HubFolderError
    from simsiam_zoo.hub.publish import check_repo_id

    try:
        check_repo_id(f"{value}/name")
    except HubFolderError:
        raise click.BadParameter(f"{value!r} is not an organisation or user name the Hub takes") from None
    return value


@click.command("mirror")
@click.argument("names", nargs=-1, type=NonEmptyText("zoo name"))
@click.option(
    "--org", required=True, callback=_hub_org, help="Hub organisation (or user) to mirror to: ORG/NAME repos."
)
@click.option("--dry-run", is_flag=True, help="Fetch, convert and validate; push nothing.")
@clean_errors
def mirror_command(names: tuple[str, ...], *, org: str, dry_run: bool) -> None:
    """Mirror zoo entries NAMES (default: all) whose licence permits it to the Hub, and print the lines to pin.
    An entry that fails stops the command (its error last), after what was pushed before it and its lines."""
    from simsiam_zoo.mirror import mirror_entries

    results = []
    try:
        for result in mirror_entries(names, org=org, dry_run=dry_run):
            results.append(result)
            click.echo(f"{result.action:10s} {result.repo_id}" + (f" ({result.reason})" if result.reason else ""))
    finally:
        pinned = [result for result in results if result.action in ("pushed", "up to date")]
        if pinned:
            click.echo("\nto pin in simsiam_zoo/zoo/entries.py:")
            for result in pinned:
                click.echo(f"  {result.registry_line()}")


@click.command("export-detectron2")
@click.argument("model", type=NonEmptyText("model name or path"))
@click.argument("out", type=NonEmptyPath())  # a string: a Path drops the trailing separator that marks a folder
@click.option("--overwrite", is_flag=True, help="Replace OUT even if this command did not write it (never MODEL).")
@clean_errors
def export_detectron2_command(model: str, out: str, *, overwrite: bool) -> None:
    """Write MODEL's backbone as a detectron2 checkpoint at OUT, a pickle (name it .pkl, as detectron2 expects;
    MoCo's key renames, matching_heuristics)."""
    from simsiam_zoo.convert.detectron2 import AUTHOR_PREFIX, check_detectron2_output, write_detectron2_pickle
    from simsiam_zoo.errors import ConversionError
    from simsiam_zoo.loader import load_backbone

    run = _run_of(Path(model))
    check_detectron2_output(out, inputs=(model, run), overwrite=overwrite)  # before any download
    loaded = load_backbone(model)
    try:
        write_detectron2_pickle(
            loaded.model.state_dict(), out, author=f"{AUTHOR_PREFIX}:{model}", inputs=(model, run), overwrite=overwrite
        )
    except ConversionError as error:  # the state's keys: MODEL is what to name
        raise ConversionError(f"{model}: {error}") from None
    click.echo(f"wrote {out}")


def _run_of(model: Path) -> Path | None:
    """The training run whose checkpoint `model` is (its folder is an input too: its recipe.yaml became the
    pickle), or None: another project's checkpoint.pt lies in a folder of the user's."""
    from simsiam_zoo._io import read_marker
    from simsiam_zoo.checkpoint import CHECKPOINT_NAME, RECIPE_NAME

    run = model.parent
    if model.name != CHECKPOINT_NAME or not (read_marker(run) == "run" or (run / RECIPE_NAME).is_file()):
        return None
    return run


@click.command("push")
@click.argument("folder", type=NonEmptyPath(path_type=Path, exists=True, file_okay=False))
@click.option("--repo-id", required=True, callback=check_repo_id_option, help="ORG/NAME on the Hub.")
@click.option("--private", is_flag=True)
@click.option(
    "--revision",
    default=None,
    callback=check_branch_option,
    help="Branch to commit to (created from main if new; default main).",
)
@click.option("--create-pr", is_flag=True, help="Open a pull request against --revision instead of committing.")
@click.option("--commit-message", default=None, help="Commit message (default: names the weights' sha256).")
@click.option("--overwrite-card", is_flag=True, help="Replace the repo's README.md (default: keep one already there).")
@click.option("--dry-run", is_flag=True, help="Validate and list what would be uploaded; upload nothing.")
@clean_errors
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
    if result.removed:
        click.echo(f"removed {', '.join(result.removed)}: an earlier push's, beside other weights")
    if result.pr_url:
        click.echo(f"pull request: {result.pr_url}")
    if result.commit_url:
        click.echo(f"commit: {result.commit_url}")
