"""What DATA is, for training, extraction and evaluation: image folders, list files, WebDataset tar shards and
Hugging Face datasets (one `ImageSource`; the transfer suite's by name), Fashion-MNIST idx files, fake data.

Every source yields `(uint8 tensor (3, H, W), label)`, label -1 when unknown. Random augmentation is
seeded per (seed, epoch, index) so a batch is the same whatever the worker count and after a resume.
"""

from simsiam_zoo.data.builtin import (
    FASHION_MNIST_CLASSES,
    FASHION_MNIST_DIR,
    FASHION_MNIST_SUBSET_DIR,
    FakeImages,
    FashionMNIST,
    default_fashion_mnist_root,
)
from simsiam_zoo.data.decode import (
    IMAGE_EXTENSIONS,
    NextIfUndecodable,
    NoneIfUndecodable,
    decode_image,
    not_decoding,
)
from simsiam_zoo.data.resolve import (
    held_out_folder,
    held_out_images,
    is_named_source,
    labelled_images,
    open_source,
)
from simsiam_zoo.data.sampler import EpochSampler, dataset_stretches, rank_stretches
from simsiam_zoo.data.source import (
    NAMED_SOURCES,
    ImageSource,
    SourceImages,
    dataset_fingerprint,
    former_listing_sha256,
    image_keys,
    images_fingerprint,
    listing_sha256,
    numbered_alike,
    unlabelled,
)
from simsiam_zoo.data.suite import TRANSFER_SUITE, HubDataset
from simsiam_zoo.data.tar import MAX_CLASS_LABEL, expand_braces, read_tars
from simsiam_zoo.data.wrappers import LabelledSubset, Transformed

__all__ = [
    "NextIfUndecodable",
    "NoneIfUndecodable",
    "not_decoding",
    "EpochSampler",
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_DIR",
    "FASHION_MNIST_SUBSET_DIR",
    "FakeImages",
    "HubDataset",
    "FashionMNIST",
    "IMAGE_EXTENSIONS",
    "ImageSource",
    "LabelledSubset",
    "MAX_CLASS_LABEL",
    "NAMED_SOURCES",
    "SourceImages",
    "TRANSFER_SUITE",
    "Transformed",
    "dataset_fingerprint",
    "former_listing_sha256",
    "image_keys",
    "images_fingerprint",
    "dataset_stretches",
    "decode_image",
    "default_fashion_mnist_root",
    "expand_braces",
    "held_out_folder",
    "held_out_images",
    "is_named_source",
    "labelled_images",
    "listing_sha256",
    "open_source",
    "rank_stretches",
    "numbered_alike",
    "unlabelled",
    "read_tars",
]
