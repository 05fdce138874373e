"""Network-training evaluations: linear protocol, fine-tuning, semi-supervised subsets, transfer, CLI."""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import timm
import torch
from click.testing import CliRunner

from simsiam_zoo.backbone import LoadedBackbone
from simsiam_zoo.cli import main
from simsiam_zoo.errors import DataError, TrainingDiverged
from simsiam_zoo.finetune import (
    FinetuneResult,
    _Finetuning,
    classifier_prefix,
    finetune,
    save_classifier,
)
from simsiam_zoo.hub.folder import validate_hub_folder
from simsiam_zoo.loader import load_backbone
from simsiam_zoo.options import LinearProtocolSchedule, RunOptions, Schedule
from simsiam_zoo.protocols import (
    TensorImages,
    digits_datasets,
    finetune_classifier,
    linear_protocol,
    semi_supervised,
    semi_supervised_subsets,
    transfer,
)
from tests.builders import CLASSES, coloured

ONE_THREAD = {**os.environ, "OMP_NUM_THREADS": "1"}  # see one_thread()
QUIET = RunOptions(progress=False)


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """One intra-op thread: these batches are too small to gain from two, and lose much when a core is busy."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def loaded(hub_folder: Path) -> LoadedBackbone:
    return load_backbone(hub_folder)


@pytest.fixture(scope="module")
def finetuned(loaded: LoadedBackbone) -> FinetuneResult:
    return finetune(
        loaded.model,
        coloured(64, seed=1),
        coloured(32, seed=2),
        num_classes=4,
        preprocessing=loaded.preprocessing,
        schedule=Schedule(epochs=2, batch_size=16, lr=0.02, weight_decay=1e-4),
        frozen_backbone=False,
        run=QUIET,
    )


def _backbone_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    prefix = classifier_prefix(model)
    return {k: v for k, v in model.state_dict().items() if not k.startswith(prefix)}


def test_linear_protocol_keeps_every_backbone_tensor(loaded: LoadedBackbone) -> None:
    before = {k: v.clone() for k, v in loaded.model.state_dict().items()}
    runs = [
        finetune(
            loaded.model,
            coloured(32, seed=1),
            coloured(16, seed=2),
            num_classes=4,
            preprocessing=loaded.preprocessing,
            frozen_backbone=True,
            run=QUIET,
            schedule=Schedule(epochs=2, batch_size=16, lr=1.0, optimizer="lars"),
        )
        for _ in range(2)
    ]
    after = _backbone_state(runs[0].model)
    assert after.keys() == before.keys()
    assert all(torch.equal(after[k], before[k]) for k in before), "a frozen backbone tensor changed"
    initial_fc = torch.empty(4, 512).normal_(0.0, 0.01, generator=torch.Generator().manual_seed(0))
    assert not torch.equal(runs[0].model.fc.weight, initial_fc), "the head did not train"
    # Same seed, same data: the same head, bit for bit.
    assert torch.equal(runs[0].model.fc.weight, runs[1].model.fc.weight)
    assert [(r["loss"], r["val_top1"]) for r in runs[0].history] == [
        (r["loss"], r["val_top1"]) for r in runs[1].history
    ]
    assert all(torch.equal(v, before[k]) for k, v in loaded.model.state_dict().items()), "the input was modified"


def test_linear_protocol_check_fires_when_a_bn_layer_trains(loaded: LoadedBackbone) -> None:
    def bn1_to_train_mode(module: torch.nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        module.bn1.train()  # at every forward, so bn1's running statistics move

    leaky = copy.deepcopy(loaded.model)
    leaky.register_forward_pre_hook(bn1_to_train_mode)
    with pytest.raises(RuntimeError, match=r"'bn1\.running_mean' changed"):
        finetune(
            leaky,
            coloured(16, seed=1),
            coloured(8, seed=2),
            num_classes=4,
            preprocessing=loaded.preprocessing,
            schedule=Schedule(epochs=1, batch_size=8, lr=0.1),
            frozen_backbone=True,
            run=QUIET,
        )


@pytest.mark.parametrize(
    ("make", "values", "field"),
    [
        (Schedule, {"epochs": 0}, "epochs"),
        (Schedule, {"batch_size": 0}, "batch_size"),
        (Schedule, {"lr": 0.0}, "lr"),
        (Schedule, {"lr": math.nan}, "lr"),
        (Schedule, {"weight_decay": -1e-4}, "weight_decay"),
        (Schedule, {"optimizer": "adam"}, "optimizer"),
        (Schedule, {"momentum": 1.0}, "momentum"),
        (LinearProtocolSchedule, {"base_lr": -0.1}, "base_lr"),
        (LinearProtocolSchedule, {"batch_size": -1}, "batch_size"),
        (RunOptions, {"train_limit": 0}, "train_limit"),
        (RunOptions, {"num_workers": -1}, "num_workers"),
    ],
)
def test_bad_schedule_or_run_value_names_the_field(make: type, values: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=rf"^{field} must be"):
        make(**values)


def test_schedules_are_frozen_and_the_linear_one_scales_its_lr() -> None:
    schedule = LinearProtocolSchedule(base_lr=0.1, weight_decay=1e-6)
    with pytest.raises(dataclasses.FrozenInstanceError):
        schedule.epochs = 1
    assert schedule.at_batch(512) == Schedule(epochs=90, batch_size=512, lr=0.2, weight_decay=1e-6, optimizer="lars")


@pytest.mark.parametrize(
    ("batch_size", "num_train", "expected"),
    [
        (None, 60_000, 256),
        (None, 6_000, 256),
        (None, 1_437, 64),
        (None, 600, 32),
        (None, 100, 8),
        (None, 5, 5),
        (100, 600, 100),
        (100, 50, 50),
    ],
)
def test_default_batch_gives_small_train_sets_enough_steps(
    batch_size: int | None, num_train: int, expected: int
) -> None:
    assert Schedule(batch_size=batch_size).batch_for(num_train) == expected


def test_linear_protocol_result(hub_folder: Path) -> None:
    result = linear_protocol(
        hub_folder, (coloured(32, seed=1), coloured(16, seed=2)), schedule=LinearProtocolSchedule(epochs=1), run=QUIET
    )
    # The default batch of 4096 is capped at the 32 training images, and the lr scaled with the batch used.
    assert result["batch_size"] == 32 and result["base_lr"] == 0.02 and result["lr"] == pytest.approx(0.02 * 32 / 256)
    assert result["optimizer"] == "lars" and result["num_classes"] == 4
    assert len(result["history"]) == 1 and result["top1"] == result["history"][-1]["val_top1"]


def test_full_finetune_trains_the_backbone_and_beats_chance(loaded: LoadedBackbone, finetuned: FinetuneResult) -> None:
    changed = [
        k
        for k, v in _backbone_state(finetuned.model).items()
        if v.is_floating_point() and not torch.equal(v, loaded.model.state_dict()[k])
    ]
    assert "conv1.weight" in changed and "layer4.1.bn2.running_var" in changed
    assert finetuned.top1 >= 75.0, finetuned.history  # chance is 25%
    assert [row["epoch"] for row in finetuned.history] == [1, 2]
    assert finetuned.history[-1]["lr"] < finetuned.history[0]["lr"] < 0.02  # cosine decay


def test_an_interrupted_finetune_resumes_to_the_parameters_of_an_uninterrupted_one(
    loaded: LoadedBackbone, finetuned: FinetuneResult, tmp_path: Path
) -> None:
    """Stopped inside epoch 1 and resumed from its checkpoint: bit for bit the run of `finetuned`, and a rerun of
    the finished run returns it at once; a checkpoint of another schedule is refused."""
    checkpoint = tmp_path / "finetune.pt"
    options = dict(
        num_classes=4,
        preprocessing=loaded.preprocessing,
        frozen_backbone=False,
        run=QUIET,
        schedule=Schedule(epochs=2, batch_size=16, lr=0.02, weight_decay=1e-4),
        checkpoint=checkpoint,
    )
    stopped = finetune(loaded.model, coloured(64, seed=1), coloured(32, seed=2), max_steps=3, **options)
    assert stopped.history == [] and checkpoint.exists()
    for _ in range(2):  # resumed, then finished already
        resumed = finetune(loaded.model, coloured(64, seed=1), coloured(32, seed=2), **options)
        state = resumed.model.state_dict()
        assert all(torch.equal(value, state[key]) for key, value in finetuned.model.state_dict().items())
        assert [(e["loss"], e["val_top1"]) for e in resumed.history] == [
            (e["loss"], e["val_top1"]) for e in finetuned.history
        ]
    with pytest.raises(DataError, match=r"finetune.pt: the checkpoint of another run"):
        finetune(
            loaded.model,
            coloured(64, seed=1),
            coloured(32, seed=2),
            **{**options, "schedule": Schedule(epochs=3, batch_size=16, lr=0.02, weight_decay=1e-4)},
        )


def test_a_checkpoint_of_a_run_on_other_data_is_refused(loaded: LoadedBackbone, tmp_path: Path) -> None:
    """Same counts and schedule, other images, or the same images under other class names: the checkpoint is not
    resumed (it was, and its classifier then saved with the new data's class names)."""
    checkpoint = tmp_path / "finetune.pt"
    options = dict(
        num_classes=4,
        preprocessing=loaded.preprocessing,
        frozen_backbone=True,
        run=QUIET,
        schedule=Schedule(epochs=2, batch_size=16, lr=0.02, weight_decay=1e-4),
        checkpoint=checkpoint,
    )
    finetune(loaded.model, coloured(64, seed=1), coloured(32, seed=2), max_steps=2, **options)
    renamed = coloured(64, seed=1)
    renamed.classes = [f"other {name}" for name in renamed.classes]
    for train in (coloured(64, seed=7), renamed):
        with pytest.raises(DataError, match=r"finetune.pt: the checkpoint of another run"):
            finetune(loaded.model, train, coloured(32, seed=2), **options)
    assert finetune(loaded.model, coloured(64, seed=1), coloured(32, seed=2), **options).history  # its own data


def test_a_nan_in_a_finetune_is_caught_before_the_next_checkpoint_naming_its_step(
    loaded: LoadedBackbone, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """4 steps an epoch, the host reading the loss at the epoch's end: the NaN of step 5 is found at step 8, named
    as step 5, and the checkpoint of epoch 1 (step 4) is the one kept."""
    original, calls = _Finetuning.loss_of, iter(range(100))

    def loss_of(self, batch):
        loss, extra = original(self, batch)
        return (loss * math.nan if next(calls) == 5 else loss), extra

    monkeypatch.setattr(_Finetuning, "loss_of", loss_of)
    checkpoint = tmp_path / "finetune.pt"
    with pytest.raises(TrainingDiverged, match=r"loss is nan at step 5 \(epoch 1\)"):
        finetune(
            loaded.model,
            coloured(64, seed=1),
            coloured(32, seed=2),
            num_classes=4,
            run=QUIET,
            preprocessing=loaded.preprocessing,
            frozen_backbone=False,
            checkpoint=checkpoint,
            schedule=Schedule(epochs=2, batch_size=16, lr=0.02, weight_decay=1e-4),
        )
    saved = torch.load(checkpoint, weights_only=True)
    assert saved["step"] == 4 and all(torch.isfinite(value).all() for value in saved["model"].values())


def test_save_classifier_loads_in_plain_timm(finetuned: FinetuneResult, loaded: LoadedBackbone, tmp_path: Path) -> None:
    from huggingface_hub import ModelCard

    backbone = dataclasses.replace(loaded, hub_id="simsiam-zoo/resnet18.test")
    out = save_classifier(
        finetuned,
        tmp_path / "classifier",
        backbone=backbone,
        class_names=CLASSES,
        card_name="resnet18.colours",
        data_name="colours",
        schedule_summary="2 epochs",
    )
    model = timm.create_model(f"local-dir:{out}", pretrained=True).eval()
    assert model.num_classes == 4 and model.pretrained_cfg["label_names"] == CLASSES
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(model(x), finetuned.model(x), atol=1e-6)
    info = validate_hub_folder(out)  # timm loads it strictly, fp32 weights, card metadata and sha256
    assert info.arch == "resnet18"
    assert json.loads((out / "config.json").read_text())["num_classes"] == 4
    # The card is rendered like every other: a classifier's pipeline, the backbone as the Hub's base model (the
    # model tree), and the backbone's licence carried over (its card says MIT).
    card = ModelCard.load(out / "README.md")
    assert card.data.pipeline_tag == "image-classification" and card.data.base_model == "simsiam-zoo/resnet18.test"
    assert card.data.license == "mit" and "red" in card.text and "local-dir:" in card.text


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


def test_digits_datasets() -> None:
    train, test = digits_datasets(image_size=16, seed=0)
    assert len(train) + len(test) == 1797 and 350 <= len(test) <= 370
    image, label = train[0]
    assert image.dtype == torch.uint8 and image.shape == (3, 16, 16) and 0 <= label < 10
    assert int(train.images.max()) == 255 and torch.equal(image[0], image[2])
    counts = torch.bincount(test.labels, minlength=10).float() / torch.bincount(train.labels, minlength=10).float()
    assert torch.allclose(counts, torch.full((10,), 0.25), atol=0.02)  # stratified 80/20
    assert torch.equal(digits_datasets(image_size=16, seed=0)[1].labels, test.labels)


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


def test_cli_finetune_and_semi(hub_folder: Path, image_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "classifier"
    common = ["--epochs", "1", "--batch-size", "8", "--lr", "0.05"]
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "simsiam_zoo.cli",
            "finetune",
            str(hub_folder),
            str(image_folder),
            "--out",
            str(out),
            *common,
            "--name",
            "resnet18.colours",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=ONE_THREAD,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads((out / "finetune.json").read_text())
    assert result["evaluation"] == "finetune" and result["num_classes"] == 4
    assert result["top1"] == result["history"][-1]["val_top1"]
    model = timm.create_model(f"local-dir:{out}", pretrained=True)
    assert model.pretrained_cfg["label_names"] == sorted(CLASSES)  # the class folders, in label order

    subset_file = tmp_path / "subset.txt"
    subset_file.write_text("train0.png\ntrain1.png\ntrain2.png\ntrain3.png\n")
    semi_json = tmp_path / "semi.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "simsiam_zoo.cli",
            "eval",
            "semi",
            str(hub_folder),
            str(image_folder),
            "--fraction",
            "0.5",
            "--subset-file",
            f"0.1={subset_file}",
            *common,
            "--out",
            str(semi_json),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=ONE_THREAD,
    )
    assert done.returncode == 0, done.stderr
    assert "fine-tune 0.1 (4)" in done.stdout
    semi = json.loads(semi_json.read_text())
    assert [row["num_labelled"] for row in semi["fractions"]] == [4, 12]


def test_cli_defaults_are_the_library_defaults() -> None:
    eval_commands = main.commands["eval"].commands
    for command, schedule in (
        (eval_commands["linear-protocol"], LinearProtocolSchedule()),
        (eval_commands["semi"], Schedule()),
        (eval_commands["transfer"], Schedule()),
        (main.commands["finetune"], Schedule()),
    ):
        defaults = {param.name: param.default for param in command.params}
        # momentum and progress have no flag: the CLI always uses their defaults.
        for options, unflagged in ((schedule, "momentum"), (RunOptions(), "progress")):
            expected = {k: v for k, v in dataclasses.asdict(options).items() if k != unflagged}
            assert {k: defaults[k] for k in expected} == expected, command.name


def test_cli_linear_protocol(hub_folder: Path, image_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "linear.json"
    done = CliRunner().invoke(
        main,
        [
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
        ],
    )
    assert done.exit_code == 0, done.output
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
    first = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "first.json")])
    checkpoint = tmp_path / "ck" / "linear_protocol.pt"
    assert first.exit_code == 0 and checkpoint.is_file(), first.output
    written = checkpoint.stat().st_mtime_ns
    again = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "again.json")])
    assert again.exit_code == 0 and checkpoint.stat().st_mtime_ns == written, again.output
    histories = [json.loads((tmp_path / name).read_text())["history"] for name in ("first.json", "again.json")]
    assert histories[0] == histories[1] and histories[0][0]["loss"] == result["history"][0]["loss"]


def test_cli_linear_protocol_on_tar_shards_equals_the_same_images_in_folders(
    hub_folder: Path, image_folder: Path, tmp_path: Path
) -> None:
    """DATA and --test-data as WebDataset shards holding the folders' images, in their order and with their labels:
    the protocol trains and scores exactly as on the folders."""
    from tests.test_extract import _tar_shards

    patterns = []
    for split in ("train", "val"):
        classes = sorted(p.name for p in (image_folder / split).iterdir())
        samples = [
            (f"{split}-{i:03d}", path.read_bytes(), classes.index(path.parent.name))
            for i, path in enumerate(sorted((image_folder / split).glob("*/*.png")))
        ]
        _tar_shards(tmp_path / split, samples, per_shard=10)
        last = (len(samples) - 1) // 10
        patterns.append(str(tmp_path / split / f"train-{{000000..{last:06d}}}.tar"))
    results = []
    for data in ([str(image_folder)], [patterns[0], "--test-data", patterns[1]]):
        out = tmp_path / f"linear{len(results)}.json"
        done = CliRunner().invoke(
            main,
            ["eval", "linear-protocol", str(hub_folder), *data, "--epochs", "1", "--base-lr", "0.1", "--out", str(out)],
        )
        assert done.exit_code == 0, done.output
        results.append(json.loads(out.read_text()))
    assert (results[1]["num_train"], results[1]["num_test"]) == (24, 8)
    # The same loss to the last bit: the same images, labels and order.
    assert [(r["top1"], r["history"][0]["loss"]) for r in results[1:]] == [
        (r["top1"], r["history"][0]["loss"]) for r in results[:1]
    ]


def test_cli_reports_bad_data_and_bad_options(hub_folder: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    # Values click's types allow but the library rejects are usage errors too, caught before MODEL is loaded.
    done = runner.invoke(main, ["eval", "semi", str(hub_folder), "digits", "--lr", "0"])
    assert done.exit_code == 2 and "lr must be a finite number > 0" in done.output
    done = runner.invoke(
        main, ["finetune", str(hub_folder), "digits", "--out", str(tmp_path / "x"), "--num-workers", "-1"]
    )
    assert done.exit_code == 2 and "num_workers must be >= 0" in done.output
    done = runner.invoke(main, ["eval", "semi", str(hub_folder), str(tmp_path / "nowhere")])
    assert done.exit_code == 3 and "train/ and val/" in done.output
    done = runner.invoke(main, ["eval", "semi", str(hub_folder), "digits", "--subset-file", "one=list.txt"])
    assert done.exit_code == 2 and "FRACTION=PATH" in done.output
    done = runner.invoke(main, ["eval", "transfer", str(hub_folder), "--dataset", "=x"])
    assert done.exit_code == 2 and "NAME=PATH" in done.output


def test_a_single_class_is_refused_before_training(hub_folder: Path, image_folder: Path, tmp_path: Path) -> None:
    """Once it reported 100% and saved a 1-class classifier."""
    from simsiam_zoo.errors import DataError

    one = tmp_path / "one"
    for split in ("train", "val"):
        source = next(p for p in sorted((image_folder / split).iterdir()) if p.is_dir())
        (one / split).mkdir(parents=True)
        (one / split / source.name).symlink_to(source, target_is_directory=True)
    with pytest.raises(DataError, match=rf"images of 1 class \({source.name}\); a classifier needs at least two"):
        finetune_classifier(str(hub_folder), one, tmp_path / "out", run=RunOptions(progress=False))
    assert not (tmp_path / "out").exists()


def test_pretrained_false_gives_the_architecture_with_random_weights(hub_folder: Path) -> None:
    trained, random = load_backbone(hub_folder), load_backbone(hub_folder, pretrained=False)
    assert (random.arch, random.preprocessing, random.source) == (trained.arch, trained.preprocessing, "random init")
    assert not torch.equal(random.model.state_dict()["conv1.weight"], trained.model.state_dict()["conv1.weight"])


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
