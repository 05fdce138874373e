"""What several commands share: option callbacks, option bundles (RunOptions, schedules), value parsers,
the result table."""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, get_args

import click
import yaml

from simsiam_zoo.choices import MAX_NUM_WORKERS, Shuffle
from simsiam_zoo.options import (
    DEFAULT_BATCH_SIZE,
    MAX_MINUTES,
    MIN_STEPS_PER_EPOCH,
    OPTIMIZERS,
    LinearProtocolSchedule,
    RunOptions,
    Schedule,
)

_EMPTY = "an empty path (an unset variable?): pathlib reads it as the current folder; write '.' for that"

# --num-workers of every command: a typo of 10**20 forked until the OOM killer came.
WORKER_COUNT = click.IntRange(min=0, max=MAX_NUM_WORKERS)


class NonEmptyPath(click.Path):
    """click.Path, refusing '' and blanks: an unset shell variable, which the current folder stood in for (it was
    extracted whole, or written to)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        _refuse_blank(self, value, param, ctx)
        return super().convert(value, param, ctx)


class NonEmptyText(click.ParamType):
    """A source name or path (DATA, --data), or with `what` a name (a model's, a recipe's), refusing '' and blanks
    as NonEmptyPath does."""

    name = "text"

    def __init__(self, what: str | None = None):
        self.what = what

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if self.what is None:
            _refuse_blank(self, value, param, ctx)
        elif isinstance(value, str) and not value.strip():
            self.fail(f"an empty {self.what} (an unset variable?)", param, ctx)
        return value


def _refuse_blank(kind: click.ParamType, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> None:
    if isinstance(value, str) and not value.strip():
        kind.fail(_EMPTY, param, ctx)


def check_device_option(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """--device: a device this machine has (a usage error otherwise, before anything runs)."""
    if value is None:
        return None
    from simsiam_zoo.distributed import check_device

    try:
        return check_device(value)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None


def check_minutes_option(ctx: click.Context, param: click.Parameter, minutes: float | None) -> float | None:
    """--minutes / --max-minutes: a positive number up to a year, or not given (NaN compares false with every
    bound, so a range type lets it pass)."""
    if minutes is not None and not 0 < minutes <= MAX_MINUTES:
        raise click.BadParameter(f"{minutes}: the budget must be a positive number of minutes, at most {MAX_MINUTES:,}")
    return minutes


def check_positive_finite(ctx: click.Context, param: click.Parameter, value: float) -> float:
    """A float option that must be a finite number above 0 (NaN compares false with every bound of a range type)."""
    if not (math.isfinite(value) and value > 0):
        raise click.BadParameter(f"{value}: a finite number above 0")
    return value


def _hub_name_check(check: str) -> Callable[[click.Context, click.Parameter, str | None], str | None]:
    """A callback for an option naming something on the Hub: `hub.publish`'s `check` of it, before any work, its
    HubFolderError a usage error. Imported when the option is given: `--help` loads no huggingface_hub."""

    def callback(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
        if value is None:
            return None
        from simsiam_zoo.errors import HubFolderError
        from simsiam_zoo.hub import publish

        try:
            return getattr(publish, check)(value)
        except HubFolderError as error:
            raise click.BadParameter(str(error)) from None

    return callback


check_repo_id_option = _hub_name_check("check_repo_id")  # --repo-id: ORG/NAME as the Hub takes it
check_branch_option = _hub_name_check("check_branch_name")  # --revision of a push: a branch name git takes


def check_card_name(name: str | None, *, repo_id: str | None = None) -> None:
    """--name of a card, a usage error where it makes no Hub repo (the library checks it too, as bad input); with
    --repo-id given the card names that repo instead (checked by `check_repo_id_option`)."""
    if name is None or repo_id is not None:
        return
    from simsiam_zoo.errors import HubFolderError
    from simsiam_zoo.export import check_model_name

    try:
        check_model_name(name)
    except HubFolderError as error:
        raise click.BadParameter(str(error), param_hint="'--name'") from None


def parse_overrides(ctx: click.Context, param: click.Parameter, pairs: tuple[str, ...]) -> dict[str, Any]:
    """--set KEY=VALUE pairs as a mapping of recipe keys to YAML values; a malformed pair is a usage error."""
    overrides = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not (sep and key.strip()):
            raise click.BadParameter(f"{pair!r}: expected KEY=VALUE, e.g. optim.batch_size=64")
        if key.strip() in overrides:  # the last one won in silence
            raise click.BadParameter(f"{key.strip()}: given twice; give each key once")
        try:
            overrides[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError as error:
            raise click.BadParameter(f"{pair!r}: the value is not valid YAML ({str(error).splitlines()[0]})") from None
        except RecursionError:  # '[' * 100000: the parser recurses once a level
            raise click.BadParameter(f"{key.strip()}: the value is nested too deep") from None
    return overrides


OVERWRITE_HELP = (
    "Replace OUT even when it is a folder simsiam-zoo did not write (never an input); a hub folder it "
    "wrote is replaced without this flag."
)


# A string, not a Path, so that the check sees a trailing separator (`--out results/`) that Path would drop.
result_out_option = click.option("--out", type=NonEmptyPath(), default=None, help="JSON result file.")


def check_result_out(out: str | None, *, evaluation: str, inputs: tuple[str | Path | tuple[str, str], ...]) -> None:
    """--out, checked before `evaluation` runs (a refusal after it would lose the result), outside its `inputs`:
    the features folders, MODEL and DATA (a pair with --test-data)."""
    from simsiam_zoo._io import read_marker
    from simsiam_zoo.protocols.cached import check_result_path

    paths = [part for given in inputs for part in (given if isinstance(given, tuple) else (given,))]
    # A training run folder as MODEL may hold its evaluations: nothing pushes or lists its files.
    paths = [path for path in paths if read_marker(Path(path)) != "run"]
    if out is not None:
        check_result_path(out, evaluation=evaluation, inputs=paths)


def report_result(
    result: dict[str, Any], out: str | Path | None, rows: list[tuple[str, float]], *, closing: str | None = None
) -> None:
    """The table of `rows`, `result` written to `out` and a `closing` line, from rank 0 only."""
    from simsiam_zoo.distributed import joined_context, launched_rank, main_only
    from simsiam_zoo.protocols.cached import write_result

    main = launched_rank() == 0  # under torchrun every rank has the result; rank 0 reports it
    if main:
        click.echo(f"{'evaluation':24s} {'top-1':>8s}")
        for name, value in rows:
            click.echo(f"{name:24s} {value:>7.2f}%")
    context = joined_context()
    if out is not None and (main or context.enabled):
        # Within a process group every rank waits for rank 0's write: its failure is every rank's (they exited 0).
        main_only(context, lambda: write_result(result, out))
        if main:
            click.echo(f"wrote {out}")
    if closing is not None and main:
        click.echo(closing)


def option_default(options: type, name: str) -> Any:
    """The default of the dataclass `options`' field `name`, so that a CLI default and the library's are one."""
    return next(field.default for field in dataclasses.fields(options) if field.name == name)


# The options every command that trains on DATA has, as RunOptions' fields; the command receives them as one.
_RUN_FIELDS = (
    "train_limit",
    "test_limit",
    "seed",
    "device",
    "num_workers",
    "hub_dir",
    "checkpoint_dir",
    "strict",
    "shuffle",
)
_RUN_OPTIONS = [
    click.option(
        "--train-limit",
        type=click.IntRange(min=1),
        default=option_default(RunOptions, "train_limit"),
        help="At most N training images (Fashion-MNIST: the first N, else a seeded sample).",
    ),
    click.option(
        "--test-limit",
        type=click.IntRange(min=1),
        default=option_default(RunOptions, "test_limit"),
        help="At most N test images (same).",
    ),
    click.option("--seed", type=int, default=option_default(RunOptions, "seed"), show_default=True),
    click.option(
        "--device",
        default=option_default(RunOptions, "device"),
        show_default=True,
        callback=check_device_option,
    ),
    click.option(
        "--num-workers",
        type=WORKER_COUNT,
        default=option_default(RunOptions, "num_workers"),
        show_default=True,
        help="Decoding processes.",
    ),
    click.option(
        "--hub-dir",
        type=NonEmptyPath(path_type=Path),
        default=option_default(RunOptions, "hub_dir"),
        help="Local hub directory to load MODEL from.",
    ),
    click.option(
        "--checkpoint-dir",
        type=NonEmptyPath(path_type=Path),
        default=option_default(RunOptions, "checkpoint_dir"),
        help="Save each network trained there after every epoch; the same command resumes from it.",
    ),
    click.option(
        "--strict",
        is_flag=True,
        default=option_default(RunOptions, "strict"),
        help="An image that does not decode is an error instead of a skip.",
    ),
    click.option(
        "--shuffle",
        type=click.Choice(get_args(Shuffle)),
        default=option_default(RunOptions, "shuffle"),
        show_default=True,
        help="Under several ranks: one global batch order, or each rank shuffles "
        "its own stretch of DATA (its own tar shards).",
    ),
]


def run_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Options shared by the commands that train on DATA: caps, seed, device, where MODEL lives. The command
    receives them as one `run` (a RunOptions)."""
    command = bundle(command, "run", RunOptions, _RUN_FIELDS)
    for option in reversed(_RUN_OPTIONS):
        command = option(command)
    return command


def bundle(
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
            raise click.UsageError(_named_as_option(str(error), fields), ctx=click.get_current_context()) from None
        return command(*args, **kwargs)

    return wrapper


def _named_as_option(message: str, fields: tuple[str, ...]) -> str:
    """`message` with its leading field name (the dataclass's `weight_decay`) as typed (`--weight-decay`)."""
    field = next((field for field in fields if message.startswith(f"{field} ")), None)
    return message if field is None else f"--{field.replace('_', '-')}{message[len(field) :]}"


def schedule_options(*, linear_protocol: bool = False, lr_help: str | None = None) -> Callable[..., Any]:
    """--epochs, --batch-size, --weight-decay, --optimizer and --lr (--base-lr for the linear protocol), with the
    defaults of the schedule class. The command receives them as one `schedule`: a LinearProtocolSchedule or a
    Schedule."""
    schedule = LinearProtocolSchedule if linear_protocol else Schedule
    lr_field = "base_lr" if linear_protocol else "lr"
    lr_option = click.option(
        f"--{lr_field.replace('_', '-')}",
        type=float,
        default=option_default(schedule, lr_field),
        show_default=True,
        help="lr = base-lr x batch / 256 (paper 0.02; the official code uses 0.1)." if linear_protocol else lr_help,
    )
    batch_size = option_default(schedule, "batch_size")

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        fields = ("epochs", "batch_size", "weight_decay", "optimizer", lr_field)
        command = bundle(command, "schedule", schedule, fields)
        for option in reversed(
            [
                click.option(
                    "--epochs",
                    type=click.IntRange(min=1),
                    default=option_default(schedule, "epochs"),
                    show_default=True,
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
                    default=option_default(schedule, "weight_decay"),
                    show_default=True,
                ),
                click.option(
                    "--optimizer",
                    type=click.Choice(OPTIMIZERS),
                    default=option_default(schedule, "optimizer"),
                    show_default=True,
                ),
                lr_option,
            ]
        ):
            command = option(command)
        return command

    return decorate


DATA_HELP = (
    "DATA: fashion_mnist, digits, or a folder with train/ and val/ (or test/) sub-folders (class folders, or "
    "a Hugging Face DatasetDict saved with save_to_disk). With --test-data, DATA is the training source and "
    "--test-data the test one: each an image folder, WebDataset tar shards ('train-{000000..000099}.tar'), "
    "a Hugging Face dataset folder or parquet/arrow files ('data/train-*.parquet')."
)


def data_argument(command: Callable[..., Any]) -> Callable[..., Any]:
    """DATA and --test-data, handed to the command as one `data`: DATA, or the (DATA, --test-data) pair."""

    @functools.wraps(command)
    def wrapper(*args: Any, data: str, test_data: str | None, **kwargs: Any) -> Any:
        return command(*args, data=data if test_data is None else (data, test_data), **kwargs)

    wrapper = click.option(
        "--test-data",
        type=NonEmptyText(),
        default=None,
        metavar="SOURCE",
        help="The test source; DATA is then the training source (see below).",
    )(wrapper)
    return click.argument("data", type=NonEmptyText())(wrapper)


def parse_subset_files(pairs: tuple[str, ...]) -> dict[float, Path]:
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
                param_hint="'--subset-file'",
            )
        if value in files:  # the last would win in silence
            raise click.BadParameter(f"{pair!r}: a second file for {value:g}", param_hint="'--subset-file'")
        files[value] = Path(path)
    return files


def parse_datasets(entries: tuple[str, ...]) -> dict[str, str]:
    datasets = {}
    for entry in entries:
        name, sep, path = entry.partition("=")
        if not entry.strip() or sep and not (name.strip() and path.strip()):  # '' was read as the current folder
            raise click.BadParameter(f"{entry!r}: expected NAME=PATH or a named dataset", param_hint="'--dataset'")
        if "/" in name or "\\" in name or name.startswith("."):  # it names files in --checkpoint-dir and --cache-dir
            if not sep:
                raise click.BadParameter(
                    f"{entry!r}: a folder needs a name, NAME=PATH (e.g. mine={entry})", param_hint="'--dataset'"
                )
            raise click.BadParameter(
                f"{entry!r}: NAME must not hold a path separator or start with '.'", param_hint="'--dataset'"
            )
        if name in datasets:  # the last would win in silence
            raise click.BadParameter(f"{entry!r}: a second dataset named {name!r}", param_hint="'--dataset'")
        datasets[name] = path if sep else name
    return datasets


def check_each_once(ctx: click.Context, param: click.Parameter, values: tuple[Any, ...]) -> tuple[Any, ...]:
    """A repeatable option whose values are each given once: a repeat ran its work twice (benchmark's cells, listed
    twice), or ran it again for nothing (a semi-supervised fraction, a transfer mode, a k)."""
    if repeated := sorted({str(value) for value in values if values.count(value) > 1}):
        raise click.BadParameter(f"{', '.join(repeated)} given twice")
    return values


def check_fractions(ctx: click.Context, param: click.Parameter, fractions: tuple[float, ...]) -> tuple[float, ...]:
    """--fraction: each in (0, 1] (NaN compares false with every bound, so a range type lets it pass), each once."""
    for fraction in fractions:
        if not 0 < fraction <= 1:
            raise click.BadParameter(f"{fraction}: a share of the training labels, in (0, 1]")
    return check_each_once(ctx, param, fractions)
