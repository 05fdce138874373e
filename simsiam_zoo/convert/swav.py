"""facebookresearch/swav (also DeepCluster-v2, SeLa-v2): the DDP model's state dict, `module.`-prefixed torchvision
names beside `module.projection_head.*` and `module.prototypes.*`."""

from __future__ import annotations

from torch import Tensor

from ._common import Converter, StateDict, convert_prefixed

_PREFIX = "module."


def detect(state_dict: StateDict) -> bool:
    return f"{_PREFIX}conv1.weight" in state_dict


def convert(state_dict: StateDict) -> dict[str, Tensor]:
    heads = ("projection_head.", "prototypes.")
    backbone = {key: value for key, value in state_dict.items() if not key.removeprefix(_PREFIX).startswith(heads)}
    return convert_prefixed(backbone, (_PREFIX,), "swav")


CONVERTER = Converter(
    name="swav",
    description="SwAV / DeepCluster-v2 / SeLa-v2 (module.conv1.*, module.projection_head.*, module.prototypes.*)",
    detect=detect,
    convert=convert,
)
