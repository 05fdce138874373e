import csv
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from simsiam_zoo.checkpoint import CHECKPOINT_NAME, read_torch_checkpoint, read_training_checkpoint
from simsiam_zoo.data import FASHION_MNIST_SUBSET_DIR, FashionMNIST, dataset_fingerprint, labelled_images
from simsiam_zoo.engine import cosine_lr
from simsiam_zoo.errors import ConversionError, DataError, OutputRefused, RecipeError, TrainingDiverged
from simsiam_zoo.losses import simsiam_loss
from simsiam_zoo.pretrain import (
    PretrainingViews,
    _data_place,
    _Pretraining,
    build_dataset,
    build_model,
    held_out_dataset,
    knn_monitor_split,
    learning_rate,
    recipe_optimizer,
    train,
)
from simsiam_zoo.recipe import load_recipe
from tests.builders import (
    CLI,
    error_message,
    hub_dataset_files,
    reads_in,
    run_cli,
    run_until_then_kill,
    write_images,
    write_png,
)


def test_one_training_step_decreases_the_loss_on_a_fixed_batch(tiny_recipe):
    model = build_model(tiny_recipe)
    optimizer = recipe_optimizer(model, tiny_recipe)
    torch.manual_seed(1)
    x1, x2 = torch.randn(8, 3, 32, 32), torch.randn(8, 3, 32, 32)
    # BN in eval mode so both evaluations of the loss see the same normalisation of the fixed batch.
    model.eval()
    before = simsiam_loss(*model(x1, x2))
    optimizer.zero_grad()
    before.backward()
    optimizer.step()
    with torch.no_grad():
        after = simsiam_loss(*model(x1, x2))
    assert after.item() < before.item()


def test_learning_rate_schedule():
    recipe = load_recipe("ablation_batch_1024").replace({"optim.epochs": 100})
    assert recipe.optim.lr == pytest.approx(0.05 * 1024 / 256)
    # 10 warm-up epochs rising linearly, then a half cosine to 0.
    assert learning_rate(recipe, 0, 10) == pytest.approx(0.2 / 100)
    assert learning_rate(recipe, 99, 10) == pytest.approx(0.2)
    assert learning_rate(recipe, 100 + 450, 10) == pytest.approx(0.1)
    assert learning_rate(recipe, 999, 10) < 1e-5
    # At the schedule's end and after it (a run resumed with more epochs than its horizon): 0, not a cosine rising.
    assert [cosine_lr(1.0, step, 100) for step in (100, 150, 199)] == [0.0, 0.0, 0.0]
    # A warm-up ending between two steps never goes above the lr (2.5 steps gave 1.2x it at the third), and a tiny
    # one is the lr at once (1e-300 overflowed in the optimizer step).
    assert [cosine_lr(1.0, step, 100, warmup_steps=2.5) for step in range(3)] == pytest.approx([0.4, 0.8, 1.0])
    assert cosine_lr(1.0, 0, 100, warmup_steps=1e-300) == 1.0


def test_predictor_keeps_a_constant_lr(tiny_recipe, tmp_path):
    train(tiny_recipe, output_dir=tmp_path, progress=False)
    groups = read_torch_checkpoint(tmp_path / CHECKPOINT_NAME)["optimizer"]["param_groups"]
    assert groups[1]["fix_lr"] and groups[1]["lr"] == pytest.approx(tiny_recipe.optim.lr)
    assert groups[0]["lr"] < tiny_recipe.optim.lr / 10


def _final_state(path: Path) -> dict[str, torch.Tensor]:
    return read_torch_checkpoint(path / CHECKPOINT_NAME)["model"]


def _metrics(path: Path) -> list[dict[str, str]]:
    with open(path / "metrics.csv") as f:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(f)]


@pytest.mark.parametrize("augment_on_device", [False, True])
def test_resume_is_bit_identical_to_an_uninterrupted_run(tiny_recipe, tmp_path, augment_on_device):
    """Also with the augmentation batched on the device (here the CPU): its parameters are drawn per sample on the
    host from the same seeds."""
    tiny_recipe = tiny_recipe.replace({"data.augment_on_device": augment_on_device})
    whole = train(tiny_recipe, output_dir=tmp_path / "whole", progress=False)
    assert whole.completed and whole.step == 8
    # Interrupt mid-epoch (step 5 of 8, between checkpoints), then continue with the same call.
    first = train(tiny_recipe, output_dir=tmp_path / "resumed", max_steps=5, progress=False)
    assert not first.completed and first.step == 5 and first.resumed_at == 0
    resumed = train(tiny_recipe, output_dir=tmp_path / "resumed", progress=False)
    assert resumed.completed and resumed.resumed_at == 5
    a, b = _final_state(tmp_path / "whole"), _final_state(tmp_path / "resumed")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[key], b[key]) for key in a)
    assert _metrics(tmp_path / "whole") == _metrics(tmp_path / "resumed")
    assert (tmp_path / "resumed" / "recipe.yaml").read_text() == tiny_recipe.to_yaml()


def _as_earlier_layout(path: Path) -> None:
    """Rewrite a run's checkpoint as runs wrote it before the one training schema: the records, the recipe, the
    model and the optimizer at the top level, no format, no horizon, step rows without the z-std (added later)."""
    saved = read_torch_checkpoint(path)
    records = {key: value for key, value in saved["records"].items() if key != "horizon"}
    records["steps"] = [{key: value for key, value in row.items() if key != "z_std"} for row in records["steps"]]
    earlier = {**records, "step": saved["step"], "recipe": saved["run"], "model": saved["model"]}
    torch.save({**earlier, "optimizer": saved["optimizer"]}, path)


def test_a_checkpoint_of_the_earlier_layout_resumes_exports_and_loads(tiny_recipe, tmp_path):
    """Runs saved before `TrainingCheckpoint` resume to the uninterrupted run's very weights and load by path; the
    file of another kind is refused by name."""
    whole = train(tiny_recipe, output_dir=tmp_path / "whole", progress=False)
    train(tiny_recipe, output_dir=tmp_path / "earlier", max_steps=5, progress=False)
    _as_earlier_layout(tmp_path / "earlier" / CHECKPOINT_NAME)
    assert "format" not in read_torch_checkpoint(tmp_path / "earlier" / CHECKPOINT_NAME)
    from simsiam_zoo.loader import load_backbone

    assert load_backbone(tmp_path / "earlier").arch == "resnet18"
    resumed = train(tiny_recipe, output_dir=tmp_path / "earlier", progress=False)
    assert (resumed.step, resumed.total_steps) == (whole.step, whole.total_steps) == (8, 8)
    a, b = _final_state(tmp_path / "whole"), _final_state(tmp_path / "earlier")
    assert all(torch.equal(a[key], b[key]) for key in a)
    saved = read_torch_checkpoint(tmp_path / "earlier" / CHECKPOINT_NAME)
    assert (saved["format"], saved["kind"], saved["records"]["horizon"]) == (2, "pretraining", 8)
    with pytest.raises(ConversionError, match=r"checkpoint.pt: not a finetune checkpoint of this project \(a "):
        read_training_checkpoint(tmp_path / "earlier" / CHECKPOINT_NAME, kind="finetune")


def test_a_checkpoint_with_a_field_of_another_type_is_one_line_naming_it(tiny_recipe, tmp_path):
    """An edited checkpoint.pt gave export an AttributeError traceback, exit 1 (`model` a string or a list), or a
    recipe error about a key 'n' (`run` a string)."""
    train(tiny_recipe, output_dir=tmp_path / "run", max_steps=1, progress=False)
    saved = read_torch_checkpoint(tmp_path / "run" / CHECKPOINT_NAME)
    edits = {
        "its model is a str, not a dict": {"model": "x"},
        "its model holds 1, not a name and a tensor": {"model": {1: torch.ones(1)}},
        "its run is a str, not a dict": {"run": "nonsense"},
        "its step is 1.5, not a count": {"step": 1.5},
    }
    for problem, edit in edits.items():
        torch.save({**saved, **edit}, tmp_path / "edited.pt")
        done = run_cli("export", tmp_path / "edited.pt", tmp_path / "out", "--name", "resnet18.edited")
        assert done.returncode == 3, done.stderr[-3000:]
        assert error_message(done) == f"error: {tmp_path / 'edited.pt'}: corrupt pretraining checkpoint: {problem}"
    torch.save({key: value for key, value in saved.items() if key != "step"}, tmp_path / "edited.pt")
    with pytest.raises(ConversionError, match=r"edited.pt: corrupt pretraining checkpoint: no step$"):
        read_training_checkpoint(tmp_path / "edited.pt", kind="pretraining")
    assert not (tmp_path / "out").exists()


def test_a_resume_from_an_edited_checkpoint_or_other_data_is_refused_naming_it(tiny_recipe, tmp_path):
    """An edited checkpoint gave a RuntimeError, KeyError or ZeroDivisionError traceback on resume, or "finished at
    step 1000000000/12"; images added to the data since resumed the old schedule over longer epochs."""
    run, data = tmp_path / "run", write_images(tmp_path / "data", ("cats", "dogs"), 8)
    recipe = tiny_recipe.replace({"data.dataset": "imagefolder", "data.path": str(data), "optim.batch_size": 4})
    train(recipe, output_dir=run, max_steps=2, progress=False)
    path = run / CHECKPOINT_NAME
    saved = read_torch_checkpoint(path)
    model = {key: value for key, value in saved["model"].items() if key != "predictor.0.weight"}
    records = {key: value for key, value in saved["records"].items() if key != "epoch_sums"}
    edits = {
        "its model is not the recipe's (RuntimeError: Error(s) in loading state_dict for SimSiam": {"model": model},
        "corrupt checkpoint (its epochs, steps or epoch sums)": {"records": records},
        # Records of the right types, their contents edited: tracebacks from the tables' writer, the epoch's sums,
        # or the report after the whole run (a row without its kNN score).
        **{
            f"corrupt checkpoint (its epochs, steps or epoch sums){' ' * n}": {"records": {**saved["records"], **edit}}
            for n, edit in enumerate(
                (
                    {"epochs": [1, 2]},
                    {"epochs": [{"epoch": 0}]},
                    {"steps": [{"bogus": 1}]},
                    {"steps": [{"step": 1, "loss": "x", "z_std": 0.1, "lr": 0.1}]},
                    {"epoch_sums": ["a", "b", 3]},
                    {"epoch_sums": [0.0, 0.0, "x"]},
                )
            )
        },
        "corrupt checkpoint (a count of '16' images)": {"records": {**saved["records"], "num_images": "16"}},
        "corrupt checkpoint (step 1000000000 of a horizon of 8)": {"step": 10**9},
        "the optimizer state does not fit this version's parameter groups (KeyError: 'param_groups')": {
            "optimizer": {}
        },
        # As a run with data.shuffle: local on another number of processes has them: two lengths in one schedule.
        "the run's epochs are 3 steps, this launch's 4 (data.shuffle: local splits the data by process)": {
            "records": {**saved["records"], "steps_per_epoch": 3}
        },
    }
    for problem, edit in edits.items():
        torch.save({**saved, **edit}, path)
        with pytest.raises(RecipeError, match=re.escape(f"{path}: ") + r".*" + re.escape(problem.rstrip())):
            train(recipe, output_dir=run, progress=False)
    torch.save(saved, path)
    (data / "cats" / "image 0.png").rename(data / "dogs" / "image 0 (a cat).png")  # as many images, one relabelled
    with pytest.raises(RecipeError, match=r"checkpoint.pt: the run trained on other images \(their names or labels "):
        train(recipe, output_dir=run, progress=False)
    write_images(data, ("owls",), 8)
    with pytest.raises(RecipeError, match=r"checkpoint.pt: the run trained on 16 images and the data now has 24; "):
        train(recipe, output_dir=run, progress=False)
    assert read_torch_checkpoint(path)["step"] == 2


def test_a_resume_on_a_fresh_copy_of_its_data_continues(tiny_recipe, tmp_path):
    """Data copied anew to the same place (a node's local disk, each job) has new file times: the run resumes, as
    the same names and labels are the same data."""
    run, data = tmp_path / "run", write_images(tmp_path / "data", ("cats", "dogs"), 8)
    recipe = tiny_recipe.replace({"data.dataset": "imagefolder", "data.path": str(data), "optim.batch_size": 4})
    train(recipe, output_dir=run, max_steps=2, progress=False)
    for image in data.rglob("*.png"):
        os.utime(image, ns=(0, 0))
    assert train(recipe, output_dir=run, max_steps=3, progress=False).step == 3


def test_a_relative_data_path_is_the_folder_it_led_to_when_the_run_began(tiny_recipe, tmp_path, monkeypatch):
    """The recipe keeps `data` as typed, and a resume compared it as the folder it names from its own working
    directory: `data` from another folder (other pixels under the same names) trained on in silence, and the run's
    own folder given by its absolute path was refused."""
    write_images(tmp_path / "data", ("cats", "dogs"), 8)
    (tmp_path / "elsewhere").mkdir()
    shutil.copytree(tmp_path / "data", tmp_path / "elsewhere" / "data")
    for image in (tmp_path / "elsewhere" / "data").rglob("*.png"):
        write_png(image, seed=7)
    recipe = tiny_recipe.replace({"data.dataset": "imagefolder", "data.path": "data", "optim.batch_size": 4})
    monkeypatch.chdir(tmp_path)
    train(recipe, output_dir=tmp_path / "run", max_steps=1, progress=False)
    monkeypatch.chdir(tmp_path / "elsewhere")
    began, now = (os.path.realpath(folder / "data") for folder in (tmp_path, tmp_path / "elsewhere"))
    with pytest.raises(RecipeError, match=re.escape(f"different recipe (data.path: '{began}' -> '{now}')")):
        train(recipe, output_dir=tmp_path / "run", max_steps=2, progress=False)
    absolute = recipe.replace({"data.path": str(tmp_path / "data")})
    assert train(absolute, output_dir=tmp_path / "run", max_steps=2, progress=False).step == 2
    # A named dataset is the dataset whatever folder of its name lies here; a shard pattern is made absolute.
    (tmp_path / "elsewhere" / "fashion_mnist").mkdir()
    assert _data_place("fashion_mnist") == "fashion_mnist" and _data_place("cifar10:train") == "cifar10:train"
    assert _data_place("tars/x-{000..009}.tar") == os.path.realpath("tars/x-{000..009}.tar").replace(os.sep, "/")


def test_resume_refuses_a_different_recipe(tiny_recipe, tmp_path):
    train(tiny_recipe, output_dir=tmp_path, max_steps=1, progress=False)
    with pytest.raises(RecipeError, match="different recipe"):
        train(tiny_recipe.replace({"optim.base_lr": 0.1}), output_dir=tmp_path, progress=False)


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tiny_recipe, tmp_path):
    train(tiny_recipe, output_dir=tmp_path, max_steps=3, progress=False)
    good = (tmp_path / CHECKPOINT_NAME).read_bytes()
    exploding = tiny_recipe.replace({"optim.base_lr": 1e30, "optim.fix_predictor_lr": False})
    (tmp_path / "recipe.yaml").unlink()
    with pytest.raises(TrainingDiverged, match="loss is nan|loss is inf") as diverged:
        train(exploding, output_dir=tmp_path / "fresh", progress=False)
    assert "No checkpoint had been written yet" in str(diverged.value)  # not "the last good one is kept in ..."
    assert (tmp_path / CHECKPOINT_NAME).read_bytes() == good
    # Through the CLI, with its progress bar on: exit 4 and the message on a line of its own, after the bar's.
    exploding.save(tmp_path / "exploding.yaml")
    cli = run_cli("train", str(tmp_path / "exploding.yaml"), "--output", str(tmp_path / "cli"), process=True)
    assert cli.returncode == 4, cli.stderr
    assert re.search(r"(step/s|s/step).*\]\nerror: loss is (nan|inf) at step", cli.stderr), cli.stderr


def test_kill_during_training_then_rerun_matches(tiny_recipe, tmp_path):
    """A SIGKILL mid-run leaves a usable checkpoint and no temp files; the rerun finishes identically."""
    recipe_file = tmp_path / "recipe.yaml"
    # 16 steps: the run is still going, seconds after its first checkpoint appears, even on a busy machine.
    tiny_recipe.replace({"run.checkpoint_every_steps": 1, "optim.epochs": 4}).save(recipe_file)
    out = tmp_path / "run"
    command = [*CLI, "train", str(recipe_file), "--output", str(out)]
    run_until_then_kill(command, until=out / CHECKPOINT_NAME, timeout=120)
    assert (out / CHECKPOINT_NAME).exists()  # the kill did not take the checkpoint with it
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    train(load_recipe(str(recipe_file)), output_dir=tmp_path / "whole", progress=False)
    a, b = _final_state(out), _final_state(tmp_path / "whole")
    assert all(torch.equal(a[key], b[key]) for key in a)
    assert not list(out.glob(".*.tmp"))


def test_bad_data_folders_are_clear_errors(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match=r"empty: no images found"):
        labelled_images(empty)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "fake.jpg").write_bytes(b"not a jpeg at all")
    with pytest.raises(DataError, match=r"fake.jpg: cannot decode image"):
        labelled_images(broken)[0]


def test_training_on_an_image_folder_through_the_cli(tmp_path):
    root = write_images(tmp_path / "images", ("cats", "dogs"), 8, name="{i}.png")
    out = tmp_path / "run"
    result = run_cli(
        "train",
        "tiny_fake",
        "--output",
        str(out),
        "--data",
        str(root),
        "--set",
        "data.dataset=imagefolder",
        "--set",
        "optim.epochs=1",
        process=True,
    )
    assert result.returncode == 0, result.stderr
    assert "finished at step 2/2" in result.stdout
    assert (out / "tensorboard").is_dir() and (out / "metrics.csv").exists()
    missing = run_cli(
        "train",
        "tiny_fake",
        "--output",
        str(out / "x"),
        "--data",
        str(tmp_path / "nope"),
        "--set",
        "data.dataset=imagefolder",
        process=True,
    )
    assert missing.returncode == 3
    assert "nope: no such folder or file" in missing.stderr
    assert not (out / "x" / CHECKPOINT_NAME).exists()


def test_a_folder_of_images_for_the_fashion_mnist_recipe_says_which_recipe_key_reads_it(tmp_path):
    """The recipe reads Fashion-MNIST's IDX files at data.path: a folder of images was "Fashion-MNIST file not found
    (apt-get install dataset-fashion-mnist)", with the package installed; a folder of IDX files trains."""
    write_images(tmp_path / "images", ("a", "b"), 2)
    cli = run_cli(
        "train", "simsiam_r18_fashion_mnist", "--data", str(tmp_path / "images"), "--output", str(tmp_path / "run")
    )
    assert cli.returncode == 3, cli.stderr
    assert cli.stderr.strip().splitlines()[-1] == (
        f"error: {tmp_path / 'images'}: no train-images-idx3-ubyte.gz; recipe 'simsiam_r18_fashion_mnist' reads "
        "Fashion-MNIST's IDX files there (data.dataset 'fashion_mnist'): set data.dataset=imagefolder for a folder "
        "of images"
    )
    assert not (tmp_path / "run").exists()
    recipe = load_recipe("simsiam_r18_fashion_mnist")
    with pytest.raises(DataError, match=r"nowhere: no such folder; recipe 'simsiam_r18_fashion_mnist' reads"):
        build_dataset(recipe.replace({"data.path": str(tmp_path / "nowhere")}))
    files = build_dataset(recipe.replace({"data.path": str(FASHION_MNIST_SUBSET_DIR)}))
    assert isinstance(files, FashionMNIST) and len(files) == 6000


def test_a_data_path_for_a_generated_dataset_is_refused(tmp_path):
    """`train tiny_fake --data /nonexistent` once ignored --data and wrote the path into recipe.yaml."""
    cli = run_cli("train", "tiny_fake", "--data", "/nonexistent", "--output", str(tmp_path / "run"), process=True)
    assert cli.returncode == 3, cli.stderr
    assert cli.stderr.strip().splitlines()[-1] == (
        "error: recipe 'tiny_fake': data.path '/nonexistent' is set but data.dataset is 'fake', which generates its "
        "images; set data.dataset=imagefolder to train on that folder"
    )
    assert not (tmp_path / "run").exists()


def test_cli_help_and_recipes_start_without_the_deep_learning_stack() -> None:
    """`simsiam-zoo --help` and reading a recipe import neither torch nor timm (they took seconds to import); the
    package's names still load their modules on first use."""
    code = (
        "import sys; from simsiam_zoo.cli import main; from simsiam_zoo.recipe import load_recipe; "
        "load_recipe('simsiam_r18_fashion_mnist').model.arch; "
        "print(sorted(m for m in ('torch', 'timm', 'torchvision') if m in sys.modules)); "
        "import simsiam_zoo; print(simsiam_zoo.load_backbone.__module__)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["[]", "simsiam_zoo.loader"]
    helped = run_cli("--help", process=True)
    assert helped.returncode == 0 and "train" in helped.stdout


def test_lars_leaves_bn_and_bias_without_weight_decay_or_trust_ratio_in_pretraining_too():
    """One optimizer factory for pretraining and fine-tuning. Under LARS (the LARS paper, BYOL and SimSiam's
    large-batch set-up, solo-learn) 1-d parameters get plain momentum SGD; pretraining once decayed and adapted
    them as well, unlike fine-tuning."""
    from simsiam_zoo import engine

    recipe = load_recipe("ablation_lars_batch_4096")
    assert recipe.optim.optimizer == "lars" and recipe.optim.weight_decay > 0
    groups = recipe_optimizer(build_model(recipe), recipe).param_groups
    for group in groups:
        (vectors,) = {p.ndim <= 1 for p in group["params"]}
        assert (group["weight_decay"], group["always_adapt"]) == (
            (0.0, False) if vectors else (recipe.optim.weight_decay, True)
        )
    assert sorted({group["fix_lr"] for group in groups}) == [False, True]  # the predictor's lr stays fixed

    layer = torch.nn.Linear(3, 2)
    weight, bias = layer.weight.detach().clone(), layer.bias.detach().clone()
    layer.weight.grad, layer.bias.grad = torch.ones_like(weight), torch.full_like(bias, 0.5)
    engine.build_optimizer(
        [{"params": list(layer.parameters())}], kind="lars", lr=0.1, momentum=0.9, weight_decay=0.1
    ).step()
    torch.testing.assert_close(layer.bias.detach(), bias - 0.1 * 0.5, rtol=0, atol=1e-7)  # plain SGD, no decay
    assert not torch.allclose(layer.weight.detach(), weight - 0.1 * (1 + 0.1 * weight))  # adapted


def test_an_image_that_does_not_decode_is_skipped_in_training_or_an_error_under_strict(tmp_path):
    """Its place in the batch is taken by the next image: the run equals one on a folder where that image is a copy
    of the next; the monitor (13 images in its bank, 3 held out as queries) skips it too. With --strict: exit 3
    naming it, no run."""
    broken = write_images(tmp_path / "broken", ("cats", "dogs"), 8, name="{i}.png")
    (broken / "cats" / "3.png").write_bytes(b"not a png at all")
    copied = write_images(tmp_path / "copied", ("cats", "dogs"), 8, name="{i}.png")
    (copied / "cats" / "3.png").write_bytes((copied / "cats" / "4.png").read_bytes())
    recipe = load_recipe("tiny_fake").replace(
        {"data.dataset": "imagefolder", "optim.epochs": 1, "data.knn_train_size": 16, "data.knn_test_size": 16}
    )
    with pytest.warns(UserWarning, match=r"cats/3.png: cannot decode image.*; skipped .*next item that decodes"):
        train(recipe.replace({"data.path": str(broken)}), output_dir=tmp_path / "broken-run", progress=False)
    train(recipe.replace({"data.path": str(copied)}), output_dir=tmp_path / "copied-run", progress=False)
    skipped = read_torch_checkpoint(tmp_path / "broken-run" / CHECKPOINT_NAME)
    reference = read_torch_checkpoint(tmp_path / "copied-run" / CHECKPOINT_NAME)
    assert skipped["step"] == reference["step"] == 2
    for key, value in reference["model"].items():
        torch.testing.assert_close(skipped["model"][key], value, rtol=0, atol=0, msg=key)
    assert skipped["records"]["epochs"][0]["knn_top1"] == reference["records"]["epochs"][0]["knn_top1"]

    out = tmp_path / "strict-run"
    strict = run_cli(
        "train",
        "tiny_fake",
        "--output",
        str(out),
        "--data",
        str(broken),
        "--set",
        "data.dataset=imagefolder",
        "--set",
        "optim.epochs=1",
        "--strict",
        process=True,
    )
    assert strict.returncode == 3, strict.stderr
    assert re.search(r"^error: .*cats/3.png: cannot decode image", strict.stderr, re.M), strict.stderr
    assert not (out / CHECKPOINT_NAME).exists()


def _loss_nan_at(monkeypatch: pytest.MonkeyPatch, run_class: type, step: int) -> None:
    """The loss of global step `step` (0-based, counted from this run's start) becomes NaN."""
    original, calls = run_class.loss_of, iter(range(1_000_000))

    def loss_of(self, batch):
        loss, extra = original(self, batch)
        return (loss * math.nan if next(calls) == step else loss), extra

    monkeypatch.setattr(run_class, "loss_of", loss_of)


def test_a_nan_is_caught_at_the_next_sync_naming_its_step_before_any_checkpoint(tiny_recipe, tmp_path, monkeypatch):
    """Logged every 100 steps, saved every 3 and at the epoch's end (4): the NaN of the fifth step is found at the
    sync of step 6, named as step 5 of epoch 2 (counted from 1, as steps.csv and metrics.csv count them), and the
    checkpoint of step 4 stays the last one written."""
    recipe = tiny_recipe.replace({"run.log_every_steps": 100})
    _loss_nan_at(monkeypatch, _Pretraining, 4)
    with pytest.raises(TrainingDiverged, match=r"loss is nan at step 5 \(epoch 2\)") as diverged:
        train(recipe, output_dir=tmp_path, progress=False)
    assert f"The last good checkpoint is kept in {tmp_path / CHECKPOINT_NAME}" in str(diverged.value)
    saved = read_torch_checkpoint(tmp_path / CHECKPOINT_NAME)
    assert saved["step"] == 4 and all(torch.isfinite(value).all() for value in saved["model"].values())


def test_weights_gone_nan_with_a_finite_loss_stop_the_run_before_their_checkpoint(tiny_recipe, tmp_path, monkeypatch):
    """bf16 on a CPU made NaN of kernel positions that see only padding: the loss stayed finite, the NaN weights
    were saved, the run reported success, and a resume trained on from them."""
    import simsiam_zoo.pretrain as pretrain

    recipe, original = tiny_recipe.replace({"run.log_every_steps": 100}), pretrain.recipe_optimizer

    def poisoned(model, recipe):  # the optimizer's sixth step leaves a NaN in conv1
        optimizer = original(model, recipe)
        step, calls = optimizer.step, iter(range(1_000_000))

        def stepped(*args, **kwargs):
            result = step(*args, **kwargs)
            if next(calls) == 5:
                with torch.no_grad():
                    model.backbone.conv1.weight[0, 0, 0, 0] = math.nan
            return result

        optimizer.step = stepped
        return optimizer

    monkeypatch.setattr(pretrain, "recipe_optimizer", poisoned)
    with pytest.raises(
        TrainingDiverged,
        match=r"weights became NaN or inf \(a parameter of shape \[64, 3, 7, 7\]\) in "
        r"steps 5 to 6 \(epoch 2\), the loss still finite; stopped. The last good checkpoint is kept",
    ):
        train(recipe, output_dir=tmp_path, progress=False)
    saved = read_torch_checkpoint(tmp_path / CHECKPOINT_NAME)
    assert saved["step"] == 4 and all(torch.isfinite(value).all() for value in saved["model"].values())
    # A checkpoint of NaN weights (an earlier version wrote them) is no run to resume.
    saved["model"]["backbone.conv1.weight"][0, 0, 0, 0] = math.nan
    torch.save(saved, tmp_path / CHECKPOINT_NAME)
    monkeypatch.undo()
    with pytest.raises(RecipeError, match=r"its weights are not finite \(NaN or inf\) in backbone.conv1.weight; "):
        train(recipe, output_dir=tmp_path, progress=False)


def test_the_host_reads_step_values_only_where_the_loop_syncs(tiny_recipe, tmp_path, monkeypatch):
    """Between logged steps, epoch ends and checkpoints, a step reads nothing back from the device (no .item(),
    float() or bool() of a tensor), so that a GPU's queue is never drained."""
    recipe = tiny_recipe.replace(
        {"run.log_every_steps": 100, "run.checkpoint_every_steps": 100, "data.knn_train_size": 0}
    )
    read_at = reads_in(monkeypatch, _Pretraining, "after_step")
    train(recipe, output_dir=tmp_path, progress=False)
    assert sorted(read_at) == list(range(1, 9))
    assert [step for step, names in read_at.items() if names] == [4, 8], read_at  # the two epochs' ends


def test_a_resume_removes_the_temp_files_a_kill_left_and_nothing_else(tiny_recipe, tmp_path):
    """A SIGKILL inside an atomic write leaves `.metrics.csv.XXXXXXXX.tmp`; the run that resumes removes such files
    of its own and keeps anything else (a user's `.metrics.csv.mine.tmp`)."""
    train(tiny_recipe, output_dir=tmp_path, max_steps=1, progress=False)
    stale, mine = tmp_path / ".metrics.csv.k2x9_a0b.tmp", tmp_path / ".metrics.csv.mine.tmp"
    for path in (stale, mine):
        path.write_text("partial")
    train(tiny_recipe, output_dir=tmp_path, max_steps=2, progress=False)
    assert not stale.exists() and mine.read_text() == "partial"


def test_a_rerun_of_a_finished_run_adds_no_tensorboard_file(tiny_recipe, tmp_path):
    """TensorBoard's writer is opened only where the invocation has steps to take: each opening makes an event file,
    and every rerun of a finished run, or one at or past its --max-steps (which log nothing), added an empty one."""
    recipe = tiny_recipe.replace({"optim.epochs": 1})
    finished = tmp_path / "finished"
    train(recipe, output_dir=finished, progress=False)
    events = sorted((finished / "tensorboard").iterdir())
    assert len(events) == 1 and events[0].stat().st_size > 100
    assert train(recipe, output_dir=finished, progress=False).step == 4
    assert sorted((finished / "tensorboard").iterdir()) == events
    halfway = tmp_path / "halfway"
    assert train(recipe, output_dir=halfway, max_steps=2, progress=False).step == 2
    events = sorted((halfway / "tensorboard").iterdir())
    for max_steps in (2, 1):  # rerun at, or past, its --max-steps: no step to take either
        assert train(recipe, output_dir=halfway, max_steps=max_steps, progress=False).step == 2
    assert sorted((halfway / "tensorboard").iterdir()) == events


def test_ctrl_c_that_library_code_swallows_still_stops_the_run_at_the_step_end(tiny_recipe, tmp_path, monkeypatch):
    """SIGINT during the steps is acted on where the step ends: a KeyboardInterrupt raised inside a finaliser or a
    broad handler (here, code that catches it at step 2) would be lost, and the run would go on to its end."""
    import os
    import signal
    import time

    from simsiam_zoo import engine

    add, steps = engine._UncheckedLosses.add, []

    def add_then_interrupt_at_step_2(self, loss):
        steps.append(loss)
        if len(steps) == 2:
            try:
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.05)  # the signal is handled here, inside the try
            except KeyboardInterrupt:
                pass  # what a finaliser or a library's `except BaseException` does
        add(self, loss)

    monkeypatch.setattr(engine._UncheckedLosses, "add", add_then_interrupt_at_step_2)
    # As a terminal runs it: a suite started in the background by a shell without job control inherits SIGINT
    # ignored, which the run rightly leaves as it is (and this test failed: DID NOT RAISE).
    inherited = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            train(tiny_recipe, output_dir=tmp_path / "run", device="cpu", progress=False)
        assert len(steps) == 2
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # Python's own handler is back
    finally:
        signal.signal(signal.SIGINT, inherited)


class _StepClock:
    """A clock that only training steps move, each by `seconds` (read by `train` and its deadline check)."""

    def __init__(self, seconds: float):
        self.seconds, self.now = seconds, 1000.0

    def monotonic(self) -> float:
        return self.now

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from simsiam_zoo import pretrain as train_module

        monkeypatch.setattr(train_module, "time", self)
        loss_of = _Pretraining.loss_of

        def timed(run, batch):
            self.now += self.seconds
            return loss_of(run, batch)

        monkeypatch.setattr(_Pretraining, "loss_of", timed)


def test_metrics_seconds_count_the_runs_training_time_over_its_resumes(tiny_recipe, tmp_path, monkeypatch):
    """A resume restarted them: epoch 2 of a run stopped inside it said 1 s, after epoch 1's 4 s."""
    _StepClock(1.0).install(monkeypatch)
    recipe = tiny_recipe.replace({"data.knn_train_size": 0, "run.checkpoint_every_steps": 1})
    train(recipe, output_dir=tmp_path / "resumed", max_steps=6, progress=False)
    train(recipe, output_dir=tmp_path / "resumed", progress=False)
    train(recipe, output_dir=tmp_path / "whole", progress=False)
    seconds = {
        run: [row["seconds"] for row in csv.DictReader((tmp_path / run / "metrics.csv").read_text().splitlines())]
        for run in ("resumed", "whole")
    }
    assert seconds["resumed"] == seconds["whole"] == ["4.0", "8.0"]


def test_heads_too_large_for_memory_are_the_recipes_error_before_the_run_claims_its_folder(tiny_recipe, tmp_path):
    """The out-of-memory message named the batch and image sizes (and `--batch-size`, an option train lacks), and
    the run's folder was left claimed."""
    huge = tiny_recipe.replace({"model.dim": 99_999_999_999})  # a 200 TB projector, beyond any address space
    with pytest.raises(RecipeError, match=r"its network does not fit in memory \(model.dim 99999999999, model.pred"):
        train(huge, output_dir=tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(("seconds_per_step", "steps"), [(1.0, 20), (3.0, 6)])
def test_a_run_fitted_to_its_deadline_ends_its_schedule_there(
    tiny_recipe, tmp_path, monkeypatch, seconds_per_step, steps
):
    """The recipe plans 8 steps (2 epochs of 4); fitted to a 20 s deadline, the horizon follows the pace measured from
    the first epoch's end: 20 steps at 1 s a step (the recipe's 8 would leave 12 s unused), 6 at 3 s (the recipe's
    8 would be cut at the deadline mid-schedule). The lr reaches the cosine's end either way; the horizon is kept in
    the checkpoint and a second call leaves the finished run as it is."""
    _StepClock(seconds_per_step).install(monkeypatch)
    result = train(tiny_recipe, output_dir=tmp_path, progress=False, max_minutes=20 / 60, fit_to_deadline=True)
    assert (result.step, result.total_steps, result.completed) == (steps, steps, True)
    lrs = [float(row["lr"]) for row in csv.DictReader((tmp_path / "steps.csv").open())]
    assert len(lrs) == steps and lrs[-1] == pytest.approx(learning_rate(tiny_recipe, steps - 1, 4, total_steps=steps))
    saved = (tmp_path / CHECKPOINT_NAME).read_bytes()
    assert read_training_checkpoint(tmp_path / CHECKPOINT_NAME, kind="pretraining").records["horizon"] == steps
    again = train(tiny_recipe, output_dir=tmp_path, progress=False, max_minutes=20 / 60, fit_to_deadline=True)
    assert (again.step, again.total_steps) == (steps, steps) and (tmp_path / CHECKPOINT_NAME).read_bytes() == saved


def test_without_the_fit_the_recipe_s_horizon_holds(tiny_recipe, tmp_path, monkeypatch):
    _StepClock(1.0).install(monkeypatch)
    result = train(tiny_recipe, output_dir=tmp_path, progress=False, max_minutes=20 / 60)
    assert (result.step, result.total_steps) == (8, 8)
    with pytest.raises(ValueError, match="fit_to_deadline needs max_minutes"):
        train(tiny_recipe, output_dir=tmp_path / "other", progress=False, fit_to_deadline=True)


@pytest.mark.parametrize(
    ("switch", "device", "on_device"),
    [(None, "cuda", True), (None, "cpu", False), (False, "cuda", False), (True, "cpu", True)],
)
def test_the_augmentation_is_batched_on_the_device_by_default_on_cuda_only(tiny_recipe, switch, device, on_device):
    """`data.augment_on_device: null` means on CUDA only; either value given is kept on any device. (Building the
    views touches no device, so the CUDA default is checked without one.)"""
    recipe = tiny_recipe.replace({"data.augment_on_device": switch})
    views = PretrainingViews(recipe, build_dataset(recipe), torch.device(device))
    assert views.on_device is on_device
    crops_only = isinstance(views.dataset.sample((0, 0))[0], tuple)
    assert crops_only is on_device


def test_a_resume_with_another_recipe_names_the_keys_that_differ(tiny_recipe, tmp_path):
    """It named the recipe, whose name an edited copy keeps, and so said nothing of what had changed."""
    train(tiny_recipe, output_dir=tmp_path, max_steps=1, progress=False)
    edited = tiny_recipe.replace({"run.log_every_steps": 7, "optim.base_lr": 0.25})
    with pytest.raises(
        RecipeError, match=r"different recipe \(optim\.base_lr: 0\.5 -> 0\.25; run\.log_every_steps: \d+ -> 7\)"
    ):
        train(edited, output_dir=tmp_path, progress=False)


@pytest.mark.parametrize("augment_on_device", [False, True])
def test_a_resume_with_other_decoding_workers_continues_the_same_run(tiny_recipe, tmp_path, augment_on_device):
    """The workers change no byte (each sample is drawn by seed, epoch and index), whether they finish the views
    or only crop and draw: a resume with another `data.num_workers` was refused as "a different recipe"."""
    tiny_recipe = tiny_recipe.replace({"data.augment_on_device": augment_on_device})
    train(tiny_recipe, output_dir=tmp_path / "straight", max_steps=3, progress=False)
    train(tiny_recipe, output_dir=tmp_path / "resumed", max_steps=1, progress=False)
    more_workers = tiny_recipe.replace({"data.num_workers": 2})
    assert train(more_workers, output_dir=tmp_path / "resumed", max_steps=3, progress=False).step == 3
    straight, resumed = _final_state(tmp_path / "straight"), _final_state(tmp_path / "resumed")
    assert all(torch.equal(straight[key], resumed[key]) for key in straight)


def test_train_arguments_a_notebook_gets_wrong_are_named(tiny_recipe, tmp_path):
    """NaN minutes ran the whole schedule, -1 one step, 1.5 steps two; a recipe's name was an AttributeError."""
    cases = [
        ({"max_minutes": float("nan")}, ValueError, "max_minutes must be a number of minutes >= 0, got nan"),
        ({"max_minutes": -1}, ValueError, "max_minutes must be a number of minutes >= 0, got -1"),
        ({"max_steps": 1.5}, ValueError, "max_steps must be an int >= 1, got 1.5"),
        ({"max_steps": "2"}, ValueError, "max_steps must be an int >= 1, got '2'"),
        ({"max_minutes": True}, ValueError, "max_minutes must be a number of minutes >= 0, got True"),  # 1 minute
        ({"progress": "no"}, TypeError, "progress must be True or False, got 'no'"),  # the bars shown
    ]
    for arguments, error, message in cases:
        with pytest.raises(error, match=re.escape(message)):
            train(tiny_recipe, output_dir=tmp_path / "run", **{"progress": False, **arguments})
    with pytest.raises(TypeError, match=re.escape("recipe must be a Recipe (load_recipe(NAME_OR_PATH)), got str")):
        train("tiny_fake", output_dir=tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


class _Items(torch.utils.data.Dataset):
    def __init__(self, item, length: int = 16):
        self.item, self.length = item, length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int):
        return self.item


def test_a_dataset_of_other_items_is_named_before_the_run_claims_its_folder(tiny_recipe, tmp_path):
    """A PIL image, a float or HWC tensor, an item without its label: a torchvision or unpacking error in the loop
    before, with the folder claimed and its recipe.yaml written."""
    uint8 = torch.zeros(3, 32, 32, dtype=torch.uint8)
    cases = [
        (_Items((uint8.float(), 0)), "item 0 is a torch.float32 image of shape (3, 32, 32)"),
        (_Items((uint8.permute(1, 2, 0), 0)), "item 0 is a torch.uint8 image of shape (32, 32, 3)"),
        (_Items((uint8.numpy(), 0)), "item 0 is a numpy.ndarray image"),
        (_Items(uint8), "item 0 is a torch.Tensor;"),
        (_Items((uint8, 0), length=3), "3 images are fewer than one global batch (optim.batch_size 8)"),
    ]
    for dataset, message in cases:
        with pytest.raises(DataError, match=re.escape(f"dataset (_Items): {message}")):
            train(tiny_recipe, output_dir=tmp_path / "run", dataset=dataset, progress=False)
    with pytest.raises(DataError, match=re.escape("dataset (generator): not a map-style dataset")):
        train(tiny_recipe, output_dir=tmp_path / "run", dataset=(item for item in []), progress=False)
    assert not (tmp_path / "run").exists()
    result = train(
        tiny_recipe, output_dir=tmp_path / "run", dataset=_Items((uint8[:1], 0)), max_steps=1, progress=False
    )
    assert result.step == 1  # one channel is a grey image, as Fashion-MNIST's


def test_a_second_train_on_one_run_waits_for_the_first_then_resumes_it(tiny_recipe, tmp_path):
    """Two `train`s on one run folder wrote it at once, both saying they had finished: one's work was lost. The
    second now waits on the folder's lock, then resumes from what the first saved."""
    import threading

    from filelock import FileLock

    from simsiam_zoo.pretrain import RUN_LOCK

    run = tmp_path / "run"
    train(tiny_recipe, output_dir=run, max_steps=1, progress=False)
    results = []
    with FileLock(run / RUN_LOCK):  # as the first train holds it while it runs
        second = threading.Thread(
            target=lambda: results.append(train(tiny_recipe, output_dir=run, max_steps=2, progress=False))
        )
        second.start()
        second.join(timeout=5)
        assert second.is_alive() and read_training_checkpoint(run / CHECKPOINT_NAME, kind="pretraining").step == 1
    second.join(timeout=120)
    assert results and results[0].step == 2


def test_the_knn_monitor_holds_its_queries_out_of_the_bank(tmp_path):
    """A folder without `val/`: the queries were drawn from the very images of the bank (noise with random labels
    scored 87.5%); a fifth of the images at most is now held out as queries. With `val/`, its images are the
    queries and the bank is drawn from the training images."""
    flat = write_images(tmp_path / "flat", ("cats", "dogs"), 12)
    recipe = load_recipe("tiny_fake").replace(
        {"data.dataset": "imagefolder", "data.path": str(flat), "data.knn_train_size": 100, "data.knn_test_size": 100}
    )
    dataset = build_dataset(recipe)
    bank, queries = knn_monitor_split(recipe, dataset)
    bank_ids, query_ids = (set(part.dataset.dataset.indices) for part in (bank, queries))
    assert queries.dataset.dataset.dataset is dataset and not bank_ids & query_ids
    assert (len(bank_ids), len(query_ids)) == (20, 4)
    split = tmp_path / "split"
    write_images(split / "train", ("cats", "dogs"), 12)
    write_images(split / "val", ("cats", "dogs"), 3)
    recipe = recipe.replace({"data.path": str(split)})
    bank, queries = knn_monitor_split(recipe, build_dataset(recipe))
    assert (len(bank), len(queries)) == (24, 6)
    assert queries.dataset.dataset.dataset.source.location == str(split / "val")
    # A val/ without one of the classes: each folder numbers its own, so its dogs were scored as cats (0%), and
    # then the monitor was turned off. Its classes are now train's, matched by name.
    shutil.rmtree(split / "val" / "cats")
    bank, queries = knn_monitor_split(recipe, build_dataset(recipe))
    assert [label for _, label in queries] == [1, 1, 1]  # dogs, as train numbers them
    # Images of one class measure nothing (every query right): the monitor said 100%.
    one_class = recipe.replace({"data.path": str(write_images(tmp_path / "one", ("cats",), 12))})
    with pytest.warns(UserWarning, match=r"kNN monitor off: the images are of one class"):
        assert knn_monitor_split(one_class, build_dataset(one_class)) is None
    # A class that training lacks could never be predicted: the monitor is off, and training goes on.
    write_images(split / "val", ("birds",), 2)
    with pytest.warns(UserWarning, match=r"kNN monitor off: .*val: 1 class\(es\) that .* lacks, .*: birds$"):
        assert knn_monitor_split(recipe, build_dataset(recipe)) is None


def test_a_named_dataset_as_the_data_path_is_read_by_its_name(hub_datasets):
    """`train --data cifar10:train` (or `fashion_mnist:test`): the named dataset's split, as every command that reads
    DATA reads it (it was "no such folder or file"); the kNN monitor queries its test split, unless that trains."""
    from simsiam_zoo.data import TRANSFER_SUITE

    entry = TRANSFER_SUITE["cifar10"]
    hub_datasets.add_dataset(entry.repo_id, hub_dataset_files(entry, per_class=2, folder="plain_text"))
    recipe = load_recipe("tiny_fake").replace({"data.dataset": "imagefolder", "data.path": "cifar10:train"})
    assert build_dataset(recipe).source.location == "cifar10:train"
    assert held_out_dataset(recipe, build_dataset(recipe)).source.location == "cifar10:test"
    trains_on_test = recipe.replace({"data.path": "fashion_mnist:test"})
    assert build_dataset(trains_on_test).source.location == "fashion_mnist:test"
    assert held_out_dataset(trains_on_test, build_dataset(trains_on_test)) is None
    # Fashion-MNIST's recipe reads its IDX files at data.path: a named dataset there was looked for as a folder.
    fashion = load_recipe("simsiam_r18_fashion_mnist")
    for path, held_out in (("cifar10:train", "cifar10:test"), ("fashion_mnist:train", "fashion_mnist:test")):
        named = fashion.replace({"data.path": path})
        assert build_dataset(named).source.location == path
        assert held_out_dataset(named, build_dataset(named)).source.location == held_out


def test_a_recipe_made_by_hand_is_checked_before_the_run_claims_its_folder(tmp_path):
    """A Recipe made with dataclasses.replace skipped every check: a NaN lr trained into NaN weights reported whole,
    a negative batch failed in torch after the folder was claimed."""
    import dataclasses

    from simsiam_zoo.errors import RecipeError

    recipe = load_recipe("tiny_fake")
    for optim, message in (
        (dataclasses.replace(recipe.optim, base_lr=float("nan")), "optim.base_lr must be a positive number"),
        (dataclasses.replace(recipe.optim, batch_size=-3), "optim.batch_size must be at least 2"),
    ):
        with pytest.raises(RecipeError, match=message):
            train(dataclasses.replace(recipe, optim=optim), output_dir=tmp_path / "run", max_steps=1, progress=False)
        assert not (tmp_path / "run").exists()
    with pytest.raises(TypeError, match="recipe must be a Recipe"):
        train(recipe.to_dict(), output_dir=tmp_path / "run", max_steps=1, progress=False)


def test_a_refused_train_leaves_nothing_in_a_folder_taken_for_an_older_run(tiny_recipe, tmp_path):
    """A folder holding a `checkpoint.pt` is taken for an older version's run (it has no marker). Where that file
    is someone else's, `train` is refused: it used to leave its `.train.lock` behind in the user's folder."""
    mine = tmp_path / "downloads"
    mine.mkdir()
    torch.save({"weight": torch.zeros(2)}, mine / CHECKPOINT_NAME)
    with pytest.raises(RecipeError, match=r"checkpoint.pt: not a pretraining checkpoint of this project"):
        train(tiny_recipe, output_dir=mine, progress=False)
    assert sorted(os.listdir(mine)) == [CHECKPOINT_NAME]


@pytest.mark.parametrize("seed", [2_000_000, -(2**63), 2**64 - 1])
def test_every_seed_the_recipe_takes_trains(tiny_recipe, tmp_path, seed):
    """A seed above about 1.8 million overflowed torch's seed range in the per-sample mix: a traceback at the first
    batch, the run folder claimed. Seeds whose mixes fit draw what they drew before (a mix is folded only outside)."""
    from simsiam_zoo.options import folded_seed

    recipe = tiny_recipe.replace({"run.seed": seed, "data.knn_train_size": 0})
    assert train(recipe, output_dir=tmp_path, max_steps=1, progress=False).step == 1
    assert folded_seed(12_345 * 1_000_003 + 7) == 12_345 * 1_000_003 + 7 and folded_seed(2**64) == 0


def test_the_global_batch_is_split_over_the_ranks_and_checked_before_the_run_claims_its_folder(tiny_recipe) -> None:
    """Under torchrun, 8 images were "fewer than one global batch (optim.batch_size 8 x 2 ranks)", though the ranks
    share the batch; a batch of 3 over 2 ranks and one image a rank without SyncBN failed after the folder was
    claimed, the latter advising --batch-size, an option of finetune."""
    from simsiam_zoo.pretrain import _training_data

    recipe = tiny_recipe.replace({"data.fake_size": 8, "optim.batch_size": 8})
    assert len(_training_data(recipe, None, world_size=2)) == 8
    with pytest.raises(
        RecipeError, match=r"^optim.batch_size 3 is not divisible by the 2 ranks; give a multiple of 2$"
    ):
        _training_data(recipe.replace({"optim.batch_size": 3}), None, world_size=2)
    alone = recipe.replace({"optim.batch_size": 2, "run.sync_batchnorm": False})
    with pytest.raises(RecipeError, match=r"^optim.batch_size 2 over 2 ranks is one image a rank, and BatchNorm needs"):
        _training_data(alone, None, world_size=2)
    assert len(_training_data(alone.replace({"run.sync_batchnorm": True}), None, world_size=2)) == 8


def test_a_rerun_rewrites_the_tables_a_kill_left_behind_the_checkpoint(tiny_recipe, tmp_path):
    """A kill after the last checkpoint was written but before metrics.csv and steps.csv were left them a step behind
    for good: the rerun found the run finished and wrote nothing."""
    run = tmp_path / "run"
    train(tiny_recipe.replace({"run.log_every_steps": 1}), output_dir=run, progress=False)
    tables = {name: (run / name).read_text() for name in ("metrics.csv", "steps.csv")}
    for name, text in tables.items():
        (run / name).write_text("".join(text.splitlines(keepends=True)[:-2]))  # as the checkpoint before left them
    assert train(tiny_recipe.replace({"run.log_every_steps": 1}), output_dir=run, progress=False).step == 8
    assert {name: (run / name).read_text() for name in tables} == tables


def test_files_beside_the_images_or_another_spelling_of_their_path_resume_the_run(tiny_recipe, tmp_path):
    """Training leaves a README or notes beside the images out, and `data/` or a link is the folder `data` is: each
    was refused as "trained on other images" or "a different recipe (data.path: ...)". A copy elsewhere is still
    refused (the digest sees names and labels, not pixels, nor the monitor's `val/`); a checkpoint of an earlier
    version, which digested the whole listing, still resumes and still refuses other images."""
    data = write_images(tmp_path / "data", ("cats", "dogs"), 8)
    recipe = tiny_recipe.replace({"data.dataset": "imagefolder", "data.path": str(data), "optim.batch_size": 4})
    train(recipe, output_dir=tmp_path / "straight", max_steps=5, progress=False)
    run = tmp_path / "run"
    train(recipe, output_dir=run, max_steps=1, progress=False)
    (data / "README.txt").write_text("where these images come from\n")
    (data / "cats" / "notes.txt").write_text("one is blurred\n")
    assert train(recipe, output_dir=run, max_steps=2, progress=False).step == 2
    assert train(recipe.replace({"data.path": f"{data}/"}), output_dir=run, max_steps=3, progress=False).step == 3
    (tmp_path / "link").symlink_to(data)
    linked = recipe.replace({"data.path": str(tmp_path / "link")})
    assert train(linked, output_dir=run, max_steps=4, progress=False).step == 4
    copy = shutil.copytree(data, tmp_path / "copy")
    with pytest.raises(RecipeError, match=r"different recipe \(data\.path: '.*/data' -> '.*/copy'\)"):
        train(recipe.replace({"data.path": str(copy)}), output_dir=run, progress=False)
    # As an earlier version wrote it: the digest of the listing, non-image entries included, as it was then.
    path = run / CHECKPOINT_NAME
    saved = read_torch_checkpoint(path)
    records = {key: value for key, value in saved["records"].items() if key != "images_sha256"}
    legacy = dataset_fingerprint(build_dataset(recipe), file_stats=False)
    torch.save({**saved, "records": {**records, "data_sha256": "0" * 64}}, path)
    with pytest.raises(RecipeError, match=r"checkpoint.pt: the run trained on other images"):
        train(recipe, output_dir=run, progress=False)
    torch.save({**saved, "records": {**records, "data_sha256": legacy}}, path)
    assert train(recipe, output_dir=run, max_steps=5, progress=False).step == 5
    assert "data_sha256" not in read_torch_checkpoint(path)["records"]
    straight, resumed = _final_state(tmp_path / "straight"), _final_state(run)
    assert all(torch.equal(straight[key], resumed[key]) for key in straight)


def test_an_output_that_would_make_a_folder_inside_the_data_is_refused(tiny_recipe, tmp_path):
    """`--output DATA/runs/r1` made DATA/runs, unmarked: every later read of DATA took it for a class of no images,
    so that the run never resumed. A run folder made directly in the data is marked, and trains."""
    data = write_images(tmp_path / "data", ("cats", "dogs"), 8)
    recipe = tiny_recipe.replace({"data.dataset": "imagefolder", "data.path": str(data), "optim.batch_size": 4})
    with pytest.raises(OutputRefused, match=r"r1: would make the folder .*data/runs inside the input .*data, "):
        train(recipe, output_dir=data / "runs" / "r1", max_steps=1, progress=False)
    assert sorted(path.name for path in data.iterdir()) == ["cats", "dogs"]
    train(recipe, output_dir=data / "r1", max_steps=1, progress=False)
    assert train(recipe, output_dir=data / "r1", max_steps=2, progress=False).step == 2


class _GreyImages(torch.utils.data.Dataset):
    """One-channel uint8 images, as a notebook's dataset may give them (`train` takes C = 1 or 3)."""

    labels = torch.arange(16) % 2

    def __len__(self) -> int:
        return 16

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = torch.randint(0, 256, (1, 40, 40), dtype=torch.uint8, generator=torch.Generator().manual_seed(index))
        return image, int(self.labels[index])


@pytest.mark.parametrize("augment_on_device", [False, True])
def test_grey_images_train_with_the_augmentation_in_the_workers_or_batched(tiny_recipe, tmp_path, augment_on_device):
    """Batched (CUDA's default), a one-channel view could not take the three channels' normalisation (a
    RuntimeError after the run claimed its folder)."""
    recipe = tiny_recipe.replace({"data.augment_on_device": augment_on_device, "optim.batch_size": 8})
    assert train(recipe, output_dir=tmp_path / "run", dataset=_GreyImages(), progress=False).step == 4


def test_a_skipped_image_is_said_once_a_run_with_loader_workers_and_strict_is_one_line(tmp_path):
    """Each epoch's loader workers are new: each said the image again (every epoch, on the progress bar's line),
    and under --strict the error came as torch's wrapped traceback."""
    broken = write_images(tmp_path / "broken", ("cats", "dogs"), 8, name="{i}.png")
    (broken / "cats" / "3.png").write_bytes(b"not a png at all")
    recipe = load_recipe("tiny_fake").replace(
        {"data.dataset": "imagefolder", "data.path": str(broken), "data.num_workers": 1, "optim.epochs": 3}
    )
    with pytest.warns(UserWarning) as said:
        train(recipe.replace({"data.knn_train_size": 0}), output_dir=tmp_path / "run", progress=False)
    assert [str(w.message) for w in said if "3.png" in str(w.message)] == [
        f"{broken / 'cats' / '3.png'}: cannot decode image: cannot identify image file (no format PIL reads); "
        "skipped (item 3 of 16), the next item that decodes takes its place (--strict makes this an error)"
    ]
    recipe.replace({"data.knn_train_size": 0}).save(tmp_path / "workers.yaml")
    strict = run_cli("train", tmp_path / "workers.yaml", "--output", tmp_path / "strict", "--strict", process=True)
    assert strict.returncode == 3, strict.stderr
    assert re.fullmatch(r"error: .*cats/3.png: cannot decode image: [^\n]*", error_message(strict)), strict.stderr
