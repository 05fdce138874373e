"""VISSL's RegNet trunk (vissl/models/trunks/regnet.py: ClassyVision's RegNet, its `stem` as feature block `conv1`
and its stages `trunk_output.block1..4` as `res2..res5`, all under `_feature_blocks`) to timm's `RegNet` names.

ClassyVision's modules (classy_vision/models/regnet.py) hold what timm's do, named otherwise: the stem's
`stem.0` / `stem.1` (conv, BatchNorm) are timm's `stem.conv` / `stem.bn`; block `blockS-I` of stage `blockS` is
timm's `sS.b{I+1}`; a block's transform `f` has `a` and `b` (conv, BatchNorm, ReLU: timm's `conv1`, `conv2`), the
squeeze-excitation `se.excitation.0` / `.2` (timm's `se.fc1` / `se.fc2`), the last conv `c` and its `final_bn`
(timm's `conv3.conv` / `conv3.bn`); the projection shortcut is `proj` and `bn` (timm's `downsample.conv` / `.bn`).
"""

from __future__ import annotations

import re

from torch import Tensor

from ._common import ConversionError, Converter, StateDict, checked_backbone, find_prefix, strip_prefix

# A `classy_state_dict` checkpoint arrives flattened with dots; then the model's own state dict, then the trunk's.
_PREFIXES = ("classy_state_dict.base_model.model.trunk._feature_blocks.", "trunk._feature_blocks.", "_feature_blocks.")
_ANCHOR = "conv1.stem.0.weight"
_BN = r"(?:weight|bias|running_mean|running_var|num_batches_tracked)"
_STEM = {"conv1.stem.0.": "stem.conv.", "conv1.stem.1.": "stem.bn."}
# VISSL numbers its feature blocks after the stem (`conv1`): stage S is `resS+1`.
_BLOCK = re.compile(r"res(\d)\.block(\d)-(\d+)\.(.+)")
_IN_BLOCK = (
    ("f.a.0.", "conv1.conv."),
    ("f.a.1.", "conv1.bn."),
    ("f.b.0.", "conv2.conv."),
    ("f.b.1.", "conv2.bn."),
    ("f.se.excitation.0.", "se.fc1."),
    ("f.se.excitation.2.", "se.fc2."),
    ("f.c.", "conv3.conv."),
    ("f.final_bn.", "conv3.bn."),
    ("proj.", "downsample.conv."),
    ("bn.", "downsample.bn."),
)
# timm's RegNetY names; anything else is another architecture than the one we export.
_TIMM_KEY = re.compile(
    rf"stem\.conv\.weight|stem\.bn\.{_BN}"
    rf"|s\d\.b\d+\.(?:(?:conv[123]|downsample)\.(?:conv\.weight|bn\.{_BN})|se\.fc[12]\.(?:weight|bias))"
)


def detect(state_dict: StateDict) -> bool:
    return find_prefix(state_dict, _PREFIXES, anchor=_ANCHOR) is not None


def _renamed(key: str) -> str:
    for upstream, name in _STEM.items():
        if key.startswith(upstream):
            return name + key.removeprefix(upstream)
    match = _BLOCK.fullmatch(key)
    if match is None or int(match[1]) != int(match[2]) + 1:
        return key  # left as it is, and refused below
    rest = match[4]
    for upstream, name in _IN_BLOCK:
        if rest.startswith(upstream):
            rest = name + rest.removeprefix(upstream)
            break
    return f"s{match[2]}.b{int(match[3]) + 1}.{rest}"


def convert(state_dict: StateDict) -> dict[str, Tensor]:
    prefix = find_prefix(state_dict, _PREFIXES, anchor=_ANCHOR)
    if prefix is None:
        raise ConversionError(f"vissl_regnet: no key {[p + _ANCHOR for p in _PREFIXES]}")
    converted = {_renamed(key): value for key, value in strip_prefix(state_dict, prefix).items()}
    return checked_backbone(converted, _TIMM_KEY, what="a RegNet trunk", where="vissl_regnet")


CONVERTER = Converter(
    name="vissl_regnet",
    description="VISSL RegNet trunk (classy_state_dict -> base_model -> model -> trunk -> "
    "_feature_blocks.conv1.stem.*, _feature_blocks.resN.blockS-I.*)",
    detect=detect,
    convert=convert,
)
