"""VISSL ResNe(X)t trunk: torchvision modules kept in `trunk._feature_blocks`."""

from __future__ import annotations

from torch import Tensor

from ._common import Converter, StateDict, convert_prefixed, find_prefix

# Nested `classy_state_dict` checkpoints arrive flattened with dots; the other two are the model's own
# state_dict and a trunk-only dict.
_PREFIXES = (
    "classy_state_dict.base_model.model.trunk._feature_blocks.",
    "trunk._feature_blocks.",
    "_feature_blocks.",
)


def detect(state_dict: StateDict) -> bool:
    return find_prefix(state_dict, _PREFIXES) is not None


def convert(state_dict: StateDict) -> dict[str, Tensor]:
    return convert_prefixed(state_dict, _PREFIXES, "vissl")


CONVERTER = Converter(
    name="vissl",
    description="VISSL checkpoint (classy_state_dict -> base_model -> model -> trunk -> _feature_blocks.*)",
    detect=detect,
    convert=convert,
)
