"""VISSL's `vision_transformer` trunk (vissl/models/trunks/vision_transformer.py:161-283@f678f7a5) to timm's ViT:
timm's names (patch_embed.proj, blocks.N with norm1, attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2, then norm; qkv
bias, LayerNorm eps 1e-6) but for its class token `class_token` and position embedding `pos_embedding` (:220-221),
timm's `cls_token` and `pos_embed`. Its output is the class token after `norm` (:267-283), timm's token pooling."""

from __future__ import annotations

from torch import Tensor

from simsiam_zoo.errors import listed

from ._common import ConversionError, Converter, StateDict, find_prefix, strip_prefix
from ._vissl import TRUNK_PREFIXES
from ._vit import finalize_vit

_TIMM_NAMES = {"class_token": "cls_token", "pos_embedding": "pos_embed"}
# What tells VISSL's ViT trunk from timm's names (cls_token, pos_embed) and from its other trunks.
_ANCHORS = ("class_token", "pos_embedding", "blocks.0.attn.qkv.weight")


def _trunk_prefix(state_dict: StateDict) -> str | None:
    return find_prefix(state_dict, TRUNK_PREFIXES, anchor=_ANCHORS)


def convert(state_dict: StateDict) -> dict[str, Tensor]:
    prefix = _trunk_prefix(state_dict)
    if prefix is None:
        raise ConversionError(
            f"vissl_vit: no VISSL ViT trunk ({', '.join(_ANCHORS)}) under {' or '.join(TRUNK_PREFIXES)}; "
            f"keys: {listed(state_dict, limit=8)}"
        )
    trunk = strip_prefix(state_dict, prefix)
    return finalize_vit({_TIMM_NAMES.get(key, key): value for key, value in trunk.items()}, where="vissl_vit")


CONVERTER = Converter(
    name="vissl_vit",
    description="VISSL ViT trunk, DINO's teacher first (loss.momentum_teacher[.module].trunk.*, else "
    "classy_state_dict.base_model.model.trunk.*: class_token, pos_embedding, patch_embed.proj.*, blocks.N.*, norm.*)",
    detect=lambda state_dict: _trunk_prefix(state_dict) is not None,
    convert=convert,
)
