"""`extract_features`: every kind of source (class folders, flat folders, path lists, builtin, tar shards, Hugging
Face datasets) into the store, its options, resume after SIGKILL, reruns over its own output."""

from __future__ import annotations

import collections
import dataclasses
import gzip
import io
import json
import sys
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors import safe_open

import simsiam_zoo.data.source
import simsiam_zoo.data.tar
from simsiam_zoo.data import FASHION_MNIST_DIR, FashionMNIST, decode_image, open_source
from simsiam_zoo.errors import DataError
from simsiam_zoo.features import extract_features, load_features
from simsiam_zoo.features.extract import rank_shards
from simsiam_zoo.features.store import Shard
from simsiam_zoo.options import ExtractOptions
from tests.builders import (
    REPO_ROOT,
    class_folder,
    direct,
    image_dataset,
    make_fifo,
    make_transform,
    run_until_then_kill,
    tiny_model,
    write_png,
    write_tar_shards,
)


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
from tests.builders import make_transform, tiny_model
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
    make_fifo(tmp_path / "fifo")  # as `<(find ...)` gives: it was "no such folder or file"
    with pytest.raises(DataError, match=r"fifo: not a folder or a regular file \(a pipe or a device\); write a list"):
        extract_features(tiny_model(), make_transform(), tmp_path / "fifo", out=tmp_path / "o3", progress=False)
    (tmp_path / "list.txt").write_text("# nothing yet\n\n")
    with pytest.raises(DataError, match="list.txt: no images found"):
        extract_features(tiny_model(), make_transform(), tmp_path / "list.txt", out=tmp_path / "o4", progress=False)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.png").write_bytes(b"")
    with pytest.raises(DataError, match=r"no image could be embedded: 1 of 1 entries"):
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


def test_webdataset_tar_shards_extract_as_the_same_images_in_a_folder(tmp_path: Path, monkeypatch) -> None:
    """Brace patterns over tar shards give the embeddings, labels and order of the same images as files; a sample
    without an image and a corrupt image are listed skips; a missing shard is an error naming it."""
    folder, samples = tmp_path / "folder", []
    for i in range(7):
        write_png(folder / f"{i % 2}" / f"img{i}.png", i)
        samples.append((f"s{i:03d}", (folder / f"{i % 2}" / f"img{i}.png").read_bytes(), i % 2))
    samples.insert(3, ("s002b", b"not a png", 1))
    write_tar_shards(tmp_path / "shards", samples, per_shard=3)
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
    # A folder or a FIFO of a shard's name was "no such tar shard".
    shard = tmp_path / "shards" / "train-000003.tar"
    shard.mkdir()
    with pytest.raises(DataError, match=r"train-000003.tar: a folder, not a tar shard"):
        simsiam_zoo.data.tar.read_tars(str(tmp_path / "shards" / "train-{000000..000003}.tar"))
    shard.rmdir()
    make_fifo(shard)
    with pytest.raises(DataError, match=r"train-000003.tar: not a regular file \(a FIFO, socket or device\)"):
        simsiam_zoo.data.tar.read_tars(str(tmp_path / "shards" / "train-{000000..000003}.tar"))
    shard.unlink()
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


def test_hugging_face_datasets_extract_as_the_same_images_in_a_folder(tmp_path: Path) -> None:
    """A `save_to_disk` folder, and parquet files by a glob, give the embeddings, labels and class names of the same
    images as files; a row without an image and a corrupt image are listed skips; a dataset of several splits is
    refused naming them; missing files are an error naming them."""
    folder, rows = tmp_path / "folder", []
    for i in range(7):
        write_png(folder / f"c{i % 2}" / f"img{i}.png", i)
        rows.append(((folder / f"c{i % 2}" / f"img{i}.png").read_bytes(), i % 2))
    rows[3:3] = [(None, 0), (b"not a png", 1)]
    dataset = image_dataset(rows, ["c0", "c1"])
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
    image_dataset(rows, ["c0", "c1"]).save_to_disk(str(tmp_path / "saved"))
    extract_features(model, transform, tmp_path / "saved", out=tmp_path / "hf_features", progress=False)
    limited = ExtractOptions(limit=3)  # its listing lost the Arrow files: the rewrite resumed the old features
    extract_features(model, transform, tmp_path / "saved", out=tmp_path / "hf_head", options=limited, progress=False)
    write_png(tmp_path / "other.png", 99)
    rows[0] = ((tmp_path / "other.png").read_bytes(), 0)
    image_dataset(rows, ["c0", "c1"]).save_to_disk(str(tmp_path / "saved_again"))
    for old in (tmp_path / "saved").iterdir():
        old.unlink()
    for new in (tmp_path / "saved_again").iterdir():
        new.rename(tmp_path / "saved" / new.name)
    with pytest.raises(ValueError, match=r"changed: the images"):
        extract_features(model, transform, tmp_path / "saved", out=tmp_path / "hf_features", progress=False)
    with pytest.raises(ValueError, match=r"changed: the images"):
        extract_features(
            model, transform, tmp_path / "saved", out=tmp_path / "hf_head", options=limited, progress=False
        )


def test_a_web_page_served_as_a_checkpoint_is_named_as_such(tmp_path: Path) -> None:
    """An HTML error page saved under a checkpoint's name: said so (it was called a pickle that needs arbitrary
    code); a real pickle with foreign objects is still refused as one."""
    from simsiam_zoo.checkpoint import read_torch_checkpoint
    from simsiam_zoo.errors import ConversionError

    page = tmp_path / "model.pth"
    page.write_text("<!DOCTYPE html>\n<html><body>404 Not Found</body></html>")
    with pytest.raises(ConversionError, match=r"model.pth: not a torch checkpoint: it is a web page"):
        read_torch_checkpoint(page)
    # A text file failed in torch's reader with a KeyError of a number read from its bytes, and said only that.
    page.write_text("hello world\n")
    with pytest.raises(ConversionError, match=r"model.pth: not a torch checkpoint: it starts with b'hello world\\n'"):
        read_torch_checkpoint(page)
    torch.save({"weights": torch.zeros(1), "odd": Path("x")}, tmp_path / "foreign.pth")
    with pytest.raises(ConversionError, match=r"unpickling it needs arbitrary code"):
        read_torch_checkpoint(tmp_path / "foreign.pth")
    # Protocols 0 and 1 have no header byte: they were "neither a zip archive nor a pickle". Never run.
    marker = tmp_path / "ran"
    page.write_bytes(f"cos\nsystem\n(Vtouch {marker}\ntR.".encode())
    with pytest.raises(ConversionError, match=r"nor a pickle of protocol 2 or later \(what torch.save writes by"):
        read_torch_checkpoint(page)
    assert not marker.exists()


def test_a_model_that_gives_nan_embeddings_writes_no_shard_of_them(tmp_path: Path) -> None:
    """The shards were written and the run reported whole; every reader then refused them as corrupt."""

    class Broken(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.mean((2, 3)) * float("nan")

    data = tmp_path / "data"
    for i in range(4):
        write_png(data / f"c{i % 2}" / f"{i}.png", i)
    with pytest.raises(DataError, match=r"the model gave non-finite embeddings \(NaN or inf\) for 2 of 2 images"):
        extract_features(Broken(), make_transform(), data, out=tmp_path / "out", shard_size=2, progress=False)
    assert not list((tmp_path / "out").glob("*shard*"))


def test_embeddings_beyond_float16_are_refused_naming_the_dtype(tmp_path: Path) -> None:
    """Stored as float16 they were inf: the run said "embedded 4 of 4", and every reader then called the shard
    corrupt. Refused before the shard is written, naming --dtype; float32 keeps them."""

    class Large(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.mean((2, 3)) * 0 + 1e5

    data = tmp_path / "data"
    for i in range(4):
        write_png(data / f"c{i % 2}" / f"{i}.png", i)
    with pytest.raises(DataError, match=r"reach 1e\+05, beyond --dtype float16's range \(6\.55e\+04\); extract with"):
        extract_features(Large(), make_transform(), data, out=tmp_path / "half", dtype="float16", progress=False)
    assert not list((tmp_path / "half").glob("*shard*"))
    extract_features(Large(), make_transform(), data, out=tmp_path / "full", progress=False)
    assert load_features(tmp_path / "full").embeddings.max() == 1e5


def test_an_empty_output_folder_made_inside_the_data_is_no_class(tmp_path: Path) -> None:
    """Listed before its marker was written, it was a class of its own: every label moved by one, and the same
    command then refused the folder as holding an extraction of other images."""
    data = tmp_path / "data"
    for i in range(4):
        write_png(data / f"c{i % 2}" / f"{i}.png", i)
    (data / "afeats").mkdir()
    for _ in range(2):  # the rerun finds it finished
        extract_features(tiny_model(), make_transform(), data, out=data / "afeats", progress=False)
    features = load_features(data / "afeats")
    assert (features.classes, features.labels.tolist()) == (["c0", "c1"], [0, 0, 1, 1])


def test_a_users_folder_holding_an_index_json_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    """It was said to hold an extraction "written by another version of simsiam-zoo (format None)", with advice to
    delete it, and the refused run left its lock file there."""
    data, site = tmp_path / "data", tmp_path / "site"
    write_png(data / "c0" / "0.png", 0)
    site.mkdir()
    (site / "index.json").write_text('{"pages": 3}')
    with pytest.raises(DataError, match=r"site/index.json: not an index of features simsiam-zoo wrote; choose anoth"):
        extract_features(tiny_model(), make_transform(), data, out=site, progress=False)
    assert sorted(path.name for path in site.iterdir()) == ["index.json"]


def test_a_limit_beyond_any_listing_keeps_every_image(tmp_path: Path) -> None:
    """A limit past sys.maxsize was a ValueError traceback from itertools.islice."""
    data = tmp_path / "data"
    for i in range(3):
        write_png(data / "c0" / f"{i}.png", i)
    summary = extract_features(tiny_model(), make_transform(), data, out=tmp_path / "out", limit=10**30, progress=False)
    assert summary.num_embedded == 3
    (tmp_path / "empty").mkdir()  # an empty listing with a limit: islice's ValueError, not "no images found"
    with pytest.raises(DataError, match=r"empty: no images found \(nothing;"):
        open_source(tmp_path / "empty", limit=5)
