"""Barlow Twins and VICReg full training checkpoints: `{'epoch', 'model', 'optimizer'}`, the model DDP-wrapped with
its ResNet under `backbone` beside `projector` (and Barlow Twins' `bn`)."""

from __future__ import annotations

from torch import Tensor

from ._common import Converter, StateDict, convert_prefixed, find_prefix

_PREFIXES = ("module.backbone.",)


def detect(state_dict: StateDict) -> bool:
    return find_prefix(state_dict, _PREFIXES) is not None


def convert(state_dict: StateDict) -> dict[str, Tensor]:
    return convert_prefixed(state_dict, _PREFIXES, "barlowtwins_vicreg")


CONVERTER = Converter(
    name="barlowtwins_vicreg",
    description="Barlow Twins / VICReg full checkpoint (model: module.backbone.*, module.projector.*)",
    detect=detect,
    convert=convert,
)
