"""A plain torchvision ResNet state dict, with or without its classifier: torchvision's own files, and the
backbone-only releases of DINO, Barlow Twins, VICReg(L) and DenseCL."""

from __future__ import annotations

from torch import Tensor

from ._common import Converter, StateDict, convert_prefixed


def detect(state_dict: StateDict) -> bool:
    return "conv1.weight" in state_dict


def convert(state_dict: StateDict) -> dict[str, Tensor]:
    return convert_prefixed(state_dict, ("",), "torchvision")


CONVERTER = Converter(
    name="torchvision",
    description="plain torchvision ResNet state dict (conv1.*, layer1-4.*, fc.* if any)",
    detect=detect,
    convert=convert,
)
