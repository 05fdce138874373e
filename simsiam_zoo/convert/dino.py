"""DINO ResNet-50 full training checkpoint: the teacher's backbone. (The released backbone-only file has plain
torchvision names: the `torchvision` converter reads it.)"""

from __future__ import annotations

from torch import Tensor

from ._common import Converter, StateDict, convert_prefixed, find_prefix

# The teacher is the network DINO evaluates; it is DDP-wrapped when it has BatchNorm, as ResNets do.
_TEACHER = ("teacher.module.backbone.", "teacher.backbone.")


def detect(state_dict: StateDict) -> bool:
    return find_prefix(state_dict, _TEACHER) is not None


def convert(state_dict: StateDict) -> dict[str, Tensor]:
    return convert_prefixed(state_dict, _TEACHER, "dino")


CONVERTER = Converter(
    name="dino",
    description="DINO full checkpoint (teacher.module.backbone.*, teacher.module.head.*, student.*)",
    detect=detect,
    convert=convert,
)
