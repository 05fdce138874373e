"""The paper's augmentations (section 4.1, following MoCo v2), per image on CPU workers or batched on the device,
and timm's eval transform.

Inputs are uint8 tensors (C, H, W); outputs are normalised float tensors.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from functools import partial
from typing import Any

import torch
from torch import nn
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from simsiam_zoo.arguments import is_real
from simsiam_zoo.errors import shown_value, type_name
from simsiam_zoo.recipe import IMAGENET_MEAN, IMAGENET_STD


def _to_float(mean: Sequence[float], std: Sequence[float]) -> list[v2.Transform]:
    return [v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean=list(mean), std=list(std))]


# One view's random draws as a row of floats, so that a batch of them collates into one tensor: the crop box (top,
# left, height, width, in source pixels); colour jitter applied (0/1), its brightness, contrast, saturation and hue
# factors and its order (a permutation of 0-3); grayscale (0/1); the blur's sigma (0: no blur); flip (0/1).
TOP, LEFT, HEIGHT, WIDTH, JITTER, BRIGHTNESS, CONTRAST, SATURATION, HUE = range(9)
ORDER = slice(9, 13)
GRAY, SIGMA, FLIP = 13, 14, 15
PARAMS = 16
_SCALE, _LOG_RATIO = (0.2, 1.0), torch.log(torch.tensor([3 / 4, 4 / 3])).tolist()
_JITTER_RANGES = ((1 - 0.4, 1 + 0.4), (1 - 0.4, 1 + 0.4), (1 - 0.4, 1 + 0.4), (-0.1, 0.1))
# ITU-R 601-2 luma, as torchvision's rgb_to_grayscale.
_LUMA = (0.2989, 0.587, 0.114)


class SimSiamViews:
    """The paper's augmentation (section 4.1, following MoCo v2) in two halves: `draw` takes a view's random
    parameters on the host and `crop` cuts and resizes it (uint8); then either `finish` applies the rest to that
    one image (torchvision's functional ops, on a CPU worker) or `finish_batch` to a whole batch at once, on any
    device. Calling the object does all of it for one image.

    `imagenet`: crop 0.2-1, jitter 0.4/0.4/0.4/0.1 p=0.8, grayscale p=0.2, blur p=0.5, flip. `small` (CIFAR-size
    images, as in the paper's CIFAR experiments): the same without the blur, which erases most of a 32 px image.
    The draws are torchvision v2's (`RandomResizedCrop`, `RandomApply(ColorJitter)`, `RandomGrayscale`,
    `RandomApply(GaussianBlur)`, `RandomHorizontalFlip`), in their order and from the same generator, so one seed
    gives the same views as that v2 pipeline.
    """

    def __init__(self, *, image_size: int, variant: str, mean: Sequence[float], std: Sequence[float]):
        if variant not in ("imagenet", "small"):
            raise ValueError(f"unknown augmentation {variant!r}; expected 'imagenet' or 'small'")
        self.image_size, self.mean, self.std = image_size, list(mean), list(std)
        # Kernel about 10% of the image side (SimCLR); sigma in [0.1, 2] as in the official code.
        self.blur_kernel = max(3, (image_size // 10) | 1) if variant == "imagenet" else None

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        params = self.draw(*image.shape[-2:])
        return self.finish(self.crop(image, params), params)

    def crop_and_draw(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The worker's half: the view cut and resized (uint8) and its parameters, for `finish_batch`."""
        params = self.draw(*image.shape[-2:])
        return self.crop(image, params), params

    def draw(self, height: int, width: int) -> torch.Tensor:
        """One view's parameters (a row of `PARAMS` floats) from torch's global CPU generator."""
        # Python floats from .item() compare with the thresholds as the float32 tensors would (no float32 lies
        # between 0.8 and its nearest float32), and cost a third of a tensor comparison: this runs twice an image.
        params = [0.0] * PARAMS
        params[TOP : WIDTH + 1] = _crop_box(height, width)
        if torch.rand(1).item() < 0.8:
            params[ORDER] = torch.randperm(4).tolist()
            params[JITTER] = 1.0
            for index, (low, high) in zip((BRIGHTNESS, CONTRAST, SATURATION, HUE), _JITTER_RANGES, strict=True):
                params[index] = torch.empty(1).uniform_(low, high).item()
        params[GRAY] = float(torch.rand(1).item() < 0.2)
        if self.blur_kernel is not None and torch.rand(1).item() < 0.5:
            params[SIGMA] = torch.empty(1).uniform_(0.1, 2.0).item()
        params[FLIP] = float(torch.rand(1).item() < 0.5)
        return torch.tensor(params, dtype=torch.float64)

    def crop(self, image: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        """The view cut and resized, RGB: a grey image (C = 1, which `train` takes) is made RGB as a decoded file is,
        so that the colour ops see three channels on either path and a batch stacks grey and colour views."""
        top, left, height, width = (int(v) for v in params[TOP : WIDTH + 1].tolist())
        view = F.resized_crop(image, top, left, height, width, [self.image_size, self.image_size], antialias=True)
        return view.expand(3, -1, -1) if view.shape[-3] == 1 else view

    def finish(self, image: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        """Jitter, grayscale, blur, flip and normalisation of one cropped view, as the v2 transforms do them."""
        if params[JITTER]:
            adjust = (F.adjust_brightness, F.adjust_contrast, F.adjust_saturation, F.adjust_hue)
            for op in params[ORDER].long().tolist():
                image = adjust[op](image, float(params[BRIGHTNESS + op]))
        if params[GRAY]:
            image = F.rgb_to_grayscale(image, num_output_channels=image.shape[-3])
        if params[SIGMA]:
            sigma = float(params[SIGMA])
            image = F.gaussian_blur(image, [self.blur_kernel, self.blur_kernel], [sigma, sigma])
        if params[FLIP]:
            image = F.horizontal_flip(image)
        return F.normalize(F.to_dtype(image, torch.float32, scale=True), self.mean, self.std)

    def finish_batch(self, images: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        """`finish` for a batch of cropped views (N, 3, H, W, as `crop` makes them; uint8 or float in [0, 1]) on
        any device, each with its own parameters (N, PARAMS, on the host). Which samples each op applies to is chosen
        on the host and sent in one copy, so the host never waits for the device. Float32 throughout, where the
        per-image path rounds to uint8 after each op."""
        if images.ndim != 4 or images.shape[1] != 3:  # the ops read three channels
            raise ValueError(
                f"finish_batch takes RGB views (N, 3, H, W), as `crop` makes them; got {tuple(images.shape)}"
            )
        x = F.to_dtype(images, torch.float32, scale=True)
        x = x.clone() if x is images else x  # the ops write in place
        steps, packed = self._plan(params.cpu())
        packed = _to(packed, x.device)
        for op, start, count in steps:
            rows, factors = packed[start : start + count].long(), packed[start + count : start + 2 * count]
            x.index_copy_(0, rows, op(x.index_select(0, rows), factors.view(-1, 1, 1, 1)))
        flip = packed[-len(x) :].view(-1, 1, 1, 1) > 0
        x = torch.where(flip, x.flip(-1), x)
        mean, std = _constants(tuple(self.mean), tuple(self.std), x.device)
        return x.sub_(mean).div_(std)

    def _plan(self, params: torch.Tensor) -> tuple[list[tuple[Callable[..., torch.Tensor], int, int]], torch.Tensor]:
        """The ops in order, each (op, offset, count) into one float tensor that holds each op's rows then their
        factors, and the flips last."""
        jittered, order = params[:, JITTER] > 0, params[:, ORDER].long()
        selections = [
            (adjust, jittered & (order[:, position] == op), params[:, BRIGHTNESS + op])
            for position in range(4)
            for op, adjust in enumerate((_brightness, _contrast, _saturation, _hue))
        ]
        selections.append((_grayscale, params[:, GRAY] > 0, params[:, GRAY]))
        if self.blur_kernel is not None:
            selections.append((partial(_blur, kernel_size=self.blur_kernel), params[:, SIGMA] > 0, params[:, SIGMA]))
        steps, parts, offset = [], [], 0
        for op, chosen, factors in selections:
            rows = torch.nonzero(chosen).flatten()
            if len(rows):
                steps.append((op, offset, len(rows)))
                parts += [rows.float(), factors[rows].float()]
                offset += 2 * len(rows)
        parts.append(params[:, FLIP].float())
        return steps, torch.cat(parts)


def _to(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A host tensor on `device` without the host waiting: through pinned memory on CUDA (a copy from pageable
    memory may wait for the stream)."""
    if device.type != "cuda":
        return tensor.to(device)
    return tensor.pin_memory().to(device, non_blocking=True)


@functools.lru_cache(maxsize=16)
def _constants(mean: tuple[float, ...], std: tuple[float, ...], device: torch.device) -> tuple[torch.Tensor, ...]:
    return tuple(torch.tensor(values, device=device).view(1, -1, 1, 1) for values in (mean, std))


def _crop_box(height: int, width: int) -> tuple[int, int, int, int]:
    """RandomResizedCrop's box (top, left, height, width): scale 0.2-1, ratio 3/4-4/3, ten tries, then the centre."""
    area = height * width
    for _ in range(10):
        target_area = area * torch.empty(1).uniform_(*_SCALE).item()
        aspect_ratio = torch.exp(torch.empty(1).uniform_(*_LOG_RATIO)).item()
        w = int(round(math.sqrt(target_area * aspect_ratio)))
        h = int(round(math.sqrt(target_area / aspect_ratio)))
        if 0 < w <= width and 0 < h <= height:
            top = int(torch.randint(0, height - h + 1, size=(1,)).item())
            return top, int(torch.randint(0, width - w + 1, size=(1,)).item()), h, w
    ratio = width / height
    if ratio < 3 / 4:
        w, h = width, int(round(width / (3 / 4)))
    elif ratio > 4 / 3:
        w, h = int(round(height * (4 / 3))), height
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


def _luma(x: torch.Tensor) -> torch.Tensor:
    r, g, b = x.unbind(1)
    return (r * _LUMA[0] + g * _LUMA[1] + b * _LUMA[2]).unsqueeze(1)


# The batched ops below may write into `x`: `finish_batch` gives each its own copy of the rows it changes, and
# writing there, rather than into new tensors, halves their time on a CPU (where a new tensor costs page faults).


def _blend(x: torch.Tensor, other: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """factor * x + (1 - factor) * other, clamped to [0, 1]: torchvision's `_blend`, in the same order."""
    return x.mul_(factor).add_((1 - factor) * other).clamp_(0, 1)


def _brightness(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    return x.mul_(factor).clamp_(0, 1)


def _contrast(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    return _blend(x, _luma(x).mean(dim=(1, 2, 3), keepdim=True), factor)


def _saturation(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    return _blend(x, _luma(x), factor)


def _grayscale(x: torch.Tensor, _: None) -> torch.Tensor:
    return _luma(x).expand_as(x)


def _hue(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Rotate the hue by `shift` (a fraction of the circle) in HSV, as torchvision's adjust_hue.

    The hue is torchvision's (0 for gray pixels); the way back to RGB is the closed form of HSV's six sectors,
    channel c = max - (max - min) * clamp(min(k, 4 - k), 0, 1) with k = (n_c + 6 * hue) mod 6, n = (5, 3, 1),
    which gives each channel the v, p, q or t that torchvision's sector table picks, without the table's gather.
    """
    r, g, b = x.unbind(1)
    low, high = torch.aminmax(x, dim=1)
    spread = high - low
    divisor = torch.where(spread == 0, 1.0, spread)  # gray: any hue, as the spread is 0 below
    sixths = torch.where(high == g, (b - r).div_(divisor).add_(2), (r - g).div_(divisor).add_(4))
    sixths = torch.where(high == r, (g - b).div_(divisor), sixths)
    sixths = sixths.div_(6).add_(1).fmod_(1).add_(shift.view(-1, 1, 1)).remainder_(1).mul_(6)
    k = (sixths.unsqueeze(1) + _hsv_offsets(x.device)).remainder_(6)
    return high.unsqueeze(1) - torch.minimum(k, 4 - k).clamp_(0, 1).mul_(spread.unsqueeze(1))


@functools.lru_cache(maxsize=16)
def _hsv_offsets(device: torch.device) -> torch.Tensor:
    return torch.tensor([5.0, 3.0, 1.0], device=device).view(1, 3, 1, 1)


def _blur(x: torch.Tensor, sigma: torch.Tensor, *, kernel_size: int) -> torch.Tensor:
    """A Gaussian blur with each sample's sigma: torchvision's kernel, reflect padding, as two 1-d passes."""
    n, c, h, w = x.shape
    lim = (kernel_size - 1) / (2.0 * math.sqrt(2.0))
    grid = torch.linspace(-lim, lim, kernel_size, device=x.device)
    kernels = torch.softmax(-((grid / sigma.view(-1, 1)) ** 2), dim=1)  # (N, K)
    weight = kernels.repeat_interleave(c, dim=0)  # (N*C, K)
    pad = kernel_size // 2
    flat = torch.nn.functional.pad(x.reshape(1, n * c, h, w), [pad, pad, pad, pad], mode="reflect")
    flat = torch.nn.functional.conv2d(flat, weight.view(n * c, 1, 1, kernel_size), groups=n * c)
    flat = torch.nn.functional.conv2d(flat, weight.view(n * c, 1, kernel_size, 1), groups=n * c)
    return flat.view(n, c, h, w)


class CheckedImages(nn.Module):
    """The eval transform's first step: its input as documented, a uint8 image tensor (C, H, W) or batch (N, C, H,
    W) of 1 or 3 channels and some pixels, or a float one in [0, 1]; anything else (other integer types included: a
    16-bit image came out near-black) a TypeError or ValueError naming what it got.
    Without it a numpy array came back unchanged, a 0-255 float image was normalised 255 times too bright, and a
    PIL image or an HWC tensor failed inside Normalize."""

    def forward(self, images: Any) -> torch.Tensor:
        if not isinstance(images, torch.Tensor):
            raise TypeError(
                f"the transform takes a uint8 image tensor (C, H, W), got a {type_name(images)} "
                "(v2.functional.pil_to_tensor converts a PIL image, torch.from_numpy an array)"
            )
        if images.ndim not in (3, 4) or images.shape[-3] not in (1, 3) or 0 in images.shape:
            raise ValueError(
                f"the transform takes a uint8 image tensor (C, H, W) or batch (N, C, H, W) of 1 or 3 channels, got "
                f"shape {tuple(images.shape)}"
            )
        if images.dtype != torch.uint8 and not (images.is_floating_point() and not images.is_complex()):
            raise TypeError(
                f"the transform takes a uint8 image tensor, or a float one in [0, 1], got {images.dtype} (a 16-bit "
                "image: divide by 65535 into a float one)"
            )
        if images.is_floating_point():
            low, high = (float(bound) for bound in torch.aminmax(images))
            if not 0 <= low <= high <= 1:  # NaN fails too
                raise ValueError(
                    f"the transform takes a float image in [0, 1], got values in [{low:g}, {high:g}] (give the uint8 "
                    "image instead)"
                )
        return images


# timm's crop modes this transform reproduces; its third, "border" (longest side, padded), is refused, not guessed.
CROP_MODES = ("center", "squash")


def eval_transform(
    *,
    image_size: int,
    crop_pct: float,
    mean: Sequence[float],
    std: Sequence[float],
    interpolation: str = "bicubic",
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
        [
            CheckedImages(),
            v2.Resize(size, interpolation=mode, antialias=True),
            v2.CenterCrop(image_size),
            *_to_float(mean, std),
        ]
    )


# The channels a `Preprocessing` normalises: images are decoded to RGB, and timm's configs say 3.
CHANNELS = 3
_FLOAT32_MAX = float(torch.finfo(torch.float32).max)


def _as_float(value: float) -> float:
    """`value` as a float, and inf where it is too large for one (an int of 400 digits raised OverflowError)."""
    try:
        return float(value)
    except OverflowError:
        return math.inf


def _numbers(cfg: Mapping[str, Any], key: str, count: int) -> tuple[float, ...]:
    value = cfg[key]
    if not isinstance(value, (list, tuple)) or len(value) != count or not all(is_real(v) for v in value):
        raise ValueError(f"{key} must be a list of {count} numbers, got {shown_value(value)}")
    return tuple(value)


def _input_size(cfg: Mapping[str, Any]) -> tuple[int, int, int]:
    """`input_size`: [channels, height, width], whole and positive, 3 channels, square, and no more pixels than PIL
    decodes (`Image.MAX_IMAGE_PIXELS`, the bound that makes the decoder refuse a decompression bomb)."""
    from PIL import Image

    value = _numbers(cfg, "input_size", 3)
    if not all(math.isfinite(_as_float(v)) and float(v).is_integer() for v in value):
        raise ValueError(f"input_size must be whole numbers [channels, height, width], got {shown_value(list(value))}")
    input_size = tuple(int(v) for v in value)
    if min(input_size) < 1:
        std = cfg.get("std")
        raise ValueError(
            f"input_size must be positive and std above 0, got {shown_value(list(input_size))} and {shown_value(std)}"
        )
    if input_size[0] != CHANNELS:
        raise ValueError(f"input_size must have {CHANNELS} channels (RGB, as timm's), got {shown_value(input_size[0])}")
    if input_size[1] != input_size[2]:
        raise ValueError(f"input_size {shown_value(list(input_size))} is not square, which is not supported")
    limit = Image.MAX_IMAGE_PIXELS
    if limit is not None and input_size[1] * input_size[2] > limit:
        raise ValueError(
            f"input_size {shown_value(list(input_size))} is over {limit:_} pixels an image (PIL's limit for "
            "decompression bombs, Image.MAX_IMAGE_PIXELS)"
        )
    return input_size  # type: ignore[return-value]


def _normalisation(cfg: Mapping[str, Any]) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """`mean` and `std`: 3 finite numbers each, std above 0, that normalise pixels in [0, 1] to finite float32s."""
    mean, std = _numbers(cfg, "mean", CHANNELS), _numbers(cfg, "std", CHANNELS)
    if not all(math.isfinite(_as_float(m)) for m in mean):
        raise ValueError(f"mean must be finite numbers, got {shown_value(list(mean))}")
    if not all(math.isfinite(_as_float(s)) for s in std):
        raise ValueError(f"std must be finite numbers above 0, got {shown_value(list(std))}")
    if min(std) <= 0:
        input_size = cfg.get("input_size")
        raise ValueError(
            f"input_size must be positive and std above 0, got {shown_value(input_size)} and {shown_value(list(std))}"
        )
    for m, s in zip(mean, std, strict=True):
        # Normalize runs in float32: a mean of 1e39 is inf there, and a std of 1e-300 turns every pixel into inf.
        spread = max(abs(_as_float(m)), abs(_as_float(1 - m)))
        if not (abs(_as_float(m)) <= _FLOAT32_MAX and _as_float(s) <= _FLOAT32_MAX and spread / s <= _FLOAT32_MAX):
            raise ValueError(
                f"mean {shown_value(list(mean))} and std {shown_value(list(std))} do not normalise pixels to finite "
                "float32 values (std too small or mean too large)"
            )
    return tuple(map(float, mean)), tuple(map(float, std))  # a numpy float would not write to config.json


def _check_crop_pct(crop_pct: Any, side: int) -> None:
    """`crop_pct` a number in (0, 1] whose resize (side / crop_pct a side) stays within PIL's pixel limit."""
    from PIL import Image

    if not is_real(crop_pct) or not 0 < crop_pct <= 1:
        raise ValueError(f"crop_pct must be in (0, 1], got {shown_value(crop_pct)}")
    resize, limit = side / crop_pct, Image.MAX_IMAGE_PIXELS
    if not math.isfinite(resize) or (limit is not None and resize * resize > limit):
        bound = "the largest float" if limit is None else f"PIL's limit of {limit:_} pixels an image"
        raise ValueError(
            f"crop_pct {shown_value(crop_pct)} resizes images to {resize:g} px a side before the crop, over {bound}"
        )


@dataclass(frozen=True)
class Preprocessing:
    """What a backbone expects at inference; travels with the weights in timm's `pretrained_cfg`."""

    input_size: tuple[int, int, int] = (3, 224, 224)
    interpolation: str = "bicubic"
    crop_pct: float = 0.875
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    crop_mode: str = "center"

    @classmethod
    def from_pretrained_cfg(cls, cfg: Mapping[str, Any]) -> Preprocessing:
        """From timm's `pretrained_cfg`; ValueError naming the field when a value cannot be used (a folder from
        elsewhere chooses them: an infinite or 400-digit size was an OverflowError, a NaN mean was pushed, and a
        100000 px side asked for 30 GB an image)."""
        input_size = _input_size(cfg)
        mean, std = _normalisation(cfg)
        crop_pct = cfg.get("crop_pct", 0.875)
        _check_crop_pct(crop_pct, input_size[-1])
        interpolation = cfg.get("interpolation", "bicubic")
        if interpolation not in ("bilinear", "bicubic", "nearest"):
            raise ValueError(f"interpolation must be bilinear, bicubic or nearest, got {shown_value(interpolation)}")
        crop_mode = cfg.get("crop_mode", "center")
        if crop_mode not in CROP_MODES:
            raise ValueError(f"crop_mode {shown_value(crop_mode)} is not supported (only {', '.join(CROP_MODES)})")
        return cls(
            input_size=input_size,
            interpolation=interpolation,
            crop_pct=float(crop_pct),
            mean=mean,
            std=std,
            crop_mode=crop_mode,
        )

    def differences(self, other: Preprocessing, whose: str) -> str:
        """Where this differs from `other` (`whose` names it), as a message says it: `mean (0, 0, 0) where the
        entry has (0.485, 0.456, 0.406)`."""
        return "; ".join(
            f"{field.name} {getattr(self, field.name)} where {whose} has {getattr(other, field.name)}"
            for field in fields(self)
            if getattr(self, field.name) != getattr(other, field.name)
        )

    def transform(self) -> Any:
        return eval_transform(
            image_size=self.input_size[-1],
            crop_pct=self.crop_pct,
            mean=self.mean,
            std=self.std,
            interpolation=self.interpolation,
            crop_mode=self.crop_mode,
        )
