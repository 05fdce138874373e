"""DINOv2's backbone files (facebookresearch/dinov2 @b8931f7): the state dict of its `DinoVisionTransformer` as the
hub loader builds it (hub/backbones.py:18-61: `block_chunks=0`, so `blocks.N.*`; loaded with strict=True), to timm's
`vit_*_patch14_dinov2` / `vit_*_patch14_reg4_dinov2` names, as timm's own `_convert_dinov2` reads the same files
(timm/models/vision_transformer.py:1284-1304@v1.0.16).

The names are timm's but for three: `mask_token` (models/vision_transformer.py:169), which embeds masked patches in
pre-training only (:214-218), is dropped; ViT-g's SwiGLU FFN `mlp.w12` / `mlp.w3` (layers/swiglu_ffn.py:27-34, fused
:54-72) is timm's `SwiGLUPacked` `mlp.fc1` / `mlp.fc2`, whose packed halves gate the same way (silu of the first
times the second); `register_tokens` is timm's `reg_token`. With registers DINOv2 adds `pos_embed[:, 0]` to the
class token and none to the registers, which it inserts after the position embedding (:220-231); timm's reg4 models
have no position embedding for either (`no_embed_class`), so the class token takes its own and `pos_embed` keeps the
patches' only.
"""

from __future__ import annotations

from torch import Tensor

from ._common import Converter, StateDict
from ._vit import finalize_vit, has_vit

# Every DinoVisionTransformer holds it (models/vision_transformer.py:169), and no other ViT layout read here does.
MARKER = "mask_token"
_SWIGLU_NAMES = {".mlp.w12.": ".mlp.fc1.", ".mlp.w3.": ".mlp.fc2."}


def detect(state_dict: StateDict) -> bool:
    return has_vit(state_dict) and MARKER in state_dict


def _timm_name(key: str) -> str:
    for dinov2, timm in _SWIGLU_NAMES.items():
        key = key.replace(dinov2, timm)
    return key


def convert(state_dict: StateDict) -> dict[str, Tensor]:
    state = {_timm_name(key): value for key, value in state_dict.items() if key != MARKER}
    if "register_tokens" in state:
        pos_embed = state["pos_embed"]
        state["reg_token"] = state.pop("register_tokens")
        state["cls_token"] = state["cls_token"] + pos_embed[:, :1]
        state["pos_embed"] = pos_embed[:, 1:]
    return finalize_vit(state, where="dinov2", registers=True)


CONVERTER = Converter(
    name="dinov2",
    description="DINOv2's backbone files, with or without registers (cls_token, pos_embed, mask_token, "
    "register_tokens, blocks.N.ls1.gamma, ViT-g's blocks.N.mlp.w12 / w3; mask_token dropped)",
    detect=detect,
    convert=convert,
)
