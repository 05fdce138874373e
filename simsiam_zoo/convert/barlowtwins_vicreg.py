"""Barlow Twins and VICReg full training checkpoints: `{'epoch', 'model', 'optimizer'}`, the model DDP-wrapped with
its ResNet under `backbone` beside `projector` (and Barlow Twins' `bn`)."""

from __future__ import annotations

from ._common import prefixed_converter

CONVERTER = prefixed_converter(
    "barlowtwins_vicreg",
    "Barlow Twins / VICReg full checkpoint (model: module.backbone.*, module.projector.*)",
    ("module.backbone.",),
)
