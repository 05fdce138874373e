"""DINO ResNet-50 full training checkpoint: the teacher's backbone. (The released backbone-only file has plain
torchvision names: the `torchvision` converter reads it.)"""

from __future__ import annotations

from ._common import prefixed_converter

# The teacher is the network DINO evaluates; it is DDP-wrapped when it has BatchNorm, as ResNets do.
CONVERTER = prefixed_converter(
    "dino",
    "DINO full checkpoint (teacher.module.backbone.*, teacher.module.head.*, student.*)",
    ("teacher.module.backbone.", "teacher.backbone."),
)
