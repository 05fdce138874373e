"""The project's digests: of a file's bytes (sha256, and the md5 some sources publish), of a model's weights
(whatever file, name or wrapper they came through) and of the network they are built into."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

_BLOCK = 1 << 20


@dataclass(frozen=True)
class Digests:
    sha256: str
    md5: str


def _hashed(path: Path, *digests: Any) -> None:
    """Feed the file to every one of `digests`, in one read."""
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_BLOCK), b""):
            for digest in digests:
                digest.update(block)


def file_digests(path: Path) -> Digests:
    """sha256 and md5 of the file, in one read."""
    sha256, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    _hashed(path, sha256, md5)
    return Digests(sha256.hexdigest(), md5.hexdigest())


def sha256_file(path: Path) -> str:
    return sha256_of(path).hexdigest()


def sha256_of(path: Path) -> Any:
    """A sha256 hasher fed the file, to go on with bytes appended to it (a resumed download)."""
    digest = hashlib.sha256()
    _hashed(path, digest)
    return digest


def git_blob_sha1(path: Path) -> str:
    """git's name of the file's bytes (the sha1 of `blob SIZE`, a NUL byte, then them): the Hub's for a file that
    is not in LFS."""
    digest = hashlib.sha1(f"blob {path.stat().st_size}\0".encode(), usedforsecurity=False)
    _hashed(path, digest)
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


def network_sha256(model: nn.Module) -> str:
    """sha256 of the network's layers as printed, in order (each module without children and the settings its
    repr shows, object addresses left out): the same weights in another network (a max pool where the average was)
    embed otherwise. Modules that only hold others are left out, as `weights_sha256` leaves out names: a wrapper
    (DistributedDataParallel, torch.compile's, one of the caller's own) is the same network."""
    layers = (repr(module) for module in model.modules() if next(module.children(), None) is None)
    return hashlib.sha256(re.sub(r" at 0x[0-9a-f]+", "", "\n".join(layers)).encode()).hexdigest()


# Settings that change what the same weights compute and that no layer's repr shows, held by modules that hold
# others: an attention's heads, a ViT's pooling. Named, not all of a module's attributes: timm adds attributes in
# its releases (`in_chans` to ResNet in 1.0.2x), and build- or training-time ones (`drop_rate`) change no embedding;
# either made every store refuse to resume.
_UNPRINTED_SETTINGS = ("num_heads", "global_pool")


def network_attributes_sha256(model: nn.Module) -> str:
    """sha256 of the settings the layers' reprs leave out (`_UNPRINTED_SETTINGS`: a ViT's `global_pool`, its
    attention's `num_heads`) where modules holding others keep them, in order, names left out as `network_sha256`
    leaves them out (a wrapper, holding none of them, is the same network)."""
    held = (module for module in model.modules() if next(module.children(), None) is not None)
    settings = (_settings_of(module) for module in held)
    return hashlib.sha256("\n".join(line for line in settings if line).encode()).hexdigest()


def _settings_of(module: nn.Module) -> str:
    return ", ".join(
        f"{name}={getattr(module, name)!r}"
        for name in _UNPRINTED_SETTINGS
        if isinstance(getattr(module, name, None), (int, str)) and name in vars(module)
    )
