"""A backbone's weights to a timm model, strictly: the one place a state dict becomes a network.

Every key problem (missing, unexpected, mis-shaped, not finite) is listed in one error; the ResNet depth is read
from the weights where nobody says it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import timm
import torch
from torch import nn

from simsiam_zoo.augment import Preprocessing
from simsiam_zoo.checkpoint import TrainingCheckpoint, is_integer_tensor, non_finite_keys
from simsiam_zoo.errors import HubFolderError, listed
from simsiam_zoo.hub.folder import check_architecture, check_model_args, shape_args
from simsiam_zoo.recipe import Recipe

Transform = Callable[[torch.Tensor], torch.Tensor]
# (blocks per stage, bottleneck?) -> timm architecture
_RESNETS = {
    ((2, 2, 2, 2), False): "resnet18",
    ((3, 4, 6, 3), False): "resnet34",
    ((3, 4, 6, 3), True): "resnet50",
    ((3, 4, 23, 3), True): "resnet101",
    ((3, 8, 36, 3), True): "resnet152",
}


@dataclass(frozen=True)
class LoadedBackbone:
    model: nn.Module
    transform: Transform
    preprocessing: Preprocessing
    arch: str
    source: str
    # Where the weights are published, so a model made from them can credit them: the Hub repo (a fine-tuned
    # card's `base_model`) and the card's licence fields (`license`, and for "other" `license_name`/`license_link`).
    hub_id: str | None = None
    license: Mapping[str, str] | None = None
    # The timm arguments the architecture is built with beyond its defaults (config.json's `model_args`).
    model_args: Mapping[str, Any] = field(default_factory=dict)


def infer_resnet_arch(state: Mapping[str, torch.Tensor], *, where: str) -> str:
    if "conv1.weight" not in state:
        raise HubFolderError(
            f"{where}: no conv1.weight: not a torchvision/timm ResNet backbone (keys: "
            f"{', '.join(list(state)[:5])}{', ...' if len(state) > 5 else ''})"
        )
    blocks = []
    for stage in range(1, 5):
        indices = {int(m.group(1)) for key in state if (m := re.match(rf"layer{stage}\.(\d+)\.", key))}
        blocks.append(len(indices))
    key = (tuple(blocks), "layer1.0.conv3.weight" in state)
    if key not in _RESNETS or state["conv1.weight"].shape[0] != 64:
        raise HubFolderError(f"{where}: cannot tell the architecture from the weights (blocks {blocks})")
    return _RESNETS[key]


def backbone_from_state(
    arch: str,
    state: Mapping[str, torch.Tensor],
    *,
    where: str,
    model_args: Mapping[str, Any] | None = None,
    num_classes: int = 0,
) -> nn.Module:
    """timm `arch` (built with `model_args`) without classifier, loaded strictly, with every key problem listed in
    the error. The weights of a classifier (`num_classes` above 0: a fine-tune's, timm's own) hold exactly the
    classifier timm builds for them, which is dropped."""
    check_architecture(arch, where=f"{where}: architecture")
    check_model_args(model_args or {}, where=where)
    if num_classes:
        state = _without_classifier(arch, state, model_args, num_classes=num_classes, where=where)
    if model_args:  # a config's `embed_dim: 100000` allocated (or `depth: 600` initialised) it all before the check
        with torch.device("meta"):
            _check_fits(_created(arch, model_args, where=where), state, arch=arch, where=where)
    model = _created(arch, model_args, where=where)
    _check_fits(model, state, arch=arch, where=where)
    not_finite = non_finite_keys(state)
    if not_finite:
        raise HubFolderError(f"{where}: weights are not finite (NaN or inf) in {not_finite}")
    model.load_state_dict(state, strict=True)
    if negative := _negative_variances(model):
        raise HubFolderError(f"{where}: negative BatchNorm variances in {negative}: every feature would be NaN")
    return model.eval()


def _negative_variances(model: nn.Module) -> str:
    """The running variances of normalisation layers below -eps (the first five, and how many more), or "": the
    square root of variance + eps makes every feature NaN (a rounding's -1e-7 over an eps of 1e-5 does not)."""
    names = [
        f"{name}.running_var"
        for name, module in model.named_modules()
        if isinstance(getattr(module, "running_var", None), torch.Tensor)
        and bool((module.running_var + getattr(module, "eps", 0.0) < 0).any())
    ]
    return listed(names, limit=5)


def _without_classifier(
    arch: str, state: Mapping[str, torch.Tensor], model_args: Mapping[str, Any] | None, *, num_classes: int, where: str
) -> dict[str, torch.Tensor]:
    """`state` less the classifier of `num_classes` that timm puts on `arch`, after checking that `state` is that
    whole classifier model (built on the meta device: no memory, no init); `state` as it is where it holds none
    of that classifier."""
    with torch.device("meta"):
        classifier = _created(arch, model_args, where=where, num_classes=num_classes)
        head = set(classifier.state_dict()) - set(_created(arch, model_args, where=where).state_dict())
    if not head & state.keys():  # a backbone's weights under a config naming its classes (timm loads it so)
        return dict(state)
    problems = weight_problems(classifier.state_dict(), state, reference="timm")
    if problems:
        raise HubFolderError(
            f"{where}: weights do not fit timm {arch!r} with a classifier of {num_classes} classes (the config's "
            f"num_classes): {'; '.join(problems)}"
        )
    return {key: value for key, value in state.items() if key not in head}


def _created(arch: str, model_args: Mapping[str, Any] | None, *, where: str, num_classes: int = 0) -> nn.Module:
    try:
        # The init's draws, which the weights then replace, are not the caller's: a notebook's next draw changed.
        with torch.random.fork_rng(devices=[]):
            return timm.create_model(arch, pretrained=False, num_classes=num_classes, **shape_args(model_args or {}))
    except TypeError as error:  # an argument the architecture does not take
        raise HubFolderError(f"{where}: timm {arch!r} cannot be built with model_args {model_args}: {error}") from None


def _check_fits(model: nn.Module, state: Mapping[str, torch.Tensor], *, arch: str, where: str) -> None:
    problems = weight_problems(model.state_dict(), state, reference="timm")
    if problems:
        raise HubFolderError(f"{where}: weights do not fit timm {arch!r}: {'; '.join(problems)}")


def weight_problems(
    expected: Mapping[str, torch.Tensor], state: Mapping[str, torch.Tensor], *, reference: str
) -> list[str]:
    """Every way `state` does not fit the network whose state dict is `expected` (named `reference` in the
    messages): missing, unexpected, mis-shaped and mistyped keys."""
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    mismatched = sorted(
        f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    )
    # load_state_dict would cast integer or bool weights to float, float64 to float32, and float or bool counters to
    # integers, without a word.
    mistyped = sorted(
        f"{k} {_described(state[k])} where {reference} has {_dtype(v)}"
        for k, v in expected.items()
        if k in state and _mistyped(state[k], v)
    )
    return [
        f"{label}: {listed(keys, limit=8)}"
        for label, keys in (
            ("missing keys", missing),
            ("unexpected keys", unexpected),
            ("wrong shapes", mismatched),
            ("wrong dtypes", mistyped),
        )
        if keys
    ]


def _mistyped(tensor: torch.Tensor, expected: torch.Tensor) -> bool:
    """Another dtype than `expected`'s (any integer one for an integer counter), or no dense tensor with data."""
    if tensor.layout != torch.strided or tensor.is_meta or tensor.is_quantized:
        return True
    return tensor.dtype != expected.dtype and not (is_integer_tensor(tensor) and is_integer_tensor(expected))


def _dtype(tensor: torch.Tensor) -> str:
    return str(tensor.dtype).removeprefix("torch.")


def _described(tensor: torch.Tensor) -> str:
    """The dtype, and a layout other than dense or a tensor without data."""
    if tensor.layout != torch.strided:
        return f"{_dtype(tensor)} ({str(tensor.layout).removeprefix('torch.')})"
    return f"{_dtype(tensor)} (meta, without data)" if tensor.is_meta else _dtype(tensor)


def preprocessing_from_recipe(recipe: Recipe) -> Preprocessing:
    data = recipe.data
    # Small-image recipes train on whole images, so evaluation does not crop either.
    crop_pct = 1.0 if data.augmentation == "small" else 0.875
    return Preprocessing(
        input_size=(3, data.image_size, data.image_size), crop_pct=crop_pct, mean=data.mean, std=data.std
    )


def backbone_from_training_checkpoint(checkpoint: TrainingCheckpoint) -> dict[str, torch.Tensor]:
    """The backbone's weights in a pretraining checkpoint (SimSiam's `backbone.*`)."""
    return {k.removeprefix("backbone."): v for k, v in checkpoint.model.items() if k.startswith("backbone.")}
