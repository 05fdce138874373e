"""facebookresearch/moco-v3 ViT pre-training checkpoints: `main_moco.py` saves `{'epoch', 'arch', 'state_dict',
'optimizer', 'scaler'}`, the state dict of the DDP-wrapped `MoCo_ViT`: `module.base_encoder.*` (a timm
`VisionTransformer` subclass whose `pos_embed` is a fixed 2-D sin-cos one, kept as a parameter; its `head` the
3-layer projection MLP), `module.momentum_encoder.*` and `module.predictor.*`."""

from __future__ import annotations

from torch import Tensor

from ._common import Converter, StateDict
from ._vit import finalize_vit, vit_prefix, vit_under

# The base encoder is the one main_lincls.py evaluates; the momentum encoder is its EMA copy.
_PREFIXES = ("module.base_encoder.", "base_encoder.")
# The projector replaces the classifier as `head` (builder.py `MoCo_ViT._build_projector_and_predictor_mlps`);
# main_lincls.py keeps everything of the base encoder but `head`.
_HEAD = "head."


def convert(state_dict: StateDict) -> dict[str, Tensor]:
    encoder = vit_under(state_dict, _PREFIXES, where="mocov3_vit")
    return finalize_vit({k: v for k, v in encoder.items() if not k.startswith(_HEAD)}, where="mocov3_vit")


CONVERTER = Converter(
    name="mocov3_vit",
    description="MoCo v3 ViT checkpoint (module.base_encoder.* with its projector in head.*, "
    "module.momentum_encoder.*, module.predictor.*)",
    detect=lambda state_dict: vit_prefix(state_dict, _PREFIXES) is not None,
    convert=convert,
)
