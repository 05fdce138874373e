"""The embedding pipeline: the host/device split of the transform, and images that do not decode (skipped, converted,
or an error under strict)."""

from __future__ import annotations

import io
import json
import re
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from simsiam_zoo.data import decode_image
from simsiam_zoo.errors import DataError
from simsiam_zoo.features import extract_features, load_features
from tests.builders import (
    direct,
    make_transform,
    tiny_model,
    write_png,
)


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
    "loop": "a second path to a folder",
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
    with pytest.raises(
        DataError, match=r"strict mode: 2 of 8 entries .*their shards were not written, and .*out re"
    ) as error:
        extract_features(tiny_model(), make_transform(), data, out=out, shard_size=2, strict=True, progress=False)
    assert "3_zero.png: cannot decode image" in str(error.value) and "readme.md" in str(error.value)
    assert "\n" not in str(error.value)  # one line, as every error (it was a line per file)
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


def test_embed_dataset_names_what_it_does_not_take() -> None:
    """Float labels were truncated in silence (0.7 and 1.9 became 0 and 1); uint8 images, an empty dataset and
    batch_size None failed deep in torch."""
    from simsiam_zoo.features import embed_dataset

    model, image = tiny_model(), torch.rand(3, 32, 32)
    # Truncated to 0, torch's TypeError or overflow from its collate; a numpy datetime's .item() is an int.
    for label in (0.7, True, "cat", 2**70, np.datetime64(5, "ns")):
        with pytest.raises(
            ValueError, match=f"whole numbers .class indices., got labels such as {re.escape(repr(label))}"
        ):
            embed_dataset(model, [(image, 0), (image, label)], batch_size=2)  # named, not the good label first
    with pytest.raises(ValueError, match="images must be float tensors .*, got torch.uint8"):
        embed_dataset(model, [((image * 255).to(torch.uint8), 0)], batch_size=2)
    for dataset, batch_size in (([], 2), ([(image, 0)], None)):
        with pytest.raises(ValueError, match="embed_dataset needs a batch_size >= 1 and images"):
            embed_dataset(model, dataset, batch_size=batch_size)
    model.train()
    for num_workers in (-1, "2", 10**20):  # torch's errors or a fork bomb, the model left in eval mode
        with pytest.raises(ValueError, match=rf"num_workers must be a whole number from 0 to 256, got {num_workers!r}"):
            embed_dataset(model, [(image, 0)], num_workers=num_workers)
    assert model.training
    embeddings, labels = embed_dataset(model, [(image, 0), (image, 3)], batch_size=2)
    assert labels.tolist() == [0, 3] and embeddings.shape[0] == 2
    numbered = [(image, np.int64(1)), (image, np.array([2])), (image, torch.tensor(3)), (image, torch.tensor([4]))]
    _, labels = embed_dataset(model, numbered, batch_size=2)  # numpy and torch integers, one-element arrays of them
    assert labels.tolist() == [1, 2, 3, 4] and labels.dtype == torch.int64
