"""facebookresearch/ijepa pre-training checkpoints (@52c1ae9): `save_checkpoint` (src/train.py:248-260) saves
`{'encoder', 'predictor', 'target_encoder', 'opt', 'scaler', 'epoch', 'loss', 'batch_size', 'world_size', 'lr'}`,
each network's state dict as DDP wraps it (train.py:221-223: `module.`). Both encoders are
src/models/vision_transformer.py's `VisionTransformer` (:329-425): timm's names without a class token, its fixed 2-D
sin-cos `pos_embed` of the patches only kept as a parameter (:362-366), the final `norm` applied to every token
(:422-423); timm's `_gap_` ViTs (class_token False, global_pool 'avg', no fc_norm) are that network, pooled by the
mean of the normed patch tokens. The predictor (`VisionTransformerPredictor`, :220-326) is not."""

from __future__ import annotations

from torch import Tensor

from simsiam_zoo.errors import ConversionError, listed

from ._common import Converter, StateDict, strip_prefix
from ._vit import finalize_vit, has_gap_vit

# The target encoder (the EMA of the context encoder, train.py:332-336) is the one the I-JEPA paper evaluates
# (arXiv:2301.08243); timm's checkpoint_filter_fn reads `encoder`, the context encoder, instead
# (timm/models/vision_transformer.py:1408-1411@v1.0.16). Without DDP's prefix too, as a single-process save has it.
_PREFIXES = ("target_encoder.module.", "target_encoder.")


def _prefix(state_dict: StateDict) -> str | None:
    return next((prefix for prefix in _PREFIXES if has_gap_vit(state_dict, prefix)), None)


def convert(state_dict: StateDict) -> dict[str, Tensor]:
    prefix = _prefix(state_dict)
    if prefix is None:
        where, keys = " or ".join(_PREFIXES), listed(state_dict, limit=8)
        raise ConversionError(f"ijepa_vit: no ViT without a class token under {where}; keys: {keys}")
    return finalize_vit(strip_prefix(state_dict, prefix), where="ijepa_vit", class_token=False)


CONVERTER = Converter(
    name="ijepa_vit",
    description="I-JEPA checkpoint (target_encoder.module.*, a ViT without a class token, beside encoder.module.*, "
    "predictor.module.* and the optimizer's state); the target encoder",
    detect=lambda state_dict: _prefix(state_dict) is not None,
    convert=convert,
)
