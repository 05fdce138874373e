"""What a zoo entry is: a frozen record of a released checkpoint (where it is, its hash, licence, preprocessing,
training and published results) and of the file it came from."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from simsiam_zoo.augment import Preprocessing

MIRROR_ORG = "simsiam-zoo"
TIMM_ORG = "timm"  # the Hub organisation of timm's own weights (`hf_hub_id='timm/'` in its pretrained cfgs)
# The evaluation transform of these projects' linear protocols (torchvision: Resize(256), CenterCrop(224), bilinear).
IMAGENET_EVAL = Preprocessing(interpolation="bilinear", crop_pct=0.875)
# Licences under which the weights may be passed on (CC BY-NC: non-commercially, with attribution).
REDISTRIBUTABLE = ("apache-2.0", "mit", "bsd-3-clause", "cc-by-nc-4.0")
HashKind = Literal["sha256-prefix", "md5-prefix", "none"]
# Where an entry's licence comes from (README's licence rule): what the weights' own source states for them; else
# the licence of the repository that releases them; else none ("unknown").
LicenseBasis = Literal["weights", "repository", "none"]
_LICENSE_BASIS_TEXT = {
    "weights": "as the source states it for the weights",
    "repository": "the licence of the repository that releases the weights, which states none for the weights alone",
    "none": "neither the weights' source nor its repository states one",
}


@dataclass(frozen=True)
class Result:
    task: str  # "knn", "linear", "finetune", "supervised", ...
    dataset: str  # Hub dataset id, e.g. "imagenet-1k"
    metric: str  # "top-1 accuracy"
    value: float
    source: str  # where the number comes from
    source_url: str | None = None


@dataclass(frozen=True)
class Source:
    """The original checkpoint: where it is, the hash published with it, and the converter that reads it."""

    url: str
    converter: str | None  # a name in simsiam_zoo.convert.CONVERTERS; None where no converter can read the file
    hash_kind: HashKind = "none"
    published_hash: str | None = None  # the prefix as published (OpenMMLab/torchvision: sha256[:8]; MoCo: md5[:8])
    # The whole file's sha256, pinned once a download has been verified; checked on every later download.
    sha256: str | None = None

    @property
    def filename(self) -> str:
        return self.url.split("?")[0].rsplit("/", 1)[-1].replace("%3D", "=")


@dataclass(frozen=True)
class ZooEntry:
    name: str
    arch: str
    hub_id: str
    summary: str
    license: str  # the Hub's licence id (SPDX where one exists); "unknown" when the source states none
    pretrain_dataset: str
    epochs: int | None  # None: not stated by the source (see note)
    batch_size: int | None
    preprocessing: Preprocessing
    method: str = "simsiam"
    filename: str = "model.safetensors"
    # sha256 of `filename` in the Hub mirror `hub_id`; None until mirrored and pinned: then the original is fetched.
    sha256: str | None = None
    revision: str | None = None
    recipe: str | None = None
    source: Source | None = None
    results: tuple[Result, ...] = field(default_factory=tuple)
    note: str | None = None
    aliases: tuple[str, ...] = ()
    unsupported: str | None = None  # why this checkpoint cannot be loaded, for `models --all`
    license_basis: LicenseBasis = "weights"
    # timm arguments the weights' network takes beyond `arch`'s defaults (config.json's `model_args`).
    model_args: Mapping[str, Any] = field(default_factory=dict, hash=False)
    # A licence that has no Hub id is `other`, with the name and the link to its text the Hub shows (cards).
    license_name: str | None = None
    license_link: str | None = None

    @property
    def published_by_timm(self) -> bool:
        """Whether `hub_id` is timm's own repo of these very weights: loads come from it, nothing is converted."""
        return self.hub_id.startswith(f"{TIMM_ORG}/")

    @property
    def converted_from_source(self) -> bool:
        """Whether loads convert the original file into the cache: not mirrored (or not pinned yet), not timm's."""
        return self.source is not None and self.sha256 is None and not self.published_by_timm

    @property
    def license_origin(self) -> str:
        """Where the licence comes from, in words (for cards and `models`)."""
        return f"{self.license_name or self.license}: {_LICENSE_BASIS_TEXT[self.license_basis]}"

    @property
    def source_url(self) -> str | None:
        return self.source.url if self.source else None

    @property
    def linear_top1(self) -> float | None:
        return next(
            (
                r.value
                for r in self.results
                if (r.task, r.dataset, r.metric) == ("linear", "imagenet-1k", "top-1 accuracy")
            ),
            None,
        )

    @property
    def redistributable(self) -> bool:
        return self.license in REDISTRIBUTABLE

    def summary_row(self) -> dict[str, Any]:
        """The facts `simsiam-zoo models` shows, as JSON-ready values."""
        return {
            "name": self.name,
            "arch": self.arch,
            "method": self.method,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "linear_top1": self.linear_top1,
            "license": self.license,
            "license_name": self.license_name,
            "license_basis": self.license_basis,
            "hub_id": self.hub_id,
            "hub_sha256": self.sha256,
            "source_url": self.source_url,
            "converter": self.source.converter if self.source else None,
            "source_hash": f"{self.source.hash_kind}:{self.source.published_hash}"
            if self.source and self.source.published_hash
            else None,
            "recipe": self.recipe,
            "model_args": dict(self.model_args),
            "results": [asdict(result) for result in self.results],
            "aliases": list(self.aliases),
            "note": self.note,
            "unsupported": self.unsupported,
        }
