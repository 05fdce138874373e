"""What learns most per CPU-second: the demo's recipe and variants, each pretrained for the same wall-clock budget,
scored by kNN (k=20) on the demo's evaluation split against the fair baseline measured in the same run, a
standard-init random ResNet-18.

    python scripts/demo_options.py --minutes 4 [--only batch_64 image_64]

Each option is sized as the demo sizes its run (a few timed steps, then DEMO_EPOCHS epochs of as many images as
fit the budget, so the cosine schedule ends at the budget) and stopped at the budget. Printed per option: seconds
per step, steps, images seen, kNN top-1 and the difference to the baseline. Compile time counts.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from simsiam_zoo.backbone import preprocessing_from_recipe
from simsiam_zoo.data import FashionMNIST, LabelledSubset, Transformed
from simsiam_zoo.demo.run import _calibrate, images_per_epoch
from simsiam_zoo.demo.settings import DEMO_EPOCHS, EVAL_TEST_IMAGES, EVAL_TRAIN_IMAGES
from simsiam_zoo.evaluate import knn_accuracy
from simsiam_zoo.features import embed_dataset
from simsiam_zoo.loader import load_backbone
from simsiam_zoo.model import untrained_backbone
from simsiam_zoo.recipe import load_recipe
from simsiam_zoo.train import train

OPTIONS = {
    "recipe": {},  # the demo's: ResNet-18, timm stem at 32 px (1x1 last map), batch 256, lr 0.06
    "batch_64": {"optim.batch_size": 64},
    "lr_x2": {"optim.base_lr": 0.12},
    "image_64": {"data.image_size": 64},  # 2x2 last map, 4x the compute
    "bf16": {"run.precision": "bf16"},
    "compile": {"run.compile": True},
    "projector_3_layers": {"model.projector_layers": 3},
}


def knn_of(model: torch.nn.Module, transform, train: FashionMNIST, test: FashionMNIST) -> float:
    bank = embed_dataset(model.eval(), Transformed(LabelledSubset(train, range(EVAL_TRAIN_IMAGES)), transform))
    queries = embed_dataset(model, Transformed(LabelledSubset(test, range(EVAL_TEST_IMAGES)), transform))
    return knn_accuracy(*bank, *queries, ks=(20,))[20]


def run_option(
    name: str, changes: dict, *, minutes: float, root: Path, train_set: FashionMNIST, test_set: FashionMNIST
) -> dict:
    recipe = load_recipe("simsiam_r18_fashion_mnist").replace(
        {
            "data.knn_train_size": 0,
            "data.knn_test_size": 0,
            "data.num_workers": 0,
            "optim.epochs": DEMO_EPOCHS,
            **changes,
        }
    )
    seconds_per_step, _ = _calibrate(recipe, train_set, "cpu")
    images = images_per_epoch(
        seconds=minutes * 60,
        seconds_per_step=seconds_per_step,
        batch_size=recipe.optim.batch_size,
        dataset_size=len(train_set),
    )
    started = time.monotonic()
    result = train(
        recipe,
        output_dir=root / name,
        device="cpu",
        dataset=LabelledSubset(train_set, range(images)),
        progress=False,
        max_minutes=minutes,
    )
    seconds = time.monotonic() - started
    loaded = load_backbone(root / name)
    return {
        "option": name,
        "s_per_step": seconds / max(result.step, 1),
        "steps": result.step,
        "images_seen": result.step * recipe.optim.batch_size,
        "seconds": seconds,
        "knn": knn_of(loaded.model, loaded.transform, train_set, test_set),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=4.0, help="pretraining budget of each option")
    parser.add_argument("--only", nargs="*", choices=sorted(OPTIONS), help="run only these options")
    args = parser.parse_args()
    train_set, test_set = FashionMNIST(), FashionMNIST(split="test")
    baselines: dict[int, float] = {}

    def baseline(image_size: int) -> float:
        """The standard random-init ResNet-18 through the same preprocessing as the option's backbone."""
        if image_size not in baselines:
            recipe = load_recipe("simsiam_r18_fashion_mnist").replace({"data.image_size": image_size})
            torch.manual_seed(recipe.run.seed)
            baselines[image_size] = knn_of(
                untrained_backbone("resnet18", zero_init_last=False),
                preprocessing_from_recipe(recipe).transform(),
                train_set,
                test_set,
            )
            print(
                f"baseline at {image_size} px: standard random-init ResNet-18, kNN top-1 "
                f"{baselines[image_size]:.2f}% ({EVAL_TRAIN_IMAGES} bank / {EVAL_TEST_IMAGES} test images, k=20)"
            )
        return baselines[image_size]

    baseline(32)
    print(f"{'option':20s} {'s/step':>7s} {'steps':>6s} {'images':>8s} {'kNN':>7s} {'vs baseline':>12s}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.only or OPTIONS:
            row = run_option(
                name, OPTIONS[name], minutes=args.minutes, root=Path(tmp), train_set=train_set, test_set=test_set
            )
            reference = baseline(OPTIONS[name].get("data.image_size", 32))
            print(
                f"{name:20s} {row['s_per_step']:7.2f} {row['steps']:6d} {row['images_seen']:8d} "
                f"{row['knn']:6.2f}% {row['knn'] - reference:+11.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
