"""The batched augmentation's ops against kornia's, on one batch of cropped views (what `finish_batch` is given).

Baseline: kornia 0.9's `AugmentationSequential` of the same augmentations (ColorJitter 0.4/0.4/0.4/0.1 p=0.8,
RandomGrayscale p=0.2, RandomGaussianBlur sigma 0.1-2 p=0.5 in the `imagenet` variant, RandomHorizontalFlip,
Normalize) on the same uint8 batch made float; it draws its own parameters in each call. Measured: this project's
`SimSiamViews.finish_batch` with each sample's parameters drawn on the host in the same call (`draw`, its crop box
included, which kornia's has not to draw; as a loader without workers does) and drawn beforehand (as the loader's
workers draw them), and torchvision v2's functional ops one image at a time (`finish`: v2's ops take one factor a
call, so each sample's own parameters mean a loop). Prints images/s and each one's ratio to kornia's. kornia is no
dependency of this project: install it beside the venv to run this (`pip install --target DIR kornia==0.9.0
kornia_rs` and `PYTHONPATH=DIR`).

    python scripts/bench_augment_ops.py          # batch 256 at 32 px, `small` (the demo's); 64 at 224 px, `imagenet`
    python scripts/bench_augment_ops.py --device cuda
    python scripts/bench_augment_ops.py --quick                    # CI: batch 8 at 32 px, one round
"""

from __future__ import annotations

import argparse

import kornia
import kornia.augmentation as K
import torch
from bench_extract import best_rates

from simsiam_zoo.augment import SimSiamViews
from simsiam_zoo.recipe import IMAGENET_MEAN, IMAGENET_STD


def kornia_pipeline(views: SimSiamViews) -> torch.nn.Module:
    """The paper's augmentations after the crop, as kornia writes them."""
    kernel = views.blur_kernel
    blur = [] if kernel is None else [K.RandomGaussianBlur((kernel, kernel), (0.1, 2.0), p=0.5)]
    return K.AugmentationSequential(
        K.ColorJitter(0.4, 0.4, 0.4, 0.1, p=0.8),
        K.RandomGrayscale(p=0.2),
        *blur,
        K.RandomHorizontalFlip(),
        K.Normalize(mean=torch.tensor(IMAGENET_MEAN), std=torch.tensor(IMAGENET_STD)),
    )


def compare(batch: int, size: int, variant: str, *, rounds: int, device: torch.device) -> dict[str, float]:
    views = SimSiamViews(image_size=size, variant=variant, mean=IMAGENET_MEAN, std=IMAGENET_STD)
    torch.manual_seed(0)
    crops = torch.randint(0, 256, (batch, 3, size, size), dtype=torch.uint8)
    params = torch.stack([views.draw(size, size) for _ in range(batch)])
    on_device = crops.to(device)
    pipeline = kornia_pipeline(views).to(device)
    runs = {
        "kornia": lambda: pipeline(on_device.float().div_(255)),
        "ours, draws and batched": lambda: views.finish_batch(
            on_device, torch.stack([views.draw(size, size) for _ in range(batch)])
        ),
        "ours, batched (drawn before)": lambda: views.finish_batch(on_device, params),
        "torchvision v2, per image": lambda: torch.stack(
            [views.finish(image, row) for image, row in zip(on_device, params, strict=True)]
        ),
    }
    for run in runs.values():
        run()  # warm-up: first-use costs (kernels, caches) are no part of the rate
    rates = best_rates(list(runs.values()), num_images=batch, repeats=rounds, device=device)
    return dict(zip(runs, rates, strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="batch 8 at 32 px, one round")
    args = parser.parse_args()
    device = torch.device(args.device)
    shapes = [(8, 32, "small")] if args.quick else [(256, 32, "small"), (64, 224, "imagenet")]
    rounds = 1 if args.quick else args.rounds
    print(f"torch {torch.__version__}, kornia {kornia.__version__}, {device}, {torch.get_num_threads()} threads")
    for batch, size, variant in shapes:
        rates = compare(batch, size, variant, rounds=rounds, device=device)
        print(f"batch {batch} at {size} px, {variant}, best of {rounds}:")
        for name, rate in rates.items():
            print(f"  {name:<30} {rate:10.0f} images/s  {rate / rates['kornia']:6.2f}x kornia's")


if __name__ == "__main__":
    main()
