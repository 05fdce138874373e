"""The project's two digests: of a file's bytes (sha256, and the md5 some sources publish) and of a model's
weights (whatever file, name or wrapper they came through)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

_BLOCK = 1 << 20


@dataclass(frozen=True)
class Digests:
    sha256: str
    md5: str


def file_digests(path: Path) -> Digests:
    """sha256 and md5 of the file, in one read."""
    sha256, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_BLOCK), b""):
            sha256.update(block)
            md5.update(block)
    return Digests(sha256.hexdigest(), md5.hexdigest())


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def weights_sha256(model: nn.Module) -> str:
    """sha256 over the model's state dict in its order (dtypes, shapes, bytes; not the names, which a wrapper
    module changes): the same weights give the same digest whatever file, name or path they came from."""
    digest = hashlib.sha256()
    for tensor in model.state_dict().values():
        value = tensor.detach().cpu().contiguous()
        digest.update(f"{value.dtype}:{tuple(value.shape)};".encode())
        digest.update(value.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()
