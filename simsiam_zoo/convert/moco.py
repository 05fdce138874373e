"""facebookresearch/moco (v1/v2: `encoder_q`) and moco-v3 ResNet (`base_encoder`) pre-training checkpoints."""

from __future__ import annotations

from ._common import prefixed_converter

# The query / base encoder is the one the papers evaluate; encoder_k and momentum_encoder are EMA copies.
CONVERTER = prefixed_converter(
    "moco",
    "MoCo v1/v2 (module.encoder_q.*) or MoCo v3 ResNet (module.base_encoder.*) checkpoint",
    ("module.encoder_q.", "encoder_q.", "module.base_encoder.", "base_encoder."),
)
