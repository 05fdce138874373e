"""lightly's ImageNet ViT benchmarks (benchmarks/imagenet/vitb16/*.py): Lightning checkpoints whose networks hold a
timm `VisionTransformer`, inside lightly's `MaskedVisionTransformerTIMM` (as its `vit`, beside a `mask_token`) or bare
(LeJEPA). The network they evaluate is `teacher_backbone` (iBOT) or `backbone` (DINO's teacher, MAE's encoder,
LeJEPA's ViT), beside a student copy, projection heads, a decoder and the online classifier; a timm ViT's own
classifier `head` (built with 1000 classes and never trained) is dropped."""

from __future__ import annotations

from torch import Tensor

from ._common import Converter, StateDict
from ._vit import finalize_vit, vit_prefix, vit_under

# The evaluated network's ViT, in the order tried: DINO's `student_backbone.vit.` holds no `backbone.vit.` prefix, and
# a wrapped ViT has no `backbone.cls_token`.
_PREFIXES = ("teacher_backbone.vit.", "backbone.vit.", "backbone.")


def convert(state_dict: StateDict) -> dict[str, Tensor]:
    return finalize_vit(vit_under(state_dict, _PREFIXES, where="lightly_vit"), where="lightly_vit")


CONVERTER = Converter(
    name="lightly_vit",
    description="lightly ViT benchmark .ckpt (teacher_backbone.vit.*, backbone.vit.* or backbone.* beside "
    "student_backbone.*, projection heads, online_classifier.*)",
    detect=lambda state_dict: vit_prefix(state_dict, _PREFIXES) is not None,
    convert=convert,
)
