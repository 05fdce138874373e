"""mmpretrain's ConvNeXt V2 pre-training checkpoints, as its SparK release holds them: an mmengine checkpoint
`{'meta', 'state_dict'}` whose `backbone.*` is `SparseConvNeXt` (mmpretrain/models/backbones/sparse_convnext.py
@ee7f2e88: mmpretrain's ConvNeXt with GRN and no layer scale, its convs and norms swapped for sparse subclasses of
the same names, :239-298), beside SparK's decoder `neck.*` and its `enc_dec_norms`, `enc_dec_projectors` and
`mask_tokens` (selfsup/spark.py:56-80); to timm's `ConvNeXt` as `convnextv2_*` builds it (GRN, no layer scale).

mmpretrain's modules (backbones/convnext.py) hold timm's under other names: the stem and the three downsampling
layers in one list `downsample_layers` (0: conv, LayerNorm; 1-3: LayerNorm, conv: :290-318; timm's `stem` and
`stages.i.downsample`), blocks `stages.i.j` of `depthwise_conv`, `norm`, Linear `pointwise_conv1`, `grn` (`gamma`,
`beta`: models/utils/norm.py:10-48, timm's GlobalResponseNorm `weight`, `bias`, the same formula) and
`pointwise_conv2` (:63-87; timm's `conv_dw`, `norm`, `mlp.fc1`, `mlp.grn`, `mlp.fc2`).

SparseConvNeXt has no final norm; the fine-tuning ConvNeXt (configs/spark/benchmarks/convnextv2-tiny_8xb256-coslr-
300e_in1k.py:52-58) adds a new `norm3` that normalises the pooled features (gap_before_final_norm: convnext.py:234,
335-337, 348-350), timm's head `norm`: it is given LayerNorm's initial ones and zeros, the network fine-tuning starts
from.
"""

from __future__ import annotations

import re

import torch
from torch import Tensor

from simsiam_zoo.errors import listed

from ._common import ConversionError, Converter, StateDict, checked_backbone, strip_prefix

_PREFIX = "backbone."
_ANCHORS = ("downsample_layers.0.0.weight", "stages.0.0.depthwise_conv.weight")
_AFFINE = r"(?:weight|bias)"
_BLOCK = r"stages\.(\d)\.(\d+)\."
# (mmpretrain's name, timm's), tried in order on the whole key.
_RENAMES = (
    (re.compile(rf"downsample_layers\.0\.([01])\.({_AFFINE})"), r"stem.\1.\2"),
    (re.compile(rf"downsample_layers\.([1-3])\.([01])\.({_AFFINE})"), r"stages.\1.downsample.\2.\3"),
    (re.compile(rf"{_BLOCK}depthwise_conv\.({_AFFINE})"), r"stages.\1.blocks.\2.conv_dw.\3"),
    (re.compile(rf"{_BLOCK}norm\.({_AFFINE})"), r"stages.\1.blocks.\2.norm.\3"),
    (re.compile(rf"{_BLOCK}pointwise_conv([12])\.({_AFFINE})"), r"stages.\1.blocks.\2.mlp.fc\3.\4"),
    (re.compile(rf"{_BLOCK}grn\.gamma"), r"stages.\1.blocks.\2.mlp.grn.weight"),
    (re.compile(rf"{_BLOCK}grn\.beta"), r"stages.\1.blocks.\2.mlp.grn.bias"),
)
# timm's ConvNeXt V2 names (its head's norm added below); anything else is another architecture than the one we export.
_TIMM_KEY = re.compile(
    rf"stem\.[01]\.{_AFFINE}|stages\.[1-3]\.downsample\.[01]\.{_AFFINE}"
    rf"|stages\.\d\.blocks\.\d+\.(?:conv_dw|norm|mlp\.fc1|mlp\.grn|mlp\.fc2)\.{_AFFINE}"
)

_REQUIRED = ("stem.0.weight", "stages.3.blocks.0.norm.weight")


def detect(state_dict: StateDict) -> bool:
    return all(_PREFIX + anchor in state_dict for anchor in _ANCHORS)


def _renamed(key: str) -> str:
    """timm's name; a key no rule names stays as it is, for the check to refuse as another architecture's."""
    return next((pattern.sub(timm, key) for pattern, timm in _RENAMES if pattern.fullmatch(key)), key)


def convert(state_dict: StateDict) -> dict[str, Tensor]:
    if not detect(state_dict):
        anchors = " and ".join(_PREFIX + anchor for anchor in _ANCHORS)
        raise ConversionError(f"mmpretrain_convnext: no {anchors}; keys: {listed(state_dict, limit=8)}")
    renamed = {_renamed(key): value for key, value in strip_prefix(state_dict, _PREFIX).items()}
    what = "a timm ConvNeXt V2"
    converted = checked_backbone(renamed, _TIMM_KEY, what=what, where="mmpretrain_convnext", required=_REQUIRED)
    width = converted[_REQUIRED[-1]].shape[0]  # the last stage's
    return converted | {"head.norm.weight": torch.ones(width), "head.norm.bias": torch.zeros(width)}


CONVERTER = Converter(
    name="mmpretrain_convnext",
    description="mmpretrain ConvNeXt V2 checkpoint, SparK's (backbone.downsample_layers.N, "
    "backbone.stages.N.M.depthwise_conv/norm/pointwise_conv1/grn/pointwise_conv2; neck.*, enc_dec_*, mask_tokens "
    "dropped; the head's norm, which pre-training has not, at its initial ones and zeros)",
    detect=detect,
    convert=convert,
)
