"""The layout the ViT converters produce: timm's `VisionTransformer` with a class token, pooled by it (`norm`, then
the class token; no `fc_norm`), without classifier, as DINO's and MoCo v3's models are; or, for I-JEPA's encoders,
the same without a class token (timm's `_gap_` ViTs: `norm`, then the mean of the patch tokens); fp32 tensors."""

from __future__ import annotations

import re

from torch import Tensor

from simsiam_zoo.errors import ConversionError, listed

from ._common import StateDict, checked_backbone, find_prefix, strip_prefix

_AFFINE = r"(?:weight|bias)"
# timm's (and DINO's, and MoCo v3's timm 0.4.9) names, with timm's layer scale where the network has one (lightly's
# iBOT: `init_values`); anything else is another architecture than the one we export.
_PATCH_TOKENS_KEY = (
    rf"pos_embed|patch_embed\.proj\.{_AFFINE}|norm\.{_AFFINE}"
    rf"|blocks\.\d+\.(?:(?:norm1|norm2|attn\.qkv|attn\.proj|mlp\.fc1|mlp\.fc2)\.{_AFFINE}|ls[12]\.gamma)"
)
_BACKBONE_KEY = re.compile(rf"cls_token|{_PATCH_TOKENS_KEY}")
# A ViT without a class token has none to keep: a `cls_token` there is another architecture's.
_GAP_BACKBONE_KEY = re.compile(_PATCH_TOKENS_KEY)
# DINOv2's reg4 models add timm's register tokens (`reg_token`); no other source's ViT has them, so only its
# converter accepts them.
_WITH_REGISTERS_KEY = re.compile(rf"reg_token|{_BACKBONE_KEY.pattern}")
# What every such backbone holds; its first key also tells a ViT state dict from others.
REQUIRED = ("cls_token", "pos_embed", "patch_embed.proj.weight", "blocks.0.attn.qkv.weight", "norm.weight")
GAP_REQUIRED = REQUIRED[1:]


def has_vit(state_dict: StateDict, prefix: str = "") -> bool:
    return all(prefix + key in state_dict for key in REQUIRED[:4])


def has_gap_vit(state_dict: StateDict, prefix: str = "") -> bool:
    """A ViT without a class token under `prefix` (one with a class token is `has_vit`'s)."""
    return all(prefix + key in state_dict for key in GAP_REQUIRED[:3]) and prefix + "cls_token" not in state_dict


def vit_prefix(state_dict: StateDict, prefixes: tuple[str, ...]) -> str | None:
    """The first of `prefixes` under which `state_dict` holds a ViT."""
    return find_prefix(state_dict, prefixes, anchor=REQUIRED[:4])


def vit_under(state_dict: StateDict, prefixes: tuple[str, ...], *, where: str) -> dict[str, Tensor]:
    """The ViT under the first of `prefixes` that holds one, the prefix stripped; refused, naming them, if none does."""
    prefix = vit_prefix(state_dict, prefixes)
    if prefix is None:
        raise ConversionError(f"{where}: no ViT under {' or '.join(prefixes)}; keys: {listed(state_dict, limit=8)}")
    return strip_prefix(state_dict, prefix)


def finalize_vit(
    state_dict: StateDict, *, where: str, registers: bool = False, class_token: bool = True
) -> dict[str, Tensor]:
    """Check the names of a ViT with a class token (else without one: `class_token` False; timm's `reg_token`
    allowed where `registers`), a classifier `head.weight` / `head.bias` dropped; cast to contiguous fp32."""
    kept = {key: value for key, value in state_dict.items() if key not in ("head.weight", "head.bias")}
    names, required = (_BACKBONE_KEY, REQUIRED) if class_token else (_GAP_BACKBONE_KEY, GAP_REQUIRED)
    names = _WITH_REGISTERS_KEY if registers else names
    what = f"a timm ViT backbone {'with' if class_token else 'without'} a class token"
    return checked_backbone(kept, names, what=what, where=where, required=required)
