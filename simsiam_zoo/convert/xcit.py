"""facebookresearch/xcit's XCiT state dict, as DINO's XCiT backbone-only files hold it (the state dict of xcit.py's
`XCiT(num_classes=0)`, into which DINO's hubconf.py loads them with `strict=True`), to timm's `Xcit` names; VISSL's
`xcit` trunk has the same names (vissl/models/trunks/xcit.py:377-460@df651add), found where a VISSL checkpoint
holds it (`_vissl.TRUNK_PREFIXES`: DINO's teacher first).

Two things are named otherwise: the positional encoding is `pos_embeder` (xcit.py:357) where timm's is `pos_embed`,
and each class-attention block computes q, k and v with one Linear `attn.qkv` whose output it reads as q, k, v in
that order (xcit.py:154, 161-163), where timm has three Linears `attn.q`, `attn.k`, `attn.v`. The convolutional
patch embedding, the XCA blocks with their local patch interaction, the norms, the layer-scale gammas and the
BatchNorm statistics have timm's names already.
"""

from __future__ import annotations

import re

from torch import Tensor

from ._common import ConversionError, Converter, StateDict, checked_backbone, find_prefix, strip_prefix
from ._vissl import TRUNK_PREFIXES

_AFFINE = r"(?:weight|bias)"
_BN = r"(?:weight|bias|running_mean|running_var|num_batches_tracked)"
# timm's Xcit names; anything else is another architecture than the one we export.
_TIMM_KEY = re.compile(
    rf"cls_token|pos_embed\.token_projection\.{_AFFINE}|norm\.{_AFFINE}"
    rf"|patch_embed\.proj\.\d+\.(?:0\.weight|1\.{_BN})"
    rf"|blocks\.\d+\.(?:norm[123]\.{_AFFINE}|attn\.(?:qkv|proj)\.{_AFFINE}|attn\.temperature|gamma[123]"
    rf"|local_mp\.(?:conv[12]\.{_AFFINE}|bn\.{_BN})|mlp\.fc[12]\.{_AFFINE})"
    rf"|cls_attn_blocks\.\d+\.(?:norm[12]\.{_AFFINE}|attn\.(?:[qkv]|proj)\.{_AFFINE}|gamma[12]|mlp\.fc[12]\.{_AFFINE})"
)
_CLASS_QKV = re.compile(rf"(cls_attn_blocks\.\d+\.attn\.)qkv\.({_AFFINE})")
# What every such backbone holds, and what tells its state dict from a timm Xcit's or a ViT's.
_REQUIRED = ("cls_token", "pos_embeder.token_projection.weight", "patch_embed.proj.0.0.weight", "norm.weight")
_ANCHOR = "cls_attn_blocks.0.attn.qkv.weight"
# DINO's files hold the network at the top level.
_PREFIXES = ("", *TRUNK_PREFIXES)


def _prefix(state_dict: StateDict) -> str | None:
    return find_prefix(state_dict, _PREFIXES, anchor=(_ANCHOR, _REQUIRED[1]))


def detect(state_dict: StateDict) -> bool:
    return _prefix(state_dict) is not None


def _renamed(key: str, value: Tensor) -> dict[str, Tensor]:
    """The timm key(s) of one upstream key: the class attention's qkv split in three along its output rows."""
    match = _CLASS_QKV.fullmatch(key)
    if match:
        return {f"{match[1]}{name}.{match[2]}": part for name, part in zip("qkv", value.chunk(3, dim=0), strict=True)}
    return {key.replace("pos_embeder.", "pos_embed.", 1): value}


def convert(state_dict: StateDict) -> dict[str, Tensor]:
    state_dict = strip_prefix(state_dict, _prefix(state_dict) or "")
    missing = [key for key in (*_REQUIRED, _ANCHOR) if key not in state_dict]
    if missing:
        raise ConversionError(f"xcit: not facebookresearch/xcit's XCiT, no {', '.join(missing)}")
    converted: dict[str, Tensor] = {}
    for key, value in state_dict.items():
        if key not in ("head.weight", "head.bias"):  # a classifier, if any, is not the backbone
            converted.update(_renamed(key, value))
    return checked_backbone(converted, _TIMM_KEY, what="an XCiT backbone", where="xcit")


CONVERTER = Converter(
    name="xcit",
    description="facebookresearch/xcit XCiT state dict, as DINO's XCiT backbone-only files (pos_embeder.*, "
    "cls_attn_blocks.N.attn.qkv.*, patch_embed.proj.*, blocks.N.*, norm.*), or under a VISSL checkpoint's "
    "loss.momentum_teacher[.module].trunk. (DINO's teacher), else classy_state_dict.base_model.model.trunk.",
    detect=detect,
    convert=convert,
)
