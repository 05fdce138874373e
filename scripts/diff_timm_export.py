"""Export the same backbone twice, with simsiam-zoo's hub writer and with timm's own `save_for_hf`, and print how
the two folders differ: files, `config.json` keys (in order) and weights.

    python scripts/diff_timm_export.py resnet18 convnext_tiny --image-size 32

Every difference should be information this project adds (card, recipe, the weights' own tag, licence, origin and
paper) or removes on purpose (timm's `model_args`, which transformers' TimmWrapperModel cannot read when they repeat
`num_classes`; the test-time sizes of timm's default weights). tests/hub/test_folder.py checks exactly that list.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

import timm
import torch
from safetensors.torch import load_file

from simsiam_zoo.augment import Preprocessing
from simsiam_zoo.hub.cards import CardFields, render_card
from simsiam_zoo.hub.folder import CONFIG_NAME, WEIGHTS_NAME, timm_config, write_hub_folder


def export_both(arch: str, preprocessing: Preprocessing, root: Path) -> tuple[Path, Path]:
    """(our folder, timm's folder) for one randomly initialised `arch` backbone."""
    torch.manual_seed(0)
    model = timm.create_model(arch, num_classes=0).eval()
    ours = write_hub_folder(
        root / "ours",
        backbone_state=model.state_dict(),
        config=timm_config(model, preprocessing=preprocessing, tag="example", license="mit"),
        card=render_card(
            CardFields(
                name=f"{arch}.example",
                repo_id=f"example/{arch}.example",
                arch=arch,
                num_features=model.num_features,
                summary="An example.",
                license="mit",
                datasets=[],
                preprocessing=preprocessing,
                recipe_summary="Random weights.",
            )
        ),
    )
    theirs = root / "timm"
    data_config = {
        "input_size": preprocessing.input_size,
        "interpolation": preprocessing.interpolation,
        "crop_pct": preprocessing.crop_pct,
        "crop_mode": "center",
        "mean": preprocessing.mean,
        "std": preprocessing.std,
    }
    try:
        timm.models.save_for_hf(model, str(theirs), safe_serialization=True, data_config=data_config)
    except TypeError:  # timm before data_config: its config then carries timm's default preprocessing
        timm.models.save_for_hf(model, str(theirs), safe_serialization=True)
    return ours, theirs


def config_differences(ours: dict[str, Any], theirs: dict[str, Any], prefix: str = "") -> list[str]:
    """`+key` (only ours), `-key` (only timm's), `~key` (other value), for nested keys, in timm's key order."""
    lines = []
    for key in dict.fromkeys([*theirs, *ours]):
        path = f"{prefix}{key}"
        if key not in ours:
            lines.append(f"-{path}")
        elif key not in theirs:
            lines.append(f"+{path}")
        elif isinstance(ours[key], dict) and isinstance(theirs[key], dict):
            lines += config_differences(ours[key], theirs[key], prefix=f"{path}.")
        elif json.dumps(ours[key]) != json.dumps(theirs[key]):
            lines.append(f"~{path}")
    return lines


def common_order_agrees(ours: dict[str, Any], theirs: dict[str, Any]) -> bool:
    """Whether the keys both configs have come in the same order, at every level."""
    shared = [key for key in ours if key in theirs]
    if shared != [key for key in theirs if key in ours]:
        return False
    return all(
        common_order_agrees(ours[key], theirs[key])
        for key in shared
        if isinstance(ours[key], dict) and isinstance(theirs[key], dict)
    )


def differences(arch: str, preprocessing: Preprocessing) -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        ours, theirs = export_both(arch, preprocessing, Path(tmp))
        our_files = {p.name for p in ours.iterdir()}
        their_files = {p.name for p in theirs.iterdir()}
        lines = [f"+file {name}" for name in sorted(our_files - their_files)]
        lines += [f"-file {name}" for name in sorted(their_files - our_files)]
        our_config = json.loads((ours / CONFIG_NAME).read_text())
        their_config = json.loads((theirs / CONFIG_NAME).read_text())
        lines += [f"config.json {line}" for line in config_differences(our_config, their_config)]
        if not common_order_agrees(our_config, their_config):
            lines.append("config.json: keys in another order")
        a, b = load_file(ours / WEIGHTS_NAME), load_file(theirs / WEIGHTS_NAME)
        if a.keys() != b.keys() or any(not torch.equal(a[k], b[k]) for k in a):
            lines.append("model.safetensors: other tensors")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("archs", nargs="*", default=["resnet18", "resnet50", "convnext_tiny"])
    parser.add_argument("--image-size", type=int, default=224)
    args = parser.parse_args()
    preprocessing = Preprocessing(input_size=(3, args.image_size, args.image_size))
    print(f"timm {timm.__version__}; + only in simsiam-zoo's folder, - only in timm's, ~ other value")
    for arch in args.archs:
        print(f"{arch}:")
        for line in differences(arch, preprocessing):
            print(f"  {line}")


if __name__ == "__main__":
    main()
