"""A plain timm ViT state dict (`cls_token`, `pos_embed`, `patch_embed.proj.*`, `blocks.N.*`, `norm.*`), with or
without its classifier: DINO's backbone-only ViT files, the state dict of DINO's own `VisionTransformer` with
`num_classes=0`, whose names are timm's (its hubconf.py loads them with `strict=True` into that model); MAE's
pre-trained files, the same names under `model` (which flattening unwraps), its fixed sin-cos `pos_embed` kept;
iBOT's teacher and student backbone files, the same names under `state_dict` (its extract_backbone_weights.py), the
student's beside its `masked_embed`."""

from __future__ import annotations

from torch import Tensor

from ._common import Converter, StateDict
from ._vit import finalize_vit, has_vit
from .dinov2 import MARKER as DINOV2_MARKER


def convert(state_dict: StateDict) -> dict[str, Tensor]:
    # iBOT's student embeds masked patches with `masked_embed` in pre-training only (models/vision_transformer.py:172,
    # 268); it is no part of the network that encodes an image.
    return finalize_vit({k: v for k, v in state_dict.items() if k != "masked_embed"}, where="timm_vit")


def detect(state_dict: StateDict) -> bool:
    # DINOv2's files hold timm's names too, beside its mask token and registers, which the `dinov2` converter maps.
    return has_vit(state_dict) and DINOV2_MARKER not in state_dict


CONVERTER = Converter(
    name="timm_vit",
    description="plain timm ViT state dict, as DINO's backbone-only files, MAE's pre-trained ones (under model) and "
    "iBOT's teacher and student backbones (under state_dict) (cls_token, pos_embed, patch_embed.proj.*, blocks.N.*, "
    "norm.*, head.* if any; an iBOT student's masked_embed dropped)",
    detect=detect,
    convert=convert,
)
