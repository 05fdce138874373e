"""mmpretrain's (mmselfsup 1.x) Swin Transformer pre-training checkpoints, as its SimMIM releases hold them: an
mmengine checkpoint `{'meta', 'state_dict'}` whose `backbone.*` is `SimMIMSwinTransformer` (mmpretrain/models/selfsup/
simmim.py:14-89 @ee7f2e88: mmpretrain's SwinTransformer and the `mask_token` that replaces masked patches in
pre-training), beside the decoder `neck.*`; to timm's `SwinTransformer` (timm/models/swin_transformer.py, 1.x).

mmpretrain's modules (mmpretrain/models/backbones/swin_transformer.py) hold timm's under other names: mmcv's
`patch_embed.projection` / `.norm` (timm's `patch_embed.proj` / `.norm`), stages `stages.S.blocks.B` of `norm1`,
`attn.w_msa` (ShiftWindowMSA's WindowMSA: `qkv`, `proj`, `relative_position_bias_table`), `norm2` and mmcv's FFN
(`ffn.layers.0.0`, `ffn.layers.1`), timm's `layers.S.blocks.B` of `norm1`, `attn`, `norm2`, `mlp.fc1` / `fc2`; the
final stage's output norm `normN` (`out_indices` (N,)) is timm's `norm`. Two differ beyond names:

- The patch merging closes stage S in mmpretrain (`stages.S.downsample`) and opens stage S+1 in timm
  (`layers.S+1.downsample`). mmcv's PatchMerging gathers each 2x2 neighbourhood with `nn.Unfold`, channel-major
  (c, row, column: mmcv/cnn/bricks/transformer.py:382-403 @a8073c7), where timm concatenates whole pixels, column
  then row (PatchMerging.forward); its LayerNorm's and reduction's 4C input are permuted to timm's order.
- WindowMSA keeps its `relative_position_index` as a buffer (models/utils/attention.py:99-103); it indexes the table as
  timm's own does, which timm builds from the window size and does not save: dropped.
"""

from __future__ import annotations

import re

from torch import Tensor

from simsiam_zoo.errors import listed

from ._common import ConversionError, Converter, StateDict, checked_backbone, strip_prefix

_PREFIX = "backbone."
_ANCHORS = ("patch_embed.projection.weight", "stages.0.blocks.0.attn.w_msa.qkv.weight")
_AFFINE = r"(?:weight|bias)"
_BLOCK = r"stages\.(\d+)\.blocks\.(\d+)\."
# (mmpretrain's name, timm's), tried in order on the whole key.
_RENAMES = (
    (re.compile(rf"patch_embed\.projection\.({_AFFINE})"), r"patch_embed.proj.\1"),
    (re.compile(rf"{_BLOCK}(norm[12]\.{_AFFINE})"), r"layers.\1.blocks.\2.\3"),
    (
        re.compile(rf"{_BLOCK}attn\.w_msa\.((?:qkv|proj)\.{_AFFINE}|relative_position_bias_table)"),
        r"layers.\1.blocks.\2.attn.\3",
    ),
    (re.compile(rf"{_BLOCK}ffn\.layers\.0\.0\.({_AFFINE})"), r"layers.\1.blocks.\2.mlp.fc1.\3"),
    (re.compile(rf"{_BLOCK}ffn\.layers\.1\.({_AFFINE})"), r"layers.\1.blocks.\2.mlp.fc2.\3"),
)
_DOWNSAMPLE = re.compile(rf"stages\.(\d+)\.downsample\.(norm\.{_AFFINE}|reduction\.weight)")
_INDEX = re.compile(r"stages\.\d+\.blocks\.\d+\.attn\.w_msa\.relative_position_index")
# timm's SwinTransformer names; anything else is another architecture than the one we export.
_TIMM_KEY = re.compile(
    rf"patch_embed\.(?:proj|norm)\.{_AFFINE}|norm\.{_AFFINE}"
    rf"|layers\.\d+\.downsample\.(?:norm\.{_AFFINE}|reduction\.weight)"
    rf"|layers\.\d+\.blocks\.\d+\.(?:(?:norm1|norm2|attn\.qkv|attn\.proj|mlp\.fc1|mlp\.fc2)\.{_AFFINE}"
    r"|attn\.relative_position_bias_table)"
)
_REQUIRED = ("patch_embed.proj.weight", "layers.0.blocks.0.attn.qkv.weight", "norm.weight")


def detect(state_dict: StateDict) -> bool:
    return all(_PREFIX + anchor in state_dict for anchor in _ANCHORS)


def _unfold_to_timm(tensor: Tensor) -> Tensor:
    """A 2x2 patch merging's 4C input dimension (last) from mmcv's Unfold order (channel, row, column) to timm's
    (column, row, channel)."""
    channels = tensor.shape[-1] // 4
    return tensor.unflatten(-1, (channels, 2, 2)).transpose(-1, -3).flatten(-3)


def _renamed(key: str, last_stage: int) -> str:
    """timm's name; a key no rule names stays as it is, for the check to refuse as another architecture's."""
    if key.startswith(f"norm{last_stage}."):
        return "norm." + key.removeprefix(f"norm{last_stage}.")
    downsample = _DOWNSAMPLE.fullmatch(key)
    if downsample:
        return f"layers.{int(downsample[1]) + 1}.downsample.{downsample[2]}"
    return next((pattern.sub(timm, key) for pattern, timm in _RENAMES if pattern.fullmatch(key)), key)


def convert(state_dict: StateDict) -> dict[str, Tensor]:
    if not detect(state_dict):
        anchors = " and ".join(_PREFIX + anchor for anchor in _ANCHORS)
        raise ConversionError(f"mmpretrain_swin: no {anchors}; keys: {listed(state_dict, limit=8)}")
    backbone = strip_prefix(state_dict, _PREFIX)
    backbone.pop("mask_token", None)  # SimMIM's, for masked patches in pre-training; no part of the encoder
    # Any other key under stages. (not numbered) stays as it is, for the check to refuse.
    last_stage = max(int(m[1]) for key in backbone if (m := re.match(r"stages\.(\d+)\.", key)))
    converted = {
        _renamed(key, last_stage): _unfold_to_timm(value) if _DOWNSAMPLE.fullmatch(key) else value
        for key, value in backbone.items()
        if not _INDEX.fullmatch(key)
    }
    what = "a timm Swin Transformer"
    return checked_backbone(converted, _TIMM_KEY, what=what, where="mmpretrain_swin", required=_REQUIRED)


CONVERTER = Converter(
    name="mmpretrain_swin",
    description="mmpretrain Swin Transformer checkpoint, SimMIM's (backbone.patch_embed.projection, "
    "backbone.stages.N.blocks.M.attn.w_msa, backbone.stages.N.downsample, backbone.normN; neck.*, "
    "backbone.mask_token, relative_position_index buffers dropped; patch merging permuted to timm's order)",
    detect=detect,
    convert=convert,
)
