"""Converters: checkpoints in each source's real key layout must give timm the source network's features."""

from __future__ import annotations

import argparse
import copy
import json
import os
import pickle
import re
import shlex
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import timm
import torch
from safetensors.torch import save_file
from timm.models.regnet import RegNet, RegNetCfg
from timm.models.xcit import Xcit
from torch import Tensor, nn
from torch.nn import functional as F

from simsiam_zoo import load_backbone
from simsiam_zoo.augment import Preprocessing
from simsiam_zoo.checkpoint import read_torch_checkpoint
from simsiam_zoo.convert import (
    CONVERTERS,
    convert_state_dict,
    detect_format,
    flatten_checkpoint,
    load_checkpoint_file,
)
from simsiam_zoo.convert.detectron2 import to_detectron2, write_detectron2_pickle
from simsiam_zoo.errors import ConversionError, HubFolderError
from simsiam_zoo.export import convert_to_hub
from tests.builders import error_message, make_fifo, run_cli
from tests.checkpoints import (
    BEIT_TEST_ARCH,
    BEIT_TEST_ARGS,
    CONVNEXTV2_TEST,
    CONVNEXTV2_TEST_ARCH,
    DINOV2_TEST,
    IJEPA_TEST_ARCH,
    IJEPA_TEST_ARGS,
    LIGHTLY_IBOT_ARGS,
    MOCOV3_TEST_ARGS,
    SWIN_TEST,
    SWIN_TEST_ARCH,
    VICREGL_ARGS,
    VIT_IMAGE,
    Dinov2Vit,
    MmpretrainConvNeXt,
    MmpretrainSwin,
    Wrapper,
    dino_vit_file,
    dino_xcit_file,
    dinov2_vit_file,
    ibot_student_file,
    ibot_vit_file,
    ijepa_checkpoint,
    lightly_vit_checkpoint,
    mae_vit_file,
    mlp,
    mmpretrain_beit_checkpoint,
    mmpretrain_convnext_checkpoint,
    mmpretrain_swin_checkpoint,
    mmpretrain_vit_checkpoint,
    mocov3_vit_checkpoint,
    randomise_regnet,
    randomise_xcit,
    seeded_resnet,
    sincos_pos_embed,
    vicregl_convnext,
    vicregl_convnext_file,
    vissl_dino_vit_checkpoint,
    vissl_dino_xcit_checkpoint,
    vissl_regnet_checkpoint,
    vissl_trunk,
    vissl_vit_trunk,
    vit_features,
)


def _check(
    tmp_path: Path,
    filename: str,
    checkpoint: dict[str, Any],
    net: nn.Module,
    arch: str,
    expected: str,
    save: Callable[[Any, Path], None] = torch.save,
) -> dict[str, Tensor]:
    """Save, load, convert (detected and explicit) and compare timm's features with the source network's."""
    path = tmp_path / filename
    save(checkpoint, path)
    loaded = load_checkpoint_file(path)
    name, converted = convert_state_dict(loaded)
    assert name == expected == detect_format(loaded)
    _, explicit = convert_state_dict(loaded, source=expected)
    assert explicit.keys() == converted.keys()
    assert all(torch.equal(explicit[key], converted[key]) for key in converted)
    for value in converted.values():
        assert value.is_contiguous()
        assert value.dtype in (torch.float32, torch.int64)

    model = timm.create_model(arch, num_classes=0).eval()
    model.load_state_dict(converted, strict=True)
    net.fc = nn.Identity()
    image = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(model(image), net.eval()(image), atol=1e-5, rtol=0)
    return converted


@pytest.mark.parametrize(("ddp", "arch"), [(True, "resnet50"), (False, "resnet18")], ids=["ddp", "single-gpu"])
def test_official_simsiam(tmp_path: Path, ddp: bool, arch: str) -> None:
    encoder = seeded_resnet(arch, seed=0)
    encoder.fc = mlp(encoder.fc.in_features, 32)  # SimSiam puts its projector in encoder.fc
    model = Wrapper(encoder=encoder, predictor=mlp(32, 32))
    if ddp:
        model = Wrapper(module=model)
    checkpoint = {"epoch": 100, "arch": arch, "state_dict": model.state_dict(), "optimizer": {}}
    out = _check(tmp_path, "checkpoint_0099.pth.tar", checkpoint, encoder, arch, "official_simsiam")
    assert ("layer4.2.bn3.running_var" in out) == (arch == "resnet50")
    assert out["bn1.num_batches_tracked"].item() == 100  # kept from the source, not reset


@pytest.mark.parametrize("ddp", [True, False], ids=["module-prefix", "no-prefix"])
def test_moco_v2(tmp_path: Path, ddp: bool) -> None:
    encoder_q = seeded_resnet("resnet18", seed=1)
    encoder_q.fc = nn.Sequential(nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 128))
    model = Wrapper(encoder_q=encoder_q, encoder_k=seeded_resnet("resnet18", seed=2))
    model.register_buffer("queue", torch.randn(128, 64))
    model.register_buffer("queue_ptr", torch.zeros(1, dtype=torch.long))
    if ddp:
        model = Wrapper(module=model)
    checkpoint = {"epoch": 200, "arch": "resnet18", "state_dict": model.state_dict()}
    _check(tmp_path, "moco_v2.pth.tar", checkpoint, encoder_q, "resnet18", "moco")


def test_moco_v3(tmp_path: Path) -> None:
    base = seeded_resnet("resnet18", seed=3)
    base.fc = mlp(512, 32)
    momentum = seeded_resnet("resnet18", seed=4)
    model = Wrapper(module=Wrapper(base_encoder=base, momentum_encoder=momentum, predictor=mlp(32, 32)))
    _check(tmp_path, "r-50-100ep.pth.tar", {"state_dict": model.state_dict()}, base, "resnet18", "moco")


def test_solo_learn(tmp_path: Path) -> None:
    backbone = seeded_resnet("resnet18", seed=5)
    backbone.fc = nn.Identity()  # solo-learn removes the classifier from its backbones
    momentum = seeded_resnet("resnet18", seed=6)
    momentum.fc = nn.Identity()
    model = Wrapper(
        backbone=backbone,
        projector=mlp(512, 32),
        predictor=mlp(32, 32),
        classifier=nn.Linear(512, 10),
        momentum_backbone=momentum,
        momentum_projector=mlp(512, 32),
    )
    checkpoint = {"epoch": 9, "global_step": 90, "state_dict": model.state_dict(), "loops": {}}
    _check(tmp_path, "simsiam-ep=9.ckpt", checkpoint, backbone, "resnet18", "solo_learn")


def test_mmselfsup(tmp_path: Path) -> None:
    backbone = seeded_resnet("resnet18", seed=7)
    backbone.fc = nn.Identity()  # mmcv's ResNet has no classifier
    neck = nn.ModuleDict({"fc0": nn.Linear(512, 16), "bn0": nn.BatchNorm1d(16), "fc1": nn.Linear(16, 32)})
    head = Wrapper(predictor=nn.ModuleDict({"fc0": nn.Linear(32, 16), "bn0": nn.BatchNorm1d(16)}))
    model = Wrapper(backbone=backbone, neck=neck, head=head)
    checkpoint = {"meta": {"mmselfsup_version": "1.0.0", "epoch": 100}, "state_dict": model.state_dict()}
    _check(tmp_path, "simsiam_resnet18_8xb32-coslr-100e.pth", checkpoint, backbone, "resnet18", "mmselfsup")


def test_bare_backbone_prefix_is_mmselfsup_and_converts_as_solo_learn_too(tmp_path: Path) -> None:
    backbone = seeded_resnet("resnet18", seed=8)
    backbone.fc = nn.Identity()
    checkpoint = {"state_dict": Wrapper(backbone=backbone).state_dict()}
    out = _check(tmp_path, "backbone.pth", checkpoint, backbone, "resnet18", "mmselfsup")
    _, as_solo = convert_state_dict(checkpoint, source="solo_learn")
    assert all(torch.equal(as_solo[key], out[key]) for key in out)


@pytest.mark.parametrize("layout", ["lightning", "tutorial"])
def test_lightly(tmp_path: Path, layout: str) -> None:
    resnet = seeded_resnet("resnet18", seed=9)
    backbone = nn.Sequential(*list(resnet.children())[:-1])
    if layout == "lightning":
        model = Wrapper(
            backbone=backbone,
            projection_head=Wrapper(layers=mlp(512, 32)),
            prediction_head=Wrapper(layers=mlp(32, 32)),
            backbone_momentum=copy.deepcopy(backbone),
        )
        checkpoint = {"epoch": 3, "state_dict": model.state_dict()}
    else:
        checkpoint = {"resnet18_parameters": backbone.state_dict()}
    _check(tmp_path, "lightly.ckpt", checkpoint, resnet, "resnet18", "lightly")


@pytest.mark.parametrize("layout", ["classy_state_dict", "flat-model", "model_state_dict"])
def test_vissl(tmp_path: Path, layout: str) -> None:
    net = seeded_resnet("resnet18", seed=10)
    model = Wrapper(trunk=vissl_trunk(net), heads=nn.ModuleList([Wrapper(clf=mlp(512, 32))]))
    if layout == "classy_state_dict":
        trunk = model.trunk.state_dict()
        heads = model.heads.state_dict()
        base_model = {"model": {"trunk": trunk, "heads": heads}, "meta": {}}
        checkpoint = {"type": "consolidated", "phase_idx": 3, "classy_state_dict": {"base_model": base_model}}
    elif layout == "model_state_dict":
        # VISSL's conversions of other projects' files (converted_vissl_*.torch), which its benchmark configs load
        # with STATE_DICT_KEY_NAME=model_state_dict and APPEND_PREFIX=trunk.base_model.
        checkpoint = {"model_state_dict": model.trunk.state_dict()}
    else:
        checkpoint = model.state_dict()
    _check(tmp_path, "model_final_checkpoint_phase199.torch", checkpoint, net, "resnet18", "vissl")


@pytest.mark.parametrize("release", ["dino", "barlowtwins", "vicreg", "densecl"])
def test_backbone_only_releases_are_plain_torchvision_names(tmp_path: Path, release: str) -> None:
    net = seeded_resnet("resnet18", seed=11)
    net.fc = nn.Identity()  # MultiCropWrapper (DINO), `backbone.fc = Identity()` (Barlow Twins): no classifier
    checkpoint: dict[str, Any] = net.state_dict()
    if release == "densecl":  # tools/extract_backbone_weights.py
        checkpoint = {"state_dict": net.state_dict(), "author": "DenseCL"}
    _check(tmp_path, f"{release}_resnet50.pth", checkpoint, net, "resnet18", "torchvision")


def test_swav_hub_file_drops_projection_head_and_prototypes(tmp_path: Path) -> None:
    net = seeded_resnet("resnet18", seed=15)
    net.fc = nn.Identity()
    # swav's src/resnet50.py: the heads are attributes of the ResNet itself; the DDP model is saved as is.
    swav = copy.deepcopy(net)
    swav.add_module("projection_head", mlp(512, 32))
    swav.add_module("prototypes", nn.Linear(32, 100, bias=False))
    del swav.fc
    _check(tmp_path, "swav_800ep_pretrain.pth.tar", Wrapper(module=swav).state_dict(), net, "resnet18", "swav")


@pytest.mark.parametrize("release", ["barlowtwins", "vicregl"])
def test_barlowtwins_and_vicreg_full_checkpoints(tmp_path: Path, release: str) -> None:
    backbone = seeded_resnet("resnet18", seed=16)
    backbone.fc = nn.Identity()
    if release == "vicregl":  # main_vicregl.py: VICRegL(backbone, maps_projector, projector, classifier)
        heads = {"maps_projector": mlp(512, 32), "projector": mlp(512, 32), "classifier": nn.Linear(512, 10)}
    else:
        heads = {"projector": mlp(512, 32), "bn": nn.BatchNorm1d(32, affine=False)}
    model = Wrapper(module=Wrapper(backbone=backbone, **heads))
    checkpoint = {"epoch": 1000, "model": model.state_dict(), "optimizer": {"state": {}, "param_groups": []}}
    _check(tmp_path, "checkpoint.pth", checkpoint, backbone, "resnet18", "barlowtwins_vicreg")


# The momentum copy: `teacher_backbone` (BYOL, DINO), `backbone_momentum` (TiCo).
@pytest.mark.parametrize("momentum_name", ["teacher_backbone", "backbone_momentum"])
def test_lightly_benchmark_lightning_checkpoint_with_hyper_parameters(
    tmp_path: Path, monkeypatch, momentum_name: str
) -> None:
    """lightly's benchmarks/imagenet/resnet50: torchvision ResNet with fc = Identity under `backbone`; Lightning
    pickles `save_hyperparameters()` as an AttributeDict, read back as a plain dict without importing Lightning."""
    import sys
    import types

    class AttributeDict(dict):
        pass

    AttributeDict.__module__, AttributeDict.__qualname__ = "lightning_fabric.utilities.data", "AttributeDict"
    for name in ("lightning_fabric", "lightning_fabric.utilities", "lightning_fabric.utilities.data"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    sys.modules["lightning_fabric.utilities.data"].AttributeDict = AttributeDict  # type: ignore[attr-defined]
    backbone = seeded_resnet("resnet18", seed=17)
    backbone.fc = nn.Identity()
    teacher = copy.deepcopy(backbone)
    model = Wrapper(
        backbone=backbone,
        projection_head=Wrapper(layers=mlp(512, 32)),
        online_classifier=Wrapper(classification_head=nn.Linear(512, 10)),
        **{momentum_name: teacher},
    )
    checkpoint = {
        "epoch": 99,
        "global_step": 500400,
        "pytorch-lightning_version": "2.1.0",
        "state_dict": model.state_dict(),
        "loops": {"fit_loop": {"state_dict": {}}},
        "callbacks": {"ModelCheckpoint{}": {"best_model_score": None}},
        "optimizer_states": [{"state": {}, "param_groups": [{"lr": 0.1}]}],
        "lr_schedulers": [],
        "hparams_name": "kwargs",
        "hyper_parameters": AttributeDict(batch_size_per_device=128, num_classes=1000),
    }
    _check(tmp_path, "epoch=99-step=500400.ckpt", checkpoint, backbone, "resnet18", "lightly")


@pytest.mark.parametrize("copy_name", ["target_net.module", "momentum_encoder.module", "encoder_k.module"])
def test_mmpretrain_momentum_copies_are_dropped(tmp_path: Path, copy_name: str) -> None:
    backbone = seeded_resnet("resnet18", seed=18)
    backbone.fc = nn.Identity()
    momentum = Wrapper(backbone=seeded_resnet("resnet18", seed=19), neck=mlp(512, 32))
    model = Wrapper(backbone=backbone, neck=mlp(512, 32), head=Wrapper(predictor=mlp(32, 32)))
    state = {**model.state_dict(), **{f"{copy_name}.{k}": v for k, v in momentum.state_dict().items()}}
    checkpoint = {"meta": {"epoch": 200}, "state_dict": state}
    _check(
        tmp_path,
        "byol_resnet50_16xb256-coslr-200e_in1k_20220825-de817331.pth",
        checkpoint,
        backbone,
        "resnet18",
        "mmselfsup",
    )


@pytest.mark.parametrize("algorithm", ["byol", "interclr"])
def test_mmselfsup_0x_checkpoint_with_the_backbone_under_two_names(tmp_path: Path, algorithm: str) -> None:
    """mmselfsup 0.x BYOL / InterCLR-MoCo: `online_net` / `encoder_q` = Sequential(backbone, neck), with
    `self.backbone = online_net[0]`; mmcv's get_state_dict does not deduplicate, so the weights are both under
    `online_net.0.*` and `backbone.*`, beside the momentum copy `target_net.0.*` / `encoder_k.0.*`."""
    backbone = seeded_resnet("resnet18", seed=20)
    backbone.fc = nn.Identity()
    momentum = seeded_resnet("resnet18", seed=21)
    momentum.fc = nn.Identity()
    online, target = ("online_net", "target_net") if algorithm == "byol" else ("encoder_q", "encoder_k")
    neck = mlp(512, 32)
    model = Wrapper(**{online: nn.Sequential(backbone, neck), target: nn.Sequential(momentum, mlp(512, 32))})
    model.backbone, model.neck = backbone, neck
    model.head = Wrapper(predictor=mlp(32, 32))
    state = model.state_dict()
    assert "backbone.conv1.weight" in state and f"{online}.0.conv1.weight" in state
    checkpoint = {"meta": {"mmselfsup_version": "0.11.0", "epoch": 200}, "state_dict": state}
    name = f"{algorithm}_resnet50_8xb32-coslr-200e_in1k_20220225-5c8b2c2e.pth"
    _check(tmp_path, name, checkpoint, backbone, "resnet18", "mmselfsup")


def test_mmpretrain_spark_sparse_resnet(tmp_path: Path) -> None:
    """mmpretrain SparK: the SparseResNet keeps ResNet's parameter names (sparse conv / BN subclasses), beside
    SparK's own `mask_tokens`, `enc_dec_norms`, `enc_dec_projectors` and the decoder neck."""
    backbone = seeded_resnet("resnet18", seed=22)
    backbone.fc = nn.Identity()
    model = Wrapper(
        backbone=backbone,
        neck=mlp(512, 32),
        head=nn.Identity(),
        enc_dec_norms=nn.ModuleList([nn.BatchNorm2d(8)]),
        enc_dec_projectors=nn.ModuleList([nn.Conv2d(8, 8, 1)]),
        mask_tokens=nn.ParameterList([nn.Parameter(torch.zeros(1, 8, 1, 1))]),
    )
    checkpoint = {"meta": {"epoch": 800}, "state_dict": model.state_dict()}
    name = "spark_sparse-resnet50_8xb512-amp-coslr-800e_in1k_20230612-e403c28f.pth"
    _check(tmp_path, name, checkpoint, backbone, "resnet18", "mmselfsup")


def test_dino_full_checkpoint_uses_teacher(tmp_path: Path) -> None:
    def multicrop(seed: int) -> tuple[nn.Module, nn.Module]:
        backbone = seeded_resnet("resnet18", seed=seed)
        backbone.fc = nn.Identity()
        return Wrapper(module=Wrapper(backbone=backbone, head=mlp(512, 32))), backbone

    student, _ = multicrop(12)
    teacher, teacher_backbone = multicrop(13)
    checkpoint = {
        "student": student.state_dict(),
        "teacher": teacher.state_dict(),
        "epoch": 100,
        "args": argparse.Namespace(arch="resnet18", out_dim=60000),
        "dino_loss": {"center": torch.zeros(1, 32)},
    }
    _check(tmp_path, "checkpoint.pth", checkpoint, teacher_backbone, "resnet18", "dino")


def _saved_and_converted(path: Path, checkpoint: Any, expected: str) -> dict[str, Tensor]:
    """`checkpoint` saved at `path`, read back and converted: the converter detected is `expected`, by name and
    alone; its conversion."""
    torch.save(checkpoint, path)
    loaded = load_checkpoint_file(path)
    name, converted = convert_state_dict(loaded)
    assert name == expected == detect_format(loaded)
    assert convert_state_dict(loaded, source=expected)[1].keys() == converted.keys()
    return converted


def _check_vit(
    tmp_path: Path, checkpoint: Any, net: nn.Module, expected: str, arch: str = "test_vit", **model_args: Any
) -> set[str]:
    """Save, load, convert (detected and explicit): timm's `arch` (`test_vit`; with `model_args`) holding the
    converted weights, loaded strictly, gives `net`'s features; returns the keys the conversion left out of `net`'s."""
    converted = _saved_and_converted(tmp_path / "checkpoint.pth", checkpoint, expected)
    assert all(value.is_contiguous() and value.dtype == torch.float32 for value in converted.values())
    model = timm.create_model(arch, num_classes=0, **model_args).eval()
    model.load_state_dict(converted, strict=True)
    with torch.no_grad():
        torch.testing.assert_close(model(VIT_IMAGE), vit_features(net, VIT_IMAGE), atol=1e-5, rtol=0)
    return set(net.state_dict()) - set(converted)


def test_dino_vit_backbone_file_is_timm_names(tmp_path: Path) -> None:
    state, net = dino_vit_file()
    assert _check_vit(tmp_path, state, net, "timm_vit") == set()


def test_a_vit_without_its_arch_is_told_to_name_it_and_not_exported_for_detectron2(tmp_path: Path) -> None:
    """Only a ResNet is told by its keys: the refusal said "not a ResNet backbone" and not what to do; detectron2's
    export of a ViT said "not a converted ResNet backbone" without naming MODEL."""
    state, _ = dino_vit_file()
    torch.save(state, tmp_path / "vit.pth")
    with pytest.raises(HubFolderError, match=r"vit.pth: no conv1.weight: .*; name its timm architecture \(--arch\)$"):
        convert_to_hub(tmp_path / "vit.pth", tmp_path / "out", name="mine.vit")
    # A ResNet of blocks no architecture has: the hint said twice ("give it explicitly (--arch); name its ...").
    resnet = {
        key: value for key, value in seeded_resnet("resnet18", seed=0).state_dict().items() if "layer4.1" not in key
    }
    torch.save(resnet, tmp_path / "cut.pth")
    with pytest.raises(
        HubFolderError, match=r"cut.pth: cannot tell the architecture .*\(blocks \[2, 2, 2, 1\]\); name its timm arch"
    ) as refused:
        convert_to_hub(tmp_path / "cut.pth", tmp_path / "out", name="mine.cut")
    assert str(refused.value).count("--arch") == 1
    convert_to_hub(tmp_path / "vit.pth", tmp_path / "out", name="mine.vit", arch="test_vit")
    done = run_cli("export-detectron2", tmp_path / "out", tmp_path / "vit.pkl")
    assert done.returncode == 3, done.stderr[-3000:]
    assert error_message(done).startswith(f"error: {tmp_path / 'out'}: not a ResNet backbone, which is all detectron2")
    assert not (tmp_path / "vit.pkl").exists()


def test_mae_vit_file_is_timm_names_under_model(tmp_path: Path) -> None:
    checkpoint, net = mae_vit_file()
    assert _check_vit(tmp_path, checkpoint, net, "timm_vit") == set()


def test_ibot_teacher_backbone_file_is_timm_names_under_state_dict(tmp_path: Path) -> None:
    checkpoint, net = ibot_vit_file()
    assert _check_vit(tmp_path, checkpoint, net, "timm_vit") == set()


def test_ibot_student_backbone_file_drops_only_its_masked_embed(tmp_path: Path) -> None:
    checkpoint, net = ibot_student_file()
    assert _check_vit(tmp_path, checkpoint, net, "timm_vit") == set()
    converted = convert_state_dict(checkpoint)[1]
    assert set(checkpoint["state_dict"]) - set(converted) == {"masked_embed"}


@pytest.mark.parametrize("method", ["dino", "ibot", "lejepa"])
def test_lightly_vit_benchmark_checkpoint_keeps_the_evaluated_vit(tmp_path: Path, method: str) -> None:
    checkpoint, teacher = lightly_vit_checkpoint(method)
    model_args = LIGHTLY_IBOT_ARGS if method == "ibot" else {}
    # Exactly the never-trained 1000-class head of timm's ViT (none in LeJEPA's) is left out of the evaluated network.
    expected = set() if method == "lejepa" else {"head.weight", "head.bias"}
    assert _check_vit(tmp_path, checkpoint, teacher, "lightly_vit", **model_args) == expected


# What each method's backbone holds that is not the encoder: MaskFeat's mask token, MFF's fusion of blocks' outputs.
_MMPRETRAIN_BACKBONE_EXTRAS = {
    "maskfeat": {"backbone.mask_token"},
    "mff": {"backbone.proj_weights", *(f"backbone.proj_layers.{i}.{p}" for i in range(5) for p in ("weight", "bias"))},
}


@pytest.mark.parametrize("method", ["mocov3", "mae", "milan", "maskfeat", "mff", "pixmim"])
def test_mmpretrain_vit_renames_the_backbone_and_drops_the_rest(tmp_path: Path, method: str) -> None:
    checkpoint, net = mmpretrain_vit_checkpoint(method)
    model_args = MOCOV3_TEST_ARGS if method == "mocov3" else {}
    assert _check_vit(tmp_path, checkpoint, net, "mmpretrain_vit", **model_args) == set()
    converted = convert_state_dict(checkpoint)[1]
    if method != "maskfeat":
        torch.testing.assert_close(converted["pos_embed"], sincos_pos_embed(net), atol=0, rtol=0)
    # Everything but the backbone is dropped (neck, head, momentum copy, MILAN's CLIP, MaskFeat's HOG and PixMIM's
    # low-pass target generators), and of the backbone exactly its extras.
    backbone = {key for key in checkpoint["state_dict"] if key.startswith("backbone.")}
    extras = _MMPRETRAIN_BACKBONE_EXTRAS.get(method, set())
    assert extras <= backbone
    assert len(converted) == len(backbone - extras)


_SHARED_TABLE = "backbone.rel_pos_bias.relative_position_bias_table"


def test_mmpretrain_beit_gives_every_block_the_shared_relative_position_bias_and_drops_the_rest(tmp_path: Path) -> None:
    """The network BEiT's checkpoint holds (its one table shared by every block) computes as timm's Beit with a copy of
    the table in each block, as upstream's fine-tuning loads it; nothing but the backbone is kept."""
    checkpoint, net = mmpretrain_beit_checkpoint()
    _check_vit(tmp_path, checkpoint, net, "mmpretrain_beit", BEIT_TEST_ARCH, **BEIT_TEST_ARGS)
    state = checkpoint["state_dict"]
    converted = convert_state_dict(checkpoint)[1]
    tables = [converted[f"blocks.{i}.attn.relative_position_bias_table"] for i in range(BEIT_TEST_ARGS["depth"])]
    assert all(torch.equal(table, state[_SHARED_TABLE]) for table in tables)
    # Everything but the backbone (BEiTV1Head, the DALL-E tokenizer), and of the backbone its mask token and the
    # shared table's index; the shared table is one per block.
    shared = {_SHARED_TABLE, "backbone.rel_pos_bias.relative_position_index", "backbone.mask_token"}
    kept = {key for key in state if key.startswith("backbone.")} - shared
    assert len(converted) == len(kept) + len(tables)


def test_an_mmpretrain_beit_of_another_layout_is_refused() -> None:
    """An absolute position embedding (CAE's backbone) or a table per block is another network than the entries'."""
    checkpoint, _ = mmpretrain_beit_checkpoint()
    state = checkpoint["state_dict"]
    with pytest.raises(ConversionError, match="^mmpretrain_beit: not BEiT's backbone .*unexpected keys: pos_embed"):
        convert_state_dict({**state, "backbone.pos_embed": torch.zeros(1, 101, 64)})
    without_shared = {key: value for key, value in state.items() if key != _SHARED_TABLE}
    with pytest.raises(ConversionError, match="^mmpretrain_beit: no shared relative position bias"):
        convert_state_dict(without_shared)


def test_mocov3_vit_keeps_the_base_encoder_and_its_sincos_pos_embed_and_drops_its_projector(tmp_path: Path) -> None:
    checkpoint, base = mocov3_vit_checkpoint()
    dropped = _check_vit(tmp_path, checkpoint, base, "mocov3_vit", **MOCOV3_TEST_ARGS)
    # Exactly the projector, as main_lincls.py:177-189 drops it (there the classifier's head.* are what is missing).
    assert dropped == {key for key in base.state_dict() if key.startswith("head.")} and dropped
    converted = convert_state_dict(checkpoint)[1]
    torch.testing.assert_close(converted["pos_embed"], sincos_pos_embed(base), atol=0, rtol=0)


def test_mocov3_vit_small_is_not_timms_with_its_default_heads(tmp_path: Path) -> None:
    """The head count is in no weight shape: timm's default heads load the weights strictly and compute otherwise."""
    checkpoint, base = mocov3_vit_checkpoint()
    model = timm.create_model("test_vit", num_classes=0).eval()
    model.load_state_dict(convert_state_dict(checkpoint)[1], strict=True)
    with torch.no_grad():
        assert not torch.allclose(model(VIT_IMAGE), vit_features(base, VIT_IMAGE), atol=1e-3)


def test_ijepa_keeps_the_target_encoder_without_a_class_token(tmp_path: Path) -> None:
    """timm's `_gap_` ViT holding the converted target encoder gives the features of I-JEPA's network (the mean
    of its normed patch tokens); everything else of the checkpoint is left out: context encoder, predictor and the
    optimizer's state."""
    checkpoint, net = ijepa_checkpoint()
    assert _check_vit(tmp_path, checkpoint, net, "ijepa_vit", IJEPA_TEST_ARCH, **IJEPA_TEST_ARGS) == set()
    flat = flatten_checkpoint(checkpoint)
    kept = {f"target_encoder.module.{key}" for key in convert_state_dict(flat)[1]}
    assert {key.split(".")[0] for key in set(flat) - kept} == {"encoder", "predictor", "opt"}
    assert not any(key.startswith("target_encoder.") for key in set(flat) - kept)


def test_ijepa_refuses_a_class_token_and_names_where_it_looked() -> None:
    checkpoint, _ = ijepa_checkpoint()
    extra = {**flatten_checkpoint(checkpoint), "target_encoder.module.foo": torch.zeros(1)}
    with pytest.raises(ConversionError, match="^ijepa_vit: not a timm ViT backbone without a class token; .*: foo$"):
        convert_state_dict(extra)
    state, _ = dino_vit_file()  # a class-token ViT: no I-JEPA encoder, and detected as timm_vit's
    with pytest.raises(ConversionError, match="^ijepa_vit: no ViT without a class token under target_encoder.module. "):
        convert_state_dict({f"target_encoder.module.{k}": v for k, v in state.items()}, source="ijepa_vit")
    assert detect_format(state) == "timm_vit"


def test_a_vit_with_other_modules_is_refused(tmp_path: Path) -> None:
    state, _ = dino_vit_file()
    registers = {**state, "reg_token": torch.zeros(1, 4, 64)}
    with pytest.raises(ConversionError, match="unexpected keys: reg_token"):
        convert_state_dict(registers)
    without_norm = {key: value for key, value in state.items() if not key.startswith("norm.")}
    with pytest.raises(
        ConversionError, match=r"incomplete backbone \(a timm ViT backbone with a class token\), no norm.weight"
    ):
        convert_state_dict(without_norm)


@pytest.mark.parametrize(
    ("converter", "prefixes"),
    [
        ("mocov3_vit", "module.base_encoder. or base_encoder."),
        ("lightly_vit", "teacher_backbone.vit. or backbone.vit. or backbone."),
    ],
)
def test_a_vit_converter_asked_for_a_file_without_its_vit_names_where_it_looked(converter: str, prefixes: str) -> None:
    state, _ = dino_vit_file()  # a ViT, but at the top level, under none of the converter's prefixes
    with pytest.raises(ConversionError, match=rf"^{converter}: no ViT under {re.escape(prefixes)}; keys: cls_token, "):
        convert_state_dict(state, source=converter)


# timm's DINOv2 architectures: ViT-S/14 with an MLP, ViT-g/14 with SwiGLU, each without and with 4 registers.
_DINOV2_VARIANTS = {
    "small": ("vit_small_patch14_dinov2", False, 0),
    "small_reg4": ("vit_small_patch14_reg4_dinov2", False, 4),
    "giant_swiglu": ("vit_giant_patch14_dinov2", True, 0),
    "giant_swiglu_reg4": ("vit_giant_patch14_reg4_dinov2", True, 4),
}


@pytest.mark.parametrize("variant", list(_DINOV2_VARIANTS))
def test_dinov2_backbone_file_gives_the_features_of_dinov2s_network(tmp_path: Path, variant: str) -> None:
    """timm's DINOv2 architecture holding the converted weights computes what DINOv2's DinoVisionTransformer (written
    out from its definitions: Dinov2Vit) computes from the file: exactly its mask token is dropped."""
    arch, swiglu, registers = _DINOV2_VARIANTS[variant]
    state = dinov2_vit_file(swiglu=swiglu, registers=registers)
    path = tmp_path / "dinov2_vits14_pretrain.pth"
    torch.save(state, path)
    loaded = load_checkpoint_file(path)
    name, converted = convert_state_dict(loaded)
    assert name == "dinov2" == detect_format(loaded)
    assert len(converted) == len(state) - 1 and "mask_token" not in converted
    model = timm.create_model(arch, num_classes=0, **DINOV2_TEST).eval()
    model.load_state_dict(converted, strict=True)
    upstream = Dinov2Vit(state, num_heads=DINOV2_TEST["num_heads"])
    with torch.no_grad():
        torch.testing.assert_close(model(VIT_IMAGE), vit_features(upstream, VIT_IMAGE), atol=1e-5, rtol=0)


@pytest.mark.parametrize("registers", [0, 4])
def test_dinov2_at_a_smaller_size_resamples_the_position_embedding_as_dinov2_does_with_registers_only(
    registers: int,
) -> None:
    """The entries' 224 px on files made for 518 px: timm's dynamic_img_size resamples the position embedding as
    DINOv2's models with registers do (bicubic, antialiased, to the grid), not as those without (scale factor of the
    grid + 0.1, no antialiasing), whose features at another size therefore differ from DINOv2's own."""
    arch = "vit_small_patch14_reg4_dinov2" if registers else "vit_small_patch14_dinov2"
    state = dinov2_vit_file(registers=registers)
    model = timm.create_model(arch, num_classes=0, dynamic_img_size=True, **DINOV2_TEST).eval()
    model.load_state_dict(convert_state_dict(state)[1], strict=True)
    upstream = Dinov2Vit(state, num_heads=DINOV2_TEST["num_heads"])
    image = VIT_IMAGE[..., :64, :64]
    with torch.no_grad():
        timm_features, dinov2_features = model(image), vit_features(upstream, image)
    assert torch.allclose(timm_features, dinov2_features, atol=1e-5, rtol=0) == bool(registers)


def test_a_dinov2_training_checkpoints_chunked_blocks_are_refused() -> None:
    """Training builds the blocks in chunks (block_chunks, models/vision_transformer.py:154-161: `blocks.C.N.*`);
    the released backbones have none, and timm's blocks are not chunked."""
    state = {re.sub(r"^blocks\.", "blocks.0.", key): value for key, value in dinov2_vit_file().items()}
    state["blocks.0.attn.qkv.weight"] = state["blocks.0.0.attn.qkv.weight"]
    with pytest.raises(ConversionError, match=r"^dinov2: not a timm ViT backbone .*unexpected keys: blocks\.0\.0\."):
        convert_state_dict(state)


@pytest.mark.parametrize("ddp", [True, False], ids=["ddp-teacher", "teacher"])
def test_vissl_dino_vit_checkpoint_gives_its_teacher(tmp_path: Path, ddp: bool) -> None:
    """VISSL's DINO checkpoint holds the student (classy_state_dict's trunk) and the teacher (the loss's
    momentum_teacher): the teacher is converted, its class_token and pos_embedding renamed, none of it left out."""
    checkpoint, teacher = vissl_dino_vit_checkpoint(ddp=ddp)
    assert _check_vit(tmp_path, checkpoint, teacher, "vissl_vit") == set()


def test_vissl_extracted_dino_teacher_is_read_from_the_trunk(tmp_path: Path) -> None:
    """VISSL's extra_scripts/convert_dino_checkpoint.py writes the teacher alone as the model's trunk
    (vissl/utils/checkpoint.py:1204-1211@09270ed)."""
    _, teacher = vissl_dino_vit_checkpoint()
    model = {"trunk": vissl_vit_trunk(teacher), "heads": {}}
    extracted = {"type": "consolidated", "classy_state_dict": {"base_model": {"model": model}}}
    assert _check_vit(tmp_path, extracted, teacher, "vissl_vit") == set()


def test_vissl_vit_asked_for_a_file_without_its_trunk_where_it_looked() -> None:
    state, _ = dino_vit_file()  # timm's names: cls_token, not VISSL's class_token
    with pytest.raises(ConversionError, match=r"^vissl_vit: no VISSL ViT trunk \(class_token, .*; keys: cls_token, "):
        convert_state_dict(state, source="vissl_vit")


# XCiT as facebookresearch/xcit's xcit.py builds DINO's (xcit_small_12_p16 ... xcit_medium_24_p8, xcit.py:430-526:
# qkv bias, LayerNorm eps 1e-6, layer scale, tokens_norm=True, 2 class-attention blocks), at a test size.
XCIT_TEST = dict(embed_dim=64, depth=2, num_heads=4, eta=1.0, tokens_norm=True)


_BN_KEYS = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def _xcit_layout(patch_size: int, depth: int, class_blocks: int = 2) -> set[str]:
    """The keys of xcit.py's XCiT(num_classes=0): ConvPatchEmbed's conv3x3 pairs of conv and BatchNorm (:58-100),
    XCABlock (:264-286: norm1, attn.qkv/temperature/proj, norm3, local_mp conv1/bn/conv2 (LPI :111-130), norm2,
    mlp, gamma1-3), ClassAttentionBlock (:176-201: norm1, attn.qkv/proj, norm2, mlp, gamma1-2), norm, pos_embeder."""
    keys = {"cls_token", *(f"{m}.{p}" for m in ("norm", "pos_embeder.token_projection") for p in ("weight", "bias"))}
    for conv in range(4 if patch_size == 16 else 3):
        keys |= {f"patch_embed.proj.{2 * conv}.0.weight", *(f"patch_embed.proj.{2 * conv}.1.{p}" for p in _BN_KEYS)}
    block = (
        "norm1",
        "attn.qkv",
        "attn.proj",
        "norm3",
        "local_mp.conv1",
        "local_mp.conv2",
        "norm2",
        "mlp.fc1",
        "mlp.fc2",
    )
    for i in range(depth):
        keys |= {f"blocks.{i}.{name}" for name in ("gamma1", "gamma2", "gamma3", "attn.temperature")}
        keys |= {f"blocks.{i}.local_mp.bn.{p}" for p in _BN_KEYS}
        keys |= {f"blocks.{i}.{module}.{p}" for module in block for p in ("weight", "bias")}
    class_block = ("norm1", "attn.qkv", "attn.proj", "norm2", "mlp.fc1", "mlp.fc2")
    for i in range(class_blocks):
        keys |= {f"cls_attn_blocks.{i}.gamma1", f"cls_attn_blocks.{i}.gamma2"}
        keys |= {f"cls_attn_blocks.{i}.{module}.{p}" for module in class_block for p in ("weight", "bias")}
    return keys


def _test_xcit(patch_size: int, seed: int) -> nn.Module:
    return randomise_xcit(Xcit(patch_size=patch_size, num_classes=0, **XCIT_TEST), seed)


def test_xcit_file_class_attention_qkv_is_read_as_q_k_v() -> None:
    """The test file's qkv, read as xcit.py's ClassAttention reads it (reshape (B, N, 3, heads, C / heads), then
    q, k, v = its parts, :161-163), is the q, k and v of timm's network holding the same weights."""
    net = _test_xcit(16, seed=24)
    state, attn, tokens = dino_xcit_file(net), net.cls_attn_blocks[1].attn, torch.randn(2, 5, 64)
    qkv = nn.functional.linear(
        tokens, state["cls_attn_blocks.1.attn.qkv.weight"], state["cls_attn_blocks.1.attn.qkv.bias"]
    )
    q, k, v = qkv.reshape(2, 5, 3, 4, 16).permute(2, 0, 3, 1, 4)
    for part, linear in zip((q, k, v), (attn.q, attn.k, attn.v), strict=True):
        torch.testing.assert_close(part, linear(tokens).reshape(2, 5, 4, 16).permute(0, 2, 1, 3), atol=0, rtol=0)


@pytest.mark.parametrize("patch_size", [16, 8])
def test_dino_xcit_backbone_file_converts_to_timms_xcit(tmp_path: Path, patch_size: int) -> None:
    net = _test_xcit(patch_size, seed=25)
    state = dino_xcit_file(net)
    assert set(state) == _xcit_layout(patch_size, XCIT_TEST["depth"])  # xcit.py's names, none of timm's own
    path = tmp_path / "dino_xcit.pth"
    torch.save(state, path)
    loaded = load_checkpoint_file(path)
    name, converted = convert_state_dict(loaded)
    assert name == "xcit" == detect_format(loaded) and set(converted) == set(net.state_dict())  # nothing dropped
    assert all(v.dtype == torch.float32 for k, v in converted.items() if not k.endswith("num_batches_tracked"))
    model = Xcit(patch_size=patch_size, num_classes=0, **XCIT_TEST).eval()
    model.load_state_dict(converted, strict=True)
    image = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        # What DINO evaluates for XCiT (eval_linear.py:172, eval_knn.py:105): the class token after `norm`.
        torch.testing.assert_close(model(image), vit_features(net, image), atol=1e-5, rtol=0)


def test_vissl_dino_xcit_checkpoint_gives_its_teacher(tmp_path: Path) -> None:
    """VISSL's XCiT trunk has xcit.py's names: the teacher under the loss's momentum_teacher converts as DINO's files
    do, the student beside it left."""
    student, teacher = _test_xcit(16, seed=41), _test_xcit(16, seed=42)
    path = tmp_path / "model_phase250.torch"
    torch.save(vissl_dino_xcit_checkpoint(student, teacher), path)
    loaded = load_checkpoint_file(path)
    name, converted = convert_state_dict(loaded)
    assert name == "xcit" == detect_format(loaded) and set(converted) == set(teacher.state_dict())
    model = Xcit(patch_size=16, num_classes=0, **XCIT_TEST).eval()
    model.load_state_dict(converted, strict=True)
    image = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        torch.testing.assert_close(model(image), vit_features(teacher, image), atol=1e-5, rtol=0)


def test_an_xcit_with_other_modules_is_refused() -> None:
    state = dino_xcit_file(_test_xcit(16, seed=26))
    with pytest.raises(ConversionError, match="unexpected keys: dist_token"):
        convert_state_dict({**state, "dist_token": torch.zeros(1, 1, 64)})
    without_norm = {key: value for key, value in state.items() if not key.startswith("norm.")}
    with pytest.raises(ConversionError, match="no norm.weight"):
        convert_state_dict(without_norm, source="xcit")


# VICRegL's ConvNeXt at a test size (convnext.py:76-85: 4 stages; no layer scale, layer_scale_init_value=0.0).
VICREGL_TEST = dict(depths=(1, 1, 2, 1), dims=(16, 32, 64, 128))


def _vicregl_layout(depths: tuple[int, ...]) -> set[str]:
    """The keys of VICRegL's convnext.py ConvNeXt: downsample_layers (:88-101: the stem conv and LayerNorm, then
    LayerNorm and conv), stages.i.j blocks (:29-37: dwconv, norm, pwconv1, pwconv2; no gamma without layer scale)
    and the final norm (:122); nothing in its avgpool."""
    modules = ["downsample_layers.0.0", "downsample_layers.0.1", "norm"]
    modules += [f"downsample_layers.{i}.{j}" for i in (1, 2, 3) for j in (0, 1)]
    block = ("dwconv", "norm", "pwconv1", "pwconv2")
    modules += [f"stages.{i}.{j}.{name}" for i, depth in enumerate(depths) for j in range(depth) for name in block]
    return {f"{module}.{p}" for module in modules for p in ("weight", "bias")}


def vicregl_features(net: nn.Module, image: Tensor) -> Tensor:
    """What VICRegL's linear probe reads (evaluate.py:320-322, convnext.py:132-139): the last stage's map as tokens,
    each LayerNorm-ed by the final norm, then averaged; computed here from `net`'s stages and its norm's weights."""
    with torch.no_grad():
        tokens = net.stages(net.stem(image)).flatten(2, 3).permute(0, 2, 1)
        norm = net.norm_pre
        return nn.functional.layer_norm(tokens, tokens.shape[-1:], norm.weight, norm.bias, norm.eps).mean(dim=1)


def test_vicregl_convnext_file_converts_to_timms_convnext_with_its_norm_before_the_pool(tmp_path: Path) -> None:
    net = vicregl_convnext(29, **VICREGL_TEST)
    state = vicregl_convnext_file(net)
    assert set(state) == _vicregl_layout(VICREGL_TEST["depths"])  # VICRegL's names, none of timm's own
    path = tmp_path / "convnext_small_alpha0.9.pth"
    torch.save(state, path)
    loaded = load_checkpoint_file(path)
    name, converted = convert_state_dict(loaded)
    assert name == "vicregl_convnext" == detect_format(loaded)
    # timm's blocks always have a layer scale: the conversion's are ones, the rest is the network's own.
    gammas = {key for key in converted if key.endswith(".gamma")}
    assert set(converted) - gammas == set(net.state_dict()) and len(gammas) == sum(VICREGL_TEST["depths"])
    assert all(torch.equal(converted[key], torch.ones_like(converted[key])) for key in gammas)
    model = timm.models.convnext.ConvNeXt(num_classes=0, **VICREGL_TEST, **VICREGL_ARGS).eval()
    model.load_state_dict(converted, strict=True)
    image = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        torch.testing.assert_close(model(image), vicregl_features(net, image), atol=1e-5, rtol=0)
    # timm's default head normalises the pooled vector instead: the same weights, other features.
    default = timm.models.convnext.ConvNeXt(num_classes=0, **VICREGL_TEST).eval()
    norm = {f"head.norm.{p}": converted.pop(f"norm_pre.{p}") for p in ("weight", "bias")}
    default.load_state_dict({**converted, **norm}, strict=True)
    with torch.no_grad():
        assert not torch.allclose(default(image), vicregl_features(net, image), atol=1e-3)


def test_a_convnext_with_layer_scale_is_refused() -> None:
    state = vicregl_convnext_file(vicregl_convnext(30, **VICREGL_TEST))
    with pytest.raises(ConversionError, match="unexpected keys: stages.0.0.gamma"):
        convert_state_dict({**state, "stages.0.0.gamma": torch.ones(16)})


# A RegNetY of four stages of 16 to 80 channels (1, 1, 2, 1 blocks; groups of 8), with SE: the shape of VISSL's RegNetY
# trunks.
REGNET_TEST = RegNetCfg(depth=5, w0=16, wa=16.0, wm=1.5, group_size=8, se_ratio=0.25)


def _conv_bn(state: dict[str, Tensor], conv: str, bn: str, x: Tensor, stride: int = 1) -> Tensor:
    weight = state[f"{conv}.weight"]
    groups = x.shape[1] // weight.shape[1]
    x = F.conv2d(x, weight, stride=stride, padding=weight.shape[-1] // 2, groups=groups)
    stats = (state[f"{bn}.running_mean"], state[f"{bn}.running_var"], state[f"{bn}.weight"], state[f"{bn}.bias"])
    return F.batch_norm(x, *stats, training=False, eps=1e-5)


def _classy_block(state: dict[str, Tensor], block: str, x: Tensor, stride: int) -> Tensor:
    """ClassyVision's ResBottleneckBlock (anynet.py:197-291 @08a82e8): f = a, b (conv, BN, ReLU), the
    squeeze-excitation (squeeze_and_excitation_layer.py:36-48), c and final_bn; the shortcut is bn(proj(x)) where
    the block has one; ReLU of their sum."""
    f = F.relu(_conv_bn(state, f"{block}.f.a.0", f"{block}.f.a.1", x))
    f = F.relu(_conv_bn(state, f"{block}.f.b.0", f"{block}.f.b.1", f, stride))
    squeezed = F.adaptive_avg_pool2d(f, 1)
    excitation = f"{block}.f.se.excitation"
    squeezed = F.relu(F.conv2d(squeezed, state[f"{excitation}.0.weight"], state[f"{excitation}.0.bias"]))
    f = f * torch.sigmoid(F.conv2d(squeezed, state[f"{excitation}.2.weight"], state[f"{excitation}.2.bias"]))
    f = _conv_bn(state, f"{block}.f.c", f"{block}.f.final_bn", f)
    shortcut = _conv_bn(state, f"{block}.proj", f"{block}.bn", x, stride) if f"{block}.proj.weight" in state else x
    return F.relu(shortcut + f)


def classy_regnet_features(trunk: dict[str, Tensor], image: Tensor) -> Tensor:
    """What VISSL's RegNet trunk computes from its state dict in ClassyVision's names, pooled as its `avgpool` feature
    block does (vissl/models/trunks/regnet.py:73-85): the stem (conv stride 2, BN, ReLU), then the stages, whose
    first block strides by 2 (regnet.py RegNetParams: STRIDE 2 for every stage)."""
    state = {key.removeprefix("_feature_blocks."): value for key, value in trunk.items()}
    with torch.no_grad():
        x = F.relu(_conv_bn(state, "conv1.stem.0", "conv1.stem.1", image, stride=2))
        for stage in range(1, 5):
            blocks = sorted({key.split(".")[1] for key in state if key.startswith(f"res{stage + 1}.")})
            for index in range(len(blocks)):
                x = _classy_block(state, f"res{stage + 1}.block{stage}-{index}", x, 2 if index == 0 else 1)
        return x.mean(dim=(2, 3))


def test_vissl_regnet_trunk_converts_to_timms_regnet(tmp_path: Path) -> None:
    net = randomise_regnet(RegNet(REGNET_TEST, num_classes=0), seed=34)
    heads = nn.ModuleList([Wrapper(projection_head=mlp(net.num_features, 8), prototypes0=nn.Linear(8, 30))])
    checkpoint = vissl_regnet_checkpoint(net, heads)
    trunk = checkpoint["classy_state_dict"]["base_model"]["model"]["trunk"]
    assert all(key.startswith(("_feature_blocks.conv1.stem.", "_feature_blocks.res")) for key in trunk)
    converted = _saved_and_converted(
        tmp_path / "swav_in1k_regnet16gf_model_final_checkpoint_phase799.torch", checkpoint, "vissl_regnet"
    )
    # Every trunk tensor is kept under timm's name; the SwAV head's tensors are what is dropped.
    assert set(converted) == set(net.state_dict()) and len(converted) == len(trunk)
    dropped = {key for key in flatten_checkpoint(checkpoint) if ".trunk." not in key}
    assert dropped == {f"classy_state_dict.base_model.model.heads.{key}" for key in heads.state_dict()}
    model = RegNet(REGNET_TEST, num_classes=0).eval()
    model.load_state_dict(converted, strict=True)
    image = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        torch.testing.assert_close(model(image), classy_regnet_features(trunk, image), atol=1e-5, rtol=0)


def test_a_regnet_trunk_with_other_modules_is_refused() -> None:
    checkpoint = vissl_regnet_checkpoint(randomise_regnet(RegNet(REGNET_TEST, num_classes=0), seed=35), nn.Linear(2, 2))
    trunk = checkpoint["classy_state_dict"]["base_model"]["model"]["trunk"]
    trunk["_feature_blocks.res2.block1-0.f.d.weight"] = torch.ones(1)
    with pytest.raises(ConversionError, match=r"unexpected keys: s1\.b1\.f\.d\.weight"):
        convert_state_dict(checkpoint, source="vissl_regnet")


# SimMIM's Swin-B (windows that fit every map: timm's defaults) and Swin-L (windows of 10 here, 12 there: the third
# stage's map is one window, which mmpretrain's pad_small_map shifts, and the last stage's is padded to one; timm's
# always_partition keeps the windows and shifts as they are).
_SWIN_VARIANTS = {"base": (SWIN_TEST["window_size"], False, {}), "large": (10, True, {"always_partition": True})}


@pytest.mark.parametrize("variant", sorted(_SWIN_VARIANTS))
def test_mmpretrain_swin_gives_the_features_of_simmims_network(tmp_path: Path, variant: str) -> None:
    """timm's SwinTransformer holding the converted weights computes what mmpretrain's SwinTransformer (written out from
    its definitions: MmpretrainSwin) computes from the checkpoint's backbone, pooled as its fine-tuning pools."""
    window, pad_small_map, model_args = _SWIN_VARIANTS[variant]
    checkpoint = mmpretrain_swin_checkpoint(window=window)
    converted = _saved_and_converted(
        tmp_path / "simmim_swin-base_8xb256-amp-coslr-100e_in1k-192_20220829-0e15782d.pth",
        checkpoint,
        "mmpretrain_swin",
    )
    backbone = {key.removeprefix("backbone."): value for key, value in checkpoint["state_dict"].items()}
    backbone = {key: value for key, value in backbone.items() if not key.startswith("neck.")}
    # Of the backbone, exactly SimMIM's mask token and WindowMSA's index buffers are dropped.
    indices = {key for key in backbone if key.endswith("relative_position_index")}
    assert len(indices) == sum(SWIN_TEST["depths"]) and len(converted) == len(backbone) - len(indices) - 1
    model = timm.create_model(SWIN_TEST_ARCH, num_classes=0, **{**SWIN_TEST, "window_size": window, **model_args})
    model.eval().load_state_dict(converted, strict=True)
    upstream = MmpretrainSwin(backbone, pad_small_map=pad_small_map)
    with torch.no_grad():
        torch.testing.assert_close(model(VIT_IMAGE), vit_features(upstream, VIT_IMAGE), atol=1e-5, rtol=0)


def test_an_mmpretrain_swin_with_an_absolute_position_embedding_is_refused() -> None:
    """use_abs_pos_embed (backbones/swin_transformer.py:353-356) adds what timm's SwinTransformer has no place for."""
    checkpoint = mmpretrain_swin_checkpoint()
    checkpoint["state_dict"]["backbone.absolute_pos_embed"] = torch.zeros(1, 1600, 16)
    with pytest.raises(
        ConversionError, match="mmpretrain_swin: not a timm Swin Transformer; unexpected keys: absolute"
    ):
        convert_state_dict(checkpoint)


def test_an_mmpretrain_swin_with_an_unnumbered_stage_key_is_refused() -> None:
    checkpoint = mmpretrain_swin_checkpoint()
    checkpoint["state_dict"]["backbone.stages.extra.w"] = torch.zeros(1)
    with pytest.raises(ConversionError, match="unexpected keys: stages.extra.w"):
        convert_state_dict(checkpoint)


def test_mmpretrain_convnext_gives_the_features_of_sparks_fine_tuning_network(tmp_path: Path) -> None:
    """timm's ConvNeXt V2 holding the converted weights computes what mmpretrain's ConvNeXt, as SparK's fine-tuning
    builds it (written out from its definitions: MmpretrainConvNeXt, its new final norm at ones and zeros), computes
    from the checkpoint's backbone."""
    checkpoint = mmpretrain_convnext_checkpoint()
    converted = _saved_and_converted(
        tmp_path / "spark_sparse-convnextv2-tiny_16xb256-amp-coslr-800e_in1k_20230612-b0ea712e.pth",
        checkpoint,
        "mmpretrain_convnext",
    )
    backbone = {key.removeprefix("backbone."): value for key, value in checkpoint["state_dict"].items()}
    backbone = {key: value for key, value in backbone.items() if key.startswith(("downsample_layers.", "stages."))}
    # Every backbone tensor is kept, SparK's other modules dropped; the head's norm is what is added.
    assert len(converted) == len(backbone) + 2 and converted["head.norm.weight"].eq(1).all()
    model = timm.create_model(CONVNEXTV2_TEST_ARCH, num_classes=0, **CONVNEXTV2_TEST).eval()
    model.load_state_dict(converted, strict=True)
    image = VIT_IMAGE[:, :, :64, :64]
    with torch.no_grad():
        torch.testing.assert_close(model(image), vit_features(MmpretrainConvNeXt(backbone), image), atol=1e-5, rtol=0)


def test_an_mmpretrain_convnext_with_layer_scale_is_refused() -> None:
    """A layer scale (layer_scale_init_value > 0: backbones/convnext.py:85-87) is not in timm's ConvNeXt V2."""
    checkpoint = mmpretrain_convnext_checkpoint()
    checkpoint["state_dict"]["backbone.stages.0.0.gamma"] = torch.ones(8)
    with pytest.raises(ConversionError, match="mmpretrain_convnext: not a timm ConvNeXt V2; unexpected keys: stages"):
        convert_state_dict(checkpoint)


def test_torchvision_resnet50_safetensors(tmp_path: Path) -> None:
    net = seeded_resnet("resnet50", seed=14)
    _check(tmp_path, "resnet50.safetensors", net.state_dict(), net, "resnet50", "torchvision", save_file)


def test_half_precision_is_cast_to_float32(tmp_path: Path) -> None:
    net = seeded_resnet("resnet18", seed=15)
    with torch.no_grad():
        for value in net.state_dict().values():
            if value.is_floating_point():
                value.copy_(value.half().float())  # so the fp16 file holds exactly the network's weights
    half = {k: v.half() if v.is_floating_point() else v for k, v in net.state_dict().items()}
    out = _check(tmp_path, "resnet18_fp16.pth", half, net, "resnet18", "torchvision")
    assert out["conv1.weight"].dtype == torch.float32


def test_every_converter_is_registered() -> None:
    assert set(CONVERTERS) == {
        "official_simsiam",
        "moco",
        "solo_learn",
        "mmselfsup",
        "lightly",
        "vissl",
        "dino",
        "swav",
        "barlowtwins_vicreg",
        "torchvision",
        "mocov3_vit",
        "timm_vit",
        "xcit",
        "vicregl_convnext",
        "lightly_vit",
        "mmpretrain_vit",
        "vissl_regnet",
        "mmpretrain_beit",
        "vissl_vit",
        "mmpretrain_swin",
        "mmpretrain_convnext",
        "dinov2",
        "ijepa_vit",
    }
    assert all(name == converter.name and converter.description for name, converter in CONVERTERS.items())


def test_unrecognised_checkpoint_lists_keys() -> None:
    with pytest.raises(ConversionError, match=r"unrecognised.*encoder\.blocks\.0\.weight"):
        detect_format({"encoder.blocks.0.weight": torch.zeros(1), "head.bias": torch.zeros(1)})


def test_ambiguous_checkpoint_names_the_candidates() -> None:
    state = {"module.encoder.conv1.weight": torch.zeros(1), "module.encoder_q.conv1.weight": torch.zeros(1)}
    with pytest.raises(ConversionError, match="official_simsiam, moco"):
        detect_format(state)


def test_unknown_or_wrong_source() -> None:
    state = seeded_resnet("resnet18", seed=16).state_dict()
    with pytest.raises(ConversionError, match="unknown source"):
        convert_state_dict(state, source="byol")
    with pytest.raises(ConversionError, match="lightly"):
        convert_state_dict(state, source="lightly")


def test_other_resnet_variants_are_rejected() -> None:
    state = dict(seeded_resnet("resnet18", seed=17).state_dict())
    state["layer2.0.downsample.2.weight"] = torch.zeros(1)  # ResNet-D's avg-pool shortcut shifts indices
    with pytest.raises(ConversionError, match=r"layer2\.0\.downsample\.2\.weight"):
        convert_state_dict(state)


class _RunsShell:
    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple[Callable[[str], int], tuple[str]]:
        return os.system, (self.command,)


def test_pickle_that_runs_code_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    with open(path, "wb") as f:
        pickle.dump({"state_dict": _RunsShell(f"touch {marker}")}, f, protocol=2)
    with pytest.raises(ConversionError, match="arbitrary code") as info:
        load_checkpoint_file(path)
    assert str(path) in str(info.value)
    assert not marker.exists()


@pytest.mark.parametrize("filename", ["cut.pth", "cut.safetensors"])
def test_truncated_file(tmp_path: Path, filename: str) -> None:
    path = tmp_path / filename
    state = {"conv1.weight": torch.randn(64, 3, 7, 7)}
    if filename.endswith(".safetensors"):
        save_file(state, path)
    else:
        torch.save(state, path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ConversionError, match="truncated") as info:
        load_checkpoint_file(path)
    assert str(path) in str(info.value)


def test_missing_file_and_unknown_extension(tmp_path: Path) -> None:
    with pytest.raises(ConversionError, match="no such file"):
        load_checkpoint_file(tmp_path / "absent.pth")
    other = tmp_path / "weights.npz"
    other.write_bytes(b"\0")
    with pytest.raises(ConversionError, match="unsupported file type"):
        load_checkpoint_file(other)


@pytest.fixture(scope="module")
def resnet50_backbone() -> dict[str, Tensor]:
    return convert_state_dict(seeded_resnet("resnet50", seed=18).state_dict())[1]


def test_detectron2_names_and_values(resnet50_backbone: dict[str, Tensor]) -> None:
    backbone = resnet50_backbone
    d2 = to_detectron2(backbone)
    for name in (
        "stem.conv1.weight",
        "stem.conv1.norm.running_mean",
        "res2.0.conv1.norm.weight",
        "res2.0.shortcut.weight",
        "res2.0.shortcut.norm.bias",
        "res3.3.conv2.weight",
        "res4.5.conv3.norm.running_var",
        "res5.2.conv3.norm.weight",
    ):
        assert name in d2
    assert not any("num_batches_tracked" in name or "layer" in name or "bn" in name for name in d2)
    assert len(d2) == sum(not key.endswith("num_batches_tracked") for key in backbone)
    assert (d2["res5.2.conv3.norm.weight"] == backbone["layer4.2.bn3.weight"].numpy()).all()
    assert (d2["res2.0.shortcut.norm.bias"] == backbone["layer1.0.downsample.1.bias"].numpy()).all()
    assert (d2["stem.conv1.weight"] == backbone["conv1.weight"].numpy()).all()


def test_detectron2_pickle_round_trip(tmp_path: Path, resnet50_backbone: dict[str, Tensor]) -> None:
    backbone = resnet50_backbone
    out = tmp_path / "r50.pkl"
    write_detectron2_pickle(backbone, out, author="simsiam-zoo")
    with open(out, "rb") as f:
        payload = pickle.load(f)
    assert payload["matching_heuristics"] is True
    assert payload["__author__"] == "simsiam-zoo"
    expected = to_detectron2(backbone)
    assert payload["model"].keys() == expected.keys()
    assert all((payload["model"][name] == value).all() for name, value in expected.items())
    assert [p.name for p in tmp_path.iterdir()] == ["r50.pkl"]


def test_detectron2_failed_write_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, resnet50_backbone: dict[str, Tensor]
) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(pickle, "dump", fail)
    with pytest.raises(OSError, match="disk full"):
        write_detectron2_pickle(resnet50_backbone, tmp_path / "r50.pkl", author="x")
    assert list(tmp_path.iterdir()) == []


# MoCo v3's ViT-Small (vits.py:115-118) and timm's convnext_tiny, the sizes of real zoo architectures.
MOCOV3_VIT_SMALL = {"img_size": 224, "embed_dim": 384, "depth": 12, "num_heads": 12, "mlp_ratio": 4}
CONVNEXT_TINY = {"depths": (3, 3, 9, 3), "dims": (96, 192, 384, 768)}


def test_a_name_of_ones_own_takes_what_the_zoos_entries_of_that_layout_share(tmp_path: Path) -> None:
    """`convert` under a name of the user's own (the zoo's entry names are kept for the entries' own files): the
    model_args that the entries of its converter and architecture share (MoCo v3's ViT-S: 12 heads, which no weight
    shape shows), else that all entries of its converter share (every VICRegL ConvNeXt normalises before the pool;
    the zoo has no ConvNeXt-T), and each loads back with the features of the network it came from."""
    checkpoint, base = mocov3_vit_checkpoint(23, **MOCOV3_VIT_SMALL)
    torch.save(checkpoint, tmp_path / "mocov3_vits.pth.tar")
    image = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(7))
    vicregl = vicregl_convnext(31, **CONVNEXT_TINY)
    torch.save(vicregl_convnext_file(vicregl), tmp_path / "vicregl_convnext_tiny.pth")
    for file, arch, model_args, expected in (
        ("mocov3_vits.pth.tar", "vit_small_patch16_224", {"num_heads": 12}, vit_features(base, image)),
        ("vicregl_convnext_tiny.pth", "convnext_tiny", VICREGL_ARGS, vicregl_features(vicregl, image)),
    ):
        _, folder = convert_to_hub(tmp_path / file, tmp_path / arch, name=f"mine.{arch}", arch=arch)
        assert json.loads((folder / "config.json").read_text())["model_args"] == model_args
        loaded = load_backbone(str(folder))
        with torch.no_grad():
            torch.testing.assert_close(loaded.model(image), expected, atol=1e-4, rtol=0)


def test_a_name_of_ones_own_is_evaluated_at_the_size_timm_builds_its_architecture_for(tmp_path: Path) -> None:
    """No entry of the converter has the architecture: the standard evaluation transform at the architecture's own
    input size (a ViT built for 384 px refuses 224), not at 224."""
    torch.save(timm.create_model("vit_tiny_patch16_384", num_classes=0).state_dict(), tmp_path / "vit.pth")
    _, folder = convert_to_hub(tmp_path / "vit.pth", tmp_path / "out", name="mine.vit", arch="vit_tiny_patch16_384")
    loaded = load_backbone(str(folder))
    assert loaded.preprocessing == Preprocessing(input_size=(3, 384, 384))
    view = loaded.transform(torch.randint(0, 256, (3, 400, 500), dtype=torch.uint8))
    with torch.no_grad():
        assert loaded.model(view.unsqueeze(0)).shape == (1, 192)


@pytest.mark.parametrize(
    ("tensor", "kind"),
    [
        (torch.eye(3).to_sparse(), "sparse"),
        (torch.empty(3, device="meta"), "meta, without data"),
        (torch.ones(3, dtype=torch.complex64), "complex"),
        # A traceback from the cast ("copy_kernel" not implemented): float4 passed as floating.
        (
            torch.zeros(4, dtype=torch.uint8).view(torch.float4_e2m1fn_x2),
            "float4_e2m1fn_x2, which torch cannot convert",
        ),
        # A 44 MB file that needed 1.8 TB once cast ("out of memory", naming neither the file nor the tensor).
        (
            torch.zeros(1).as_strided((10**5, 10**5, 7, 7), (0, 0, 0, 0)),
            "a view of 490,000,000,000 elements over 1 stored value",
        ),
    ],
    ids=["sparse", "meta", "complex", "float4", "stride-0"],
)
def test_tensors_that_cannot_be_weights_are_refused_by_name_before_any_converter(
    tmp_path: Path, tensor: Tensor, kind: str
) -> None:
    """A converter would fail on them with torch's own error (a sparse tensor has no contiguous(), a meta one no
    data) or cast them in silence (a complex one loses its imaginary part), and torch warns on stderr."""
    torch.save({"state_dict": {"conv1.weight": torch.ones(1), "odd": tensor}}, tmp_path / "odd.pth")
    with pytest.raises(ConversionError, match=rf"odd.pth: tensors that cannot be weights: odd \({kind}\)$"):
        load_checkpoint_file(tmp_path / "odd.pth")


def test_a_checkpoint_that_unfolds_without_end_is_refused_and_a_dict_held_twice_is_not(tmp_path: Path) -> None:
    """Untrusted files: 2 KB whose dicts each hold the next one twice took seconds and GBs a level more (a
    MemoryError traceback at 21 levels), a dict that holds itself a RecursionError. A model saved as its own EMA too
    is converted."""
    bomb = {"w": torch.ones(1)}
    for _ in range(21):
        bomb = {"a": bomb, "b": bomb}
    looped = {"w": torch.ones(1)}
    looped["again"] = looped
    for name, tree in (("bomb", bomb), ("looped", looped)):
        torch.save({"state_dict": tree}, tmp_path / f"{name}.pth")
    with pytest.raises(ConversionError, match=r"bomb.pth: more than 1,000,000 dicts and tensors; not a checkpoint"):
        load_checkpoint_file(tmp_path / "bomb.pth")
    with pytest.raises(ConversionError, match=r"looped.pth: again: holds itself; not a checkpoint of weights$"):
        load_checkpoint_file(tmp_path / "looped.pth")
    weights = {"conv1.weight": torch.ones(1)}
    torch.save({"teacher": weights, "student": weights}, tmp_path / "twice.pth")
    assert load_checkpoint_file(tmp_path / "twice.pth").keys() == {"teacher.conv1.weight", "student.conv1.weight"}


def test_integer_weights_are_refused_not_cast(tmp_path: Path) -> None:
    """A strict load casts an int64 pos_embed (or a bool weight) to float without a word, and the hub folder would
    hold integers."""
    state = timm.create_model("vit_tiny_patch16_224", num_classes=0).state_dict()
    state["pos_embed"] = state["pos_embed"].long()
    torch.save(state, tmp_path / "vit.pth")
    with pytest.raises(ValueError, match="wrong dtypes: pos_embed int64 where timm has float32"):
        convert_to_hub(tmp_path / "vit.pth", tmp_path / "out", name="mine.vit", arch="vit_tiny_patch16_224")
    assert not (tmp_path / "out").exists()


def test_a_training_checkpoint_of_this_project_is_exported_not_converted(tiny_recipe, tmp_path: Path) -> None:
    """`convert run/checkpoint.pt` took it for solo-learn's and wrote a guessed 224 px preprocessing and an ImageNet
    card for a run on 32 px generated images; it is now refused, pointing at `export`."""
    from simsiam_zoo.pretrain import train

    run = tmp_path / "run"
    train(tiny_recipe, output_dir=run, max_steps=1, progress=False)
    saved = shutil.copy(run / "checkpoint.pt", tmp_path / "my step 1.pt")
    with pytest.raises(ConversionError, match=r"step 1.pt: a pretraining checkpoint of simsiam-zoo, not another") as e:
        convert_to_hub(saved, tmp_path / "out", name="resnet18.mine")
    # The advice runs as printed, on the file given (it named its folder, without OUT and --name: a usage error).
    advised = re.search(r"`simsiam-zoo (export [^`]+)`", str(e.value))[1].replace("OUT", str(tmp_path / "hub"))
    assert run_cli(*shlex.split(advised.replace("NAME", "resnet18.mine"))).returncode == 0
    assert not (tmp_path / "out").exists()


def test_a_fine_tune_checkpoint_of_this_project_points_at_its_own_hub_folder(tmp_path: Path) -> None:
    """A fine-tune's checkpoint is its resume file: the finished run writes the hub folder, which `export` does not
    read either."""
    from simsiam_zoo.checkpoint import TrainingCheckpoint

    state = _resnet18_state()
    TrainingCheckpoint("finetune", {"epochs": 1}, 3, state, {}, {}).save(tmp_path / "checkpoint.pt")
    with pytest.raises(ConversionError) as raised:
        convert_to_hub(tmp_path / "checkpoint.pt", tmp_path / "out", name="resnet18.mine")
    assert str(raised.value) == (
        f"{tmp_path / 'checkpoint.pt'}: a finetune checkpoint of simsiam-zoo, not another project's; the fine-tune "
        "writes its hub folder to its --out when it ends (rerun its command to resume it)"
    )
    assert not (tmp_path / "out").exists()


def _resnet18_state() -> dict[str, Tensor]:
    return dict(seeded_resnet("resnet18", seed=19).state_dict())


def test_weights_that_share_memory_are_written(tmp_path: Path) -> None:
    """One tensor saved under two names (tied weights): safetensors refused to write them, a 46-line traceback."""
    state = _resnet18_state()
    state["bn1.bias"] = state["bn1.weight"]
    torch.save(state, tmp_path / "shared.pth")
    _, folder = convert_to_hub(tmp_path / "shared.pth", tmp_path / "out", name="resnet18.shared")
    loaded = load_backbone(str(folder)).model.state_dict()
    for key in ("bn1.weight", "bn1.bias"):
        assert torch.equal(loaded[key], state["bn1.weight"])


def test_one_name_for_two_tensors_is_refused_and_one_tensor_under_both_is_not(tmp_path: Path) -> None:
    """`conv1.weight` beside `conv1: {weight}`: the order of the keys decided which one was converted, in silence."""
    state = _resnet18_state()
    torch.save({**state, "conv1": {"weight": torch.zeros_like(state["conv1.weight"])}}, tmp_path / "collide.pth")
    with pytest.raises(ConversionError, match=r"collide.pth: conv1.weight: appears twice, holding two different"):
        load_checkpoint_file(tmp_path / "collide.pth")
    torch.save({**state, "conv1": {"weight": state["conv1.weight"]}}, tmp_path / "same.pth")
    assert torch.equal(load_checkpoint_file(tmp_path / "same.pth")["conv1.weight"], state["conv1.weight"])


@pytest.mark.parametrize(
    ("key", "tensor", "refusal"),
    [
        (
            "conv1.weight",
            torch.ones(64, 3, 7, 7, dtype=torch.int32),
            "wrong dtypes: conv1.weight int32 where timm has float32",
        ),
        (
            "bn1.weight",
            torch.ones(64, dtype=torch.complex64),
            r"tensors that cannot be weights: bn1.weight \(complex\)",
        ),
        ("bn1.weight", torch.ones(64).to_sparse(), r"tensors that cannot be weights: bn1.weight \(sparse\)"),
        ("bn1.weight", torch.empty(64, device="meta"), r"tensors that cannot be weights: bn1.weight \(meta"),
        (
            "bn1.num_batches_tracked",
            torch.tensor(True),
            "wrong dtypes: bn1.num_batches_tracked bool where timm has int64",
        ),
        (  # an integer as timm's counter is, which torch cannot cast (a traceback)
            "bn1.num_batches_tracked",
            torch.zeros(1, dtype=torch.uint8).view(torch.uint4),
            r"bn1.num_batches_tracked \(uint4, which torch cannot convert\)",
        ),
    ],
    ids=["int32-weight", "complex", "sparse", "meta", "bool-counter", "uint4-counter"],
)
def test_convert_state_dict_refuses_by_name_what_is_no_fp32_weight_or_integer_counter(
    key: str, tensor: Tensor, refusal: str
) -> None:
    """Its docstring promises fp32 weights: an int32 or complex one came back as it was, a sparse or meta one raised
    torch's own error, and a bool counter reached the hub folder as BOOL."""
    with pytest.raises(ConversionError, match=refusal):
        convert_state_dict({**_resnet18_state(), key: tensor})


def test_an_expanded_buffer_of_a_usual_size_converts() -> None:
    """Only a view too large for any weight is refused: an expanded BatchNorm buffer is a few hundred bytes."""
    _, converted = convert_state_dict({**_resnet18_state(), "bn1.running_var": torch.ones(1).expand(64)})
    assert torch.equal(converted["bn1.running_var"], torch.ones(64)) and converted["bn1.running_var"].is_contiguous()


def test_an_integer_counter_of_another_width_becomes_timms_int64() -> None:
    counter = torch.tensor(7, dtype=torch.uint8)
    _, converted = convert_state_dict({**_resnet18_state(), "bn1.num_batches_tracked": counter})
    assert converted["bn1.num_batches_tracked"].dtype == torch.int64 and int(converted["bn1.num_batches_tracked"]) == 7


def test_float64_weights_beyond_float32s_range_are_said_to_overflow(tmp_path: Path) -> None:
    """1e300 is finite: "not finite (NaN or inf)" named the cast's result, not the file's weights."""
    torch.save(
        {**_resnet18_state(), "conv1.weight": torch.full((64, 3, 7, 7), 1e300, dtype=torch.float64)},
        tmp_path / "big.pth",
    )
    with pytest.raises(ConversionError, match=r"big.pth: weights beyond float32's range .* in conv1.weight$"):
        convert_to_hub(tmp_path / "big.pth", tmp_path / "out", name="resnet18.big")
    assert not (tmp_path / "out").exists()


def test_a_state_dict_of_hyper_parameters_beside_the_model_is_passed_over(tmp_path: Path) -> None:
    state = _resnet18_state()
    torch.save({"state_dict": {"epoch": 3}, "model": state}, tmp_path / "both.pth")
    assert load_checkpoint_file(tmp_path / "both.pth").keys() == state.keys()


def test_an_empty_source_is_refused_not_taken_for_none(tmp_path: Path) -> None:
    """`convert --from ''` detected the format, where `convert_state_dict(source='')` refuses it."""
    torch.save(_resnet18_state(), tmp_path / "tv.pth")
    with pytest.raises(ConversionError, match=r"tv.pth: unknown source ''"):
        convert_to_hub(tmp_path / "tv.pth", tmp_path / "out", name="resnet18.tv", source="")
    assert not (tmp_path / "out").exists()


def test_a_fifo_or_a_device_as_the_checkpoint_is_refused_by_name(tmp_path: Path) -> None:
    """`convert`, `export` of a run folder and a loaded file path waited on a FIFO for a writer, for good; convert
    called a FIFO or /dev/zero "no such file"."""
    fifo = make_fifo(tmp_path / "fifo.pt")
    for path in (fifo, Path("/dev/zero")):
        with pytest.raises(ConversionError, match=rf"^{path}: not a regular file \(a FIFO, socket or device\)$"):
            load_checkpoint_file(path)
    with pytest.raises(ConversionError, match=r"fifo.pt: not a regular file \(a FIFO, socket or device\)$"):
        read_torch_checkpoint(fifo)
    with pytest.raises(ConversionError, match=r"nowhere.pt: no such file$"):
        load_checkpoint_file(tmp_path / "nowhere.pt")


def test_a_name_of_another_architecture_is_refused(tmp_path: Path) -> None:
    """timm's `arch.tag`: resnet18 weights named resnet50.mine made a card telling its readers to load a resnet50.
    A name whose first part is no timm architecture is the user's own."""
    torch.save(_resnet18_state(), tmp_path / "tv.pth")
    refusal = r"^--name resnet50.mine: names a resnet50, and the weights are a resnet18; name it resnet18.mine or a "
    with pytest.raises(HubFolderError, match=refusal):
        convert_to_hub(tmp_path / "tv.pth", tmp_path / "out", name="resnet50.mine")
    assert not (tmp_path / "out").exists()
    for name in ("resnet18.mine", "mine.v1", "mine"):
        assert convert_to_hub(tmp_path / "tv.pth", tmp_path / name, name=name)[1].is_dir()
    # The architecture given with a pretrained tag, as timm takes it, is still a resnet18.
    assert convert_to_hub(tmp_path / "tv.pth", tmp_path / "tagged", name="resnet18.t", arch="resnet18.a1_in1k")[1]


def test_a_negative_running_variance_is_refused_where_it_makes_features_nan(tmp_path: Path) -> None:
    """Below -eps the square root of variance + eps is NaN for every feature (it converted, "validated"); a
    rounding's -1e-7 over BatchNorm's eps of 1e-5 gives finite features, and loads."""
    state = _resnet18_state()
    state["bn1.running_var"][0] = -1e-7
    torch.save(state, tmp_path / "rounded.pth")
    assert convert_to_hub(tmp_path / "rounded.pth", tmp_path / "rounded", name="resnet18.rounded")[1].is_dir()
    state["layer1.0.bn2.running_var"][3] = -1.0
    torch.save(state, tmp_path / "negative.pth")
    with pytest.raises(HubFolderError, match=r"negative.pth: negative BatchNorm variances in layer1.0.bn2.running_var"):
        convert_to_hub(tmp_path / "negative.pth", tmp_path / "negative", name="resnet18.negative")
    assert not (tmp_path / "negative").exists()
