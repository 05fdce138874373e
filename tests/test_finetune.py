"""Network-training evaluations: linear protocol, fine-tuning, semi-supervised subsets, transfer, CLI."""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import re
from pathlib import Path
from typing import Any

import pytest
import timm
import torch

from simsiam_zoo.backbone import LoadedBackbone
from simsiam_zoo.checkpoint import read_torch_checkpoint
from simsiam_zoo.cli import main
from simsiam_zoo.errors import DataError, TrainingDiverged
from simsiam_zoo.finetune import (
    ClassifierCard,
    FinetuneResult,
    _Finetuning,
    classifier_prefix,
    finetune,
    save_classifier,
)
from simsiam_zoo.hub.folder import validate_hub_folder
from simsiam_zoo.loader import load_backbone
from simsiam_zoo.options import BenchmarkOptions, ExtractOptions, LinearProtocolSchedule, RunOptions, Schedule
from tests.builders import CLASSES, ONE_THREAD, QUIET, coloured, reads_in, run_cli

pytestmark = pytest.mark.usefixtures("one_thread")


def finetune_on_colours(loaded: LoadedBackbone, *, epochs: int, **options: Any) -> FinetuneResult:
    """A full fine-tune on 64 coloured images (4 steps an epoch), validated on 32 others."""
    return finetune(
        loaded.model,
        coloured(64, seed=1),
        coloured(32, seed=2),
        num_classes=4,
        preprocessing=loaded.preprocessing,
        schedule=Schedule(epochs=epochs, batch_size=16, lr=0.02, weight_decay=1e-4),
        frozen_backbone=False,
        run=QUIET,
        **options,
    )


@pytest.fixture(scope="module")
def finetuned(loaded: LoadedBackbone) -> FinetuneResult:
    return finetune_on_colours(loaded, epochs=2)


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
        (ExtractOptions, {"num_workers": 10**20}, "num_workers"),  # forked until the OOM killer came
        (BenchmarkOptions, {"num_workers": 257}, "num_workers"),
        (Schedule, {"epochs": 1.5}, "epochs"),  # whole numbers: 2.5 images a batch failed deep in the run
        (Schedule, {"batch_size": True}, "batch_size"),
        (RunOptions, {"test_limit": 2.5}, "test_limit"),
        (ExtractOptions, {"batch_size": 2.5}, "batch_size"),
        (ExtractOptions, {"limit": True}, "limit"),  # it embedded one image
        (ExtractOptions, {"shard_size": 2.5}, "shard_size"),
        (BenchmarkOptions, {"draws": 1.5}, "draws"),
        (BenchmarkOptions, {"shots": (1.5,)}, "shots"),
        (BenchmarkOptions, {"train_limit": 2.5}, "train_limit"),
        # A seed torch would truncate (0.5), or refuse after the work ("x"); a flag that is no bool ("no" is true).
        (RunOptions, {"seed": 0.5}, "seed"),
        (RunOptions, {"seed": True}, "seed"),
        (BenchmarkOptions, {"seed": "x"}, "seed"),
        (BenchmarkOptions, {"seed": 0.5}, "seed"),
        (BenchmarkOptions, {"baselines": "no"}, "baselines"),
        (RunOptions, {"strict": "yes"}, "strict"),
        (ExtractOptions, {"channels_last": "no"}, "channels_last"),
    ],
)
def test_bad_schedule_or_run_value_names_the_field(make: type, values: dict[str, Any], field: str) -> None:
    with pytest.raises((ValueError, TypeError), match=rf"^{field} must be"):
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


def _checkpointed_options(loaded: LoadedBackbone, checkpoint: Path) -> dict[str, Any]:
    """`finetuned`'s run, checkpointed to `checkpoint`."""
    return dict(
        num_classes=4,
        preprocessing=loaded.preprocessing,
        frozen_backbone=False,
        run=QUIET,
        schedule=Schedule(epochs=2, batch_size=16, lr=0.02, weight_decay=1e-4),
        checkpoint=checkpoint,
    )


@pytest.mark.parametrize("layout", ["current", "earlier"])
def test_an_interrupted_finetune_resumes_to_the_parameters_of_an_uninterrupted_one(
    loaded: LoadedBackbone, finetuned: FinetuneResult, tmp_path: Path, layout: str
) -> None:
    """Stopped inside epoch 1 and resumed from its checkpoint: bit for bit the run of `finetuned`, and a rerun of
    the finished run returns it at once; a checkpoint of another schedule is refused. Also from a checkpoint in the
    layout before `TrainingCheckpoint` (settings, history and loss sum at the top level)."""
    checkpoint = tmp_path / "finetune.pt"
    options = _checkpointed_options(loaded, checkpoint)
    stopped = finetune(loaded.model, coloured(64, seed=1), coloured(32, seed=2), max_steps=3, **options)
    assert stopped.history == [] and checkpoint.exists()
    if layout == "earlier":
        saved = torch.load(checkpoint, weights_only=True)
        kept = {key: saved[key] for key in ("step", "model", "optimizer")}
        torch.save({"settings": saved["run"], **kept, **saved["records"]}, checkpoint)
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


def test_an_epoch_whose_validation_fails_is_kept_and_validated_on_the_resume(
    loaded: LoadedBackbone, finetuned: FinetuneResult, tmp_path: Path
) -> None:
    """A validation image that does not decode stopped the run after the epoch's training, and the epoch's checkpoint
    was written only after its validation: the epoch was lost (hours at ImageNet's size). It is saved first now, and
    the rerun, the image mended, validates it and goes on to the run never stopped."""

    class FailingUntilMended(torch.utils.data.Dataset):
        def __init__(self, images: torch.utils.data.Dataset) -> None:
            self.images, self.mended = images, False

        def __len__(self) -> int:
            return len(self.images)

        def __getitem__(self, index: int) -> Any:
            if index == 5 and not self.mended:
                raise DataError("val/5.png: cannot decode image")
            return self.images[index]

    checkpoint, val_set = tmp_path / "finetune.pt", FailingUntilMended(coloured(32, seed=2))
    options = _checkpointed_options(loaded, checkpoint)
    with pytest.raises(DataError, match="val/5.png: cannot decode image"):
        finetune(loaded.model, coloured(64, seed=1), val_set, **options)
    assert torch.load(checkpoint, weights_only=True)["step"] == 4  # the first epoch, 64 images of batch 16
    val_set.mended = True
    resumed = finetune(loaded.model, coloured(64, seed=1), val_set, **options)
    state = resumed.model.state_dict()
    assert all(torch.equal(value, state[key]) for key, value in finetuned.model.state_dict().items())
    assert [(e["epoch"], e["loss"], e["lr"], e["val_top1"]) for e in resumed.history] == [
        (e["epoch"], e["loss"], e["lr"], e["val_top1"]) for e in finetuned.history
    ]


def test_a_checkpoint_of_a_run_on_other_data_is_refused(loaded: LoadedBackbone, tmp_path: Path) -> None:
    """Same counts and schedule, other images, or the same images under other class names: the checkpoint is not
    resumed (it was, and its classifier then saved with the new data's class names)."""
    checkpoint = tmp_path / "finetune.pt"
    options = {**_checkpointed_options(loaded, checkpoint), "frozen_backbone": True}
    finetune(loaded.model, coloured(64, seed=1), coloured(32, seed=2), max_steps=2, **options)
    renamed = coloured(64, seed=1)
    renamed.classes = [f"other {name}" for name in renamed.classes]
    for train in (coloured(64, seed=7), renamed):
        with pytest.raises(DataError, match=r"finetune.pt: the checkpoint of another run"):
            finetune(loaded.model, train, coloured(32, seed=2), **options)
    assert finetune(loaded.model, coloured(64, seed=1), coloured(32, seed=2), **options).history  # its own data
    # Its own run's checkpoint, edited: a RuntimeError or KeyError traceback on resume.
    saved = read_torch_checkpoint(checkpoint)
    for edit in ({"records": {}}, {"model": {}}):
        torch.save({**saved, **edit}, checkpoint)
        with pytest.raises(DataError, match=r"finetune.pt: cannot resume: corrupt checkpoint \((KeyError|RuntimeErr)"):
            finetune(loaded.model, coloured(64, seed=1), coloured(32, seed=2), **options)
    # Its history edited: a TypeError or a KeyError (`val_top1`) after the rest of the run.
    for history in ([1, 2, 3], [{"epoch": 1}]):
        torch.save({**saved, "records": {**saved["records"], "history": history}}, checkpoint)
        with pytest.raises(DataError, match=r"finetune.pt: cannot resume: corrupt checkpoint \(its history of epochs"):
            finetune(loaded.model, coloured(64, seed=1), coloured(32, seed=2), **options)


def test_a_nan_in_a_finetune_is_caught_before_the_next_checkpoint_naming_its_step(
    loaded: LoadedBackbone, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """4 steps an epoch, the host reading the loss at the epoch's end: the NaN of the sixth step is found at step 8,
    named as step 6 of epoch 2 (counted from 1), and the checkpoint of epoch 1 (step 4) is the one kept."""
    original, calls = _Finetuning.loss_of, iter(range(100))

    def loss_of(self, batch):
        loss, extra = original(self, batch)
        return (loss * math.nan if next(calls) == 5 else loss), extra

    monkeypatch.setattr(_Finetuning, "loss_of", loss_of)
    checkpoint = tmp_path / "finetune.pt"
    with pytest.raises(TrainingDiverged, match=r"loss is nan at step 6 \(epoch 2\)"):
        finetune_on_colours(loaded, epochs=2, checkpoint=checkpoint)
    saved = torch.load(checkpoint, weights_only=True)
    assert saved["step"] == 4 and all(torch.isfinite(value).all() for value in saved["model"].values())


def test_a_finetune_reads_step_values_only_where_its_loop_syncs(
    loaded: LoadedBackbone, monkeypatch: pytest.MonkeyPatch
) -> None:
    """4 steps an epoch over 3 epochs: the host reads the loss at the bar's steps (every 10th) and at the epochs'
    ends, and no other step reads anything back from the device."""
    read_at = reads_in(monkeypatch, _Finetuning, "after_step")
    finetune_on_colours(loaded, epochs=3)
    assert sorted(read_at) == list(range(1, 13))
    assert [step for step, names in read_at.items() if names] == [4, 8, 10, 12], read_at


def test_save_classifier_loads_in_plain_timm(finetuned: FinetuneResult, loaded: LoadedBackbone, tmp_path: Path) -> None:
    from huggingface_hub import ModelCard

    backbone = dataclasses.replace(loaded, hub_id="simsiam-zoo/resnet18.test")
    out = save_classifier(
        finetuned,
        tmp_path / "classifier",
        backbone=backbone,
        card=ClassifierCard(
            name="resnet18.colours", data_name="colours", class_names=CLASSES, schedule_summary="2 epochs"
        ),
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
    # Its Results table holds the validation top-1 its summary states (it said none were recorded).
    row = f"| finetune | colours | top-1 accuracy (validation, 32 images) | {round(finetuned.top1, 2)} | simsiam-zoo"
    assert row in card.text and "No evaluation results" not in card.text
    assert card.data.eval_results[0].metric_value == round(finetuned.top1, 2)


def test_cli_finetune_and_semi(hub_folder: Path, image_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "classifier"
    common = ["--epochs", "1", "--batch-size", "8", "--lr", "0.05"]
    finetune = [
        "finetune",
        str(hub_folder),
        str(image_folder),
        "--out",
        str(out),
        *common,
        "--name",
        "resnet18.colours",
    ]
    for _ in range(2):  # the same command again replaces its folder (it was refused for its own finetune.json)
        done = run_cli(*finetune, env=ONE_THREAD)
        assert done.returncode == 0, done.stderr
    assert f"wrote {out / 'finetune.json'}" in done.stdout
    result = json.loads((out / "finetune.json").read_text())
    assert result["evaluation"] == "finetune" and result["num_classes"] == 4
    # Written with the folder, as one of its files: the folder's next write replaces it (another file is refused).
    assert "finetune.json" in json.loads((out / ".simsiam-zoo.json").read_text())["files"]
    assert result["top1"] == result["history"][-1]["val_top1"]
    model = timm.create_model(f"local-dir:{out}", pretrained=True)
    assert model.pretrained_cfg["label_names"] == sorted(CLASSES)  # the class folders, in label order
    # The card, made to be published, names the data and the backbone by their folders' names, not the paths.
    card = (out / "README.md").read_text()
    assert str(tmp_path.parent) not in card and f"images of {image_folder.name}" in card
    assert f"from the backbone `{hub_folder.name}`" in card and f"| finetune | {image_folder.name} |" in card

    subset_file = tmp_path / "subset.txt"
    subset_file.write_text("train0.png\ntrain1.png\ntrain2.png\ntrain3.png\n")
    semi_json = tmp_path / "semi.json"
    done = run_cli(
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


def test_cli_reports_bad_data_and_bad_options(hub_folder: Path, tmp_path: Path) -> None:
    # Values click's types allow but the library rejects are usage errors too, caught before MODEL is loaded.
    done = run_cli("eval", "semi", str(hub_folder), "digits", "--lr", "0")
    assert done.returncode == 2 and "--lr must be a finite number > 0" in (done.stdout + done.stderr)
    for workers in ("-1", "257"):
        done = run_cli("finetune", str(hub_folder), "digits", "--out", str(tmp_path / "x"), "--num-workers", workers)
        assert done.returncode == 2 and f"'--num-workers': {workers} is not in the range 0<=x<=256" in done.stderr
    done = run_cli("eval", "semi", str(hub_folder), str(tmp_path / "nowhere"))
    assert done.returncode == 3 and "train/ and val/" in (done.stdout + done.stderr)
    done = run_cli("eval", "semi", str(hub_folder), "digits", "--subset-file", "one=list.txt")
    assert done.returncode == 2 and "FRACTION=PATH" in (done.stdout + done.stderr)
    done = run_cli("eval", "transfer", str(hub_folder), "--dataset", "=x")
    assert done.returncode == 2 and "NAME=PATH" in (done.stdout + done.stderr)


def test_pretrained_false_gives_the_architecture_with_random_weights(hub_folder: Path) -> None:
    trained, random = load_backbone(hub_folder), load_backbone(hub_folder, pretrained=False)
    assert (random.arch, random.preprocessing, random.source) == (trained.arch, trained.preprocessing, "random init")
    assert not torch.equal(random.model.state_dict()["conv1.weight"], trained.model.state_dict()["conv1.weight"])


def test_the_library_leaves_the_caller_s_random_generator_as_it_was(
    loaded: LoadedBackbone, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A notebook's seeded draws after `train` were the same whatever seed it had set (the model's init seeded the
    global generator); `finetune`, `extract_features` and `embed_dataset` advanced it (their loaders' base seeds,
    the new head's default init)."""
    from simsiam_zoo.features import embed_dataset, extract_features
    from simsiam_zoo.pretrain import train
    from simsiam_zoo.recipe import load_recipe
    from tests.builders import make_transform, write_images

    write_images(tmp_path / "data", ("a", "b"), 2)
    images = [(torch.rand(3, 32, 32), label) for label in range(4)]
    calls = {
        "train": lambda: train(load_recipe("tiny_fake"), output_dir=tmp_path / "run", max_steps=1, progress=False),
        "finetune": lambda: finetune(
            loaded.model,
            coloured(16, seed=1),
            coloured(8, seed=2),
            num_classes=4,
            preprocessing=loaded.preprocessing,
            schedule=Schedule(epochs=1, batch_size=8),
            frozen_backbone=True,
            run=QUIET,
        ),
        "extract_features": lambda: extract_features(
            loaded.model, make_transform(), tmp_path / "data", out=tmp_path / "features", progress=False
        ),
        "embed_dataset": lambda: embed_dataset(loaded.model, images, batch_size=2),
    }
    reseeded: list[int] = []  # torch.manual_seed reseeds every CUDA generator too, which no fork restores
    monkeypatch.setattr(torch.cuda, "manual_seed_all", reseeded.append)
    for name, call in calls.items():
        torch.manual_seed(12345)
        reseeded.clear()
        before = torch.get_rng_state()
        call()
        assert torch.equal(torch.get_rng_state(), before) and reseeded == [], name
    # Nor its model's memory format: extract_features left it channels_last, and `weight.view(-1)` failed.
    assert all(p.is_contiguous() for p in loaded.model.parameters())


def test_the_library_leaves_each_module_of_the_caller_s_model_in_its_own_mode(hub_folder: Path, tmp_path: Path) -> None:
    """`model.train(was_training)` after an extraction set every module to the top one's mode: a BatchNorm the
    caller froze inside a training model came back training. Loading a backbone drew its random init from the
    caller's generator (a notebook's next draw changed)."""
    from simsiam_zoo.features import embed_dataset, extract_features
    from tests.builders import make_transform, write_images

    write_images(tmp_path / "data", ("a", "b"), 2)
    model = load_backbone(hub_folder).model.train()
    model.bn1.eval()
    extract_features(model, make_transform(), tmp_path / "data", out=tmp_path / "features", progress=False)
    embed_dataset(model, [(torch.rand(3, 32, 32), 0)], batch_size=1)
    assert model.training and model.layer1.training and not model.bn1.training
    for pretrained in (True, False):
        torch.manual_seed(0)
        before = torch.get_rng_state()
        load_backbone(hub_folder, pretrained=pretrained)
        assert torch.equal(torch.get_rng_state(), before), pretrained


@pytest.mark.parametrize("mode", [torch.no_grad, torch.inference_mode])
def test_training_and_probes_run_under_the_caller_s_no_grad_or_inference_mode(
    mode: Any, loaded: LoadedBackbone, tmp_path: Path
) -> None:
    """A notebook cell under `no_grad` or `inference_mode` (features made the usual way): each failed in torch's
    autograd, `train` after claiming its folder."""
    from simsiam_zoo.evaluate import fit_linear_probe, linear_probe_sweep
    from simsiam_zoo.pretrain import train
    from simsiam_zoo.recipe import load_recipe

    with mode():
        features, labels = torch.randn(20, 4), torch.arange(20) % 2
        assert train(load_recipe("tiny_fake"), output_dir=tmp_path / "run", max_steps=1, progress=False).step == 1
        assert fit_linear_probe(features, labels, weight_decay=1e-3).weight.shape == (2, 4)
        assert 0 <= linear_probe_sweep(features, labels, features, labels)["test_accuracy"] <= 100
        tuned = finetune(
            loaded.model,
            coloured(8, seed=1),
            coloured(4, seed=2),
            num_classes=4,
            run=QUIET,
            preprocessing=loaded.preprocessing,
            schedule=Schedule(epochs=1, batch_size=4),
            frozen_backbone=False,
        )
    assert len(tuned.history) == 1


def test_a_model_or_argument_no_extraction_can_use_is_refused_before_any_work(hub_folder: Path, tmp_path: Path) -> None:
    """A float16 or meta model failed in torch (the output folder claimed), None in an AttributeError, a None
    transform on every image; `transfer` checked its weight decays after extracting every split."""
    from simsiam_zoo.features import embed_dataset, extract_features
    from simsiam_zoo.protocols import transfer
    from tests.builders import make_transform, write_images

    write_images(tmp_path / "data", ("a", "b"), 2)
    half = load_backbone(hub_folder).model.half()
    with torch.device("meta"):
        meta = timm.create_model("resnet18", num_classes=0)
    cases = [
        (half, make_transform(), ValueError, r"model has torch.float16 parameters; give it in float32"),
        (meta, make_transform(), ValueError, r"model has tensors on the meta device, without data"),
        (None, make_transform(), TypeError, r"model must be a torch.nn.Module, got None \(NoneType\)"),
        (load_backbone(hub_folder).model, None, TypeError, r"transform must be callable"),
    ]
    for model, transform, error, message in cases:
        with pytest.raises(error, match=message):
            extract_features(model, transform, tmp_path / "data", out=tmp_path / "features", progress=False)
        assert not (tmp_path / "features").exists()
    bf16 = load_backbone(hub_folder).model.bfloat16()  # run under bf16 autocast, as before
    data, out = tmp_path / "data", tmp_path / "bf16"
    assert extract_features(bf16, make_transform(), data, out=out, precision="bf16", progress=False).num_embedded == 4
    with pytest.raises(ValueError, match=r"backbone has torch.bfloat16 parameters"):
        embed_dataset(load_backbone(hub_folder).model.bfloat16(), [(torch.rand(3, 32, 32), 0)], batch_size=1)
    with pytest.raises(ValueError, match=r"weight_decays must be numbers in \[0, 1e6\]"):
        transfer(hub_folder, {"d": tmp_path / "nowhere"}, modes=("linear",), weight_decays=[-1.0], run=QUIET)


def test_a_schedule_or_benchmark_argument_of_the_wrong_type_is_named() -> None:
    """Comparison TypeErrors that named nothing (Schedule(lr="0.1")), True taken as 1, an AttributeError naming
    `device` for options that are None."""
    from simsiam_zoo.benchmark import run_benchmark

    for field, bad in (("lr", "0.1"), ("weight_decay", "0"), ("momentum", None), ("lr", True)):
        with pytest.raises(TypeError, match=rf"{field} must be a number, got {re.escape(repr(bad))}"):
            Schedule(**{field: bad})
    for arguments, message in (
        ({"options": None}, "options must be a BenchmarkOptions, got None"),
        ({"progress": "no"}, "progress must be True or False, got 'no'"),
    ):
        with pytest.raises(TypeError, match=message):
            run_benchmark(["random-init:resnet18"], ["digits"], out="never-written", **arguments)
    assert not Path("never-written").exists()


def test_a_protocol_argument_of_the_wrong_type_is_named_before_the_model_loads(tmp_path: Path) -> None:
    """A list for transfer's datasets had no .values(); a single number for ks, fractions or modes was no sequence
    (a string one of letters); None or a dict for options failed after the model loaded, in an AttributeError;
    None as data in Path(). The model named here does not exist: each check comes first."""
    from simsiam_zoo.evaluate import knn_accuracy
    from simsiam_zoo.features import extract_features
    from simsiam_zoo.losses import simsiam_loss
    from simsiam_zoo.options import LinearProtocolSchedule
    from simsiam_zoo.protocols import finetune_classifier, linear_protocol, semi_supervised, transfer
    from simsiam_zoo.protocols.cached import evaluate_knn

    missing, features, labels = tmp_path / "no-model", torch.randn(6, 4), torch.arange(6) % 2
    cases = {
        r"datasets must be a mapping of names to data, such as \{'pets': 'pets'\}, got list": lambda: transfer(
            missing, ["digits"]
        ),
        r"modes must be a sequence such as \('linear', 'finetune'\), got 'linear' \(str\)": lambda: transfer(
            missing, {"d": "digits"}, modes="linear"
        ),
        r"run must be a RunOptions, got None \(NoneType\)": lambda: transfer(missing, {"d": "digits"}, run=None),
        r"schedule must be a Schedule, got \{'epochs': 1\} \(dict\)": lambda: semi_supervised(
            missing, "digits", schedule={"epochs": 1}
        ),
        r"schedule must be a LinearProtocolSchedule, got Schedule\(": lambda: linear_protocol(
            missing, "digits", schedule=Schedule()
        ),
        r"data must be a dataset name, a folder or a \(train, test\) pair, got None": lambda: linear_protocol(
            missing, None, schedule=LinearProtocolSchedule()
        ),
        r"fractions must be a sequence such as \(0.01, 0.1\), got 0.1 \(float\)": lambda: semi_supervised(
            missing, "digits", fractions=0.1
        ),
        r"frozen_backbone must be True or False, got 'no'": lambda: finetune_classifier(
            missing, "digits", tmp_path / "out", frozen_backbone="no"
        ),
        r"ks must be a sequence such as \(20, 200\), got 20 \(int\)": lambda: evaluate_knn(missing, missing, ks=20),
        r"ks must be a sequence such as \(20, 200\), got '20' \(str\)": lambda: knn_accuracy(
            features, labels, features, labels, ks="20"
        ),
        r"z2 must be a torch.Tensor, got numpy.ndarray": lambda: simsiam_loss(
            features, features, features, features.numpy()
        ),
        r"options must be an ExtractOptions, got None": lambda: extract_features(
            torch.nn.Identity(), torch.nn.Identity(), missing, out=tmp_path / "features", options=None
        ),
    }
    for message, call in cases.items():
        with pytest.raises(TypeError, match=message):
            call()
    assert sorted(path.name for path in tmp_path.iterdir()) == []


def test_an_overwrite_that_is_no_bool_is_refused_and_the_folder_kept(hub_folder: Path, tmp_path: Path) -> None:
    """ "no" is true in Python: taken as True, it replaced a folder of the caller's own files."""
    from simsiam_zoo.protocols import finetune_classifier

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.txt").write_text("mine")
    with pytest.raises(TypeError, match=r"overwrite must be True or False, got 'no'"):
        finetune_classifier(
            hub_folder, "digits", mine, schedule=Schedule(epochs=1, batch_size=8), run=QUIET, overwrite="no"
        )
    assert [p.name for p in mine.iterdir()] == ["thesis.txt"]


def test_finetune_names_a_class_count_or_labels_it_cannot_train_on(loaded: LoadedBackbone) -> None:
    """num_classes 0 failed in timm (AttributeError); a label beyond the classes failed mid-run in torch (IndexError;
    on CUDA a device-side assert), or, in the validation set, scored 0% in silence; "no" froze the backbone."""
    from simsiam_zoo.protocols.splits import TensorImages

    def shifted(images: TensorImages, by: int) -> TensorImages:
        return TensorImages(images.images, images.labels + by, classes=CLASSES, paths=images.paths)

    train, val = coloured(16, seed=1), coloured(8, seed=2)
    cases = [
        ({"num_classes": 0}, ValueError, r"num_classes must be a whole number from 1 to 1_000_000, got 0"),
        ({"frozen_backbone": "no"}, TypeError, r"frozen_backbone must be True or False, got 'no'"),
        ({"train_set": shifted(train, -1)}, DataError, r"the training set: a label of -1; the classes are 0 to 3"),
        ({"val_set": shifted(val, 5)}, DataError, r"the validation set: a label of 8; the classes are 0 to 3"),
        ({"num_classes": 2}, DataError, r"the training set: a label of 3; the classes are 0 to 1"),
    ]
    # A timm classifier that is a 1x1 convolution (DLA, DPN) has no out_features: the class count is timm's own.
    dla = timm.create_model("dla46_c", num_classes=0)
    common = {"preprocessing": loaded.preprocessing, "schedule": Schedule(epochs=1, batch_size=8), "run": QUIET}
    assert finetune(dla, train, val, num_classes=4, frozen_backbone=True, **common).top1 >= 0
    for change, error, message in cases:
        arguments = {"train_set": train, "val_set": val, "num_classes": 4, "frozen_backbone": True, **change}
        with pytest.raises(error, match=message):
            finetune(
                loaded.model,
                preprocessing=loaded.preprocessing,
                schedule=Schedule(epochs=1, batch_size=8),
                run=QUIET,
                **arguments,
            )
