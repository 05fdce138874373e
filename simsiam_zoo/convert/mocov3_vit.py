"""facebookresearch/moco-v3 ViT pre-training checkpoints: `main_moco.py` saves `{'epoch', 'arch', 'state_dict',
'optimizer', 'scaler'}`, the state dict of the DDP-wrapped `MoCo_ViT`: `module.base_encoder.*` (a timm
`VisionTransformer` subclass whose `pos_embed` is a fixed 2-D sin-cos one, kept as a parameter; its `head` the
3-layer projection MLP), `module.momentum_encoder.*` and `module.predictor.*`."""

from __future__ import annotations

from torch import Tensor

from simsiam_zoo.errors import listed

from ._common import ConversionError, Converter, StateDict, strip_prefix
from ._vit import finalize_vit, has_vit

# The base encoder is the one main_lincls.py evaluates; the momentum encoder is its EMA copy.
_PREFIXES = ("module.base_encoder.", "base_encoder.")
# The projector replaces the classifier as `head` (builder.py `MoCo_ViT._build_projector_and_predictor_mlps`);
# main_lincls.py keeps everything of the base encoder but `head`.
_HEAD = "head."


def _prefix(state_dict: StateDict) -> str | None:
    return next((prefix for prefix in _PREFIXES if has_vit(state_dict, prefix)), None)


def convert(state_dict: StateDict) -> dict[str, Tensor]:
    prefix = _prefix(state_dict)
    if prefix is None:
        raise ConversionError(f"mocov3_vit: no ViT under {' or '.join(_PREFIXES)}; keys: {listed(state_dict, limit=8)}")
    encoder = strip_prefix(state_dict, prefix)
    return finalize_vit({k: v for k, v in encoder.items() if not k.startswith(_HEAD)}, where="mocov3_vit")


CONVERTER = Converter(
    name="mocov3_vit",
    description="MoCo v3 ViT checkpoint (module.base_encoder.* with its projector in head.*, "
    "module.momentum_encoder.*, module.predictor.*)",
    detect=lambda state_dict: _prefix(state_dict) is not None,
    convert=convert,
)
