"""facebookresearch/swav (also DeepCluster-v2, SeLa-v2): the DDP model's state dict, `module.`-prefixed torchvision
names beside `module.projection_head.*` and `module.prototypes.*`."""

from __future__ import annotations

from ._common import prefixed_converter

CONVERTER = prefixed_converter(
    "swav",
    "SwAV / DeepCluster-v2 / SeLa-v2 (module.conv1.*, module.projection_head.*, module.prototypes.*)",
    ("module.",),
    heads=("projection_head.", "prototypes."),
)
