"""The standard transfer suite as Hugging Face Hub datasets: which repo, splits and columns each name means.

The splits are the ones the transfer studies use (Ericsson et al., CVPR 2021, `linusericsson/ssl-transfer`):
where a dataset has a validation split (Aircraft, DTD, Flowers) the model is fitted on train and validation
together and scored on test. Each repo holds parquet files (no loading script), so `datasets.load_dataset` reads it
from the Hub, or from its cache with `HF_DATASETS_OFFLINE=1`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HubDataset:
    name: str  # what `--data` and `open_source` accept, with `:train` or `:test` for one split
    title: str
    repo_id: str
    train_split: str  # a `datasets` split expression, e.g. "train+validation"
    test_split: str
    image_column: str
    label_column: str
    num_classes: int
    license: str  # as the dataset card states it, "unknown" where it states none
    card: str  # the page that says so


def _entry(name: str, title: str, repo_id: str, **fields: str | int) -> HubDataset:
    defaults = {"train_split": "train", "test_split": "test", "image_column": "image", "label_column": "label"}
    card = f"https://huggingface.co/datasets/{repo_id}"
    return HubDataset(name=name, title=title, repo_id=repo_id, card=card, **{**defaults, **fields})


TRANSFER_SUITE = {
    entry.name: entry
    for entry in (
        _entry("cifar10", "CIFAR-10", "uoft-cs/cifar10", image_column="img", num_classes=10, license="unknown"),
        _entry(
            "cifar100",
            "CIFAR-100",
            "uoft-cs/cifar100",
            image_column="img",
            label_column="fine_label",
            num_classes=100,
            license="unknown",
        ),
        _entry(
            "flowers102",
            "Oxford Flowers-102",
            "dpdl-benchmark/oxford_flowers102",
            train_split="train+validation",
            num_classes=102,
            license="unknown",
        ),
        _entry("pets", "Oxford-IIIT Pets", "timm/oxford-iiit-pet", num_classes=37, license="cc-by-sa-4.0"),
        _entry(
            "dtd",
            "Describable Textures (split 1)",
            "mcimpoi/dtd_split_1",
            train_split="train+validation",
            num_classes=47,
            license="cc-by-4.0",
        ),
        # The Hub's "validation" split is Food-101's official test set (250 images a class); it has no "test".
        _entry("food101", "Food-101", "ethz/food101", test_split="validation", num_classes=101, license="unknown"),
        # The 100 variants are "variation"; this repo's "label" is the 70 families.
        _entry(
            "fgvc_aircraft",
            "FGVC-Aircraft (variants)",
            "Donghyun99/FGVC-Aircraft",
            train_split="train+val",
            label_column="variation",
            num_classes=100,
            license="unknown",
        ),
        _entry("cars", "Stanford Cars", "tanganke/stanford_cars", num_classes=196, license="unknown"),
        # 30 images a class for training, as TFDS splits it (with the background class); not ssl-transfer's own lists.
        _entry("caltech101", "Caltech-101", "dpdl-benchmark/caltech101", num_classes=102, license="unknown"),
        _entry("sun397", "SUN397 (partition 1)", "tanganke/sun397", num_classes=397, license="unknown"),
        _entry("eurosat", "EuroSAT (RGB)", "timm/eurosat-rgb", num_classes=10, license="mit"),
    )
}
