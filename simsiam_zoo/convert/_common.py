"""Shared pieces of the converters: the error, the registry entry type and the backbone clean-up."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import torch
from torch import Tensor

from simsiam_zoo.errors import ConversionError, listed

StateDict = Mapping[str, Tensor]

_BN = r"(?:weight|bias|running_mean|running_var|num_batches_tracked)"
# The torchvision / timm ResNet naming; anything else means the checkpoint is not the architecture we export.
_BACKBONE_KEY = re.compile(
    rf"conv1\.weight|bn1\.{_BN}"
    rf"|layer[1-4]\.\d+\.(?:conv[1-3]\.weight|bn[1-3]\.{_BN}|downsample\.0\.weight|downsample\.1\.{_BN})"
)


@dataclass(frozen=True)
class Converter:
    """One source format: how to recognise its flat state dict and turn it into a timm ResNet backbone."""

    name: str
    description: str
    detect: Callable[[StateDict], bool]
    convert: Callable[[StateDict], dict[str, Tensor]]


def unexpected_keys(keys: Iterable[str]) -> list[str]:
    return [key for key in keys if not _BACKBONE_KEY.fullmatch(key)]


def find_prefix(
    state_dict: StateDict, prefixes: Iterable[str], anchor: str | tuple[str, ...] = "conv1.weight"
) -> str | None:
    """The first prefix under which `anchor` (or every one of several) exists, matched exactly."""
    anchors = (anchor,) if isinstance(anchor, str) else anchor
    return next((prefix for prefix in prefixes if all(prefix + key in state_dict for key in anchors)), None)


def strip_prefix(state_dict: StateDict, prefix: str) -> dict[str, Tensor]:
    return {key[len(prefix) :]: value for key, value in state_dict.items() if key.startswith(prefix)}


def convert_prefixed(state_dict: StateDict, prefixes: tuple[str, ...], where: str) -> dict[str, Tensor]:
    """Take the torchvision-named backbone found under the first matching prefix."""
    prefix = find_prefix(state_dict, prefixes)
    if prefix is None:
        raise ConversionError(
            f"{where}: no key {[p + 'conv1.weight' for p in prefixes]}; keys: {listed(state_dict, limit=8)}"
        )
    return finalize_backbone(strip_prefix(state_dict, prefix))


def prefixed_converter(
    name: str,
    description: str,
    prefixes: tuple[str, ...],
    *,
    detect: Callable[[StateDict], bool] | None = None,
    heads: tuple[str, ...] = (),
) -> Converter:
    """A format that is a torchvision-named backbone under one of `prefixes` (tried in order), beside anything else.

    `detect` replaces the default test (the backbone's first conv under a prefix) where formats share a prefix;
    `heads` are modules under the prefix that are not the backbone's.
    """

    def convert(state_dict: StateDict) -> dict[str, Tensor]:
        if heads:
            state_dict = {
                key: value
                for key, value in state_dict.items()
                if not any(key.startswith(prefix + head) for prefix in prefixes for head in heads)
            }
        return convert_prefixed(state_dict, prefixes, name)

    return Converter(
        name=name,
        description=description,
        detect=detect or (lambda state_dict: find_prefix(state_dict, prefixes) is not None),
        convert=convert,
    )


def checked_backbone(
    state_dict: StateDict, names: re.Pattern[str], *, what: str, where: str = "", required: tuple[str, ...] = ()
) -> dict[str, Tensor]:
    """`state_dict` as a timm backbone's tensors: refused, naming the keys, unless `names` matches every key (any other
    is another architecture than the one exported, `what`), every `required` key is there and every tensor is of the
    kind timm has (weights floating, BatchNorm's num_batches_tracked integer); weights contiguous fp32 on the CPU,
    counters int64, exactly."""
    prefix = f"{where}: " if where else ""
    unknown = [key for key in state_dict if not names.fullmatch(key)]
    if unknown:
        raise ConversionError(f"{prefix}not {what}; unexpected keys: {listed(unknown, limit=8)}")
    missing = [key for key in required if key not in state_dict]
    if missing:
        raise ConversionError(f"{prefix}incomplete backbone ({what}), no {', '.join(missing)}")
    # A strict load would cast an integer, bool or complex weight to float, and a bool or float counter to an
    # integer, without a word.
    mistyped = [
        f"{key} {str(value.dtype).removeprefix('torch.')} where timm has {str(_timm_dtype(key)).removeprefix('torch.')}"
        for key, value in state_dict.items()
        if not _of_timms_kind(key, value)
    ]
    if mistyped:
        raise ConversionError(f"{prefix}wrong dtypes: {listed(mistyped, limit=8)}")
    converted = {
        key: value.detach().to(device="cpu", dtype=_timm_dtype(key)).contiguous() for key, value in state_dict.items()
    }
    overflowing = [key for key, value in state_dict.items() if _overflows(value, converted[key])]
    if overflowing:
        raise ConversionError(
            f"{prefix}weights beyond float32's range (finite, they overflow to inf) in {listed(overflowing, limit=5)}"
        )
    return converted


def _timm_dtype(key: str) -> torch.dtype:
    return torch.int64 if key.endswith("num_batches_tracked") else torch.float32


def _of_timms_kind(key: str, tensor: Tensor) -> bool:
    """Floating for a weight, integer (not bool) for a counter: what casting to timm's dtype keeps exactly."""
    if _timm_dtype(key).is_floating_point:
        return tensor.is_floating_point()
    return not (tensor.is_floating_point() or tensor.is_complex() or tensor.is_quantized or tensor.dtype == torch.bool)


def _overflows(original: Tensor, cast: Tensor) -> bool:
    """Whether casting made finite values infinite (a float64 weight of 1e300)."""
    if original.dtype != torch.float64:  # float16 and bfloat16 fit in float32's range
        return False
    return bool((torch.isinf(cast) & torch.isfinite(original.detach().cpu())).any())


def unusable_tensors(state_dict: StateDict) -> str:
    """The tensors no converter can read (the first five, and how many more), each with what it is; or ""."""
    return listed([f"{key} ({kind})" for key, value in state_dict.items() if (kind := _unusable(value))], limit=5)


def _unusable(tensor: Tensor) -> str:
    """What makes a tensor unusable as weights (a dense real tensor with data: ""), said before a converter meets
    it and fails with torch's own error."""
    if tensor.layout != torch.strided:
        return "sparse"
    if tensor.is_meta:
        return "meta, without data"
    if tensor.is_quantized:
        return "quantized"
    if tensor.is_complex():
        return "complex"
    if not _castable(tensor.dtype):  # float4 passed as floating; a traceback from the cast
        return f"{str(tensor.dtype).removeprefix('torch.')}, which torch cannot convert"
    stored = tensor.untyped_storage().nbytes() // tensor.element_size()
    # A stride-0 view of a few stored values, terabytes once cast (an expanded BN buffer is a few hundred bytes).
    if tensor.numel() > stored and tensor.numel() > _LARGEST_WEIGHT:
        return f"a view of {tensor.numel():,} elements over {stored:,} stored value{'s' if stored != 1 else ''}"
    return ""


# Elements of the largest weight any backbone here has, with room: a ViT-g's embedding is about 10**7.
_LARGEST_WEIGHT = 2**31


@functools.cache
def _castable(dtype: torch.dtype) -> bool:
    """Whether torch converts `dtype` to timm's (float32, or int64 for counters): a one-element probe."""
    try:
        probe = torch.zeros(dtype.itemsize, dtype=torch.uint8).view(dtype)
        probe.to(torch.float32), probe.to(torch.int64)
    except (RuntimeError, NotImplementedError, TypeError):
        return False
    return True


def finalize_backbone(state_dict: StateDict) -> dict[str, Tensor]:
    """Drop the classifier/projector under `fc.`, check the names, add missing BN counters, cast to fp32."""
    kept = {key: value for key, value in state_dict.items() if not key.startswith("fc.")}
    out = checked_backbone(kept, _BACKBONE_KEY, what="a torchvision ResNet backbone")
    if "conv1.weight" not in kept or not any(key.startswith("layer4.") for key in kept):
        raise ConversionError(f"incomplete ResNet backbone; keys: {listed(kept, limit=8)}")
    for key in kept:
        counter = key.removesuffix("running_var") + "num_batches_tracked"
        # timm's BatchNorm has this buffer, so strict loading fails without it; 0 is what a fresh BN holds.
        if key.endswith(".running_var") and counter not in kept:
            out[counter] = torch.tensor(0, dtype=torch.long)
    return out
