"""facebookresearch/simsiam `checkpoint_*.pth.tar`: a torchvision ResNet encoder, its `fc` the projector."""

from __future__ import annotations

from torch import Tensor

from ._common import Converter, StateDict, convert_prefixed, find_prefix

# `module.` comes from DistributedDataParallel; single-GPU runs save without it (simsiam issue #8).
_PREFIXES = ("module.encoder.", "encoder.")


def detect(state_dict: StateDict) -> bool:
    return find_prefix(state_dict, _PREFIXES) is not None


def convert(state_dict: StateDict) -> dict[str, Tensor]:
    return convert_prefixed(state_dict, _PREFIXES, "official_simsiam")


CONVERTER = Converter(
    name="official_simsiam",
    description="facebookresearch/simsiam checkpoint (module.encoder.*, projector in encoder.fc)",
    detect=detect,
    convert=convert,
)
