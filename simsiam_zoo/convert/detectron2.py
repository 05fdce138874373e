"""Export a timm/torchvision ResNet backbone as a Detectron2 weights pickle, with MoCo's renames."""

from __future__ import annotations

import os
import pickle
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .._io import atomic_write
from ._common import ConversionError, sample_keys, unexpected_keys


def _rename(key: str) -> str:
    stage, _, rest = key.partition(".")
    key = f"res{int(stage[len('layer') :]) + 1}.{rest}" if stage.startswith("layer") else f"stem.{key}"
    key = re.sub(r"\bbn(\d)\.", r"conv\1.norm.", key)
    return key.replace("downsample.0.", "shortcut.").replace("downsample.1.", "shortcut.norm.")


def to_detectron2(state_dict: Mapping[str, Tensor]) -> dict[str, np.ndarray]:
    """Detectron2 names (stem.conv1.norm.*, res2..res5, shortcut) to fp32 arrays; BN counters are dropped."""
    unknown = unexpected_keys(state_dict)
    if unknown:
        raise ConversionError(f"not a converted ResNet backbone; unexpected keys: {sample_keys(unknown)}")
    return {
        _rename(key): value.detach().to(device="cpu", dtype=torch.float32).numpy()
        for key, value in state_dict.items()
        if not key.endswith("num_batches_tracked")
    }


def write_detectron2_pickle(
    state_dict: Mapping[str, Tensor], out_path: str | os.PathLike[str], *, author: str
) -> None:
    """Atomically write `{"model", "__author__", "matching_heuristics"}` for Detectron2's checkpointer."""
    payload = {"model": to_detectron2(state_dict), "__author__": author, "matching_heuristics": True}
    atomic_write(Path(out_path), lambda f: pickle.dump(payload, f))
