"""mmselfsup / mmpretrain checkpoint: `backbone.*` (mmcv ResNet, torchvision names), `neck.*`, `head.*`."""

from __future__ import annotations

from torch import Tensor

from . import lightly, solo_learn
from ._common import Converter, StateDict, convert_prefixed

_PREFIX = "backbone."


def detect(state_dict: StateDict) -> bool:
    # A bare `backbone.*` dict could be either library and converts identically, so it lands here
    # rather than being reported as ambiguous.
    return f"{_PREFIX}conv1.weight" in state_dict and not (solo_learn.detect(state_dict) or lightly.detect(state_dict))


def convert(state_dict: StateDict) -> dict[str, Tensor]:
    return convert_prefixed(state_dict, (_PREFIX,), "mmselfsup")


CONVERTER = Converter(
    name="mmselfsup",
    description="mmselfsup / mmpretrain checkpoint (backbone.* with neck.*/head.*, or bare backbone.*)",
    detect=detect,
    convert=convert,
)
