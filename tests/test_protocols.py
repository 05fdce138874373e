"""The protocols that train: the paper's linear protocol, semi-supervised fine-tuning, transfer, and a fine-tuned
classifier saved as a timm folder, from the library and the CLI."""

from __future__ import annotations

import importlib
import json
import re
import shutil
import warnings
from pathlib import Path

import pytest
import torch

from simsiam_zoo.backbone import LoadedBackbone
from simsiam_zoo.errors import DataError
from simsiam_zoo.options import LinearProtocolSchedule, RunOptions, Schedule
from simsiam_zoo.protocols import (
    TensorImages,
    digits_datasets,
    finetune_classifier,
    linear_protocol,
    resolve_data,
    semi_supervised,
    semi_supervised_subsets,
    transfer,
)
from tests.builders import CLASSES, QUIET, coloured, run_cli, write_images, write_tar_shards

pytestmark = pytest.mark.usefixtures("one_thread")


def test_linear_protocol_result(hub_folder: Path) -> None:
    result = linear_protocol(
        hub_folder, (coloured(32, seed=1), coloured(16, seed=2)), schedule=LinearProtocolSchedule(epochs=1), run=QUIET
    )
    # The default batch of 4096 is capped at the 32 training images, and the lr scaled with the batch used.
    assert result["batch_size"] == 32 and result["base_lr"] == 0.02 and result["lr"] == pytest.approx(0.02 * 32 / 256)
    assert result["optimizer"] == "lars" and result["num_classes"] == 4
    assert len(result["history"]) == 1 and result["top1"] == result["history"][-1]["val_top1"]


def test_semi_supervised_subsets_are_balanced_and_deterministic() -> None:
    labels = torch.arange(400) % 4
    data = TensorImages(
        torch.zeros(400, 3, 1, 1, dtype=torch.uint8), labels, classes=CLASSES, paths=[f"img/{i}" for i in range(400)]
    )
    subsets = semi_supervised_subsets(data, fractions=(0.01, 0.1), seed=0)
    assert list(subsets) == [0.01, 0.1]
    assert torch.bincount(labels[subsets[0.01]]).tolist() == [1, 1, 1, 1]
    assert torch.bincount(labels[subsets[0.1]]).tolist() == [10, 10, 10, 10]
    again = semi_supervised_subsets(data, fractions=(0.01, 0.1), seed=0)
    assert all(torch.equal(subsets[f], again[f]) for f in subsets)
    other = semi_supervised_subsets(data, fractions=(0.1,), seed=1)
    assert not torch.equal(subsets[0.1], other[0.1])


def test_semi_supervised_with_a_subset_file(loaded: LoadedBackbone, tmp_path: Path) -> None:
    train, test = coloured(40, seed=1), coloured(8, seed=2)
    subset_file = tmp_path / "subset.txt"
    subset_file.write_text("".join(f"{i}.png\n" for i in (0, 1, 2, 3, 5, 6)))
    result = semi_supervised(
        loaded,
        (train, test),
        fractions=(0.2,),
        subset_files={0.15: subset_file},
        schedule=Schedule(epochs=1, batch_size=16, lr=0.05),
        run=QUIET,
    )
    rows = {row["fraction"]: row for row in result["fractions"]}
    assert rows[0.15]["num_labelled"] == 6 and rows[0.15]["per_class"] == [1, 2, 2, 1]
    assert rows[0.15]["subset"] == str(subset_file)
    assert rows[0.2]["num_labelled"] == 8 and rows[0.2]["per_class"] == [2, 2, 2, 2]
    assert result["top1"] == {"0.15": rows[0.15]["top1"], "0.2": rows[0.2]["top1"]}
    subset_file.write_text("0.png\nmissing.png\n")
    with pytest.raises(ValueError, match="missing.png"):
        semi_supervised(loaded, (train, test), fractions=(), subset_files={0.1: subset_file}, run=QUIET)
    assert "batch_size" not in result  # each fraction's row has the one it used


def test_semi_supervised_refuses_a_subset_file_that_labels_no_image_of_a_test_class(
    loaded: LoadedBackbone, tmp_path: Path
) -> None:
    train, test = coloured(40, seed=1), coloured(8, seed=2)
    subset_file = tmp_path / "subset.txt"
    subset_file.write_text("".join(f"{i}.png\n" for i in (0, 1, 2, 4, 5, 6)))  # class 3: images 3, 7, ...
    with pytest.raises(DataError, match=rf"{subset_file}: labels no image of the test classes {CLASSES[3]}$"):
        semi_supervised(loaded, (train, test), fractions=(), subset_files={0.1: subset_file}, run=QUIET)


def test_digits_datasets() -> None:
    train, test = digits_datasets(image_size=16)
    assert len(train) + len(test) == 1797 and 350 <= len(test) <= 370
    image, label = train[0]
    assert image.dtype == torch.uint8 and image.shape == (3, 16, 16) and 0 <= label < 10
    assert int(train.images.max()) == 255 and torch.equal(image[0], image[2])
    counts = torch.bincount(test.labels, minlength=10).float() / torch.bincount(train.labels, minlength=10).float()
    assert torch.allclose(counts, torch.full((10,), 0.25), atol=0.02)  # stratified 80/20
    assert torch.equal(digits_datasets(image_size=16)[1].labels, test.labels)
    # The split is the dataset's, whatever a run's seed: the test images of seeds 0 and 1 are the same.
    splits = [resolve_data("digits", seed=seed) for seed in (0, 1)]
    assert splits[0].test.paths == splits[1].test.paths


def test_transfer_digits_and_an_image_folder(loaded: LoadedBackbone, image_folder: Path, tmp_path: Path) -> None:
    cache = tmp_path / "features"
    datasets = {"digits": "digits", "colours": (image_folder / "train", image_folder / "val")}
    result = transfer(
        loaded,
        datasets,
        schedule=Schedule(epochs=1, batch_size=32, lr=0.05),
        weight_decays=(1e-4, 1e-2),
        cache_dir=cache,
        run=RunOptions(train_limit=200, test_limit=80, progress=False),
    )
    rows = {(row["dataset"], row["mode"]): row for row in result["rows"]}
    assert set(rows) == {(d, m) for d in ("digits", "colours") for m in ("linear", "finetune")}
    assert rows["digits", "linear"]["top1"] > 60.0  # chance is 10%
    assert rows["digits", "linear"]["num_train"] == 200 and rows["colours", "finetune"]["num_test"] == 8
    # The folder's splits went through extract_features into the cache; the in-memory digits did not.
    extracted = sorted(index.parent.name for index in cache.glob("*/index.json"))
    assert [name.rsplit("-", 1)[0] for name in extracted] == ["colours-test", "colours-train"]


def test_transfer_caches_two_names_that_read_alike_once_made_safe_apart(
    loaded: LoadedBackbone, image_folder: Path, tmp_path: Path
) -> None:
    """`a b` and `a_b` once shared a cache folder: the second dataset was refused as "other inputs"."""
    other = tmp_path / "other"
    for split, per_class in (("train", 3), ("val", 2)):
        write_images(other / split, ("p", "q"), per_class)
    cache = tmp_path / "features"
    datasets = {"a b": image_folder, "a_b": other}
    result = transfer(loaded, datasets, modes=("linear",), weight_decays=(1e-2,), cache_dir=cache, run=QUIET)
    assert [(row["dataset"], row["num_train"], row["num_test"]) for row in result["rows"]] == [
        ("a b", 24, 8),
        ("a_b", 6, 4),
    ]
    assert len(list(cache.glob("a_b-*/index.json"))) == 4


def test_transfer_caches_the_features_of_each_limit(loaded: LoadedBackbone, tmp_path: Path) -> None:
    """Another --train-limit was refused as "other inputs" of the cached features; each cap now has its own, and
    a rerun with a cap already run reuses them."""
    cache = tmp_path / "features"

    def linear_row(train_limit: int) -> dict:
        run = RunOptions(train_limit=train_limit, test_limit=20, progress=False)
        result = transfer(loaded, {"fm": "fashion_mnist"}, modes=("linear",), cache_dir=cache, run=run)
        return result["rows"][0]

    def stores() -> dict[str, int]:
        return {shard.parent.name: shard.stat().st_mtime_ns for shard in cache.glob("*/shard-*")}

    first = linear_row(60)
    extracted = stores()
    assert linear_row(90)["num_train"] == 90
    assert linear_row(60) == first
    assert len(stores()) == 3 and {name: stores()[name] for name in extracted} == extracted  # not extracted again


def test_a_train_limit_that_leaves_a_test_class_untrained_is_refused_before_training(
    hub_folder: Path, image_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It scored in silence, the test images of the classes left out wrong whatever the model."""
    from simsiam_zoo.protocols import classifier

    monkeypatch.setattr(classifier, "train_head", lambda *args, **kwargs: pytest.fail("trained before the check"))
    run = RunOptions(train_limit=3, progress=False)  # seeded: 2 blue images and 1 yellow
    with pytest.raises(
        DataError, match=r"test classes with no train image \(or --train-limit 3 left them out\): .*green, red"
    ):
        classifier.finetune_classifier(hub_folder, image_folder, tmp_path / "out", run=run)


def test_transfer_refuses_a_train_class_whose_images_all_failed_to_decode(
    loaded: LoadedBackbone, image_folder: Path, tmp_path: Path
) -> None:
    """The listing has the class, extraction skipped each of its images: its test images scored 0% in silence."""
    data = shutil.copytree(image_folder, tmp_path / "data")
    lost = sorted((data / "train").iterdir())[0]
    for image in lost.iterdir():
        image.write_bytes(b"not an image")
    with pytest.raises(DataError, match=rf"lost: no train image of the test classes {lost.name} decoded; nothing"):
        transfer(loaded, {"lost": (data / "train", data / "val")}, modes=("linear",), run=RunOptions(progress=False))


def test_transfer_refuses_a_dataset_of_one_train_image_a_class_before_any_work(
    loaded: LoadedBackbone, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its linear probe has no image to choose a weight decay on: a ValueError traceback after the datasets before
    it were extracted, probed and fine-tuned."""
    evaluated = []
    transfer_module = importlib.import_module("simsiam_zoo.protocols.transfer")  # the package's name is the function
    monkeypatch.setattr(transfer_module, "_linear_row", lambda *args, **kwargs: evaluated.append(args) or {})
    datasets = {"many": (coloured(16, seed=1), coloured(8, seed=2)), "one": (coloured(4, seed=3), coloured(4, seed=4))}
    with pytest.raises(DataError, match=r"^--dataset one: each class of its train split has one image, which "):
        transfer(loaded, datasets, modes=("linear",), run=RunOptions(progress=False))
    assert evaluated == []


def test_transfer_leaves_an_undecodable_image_of_a_sampled_split_out(
    loaded: LoadedBackbone, image_folder: Path, tmp_path: Path
) -> None:
    """A capped split is embedded in memory: an image that did not decode there was the run's error, where a whole
    split's extraction leaves it out; with --strict it still is."""
    data = shutil.copytree(image_folder, tmp_path / "data")
    broken = next((data / "train").iterdir()) / "broken.png"
    broken.write_bytes(b"not an image")
    size = sum(1 for path in (data / "train").rglob("*.png"))
    run = RunOptions(progress=False, train_limit=size - 1, seed=1)  # a sample that holds broken.png
    with pytest.warns(UserWarning, match="^capped, its train split: 1 image does not decode, left out$"):
        result = transfer(loaded, {"capped": str(data)}, modes=("linear",), weight_decays=(1e-2,), run=run)
    assert result["rows"][0]["num_train"] == size - 2  # the sample, less the image scored by none
    with pytest.warns(UserWarning, match="^whole, its train split: 1 image does not decode, left out$"):
        result = transfer(loaded, {"whole": str(data)}, modes=("linear",), weight_decays=(1e-2,), run=QUIET)
    assert result["rows"][0]["num_train"] == size - 1  # reported as listed, with no word, before
    with pytest.raises(DataError, match="broken.png: cannot decode image"):
        transfer(loaded, {"capped": str(data)}, modes=("linear",), run=RunOptions(**{**vars(run), "strict": True}))
    # A whole split's --strict error names the image, not the temporary feature store it was found in: that store
    # is deleted by the time the message is read (it advised mending or deleting it).
    strict = RunOptions(progress=False, strict=True)
    with pytest.raises(DataError) as refused:
        transfer(loaded, {"whole": str(data)}, modes=("linear",), run=strict)
    assert str(refused.value).startswith(f"{data / 'train'}: strict mode: 1 of {size} entries could not be embedded (")
    assert "broken.png" in str(refused.value) and "delete that one" not in str(refused.value)
    cache = tmp_path / "cache"  # a cache the user keeps: the store's own error, naming it
    with pytest.raises(DataError, match=f"strict mode: .* and {re.escape(str(cache))}/whole-train-"):
        transfer(loaded, {"whole": str(data)}, modes=("linear",), cache_dir=cache, run=strict)


def _data_folder(root: Path, image_folder: Path, *, val_classes: dict[str, Path | None]) -> Path:
    """root/train, image_folder's; root/val holding `val_classes`, each a link to a folder, or empty (None)."""
    (root / "val").mkdir(parents=True)
    (root / "train").symlink_to(image_folder / "train", target_is_directory=True)
    for name, folder in val_classes.items():
        if folder is None:
            (root / "val" / name).mkdir()
        else:
            (root / "val" / name).symlink_to(folder, target_is_directory=True)
    return root


def test_a_val_folder_without_one_of_trains_classes_is_scored_with_trains_labels(
    loaded: LoadedBackbone, image_folder: Path, tmp_path: Path
) -> None:
    """Once refused as "different classes", and its empty class folder as one with no images: no way out but
    adding images. Now val's classes are train's, by name, whether green is missing or an empty folder."""
    val = {name: image_folder / "val" / name for name in ("blue", "red", "yellow")}
    absent = _data_folder(tmp_path / "absent", image_folder, val_classes=val)
    empty = _data_folder(tmp_path / "empty", image_folder, val_classes={**val, "green": None})
    tests = [resolve_data(data).test for data in (absent, empty)]
    assert tests[0].paths == tests[1].paths and tests[0].labels.tolist() == tests[1].labels.tolist()
    train_classes = sorted(CLASSES)  # blue, green, red, yellow: class folders in name order
    assert sorted(set(tests[0].labels.tolist())) == [train_classes.index(name) for name in ("blue", "red", "yellow")]
    # The linear probe on extracted features scores both alike: the relabelled split is extracted (cached, resumable,
    # an undecodable image a listed skip), and its store's own numbers (red as 1) read as train's.
    assert resolve_data(absent).test_source is not None
    result = transfer(loaded, {"absent": absent, "empty": empty}, modes=("linear",), weight_decays=(1e-2,), run=QUIET)
    assert result["rows"][0]["top1"] == result["rows"][1]["top1"] and result["rows"][0]["num_test"] == 6
    (tmp_path / "absent" / "val" / "purple").symlink_to(image_folder / "val" / "green", target_is_directory=True)
    with pytest.raises(DataError, match=r"absent/val: 1 class\(es\) that .*absent/train lacks.*: purple$"):
        resolve_data(absent)


def test_cli_linear_protocol(hub_folder: Path, image_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "linear.json"
    done = run_cli(
        *[
            "eval",
            "linear-protocol",
            str(hub_folder),
            str(image_folder),
            "--epochs",
            "1",
            "--base-lr",
            "0.1",
            "--seed",
            "3",
            "--out",
            str(out),
        ]
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(out.read_text())
    assert result["batch_size"] == 24 and result["lr"] == pytest.approx(0.1 * 24 / 256) and result["seed"] == 3
    assert result["optimizer"] == "lars" and result["epochs"] == 1
    # With --checkpoint-dir the finished run is kept, and the same command returns its result without training:
    # the very history, its seconds included, and the checkpoint not written again.
    args = [
        "eval",
        "linear-protocol",
        str(hub_folder),
        str(image_folder),
        "--epochs",
        "1",
        "--seed",
        "3",
        "--base-lr",
        "0.1",
        "--checkpoint-dir",
        str(tmp_path / "ck"),
    ]
    first = run_cli(*args, "--out", str(tmp_path / "first.json"))
    checkpoint = tmp_path / "ck" / "linear_protocol.pt"
    assert first.returncode == 0 and checkpoint.is_file(), first.stdout + first.stderr
    written = checkpoint.stat().st_mtime_ns
    again = run_cli(*args, "--out", str(tmp_path / "again.json"))
    assert again.returncode == 0 and checkpoint.stat().st_mtime_ns == written, again.stdout + again.stderr
    histories = [json.loads((tmp_path / name).read_text())["history"] for name in ("first.json", "again.json")]
    assert histories[0] == histories[1] and histories[0][0]["loss"] == result["history"][0]["loss"]


def test_cli_linear_protocol_on_tar_shards_equals_the_same_images_in_folders(
    hub_folder: Path, image_folder: Path, tmp_path: Path
) -> None:
    """DATA and --test-data as WebDataset shards holding the folders' images, in their order and with their labels:
    the protocol trains and scores exactly as on the folders."""

    patterns = []
    for split in ("train", "val"):
        classes = sorted(p.name for p in (image_folder / split).iterdir())
        samples = [
            (f"{split}-{i:03d}", path.read_bytes(), classes.index(path.parent.name))
            for i, path in enumerate(sorted((image_folder / split).glob("*/*.png")))
        ]
        write_tar_shards(tmp_path / split, samples, per_shard=10)
        last = (len(samples) - 1) // 10
        patterns.append(str(tmp_path / split / f"train-{{000000..{last:06d}}}.tar"))
    results = []
    for data in ([str(image_folder)], [patterns[0], "--test-data", patterns[1]]):
        out = tmp_path / f"linear{len(results)}.json"
        done = run_cli(
            *["eval", "linear-protocol", str(hub_folder), *data, "--epochs", "1", "--base-lr", "0.1", "--out", str(out)]
        )
        assert done.returncode == 0, done.stdout + done.stderr
        results.append(json.loads(out.read_text()))
    assert (results[1]["num_train"], results[1]["num_test"]) == (24, 8)
    # The same loss to the last bit: the same images, labels and order.
    assert [(r["top1"], r["history"][0]["loss"]) for r in results[1:]] == [
        (r["top1"], r["history"][0]["loss"]) for r in results[:1]
    ]


def test_a_single_class_is_refused_before_training(hub_folder: Path, image_folder: Path, tmp_path: Path) -> None:
    """Once it reported 100% and saved a 1-class classifier."""

    one = tmp_path / "one"
    for split in ("train", "val"):
        source = next(p for p in sorted((image_folder / split).iterdir()) if p.is_dir())
        (one / split).mkdir(parents=True)
        (one / split / source.name).symlink_to(source, target_is_directory=True)
    with pytest.raises(DataError, match=rf"images of 1 class \({source.name}\); a classifier needs at least two"):
        finetune_classifier(str(hub_folder), one, tmp_path / "out", run=RunOptions(progress=False))
    assert not (tmp_path / "out").exists()


def test_finetune_writes_its_result_in_the_classifier_folder_it_writes_whole(
    hub_folder: Path, image_folder: Path, tmp_path: Path
) -> None:
    """The library call wrote no result: the CLI added finetune.json to the folder afterwards, and listed it in its
    marker through a path that listed any result written into a hub folder (deleted by its next write)."""
    out = tmp_path / "classifier"
    schedule = Schedule(epochs=1, batch_size=8, lr=0.05)
    result = finetune_classifier(str(hub_folder), image_folder, out, schedule=schedule, run=QUIET)
    assert json.loads((out / "finetune.json").read_text()) == json.loads(json.dumps(result))
    assert "finetune.json" in json.loads((out / ".simsiam-zoo.json").read_text())["files"]


def test_a_backbone_licence_that_cannot_be_passed_on_is_refused_before_training(
    hub_folder: Path, image_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from simsiam_zoo.errors import HubFolderError
    from simsiam_zoo.protocols import classifier

    folder = shutil.copytree(hub_folder, tmp_path / "backbone")
    card = folder / "README.md"
    card.write_text(card.read_text().replace("license: mit", "license: My Licence"))
    monkeypatch.setattr(classifier, "train_head", lambda *args, **kwargs: pytest.fail("trained before the check"))
    with pytest.raises(HubFolderError, match=r"licence on its card cannot be passed on.*--license"):
        classifier.finetune_classifier(folder, image_folder, tmp_path / "out", run=QUIET)


def test_a_protocol_tested_on_its_train_images_is_warned_about(image_folder: Path) -> None:
    """`finetune DATA/train --test-data DATA/train` (and semi's, linear's, transfer's) published a score on the
    images it was fitted to as a validation top-1, without a word; `eval knn` warned."""
    from simsiam_zoo.protocols.splits import labelled_splits

    train = image_folder / "train"
    with pytest.warns(UserWarning, match=r": 24 of its 24 test images are train images too; the score measures"):
        labelled_splits((train, Path(f"{train}/")), QUIET)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        labelled_splits(image_folder, QUIET)
