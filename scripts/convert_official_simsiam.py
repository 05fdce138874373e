"""Turn the official SimSiam release into the zoo entry `simsiam_resnet50.in1k_ep100_bs512`.

Needs internet (dl.fbaipublicfiles.com and, with --push, the Hugging Face Hub), so it is documented and
run by a maintainer, not by CI. Steps:

    python scripts/convert_official_simsiam.py --out hub/simsiam_resnet50.in1k_ep100_bs512          # download+convert
    python scripts/convert_official_simsiam.py --checkpoint checkpoint_0099.pth.tar --out hub/...  # already downloaded
    simsiam-zoo push hub/simsiam_resnet50.in1k_ep100_bs512 --repo-id simsiam-zoo/simsiam_resnet50.in1k_ep100_bs512

It prints the sha256 of model.safetensors: paste it into the entry's `sha256` in simsiam_zoo/hub/registry.py
so that every later download is checked against it.
"""

from __future__ import annotations

import argparse
import urllib.request
from pathlib import Path

from simsiam_zoo._io import atomic_path
from simsiam_zoo.hub.export import convert_to_hub
from simsiam_zoo.hub.folder import WEIGHTS_NAME, sha256_file
from simsiam_zoo.hub.registry import ZOO

NAME = "simsiam_resnet50.in1k_ep100_bs512"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, default=None, help="Local copy of checkpoint_0099.pth.tar.")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    entry = ZOO[NAME]
    checkpoint = args.checkpoint
    if checkpoint is None:
        checkpoint = args.out.parent / "checkpoint_0099.pth.tar"
        if not checkpoint.exists():
            print(f"downloading {entry.source_url}")
            with atomic_path(checkpoint) as tmp, urllib.request.urlopen(entry.source_url) as response:
                tmp.write_bytes(response.read())
    detected, folder = convert_to_hub(checkpoint, args.out, name=NAME, source="official_simsiam")
    print(f"converted {checkpoint} ({detected}) -> {folder}")
    print(f"sha256 of {WEIGHTS_NAME}: {sha256_file(folder / WEIGHTS_NAME)}  (put it in the registry entry)")


if __name__ == "__main__":
    main()
