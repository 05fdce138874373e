"""VISSL ResNe(X)t trunk: torchvision modules kept in `trunk._feature_blocks`."""

from __future__ import annotations

from ._common import prefixed_converter

# Nested `classy_state_dict` checkpoints arrive flattened with dots; the other two are the model's own
# state_dict and a trunk-only dict.
CONVERTER = prefixed_converter(
    "vissl",
    "VISSL checkpoint (classy_state_dict -> base_model -> model -> trunk -> _feature_blocks.*)",
    (
        "classy_state_dict.base_model.model.trunk._feature_blocks.",
        "trunk._feature_blocks.",
        "_feature_blocks.",
    ),
)
