"""Every zoo entry: one explicit registry of `arch.tag` names, each a frozen record (like timm's pretrained cfgs, but
a literal dict rather than module attributes), written as keyword records per release.

Each entry holds the facts its own project publishes, cited by the public URL of its origin (`_ORIGINS`): where the
file is, the hash published with it, the licence, the training epochs and batch, the published results and the
converter that reads its layout. A fact the source does not state is None and said so in `note`, never guessed.
"""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass, field

from simsiam_zoo.augment import Preprocessing
from simsiam_zoo.zoo.methods import METHODS
from simsiam_zoo.zoo.schema import IMAGENET_EVAL, MIRROR_ORG, HashKind, LicenseBasis, Result, Source, ZooEntry

FASHION_MNIST_PREPROCESSING = Preprocessing(
    input_size=(3, 32, 32), interpolation="bicubic", crop_pct=1.0, mean=(0.286,) * 3, std=(0.353,) * 3
)

_ORIGINS = {
    "simsiam": ("the official SimSiam release", "https://github.com/facebookresearch/simsiam"),
    "moco": ("the official MoCo release", "https://github.com/facebookresearch/moco"),
    "mocov3": ("the official MoCo v3 release", "https://github.com/facebookresearch/moco-v3/blob/main/CONFIG.md"),
    "dino": ("the official DINO release", "https://github.com/facebookresearch/dino"),
    "dinov2": ("the official DINOv2 release", "https://github.com/facebookresearch/dinov2"),
    "mae": ("the official MAE release", "https://github.com/facebookresearch/mae"),
    "ijepa": ("the official I-JEPA release", "https://github.com/facebookresearch/ijepa"),
    "ibot": ("the official iBOT release", "https://github.com/bytedance/ibot"),
    "swav": ("the official SwAV / DeepCluster-v2 / SeLa-v2 release", "https://github.com/facebookresearch/swav"),
    "barlowtwins": ("the official Barlow Twins release", "https://github.com/facebookresearch/barlowtwins"),
    "vicreg": ("the official VICReg release", "https://github.com/facebookresearch/vicreg"),
    "vicregl": ("the official VICRegL release", "https://github.com/facebookresearch/VICRegL"),
    "byol": ("the official BYOL release (JAX)", "https://github.com/deepmind/deepmind-research/tree/master/byol"),
    "densecl": ("the official DenseCL release", "https://github.com/WXinlong/DenseCL"),
    "vissl": ("the VISSL model zoo", "https://github.com/facebookresearch/vissl/blob/main/MODEL_ZOO.md"),
    "mmpretrain": ("the mmpretrain (OpenMMLab) model zoo", "https://github.com/open-mmlab/mmpretrain"),
    "mmselfsup": (
        "the mmselfsup (OpenMMLab) model zoo",
        "https://github.com/open-mmlab/mmselfsup/blob/main/docs/en/model_zoo.md",
    ),
    "mmselfsup0x": (
        "the mmselfsup 0.x (OpenMMLab) model zoo",
        "https://github.com/open-mmlab/mmselfsup/blob/0.x/docs/en/model_zoo.md",
    ),
    "lightly": (
        "the lightly ImageNet benchmarks",
        "https://github.com/lightly-ai/lightly/blob/master/docs/source/getting_started/benchmarks.rst",
    ),
    "torchvision": (
        "torchvision",
        "https://pytorch.org/vision/stable/models/generated/torchvision.models.resnet50.html",
    ),
}
_FB = "https://dl.fbaipublicfiles.com"
_MM = "https://download.openmmlab.com/mmselfsup/1.x"
# Where each OpenMMLab origin's files are (mmselfsup 0.x: no version folder).
_MM_FILES = {"mmselfsup0x": "https://download.openmmlab.com/mmselfsup"}
_LIGHTLY = "https://lightly-ssl-checkpoints.s3.amazonaws.com"
_NC = "cc-by-nc-4.0"
_MOCO_LICENCE = (
    "The MoCo README says CC-BY-NC 4.0; its LICENSE file is MIT since 2023-01-18. The registry keeps "
    "the stricter reading."
)

_BYOL_JAX = (
    "a JAX/Haiku dill pickle: reading it means importing dill, jax and haiku and running their code; "
    "use resnet50.byol_mmpretrain_ep200 (a re-implementation) instead"
)
# VISSL's Caffe2 colorization ResNet-50s (Goyal et al. 2019), as its benchmark reads them
# (configs/config/model_zoo/benchmark_in1k_linear_colorization.json@09270ed, models/resnet50_colorization.yaml).
_COLORIZATION_INPUT = (
    "a ResNet-50 of one input channel, the L of an image in Lab: VISSL builds its conv1 with 1 channel for "
    "INPUT_TYPE lab (vissl/models/trunks/resnext.py:46-49, 113-122), feeds it the L channel of ImgPil2LabTensor's "
    "OpenCV Lab image, rescaled to -50..50 (models/model_helpers.py:47-50, data/ssl_transforms/"
    "img_pil_to_lab_tensor.py:33-60), and sets layer4's stride to 1 (benchmark/linear_image_classification/"
    "imagenet1k/models/resnet50_colorization.yaml:20, 29-33); simsiam-zoo's RGB extraction cannot feed it, and "
    "timm's resnet50 takes 3 channels"
)
_PIRL_README = (
    "VISSL's PIRL project README",
    "https://github.com/facebookresearch/vissl/blob/main/projects/PIRL/README.md",
)
# VISSL's linear benchmark of a ResNet-50 (eval_resnet_8gpu_transfer_in1k_linear.yaml) trains a head on each of
# several features; its MODEL_ZOO.md gives one number without naming the feature.
_VISSL_HEADS = (
    "VISSL's linear benchmark trains heads on conv1, res2-res5 (pooled maps) and res5avg; MODEL_ZOO.md does not "
    "say which feature its number is from."
)
# Barlow Twins' earlier releases, published in README versions since replaced.
_BT_TORCHHUB = (
    "the Barlow Twins README at commit 046eec3, which put this file into hubconf.py and README.md",
    "https://github.com/facebookresearch/barlowtwins/blob/046eec3/README.md",
)
_BT_INITIAL = "epochs1000_bs2048_lr0.2_lambd0.0051_proj_8192_8192_8192_scale0.024"
_BT_INITIAL_README = (
    "the Barlow Twins README at commit 89bcefe, the last to link this run",
    "https://github.com/facebookresearch/barlowtwins/blob/89bcefe/README.md",
)
_BT_INITIAL_NOTE = (
    "The first release (commit f13c949, 2021-03-19; hubconf.py loaded it until commit 046eec3, 2021-06-02, "
    "replaced it with the torch.hub run). It was published while the repository was CC-BY-NC 4.0 and delisted "
    "before the relicensing to MIT (2021-07-06); the registry keeps the stricter reading."
)


_RESNET_TITLES = {"resnet50": "ResNet-50", "resnet101": "ResNet-101"}
# The pretraining data an entry names, in words (its `pretrain_dataset` is the key).
_PRETRAIN_DATASETS = {
    "imagenet-1k": "ImageNet-1k",
    "imagenet-22k": "ImageNet-22k",
    "coco": "COCO",
    "ig-1b": "IG-1B (public Instagram images, non-EU)",
    "gldv2": "Google Landmarks v2",
    "lvd-142m": "LVD-142M",
    "yfcc100m": "YFCC100M",
}


def _trained(epochs: int | None, batch: int | None) -> str:
    """The training facts the source states, as " (300 epochs, batch 4096)"; "" when it states neither."""
    trained = ", ".join(
        part for part in (f"{epochs} epochs" if epochs else None, f"batch {batch}" if batch else None) if part
    )
    return f" ({trained})" if trained else ""


@dataclass(frozen=True)
class _ResNet:
    """A ResNet-50 release (another torchvision ResNet where `arch` says), pretrained on ImageNet-1k unless
    `pretrain_dataset` says otherwise, as its project publishes it (`origin`: where, in `_ORIGINS`); `extra` holds
    further published results as (task, metric, value)."""

    tag: str
    _: KW_ONLY
    method: str
    origin: str
    url: str
    converter: str | None
    license: str
    epochs: int | None
    batch: int | None
    linear: float | None
    hash_kind: HashKind = "none"
    published_hash: str | None = None
    extra: tuple[tuple[str, str, float], ...] = ()
    note: str | None = None
    aliases: tuple[str, ...] = ()
    unsupported: str | None = None
    preprocessing: Preprocessing = IMAGENET_EVAL
    # Where the published numbers are, when not on the origin's page: (what, public URL).
    results_source: tuple[str, str] | None = None
    # The licence rule (README): the official repositories state their licence for the project, not for the
    # weights alone; BYOL's README states one for its checkpoints.
    license_basis: LicenseBasis = "repository"
    pretrain_dataset: str = "imagenet-1k"
    arch: str = "resnet50"

    def entry(self) -> ZooEntry:
        where, results_url = _ORIGINS[self.origin]
        cited, cited_url = self.results_source or (where, results_url)
        name = f"{self.arch}.{self.tag}"
        summary = (
            f"{_RESNET_TITLES[self.arch]} pretrained with {METHODS[self.method].title} on "
            f"{_PRETRAIN_DATASETS[self.pretrain_dataset]}{_trained(self.epochs, self.batch)}, from {where}, "
            "converted to timm's key names."
        )
        task_name = "supervised" if self.method == "supervised" else "linear"
        results = tuple(
            Result(task, "imagenet-1k", metric, value, f"{cited} (as published)", cited_url)
            for task, metric, value in ((task_name, "top-1 accuracy", self.linear), *self.extra)
            if value is not None
        )
        return ZooEntry(
            name=name,
            arch=self.arch,
            hub_id=f"{MIRROR_ORG}/{name}",
            summary=summary,
            license=self.license,
            pretrain_dataset=self.pretrain_dataset,
            epochs=self.epochs,
            batch_size=self.batch,
            preprocessing=self.preprocessing,
            method=self.method,
            source=Source(self.url, self.converter, self.hash_kind, self.published_hash),
            results=results,
            note=self.note,
            aliases=self.aliases,
            unsupported=self.unsupported,
            license_basis="none" if self.license == "unknown" else self.license_basis,
        )


def _mm(
    tag: str,
    method: str,
    epochs: int,
    batch: int,
    path: str,
    linear: float,
    note: str | None = None,
    origin: str = "mmpretrain",
) -> ZooEntry:
    """An OpenMMLab checkpoint: the name ends in `-<first 8 hex of the sha256>.pth`."""
    published = path.rsplit("-", 1)[1].removesuffix(".pth")
    return _ResNet(
        tag,
        method=method,
        origin=origin,
        url=f"{_MM_FILES.get(origin, _MM)}/{path}",
        converter="mmselfsup",
        license="apache-2.0",
        epochs=epochs,
        batch=batch,
        linear=linear,
        hash_kind="sha256-prefix",
        published_hash=published,
        note=note,
        results_source=(
            (
                f"mmpretrain's {method} results",
                f"https://github.com/open-mmlab/mmpretrain/blob/main/configs/{method}/README.md",
            )
            if origin == "mmpretrain"
            else None
        ),
    ).entry()


def _vissl(
    tag: str,
    method: str,
    epochs: int,
    batch: int | None,
    path: str,
    linear: float,
    note: str | None = None,
    results_source: tuple[str, str] | None = None,
    arch: str = "resnet50",
) -> ZooEntry:
    # The hex suffix of VISSL folder names is a run id, not a hash.
    return _ResNet(
        tag,
        method=method,
        origin="vissl",
        url=f"{_FB}/vissl/model_zoo/{path}",
        converter="vissl",
        license="mit",
        epochs=epochs,
        batch=batch,
        linear=linear,
        note=note,
        results_source=results_source,
        arch=arch,
    ).entry()


def _swav(
    tag: str,
    method: str,
    epochs: int,
    batch: int,
    file: str,
    linear: float,
    note: str | None = None,
    aliases: tuple[str, ...] = (),
) -> ZooEntry:
    return _ResNet(
        tag,
        method=method,
        origin="swav",
        url=f"{_FB}/deepcluster/{file}",
        converter="swav",
        license=_NC,
        epochs=epochs,
        batch=batch,
        linear=linear,
        note=note,
        aliases=aliases,
    ).entry()


def _lightly(
    method: str, batch: int, run: str, step: int, linear: float, finetune: float, knn: float, note: str | None = None
) -> ZooEntry:
    return _ResNet(
        f"{method}_lightly_ep100",
        method=method,
        origin="lightly",
        url=f"{_LIGHTLY}/{run}/pretrain/version_0/checkpoints/epoch%3D99-step%3D{step}.ckpt",
        converter="lightly",
        license="mit",
        epochs=100,
        batch=batch,
        linear=linear,
        extra=(("finetune", "top-1 accuracy", finetune), ("knn", "top-1 accuracy", knn)),
        note=note,
    ).entry()


# Vision transformers: timm's names for the sources' architectures.
_ARCH_TITLES = {
    "vit_small_patch16_224": "ViT-S/16",
    "vit_small_patch8_224": "ViT-S/8",
    "vit_base_patch16_224": "ViT-B/16",
    "vit_base_patch8_224": "ViT-B/8",
    "vit_large_patch16_224": "ViT-L/16",
    "vit_huge_patch14_224": "ViT-H/14",
    "vit_huge_patch14_gap_224": "ViT-H/14 (no class token)",
    "vit_huge_patch16_gap_448": "ViT-H/16 at 448 px (no class token)",
    "vit_giant_patch16_gap_224": "ViT-g/16 (no class token)",
    "beit_base_patch16_224": "BEiT-B/16",
    "xcit_small_12_p16_224": "XCiT-S12/16",
    "xcit_small_12_p8_224": "XCiT-S12/8",
    "xcit_medium_24_p16_224": "XCiT-M24/16",
    "xcit_medium_24_p8_224": "XCiT-M24/8",
    "convnext_small": "ConvNeXt-S",
    "convnext_base": "ConvNeXt-B",
    "convnext_xlarge": "ConvNeXt-XL",
    "regnety_160": "RegNetY-16GF",
    "regnety_320": "RegNetY-32GF",
    "regnety_640": "RegNetY-64GF",
    "regnety_1280": "RegNetY-128GF",
    "swin_base_patch4_window7_224": "Swin-B",
    "swin_large_patch4_window7_224": "Swin-L",
    "convnextv2_tiny": "ConvNeXt-V2-T",
    "vit_small_patch14_dinov2": "ViT-S/14",
    "vit_base_patch14_dinov2": "ViT-B/14",
    "vit_large_patch14_dinov2": "ViT-L/14",
    "vit_giant_patch14_dinov2": "ViT-g/14",
    "vit_small_patch14_reg4_dinov2": "ViT-S/14 with 4 registers",
    "vit_base_patch14_reg4_dinov2": "ViT-B/14 with 4 registers",
    "vit_large_patch14_reg4_dinov2": "ViT-L/14 with 4 registers",
    "vit_giant_patch14_reg4_dinov2": "ViT-g/14 with 4 registers",
}
_DINO_README = "https://github.com/facebookresearch/dino/blob/7c446df5b9f45747937fb0d72314eb9f7b66930a/README.md"
_MOCOV3_CONFIG = "https://github.com/facebookresearch/moco-v3/blob/c349e6e24f40d3fedb22d973f92defa4cedf37a7/CONFIG.md"
# DINO's k-NN and linear evaluation transform (eval_knn.py:32-37, eval_linear.py:65-70), for its ViTs and its
# ResNet-50 alike: Resize(256, interpolation=3), bicubic, then CenterCrop(224), ImageNet mean and std. timm's cfgs
# of the same ViT weights say 0.9.
_DINO_EVAL = Preprocessing(interpolation="bicubic", crop_pct=224 / 256)
# The features DINO's linear protocol reads (eval_linear.py:166-170, its flags' defaults :256-259, README.md:332-344).
_DINO_LINEAR_S = "the class tokens of the last 4 blocks, concatenated (n_last_blocks 4)"
_DINO_LINEAR_B = "the last block's class token beside its mean patch token (n_last_blocks 1, avgpool_patchtokens)"
_IBOT_README = "https://github.com/bytedance/ibot/blob/da316d82636a7a7356835ef224b13d5f3ace0489/README.md"
_IBOT_FILES = "https://lf3-nlp-opensource.bytetos.com/obj/nlp-opensource/archive/2022/ibot"
_VICREGL_README = "https://github.com/facebookresearch/VICRegL/blob/803ae4c8cd1649a820f03afb4793763e95317620/README.md"
_LIGHTLY_BENCHMARKS = (
    "https://github.com/lightly-ai/lightly/blob/e8d317fc5a87f4387a85a35e689869039ec249ee/docs/source/getting_started/"
    "benchmarks.rst"
)
_MM_COMMIT = "ee7f2e88501f61aa95c742dd5f429f039935ee90"
_MMSELFSUP_COMMIT = "db861f30487c9a0b0cb3e35e176d6058887660bc"
# Each OpenMMLab origin's repository at the commit its entries cite, and where in it a method's README is.
_MM_READMES = {
    "mmpretrain": (f"https://github.com/open-mmlab/mmpretrain/blob/{_MM_COMMIT}", "configs/{method}/README.md"),
    "mmselfsup": (
        f"https://github.com/open-mmlab/mmselfsup/blob/{_MMSELFSUP_COMMIT}",
        "configs/selfsup/{method}/README.md",
    ),
}
# mmpretrain's own releases (v1.0), where it has not kept mmselfsup 1.x's files.
_MM_V1 = "https://download.openmmlab.com/mmpretrain/v1.0"
_MAE_REPO = "https://github.com/facebookresearch/mae/tree/efb2a8062c206524e35e47d04501ed4f544c0ae8"
# MAE's linear-probe evaluation transform (main_linprobe.py:137-141; fine-tuning's util/datasets.py:52-61 is the
# same at 224 px): Resize(256, interpolation=3), bicubic, then CenterCrop(224), ImageNet mean and std.
_MAE_EVAL = Preprocessing(interpolation="bicubic", crop_pct=224 / 256)


def _line_anchor(url: str, lines: str) -> str:
    """GitHub's link to lines "24-34" of the file at `url`."""
    first, _, last = lines.partition("-")
    return f"{url}#L{first}-L{last}" if last else f"{url}#L{first}"


@dataclass(frozen=True)
class _Release:
    """A release of another architecture than ResNet-50 (ViT, XCiT, ConvNeXt), pretrained on `pretrain_dataset`, as
    its project publishes it (`origin`, in `_ORIGINS`; its numbers where `results_source` says). `timm_hub`: timm's
    own Hub repo of the very same file, which loads then come from (nothing is converted; the note says so);
    `model_args`: what the network takes beyond timm's `arch`."""

    arch: str
    tag: str
    _: KW_ONLY
    method: str
    origin: str
    url: str
    converter: str
    license: str
    epochs: int | None
    batch: int | None
    linear: float | None
    results_source: tuple[str, str]
    knn: float | None = None
    finetune: float | None = None
    published_hash: tuple[HashKind, str] | None = None  # the kind and prefix published with the file
    preprocessing: Preprocessing = IMAGENET_EVAL
    timm_hub: str | None = None
    model_args: dict[str, int | float | bool] = field(default_factory=dict, hash=False)
    note: str | None = None
    pretrain_dataset: str = "imagenet-1k"
    license_basis: LicenseBasis = "repository"
    license_name_link: tuple[str, str] | None = None  # a licence with no Hub id (`other`): its name and text's link

    def entry(self) -> ZooEntry:
        where, _ = _ORIGINS[self.origin]
        cited, cited_url = self.results_source
        name = f"{self.arch}.{self.tag}"
        how = f"as timm publishes the same file ({self.timm_hub})" if self.timm_hub else "converted to timm's key names"
        note = self.note
        if self.timm_hub:
            via = (
                f"timm publishes this very file as hf-hub:{self.timm_hub} (its pretrained cfg's url), which loads "
                "use: nothing is converted, and that repo's crop gives way to the entry's preprocessing."
            )
            note = f"{via} {note}" if note else via
        return ZooEntry(
            name=name,
            arch=self.arch,
            hub_id=self.timm_hub or f"{MIRROR_ORG}/{name}",
            summary=f"{_ARCH_TITLES[self.arch]} pretrained with {METHODS[self.method].title} on "
            f"{_PRETRAIN_DATASETS[self.pretrain_dataset]}{_trained(self.epochs, self.batch)}, from {where}, {how}.",
            license=self.license,
            pretrain_dataset=self.pretrain_dataset,
            epochs=self.epochs,
            batch_size=self.batch,
            preprocessing=self.preprocessing,
            method=self.method,
            source=Source(self.url, self.converter, *(self.published_hash or ("none", None))),
            results=tuple(
                Result(task, "imagenet-1k", "top-1 accuracy", value, f"{cited} (as published)", cited_url)
                for task, value in (("linear", self.linear), ("knn", self.knn), ("finetune", self.finetune))
                if value is not None
            ),
            note=note,
            license_basis=self.license_basis,
            model_args=self.model_args,
            license_name=self.license_name_link[0] if self.license_name_link else None,
            license_link=self.license_name_link[1] if self.license_name_link else None,
        )


def _dino_vit(arch: str, folder: str, lines: str, knn: float, linear: float, pooled: str) -> ZooEntry:
    """A DINO ViT's backbone-only file (README.md's pretrained-models table, `lines`), which timm publishes too;
    `pooled`: the features DINO's linear protocol reads (README.md:332-344)."""
    return _Release(
        arch,
        "dino_in1k",
        method="dino",
        origin="dino",
        url=f"{_FB}/dino/{folder}/{folder}.pth",
        converter="timm_vit",
        license="apache-2.0",
        epochs=None,
        batch=None,
        linear=linear,
        knn=knn,
        results_source=(
            f"the DINO README's pretrained-models table (README.md:{lines})",
            _line_anchor(_DINO_README, lines),
        ),
        preprocessing=_DINO_EVAL,
        timm_hub=f"timm/{arch}.dino",
        note="Epochs and batch are in the run's args.txt beside the file, not in the README. The k-NN number is on "
        "the final class token (DINO's eval_knn.py; vision_transformer.py:209-214), the features timm gives; the "
        f"linear one on {pooled}.",
    ).entry()


def _dino_xcit(arch: str, lines: str, knn: float, linear: float, defined: str) -> ZooEntry:
    """A DINO XCiT backbone-only file (README.md's XCiT table, `lines`): the state dict of facebookresearch/xcit's
    XCiT(num_classes=0) (DINO's hubconf.py:98-150 loads it with strict=True), converted by `xcit`; `defined`: the
    lines of xcit.py that build the architecture, with timm's hyper-parameters."""
    upstream = arch.removesuffix("_224")
    folder = f"dino_{upstream}_pretrain"
    return _Release(
        arch,
        "dino_in1k",
        method="dino",
        origin="dino",
        url=f"{_FB}/dino/{folder}/{folder}.pth",
        converter="xcit",
        license="apache-2.0",
        epochs=None,
        batch=None,
        linear=linear,
        knn=knn,
        results_source=(f"the DINO README's XCiT table (README.md:{lines})", _line_anchor(_DINO_README, lines)),
        preprocessing=_DINO_EVAL,
        note=f"Epochs and batch are in the run's args.txt beside the file, not in the README. xcit.py's {upstream} "
        f"(xcit.py:{defined}) is timm's {arch} (embed_dim, depth, heads, eta, tokens_norm); timm publishes no DINO "
        "weights for it. Converted: pos_embeder is timm's pos_embed, each class-attention block's qkv timm's q, k, v. "
        "DINO's k-NN and linear numbers are both on the model's output (eval_knn.py:105, eval_linear.py:172), the "
        "class token after `norm`, timm's token pooling.",
    ).entry()


def _dino_gldv2() -> ZooEntry:
    """DINO's ViT-S/16 pretrained on Google Landmarks v2, the default weights of its image-retrieval evaluation
    (README.md:372-385): the state dict of its `vit_small(patch_size=16, num_classes=0)`, into which
    eval_image_retrieval.py:131-132, 157-159 loads it strictly, so the layout of its other backbone-only files."""
    return _Release(
        "vit_small_patch16_224",
        "dino_gldv2",
        method="dino",
        origin="dino",
        url=f"{_FB}/dino/dino_vitsmall16_googlelandmark_pretrain/dino_vitsmall16_googlelandmark_pretrain.pth",
        converter="timm_vit",
        license="apache-2.0",
        epochs=300,
        batch=None,
        linear=None,
        results_source=(
            "the DINO README's image-retrieval section (README.md:372-385)",
            _line_anchor(_DINO_README, "372-385"),
        ),
        preprocessing=_DINO_EVAL,
        pretrain_dataset="gldv2",
        note="Pretrained on Google Landmarks v2 alone, not on ImageNet, with the settings of the README's 'boosting "
        "DINO' run (README.md:185-198: --epochs 300), as the maintainer says (facebookresearch/dino#156); the batch "
        "is not stated. The README publishes no result for it: its retrieval commands on Revisited Oxford and Paris "
        "(README.md:377-385) print mAP without a reference number. That evaluation reads the class token after "
        "`norm`, the features timm gives, of whole images whose longer side is resized to 224 px (Oxford) or 512 px "
        "(Paris, multi-scale), uncropped, ImageNet mean and std (eval_image_retrieval.py:67-68, 106-109), which a "
        "pretrained cfg cannot express: the entry keeps DINO's ImageNet evaluation transform (Resize(256) bicubic, "
        "CenterCrop(224)). timm publishes no copy of it.",
    ).entry()


_DINOV2_REPO = "https://github.com/facebookresearch/dinov2/blob/b8931f7bf91576930313be2c6d6af376033b35f0"
# DINOv2's linear and k-NN evaluation transform (dinov2/data/transforms.py:77-91, used by eval/linear.py:414 and
# eval/knn.py:334): Resize(256) bicubic, then CenterCrop(224), ImageNet mean and std. timm's cfgs of the same files
# say 518 px uncropped, the grid of their position embedding.
_DINOV2_EVAL = Preprocessing(interpolation="bicubic", crop_pct=224 / 256)
# At 224 px the 37 x 37 position embedding of the files (518 px) is resampled to 16 x 16 every forward (timm's
# dynamic_img_size): timm builds these architectures at 518 px, which a 224-px input would otherwise not pass.
_DINOV2_ARGS: dict[str, int | float | bool] = {"dynamic_img_size": True}
_DINOV2_NOTE = (
    "The README and MODEL_CARD state neither epochs nor batch for the released backbones; ViT-S, B and L are "
    "distilled from the ViT-g (MODEL_CARD.md:102-103). Preprocessing is DINOv2's linear and k-NN evaluation "
    "transform (data/transforms.py:77-91: Resize(256) bicubic, CenterCrop(224)), where the README's numbers were "
    "measured, not timm's cfg (518 px, crop 1.0); model_args dynamic_img_size resamples the file's 37 x 37 "
    "position embedding to the 16 x 16 grid at each forward. DINOv2's k-NN reads the model's output, the class "
    "token after `norm` (eval/knn.py:258, models/vision_transformer.py:325-330), the features timm gives (global "
    "pool 'token', no fc_norm); its linear number is the best of classifiers on the class tokens of the last 1 or 4 "
    "blocks, with or without the mean patch token (eval/linear.py:171-183, 503)."
)
_DINOV2_RESAMPLING = {
    False: "DINOv2 itself resamples this model's position embedding with a scale factor of (16 + 0.1) / 37 and "
    "no antialiasing (hub/backbones.py:27-28, models/vision_transformer.py:180-212); timm's antialiased resampling "
    "to 16 x 16 is not that, so its 224-px features are not exactly DINOv2's own.",
    True: "Registers: Darcet et al., Vision Transformers Need Registers (arXiv:2309.16588, README.md:653-658). "
    "DINOv2 resamples this model's position embedding to the grid with antialiasing and no offset "
    "(hub/backbones.py:106-108), as timm's dynamic_img_size does.",
}


def _dinov2_vit(arch: str, model: str, lines: str, knn: float, linear: float) -> ZooEntry:
    """A DINOv2 backbone file (README.md's pretrained-models table, `lines`: `model` is its name, as
    hub/utils.py:17-20 makes it), which timm publishes too (`{arch}.lvd142m`, its cfg's url), read by `dinov2`."""
    registers = "_reg4_" in arch
    return _Release(
        arch,
        "dinov2_lvd142m",
        method="dinov2",
        origin="dinov2",
        url=f"{_FB}/dinov2/{model.removesuffix('_reg4')}/{model}_pretrain.pth",
        converter="dinov2",
        license="apache-2.0",
        epochs=None,
        batch=None,
        linear=linear,
        knn=knn,
        results_source=(
            f"the DINOv2 README's pretrained-models table (README.md:{lines})",
            _line_anchor(f"{_DINOV2_REPO}/README.md", lines),
        ),
        preprocessing=_DINOV2_EVAL,
        timm_hub=f"timm/{arch}.lvd142m",
        model_args=_DINOV2_ARGS,
        pretrain_dataset="lvd-142m",
        note=f"{_DINOV2_NOTE} {_DINOV2_RESAMPLING[registers]} Apache-2.0 covers code and weights since 2023-08-31 "
        "(README.md:631-633, LICENSE; commit 81b2b64), CC-BY-NC before.",
    ).entry()


def _ibot_vit(
    arch: str,
    folder: str,
    lines: str,
    results: tuple[float, float, float],
    pooled: str,
    *,
    trained: tuple[int | None, int | None] = (None, None),
    tag: str = "ibot_in1k",
) -> ZooEntry:
    """An iBOT teacher backbone file (`backbone (t)`) of the README's ImageNet-1k table (`lines`): `results` are its
    k-NN, linear and fine-tuned top-1; `pooled` the features its linear protocol reads (run.sh:50-59)."""
    knn, linear, finetune = results
    epochs, batch = trained
    stated = (
        "800 epochs at 64 per GPU on 2 nodes of 8 GPUs: README.md:62-77's command, whose results it gives as this "
        "row's (args.txt beside the file not read)."
        if epochs
        else "Epochs and batch are in the run's args.txt beside the file, not in the README."
    )
    return _Release(
        arch,
        tag,
        method="ibot",
        origin="ibot",
        url=f"{_IBOT_FILES}/{folder}/checkpoint_teacher.pth",
        converter="timm_vit",
        license="apache-2.0",
        epochs=epochs,
        batch=batch,
        linear=linear,
        knn=knn,
        finetune=finetune,
        results_source=(
            f"the iBOT README's pre-trained-models table (README.md:{lines})",
            _line_anchor(_IBOT_README, lines),
        ),
        preprocessing=_DINO_EVAL,
        note=f"{stated} The teacher's backbone, as extract_backbone_weights.py:26-41 writes it (README.md:256-264): "
        "{'state_dict': its keys without `backbone.`}, timm's names (models/vision_transformer.py:134-163, no layer "
        "scale; the teacher has no masked_embed, main_ibot.py:212-215). k-NN on the final class token after `norm` "
        "(run.sh:50-59; eval_knn.py:142-145, n_last_blocks 1 by default, :272), the features timm gives; linear on "
        f"{pooled}. Evaluated with Resize(256) bicubic, CenterCrop(224) (eval_knn.py:67-68, eval_linear.py:55-56).",
    ).entry()


def _ibot_vit_in22k(
    arch: str, folder: str, lines: str, results: tuple[float, float, float], finetuned: str
) -> ZooEntry:
    """An iBOT ViT pre-trained on ImageNet-22k (README.md:209-254): its student backbone file (`backbone (s)`, the
    only backbone the table links), `results` its k-NN, linear and fine-tuned (256 px column) ImageNet-1k top-1;
    `finetuned` what else the row gives."""
    knn, linear, finetune = results
    return _Release(
        arch,
        "ibot_in22k",
        method="ibot",
        origin="ibot",
        url=f"{_IBOT_FILES}/{folder}/checkpoint_student.pth",
        converter="timm_vit",
        license="apache-2.0",
        epochs=None,
        batch=None,
        linear=linear,
        knn=knn,
        finetune=finetune,
        results_source=(
            f"the iBOT README's ImageNet-22k table (README.md:{lines})",
            _line_anchor(_IBOT_README, lines),
        ),
        preprocessing=_DINO_EVAL,
        pretrain_dataset="imagenet-22k",
        note="Epochs and batch are in the run's args.txt beside the file, not in the README. The student's backbone, "
        "as extract_backbone_weights.py:26-41 writes it with --checkpoint_key student (README.md:256-264): "
        "{'state_dict': its keys without `module.backbone.`}, timm's names (models/vision_transformer.py:134-163, no "
        "layer scale) and the student's masked_embed (:172, masked patches' embedding in pre-training; dropped). The "
        "k-NN, linear and fine-tuned numbers are on ImageNet-1k; k-NN on the final class token after `norm` (run.sh:"
        f"50-59), the features timm gives; linear on {_DINO_LINEAR_B}; fine-tuned at the table's 256 column"
        f"{finetuned}. Evaluated with Resize(256) bicubic, CenterCrop(224) (eval_knn.py:67-68, eval_linear.py:55-56).",
    ).entry()


def _vicregl_convnext(arch: str, alpha: str, lines: str, linear: float, miou: float) -> ZooEntry:
    """A VICRegL ConvNeXt backbone file of the README's table (`lines`; ImageNet-1k, but ImageNet-22k for the XL,
    README.md:16), converted by `vicregl_convnext` to timm's ConvNeXt with VICRegL's final norm and no layer scale."""
    size = arch.removeprefix("convnext_")
    in22k = size == "xlarge"
    return _Release(
        arch,
        f"vicregl_{'in22k' if in22k else 'in1k'}_alpha{alpha.replace('.', 'p')}",
        method="vicregl",
        origin="vicregl",
        url=f"{_FB}/vicregl/convnext_{size}_alpha{alpha}.pth",
        converter="vicregl_convnext",
        license=_NC,
        epochs=None,
        batch=None,
        linear=linear,
        results_source=(
            f"the VICRegL README's pre-trained-models table (README.md:{lines})",
            _line_anchor(_VICREGL_README, lines),
        ),
        model_args={"head_norm_first": True},
        pretrain_dataset="imagenet-22k" if in22k else "imagenet-1k",
        note=f"alpha {alpha}; VOC linear segmentation {miou:g} mIoU. The linear probe reads the average of the last "
        "stage's positions, each normalised by the final LayerNorm (evaluate.py:320-322, convnext.py:132-139), "
        "where timm's default ConvNeXt head normalises the pooled vector: model_args head_norm_first=True gives "
        "VICRegL's order (the norm is timm's norm_pre). Its blocks have no layer scale (convnext.py:83, "
        "evaluate.py:141-144); timm's always have one, set to ones by the conversion (exact). Evaluated with "
        "Resize(256) bilinear, CenterCrop(224) (evaluate.py:212-219). Epochs and batch not stated next to the file "
        "(the README's ConvNeXt commands, README.md:138-156, give 100 epochs at batch 384 and 400 at 576, the "
        "latter titled ConvNeXt-B but with --arch convnext_small).",
    ).entry()


def _lightly_vit(
    arch: str,
    method: str,
    run: str,
    checkpoint: str,
    line: int,
    results: tuple[float, float, float],
    batch: int,
    code: str,
) -> ZooEntry:
    """A lightly ImageNet ViT benchmark run (benchmarks.rst's table, `line`: linear, fine-tuned and k-NN top-1; its
    last `checkpoint`), 100 epochs; `code`: the commit and file of the benchmark model that builds the network."""
    linear, finetune, knn = results
    lines = str(line)
    return _Release(
        arch,
        f"{method}_lightly_ep100",
        method=method,
        origin="lightly",
        url=f"{_LIGHTLY}/{run}/pretrain/version_0/checkpoints/{checkpoint}.ckpt",
        converter="lightly_vit",
        license="mit",
        epochs=100,
        batch=batch,
        linear=linear,
        knn=knn,
        finetune=finetune,
        results_source=(
            f"the lightly ImageNet benchmarks table (benchmarks.rst:{lines})",
            _line_anchor(_LIGHTLY_BENCHMARKS, lines),
        ),
        model_args={"init_values": 1e-5} if method == "ibot" else {},
        note=f"The network {code} builds: timm's {arch}, whose class token after `norm` (lightly's "
        "MaskedVisionTransformerTIMM forward, or timm's own) the k-NN, linear and fine-tuning evaluations read; the "
        "evaluated copy is the teacher (iBOT's teacher_backbone, DINO's backbone), MAE's encoder or LeJEPA's ViT "
        "(backbone). Evaluated with Resize(256) bilinear, CenterCrop(224) (benchmarks/imagenet/vitb16/"
        "knn_eval.py:47-48, linear_eval.py:113-114). The benchmark code was committed after the run; the table names "
        "the architecture.",
    ).entry()


def _mmpretrain_vit(
    arch: str,
    method: str,
    epochs: int,
    path: str,
    lines: str,
    results: tuple[float | None, float | None],
    note: str,
    *,
    batch: int = 4096,
    tail: str | None = None,
    origin_files: tuple[str, str] = ("mmpretrain", _MM),
) -> ZooEntry:
    """An mmpretrain ViT pre-training checkpoint (configs/<method>/metafile.yml: `batch`; README.md's tables,
    `lines`, for its linear and fine-tuned top-1 in `results`), its name ending in `-<sha256[:8]>.pth`; `tail`
    replaces what the note says of its pos_embed and evaluation where they are not the linear-probed ViTs'.
    `origin_files`: the origin ("mmselfsup": a release mmselfsup 1.x holds and mmpretrain does not, its README under
    configs/selfsup/) and where its files are (then <method>/`path`)."""
    linear, finetune = results
    origin, files = origin_files
    repo, readme = _MM_READMES[origin]
    readme = readme.format(method=method)
    return _Release(
        arch,
        f"{method}_{origin}_ep{epochs}",
        method=method,
        origin=origin,
        url=f"{files}/{method}/{path}",
        converter="mmpretrain_vit",
        license="apache-2.0",
        epochs=epochs,
        batch=batch,
        linear=linear,
        finetune=finetune,
        published_hash=("sha256-prefix", path.rsplit("-", 1)[1].removesuffix(".pth")),
        results_source=(
            f"{origin}'s {METHODS[method].title} results ({readme}:{lines})",
            # lines apart: the file, named in the text
            f"{repo}/{readme}" if "," in lines else _line_anchor(f"{repo}/{readme}", lines),
        ),
        model_args={"num_heads": 12} if (method, arch) == ("mocov3", "vit_small_patch16_224") else {},
        note=f"{note} {tail or _MMPRETRAIN_LINEAR}",
    ).entry()


_MMPRETRAIN_LINEAR = (
    "The checkpoint's backbone.*, its fixed sin-cos pos_embed kept, the rest dropped. Its linear config reads the "
    "class token after the final norm (out_type cls_token, final_norm), timm's token pooling, with ResizeEdge(256) "
    "bilinear, CenterCrop(224) (configs/_base_/datasets/imagenet_bs32_pil_resize.py:19-24)."
)


# SimMIM's fine-tuning evaluation at its pre-training's 192 px: ResizeEdge(219) bicubic, CenterCrop(192)
# (configs/_base_/datasets/imagenet_bs256_swin_192.py:40-50), ImageNet mean and std.
_SIMMIM_192 = Preprocessing(input_size=(3, 192, 192), interpolation="bicubic", crop_pct=192 / 219)

_SIMMIM_SWIN = (
    "The checkpoint's backbone.* converted by mmpretrain_swin (each patch merging moved to the start of the next "
    "stage, its input reordered from mmcv's Unfold order; the mask_token and the relative_position_index buffers "
    "dropped), the decoder (neck) dropped. mmpretrain publishes no linear result; its fine-tuning averages the last "
    "stage's tokens after its norm (GlobalAveragePooling: configs/_base_/models/swin_transformer/base_224.py:6), "
    "timm's features."
)
_SIMMIM_SWIN_B = (
    "mmpretrain's SimMIMSwinTransformer (mmpretrain/models/selfsup/simmim.py:14-89) of arch base, pre-trained at "
    "192 px with windows of 6 (configs/simmim/simmim_swin-base-w6_8xb256-amp-coslr-100e_in1k-192px.py:9-13): timm's "
    "swin_base_patch4_window7_224 with model_args img_size 192 and window_size 6, which the checkpoint's 11 x 11 "
    "relative position bias tables fit."
)
# The 192-px evaluation, of the Swin-B's fine-tuning at that size.
_SIMMIM_EVAL_192 = (
    "Evaluated as mmpretrain evaluates a 192-px Swin, ResizeEdge(219) bicubic, CenterCrop(192) (configs/_base_/"
    "datasets/imagenet_bs256_swin_192.py:40-50)."
)


def _simmim_swin(
    arch: str, epochs: int, path: str, line: int, finetune: float, note: str, **model_args: int | bool
) -> ZooEntry:
    """An mmpretrain SimMIM Swin pre-training checkpoint (configs/simmim/metafile.yml: batch 2048, 192 px), its name
    ending in `-<sha256[:8]>.pth`; README.md's fine-tuned top-1 at `line`; `model_args` beyond the 192 px."""
    readme = f"{_MM_READMES['mmpretrain'][0]}/configs/simmim/README.md"
    return _Release(
        arch,
        f"simmim_mmpretrain_ep{epochs}",
        method="simmim",
        origin="mmpretrain",
        url=f"{_MM}/simmim/{path}",
        converter="mmpretrain_swin",
        license="apache-2.0",
        epochs=epochs,
        batch=2048,
        linear=None,
        finetune=finetune,
        published_hash=("sha256-prefix", path.rsplit("-", 1)[1].removesuffix(".pth")),
        results_source=(
            f"mmpretrain's SimMIM results (configs/simmim/README.md:{line})",
            _line_anchor(readme, str(line)),
        ),
        preprocessing=_SIMMIM_192,
        model_args={"img_size": 192, **model_args},
        note=f"{note} {_SIMMIM_SWIN} {_SIMMIM_EVAL_192}",
    ).entry()


_VISSL_COMMIT = "09270ed25a6c2cf71263d955b64cbe076d34ac45"
_VISSL_MODEL_ZOO = f"https://github.com/facebookresearch/vissl/blob/{_VISSL_COMMIT}/MODEL_ZOO.md"


def _vissl_regnet(arch: str, epochs: int, path: str, line: int, linear: float, note: str) -> ZooEntry:
    """A SwAV RegNetY trained in VISSL (MODEL_ZOO.md's SwAV table, `line`: 2x224+6x96 multi-crop, batch 4096),
    its trunk converted by `vissl_regnet`: ClassyVision's regnet_y_16gf / regnet_y_128gf are timm's regnety_160 /
    regnety_1280 (the same depth, w0, wa, wm and group width, SE ratio 0.25)."""
    lines = str(line)
    return _Release(
        arch,
        f"swav_vissl_ep{epochs}",
        method="swav",
        origin="vissl",
        url=f"{_FB}/vissl/model_zoo/{path}",
        converter="vissl_regnet",
        license="mit",
        epochs=epochs,
        batch=4096,
        linear=linear,
        results_source=(
            f"the VISSL model zoo's SwAV table (MODEL_ZOO.md:{lines})",
            _line_anchor(_VISSL_MODEL_ZOO, lines),
        ),
        note=f"{note} ClassyVision's RegNet (VISSL's `regnet` trunk) holds timm's modules under other names; the "
        "trunk is converted, the SwAV head (projection and prototypes) dropped. VISSL's RegNet linear benchmark "
        "(configs/config/benchmark/linear_image_classification/imagenet1k/models/regnet16Gf.yaml, regnet128Gf.yaml) "
        "trains heads on pooled res4 and res5 maps and on the average-pooled res5 (timm's features); MODEL_ZOO.md "
        "does not say which its number is from. VISSL publishes no hash for its files.",
    ).entry()


_SEER_README = f"https://github.com/facebookresearch/vissl/blob/{_VISSL_COMMIT}/projects/SEER/README.md"
_SEER_LICENSE = (
    "seer-license",
    f"https://github.com/facebookresearch/vissl/blob/{_VISSL_COMMIT}/projects/SEER/MODEL_LICENSE.md",
)


def _seer(arch: str, path: str, line: int, results: tuple[float, float], pooled: str) -> ZooEntry:
    """A SEER RegNetY pretrained on IG-1B (MODEL_ZOO.md's SEER table, `line`: linear and fine-tuned top-1 in
    `results`), which timm publishes too (its `.seer` cfg names the same URL); VISSL's checkpoint of the trunk and
    SwAV head, read by `vissl_regnet` where it is fetched from its source; `pooled`: the linear number's feature."""
    linear, finetune = results
    lines = str(line)
    return _Release(
        arch,
        "seer_ig1b",
        method="swav",
        origin="vissl",
        url=f"{_FB}/vissl/model_zoo/{path}",
        converter="vissl_regnet",
        license="other",
        epochs=None,
        batch=None,
        linear=linear,
        finetune=finetune,
        results_source=(
            f"the VISSL model zoo's SEER table (MODEL_ZOO.md:{lines})",
            _line_anchor(_VISSL_MODEL_ZOO, lines),
        ),
        timm_hub=f"timm/{arch}.seer",
        pretrain_dataset="ig-1b",
        license_basis="weights",
        license_name_link=_SEER_LICENSE,
        note=f"SEER: SwAV on IG-1B public images (non-EU), the row's dataset. The SEER licence (non-commercial "
        "research use only) covers the weights (projects/SEER/README.md:32-34, MODEL_LICENSE.md). The linear number "
        f"is on {pooled} as the row says; the fine-tuned one is the SEER fine-tuned model's (projects/SEER/README.md:"
        "27-30 links it), not this file's. Epochs and batch are not stated next to the file (SEER trains by "
        "iterations). Evaluated with VISSL's ImageNet transform, Resize(256), CenterCrop(224) (configs/config/"
        "benchmark/linear_image_classification/imagenet1k/eval_resnet_8gpu_transfer_in1k_linear.yaml:37-40).",
    ).entry()


# VISSL's ImageNet k-NN benchmark transform (configs/config/benchmark/nearest_neighbor/eval_resnet_8gpu_in1k_kNN.yaml:
# 27-35@f678f7a5): Resize(256), CenterCrop(224), torchvision's bilinear default, ImageNet mean and std.
_VISSL_KNN = (
    "MODEL_ZOO.md names no benchmark config for the number; VISSL's ImageNet k-NN one (nearest_neighbor/"
    "eval_resnet_8gpu_in1k_kNN.yaml:27-35@f678f7a5) evaluates with Resize(256), CenterCrop(224)."
)


def _vissl_dino(arch: str, path: str, line: int, knn: float, *, epochs: int | None, note: str) -> ZooEntry:
    """A DINO run trained in VISSL (MODEL_ZOO.md's DINO table, `line`: its ImageNet k-NN top-1; batch 1024, 64 a
    GPU on 2 nodes of 8), the checkpoint its hook writes, whose teacher the ViT's and XCiT's converters take."""
    lines = str(line)
    return _Release(
        arch,
        "dino_vissl_ep300" if epochs else "dino_vissl",
        method="dino",
        origin="vissl",
        url=f"{_FB}/vissl/model_zoo/{path}",
        converter="xcit" if arch.startswith("xcit") else "vissl_vit",
        license="mit",
        epochs=epochs,
        batch=1024,
        linear=None,
        knn=knn,
        results_source=(
            f"the VISSL model zoo's DINO table (MODEL_ZOO.md:{lines})",
            _line_anchor(_VISSL_MODEL_ZOO, lines),
        ),
        note=f"{note} VISSL's checkpoint holds the student (classy_state_dict's trunk) and the teacher (the DINO "
        "loss's momentum_teacher, saved as the checkpoint's `loss`: vissl/hooks/dino_hooks.py, log_hooks.py); the "
        "teacher, the network DINO evaluates and VISSL's extra_scripts/convert_dino_checkpoint.py extracts to "
        "benchmark, is converted. MODEL_ZOO.md does not say which of the two its k-NN number is from (VISSL's "
        f"benchmarks load the trunk, the student, unless the teacher is extracted). {_VISSL_KNN} VISSL publishes no "
        "hash for its files.",
    ).entry()


_MMPRETRAIN_MAE = (
    "mmpretrain's MAEViT (mmpretrain/models/selfsup/mae.py) of arch b / l / h, timm's ViT-B/16, L/16 and H/14 (the "
    "huge file's name says p16, its config mae_vit-huge-p14_8xb512-amp-coslr-1600e_in1k.py:9 builds patch 14); the "
    "decoder (neck) is not the backbone. Fine-tuning instead averages the patch tokens through a new norm "
    "(out_type avg_featmap, final_norm False: benchmarks/vit-base-p16_8xb128-coslr-100e_in1k.py:58-59)."
)
# MILAN's and EVA's MAE-style ViT-B (configs/milan/milan_vit-base-p16_16xb256-amp-coslr-400e_in1k.py:11-35,
# configs/eva/eva-mae-style_vit-base-p16_16xb256-coslr-400e_in1k.py:1-33): mmpretrain's MAEViT, which MILANViT
# subclasses changing only its masking (mmpretrain/models/selfsup/milan.py:52-60), so MAE's layout.
_MMPRETRAIN_CLIP_TARGET = (
    "mmpretrain's MAEViT of arch b, timm's ViT-B/16 (MILAN's MILANViT subclasses it, changing only which patches are "
    "masked); the decoder (neck), the head and the CLIP target generator (target_generator, the features the "
    "decoder is trained to predict) are not the backbone. Fine-tuning instead averages the patch tokens "
    "(out_type avg_featmap, final_norm False: benchmarks/vit-base-p16_8xb128-coslr-100e_in1k.py:54-60)."
)
_MMPRETRAIN_MFF = (
    "mmpretrain's MFFViT (mmpretrain/models/selfsup/mff.py:12-95), MAE's MAEViT of arch b, timm's ViT-B/16, with "
    "proj_layers and proj_weights that only pre-training reads: there the final norm takes a learnt mix of blocks 0, "
    "2, 4, 6, 8 and 11's outputs (:144-159; out_indices in mff_vit-base-p16_8xb512-amp-coslr-300e_in1k.py:23-24), "
    "where its linear probe and timm take the last block's alone. They, the decoder (neck) and the head are dropped. "
    "The metafile's batch 2048 and MaskFeat collection (metafile.yml:19, 23) are MaskFeat's, copied; the config "
    "trains MAE's 8 x 512 = 4096 (configs/_base_/datasets/imagenet_bs512_mae.py:23; its base's learning rate and "
    "auto_scale_lr are for 4096: mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py:13, 56). README.md:49's "
    "pretrain link names MAE's 1600-epoch file, its model and log MFF's 800-epoch folder. Fine-tuning instead "
    "averages the patch tokens (out_type avg_featmap, final_norm False: benchmarks/vit-base-p16_8xb128-coslr-100e_"
    "in1k.py:58-59)."
)
# PixMIM is MAE with a low-pass filtered target and a milder crop (mmselfsup models/algorithms/pixmim.py:11-40,
# configs/selfsup/pixmim/pixmim_vit-base-p16_8xb512-amp-coslr-300e_in1k.py:1-24): MAE's MAEViT, MAE's layout.
_MMSELFSUP_PIXMIM = (
    "mmselfsup 1.x's PixMIM: MAE (its config's base) with a low-pass filtered target (LowFreqTargetGenerator, "
    "radius 40) and Resize + RandomCrop in place of RandomResizedCrop; its backbone is MAE's MAEViT of arch b, "
    "timm's ViT-B/16. The decoder (neck) and the target generator's low_pass_filter buffer are not the backbone. "
    "Fine-tuning instead averages the patch tokens (avg_token, output_cls_token False, final_norm False: "
    "configs/selfsup/pixmim/classification/vit-base-p16_ft-8xb128-coslr-100e_in1k.py:19-21)."
)
_MMSELFSUP_PIXMIM_LINEAR = (
    "The checkpoint's backbone.*, its fixed sin-cos pos_embed kept (mmselfsup models/backbones/mae_vit.py:78), the "
    "rest dropped. Its linear config reads the class token after the final norm (avg_token False, final_norm), "
    "timm's token pooling, with ResizeEdge(256) bilinear, CenterCrop(224) (configs/benchmarks/classification/"
    "imagenet/vit-base-p16_linear-8xb2048-coslr-90e_in1k.py:18-19, 42-47)."
)
_MMPRETRAIN_MOCOV3 = (
    "mmpretrain's MoCoV3ViT (mmpretrain/models/selfsup/mocov3.py): its `mocov3-small` has 12 heads where timm's "
    "vit_small_patch16_224 has 6 (model_args num_heads 12), `base` and `large` are timm's; neck (projector), head "
    "(predictor) and momentum_encoder are not the backbone. Its fine-tuning configs pool as the linear one."
)


def _mocov3_vit(arch: str, size: str, linear: float, lines: str, note: str) -> ZooEntry:
    """A MoCo v3 ViT pre-training checkpoint of CONFIG.md's ViT table (`lines`), 300 epochs (CONFIG.md:102) at batch
    4096 (CONFIG.md:183)."""
    return _Release(
        arch,
        "mocov3_in1k_ep300",
        method="mocov3",
        origin="mocov3",
        url=f"{_FB}/moco-v3/vit-{size}-300ep/vit-{size}-300ep.pth.tar",
        converter="mocov3_vit",
        license=_NC,
        epochs=300,
        batch=4096,
        linear=linear,
        results_source=(f"the MoCo v3 CONFIG.md ViT table (CONFIG.md:{lines})", _line_anchor(_MOCOV3_CONFIG, lines)),
        model_args={"num_heads": 12} if size == "s" else {},
        note=f"{note} The base encoder, without its projector (`head`), as main_lincls.py:177-189 loads it; its "
        "pos_embed is the fixed 2-D sin-cos one (vits.py:53-69), kept as a parameter; its features are the class "
        "token after `norm` (timm's VisionTransformer, which vits.py subclasses). Evaluated with Resize(256) "
        "bilinear, CenterCrop(224) (main_lincls.py:289-294).",
    ).entry()


def _mae_vit(arch: str, size: str, md5: str, linear: float, paper_linear: float, finetune: float) -> ZooEntry:
    """An MAE pre-trained checkpoint (README.md:39-58: the paper's TF/TPU runs converted to PyTorch, with their md5
    prefixes), which timm publishes too: `{'model': the encoder's state dict}` in timm's names (main_linprobe.py:198
    reads `model`, and timm's cfg of this url loads it strictly)."""
    return _Release(
        arch,
        "mae_in1k_ep1600",
        method="mae",
        origin="mae",
        url=f"{_FB}/mae/pretrain/mae_pretrain_vit_{size}.pth",
        converter="timm_vit",
        license=_NC,
        epochs=1600,
        batch=4096,
        linear=linear,
        finetune=finetune,
        published_hash=("md5-prefix", md5),
        results_source=(
            "MAE's FINETUNE.md linear-probing table, its PT/GPU row (FINETUNE.md:159-177), and the README's "
            "fine-tuning table (README.md:62-79)",
            _MAE_REPO,
        ),
        preprocessing=_MAE_EVAL,
        timm_hub=f"timm/{arch}.mae",
        note="1600 epochs with the normalized-pixel loss (FINETUNE.md:129); batch 4096 is PRETRAIN.md:18's, whose "
        "hyper-parameters it says are those of the TF/TPU implementation (PRETRAIN.md:21) that trained these files. "
        "MAE's linear probe reads the class token after the final norm (--cls_token, FINETUNE.md:143; "
        "models_vit.py:49-51), timm's default for this architecture (global_pool 'token', no fc_norm), so the "
        "config is timm's; a BatchNorm without affine before its classifier (main_linprobe.py:222) belongs to the "
        "probe. Fine-tuning instead averages the patch tokens through a new fc_norm (--global_pool, FINETUNE.md:131; "
        "models_vit.py:27-32, 46-48). The linear number is the PT/GPU code's on these files; the paper's (TF/TPU) is "
        f"{paper_linear:g} (FINETUNE.md:167-171).",
    ).entry()


_IJEPA_README = "https://github.com/facebookresearch/ijepa/blob/52c1ae95d05f743e000e8f10a1f3a79b10cff048/README.md"


def _ijepa_vit(arch: str, pretrain: str, epochs: int, file: str, lines: str, note: str) -> ZooEntry:
    """An I-JEPA pre-training checkpoint of the README's pretrained-models table (`lines`): its target encoder,
    converted by ijepa_vit; `pretrain` the dataset's tag (in1k, in22k), `note` what this run's own lines state."""
    size = int(arch.rsplit("_", 1)[1])
    return _Release(
        arch,
        f"ijepa_{pretrain}_ep{epochs}",
        method="ijepa",
        origin="ijepa",
        url=f"{_FB}/ijepa/{file}",
        converter="ijepa_vit",
        license=_NC,
        epochs=epochs,
        batch=2048 if (arch, pretrain) == ("vit_huge_patch14_gap_224", "in1k") else None,
        linear=None,
        results_source=(
            f"the I-JEPA README's pretrained-models table (README.md:{lines})",
            _line_anchor(_IJEPA_README, lines),
        ),
        # No evaluation transform is published: torchvision's Resize / CenterCrop at 0.875, bilinear as the
        # pre-training's RandomResizedCrop (src/transforms.py:42), its ImageNet mean and std (:26-27, 50).
        preprocessing=Preprocessing(input_size=(3, size, size), interpolation="bilinear", crop_pct=0.875),
        pretrain_dataset="imagenet-22k" if pretrain == "in22k" else "imagenet-1k",
        note=f"{note} The checkpoint holds context encoder, predictor and target encoder (src/train.py:248-260); "
        "the target encoder (the context encoder's EMA, train.py:332-336) is kept, as the I-JEPA paper evaluates "
        "it (arXiv:2301.08243, appendix A.1: the target encoder for evaluation, its output average-pooled), where "
        "timm's checkpoint_filter_fn reads the context encoder `encoder` from the same "
        "url (timm/models/vision_transformer.py:1408-1411@v1.0.16). Its network (src/models/vision_transformer.py:"
        "329-425) has no class token and a fixed sin-cos pos_embed of the patches, and normalises every token last: "
        "timm's _gap_ ViT, whose features are the mean of those normed patch tokens (global_pool 'avg', no fc_norm). "
        "timm's cfg names this url with hf_hub_id commented out: timm publishes no Hub copy, so the entry converts "
        "the original. The README shows its results only as images, and the repository has no evaluation code, so "
        "no number is given here and the evaluation transform is not stated (the entry's is torchvision's "
        "Resize / CenterCrop at 0.875, bilinear, at the network's resolution).",
    ).entry()


_ENTRIES = (
    # facebookresearch/simsiam
    _ResNet(
        "simsiam_in1k_ep100_bs512",
        method="simsiam",
        origin="simsiam",
        converter="official_simsiam",
        license=_NC,
        url=f"{_FB}/simsiam/models/100ep/pretrain/checkpoint_0099.pth.tar",
        epochs=100,
        batch=512,
        linear=68.1,
        aliases=("simsiam_resnet50.in1k_ep100_bs512",),
    ).entry(),
    _ResNet(
        "simsiam_in1k_ep100_bs256",
        method="simsiam",
        origin="simsiam",
        converter="official_simsiam",
        license=_NC,
        url=f"{_FB}/simsiam/models/100ep-256bs/pretrain/checkpoint_0099.pth.tar",
        epochs=100,
        batch=256,
        linear=68.3,
    ).entry(),
    # facebookresearch/moco, moco-v3
    _ResNet(
        "mocov1_in1k_ep200",
        method="mocov1",
        origin="moco",
        converter="moco",
        license=_NC,
        epochs=200,
        batch=256,
        url=f"{_FB}/moco/moco_checkpoints/moco_v1_200ep/moco_v1_200ep_pretrain.pth.tar",
        linear=60.6,
        hash_kind="md5-prefix",
        published_hash="b251726a",
        note=_MOCO_LICENCE,
    ).entry(),
    _ResNet(
        "mocov2_in1k_ep200",
        method="mocov2",
        origin="moco",
        converter="moco",
        license=_NC,
        epochs=200,
        batch=256,
        url=f"{_FB}/moco/moco_checkpoints/moco_v2_200ep/moco_v2_200ep_pretrain.pth.tar",
        linear=67.7,
        hash_kind="md5-prefix",
        published_hash="59fd9945",
        note=_MOCO_LICENCE,
    ).entry(),
    _ResNet(
        "mocov2_in1k_ep800",
        method="mocov2",
        origin="moco",
        converter="moco",
        license=_NC,
        epochs=800,
        batch=None,
        url=f"{_FB}/moco/moco_checkpoints/moco_v2_800ep/moco_v2_800ep_pretrain.pth.tar",
        linear=71.1,
        hash_kind="md5-prefix",
        published_hash="a04e12f8",
        note="Batch not stated for this row (the code's default is 256). " + _MOCO_LICENCE,
    ).entry(),
    *(
        _ResNet(
            f"mocov3_in1k_ep{epochs}",
            method="mocov3",
            origin="mocov3",
            converter="moco",
            license=_NC,
            epochs=epochs,
            batch=4096,
            url=f"{_FB}/moco-v3/r-50-{epochs}ep/r-50-{epochs}ep.pth.tar",
            linear=linear,
        ).entry()
        for epochs, linear in ((100, 68.9), (300, 72.8), (1000, 74.6))
    ),
    # facebookresearch/dino
    _ResNet(
        "dino_in1k",
        method="dino",
        origin="dino",
        converter="torchvision",
        preprocessing=_DINO_EVAL,
        license="apache-2.0",
        epochs=None,
        batch=4080,
        url=f"{_FB}/dino/dino_resnet50_pretrain/dino_resnet50_pretrain.pth",
        linear=75.3,
        extra=(("knn", "top-1 accuracy", 67.5),),
        note="The backbone-only file (teacher weights). Epochs not stated next to the file (800 implied by an "
        "issue, unverified); batch 4080 per the maintainer.",
    ).entry(),
    _ResNet(
        "dino_in1k_fullckpt",
        method="dino",
        origin="dino",
        converter="dino",
        preprocessing=_DINO_EVAL,
        license="apache-2.0",
        epochs=None,
        batch=4080,
        url=f"{_FB}/dino/dino_resnet50_pretrain/dino_resnet50_pretrain_full_checkpoint.pth",
        linear=75.3,
        extra=(("knn", "top-1 accuracy", 67.5),),
        note="The full training checkpoint of the run of resnet50.dino_in1k; the teacher is taken. Epochs unverified.",
    ).entry(),
    _ResNet(
        "dino_in1k_ep100_example",
        method="dino",
        origin="dino",
        converter="dino",
        preprocessing=_DINO_EVAL,
        license="apache-2.0",
        epochs=100,
        batch=512,
        url=f"{_FB}/dino/example_runs_logs/dino_rn50_checkpoint.pth",
        linear=None,
        note="The README's 8-GPU example run; no accuracy is published for it; batch 8 x 64 (the README's command "
        "and main_dino.py's default of 64 a GPU).",
    ).entry(),
    # facebookresearch/dinov2
    _dinov2_vit("vit_small_patch14_dinov2", "dinov2_vits14", "48-53", 79.0, 81.1),
    _dinov2_vit("vit_small_patch14_reg4_dinov2", "dinov2_vits14_reg4", "56-61", 79.1, 80.9),
    _dinov2_vit("vit_base_patch14_dinov2", "dinov2_vitb14", "64-69", 82.1, 84.5),
    _dinov2_vit("vit_base_patch14_reg4_dinov2", "dinov2_vitb14_reg4", "72-77", 82.0, 84.6),
    _dinov2_vit("vit_large_patch14_dinov2", "dinov2_vitl14", "80-85", 83.5, 86.3),
    _dinov2_vit("vit_large_patch14_reg4_dinov2", "dinov2_vitl14_reg4", "88-93", 83.8, 86.7),
    _dinov2_vit("vit_giant_patch14_dinov2", "dinov2_vitg14", "96-101", 83.5, 86.5),
    _dinov2_vit("vit_giant_patch14_reg4_dinov2", "dinov2_vitg14_reg4", "104-109", 83.7, 87.1),
    # facebookresearch/swav: SwAV, DeepCluster-v2, SeLa-v2
    _swav("swav_in1k_ep800_bs4096", "swav", 800, 4096, "swav_800ep_pretrain.pth.tar", 75.3),
    _swav("swav_in1k_ep400_bs4096", "swav", 400, 4096, "swav_400ep_pretrain.pth.tar", 74.6),
    _swav("swav_in1k_ep200_bs4096", "swav", 200, 4096, "swav_200ep_pretrain.pth.tar", 73.9),
    _swav("swav_in1k_ep100_bs4096", "swav", 100, 4096, "swav_100ep_pretrain.pth.tar", 72.1),
    _swav("swav_in1k_ep200_bs256", "swav", 200, 256, "swav_200ep_bs256_pretrain.pth.tar", 72.7),
    _swav("swav_in1k_ep400_bs256", "swav", 400, 256, "swav_400ep_bs256_pretrain.pth.tar", 74.3),
    _swav(
        "swav_in1k_ep400_2x224",
        "swav",
        400,
        4096,
        "swav_400ep_2x224_pretrain.pth.tar",
        70.1,
        note="Without multi-crop (two 224-px views).",
    ),
    _swav(
        "deepclusterv2_in1k_ep800",
        "deepclusterv2",
        800,
        4096,
        "deepclusterv2_800ep_pretrain.pth.tar",
        75.2,
        note="Layout assumed to be SwAV's (same code base; unverified).",
    ),
    _swav(
        "deepclusterv2_in1k_ep400",
        "deepclusterv2",
        400,
        4096,
        "deepclusterv2_400ep_pretrain.pth.tar",
        74.3,
        note="Multi-crop 2x160 + 4x96. Layout assumed to be SwAV's (unverified).",
    ),
    _swav(
        "deepclusterv2_in1k_ep400_2x224",
        "deepclusterv2",
        400,
        4096,
        "deepclusterv2_400ep_2x224_pretrain.pth.tar",
        70.2,
        note="Layout assumed to be SwAV's (unverified).",
    ),
    _swav(
        "selav2_in1k_ep400",
        "selav2",
        400,
        4096,
        "selav2_400ep_pretrain.pth.tar",
        71.8,
        note="Multi-crop 2x160 + 4x96. Layout unverified (assumed SwAV's).",
    ),
    _swav(
        "selav2_in1k_ep400_2x224",
        "selav2",
        400,
        4096,
        "selav2_400ep_2x224_pretrain.pth.tar",
        67.2,
        note="Layout unverified (assumed SwAV's).",
    ),
    # facebookresearch/barlowtwins
    _ResNet(
        "barlowtwins_in1k_ep1000",
        method="barlowtwins",
        origin="barlowtwins",
        converter="torchvision",
        license="mit",
        epochs=1000,
        batch=2048,
        url=f"{_FB}/barlowtwins/ljng/resnet50.pth",
        linear=73.5,
        extra=(("linear", "top-5 accuracy", 91.0),),
    ).entry(),
    _ResNet(
        "barlowtwins_in1k_ep1000_fullckpt",
        method="barlowtwins",
        origin="barlowtwins",
        converter="barlowtwins_vicreg",
        license="mit",
        epochs=1000,
        batch=2048,
        url=f"{_FB}/barlowtwins/ljng/checkpoint.pth",
        linear=73.5,
        note="The full training checkpoint of the run of resnet50.barlowtwins_in1k_ep1000.",
    ).entry(),
    _ResNet(
        "barlowtwins_in1k_ep1000_torchhub",
        method="barlowtwins",
        origin="barlowtwins",
        converter="torchvision",
        license="mit",
        epochs=1000,
        batch=2048,
        linear=73.5,
        extra=(("linear", "top-5 accuracy", 91.0),),
        url=f"{_FB}/barlowtwins/ep1000_bs2048_lrw0.2_lrb0.0048_lambd0.0051/resnet50.pth",
        results_source=_BT_TORCHHUB,
        note="The run torch.hub loads. Commit 046eec3 (2021-06-02) published it with 73.5% top-1 / 91.0% top-5; "
        "commit 82b7c45 (2021-12-08) only moved the README's links to the newer files and left the numbers.",
    ).entry(),
    _ResNet(
        "barlowtwins_in1k_ep1000_torchhub_fullckpt",
        method="barlowtwins",
        origin="barlowtwins",
        converter="barlowtwins_vicreg",
        license="mit",
        epochs=1000,
        batch=2048,
        linear=73.5,
        url=f"{_FB}/barlowtwins/ep1000_bs2048_lrw0.2_lrb0.0048_lambd0.0051/checkpoint.pth",
        results_source=_BT_TORCHHUB,
        note="The full training checkpoint of the run of resnet50.barlowtwins_in1k_ep1000_torchhub (the README's "
        "'full checkpoint' link from commit 046eec3 to 82b7c45).",
    ).entry(),
    _ResNet(
        "barlowtwins_in1k_ep1000_initial",
        method="barlowtwins",
        origin="barlowtwins",
        converter="torchvision",
        license=_NC,
        epochs=1000,
        batch=2048,
        linear=73.3,
        extra=(("linear", "top-5 accuracy", 91.0),),
        url=f"{_FB}/barlowtwins/{_BT_INITIAL}/resnet50.pth",
        results_source=_BT_INITIAL_README,
        note=_BT_INITIAL_NOTE,
    ).entry(),
    _ResNet(
        "barlowtwins_in1k_ep1000_initial_fullckpt",
        method="barlowtwins",
        origin="barlowtwins",
        converter="barlowtwins_vicreg",
        license=_NC,
        epochs=1000,
        batch=2048,
        linear=73.3,
        url=f"{_FB}/barlowtwins/{_BT_INITIAL}/checkpoint.pth",
        results_source=_BT_INITIAL_README,
        note="The full training checkpoint of the run of resnet50.barlowtwins_in1k_ep1000_initial (README link "
        "from commit 7b1baec, 2021-04-19). " + _BT_INITIAL_NOTE,
    ).entry(),
    # facebookresearch/vicreg, VICRegL
    _ResNet(
        "vicreg_in1k",
        method="vicreg",
        origin="vicreg",
        converter="torchvision",
        license="mit",
        epochs=None,
        batch=None,
        url=f"{_FB}/vicreg/resnet50.pth",
        linear=73.2,
        note="Epochs and batch not stated next to the file (the README's command: 1000 epochs, batch 2048).",
    ).entry(),
    _ResNet(
        "vicreg_in1k_fullckpt",
        method="vicreg",
        origin="vicreg",
        converter="barlowtwins_vicreg",
        license="mit",
        epochs=None,
        batch=None,
        url=f"{_FB}/vicreg/resnet50_fullckpt.pth",
        linear=73.2,
        note="The full training checkpoint of the run of resnet50.vicreg_in1k.",
    ).entry(),
    *(
        _ResNet(
            f"vicregl_in1k_alpha{alpha.replace('.', 'p')}{suffix}",
            method="vicregl",
            origin="vicregl",
            converter=converter,
            license=_NC,
            epochs=None,
            batch=None,
            url=f"{_FB}/vicregl/resnet50_alpha{alpha}{suffix}.pth",
            linear=linear,
            note=(
                f"The full training checkpoint of the run of resnet50.vicregl_in1k_alpha{alpha.replace('.', 'p')}. "
                if suffix
                else f"alpha {alpha}; VOC linear segmentation {miou} mIoU. "
            )
            + "Epochs and batch not stated next to the file (the README's command: 300 epochs, batch 2048).",
        ).entry()
        for alpha, linear, miou in (("0.9", 71.2, 54.0), ("0.75", 70.4, 55.9))
        for suffix, converter in (("", "torchvision"), ("_fullckpt", "barlowtwins_vicreg"))
    ),
    # deepmind BYOL: a JAX/Haiku pickle
    _ResNet(
        "byol_in1k",
        method="byol",
        origin="byol",
        converter=None,
        license=_NC,
        license_basis="weights",
        epochs=None,
        batch=4096,
        url="https://storage.googleapis.com/deepmind-byol/checkpoints/pretrain_res50x1.pkl",
        linear=74.4,
        unsupported=_BYOL_JAX,
        note="Official BYOL ResNet-50 1x; 'should evaluate to ~74.4%'.",
    ).entry(),
    *(
        _ResNet(
            f"byol_ablation_ep300_{name.replace('batchsize_', 'bs')}",
            method="byol",
            origin="byol",
            converter=None,
            license=_NC,
            license_basis="weights",
            epochs=300,
            batch=int(name.removeprefix("batchsize_")) if name.startswith("batchsize_") else None,
            url=f"https://storage.googleapis.com/deepmind-byol/checkpoints/ablations/res50x1_{name}.pkl",
            linear=None,
            unsupported=_BYOL_JAX,
            note=f"One of the README's ablation checkpoints ({what}): a ResNet-50 1x pretrained for 300 epochs, one of "
            "three seeds picked at random; no accuracy is published next to it."
            + ("" if name.startswith("batchsize_") else " Batch not stated for it (the default settings' is 4096)."),
        ).entry()
        for name, what in (
            ("baseline", "baseline"),
            *((f"batchsize_{batch}", f"batch size {batch}, figure 3a") for batch in (2048, 1024, 512, 256, 128, 64)),
            ("no_grayscale", "remove grayscale, figure 3b"),
            ("no_color", "remove color, figure 3b"),
            ("crop_and_blur_only", "crop and blur only, figure 3b"),
            ("crop_only", "crop only, figure 3b"),
            ("crop_and_color_only", "crop and color only, table 18"),
        )
    ),
    # WXinlong/DenseCL
    _ResNet(
        "densecl_in1k_ep200",
        method="densecl",
        origin="densecl",
        converter="torchvision",
        license="gpl-3.0",
        epochs=200,
        batch=256,
        linear=None,
        url="https://huggingface.co/xinlongwang/DenseCL/resolve/main/densecl_r50_imagenet_200ep.pth?download=true",
        note="No ImageNet linear number published (VOC detection 58.7 AP, VOC segmentation 69.4 mIoU).",
    ).entry(),
    *(
        _ResNet(
            f"densecl_coco_ep{epochs}",
            method="densecl",
            origin="densecl",
            converter="torchvision",
            license="gpl-3.0",
            pretrain_dataset="coco",
            epochs=epochs,
            batch=batch,
            linear=None,
            url=f"https://huggingface.co/xinlongwang/DenseCL/resolve/main/densecl_r50_coco_{epochs}ep.pth?download=true",
            note=f"Pretrained on COCO, not ImageNet. No ImageNet number published (VOC detection {det} AP, VOC "
            f"segmentation {seg} mIoU). {batch_note} Layout assumed to be that of the ImageNet file "
            "(tools/extract_backbone_weights.py; unverified).",
        ).entry()
        for epochs, batch, det, seg, batch_note in (
            (
                800,
                256,
                56.7,
                67.5,
                "COCO train2017 and batch 256 as configs/selfsup/densecl/densecl_coco_800ep.py sets them.",
            ),
            (1600, None, 57.2, 68.0, "The repository has no 1600-epoch config: batch not stated."),
        )
    ),
    _ResNet(
        "densecl_in1k_ep200",
        arch="resnet101",
        method="densecl",
        origin="densecl",
        converter="torchvision",
        license="gpl-3.0",
        epochs=200,
        batch=None,
        linear=None,
        url="https://huggingface.co/xinlongwang/DenseCL/resolve/main/densecl_r101_imagenet_200ep.pth?download=true",
        note="No ImageNet linear number published (VOC detection 61.3 AP, VOC segmentation 74.1 mIoU; README.md:38). "
        "The repository has no ResNet-101 config: batch not stated. Layout assumed to be that of the ResNet-50 file "
        "(tools/extract_backbone_weights.py; unverified).",
    ).entry(),
    # facebookresearch/vissl
    *(
        _vissl(
            f"simclr_vissl_ep{epochs}",
            "simclr",
            epochs,
            4096,
            f"simclr_rn50_{epochs}ep_simclr_8node_resnet_16_07_20.{run}/model_final_checkpoint_phase{epochs - 1}.torch",
            linear,
        )
        for epochs, run, linear in (
            (100, "8edb093e", 64.4),
            (200, "a816c0ef", 66.61),
            (400, "36b338ef", 67.71),
            (800, "7e8feed1", 69.68),
            (1000, "afe428c7", 68.8),
        )
    ),
    # VISSL's ResNet-101 SimCLR runs (MODEL_ZOO.md:180-181), read as its linear benchmark reads them
    # (benchmark_in1k_linear_simclr.json: RESNETS.DEPTH=101, STATE_DICT_KEY_NAME=classy_state_dict).
    *(
        _vissl(
            f"simclr_vissl_ep{epochs}",
            "simclr",
            epochs,
            4096,
            f"simclr_rn101_{epochs}ep_simclr_8node_resnet_16_07_20.{run}"
            f"/model_final_checkpoint_phase{epochs - 1}.torch",
            linear,
            note="Batch 4096 as for the ResNet-50 runs of the same config (simclr_8node_resnet, in the run's name).",
            arch="resnet101",
        )
        for epochs, run, linear in ((100, "1ff6cb4b", 62.76), (1000, "35063cea", 71.56))
    ),
    _vissl(
        "pirl_vissl_ep200",
        "pirl",
        200,
        1024,
        "pirl_jigsaw_4node_200ep_pirl_jigsaw_4node_resnet_22_07_20.ffd17b75/model_final_checkpoint_phase199.torch",
        62.55,
    ),
    _vissl(
        "pirl_vissl_ep800",
        "pirl",
        800,
        1024,
        "pirl_jigsaw_4node_pirl_jigsaw_4node_resnet_22_07_20.34377f59/model_final_checkpoint_phase799.torch",
        64.29,
    ),
    _vissl(
        "pirl_vissl_ep800_mlphead",
        "pirl",
        800,
        None,
        "pirl/r50_800ep_mlphead_gblur/model_final_checkpoint_phase799.torch",
        69.9,
        note="The authors' model with an MLP head and Gaussian blur; batch and layout unverified.",
        results_source=_PIRL_README,
    ),
    _vissl(
        "mocov2_vissl_ep200",
        "mocov2",
        200,
        256,
        "moco_v2_1node_lr.03_step_b32_zero_init/model_final_checkpoint_phase199.torch",
        66.4,
    ),
    _vissl(
        "barlowtwins_vissl_ep300",
        "barlowtwins",
        300,
        2048,
        "barlow_twins/barlow_twins_32gpus_4node_imagenet1k_300ep_resnet50.torch",
        70.75,
        note="Layout unverified (no VISSL benchmark config names this file).",
    ),
    _vissl(
        "barlowtwins_vissl_ep1000",
        "barlowtwins",
        1000,
        2048,
        "barlow_twins/barlow_twins_32gpus_4node_imagenet1k_1000ep_resnet50.torch",
        71.80,
        note="Layout unverified (no VISSL benchmark config names this file).",
    ),
    _vissl(
        "swav_vissl_ep800",
        "swav",
        800,
        4096,
        "swav_in1k_rn50_800ep_swav_8node_resnet_27_07_20.a0a6b676/model_final_checkpoint_phase799.torch",
        74.92,
    ),
    _vissl(
        "npid_vissl_ep200",
        "npid",
        200,
        256,
        "npid_1node_200ep_4kneg_npid_8gpu_resnet_23_07_20.9eb36512/model_final_checkpoint_phase199.torch",
        52.73,
        note="4k negatives; batch 256 as VISSL's configs/config/pretrain/npid/npid_8gpu_resnet.yaml sets it.",
    ),
    *(
        _vissl(
            f"jigsaw_vissl_ep105_perm{perms}",
            "jigsaw",
            105,
            256,
            f"jigsaw_rn50_in1k_ep105_perm2k_jigsaw_8gpu_resnet_{run}/model_final_checkpoint_phase104.torch",
            linear,
            note=f"{perms} permutations (the folder names say perm2k for all three runs; VISSL's benchmark config "
            f"names this one rn50_in1k_perm{perms}_jigsaw). Epochs and batch as the config the folder names, "
            "configs/config/pretrain/jigsaw/jigsaw_8gpu_resnet.yaml, sets them (105 epochs; 32 images a GPU x 8). "
            + _VISSL_HEADS,
        )
        for perms, run, linear in (
            ("100", "17_07_20.db174a43", 48.57),
            ("2k", "17_07_20.cccee144", 46.73),
            ("10k", "20_07_20.3d706467", 48.11),
        )
    ),
    _ResNet(
        "jigsaw_goyal19_in1k",
        method="jigsaw",
        origin="vissl",
        converter="vissl",
        license=_NC,
        epochs=None,
        batch=None,
        url=f"{_FB}/vissl/model_zoo/converted_vissl_rn50_jigsaw_in1k_goyal19.torch",
        linear=46.58,
        note="VISSL's conversion of the Caffe2 ResNet-50 of Goyal et al. 2019 (facebookresearch/"
        "fair_self_supervision_benchmark, whose licence is CC-BY-NC 4.0: kept, the stricter reading, rather than "
        "VISSL's MIT). VISSL evaluates it in its torchvision-layout ResNet-50 with RGB input. Layout "
        "(model_state_dict of _feature_blocks.* names) from VISSL's benchmark config, unverified against the file. "
        "Epochs and batch not stated by VISSL. " + _VISSL_HEADS,
    ).entry(),
    *(
        _ResNet(
            f"colorization_goyal19_{dataset_tag}",
            method="colorization",
            origin="vissl",
            converter=None,
            license=_NC,
            epochs=None,
            batch=None,
            url=f"{_FB}/vissl/model_zoo/converted_vissl_rn50_colorization_{dataset_tag}_goyal19.torch",
            linear=linear,
            pretrain_dataset=dataset,
            unsupported=_COLORIZATION_INPUT,
            results_source=(
                f"the VISSL model zoo's Colorization table (MODEL_ZOO.md:{line})",
                _line_anchor(_VISSL_MODEL_ZOO, str(line)),
            ),
            note="VISSL's conversion of the Caffe2 Colorization ResNet-50 of Goyal et al. 2019 (facebookresearch/"
            "fair_self_supervision_benchmark, whose licence is CC-BY-NC 4.0: kept, the stricter reading, rather than "
            "VISSL's MIT; converted with --bgr2rgb False, docs/source/compatibility_libraries.rst:66-73). VISSL's "
            "linear benchmark trains heads on pooled conv1 and res2-res5 maps (resnet50_colorization.yaml:21-41); "
            "MODEL_ZOO.md does not say which its number is from. Epochs and batch not stated by VISSL.",
        ).entry()
        for dataset_tag, dataset, line, linear in (
            ("in1k", "imagenet-1k", 104, 40.11),
            ("in22k", "imagenet-22k", 105, 49.24),
            ("yfcc100m", "yfcc100m", 106, 47.46),
        )
    ),
    _vissl(
        "rotnet_vissl_ep105",
        "rotnet",
        105,
        256,
        "rotnet_rn50_in1k_ep105_rotnet_8gpu_resnet_17_07_20.46bada9f/model_final_checkpoint_phase125.torch",
        48.2,
        note="Batch as the config the folder names, configs/config/pretrain/rotnet/rotnet_8gpu_resnet.yaml, sets it "
        "(32 images a GPU x 8; it tests every 5 epochs, hence phase 125 after 105 epochs). " + _VISSL_HEADS,
    ),
    _vissl(
        "clusterfit_vissl_ep105",
        "clusterfit",
        105,
        None,
        "converted_vissl_rn50_rotnet_16kclusters_in1k_ep105.torch",
        53.63,
        note="16k clusters of RotNet features; a converted file whose batch VISSL does not state.",
    ),
    _ResNet(
        "npid_vissl_lemniscate",
        method="npid",
        origin="vissl",
        converter="vissl",
        license="unknown",
        epochs=None,
        batch=None,
        url=f"{_FB}/vissl/model_zoo/converted_vissl_rn50_npid_lemniscate_neg4k_stepLR_8gpu.torch",
        linear=54.99,
        note="VISSL's conversion of the original lemniscate.pytorch ResNet-50 (its 'Oldies': 4096 negatives, NCE "
        "loss). That repository states no licence, and VISSL's MIT is not taken for weights VISSL did not train. "
        "Epochs and batch not stated (lemniscate's main.py defaults: 200 epochs, batch 256). Layout "
        "(model_state_dict of _feature_blocks.* names) from VISSL's benchmark config, unverified against the file.",
    ).entry(),
    _vissl(
        "npidpp_vissl_ep800",
        "npidpp",
        800,
        1024,
        "npid_pp/4node_800ep_32kneg_cosine_resnet_23_07_20.75432662/model_final_checkpoint_phase799.torch",
        56.68,
        note="32k negatives, cosine schedule; batch as configs/config/pretrain/npid/npid++_4nodes_resnet.yaml sets "
        "it (32 a GPU x 8 x 4 nodes). VISSL's benchmark config loads the same run from another folder, "
        "npid_4node_800ep_32kneg_cosine_npid++_4nodes_resnet_23_07_20.75432662/; which of the two is live is "
        "untested.",
    ),
    *(
        _vissl(
            f"swav_vissl_ep{epochs}{tag}",
            "swav",
            epochs,
            batch,
            f"{folder}/model_final_checkpoint_phase{epochs - 1}.torch",
            linear,
            note=note,
        )
        for epochs, batch, tag, folder, linear, note in (
            (100, 4096, "", "swav_in1k_rn50_100ep_swav_8node_resnet_27_07_20.7e6fc6bf", 71.99, None),
            (200, 4096, "", "swav_in1k_rn50_200ep_swav_8node_resnet_27_07_20.bd595bb0", 73.85, None),
            (400, 4096, "", "swav_in1k_rn50_400ep_swav_8node_resnet_27_07_20.a5990fc9", 74.81, None),
            (
                200,
                256,
                "_bs256",
                "swav_4gpu_bs64_200ep_2x224_6x96_queue_swav_8node_resnet_28_07_20.a8f2c735",
                73.07,
                None,
            ),
            (
                400,
                256,
                "_bs256",
                "swav_4gpu_bs64_400ep_2x224_6x96_queue_swav_8node_resnet_28_07_20.5e967ca0",
                74.3,
                None,
            ),
            (
                400,
                4096,
                "_2x224",
                "swav_8node_2x224_rn50_in1k_swav_8node_resnet_30_07_20.c8fd7169",
                69.53,
                "Without multi-crop (two 224-px views).",
            ),
        )
    ),
    *(
        _ResNet(
            f"deepclusterv2_vissl_ep{epochs}{tag}",
            method="deepclusterv2",
            origin="vissl",
            converter="swav",
            license=_NC,
            epochs=epochs,
            batch=4096,
            url=f"{_FB}/vissl/model_zoo/deepclusterv2_{epochs}ep{tag}_pretrain.pth.tar",
            linear=linear,
            note=f"Multi-crop {crops}. VISSL's copy of the SwAV repository's DeepCluster-v2 file, as its row's link to "
            "that model zoo says: batch from there (4096), licence kept as that release's (CC-BY-NC 4.0, the "
            "stricter reading, rather than VISSL's MIT); VISSL loads it as SwAV's layout (REMOVE_PREFIX=module.).",
        ).entry()
        for epochs, tag, crops, linear in (
            (400, "_2x224", "2x224", 70.01),
            (400, "", "2x160 + 4x96", 74.32),
            (800, "", "2x224 + 6x96", 75.18),
        )
    ),
    *(
        _vissl(
            f"pirl_vissl_ep200_{head}head",
            "pirl",
            200,
            None,
            f"pirl/{folder}/model_final_checkpoint_phase199.torch",
            linear,
            note=f"The authors' model with {description}; a different file from resnet50.pirl_vissl_ep200. Batch and "
            "layout unverified.",
            results_source=_PIRL_README,
        )
        for head, folder, description, linear in (
            ("linear", "r50_200ep", "a linear head", 62.9),
            ("mlp", "r50_200ep_mlp_gblur", "an MLP head and Gaussian blur", 65.8),
        )
    ),
    # open-mmlab/mmpretrain and mmselfsup
    _mm(
        "simsiam_mmpretrain_ep100",
        "simsiam",
        100,
        256,
        "simsiam/simsiam_resnet50_8xb32-coslr-100e_in1k/simsiam_resnet50_8xb32-coslr-100e_in1k_20220825-d07cb2e6.pth",
        68.3,
    ),
    _mm(
        "simsiam_mmpretrain_ep200",
        "simsiam",
        200,
        256,
        "simsiam/simsiam_resnet50_8xb32-coslr-200e_in1k/simsiam_resnet50_8xb32-coslr-200e_in1k_20220825-efe91299.pth",
        69.8,
    ),
    _mm(
        "byol_mmpretrain_ep200",
        "byol",
        200,
        4096,
        "byol/byol_resnet50_16xb256-coslr-200e_in1k/byol_resnet50_16xb256-coslr-200e_in1k_20220825-de817331.pth",
        71.8,
    ),
    _mm(
        "mocov2_mmpretrain_ep200",
        "mocov2",
        200,
        256,
        "mocov2/mocov2_resnet50_8xb32-coslr-200e_in1k/mocov2_resnet50_8xb32-coslr-200e_in1k_20220825-b6d23c86.pth",
        67.5,
    ),
    *(
        _mm(
            f"mocov3_mmpretrain_ep{epochs}",
            "mocov3",
            epochs,
            4096,
            f"mocov3/mocov3_resnet50_8xb512-amp-coslr-"
            f"{epochs}e_in1k/mocov3_resnet50_8xb512-amp-coslr-{epochs}e_in1k_20220927-{digest}.pth",
            linear,
        )
        for epochs, digest, linear in ((100, "f1144efa", 69.6), (300, "1e4f3304", 72.8), (800, "e043f51a", 74.4))
    ),
    _mm(
        "simclr_mmpretrain_ep200",
        "simclr",
        200,
        4096,
        "simclr/simclr_resnet50_16xb256-coslr-200e_in1k/simclr_resnet50_16xb256-coslr-200e_in1k_20220825-4d9cce50.pth",
        66.9,
    ),
    _mm(
        "simclr_mmpretrain_ep800",
        "simclr",
        800,
        4096,
        "simclr/simclr_resnet50_16xb256-coslr-800e_in1k/simclr_resnet50_16xb256-coslr-800e_in1k_20220825-85fcc4de.pth",
        69.2,
        note="The metafile says 200 epochs; its config trains 800 (max_epochs=800).",
    ),
    _mm(
        "simclr_mmselfsup_ep200_bs256",
        "simclr",
        200,
        256,
        "simclr/simclr_resnet50_8xb32-coslr-200e_in1k/simclr_resnet50_8xb32-coslr-200e_in1k_20220825-15f807a4.pth",
        62.7,
        origin="mmselfsup",
    ),
    _mm(
        "swav_mmpretrain_ep200",
        "swav",
        200,
        256,
        "swav/swav_resnet50_8xb32-mcrop-2-6-coslr-200e_in1k-224-96/"
        "swav_resnet50_8xb32-mcrop-2-6-coslr-200e_in1k-224-96_20220825-5b3fc7fc.pth",
        70.5,
        note="Multi-crop 2x224 + 6x96.",
    ),
    _mm(
        "densecl_mmpretrain_ep200",
        "densecl",
        200,
        256,
        "densecl/densecl_resnet50_8xb32-coslr-200e_in1k/densecl_resnet50_8xb32-coslr-200e_in1k_20220825-3078723b.pth",
        63.5,
    ),
    _mm(
        "barlowtwins_mmpretrain_ep300",
        "barlowtwins",
        300,
        2048,
        "barlowtwins/barlowtwins_resnet50_8xb256-coslr-"
        "300e_in1k/barlowtwins_resnet50_8xb256-coslr-300e_in1k_20220825-57307488.pth",
        71.8,
    ),
    _mm(
        "npid_mmselfsup_ep200",
        "npid",
        200,
        256,
        "npid/npid_resnet50_8xb32-steplr-200e_in1k/npid_resnet50_8xb32-steplr-200e_in1k_20220825-a67c5440.pth",
        58.3,
        origin="mmselfsup",
    ),
    _mm(
        "relativeloc_mmselfsup_ep70",
        "relativeloc",
        70,
        512,
        "relative_loc/relative-loc_resnet50_8xb64-steplr-70e_in1k/"
        "relative-loc_resnet50_8xb64-steplr-70e_in1k_20220825-daae1b41.pth",
        40.4,
        note="Trained on inputs normalised with mean (124, 117, 104) and std (59, 58, 58) on 0-255 (ImageNet's, "
        "rounded). The number is the global-pooled linear probe (resnet50_linear-8xb32-steplr-100e_in1k).",
        origin="mmselfsup",
    ),
    _mm(
        "rotnet_mmselfsup_ep70",
        "rotnet",
        70,
        128,
        "rotation_pred/rotation-pred_resnet50_8xb16-steplr-70e_in1k/"
        "rotation-pred_resnet50_8xb16-steplr-70e_in1k_20220825-a8bf5f69.pth",
        47.0,
        note="mmselfsup's Rotation-Pred. The number is the global-pooled linear probe "
        "(resnet50_linear-8xb32-steplr-100e_in1k).",
        origin="mmselfsup",
    ),
    *(
        _mm(
            f"byol_mmselfsup_ep{epochs}_accum16",
            "byol",
            epochs,
            256,
            f"byol/byol_resnet50_8xb32-accum16-coslr-{epochs}e_in1k_20220225-{digest}.pth",
            linear,
            note="Batch 256 a step (8 x 32, as the metafile gives it), gradients accumulated over 16 steps: 4096 an "
            "update (the config's comment). An mmselfsup 0.x file: the backbone is also under online_net.0, "
            "beside target_net.",
            origin="mmselfsup0x",
        )
        for epochs, digest, linear in ((200, "5c8b2c2e", 71.72), (300, "a0daa54a", 72.93))
    ),
    _mm(
        "odc_mmselfsup_ep440",
        "odc",
        440,
        512,
        "odc/odc_resnet50_8xb64-steplr-440e_in1k_20220225-a755d9c0.pth",
        53.43,
        note="The metafile says 200 epochs; its config trains 440 (max_epochs=440). ODC's README gives 53.42 for "
        "the global-pooled probe (AvgPool); model_zoo.md and the metafile 53.43.",
        origin="mmselfsup0x",
    ),
    _mm(
        "interclr_mmselfsup_ep200",
        "interclr",
        200,
        256,
        "interclr/interclr-moco_resnet50_8xb32-coslr-200e_in1k_20221206-38f8fdaf.pth",
        68.04,
        note="InterCLR-MoCo. The number is not the global-pooled probe: InterCLR's README gives it as Feature5, a "
        "linear head on the res5 map pooled to a fixed size (resnet50_mhead_linear-8xb32-steplr-90e_in1k); no "
        "global-pooled number is published. The backbone is also under encoder_q.0, beside encoder_k.",
        origin="mmselfsup0x",
    ),
    _ResNet(
        "spark_mmpretrain_ep800",
        method="spark",
        origin="mmpretrain",
        converter="mmselfsup",
        license="apache-2.0",
        epochs=800,
        batch=4096,
        url="https://download.openmmlab.com/mmpretrain/v1.0/spark/spark_sparse-resnet50_8xb512-amp-coslr-800e_in1k/"
        "spark_sparse-resnet50_8xb512-amp-coslr-800e_in1k_20230612-e403c28f.pth",
        hash_kind="sha256-prefix",
        published_hash="e403c28f",
        linear=None,
        extra=(("finetune", "top-1 accuracy", 80.1), ("finetune", "top-5 accuracy", 94.9)),
        results_source=(
            "mmpretrain's spark results",
            "https://github.com/open-mmlab/mmpretrain/blob/main/configs/spark/README.md",
        ),
        note="Pretrained as mmpretrain's SparseResNet (a ResNet-50 whose conv, BN and pooling layers are sparse "
        "subclasses with the same parameter names). No linear probe is published: the numbers are those of the "
        "300-epoch full fine-tune (resnet50_spark-pre_300e_in1k) in a dense ResNet-50.",
    ).entry(),
    # lightly-ai/lightly ImageNet benchmarks (PyTorch Lightning checkpoints)
    _lightly("barlowtwins", 256, "imagenet_resnet50_barlowtwins_2023-08-18_00-11-03", 500400, 62.9, 72.6, 45.6),
    _lightly("byol", 256, "imagenet_resnet50_byol_2024-02-14_16-10-09", 500400, 62.5, 74.5, 46.0),
    _lightly("dino", 128, "imagenet_resnet50_dino_2023-06-06_13-59-48", 1000900, 68.2, 72.5, 49.9),
    _lightly("mocov2", 256, "imagenet_resnet50_mocov2_2024-02-18_10-29-14", 500400, 61.5, 74.3, 41.8),
    _lightly("simclr", 256, "imagenet_resnet50_simclr_2023-06-22_09-11-13", 500400, 63.2, 73.9, 44.8),
    _lightly("swav", 256, "imagenet_resnet50_swav_2023-05-25_08-29-14", 500400, 67.2, 75.4, 49.5),
    _lightly("vicreg", 256, "imagenet_resnet50_vicreg_2023-09-11_10-53-08", 500400, 63.0, 73.7, 46.3),
    _lightly("dcl", 256, "imagenet_resnet50_dcl_2023-07-04_16-51-40", 500400, 65.1, 73.5, 49.6),
    _lightly("dclw", 256, "imagenet_resnet50_dclw_2023-07-07_14-57-13", 500400, 64.5, 73.2, 48.5),
    _lightly(
        "tico",
        256,
        "imagenet_resnet50_tico_2024-01-07_18-40-57",
        250200,
        49.7,
        72.7,
        26.6,
        note="The table gives batch 256, but the checkpoint's step count (250200 in 100 epochs) is half that of the "
        "other batch-256 runs (500400), as a batch of 512 would give.",
    ),
    # VISSL's SwAV RegNetYs (MODEL_ZOO.md:229-230), converted.
    _vissl_regnet(
        "regnety_160",
        800,
        "swav_regnet16_in1k/swav_in1k_regnet16gf_model_final_checkpoint_phase799.torch",
        229,
        76.15,
        "The final checkpoint of the 800-epoch run.",
    ),
    _vissl_regnet(
        "regnety_1280",
        400,
        "swav_regnet128_in1k/model_phase230.torch",
        230,
        78.36,
        "MODEL_ZOO.md's row says 400 epochs; the file it links is named model_phase230, which the table does not "
        "explain (the epochs given are the table's).",
    ),
    # VISSL's SEER RegNetYs on IG-1B (MODEL_ZOO.md:240-242), as timm publishes them. Not the RegNetY-256GF (:243):
    # timm's regnet.py keeps its .seer cfg commented out, "invalid weight <-> model match", and the 10B (:244) is
    # no timm architecture.
    _seer("regnety_320", "seer_regnet32d/seer_regnet32gf_model_iteration244000.torch", 240, (74.03, 83.4), "res5"),
    _seer(
        "regnety_640",
        "seer_regnet64/seer_regnet64gf_model_final_checkpoint_phase0.torch",
        241,
        (75.25, 84.0),
        "res5avg",
    ),
    _seer(
        "regnety_1280",
        "swav_ig1b_regnet128Gf_cnstant_bs32_node16_sinkhorn10_proto16k_syncBN64_warmup8k/"
        "model_final_checkpoint_phase0.torch",
        242,
        (75.96, 84.5),
        "res5avg",
    ),
    # facebookresearch/dino vision transformers: the backbone-only files, as timm publishes them.
    _dino_vit("vit_small_patch16_224", "dino_deitsmall16_pretrain", "24-34", 74.5, 77.0, _DINO_LINEAR_S),
    _dino_vit("vit_small_patch8_224", "dino_deitsmall8_pretrain", "36-46", 78.3, 79.7, _DINO_LINEAR_S),
    _dino_vit("vit_base_patch16_224", "dino_vitbase16_pretrain", "48-58", 76.1, 78.2, _DINO_LINEAR_B),
    _dino_vit("vit_base_patch8_224", "dino_vitbase8_pretrain", "60-70", 77.4, 80.1, _DINO_LINEAR_B),
    _dino_gldv2(),
    # facebookresearch/dino's XCiTs (facebookresearch/xcit's architectures), converted.
    _dino_xcit("xcit_small_12_p16_224", "94-104", 76.0, 77.8, "430-435"),
    _dino_xcit("xcit_small_12_p8_224", "105-115", 77.1, 79.2, "494-499"),
    _dino_xcit("xcit_medium_24_p16_224", "116-126", 76.4, 78.8, "457-462"),
    _dino_xcit("xcit_medium_24_p8_224", "127-137", 77.9, 80.3, "521-526"),
    # DINO trained in VISSL (facebookresearch/vissl's MODEL_ZOO.md DINO table).
    _vissl_dino(
        "vit_small_patch16_224",
        "dino_300ep_deitsmall16/model_final_checkpoint_phase299.torch",
        273,
        73.4,
        epochs=300,
        note="Trained with configs/config/pretrain/dino/dino_16gpus_deits16.yaml (MODEL_ZOO.md:269; at f678f7a5, the "
        "commit that added the row: 300 epochs, 64 images a GPU on 2 nodes of 8, :19, 89, 129-130), VISSL's "
        "vision_transformer trunk of 384 dimensions, 12 layers, 6 heads, qkv bias (:52-63; its MLP ratio is 4 "
        "whatever MLP_DIM says, trunks/vision_transformer.py:183), timm's vit_small_patch16_224; its class_token and "
        "pos_embedding are timm's cls_token and pos_embed. Its output is the class token after `norm` "
        "(vision_transformer.py:267-283), timm's token pooling.",
    ),
    _vissl_dino(
        "xcit_small_12_p16_224",
        "dino_300ep_xcitsmall16/model_phase250.torch",
        274,
        74.8,
        epochs=None,
        note="Trained with configs/config/pretrain/dino/dino_16gpus_xcit_small_12_p16.yaml (at df651add, the commit "
        "that added the row: 300 epochs, 64 images a GPU on 2 nodes of 8, :19, 90, 130-131), VISSL's xcit trunk of "
        "384 dimensions, 12 layers, 8 heads, eta 1, tokens_norm (:52-64), timm's xcit_small_12_p16_224, in "
        "xcit.py's names (trunks/xcit.py:377-460), converted as DINO's XCiT files. The row says 300 epochs, but "
        "the file is named as VISSL's checkpoint writer names a phase's that is not the run's last "
        "(vissl/utils/checkpoint.py:114-117@09270ed: the last is model_final_checkpoint_phase299.torch): its epochs "
        "are not stated. Its output is the class token after `norm` (trunks/xcit.py:479-507), timm's token pooling.",
    ),
    # facebookresearch/moco-v3 vision transformers
    _mocov3_vit(
        "vit_small_patch16_224",
        "s",
        73.2,
        "194-201",
        "MoCo v3's ViT-Small has 12 heads (vits.py:115-118) where timm's vit_small_patch16_224 has 6, with the same "
        "weight shapes: model_args (num_heads=12) go into config.json, and timm builds the architecture with them.",
    ),
    _mocov3_vit("vit_base_patch16_224", "b", 76.7, "202-209", "MoCo v3's ViT-Base is timm's (vits.py:122-127)."),
    # bytedance/ibot: the teacher backbones of the ImageNet-1k runs (block-wise masking unless `randmask`).
    _ibot_vit(
        "vit_small_patch16_224",
        "vits_16",
        "123-134",
        (75.2, 77.9, 82.3),
        _DINO_LINEAR_S,
        trained=(800, 1024),
        tag="ibot_in1k_ep800",
    ),
    _ibot_vit("vit_base_patch16_224", "vitb_16", "159-170", (77.1, 79.5, 84.0), _DINO_LINEAR_B),
    _ibot_vit(
        "vit_base_patch16_224",
        "vitb_16_rand_mask",
        "171-182",
        (77.3, 79.8, 84.1),
        _DINO_LINEAR_B,
        tag="ibot_in1k_randmask",
    ),
    _ibot_vit("vit_large_patch16_224", "vitl_16", "183-194", (78.0, 81.0, 84.8), _DINO_LINEAR_B),
    _ibot_vit(
        "vit_large_patch16_224",
        "vitl_16_rand_mask",
        "195-206",
        (77.7, 81.3, 85.0),
        _DINO_LINEAR_B,
        tag="ibot_in1k_randmask",
    ),
    # bytedance/ibot's ImageNet-22k ViT-B/16 and ViT-L/16 (README.md:209-254), student backbones.
    _ibot_vit_in22k("vit_base_patch16_224", "vitb_16_pt22k", "226-239", (71.1, 79.0, 84.4), " (none at 384, 512)"),
    _ibot_vit_in22k(
        "vit_large_patch16_224", "vitl_16_pt22k", "240-253", (72.9, 82.3, 86.6), "; 87.5 at 384, 87.8 at 512"
    ),
    # facebookresearch/VICRegL ConvNeXts, converted.
    _vicregl_convnext("convnext_small", "0.9", "47-56", 75.9, 66.7),
    _vicregl_convnext("convnext_small", "0.75", "57-66", 74.6, 67.5),
    _vicregl_convnext("convnext_base", "0.9", "67-76", 77.1, 69.3),
    _vicregl_convnext("convnext_base", "0.75", "77-86", 76.3, 70.4),
    _vicregl_convnext("convnext_xlarge", "0.75", "87-96", 79.4, 78.7),
    # lightly's ImageNet ViT benchmark runs.
    _lightly_vit(
        "vit_small_patch16_224",
        "dino",
        "imagenet_vits14_dino_2025-02-16_16-03-14",
        "epoch%3D99-step%3D1000900",
        37,
        (73.3, 79.8, 67.5),
        128,
        "benchmarks/imagenet/vitb16/dino.py:25-26 (477d3ce; the run's folder says vits14, the table and code patch 16)",
    ),
    _lightly_vit(
        "vit_small_patch16_224",
        "ibot",
        "imagenet_vits16_ibot_2025-07-10_13-47-17",
        "epoch%3D99-step%3D1000900",
        38,
        (72.2, 78.3, 65.4),
        128,
        "benchmarks/imagenet/vitb16/ibot.py:50-59 (1ffdbd5, layer scale init_values 1e-5: model_args)",
    ),
    _lightly_vit(
        "vit_small_patch16_224",
        "lejepa",
        "imagenet_vits16_lejepa_2026-05-20_17-59-16",
        "epoch%3D099-val_online_cls_top1%3D0.5623",
        39,
        (64.0, 78.7, 47.1),
        512,
        "benchmarks/imagenet/vitb16/lejepa.py:30-36 (8397751; its numbers predate the loss fix of #2023, "
        "benchmarks.rst:51)",
    ),
    _lightly_vit(
        "vit_base_patch16_224",
        "mae",
        "imagenet_vitb16_mae_2024-02-25_19-57-30",
        "epoch%3D99-step%3D500400",
        40,
        (46.0, 81.3, 11.2),
        256,
        "benchmarks/imagenet/vitb16/mae.py:25-32 (053327d)",
    ),
    # open-mmlab/mmpretrain's MoCo v3 ViTs (configs/mocov3/metafile.yml:102-200).
    _mmpretrain_vit(
        "vit_small_patch16_224",
        "mocov3",
        300,
        "mocov3_vit-small-p16_16xb256-amp-coslr-300e_in1k/"
        "mocov3_vit-small-p16_16xb256-amp-coslr-300e_in1k-224_20220826-08bc52f7.pth",
        "82",
        (73.6, None),
        _MMPRETRAIN_MOCOV3,
    ),
    _mmpretrain_vit(
        "vit_base_patch16_224",
        "mocov3",
        300,
        "mocov3_vit-base-p16_16xb256-amp-coslr-300e_in1k/"
        "mocov3_vit-base-p16_16xb256-amp-coslr-300e_in1k-224_20220826-25213343.pth",
        "83-84",
        (76.9, 83.0),
        _MMPRETRAIN_MOCOV3,
    ),
    _mmpretrain_vit(
        "vit_large_patch16_224",
        "mocov3",
        300,
        "mocov3_vit-large-p16_64xb64-amp-coslr-300e_in1k/"
        "mocov3_vit-large-p16_64xb64-amp-coslr-300e_in1k-224_20220829-9b88a442.pth",
        "85",
        (None, 83.7),
        _MMPRETRAIN_MOCOV3,
    ),
    # open-mmlab/mmpretrain's MAE ViTs (configs/mae/metafile.yml:16-123).
    *(
        _mmpretrain_vit(
            f"vit_{size}_patch{14 if size == 'huge' else 16}_224",
            "mae",
            epochs,
            f"mae_vit-{size}-p16_8xb512-fp16-coslr-{epochs}e_in1k/{file}.pth",
            lines,
            results,
            _MMPRETRAIN_MAE,
        )
        for size, epochs, file, lines, results in (
            ("base", 300, "mae_vit-base-p16_8xb512-coslr-300e-fp16_in1k_20220829-c2cf66ba", "96, 100", (60.8, 83.1)),
            ("base", 400, "mae_vit-base-p16_8xb512-coslr-400e-fp16_in1k_20220825-bc79e40b", "97, 101", (62.5, 83.3)),
            ("base", 800, "mae_vit-base-p16_8xb512-coslr-800e-fp16_in1k_20220825-5d81fbc4", "98, 102", (65.1, 83.3)),
            ("base", 1600, "mae_vit-base-p16_8xb512-fp16-coslr-1600e_in1k_20220825-f7569ca2", "99, 103", (67.1, 83.5)),
            ("large", 400, "mae_vit-large-p16_8xb512-fp16-coslr-400e_in1k_20220825-b11d0425", "104, 107", (70.7, 85.2)),
            ("large", 800, "mae_vit-large-p16_8xb512-fp16-coslr-800e_in1k_20220825-df72726a", "105, 108", (73.7, 85.4)),
            (
                "large",
                1600,
                "mae_vit-large-p16_8xb512-fp16-coslr-1600e_in1k_20220825-cc7e98c9",
                "106, 109",
                (75.5, 85.7),
            ),
            ("huge", 1600, "mae_vit-huge-p16_8xb512-fp16-coslr-1600e_in1k_20220916-ff848775", "110", (None, 86.9)),
        )
    ),
    # open-mmlab/mmpretrain's MILAN and EVA (MAE-style) ViT-B/16, 400 epochs at batch 4096 (configs/milan/
    # metafile.yml:16-26, configs/eva/metafile.yml:24-34).
    _mmpretrain_vit(
        "vit_base_patch16_224",
        "milan",
        400,
        "milan_vit-base-p16_16xb256-amp-coslr-400e_in1k/milan_vit-base-p16_16xb256-amp-coslr-400e_in1k_20221129-180922e8.pth",
        "92-93",
        (78.9, 85.3),
        _MMPRETRAIN_CLIP_TARGET,
    ),
    _mmpretrain_vit(
        "vit_base_patch16_224",
        "eva",
        400,
        "eva-mae-style_vit-base-p16_16xb256-coslr-400e_in1k/"
        "eva-mae-style_vit-base-p16_16xb256-coslr-400e_in1k_20221226-26d90f07.pth",
        "81-82",
        (69.0, 83.7),
        "EVA's MAE-style pre-training of a ViT-B/16 (the README's row, not EVA's released giant models). "
        + _MMPRETRAIN_CLIP_TARGET,
    ),
    # open-mmlab/mmpretrain's MaskFeat ViT-B/16, 300 epochs at batch 2048 (configs/maskfeat/metafile.yml:16-26).
    _mmpretrain_vit(
        "vit_base_patch16_224",
        "maskfeat",
        300,
        "maskfeat_vit-base-p16_8xb256-amp-coslr-300e_in1k/maskfeat_vit-base-p16_8xb256-amp-coslr-300e_in1k_20221101-6dfc8bf3.pth",
        "74",
        (None, 83.4),
        "mmpretrain's MaskFeatViT (mmpretrain/models/selfsup/maskfeat.py:161-233) of arch b, timm's ViT-B/16 with a "
        "learnt pos_embed and a mask_token for the masked patches; the neck (LinearNeck) and the HOG target "
        "generator's buffers are not the backbone.",
        batch=2048,
        tail="The checkpoint's backbone.* but its mask_token, its learnt pos_embed kept, the rest dropped. mmpretrain "
        "publishes no linear result for it; its fine-tuning averages the patch tokens (out_type avg_featmap, "
        "final_norm False), where timm's features are the class token after the norm, and evaluates with "
        "ResizeEdge(256) bilinear, CenterCrop(224) (benchmarks/vit-base-p16_8xb256-coslr-100e_in1k.py:35-40, 52-58).",
    ),
    # open-mmlab/mmpretrain's BEiT (v1) ViT-B/16, 300 epochs at batch 2048 (configs/beit/metafile.yml:23-35).
    _Release(
        "beit_base_patch16_224",
        "beit_mmpretrain_ep300",
        method="beit",
        origin="mmpretrain",
        url=f"{_MM}/beit/beit_vit-base-p16_8xb256-amp-coslr-300e_in1k/"
        "beit_vit-base-p16_8xb256-amp-coslr-300e_in1k_20221128-ab79e626.pth",
        converter="mmpretrain_beit",
        license="apache-2.0",
        epochs=300,
        batch=2048,
        linear=None,
        finetune=83.1,
        published_hash=("sha256-prefix", "ab79e626"),
        results_source=(
            "mmpretrain's BEiT results (configs/beit/README.md:74)",
            _line_anchor(f"https://github.com/open-mmlab/mmpretrain/blob/{_MM_COMMIT}/configs/beit/README.md", "74"),
        ),
        # The fine-tuning config's test pipeline and normalisation (benchmarks/beit-base-p16_8xb128-coslr-100e_in1k.py:
        # 7-12, 67-77): ResizeEdge(256) bicubic, CenterCrop(224), mean and std 127.5.
        preprocessing=Preprocessing(interpolation="bicubic", crop_pct=224 / 256, mean=(0.5,) * 3, std=(0.5,) * 3),
        model_args={"global_pool": "token"},
        note="mmpretrain's BEiTPretrainViT (mmpretrain/models/selfsup/beit.py:110-217) of arch base, timm's "
        "beit_base_patch16_224: q and v biases, layer scale, a relative position bias and no absolute position "
        "embedding; the classifier over the DALL-E visual tokens (head), the DALL-E tokenizer (target_generator) and "
        "the mask token are not the backbone. Its one relative position bias, shared by the blocks, is copied into "
        "each, as the fine-tuning config loads it (use_rel_pos_bias; backbones/beit.py:621-631). mmpretrain "
        "publishes no linear result for it; its fine-tuning keeps the final norm and averages the patch tokens "
        "through a new norm (out_type avg_featmap: benchmarks/beit-base-p16_8xb128-coslr-100e_in1k.py:17-27, "
        "backbones/beit.py:478-482, 613-614), which timm's Beit builds only with that new norm's weights, not in the "
        "checkpoint, in place of the final norm (global_pool 'avg', fc_norm). model_args global_pool 'token' keep "
        "the final norm and read the class token after it, as the pre-trained network computes it.",
    ).entry(),
    # open-mmlab/mmpretrain's MFF ViT-B/16, 300 and 800 epochs (configs/mff/metafile.yml:16-43).
    *(
        _mmpretrain_vit(
            "vit_base_patch16_224",
            "mff",
            epochs,
            f"mff_vit-base-p16_8xb512-amp-coslr-{epochs}e_in1k/"
            f"mff_vit-base-p16_8xb512-amp-coslr-{epochs}e_in1k_{date}.pth",
            lines,
            results,
            _MMPRETRAIN_MFF,
            origin_files=("mmpretrain", _MM_V1),
        )
        for epochs, date, lines, results in (
            (300, "20230801-3c1bcce4", "46, 48", (64.2, 83.0)),
            (800, "20230801-3af7cd9d", "47, 49", (68.3, 83.7)),
        )
    ),
    # open-mmlab/mmselfsup's PixMIM ViT-B/16, 300 and 800 epochs (configs/selfsup/pixmim/metafile.yml:16-55), which
    # mmpretrain did not take over.
    *(
        _mmpretrain_vit(
            "vit_base_patch16_224",
            "pixmim",
            epochs,
            f"pixmim_vit-base-p16_8xb512-amp-coslr-{epochs}e_in1k/"
            f"pixmim_vit-base-p16_8xb512-amp-coslr-{epochs}e_in1k_{date}.pth",
            lines,
            results,
            _MMSELFSUP_PIXMIM,
            tail=_MMSELFSUP_PIXMIM_LINEAR,
            origin_files=("mmselfsup", _MM),
        )
        for epochs, date, lines, results in (
            (300, "20230322-3304a88c", "61-64", (63.3, 83.1)),
            (800, "20230322-e8137924", "72-75", (67.5, 83.5)),
        )
    ),
    # open-mmlab/mmpretrain's SimMIM Swin-B at 192 px, 100 and 800 epochs, and Swin-L, 800 epochs, at batch 2048
    # (configs/simmim/metafile.yml:16-55).
    _simmim_swin(
        "swin_base_patch4_window7_224",
        100,
        "simmim_swin-base_8xb256-amp-coslr-100e_in1k-192/simmim_swin-base_8xb256-amp-coslr-100e_in1k-192_20220829-0e15782d.pth",
        76,
        82.7,
        f"{_SIMMIM_SWIN_B} The fine-tuned number is that 192-px network's (benchmarks/swin-base-w6_8xb256-coslr-100e_"
        "in1k-192px.py); fine-tuned at 224 px with windows of 7 it is 83.5 (README.md:77).",
        window_size=6,
    ),
    _simmim_swin(
        "swin_base_patch4_window7_224",
        800,
        "simmim_swin-base_16xb128-amp-coslr-800e_in1k-192/simmim_swin-base_16xb128-amp-coslr-800e_in1k-192_20220916-a0e931ac.pth",
        78,
        83.8,
        f"{_SIMMIM_SWIN_B} Its one published result fine-tunes at 224 px with windows of 7 (benchmarks/swin-base-w7_"
        "8xb256-coslr-100e_in1k.py:34-56, the bias tables resized on loading: backbones/swin_transformer.py:520-548), "
        "not the 192-px network this entry builds. The metafile's 100 epochs for this file (metafile.yml:32) are the "
        "100-epoch row's, copied: its config trains 800 (simmim_swin-base-w6_16xb128-amp-coslr-800e_in1k-192px.py:57).",
        window_size=6,
    ),
    _simmim_swin(
        "swin_large_patch4_window7_224",
        800,
        "simmim_swin-large_16xb128-amp-coslr-800e_in1k-192/simmim_swin-large_16xb128-amp-coslr-800e_in1k-192_20220916-4ad216d3.pth",
        79,
        84.8,
        "mmpretrain's SimMIMSwinTransformer of arch large, pre-trained at 192 px with windows of 12 and pad_small_map "
        "(configs/simmim/simmim_swin-large-w12_16xb128-amp-coslr-800e_in1k-192px.py:9-14): the third stage's 12 x 12 "
        "map is one window, which it still shifts, and the last stage's 6 x 6 map is padded to one window "
        "(mmpretrain/models/utils/attention.py:399-424). timm's swin_large_patch4_window7_224 with model_args "
        "img_size 192, window_size 12 and always_partition keeps every stage's windows and shifts so, with the same "
        "features (the padding masked out of the shifted windows and attended in the others, in both). Its one "
        "published result fine-tunes at 224 px with windows of 14 (benchmarks/swin-large-w14_8xb256-coslr-100e_"
        "in1k.py:34-58), not the 192-px network this entry builds. The metafile's 100 epochs for this file "
        "(metafile.yml:45) are the 100-epoch row's, copied: its config trains 800 (max_epochs, :58).",
        window_size=12,
        always_partition=True,
    ),
    # open-mmlab/mmpretrain's SparK ConvNeXt-V2-T, 800 epochs (configs/spark/metafile.yml:47-58).
    _Release(
        "convnextv2_tiny",
        "spark_mmpretrain_ep800",
        method="spark",
        origin="mmpretrain",
        url=f"{_MM_V1}/spark/spark_sparse-convnextv2-tiny_16xb256-amp-coslr-800e_in1k/"
        "spark_sparse-convnextv2-tiny_16xb256-amp-coslr-800e_in1k_20230612-b0ea712e.pth",
        converter="mmpretrain_convnext",
        license="apache-2.0",
        epochs=800,
        batch=4096,
        linear=None,
        finetune=82.8,
        published_hash=("sha256-prefix", "b0ea712e"),
        results_source=(
            "mmpretrain's SparK results (configs/spark/README.md:76)",
            _line_anchor(f"{_MM_READMES['mmpretrain'][0]}/configs/spark/README.md", "76"),
        ),
        # The fine-tuning's evaluation: ResizeEdge(256) bicubic, CenterCrop(224) (configs/_base_/datasets/
        # imagenet_bs64_swin_224.py:43-53).
        preprocessing=Preprocessing(interpolation="bicubic", crop_pct=224 / 256),
        note="mmpretrain's SparseConvNeXt (mmpretrain/models/backbones/sparse_convnext.py:68-237) of arch tiny with "
        "GRN and no layer scale (configs/spark/spark_sparse-convnextv2-tiny_16xb256-amp-coslr-800e_in1k.py:17-25), "
        "ConvNeXt V2's block: timm's convnextv2_tiny. The checkpoint's backbone.* converted by mmpretrain_convnext; "
        "SparK's decoder (neck), enc_dec_norms, enc_dec_projectors and mask_tokens dropped. Pre-training has no final "
        "norm: timm's head norm is LayerNorm's initial ones and zeros, as the new norm3 with which SparK's "
        "fine-tuning normalises the pooled features starts (benchmarks/convnextv2-tiny_8xb256-coslr-300e_in1k.py:"
        "52-58; backbones/convnext.py:234, 335-337, 348-350), so timm's features are the average-pooled last stage, "
        "normalised without an affine map. Batch 16 x 256 = 4096 (the config, :6-7); the metafile gives no epochs or "
        "batch for the file, the config trains 800 (:77). mmpretrain publishes no linear result; the number is the "
        "300-epoch fine-tune's (top-5 96.3), evaluated with ResizeEdge(256) bicubic, CenterCrop(224).",
    ).entry(),
    # facebookresearch/mae: the pre-trained checkpoints, as timm publishes them (linear FINETUNE.md:172-176,
    # fine-tuned README.md:73-79).
    _mae_vit("vit_base_patch16_224", "base", "8cad7c", 67.8, 68.0, 83.6),
    _mae_vit("vit_large_patch16_224", "large", "b8b06e", 76.0, 75.8, 85.9),
    _mae_vit("vit_huge_patch14_224", "huge", "9bdbb0", 77.2, 76.6, 86.9),
    # facebookresearch/ijepa: the README's pretrained models (README.md:49-88@52c1ae9), their configs' epochs.
    _ijepa_vit(
        "vit_huge_patch14_gap_224",
        "in1k",
        300,
        "IN1K-vit.h.14-300e.pth.tar",
        "49-58",
        "ViT-H/14 at 224 px, 300 epochs (configs/in1k_vith14_ep300.yaml:45); batch 2048 is README.md:120's effective "
        "batch for this config (16 GPUs of its per-GPU 128, :2).",
    ),
    _ijepa_vit(
        "vit_huge_patch16_gap_448",
        "in1k",
        300,
        "IN1K-vit.h.16-448px-300e.pth.tar",
        "59-68",
        "ViT-H/16 at 448 px, 300 epochs (configs/in1k_vith16-448_ep300.yaml:7, 45); the config's per-GPU batch is 16 "
        "(:2) and the number of GPUs is not stated, so the batch is left empty (its log folder's name says bs.2048, "
        ":16).",
    ),
    _ijepa_vit(
        "vit_huge_patch14_gap_224",
        "in22k",
        66,
        "IN22K-vit.h.14-900e.pth.tar",
        "69-78",
        "ViT-H/14 on ImageNet-22k, 66 epochs (the README's table and configs/in22k_vith14_ep66.yaml:49; the file's "
        "name says 900e); the config's per-GPU batch is 32 (:6) and the number of GPUs is not stated, so the batch "
        "is left empty (its log folder's name says bs.2048, :20).",
    ),
    _ijepa_vit(
        "vit_giant_patch16_gap_224",
        "in22k",
        44,
        "IN22K-vit.g.16-600e.pth.tar",
        "79-88",
        "ViT-g/16 on ImageNet-22k, 44 epochs (the README's table and configs/in22k_vitg16_ep44.yaml:49; the file's "
        "name says 600e); the config's per-GPU batch is 16 (:6) and the number of GPUs is not stated, so the batch "
        "is left empty (its log folder's name says bs.2048, :20).",
    ),
    # Supervised references (torchvision), to compare the self-supervised ones with.
    _ResNet(
        "supervised_tv_in1k",
        method="supervised",
        origin="torchvision",
        converter="torchvision",
        license="bsd-3-clause",
        epochs=None,
        batch=None,
        url="https://download.pytorch.org/models/resnet50-0676ba61.pth",
        hash_kind="sha256-prefix",
        published_hash="0676ba61",
        linear=76.13,
        note="Supervised reference (IMAGENET1K_V1; timm's resnet50.tv_in1k); its accuracy is the full classifier's.",
    ).entry(),
    _ResNet(
        "supervised_tv2_in1k",
        method="supervised",
        origin="torchvision",
        converter="torchvision",
        license="bsd-3-clause",
        epochs=None,
        batch=None,
        url="https://download.pytorch.org/models/resnet50-11ad3fa6.pth",
        hash_kind="sha256-prefix",
        published_hash="11ad3fa6",
        linear=80.858,
        preprocessing=Preprocessing(interpolation="bilinear", crop_pct=224 / 232),
        note="Supervised reference (IMAGENET1K_V2, resize 232 / crop 224; timm's resnet50.tv2_in1k).",
    ).entry(),
    _ResNet(
        "supervised_tv_legacy_in1k",
        method="supervised",
        origin="torchvision",
        converter="torchvision",
        license="bsd-3-clause",
        epochs=None,
        batch=None,
        url="https://download.pytorch.org/models/resnet50-19c8e357.pth",
        hash_kind="sha256-prefix",
        published_hash="19c8e357",
        linear=76.1,
        results_source=("the VISSL model zoo", "https://github.com/facebookresearch/vissl/blob/main/MODEL_ZOO.md"),
        note="The pre-0.13 torchvision URL (VISSL's supervised baseline, whose MODEL_ZOO.md gives the 76.1; "
        "torchvision's own weights code lists only 0676ba61 and 11ad3fa6); licence assumed to be torchvision's.",
    ).entry(),
    # Ours.
    ZooEntry(
        name="resnet18.simsiam_fashion_mnist_demo",
        arch="resnet18",
        hub_id="simsiam-zoo/resnet18.simsiam_fashion_mnist_demo",
        summary="ResNet-18 pretrained with SimSiam on Fashion-MNIST at 32 px on a CPU (`simsiam-zoo demo`).",
        license="mit",
        pretrain_dataset="zalando-datasets/fashion_mnist",
        epochs=5,
        batch_size=256,
        preprocessing=FASHION_MNIST_PREPROCESSING,
        recipe="simsiam_r18_fashion_mnist",
        aliases=("simsiam_resnet18.fashion_mnist_demo",),
        note="Made by `simsiam-zoo demo` on your machine and published to its local hub; not on the Hub.",
    ),
)

ZOO: dict[str, ZooEntry] = {entry.name: entry for entry in _ENTRIES}
# Names entries had before they took timm's `arch.tag` form; they still resolve.
ALIASES: dict[str, str] = {alias: entry.name for entry in _ENTRIES for alias in entry.aliases}
