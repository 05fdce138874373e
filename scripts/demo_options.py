"""What learns most per CPU-second: the demo's recipe and variants, each pretrained for the same wall-clock budget
and scored by the demo's own evaluation (kNN and linear probe on its 5,000/1,000 split, the same with 600 labels,
transfer to digits) against the fair baseline measured in the same run: the same architecture with the standard
random init through the same preprocessing, the mean of the demo's three seeded draws.

    python scripts/demo_options.py --minutes 3.5 [--only recipe image_16]

Each option is sized and run as the demo runs its own (a few timed steps plan its epochs of as many images as fit
the budget; the schedule is then fitted to the budget from the steps' own pace, so that it ends there). Printed per
option: seconds per step, steps, images seen, each score with its difference to the baseline, and the effective
rank of the digits features (exp of the entropy of their normalised singular values: how many directions the
features use).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from simsiam_zoo.data import FashionMNIST, LabelledSubset
from simsiam_zoo.demo.run import _calibrate, _digits_split, _Evaluation, images_per_epoch, mean_row
from simsiam_zoo.demo.settings import DEMO_EPOCHS, DEMO_INPUT, EVAL_TEST_IMAGES, EVAL_TRAIN_IMAGES, RANDOM_INIT_DRAWS
from simsiam_zoo.loader import load_backbone
from simsiam_zoo.pretrain import train
from simsiam_zoo.recipe import Recipe, load_recipe

OPTIONS: dict[str, dict[str, Any]] = {
    "recipe": {},  # the demo's: ResNet-18, timm stem at 32 px (1x1 last map), batch 256, lr 0.06, wd 5e-4
    "batch_64": {"optim.batch_size": 64},
    "lr_x2": {"optim.base_lr": 0.12},
    "image_64": {"data.image_size": 64},  # 2x2 last map, 4x the compute
    "bf16": {"run.precision": "bf16"},
    "compile": {"run.compile": True},
    "projector_3_layers": {"model.projector_layers": 3},
    "image_16": {"data.image_size": 16},
    "image_24": {"data.image_size": 24},
    "resnet10t": {"model.arch": "resnet10t"},
    "wd_5e-3": {"optim.weight_decay": 5e-3},
    "full_data_1_epoch": {"optim.epochs": 1},  # every one of the 60,000 images at most once, one cosine schedule
    "image_16_batch_128_lr_x2": {"data.image_size": 16, "optim.batch_size": 128, "optim.base_lr": 0.12},
    "image_16_wd_5e-3": {"data.image_size": 16, "optim.weight_decay": 5e-3},
    "resnet10t_image_24": {"model.arch": "resnet10t", "data.image_size": 24},
    "resnet10t_image_24_batch_128_lr_x2": {
        "model.arch": "resnet10t",
        "data.image_size": 24,
        "optim.batch_size": 128,
        "optim.base_lr": 0.12,
    },
}
SCORES = (
    ("knn_top1", "kNN"),
    ("linear_top1", "linear"),
    ("few_label_knn_top1", "kNN 600"),
    ("few_label_linear_top1", "linear 600"),
    ("digits_knn_top1", "digits kNN"),
    ("digits_linear_top1", "digits lin"),
)


def option_recipe(changes: dict[str, Any]) -> Recipe:
    return load_recipe("simsiam_r18_fashion_mnist").replace(
        {
            "data.knn_train_size": 0,
            "data.knn_test_size": 0,
            **DEMO_INPUT,
            "optim.epochs": DEMO_EPOCHS,
            **changes,
        }
    )


def effective_rank(features: torch.Tensor) -> float:
    singular = torch.linalg.svdvals(features - features.mean(0))
    p = singular / singular.sum()
    return float(torch.exp(-(p * p.clamp_min(1e-12).log()).sum()))


def scores(recipe: Recipe, backbone: Any, *, root: Path, key: str, train_set: FashionMNIST) -> dict[str, Any]:
    """The demo's evaluation row of `backbone`, and the effective rank of its digits train features."""
    evaluation = _Evaluation(
        root / "features", recipe, train_set, sizes=(EVAL_TRAIN_IMAGES, EVAL_TEST_IMAGES), device="cpu"
    )
    row = evaluation.backbone_row(key, backbone, key)
    digits_train = _digits_split(backbone, evaluation.digits, device="cpu")[0]
    return {**row, "digits_effective_rank": effective_rank(digits_train)}


def random_init_row(recipe: Recipe, run_dir: Path, *, root: Path, train_set: FashionMNIST) -> dict[str, Any]:
    """The mean of the demo's number of standard random-init draws of the run's architecture and preprocessing,
    seeded as the demo seeds them."""
    draws = []
    for draw in range(RANDOM_INIT_DRAWS):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(recipe.run.seed + draw)
            random_init = load_backbone(run_dir, pretrained=False)
        where = root / f"random-{recipe.model.arch}-{recipe.data.image_size}-{draw}"
        draws.append(scores(recipe, random_init, root=where, key="random", train_set=train_set))
    label = f"random-init {recipe.model.arch} (standard init)"
    return {
        **mean_row(draws, label=label),
        "digits_effective_rank": sum(d["digits_effective_rank"] for d in draws) / len(draws),
    }


def run_option(name: str, changes: dict, *, minutes: float, root: Path, train_set: FashionMNIST) -> dict[str, Any]:
    recipe = option_recipe(changes)
    seconds_per_step, _ = _calibrate(recipe, train_set, "cpu")
    images = images_per_epoch(
        seconds=minutes * 60,
        seconds_per_step=seconds_per_step,
        batch_size=recipe.optim.batch_size,
        dataset_size=len(train_set),
        epochs=recipe.optim.epochs,
    )
    started = time.monotonic()
    result = train(
        recipe,
        output_dir=root / name,
        device="cpu",
        dataset=LabelledSubset(train_set, range(images)),
        progress=False,
        max_minutes=minutes,
        fit_to_deadline=True,
    )
    seconds = time.monotonic() - started
    row = scores(recipe, load_backbone(root / name), root=root / f"{name}-eval", key=name, train_set=train_set)
    return {
        **row,
        "s_per_step": seconds / max(result.step, 1),
        "steps": result.step,
        "images_seen": result.step * recipe.optim.batch_size,
    }


def print_row(name: str, row: dict[str, Any], reference: dict[str, Any] | None) -> None:
    cells = []
    for key, _ in SCORES:
        delta = f" ({row[key] - reference[key]:+.1f})" if reference else ""
        cells.append(f"{row[key]:5.1f}{delta:>8s}")
    run = f"{row['s_per_step']:5.2f} {row['steps']:5d} {row['images_seen']:7d}" if "steps" in row else " " * 19
    print(f"{name:26s} {run} {' '.join(cells)} {row['digits_effective_rank']:6.1f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=3.5, help="pretraining budget of each option")
    parser.add_argument("--only", nargs="*", choices=sorted(OPTIONS), help="run only these options")
    args = parser.parse_args()
    train_set = FashionMNIST()
    baselines: dict[tuple[str, int], dict[str, Any]] = {}
    header = " ".join(f"{label:>13s}" for _, label in SCORES)
    print(f"{'option (vs its random init)':26s} s/stp steps  images {header}  erank", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name in args.only or OPTIONS:
            row = run_option(name, OPTIONS[name], minutes=args.minutes, root=root, train_set=train_set)
            recipe = option_recipe(OPTIONS[name])
            key = (recipe.model.arch, recipe.data.image_size)
            if key not in baselines:
                baselines[key] = random_init_row(recipe, root / name, root=root, train_set=train_set)
                print_row(f"random init {key[0]} {key[1]} px", baselines[key], None)
            print_row(name, row, baselines[key])


if __name__ == "__main__":
    main()
