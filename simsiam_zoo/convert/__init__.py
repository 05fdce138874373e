"""Convert self-supervised checkpoints from other codebases to timm's backbone layouts.

Every converter is a pure function from a flat state dict to a backbone state dict that loads strictly
into `timm.create_model(arch, num_classes=0)` (with an entry's `model_args`), no classifier or heads (but the norm
of the pooled features a ConvNeXt V2's head keeps at num_classes=0), fp32 tensors: for ResNets torchvision names with
`num_batches_tracked` present (`_common`), for vision transformers timm's class-token ViT names (`_vit`; DINOv2's
register tokens as timm's `reg_token` and ViT-g's SwiGLU as timm's packed `mlp.fc1` / `mlp.fc2`: `dinov2`), the same
without a class token for I-JEPA's encoders (`ijepa_vit`: timm's `_gap_` ViTs), timm's Beit
names with a relative position bias table in every block (`mmpretrain_beit`) or timm's XCiT names (`xcit`), for
ConvNeXts timm's ConvNeXt names (`vicregl_convnext`) or timm's ConvNeXt V2 names (`mmpretrain_convnext`), for RegNets
timm's RegNet names (`vissl_regnet`), for Swin Transformers timm's SwinTransformer names (`mmpretrain_swin`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor

from simsiam_zoo.errors import ConversionError, listed

from . import (
    barlowtwins_vicreg,
    dino,
    dinov2,
    ijepa_vit,
    lightly,
    lightly_vit,
    mmpretrain_beit,
    mmpretrain_convnext,
    mmpretrain_swin,
    mmpretrain_vit,
    mmselfsup,
    moco,
    mocov3_vit,
    official_simsiam,
    solo_learn,
    swav,
    timm_vit,
    torchvision,
    vicregl_convnext,
    vissl,
    vissl_regnet,
    vissl_vit,
    xcit,
)
from ._checkpoint import checkpoint_tensors, flatten_checkpoint, load_checkpoint_file
from ._common import Converter, unusable_tensors

__all__ = [
    "CONVERTERS",
    "ConversionError",
    "Converter",
    "convert_state_dict",
    "detect_format",
    "flatten_checkpoint",
    "checkpoint_tensors",
    "load_checkpoint_file",
]

CONVERTERS: dict[str, Converter] = {
    module.CONVERTER.name: module.CONVERTER
    for module in (
        official_simsiam,
        moco,
        solo_learn,
        mmselfsup,
        lightly,
        vissl,
        dino,
        swav,
        barlowtwins_vicreg,
        torchvision,
        mocov3_vit,
        timm_vit,
        xcit,
        vicregl_convnext,
        lightly_vit,
        mmpretrain_vit,
        vissl_regnet,
        mmpretrain_beit,
        vissl_vit,
        mmpretrain_swin,
        mmpretrain_convnext,
        dinov2,
        ijepa_vit,
    )
}


def detect_format(state_dict: Mapping[str, Any]) -> str:
    """Name of the single converter that recognises `state_dict` (a checkpoint or its flat tensors)."""
    flat = flatten_checkpoint(state_dict)
    matches = [name for name, converter in CONVERTERS.items() if converter.detect(flat)]
    if len(matches) == 1:
        return matches[0]
    problem = f"ambiguous checkpoint, matches {', '.join(matches)}" if matches else "unrecognised checkpoint"
    raise ConversionError(
        f"{problem}; choose the format with --from (source= in Python): one of {', '.join(CONVERTERS)}. "
        f"Sample keys: {listed(flat, limit=8)}"
    )


def convert_state_dict(state_dict: Mapping[str, Any], *, source: str | None = None) -> tuple[str, dict[str, Tensor]]:
    """Return `(format_name, backbone_state_dict)`, detecting the format unless `source` names it."""
    flat = flatten_checkpoint(state_dict)
    unusable = unusable_tensors(flat)
    if unusable:
        raise ConversionError(f"tensors that cannot be weights: {unusable}")
    name = detect_format(flat) if source is None else source
    if name not in CONVERTERS:
        raise ConversionError(f"unknown source {name!r}; known: {', '.join(CONVERTERS)}")
    return name, CONVERTERS[name].convert(flat)
