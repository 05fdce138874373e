"""Export a timm/torchvision ResNet backbone as a Detectron2 weights pickle, with MoCo's renames."""

from __future__ import annotations

import os
import pickle
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from simsiam_zoo.errors import ConversionError, listed

from .._io import atomic_write, check_output_file
from ._common import unexpected_keys


def _rename(key: str) -> str:
    stage, _, rest = key.partition(".")
    key = f"res{int(stage[len('layer') :]) + 1}.{rest}" if stage.startswith("layer") else f"stem.{key}"
    key = re.sub(r"\bbn(\d)\.", r"conv\1.norm.", key)
    return key.replace("downsample.0.", "shortcut.").replace("downsample.1.", "shortcut.norm.")


def to_detectron2(state_dict: Mapping[str, Tensor]) -> dict[str, np.ndarray]:
    """Detectron2 names (stem.conv1.norm.*, res2..res5, shortcut) to fp32 arrays; BN counters are dropped."""
    unknown = unexpected_keys(state_dict)
    if unknown:
        raise ConversionError(
            f"not a ResNet backbone, which is all detectron2 builds; unexpected keys: {listed(unknown, limit=8)}"
        )
    return {
        _rename(key): value.detach().to(device="cpu", dtype=torch.float32).numpy()
        for key, value in state_dict.items()
        if not key.endswith("num_batches_tracked")
    }


AUTHOR_PREFIX = "simsiam-zoo"


def write_detectron2_pickle(
    state_dict: Mapping[str, Tensor],
    out_path: str | os.PathLike[str],
    *,
    author: str,
    inputs: Iterable[str | os.PathLike[str] | None] = (),
    overwrite: bool = False,
) -> None:
    """Atomically write `{"model", "__author__", "matching_heuristics"}` for Detectron2's checkpointer. An existing
    file is replaced only when this project wrote it (an author that starts with `AUTHOR_PREFIX`, as the CLI's) or
    with `overwrite`, never when it is one of `inputs` or lies inside one."""
    out_path = check_detectron2_output(out_path, inputs=inputs, overwrite=overwrite)
    payload = {"model": to_detectron2(state_dict), "__author__": author, "matching_heuristics": True}
    atomic_write(out_path, lambda f: pickle.dump(payload, f))


def check_detectron2_output(
    out_path: str | os.PathLike[str], *, inputs: Iterable[str | os.PathLike[str] | None] = (), overwrite: bool = False
) -> Path:
    """`out_path` as an absolute path if `write_detectron2_pickle` may write there, else OutputRefused saying why:
    a caller checks before loading the model."""
    return check_output_file(out_path, ours=_written_here, inputs=inputs, overwrite=overwrite)


def _written_here(path: Path) -> bool:
    """Whether `path` is a pickle `write_detectron2_pickle` wrote: its last bytes are the opcodes that end that dict,
    `__author__` set to a string starting with `AUTHOR_PREFIX`, then `matching_heuristics` set to True, then STOP.
    Read as bytes, never unpickled, and only the last 4 KB (the file may be someone's multi-GB pickle); a frame
    boundary inside those opcodes (rare) reads as not ours, which refuses rather than replaces."""
    with open(path, "rb") as f:
        head = f.read(1)
        f.seek(max(0, path.stat().st_size - 4096))
        tail = f.read()
    return head == b"\x80" and _OWN_ENDING.search(tail) is not None


# SHORT_BINUNICODE "__author__", MEMOIZE, a SHORT_BINUNICODE or BINUNICODE starting with AUTHOR_PREFIX, MEMOIZE,
# "matching_heuristics", MEMOIZE, NEWTRUE, SETITEMS, STOP: the top-level dict's last items, as pickle.dump ends it.
_OWN_ENDING = re.compile(
    rb"\x8c\n__author__\x94(?:\x8c.|X.{4})"
    + re.escape(AUTHOR_PREFIX.encode())
    + rb".*?\x94\x8c\x13matching_heuristics\x94\x88u\.\Z",
    re.DOTALL,
)
