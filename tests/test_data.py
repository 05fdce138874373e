import gzip
import io
import json
import logging
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from simsiam_zoo import data
from simsiam_zoo.data import EpochSampler, FashionMNIST, labelled_images
from simsiam_zoo.errors import EXIT_BAD_INPUT, DataError, DatasetUnavailable
from tests.builders import (
    hub_dataset_files,
    image_dataset,
    make_transform,
    run_cli,
    tiny_model,
    write_png,
    write_tar_shards,
)


def test_shipped_fashion_mnist_subset_is_the_fallback(monkeypatch, tmp_path):
    monkeypatch.setattr(data.builtin, "FASHION_MNIST_DIR", tmp_path / "missing")
    with pytest.warns(UserWarning, match="subset shipped with simsiam-zoo"):
        train = FashionMNIST()
    test = FashionMNIST(data.FASHION_MNIST_SUBSET_DIR, split="test")
    assert (len(train), len(test)) == (6000, 1000)
    image, label = train[0]
    assert image.shape == (3, 28, 28) and image.dtype == torch.uint8 and 0 <= label < 10
    assert torch.bincount(train.labels).min() > 500  # every class is there
    assert (data.FASHION_MNIST_SUBSET_DIR / "LICENSE").read_text().count("MIT") >= 1


def test_corrupt_idx_file_names_the_file(tmp_path):
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"):
        with gzip.open(tmp_path / name, "wb") as f:
            header = b"\x00\x00\x08\x03" + b"".join(n.to_bytes(4, "big") for n in (5, 28, 28))
            f.write(header + b"\x00" * 100)  # 5 x 28 x 28 promised, 100 bytes held
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte.gz: idx header says"):
        FashionMNIST(tmp_path)


def _write_idx(path: Path, array: np.ndarray) -> None:
    with gzip.open(path, "wb") as f:
        f.write(b"\x00\x00\x08" + bytes([array.ndim]) + b"".join(n.to_bytes(4, "big") for n in array.shape))
        f.write(array.tobytes())


@pytest.mark.parametrize(
    ("images", "labels", "message"),
    [
        # A header of 255 dimensions was a struct.error; 4-D and 2-D images a RuntimeError at the first batch.
        (np.zeros((4, 28, 28, 3), np.uint8), np.zeros(4, np.uint8), r"images-idx3-ubyte.gz: an idx file of 4 dim"),
        (np.zeros((4, 784), np.uint8), np.zeros(4, np.uint8), r"images-idx3-ubyte.gz: an idx file of 2 dimensions"),
        # A label beyond the ten classes trained, or scored 0% as measured.
        (np.zeros((4, 28, 28), np.uint8), np.array([0, 1, 200, 2], np.uint8), r"labels-idx1-ubyte.gz: a label of 200"),
    ],
)
def test_idx_files_of_other_shapes_or_labels_are_named(tmp_path, images, labels, message):
    _write_idx(tmp_path / "train-images-idx3-ubyte.gz", images)
    _write_idx(tmp_path / "train-labels-idx1-ubyte.gz", labels)
    with pytest.raises(DataError, match=message):
        FashionMNIST(tmp_path)
    with gzip.open(tmp_path / "train-images-idx3-ubyte.gz", "wb") as f:
        f.write(b"\x00\x00\x08\xff" + b"\x00" * 12)
    with pytest.raises(DataError, match=r"images-idx3-ubyte.gz: an idx file of 255 dimensions; Fashion-MNIST's has 3"):
        FashionMNIST(tmp_path)


def test_epoch_sampler_splits_global_batches_across_ranks_and_resumes():
    whole = list(EpochSampler(20, batch_size=4, seed=1, epoch=3))
    ranks = [list(EpochSampler(20, batch_size=2, seed=1, epoch=3, rank=r, world_size=2)) for r in range(2)]
    # Global batch b of the one-process run is the union of the ranks' batch b.
    for b in range(5):
        assert sorted(whole[4 * b : 4 * b + 4]) == sorted(ranks[0][2 * b : 2 * b + 2] + ranks[1][2 * b : 2 * b + 2])
    assert list(EpochSampler(20, batch_size=4, seed=1, epoch=3, start_batch=2)) == whole[8:]
    assert whole != list(EpochSampler(20, batch_size=4, seed=1, epoch=4))
    with pytest.raises(DataError, match="fewer than one global batch"):
        EpochSampler(3, batch_size=4, seed=0, epoch=0)


def test_local_shuffling_keeps_each_rank_on_its_own_stretch_and_resumes():
    assert data.rank_stretches(10, 2) == [range(0, 5), range(5, 10)]
    # With at least as many tars as ranks, a cut moves on to where the next tar begins; with fewer, it stays even.
    assert data.rank_stretches(10, 2, tar_starts=[3, 6, 8]) == [range(0, 6), range(6, 10)]
    assert data.rank_stretches(10, 4, tar_starts=[6]) == [range(0, 3), range(3, 5), range(5, 8), range(8, 10)]
    stretches = data.rank_stretches(10, 2, tar_starts=[3, 6, 8])
    ranks = [
        list(EpochSampler(10, batch_size=2, seed=1, epoch=0, rank=r, world_size=2, stretches=stretches))
        for r in range(2)
    ]
    for rank, drawn in enumerate(ranks):  # 2 batches each: as many as the smaller stretch (4 images) gives
        indices = [index for _, index in drawn]
        assert len(indices) == len(set(indices)) == 4 and set(indices) <= set(stretches[rank])
    resumed = EpochSampler(10, batch_size=2, seed=1, epoch=0, rank=1, world_size=2, start_batch=1, stretches=stretches)
    assert list(resumed) == ranks[1][2:]
    # One rank's stretch is everything: a single process shuffles as globally.
    assert list(EpochSampler(10, batch_size=4, seed=1, epoch=3, stretches=[range(10)])) == list(
        EpochSampler(10, batch_size=4, seed=1, epoch=3)
    )
    with pytest.raises(DataError, match="smallest rank's stretch of the data holds 4 images, fewer than one batch"):
        EpochSampler(10, batch_size=5, seed=0, epoch=0, world_size=2, stretches=stretches)


def test_an_empty_class_folder_is_refused(tmp_path):
    """It would be a class that nothing is labelled with: an extra, unpredictable output of every classifier."""
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "a" / "x.png")
    with pytest.raises(DataError, match=r"class folder\(s\) with no images: b; add images or remove them"):
        labelled_images(tmp_path)


def test_class_folders_named_in_either_unicode_form_are_one_class(tmp_path):
    """A folder copied from macOS names `café` decomposed (NFD): train and val were refused as "different classes
    (café, caff vs café, caff)", or numbered apart (NFD's `café` sorts before `caff`, NFC's after)."""
    import unicodedata

    for split, form in (("train", "NFC"), ("val", "NFD")):
        for name in (unicodedata.normalize(form, "café"), "caff"):
            write_png(tmp_path / split / name / "x.png", seed=0)
    train, val = labelled_images(tmp_path / "train"), labelled_images(tmp_path / "val")
    assert train.classes == val.classes == ["caff", "café"]
    for images in (train, val):
        folders = [unicodedata.normalize("NFC", path.split("/")[0]) for path in images.paths]
        assert [images.classes[label] for label in images.labels] == folders
    write_png(tmp_path / "train" / unicodedata.normalize("NFD", "café") / "y.png", seed=1)
    with pytest.raises(DataError, match=r"class folders .* and another are one name in two Unicode forms; rename"):
        labelled_images(tmp_path / "train")


@pytest.mark.parametrize(("image_size", "crop_pct"), [(224, 0.95), (224, 0.875), (224, 0.965), (32, 1.0), (288, 0.9)])
def test_eval_resize_and_crop_are_timms(image_size, crop_pct):
    """timm floors image_size / crop_pct (235 at 0.95 and 224 px, where rounding gives 236)."""
    import timm.data
    from torchvision.transforms import v2

    from simsiam_zoo.augment import eval_transform

    ours = eval_transform(image_size=image_size, crop_pct=crop_pct, mean=(0.5,) * 3, std=(0.5,) * 3)
    theirs = timm.data.create_transform(input_size=(3, image_size, image_size), crop_pct=crop_pct, crop_mode="center")
    resize = next(t for t in ours.transforms if isinstance(t, v2.Resize))
    crop = next(t for t in ours.transforms if isinstance(t, v2.CenterCrop))
    assert (resize.size[0], list(crop.size)) == (theirs.transforms[0].size, [image_size, image_size])


@pytest.mark.parametrize("model", ["resnet50.a1_in1k", "resnet50.tv_in1k"])  # bicubic at 0.95, bilinear at 0.875
def test_the_eval_transform_of_a_photo_is_timms_within_one_grey_level(model):
    """The resize runs on the decoded uint8 tensor (torchvision's antialiased kernels), not on the PIL image as
    timm's `create_transform` does: on scikit-learn's two sample photos every pixel is within one grey level of
    timm's (their rounding to uint8), and most are equal."""
    import sklearn
    import timm.data

    from simsiam_zoo.augment import Preprocessing
    from simsiam_zoo.data.decode import decode_image

    cfg = timm.create_model(model, pretrained=False).pretrained_cfg
    ours = Preprocessing.from_pretrained_cfg(cfg).transform()
    theirs = timm.data.create_transform(**timm.data.resolve_data_config(cfg))
    std = torch.tensor(cfg["std"]).view(3, 1, 1)
    for photo in sorted((Path(sklearn.__file__).parent / "datasets" / "images").glob("*.jpg")):
        with Image.open(photo) as image:
            grey_levels = ((ours(decode_image(photo)) - theirs(image.convert("RGB"))) * std * 255).abs()
        assert grey_levels.max() < 1.001 and grey_levels.mean() < 0.05, (photo.name, grey_levels.max())


def test_the_eval_transform_names_an_input_it_does_not_take():
    """A numpy array came back unchanged and a 0-255 float image was normalised 255 times too bright, in silence;
    a PIL image or an HWC tensor failed inside Normalize. uint8, [0, 1] floats, batches and grey images work."""
    transform = make_transform()
    ramp = torch.arange(40)[:, None] + 2 * torch.arange(48)[None, :]  # smooth: bicubic overshoots no clamp
    image = torch.stack([ramp, ramp + 50, ramp + 100]).to(torch.uint8)
    expected = transform(image)
    # Up to the uint8 resize's rounding: 2/255 over the smallest std, 0.2.
    assert torch.allclose(transform(image.float() / 255), expected, atol=2 / 255 / 0.2)
    assert torch.equal(transform(image[None].repeat(2, 1, 1, 1))[1], expected)
    assert transform(image[:1]).shape == expected.shape
    for blank in (0.0, 1.0):  # the bounds of [0, 1], on a constant image: white pixels are in range
        assert torch.isfinite(transform(torch.full((3, 40, 48), blank))).all()
    refused = [
        (image.float() / 200, ValueError, "takes a float image in [0, 1], got values in [0, 1.165]"),
        (image.numpy(), TypeError, "got a numpy.ndarray"),
        (Image.fromarray(image.permute(1, 2, 0).numpy()), TypeError, "got a PIL.Image.Image"),
        (image.float(), ValueError, "takes a float image in [0, 1], got values in [0, 233]"),
        (image.permute(1, 2, 0), ValueError, "of 1 or 3 channels, got shape (40, 48, 3)"),
        (image[0], ValueError, "got shape (40, 48)"),
        (image[:, :0], ValueError, "got shape (3, 0, 48)"),  # a ZeroDivisionError in the resize
        (image.to(torch.int32) * 257, TypeError, "got torch.int32 (a 16-bit image"),  # came out near-black
        (image.bool(), TypeError, "got torch.bool"),
    ]
    for wrong, error, message in refused:
        with pytest.raises(error, match=re.escape(message)):
            transform(wrong)


@pytest.mark.parametrize("crop_mode", ["center", "squash"])
def test_eval_transform_crops_as_timm_for_each_crop_mode(crop_mode):
    """The same pixels come out as from timm's transform for that crop mode (up to PIL's and torchvision's resize
    arithmetic); the other mode's geometry would be far off on this non-square striped image."""
    import timm.data
    from torchvision.transforms.functional import pil_to_tensor

    from simsiam_zoo.augment import Preprocessing

    x = torch.arange(300).float()
    stripes = ((torch.sin(x / 7)[None, :] * torch.cos(torch.arange(200).float() / 5)[:, None] + 1) * 127).byte()
    image = Image.fromarray(stripes.expand(3, -1, -1).permute(1, 2, 0).numpy())
    cfg = {
        "input_size": [3, 64, 64],
        "crop_pct": 0.9,
        "interpolation": "bilinear",
        "crop_mode": crop_mode,
        "mean": [0.5] * 3,
        "std": [0.5] * 3,
    }
    ours = Preprocessing.from_pretrained_cfg(cfg).transform()(pil_to_tensor(image))
    theirs = timm.data.create_transform(**timm.data.resolve_data_config(cfg))(image)
    other = Preprocessing.from_pretrained_cfg({**cfg, "crop_mode": "squash" if crop_mode == "center" else "center"})
    assert (ours - theirs).abs().mean() < 0.02 < (other.transform()(pil_to_tensor(image)) - theirs).abs().mean()


@pytest.mark.parametrize(
    ("change", "message"),
    [({"crop_mode": "border"}, "crop_mode 'border' is not supported"), ({"input_size": [3, 224, 288]}, "not square")],
)
def test_preprocessing_this_project_cannot_reproduce_is_refused(change, message):
    from simsiam_zoo.augment import Preprocessing

    cfg = {"input_size": [3, 224, 224], "mean": [0.5] * 3, "std": [0.5] * 3, **change}
    with pytest.raises(ValueError, match=message):
        Preprocessing.from_pretrained_cfg(cfg)


def test_training_extraction_and_evaluation_read_data_alike(tmp_path):
    """One policy for what is not an image: a notes.txt in a class folder and a link back to the data folder are
    listed and skipped by extraction and left out, with a warning, by training and the evaluations; a class folder
    that is a link elsewhere is followed by all of them. (Training and fine-tuning once refused the notes.txt that
    extraction skipped, and followed a linked class folder that extraction left out.)"""
    from simsiam_zoo.features import extract_features, load_features
    from simsiam_zoo.pretrain import build_dataset
    from simsiam_zoo.protocols import resolve_data
    from simsiam_zoo.recipe import load_recipe

    elsewhere = tmp_path / "elsewhere" / "dogs"
    for split in ("train", "val"):
        root = tmp_path / "data" / split
        for i in range(3):
            write_png(root / "cats" / f"{i}.png", 10 * i)
            write_png(elsewhere / split / f"{i}.png", 200 + 10 * i)
        (root / "cats" / "notes.txt").write_text("where the cats came from")
        (root / "dogs").symlink_to(elsewhere / split, target_is_directory=True)
        (root / "cats" / "again").symlink_to("..", target_is_directory=True)
    train_dir = tmp_path / "data" / "train"
    expected_paths = ["cats/0.png", "cats/1.png", "cats/2.png", "dogs/0.png", "dogs/1.png", "dogs/2.png"]

    extract_features(tiny_model(), make_transform(), train_dir, out=tmp_path / "features", progress=False)
    extracted = load_features(tmp_path / "features")
    skipped = json.loads((tmp_path / "features" / "skipped.json").read_text())
    assert extracted.paths == expected_paths and extracted.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert [(s["path"], s["reason"]) for s in skipped] == [
        ("cats/again", "a second path to a folder already listed (a link to it, or a loop), not followed"),
        ("cats/notes.txt", "not an image file extension"),
    ]

    recipe = load_recipe("tiny_fake").replace({"data.dataset": "imagefolder", "data.path": str(tmp_path / "data")})
    listed = r"skipped 2 of 8 entries, not images \(cats/again: .*; cats/notes.txt: not an image file extension\)"
    with pytest.warns(UserWarning, match=listed):
        trained_on = build_dataset(recipe)
    with pytest.warns(UserWarning, match="skipped 2 of 8 entries"):
        evaluated = resolve_data(str(tmp_path / "data")).train
    for dataset in (trained_on, evaluated):
        assert dataset.paths == expected_paths and dataset.labels.tolist() == [0, 0, 0, 1, 1, 1]
        assert dataset.classes == ["cats", "dogs"]
        assert torch.equal(
            dataset[3][0], torch.from_numpy(np.array(Image.open(elsewhere / "train" / "0.png"))).permute(2, 0, 1)
        )


def test_training_and_evaluation_read_hugging_face_datasets_and_tar_shards(tmp_path):
    """A `DatasetDict.save_to_disk` folder (its train/ and test/ splits) and WebDataset tar shards give training,
    the evaluations and a training run the images and labels of the same files."""
    datasets = pytest.importorskip("datasets")
    from simsiam_zoo.pretrain import build_dataset, train
    from simsiam_zoo.protocols import resolve_data
    from simsiam_zoo.recipe import load_recipe

    files = {split: [tmp_path / "png" / split / f"{i}.png" for i in range(6)] for split in ("train", "test")}
    for split, paths in files.items():
        for i, path in enumerate(paths):
            write_png(path, 40 * i + (split == "test"))
    rows = {split: [(path.read_bytes(), i % 2) for i, path in enumerate(paths)] for split, paths in files.items()}
    datasets.DatasetDict({split: image_dataset(rows[split], ["cat", "dog"]) for split in rows}).save_to_disk(
        str(tmp_path / "hf")
    )
    for split in rows:
        write_tar_shards(
            tmp_path / "tars" / split,
            [(f"k{i}", data, label) for i, (data, label) in enumerate(rows[split])],
            per_shard=4,
        )
    tars = {split: str(tmp_path / "tars" / split / "train-{000000..000001}.tar") for split in rows}

    recipe = load_recipe("tiny_fake").replace(
        {
            "data.dataset": "imagefolder",
            "data.path": str(tmp_path / "hf"),
            "optim.batch_size": 2,
            "data.knn_train_size": 0,
        }
    )
    from_hf, from_tars = resolve_data(str(tmp_path / "hf")), resolve_data((tars["train"], tars["test"]))
    for name, train_set, test_set in (
        ("hf", from_hf.train, from_hf.test),
        ("tar", from_tars.train, from_tars.test),
        ("train hf", build_dataset(recipe), None),
        ("train tar", build_dataset(recipe.replace({"data.path": tars["train"]})), None),
    ):
        for split, dataset in (("train", train_set), ("test", test_set)):
            if dataset is None:
                continue
            assert dataset.labels.tolist() == [0, 1] * 3, (name, split)
            for i, path in enumerate(files[split]):
                assert torch.equal(dataset[i][0], data.decode_image(path)), (name, split, i)
    assert from_hf.classes == ["cat", "dog"] and from_tars.classes == ["0", "1"]
    result = train(recipe, output_dir=tmp_path / "run", max_steps=2, progress=False)
    assert result.step == 2


def _tar(path, members):
    import io
    import tarfile

    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w") as tar:
        for name, body in members:
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))


def test_tar_labels_repeated_keys_and_shards_of_one_name(tmp_path):
    """A `.cls` that is no plain decimal number, or is huge, is an error naming the member (was a traceback, or a
    list of 99,999,999,999 class names); a key that comes twice is a listed skip, not an image lost in silence; two
    shards of one name in two folders give distinct sample names."""
    png = tmp_path / "a.png"
    Image.fromarray(np.zeros((4, 4, 3), dtype=np.uint8)).save(png)
    image = png.read_bytes()
    for label in (b"\xd9\xa3", b"+1", b" 99999999999"):  # an Arabic-Indic digit, a sign, a huge number
        _tar(tmp_path / "bad.tar", [("k.png", image), ("k.cls", label)])
        with pytest.raises(DataError, match=r"bad.tar: k.cls: a class label must be a decimal number from 0 to "):
            data.open_source(str(tmp_path / "bad.tar"))
    _tar(
        tmp_path / "one" / "train.tar",
        [("a.png", image), ("a.cls", b"1"), ("a.png", image), ("a.cls", b"0"), ("b.png", image)],
    )
    _tar(tmp_path / "two" / "train.tar", [("a.png", image)])
    source = data.open_source(f"{tmp_path}/{{one,two}}/train.tar")
    assert source.paths == [
        f"{tmp_path}/one/train.tar/a",
        f"{tmp_path}/one/train.tar/a",
        f"{tmp_path}/one/train.tar/b",
        f"{tmp_path}/two/train.tar/a",
    ]
    assert source.labels == [1, 0, -1, -1]
    assert list(source.skipped) == [1] and "a second sample a in the shard" in source.skipped[1]


def test_a_truncated_tar_shard_is_refused_and_a_sample_is_read_as_webdataset_reads_it(tmp_path):
    """A shard cut at a member's header (an interrupted copy) was read to the cut in silence: samples and labels
    lost, exit 0. `.CLS` is a label as `.PNG` is an image (the label was dropped); a key repeated later in the
    shard, not only right after itself, is a listed skip; of `a.seg.png` and `a.jpg` the image is `a.jpg`, of
    `d.webp` and `d.png` the PNG (the first in the tar was embedded), and two others are a listed skip."""
    png = tmp_path / "a.png"
    Image.fromarray(np.zeros((4, 4, 3), dtype=np.uint8)).save(png)
    image = png.read_bytes()
    members = [(f"s{i}.{kind}", body) for i in range(3) for kind, body in (("png", image), ("cls", b"1"))]
    _tar(tmp_path / "whole.tar", members)
    whole = (tmp_path / "whole.tar").read_bytes()
    assert data.open_source(str(tmp_path / "whole.tar")).labels == [1, 1, 1]
    ends = [512 + 512 * ((len(image) + 511) // 512), 2 * 512 + 512 * ((len(image) + 511) // 512) + 512]
    for cut in (ends[0], ends[1], ends[1] + 100):  # before a member's header, after one, inside one
        (tmp_path / "cut.tar").write_bytes(whole[:cut])
        with pytest.raises(
            DataError,
            match=r"cut.tar: not a readable tar file \(it ends without the tar's end-of-archive block after byte ",
        ):
            data.open_source(str(tmp_path / "cut.tar"))
    _tar(
        tmp_path / "odd.tar",
        [("a.PNG", image), ("a.CLS", b"1"), ("b.png", image), ("a.png", image), ("a.cls", b"0")]
        + [("c.seg.png", image), ("c.jpg", image), ("c.cls", b"0"), ("d.webp", image), ("d.png", image)]
        + [("e.left.png", image), ("e.right.png", image)],
    )
    source = data.open_source(str(tmp_path / "odd.tar"))
    assert [path.rpartition("/")[2] for path in source.paths] == ["a", "b", "a", "c", "d", "e"]
    assert source.labels == [1, -1, 0, 0, -1, -1]
    assert "a second sample a in the shard" in source.skipped[2]
    assert (source.files[3].name, source.files[4].name) == ("c.jpg", "d.png")  # as to_tuple("jpg;png") reads them
    assert (
        sorted(source.skipped) == [2, 5] and "several images in the sample (left.png, right.png)" in source.skipped[5]
    )


def test_bytes_that_are_no_image_are_named_the_same_every_time() -> None:
    """A tar member or dataset row that is no image was said with PIL's `<_io.BytesIO object at 0x7f95...>`: two
    identical extractions wrote other bytes to `skipped.json` and to the shards."""
    reasons = set()
    for _ in range(2):
        with pytest.raises(DataError) as refused:
            data.decode_image(Path("shard.tar/key.png"), b"notimage")
        reasons.add(str(refused.value))
    assert reasons == {"shard.tar/key.png: cannot decode image: cannot identify image file (no format PIL reads)"}


def test_a_limit_counts_images_not_the_other_files_listed(tmp_path):
    """`--limit N` is the first N images: files listed and skipped as no images (a `.txt`) are kept as skips but
    not counted (`--limit 2` of three notes, then images, found no image)."""
    for i in range(3):
        (tmp_path / "a").mkdir(exist_ok=True)
        (tmp_path / "a" / f"{i}.txt").write_text("notes")
        Image.fromarray(np.zeros((4, 4, 3), dtype=np.uint8)).save(tmp_path / "a" / f"{i + 3}.png")
    source = data.open_source(tmp_path, limit=2)
    assert source.paths == ["a/0.txt", "a/1.txt", "a/2.txt", "a/3.png", "a/4.png"] and sorted(source.skipped) == [
        0,
        1,
        2,
    ]


def test_an_image_folder_holding_a_state_json_is_read_as_images(tmp_path):
    """A `state.json` of the user's own was enough to take the folder for a saved Hugging Face dataset, refused as
    a broken one; `save_to_disk` writes it beside `dataset_info.json`."""
    Image.fromarray(np.zeros((4, 4, 3), dtype=np.uint8)).save(tmp_path / "c0.png")
    (tmp_path / "cats").mkdir()
    (tmp_path / "c0.png").rename(tmp_path / "cats" / "c0.png")
    (tmp_path / "state.json").write_text("{}")
    source = data.open_source(tmp_path)
    assert source.paths == ["cats/c0.png", "state.json"] and list(source.skipped) == [1]


def test_parquet_files_in_the_current_folder_are_named_by_it(tmp_path, monkeypatch):
    """`FOLDER/ROW`: a file named without its folder gave `/0`, `/1`, ..., which read as absolute paths."""
    png = tmp_path / "a.png"
    Image.fromarray(np.zeros((4, 4, 3), dtype=np.uint8)).save(png)
    image_dataset([(png.read_bytes(), 0), (png.read_bytes(), 1)], ["cat", "dog"]).to_parquet(tmp_path / "x.parquet")
    monkeypatch.chdir(tmp_path)
    assert data.open_source("x.parquet").paths == [f"{tmp_path.name}/0", f"{tmp_path.name}/1"]


def test_any_dataset_train_is_given_has_a_fingerprint():
    """`train(dataset=...)` records one to check a resume: classes in a numpy array, labels that need grad, failed
    in json and numpy (TypeError, RuntimeError) before the first step."""

    class Mine(torch.utils.data.Dataset):
        classes = np.array(["cat", "dog"])
        labels = torch.tensor([0.0, 1.0], requires_grad=True)

        def __len__(self):
            return 2

        def __getitem__(self, index):
            return torch.zeros(3, 8, 8, dtype=torch.uint8), index

    assert len(data.dataset_fingerprint(Mine())) == 64


def test_a_hugging_face_label_column_of_strings_names_the_classes(tmp_path):
    """String labels become classes in sorted order, as an image folder's (was a traceback); other values are an
    error naming the column."""
    datasets = pytest.importorskip("datasets")
    png = tmp_path / "a.png"
    Image.fromarray(np.zeros((4, 4, 3), dtype=np.uint8)).save(png)
    rows = {"image": [{"bytes": png.read_bytes(), "path": None}] * 3, "label": ["dog", "cat", None]}
    features = datasets.Features({"image": datasets.Image(), "label": datasets.Value("string")})
    datasets.Dataset.from_dict(rows, features=features).save_to_disk(str(tmp_path / "strings"))
    source = data.open_source(tmp_path / "strings")
    assert source.classes == ["cat", "dog"] and source.labels == [1, 0, -1]
    rows["label"] = [0.5, 1.0, 2.0]
    features = datasets.Features({"image": datasets.Image(), "label": datasets.Value("float32")})
    datasets.Dataset.from_dict(rows, features=features).save_to_disk(str(tmp_path / "floats"))
    with pytest.raises(DataError, match=r"floats: label column 'label' holds 0.5; expected class names or integers"):
        data.open_source(tmp_path / "floats")
    # Saved with no rows, it has no Arrow file, which datasets cannot load (an IndexError, a traceback).
    datasets.Dataset.from_dict({"image": [], "label": []}, features=features).save_to_disk(str(tmp_path / "empty"))
    with pytest.raises(DataError, match=r"empty: no images found \(a Hugging Face dataset saved with 0 rows\)"):
        data.open_source(tmp_path / "empty")


def test_parquet_files_of_other_class_names_or_labels_beyond_them_are_refused(tmp_path):
    """datasets reads every file with the first one's features: a shard encoded with its own class names had its
    labels numbered by the first's (in silence); labels beyond a ClassLabel's names made a store its reader calls
    corrupt. A file pyarrow cannot read is named, not datasets' wrapper error."""
    datasets = pytest.importorskip("datasets")
    png = _png_bytes(tmp_path)
    image_dataset([(png, 0), (png, 1), (png, 2)], ["cat", "dog", "emu"]).to_parquet(tmp_path / "train-0.parquet")
    image_dataset([(png, 0), (png, 1)], ["dog", "emu"]).to_parquet(tmp_path / "train-1.parquet")
    with pytest.raises(DataError, match=r"train-1.parquet: other class names than .*train-0.parquet \(column\(s\) l"):
        data.open_source(str(tmp_path / "train-*.parquet"))
    # Other columns recorded otherwise (an int32 beside an int64) are datasets' to cast: read as before.
    image_dataset([(png, 1), (png, 2)], ["cat", "dog", "emu"]).cast_column(
        "note", datasets.Value("large_string")
    ).to_parquet(tmp_path / "train-1.parquet")
    assert data.open_source(str(tmp_path / "train-*.parquet")).labels == [0, 1, 2, 1, 2]
    (tmp_path / "train-1.parquet").write_bytes(b"hello")
    with pytest.raises(DataError, match=r"train-1.parquet: not readable as a parquet file \(Parquet file size is 5"):
        data.open_source(str(tmp_path / "train-*.parquet"))
    table = image_dataset([(png, 0), (png, 1)], ["cat", "dog"]).data.table
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    labels = table.column_names.index("label")  # the file's labels set past its names, the names kept
    pq.write_table(table.set_column(labels, "label", pc.add(table["label"], 1)), tmp_path / "beyond.parquet")
    with pytest.raises(DataError, match=r"label column 'label' holds 2, beyond its 2 class names \(cat, dog\)"):
        data.open_source(str(tmp_path / "beyond.parquet"))


def test_a_hugging_face_dataset_saved_with_a_format_or_columns_chosen_reads_whole(tmp_path):
    """A format saved with the dataset (torch, pandas) gave labels of other types (refused as not integers, or a
    pandas traceback), and columns hidden by it a KeyError."""
    dataset = image_dataset([(_png_bytes(tmp_path), 0), (_png_bytes(tmp_path), 1)], ["cat", "dog"])
    for name, saved in {
        "torch": dataset.with_format("torch"),
        "pandas": dataset.with_format("pandas"),
        "columns": dataset.with_format(None, columns=["image"]),
    }.items():
        saved.save_to_disk(str(tmp_path / name))
        source = data.open_source(tmp_path / name)
        assert (source.labels, source.classes) == ([0, 1], ["cat", "dog"]), name
        assert source.load(0).shape == (3, 4, 4)


def test_hugging_face_columns_that_are_not_one_image_and_labels_are_refused(tmp_path):
    """Two image columns, none named `image`: the first (a mask) was read in silence; a `label` column of
    images was decoded whole before a refusal naming a memory address."""
    datasets = pytest.importorskip("datasets")
    image = {"bytes": _png_bytes(tmp_path), "path": None}
    two = datasets.Features({"mask": datasets.Image(), "img": datasets.Image()})
    datasets.Dataset.from_dict({"mask": [image], "img": [image]}, features=two).save_to_disk(str(tmp_path / "two"))
    with pytest.warns(UserWarning, match=r"two: several image columns \(mask, img\), none named 'image': reading 'm"):
        data.open_source(tmp_path / "two")
    nested = datasets.Features({"image": datasets.Image(), "label": datasets.Sequence(datasets.Value("int64"))})
    rows = {"image": [image], "label": [[1, 2]]}
    datasets.Dataset.from_dict(rows, features=nested).save_to_disk(str(tmp_path / "nested"))
    with pytest.raises(DataError, match=r"nested: label column 'label' holds (Sequence|List) values; expected class"):
        data.open_source(tmp_path / "nested")


def test_named_sources_are_suggested_and_an_empty_split_is_refused():
    with pytest.raises(DataError, match=r"cifar-10: no such folder or file; did you mean the named source cifar10\?"):
        data.open_source("cifar-10")
    with pytest.raises(DataError, match=r"no such folder or file \(named sources: fashion_mnist, .* cifar10, "):
        data.open_source("no-such-folder")
    with pytest.raises(DataError, match=r"'cifar10:': a suite dataset's split is :train or :test"):
        data.open_source("cifar10:")  # `cifar10:$SPLIT` with SPLIT unset read cifar10:train


def test_a_held_out_split_may_be_named_validation(tmp_path):
    # A DatasetDict of train/validation was refused as lacking a held-out split. test/ stays before it, as it was
    # chosen before validation/ was read (an earlier result keeps its meaning).
    for split in ("train", "validation"):
        (tmp_path / split).mkdir()
    assert data.held_out_folder(tmp_path) == tmp_path / "validation"
    (tmp_path / "test").mkdir()
    assert data.held_out_folder(tmp_path) == tmp_path / "test"
    (tmp_path / "val").mkdir()
    assert data.held_out_folder(tmp_path) == tmp_path / "val"


def test_hugging_face_rows_that_refer_to_image_files_are_those_files(tmp_path, monkeypatch):
    """A row with a path and no bytes (`to_parquet` of a dataset of local files) reads that file, from the working
    folder as datasets opens it; the file is part of the listing (an edited image resumed the old features)."""
    datasets = pytest.importorskip("datasets")
    for folder, value in (("here", 10), ("there", 200)):
        (tmp_path / folder / "imgs").mkdir(parents=True)
        Image.fromarray(np.full((4, 4, 3), value, dtype=np.uint8)).save(tmp_path / folder / "imgs" / "0.png")
    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=["a"])})
    rows = {"image": ["imgs/0.png"], "label": [0]}
    monkeypatch.chdir(tmp_path / "here")
    datasets.Dataset.from_dict(rows, features=features).to_parquet(tmp_path / "relative.parquet")
    pattern = str(tmp_path / "relative.parquet")
    here = data.open_source(pattern)
    assert here.load(0).unique().tolist() == [10]
    monkeypatch.chdir(tmp_path / "there")
    there = data.open_source(pattern)
    assert there.load(0).unique().tolist() == [200]
    listed = data.listing_sha256(there)
    assert data.listing_sha256(here) != listed
    image = tmp_path / "there" / "imgs" / "0.png"
    Image.fromarray(np.full((6, 6, 3), 7, dtype=np.uint8)).save(image)  # edited in place
    assert data.listing_sha256(data.open_source(pattern)) != listed


def test_hugging_face_rows_are_keyed_by_their_file_and_row(tmp_path):
    """Two patterns sharing a file share its rows (a test split that is train's files too went unwarned); a saved
    folder and its Arrow files by a pattern are one dataset."""
    png = _png_bytes(tmp_path)
    for part in range(2):
        image_dataset([(png, 0), (png, 1)], ["cat", "dog"]).to_parquet(tmp_path / f"train-{part}.parquet")
    train = data.open_source(str(tmp_path / "train-*.parquet")).images()
    test = data.open_source(str(tmp_path / "train-1.parquet")).images()
    assert data.image_keys(test) == data.image_keys(train)[2:]
    image_dataset([(png, 0), (png, 1), (png, 0)], ["cat", "dog"]).save_to_disk(str(tmp_path / "saved"), num_shards=2)
    saved = data.image_keys(data.open_source(tmp_path / "saved").images())
    assert saved == data.image_keys(data.open_source(str(tmp_path / "saved" / "*.arrow")).images())
    assert len(set(saved)) == 3


def test_parquet_files_are_the_same_source_whatever_datasets_cache_holds_them(tmp_path, monkeypatch):
    # Their listing was datasets' cache of them: another HF_DATASETS_CACHE was "changed: the images".
    datasets = pytest.importorskip("datasets")
    image_dataset([(_png_bytes(tmp_path), 0)], ["cat"]).to_parquet(tmp_path / "x.parquet")
    pattern = str(tmp_path / "x.parquet")
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "cache-a")
    first = data.open_source(pattern)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "cache-b")
    assert data.listing_sha256(data.open_source(pattern)) == data.listing_sha256(first)
    assert (tmp_path / "cache-b").is_dir()
    # A store the versions before wrote, which listed that cache, resumes (once refused as "changed: the images").
    from simsiam_zoo.features import extract, extract_features

    monkeypatch.setattr(extract, "listing_sha256", data.former_listing_sha256)
    kwargs = {"out": tmp_path / "out", "progress": False, "num_workers": 0}
    extract_features(tiny_model(), make_transform(), pattern, **kwargs)
    monkeypatch.setattr(extract, "listing_sha256", data.listing_sha256)
    (tmp_path / "out" / "index.json").unlink()
    assert extract_features(tiny_model(), make_transform(), pattern, **kwargs).resumed_shards == 1


def _png_bytes(folder) -> bytes:
    png = folder / "image.png"
    Image.fromarray(np.full((4, 4, 3), 120, dtype=np.uint8)).save(png)
    return png.read_bytes()


def test_unlabelled_counts_the_images_without_a_label_and_names_the_first() -> None:
    from simsiam_zoo.data import unlabelled

    assert unlabelled(torch.tensor([0, 1, 2])) is None
    assert unlabelled(torch.tensor([0, -1, 2, -1])) == "2 of 4 images have no label"
    assert (
        unlabelled(torch.tensor([0, -1, -1]), ["a.png", "b.png", "c.png"])
        == "2 of 3 images have no label, the first b.png"
    )


def test_a_suite_dataset_is_read_from_the_hub_then_offline_from_its_cache(hub_datasets, monkeypatch) -> None:
    """`cifar10:test` is uoft-cs/cifar10's test split (its files under plain_text/, its `img` column), through the
    datasets library's own download path; offline, the same comes from the cache without a request."""
    import datasets
    from huggingface_hub import constants

    entry = data.TRANSFER_SUITE["cifar10"]
    hub_datasets.add_dataset(
        entry.repo_id, hub_dataset_files(entry, per_class=2, folder="plain_text", columns=("img", "label"))
    )
    source = data.open_source("cifar10:test")
    assert source.location == "cifar10:test" and source.classes == [f"class{c}" for c in range(10)]
    assert source.labels == [c for c in range(10) for _ in range(2)]
    image, label = source.images()[3]
    assert image.shape == (3, 24, 24) and image.dtype == torch.uint8 and label == 1
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    hub_datasets.requests.clear()
    assert data.open_source("cifar10:test").labels == source.labels and hub_datasets.requests == []
    with pytest.raises(DatasetUnavailable, match=r"^eurosat:train: cannot read timm/eurosat-rgb .*Couldn't reach"):
        data.open_source("eurosat:train")  # not cached: a dataset that cannot be had offline (exit 5), not bad input


def test_a_suite_dataset_joins_its_train_splits_and_is_checked_against_the_suite(hub_datasets) -> None:
    """DTD trains on train+validation; a repo whose label column has other classes than the suite says is refused,
    naming the column; a repo the Hub does not have is one line naming the dataset and the repo."""
    import dataclasses

    dtd = data.TRANSFER_SUITE["dtd"]
    hub_datasets.add_dataset(dtd.repo_id, hub_dataset_files(dtd, per_class=1))
    assert len(data.open_source("dtd:train").paths) == 2 * 47 and len(data.open_source("dtd").paths) == 2 * 47
    assert len(data.open_source("dtd:test").paths) == 47
    pets = data.TRANSFER_SUITE["pets"]
    hub_datasets.add_dataset(pets.repo_id, hub_dataset_files(dataclasses.replace(pets, num_classes=3), per_class=1))
    with pytest.raises(
        DataError, match=r"^pets:test: column 'label' of timm/oxford-iiit-pet has 3 classes; the suite expects 37$"
    ):
        data.open_source("pets:test")
    with pytest.raises(DataError, match=r"^eurosat:train: cannot read timm/eurosat-rgb \(split train\)") as missing:
        data.open_source("eurosat:train")
    assert missing.value.exit_code == EXIT_BAD_INPUT  # the Hub answered: no such repo
    with pytest.raises(DataError, match=r"a suite dataset's split is :train or :test, got 'val'"):
        data.open_source("dtd:val")


def test_a_sparse_tar_member_is_refused_naming_it(tmp_path):
    """A member of `tar --sparse` lists as a regular file, but its bytes are packed (the holes left out): it was
    read as the packed bytes and whatever followed them in the shard, in silence."""
    import shutil
    import subprocess
    import tarfile

    tar = shutil.which("tar")
    if tar is None or "GNU tar" not in subprocess.run([tar, "--version"], capture_output=True, text=True).stdout:
        pytest.skip("needs GNU tar to write a sparse member")
    with open(tmp_path / "s.png", "wb") as f:  # data, a 1 MiB hole, data
        f.write(b"\x89PNG" * 128)
        f.seek(1 << 20, 1)
        f.write(b"tail" * 128)
    (tmp_path / "s.cls").write_bytes(b"1")
    subprocess.run([tar, "--sparse", "--format=gnu", "-cf", "x.tar", "s.png", "s.cls"], cwd=tmp_path, check=True)
    with tarfile.open(tmp_path / "x.tar") as written:
        assert written.getmember("s.png").issparse()
    with pytest.raises(DataError, match=r"x.tar: s.png: a sparse member, .* write shards without tar's --sparse"):
        data.open_source(str(tmp_path / "x.tar"))


def test_a_link_in_a_tar_named_as_an_image_is_a_listed_skip(tmp_path):
    """A hard or symbolic link named KEY.png was left out of the listing in silence (a sample of a link alone was
    not there at all, one with a label was "no image in the sample"); WebDataset reads regular files only, so a
    link is never the image, and a sample whose only image is a link is a skip that says so."""
    import io
    import tarfile

    Image.fromarray(np.zeros((4, 4, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    image = (tmp_path / "a.png").read_bytes()
    with tarfile.open(tmp_path / "links.tar", "w") as tar:
        for name, body, link in [
            ("a.png", image, None),
            ("a.cls", b"0", None),
            ("b.png", None, ("a.png", tarfile.LNKTYPE)),
            ("b.cls", b"1", None),
            ("c.png", None, ("a.png", tarfile.SYMTYPE)),
            ("d.jpg", None, ("a.png", tarfile.SYMTYPE)),
            ("d.png", image, None),
        ]:
            info = tarfile.TarInfo(name)
            if link is None:
                info.size = len(body)
                tar.addfile(info, io.BytesIO(body))
            else:
                info.linkname, info.type = link
                tar.addfile(info)
    source = data.open_source(str(tmp_path / "links.tar"))
    assert [path.rpartition("/")[2] for path in source.paths] == ["a", "b", "c", "d"]
    assert source.labels == [0, 1, -1, -1]
    assert source.skipped == {
        1: "its image (png) is a hard link in the tar, which WebDataset does not read",
        2: "its image (png) is a symbolic link in the tar, which WebDataset does not read",
    }
    assert source.files[3].name == "d.png" and torch.equal(source.load(3), source.load(0))


def test_a_shard_pattern_of_too_many_names_is_refused_before_they_are_written_out():
    """`{0000000..9999999}` (a mistyped range) built and looked up ten million names (4.5 GB, minutes) before the
    first missing one was named; the count is known from the braces alone."""
    with pytest.raises(DataError, match=r"^tars/x-\{00000000..99999999\}.tar: names 100,000,000 files, more than 1,0"):
        data.expand_braces("tars/x-{00000000..99999999}.tar")
    with pytest.raises(DataError, match=r"^t/\{a,b\}-\{0..9999\}-\{0..99\}.tar: names 2,000,000 files"):
        data.open_source("t/{a,b}-{0..9999}-{0..99}.tar")
    with pytest.raises(DataError, match=r"^x-\{a\{1,2\}\}.tar: braces inside braces"):
        data.expand_braces("x-{a{1,2}}.tar")
    assert data.expand_braces("s-{08..11}-{a,b}.tar") == [
        f"s-{n}-{c}.tar" for n in ("08", "09", "10", "11") for c in "ab"
    ]
    assert data.expand_braces("s-{3..1}.tar") == [] and data.expand_braces("a{b.tar") == ["a{b.tar"]


def test_a_list_file_with_a_byte_order_mark_and_crlf_reads_its_first_path(tmp_path):
    """A list saved by a Windows editor (a UTF-8 byte-order mark, CRLF line ends) made its first path
    '\\ufeffdata1/cat/0.png', a listed skip "no such file"."""
    for i in range(2):
        write_png(tmp_path / "data1" / "cat" / f"{i}.png", i)
    (tmp_path / "list.txt").write_bytes(b"\xef\xbb\xbfdata1/cat/0.png\r\ndata1/cat/1.png\r\n")
    source = data.open_source(tmp_path / "list.txt")
    assert source.paths == ["data1/cat/0.png", "data1/cat/1.png"]
    assert torch.equal(source.load(0), data.decode_image(tmp_path / "data1" / "cat" / "0.png"))


def test_tar_and_parquet_sources_are_one_source_from_any_working_directory(tmp_path, monkeypatch):
    """Tar and parquet patterns were recorded as typed: `./tars/...` and `tars/...`, or the same pattern from
    another folder, were another source, and an extraction resumed from elsewhere was refused as "changed: the data
    source"; image folders were resolved and resumed."""
    from simsiam_zoo.features import extract, extract_features

    write_png(tmp_path / "a.png", 0)
    image = (tmp_path / "a.png").read_bytes()
    write_tar_shards(tmp_path / "tars", [(f"k{i}", image, i % 2) for i in range(4)], per_shard=2)
    for folder in ("one", "two"):  # two shards of one name: samples are named by the shards' paths
        _tar(tmp_path / "tars" / folder / "train.tar", [("a.png", image)])
    image_dataset([(image, 0), (image, 1)], ["cat", "dog"]).to_parquet(tmp_path / "tars" / "x.parquet")
    (tmp_path / "elsewhere").mkdir()
    patterns = ["tars/train-{000000..000001}.tar", "tars/{one,two}/train.tar", "tars/x.parquet"]
    sources = {}
    for where, prefix in (
        (tmp_path, ""),
        (tmp_path, "./"),
        (tmp_path / "tars", "../"),
        (tmp_path / "elsewhere", "../"),
    ):
        monkeypatch.chdir(where)
        sources[where, prefix] = [data.open_source(prefix + pattern) for pattern in patterns]
    for source in sources.values():
        assert [s.location for s in source] == [str(tmp_path / pattern) for pattern in patterns]
        assert [s.paths for s in source] == [s.paths for s in sources[tmp_path, ""]]
    kwargs = {"progress": False, "num_workers": 0}
    monkeypatch.chdir(tmp_path)
    extract_features(tiny_model(), make_transform(), "./" + patterns[0], out=tmp_path / "out", **kwargs)
    monkeypatch.chdir(tmp_path / "elsewhere")
    again = extract_features(tiny_model(), make_transform(), "../" + patterns[0], out=tmp_path / "out", **kwargs)
    assert again.num_embedded == 4 and again.resumed_shards == again.shards
    # A store of the version before, which recorded the pattern as typed (its shards carry the digest of that
    # record), resumes from the folder it was typed in.
    current_settings = extract._settings

    def as_typed(*args, **kwargs):
        settings = current_settings(*args, **kwargs)
        return {**settings, "source": {**settings["source"], "location": patterns[0]}}

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(extract, "_settings", as_typed)
    extract_features(tiny_model(), make_transform(), patterns[0], out=tmp_path / "legacy", **kwargs)
    monkeypatch.setattr(extract, "_settings", current_settings)
    monkeypatch.chdir(tmp_path / "elsewhere")
    with pytest.raises(DataError, match=r"changed: the data source\)"):  # elsewhere/tars/...: not that source
        extract_features(tiny_model(), make_transform(), "../" + patterns[0], out=tmp_path / "legacy", **kwargs)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "legacy" / "index.json").unlink()
    again = extract_features(tiny_model(), make_transform(), patterns[0], out=tmp_path / "legacy", **kwargs)
    assert again.num_embedded == 4 and again.resumed_shards == again.shards


def test_a_suite_dataset_the_hub_cannot_serve_is_one_line_without_the_hubs_retry_lines(monkeypatch, caplog):
    """huggingface_hub logged two lines a retried request: ten over 30 s before the one-line error when offline. A
    wait the Hub's rate limit asks for is still said."""
    datasets = pytest.importorskip("datasets")
    logger = logging.getLogger("huggingface_hub.utils._http")
    lines = [
        "'[Errno -2] Name or service not known' thrown while requesting HEAD https://huggingface.co/x/README.md",
        "Retrying in 1s [Retry 1/5].",
        "Rate limited. Waiting 5.0s before retry [Retry 2/5].",
    ]

    def unreachable(*args, **kwargs):
        for line in lines:
            logger.warning(line)
        raise ConnectionError("Couldn't reach 'uoft-cs/cifar10' on the Hub (LocalEntryNotFoundError)")

    monkeypatch.setattr(datasets, "load_dataset", unreachable)
    with pytest.raises(DatasetUnavailable, match=r"^cifar10:test: cannot read uoft-cs/cifar10 \(split test\)"):
        data.open_source("cifar10:test")
    assert [record.getMessage() for record in caplog.records] == lines[2:]
    logger.warning(lines[1])  # only while the dataset is read
    assert caplog.records[-1].getMessage() == lines[1]


def test_image_keys_tell_the_same_images_apart_from_others_whatever_the_path_to_them(tmp_path, monkeypatch):
    """`benchmark` warns where a test split shares images with train: a member of a tar shard is one image however
    its shard is reached (a link to its folder), two members are two, and a sample keeps its images' keys."""
    write_png(tmp_path / "a.png", 0)
    image = (tmp_path / "a.png").read_bytes()
    write_tar_shards(tmp_path / "tars", [(f"k{i}", image, i % 2) for i in range(4)], per_shard=2)
    (tmp_path / "linked").symlink_to(tmp_path / "tars", target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    shards = "train-{000000..000001}.tar"
    direct, linked = (labelled_images(f"{folder}/{shards}") for folder in ("tars", "linked"))
    keys = data.image_keys(direct)
    assert len(set(keys)) == 4 and data.image_keys(linked) == keys
    assert data.image_keys(data.LabelledSubset(direct, [3, 1])) == [keys[3], keys[1]]
    assert data.image_keys(labelled_images(tmp_path / "tars" / "train-000000.tar")) == keys[:2]


def _jpeg_with_corrupt_exif() -> bytes:
    """A JPEG whose EXIF block is cut short: PIL decodes it and warns "Corrupt EXIF data"."""
    import struct

    buffer = io.BytesIO()
    Image.fromarray(np.full((8, 10, 3), 90, np.uint8)).save(buffer, "JPEG")
    jpeg, exif = buffer.getvalue(), b"Exif\x00\x00MM\x00\x2a\x00\x00\x00\x08\x00\x05\x01\x12"
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif + jpeg[2:]


def test_a_warning_of_pils_about_an_image_names_it_on_a_line_of_its_own(tmp_path, hub_folder) -> None:
    """PIL's "Corrupt EXIF data" warning named no image (one line for a whole dataset) and was written onto the
    progress bar's line."""
    for name in ("a", "b"):
        (tmp_path / "data" / name).mkdir(parents=True)
        (tmp_path / "data" / name / "phone.jpg").write_bytes(_jpeg_with_corrupt_exif())
    data.decode._WARNED.clear()
    with pytest.warns(UserWarning) as shown:
        data.decode_image(tmp_path / "data" / "a" / "phone.jpg")
        data.decode_image(tmp_path / "data" / "b" / "phone.jpg")
    assert [str(w.message).partition(":")[0] for w in shown] == [str(tmp_path / "data" / "a" / "phone.jpg")]
    # The caller's filters are PIL's message's: one that ignores it is kept (the named message passed it).
    data.decode._WARNED.clear()
    with warnings.catch_warnings(record=True) as kept:
        warnings.filterwarnings("ignore", "Corrupt EXIF data")
        data.decode_image(tmp_path / "data" / "a" / "phone.jpg")
    assert kept == []
    data.decode._WARNED.clear()
    done = run_cli("extract", hub_folder, tmp_path / "data", "--out", tmp_path / "out", process=True)
    assert done.returncode == 0
    lines = [line.split("\r")[-1] for line in done.stderr.splitlines() if "Corrupt EXIF" in line]
    assert len(lines) == 1 and lines[0].startswith(f"warning: {tmp_path / 'data'}"), done.stderr
