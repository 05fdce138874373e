"""`simsiam-zoo`: thin click wrappers, one library function per command.

Exit codes: 0 success, 2 usage error (click), 3 bad input (a file, folder, recipe or model that cannot
be used; the message names it), 4 training stopped because the loss diverged, 5 offline and not cached,
6 the output cannot be written (read-only folder, disk full), 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import sys
import warnings
from typing import Any

import click

from simsiam_zoo.cli.benchmark import benchmark_command, datasets_command
from simsiam_zoo.cli.evaluate import eval_group
from simsiam_zoo.cli.failures import CommandGroup
from simsiam_zoo.cli.features import extract_command
from simsiam_zoo.cli.hub_requests import bound_hub_requests
from simsiam_zoo.cli.training import demo_command, finetune_command, recipes_command, train_command
from simsiam_zoo.cli.zoo import (
    convert_command,
    download_command,
    export_command,
    export_detectron2_command,
    mirror_command,
    models_command,
    push_command,
)
from simsiam_zoo.errors import one_line


@click.group(cls=CommandGroup)
@click.version_option(package_name="simsiam-zoo")
def main() -> None:
    """SimSiam recipes, a timm-compatible zoo of self-supervised backbones, features and evaluations."""
    # A command's warnings are for its user: one line each, not Python's file, line and quoted source line.
    warnings.formatwarning = _one_line
    warnings.showwarning = _show_above_bars
    bound_hub_requests()


def _one_line(message: Warning | str, category: type[Warning], *args: object, **kwargs: object) -> str:
    return f"warning: {one_line(str(message))}\n"


def _show_above_bars(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
    """A warning on a line of its own above a progress bar being drawn (it was written on the bar's line)."""
    from tqdm import tqdm

    tqdm.write(_one_line(message, category).rstrip("\n"), file=sys.stderr)


main.add_command(recipes_command)
main.add_command(train_command)
main.add_command(demo_command)
main.add_command(models_command)
main.add_command(download_command)
main.add_command(export_command)
main.add_command(convert_command)
main.add_command(mirror_command)
main.add_command(export_detectron2_command)
main.add_command(push_command)
main.add_command(extract_command)
main.add_command(eval_group)
main.add_command(benchmark_command)
main.add_command(datasets_command)
main.add_command(finetune_command)

__all__ = ["main"]
