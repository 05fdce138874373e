"""Feature extraction engine: sources, on-disk format, resume after SIGKILL, bad images, strict mode."""

from __future__ import annotations

import collections
import dataclasses
import gzip
import io
import json
import os
import struct
import sys
import tarfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors import safe_open
from torch import nn

import simsiam_zoo.data.source
import simsiam_zoo.data.tar
from simsiam_zoo.augment import eval_transform
from simsiam_zoo.data import FASHION_MNIST_DIR, FashionMNIST, decode_image, open_source
from simsiam_zoo.errors import DataError
from simsiam_zoo.features import extract_features, load_features
from simsiam_zoo.features.extract import rank_shards
from simsiam_zoo.features.store import Shard
from tests.builders import run_until_then_kill, snapshot, write_png

REPO_ROOT = Path(__file__).resolve().parents[1]


def tiny_model() -> nn.Module:
    """A small conv net with fixed weights (same in every process), pooled to 16-d embeddings."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return nn.Sequential(
            nn.Conv2d(3, 8, 3, stride=2, padding=1),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.Conv2d(8, 16, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        ).eval()


def make_transform() -> nn.Module:
    return eval_transform(image_size=32, crop_pct=1.0, mean=(0.5, 0.4, 0.3), std=(0.25, 0.2, 0.3))


def direct(images: list[torch.Tensor]) -> torch.Tensor:
    """What the extraction should give: one plain forward on the transformed images."""
    transform = make_transform()
    with torch.inference_mode():
        return tiny_model()(torch.stack([transform(image) for image in images]))


def class_folder(root: Path) -> list[str]:
    """Classes cat, dog (with a nested folder) and an empty emu, and a stray top image; the sorted paths."""
    names = ["cat/a.png", "cat/b.png", "cat/c.png", "dog/a.png", "dog/b.png", "dog/puppies/p.png", "top.png"]
    for seed, name in enumerate(names):
        write_png(root / name, seed)
    (root / "emu").mkdir()
    return names


@pytest.mark.parametrize("output_format", ["safetensors", "npy"])
def test_class_folder_round_trip(tmp_path: Path, output_format: str) -> None:
    names = class_folder(tmp_path / "data")
    out = tmp_path / "out"
    summary = extract_features(
        tiny_model(),
        make_transform(),
        tmp_path / "data",
        out=out,
        batch_size=2,
        shard_size=3,
        output_format=output_format,
        progress=False,
        model_name="tiny@32",
    )
    assert (summary.num_images, summary.num_embedded, summary.num_skipped) == (7, 7, 0)
    assert (summary.dim, summary.shards, summary.resumed_shards) == (16, 3, 0)
    features = load_features(out)
    assert features.paths == names
    assert features.labels.tolist() == [0, 0, 0, 1, 1, 1, -1]
    assert features.indices.tolist() == list(range(7))
    expected = direct([decode_image(tmp_path / "data" / name) for name in names])
    torch.testing.assert_close(features.embeddings, expected, atol=1e-5, rtol=1e-5)

    index = json.loads((out / "index.json").read_text())
    assert index["classes"] == ["cat", "dog", "emu"] and index["model_name"] == "tiny@32" and index["dim"] == 16
    assert [s["name"] for s in index["shards"]] == ["shard-00000", "shard-00001", "shard-00002"]
    assert json.loads((out / "skipped.json").read_text()) == []
    if output_format == "safetensors":
        with safe_open(str(out / "shard-00001.safetensors"), framework="pt") as f:
            assert json.loads(f.metadata()["paths"]) == names[3:6]
            assert f.get_tensor("indices").tolist() == [3, 4, 5]
    else:
        assert np.load(out / "shard-00001.embeddings.npy").shape == (3, 16)
        assert json.loads((out / "shard-00001.paths.json").read_text())["paths"] == names[3:6]


def test_device_preprocessing_gives_the_host_pipeline_features(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Resize and crop on the device (here the CPU, the same code path as CUDA) beside decoding-only workers."""
    sizes = [(40, 36), (64, 48), (33, 90), (32, 32), (120, 41)]  # the batch is ragged until the device resizes it
    for seed, size in enumerate(sizes):
        write_png(tmp_path / "data" / f"img{seed}.png", seed, size)
    (tmp_path / "data" / "img5.png").write_bytes(b"not a png")
    workers_seen = []

    class RecordingLoader(torch.utils.data.DataLoader):
        def __init__(self, *args, **kwargs):
            workers_seen.append(kwargs["num_workers"])
            super().__init__(*args, **kwargs)

    monkeypatch.setattr("simsiam_zoo.features.pipeline.DataLoader", RecordingLoader)
    runs = {}
    for device_preprocessing, workers in ((False, None), (True, 2)):
        out = tmp_path / f"out-{device_preprocessing}"
        summary = extract_features(
            tiny_model(),
            make_transform(),
            tmp_path / "data",
            out=out,
            batch_size=4,
            progress=False,
            device_preprocessing=device_preprocessing,
            num_workers=workers,
        )
        assert (summary.num_embedded, summary.num_skipped) == (5, 1)
        runs[device_preprocessing] = load_features(out).embeddings
    assert workers_seen == [0, 2]  # None picks no worker processes on a CPU device
    expected = direct([decode_image(tmp_path / "data" / f"img{i}.png") for i in range(5)])
    torch.testing.assert_close(runs[False], expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(runs[True], expected, atol=1e-5, rtol=1e-5)

    def opaque(image: torch.Tensor) -> torch.Tensor:
        return make_transform()(image)

    with pytest.raises(ValueError, match="device preprocessing needs a torchvision v2.Compose"):
        extract_features(
            tiny_model(), opaque, tmp_path / "data", out=tmp_path / "o", device_preprocessing=True, progress=False
        )
    assert not (tmp_path / "o" / "index.json").exists()


def test_float16_output_and_bf16_autocast(tmp_path: Path) -> None:
    names = class_folder(tmp_path / "data")
    out = tmp_path / "out"
    extract_features(
        tiny_model(),
        make_transform(),
        tmp_path / "data",
        out=out,
        dtype="float16",
        precision="bf16",
        progress=False,
    )
    with safe_open(str(out / "shard-00000.safetensors"), framework="pt") as f:
        assert f.get_slice("embeddings").get_dtype() == "F16"
    features = load_features(out / "index.json")
    assert features.embeddings.dtype == torch.float32
    expected = direct([decode_image(tmp_path / "data" / name) for name in names])
    torch.testing.assert_close(features.embeddings, expected, atol=0.05, rtol=0.05)


def test_flat_folder_and_path_list(tmp_path: Path) -> None:
    for seed, name in enumerate(["b.png", "a.png", "c.png"]):
        write_png(tmp_path / "flat" / name, seed)
    flat = extract_features(tiny_model(), make_transform(), tmp_path / "flat", out=tmp_path / "out1", progress=False)
    assert flat.num_embedded == 3
    from_folder = load_features(tmp_path / "out1")
    assert from_folder.paths == ["a.png", "b.png", "c.png"] and from_folder.labels.tolist() == [-1, -1, -1]

    listing = tmp_path / "lists" / "images.txt"
    listing.parent.mkdir()
    listing.write_text(f"# my picks\n../flat/c.png\n\n  {tmp_path / 'flat' / 'a.png'}  \n../flat/b.png\n")
    extract_features(tiny_model(), make_transform(), listing, out=tmp_path / "out2", progress=False)
    from_list = load_features(tmp_path / "out2")
    assert from_list.paths == ["../flat/c.png", str(tmp_path / "flat" / "a.png"), "../flat/b.png"]
    assert from_list.labels.tolist() == [-1, -1, -1]
    torch.testing.assert_close(from_list.embeddings, from_folder.embeddings[[2, 0, 1]], atol=1e-5, rtol=1e-5)


@pytest.mark.skipif(not FASHION_MNIST_DIR.is_dir(), reason="Fashion-MNIST is not installed")
def test_fashion_mnist_named_source(tmp_path: Path) -> None:
    summary = extract_features(
        tiny_model(),
        make_transform(),
        "fashion_mnist:test",
        out=tmp_path / "out",
        limit=24,
        batch_size=10,
        progress=False,
    )
    assert summary.num_images == summary.num_embedded == 24
    features = load_features(tmp_path / "out")
    dataset = FashionMNIST(split="test")
    assert features.paths == [f"fashion_mnist/test/{i}" for i in range(24)]
    assert torch.equal(features.labels, dataset.labels[:24])
    expected = direct([dataset[i][0] for i in range(24)])
    torch.testing.assert_close(features.embeddings, expected, atol=1e-5, rtol=1e-5)
    assert json.loads((tmp_path / "out" / "index.json").read_text())["source"]["location"] == "fashion_mnist:test"


KILLED_RUN = """
import sys, time
import torch
sys.path.insert(0, {root!r})  # the repository, so that `tests` imports as the package it is under pytest
from tests.test_features import make_transform, tiny_model
from simsiam_zoo.features import extract_features

torch.set_num_threads({threads})


class Slow(torch.nn.Module):
    # Slow enough that the test kills it part-way; the sleep changes no number.
    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        time.sleep(0.3)
        return self.inner(x)


extract_features(Slow(tiny_model()), make_transform(), {data!r}, out={out!r}, batch_size=2, shard_size=3,
                 progress=False)
"""


def test_resume_after_sigkill_is_byte_identical(tmp_path: Path) -> None:
    data = tmp_path / "data"
    for i in range(14):
        write_png(data / f"img{i:02d}.png", i, size=(24, 20))
    (data / "img00_broken.png").write_bytes(b"")  # a skip inside the first, resumed, shard
    killed, reference = tmp_path / "killed", tmp_path / "reference"
    script = KILLED_RUN.format(root=str(REPO_ROOT), threads=torch.get_num_threads(), data=str(data), out=str(killed))
    run_until_then_kill([sys.executable, "-c", script], until=killed / "shard-00000.safetensors", timeout=60)
    assert not (killed / "index.json").exists() and not (killed / "shard-00004.safetensors").exists()
    # What a kill in the middle of a write leaves behind.
    (killed / ".shard-00001.safetensors.x1y2z3.tmp").write_bytes(b"half a shard")
    first_shard = (killed / "shard-00000.safetensors").stat().st_mtime_ns

    kwargs = dict(batch_size=2, shard_size=3, progress=False)
    resumed = extract_features(tiny_model(), make_transform(), data, out=killed, **kwargs)
    extract_features(tiny_model(), make_transform(), data, out=reference, **kwargs)

    assert resumed.resumed_shards >= 1 and resumed.num_skipped == 1 and resumed.num_embedded == 14
    assert (killed / "shard-00000.safetensors").stat().st_mtime_ns == first_shard
    names = sorted(p.name for p in reference.iterdir())
    assert sorted(p.name for p in killed.iterdir()) == names
    assert len([n for n in names if n.startswith("shard-")]) == 5
    for name in names:
        assert (killed / name).read_bytes() == (reference / name).read_bytes(), name
    assert json.loads((killed / "skipped.json").read_text())[0]["path"] == "img00_broken.png"


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims width x height pixels: what a decompression bomb looks like to the decoder."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + header + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def bad_image_folder(root: Path) -> None:
    root.mkdir(parents=True)
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (24, 40, 3), dtype=np.uint8)
    jpeg = io.BytesIO()
    Image.fromarray(rgb).save(jpeg, "JPEG")
    (root / "zero.jpg").write_bytes(b"")
    (root / "truncated.jpg").write_bytes(jpeg.getvalue()[: len(jpeg.getvalue()) // 2])
    (root / "text.jpg").write_text("not an image at all\n")
    (root / "bomb.png").write_bytes(_png_header_only(20_000, 20_000))
    (root / "notes.txt").write_text("a README among the images")
    (root / "loop").symlink_to(".", target_is_directory=True)
    write_png(root / ".hidden.png", 1)
    Image.new("CMYK", (30, 20), (10, 200, 30, 0)).save(root / "cmyk.jpg")
    Image.fromarray((np.arange(24 * 40).reshape(24, 40) * 60).astype(np.uint16)).save(root / "sixteen.png")
    rgba = np.dstack([rgb, np.tile(np.array([0, 128, 255], dtype=np.uint8), 14)[:40][None].repeat(24, 0)])
    Image.fromarray(rgba, "RGBA").save(root / "rgba.png")
    palette = Image.fromarray(rng.integers(0, 4, (24, 40), dtype=np.uint8), "P")
    palette.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 9, 9])
    palette.save(root / "palette.png", transparency=0)
    Image.fromarray(rgb[..., 0], "L").save(root / "gray.png")
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    Image.fromarray(rgb).save(root / "exif.jpg", exif=exif)
    write_png(root / "ünïcødé 名前.png", 2)
    write_png(root / "with space.png", 3)


EMBEDDED = [
    "cmyk.jpg",
    "exif.jpg",
    "gray.png",
    "palette.png",
    "rgba.png",
    "sixteen.png",
    "with space.png",
    "ünïcødé 名前.png",
]
SKIPPED = {
    "bomb.png": "decompression bomb",
    "loop": "symbolic link to a folder",
    "notes.txt": "not an image file extension",
    "text.jpg": "cannot identify image",
    "truncated.jpg": "truncated",
    "zero.jpg": "cannot",
}


def test_bad_images_are_skipped_or_converted(tmp_path: Path) -> None:
    data = tmp_path / "mixed"
    bad_image_folder(data)
    summary = extract_features(
        tiny_model(),
        make_transform(),
        data,
        out=tmp_path / "out",
        batch_size=4,
        shard_size=5,
        num_workers=2,
        progress=False,
    )
    assert (summary.num_images, summary.num_embedded, summary.num_skipped) == (14, 8, 6)
    skipped = json.loads(summary.skipped_manifest.read_text())
    assert [s["path"] for s in skipped] == sorted(SKIPPED)
    for entry in skipped:
        assert SKIPPED[entry["path"]] in entry["reason"], entry

    features = load_features(tmp_path / "out")
    assert features.paths == EMBEDDED
    images = [decode_image(data / name) for name in EMBEDDED]
    torch.testing.assert_close(features.embeddings, direct(images), atol=1e-5, rtol=1e-5)

    # EXIF orientation applied: the same pixels as rotating the stored image by hand.
    with Image.open(data / "exif.jpg") as raw:
        rotated = np.asarray(raw.convert("RGB").transpose(Image.Transpose.ROTATE_270))
    assert torch.equal(images[1], torch.from_numpy(rotated.copy()).permute(2, 0, 1))
    # 16-bit scaled by 65535 -> 255, not clipped; transparent pixels flattened onto white.
    sixteen = np.round((np.arange(24 * 40).reshape(24, 40) * 60) / 257.0).astype(np.uint8)
    assert torch.equal(images[5][0], torch.from_numpy(sixteen))
    assert images[4][:, 0, 0].tolist() == [255, 255, 255]
    with Image.open(data / "palette.png") as raw:
        y, x = np.argwhere(np.asarray(raw) == 0)[0]  # index 0: opaque red in the palette, but transparent
    assert images[3][:, y, x].tolist() == [255, 255, 255]


def test_strict_mode_raises_and_writes_only_clean_shards(tmp_path: Path) -> None:
    data = tmp_path / "data"
    for i in range(6):
        write_png(data / f"{i}.png", i)
    (data / "3_zero.png").write_bytes(b"")
    (data / "readme.md").write_text("hello")
    out = tmp_path / "out"
    with pytest.raises(DataError, match=r"strict mode: 2 of 8 images") as error:
        extract_features(tiny_model(), make_transform(), data, out=out, shard_size=2, strict=True, progress=False)
    assert "3_zero.png: cannot decode image" in str(error.value) and "readme.md" in str(error.value)
    # Shards: [0, 1] [2, 3] [3_zero, 4] [5, readme]: only the clean ones are on disk.
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [
        "settings.json",
        "shard-00000.safetensors",
        "shard-00001.safetensors",
    ]
    with pytest.raises(ValueError, match=r"other inputs or settings \(changed: dtype\)"):
        extract_features(tiny_model(), make_transform(), data, out=out, shard_size=2, dtype="float16", progress=False)
    # Accepting the skips after all keeps the clean shards.
    summary = extract_features(tiny_model(), make_transform(), data, out=out, shard_size=2, progress=False)
    assert (summary.resumed_shards, summary.num_embedded, summary.num_skipped) == (2, 6, 2)


def test_other_settings_or_source_are_refused(tmp_path: Path) -> None:
    class_folder(tmp_path / "data")
    out = tmp_path / "out"
    extract_features(tiny_model(), make_transform(), tmp_path / "data", out=out, progress=False, model_name="a")
    with pytest.raises(ValueError, match=r"other inputs or settings \(changed: dtype\)"):
        extract_features(
            tiny_model(),
            make_transform(),
            tmp_path / "data",
            out=out,
            progress=False,
            model_name="b",
            dtype="float16",
        )
    # The same weights under another name resume (nothing to do); other weights under the same name do not.
    assert (
        extract_features(
            tiny_model(), make_transform(), tmp_path / "data", out=out, progress=False, model_name="b"
        ).resumed_shards
        == 1
    )
    before = snapshot(out)
    retrained = tiny_model()
    with torch.no_grad():
        retrained[0].weight.add_(0.01)
    with pytest.raises(ValueError, match=r"changed: the model's weights\)"):
        extract_features(retrained, make_transform(), tmp_path / "data", out=out, progress=False, model_name="a")
    with pytest.raises(ValueError, match=r"changed: the preprocessing\)"):
        extract_features(
            tiny_model(),
            eval_transform(image_size=32, crop_pct=1.0, mean=(0.5,) * 3, std=(0.2,) * 3),
            tmp_path / "data",
            out=out,
            progress=False,
        )
    # The same relative path from another folder is another data source.
    class_folder(tmp_path / "elsewhere" / "data")
    with pytest.raises(ValueError, match=r"changed: the data source, "):
        extract_features(tiny_model(), make_transform(), tmp_path / "elsewhere" / "data", out=out, progress=False)
    image = tmp_path / "data" / "cat" / "a.png"
    stat = image.stat()
    write_png(image, 99)  # edited in place: same name
    os.utime(image, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    with pytest.raises(ValueError, match=r"changed: the images \(paths, sizes or modification times\)\)"):
        extract_features(tiny_model(), make_transform(), tmp_path / "data", out=out, progress=False)
    write_png(tmp_path / "data" / "cat" / "new.png", 99)
    with pytest.raises(ValueError, match=r"changed: the data source, the images"):  # one image more
        extract_features(tiny_model(), make_transform(), tmp_path / "data", out=out, progress=False, model_name="a")
    assert snapshot(out) == before  # the refused runs changed nothing


def test_load_errors_name_the_file(tmp_path: Path) -> None:
    class_folder(tmp_path / "data")
    out = tmp_path / "out"
    with pytest.raises(DataError, match="index.json: not found"):
        load_features(out)
    extract_features(tiny_model(), make_transform(), tmp_path / "data", out=out, shard_size=4, progress=False)
    (out / "shard-00001.safetensors").write_bytes(b"garbage")
    with pytest.raises(DataError, match="shard-00001.safetensors: missing or corrupt shard"):
        load_features(out)
    # A rerun recomputes the damaged shard.
    assert (
        extract_features(
            tiny_model(), make_transform(), tmp_path / "data", out=out, shard_size=4, progress=False
        ).resumed_shards
        == 1
    )
    assert len(load_features(out).paths) == 7


def test_empty_or_missing_sources(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / ".DS_Store").write_bytes(b"x")
    with pytest.raises(DataError, match="empty: no images found"):
        extract_features(tiny_model(), make_transform(), tmp_path / "empty", out=tmp_path / "o1", progress=False)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("x")
    with pytest.raises(DataError, match="docs: no images found"):
        extract_features(tiny_model(), make_transform(), tmp_path / "docs", out=tmp_path / "o2", progress=False)
    with pytest.raises(DataError, match="nowhere: no such folder or file"):
        extract_features(tiny_model(), make_transform(), tmp_path / "nowhere", out=tmp_path / "o3", progress=False)
    (tmp_path / "list.txt").write_text("# nothing yet\n\n")
    with pytest.raises(DataError, match="list.txt: no images found"):
        extract_features(tiny_model(), make_transform(), tmp_path / "list.txt", out=tmp_path / "o4", progress=False)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.png").write_bytes(b"")
    with pytest.raises(DataError, match=r"no image could be embedded: 1 of 1 images"):
        extract_features(tiny_model(), make_transform(), tmp_path / "bad", out=tmp_path / "o5", progress=False)


def test_the_extract_command_has_extract_features_defaults() -> None:
    """Every extract option is a field of ExtractOptions (the command hands them over as one) with its default;
    the flags are off unless given, as the library's."""
    from simsiam_zoo.cli import main
    from simsiam_zoo.options import ExtractOptions

    def default(param: Any) -> Any:  # an on/off flag's is off (click marks it unset)
        plain_flag = getattr(param, "is_flag", False) and param.default not in (None, True, False)
        return False if plain_flag else param.default

    flags = {param.name: default(param) for param in main.commands["extract"].params}
    library = {field.name: field.default for field in dataclasses.fields(ExtractOptions)}
    shared = set(flags) - {"model", "data", "out", "hub_dir"}
    assert shared == set(library) - {"channels_last"}
    assert {name: flags[name] for name in shared} == {name: library[name] for name in shared}


def test_extract_features_takes_options_or_their_fields_as_keywords(tmp_path: Path) -> None:
    from simsiam_zoo.options import ExtractOptions

    options = ExtractOptions(batch_size=2, shard_size=3, limit=4)
    by_options = extract_features(
        tiny_model(), make_transform(), "fashion_mnist", out=tmp_path / "a", options=options, progress=False
    )
    by_keywords = extract_features(
        tiny_model(),
        make_transform(),
        "fashion_mnist",
        out=tmp_path / "b",
        batch_size=2,
        shard_size=3,
        limit=4,
        progress=False,
    )
    assert (by_options.num_embedded, by_options.shards) == (by_keywords.num_embedded, by_keywords.shards) == (4, 2)
    with pytest.raises(ValueError, match="batch_size must be at least 1, got 0"):
        extract_features(tiny_model(), make_transform(), "fashion_mnist", out=tmp_path / "c", batch_size=0)
    with pytest.raises(TypeError, match="batchsize"):
        extract_features(tiny_model(), make_transform(), "fashion_mnist", out=tmp_path / "c", batchsize=2)


def _tar_shards(root: Path, images: list[tuple[str, bytes, int | None]], per_shard: int) -> None:
    """WebDataset shards `root/train-00000{i}.tar`: KEY.png (+ KEY.cls) per sample, `per_shard` samples each."""
    root.mkdir(parents=True, exist_ok=True)
    for number, start in enumerate(range(0, len(images), per_shard)):
        with tarfile.open(root / f"train-{number:06d}.tar", "w") as tar:
            for key, data, label in images[start : start + per_shard]:
                members = [(f"{key}.png", data)] + ([(f"{key}.cls", str(label).encode())] if label is not None else [])
                for name, body in members:
                    info = tarfile.TarInfo(name)
                    info.size = len(body)
                    tar.addfile(info, io.BytesIO(body))


def test_webdataset_tar_shards_extract_as_the_same_images_in_a_folder(tmp_path: Path, monkeypatch) -> None:
    """Brace patterns over tar shards give the embeddings, labels and order of the same images as files; a sample
    without an image and a corrupt image are listed skips; a missing shard is an error naming it."""
    folder, samples = tmp_path / "folder", []
    for i in range(7):
        write_png(folder / f"{i % 2}" / f"img{i}.png", i)
        samples.append((f"s{i:03d}", (folder / f"{i % 2}" / f"img{i}.png").read_bytes(), i % 2))
    samples.insert(3, ("s002b", b"not a png", 1))
    _tar_shards(tmp_path / "shards", samples, per_shard=3)
    with tarfile.open(tmp_path / "shards" / "train-000002.tar", "a") as tar:  # a sample with a label only
        info = tarfile.TarInfo("orphan.cls")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"0"))
    pattern = str(tmp_path / "shards" / "train-{000000..000002}.tar")
    opened = collections.Counter()

    def counting_open(file: Any, *args: Any, **kwargs: Any) -> Any:
        opened[Path(file).name] += 1
        return open(file, *args, **kwargs)

    for module in (simsiam_zoo.data.tar, simsiam_zoo.data.source):  # listing, then reading through
        monkeypatch.setattr(module, "open", counting_open, raising=False)
    extract_features(
        tiny_model(), make_transform(), pattern, out=tmp_path / "from_tars", shard_size=2, num_workers=0, progress=False
    )
    # Each tar is opened once to be listed and once to be read through, not once per image.
    assert opened == {f"train-00000{i}.tar": 2 for i in range(3)}
    # Output shards are cut where a tar begins (3 samples a tar, the last one with the orphan), so that each is
    # read from one tar, and ranks share tars: with two ranks, one takes the first two tars, the other the last.
    index = json.loads((tmp_path / "from_tars" / "index.json").read_text())
    plan = [(shard["start"], shard["stop"]) for shard in index["shards"]]
    assert plan == [(0, 2), (2, 3), (3, 5), (5, 6), (6, 8), (8, 9)]
    shards, source = [Shard(n, start, stop) for n, (start, stop) in enumerate(plan)], open_source(pattern)
    share = [
        [(shard.start, shard.stop) for shard in rank_shards(shards, source, rank=rank, world_size=2)] for rank in (0, 1)
    ]
    assert share == [plan[:4], plan[4:]]
    # Fewer tars than ranks: equal stretches of the source, whose shards a tar's ranks share.
    assert [len(rank_shards(shards, source, rank=rank, world_size=4)) for rank in range(4)] == [2, 1, 2, 1]
    from_tars = load_features(tmp_path / "from_tars")
    skipped = json.loads((tmp_path / "from_tars" / "skipped.json").read_text())
    assert [(s["path"], s["reason"][:22]) for s in skipped] == [
        ("train-000001.tar/s002b", "cannot decode image: c"),
        ("train-000002.tar/orphan", "no image in the sample"),
    ]
    assert from_tars.paths == [f"train-00000{(i + (i >= 3)) // 3}.tar/s{i:03d}" for i in range(7)]
    assert from_tars.labels.tolist() == [i % 2 for i in range(7)] and from_tars.classes == ["0", "1"]
    images = [decode_image(folder / f"{i % 2}" / f"img{i}.png") for i in range(7)]
    torch.testing.assert_close(from_tars.embeddings, direct(images), atol=1e-5, rtol=1e-5)
    # A folder whose name ends in .tar is a folder.
    folder.rename(tmp_path / "images.tar")
    extract_features(
        tiny_model(), make_transform(), tmp_path / "images.tar", out=tmp_path / "from_folder", progress=False
    )
    assert load_features(tmp_path / "from_folder").paths == [f"{i % 2}/img{i}.png" for i in (0, 2, 4, 6, 1, 3, 5)]
    with pytest.raises(DataError, match=r"train-000003.tar: no such tar shard"):
        extract_features(
            tiny_model(),
            make_transform(),
            str(tmp_path / "shards" / "train-{000000..000003}.tar"),
            out=tmp_path / "missing",
            progress=False,
        )
    # A compressed shard: its members' offsets are not where their bytes lie in the file, so it is refused.
    (tmp_path / "shards" / "train-000000.tar.gz").write_bytes(
        gzip.compress((tmp_path / "shards" / "train-000000.tar").read_bytes())
    )
    with pytest.raises(DataError, match=r"train-000000.tar.gz: a compressed tar; .* must be plain .tar"):
        extract_features(
            tiny_model(),
            make_transform(),
            str(tmp_path / "shards" / "train-000000.tar.gz"),
            out=tmp_path / "compressed",
            progress=False,
        )


def _hf_dataset(images: list[tuple[bytes | None, int]], classes: list[str]) -> Any:
    datasets = pytest.importorskip("datasets")
    features = datasets.Features(
        {"image": datasets.Image(), "label": datasets.ClassLabel(names=classes), "note": datasets.Value("string")}
    )
    return datasets.Dataset.from_dict(
        {
            "image": [None if data is None else {"bytes": data, "path": None} for data, _ in images],
            "label": [label for _, label in images],
            "note": ["x"] * len(images),
        },
        features=features,
    )


def test_hugging_face_datasets_extract_as_the_same_images_in_a_folder(tmp_path: Path) -> None:
    """A `save_to_disk` folder, and parquet files by a glob, give the embeddings, labels and class names of the same
    images as files; a row without an image and a corrupt image are listed skips; a dataset of several splits is
    refused naming them; missing files are an error naming them."""
    folder, rows = tmp_path / "folder", []
    for i in range(7):
        write_png(folder / f"c{i % 2}" / f"img{i}.png", i)
        rows.append(((folder / f"c{i % 2}" / f"img{i}.png").read_bytes(), i % 2))
    rows[3:3] = [(None, 0), (b"not a png", 1)]
    dataset = _hf_dataset(rows, ["c0", "c1"])
    dataset.save_to_disk(str(tmp_path / "saved"))
    dataset.select(range(5)).to_parquet(str(tmp_path / "parquet" / "train-00000-of-00002.parquet"))
    dataset.select(range(5, 9)).to_parquet(str(tmp_path / "parquet" / "train-00001-of-00002.parquet"))
    images = [decode_image(folder / f"c{i % 2}" / f"img{i}.png") for i in range(7)]
    for data, name in ((tmp_path / "saved", "saved"), (str(tmp_path / "parquet" / "train-*.parquet"), "parquet")):
        out = tmp_path / f"from_{name}"
        extract_features(tiny_model(), make_transform(), data, out=out, progress=False)
        features = load_features(out)
        skipped = json.loads((out / "skipped.json").read_text())
        assert [(s["path"], s["reason"][:22]) for s in skipped] == [
            (f"{name}/3", "no image in the row (c"),
            (f"{name}/4", "cannot decode image: c"),
        ]
        assert features.paths == [f"{name}/{i}" for i in (0, 1, 2, 5, 6, 7, 8)]
        assert features.labels.tolist() == [i % 2 for i in range(7)] and features.classes == ["c0", "c1"]
        torch.testing.assert_close(features.embeddings, direct(images), atol=1e-5, rtol=1e-5)
    datasets = pytest.importorskip("datasets")
    datasets.DatasetDict(train=dataset, test=dataset).save_to_disk(str(tmp_path / "splits"))
    with pytest.raises(
        DataError,
        match=r"splits: a Hugging Face dataset with several splits; give one split's "
        r"folder \(.*splits/test, .*splits/train\)",
    ):
        extract_features(tiny_model(), make_transform(), tmp_path / "splits", out=tmp_path / "x", progress=False)
    with pytest.raises(DataError, match=r"val-\*.parquet: no such file"):
        extract_features(
            tiny_model(),
            make_transform(),
            str(tmp_path / "parquet" / "val-*.parquet"),
            out=tmp_path / "y",
            progress=False,
        )


def test_a_rerun_sees_its_own_output_inside_data_and_a_dataset_rewritten_in_place(tmp_path: Path) -> None:
    """OUT inside an image folder: the rerun resumes (its own shards were listed as DATA and refused as "the images
    changed"). A Hugging Face dataset saved again in place with other images: refused (it resumed as unchanged)."""
    data = tmp_path / "data"
    for i in range(4):
        write_png(data / f"c{i % 2}" / f"{i}.png", i)
    model, transform = tiny_model(), make_transform()
    extract_features(model, transform, data, out=data / "features", progress=False)
    again = extract_features(model, transform, data, out=data / "features", progress=False)
    assert again.num_embedded == 4 and again.resumed_shards == again.shards
    rows = [((data / f"c{i % 2}" / f"{i}.png").read_bytes(), i % 2) for i in range(4)]
    _hf_dataset(rows, ["c0", "c1"]).save_to_disk(str(tmp_path / "saved"))
    extract_features(model, transform, tmp_path / "saved", out=tmp_path / "hf_features", progress=False)
    write_png(tmp_path / "other.png", 99)
    rows[0] = ((tmp_path / "other.png").read_bytes(), 0)
    _hf_dataset(rows, ["c0", "c1"]).save_to_disk(str(tmp_path / "saved_again"))
    for old in (tmp_path / "saved").iterdir():
        old.unlink()
    for new in (tmp_path / "saved_again").iterdir():
        new.rename(tmp_path / "saved" / new.name)
    with pytest.raises(ValueError, match=r"changed: the images"):
        extract_features(model, transform, tmp_path / "saved", out=tmp_path / "hf_features", progress=False)


def test_a_web_page_served_as_a_checkpoint_is_named_as_such(tmp_path: Path) -> None:
    """An HTML error page saved under a checkpoint's name: said so (it was called a pickle that needs arbitrary
    code); a real pickle with foreign objects is still refused as one."""
    from simsiam_zoo.checkpoint import read_torch_checkpoint
    from simsiam_zoo.errors import ConversionError

    page = tmp_path / "model.pth"
    page.write_text("<!DOCTYPE html>\n<html><body>404 Not Found</body></html>")
    with pytest.raises(ConversionError, match=r"model.pth: not a torch checkpoint: it is a web page"):
        read_torch_checkpoint(page)
    torch.save({"weights": torch.zeros(1), "odd": Path("x")}, tmp_path / "foreign.pth")
    with pytest.raises(ConversionError, match=r"unpickling it needs arbitrary code"):
        read_torch_checkpoint(tmp_path / "foreign.pth")


def test_a_second_extraction_into_one_folder_waits_for_the_first(tmp_path: Path) -> None:
    """Two identical extractions into one folder raced (one deleted the other's temp settings file and died):
    the second now waits on the folder's lock, then finds the work done and resumes it."""
    import threading

    from filelock import FileLock

    from simsiam_zoo.features.store import LOCK_NAME

    data = tmp_path / "data"
    for i in range(4):
        write_png(data / f"c{i % 2}" / f"{i}.png", i)
    model, transform, out = tiny_model(), make_transform(), tmp_path / "out"
    first = extract_features(model, transform, data, out=out, progress=False)
    (out / "settings.json").unlink()  # so that the waiting one must write it: seen only once it may
    results = []
    with FileLock(out / LOCK_NAME):  # as the first extraction holds it while it runs
        second = threading.Thread(
            target=lambda: results.append(extract_features(model, transform, data, out=out, progress=False))
        )
        second.start()
        second.join(timeout=3)
        assert second.is_alive() and not (out / "settings.json").exists()
    second.join(timeout=60)
    assert results and results[0].num_embedded == first.num_embedded == 4
    assert (out / "settings.json").exists()
