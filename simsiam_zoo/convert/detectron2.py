"""Export a timm/torchvision ResNet backbone as a Detectron2 weights pickle, with MoCo's renames."""

from __future__ import annotations

import os
import pickle
import pickletools
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, BinaryIO

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
    """Whether `path` is a pickle this module wrote: a dict whose `__author__` is a string that starts with
    `AUTHOR_PREFIX`. Read without unpickling: its opcodes are walked, and nothing in the file is run or built."""
    try:
        with open(path, "rb") as f:
            top = _top_level_object(f)
    except (ValueError, IndexError):  # not a pickle, or a malformed one: pickletools' and the stack's errors
        return False
    author = top.get("__author__") if isinstance(top, dict) else None
    return isinstance(author, str) and author.startswith(AUTHOR_PREFIX)


_MARK = object()
_MEMO_PUTS = {"PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"}
_MEMO_GETS = {"GET", "BINGET", "LONG_BINGET"}


def _top_level_object(pickled: BinaryIO) -> Any:
    """The object a pickle stream builds, traced by the opcodes' stack effects: strings and dicts of strings as they
    are, every other object (arrays, globals, numbers) as None, so no class is looked up or called."""
    stack: list[Any] = []
    memo: dict[int, Any] = {}
    for opcode, arg, _ in pickletools.genops(pickled):
        if opcode.name == "STOP":
            return stack.pop()
        if opcode.name in _MEMO_PUTS:
            memo[len(memo) if arg is None else arg] = stack[-1]
            continue
        popped = _pop(stack, opcode.stack_before)
        if opcode.name in _MEMO_GETS:
            stack.append(memo.get(arg))
        elif opcode.name == "EMPTY_DICT":
            stack.append({})
        elif opcode.name in ("SETITEM", "SETITEMS"):
            target, *items = popped
            if isinstance(target, dict):
                target.update(
                    (key, value) for key, value in zip(items[::2], items[1::2], strict=True) if isinstance(key, str)
                )
            stack.append(target)
        elif opcode.stack_after == [pickletools.pyunicode]:
            stack.append(arg)
        else:
            stack.extend(_MARK if kind is pickletools.markobject else None for kind in opcode.stack_after)
    raise ValueError("pickle ends before its STOP")


def _pop(stack: list[Any], before: list[pickletools.StackObject]) -> list[Any]:
    """The objects an opcode takes off `stack`: as many as `before` names, or for an opcode of a mark, the objects
    under the last mark it needs and every one above that mark (the mark itself left out)."""
    count = len(before)
    if pickletools.markobject in before:
        last_mark = len(stack) - 1 - stack[::-1].index(_MARK)  # ValueError when there is none
        count = len(stack) - last_mark + before.index(pickletools.markobject)
    if count > len(stack):
        raise IndexError("pickle stack underflow")
    popped = stack[len(stack) - count :]
    del stack[len(stack) - count :]
    return [item for item in popped if item is not _MARK]
