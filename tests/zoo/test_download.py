"""Zoo entries fetched from their source URLs, against a file server on 127.0.0.1 (tests/source_server.py): every
layout downloads, verifies, converts and loads in plain timm with the source network's features; interrupted
transfers resume; corrupt files are refused and removed; the cache serves offline loads."""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import io
import json
import os
import random
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import safetensors.torch
import timm
import torch
from huggingface_hub import ModelCard
from torch import nn

from simsiam_zoo import export, zoo
from simsiam_zoo.augment import Preprocessing
from simsiam_zoo.convert import convert_state_dict
from simsiam_zoo.data import decode_image
from simsiam_zoo.digests import Digests
from simsiam_zoo.errors import ChecksumMismatch, HubFolderError, NotCachedOffline, OutputRefused, SourceUnavailable
from simsiam_zoo.export import fetch_entry
from simsiam_zoo.features import load_features
from simsiam_zoo.hub.folder import CARD_NAME, WEIGHTS_NAME
from simsiam_zoo.loader import cache_status, load_backbone
from simsiam_zoo.mirror import mirror_entries
from simsiam_zoo.zoo import Source
from simsiam_zoo.zoo.download import (
    cache_root,
    cached_folder,
    check_digests,
    discard_download,
    download,
    resolve_url,
)
from tests.builders import CLASSES, DISK_FULL, build_hub_folder, make_fifo, run_cli, with_setup
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
    vicregl_convnext,
    vicregl_convnext_file,
    vissl_dino_vit_checkpoint,
    vissl_dino_xcit_checkpoint,
    vissl_regnet_checkpoint,
    vissl_trunk,
    vit_features,
)
from tests.hub_server import HubServer
from tests.source_server import SourceServer

IMAGE = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(3))


def _backbone(arch: str, seed: int) -> nn.Module:
    net = seeded_resnet(arch, seed)
    net.fc = nn.Identity()
    return net


# Each builds (checkpoint as the source's save code lays it out, the network whose features it must give).
def _simsiam(arch: str) -> tuple[Any, nn.Module]:
    encoder = seeded_resnet(arch, 0)
    encoder.fc = mlp(encoder_dim(arch), 8)  # the projector
    model = Wrapper(module=Wrapper(encoder=encoder, predictor=mlp(8, 8)))
    checkpoint = {"epoch": 100, "arch": arch, "state_dict": model.state_dict(), "optimizer": {}}
    encoder.fc = nn.Identity()
    return checkpoint, encoder


def _mocov3(arch: str) -> tuple[Any, nn.Module]:
    base = _backbone(arch, 1)
    model = Wrapper(module=Wrapper(base_encoder=base, momentum_encoder=_backbone(arch, 2), predictor=mlp(8, 8)))
    return {"epoch": 100, "arch": arch, "state_dict": model.state_dict(), "optimizer": {}, "scaler": {}}, base


def _torchvision(arch: str) -> tuple[Any, nn.Module]:
    net = _backbone(arch, 3)
    return net.state_dict(), net


def _dino(arch: str) -> tuple[Any, nn.Module]:
    teacher, student = _backbone(arch, 4), _backbone(arch, 5)
    wrap = lambda net: Wrapper(module=Wrapper(backbone=net, head=mlp(encoder_dim(arch), 8)))  # noqa: E731
    return {
        "student": wrap(student).state_dict(),
        "teacher": wrap(teacher).state_dict(),
        "epoch": 100,
        "args": argparse.Namespace(arch=arch),
        "dino_loss": {"center": torch.zeros(1, 8)},
    }, teacher


def _swav(arch: str) -> tuple[Any, nn.Module]:
    net = _backbone(arch, 6)
    trunk = {name: child for name, child in net.named_children() if name != "fc"}
    swav = Wrapper(**trunk, projection_head=mlp(encoder_dim(arch), 8), prototypes=nn.Linear(8, 30, bias=False))
    return Wrapper(module=swav).state_dict(), net


def _barlowtwins_vicreg(arch: str) -> tuple[Any, nn.Module]:
    net = _backbone(arch, 7)
    model = Wrapper(module=Wrapper(backbone=net, projector=mlp(encoder_dim(arch), 8), bn=nn.BatchNorm1d(8)))
    return {"epoch": 1000, "model": model.state_dict(), "optimizer": {}}, net


def _vissl(arch: str) -> tuple[Any, nn.Module]:
    net = _backbone(arch, 8)
    base_model = {"model": {"trunk": vissl_trunk(net).state_dict(), "heads": mlp(encoder_dim(arch), 8).state_dict()}}
    return {"type": "consolidated", "classy_state_dict": {"base_model": base_model}}, net


def _mmselfsup(arch: str) -> tuple[Any, nn.Module]:
    net = _backbone(arch, 9)
    model = Wrapper(backbone=net, neck=mlp(encoder_dim(arch), 8), target_net=Wrapper(module=_backbone(arch, 10)))
    return {"meta": {"epoch": 200}, "state_dict": model.state_dict()}, net


def _lightly(arch: str) -> tuple[Any, nn.Module]:
    net = _backbone(arch, 11)
    model = Wrapper(backbone=net, projection_head=mlp(encoder_dim(arch), 8), teacher_backbone=_backbone(arch, 12))
    return {"epoch": 99, "state_dict": model.state_dict(), "hyper_parameters": {"batch_size_per_device": 128}}, net


LAYOUTS: dict[str, Callable[[str], tuple[Any, nn.Module]]] = {
    "official_simsiam": _simsiam,
    "moco": _mocov3,
    "torchvision": _torchvision,
    "dino": _dino,
    "swav": _swav,
    "barlowtwins_vicreg": _barlowtwins_vicreg,
    "vissl": _vissl,
    "mmselfsup": _mmselfsup,
    "lightly": _lightly,
}


# The layouts of the architectures other than ResNet-50, by the registry entry that publishes one, as timm's
# `test_vit` or a stand-in (STAND_INS): (checkpoint, network, model_args).
ENTRY_LAYOUTS: dict[str, Callable[[], tuple[Any, nn.Module, dict[str, int]]]] = {
    "vit_small_patch16_224.dino_in1k": lambda: (*dino_vit_file(), {}),
    "vit_small_patch16_224.dino_gldv2": lambda: (*dino_vit_file(seed=39), {}),
    "vit_small_patch16_224.mocov3_in1k_ep300": lambda: (*mocov3_vit_checkpoint(), MOCOV3_TEST_ARGS),
    "vit_base_patch16_224.mae_in1k_ep1600": lambda: (*mae_vit_file(), {}),
    "vit_small_patch16_224.ibot_in1k_ep800": lambda: (*ibot_vit_file(), {}),
    "vit_base_patch16_224.ibot_in22k": lambda: (*ibot_student_file(), {}),
    "vit_small_patch16_224.ibot_lightly_ep100": lambda: (*lightly_vit_checkpoint("ibot"), LIGHTLY_IBOT_ARGS),
    "vit_small_patch16_224.lejepa_lightly_ep100": lambda: (*lightly_vit_checkpoint("lejepa"), {}),
    "vit_small_patch16_224.mocov3_mmpretrain_ep300": lambda: (*mmpretrain_vit_checkpoint(), MOCOV3_TEST_ARGS),
    "vit_base_patch16_224.mae_mmpretrain_ep1600": lambda: (*mmpretrain_vit_checkpoint("mae"), {}),
    "vit_base_patch16_224.eva_mmpretrain_ep400": lambda: (*mmpretrain_vit_checkpoint("eva"), {}),
    "vit_base_patch16_224.maskfeat_mmpretrain_ep300": lambda: (*mmpretrain_vit_checkpoint("maskfeat"), {}),
    "beit_base_patch16_224.beit_mmpretrain_ep300": lambda: (*mmpretrain_beit_checkpoint(), BEIT_TEST_ARGS),
    "vit_base_patch16_224.mff_mmpretrain_ep800": lambda: (*mmpretrain_vit_checkpoint("mff"), {}),
    "vit_base_patch16_224.pixmim_mmselfsup_ep800": lambda: (*mmpretrain_vit_checkpoint("pixmim"), {}),
    "xcit_small_12_p16_224.dino_in1k": lambda: dino_xcit_stand_in(),
    "vit_small_patch16_224.dino_vissl_ep300": lambda: (*vissl_dino_vit_checkpoint(), {}),
    "xcit_small_12_p16_224.dino_vissl": lambda: vissl_dino_xcit_stand_in(),
    "convnext_small.vicregl_in1k_alpha0p9": lambda: vicregl_convnext_stand_in(),
    "regnety_160.swav_vissl_ep800": lambda: vissl_regnet_stand_in(),
    "regnety_320.seer_ig1b": lambda: vissl_regnet_stand_in(),
    "swin_base_patch4_window7_224.simmim_mmpretrain_ep800": lambda: mmpretrain_swin_stand_in(),
    "swin_large_patch4_window7_224.simmim_mmpretrain_ep800": lambda: mmpretrain_swin_stand_in(window=10),
    "convnextv2_tiny.spark_mmpretrain_ep800": lambda: mmpretrain_convnext_stand_in(),
    "vit_small_patch14_dinov2.dinov2_lvd142m": lambda: dinov2_stand_in(swiglu=False, registers=0),
    "vit_small_patch14_reg4_dinov2.dinov2_lvd142m": lambda: dinov2_stand_in(swiglu=False, registers=4),
    "vit_giant_patch14_dinov2.dinov2_lvd142m": lambda: dinov2_stand_in(swiglu=True, registers=0),
    "vit_giant_patch14_reg4_dinov2.dinov2_lvd142m": lambda: dinov2_stand_in(swiglu=True, registers=4),
    "vit_huge_patch14_gap_224.ijepa_in1k_ep300": lambda: (*ijepa_checkpoint(), IJEPA_TEST_ARGS),
}
# The smallest timm architecture of each layout that is not a class-token ViT's (test_vit), with the model_args
# that make it smaller still.
STAND_INS = {
    "xcit": ("xcit_nano_12_p16_224", {"depth": 2}),
    "vicregl_convnext": ("convnext_small", {**VICREGL_ARGS, "depths": [1, 1, 1, 1], "dims": [16, 32, 64, 128]}),
    "vissl_regnet": ("regnety_002", {}),
    "mmpretrain_beit": (BEIT_TEST_ARCH, BEIT_TEST_ARGS),
    "mmpretrain_swin": (SWIN_TEST_ARCH, SWIN_TEST),
    "mmpretrain_convnext": (CONVNEXTV2_TEST_ARCH, CONVNEXTV2_TEST),
    # DINOv2's: the entry's own architecture (with or without registers and SwiGLU), shrunk, with the entries'
    # dynamic_img_size.
    "dinov2": (None, {**DINOV2_TEST, "dynamic_img_size": True}),
    "ijepa_vit": (IJEPA_TEST_ARCH, IJEPA_TEST_ARGS),
}


def dino_xcit_stand_in() -> tuple[dict[str, torch.Tensor], nn.Module, dict[str, int]]:
    """DINO's XCiT file of timm's xcit_nano_12_p16_224 with 2 blocks, in facebookresearch/xcit's names."""
    arch, model_args = STAND_INS["xcit"]
    net = randomise_xcit(timm.create_model(arch, num_classes=0, **model_args), seed=27)
    return dino_xcit_file(net), net, model_args


def vissl_dino_xcit_stand_in() -> tuple[dict[str, Any], nn.Module, dict[str, int]]:
    """VISSL's DINO checkpoint of two of the XCiT stand-ins, student and teacher; and the teacher."""
    arch, model_args = STAND_INS["xcit"]
    student, teacher = (randomise_xcit(timm.create_model(arch, num_classes=0, **model_args), seed=s) for s in (43, 44))
    return vissl_dino_xcit_checkpoint(student, teacher), teacher, model_args


def vicregl_convnext_stand_in() -> tuple[dict[str, torch.Tensor], nn.Module, dict[str, Any]]:
    """VICRegL's ConvNeXt file of a network of timm's convnext_small shrunk to one block of 16 to 128 channels per
    stage (what the entries' model_args and the stand-in's build), in VICRegL's names."""
    _, model_args = STAND_INS["vicregl_convnext"]
    net = vicregl_convnext(31, depths=model_args["depths"], dims=model_args["dims"])
    return vicregl_convnext_file(net), net, model_args


def mmpretrain_swin_stand_in(window: int | None = None) -> tuple[dict[str, Any], nn.Module, dict[str, Any]]:
    """SimMIM's checkpoint of a Swin Transformer of timm's swin_base_patch4_window7_224 shrunk to SWIN_TEST, beside
    mmpretrain's network computed from its backbone; with `window` (10: the third stage's map is one window, the
    last's smaller), its Swin-L's pad_small_map network, which timm builds with always_partition."""
    _, model_args = STAND_INS["mmpretrain_swin"]
    checkpoint = mmpretrain_swin_checkpoint(window=window or model_args["window_size"])
    backbone = {key.removeprefix("backbone."): value for key, value in checkpoint["state_dict"].items()}
    if window is None:
        return checkpoint, MmpretrainSwin(backbone), model_args
    padded = {**model_args, "window_size": window, "always_partition": True}
    return checkpoint, MmpretrainSwin(backbone, pad_small_map=True), padded


def mmpretrain_convnext_stand_in() -> tuple[dict[str, Any], nn.Module, dict[str, Any]]:
    """SparK's checkpoint of a ConvNeXt V2 of timm's convnextv2_tiny shrunk to CONVNEXTV2_TEST, beside the network
    SparK's fine-tuning computes from its backbone."""
    _, model_args = STAND_INS["mmpretrain_convnext"]
    checkpoint = mmpretrain_convnext_checkpoint()
    backbone = {key.removeprefix("backbone."): value for key, value in checkpoint["state_dict"].items()}
    return checkpoint, MmpretrainConvNeXt(backbone), model_args


def dinov2_stand_in(*, swiglu: bool, registers: int) -> tuple[dict[str, torch.Tensor], nn.Module, dict[str, Any]]:
    """A DINOv2 backbone file of DINOV2_TEST's size (ViT-g's SwiGLU FFN where `swiglu`, with `registers`), beside
    DINOv2's network computed from it."""
    _, model_args = STAND_INS["dinov2"]
    state = dinov2_vit_file(swiglu=swiglu, registers=registers)
    return state, Dinov2Vit(state, num_heads=DINOV2_TEST["num_heads"]), model_args


def vissl_regnet_stand_in() -> tuple[dict[str, Any], nn.Module, dict[str, int]]:
    """VISSL's SwAV checkpoint of timm's regnety_002 (the smallest RegNetY), its trunk in ClassyVision's names."""
    arch, model_args = STAND_INS["vissl_regnet"]
    net = randomise_regnet(timm.create_model(arch, num_classes=0), seed=36)
    heads = nn.ModuleList([Wrapper(projection_head=mlp(net.num_features, 8), prototypes0=nn.Linear(8, 30))])
    return vissl_regnet_checkpoint(net, heads), net, model_args


def encoder_dim(arch: str) -> int:
    return 512 if arch in ("resnet18", "resnet34") else 2048


def serialise(checkpoint: Any) -> bytes:
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    return buffer.getvalue()


def published(entry: zoo.ZooEntry, data: bytes, *, arch: str | None = None) -> zoo.ZooEntry:
    """`entry` as if its source had published the hash of `data` (of the kind it publishes), for architecture
    `arch`: the test file stands in for the real one."""
    assert entry.source is not None
    digest = {
        "sha256-prefix": hashlib.sha256(data).hexdigest()[:8],
        "md5-prefix": hashlib.md5(data).hexdigest()[: len(entry.source.published_hash or "")],
        "none": None,
    }[entry.source.hash_kind]
    return dataclasses.replace(
        entry, arch=arch or entry.arch, source=dataclasses.replace(entry.source, published_hash=digest)
    )


def first_entry(converter: str) -> zoo.ZooEntry:
    return next(e for e in zoo.ZOO.values() if e.source and e.source.converter == converter and not e.unsupported)


def test_every_converter_the_registry_names_is_tested_here() -> None:
    from simsiam_zoo.convert import CONVERTERS

    named = {e.source.converter for e in zoo.ZOO.values() if e.source and not e.unsupported}
    vit_converters = {zoo.ZOO[name].source.converter for name in ENTRY_LAYOUTS}
    assert named <= set(CONVERTERS) and named == set(LAYOUTS) | vit_converters


@pytest.mark.parametrize("converter", sorted(LAYOUTS))
def test_each_layout_downloads_converts_and_loads_in_plain_timm(
    converter: str, source_server: SourceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A registry entry as it is (a ResNet-50), its file laid out as the source's save code lays it out: timm's
    features equal those of the torchvision ResNet-50 holding the same weights."""
    checkpoint, net = LAYOUTS[converter]("resnet50")
    data = serialise(checkpoint)
    entry = published(first_entry(converter), data)
    monkeypatch.setitem(zoo.ZOO, entry.name, entry)
    path = source_server.put(entry.source.url, data)
    loaded = load_backbone(entry.name)
    folder = cached_folder(entry)
    model = timm.create_model(f"local-dir:{folder}", pretrained=True).eval()
    with torch.no_grad():
        expected = net.eval()(IMAGE)
        torch.testing.assert_close(model(IMAGE), expected, atol=1e-5, rtol=0)
        torch.testing.assert_close(loaded.model(IMAGE), expected, atol=1e-5, rtol=0)
    card = (folder / CARD_NAME).read_text()
    assert hashlib.sha256(data).hexdigest() in card and entry.source.url in card
    assert loaded.preprocessing == entry.preprocessing and cache_status(entry) == "yes"
    assert source_server.requests == [(path, None)]
    # The original is gone once converted (the download's lock file stays, as huggingface_hub's do).
    assert not [p for p in (cache_root() / "downloads").rglob("*") if p.is_file() and not p.name.endswith(".lock")]
    assert load_backbone(entry.name).arch == "resnet50" and len(source_server.requests) == 1  # second load: local
    config = json.loads((folder / "config.json").read_text())
    assert (config["architecture"], config["pretrained_cfg"]["license"]) == ("resnet50", entry.license)


@pytest.mark.parametrize("name", ["resnet101.densecl_in1k_ep200", "resnet101.simclr_vissl_ep1000"])
def test_the_resnet101_entries_download_convert_and_load(
    name: str, source_server: SourceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DenseCL's ResNet-101 file, laid out as its ResNet-50 one (tools/extract_backbone_weights.py: {'state_dict',
    'author'}), and VISSL's (the classy_state_dict trunk, which its linear benchmark reads with RESNETS.DEPTH=101)
    convert with the ResNet-50s' converters: timm's resnet101 gives the torchvision ResNet-101's features."""
    if name.startswith("resnet101.densecl"):
        net = _backbone("resnet101", 13)
        checkpoint: Any = {"state_dict": net.state_dict(), "author": "DenseCL"}
    else:
        checkpoint, net = _vissl("resnet101")
    data = serialise(checkpoint)
    entry = published(zoo.ZOO[name], data)
    monkeypatch.setitem(zoo.ZOO, entry.name, entry)
    source_server.put(entry.source.url, data)
    loaded = load_backbone(entry.name)
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(IMAGE), net.eval()(IMAGE), atol=1e-5, rtol=0)
    config = json.loads((cached_folder(entry) / "config.json").read_text())
    assert (loaded.arch, config["architecture"], config["pretrained_cfg"]["license"]) == (
        "resnet101",
        "resnet101",
        entry.license,
    )


def as_test_vit(entry: zoo.ZooEntry, model_args: dict[str, int] | None = None) -> zoo.ZooEntry:
    """`entry` as timm's `test_vit` (or its layout's stand-in, STAND_INS), built with `model_args`, else the
    entry's, at test_vit's own 160 px: a config of another size makes timm build the architecture for it and
    resample the weights' `pos_embed`."""
    preprocessing = dataclasses.replace(entry.preprocessing, input_size=(3, 160, 160))
    model_args = entry.model_args if model_args is None else model_args
    arch = STAND_INS.get(entry.source.converter, ("test_vit",))[0] or entry.arch
    return dataclasses.replace(entry, arch=arch, preprocessing=preprocessing, model_args=model_args)


def vit_entry(name: str, data: bytes, model_args: dict[str, int]) -> zoo.ZooEntry:
    """The registry's entry `name` as `test_vit` built with `model_args`, publishing `data`."""
    return as_test_vit(published(zoo.ZOO[name], data), model_args)


@pytest.mark.parametrize("name", sorted(ENTRY_LAYOUTS))
def test_each_other_layout_downloads_converts_and_loads_in_plain_timm(
    name: str, source_server: SourceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An entry's original file (DINO's ViT and XCiT backbone files, MoCo v3's checkpoint, MAE's and iBOT's
    files, lightly's iBOT and LeJEPA and mmpretrain's checkpoints, VICRegL's ConvNeXt, I-JEPA's checkpoint), as its
    source lays it out, fetched from its URL, checked against the published hash and converted: plain timm loads the
    folder, with the model_args its config carries, and gives the source network's features."""
    checkpoint, net, model_args = ENTRY_LAYOUTS[name]()
    data = serialise(checkpoint)
    entry = vit_entry(name, data, model_args)
    monkeypatch.setitem(zoo.ZOO, entry.name, entry)
    path = source_server.put(entry.source.url, data)
    folder = fetch_entry(entry)  # the original URL's path (DINO's entries load from timm's repo: the next test)
    model = timm.create_model(f"local-dir:{folder}", pretrained=True).eval()
    with torch.no_grad():
        torch.testing.assert_close(model(VIT_IMAGE), vit_features(net, VIT_IMAGE), atol=1e-5, rtol=0)
    config = json.loads((folder / "config.json").read_text())
    assert (config["architecture"], config.get("model_args", {})) == (entry.arch, model_args)
    assert Preprocessing.from_pretrained_cfg(config["pretrained_cfg"]) == entry.preprocessing
    assert source_server.requests == [(path, None)]
    card = ModelCard.load(folder / CARD_NAME).data  # SEER's licence has no Hub id: `other`, named and linked
    licence = (card.license, getattr(card, "license_name", None), getattr(card, "license_link", None))
    assert licence == (entry.license, entry.license_name, entry.license_link)
    if not entry.published_by_timm:
        loaded = load_backbone(entry.name)
        assert loaded.model_args == model_args and len(source_server.requests) == 1  # from the cache
        with torch.no_grad():
            torch.testing.assert_close(loaded.model(VIT_IMAGE), vit_features(net, VIT_IMAGE), atol=1e-5, rtol=0)


def timm_hub_repo(
    folder: Path, state: dict[str, torch.Tensor], *, tag: str, license: str, arch: str = "test_vit"
) -> Path:
    """A repo as timm's own Hub repos of DINO's and MAE's ViTs hold it (timm/vit_small_patch16_224.dino): timm's
    config with its crop of 0.9 and no model_args, the weights, a card; here for timm's `test_vit`, or `arch`."""
    folder.mkdir(parents=True)
    safetensors.torch.save_file(state, folder / "model.safetensors")
    mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    cfg = dict(tag=tag, custom_load=False, input_size=[3, 160, 160], fixed_input_size=True)
    cfg |= dict(interpolation="bicubic", crop_pct=0.9, crop_mode="center", mean=mean, std=std, num_classes=0)
    cfg |= dict(pool_size=None, first_conv="patch_embed.proj", classifier="head", license=license)
    features = state["norm.weight"].shape[0]
    config = dict(architecture=arch, num_classes=0, num_features=features, global_pool="token", pretrained_cfg=cfg)
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    (folder / CARD_NAME).write_text(f"---\nlicense: {license}\nlibrary_name: timm\n---\n")
    return folder


@pytest.mark.parametrize(
    "name",
    [
        "vit_small_patch16_224.dino_in1k",
        "vit_base_patch16_224.mae_in1k_ep1600",
        "vit_small_patch14_reg4_dinov2.dinov2_lvd142m",
    ],
)
def test_a_vit_entry_timm_publishes_loads_from_timms_repo_with_its_sources_preprocessing(
    name: str, source_server: SourceServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """DINO's, MAE's and DINOv2's entries point at timm's repo of the same file: loads come from there (the source is
    not asked, nothing is converted), with the source's evaluation transform (crop 0.875) rather than the repo's,
    and the entry's model_args, which timm's config has not (DINOv2's dynamic_img_size); the mirror leaves it to
    timm."""
    checkpoint, net, model_args = ENTRY_LAYOUTS[name]()
    entry = as_test_vit(zoo.ZOO[name], model_args)
    monkeypatch.setitem(zoo.ZOO, entry.name, entry)
    hub_id = entry.hub_id
    # The repo holds the weights as timm's pretrained cfg loads them from the source file.
    state = convert_state_dict(checkpoint, source=entry.source.converter)[1]
    tag = hub_id.rpartition(".")[2]
    repo = timm_hub_repo(tmp_path / hub_id, state, tag=tag, license=entry.license, arch=entry.arch)
    asked = []

    def download_hub_repo(repo_id: str, *, revision: str | None = None) -> Path:
        asked.append((repo_id, revision))
        return repo

    monkeypatch.setattr("simsiam_zoo.loader.download_hub_repo", download_hub_repo)
    loaded = load_backbone(entry.name)
    assert asked == [(hub_id, None)] and source_server.requests == []
    assert loaded.preprocessing == entry.preprocessing
    assert (entry.preprocessing.interpolation, entry.preprocessing.crop_pct) == ("bicubic", 0.875)
    assert (loaded.hub_id, loaded.license) == (hub_id, {"license": entry.license})
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(VIT_IMAGE), vit_features(net, VIT_IMAGE), atol=1e-5, rtol=0)
    assert load_backbone(entry.name, hub_dir=tmp_path).preprocessing.crop_pct == 0.875  # a local hub, the same
    [mirrored] = mirror_entries([entry.name], org="zoo-mirror", dry_run=True, progress=False)
    assert (mirrored.action, mirrored.reason) == (
        "skipped",
        f"timm publishes these weights as hf-hub:{hub_id}, which loads of the entry use",
    )
    # Timm's repo holding another network (no sha256 is pinned for timm's repos) was loaded as the entry.
    config = json.loads((repo / "config.json").read_text())
    (repo / "config.json").write_text(json.dumps({**config, "architecture": "vit_tiny_patch16_224"}))
    with pytest.raises(HubFolderError, match=rf"^{entry.name}: {hub_id} holds a vit_tiny_patch16_224, not this zoo"):
        load_backbone(entry.name)


def test_a_vit_entry_runs_extract_knn_and_finetune(
    source_server: SourceServer, monkeypatch: pytest.MonkeyPatch, image_folder: Path, tmp_path: Path
) -> None:
    """MoCo v3's ViT-S entry (as test_vit with its own head count) from its source URL through the commands: the
    features are the converted model's, kNN reads them, and the fine-tuned classifier keeps the head count."""
    name = "vit_small_patch16_224.mocov3_in1k_ep300"
    checkpoint, net, model_args = ENTRY_LAYOUTS[name]()
    data = serialise(checkpoint)
    entry = vit_entry(name, data, model_args)
    monkeypatch.setitem(zoo.ZOO, entry.name, entry)
    source_server.put(entry.source.url, data)
    for split in ("train", "val"):
        done = run_cli("extract", entry.name, image_folder / split, "--out", tmp_path / split, "--num-workers", 0)
        assert done.returncode == 0, done.stderr[-3000:]
    features = load_features(tmp_path / "val")
    assert features.embeddings.shape == (8, net.embed_dim) and features.classes == sorted(CLASSES)
    transform = entry.preprocessing.transform()
    images = torch.stack([transform(decode_image(image_folder / "val" / path)) for path in features.paths])
    torch.testing.assert_close(features.embeddings, vit_features(net, images), atol=1e-4, rtol=0)
    done = run_cli("eval", "knn", "--train", tmp_path / "train", "--test", tmp_path / "val", "--k", 5)
    assert done.returncode == 0 and "kNN k=5" in done.stdout, done.stderr[-3000:]
    out = tmp_path / "classifier"
    done = run_cli(
        "finetune", entry.name, image_folder, "--out", out, "--epochs", 1, "--batch-size", 8, "--num-workers", 0
    )
    assert done.returncode == 0, done.stderr[-3000:]
    model = timm.create_model(f"local-dir:{out}", pretrained=True)
    assert json.loads((out / "config.json").read_text())["model_args"] == model_args
    assert model.blocks[0].attn.num_heads == model_args["num_heads"] and model.num_classes == 4


def test_an_interrupted_transfer_resumes_with_a_range_request(
    source_server: SourceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    checkpoint, net = _torchvision("resnet18")
    data = serialise(checkpoint)
    entry = published(zoo.ZOO["resnet50.supervised_tv_in1k"], data, arch="resnet18")  # a sha256-prefix entry
    monkeypatch.setitem(zoo.ZOO, entry.name, entry)
    path = source_server.put(entry.source.url, data)
    half = len(data) // 2
    source_server.cut[path] = half
    loaded = load_backbone(entry.name)
    assert source_server.requests == [(path, None), (path, f"bytes={half}-")]
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(IMAGE), net.eval()(IMAGE), atol=1e-5, rtol=0)


def test_a_resumed_transfer_answered_from_another_offset_starts_over(
    source_server: SourceServer, tmp_path: Path
) -> None:
    """A 206 whose Content-Range starts elsewhere than the partial file ends: appended, it made a file of the right
    length and the wrong bytes."""
    data = bytes(range(256)) * 400
    path = source_server.put("https://example.org/files/a.bin", data)
    half = len(data) // 2
    source_server.cut[path], source_server.misplaced[path] = half, 0
    digests = download(resolve_url("https://example.org/files/a.bin"), tmp_path / "a.bin", progress=False, retry_wait=0)
    assert (tmp_path / "a.bin").read_bytes() == data and digests.sha256 == hashlib.sha256(data).hexdigest()
    assert source_server.requests == [(path, None), (path, f"bytes={half}-"), (path, None)]


def test_the_rest_of_another_file_a_short_range_or_an_unsendable_etag_never_makes_a_wrong_file(
    source_server: SourceServer, tmp_path: Path
) -> None:
    """A server that ignores If-Range sent the rest of the file that replaced the first (its own ETag beside it): the
    two halves were called verified. A 206 shorter than the file was taken for the whole of it. An ETag of non-ASCII
    letters was kept, and every later run failed sending it back, in a traceback."""
    first, second = bytes(range(256)) * 400, bytes(reversed(range(256))) * 400
    path = source_server.put("https://example.org/files/a.bin", first)
    half = len(first) // 2
    source_server.cut[path] = half
    source_server.ignore_if_range.add(path)
    source_server.after_cut = lambda served: source_server.put("https://example.org/files/a.bin", second)
    url, target = resolve_url("https://example.org/files/a.bin"), tmp_path / "a.bin"
    digests = download(url, target, progress=False, retry_wait=0)
    assert target.read_bytes() == second and digests.sha256 == hashlib.sha256(second).hexdigest()
    assert source_server.requests == [(path, None), (path, f"bytes={half}-"), (path, None)]
    source_server.after_cut, source_server.requests = None, []
    source_server.cut[path], source_server.short[path] = 100, 50
    download(url, tmp_path / "b.bin", progress=False, retry_wait=0)
    assert (tmp_path / "b.bin").read_bytes() == second
    assert source_server.requests == [(path, None), (path, "bytes=100-"), (path, "bytes=150-")]
    source_server.etag[path], source_server.cut[path], source_server.requests = '"caf\u00e9"', half, []
    download(url, tmp_path / "c.bin", progress=False, retry_wait=0)
    assert (tmp_path / "c.bin").read_bytes() == second and source_server.requests == [(path, None), (path, None)]


def test_a_gzip_encoded_transfer_cut_short_starts_over_and_a_link_is_never_written_through(
    source_server: SourceServer, tmp_path: Path
) -> None:
    """A gzip-encoded answer cut short left decoded bytes resumed at encoded offsets: every later run failed to
    decode. A link where the partial file goes had the download written into the file it led to."""
    data = random.Random(0).randbytes(100_000)  # gzip leaves it as long: a cut at 2,000 bytes is mid-transfer
    path = source_server.put("https://example.org/files/a.bin", data)
    source_server.gzip.add(path)
    source_server.cut[path] = 2000
    url = resolve_url("https://example.org/files/a.bin")
    download(url, tmp_path / "a.bin", progress=False, retry_wait=0)
    assert (tmp_path / "a.bin").read_bytes() == data and source_server.requests == [(path, None), (path, None)]
    # A coding httpx does not decode arrives as sent: it resumes at its offsets.
    other = source_server.put("https://example.org/files/d.bin", data)
    source_server.coding[other], source_server.cut[other] = "aws-chunked", 2000
    download(resolve_url("https://example.org/files/d.bin"), tmp_path / "d.bin", progress=False, retry_wait=0)
    assert (tmp_path / "d.bin").read_bytes() == data and source_server.requests[-1] == (other, "bytes=2000-")
    mine = tmp_path / "notes.txt"
    mine.write_text("mine")
    (tmp_path / "b.bin.incomplete").symlink_to(mine)
    download(url, tmp_path / "b.bin", progress=False, retry_wait=0)
    assert mine.read_text() == "mine" and (tmp_path / "b.bin").read_bytes() == data
    (tmp_path / "c.bin").mkdir()
    source_server.requests = []
    with pytest.raises(OutputRefused, match=r"c.bin: a folder where the download goes; move it away"):
        download(url, tmp_path / "c.bin", progress=False, retry_wait=0)
    assert source_server.requests == []


def test_transient_errors_are_retried_and_a_missing_file_is_not(source_server: SourceServer, tmp_path: Path) -> None:
    path = source_server.put("https://example.org/files/a.bin", b"x" * 1000)
    source_server.fail[path] = [503, 502]
    download(resolve_url("https://example.org/files/a.bin"), tmp_path / "a.bin", progress=False, retry_wait=0.01)
    assert (tmp_path / "a.bin").read_bytes() == b"x" * 1000 and len(source_server.requests) == 3
    with pytest.raises(SourceUnavailable, match=r"/mirror/files/b.bin: the server answered HTTP 404"):
        download(resolve_url("https://example.org/files/b.bin"), tmp_path / "b.bin", progress=False, retry_wait=0.01)
    assert not (tmp_path / "b.bin").exists()


def test_a_gzip_encoded_answer_or_a_redirect_loop_is_one_try(source_server: SourceServer, tmp_path: Path) -> None:
    """A server gzip-encoding the file though asked for its own bytes: its Content-Length counted the encoded bytes,
    so five whole transfers ended in "the connection closed before the end of the file". A redirect loop came out as
    a raw httpx error naming neither the URL nor the model."""
    data = bytes(range(256)) * 400
    path = source_server.put("https://example.org/files/a.bin", data)
    source_server.gzip.add(path)
    download(resolve_url("https://example.org/files/a.bin"), tmp_path / "a.bin", progress=False, retry_wait=0.01)
    assert (tmp_path / "a.bin").read_bytes() == data and source_server.requests == [(path, None)]
    assert source_server.accepted_encodings == ["identity"]
    source_server.redirect["/files/loop.bin"] = "/files/loop.bin"
    with pytest.raises(SourceUnavailable, match=r"/mirror/files/loop.bin: TooManyRedirects: "):
        download(resolve_url("https://example.org/files/loop.bin"), tmp_path / "b.bin", progress=False, retry_wait=0)
    assert not (tmp_path / "b.bin").exists()


def test_a_cache_folder_of_someone_elses_files_is_refused_before_the_download(
    source_server: SourceServer, monkeypatch
) -> None:
    """Found after the whole transfer and conversion (which every retry repeated), advising an --overwrite that
    `download` has not; a folder where the record goes failed the same way, with an errno."""
    checkpoint, _ = _torchvision("resnet18")
    entry = published(zoo.ZOO["resnet50.supervised_tv_in1k"], serialise(checkpoint), arch="resnet18")
    monkeypatch.setitem(zoo.ZOO, entry.name, entry)
    source_server.put(entry.source.url, serialise(checkpoint))
    folder = cached_folder(entry)
    folder.mkdir(parents=True)
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(OutputRefused, match=rf"^{folder}: .*not written by simsiam-zoo") as raised:
        load_backbone(entry.name)
    assert "--overwrite" not in str(raised.value) and source_server.requests == []
    (folder / "notes.txt").unlink()
    record = cache_root() / "models" / f"{entry.name}.sha256.json"
    record.mkdir()
    with pytest.raises(OutputRefused, match=rf"^{record}: a folder, where the cache keeps {entry.name}'s digests"):
        load_backbone(entry.name)
    assert source_server.requests == []


def test_a_corrupt_download_is_refused_and_deleted(source_server: SourceServer, monkeypatch) -> None:
    checkpoint, _ = _torchvision("resnet18")
    data = serialise(checkpoint)
    entry = dataclasses.replace(published(zoo.ZOO["resnet50.mocov2_in1k_ep200"], data, arch="resnet18"))
    assert entry.source.hash_kind == "md5-prefix"
    monkeypatch.setitem(zoo.ZOO, entry.name, entry)
    source_server.put(entry.source.url, data[:-10] + b"corrupted!")
    actual = hashlib.md5(data[:-10] + b"corrupted!").hexdigest()
    with pytest.raises(
        ChecksumMismatch,
        match=rf"md5 {actual} does not start with the published "
        rf"{entry.source.published_hash}; it was deleted",
    ):
        load_backbone(entry.name)
    assert not [p for p in cache_root().rglob("*") if p.is_file() and not p.name.endswith(".lock")]


def test_offline_loads_come_from_the_cache_and_a_model_not_cached_exits_5(source_server: SourceServer) -> None:
    """Through the CLI, with real registry entries: DINO's backbone-only file (no published hash)."""
    name = "resnet50.dino_in1k"
    checkpoint, _ = _torchvision("resnet50")
    source_server.put(zoo.ZOO[name].source_url, serialise(checkpoint))
    env = {**os.environ, "SIMSIAM_ZOO_SOURCE_MIRROR": source_server.url}
    done = run_cli("download", name, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    offline = {**env, "HF_HUB_OFFLINE": "1"}
    done = run_cli("download", name, env=offline)
    assert done.returncode == 0 and "resnet50, 2048-d features" in done.stdout, done.stderr[-3000:]
    listing = run_cli("models", "dino_in1k", "--arch", "resnet50", "--json", env=offline)
    assert [(row["name"], row["cached"]) for row in json.loads(listing.stdout)] == [
        ("resnet50.dino_in1k", "yes"),
        ("resnet50.dino_in1k_fullckpt", "no"),  # epochs not stated: first
        ("resnet50.dino_in1k_ep100_example", "no"),
    ]
    requests = len(source_server.requests)
    missing = run_cli("download", "resnet50.vicreg_in1k", env=offline)
    assert missing.returncode == 5, missing.stderr[-3000:]
    assert missing.stderr.startswith("error: resnet50.vicreg_in1k: not in the cache")
    assert len(source_server.requests) == requests  # nothing was asked of the server


def test_unsupported_and_unknown_entries_say_why(source_server: SourceServer) -> None:
    with pytest.raises(HubFolderError, match=r"resnet50.byol_in1k: not supported: a JAX/Haiku dill pickle"):
        load_backbone("resnet50.byol_in1k")
    assert load_backbone("resnet50.byol_in1k", pretrained=False).source == "random init"  # nothing downloaded
    assert source_server.requests == []
    with pytest.raises(NotCachedOffline):
        load_backbone("resnet50.simclr_vissl_ep100")  # the server has no such file: 404
    # A name longer than a file name may be (the check for a path of that name failed) and a link to itself where
    # the lock goes: a traceback each.
    done = run_cli("download", "a" * 300, process=True)
    assert done.returncode == 3 and "File name too long" in done.stderr and len(done.stderr.splitlines()) == 1
    lock = cache_root() / "downloads" / "resnet50.dino_in1k" / ".dino_resnet50_pretrain.pth.lock"
    lock.parent.mkdir(parents=True)
    lock.symlink_to(lock)
    done = run_cli("download", "resnet50.dino_in1k", process=True)
    assert done.returncode == 3 and "Too many levels of symbolic links" in done.stderr, done.stderr
    # A FIFO where the zoo cache keeps an entry's record: `models` waited on it for good.
    (cache_root() / "models").mkdir(parents=True, exist_ok=True)
    make_fifo(cache_root() / "models" / "resnet50.dino_in1k.sha256.json")
    assert cache_status(zoo.ZOO["resnet50.dino_in1k"]) == "no"


def test_a_download_is_checked_against_the_pinned_sha256_and_the_published_prefix() -> None:
    """Each check on its own (no registry entry pins a sha256 yet, and a changed file failed both at once)."""
    file = Digests(sha256="ab" * 32, md5="cd" * 16)
    other = "ef" * 32
    cases = {
        Source("u", None, "none", None, sha256=file.sha256): None,
        Source("u", None, "sha256-prefix", "abab", sha256=file.sha256): None,
        Source("u", None, "md5-prefix", "cdcd"): None,
        Source("u", None, "none", None, sha256=other): f"sha256 {file.sha256} is not the pinned {other}",
        Source("u", None, "sha256-prefix", "efef"): f"sha256 {file.sha256} does not start with the published efef",
        Source("u", None, "md5-prefix", "abab"): f"md5 {file.md5} does not start with the published abab",
    }
    for source, problem in cases.items():
        assert check_digests(source, file) == problem, source


def test_the_cache_is_simsiam_zoo_cache_else_xdg_cache_home_else_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SIMSIAM_ZOO_CACHE", str(tmp_path / "mine"))
    assert cache_root() == tmp_path / "mine"
    monkeypatch.setenv("SIMSIAM_ZOO_CACHE", "")  # set but empty: as unset
    assert cache_root() == Path(os.environ["XDG_CACHE_HOME"]) / "simsiam-zoo"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_root() == tmp_path / "home" / ".cache" / "simsiam-zoo"


def test_the_mirror_variable_keeps_the_path_and_query(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SIMSIAM_ZOO_SOURCE_MIRROR")
    assert resolve_url("https://example.org/a?b=c") == "https://example.org/a?b=c"
    monkeypatch.setenv("SIMSIAM_ZOO_SOURCE_MIRROR", "http://127.0.0.1:8080/cache/")
    assert resolve_url("https://huggingface.co/x/y/resolve/main/a.pth?download=true") == (
        "http://127.0.0.1:8080/cache/x/y/resolve/main/a.pth?download=true"
    )
    for mirror in ("ftp:/nowhere", "http://[::1", "http://127.0.0.1:abc", "http://127.0.0.1:0"):  # tracebacks
        monkeypatch.setenv("SIMSIAM_ZOO_SOURCE_MIRROR", mirror)
        with pytest.raises(HubFolderError, match=re.escape(f"SIMSIAM_ZOO_SOURCE_MIRROR={mirror!r}: expected http")):
            resolve_url("https://example.org/a")


def test_mirror_pushes_once_and_plain_timm_loads_the_mirror(
    hub: HubServer, source_server: SourceServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    checkpoint, net = _torchvision("resnet18")
    data = serialise(checkpoint)
    entry = published(zoo.ZOO["resnet50.barlowtwins_in1k_ep1000"], data, arch="resnet18")  # MIT
    monkeypatch.setitem(zoo.ZOO, entry.name, entry)
    source_server.put(entry.source.url, data)
    options = dict(org="zoo-mirror", endpoint=hub.url, token="hf_test", progress=False)
    # A killed mirror's staging copy (90 MB of weights in the system temp folder, kept for good) is removed by the
    # next; a running one's, its lock held (by a process of its own: in any PID namespace), is left.
    staging = cache_root() / "mirror-staging"
    killed, running = staging / "killed", staging / "running"
    for folder in (killed, running):
        folder.mkdir(parents=True)
        (folder / WEIGHTS_NAME).write_bytes(b"weights")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, filelock; held = filelock.FileLock(sys.argv[1]); held.acquire(); print(1, flush=True); "
            "sys.stdin.read()",
            f"{running}.lock",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline() == "1\n"
    first = list(mirror_entries([entry.name, "resnet50.densecl_in1k_ep200", "resnet50.byol_in1k"], **options))
    holder.communicate("")
    assert sorted(path.name for path in staging.iterdir()) == ["running", "running.lock"]
    assert [result.action for result in first] == ["pushed", "skipped", "skipped"]
    assert first[1].reason == (
        "its licence (gpl-3.0) is none this project passes weights on under "
        "(apache-2.0, mit, bsd-3-clause, cc-by-nc-4.0)"
    )
    assert first[2].reason.startswith("not supported: a JAX/Haiku dill pickle")
    pushed = first[0]
    assert pushed.registry_line() == (
        f'{entry.name}: hub_id="zoo-mirror/{entry.name}", revision="{pushed.revision}", '
        f'sha256="{pushed.weights_sha256}"'
    )
    commits = [request for request in hub.requests if "/commit/" in request]
    again = list(mirror_entries([entry.name], **options))
    assert [(r.action, r.revision, r.weights_sha256) for r in again] == [
        ("up to date", pushed.revision, pushed.weights_sha256)
    ]
    assert [request for request in hub.requests if "/commit/" in request] == commits  # nothing pushed again
    # Other weights pushed into the repo by another hand keep its card, which states the mirror's sha256: the
    # mirror was called up to date, and its pin line named a revision holding those other weights.
    from simsiam_zoo.hub.publish import push_hub_folder

    push_hub_folder(build_hub_folder(tmp_path / "other"), repo_id=pushed.repo_id, endpoint=hub.url, token="hf_test")
    repaired = list(mirror_entries([entry.name], **options))
    assert [(r.action, r.weights_sha256) for r in repaired] == [("pushed", pushed.weights_sha256)]
    # Its config edited (another preprocessing) by another hand, weights and card kept: up to date, it was.
    edited = shutil.copytree(fetch_entry(entry), tmp_path / "edited")
    config = json.loads((edited / "config.json").read_text())
    config["pretrained_cfg"]["mean"] = [0.0, 0.0, 0.0]
    (edited / "config.json").write_text(json.dumps(config))
    edited_push = push_hub_folder(edited, repo_id=pushed.repo_id, endpoint=hub.url, token="hf_test")
    # Pinned to it, the entry's loads refuse it (they used its preprocessing), and so does a push to the entry's repo.
    pinned = dataclasses.replace(
        entry, hub_id=pushed.repo_id, revision=edited_push.commit_oid, sha256=pushed.weights_sha256
    )
    monkeypatch.setitem(zoo.ZOO, entry.name, pinned)
    refusal = rf"{entry.name}: {pushed.repo_id}'s config.json gives the preprocessing mean \(0.0, 0.0, 0.0\) where"
    with pytest.raises(HubFolderError, match=refusal):
        load_backbone(entry.name)
    monkeypatch.setitem(zoo.ZOO, entry.name, entry)
    with pytest.raises(HubFolderError, match=r"that entry \(its config's preprocessing has mean \(0.0, 0.0, 0.0\) "):
        push_hub_folder(edited, repo_id=entry.hub_id, dry_run=True)
    repaired = list(mirror_entries([entry.name], **options))
    assert [(r.action, r.weights_sha256) for r in repaired] == [("pushed", pushed.weights_sha256)]
    assert [r.action for r in mirror_entries([entry.name], **options)] == ["up to date"]
    monkeypatch.setitem(zoo.ZOO, entry.name, dataclasses.replace(pinned, revision=repaired[0].revision))
    with torch.no_grad():
        torch.testing.assert_close(load_backbone(entry.name).model(IMAGE), net.eval()(IMAGE), atol=1e-5, rtol=0)
    torch.save(IMAGE, tmp_path / "x.pt")
    script = (
        "import sys, timm, torch\n"
        "m = timm.create_model('hf-hub:' + sys.argv[1], pretrained=True).eval()\n"
        "torch.save(m(torch.load(sys.argv[2])).detach(), sys.argv[3])\n"
        "assert 'simsiam_zoo' not in sys.modules\n"
    )
    args = [sys.executable, "-c", script, pushed.repo_id, str(tmp_path / "x.pt"), str(tmp_path / "y.pt")]
    env = {**os.environ, "HF_HUB_CACHE": str(tmp_path / "cache")}
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    with torch.no_grad():
        torch.testing.assert_close(torch.load(tmp_path / "y.pt"), net.eval()(IMAGE), atol=1e-5, rtol=0)


@pytest.mark.parametrize(("legacy_format", "length"), [(False, 5000), (True, 750), (True, 500)])
def test_a_file_that_cannot_be_converted_is_deleted_with_a_clear_error(
    source_server: SourceServer, monkeypatch: pytest.MonkeyPatch, legacy_format: bool, length: int
) -> None:
    """A source without a published hash served a truncated file: nothing checks it before the converter does. The
    torch format before 1.6 (not a zip) fails in torch's reader with other errors: cut at 500 bytes a struct.error,
    which gave a traceback and kept the file for every later call to fail on; at 750 an EOFError without a
    message."""
    checkpoint, _ = _torchvision("resnet18")
    entry = dataclasses.replace(zoo.ZOO["resnet50.dino_in1k"], arch="resnet18")
    monkeypatch.setitem(zoo.ZOO, entry.name, entry)
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer, _use_new_zipfile_serialization=not legacy_format)
    source_server.put(entry.source.url, buffer.getvalue()[:length])
    expected = r"resnet50.dino_in1k: .*cannot read torch checkpoint .*\(the downloaded file was deleted\)"
    with pytest.raises(ValueError, match=expected):
        load_backbone(entry.name)
    assert not [p for p in cache_root().rglob("*") if p.is_file() and not p.name.endswith(".lock")]


def test_a_download_is_deleted_whatever_stops_its_conversion(
    source_server: SourceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An error that is no ConversionError (a converter's own failure) still deletes the file, or every later
    load would fail on it again without downloading."""
    checkpoint, _ = _torchvision("resnet18")
    entry = dataclasses.replace(zoo.ZOO["resnet50.dino_in1k"], arch="resnet18")
    monkeypatch.setitem(zoo.ZOO, entry.name, entry)
    source_server.put(entry.source.url, serialise(checkpoint))

    def failing(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("a converter's own failure")

    monkeypatch.setattr(export, "convert_source_file", failing)
    with pytest.raises(RuntimeError, match="a converter's own failure"):
        load_backbone(entry.name)
    assert not [p for p in cache_root().rglob("*") if p.is_file() and not p.name.endswith(".lock")]


def _permission_denied(path: Path, *args: Any, **kwargs: Any) -> None:
    raise PermissionError(13, "Permission denied", str(path))


def test_a_cached_file_changed_while_a_load_hashes_it_is_listed_as_unverified(
    source_server: SourceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The record a listing compares is the files' state before they were hashed: a change during the hash (here
    a new modification time, right after it) is not recorded as verified."""
    checkpoint, _ = _torchvision("resnet18")
    data = serialise(checkpoint)
    entry = published(zoo.ZOO["resnet50.supervised_tv_in1k"], data, arch="resnet18")
    monkeypatch.setitem(zoo.ZOO, entry.name, entry)
    source_server.put(entry.source.url, data)
    load_backbone(entry.name)
    weights, real_sha256 = cached_folder(entry) / "model.safetensors", export.sha256_file

    def hash_then_touch(path: Path) -> str:
        digest = real_sha256(path)
        if path == weights:
            os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
        return digest

    monkeypatch.setattr(export, "sha256_file", hash_then_touch)
    load_backbone(entry.name)
    assert cache_status(entry) == "unverified"  # until a load hashes the file as it is now
    monkeypatch.setattr(export, "sha256_file", real_sha256)
    load_backbone(entry.name)
    assert cache_status(entry) == "yes"


def test_the_cached_folder_is_checked_on_every_load_and_a_zoo_name_is_never_shadowed(
    source_server: SourceServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Weights or config changed in the cache after conversion are refused, naming the file (they were served as
    the entry); a folder made by an older version (no record) is made again; a folder named like the entry in the
    working directory does not stand in for it."""
    checkpoint, net = _torchvision("resnet18")
    data = serialise(checkpoint)
    entry = published(zoo.ZOO["resnet50.supervised_tv_in1k"], data, arch="resnet18")
    monkeypatch.setitem(zoo.ZOO, entry.name, entry)
    source_server.put(entry.source.url, data)
    impostor = tmp_path / entry.name
    impostor.mkdir()
    monkeypatch.chdir(tmp_path)
    load_backbone(entry.name)  # from the source, not from ./NAME (which holds nothing loadable)
    folder = cached_folder(entry)
    weights = folder / "model.safetensors"
    original = weights.read_bytes()
    other, _ = _torchvision("resnet18")
    torch.nn.init.zeros_(other["conv1.weight"])
    from safetensors.torch import save_file

    assert cache_status(entry) == "yes"
    save_file({k: v.contiguous() for k, v in other.items() if k not in ("fc.weight", "fc.bias")}, weights)
    assert cache_status(entry) == "unverified"  # what `models` lists, from the file's size and time, not a hash
    with pytest.raises(
        ChecksumMismatch,
        match=rf"{entry.name}: {weights} in the cache is not the file converted "
        "from the verified original",
    ):
        load_backbone(entry.name)
    weights.write_bytes(original)
    assert cache_status(entry) == "unverified"
    load_backbone(entry.name)  # the very files again: verified by their hash, and the listing's record renewed
    assert cache_status(entry) == "yes"
    record = next(folder.parent.glob("*.sha256.json"))
    recorded = json.loads(record.read_text())
    record.write_text(json.dumps({key: value for key, value in recorded.items() if key != "stat"}))  # an older one's
    assert cache_status(entry) == "unverified"  # not "yes": nothing was compared
    with monkeypatch.context() as read_only:  # a cache this user cannot write: the load works, the record stays
        read_only.setattr(export, "atomic_write_text", _permission_denied)
        load_backbone(entry.name)
    assert cache_status(entry) == "unverified"
    load_backbone(entry.name)
    assert cache_status(entry) == "yes"
    # The card (a load reads its licence, a mirror pushes it) and any file put beside it: they were never checked.
    card = folder / "README.md"
    kept = card.read_text()
    card.write_text(kept.replace("license: ", "license: apache-2.0\nold_license: "))
    with pytest.raises(ChecksumMismatch, match=rf"{entry.name}: {card} in the cache is not the file converted"):
        load_backbone(entry.name)
    card.write_text(kept)
    (folder / "recipe.yaml").write_text("name: planted\n")
    with pytest.raises(
        ChecksumMismatch, match=r"recipe.yaml in the cache is not the file converted from .*, recorded no such file\)"
    ):
        load_backbone(entry.name)
    (folder / "recipe.yaml").unlink()
    (folder / ".DS_Store").write_bytes(b"a file browser's")  # hidden: neither read nor pushed
    # A renewal records the digests it checked: hashing again recorded a file changed in between as good.
    hashed = []
    checked = export.sha256_file
    monkeypatch.setattr(export, "sha256_file", lambda path: hashed.append(path.name) or checked(path))
    load_backbone(entry.name)
    assert sorted(hashed) == ["README.md", "config.json", "model.safetensors"]
    monkeypatch.setattr(export, "sha256_file", checked)
    (folder / ".DS_Store").unlink()  # a folder made again would keep it, and so is refused while it is there
    # Once mirrored and pinned, loads read the Hub mirror: the converted folder left behind is not what they use.
    assert cache_status(dataclasses.replace(entry, sha256="0" * 64)) == "no"
    requests = len(source_server.requests)
    record.write_text("{not json")  # a record that cannot be read: the load makes the folder again, as listed
    assert cache_status(entry) == "no"
    record.write_text("[]")  # nor one of another shape (every load refused the folder, listed as "unverified")
    assert cache_status(entry) == "no"
    load_backbone(entry.name)
    assert len(source_server.requests) == requests + 1  # made again from the source
    requests += 1
    record.unlink()  # as an older version left it
    loaded = load_backbone(entry.name)
    assert len(source_server.requests) == requests + 1  # made again from the source
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(IMAGE), net.eval()(IMAGE), atol=1e-5, rtol=0)


def test_a_partial_file_is_resumed_only_with_its_validator(source_server: SourceServer, tmp_path: Path) -> None:
    """A transfer cut off, then the file changed on the server: the resume asks with If-Range and gets the new
    file whole (not old bytes + new bytes); a partial file of unknown origin is not resumed at all; a failure with
    nothing kept does not say that something is."""
    url, destination = "https://example.org/files/w.bin", tmp_path / "w.bin"
    path = source_server.put(url, b"a" * 1000)
    source_server.cut[path] = 400

    def cut_then_gone(*_: object) -> None:  # the retry finds the file gone for now: the partial file stays
        source_server.fail[path] = [404]

    source_server.after_cut = cut_then_gone
    with pytest.raises(SourceUnavailable, match="HTTP 404"):
        download(resolve_url(url), destination, progress=False, retry_wait=0.01)
    assert (tmp_path / "w.bin.incomplete").stat().st_size == 400
    source_server.put(url, b"b" * 1000)
    download(resolve_url(url), destination, progress=False, retry_wait=0.01)
    assert destination.read_bytes() == b"b" * 1000
    assert source_server.requests[-1] == (path, "bytes=400-")  # asked to resume, answered with the whole new file
    stranger, junk = tmp_path / "x.bin", tmp_path / "x.bin.incomplete"
    junk.write_bytes(b"z" * 300)  # no record of where these bytes came from
    source_server.put("https://example.org/files/x.bin", b"c" * 1000)
    download(resolve_url("https://example.org/files/x.bin"), stranger, progress=False, retry_wait=0.01)
    assert stranger.read_bytes() == b"c" * 1000 and source_server.requests[-1][1] is None
    gone = source_server.put("https://example.org/files/y.bin", b"d")
    source_server.fail[gone] = [503] * 5
    with pytest.raises(SourceUnavailable, match=r"after 5 tries \(HTTP 503\); nothing was kept"):
        download(resolve_url("https://example.org/files/y.bin"), tmp_path / "y.bin", progress=False, retry_wait=0.01)
    # Cut off by a source giving no validator it could be resumed with: "nothing was kept" kept its bytes for good.
    unvalidated = source_server.put("https://example.org/files/z.bin", b"e" * 1000)
    source_server.etag[unvalidated], source_server.cut[unvalidated] = "café", 400
    source_server.after_cut = lambda *_: source_server.fail.__setitem__(unvalidated, [503] * 5)
    with pytest.raises(SourceUnavailable, match=r"\(HTTP 503\); nothing was kept"):
        download(resolve_url("https://example.org/files/z.bin"), tmp_path / "z.bin", progress=False, retry_wait=0.01)
    assert not list(tmp_path.glob("z.bin*"))


def test_a_partial_file_changed_on_disk_is_downloaded_again(source_server: SourceServer, tmp_path: Path) -> None:
    """Bytes of a partial file changed since they were received were resumed after, and the whole recorded as the
    original (for an entry that publishes no hash, nothing checked it). Only the bytes last recorded with their
    sha256 are resumed: a partial file changed, or of a version that recorded none, starts over."""
    url, destination = "https://example.org/files/p.bin", tmp_path / "p.bin"
    data = bytes(range(256)) * 40
    path = source_server.put(url, data)
    for edit in (lambda partial: partial.write_bytes(b"X" + partial.read_bytes()[1:]), None):
        source_server.cut[path] = 4000
        source_server.after_cut = lambda *_: source_server.fail.__setitem__(path, [404])
        with pytest.raises(SourceUnavailable, match="HTTP 404"):
            download(resolve_url(url), destination, progress=False, retry_wait=0.01)
        partial, meta = tmp_path / "p.bin.incomplete", tmp_path / "p.bin.incomplete.json"
        recorded = json.loads(meta.read_text())
        assert (recorded["size"], recorded["sha256"]) == (4000, hashlib.sha256(data[:4000]).hexdigest())
        if edit is not None:
            edit(partial)
        else:  # as the version before wrote it: no length or digest
            meta.write_text(json.dumps({key: recorded[key] for key in ("url", "validator")}))
        source_server.cut.pop(path, None)
        source_server.fail.pop(path, None)
        source_server.after_cut = None
        assert download(resolve_url(url), destination, progress=False).sha256 == hashlib.sha256(data).hexdigest()
        assert destination.read_bytes() == data and source_server.requests[-1] == (path, None)  # whole, no Range
        discard_download(destination)


def test_a_complete_file_is_kept_only_with_the_record_of_its_transfer(
    source_server: SourceServer, tmp_path: Path
) -> None:
    """A whole file in the downloads folder was converted as the entry's and called "cached and verified", with no
    request: one put there by hand, one of another URL, or one changed since its transfer is downloaded again; one
    whose record holds (a kill between the transfer and the conversion) is used without a request."""
    url, destination = "https://example.org/files/v.bin", tmp_path / "v.bin"
    path = source_server.put(url, b"e" * 1000)
    destination.write_bytes(b"someone else's")
    assert download(resolve_url(url), destination, progress=False).sha256 == hashlib.sha256(b"e" * 1000).hexdigest()
    assert destination.read_bytes() == b"e" * 1000 and len(source_server.requests) == 1
    download(resolve_url(url), destination, progress=False)
    assert len(source_server.requests) == 1  # its own record: kept
    destination.write_bytes(b"f" * 1000)  # changed since
    download(resolve_url(url), destination, progress=False)
    assert destination.read_bytes() == b"e" * 1000 and source_server.requests[1:] == [(path, None)]
    source_server.put("https://example.org/other/v.bin", b"g" * 10)
    download(resolve_url("https://example.org/other/v.bin"), destination, progress=False)
    assert destination.read_bytes() == b"g" * 10  # the record named another URL


def test_two_downloads_of_one_file_at_once_make_one_transfer(source_server: SourceServer, tmp_path: Path) -> None:
    """The second waits on the first's lock and finds the file done (they appended to one partial file before)."""
    import threading

    url, destination = "https://example.org/files/big.bin", tmp_path / "big.bin"
    path = source_server.put(url, bytes(range(256)) * 4000)
    source_server.delay[path] = 0.5
    threads = [
        threading.Thread(
            target=download, args=(resolve_url(url), destination), kwargs={"progress": False, "retry_wait": 0.01}
        )
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert destination.read_bytes() == bytes(range(256)) * 4000
    assert source_server.requests == [(path, None)]


def test_mirror_reports_what_it_pushed_before_a_failure_and_a_dry_run_needs_no_hub(
    hub: HubServer, source_server: SourceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`mirror A B`, B failing: A's push and its line to pin are printed before B's error (exit 5); a dry run works
    with HF_HUB_OFFLINE=1 (it asked the Hub and died); an unreachable Hub names the model, exit 5."""

    checkpoint, _ = _torchvision("resnet18")
    data = serialise(checkpoint)
    entry = published(zoo.ZOO["resnet50.barlowtwins_in1k_ep1000"], data, arch="resnet18")  # MIT
    missing = published(zoo.ZOO["resnet50.barlowtwins_in1k_ep1000_fullckpt"], b"", arch="resnet18")  # not served
    monkeypatch.setitem(zoo.ZOO, entry.name, entry)
    monkeypatch.setitem(zoo.ZOO, missing.name, missing)
    source_server.put(entry.source.url, data)
    monkeypatch.setenv("HF_TOKEN", "hf_test")
    done = run_cli("mirror", entry.name, missing.name, "--org", "partial")
    assert done.returncode == 5, done.stdout + done.stderr
    assert f"pushed     partial/{entry.name}" in done.stdout
    assert f'{entry.name}: hub_id="partial/{entry.name}"' in done.stdout
    last = done.stderr.splitlines()[-1]  # after the progress bars
    assert last == f"error: {resolve_url(missing.source.url)}: the server answered HTTP 404"
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    done = run_cli("mirror", entry.name, "--org", "partial", "--dry-run")
    assert done.returncode == 0 and f"would push partial/{entry.name}" in done.stdout, done.stdout + done.stderr
    for org in ("", "a/b"):  # said as "repo id '/resnet50...': ...", never naming --org
        done = run_cli("mirror", entry.name, "--org", org, "--dry-run")
        assert done.returncode == 2 and f"'--org': {org!r} is not an organisation or user name" in done.stderr
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)
    monkeypatch.setattr("huggingface_hub.constants.ENDPOINT", "http://127.0.0.1:9")
    done = run_cli("extract", "hf-hub:someone/model", ".", "--out", "unused")
    assert done.returncode == 5, done.stdout + done.stderr
    assert done.stderr.splitlines()[-1].startswith(
        "error: someone/model: the Hub (http://127.0.0.1:9) could not be reached"
    )


def test_a_download_into_a_full_disk_names_the_file(source_server: SourceServer) -> None:
    """exit 6 naming the file being written (the message named none)."""

    name = "resnet50.dino_in1k"
    source_server.put(zoo.ZOO[name].source_url, b"x" * 100_000)
    env = {**os.environ, "SIMSIAM_ZOO_SOURCE_MIRROR": source_server.url}
    done = run_cli("download", name, prefix=with_setup(DISK_FULL), env=env)
    assert done.returncode == 6, done.stderr[-3000:]
    last = done.stderr.splitlines()[-1]
    assert last.startswith("error: [Errno 27] File too large: ") and last.endswith(".pth.incomplete'"), last


def test_a_card_refused_while_mirroring_names_the_entry_not_the_staging_copy(
    source_server: SourceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The validated push refuses the staging copy, which is deleted by the time the message is read: the message
    names the entry and its cached folder instead."""
    import simsiam_zoo.mirror

    checkpoint, _ = _torchvision("resnet18")
    data = serialise(checkpoint)
    entry = published(zoo.ZOO["resnet50.barlowtwins_in1k_ep1000"], data, arch="resnet18")  # MIT
    monkeypatch.setitem(zoo.ZOO, entry.name, entry)
    source_server.put(entry.source.url, data)
    staged: list[str] = []

    def refuses(folder: str, **_: object) -> None:
        staged.append(folder)
        raise HubFolderError(f"{folder}/README.md: license is missing")

    monkeypatch.setattr(simsiam_zoo.mirror, "_remote_state", lambda *_, **__: None)
    monkeypatch.setattr(simsiam_zoo.mirror, "push_hub_folder", refuses)
    with pytest.raises(HubFolderError) as refused:
        list(mirror_entries([entry.name], org="zoo-mirror", progress=False))
    assert str(refused.value) == (
        f"{entry.name}: the mirror copy of {cached_folder(entry)}/README.md: license is missing"
    )
    assert staged and not Path(staged[0]).exists()
