"""Pretraining end to end against the model step alone, on the same recipe and batch.

Baseline: the training step on batches already augmented and in memory (the model's ceiling on this device).
Measured: train()'s own loop (loader, augmentation, step) with the augmentation per image in the loader
(`data.augment_on_device: false`, the CPU default) and batched on the device (`true`). Prints images/s (each two
views) and the ratio to the baseline; the goal is >= 0.9. Then the batched run's input stages alone, without a
step (the loader; the batched finish), to show which one holds it back.

    python scripts/bench_pipeline.py                          # the demo's recipe: ResNet-18, 32 px, batch 256
    python scripts/bench_pipeline.py --workers 1 --steps 20
    python scripts/bench_pipeline.py --quick                  # CI: tiny batch, a few steps
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from simsiam_zoo import engine
from simsiam_zoo.data import FashionMNIST
from simsiam_zoo.distributed import DistributedContext
from simsiam_zoo.pretrain import PretrainingViews, _Pretraining, build_model, recipe_optimizer, recipe_step
from simsiam_zoo.recipe import Recipe, load_recipe

WARMUP = 2


def model_step(recipe: Recipe, dataset: Dataset, *, steps: int, device: torch.device) -> float:
    """Images a second of the step alone, on one batch of real views already on the device."""
    views = PretrainingViews(recipe.replace({"data.augment_on_device": False}), dataset, device)
    batch = torch.utils.data.default_collate([views.dataset.sample((0, i)) for i in range(recipe.optim.batch_size)])
    memory_format = torch.channels_last if recipe.run.channels_last else torch.contiguous_format
    x1, x2 = (x.to(device).contiguous(memory_format=memory_format) for x in batch[:2])
    model = build_model(recipe).to(device, memory_format=memory_format)
    optimizer = recipe_optimizer(model, recipe)

    for _ in range(WARMUP):
        recipe_step(model, recipe, optimizer, x1, x2)
    started = _synced(device)
    for _ in range(steps):
        recipe_step(model, recipe, optimizer, x1, x2)
    return recipe.optim.batch_size * steps / (_synced(device) - started)


def end_to_end(recipe: Recipe, dataset: Dataset, *, steps: int, device: torch.device) -> float:
    """Images a second of train()'s loop, between two host syncs after the warm-up steps."""
    marks: list[float] = []
    with tempfile.TemporaryDirectory() as out:
        run = _Pretraining(recipe, build_model(recipe), Path(out), dataset, DistributedContext(), device, strict=False)
        run.bar, run.checkpoint = tqdm(disable=True), lambda: None  # the step, not the disk
        run.forward.train()
        ends = (WARMUP, WARMUP + steps)

        logged = run.after_step

        def after_step(step: int, *rest: object) -> None:
            logged(step, *rest)
            if step in ends:
                marks.append(time.perf_counter())

        run.after_step, run.syncs_at = after_step, lambda step: step in ends  # the loop's syncs are the marks
        engine.run_steps(run, start_step=0, stop_step=ends[1])
        run.close()
    return recipe.optim.batch_size * steps / (marks[1] - marks[0])


def stage_rates(recipe: Recipe, dataset: Dataset, *, steps: int, device: torch.device) -> dict[str, float]:
    """Images a second of each stage of train()'s input alone, to tell which one holds the end-to-end rate back:
    the loader (decoding and per-image work in the workers, the copy to the device) without any step, and the
    batched finish of both views of one loader batch already on the device (`data.augment_on_device` only)."""
    with tempfile.TemporaryDirectory() as out:
        run = _Pretraining(recipe, build_model(recipe), Path(out), dataset, DistributedContext(), device, strict=False)
        if WARMUP + steps > run.steps_per_epoch:  # the loader ends with its epoch
            raise ValueError(f"{WARMUP} + {steps} steps do not fit in an epoch of {run.steps_per_epoch}")
        batches = iter(run.batches(epoch=0, start_batch=0))
        for _ in range(WARMUP):
            first = next(batches)
        started = _synced(device)
        for _ in range(steps):
            next(batches)
        rates = {"loader_images_per_s": recipe.optim.batch_size * steps / (_synced(device) - started)}
        if run.views.on_device:
            started = _synced(device)
            for _ in range(steps):
                run.views.finish(first[0]), run.views.finish(first[1])
            rates["finish_images_per_s"] = recipe.optim.batch_size * steps / (_synced(device) - started)
        batches.close()  # the loader's workers, before the run's folder goes
        run.close()
    return rates


def _synced(device: torch.device) -> float:
    """The time once the device has done all it was given."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipe", default="simsiam_r18_fashion_mnist")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--workers", type=int, default=0, help="loader workers (the demo uses 0)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the best of each row counts")
    parser.add_argument("--quick", action="store_true", help="batch 16, 2 steps, one round: that the code runs")
    args = parser.parse_args()
    overrides = {
        "data.knn_train_size": 0,
        "data.knn_test_size": 0,
        "data.num_workers": args.workers,
        "run.checkpoint_every_steps": 10**9,
        "run.log_every_steps": 10**9,
    }
    if args.quick:
        overrides["optim.batch_size"], args.steps, args.rounds = 16, 2, 1
    recipe, device = load_recipe(args.recipe).replace(overrides), torch.device(args.device)
    dataset = FashionMNIST(recipe.data.path)
    measures = {
        "model step alone (baseline)": lambda: model_step(recipe, dataset, steps=args.steps, device=device),
        "end to end, augmentation per image": lambda: end_to_end(
            recipe.replace({"data.augment_on_device": False}), dataset, steps=args.steps, device=device
        ),
        "end to end, batched augmentation": lambda: end_to_end(
            recipe.replace({"data.augment_on_device": True}), dataset, steps=args.steps, device=device
        ),
    }
    best = dict.fromkeys(measures, 0.0)
    for _ in range(args.rounds):  # interleaved, so that a slow spell of the machine hits every row alike
        for name, measure in measures.items():
            best[name] = max(best[name], measure())
    print(
        f"{args.recipe}: {recipe.model.arch}, {recipe.data.image_size} px, batch {recipe.optim.batch_size}, "
        f"{args.workers} loader workers, {torch.get_num_threads()} threads, {args.device}, {args.steps} steps, "
        f"best of {args.rounds} interleaved rounds"
    )
    print(f"{'':42} {'images/s':>9} {'vs model step':>14}")
    ceiling = best["model step alone (baseline)"]
    for name, rate in best.items():
        print(f"{name:42} {rate:9.1f} {rate / ceiling:14.2f}")
    stages = stage_rates(recipe.replace({"data.augment_on_device": True}), dataset, steps=args.steps, device=device)
    print(f"{'batched: its loader alone, no step':42} {stages['loader_images_per_s']:9.1f}")
    print(f"{'batched: its finish alone, no step':42} {stages['finish_images_per_s']:9.1f}")


if __name__ == "__main__":
    main()
