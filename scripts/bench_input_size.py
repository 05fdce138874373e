"""Why a smaller input does not make a CPU training step faster: where the step's time goes, by input size.

Baseline: the demo recipe's model step (ResNet-18 and its SimSiam heads, batch 256, two views, channels_last) at
32 px, on batches already in memory. Measured: the same step at the other sizes, as a ratio to the baseline, and
under torch's profiler the share of each step spent in the weight gradients of 3x3 convolutions whose input is a
1x1 feature map (a ResNet's last stage at 32 px; its last two at 16 px), with those gradients' time as a ratio to
the same convolutions' forward (equal arithmetic).

    python scripts/bench_input_size.py                       # 16, 32 and 64 px, batch 256
    python scripts/bench_input_size.py --quick               # CI: batch 16, a step each
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import torch
from torch.profiler import ProfilerActivity, profile

from simsiam_zoo.pretrain import build_model, recipe_optimizer, recipe_step
from simsiam_zoo.recipe import Recipe, load_recipe


def stepper(recipe: Recipe) -> Callable[[], Any]:
    """One training step on fixed random batches of `recipe`'s size (what the input pipeline would hand over)."""
    size = recipe.data.image_size
    x1, x2 = (
        torch.randn(recipe.optim.batch_size, 3, size, size).contiguous(memory_format=torch.channels_last)
        for _ in range(2)
    )
    model = build_model(recipe).to(memory_format=torch.channels_last)
    optimizer = recipe_optimizer(model, recipe)

    return lambda: recipe_step(model, recipe, optimizer, x1, x2)


def seconds_per_step(step: Callable[[], Any], *, steps: int, warmup: int) -> float:
    for _ in range(warmup):
        step()
    started = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - started) / steps


def one_by_one_conv_shares(step: Callable[[], Any]) -> tuple[float, float]:
    """(share of one step's operator time in 3x3 weight gradients over 1x1 maps, their time / their forward's;
    0 when the step has none)."""
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as profiled:
        step()
    total = backward = forward = 0.0
    for event in profiled.key_averages(group_by_input_shape=True):
        total += event.self_cpu_time_total
        shapes = event.input_shapes
        if event.key == "aten::convolution_backward" and _one_by_one_3x3(shapes[1], shapes[2]):
            backward += event.self_cpu_time_total
        elif event.key == "aten::mkldnn_convolution" and _one_by_one_3x3(shapes[0], shapes[1]):
            forward += event.self_cpu_time_total
    return backward / total, backward / forward if forward else 0.0


def _one_by_one_3x3(input_shape: list[int], weight_shape: list[int]) -> bool:
    return len(input_shape) == 4 and input_shape[2:] == [1, 1] and weight_shape[2:] == [3, 3]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 32, 64])
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--quick", action="store_true", help="batch 16, one timed step after one warm-up")
    args = parser.parse_args()
    batch, steps, warmup = (16, 1, 1) if args.quick else (args.batch_size, args.steps, 2)
    base = load_recipe("simsiam_r18_fashion_mnist").replace({"optim.batch_size": batch})
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; ResNet-18 SimSiam step, batch {batch}")
    rows = {}  # size: (seconds a step, share in the 1x1 weight gradients, their time / their forward's)
    for size in sorted({32, *args.sizes}):
        step = stepper(base.replace({"data.image_size": size}))
        rows[size] = (seconds_per_step(step, steps=steps, warmup=warmup), *one_by_one_conv_shares(step))
    print("size | s/step | vs 32 px (baseline) | 3x3 weight gradients on 1x1 maps: share of step, x their forward")
    for size, (seconds, share, ratio) in rows.items():
        print(
            f"{size:4d} | {seconds:.3f} | {seconds / rows[32][0]:.2f}x | "
            f"{share:.0%}, {f'{ratio:.1f}x' if ratio else 'no 1x1 maps'}"
        )


if __name__ == "__main__":
    main()
