"""`simsiam-zoo train` and `finetune` on outputs they cannot write, odd training data and Ctrl-C: the documented exit
code, one `error:` line, and the last whole checkpoint kept."""

from __future__ import annotations

import errno
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from simsiam_zoo import recipe
from simsiam_zoo.checkpoint import CHECKPOINT_NAME, read_torch_checkpoint
from simsiam_zoo.data import labelled_images
from simsiam_zoo.errors import EXIT_BAD_INPUT, EXIT_CANNOT_WRITE
from tests.builders import (
    CLI,
    TIMEOUT,
    error_message,
    leftovers,
    make_fifo,
    os_error,
    run_cli,
    snapshot,
    write_images,
)


def test_training_that_cannot_write_keeps_the_last_good_checkpoint(
    partial_run: Path, recipe_file: Path, tmp_path: Path, cannot_write: Callable[[Path], tuple[list[str], str]]
) -> None:
    run = shutil.copytree(partial_run, tmp_path / "run")
    before = {name: (run / name).read_bytes() for name in (CHECKPOINT_NAME, "metrics.csv", "steps.csv")}
    prefix, problem = cannot_write(run)
    done = run_cli("train", recipe_file, "--output", run, prefix=prefix)
    assert done.returncode == EXIT_CANNOT_WRITE, done.stderr[-3000:]
    # A full disk lets the small recipe.yaml through and stops at the checkpoint; a read-only folder stops at once.
    failed = CHECKPOINT_NAME if problem == os_error(errno.EFBIG) else "recipe.yaml"
    assert error_message(done) == f"error: {problem}: '{run / failed}'"
    assert {name: (run / name).read_bytes() for name in before} == before
    assert leftovers(run) == []


def train_on(data: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return run_cli(
        "train",
        "tiny_fake",
        "--output",
        out,
        "--data",
        data,
        "--set",
        "data.dataset=imagefolder",
        "--set",
        "optim.epochs=1",
    )


def empty_folder(root: Path) -> tuple[Path, str]:
    (root / "empty").mkdir()
    return root / "empty", f"{root / 'empty'}: no images found"


def symlink_loop(root: Path) -> tuple[Path, str]:
    (root / "a").symlink_to(root / "b")
    (root / "b").symlink_to(root / "a")
    return root / "a", f"{root / 'a'}: not a folder"


@pytest.mark.parametrize("make", [empty_folder, symlink_loop], ids=["empty folder", "symlink loop"])
def test_unusable_data_folder_is_bad_input(tmp_path: Path, make: Callable[[Path], tuple[Path, str]]) -> None:
    data, expected = make(tmp_path)
    done = train_on(data, tmp_path / "run")
    assert done.returncode == EXIT_BAD_INPUT, done.stderr[-3000:]
    assert error_message(done).startswith(f"error: {expected}")
    assert not (tmp_path / "run" / CHECKPOINT_NAME).exists()


def test_unicode_and_spaces_in_data_paths_with_a_loop_inside(tmp_path: Path) -> None:
    data = tmp_path / "données d'été 猫" / "x y"
    write_images(data, ("chats noirs", "chiens 犬"), 8)
    (data / "chiens 犬" / "back up").symlink_to("..", target_is_directory=True)  # not followed: no image twice
    out = tmp_path / "run ü"
    done = train_on(data, out)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "finished at step 2/2" in done.stdout  # 16 images, batch 8
    assert (out / CHECKPOINT_NAME).exists() and leftovers(out) == []


def test_images_without_classes_train_without_the_knn_monitor(tmp_path: Path) -> None:
    """No labels, no monitor: the command printed `kNN nan%` for each epoch."""
    data = write_images(tmp_path, ("data",), 16) / "data"
    done = train_on(data, tmp_path / "run")
    assert done.returncode == 0 and "epoch    1  loss" in done.stdout, done.stderr[-3000:]
    assert "kNN" not in done.stdout and "nan" not in done.stdout, done.stdout


def test_a_link_to_the_data_folder_is_not_a_class(tmp_path: Path) -> None:
    """Taken for a class folder, it would make every image count twice."""
    write_images(tmp_path, ("a", "b"), 2)
    (tmp_path / "loop").symlink_to(".", target_is_directory=True)
    with pytest.warns(UserWarning, match=r"skipped 1 of 5 entries, not images \(loop: a second path to a folder"):
        dataset = labelled_images(tmp_path)
    assert (dataset.classes, len(dataset)) == (["a", "b"], 4)


def test_numbers_torch_cannot_hold_are_refused_before_the_run_claims_its_folder(tmp_path: Path) -> None:
    """Each was torch's overflow traceback, exit 1, in a run folder already claimed."""
    out = tmp_path / "run"
    for key, value, problem in (
        ("optim.weight_decay", "1e300", "must be at most 3.403e+38 in size (float32, the weights' type)"),
        ("model.pred_dim", 10**20, "must be in [-2**63, 2**63), the int64 torch takes it as"),
    ):
        done = run_cli("train", "tiny_fake", "--output", out, "--set", f"{key}={value}")
        assert done.returncode == EXIT_BAD_INPUT, done.stderr[-3000:]
        assert error_message(done) == f"error: recipe 'tiny_fake' with {key}={value!r}: {key} {problem}"
    assert not out.exists()


def test_a_file_where_a_run_makes_a_folder_is_bad_input_before_any_step(tmp_path: Path) -> None:
    """A file named `tensorboard` in a run folder (where the run's TensorBoard folder goes) was a FileExistsError
    traceback, exit 1."""
    out = tmp_path / "run"
    assert run_cli("train", "tiny_fake", "--output", out, "--max-steps", 2).returncode == 0
    shutil.rmtree(out / "tensorboard")
    (out / "tensorboard").write_text("mine")
    done = run_cli("train", "tiny_fake", "--output", out)
    assert done.returncode == EXIT_BAD_INPUT, done.stderr[-3000:]
    assert error_message(done) == f"error: {os_error(errno.EEXIST)}: '{out / 'tensorboard'}'"
    assert read_torch_checkpoint(out / CHECKPOINT_NAME)["step"] == 2 and (out / "tensorboard").read_text() == "mine"


def test_a_fifo_as_a_runs_checkpoint_or_marker_is_refused_by_name(tmp_path: Path) -> None:
    """A resume read the FIFO where checkpoint.pt goes (and the folder check the one where the marker goes) and
    waited for a writer, for good."""
    out = tmp_path / "run"
    assert run_cli("train", "tiny_fake", "--output", out, "--max-steps", 1).returncode == 0
    (out / CHECKPOINT_NAME).unlink()
    make_fifo(out / CHECKPOINT_NAME)
    done = run_cli("train", "tiny_fake", "--output", out, "--max-steps", 2)
    assert done.returncode == EXIT_BAD_INPUT, done.stderr[-3000:]
    assert error_message(done) == (
        f"error: {out / CHECKPOINT_NAME}: not a regular file (a FIFO, socket or device) (cannot resume from it)"
    )
    marked = tmp_path / "marked"
    marked.mkdir()
    make_fifo(marked / ".simsiam-zoo.json")
    done = run_cli("train", "tiny_fake", "--output", marked, "--max-steps", 1)
    assert done.returncode == EXIT_BAD_INPUT, done.stderr[-3000:]
    assert "exists and was not written by simsiam-zoo" in error_message(done)


def test_recipes_with_a_broken_builtin_file_is_one_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`simsiam-zoo recipes` was the one command without clean errors: a traceback."""
    broken = tmp_path / "broken.yaml"
    broken.write_text("optim: [\n")
    monkeypatch.setattr(recipe, "_recipes_dir", lambda: tmp_path)
    done = run_cli("recipes")
    assert done.returncode == EXIT_BAD_INPUT, done.stderr[-3000:]
    assert error_message(done).startswith(f"error: {broken}: not valid YAML: ")


def test_finetune_into_its_dataset_is_refused_before_training(exported: Path, tmp_path: Path) -> None:
    data = tmp_path / "ds"
    write_images(data / "train", ("a", "b"), 4)
    write_images(data / "val", ("a", "b"), 2)
    before = snapshot(data)
    done = run_cli("finetune", exported, data, "--out", data, "--epochs", 1, "--overwrite")
    assert done.returncode == EXIT_BAD_INPUT, done.stderr[-3000:]
    assert error_message(done) == f"error: {data}: the output is the input {data}; choose another output path"
    assert snapshot(data) == before


def test_ctrl_c_exits_130_with_one_message_and_a_whole_checkpoint(recipe_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = [
        *CLI,
        "train",
        recipe_file,
        "--output",
        out,
        "--set",
        "optim.epochs=100",
        "--set",
        "run.checkpoint_every_steps=1",
    ]
    # As a terminal starts it: with Ctrl-C's default action. A suite started in the background by a shell without job
    # control inherits SIGINT ignored, and Python then never installs its handler in the command.
    process = subprocess.Popen(
        [str(a) for a in args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + TIMEOUT
        while not (out / CHECKPOINT_NAME).exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=TIMEOUT)
    finally:
        process.kill()
    assert process.returncode == 130, stderr[-3000:]
    done = subprocess.CompletedProcess(args, process.returncode, "", stderr)
    print(f"train: exit {done.returncode}: {error_message(done)}")  # the outcome line for the reliability report
    assert error_message(done).startswith("error: interrupted; ")
    assert leftovers(out) == [] and read_torch_checkpoint(out / CHECKPOINT_NAME)["step"] >= 1


def test_a_licence_name_or_link_without_license_other_is_a_usage_error(tmp_path: Path) -> None:
    """`--license-name foo` alone was ignored in silence: the card kept the backbone's licence."""
    for options in (["--license-name", "foo"], ["--license", "mit", "--license-link", "https://example.org/l"]):
        done = run_cli("finetune", "MODEL", "DATA", "--out", tmp_path / "out", *options)
        assert done.returncode == 2, done.stderr
        assert "--license-name and --license-link go with --license other" in done.stderr
    assert not (tmp_path / "out").exists()


def test_ctrl_c_while_the_options_are_read_is_the_documented_interruption(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--device` imports torch while click reads the options, outside the command: Ctrl-C there said "Aborted!"
    with exit 1, where the exit codes say 130."""

    def interrupted(device: str) -> str:
        raise KeyboardInterrupt

    monkeypatch.setattr("simsiam_zoo.distributed.check_device", interrupted)
    done = run_cli("train", "tiny_fake", "--output", tmp_path / "run", "--device", "cpu")
    assert done.returncode == 130, done.stderr
    assert error_message(done).startswith("error: interrupted; ")
    assert not (tmp_path / "run").exists()


def test_data_given_by_both_data_and_set_is_a_usage_error(tmp_path: Path) -> None:
    """The one given last won in silence."""
    done = run_cli(
        "train", "tiny_fake", "--output", tmp_path / "run", "--data", tmp_path, "--set", f"data.path={tmp_path}"
    )
    assert done.returncode == 2, done.stderr
    assert "--data and --set data.path both set the data's path" in done.stderr
