"""mmselfsup / mmpretrain checkpoint: `backbone.*` (mmcv ResNet, torchvision names), `neck.*`, `head.*`."""

from __future__ import annotations

from . import lightly, solo_learn
from ._common import StateDict, prefixed_converter

_PREFIX = "backbone."


def detect(state_dict: StateDict) -> bool:
    # A bare `backbone.*` dict could be either library and converts identically, so it lands here
    # rather than being reported as ambiguous.
    return f"{_PREFIX}conv1.weight" in state_dict and not (solo_learn.detect(state_dict) or lightly.detect(state_dict))


CONVERTER = prefixed_converter(
    "mmselfsup",
    "mmselfsup / mmpretrain checkpoint (backbone.* with neck.*/head.*, or bare backbone.*)",
    (_PREFIX,),
    detect=detect,
)
