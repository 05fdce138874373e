"""facebookresearch/simsiam `checkpoint_*.pth.tar`: a torchvision ResNet encoder, its `fc` the projector."""

from __future__ import annotations

from ._common import prefixed_converter

# `module.` comes from DistributedDataParallel; single-GPU runs save without it (simsiam issue #8).
CONVERTER = prefixed_converter(
    "official_simsiam",
    "facebookresearch/simsiam checkpoint (module.encoder.*, projector in encoder.fc)",
    ("module.encoder.", "encoder."),
)
