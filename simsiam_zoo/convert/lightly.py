"""lightly: `backbone = nn.Sequential(*list(resnet.children())[:-1])`, so ResNet parts are numbered."""

from __future__ import annotations

from torch import Tensor

from ._common import (
    ConversionError,
    Converter,
    StateDict,
    finalize_backbone,
    find_prefix,
    sample_keys,
    strip_prefix,
)

# `resnet18_parameters` is what lightly's tutorials save `model.backbone.state_dict()` under.
_PREFIXES = ("backbone.", "resnet18_parameters.")
# Children of a torchvision ResNet; 2 (relu), 3 (maxpool) and 8 (avgpool) hold no weights.
_CHILDREN = {"0": "conv1", "1": "bn1", "4": "layer1", "5": "layer2", "6": "layer3", "7": "layer4"}


def _prefix(state_dict: StateDict) -> str | None:
    prefix = find_prefix(state_dict, _PREFIXES, anchor="0.weight")
    return prefix if prefix is not None and f"{prefix}4.0.conv1.weight" in state_dict else None


def detect(state_dict: StateDict) -> bool:
    return _prefix(state_dict) is not None


def convert(state_dict: StateDict) -> dict[str, Tensor]:
    prefix = _prefix(state_dict)
    if prefix is None:
        raise ConversionError(f"lightly: no backbone.0.* with backbone.4.*; keys: {sample_keys(state_dict)}")
    renamed = {}
    for key, value in strip_prefix(state_dict, prefix).items():
        index, _, rest = key.partition(".")
        renamed[f"{_CHILDREN.get(index, index)}.{rest}"] = value
    return finalize_backbone(renamed)


CONVERTER = Converter(
    name="lightly",
    description="lightly model, backbone an nn.Sequential torchvision ResNet (backbone.0.*, backbone.4.*)",
    detect=detect,
    convert=convert,
)
