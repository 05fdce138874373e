"""Where a run's representation collapses: kNN top-1 of its backbone features and of its projector output z.

For each training run folder given, on the run's own kNN monitor split (the recipe's bank and queries):
the weighted kNN top-1 (k=20) of the backbone features (what the training monitor reports) and of z, the
projector output the loss compares, and the std of the l2-normalised z over the queries (collapse -> 0,
healthy ~ 1/sqrt(d)). Without stop-gradient the loss can reach its minimum through the projector alone, so z
may collapse while the backbone keeps what it learnt before; this tells the two apart. The first rows are the
untrained network, with the recipe's init and with the standard random init (the fair baseline), on the first
run's split.

    python scripts/collapse_knn.py runs/fm_sg runs/fm_nosg10
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import torch
from torch import nn

from simsiam_zoo.checkpoint import CHECKPOINT_NAME, read_training_checkpoint
from simsiam_zoo.features import embed_dataset
from simsiam_zoo.losses import normalized_std
from simsiam_zoo.model import untrained_backbone
from simsiam_zoo.pretrain import (
    build_dataset,
    build_model,
    knn_monitor_accuracy,
    knn_monitor_split,
)
from simsiam_zoo.recipe import Recipe, recipe_from_dict


def _row(label: str, step: int, stop_gradient: str, model: nn.Module, split: tuple, dim: int, device: str) -> str:
    model.to(device).eval()
    encoder = nn.Sequential(model.backbone, model.projector)
    z, _ = embed_dataset(encoder, split[1], device=device)
    return (
        f"{label:<24} {step:>6} {stop_gradient:>9} "
        f"{knn_monitor_accuracy(model.backbone, split, torch.device(device)):>12.2f}% "
        f"{knn_monitor_accuracy(encoder, split, torch.device(device)):>6.2f}% "
        f"{float(normalized_std(z)):>7.4f} {1 / math.sqrt(dim):>9.4f}"
    )


def _baselines(recipe: Recipe, split: tuple, device: str) -> list[str]:
    """The untrained network as the recipe builds it (each residual branch's last BN zero: nearly constant
    features) and with the standard random init, the fair baseline; both seeded by the recipe."""
    rows = []
    for label, zero_init_last in (("recipe's init", True), ("standard random init", False)):
        torch.manual_seed(recipe.run.seed)
        model = build_model(recipe)
        model.backbone = untrained_backbone(recipe.model.arch, zero_init_last=zero_init_last)
        rows.append(_row(label, 0, "-", model, split, recipe.model.dim, device))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path, help="training run folders")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    print(f"{'run':<24} {'step':>6} {'stop-grad':>9} {'kNN backbone':>13} {'kNN z':>7} {'z-std':>7} {'1/sqrt(d)':>9}")
    for index, run in enumerate(args.runs):
        checkpoint = read_training_checkpoint(run / CHECKPOINT_NAME, kind="pretraining")
        recipe = recipe_from_dict(checkpoint.run, where=str(run / CHECKPOINT_NAME))
        split = knn_monitor_split(recipe, build_dataset(recipe))
        if split is None:
            raise SystemExit(f"{run}: its recipe has no labelled kNN monitor split")
        if index == 0:
            print("\n".join(_baselines(recipe, split, args.device)))
        model = build_model(recipe)
        model.load_state_dict(checkpoint.model)
        print(
            _row(
                str(run),
                checkpoint.step,
                str(recipe.loss.stop_gradient),
                model,
                split,
                recipe.model.dim,
                args.device,
            )
        )


if __name__ == "__main__":
    main()
