"""Checkpoint files (safetensors or torch, read by simsiam_zoo.checkpoint) flattened to one tensor dict."""

from __future__ import annotations

import itertools
import os
import shlex
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from torch import Tensor

from simsiam_zoo._io import refuse_special_file
from simsiam_zoo.checkpoint import read_safetensors, read_torch_checkpoint, training_checkpoint_from
from simsiam_zoo.errors import ConversionError

from ._common import unusable_tensors

TORCH_SUFFIXES = (".pth", ".pth.tar", ".pt", ".ckpt", ".bin", ".torch")
_CONTAINERS = ("state_dict", "model")


def flatten_checkpoint(checkpoint: Mapping[str, Any]) -> dict[str, Tensor]:
    """Unwrap the first `state_dict`/`model` container that holds tensors, then join nested dict keys with dots,
    keeping tensors only.

    Nested checkpoints (VISSL's `classy_state_dict`, DINO's `teacher`/`student`) thus become flat keys such as
    `teacher.module.backbone.conv1.weight` that the converters match by prefix. Flat dicts pass unchanged. A
    `state_dict` of hyper-parameters beside the `model` of weights is passed over.
    """
    for container in _CONTAINERS:
        if isinstance(checkpoint.get(container), Mapping):
            flat = _flattened(checkpoint[container])
            if flat:
                return flat
    return _flattened(checkpoint)


def _flattened(tree: Mapping[Any, Any]) -> dict[str, Tensor]:
    flat: dict[str, Tensor] = {}
    _flatten_into(tree, "", flat, ancestors=(id(tree),), visits=itertools.count(1))
    return flat


# Far beyond any saved model (a ViT-g with its optimizer state is some thousands of dicts and tensors).
_MAX_NESTING, _MAX_VISITS = 32, 1_000_000


def _flatten_into(
    tree: Mapping[Any, Any], prefix: str, out: dict[str, Tensor], *, ancestors: tuple[int, ...], visits: Iterator[int]
) -> None:
    # Non-tensor leaves (epoch, hyper-parameters, optimizer param groups) carry no weights. The bounds are for
    # untrusted files: a few KB whose dicts each hold the next one twice unfold into 2**depth keys, a dict that
    # holds itself without end. (A dict held twice, such as `ema` saved as the very `model`, is not a cycle.)
    for key, value in tree.items():
        if next(visits) > _MAX_VISITS:
            raise ConversionError(f"more than {_MAX_VISITS:,} dicts and tensors; not a checkpoint of weights")
        if isinstance(value, Tensor):
            name = f"{prefix}{key}"
            # `conv1.weight` beside `conv1: {weight}` (or a key 1 beside "1"): the order of the keys decided which one
            # a converter got. One tensor held under both names is no conflict.
            if out.setdefault(name, value) is not value:
                raise ConversionError(
                    f"{name}: appears twice, holding two different tensors; not a checkpoint of weights"
                )
        elif isinstance(value, Mapping):
            if id(value) in ancestors or len(ancestors) >= _MAX_NESTING:
                where = "holds itself" if id(value) in ancestors else f"nests dicts more than {_MAX_NESTING} deep"
                raise ConversionError(f"{prefix}{key}: {where}; not a checkpoint of weights")
            _flatten_into(value, f"{prefix}{key}.", out, ancestors=(*ancestors, id(value)), visits=visits)


def load_checkpoint_file(path: str | os.PathLike[str]) -> dict[str, Tensor]:
    """Read a `.safetensors` or torch checkpoint on CPU and return its flattened tensors."""
    path = Path(path)
    if path.is_dir():
        raise ConversionError(f"{path}: a folder, not a checkpoint file")
    refuse_special_file(path, ConversionError)
    if not path.is_file():
        raise ConversionError(f"{path}: no such file")
    name = path.name.lower()
    if name.endswith(".safetensors"):
        checkpoint = read_safetensors(path, error=ConversionError)
    elif name.endswith(TORCH_SUFFIXES):
        checkpoint = read_torch_checkpoint(path)
        _refuse_own(path, checkpoint)
    else:
        expected = ", ".join((".safetensors", *TORCH_SUFFIXES))
        raise ConversionError(f"{path}: unsupported file type; expected one of {expected}")
    return checkpoint_tensors(checkpoint, path)


def checkpoint_tensors(checkpoint: Any, path: str | os.PathLike[str]) -> dict[str, Tensor]:
    """The flattened tensors of a checkpoint read from `path`; a ConversionError naming the file where it is no dict
    (a list, a tensor), holds no tensors, or holds tensors that cannot be weights."""
    if not isinstance(checkpoint, Mapping):
        raise ConversionError(f"{path}: expected a dict of tensors, found {type(checkpoint).__name__}")
    try:
        flat = flatten_checkpoint(checkpoint)
    except ConversionError as error:
        raise ConversionError(f"{path}: {error}") from None
    if not flat:
        raise ConversionError(f"{path}: contains no tensors")
    unusual = unusable_tensors(flat)
    if unusual:
        raise ConversionError(f"{path}: tensors that cannot be weights: {unusual}")
    return flat


def _refuse_own(path: Path, checkpoint: Any) -> None:
    """This project's own training checkpoint is exported, not converted: a conversion took it for solo-learn's and
    wrote a guessed 224 px preprocessing and an ImageNet card for a run on other images."""
    advice = {
        "pretraining": f"export it (`simsiam-zoo export {shlex.quote(str(path))} OUT --name NAME`): its recipe "
        "gives the preprocessing and the card",
        # A fine-tune's checkpoint is its resume file: the finished run writes the hub folder itself.
        "finetune": "the fine-tune writes its hub folder to its --out when it ends (rerun its command to resume it)",
    }
    for kind, what_to_do in advice.items():
        if training_checkpoint_from(checkpoint, kind=kind, where=str(path)) is not None:
            raise ConversionError(f"{path}: a {kind} checkpoint of simsiam-zoo, not another project's; {what_to_do}")
