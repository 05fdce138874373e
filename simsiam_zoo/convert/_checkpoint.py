"""Reading checkpoint files without executing pickled code, and flattening them to one tensor dict."""

from __future__ import annotations

import argparse
import os
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import Tensor

from ._common import ConversionError

TORCH_SUFFIXES = (".pth", ".pth.tar", ".pt", ".ckpt", ".bin", ".torch")
_CONTAINERS = ("state_dict", "model")


def flatten_checkpoint(checkpoint: Mapping[str, Any]) -> dict[str, Tensor]:
    """Unwrap a `state_dict`/`model` container, then join nested dict keys with dots, keeping tensors only.

    Nested checkpoints (VISSL's `classy_state_dict`, DINO's `teacher`/`student`) thus become flat keys such as
    `teacher.module.backbone.conv1.weight` that the converters match by prefix. Flat dicts pass unchanged.
    """
    for container in _CONTAINERS:
        if isinstance(checkpoint.get(container), Mapping):
            checkpoint = checkpoint[container]
            break
    flat: dict[str, Tensor] = {}
    _flatten_into(checkpoint, "", flat)
    return flat


def _flatten_into(tree: Mapping[Any, Any], prefix: str, out: dict[str, Tensor]) -> None:
    # Non-tensor leaves (epoch, hyper-parameters, optimizer param groups) carry no weights.
    for key, value in tree.items():
        if isinstance(value, Tensor):
            out[f"{prefix}{key}"] = value
        elif isinstance(value, Mapping):
            _flatten_into(value, f"{prefix}{key}.", out)


def load_checkpoint_file(path: str | os.PathLike[str]) -> dict[str, Tensor]:
    """Read a `.safetensors` or torch checkpoint on CPU and return its flattened tensors."""
    path = Path(path)
    if not path.is_file():
        raise ConversionError(f"{path}: no such file")
    name = path.name.lower()
    if name.endswith(".safetensors"):
        checkpoint = _load_safetensors(path)
    elif name.endswith(TORCH_SUFFIXES):
        checkpoint = read_torch_checkpoint(path)
    else:
        expected = ", ".join((".safetensors", *TORCH_SUFFIXES))
        raise ConversionError(f"{path}: unsupported file type; expected one of {expected}")
    if not isinstance(checkpoint, Mapping):
        raise ConversionError(f"{path}: expected a dict of tensors, found {type(checkpoint).__name__}")
    flat = flatten_checkpoint(checkpoint)
    if not flat:
        raise ConversionError(f"{path}: contains no tensors")
    return flat


def _load_safetensors(path: Path) -> dict[str, Tensor]:
    try:
        return load_file(path, device="cpu")
    except (SafetensorError, OSError) as exc:
        raise ConversionError(f"{path}: cannot read safetensors file (truncated or corrupt?): {exc}") from exc


# Globals these checkpoints hold besides tensors, each rebuilt by something that only sets data. DINO and other
# argparse-driven trainers pickle their `args`; Lightning checkpoints (lightly's benchmarks) their hyper-parameters
# as an `AttributeDict`, a dict subclass, which is rebuilt as a plain dict without importing Lightning.
_DATA_GLOBALS: list[Any] = [
    argparse.Namespace,
    *((dict, name) for name in (
        "lightning_fabric.utilities.data.AttributeDict", "lightning.fabric.utilities.data.AttributeDict",
        "pytorch_lightning.utilities.parsing.AttributeDict", "lightning.pytorch.utilities.parsing.AttributeDict",
    )),
]


def read_torch_checkpoint(path: Path) -> Any:
    """`torch.load` restricted to tensors, plain containers and `_DATA_GLOBALS`; anything else is refused, never
    run, and the refusal names what the file would have imported."""
    try:
        with torch.serialization.safe_globals(_DATA_GLOBALS):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        try:
            names = torch.serialization.get_unsafe_globals_in_checkpoint(path)
        except Exception:  # an unreadable archive: the message then names no globals
            names = []
        listed = f" ({', '.join(names[:5])}{', ...' if len(names) > 5 else ''})" if names else ""
        raise ConversionError(
            f"{path}: refused to load: unpickling it needs arbitrary code{listed}: it holds objects other than "
            "tensors and plain containers, which could run anything. If you trust its source, re-save its "
            "state_dict elsewhere and convert that."
        ) from exc
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise ConversionError(f"{path}: cannot read torch checkpoint (truncated or corrupt?): {exc}") from exc
