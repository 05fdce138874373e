"""lightly, in its two layouts: the tutorials' `backbone = nn.Sequential(*list(resnet.children())[:-1])`, so ResNet
parts are numbered (`backbone.0.*`, `backbone.4.*`); and the ImageNet benchmarks' Lightning checkpoints, a
torchvision ResNet with `fc = Identity()` under `backbone.` beside lightly's heads (`projection_head.*`,
`online_classifier.*`, and a `teacher_backbone.*` / `key_backbone.*` momentum copy)."""

from __future__ import annotations

from torch import Tensor

from simsiam_zoo.errors import listed

from ._common import (
    ConversionError,
    Converter,
    StateDict,
    convert_prefixed,
    finalize_backbone,
    find_prefix,
    strip_prefix,
)

# `resnet18_parameters` is what lightly's tutorials save `model.backbone.state_dict()` under.
_PREFIXES = ("backbone.", "resnet18_parameters.")
# Children of a torchvision ResNet; 2 (relu), 3 (maxpool) and 8 (avgpool) hold no weights.
_CHILDREN = {"0": "conv1", "1": "bn1", "4": "layer1", "5": "layer2", "6": "layer3", "7": "layer4"}
# Modules only lightly's benchmark models have; they tell them from other `backbone.*` checkpoints.
BENCHMARK_HEADS = ("projection_head.", "online_classifier.", "prediction_head.", "teacher_backbone.", "key_backbone.")


def _sequential_prefix(state_dict: StateDict) -> str | None:
    prefix = find_prefix(state_dict, _PREFIXES, anchor="0.weight")
    return prefix if prefix is not None and f"{prefix}4.0.conv1.weight" in state_dict else None


def _is_benchmark(state_dict: StateDict) -> bool:
    return "backbone.conv1.weight" in state_dict and any(key.startswith(BENCHMARK_HEADS) for key in state_dict)


def detect(state_dict: StateDict) -> bool:
    return _sequential_prefix(state_dict) is not None or _is_benchmark(state_dict)


def convert(state_dict: StateDict) -> dict[str, Tensor]:
    if _is_benchmark(state_dict):
        return convert_prefixed(state_dict, ("backbone.",), "lightly")
    prefix = _sequential_prefix(state_dict)
    if prefix is None:
        raise ConversionError(
            f"lightly: no backbone.0.* with backbone.4.*, nor backbone.conv1.* beside lightly's "
            f"heads; keys: {listed(state_dict, limit=8)}"
        )
    renamed = {}
    for key, value in strip_prefix(state_dict, prefix).items():
        index, _, rest = key.partition(".")
        renamed[f"{_CHILDREN.get(index, index)}.{rest}"] = value
    return finalize_backbone(renamed)


CONVERTER = Converter(
    name="lightly",
    description="lightly model (backbone.0.*/backbone.4.* Sequential, or a benchmark .ckpt: backbone.* + "
    "projection_head.*)",
    detect=detect,
    convert=convert,
)
