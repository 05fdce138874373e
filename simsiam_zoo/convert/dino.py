"""DINO ResNet-50: the released backbone (torchvision names, no `fc`) or a full training checkpoint."""

from __future__ import annotations

from torch import Tensor

from ._common import Converter, StateDict, convert_prefixed, find_prefix

# The teacher is the network DINO evaluates; it is DDP-wrapped when it has BatchNorm, as ResNets do.
_TEACHER = ("teacher.module.backbone.", "teacher.backbone.")


def detect(state_dict: StateDict) -> bool:
    bare_without_fc = "conv1.weight" in state_dict and "fc.weight" not in state_dict
    return find_prefix(state_dict, _TEACHER) is not None or bare_without_fc


def convert(state_dict: StateDict) -> dict[str, Tensor]:
    return convert_prefixed(state_dict, (*_TEACHER, ""), "dino")


CONVERTER = Converter(
    name="dino",
    description="DINO ResNet-50 (dino_resnet50_pretrain.pth, or a full checkpoint's teacher backbone)",
    detect=detect,
    convert=convert,
)
