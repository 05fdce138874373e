"""Checkpoints built as each source's own save code builds them (its classes' names and nesting, its wrappers,
its extra heads), small enough for a test, with the network the source evaluates beside each: for the converter
tests and the zoo's download tests."""

from __future__ import annotations

import re
from functools import partial
from typing import Any

import timm
import torch
from timm.models.vision_transformer import Block, VisionTransformer
from torch import Tensor, nn
from torch.nn import functional as F
from torchvision import models


def seeded_resnet(arch: str, seed: int) -> nn.Module:
    """A torchvision ResNet with random weights and non-trivial BN statistics."""
    torch.manual_seed(seed)
    net = getattr(models, arch)()
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_(0.0, 0.1)
                module.running_mean.normal_(0.0, 0.1)
                module.running_var.uniform_(0.5, 2.0)
                module.num_batches_tracked.fill_(seed + 100)
    return net.eval()


def mlp(in_dim: int, out_dim: int) -> nn.Sequential:
    """Stand-in projector / predictor: its key names (N.weight, N.running_mean) are what matter."""
    hidden = 16
    return nn.Sequential(
        nn.Linear(in_dim, hidden, bias=False), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Linear(hidden, out_dim)
    )


class Wrapper(nn.Module):
    """A module with named children, like the sources' model classes (and DDP's `module`)."""

    def __init__(self, **children: nn.Module) -> None:
        super().__init__()
        for name, child in children.items():
            self.add_module(name, child)


def vissl_trunk(net: nn.Module) -> nn.Module:
    names = ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4", "avgpool")
    return Wrapper(_feature_blocks=nn.ModuleDict({name: getattr(net, name) for name in names}))


# The sources' ViTs at the size of timm's `test_vit` (160 px in 16-px patches, 64-d, 6 blocks, MLP ratio 3), built
# as DINO's vision_transformer.py and MoCo v3's vits.py build theirs: qkv bias, LayerNorm eps 1e-6.
TEST_VIT = dict(img_size=160, patch_size=16, embed_dim=64, depth=6, num_heads=2, mlp_ratio=3, qkv_bias=True)


# MoCo v3's ViT-Small has 12 heads where timm's has 6 (vits.py:115-118); its stand-in has 4 where test_vit has 2.
MOCOV3_TEST_ARGS = {"num_heads": 4}


VIT_IMAGE = torch.randn(2, 3, 160, 160, generator=torch.Generator().manual_seed(2))


def _vit(seed: int, **overrides: Any) -> VisionTransformer:
    """A timm VisionTransformer of TEST_VIT's size with random weights, LayerNorms and embeddings included, and
    attention as peaked as a trained one's (with timm's small init every head attends nearly uniformly, and the
    number of heads would hardly change the features)."""
    torch.manual_seed(seed)
    net = VisionTransformer(**{**TEST_VIT, **overrides}, norm_layer=partial(nn.LayerNorm, eps=1e-6))
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, nn.LayerNorm):
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_(0.0, 0.1)
        for block in net.blocks:
            block.attn.qkv.weight.normal_(0.0, 0.25)
        if net.cls_token is not None:
            net.cls_token.normal_()
        net.pos_embed.normal_(0.0, 0.5)
    return net.eval()


def vit_features(net: VisionTransformer, image: Tensor) -> Tensor:
    """What the sources evaluate: the class token after `norm`, before any head (DINO's forward, timm 0.4.9's
    pre-logits that MoCo v3's main_lincls.py feeds its classifier)."""
    with torch.no_grad():
        return net.forward_head(net.forward_features(image), pre_logits=True)


def _dino_layout(depth: int) -> set[str]:
    """The keys of DINO's VisionTransformer(num_classes=0) (vision_transformer.py:134-159): its backbone files."""
    block = ("norm1", "attn.qkv", "attn.proj", "norm2", "mlp.fc1", "mlp.fc2")
    modules = ["patch_embed.proj", "norm", *(f"blocks.{i}.{name}" for i in range(depth) for name in block)]
    return {"cls_token", "pos_embed", *(f"{module}.{p}" for module in modules for p in ("weight", "bias"))}


def dino_vit_file(seed: int = 20) -> tuple[dict[str, Tensor], VisionTransformer]:
    """A DINO backbone-only ViT file: the state dict of its `vit_small(num_classes=0)` (hubconf.py loads the released
    files into that model with strict=True), and the network it is."""
    net = _vit(seed, num_classes=0)
    state = dict(net.state_dict())
    assert set(state) == _dino_layout(TEST_VIT["depth"])  # the names of DINO's own model
    return state, net


def sincos_pos_embed(net: VisionTransformer) -> Tensor:
    """VisionTransformerMoCo.build_2d_sincos_position_embedding (vits.py:53-69): fixed, the class token's zero."""
    h, w = net.patch_embed.grid_size
    grid = (torch.arange(w, dtype=torch.float32), torch.arange(h, dtype=torch.float32))
    grid_w, grid_h = torch.meshgrid(*grid, indexing="ij")  # torch.meshgrid's default then
    omega = 1.0 / 10000.0 ** (torch.arange(net.embed_dim // 4, dtype=torch.float32) / (net.embed_dim // 4))
    out_w, out_h = grid_w.flatten()[:, None] * omega, grid_h.flatten()[:, None] * omega
    pos = torch.cat([out_w.sin(), out_w.cos(), out_h.sin(), out_h.cos()], dim=1)
    return torch.cat([torch.zeros(1, net.embed_dim), pos])[None]


def _moco_mlp(layers: int, in_dim: int, mlp_dim: int, out_dim: int) -> nn.Sequential:
    """moco-v3 builder.py `MoCo._build_mlp`: Linear without bias, BN and ReLU between, a BN without affine last."""
    mlp: list[nn.Module] = []
    for layer in range(layers):
        dim1, dim2 = in_dim if layer == 0 else mlp_dim, out_dim if layer == layers - 1 else mlp_dim
        mlp.append(nn.Linear(dim1, dim2, bias=False))
        mlp += [nn.BatchNorm1d(dim2), nn.ReLU()] if layer < layers - 1 else [nn.BatchNorm1d(dim2, affine=False)]
    return nn.Sequential(*mlp)


def mocov3_vit_checkpoint(seed: int = 21, **shape: Any) -> tuple[dict[str, Any], VisionTransformer]:
    """`main_moco.py` saves `{'epoch', 'arch', 'state_dict': model.state_dict(), 'optimizer', 'scaler'}` of the
    DDP-wrapped MoCo_ViT (builder.py): base and momentum encoders, each a VisionTransformerMoCo whose `head` is the
    3-layer projector, and the 2-layer predictor. Returns it and the base encoder (`shape`: other than TEST_VIT's)."""
    dim, mlp_dim = 8, 16

    def encoder(seed: int) -> VisionTransformer:
        net = _vit(seed, num_classes=mlp_dim, **{**MOCOV3_TEST_ARGS, **shape})
        net.pos_embed = nn.Parameter(sincos_pos_embed(net), requires_grad=False)
        net.head = _moco_mlp(3, net.embed_dim, mlp_dim, dim)
        return net.eval()

    base = encoder(seed)
    model = Wrapper(base_encoder=base, momentum_encoder=encoder(seed + 1), predictor=_moco_mlp(2, dim, mlp_dim, dim))
    state = Wrapper(module=model).state_dict()
    return {"epoch": 300, "arch": "vit_small", "state_dict": state, "optimizer": {}, "scaler": {}}, base


def mae_vit_file(seed: int = 22) -> tuple[dict[str, Any], VisionTransformer]:
    """An MAE pre-trained file: `{'model': the encoder's state dict}`, as main_finetune.py:237 and
    main_linprobe.py:198 read it (loaded with only the classifier missing, :254 and :215), its pos_embed MAE's
    fixed sin-cos one (models_mae.py:37, 67-69); and the network MAE's linear probe evaluates, models_vit.py's
    VisionTransformer with global_pool=False: the class token after `norm` (models_vit.py:49-51)."""
    net = _vit(seed, num_classes=0)
    net.pos_embed = nn.Parameter(sincos_pos_embed(net), requires_grad=False)
    state = dict(net.state_dict())
    assert set(state) == _dino_layout(TEST_VIT["depth"])  # the encoder of models_mae.py:33-42, in timm's names
    return {"model": state}, net


# I-JEPA's encoders at TEST_VIT's size as timm's `_gap_` ViT builds them (vit_base_patch16_gap_224 at this shape).
IJEPA_TEST_ARCH = "vit_base_patch16_gap_224"
IJEPA_TEST_ARGS = {"img_size": 160, "embed_dim": 64, "depth": 6, "num_heads": 2, "mlp_ratio": 3}


def _ijepa_predictor(embed_dim: int, num_patches: int) -> nn.Module:
    """ijepa's VisionTransformerPredictor (src/models/vision_transformer.py:220-262@52c1ae9) by its names: its
    blocks are the encoder's Block, whose names are timm's."""
    dim = 32
    predictor = Wrapper(
        predictor_embed=nn.Linear(embed_dim, dim),
        predictor_blocks=nn.ModuleList([Block(dim, 2, qkv_bias=True) for _ in range(2)]),
        predictor_norm=nn.LayerNorm(dim, eps=1e-6),
        predictor_proj=nn.Linear(dim, embed_dim),
    )
    predictor.mask_token = nn.Parameter(torch.zeros(1, 1, dim))
    predictor.predictor_pos_embed = nn.Parameter(torch.zeros(1, num_patches, dim), requires_grad=False)
    return predictor


def _adamw_state(net: nn.Module) -> dict[str, Any]:
    """The state dict of an AdamW that has taken a step on `net` (train.py's optimizer, helper.py:142), which
    holds a tensor per parameter."""
    optimizer = torch.optim.AdamW(net.parameters())
    sum(parameter.sum() for parameter in net.parameters()).backward()
    optimizer.step()
    return optimizer.state_dict()


def ijepa_checkpoint(seed: int = 45) -> tuple[dict[str, Any], nn.Module]:
    """A checkpoint as I-JEPA's save_checkpoint writes it (src/train.py:248-260@52c1ae9): context encoder, predictor
    and target encoder, each DDP-wrapped (train.py:221-223), beside the optimizer's state, the scaler's (bf16 runs:
    GradScaler's numbers) and the run's numbers; and the network I-JEPA evaluates, computed from the target encoder."""
    target, context = (_vit(s, num_classes=0, class_token=False, global_pool="avg", fc_norm=False) for s in (seed, 0))
    state = dict(target.state_dict())
    # The names of ijepa's VisionTransformer (vision_transformer.py:355-374): DINO's without a class token.
    assert set(state) == _dino_layout(TEST_VIT["depth"]) - {"cls_token"}
    predictor = _ijepa_predictor(target.embed_dim, target.patch_embed.num_patches)
    checkpoint = {
        "encoder": Wrapper(module=context).state_dict(),
        "predictor": Wrapper(module=predictor).state_dict(),
        "target_encoder": {f"module.{key}": value for key, value in state.items()},
        "opt": _adamw_state(Wrapper(encoder=context, predictor=predictor)),
        "scaler": {"scale": 65536.0, "growth_factor": 2.0, "backoff_factor": 0.5, "growth_interval": 2000},
        "epoch": 300,
        "loss": 0.1,
        "batch_size": 128,
        "world_size": 16,
        "lr": 0.001,
    }
    return checkpoint, IjepaEncoder(state, num_heads=TEST_VIT["num_heads"])


class StateVit(nn.Module):
    """A ViT's modules computed from a state dict in timm's names, for the written-out upstream networks below: their
    LayerNorms (eps 1e-6), Linears and multi-head self-attention over `qkv` (q, k, v, then heads) and `proj`."""

    def __init__(self, state: dict[str, Tensor], num_heads: int) -> None:
        super().__init__()
        self.state, self.num_heads = state, num_heads

    def _norm(self, name: str, x: Tensor) -> Tensor:
        return F.layer_norm(x, x.shape[-1:], self.state[f"{name}.weight"], self.state[f"{name}.bias"], eps=1e-6)

    def _linear(self, name: str, x: Tensor) -> Tensor:
        return F.linear(x, self.state[f"{name}.weight"], self.state[f"{name}.bias"])

    def _attention(self, name: str, x: Tensor) -> Tensor:
        batch, tokens, dim = x.shape
        qkv = self._linear(f"{name}.qkv", x).reshape(batch, tokens, 3, self.num_heads, dim // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        attention = (q @ k.transpose(-2, -1) * (dim // self.num_heads) ** -0.5).softmax(dim=-1)
        return self._linear(f"{name}.proj", (attention @ v).transpose(1, 2).reshape(batch, tokens, dim))


class IjepaEncoder(StateVit):
    """I-JEPA's encoder computed from its state dict, written from src/models/vision_transformer.py@52c1ae9:
    PatchEmbed.forward (:186-189), the same grid's pos_embed added (:411-412), Block.forward (:165-171) with
    Attention.forward (:138-150) and MLP.forward (:117-123, nn.GELU), LayerNorms of eps 1e-6 (:479-483), the final
    norm (:422-423); then the mean of the patch tokens, as the paper's evaluation pools them. `forward_features` and
    `forward_head` as vit_features reads."""

    def forward_features(self, image: Tensor) -> Tensor:
        weight = self.state["patch_embed.proj.weight"]
        x = F.conv2d(image, weight, self.state["patch_embed.proj.bias"], stride=weight.shape[-1])
        x = x.flatten(2).transpose(1, 2) + self.state["pos_embed"]
        blocks = sorted({int(key.split(".")[1]) for key in self.state if key.startswith("blocks.")})
        for block in (f"blocks.{index}" for index in blocks):
            x = x + self._attention(f"{block}.attn", self._norm(f"{block}.norm1", x))
            hidden = F.gelu(self._linear(f"{block}.mlp.fc1", self._norm(f"{block}.norm2", x)))
            x = x + self._linear(f"{block}.mlp.fc2", hidden)
        return self._norm("norm", x)

    def forward_head(self, x: Tensor, pre_logits: bool = True) -> Tensor:
        return x.mean(dim=1)


def ibot_vit_file(seed: int = 28) -> tuple[dict[str, Any], VisionTransformer]:
    """An iBOT teacher backbone file (`checkpoint_teacher.pth`): extract_backbone_weights.py:26-41 reads the
    `teacher` of main_ibot.py's checkpoint (:348-358; the MultiCropWrapper of the backbone and the iBOTHead, not
    DDP-wrapped) and writes {'state_dict': its `backbone.` keys without the prefix}. Returns it and the backbone,
    iBOT's VisionTransformer (models/vision_transformer.py:134-163, timm's names, no layer scale or masked_embed in
    the teacher, main_ibot.py:212-215)."""
    backbone = _vit(seed, num_classes=0)
    teacher = Wrapper(backbone=backbone, head=mlp(64, 32)).state_dict()
    checkpoint = {"teacher": teacher, "student": {}, "epoch": 800}
    extracted = {key[9:]: value for key, value in checkpoint["teacher"].items() if key.startswith("backbone")}
    assert set(extracted) == _dino_layout(TEST_VIT["depth"])
    return {"state_dict": extracted}, backbone


def ibot_student_file(seed: int = 37) -> tuple[dict[str, Any], VisionTransformer]:
    """An iBOT student backbone file (`checkpoint_student.pth`, --checkpoint_key student): the DDP-wrapped student's
    `module.backbone.` keys without the prefix (extract_backbone_weights.py:33-35), its masked_embed
    (models/vision_transformer.py:170-172, masked_im_modeling) beside the backbone's. Returns it and the backbone."""
    backbone = _vit(seed, num_classes=0)
    student = Wrapper(module=Wrapper(backbone=backbone, head=mlp(64, 32))).state_dict()
    student["module.backbone.masked_embed"] = torch.randn(1, 64)
    extracted = {key[16:]: value for key, value in student.items() if key.startswith("module.backbone")}
    assert set(extracted) == _dino_layout(TEST_VIT["depth"]) | {"masked_embed"}
    return {"state_dict": extracted}, backbone


# lightly's iBOT ViT-S has timm's layer scale (benchmarks/imagenet/vitb16/ibot.py:50-54 @1ffdbd5: init_values=1e-5).
LIGHTLY_IBOT_ARGS = {"init_values": 1e-5}


def _masked_vit(net: VisionTransformer) -> nn.Module:
    """lightly's MaskedVisionTransformerTIMM around a timm ViT: its `vit` beside a `mask_token` parameter."""
    wrapper = Wrapper(vit=net)
    wrapper.mask_token = nn.Parameter(torch.randn(1, 1, net.embed_dim))
    return wrapper


def lightly_vit_checkpoint(method: str, seed: int = 32) -> tuple[dict[str, Any], VisionTransformer]:
    """A lightly ViT benchmark Lightning checkpoint ({'epoch', 'global_step', 'state_dict', 'hyper_parameters'}) of
    DINO (teacher `backbone`, `student_backbone`, DINO heads: vitb16/dino.py:25-36 @477d3ce) or iBOT (layer scale,
    `teacher_backbone`, `student_backbone`: vitb16/ibot.py:50-60 @1ffdbd5), each ViT built by timm with its
    (untrained) 1000-class `head` inside a MaskedVisionTransformerTIMM, or LeJEPA (one bare timm ViT without head as
    `backbone`, vitb16/lejepa.py:30-40 @8397751); returns it and the evaluated ViT."""
    extra = LIGHTLY_IBOT_ARGS if method == "ibot" else {}
    teacher, student = (_vit(seed + i, num_classes=0 if method == "lejepa" else 10, **extra) for i in (0, 1))
    if method == "ibot":
        for block in teacher.blocks:
            with torch.no_grad():
                block.ls1.gamma.uniform_(0.5, 1.5)
                block.ls2.gamma.uniform_(0.5, 1.5)
    heads = dict(projection_head=mlp(64, 8), online_classifier=mlp(64, 10))
    if method == "lejepa":
        model = Wrapper(backbone=teacher, **heads)
    else:
        evaluated = "teacher_backbone" if method == "ibot" else "backbone"
        students = dict(student_backbone=_masked_vit(student), student_projection_head=mlp(64, 8))
        model = Wrapper(**{evaluated: _masked_vit(teacher)}, **students, **heads)
    state = model.state_dict()
    return {
        "epoch": 99,
        "global_step": 1000900,
        "state_dict": state,
        "hyper_parameters": {"num_classes": 1000},
    }, teacher


# (timm's name, mmpretrain's) of the modules of its ViT (backbones/vision_transformer.py) and BEiT (backbones/beit.py),
# as key prefixes; the parameters within (q_bias, gamma_1, ...) are named alike.
_MMPRETRAIN_RENAMES = (
    (r"patch_embed\.proj\.", "patch_embed.projection."),
    (r"blocks\.(\d+)\.norm(\d)\.", r"layers.\1.ln\2."),
    (r"blocks\.(\d+)\.attn\.", r"layers.\1.attn."),
    (r"blocks\.(\d+)\.mlp\.fc1\.", r"layers.\1.ffn.layers.0.0."),
    (r"blocks\.(\d+)\.mlp\.fc2\.", r"layers.\1.ffn.layers.1."),
    (r"blocks\.(\d+)\.gamma_", r"layers.\1.gamma_"),
    (r"norm\.", "ln1."),
)


def _upstream_names(state: dict[str, Tensor], renames: tuple[tuple[str, str], ...]) -> dict[str, Tensor]:
    """`state` under its source's names: each (timm's prefix pattern, upstream's) of `renames` applied in turn."""
    renamed = {}
    for key, value in state.items():
        for pattern, upstream in renames:
            key = re.sub(f"^{pattern}", upstream, key)
        renamed[key] = value
    return renamed


def _mmpretrain_layout(depth: int) -> set[str]:
    """The keys of mmpretrain's VisionTransformer (backbones/vision_transformer.py:297-367; MoCoV3ViT's): cls_token,
    pos_embed, patch_embed.projection, layers.N (TransformerEncoderLayer :61-82: ln1, attn.qkv/proj, ln2, mmcv's FFN
    ffn.layers.0.0 and ffn.layers.1), the final ln1; no layer scale (layer_scale_init_value 0)."""
    block = ("ln1", "attn.qkv", "attn.proj", "ln2", "ffn.layers.0.0", "ffn.layers.1")
    modules = ["patch_embed.projection", "ln1", *(f"layers.{i}.{name}" for i in range(depth) for name in block)]
    return {"cls_token", "pos_embed", *(f"{module}.{p}" for module in modules for p in ("weight", "bias"))}


def mmpretrain_vit_checkpoint(method: str = "mocov3", seed: int = 33) -> tuple[dict[str, Any], VisionTransformer]:
    """An mmpretrain ViT checkpoint as publish_model.py leaves it ({'meta', 'state_dict'}), its `backbone` (MoCoV3ViT
    or MAEViT, fixed sin-cos pos_embed) renamed from a timm ViT holding the same weights (MoCo v3's with its extra
    heads), beside MoCoV3's (selfsup/mocov3.py) `neck` (projector), `head` (predictor) and `momentum_encoder`
    (CosineEMA of Sequential(backbone, neck): `module.0/1.*`, `steps`), or MAE's decoder `neck`
    (necks/mae_neck.py:65-91), MILAN's and EVA's beside their CLIP `target_generator`, MFF's beside its backbone's
    fusion `proj_layers` and `proj_weights`, PixMIM's beside its low-pass `target_generator`, or MaskFeat's (learnt
    pos_embed, `mask_token`) with its linear `neck` and HOG `target_generator`. Returns it and that ViT."""
    net = _vit(seed, num_classes=0, **(MOCOV3_TEST_ARGS if method == "mocov3" else {}))
    if method != "maskfeat":  # MaskFeatViT's pos_embed is learnt (selfsup/maskfeat.py:236-243)
        net.pos_embed = nn.Parameter(sincos_pos_embed(net), requires_grad=False)
    backbone = _upstream_names(net.state_dict(), _MMPRETRAIN_RENAMES)
    assert set(backbone) == _mmpretrain_layout(TEST_VIT["depth"])
    state = {f"backbone.{key}": value for key, value in backbone.items()}
    if method == "mocov3":
        state |= {f"neck.{k}": v for k, v in mlp(64, 8).state_dict().items()}
        state |= {f"head.predictor.{k}": v for k, v in mlp(8, 8).state_dict().items()}
        state |= {f"momentum_encoder.module.0.{k}": v.clone() for k, v in backbone.items()}
        state["momentum_encoder.steps"] = torch.tensor(1000)
    elif method != "maskfeat":
        decoder = {"mask_token": torch.zeros(1, 1, 32), "decoder_pos_embed": torch.zeros(1, 101, 32)}
        decoder |= {f"decoder_embed.{p}": torch.zeros(32, 64) if p == "weight" else torch.zeros(32) for p in _WB}
        decoder |= {f"decoder_blocks.0.{k}": v.clone() for k, v in backbone.items() if k.startswith("layers.0.")}
        decoder |= {f"ln1.{p}": torch.ones(32) for p in _WB} | {f"decoder_pred.{p}": torch.zeros(1) for p in _WB}
        state |= {f"neck.{k}": v for k, v in decoder.items()}
    if method == "maskfeat":
        # MaskFeatViT's mask_token (:231-232), LinearNeck's fc (necks/linear_neck.py:55), HOGGenerator's buffers.
        state["backbone.mask_token"] = torch.randn(1, 1, 64)
        state |= {f"neck.fc.{k}": v for k, v in nn.Linear(64, 108).state_dict().items()}
        buffers = ("weight_x", "weight_y", "gaussian_kernel")
        state |= {f"target_generator.{name}": torch.ones(1, 1, 3, 3) for name in buffers}
    elif method == "mff":
        # MFFViT's (selfsup/mff.py:87-93): a Linear per fused block but the last (out_indices [0, 2, 4, 6, 8, 11] in
        # configs/mff/mff_vit-base-p16_8xb512-amp-coslr-300e_in1k.py:23-24), one weight per fused block.
        fused = 6
        for i in range(fused - 1):
            state |= {f"backbone.proj_layers.{i}.{k}": v for k, v in nn.Linear(64, 64).state_dict().items()}
        state["backbone.proj_weights"] = torch.randn(fused, 1, 1, 1)
    elif method == "pixmim":
        # LowFreqTargetGenerator's buffer (mmselfsup models/target_generators/low_freq_generator.py:28-30, 44).
        state["target_generator.low_pass_filter"] = torch.ones(3, 160, 160)
    elif method in ("milan", "eva"):
        # Their CLIPGenerator's CLIP model (selfsup/milan.py:16-29, `tokenizer`), a module of the model's.
        clip = {"visual.conv1.weight": torch.zeros(8, 3, 16, 16), "visual.proj": torch.zeros(8, 4)}
        state |= {f"target_generator.tokenizer.{k}": v for k, v in (clip | {"logit_scale": torch.zeros(())}).items()}
    return {"meta": {"epoch": 300}, "state_dict": state}, net


_WB = ("weight", "bias")

# The BEiT stand-in: timm's beit_base_patch16_224, the entries' architecture pooled by its class token as they are,
# at test_vit's width and size (VIT_IMAGE's 160 px); 4 heads, so a mixed-up head is seen.
BEIT_TEST_ARCH = "beit_base_patch16_224"
BEIT_TEST_ARGS = {"global_pool": "token", "img_size": 160, "embed_dim": 64, "depth": 2, "num_heads": 4}


def _shared_bias_beit(seed: int) -> nn.Module:
    """timm's Beit as mmpretrain's BEiTPretrainViT is (one relative position bias shared by every block, no absolute
    position embedding), every weight, bias, layer scale and the table random (a fresh one's table is zero, its
    q / v biases too, its gammas all 0.1), attention as peaked as a trained one's."""
    net = timm.create_model(
        BEIT_TEST_ARCH, num_classes=0, **BEIT_TEST_ARGS, use_rel_pos_bias=False, use_shared_rel_pos_bias=True
    )
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in net.named_parameters():
            drawn = torch.randn(tensor.shape, generator=generator)
            if name.endswith("qkv.weight") or name.endswith("relative_position_bias_table"):
                tensor.copy_(drawn * 0.5)
            elif "norm" in name and name.endswith("weight"):
                tensor.copy_(drawn.abs() * 0.5 + 0.5)
            else:
                tensor.copy_(drawn * 0.2)
    return net.eval()


def _mmpretrain_beit_layout(depth: int) -> set[str]:
    """The keys of mmpretrain's BEiTPretrainViT (selfsup/beit.py:110-217, a BEiTViT): cls_token (backbones/beit.py:408),
    mask_token (selfsup/beit.py:217), patch_embed.projection (:395), the shared rel_pos_bias's table and index buffer
    (:433-436; :48-50, 80-81), layers.N (BEiTTransformerEncoderLayer: ln1, ln2 (vision_transformer.py:61, 72),
    BEiTAttention's qkv without bias, q_bias, v_bias, proj (utils/attention.py:661-668), mmcv's FFN, gamma_1,
    gamma_2 (:174-199)), the final ln1 (:478-479); no pos_embed (use_abs_pos_emb False)."""
    affine = ("ln1", "ln2", "attn.proj", "ffn.layers.0.0", "ffn.layers.1")
    own = ("attn.qkv.weight", "attn.q_bias", "attn.v_bias", "gamma_1", "gamma_2")
    blocks = {f"layers.{i}.{name}" for i in range(depth) for name in (*(f"{m}.{p}" for m in affine for p in _WB), *own)}
    modules = {f"{module}.{p}" for module in ("patch_embed.projection", "ln1") for p in _WB}
    table = {"rel_pos_bias.relative_position_bias_table", "rel_pos_bias.relative_position_index"}
    return {"cls_token", "mask_token", *modules, *table, *blocks}


def mmpretrain_beit_checkpoint(seed: int = 38) -> tuple[dict[str, Any], nn.Module]:
    """mmpretrain's BEiT checkpoint as publish_model.py leaves it ({'meta', 'state_dict'}): its `backbone`
    (BEiTPretrainViT) renamed from a timm Beit with the shared bias holding the same weights, beside its `mask_token`,
    BEiTV1Head's `head.cls_head` (heads/beitv1_head.py:34) and the DALL-E encoder `target_generator` (w / b
    parameters, selfsup/cae.py:22-60, 134-175). Returns it and that Beit."""
    net = _shared_bias_beit(seed)
    backbone = _upstream_names(net.state_dict(), _MMPRETRAIN_RENAMES)
    # A persistent buffer of mmpretrain's (backbones/beit.py:80-81) that recent timm leaves out of its state dict.
    index = timm.models.beit.gen_relative_position_index(net.patch_embed.grid_size)
    backbone.setdefault("rel_pos_bias.relative_position_index", index)
    backbone["mask_token"] = torch.randn(1, 1, BEIT_TEST_ARGS["embed_dim"])
    assert set(backbone) == _mmpretrain_beit_layout(BEIT_TEST_ARGS["depth"])
    state = {f"backbone.{key}": value for key, value in backbone.items()}
    state |= {f"head.cls_head.{k}": v for k, v in nn.Linear(BEIT_TEST_ARGS["embed_dim"], 32).state_dict().items()}
    dalle = {"blocks.input.w": torch.zeros(8, 3, 7, 7), "blocks.output.conv.w": torch.zeros(32, 8, 1, 1)}
    dalle |= {"blocks.input.b": torch.zeros(8), "blocks.output.conv.b": torch.zeros(32)}
    state |= {f"target_generator.{k}": v for k, v in dalle.items()}
    return {"meta": {"epoch": 300}, "state_dict": state}, net


def randomise_xcit(net: nn.Module, seed: int) -> nn.Module:
    """Every weight, statistic, layer scale and temperature drawn at random (a fresh net has unit ones)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in net.state_dict().items():
            if tensor.is_floating_point():
                scale = 0.5 if name.endswith(("running_var", "temperature", "gamma1", "gamma2", "gamma3")) else 0.2
                drawn = torch.randn(tensor.shape, generator=generator) * scale
                tensor.copy_(drawn.abs() + 0.5 if name.endswith("running_var") else drawn)
    return net.eval()


def dino_xcit_file(net: nn.Module) -> dict[str, Tensor]:
    """DINO's XCiT backbone-only file of `net` (a timm Xcit): the state dict of xcit.py's XCiT(num_classes=0) holding
    the same weights (DINO's hubconf.py:98-150 loads the files into it with strict=True), in xcit.py's names: its
    positional encoding `pos_embeder` (:357), each class-attention block's q, k, v one Linear `attn.qkv` whose
    output rows are q, k, v in that order (:154, 161-163)."""
    state = {}
    for key, value in net.state_dict().items():
        if ".attn.q." in key or ".attn.k." in key or ".attn.v." in key:
            continue
        state[key.replace("pos_embed.", "pos_embeder.", 1) if key.startswith("pos_embed.") else key] = value
    for i, block in enumerate(net.cls_attn_blocks):
        for p in ("weight", "bias"):
            parts = [getattr(block.attn, name).state_dict()[p] for name in "qkv"]
            state[f"cls_attn_blocks.{i}.attn.qkv.{p}"] = torch.cat(parts)
    return state


# How timm builds it for the entries (their model_args): the final norm before the pool.
VICREGL_ARGS = {"head_norm_first": True}


def vicregl_convnext_file(net: nn.Module) -> dict[str, Tensor]:
    """VICRegL's backbone file of `net` (vicregl_convnext's): the state dict of its convnext.py ConvNeXt holding the
    same weights, in its names (what hubconf.py loads with strict=True)."""
    renames = (
        (r"stem\.(\d)\.", r"downsample_layers.0.\1."),
        (r"stages\.(\d)\.downsample\.(\d)\.", r"downsample_layers.\1.\2."),
        (r"stages\.(\d)\.blocks\.(\d+)\.conv_dw\.", r"stages.\1.\2.dwconv."),
        (r"stages\.(\d)\.blocks\.(\d+)\.norm\.", r"stages.\1.\2.norm."),
        (r"stages\.(\d)\.blocks\.(\d+)\.mlp\.fc(\d)\.", r"stages.\1.\2.pwconv\3."),
        (r"norm_pre\.", "norm."),
    )
    return _upstream_names(net.state_dict(), renames)


def randomise_convnext(net: nn.Module, seed: int) -> nn.Module:
    """Every weight drawn at random, LayerNorm scales around 1 (a fresh net's norms are the identity)."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, tensor in net.state_dict().items():
            tensor.normal_(0.0, 0.3 if "norm" in name else 0.2).add_(1.0 if name.endswith("norm.weight") else 0.0)
    return net.eval()


def vicregl_convnext(seed: int, **shape: Any) -> nn.Module:
    """A network as VICRegL's ConvNeXt computes (no layer scale, its final norm before the pool), random weights; timm's
    ConvNeXt class builds it (timm's create_model would drop `ls_init_value=None` and add a layer scale)."""
    net = timm.models.convnext.ConvNeXt(num_classes=0, ls_init_value=None, **VICREGL_ARGS, **shape)
    return randomise_convnext(net, seed)


def randomise_regnet(net: nn.Module, seed: int) -> nn.Module:
    """Every weight and BatchNorm statistic drawn at random (a fresh net's are ones and zeros)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in net.state_dict().items():
            if tensor.is_floating_point():
                drawn = torch.randn(tensor.shape, generator=generator) * 0.2
                tensor.copy_(drawn.abs() + 0.5 if name.endswith("running_var") else drawn)
    return net.eval()


def _classy_regnet_name(key: str) -> str:
    """The name a timm RegNet key has in VISSL's trunk: ClassyVision's RegNet (facebookresearch/ClassyVision@08a82e8
    classy_vision/models/anynet.py: SimpleStemIN's `stem` Sequential :120, the stages `trunk_output.block{S}`
    :461-481 of blocks `block{S}-{I}` :361, ResBottleneckBlock's `proj`, `bn` and `f` :264-268, BottleneckTransform's
    `a`, `b`, `se`, `c`, `final_bn` :216-240; squeeze_and_excitation_layer.py's `excitation` Sequential :36-41) as
    feature blocks `conv1` and `res2..res5` (facebookresearch/vissl@09270ed vissl/models/trunks/regnet.py:73-85)."""
    key = re.sub(r"^stem\.conv\.", "conv1.stem.0.", key)
    key = re.sub(r"^stem\.bn\.", "conv1.stem.1.", key)
    match = re.fullmatch(r"s(\d)\.b(\d+)\.(.+)", key)
    if match is None:
        return key
    rest = match[3]
    for timm_name, upstream in (
        ("conv1.conv.", "f.a.0."),
        ("conv1.bn.", "f.a.1."),
        ("conv2.conv.", "f.b.0."),
        ("conv2.bn.", "f.b.1."),
        ("se.fc1.", "f.se.excitation.0."),
        ("se.fc2.", "f.se.excitation.2."),
        ("conv3.conv.", "f.c."),
        ("conv3.bn.", "f.final_bn."),
        ("downsample.conv.", "proj."),
        ("downsample.bn.", "bn."),
    ):
        rest = re.sub(f"^{re.escape(timm_name)}", upstream, rest)
    stage = int(match[1])
    return f"res{stage + 1}.block{stage}-{int(match[2]) - 1}.{rest}"


def vissl_regnet_checkpoint(net: nn.Module, heads: nn.Module) -> dict[str, Any]:
    """VISSL's checkpoint of a RegNet trunk holding `net`'s weights (a timm RegNet), as its checkpoint saver writes
    it (vissl/utils/checkpoint.py:73-80, 305-311: {'type', 'classy_state_dict': {'base_model': {'model': {'trunk',
    'heads'}, 'meta'}}}),
    its trunk's keys `_feature_blocks.*` in ClassyVision's names."""
    trunk = {f"_feature_blocks.{_classy_regnet_name(key)}": value for key, value in net.state_dict().items()}
    base_model = {"model": {"trunk": trunk, "heads": heads.state_dict()}, "meta": {}}
    return {"type": "consolidated", "phase_idx": 799, "iteration": 5, "classy_state_dict": {"base_model": base_model}}


def vissl_vit_trunk(net: VisionTransformer) -> dict[str, Tensor]:
    """The state dict of VISSL's `vision_transformer` trunk holding `net`'s weights: timm's names but its class
    token `class_token` and position embedding `pos_embedding` (vissl/models/trunks/vision_transformer.py:220-221
    @f678f7a5)."""
    renamed = {"cls_token": "class_token", "pos_embed": "pos_embedding"}
    state = {renamed.get(key, key): value for key, value in net.state_dict().items()}
    expected = _dino_layout(TEST_VIT["depth"]) - {"cls_token", "pos_embed"} | {"class_token", "pos_embedding"}
    assert set(state) == expected  # the names of VISSL's trunk, with no head (its ViT has none)
    return state


def vissl_dino_checkpoint(student: dict[str, Tensor], teacher: dict[str, Tensor], *, ddp: bool) -> dict[str, Any]:
    """A checkpoint of VISSL's DINO as its checkpoint hook writes it (vissl/hooks/log_hooks.py:417, 436-443@f678f7a5):
    `loss` is the DINO loss's state dict, whose `momentum_teacher` (the teacher: the whole model, DDP-wrapped where
    `ddp`, dino_hooks.py:43-71@f678f7a5, :71-76@df651add) holds the `teacher` trunk and heads, beside its `center`
    buffer (vissl/losses/dino_loss.py@09270ed); `classy_state_dict` is ClassyVision's task state
    (classy_vision/tasks/classification_task.py:937-977@08a82e8), its base_model VISSL's model state
    (vissl/models/base_ssl_model.py:391-414@f678f7a5) of the `student` trunk, and its `loss` the loss's state again."""
    heads = Wrapper(projection_head=mlp(8, 8), prototypes0=nn.Linear(8, 30)).state_dict()
    wrapped = "momentum_teacher.module." if ddp else "momentum_teacher."
    model = {"trunk": teacher, "heads": {f"0.{key}": value for key, value in heads.items()}}
    loss = {f"{wrapped}{part}.{key}": value for part, state in model.items() for key, value in state.items()}
    loss["center"] = torch.zeros(1, 30)
    base_model = {"model": {"trunk": student, "heads": {f"0.{key}": value for key, value in heads.items()}}}
    task = {"train": True, "base_model": base_model, "meters": [], "optimizer": {"state": {}, "param_groups": []}}
    task |= {"phase_idx": 299, "train_phase_idx": 299, "num_updates": 5, "losses": [], "hooks": {}, "loss": loss}
    return {
        "phase_idx": 300,
        "iteration": 5,
        "loss": loss,
        "iteration_num": 5,
        "train_phase_idx": 299,
        "classy_state_dict": task,
    }


def vissl_dino_vit_checkpoint(seed: int = 40, *, ddp: bool = True) -> tuple[dict[str, Any], VisionTransformer]:
    """VISSL's DINO checkpoint of a ViT of TEST_VIT's size, student and teacher different networks; and the
    teacher."""
    student, teacher = _vit(seed, num_classes=0), _vit(seed + 1, num_classes=0)
    return vissl_dino_checkpoint(vissl_vit_trunk(student), vissl_vit_trunk(teacher), ddp=ddp), teacher


def vissl_dino_xcit_checkpoint(student: nn.Module, teacher: nn.Module) -> dict[str, Any]:
    """VISSL's DINO checkpoint of two timm Xcits as its `xcit` trunk, whose names are xcit.py's, DINO's files' ones
    (vissl/models/trunks/xcit.py:377-460@df651add), its teacher not DDP-wrapped (dino_hooks.py:71-76@df651add)."""
    return vissl_dino_checkpoint(dino_xcit_file(student), dino_xcit_file(teacher), ddp=False)


# A Swin Transformer of four stages of 16 to 128 channels, two blocks each, at VIT_IMAGE's 160 px with windows of 5:
# maps of 40, 20, 10 and 5 patches, so every stage but the last (one window, no shift) shifts its second block's
# windows, as SimMIM's Swin-B at 192 px with windows of 6 does (48, 24, 12, 6).
SWIN_TEST_ARCH = "swin_base_patch4_window7_224"
SWIN_TEST = dict(img_size=160, window_size=5, embed_dim=16, depths=[2, 2, 2, 2], num_heads=[1, 2, 2, 4])


def _mmpretrain_relative_position_index(window: int) -> Tensor:
    """WindowMSA's buffer (mmpretrain/models/utils/attention.py:99-103, double_step_seq :159-163 @ee7f2e88)."""
    steps = torch.arange(0, (2 * window - 1) * window, 2 * window - 1)[:, None] + torch.arange(window)[None, :]
    steps = steps.reshape(1, -1)
    return (steps + steps.T).flip(1).contiguous()


def _mmpretrain_swin_shapes(dim: int, heads: int, window: int, stage: int, depth: int, last: bool) -> dict[str, tuple]:
    """The parameter shapes of mmpretrain's SwinBlockSequence `stage` (backbones/swin_transformer.py:139-184:
    SwinBlock's norm1, ShiftWindowMSA's w_msa, norm2 and mmcv's FFN :75-88; mmcv's PatchMerging `downsample`, norm
    and a reduction without bias, but in the last stage)."""
    shapes: dict[str, tuple] = {}
    for block in range(depth):
        prefix = f"stages.{stage}.blocks.{block}."
        shapes |= {f"{prefix}{norm}.{p}": (dim,) for norm in ("norm1", "norm2") for p in _WB}
        shapes[f"{prefix}attn.w_msa.relative_position_bias_table"] = ((2 * window - 1) ** 2, heads)
        shapes |= {f"{prefix}attn.w_msa.qkv.weight": (3 * dim, dim), f"{prefix}attn.w_msa.qkv.bias": (3 * dim,)}
        shapes |= {f"{prefix}attn.w_msa.proj.weight": (dim, dim), f"{prefix}attn.w_msa.proj.bias": (dim,)}
        shapes |= {f"{prefix}ffn.layers.0.0.weight": (4 * dim, dim), f"{prefix}ffn.layers.0.0.bias": (4 * dim,)}
        shapes |= {f"{prefix}ffn.layers.1.weight": (dim, 4 * dim), f"{prefix}ffn.layers.1.bias": (dim,)}
    if not last:
        downsample = f"stages.{stage}.downsample."
        shapes |= {f"{downsample}norm.{p}": (4 * dim,) for p in _WB} | {
            f"{downsample}reduction.weight": (2 * dim, 4 * dim)
        }
    return shapes


def mmpretrain_swin_checkpoint(seed: int = 37, window: int = SWIN_TEST["window_size"]) -> dict[str, Any]:
    """SimMIM's checkpoint as publish_model.py leaves it ({'meta', 'state_dict'}) of a SWIN_TEST-shaped network (with
    windows of `window`): its
    `backbone` SimMIMSwinTransformer (selfsup/simmim.py:14-89 @ee7f2e88) in mmpretrain's names, every tensor drawn at
    random (LayerNorm weights about 1), with its `mask_token`, the relative_position_index buffers and the final
    stage's out_indices norm `norm3` (backbones/swin_transformer.py:404-411), beside the decoder `neck`
    (SimMIMLinearDecoder: necks/simmim_neck.py, a 1x1 conv then PixelShuffle)."""
    generator = torch.Generator().manual_seed(seed)
    dims = [SWIN_TEST["embed_dim"] * 2**stage for stage in range(4)]
    shapes = {"patch_embed.projection.weight": (dims[0], 3, 4, 4), "patch_embed.projection.bias": (dims[0],)}
    shapes |= {f"patch_embed.norm.{p}": (dims[0],) for p in _WB} | {f"norm3.{p}": (dims[3],) for p in _WB}
    for stage, (dim, depth, heads) in enumerate(zip(dims, SWIN_TEST["depths"], SWIN_TEST["num_heads"], strict=True)):
        shapes |= _mmpretrain_swin_shapes(dim, heads, window, stage, depth, last=stage == 3)
    backbone = {}
    for key, shape in shapes.items():
        drawn = torch.randn(shape, generator=generator)
        backbone[key] = drawn * 0.2 + 1 if "norm" in key and key.endswith("weight") else drawn * 0.3
    for key in [key for key in backbone if key.endswith("relative_position_bias_table")]:
        backbone[key.replace("bias_table", "index")] = _mmpretrain_relative_position_index(window)
    backbone["mask_token"] = torch.randn(1, 1, dims[0], generator=generator)
    state = {f"backbone.{key}": value for key, value in backbone.items()}
    state |= {
        "neck.decoder.0.weight": torch.randn(4**2 * 3 * 16, dims[3], 1, 1),
        "neck.decoder.0.bias": torch.zeros(768),
    }
    return {"meta": {"epoch": 100}, "state_dict": state}


class MmpretrainSwin(nn.Module):
    """mmpretrain's SwinTransformer (`pad_small_map` False as SimMIM's Swin-B, True as its Swin-L) computed from its
    state dict, written from its definitions (@ee7f2e88: backbones/swin_transformer.py SwinBlock :90-109,
    SwinBlockSequence :186-194, SwinTransformer.forward :424-446; models/utils/attention.py WindowMSA :57-164,
    ShiftWindowMSA :339-503; mmcv's PatchEmbed, PatchMerging and FFN, mmcv/cnn/bricks/transformer.py:254-275,
    359-405, 624-636 @a8073c7), pooled as its fine-tuning's GlobalAveragePooling neck does; `forward_features` and
    `forward_head` as vit_features reads."""

    def __init__(self, backbone: dict[str, Tensor], pad_small_map: bool = False) -> None:
        super().__init__()
        self.state = backbone
        self.pad_small_map = pad_small_map

    def _norm(self, name: str, x: Tensor) -> Tensor:
        return F.layer_norm(x, x.shape[-1:], self.state[f"{name}.weight"], self.state[f"{name}.bias"])

    def _linear(self, name: str, x: Tensor) -> Tensor:
        return F.linear(x, self.state[f"{name}.weight"], self.state.get(f"{name}.bias"))

    def _window_msa(self, name: str, windows: Tensor, mask: Tensor | None) -> Tensor:
        count, tokens, channels = windows.shape
        table = self.state[f"{name}.relative_position_bias_table"]
        heads = table.shape[1]
        qkv = self._linear(f"{name}.qkv", windows).reshape(count, tokens, 3, heads, channels // heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        attn = (q * (channels // heads) ** -0.5) @ k.transpose(-2, -1)
        bias = table[self.state[f"{name}.relative_position_index"].view(-1)].view(tokens, tokens, -1)
        attn = attn + bias.permute(2, 0, 1).unsqueeze(0)
        if mask is not None:
            attn = attn.view(-1, mask.shape[0], heads, tokens, tokens) + mask.unsqueeze(1).unsqueeze(0)
            attn = attn.view(-1, heads, tokens, tokens)
        x = (attn.softmax(dim=-1) @ v).transpose(1, 2).reshape(count, tokens, channels)
        return self._linear(f"{name}.proj", x)

    @staticmethod
    def _partition(x: Tensor, window: int) -> Tensor:
        batch, height, width, channels = x.shape
        x = x.view(batch, height // window, window, width // window, window, channels)
        return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, window, window, channels)

    def _attn_mask(self, height: int, width: int, window: int, shift: int) -> Tensor | None:
        if shift == 0:
            return None
        image = torch.zeros(1, height, width, 1)
        slices = (slice(0, -window), slice(-window, -shift), slice(-shift, None))
        for count, (rows, cols) in enumerate((rows, cols) for rows in slices for cols in slices):
            image[:, rows, cols, :] = count
        windows = self._partition(image, window).view(-1, window * window)
        mask = windows.unsqueeze(1) - windows.unsqueeze(2)
        return mask.masked_fill(mask != 0, -100.0).masked_fill(mask == 0, 0.0)

    def _shift_window_msa(self, name: str, x: Tensor, hw: tuple[int, int], shifted: bool) -> Tensor:
        batch, _, channels = x.shape
        height, width = hw
        window = (int(self.state[f"{name}.relative_position_bias_table"].shape[0] ** 0.5) + 1) // 2
        shift = window // 2 if shifted else 0
        # A map of one window shifts only if padded; a smaller one is padded to a window, or refused.
        assert self.pad_small_map or min(height, width) >= window
        if min(height, width) == window and not self.pad_small_map:
            shift = 0
        x = x.view(batch, height, width, channels)
        x = F.pad(x, (0, 0, 0, -width % window, 0, -height % window))
        padded_height, padded_width = x.shape[1:3]
        x = torch.roll(x, shifts=(-shift, -shift), dims=(1, 2))
        mask = self._attn_mask(padded_height, padded_width, window, shift)
        windows = self._window_msa(name, self._partition(x, window).view(-1, window * window, channels), mask)
        windows = windows.view(batch, padded_height // window, padded_width // window, window, window, channels)
        x = windows.permute(0, 1, 3, 2, 4, 5).reshape(batch, padded_height, padded_width, channels)
        x = torch.roll(x, shifts=(shift, shift), dims=(1, 2))
        return x[:, :height, :width, :].reshape(batch, height * width, channels)

    def _merge(self, name: str, x: Tensor, hw: tuple[int, int]) -> tuple[Tensor, tuple[int, int]]:
        batch, _, channels = x.shape
        x = x.view(batch, *hw, channels).permute(0, 3, 1, 2)
        x = F.unfold(x, kernel_size=2, stride=2).transpose(1, 2)
        return self._linear(f"{name}.reduction", self._norm(f"{name}.norm", x)), (hw[0] // 2, hw[1] // 2)

    def forward_features(self, image: Tensor) -> Tensor:
        x = F.conv2d(image, self.state["patch_embed.projection.weight"], self.state["patch_embed.projection.bias"], 4)
        hw = (x.shape[2], x.shape[3])
        x = self._norm("patch_embed.norm", x.flatten(2).transpose(1, 2))
        stages = sorted({int(key.split(".")[1]) for key in self.state if key.startswith("stages.")})
        for stage in stages:
            blocks = sorted({int(key.split(".")[3]) for key in self.state if key.startswith(f"stages.{stage}.blocks.")})
            for block in blocks:
                name = f"stages.{stage}.blocks.{block}"
                x = x + self._shift_window_msa(f"{name}.attn.w_msa", self._norm(f"{name}.norm1", x), hw, block % 2 == 1)
                hidden = F.gelu(self._linear(f"{name}.ffn.layers.0.0", self._norm(f"{name}.norm2", x)))
                x = x + self._linear(f"{name}.ffn.layers.1", hidden)
            if f"stages.{stage}.downsample.reduction.weight" in self.state:
                x, hw = self._merge(f"stages.{stage}.downsample", x, hw)
        return self._norm(f"norm{stages[-1]}", x)

    def forward_head(self, x: Tensor, pre_logits: bool = True) -> Tensor:
        return x.mean(dim=1)


# A ConvNeXt V2 of four stages of 8 to 32 channels (1, 1, 2, 1 blocks), the shape of SparK's convnextv2-tiny.
CONVNEXTV2_TEST_ARCH = "convnextv2_tiny"
CONVNEXTV2_TEST = dict(depths=[1, 1, 2, 1], dims=[8, 16, 24, 32])


def _mmpretrain_convnext_shapes(dims: list[int], depths: list[int]) -> dict[str, tuple]:
    """The parameter shapes of mmpretrain's SparseConvNeXt (backbones/sparse_convnext.py:172-223 @ee7f2e88, ConvNeXt's
    modules, convnext.py:63-87) with GRN, linear pointwise convs and no layer scale, as SparK's config builds it
    (configs/spark/spark_sparse-convnextv2-tiny_16xb256-amp-coslr-800e_in1k.py:17-25): no out_indices norms."""
    shapes: dict[str, tuple] = {
        "downsample_layers.0.0.weight": (dims[0], 3, 4, 4),
        "downsample_layers.0.0.bias": (dims[0],),
    }
    shapes |= {f"downsample_layers.0.1.{p}": (dims[0],) for p in _WB}
    for stage, (dim, depth) in enumerate(zip(dims, depths, strict=True)):
        if stage:
            shapes |= {f"downsample_layers.{stage}.0.{p}": (dims[stage - 1],) for p in _WB}
            shapes |= {f"downsample_layers.{stage}.1.weight": (dim, dims[stage - 1], 2, 2)}
            shapes |= {f"downsample_layers.{stage}.1.bias": (dim,)}
        for block in range(depth):
            prefix = f"stages.{stage}.{block}."
            shapes |= {f"{prefix}depthwise_conv.weight": (dim, 1, 7, 7), f"{prefix}depthwise_conv.bias": (dim,)}
            shapes |= {f"{prefix}norm.{p}": (dim,) for p in _WB} | {
                f"{prefix}grn.{p}": (4 * dim,) for p in ("gamma", "beta")
            }
            shapes |= {f"{prefix}pointwise_conv1.weight": (4 * dim, dim), f"{prefix}pointwise_conv1.bias": (4 * dim,)}
            shapes |= {f"{prefix}pointwise_conv2.weight": (dim, 4 * dim), f"{prefix}pointwise_conv2.bias": (dim,)}
    return shapes


# The LayerNorms' weights: the stem's, the downsampling layers', the blocks'.
_CONVNEXT_LAYER_NORM = re.compile(r"downsample_layers\.(?:0\.1|[1-3]\.0)\.weight|stages\.\d\.\d+\.norm\.weight")


def mmpretrain_convnext_checkpoint(seed: int = 38) -> dict[str, Any]:
    """SparK's checkpoint as publish_model.py leaves it ({'meta', 'state_dict'}) of a CONVNEXTV2_TEST-shaped network:
    its `backbone` SparseConvNeXt in mmpretrain's names, every tensor drawn at random (LayerNorm weights about 1),
    beside SparK's `enc_dec_norms`, `enc_dec_projectors` and `mask_tokens` (selfsup/spark.py:56-80) and a decoder
    `neck` (SparKLightDecoder)."""
    generator = torch.Generator().manual_seed(seed)
    backbone = {}
    for key, shape in _mmpretrain_convnext_shapes(CONVNEXTV2_TEST["dims"], CONVNEXTV2_TEST["depths"]).items():
        drawn = torch.randn(shape, generator=generator)
        backbone[key] = drawn * 0.2 + 1 if _CONVNEXT_LAYER_NORM.fullmatch(key) else drawn * 0.3
    state = {f"backbone.{key}": value for key, value in backbone.items()}
    for level, dim in enumerate(CONVNEXTV2_TEST["dims"]):
        state |= {f"enc_dec_norms.{level}.{p}": torch.ones(dim) for p in _WB}
        state |= {
            f"enc_dec_projectors.{level}.weight": torch.zeros(8, dim, 3, 3),
            f"mask_tokens.{level}": torch.zeros(1, dim, 1, 1),
        }
    state |= {"neck.dec.0.up_sample.weight": torch.zeros(8, 8, 2, 2)}
    return {"meta": {"epoch": 800}, "state_dict": state}


class MmpretrainConvNeXt(nn.Module):
    """The network SparK's ConvNeXt V2 is fine-tuned as, computed from the checkpoint's backbone (mmpretrain's dense
    ConvNeXt, configs/spark/benchmarks/convnextv2-tiny_8xb256-coslr-300e_in1k.py:52-58, written from its definitions
    @ee7f2e88: ConvNeXt.forward backbones/convnext.py:341-352, ConvNeXtBlock.forward :92-127, GRN models/utils/
    norm.py:39-42, LayerNorm2d :51-90), its new `norm3` at LayerNorm's ones and zeros after the average pool;
    `forward_features` and `forward_head` as vit_features reads."""

    def __init__(self, backbone: dict[str, Tensor]) -> None:
        super().__init__()
        self.state = backbone

    def _norm(self, name: str, x: Tensor) -> Tensor:
        """A LayerNorm over the last dimension, eps 1e-6 (norm_cfg LN2d, eps 1e-6)."""
        return F.layer_norm(x, x.shape[-1:], self.state[f"{name}.weight"], self.state[f"{name}.bias"], eps=1e-6)

    def _norm2d(self, name: str, x: Tensor) -> Tensor:
        return self._norm(name, x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)

    def _conv(self, name: str, x: Tensor, stride: int) -> Tensor:
        return F.conv2d(x, self.state[f"{name}.weight"], self.state[f"{name}.bias"], stride=stride)

    def _block(self, name: str, x: Tensor) -> Tensor:
        weight = self.state[f"{name}.depthwise_conv.weight"]
        y = F.conv2d(x, weight, self.state[f"{name}.depthwise_conv.bias"], padding=3, groups=weight.shape[0])
        y = self._norm(f"{name}.norm", y.permute(0, 2, 3, 1))
        y = F.gelu(
            F.linear(y, self.state[f"{name}.pointwise_conv1.weight"], self.state[f"{name}.pointwise_conv1.bias"])
        )
        norms = torch.norm(y, p=2, dim=(1, 2), keepdim=True)
        y = (
            self.state[f"{name}.grn.gamma"] * (y * (norms / (norms.mean(dim=-1, keepdim=True) + 1e-6)))
            + self.state[f"{name}.grn.beta"]
            + y
        )
        y = F.linear(y, self.state[f"{name}.pointwise_conv2.weight"], self.state[f"{name}.pointwise_conv2.bias"])
        return x + y.permute(0, 3, 1, 2)

    def forward_features(self, image: Tensor) -> Tensor:
        x = self._norm2d("downsample_layers.0.1", self._conv("downsample_layers.0.0", image, 4))
        for stage in range(4):
            if stage:
                x = self._conv(f"downsample_layers.{stage}.1", self._norm2d(f"downsample_layers.{stage}.0", x), 2)
            blocks = sorted({int(key.split(".")[2]) for key in self.state if key.startswith(f"stages.{stage}.")})
            for block in blocks:
                x = self._block(f"stages.{stage}.{block}", x)
        return x

    def forward_head(self, x: Tensor, pre_logits: bool = True) -> Tensor:
        pooled = x.mean(dim=(2, 3))
        return F.layer_norm(pooled, pooled.shape[-1:], eps=1e-6)  # norm3, new: weight ones, bias zeros


# DINOv2's ViTs (facebookresearch/dinov2 @b8931f7) at a test's size: VIT_IMAGE's 160 px in 16-px patches (the hub
# loader takes the patch size as an argument, hub/backbones.py:22; timm's dynamic_img_size, which the entries use,
# refuses an image its patches do not divide, as 14 does not 160), 48-d, 2 blocks; timm builds them from its
# `vit_*_patch14_dinov2` architectures with these arguments.
DINOV2_TEST = dict(img_size=160, patch_size=16, embed_dim=48, depth=2, num_heads=2)


def _dinov2_shapes(*, swiglu: bool, registers: int) -> dict[str, tuple]:
    """DinoVisionTransformer's parameters at DINOV2_TEST's size (models/vision_transformer.py:107-169,
    layers/block.py:63-85), qkv bias and layer scale as the hub loader builds it (hub/backbones.py:18-61): MLP ratio
    4, or ViT-g's SwiGLUFFNFused, whose hidden width is (int(4 * dim * 2 / 3) + 7) // 8 * 8
    (layers/swiglu_ffn.py:54-72)."""
    dim, patch = DINOV2_TEST["embed_dim"], DINOV2_TEST["patch_size"]
    hidden = (int(4 * dim * 2 / 3) + 7) // 8 * 8 if swiglu else 4 * dim
    ffn = {"w12": (2 * hidden, dim), "w3": (dim, hidden)} if swiglu else {"fc1": (hidden, dim), "fc2": (dim, hidden)}
    block = {"norm1": (dim,), "attn.qkv": (3 * dim, dim), "attn.proj": (dim, dim), "norm2": (dim,)}
    block |= {f"mlp.{name}": shape for name, shape in ffn.items()}
    tokens = (DINOV2_TEST["img_size"] // patch) ** 2 + 1
    shapes: dict[str, tuple] = {"cls_token": (1, 1, dim), "pos_embed": (1, tokens, dim)}
    if registers:
        shapes["register_tokens"] = (1, registers, dim)
    shapes |= {
        "mask_token": (1, dim),
        "patch_embed.proj.weight": (dim, 3, patch, patch),
        "patch_embed.proj.bias": (dim,),
    }
    for i in range(DINOV2_TEST["depth"]):
        for name, shape in block.items():
            shapes[f"blocks.{i}.{name}.weight"] = shape
            shapes[f"blocks.{i}.{name}.bias"] = shape[:1]
        shapes |= {f"blocks.{i}.ls1.gamma": (dim,), f"blocks.{i}.ls2.gamma": (dim,)}
    return shapes | {"norm.weight": (dim,), "norm.bias": (dim,)}


def dinov2_vit_file(seed: int = 41, *, swiglu: bool = False, registers: int = 0) -> dict[str, Tensor]:
    """A DINOv2 backbone file of DINOV2_TEST's size: the state dict its hub loader reads strictly, random weights
    (layer scales and norms far from ones, attention peaked) so that a wrongly placed tensor changes the features."""
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in _dinov2_shapes(swiglu=swiglu, registers=registers).items():
        if re.search(r"norm\d?\.weight|gamma", key):
            state[key] = torch.rand(shape, generator=generator) + 0.5
        else:
            scale = 0.25 if "qkv.weight" in key else 1.0 if len(shape) == 3 else shape[-1] ** -0.5
            state[key] = torch.randn(shape, generator=generator) * scale
    return state


class Dinov2Vit(StateVit):
    """DINOv2's DinoVisionTransformer computed from its state dict, written from its definitions (@b8931f7:
    models/vision_transformer.py interpolate_pos_encoding :180-212, prepare_tokens_with_masks :214-233,
    forward_features :255-271; layers/block.py Block.forward :89-114; layers/attention.py Attention :69-79;
    layers/mlp.py :34-40; layers/swiglu_ffn.py :30-34), resampling its position embedding on square images of another
    grid as the hub loader sets it up (hub/backbones.py:27-28; with registers :106-108); `forward_head` gives the
    class token after `norm`, its forward's output (:325-330)."""

    def _ffn(self, name: str, x: Tensor) -> Tensor:
        if f"{name}.w12.weight" in self.state:
            x1, x2 = self._linear(f"{name}.w12", x).chunk(2, dim=-1)
            return self._linear(f"{name}.w3", F.silu(x1) * x2)
        return self._linear(f"{name}.fc2", F.gelu(self._linear(f"{name}.fc1", x)))

    def _pos_embed(self, grid: int) -> Tensor:
        pos_embed = self.state["pos_embed"]
        size = int((pos_embed.shape[1] - 1) ** 0.5)
        if grid == size:
            return pos_embed
        patches = pos_embed[:, 1:].reshape(1, size, size, -1).permute(0, 3, 1, 2)
        if "register_tokens" in self.state:  # interpolate_antialias=True, interpolate_offset=0.0
            patches = F.interpolate(patches, size=(grid, grid), mode="bicubic", antialias=True)
        else:  # interpolate_antialias=False, interpolate_offset=0.1
            scale = (grid + 0.1) / size
            patches = F.interpolate(patches, scale_factor=(scale, scale), mode="bicubic", antialias=False)
        return torch.cat((pos_embed[:, :1], patches.permute(0, 2, 3, 1).reshape(1, grid * grid, -1)), dim=1)

    def forward_features(self, image: Tensor) -> Tensor:
        state = self.state
        weight = state["patch_embed.proj.weight"]
        x = F.conv2d(image, weight, state["patch_embed.proj.bias"], stride=weight.shape[-1])
        grid = x.shape[-1]
        x = x.flatten(2).transpose(1, 2)
        x = torch.cat((state["cls_token"].expand(len(x), -1, -1), x), dim=1) + self._pos_embed(grid)
        if "register_tokens" in state:
            x = torch.cat((x[:, :1], state["register_tokens"].expand(len(x), -1, -1), x[:, 1:]), dim=1)
        for i in range(sum(key.endswith(".ls1.gamma") for key in state)):
            block = f"blocks.{i}"
            x = x + state[f"{block}.ls1.gamma"] * self._attention(f"{block}.attn", self._norm(f"{block}.norm1", x))
            x = x + state[f"{block}.ls2.gamma"] * self._ffn(f"{block}.mlp", self._norm(f"{block}.norm2", x))
        return self._norm("norm", x)

    def forward_head(self, x: Tensor, pre_logits: bool = True) -> Tensor:
        return x[:, 0]
