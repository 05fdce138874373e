"""Every command's failures map to the documented exit codes (`cli/failures.py`): usage errors exit 2 naming the option,
bad inputs exit 3 with one message and leave nothing, results never land in or over what the command did not write,
errors of the Hub and its client are one line."""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import socket
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from simsiam_zoo.errors import EXIT_BAD_INPUT, EXIT_CANNOT_WRITE, EXIT_OFFLINE, OutputRefused
from simsiam_zoo.hub.folder import WEIGHTS_NAME
from tests.builders import (
    CLI,
    READ_ONLY,
    error_message,
    leftovers,
    messages,
    os_error,
    own_files,
    run_cli,
    snapshot,
    write_images,
)
from tests.hub_server import HubServer


@pytest.mark.parametrize("command", ["train", "extract"])
def test_runs_and_features_are_not_written_into_a_foreign_folder(
    command: str, exported: Path, images: Path, tmp_path: Path
) -> None:
    """Both add files to OUT over time (to resume), so a folder of other files is refused, not mixed into; neither
    has --overwrite, so the refusal does not suggest it."""
    precious = tmp_path / "precious"
    before = own_files(precious)
    message = _refused(command, precious, exported=exported, images=images)
    assert message.startswith(f"error: {precious}: exists and was not written by simsiam-zoo")
    assert "--overwrite" not in message
    assert snapshot(precious) == before


def test_a_command_s_warnings_are_one_line_each(tmp_path: Path) -> None:
    """They came as Python shows them: the library's file and line, the category, then a quoted line of its source."""
    from simsiam_zoo.features import extract_features
    from tests.builders import make_transform, tiny_model

    write_images(tmp_path / "data", ("a", "b"), 3)
    extract_features(tiny_model(), make_transform(), tmp_path / "data", out=tmp_path / "feats", progress=False)
    done = run_cli("eval", "knn", "--train", tmp_path / "feats", "--test", tmp_path / "feats", process=True)
    assert done.returncode == 0, done.stderr
    warned = [line for line in done.stderr.splitlines() if "k=20, 200 exceed the 6 training samples" in line]
    assert warned and all(line.startswith("warning: k=") for line in warned), done.stderr
    assert "kNN k=20 (all 6) " in done.stdout and "kNN k=200 (all 6) " in done.stdout, done.stdout  # not 20 votes
    assert "UserWarning" not in done.stderr and "knn_accuracy(" not in done.stderr, done.stderr


def test_a_file_named_with_a_line_break_keeps_messages_one_line(exported: Path, tmp_path: Path) -> None:
    """A warning or error naming such a file was split over two lines, the second not starting with its kind."""
    (tmp_path / "bad\nname.png").write_bytes(b"")
    done = run_cli("extract", exported, tmp_path / "bad\nname.png", "--out", tmp_path / "feats")
    assert done.returncode == EXIT_BAD_INPUT and "bad\\nname.png: " in error_message(done), done.stderr
    assert not any(line.startswith("name.png") for line in done.stderr.splitlines()), done.stderr


def test_an_evaluation_of_a_run_may_keep_its_result_in_the_run_folder(partial_run: Path, tmp_path: Path) -> None:
    """MODEL may be a training run: nothing pushes or lists its files, so its folder may hold results (refused as
    an input folder, with the model's and the data's)."""
    from simsiam_zoo.cli.shared import check_result_out

    check_result_out(str(partial_run / "linear.json"), evaluation="linear_protocol", inputs=(partial_run, "digits"))
    data = write_images(tmp_path / "data", ("a", "b"), 1)
    with pytest.raises(OutputRefused, match=r"the output lies inside the input"):
        check_result_out(str(data / "linear.json"), evaluation="linear_protocol", inputs=(partial_run, str(data)))


def test_a_folder_another_process_is_claiming_is_not_taken_for_someone_else_s(tmp_path: Path) -> None:
    """Two benchmarks started at once into one OUT: the second met the first's marker in flight (its temp file, in a
    folder with no marker yet) and refused the folder as "not written by simsiam-zoo"."""
    from simsiam_zoo._io import MARKER_NAME, claim_output_dir, read_marker
    from simsiam_zoo.errors import OutputRefused

    claimed, foreign = tmp_path / "claimed", tmp_path / "foreign"
    for folder in (claimed, foreign):
        folder.mkdir()
        (folder / f".{MARKER_NAME}.k3x9.tmp").write_text("")
    assert claim_output_dir(claimed, kind="benchmark") == claimed and read_marker(claimed) == "benchmark"
    (foreign / "notes.txt").write_text("the user's")
    with pytest.raises(OutputRefused, match="exists and was not written by simsiam-zoo"):
        claim_output_dir(foreign, kind="benchmark")


@pytest.mark.parametrize("command", ["train", "extract"])
def test_a_folder_with_a_file_named_as_the_command_s_own_is_not_marked_when_refused(
    command: str, exported: Path, images: Path, tmp_path: Path
) -> None:
    """A folder holding a `checkpoint.pt` or `index.json` is taken for an older version's run or extraction; when
    that file is another's, the command refuses it, and used to leave its marker there: a class folder so marked
    was no longer listed as data by any command."""
    folder = tmp_path / "labelled"
    own_files(folder)
    (folder / ("checkpoint.pt" if command == "train" else "index.json")).write_text('{"source": "labelme"}')
    _refused(command, folder, exported=exported, images=images)
    assert not (folder / ".simsiam-zoo.json").exists()


def _refused(command: str, out: Path, *, exported: Path, images: Path) -> str:
    """`train` (tiny_fake) or `extract` (`exported` of `images`) into `out` exits 3; its message."""
    args = (
        ["train", "tiny_fake", "--output", out, "--max-steps", 1]
        if command == "train"
        else ["extract", exported, images, "--out", out]
    )
    done = run_cli(*args)
    assert done.returncode == EXIT_BAD_INPUT, done.stderr[-3000:]
    return error_message(done)


def test_usage_errors_exit_2_naming_the_option(exported: Path, images: Path, features: Path, tmp_path: Path) -> None:
    cases = [
        (
            ["extract", exported, images, "--out", tmp_path / "x", "--device", "gpu"],
            "Invalid value for '--device': 'gpu' is not a device name",
        ),
        (
            ["extract", exported, images, "--out", tmp_path / "x", "--device", "cuda"]
            if not torch.cuda.is_available()
            else ["extract", exported, images, "--out", tmp_path / "x", "--device", "cuda:99"],
            "Invalid value for '--device': 'cuda",
        ),
        (["eval", "knn", "--train", features, "--test", features, "--k", "0"], "Invalid value for '--k': 0"),
        (["eval", "knn", "--train", features, "--test", features, "--k", "-5"], "Invalid value for '--k': -5"),
        (
            ["eval", "knn", "--train", features, "--test", features, "--k", "3", "--k", "3"],
            "Invalid value for '--k': 3 given twice",
        ),
        *(
            (
                ["eval", "knn", "--train", features, "--test", features, "--temperature", value],
                f"Invalid value for '--temperature': {value}: a finite number above 0",
            )
            for value in ("0.0", "nan", "inf")  # NaN was a traceback, inf an unweighted vote
        ),
        # NaN compares false with every bound: a range type lets it through to a run that never stops.
        (
            ["train", "tiny_fake", "--output", tmp_path / "x", "--max-minutes", "nan"],
            "Invalid value for '--max-minutes'",
        ),
        (["train", "tiny_fake", "--output", tmp_path / "x", "--max-steps", "0"], "Invalid value for '--max-steps'"),
        # An unset variable: pathlib reads '' as the current directory, which was extracted whole, or written to.
        (["extract", exported, "", "--out", tmp_path / "x"], "Invalid value for 'DATA': an empty path"),
        (["extract", exported, images, "--out", ""], "Invalid value for '--out': an empty path"),
        (["train", "tiny_fake", "--output", tmp_path / "x", "--data", " "], "Invalid value for '--data': an empty"),
        (
            ["train", "tiny_fake", "--output", tmp_path / "x", "--set", "optim.batch_size"],
            "Invalid value for '--set': 'optim.batch_size': expected KEY=VALUE",
        ),
        (
            ["train", "tiny_fake", "--output", tmp_path / "x", "--set", "optim.base_lr=[1"],
            "Invalid value for '--set': 'optim.base_lr=[1': the value is not valid YAML",
        ),
        (  # a RecursionError traceback
            ["train", "tiny_fake", "--output", tmp_path / "x", "--set", "optim.base_lr=" + "[" * 100_000],
            "Invalid value for '--set': optim.base_lr: the value is nested too deep",
        ),
        (  # the last one won in silence
            [
                "train",
                "tiny_fake",
                "--output",
                tmp_path / "x",
                "--set",
                "optim.batch_size=4",
                "--set",
                "optim.batch_size=16",
            ],
            "Invalid value for '--set': optim.batch_size: given twice; give each key once",
        ),
        (  # the --name and --repo-id of a card, the names of models and recipes: exit 3 once the work had started
            ["export", exported, tmp_path / "x", "--name", "has space/../x"],
            "Invalid value for '--name': 'has space/../x' is not usable as the name of a Hub model (repo id "
            "'simsiam-zoo/has space/../x': expected ORG/NAME)",
        ),
        (
            ["convert", exported / WEIGHTS_NAME, tmp_path / "x", "--name", ""],
            "Invalid value for '--name': '' is not usable as the name of a Hub model (repo id 'simsiam-zoo/': Repo id",
        ),
        (
            ["export", exported, tmp_path / "x", "--name", "resnet18.x", "--repo-id", "a/b/c"],
            "Invalid value for '--repo-id': repo id 'a/b/c': expected ORG/NAME",
        ),
        (["push", exported, "--repo-id", "noslash", "--dry-run"], "Invalid value for '--repo-id': repo id 'noslash'"),
        (["train", "", "--output", tmp_path / "x"], "Invalid value for 'RECIPE': an empty recipe name or file"),
        (["download", " "], "Invalid value for 'NAME': an empty model name or hf-hub: id"),
        (["extract", "", images, "--out", tmp_path / "x"], "Invalid value for 'MODEL': an empty model name or path"),
        (["mirror", "--org", "ok", "--dry-run", ""], "Invalid value for '[NAMES]...': an empty zoo name"),
        (
            ["convert", exported / WEIGHTS_NAME, tmp_path / "x", "--name", "resnet18.x", "--arch", ""],
            "Invalid value for '--arch': an empty architecture",  # it was taken as not given
        ),
        (
            ["train", "tiny_fake", "--output", tmp_path / "x", "--set", "=5"],
            "Invalid value for '--set': '=5': expected",
        ),
        (["eval", "transfer", exported, "--dataset", ""], "Invalid value for '--dataset': '': expected NAME=PATH"),
        (
            ["convert", exported / WEIGHTS_NAME, tmp_path / "x", "--name", "resnet18.x", "--from", "bogus"],
            "Invalid value for '--from': 'bogus' is no converter; one of official_simsiam, moco,",
        ),
        (["eval", "knn", "--train", "", "--test", features], "Invalid value for '--train': an empty path"),
        (["export", "", tmp_path / "x"], "Invalid value for 'CHECKPOINT': an empty path"),
        (["benchmark", exported, "--data", "", "--out", tmp_path / "x"], "Invalid value for '--data': an empty"),
    ]
    for args, expected in cases:
        done = run_cli(*args)
        assert done.returncode == 2 and expected in done.stderr and "Traceback" not in done.stderr, done.stderr[-3000:]
    assert not (tmp_path / "x").exists()


def test_bad_inputs_exit_3_with_one_message_and_leave_nothing(
    partial_run: Path, exported: Path, images: Path, recipe_file: Path, tmp_path: Path
) -> None:
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes(b"base: tiny_fake\ndescription: caf\xe9\n")
    state = load_file(exported / WEIGHTS_NAME)
    torch.save(state, tmp_path / "model.pth")
    torch.save({**state, "conv1.weight": torch.full_like(state["conv1.weight"], float("nan"))}, tmp_path / "nan.pth")
    (tmp_path / "a_file").write_text("")
    save_file({"stem.weight": torch.zeros(2, 2)}, tmp_path / "not_a_resnet.safetensors")
    out = tmp_path / "out"
    cases = [
        (
            ["extract", tmp_path / "not_a_resnet.safetensors", images, "--out", out],
            f"error: {tmp_path / 'not_a_resnet.safetensors'}: no conv1.weight: not a torchvision/timm ResNet backbone",
        ),
        (
            ["train", recipe_file, "--output", out, "--set", "optim.batch_size=1"],
            "error: recipe 'tiny_fake' with optim.batch_size=1: optim.batch_size must be at least 2 (BatchNorm needs "
            "two images a batch)",
        ),
        (["train", latin1, "--output", out], f"error: {latin1}: not UTF-8 text"),
        (
            ["train", recipe_file, "--output", out, "--set", "model.arch=resnet999"],
            "error: model.arch 'resnet999' is not a timm architecture; did you mean",
        ),
        (  # both were a traceback from torch or timm once the run had claimed its folder
            ["train", recipe_file, "--output", out, "--set", f"run.seed={2**70}"],
            f"error: recipe 'tiny_fake' with run.seed={2**70}: run.seed must be in [-2**63, 2**64), torch's seed range",
        ),
        (
            ["train", recipe_file, "--output", out, "--set", "model.arch=vit_tiny_patch16_224"],
            "error: model.arch 'vit_tiny_patch16_224' takes only 224 px images (timm's fixed input size); "
            "data.image_size is 32",
        ),
        (  # it was said by the sampler, after the run had claimed its folder, naming neither data nor option
            ["train", "tiny_fake", "--output", out, "--set", "data.fake_size=3"],
            "error: fake: 3 images are fewer than one global batch (optim.batch_size 8)",
        ),
        (
            ["convert", tmp_path / "model.pth", out, "--name", "x", "--arch", "resnt18"],
            f"error: {tmp_path / 'model.pth'}: architecture 'resnt18' is not a timm architecture name; did you mean",
        ),
        (["convert", tmp_path / "nan.pth", out, "--name", "x"], "error: "),
        (["extract", exported, images, "--out", tmp_path / "a_file" / "sub"], "error: "),
        (
            ["export", partial_run, out, "--name", "resnet50.simsiam_in1k_ep100_bs512"],
            "error: --name resnet50.simsiam_in1k_ep100_bs512: that zoo entry is a released checkpoint",
        ),
        (["export", exported, out, "--name", "x"], f"error: {exported}: a hub folder, not a training run"),
        (
            ["export", partial_run, out, "--name", "resnet50.mine"],
            "error: --name resnet50.mine: names a resnet50, and the weights are a resnet18; name it resnet18.mine or",
        ),
        (
            ["push", exported, "--repo-id", "simsiam-zoo/resnet50.simsiam_in1k_ep100_bs512", "--dry-run"],
            f"error: {exported}: simsiam-zoo/resnet50.simsiam_in1k_ep100_bs512 is the repo of the zoo entry "
            "resnet50.simsiam_in1k_ep100_bs512, and this folder is not that entry (it is a resnet18, the entry a "
            "resnet50; its card is for 'resnet18.reliability_test')",
        ),
    ]
    for args, expected in cases:
        done = run_cli(*args)
        assert done.returncode == EXIT_BAD_INPUT, done.stderr[-3000:]
        assert error_message(done).startswith(expected)
    nan = run_cli("convert", tmp_path / "nan.pth", out, "--name", "x")
    assert error_message(nan) == f"error: {tmp_path / 'nan.pth'}: weights are not finite (NaN or inf) in conv1.weight"
    # A negative running variance: "converted", and every feature of the model NaN.
    state = torch.load(tmp_path / "nan.pth", weights_only=True)
    state["conv1.weight"] = torch.zeros_like(state["conv1.weight"])
    state["bn1.running_var"][0] = -1.0
    torch.save(state, tmp_path / "negative.pth")
    negative = run_cli("convert", tmp_path / "negative.pth", out, "--name", "x")
    assert error_message(negative) == (
        f"error: {tmp_path / 'negative.pth'}: negative BatchNorm variances in bn1.running_var: every feature would be "
        "NaN"
    )
    assert not out.exists() and leftovers(tmp_path) == []


def test_a_result_file_under_a_file_or_over_a_foreign_file_is_refused(features: Path, tmp_path: Path) -> None:
    """`eval knn --out` under a file: one message naming it (was a traceback); over a file that is no result of an
    evaluation: refused, the file kept; over its own result: replaced."""
    blocker = tmp_path / "notes.txt"
    blocker.write_text("mine")
    done = run_cli("eval", "knn", "--train", features, "--test", features, "--out", blocker / "knn.json")
    assert done.returncode == EXIT_BAD_INPUT, done.stderr[-3000:]
    assert (
        error_message(done) == f"error: {blocker / 'knn.json'}: {blocker} is a file, not a folder; choose "
        "another output path"
    )
    done = run_cli("eval", "knn", "--train", features, "--test", features, "--out", blocker)
    assert done.returncode == EXIT_BAD_INPUT and blocker.read_text() == "mine"
    result = tmp_path / "knn.json"
    for _ in range(2):
        assert run_cli("eval", "knn", "--train", features, "--test", features, "--out", result).returncode == 0
    assert "top1" in result.read_text()
    # Another evaluation's result, such as the finetune.json beside a classifier, is another command's file.
    other = run_cli("eval", "linear", "--train", features, "--test", features, "--out", result)
    assert other.returncode == EXIT_BAD_INPUT and error_message(other) == (
        f"error: {result}: exists and was not written by this command; choose another path"
    )
    assert json.loads(result.read_text())["evaluation"] == "knn"
    # A user's JSON that says which evaluation it is about is no result (it was replaced).
    notes = tmp_path / "notes.json"
    notes.write_text('{"evaluation": "knn", "top1": "ask Ana"}')
    mine = run_cli("eval", "knn", "--train", features, "--test", features, "--out", notes)
    assert mine.returncode == EXIT_BAD_INPUT and notes.read_text() == '{"evaluation": "knn", "top1": "ask Ana"}'


def test_options_that_cannot_work_are_refused_before_any_work(exported: Path, tmp_path: Path) -> None:
    """A NaN or negative demo budget (NaN passed every range check and failed after minutes of work), a pull request
    against a branch, a checkpoint folder that is a file or lies inside the classifier folder: one line each."""
    for minutes in ("nan", "-1", "0", "1e308"):  # 1e308 overflowed the plan after minutes of work
        done = run_cli("demo", "--minutes", minutes, "--out", tmp_path / "demo")
        assert done.returncode == 2 and "--minutes" in done.stderr and "positive number of minutes" in done.stderr
    assert not (tmp_path / "demo").exists()
    done = run_cli("push", exported, "--repo-id", "user/model", "--create-pr", "--revision", "dev")
    assert done.returncode == 2 and "cannot be combined with --revision" in done.stderr, done.stderr[-3000:]
    done = run_cli("push", exported, "--repo-id", "user/model", "--revision", "")  # the Hub's 404: "no such repo"
    assert done.returncode == 2 and "Invalid value for '--revision': branch name '': empty" in done.stderr, done.stderr
    done = run_cli("push", exported, "--repo-id", "user/model", "--revision", "a..b", "--dry-run")
    assert done.returncode == 2 and "'--revision': branch name 'a..b': holds '..'" in done.stderr, done.stderr
    data = tmp_path / "ds"
    write_images(data / "train", ("a", "b"), 4)
    write_images(data / "val", ("a", "b"), 2)
    blocker = tmp_path / "checkpoints"
    blocker.write_text("mine")
    done = run_cli("finetune", exported, data, "--out", tmp_path / "out", "--epochs", 1, "--checkpoint-dir", blocker)
    assert done.returncode == EXIT_BAD_INPUT, done.stderr[-3000:]
    assert error_message(done) == f"error: {blocker}: --checkpoint-dir is a file, not a folder"
    # A batch of one image whose BatchNorm sees one value a channel (layer4 of a 32 px image): torch's traceback.
    done = run_cli("finetune", exported, data, "--out", tmp_path / "one", "--epochs", 1, "--batch-size", 1)
    assert done.returncode == EXIT_BAD_INPUT, done.stderr[-3000:]
    assert error_message(done).startswith("error: Expected more than 1 value per channel when training, got input")
    assert error_message(done).endswith(
        "a batch of one image a rank; give --batch-size 2 or more (or --frozen-backbone, whose BatchNorm keeps its "
        "statistics)"
    )
    inside = tmp_path / "out" / "checkpoints"
    done = run_cli("finetune", exported, data, "--out", tmp_path / "out", "--epochs", 1, "--checkpoint-dir", inside)
    assert done.returncode == EXIT_BAD_INPUT, done.stderr[-3000:]
    assert "lies in the classifier folder" in error_message(done) and not (tmp_path / "out").exists()
    # An export's folder (a hub folder too) was replaced by the classifier: its projector and predictor gone.
    other_export = tmp_path / "export"
    shutil.copytree(exported, other_export)
    before = snapshot(other_export)
    done = run_cli("finetune", exported, data, "--out", other_export, "--epochs", 1)
    assert done.returncode == EXIT_BAD_INPUT, done.stderr[-3000:]
    assert error_message(done) == (
        f"error: {other_export}: holds a pretrained backbone (simsiam.safetensors, recipe.yaml), which the "
        "classifier folder would replace; choose another folder (or pass --overwrite to replace it)"
    )
    assert snapshot(other_export) == before
    # A backbone alone, as `convert` writes it (a config of no classes), was replaced too.
    (other_export / "simsiam.safetensors").unlink()
    (other_export / "recipe.yaml").unlink()
    before = snapshot(other_export)
    done = run_cli("finetune", exported, data, "--out", other_export, "--epochs", 1)
    assert done.returncode == EXIT_BAD_INPUT, done.stderr[-3000:]
    assert "holds a pretrained backbone (config.json: num_classes 0)" in error_message(done)
    assert snapshot(other_export) == before


def test_an_error_while_a_progress_bar_is_drawn_is_on_a_line_of_its_own(exported: Path, tmp_path: Path) -> None:
    """A corrupt checkpoint read while fine-tuning's bar was drawn: the error went on the bar's line."""
    data = tmp_path / "ds"
    write_images(data / "train", ("a", "b"), 4)
    write_images(data / "val", ("a", "b"), 2)
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "finetune.pt").write_bytes(b"PK\x03\x04 cut short")
    done = run_cli("finetune", exported, data, "--out", tmp_path / "out", "--checkpoint-dir", tmp_path / "checkpoints")
    assert done.returncode == EXIT_BAD_INPUT, done.stderr[-3000:]
    assert "finetune: " in done.stderr  # the bar was drawn
    assert error_message(done).startswith(f"error: {tmp_path / 'checkpoints' / 'finetune.pt'}: cannot read torch")


def test_an_output_that_cannot_be_written_is_refused_before_any_training(
    exported: Path, tmp_path: Path, read_only_works: bool
) -> None:
    """A read-only folder for --out or --checkpoint-dir: the linear protocol trained to its end, printed its top-1,
    then failed to write it (exit 6, the result lost); semi-supervised fine-tuning failed after its first epoch."""
    if not read_only_works:
        pytest.skip("a read-only bind mount needs `unshare --mount` with CAP_SYS_ADMIN, which this machine lacks")
    data = tmp_path / "ds"
    write_images(data / "train", ("a", "b"), 4)
    write_images(data / "val", ("a", "b"), 2)
    locked = tmp_path / "locked"
    locked.mkdir()
    for args, given in (
        (["eval", "linear-protocol", exported, data, "--epochs", 1, "--out", locked / "lp.json"], "lp.json"),
        (["eval", "semi", exported, data, "--fraction", 0.5, "--epochs", 1, "--checkpoint-dir", locked / "ck"], "ck"),
    ):
        done = run_cli(*args, prefix=[*READ_ONLY, str(locked), *CLI])
        assert done.returncode == EXIT_CANNOT_WRITE, done.stderr[-3000:]
        problem = os_error(errno.EROFS)
        assert error_message(done) == f"error: {problem}: cannot write into {locked}: '{locked / given}'"
        assert done.stdout == "" and list(locked.iterdir()) == []


def test_evaluation_options_no_run_can_use_are_refused_before_any_work(exported: Path, tmp_path: Path) -> None:
    """Each was a traceback after loading or training (NaN passed --fraction's range, 1e300 overflowed the
    optimizer's float32, the seed torch's), a chance-level result (an infinite weight decay), a silent choice (the
    last --dataset or --subset-file of a name won), a path out of --checkpoint-dir (a dataset named '../x'), or a
    card named '../../evil'."""
    data = tmp_path / "ds"
    write_images(data / "train", ("a", "b"), 4)
    write_images(data / "val", ("a", "b"), 2)
    (tmp_path / "a.txt").write_text("a_0.png\n")
    semi = ["eval", "semi", exported, data, "--epochs", 1]
    usage = [
        ([*semi, "--fraction", "nan"], "Invalid value for '--fraction': nan"),
        ([*semi, "--lr", "1e300"], "--lr must be a finite number > 0, got 1e+300"),
        ([*semi, "--weight-decay", "inf"], "--weight-decay must be a finite number >= 0, got inf"),
        ([*semi, "--seed", str(10**23)], "seed must be a whole number in [-2**63, 2**64)"),
        (
            [*semi, "--subset-file", f"0.1={tmp_path / 'a.txt'}", "--subset-file", f"0.1={tmp_path / 'a.txt'}"],
            "a second file for 0.1",
        ),
        (["eval", "transfer", exported, "--dataset", f"x={data}", "--dataset", f"x={data}"], "a second dataset"),
        (["eval", "transfer", exported, "--dataset", f"../x={data}"], "must not hold a path separator"),
        (
            ["eval", "transfer", exported, "--dataset", str(data)],
            f"a folder needs a name, NAME=PATH (e.g. mine={data})",
        ),
        ([*semi, "--fraction", "0.1", "--fraction", "0.1"], "Invalid value for '--fraction': 0.1 given twice"),
        (
            ["eval", "transfer", exported, "--dataset", f"x={data}", "--mode", "linear", "--mode", "linear"],
            "Invalid value for '--mode': linear given twice",  # each ran its work again
        ),
    ]
    for args, expected in usage:
        done = run_cli(*args)
        assert done.returncode == 2 and expected in done.stderr, (args, done.stderr[-2000:])
    done = run_cli("finetune", exported, data, "--out", tmp_path / "out", "--epochs", 1, "--name", "../../evil")
    assert done.returncode == 2, done.stderr
    assert (
        "Invalid value for '--name': '../../evil' is not usable as the name of a Hub model (repo id "
        "'simsiam-zoo/../../evil'" in done.stderr
    )
    assert not (tmp_path / "out").exists() and leftovers(tmp_path) == []
    named = tmp_path / "named"  # a subset file of one class's images: it reported chance as a result
    for split, count in (("train", 4), ("val", 2)):
        for label in ("a", "b"):
            write_images(named / split, (label,), count, name=f"{label} {{i}}.png")
    (tmp_path / "one_class.txt").write_text("a 0.png\na 1.png\n")
    done = run_cli(*semi[:3], named, "--epochs", 1, "--subset-file", f"0.1={tmp_path / 'one_class.txt'}")
    assert done.returncode == EXIT_BAD_INPUT, done.stderr[-2000:]
    assert (
        error_message(done)
        == f"error: {tmp_path / 'one_class.txt'}: its images are of 1 class; a classifier needs at least two"
    )


@pytest.mark.parametrize(
    ("error", "code"),
    [
        ("bad revision", EXIT_BAD_INPUT),
        ("bad branch", EXIT_BAD_INPUT),
        ("offline", EXIT_OFFLINE),
        ("redirects", EXIT_OFFLINE),
        ("undecodable", EXIT_OFFLINE),
        ("refused", EXIT_OFFLINE),
        ("server error", EXIT_OFFLINE),
    ],
)
def test_errors_of_the_hub_and_its_client_are_one_line_with_their_exit_code(
    exported: Path, monkeypatch: pytest.MonkeyPatch, error: str, code: int
) -> None:
    """What huggingface_hub and httpx raise besides transport errors (each was a traceback): a request the Hub
    refused is bad input, the rest a model or Hub that cannot be had."""
    import httpx
    from huggingface_hub.errors import BadRequestError, HfHubHTTPError, OfflineModeIsEnabled

    import simsiam_zoo.hub.publish

    request = httpx.Request("POST", "https://huggingface.co/api/models/user/model/commit/main")
    raised = {
        "bad revision": BadRequestError(
            "Invalid rev id: bad..name\nmore detail", response=httpx.Response(400, request=request)
        ),
        "bad branch": BadRequestError(  # the Hub's reason comes on a line after "Bad request:"
            "Bad request:\ninvalid branch name 'bad branch'",
            response=httpx.Response(400, request=request),
            server_message="invalid branch name 'bad branch'",
        ),
        "offline": OfflineModeIsEnabled("Cannot reach https://huggingface.co: offline mode is enabled."),
        "redirects": httpx.TooManyRedirects("Exceeded maximum allowed redirects.", request=request),
        "undecodable": httpx.DecodingError("Error -3 while decompressing data", request=request),
        "refused": httpx.ConnectError("[Errno 111] Connection refused", request=request),
        "server error": HfHubHTTPError("502 Bad Gateway", response=httpx.Response(502, request=request)),
    }[error]

    def fails(*_: object, **__: object) -> None:
        raise raised

    monkeypatch.setattr(simsiam_zoo.hub.publish, "push_hub_folder", fails)
    done = run_cli("push", exported, "--repo-id", "user/model")
    assert done.returncode == code, done.stderr[-3000:]
    assert "Traceback" not in done.stderr and len(messages(done.stderr)) == 1
    assert error_message(done).startswith(f"error: {type(raised).__name__}: {str(raised).splitlines()[0]}")
    if error == "bad branch":
        assert error_message(done) == "error: BadRequestError: Bad request: (invalid branch name 'bad branch')"


def test_a_refused_weights_upload_is_one_line(hub: HubServer, exported: Path) -> None:
    """huggingface_hub wraps a failed LFS upload in a plain RuntimeError: a 153-line traceback with exit 1 (a 5xx
    takes the same way, after the client's retries, to exit 5)."""
    hub.upload_status = 403
    try:
        done = run_cli("push", exported, "--repo-id", "zoo-test/upload-refused")
    finally:
        hub.upload_status = None
    assert done.returncode == EXIT_BAD_INPUT, done.stderr[-3000:]
    assert "Traceback" not in done.stderr and len(messages(done.stderr)) == 1
    assert re.match(r"error: Error while uploading '[a-z.]+' to the Hub: HfHubHTTPError: .*403", error_message(done))


def test_a_token_no_http_header_can_carry_is_one_line(exported: Path) -> None:
    """An HF_TOKEN with an accent was a UnicodeEncodeError traceback from the HTTP client, for push and download."""
    env = {"HF_TOKEN": "hf_tök", "HF_ENDPOINT": "http://127.0.0.1:9", "HF_HUB_OFFLINE": "0"}
    done = run_cli("push", exported, "--repo-id", "user/model", env=env)
    assert done.returncode == EXIT_BAD_INPUT, done.stderr[-3000:]
    assert error_message(done).startswith("error: the Hugging Face token (HF_TOKEN, or the one `hf auth login` saved)")


def test_a_hub_that_cannot_be_reached_through_the_installed_client_is_one_line_with_exit_5(exported: Path) -> None:
    """Through the real client, whatever it is: huggingface_hub 2 raises httpx2's errors, which are not httpx's, and
    `push` to a closed endpoint was an 88-line traceback with exit 1."""
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        endpoint = f"http://127.0.0.1:{probe.getsockname()[1]}"
    env = {"HF_ENDPOINT": endpoint, "HF_HUB_DISABLE_XET": "1", "HF_HUB_OFFLINE": "0"}
    done = run_cli("push", exported, "--repo-id", "user/model", env=env)
    assert done.returncode == EXIT_OFFLINE, done.stderr[-3000:]
    assert "Traceback" not in done.stderr and len(messages(done.stderr)) == 1
    assert error_message(done).endswith(f"(the Hugging Face Hub at {endpoint})")


def test_outputs_are_checked_before_any_work_and_work_folders_never_land_inside_an_input(
    exported: Path, images: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Refused before anything trains, each was found after it (a result lost), or wrote into what it read: a result
    path that is a folder or ends with a separator (it wrote a file named like the folder), a second transfer
    dataset that cannot be used (the first trained, then no JSON), a checkpoint or cache folder that is a file (a
    raw errno) or lies inside the data (it has no marker, so the data would list it as a class)."""
    import simsiam_zoo.protocols.shared as shared

    def no_training(*args: object, **kwargs: object) -> None:
        raise AssertionError("trained before its outputs were checked")

    monkeypatch.setattr(shared, "finetune", no_training)
    data = tmp_path / "ds"
    write_images(data / "train", ("a", "b"), 4)
    write_images(data / "val", ("a", "b"), 2)
    one_class = tmp_path / "one_class"
    write_images(one_class / "train", ("a",), 4)
    write_images(one_class / "val", ("a",), 2)
    folder, blocker = tmp_path / "results", tmp_path / "notes.txt"
    folder.mkdir()
    blocker.write_text("mine")
    other_model = shutil.copytree(exported, tmp_path / "other_model")
    older = shutil.copytree(exported, tmp_path / "older_model")  # of a version whose markers listed no files
    marker = json.loads((older / ".simsiam-zoo.json").read_text())
    (older / ".simsiam-zoo.json").write_text(json.dumps({key: marker[key] for key in marker if key != "files"}))
    before = snapshot(tmp_path)
    transfer = ["eval", "transfer", exported, "--dataset", f"ds={data}", "--epochs", 1]
    cases = [
        (["eval", "linear-protocol", exported, data, "--out", folder], f"{folder}: is a folder; give a file path"),
        (
            ["eval", "semi", exported, data, "--out", f"{tmp_path}/new/"],
            f"{tmp_path}/new/: ends with a separator, as a folder does; give a file path",
        ),
        (
            [*transfer, "--dataset", f"bad={one_class}"],
            f"{one_class}: training images of 1 class (a); a classifier needs at least two",
        ),
        ([*transfer, "--cache-dir", blocker], f"{blocker}: --cache-dir is a file, not a folder"),
        (
            [*transfer, "--cache-dir", data / "train" / "cache"],
            f"{data / 'train' / 'cache'}: the output lies inside the input {data}; choose a path outside it",
        ),
        (
            ["eval", "semi", exported, data, "--checkpoint-dir", data / "ckpt"],
            f"{data / 'ckpt'}: the output lies inside the input {data}; choose a path outside it",
        ),
        # Nor in an output of this project's: a hub folder holding a cache was refused by its next export.
        (
            [*transfer, "--cache-dir", other_model],
            f"{other_model}: --cache-dir is a hub folder simsiam-zoo wrote, which holds its own files only; choose "
            "another folder",
        ),
        (
            ["eval", "semi", exported, data, "--checkpoint-dir", other_model / "ckpt"],
            f"{other_model / 'ckpt'}: --checkpoint-dir lies inside {other_model}, a hub folder simsiam-zoo wrote, "
            "which holds its own files only; choose another folder",
        ),
        # A result file inside an input folder (it was written into the model's or the features' folder).
        (
            ["eval", "linear-protocol", exported, data, "--out", exported / "lp.json"],
            f"{exported / 'lp.json'}: the output lies inside the input {exported}; choose a path outside it",
        ),
        (
            [*transfer, "--out", data / "transfer.json"],
            f"{data / 'transfer.json'}: the output lies inside the input {data}; choose a path outside it",
        ),
        # Nor inside a hub folder that is no input: listed in its marker, its next export or fine-tune there
        # deleted the result in silence.
        (
            ["eval", "semi", exported, data, "--out", other_model / "semi.json"],
            f"{other_model / 'semi.json'}: lies inside {other_model}, a hub folder simsiam-zoo wrote, which holds its "
            "own files only; choose another path",
        ),
        (
            ["eval", "semi", exported, data, "--out", older / "semi.json"],
            f"{older / 'semi.json'}: lies inside {older}, a hub folder simsiam-zoo wrote, which holds its own files "
            "only; choose another path",
        ),
        # Nor an output folder: its next write was refused for it ("also holds feats").
        (
            ["extract", exported, data / "val", "--out", other_model / "feats"],
            f"{other_model / 'feats'}: lies inside {other_model}, a hub folder simsiam-zoo wrote, which holds its own "
            "files only; choose another folder",
        ),
    ]
    for args, expected in cases:
        done = run_cli(*args)
        assert done.returncode == EXIT_BAD_INPUT, done.stderr[-3000:]
        assert error_message(done) == f"error: {expected}", args
    assert snapshot(tmp_path) == before and sorted(p.name for p in folder.iterdir()) == []


def test_a_tensor_beyond_the_memory_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A recipe whose batch cannot be held (`data.image_size=1000000`): one line saying so and what to lower, exit 3
    (a RuntimeError traceback from the CPU allocator, exit 1); torch's CUDA out-of-memory error reads the same way."""
    from simsiam_zoo.cli.failures import fail_if_out_of_memory

    args = ("--set", "data.image_size=1000000", "--max-steps", "1")
    done = run_cli("train", "tiny_fake", "--output", tmp_path / "run", *args)
    assert done.returncode == EXIT_BAD_INPUT, done.stderr[-3000:]
    smaller = (
        "use a smaller batch or image size (a recipe's optim.batch_size and data.image_size, a command's --batch-size)"
    )
    assert error_message(done).startswith("error: out of memory: the CPU could not allocate ")
    assert error_message(done).endswith(f" GiB; {smaller}")
    cuda = torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB.\nSee the documentation")
    with pytest.raises(SystemExit) as exited:
        fail_if_out_of_memory(cuda)
    assert exited.value.code == EXIT_BAD_INPUT
    assert (
        capsys.readouterr().err == f"error: out of memory: CUDA out of memory. Tried to allocate 20.00 GiB; {smaller}\n"
    )
    done = run_cli("train", "tiny_fake", "--output", tmp_path / "huge", "--set", f"model.pred_dim={2**62}")
    assert done.returncode == EXIT_BAD_INPUT, done.stderr[-3000:]  # torch's RuntimeError of its size calculation
    assert error_message(done).startswith("error: out of memory: a tensor of more bytes than any memory holds (")
    with pytest.raises(SystemExit) as exited:
        fail_if_out_of_memory(MemoryError())
    assert exited.value.code == EXIT_BAD_INPUT
    assert capsys.readouterr().err == f"error: out of memory: Python could not allocate more; {smaller}\n"


def test_an_output_inside_the_model_folder_is_refused(exported: Path, images: Path) -> None:
    """`extract MODEL DATA --out MODEL/features`, `benchmark MODEL ... --out MODEL/bench` and `finetune MODEL DATA --out
    MODEL/classifier` wrote into the hub folder, to be pushed with it and to make its export refuse."""
    before = snapshot(exported)
    extract = ["extract", exported, images, "--out", exported / "features"]
    bench = ["benchmark", exported, "--data", f"d={images},{images}", "--protocol", "knn", "--out", exported / "bench"]
    finetune = ["finetune", exported, images, "--test-data", images, "--out", exported / "classifier"]
    for args in (extract, bench, finetune):
        done = run_cli(*args)
        assert done.returncode == EXIT_BAD_INPUT, done.stderr[-3000:]
        assert error_message(done) == (
            f"error: {args[-1]}: the output lies inside the input {exported}; choose a path outside it"
        )
    assert snapshot(exported) == before


@pytest.fixture
def shared_folder() -> Iterator[Path]:
    """A folder another user may work in (pytest's tmp_path is its owner's alone)."""
    folder = Path(tempfile.mkdtemp())
    folder.chmod(0o777)
    yield folder
    for inside in folder.rglob("*"):
        inside.chmod(0o755 if inside.is_dir() else 0o644)
    shutil.rmtree(folder)


@pytest.mark.skipif(os.geteuid() == 0 and shutil.which("setpriv") is None, reason="root reads every file")
def test_inputs_that_cannot_be_read_are_bad_input_named_as_such(shared_folder: Path, hub_folder: Path) -> None:
    """A config.json, a DATA folder or a tar shard the user may not read was exit 6 ("cannot be written") with
    Python's errno line (the folder's named by a file in it that does not exist); weights were called missing."""
    user = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] if os.geteuid() == 0 else []
    data = write_images(shared_folder / "data", ("a", "b"), 2)
    with tarfile.open(shared_folder / "shard.tar", "w") as tar:
        tar.add(next(data.rglob("*.png")), "0.png")
    for name in ("hub", "weights", "config"):
        shutil.copytree(hub_folder, shared_folder / name)
    for locked in ("weights/model.safetensors", "config/config.json", "data", "shard.tar"):
        (shared_folder / locked).chmod(0)
    cases = [
        ("weights", "data", "weights/model.safetensors: permission denied: cannot be read"),
        ("config", "data", "config/config.json: permission denied: cannot be read"),
        ("weights", "data/a", "weights/model.safetensors: permission denied: cannot be read"),
        ("hub", "data", f"{shared_folder / 'data'}: permission denied: cannot be read"),
        ("hub", "shard.tar", f"{shared_folder / 'shard.tar'}: permission denied: cannot be read"),
    ]
    environment = {"HOME": str(shared_folder), "HF_HOME": str(shared_folder / "hf")}
    for model, images, message in cases:
        out = shared_folder / "out"
        paths = (shared_folder / model, shared_folder / images)
        done = run_cli("extract", *paths, "--out", out, prefix=[*user, *CLI], env=environment)
        assert done.returncode == EXIT_BAD_INPUT and error_message(done).endswith(message), (model, images, done.stderr)
        assert not out.exists()
