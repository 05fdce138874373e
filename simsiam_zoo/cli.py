"""`simsiam-zoo`: thin click wrappers, one library function per command.

Exit codes: 0 success, 2 usage error (click), 3 bad input (a file, folder, recipe or model that cannot
be used; the message names it), 4 training stopped because the loss diverged, 5 offline and not cached.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import yaml

from simsiam_zoo.data import DataError
from simsiam_zoo.recipe import RecipeError, builtin_recipes, load_recipe

EXIT_BAD_INPUT = 3
EXIT_DIVERGED = 4


def _clean_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Known failures become one line on stderr and a documented exit code, not a traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from simsiam_zoo.train import TrainingDiverged

        try:
            return command(*args, **kwargs)
        except (RecipeError, DataError, FileNotFoundError, IsADirectoryError, PermissionError) as error:
            click.echo(f"error: {error}", err=True)
            sys.exit(EXIT_BAD_INPUT)
        except TrainingDiverged as error:
            click.echo(f"error: {error}", err=True)
            sys.exit(EXIT_DIVERGED)

    return wrapper


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
        overrides[key.strip()] = yaml.safe_load(value)
    return overrides


@main.command("train")
@click.argument("recipe")
@click.option("--output", "output_dir", type=click.Path(path_type=Path), required=True,
              help="Run folder: checkpoint, recipe.yaml, metrics.csv, TensorBoard logs. Reused to resume.")
@click.option("--data", "data_path", default=None, help="Data location (sets data.path of the recipe).")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda (one GPU per torchrun rank).")
@click.option("--max-minutes", type=float, default=None, help="Stop (with a checkpoint) after this long.")
@click.option("--max-steps", type=int, default=None, help="Stop (with a checkpoint) at this global step.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a recipe key.")
@_clean_errors
def train_command(
    recipe: str, *, output_dir: Path, data_path: str | None, device: str, max_minutes: float | None,
    max_steps: int | None, overrides: tuple[str, ...],
) -> None:
    """Pretrain with RECIPE (a built-in name or a YAML file); rerun the same command to resume."""
    from simsiam_zoo.train import train

    changes = _parse_overrides(overrides)
    if data_path is not None:
        changes["data.path"] = data_path
    chosen = load_recipe(recipe)
    if changes:
        chosen = chosen.replace(changes)
    result = train(chosen, output_dir=output_dir, device=device, max_minutes=max_minutes, max_steps=max_steps)
    for row in result.epochs[-3:]:
        click.echo(
            f"epoch {row['epoch']:>4}  loss {row['loss']:+.4f}  z-std {row['z_std']:.4f} "
            f"(1/sqrt(d) = {row['z_std_reference']:.4f})  kNN {row['knn_top1']:.2f}%"
        )
    state = "finished" if result.completed else "stopped early (rerun to resume)"
    click.echo(f"{state} at step {result.step}/{result.total_steps}; checkpoint in {output_dir}")
if __name__ == "__main__":
    main()
