"""The zoo: one explicit registry of `arch.tag` names, each a frozen entry (like timm's pretrained cfgs,
but a literal dict rather than module attributes)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from simsiam_zoo.hub.folder import Preprocessing

FASHION_MNIST_PREPROCESSING = Preprocessing(
    input_size=(3, 32, 32), interpolation="bicubic", crop_pct=1.0, mean=(0.286,) * 3, std=(0.353,) * 3
)


@dataclass(frozen=True)
class Result:
    task: str  # "knn", "linear", "semi-1%", "semi-10%", "transfer"
    dataset: str  # Hub dataset id, e.g. "imagenet-1k"
    metric: str  # "top-1 accuracy"
    value: float
    source: str  # where the number comes from
    source_url: str | None = None


@dataclass(frozen=True)
class ZooEntry:
    name: str
    arch: str
    hub_id: str
    summary: str
    license: str
    pretrain_dataset: str
    epochs: int
    batch_size: int
    preprocessing: Preprocessing
    filename: str = "model.safetensors"
    # sha256 of `filename` as published; None until the file has been produced and uploaded.
    sha256: str | None = None
    revision: str | None = None
    recipe: str | None = None
    source_url: str | None = None
    results: tuple[Result, ...] = field(default_factory=tuple)


ZOO: dict[str, ZooEntry] = {
    entry.name: entry
    for entry in (
        ZooEntry(
            name="simsiam_resnet50.in1k_ep100_bs512",
            arch="resnet50",
            hub_id="simsiam-zoo/simsiam_resnet50.in1k_ep100_bs512",
            summary="The official SimSiam ResNet-50 release (100 epochs, batch 512), converted to timm keys.",
            license="cc-by-nc-4.0",
            pretrain_dataset="imagenet-1k",
            epochs=100,
            batch_size=512,
            preprocessing=Preprocessing(),
            recipe="simsiam_r50_in1k_ep100",
            source_url="https://dl.fbaipublicfiles.com/simsiam/models/100ep/pretrain/checkpoint_0099.pth.tar",
            results=(
                Result("linear", "imagenet-1k", "top-1 accuracy", 68.1,
                       "official SimSiam README (LARS linear classifier, 90 epochs)",
                       "https://github.com/facebookresearch/simsiam"),
            ),
        ),
        ZooEntry(
            name="simsiam_resnet18.fashion_mnist_demo",
            arch="resnet18",
            hub_id="simsiam-zoo/simsiam_resnet18.fashion_mnist_demo",
            summary="ResNet-18 pretrained with SimSiam on Fashion-MNIST at 32 px on a CPU (`simsiam-zoo demo`).",
            license="mit",
            pretrain_dataset="fashion_mnist",
            epochs=5,
            batch_size=256,
            preprocessing=FASHION_MNIST_PREPROCESSING,
            recipe="simsiam_r18_fashion_mnist",
        ),
    )
}


class UnknownModelError(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


def get_entry(name: str) -> ZooEntry:
    try:
        return ZOO[name]
    except KeyError:
        close = difflib.get_close_matches(name, ZOO, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else "; `simsiam-zoo models` lists them"
        raise UnknownModelError(f"{name}: unknown zoo model{hint}") from None
