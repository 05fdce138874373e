"""What several test modules build: coloured images (an easy dataset any working model separates), a
ResNet-18 hub folder and class folders of PNGs on disk. `conftest.py` makes the folders fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import timm
import torch
from PIL import Image

from simsiam_zoo.augment import Preprocessing
from simsiam_zoo.hub.folder import timm_config, write_hub_folder
from simsiam_zoo.options import RunOptions
from simsiam_zoo.protocols import TensorImages

PREPROCESSING = Preprocessing(input_size=(3, 32, 32), crop_pct=1.0, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
COLOURS = torch.tensor([[220, 40, 40], [40, 200, 40], [40, 60, 220], [210, 210, 50]])
CLASSES = ["red", "green", "blue", "yellow"]
ONE_THREAD = {**os.environ, "OMP_NUM_THREADS": "1"}  # a subprocess with one intra-op thread, as one_thread
QUIET = RunOptions(progress=False)


def coloured(size: int, *, seed: int, image_size: int = 32) -> TensorImages:
    """Class c is a noisy image of colour c: easy enough that any working fine-tune beats chance by far."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(size) % len(COLOURS)
    noise = torch.randint(-40, 40, (size, 3, image_size, image_size), generator=g)
    images = (COLOURS[labels][:, :, None, None] + noise).clamp(0, 255).to(torch.uint8)
    return TensorImages(images, labels, classes=CLASSES, paths=[f"coloured/{i}.png" for i in range(size)])


def build_hub_folder(root: Path) -> Path:
    """A random-init ResNet-18 hub folder at 32 px, as `export` writes them."""
    torch.manual_seed(0)
    # timm zero-inits each block's last BN, which leaves random features nearly constant; without it they
    # separate digits (~90% linear), a stand-in for pretrained features.
    model = timm.create_model("resnet18", pretrained=False, num_classes=0, zero_init_last=False)
    # Running BN statistics of images like the test data, as a pretrained backbone has: without them eval
    # mode would see activations hundreds of times larger than at the few fine-tuning steps' batches.
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for bn in bns:
        bn.momentum = None  # cumulative average
    with torch.no_grad():
        model.train()(PREPROCESSING.transform()(torch.randint(0, 256, (64, 3, 32, 32), dtype=torch.uint8)))
    for bn in bns:
        bn.momentum = 0.1
    config = timm_config(model, preprocessing=PREPROCESSING, tag="test", license="mit")
    card = "---\nlibrary_name: timm\nlicense: mit\n---\n\nsha256 {{weights_sha256}}\n"
    return write_hub_folder(root / "resnet18.test", backbone_state=model.state_dict(), config=config, card=card)


def build_image_folder(root: Path) -> Path:
    """train/ and val/ class folders of coloured PNGs under `root`."""
    for split, size, seed in (("train", 24, 1), ("val", 8, 2)):
        data = coloured(size, seed=seed)
        for i in range(size):
            image, label = data[i]
            folder = root / split / CLASSES[label]
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image.permute(1, 2, 0).numpy()).save(folder / f"{split}{i}.png")
    return root
