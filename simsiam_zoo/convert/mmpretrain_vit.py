"""mmpretrain's (mmselfsup 1.x) ViT pre-training checkpoints, as its MoCo v3 and MAE releases hold them: an mmengine
checkpoint `{'meta', 'state_dict'}` whose `backbone.*` is mmpretrain's `VisionTransformer` (`MoCoV3ViT`, `MAEViT`,
their fixed sin-cos `pos_embed` kept as a parameter), beside what is dropped: MoCo v3's projector `neck.*`,
predictor `head.*` and EMA copy `momentum_encoder.*`, MAE's decoder `neck.*`. MaskFeat's `MaskFeatViT`
(selfsup/maskfeat.py:161-233) holds a learnt `pos_embed` and a `mask_token` that only pre-training uses, in place of
the masked patches' embeddings; the token is dropped too. MFF's `MFFViT` (selfsup/mff.py:87-95) adds what only its
pre-training forward reads, the fusion of several blocks' outputs (:144-156): `proj_layers.i` (a Linear per fused block
but the last) and `proj_weights` (their softmax weights); both are dropped. PixMIM (mmselfsup 1.x, models/algorithms/
pixmim.py) is MAE's layout beside its `target_generator.low_pass_filter` buffer, dropped with the rest.

mmpretrain names its modules otherwise than timm (mmpretrain/models/backbones/vision_transformer.py): the patch
embedding's conv `patch_embed.projection`, blocks `layers.i` of `ln1`, `attn.qkv`, `attn.proj`, `ln2` and mmcv's FFN
(`ffn.layers.0.0` then `ffn.layers.1`), the final norm `ln1`. Attention reads qkv as timm does (q, k, v, then
heads); with `out_type='cls_token'` and `final_norm` its output is timm's class token after `norm`.
"""

from __future__ import annotations

import re

from torch import Tensor

from simsiam_zoo.errors import listed

from ._common import ConversionError, Converter, StateDict, strip_prefix
from ._vit import finalize_vit

PREFIX = "backbone."
_ANCHORS = ("patch_embed.projection.weight", "layers.0.attn.qkv.weight")
# BEiTAttention's separate q and v biases (mmpretrain/models/utils/attention.py:648-651, 666-668): BEiT's backbone,
# mmpretrain_beit's layout, whose qkv has no bias of its own; this ViT's qkv has one.
BEIT_ANCHOR = "layers.0.attn.q_bias"
# (mmpretrain's name, timm's), tried in order on the whole key.
_RENAMES = (
    (re.compile(r"patch_embed\.projection\.(weight|bias)"), r"patch_embed.proj.\1"),
    (re.compile(r"layers\.(\d+)\.ln([12])\.(weight|bias)"), r"blocks.\1.norm\2.\3"),
    (re.compile(r"layers\.(\d+)\.attn\.(qkv|proj)\.(weight|bias)"), r"blocks.\1.attn.\2.\3"),
    (re.compile(r"layers\.(\d+)\.ffn\.layers\.0\.0\.(weight|bias)"), r"blocks.\1.mlp.fc1.\2"),
    (re.compile(r"layers\.(\d+)\.ffn\.layers\.1\.(weight|bias)"), r"blocks.\1.mlp.fc2.\2"),
    (re.compile(r"ln1\.(weight|bias)"), r"norm.\1"),
)
# MFF's projections of the fused blocks' outputs (selfsup/mff.py:87-91).
_MFF_PROJ = re.compile(r"proj_layers\.\d+\.(weight|bias)")


def has_backbone_names(state_dict: StateDict) -> bool:
    """mmpretrain's ViT module names under `backbone.`, which its BEiT backbone shares."""
    return all(PREFIX + anchor in state_dict for anchor in _ANCHORS)


def detect(state_dict: StateDict) -> bool:
    return has_backbone_names(state_dict) and PREFIX + BEIT_ANCHOR not in state_dict


def timm_name(key: str) -> str:
    """timm's name; a key no rule names stays as it is, for finalize_vit to refuse as another architecture's."""
    return next((pattern.sub(timm, key) for pattern, timm in _RENAMES if pattern.fullmatch(key)), key)


def convert(state_dict: StateDict) -> dict[str, Tensor]:
    if not has_backbone_names(state_dict):
        anchors = " and ".join(PREFIX + anchor for anchor in _ANCHORS)
        raise ConversionError(f"mmpretrain_vit: no {anchors}; keys: {listed(state_dict, limit=8)}")
    backbone = strip_prefix(state_dict, PREFIX)
    backbone.pop("mask_token", None)  # MaskFeat's, for masked patches in pre-training; no part of the encoder
    backbone.pop("proj_weights", None)  # MFF's fusion of blocks' outputs, which only pre-training's forward reads
    backbone = {key: value for key, value in backbone.items() if not _MFF_PROJ.fullmatch(key)}
    return finalize_vit({timm_name(key): value for key, value in backbone.items()}, where="mmpretrain_vit")


CONVERTER = Converter(
    name="mmpretrain_vit",
    description="mmpretrain ViT checkpoint, MoCo v3's, MAE's, MaskFeat's, MFF's or PixMIM's "
    "(backbone.patch_embed.projection, backbone.layers.N.ln1/attn/ffn/ln2, backbone.ln1; neck.*, head.*, "
    "momentum_encoder.*, target_generator.*, backbone.mask_token, backbone.proj_layers.*, backbone.proj_weights "
    "dropped)",
    detect=detect,
    convert=convert,
)
