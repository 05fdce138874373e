"""mmpretrain's BEiT (v1) pre-training checkpoints: an mmengine checkpoint `{'meta', 'state_dict'}` whose `backbone.*`
is `BEiTPretrainViT` (mmpretrain/models/selfsup/beit.py:110-217, a `BEiTViT` of backbones/beit.py), beside what is
dropped: BEiTV1Head's classifier over the visual tokens `head.*` (heads/beitv1_head.py:34), the DALL-E tokenizer
`target_generator.*` and the backbone's `mask_token` (selfsup/beit.py:217), which only pre-training puts in place of
the masked patches.

The backbone is timm's `Beit` (timm/models/beit.py) under mmpretrain's names, those of its ViT (mmpretrain_vit) for
the patch embedding, norms, attention projections, FFN and final norm `ln1`. Its attention (BEiTAttention,
models/utils/attention.py:630-748) is timm's: a qkv Linear without bias (:661) beside learnt q and v biases, the k
bias zero (:666-668, 724-727); the layer scales `gamma_1` / `gamma_2` (backbones/beit.py:193-199) have timm's names.
It has no absolute position embedding (use_abs_pos_emb False, :419-425) and one relative position bias shared by
all blocks, `rel_pos_bias` (:433-436, RelativePositionBias :19-90, indexed as timm's gen_relative_position_index).
Upstream's fine-tuning (use_rel_pos_bias) gives every block its own copy of that table (:621-631), the network the
converted weights build in timm (beit_base_patch16_224's use_rel_pos_bias); the index buffer is dropped, timm
computes it.
"""

from __future__ import annotations

import re

from torch import Tensor

from simsiam_zoo.errors import listed

from ._common import ConversionError, Converter, StateDict, checked_backbone, strip_prefix
from .mmpretrain_vit import BEIT_ANCHOR, PREFIX, has_backbone_names, timm_name

_AFFINE = r"(?:weight|bias)"
# timm's Beit names with a relative position bias table in every block and no pos_embed; anything else is another
# architecture than the one exported (an absolute position embedding is another timm Beit).
_BACKBONE_KEY = re.compile(
    rf"cls_token|patch_embed\.proj\.{_AFFINE}|norm\.{_AFFINE}"
    rf"|blocks\.\d+\.(?:(?:norm1|norm2|attn\.proj|mlp\.fc1|mlp\.fc2)\.{_AFFINE}|attn\.qkv\.weight|attn\.[qv]_bias"
    rf"|attn\.relative_position_bias_table|gamma_[12])"
)
_REQUIRED = ("cls_token", "patch_embed.proj.weight", "blocks.0.attn.qkv.weight", "norm.weight")
_SHARED_TABLE = "rel_pos_bias.relative_position_bias_table"
_SHARED_INDEX = "rel_pos_bias.relative_position_index"
# (mmpretrain's name, timm's) of BEiT's own parameters; the rest are named as mmpretrain's ViT's.
_RENAMES = (
    (re.compile(r"layers\.(\d+)\.attn\.([qv]_bias)"), r"blocks.\1.attn.\2"),
    (re.compile(r"layers\.(\d+)\.(gamma_[12])"), r"blocks.\1.\2"),
)
_BLOCK_QKV = re.compile(r"blocks\.(\d+)\.attn\.qkv\.weight")


def detect(state_dict: StateDict) -> bool:
    return has_backbone_names(state_dict) and PREFIX + BEIT_ANCHOR in state_dict


def _renamed(key: str) -> str:
    """timm's name: BEiT's own parameters here, the rest as mmpretrain's ViT names them."""
    for pattern, timm in _RENAMES:
        if pattern.fullmatch(key):
            return pattern.sub(timm, key)
    return timm_name(key)


def _with_table_per_block(backbone: dict[str, Tensor]) -> dict[str, Tensor]:
    """The shared relative position bias table copied into every block's attention, its index dropped."""
    if _SHARED_TABLE not in backbone:
        raise ConversionError(f"mmpretrain_beit: no shared relative position bias, no {PREFIX}{_SHARED_TABLE}")
    table = backbone.pop(_SHARED_TABLE)
    backbone.pop(_SHARED_INDEX, None)
    blocks = [match[1] for match in map(_BLOCK_QKV.fullmatch, backbone) if match]
    return backbone | {f"blocks.{block}.attn.relative_position_bias_table": table.clone() for block in blocks}


def convert(state_dict: StateDict) -> dict[str, Tensor]:
    if not detect(state_dict):
        raise ConversionError(
            f"mmpretrain_beit: no {PREFIX}patch_embed.projection.weight and {PREFIX}{BEIT_ANCHOR}; "
            f"keys: {listed(state_dict, limit=8)}"
        )
    backbone = strip_prefix(state_dict, PREFIX)
    backbone.pop("mask_token", None)  # pre-training's, for the masked patches; no part of the encoder
    renamed = _with_table_per_block({_renamed(key): value for key, value in backbone.items()})
    what = "BEiT's backbone (timm's Beit)"
    return checked_backbone(renamed, _BACKBONE_KEY, what=what, where="mmpretrain_beit", required=_REQUIRED)


CONVERTER = Converter(
    name="mmpretrain_beit",
    description="mmpretrain BEiT checkpoint (backbone.patch_embed.projection, backbone.layers.N.ln1/attn with "
    "q_bias, v_bias/ffn/ln2/gamma_1, gamma_2, backbone.rel_pos_bias shared by every block, backbone.ln1; head.*, "
    "target_generator.*, backbone.mask_token dropped)",
    detect=detect,
    convert=convert,
)
