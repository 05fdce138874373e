"""Barlow Twins, VICReg and VICRegL full training checkpoints: `{'epoch', 'model', 'optimizer'}`, the model
DDP-wrapped with its ResNet under `backbone` beside `projector` (and Barlow Twins' `bn`, VICRegL's `maps_projector`
and `classifier`)."""

from __future__ import annotations

from ._common import prefixed_converter

CONVERTER = prefixed_converter(
    "barlowtwins_vicreg",
    "Barlow Twins / VICReg(L) full checkpoint (model: module.backbone.*, module.projector.*)",
    ("module.backbone.",),
)
