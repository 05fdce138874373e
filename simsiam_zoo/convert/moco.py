"""facebookresearch/moco (v1/v2: `encoder_q`) and moco-v3 ResNet (`base_encoder`) pre-training checkpoints."""

from __future__ import annotations

from torch import Tensor

from ._common import Converter, StateDict, convert_prefixed, find_prefix

# The query / base encoder is the one the papers evaluate; encoder_k and momentum_encoder are EMA copies.
_PREFIXES = ("module.encoder_q.", "encoder_q.", "module.base_encoder.", "base_encoder.")


def detect(state_dict: StateDict) -> bool:
    return find_prefix(state_dict, _PREFIXES) is not None


def convert(state_dict: StateDict) -> dict[str, Tensor]:
    return convert_prefixed(state_dict, _PREFIXES, "moco")


CONVERTER = Converter(
    name="moco",
    description="MoCo v1/v2 (module.encoder_q.*) or MoCo v3 ResNet (module.base_encoder.*) checkpoint",
    detect=detect,
    convert=convert,
)
