"""facebookresearch/VICRegL ConvNeXt backbone files: the state dict of its convnext.py `ConvNeXt`, without layer scale
(`layer_scale_init_value=0.0`, convnext.py:83; hubconf.py loads the files with strict=True into that model), to the
names of timm's `ConvNeXt`.

VICRegL keeps the official ConvNeXt names: the stem and the three downsampling layers in one list
`downsample_layers` (0: conv, LayerNorm; 1-3: LayerNorm, conv; convnext.py:88-101), blocks `stages.i.j` of `dwconv`,
`norm`, `pwconv1`, `pwconv2` (:29-37) and a final `norm` (:122). That final LayerNorm normalises every position
before the average (convnext.py:136-138), where timm's default head normalises the pooled vector: it is the
`norm_pre` of timm's ConvNeXt built with `head_norm_first=True`, the argument the entries carry as `model_args`.
VICRegL's blocks have no layer scale; timm's always have one (`create_model` drops an `ls_init_value=None`), so each
block gets a layer scale `gamma` of ones, which multiplies by exactly 1.
"""

from __future__ import annotations

import re

import torch
from torch import Tensor

from simsiam_zoo.errors import listed

from ._common import ConversionError, Converter, StateDict

_AFFINE = r"(?:weight|bias)"
# (VICRegL's name, timm's), tried in order on the whole key.
_RENAMES = (
    (re.compile(rf"downsample_layers\.0\.([01])\.({_AFFINE})"), r"stem.\1.\2"),
    (re.compile(rf"downsample_layers\.([1-3])\.([01])\.({_AFFINE})"), r"stages.\1.downsample.\2.\3"),
    (re.compile(rf"stages\.(\d)\.(\d+)\.dwconv\.({_AFFINE})"), r"stages.\1.blocks.\2.conv_dw.\3"),
    (re.compile(rf"stages\.(\d)\.(\d+)\.norm\.({_AFFINE})"), r"stages.\1.blocks.\2.norm.\3"),
    (re.compile(rf"stages\.(\d)\.(\d+)\.pwconv([12])\.({_AFFINE})"), r"stages.\1.blocks.\2.mlp.fc\3.\4"),
    (re.compile(rf"norm\.({_AFFINE})"), r"norm_pre.\1"),
)
_REQUIRED = ("downsample_layers.0.0.weight", "stages.0.0.dwconv.weight", "norm.weight")


def detect(state_dict: StateDict) -> bool:
    return all(key in state_dict for key in _REQUIRED[:2])


def _renamed(key: str) -> str | None:
    return next((pattern.sub(timm, key) for pattern, timm in _RENAMES if pattern.fullmatch(key)), None)


def convert(state_dict: StateDict) -> dict[str, Tensor]:
    missing = [key for key in _REQUIRED if key not in state_dict]
    if missing:
        raise ConversionError(f"vicregl_convnext: not VICRegL's ConvNeXt, no {', '.join(missing)}")
    # A classifier, if any, is not the backbone; anything else unnamed (a layer scale `gamma` included: the released
    # files have none, and one of ones stands for it) is another architecture.
    names = {key: _renamed(key) for key in state_dict if key not in ("head.weight", "head.bias")}
    unknown = [key for key, name in names.items() if name is None]
    if unknown:
        raise ConversionError(
            f"vicregl_convnext: not a ConvNeXt without layer scale; unexpected keys: {listed(unknown, limit=8)}"
        )
    converted = {
        name: state_dict[key].detach().to(device="cpu", dtype=torch.float32).contiguous() for key, name in names.items()
    }
    for name, weight in list(converted.items()):
        if name.endswith(".conv_dw.weight"):
            converted[name.replace(".conv_dw.weight", ".gamma")] = torch.ones(weight.shape[0])
    return converted


CONVERTER = Converter(
    name="vicregl_convnext",
    description="VICRegL ConvNeXt backbone file (downsample_layers.*, stages.I.J.dwconv/norm/pwconv1/pwconv2, norm.*)",
    detect=detect,
    convert=convert,
)
