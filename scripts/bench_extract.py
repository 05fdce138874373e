"""Throughput of simsiam_zoo.features.extract_features against two baselines, on JPEG files it writes.

(a) ours: ``extract_features`` on the JPEG folder, end to end (listing, decoding in DataLoader workers,
    batched inference_mode forward in channels_last, writing safetensors shards and the index).
(b) ceiling: the bare model forward on as many in-memory, already transformed tensors, with the same batch
    size, precision and memory format; no decoding, no writing.
(c) torchvision's loader: ``datasets.ImageFolder`` + ``DataLoader`` with PIL ``Resize``/``CenterCrop``/
    ``ToTensor``/``Normalize``, the same batch size and worker count, into the same model run as (a) and (b)
    (precision, channels_last, inference_mode), embeddings kept in memory: only the way to the model differs.
(d) on CUDA only: timm's model compiled (``torch.compile``) with bf16 autocast on the in-memory tensors, the
    fastest plain inference a timm user would write.

Defaults are the zoo's main case: ResNet-50 at 224 px from JPEGs of 320 px (about ImageNet's typical size),
with extract_features' own worker default (none on a CPU device). Prints images/s of each and the ratios
(a)/(b), (a)/(c) and, on CUDA, (a)/(d); asserts nothing.

With ``--nproc N`` it measures the distributed extraction instead: the same JPEG folder extracted under torchrun
by N ranks and by 1 rank, printing both rates (the whole job's, from extract_features' summary) and their ratio.
On CPUs the machine's cores are split between the ranks (OMP_NUM_THREADS), so the ratio is what the split buys
on the same hardware; on GPUs each rank takes one device.
"""

from __future__ import annotations

import argparse
import copy
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import timm
import torch
from PIL import Image
from torch.utils.data import DataLoader
from torchvision import datasets
from torchvision import transforms as T

from simsiam_zoo.augment import eval_transform
from simsiam_zoo.data import decode_image
from simsiam_zoo.features import default_num_workers, extract_features

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
CROP_PCT = 0.875


def write_jpegs(root: Path, *, num_images: int, size: int, num_classes: int, seed: int) -> list[Path]:
    """Smooth random colour images (realistic JPEG sizes, unlike pure noise) in class folders."""
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(num_images):
        coarse = rng.integers(0, 256, (size // 8, size // 8, 3), dtype=np.uint8)
        image = Image.fromarray(coarse).resize((size, size), Image.Resampling.BICUBIC)
        path = root / f"class{i % num_classes:02d}" / f"{i:06d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        image.save(path, quality=90)
        paths.append(path)
    return paths


def best_rates(
    methods: list[Callable[[], None]], *, num_images: int, repeats: int, device: torch.device
) -> list[float]:
    """Images/s of each method's fastest run; rounds interleave the methods so that load spikes hit all."""
    times: list[list[float]] = [[] for _ in methods]
    for _ in range(repeats):
        for run, method_times in zip(methods, times, strict=True):
            start = time.perf_counter()
            run()
            if device.type == "cuda":
                torch.cuda.synchronize()
            method_times.append(time.perf_counter() - start)
    return [num_images / min(method_times) for method_times in times]


def rank_worker(args: argparse.Namespace) -> None:
    """One torchrun rank of the --nproc comparison: extract args.root into args.out and report the job's rate."""
    torch.manual_seed(args.seed)  # the same random weights on every rank
    model = timm.create_model(args.model, num_classes=0, pretrained=False).eval()
    transform = eval_transform(image_size=args.image_size, crop_pct=CROP_PCT, mean=MEAN, std=STD)
    summary = extract_features(
        model,
        transform,
        args.root,
        out=args.out,
        batch_size=args.batch_size,
        num_workers=args.num_workers,
        device=args.device,
        precision=args.precision,
        shard_size=args.shard_size,
        progress=False,
    )
    if os.environ.get("RANK", "0") == "0":
        print(f"rate {summary.images_per_second:.3f}")


def compare_ranks(args: argparse.Namespace) -> None:
    """Rates of the same extraction by args.nproc torchrun ranks and by one; prints their ratio."""
    cores = os.cpu_count() or 1
    # Shards are what ranks share: four a rank, each a whole number of batches, so that no rank idles for want of one.
    shard_size = max(args.batch_size, args.num_images // (4 * args.nproc) // args.batch_size * args.batch_size)
    with tempfile.TemporaryDirectory(prefix="bench_extract_") as tmp:
        root = Path(tmp) / "images"
        write_jpegs(root, num_images=args.num_images, size=args.jpeg_size, num_classes=10, seed=args.seed)
        rates = {}
        for nproc in (1, args.nproc):
            threads = max(1, cores // nproc) if args.device == "cpu" else 1
            command = [
                sys.executable,
                "-m",
                "torch.distributed.run",
                "--standalone",
                f"--nproc-per-node={nproc}",
                __file__,
                "--rank-worker",
                "--root",
                str(root),
                "--out",
                f"{tmp}/out-{nproc}",
                "--model",
                args.model,
                "--image-size",
                str(args.image_size),
                "--device",
                args.device,
                "--batch-size",
                str(args.batch_size),
                "--precision",
                args.precision,
                "--seed",
                str(args.seed),
                "--shard-size",
                str(shard_size),
            ]
            if args.num_workers is not None:
                command += ["--num-workers", str(args.num_workers)]
            done = subprocess.run(
                command, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": str(threads)}
            )
            if done.returncode != 0:
                raise SystemExit(f"{nproc}-rank extraction failed:\n{done.stderr[-3000:]}")
            rates[nproc] = float(re.search(r"^rate (\S+)$", done.stdout, re.MULTILINE).group(1))
            print(f"{nproc} rank(s) x {threads} thread(s): {rates[nproc]:8.1f} images/s")
    print(
        f"{args.num_images} JPEGs {args.jpeg_size}x{args.jpeg_size}, {args.model} at {args.image_size} px, "
        f"batch {args.batch_size}, shards of {shard_size}, {args.precision}, device {args.device}"
    )
    print(f"{args.nproc} ranks / 1 rank = {rates[args.nproc] / rates[1]:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-images", type=int, default=256)
    parser.add_argument("--image-size", type=int, default=224, help="side of the model input")
    parser.add_argument("--jpeg-size", type=int, default=320, help="side of the JPEG files")
    parser.add_argument("--model", default="resnet50", help="timm model name (random weights, pooled features)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument(
        "--num-workers",
        type=int,
        default=None,
        help="decoding processes for (a) and (c) (default: extract_features' choice for the device)",
    )
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32", help="for (a) and (b)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=3, help="best of this many interleaved runs per method")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--nproc", type=int, default=None, help="compare N torchrun ranks with one (see above)")
    parser.add_argument("--rank-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--shard-size", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rank_worker:
        return rank_worker(args)
    if args.nproc is not None:
        return compare_ranks(args)
    device = torch.device(args.device)
    # extract_features' own default, resolved here so that (c) gets the same count.
    workers = args.num_workers if args.num_workers is not None else default_num_workers(device)
    torch.manual_seed(args.seed)
    model = timm.create_model(args.model, num_classes=0, pretrained=False).eval()
    transform = eval_transform(image_size=args.image_size, crop_pct=CROP_PCT, mean=MEAN, std=STD)
    memory_format = torch.channels_last

    with tempfile.TemporaryDirectory(prefix="bench_extract_") as tmp:
        root = Path(tmp) / "images"
        paths = write_jpegs(root, num_images=args.num_images, size=args.jpeg_size, num_classes=10, seed=args.seed)
        runs = iter(range(args.repeats))

        def ours() -> None:
            extract_features(
                model,
                transform,
                root,
                out=Path(tmp) / f"out{next(runs)}",
                batch_size=args.batch_size,
                num_workers=workers,
                device=args.device,
                precision=args.precision,
                progress=False,
            )

        inputs = torch.stack([transform(decode_image(path)) for path in paths])
        inputs = inputs.to(device).contiguous(memory_format=memory_format)

        @torch.inference_mode()
        def bare() -> None:
            for start in range(0, len(inputs), args.batch_size):
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.precision == "bf16"):
                    model(inputs[start : start + args.batch_size])

        torchvision_transform = T.Compose(
            [
                T.Resize(round(args.image_size / CROP_PCT), interpolation=T.InterpolationMode.BICUBIC),
                T.CenterCrop(args.image_size),
                T.ToTensor(),
                T.Normalize(MEAN, STD),
            ]
        )
        loader = DataLoader(
            datasets.ImageFolder(str(root), transform=torchvision_transform),
            batch_size=args.batch_size,
            num_workers=workers,
        )

        @torch.inference_mode()
        def torchvision_loader() -> None:
            embeddings = []
            for images, _ in loader:
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.precision == "bf16"):
                    embeddings.append(model(images.to(device).contiguous(memory_format=memory_format)).cpu())
            torch.cat(embeddings)

        methods = [ours, bare, torchvision_loader]
        if device.type == "cuda":
            compiled = torch.compile(copy.deepcopy(model).to(device, memory_format=memory_format))

            @torch.inference_mode()
            def timm_compiled_bf16() -> None:
                for start in range(0, len(inputs), args.batch_size):
                    with torch.autocast("cuda", dtype=torch.bfloat16):
                        compiled(inputs[start : start + args.batch_size])

            methods.append(timm_compiled_bf16)

        model.to(device, memory_format=memory_format)
        with torch.inference_mode():  # warm-up: first-call allocations and kernel choices are not timed
            model(inputs[: args.batch_size])
            if device.type == "cuda":
                timm_compiled_bf16()  # compiles
        rates = best_rates(methods, num_images=args.num_images, repeats=args.repeats, device=device)

    print(
        f"{args.num_images} JPEGs {args.jpeg_size}x{args.jpeg_size}, {args.model} at {args.image_size} px, "
        f"batch {args.batch_size}, {workers} workers, {args.precision}, device {device}, "
        f"{torch.get_num_threads()} threads, best of {args.repeats}"
    )
    names = [
        "(a) extract_features: JPEG folder -> safetensors shards",
        "(b) bare model forward on pre-transformed tensors",
        "(c) torchvision ImageFolder + DataLoader, PIL transforms, the same model run",
        "(d) timm model, torch.compile + bf16 autocast, in-memory tensors",
    ]
    rows = list(zip(names, rates, strict=False))
    rate_ours, rate_bare, rate_torchvision = rates[:3]
    width = max(len(name) for name, _ in rows)
    print(f"{'method':<{width}}  images/s")
    for name, rate in rows:
        print(f"{name:<{width}}  {rate:8.1f}")
    print(f"(a)/(b) = {rate_ours / rate_bare:.2f}  (share of the bare-forward ceiling)")
    print(f"(a)/(c) = {rate_ours / rate_torchvision:.2f}  (against torchvision's loader into the same model run)")
    if len(rates) == 4:
        print(f"(a)/(d) = {rate_ours / rates[3]:.2f}  (share of timm's compiled bf16 inference)")


if __name__ == "__main__":
    main()
