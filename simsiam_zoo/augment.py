"""The paper's augmentations (section 4.1, following MoCo v2), built from torchvision transforms v2.

Inputs are uint8 tensors (C, H, W); outputs are normalised float tensors.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torchvision.transforms import v2


def _to_float(mean: Sequence[float], std: Sequence[float]) -> list[v2.Transform]:
    return [v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean=list(mean), std=list(std))]


def pretrain_transform(
    *, image_size: int, variant: str, mean: Sequence[float], std: Sequence[float]
) -> v2.Compose:
    """`imagenet`: crop 0.2-1, jitter 0.4/0.4/0.4/0.1 p=0.8, grayscale p=0.2, blur p=0.5, flip.

    `small` (CIFAR-size images, as in the paper's CIFAR experiments): the same without the blur,
    which erases most of the content of a 32 px image.
    """
    if variant not in ("imagenet", "small"):
        raise ValueError(f"unknown augmentation {variant!r}; expected 'imagenet' or 'small'")
    steps: list[v2.Transform] = [
        v2.RandomResizedCrop(image_size, scale=(0.2, 1.0), antialias=True),
        v2.RandomApply([v2.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
        v2.RandomGrayscale(p=0.2),
    ]
    if variant == "imagenet":
        # Kernel about 10% of the image side (SimCLR); sigma in [0.1, 2] as in the official code.
        kernel = max(3, (image_size // 10) | 1)
        steps.append(v2.RandomApply([v2.GaussianBlur(kernel, sigma=(0.1, 2.0))], p=0.5))
    steps.append(v2.RandomHorizontalFlip())
    return v2.Compose(steps + _to_float(mean, std))


# timm's crop modes this transform reproduces; its third, "border" (longest side, padded), is refused, not guessed.
CROP_MODES = ("center", "squash")


def eval_transform(
    *, image_size: int, crop_pct: float, mean: Sequence[float], std: Sequence[float], interpolation: str = "bicubic",
    crop_mode: str = "center",
) -> v2.Compose:
    """timm's eval transform (`transforms_imagenet_eval`): resize to floor(image_size / crop_pct), the short side
    (crop_mode center) or both sides (squash), then centre-crop image_size. timm floors where rounding would resize
    0.95 x 224 to 236."""
    if crop_mode not in CROP_MODES:
        raise ValueError(f"crop_mode must be one of {', '.join(CROP_MODES)}, got {crop_mode!r}")
    mode = v2.InterpolationMode(interpolation)
    resize = math.floor(image_size / crop_pct)
    size = (resize, resize) if crop_mode == "squash" else resize
    return v2.Compose(
        [v2.Resize(size, interpolation=mode, antialias=True), v2.CenterCrop(image_size), *_to_float(mean, std)]
    )
