"""A plain timm ViT state dict (`cls_token`, `pos_embed`, `patch_embed.proj.*`, `blocks.N.*`, `norm.*`), with or
without its classifier: DINO's backbone-only ViT files, the state dict of DINO's own `VisionTransformer` with
`num_classes=0`, whose names are timm's (its hubconf.py loads them with `strict=True` into that model); MAE's
pre-trained files, the same names under `model` (which flattening unwraps), its fixed sin-cos `pos_embed` kept;
iBOT's teacher backbone files, the same names under `state_dict` (its extract_backbone_weights.py)."""

from __future__ import annotations

from torch import Tensor

from ._common import Converter, StateDict
from ._vit import finalize_vit, has_vit


def convert(state_dict: StateDict) -> dict[str, Tensor]:
    return finalize_vit(state_dict, where="timm_vit")


CONVERTER = Converter(
    name="timm_vit",
    description="plain timm ViT state dict, as DINO's backbone-only files, MAE's pre-trained ones (under model) and "
    "iBOT's teacher backbones (under state_dict) (cls_token, pos_embed, patch_embed.proj.*, blocks.N.*, norm.*, "
    "head.* if any)",
    detect=has_vit,
    convert=convert,
)
