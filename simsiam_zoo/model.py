"""SimSiam (Chen & He, 2021) and its BYOL-style momentum variant, as small as the reference.

Layer lists follow the paper (section 4 and Table 3) and the official `simsiam/builder.py`:
projection MLP = fc-BN-ReLU x (n-1), fc-BN (BN without affine on the output);
prediction MLP = fc(d->d/4)-BN-ReLU-fc(d/4->d), BN on the hidden layer only.
"""

from __future__ import annotations

import contextlib
import copy
import difflib
import itertools
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import timm
import torch
from timm.models import get_pretrained_cfg
from torch import nn

from simsiam_zoo.choices import BNPlacement, PredictorKind
from simsiam_zoo.errors import RecipeError, type_name


def _fc_block(in_dim: int, out_dim: int, *, bn: bool, relu: bool, affine: bool = True) -> list[nn.Module]:
    # A bias before BN is redundant (BN subtracts the mean); the official code freezes it instead.
    layers: list[nn.Module] = [nn.Linear(in_dim, out_dim, bias=not bn)]
    if bn:
        layers.append(nn.BatchNorm1d(out_dim, affine=affine))
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return layers


def projection_mlp(
    in_dim: int, hidden_dim: int, out_dim: int, *, num_layers: int = 3, bn_placement: BNPlacement = "default"
) -> nn.Sequential:
    if num_layers < 1:
        raise ValueError(f"projector needs at least one layer, got num_layers={num_layers}")
    hidden_bn = bn_placement != "none"
    output_bn = bn_placement in ("default", "all")
    layers: list[nn.Module] = []
    dims = [in_dim] + [hidden_dim] * (num_layers - 1)
    for a, b in zip(dims[:-1], dims[1:], strict=True):
        layers += _fc_block(a, b, bn=hidden_bn, relu=True)
    layers += _fc_block(dims[-1], out_dim, bn=output_bn, relu=False, affine=False)
    return nn.Sequential(*layers)


def prediction_mlp(dim: int, hidden_dim: int, *, bn_placement: BNPlacement = "default") -> nn.Sequential:
    hidden_bn = bn_placement != "none"
    output_bn = bn_placement == "all"
    return nn.Sequential(
        *_fc_block(dim, hidden_dim, bn=hidden_bn, relu=True),
        *_fc_block(hidden_dim, dim, bn=output_bn, relu=False),
    )


def check_arch(arch: str, image_size: int) -> None:
    """A RecipeError naming `model.arch` (and the closest names) unless timm has that architecture and it takes
    `image_size` px images (a ViT or Swin is built for one size): said before a run claims its folder, not as
    timm's error once it has."""
    if ":" in arch or not timm.is_model(arch):
        close = difflib.get_close_matches(arch, timm.list_models(), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise RecipeError(f"model.arch {arch!r} is not a timm architecture{hint}")
    config = get_pretrained_cfg(arch)
    if config is not None and config.fixed_input_size and config.input_size[-1] != image_size:
        raise RecipeError(
            f"model.arch {arch!r} takes only {config.input_size[-1]} px images (timm's fixed input size); "
            f"data.image_size is {image_size}"
        )


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Random draws (a network's init) seeded by `seed`, the caller's generators left as they were: the CPU's is
    seeded in a fork, and no CUDA generator is touched (torch.manual_seed reseeds them all, which no fork restores;
    a notebook's draws after `train` were the same whatever seed it had set)."""
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)
        yield


def check_embedding_model(model: Any, *, name: str = "model", bf16: bool = False) -> None:
    """A float32 module with its weights (or bfloat16 ones, under `bf16` autocast), said before any work: a float16
    one failed in torch's conv (after the output folder was claimed), one on the meta device in the weights' digest,
    None in an AttributeError."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"{name} must be a torch.nn.Module, got {model!r} ({type_name(model)})")
    if any(tensor.is_meta for tensor in itertools.chain(model.parameters(), model.buffers())):
        raise ValueError(f"{name} has tensors on the meta device, without data: load its weights first")
    taken = (torch.float32, torch.bfloat16) if bf16 else (torch.float32,)
    other = sorted({str(p.dtype) for p in model.parameters() if p.is_floating_point() and p.dtype not in taken})
    if other:
        raise ValueError(
            f"{name} has {', '.join(other)} parameters; give it in float32 (precision='bf16' runs the forward pass in "
            "bfloat16)"
        )


@contextlib.contextmanager
def evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """`model` in eval mode for the block, then each of its modules back in its own mode: `model.train(mode)`
    set every module to the top one's (a frozen BatchNorm inside a training model came back training)."""
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for module, training in modes:
            module.training = training


def untrained_backbone(
    arch: str, *, zero_init_last: bool = True, model_args: Mapping[str, Any] | None = None
) -> nn.Module:
    """A randomly initialised timm backbone without classifier (built with `model_args`), to train or to be a
    baseline. `zero_init_last` (the paper code's `zero_init_residual`) zeroes the last BN of each residual branch, as
    training starts from; False is the standard random init, every branch live, the fair random-init baseline (the
    zeroed network is nearly constant, a degenerate one for kNN or a linear probe).
    """
    model_args = model_args or {}
    try:
        return timm.create_model(arch, pretrained=False, num_classes=0, zero_init_last=zero_init_last, **model_args)
    except TypeError:  # an architecture without that option has no zeroed branches either
        return timm.create_model(arch, pretrained=False, num_classes=0, **model_args)


class SiameseOutput(NamedTuple):
    p1: torch.Tensor
    p2: torch.Tensor
    z1: torch.Tensor  # projection of view 1 (the target encoder's one in the momentum variant)
    z2: torch.Tensor


@dataclass(frozen=True)
class HeadConfig:
    dim: int = 2048
    pred_dim: int = 512
    projector_layers: int = 3
    predictor: PredictorKind = "mlp"
    bn_placement: BNPlacement = "default"


def pooled_width(backbone: nn.Module) -> int:
    """The width of what a timm backbone without classifier gives: its `head_hidden_size` where a layer follows the
    pooling (MobileNetV3's and GhostNet's conv_head: 1024 where `num_features` says 288), else `num_features`."""
    return int(getattr(backbone, "head_hidden_size", None) or backbone.num_features)


class SimSiam(nn.Module):
    """f = projector(backbone(x)), h = predictor. With `momentum` set it is BYOL's momentum-target variant."""

    def __init__(self, backbone: nn.Module, heads: HeadConfig, *, momentum: float | None = None):
        super().__init__()
        feature_dim = pooled_width(backbone)
        self.backbone = backbone
        # The paper's projector hidden width equals the backbone width (2048 for ResNet-50).
        self.projector = projection_mlp(
            feature_dim, feature_dim, heads.dim, num_layers=heads.projector_layers, bn_placement=heads.bn_placement
        )
        if heads.predictor == "identity":
            self.predictor: nn.Module = nn.Identity()
        else:
            self.predictor = prediction_mlp(heads.dim, heads.pred_dim, bn_placement=heads.bn_placement)
            if heads.predictor == "fixed_random":
                self.predictor.requires_grad_(False)
        self.momentum = momentum
        self.target: nn.Module | None = None
        if momentum is not None:
            self.target = copy.deepcopy(nn.Sequential(self.backbone, self.projector)).requires_grad_(False)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.projector(self.backbone(x))

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> SiameseOutput:
        # Views go through separately so BN statistics are per view, as in the reference code.
        z1, z2 = self.encode(x1), self.encode(x2)
        p1, p2 = self.predictor(z1), self.predictor(z2)
        if self.target is not None:
            with torch.no_grad():
                z1, z2 = self.target(x1), self.target(x2)
        return SiameseOutput(p1, p2, z1, z2)

    @torch.no_grad()
    def update_target(self, progress: float) -> None:
        """EMA step of the target encoder; BYOL's momentum rises from `momentum` to 1 on a cosine."""
        if self.target is None or self.momentum is None:
            return
        tau = 1 - (1 - self.momentum) * (math.cos(math.pi * progress) + 1) / 2
        online = nn.Sequential(self.backbone, self.projector)
        for target_param, param in zip(self.target.parameters(), online.parameters(), strict=True):
            target_param.lerp_(param.detach(), 1 - tau)
        for target_buffer, buffer in zip(self.target.buffers(), online.buffers(), strict=True):
            target_buffer.copy_(buffer)
