"""A plain torchvision ResNet state dict, with or without its classifier: torchvision's own files, and the
backbone-only releases of DINO, Barlow Twins, VICReg(L) and DenseCL."""

from __future__ import annotations

from ._common import prefixed_converter

CONVERTER = prefixed_converter(
    "torchvision", "plain torchvision ResNet state dict (conv1.*, layer1-4.*, fc.* if any)", ("",)
)
