"""VISSL ResNe(X)t trunk: torchvision modules kept in `trunk._feature_blocks`."""

from __future__ import annotations

from ._common import prefixed_converter

# Nested `classy_state_dict` checkpoints arrive flattened with dots; the next two are the model's own state_dict
# and a trunk-only dict; the last is the files VISSL converted from other projects (Caffe2 Goyal'19 models,
# lemniscate NPID), which its benchmark configs load with STATE_DICT_KEY_NAME=model_state_dict and
# APPEND_PREFIX=trunk.base_model.: `_feature_blocks.*` under `model_state_dict`.
CONVERTER = prefixed_converter(
    "vissl",
    "VISSL checkpoint (classy_state_dict -> base_model -> model -> trunk -> _feature_blocks.*, or "
    "model_state_dict -> _feature_blocks.*)",
    (
        "classy_state_dict.base_model.model.trunk._feature_blocks.",
        "trunk._feature_blocks.",
        "_feature_blocks.",
        "model_state_dict._feature_blocks.",
    ),
)
