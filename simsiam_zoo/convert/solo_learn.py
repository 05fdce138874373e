"""solo-learn Lightning checkpoint: a `backbone.*` torchvision ResNet beside `projector.*`, `predictor.*`."""

from __future__ import annotations

from ._common import StateDict, prefixed_converter

_PREFIX = "backbone."
_SOLO_HEADS = ("projector.", "predictor.", "classifier.", "momentum_backbone.", "momentum_projector.")
# mmselfsup uses the same `backbone.` names; its `neck.`/`head.` modules tell the two apart.
_MMSELFSUP_HEADS = ("neck.", "head.")


def detect(state_dict: StateDict) -> bool:
    return (
        f"{_PREFIX}conv1.weight" in state_dict
        and any(key.startswith(_SOLO_HEADS) for key in state_dict)
        and not any(key.startswith(_MMSELFSUP_HEADS) for key in state_dict)
    )


CONVERTER = prefixed_converter(
    "solo_learn",
    "solo-learn Lightning checkpoint (backbone.* with projector.*/predictor.*/classifier.*)",
    (_PREFIX,),
    detect=detect,
)
