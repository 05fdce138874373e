"""Reliability battery, through the CLI: an output that cannot be written, kill -9 mid-export and mid-push, odd
training data, broken hub folders, offline downloads. Each case checks the documented exit code, the one `error:`
message naming the file and the problem, and that nothing half-written is left behind.

Covered elsewhere and not repeated: unreadable images and kill -9 during extraction (test_features.py); kill -9
during training, a NaN loss and a missing data folder (test_train.py); pickles that run code, truncated weights, sha256
mismatches and unknown model names (test_loader.py, test_convert.py); `..` paths on the hub server and offline
downloads through the library (test_hub.py).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from simsiam_zoo._io import MARKER_NAME
from simsiam_zoo.checkpoint import CHECKPOINT_NAME, load_checkpoint
from simsiam_zoo.data import labelled_images
from simsiam_zoo.errors import EXIT_BAD_INPUT, EXIT_CANNOT_WRITE, EXIT_OFFLINE
from simsiam_zoo.export import export_checkpoint
from simsiam_zoo.features import SETTINGS_FILE, extract_features
from simsiam_zoo.features.store import LOCK_NAME
from simsiam_zoo.hub.folder import CONFIG_NAME, WEIGHTS_NAME
from simsiam_zoo.hub.publish import push_hub_folder
from simsiam_zoo.loader import load_backbone
from simsiam_zoo.recipe import load_recipe
from simsiam_zoo.train import train
from tests.builders import (
    CLI,
    DISK_FULL,
    READ_ONLY,
    TIMEOUT,
    error_message,
    leftovers,
    messages,
    run_cli,
    run_until_then_kill,
    snapshot,
    with_setup,
    write_images,
)
from tests.hub_server import HubServer

NAME = "resnet18.reliability_test"
# Pause points, one each, where the test kills the command: after the hub folder's weights are written to its staging
# folder (write_hub_folder hashes them next), and after the first LFS upload of a push, before its commit.
PAUSE_EXPORT = """
import pathlib, time
import simsiam_zoo.hub.folder as folder

def paused(path):
    pathlib.Path({marker!r}).touch()
    time.sleep(600)

folder.sha256_file = paused
"""
PAUSE_PUSH = """
import pathlib, time
from huggingface_hub import _commit_api

upload = _commit_api.lfs_upload

def paused(*args, **kwargs):
    upload(*args, **kwargs)
    pathlib.Path({marker!r}).touch()
    time.sleep(600)

_commit_api.lfs_upload = paused
"""

# -------------------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def recipe_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("recipe") / "tiny.yaml"
    load_recipe("tiny_fake").replace({"optim.base_lr": 0.5, "optim.epochs": 1}).save(path)
    return path


@pytest.fixture(scope="module")
def partial_run(recipe_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run stopped at step 3 of 4 with its checkpoint: rerunning it trains one step and writes a checkpoint."""
    run = tmp_path_factory.mktemp("run")
    train(load_recipe(str(recipe_file)), output_dir=run, max_steps=3, progress=False)
    return run


@pytest.fixture(scope="module")
def exported(partial_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The hub folder of `partial_run`, exported in-process: what an uninterrupted `export` writes."""
    return export_checkpoint(partial_run, tmp_path_factory.mktemp("export") / NAME, name=NAME)


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("images")
    write_images(root, ("a", "b"), 6)
    return root


@pytest.fixture(scope="module")
def read_only_works(tmp_path_factory: pytest.TempPathFactory) -> bool:
    """Whether this machine can mount a folder read-only in a private namespace (root with CAP_SYS_ADMIN)."""
    probe = tmp_path_factory.mktemp("read_only_probe")
    if shutil.which("unshare") is None:
        return False
    done = subprocess.run([*READ_ONLY, str(probe), "touch", str(probe / "written")], capture_output=True, timeout=60)
    return done.returncode != 0 and b"Read-only file system" in done.stderr and not (probe / "written").exists()


def os_error(code: int) -> str:
    return f"[Errno {code}] {os.strerror(code)}"


@pytest.fixture(params=["full disk", "read-only folder"])
def cannot_write(request: pytest.FixtureRequest, read_only_works: bool) -> Callable[[Path], tuple[list[str], str]]:
    """f(folder) -> (command prefix that runs the CLI unable to write below folder, the OS error it meets)."""
    if request.param == "full disk":
        return lambda folder: (with_setup(DISK_FULL), os_error(errno.EFBIG))
    if not read_only_works:
        pytest.skip(
            "a read-only bind mount needs `unshare --mount` with CAP_SYS_ADMIN, which this machine lacks "
            "(an unprivileged container?); the full-disk variant still runs"
        )
    return lambda folder: ([*READ_ONLY, str(folder), *CLI], os_error(errno.EROFS))


# ------------------------------------------------------------------------------- outputs that cannot be written


def test_extract_that_cannot_write_keeps_finished_shards(
    exported: Path, images: Path, tmp_path: Path, cannot_write: Callable[[Path], tuple[list[str], str]]
) -> None:
    reference = tmp_path / "reference"
    loaded = load_backbone(str(exported))
    extract_features(
        loaded.model, loaded.transform, images, out=reference, shard_size=4, progress=False, model_name=loaded.source
    )
    out = tmp_path / "out"
    out.mkdir()
    for name in (MARKER_NAME, SETTINGS_FILE, "shard-00000.safetensors"):  # what an interrupted earlier run left
        shutil.copy2(reference / name, out)
    prefix, problem = cannot_write(out)
    done = run_cli("extract", exported, images, "--out", out, "--shard-size", 4, "--num-workers", 0, prefix=prefix)
    assert done.returncode == EXIT_CANNOT_WRITE, done.stderr[-3000:]
    assert error_message(done) == f"error: {problem}: '{out / 'shard-00001.safetensors'}'"
    kept = {name: data for name, data in snapshot(out).items() if name != LOCK_NAME}  # the empty lock file is new
    assert kept == {
        name: (reference / name).read_bytes() for name in (MARKER_NAME, SETTINGS_FILE, "shard-00000.safetensors")
    }
    assert leftovers(out) == []


def test_export_that_cannot_write_keeps_the_previous_folder(
    partial_run: Path, exported: Path, tmp_path: Path, cannot_write: Callable[[Path], tuple[list[str], str]]
) -> None:
    hub = tmp_path / "hub"
    target = shutil.copytree(exported, hub / NAME)
    before = snapshot(target)
    prefix, problem = cannot_write(hub)
    done = run_cli("export", partial_run, target, "--name", NAME, prefix=prefix)
    assert done.returncode == EXIT_CANNOT_WRITE, done.stderr[-3000:]
    assert error_message(done) == f"error: {problem}: '{target}'"  # the folder asked for, not its staging copy
    assert snapshot(target) == before
    assert sorted(p.name for p in hub.iterdir()) == [NAME]


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


def test_extract_into_a_file_is_bad_input(exported: Path, images: Path, tmp_path: Path) -> None:
    out = tmp_path / "features.json"
    out.write_text("{}")
    done = run_cli("extract", exported, images, "--out", out, "--num-workers", 0)
    assert done.returncode == EXIT_BAD_INPUT, done.stderr[-3000:]
    assert error_message(done) == f"error: {out}: exists and is not a folder; choose another output path"
    assert out.read_text() == "{}"


@pytest.mark.parametrize("option", ["--batch-size", "--shard-size", "--limit"])
def test_extract_with_a_zero_size_is_a_usage_error(exported: Path, images: Path, tmp_path: Path, option: str) -> None:
    done = run_cli("extract", exported, images, "--out", tmp_path / "out", option, 0)
    assert done.returncode == 2, done.stderr[-3000:]
    assert f"Invalid value for '{option}': 0 is not in the range x>=1" in done.stderr
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------------------------- kill -9, rerun


def kill_at_marker(setup: str, args: list[str], marker: Path, log: Path) -> None:
    """Start the CLI with `args` after `setup`, SIGKILL it once `setup`'s pause point has created `marker`."""
    run_until_then_kill(
        [*with_setup(setup), *args], until=marker, timeout=TIMEOUT, log=log, env={"PYTHONDONTWRITEBYTECODE": "1"}
    )
    print(f"{args[0]}: killed by SIGKILL at its pause point")  # the outcome line scripts/reliability_report.py reads


def test_kill_during_export_then_rerun_gives_the_same_folder(partial_run: Path, exported: Path, tmp_path: Path) -> None:
    hub = tmp_path / "hub"
    target = shutil.copytree(exported, hub / NAME)
    (target / "README.md").write_text("an older export\n")
    older = snapshot(target)
    args = ["export", str(partial_run), str(target), "--name", NAME]
    marker = tmp_path / "paused"
    kill_at_marker(PAUSE_EXPORT.format(marker=str(marker)), args, marker, tmp_path / "log")
    assert snapshot(target) == older  # a reader still sees the whole older folder
    assert leftovers(hub), "the kill came before the staging folder was written"

    done = run_cli(*args)
    assert done.returncode == 0, done.stderr[-3000:]
    assert snapshot(target) == snapshot(exported)
    assert sorted(p.name for p in hub.iterdir()) == [NAME]


def repo_tree(hub: HubServer, repo_id: str) -> tuple[str, list[str]]:
    """(`git ls-tree -r HEAD`: mode, blob id and path of every file, commit subjects) of a repo on the server."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(hub.repo_dir(repo_id)), *args], capture_output=True, text=True, check=True
        ).stdout

    return git("ls-tree", "-r", "HEAD"), git("log", "--format=%s").splitlines()


def test_kill_during_push_then_rerun_gives_the_same_repo(
    hub: HubServer, exported: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = snapshot(exported)
    push_hub_folder(exported, repo_id="zoo-test/reliability-reference", endpoint=hub.url, token="hf_test")
    reference = repo_tree(hub, "zoo-test/reliability-reference")

    repo_id = "zoo-test/reliability-killed"
    args = ["push", str(exported), "--repo-id", repo_id]
    marker = tmp_path / "paused"
    monkeypatch.setenv("HF_TOKEN", "hf_test")
    kill_at_marker(PAUSE_PUSH.format(marker=str(marker)), args, marker, tmp_path / "log")
    files, commits = repo_tree(hub, repo_id)
    assert files == "" and len(commits) == 1  # created, uploads begun, nothing committed
    done = run_cli(*args)
    assert done.returncode == 0, done.stderr[-3000:]
    assert repo_tree(hub, repo_id) == reference
    assert snapshot(exported) == folder and leftovers(exported.parent) == []


# ----------------------------------------------------------------------------------------- training data folders


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


def test_a_link_to_the_data_folder_is_not_a_class(tmp_path: Path) -> None:
    """Taken for a class folder, it would make every image count twice."""
    write_images(tmp_path, ("a", "b"), 2)
    (tmp_path / "loop").symlink_to(".", target_is_directory=True)
    with pytest.warns(UserWarning, match=r"skipped 1 of 5 entries, not images \(loop: symbolic link to a folder"):
        dataset = labelled_images(tmp_path)
    assert (dataset.classes, len(dataset)) == (["a", "b"], 4)


# ------------------------------------------------------------------------------------------- broken hub folders


def drop_config_field(folder: Path) -> str:
    config = json.loads((folder / CONFIG_NAME).read_text())
    del config["pretrained_cfg"]["mean"]
    (folder / CONFIG_NAME).write_text(json.dumps(config))
    return f"{folder / CONFIG_NAME}: missing fields pretrained_cfg.mean"


def recast(dtype: torch.dtype) -> Callable[[Path], str]:
    def breakage(folder: Path) -> str:
        state = load_file(folder / WEIGHTS_NAME)
        save_file({k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}, folder / WEIGHTS_NAME)
        return f"{folder / WEIGHTS_NAME}: tensors are not float32: bn1.bias ({str(dtype).removeprefix('torch.')})"

    return breakage


def edit_config(change: Callable[[dict], object], expected: str) -> Callable[[Path], str]:
    def breakage(folder: Path) -> str:
        config = json.loads((folder / CONFIG_NAME).read_text())
        (folder / CONFIG_NAME).write_text(json.dumps(change(config)))
        return f"{folder / CONFIG_NAME}: {expected}"

    return breakage


def latin1_config(folder: Path) -> str:
    config = (folder / CONFIG_NAME).read_bytes()
    assert b'"apache-2.0"' in config
    (folder / CONFIG_NAME).write_bytes(config.replace(b'"apache-2.0"', b'"apach\xe9"'))
    return f"{folder / CONFIG_NAME}: not UTF-8 text"


def with_cfg(**fields: object) -> Callable[[dict], dict]:
    return lambda config: {**config, "pretrained_cfg": {**config["pretrained_cfg"], **fields}}


CONFIG_BREAKAGES = {
    "config.json missing a field": drop_config_field,
    "unknown architecture": edit_config(
        lambda c: {**c, "architecture": "resnt18"},
        "architecture 'resnt18' is not a timm architecture name; did you mean",
    ),
    "a local-dir: architecture": edit_config(
        lambda c: {**c, "architecture": "local-dir:/tmp"},
        "architecture 'local-dir:/tmp' is not a timm architecture name",
    ),
    "config.json is []": edit_config(lambda c: [], "expected a JSON object with a pretrained_cfg object"),
    "config.json not UTF-8": latin1_config,
    "std 0": edit_config(with_cfg(std=[0, 0.2, 0.2]), "pretrained_cfg: input_size must be positive and std above 0"),
    "input_size a string": edit_config(
        with_cfg(input_size="224"), "pretrained_cfg: input_size must be a list of 3 numbers, got '224'"
    ),
    "int64 weights": recast(torch.int64),
    "float64 weights": recast(torch.float64),
}


@pytest.mark.parametrize("breakage", CONFIG_BREAKAGES.values(), ids=CONFIG_BREAKAGES.keys())
def test_extract_with_a_broken_hub_folder_is_bad_input(
    exported: Path, images: Path, tmp_path: Path, breakage: Callable[[Path], str]
) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    for path in exported.iterdir():
        if path.name != "simsiam.safetensors":  # not read here; 45 MB less to copy
            shutil.copy2(path, folder)
    expected = breakage(folder)
    done = run_cli("extract", folder, images, "--out", tmp_path / "out", "--num-workers", 0)
    assert done.returncode == EXIT_BAD_INPUT, done.stderr[-3000:]
    assert error_message(done).startswith(f"error: {expected}")
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------------------------------- offline


def test_download_offline_when_not_cached(isolated_hf_cache: Path) -> None:
    name = "resnet50.simsiam_in1k_ep100_bs512"
    done = run_cli("download", name, env={"HF_HUB_OFFLINE": "1"})
    assert done.returncode == EXIT_OFFLINE, done.stderr[-3000:]
    message = error_message(done)
    assert message.startswith(f"error: {name}: not in the cache (")
    assert "HF_HUB_OFFLINE=1 forbids downloading it from https://dl.fbaipublicfiles.com/simsiam/" in message
    assert not [p for p in isolated_hf_cache.rglob("*") if p.is_file()]


# ------------------------------------------------------------------------- outputs that are not ours to replace


def own_files(root: Path) -> dict[str, bytes]:
    """A folder of the user's own files, returned as its snapshot."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "notes.txt").write_text("years of work")
    (root / "sub").mkdir(exist_ok=True)
    (root / "sub" / "data.bin").write_bytes(b"\x00\x01")
    return snapshot(root)


def test_export_never_replaces_a_folder_it_did_not_write(partial_run: Path, tmp_path: Path) -> None:
    precious = tmp_path / "precious"
    before = own_files(precious)
    done = run_cli("export", partial_run, precious, "--name", NAME)
    assert done.returncode == EXIT_BAD_INPUT, done.stderr[-3000:]
    assert error_message(done) == (
        f"error: {precious}: exists and was not written by simsiam-zoo; choose a new or "
        "empty folder (or pass --overwrite to replace it)"
    )
    assert snapshot(precious) == before and leftovers(tmp_path) == []


def test_export_replaces_its_own_hub_folder_and_with_overwrite_a_foreign_one(
    partial_run: Path, exported: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    shutil.copytree(exported, out)
    (out / "stale.txt").write_text("from an older export")
    assert run_cli("export", partial_run, out, "--name", NAME).returncode == 0
    assert snapshot(out) == snapshot(exported)  # replaced whole: the stale file is gone
    precious = tmp_path / "precious"
    own_files(precious)
    assert run_cli("export", partial_run, precious, "--name", NAME, "--overwrite").returncode == 0
    assert snapshot(precious) == snapshot(exported) and leftovers(tmp_path) == []


def test_an_output_that_is_or_holds_the_input_is_refused_even_with_overwrite(partial_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(partial_run, run)
    before = snapshot(run)
    for out in (run, tmp_path):
        done = run_cli("export", run, out, "--name", NAME, "--overwrite")
        assert done.returncode == EXIT_BAD_INPUT, done.stderr[-3000:]
        what = "is" if out == run else "holds"
        assert error_message(done) == f"error: {out}: the output {what} the input {run}; choose another output path"
    assert snapshot(run) == before and leftovers(tmp_path) == []


def test_convert_into_the_folder_of_its_checkpoint_is_refused(exported: Path, tmp_path: Path) -> None:
    """`cd d && simsiam-zoo convert model.pth d` and `convert model.pth .` once deleted or crashed."""
    folder = tmp_path / "d"
    folder.mkdir()
    torch.save(load_file(exported / WEIGHTS_NAME), folder / "model.pth")
    before = snapshot(folder)
    for out in (".", str(folder)):
        done = subprocess.run(
            [*CLI, "convert", "model.pth", out, "--name", NAME, "--overwrite"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        assert done.returncode == EXIT_BAD_INPUT, done.stderr[-3000:]
        assert error_message(done) == f"error: {out}: the output holds the input model.pth; choose another output path"
    assert snapshot(folder) == before and leftovers(tmp_path) == []


def test_a_file_at_out_is_never_replaced(partial_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.write_text("a file of the user's")
    done = run_cli("export", partial_run, out, "--name", NAME, "--overwrite")
    assert done.returncode == EXIT_BAD_INPUT, done.stderr[-3000:]
    assert error_message(done) == f"error: {out}: exists and is not a folder; choose another output path"
    assert out.read_text() == "a file of the user's" and sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_finetune_into_its_dataset_is_refused_before_training(exported: Path, tmp_path: Path) -> None:
    data = tmp_path / "ds"
    write_images(data / "train", ("a", "b"), 4)
    write_images(data / "val", ("a", "b"), 2)
    before = snapshot(data)
    done = run_cli("finetune", exported, data, "--out", data, "--epochs", 1, "--overwrite")
    assert done.returncode == EXIT_BAD_INPUT, done.stderr[-3000:]
    assert error_message(done) == f"error: {data}: the output is the input {data}; choose another output path"
    assert snapshot(data) == before


@pytest.mark.parametrize("command", ["train", "extract"])
def test_runs_and_features_are_not_written_into_a_foreign_folder(
    command: str, exported: Path, images: Path, tmp_path: Path
) -> None:
    """Both add files to OUT over time (to resume), so a folder of other files is refused, not mixed into."""
    precious = tmp_path / "precious"
    before = own_files(precious)
    args = (
        ["train", "tiny_fake", "--output", precious, "--max-steps", 1]
        if command == "train"
        else ["extract", exported, images, "--out", precious]
    )
    done = run_cli(*args)
    assert done.returncode == EXIT_BAD_INPUT, done.stderr[-3000:]
    assert error_message(done).startswith(f"error: {precious}: exists and was not written by simsiam-zoo")
    assert snapshot(precious) == before


def test_a_run_folder_is_not_replaced_by_an_export(partial_run: Path, tmp_path: Path) -> None:
    other = tmp_path / "other_run"
    shutil.copytree(partial_run, other)
    before = snapshot(other)
    done = run_cli("export", partial_run, other, "--name", NAME, "--overwrite")
    assert done.returncode == EXIT_BAD_INPUT, done.stderr[-3000:]
    assert error_message(done) == (
        f"error: {other}: holds a run written by simsiam-zoo, not a hub-folder; choose another output path"
    )
    assert snapshot(other) == before


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
    assert leftovers(out) == [] and load_checkpoint(out / CHECKPOINT_NAME)["step"] >= 1


# ------------------------------------------------------------------------ options and inputs: one-line errors


@pytest.fixture(scope="module")
def features(exported: Path, images: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    loaded = load_backbone(str(exported))
    out = tmp_path_factory.mktemp("features") / "feats"
    extract_features(loaded.model, loaded.transform, images, out=out, progress=False)
    return out


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
            ["eval", "knn", "--train", features, "--test", features, "--temperature", "0"],
            "Invalid value for '--temperature': 0",
        ),
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
        (
            ["train", recipe_file, "--output", out, "--set", "optim.base_lr=[1"],
            "error: --set 'optim.base_lr=[1': the value is not valid YAML",
        ),
        (["train", latin1, "--output", out], f"error: {latin1}: not UTF-8 text"),
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
            ["export", partial_run, out, "--name", "has space/../x"],
            "error: repo id 'simsiam-zoo/has space/../x': expected ORG/NAME",
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
    assert not out.exists() and leftovers(tmp_path) == []


def test_push_refuses_links_out_of_the_folder(exported: Path, tmp_path: Path) -> None:
    folder = shutil.copytree(exported, tmp_path / "folder")
    (folder / "recipe.yaml").unlink()
    (folder / "recipe.yaml").symlink_to("/etc/hostname")
    done = run_cli("push", folder, "--repo-id", "org/name", "--dry-run")
    assert done.returncode == EXIT_BAD_INPUT, done.stderr[-3000:]
    assert error_message(done) == (
        f"error: {folder}: recipe.yaml is a symbolic link; push uploads only regular files "
        "of the folder (copy the file in instead)"
    )


def test_only_its_own_stale_staging_folders_are_cleaned_up(partial_run: Path, tmp_path: Path) -> None:
    """A killed export leaves `.OUT.<8 random>.tmp`; the next export removes that, and never a user's `.OUT.*.old`."""
    stale = tmp_path / ".out.ab12cd_9.tmp"  # as mkdtemp names a staging folder
    stale.mkdir()
    (stale / "model.safetensors").write_bytes(b"half")
    users = tmp_path / ".out.backup.old"
    before = own_files(users)
    assert run_cli("export", partial_run, tmp_path / "out", "--name", NAME).returncode == 0
    assert not stale.exists() and snapshot(users) == before


def test_export_detectron2_replaces_only_its_own_file_and_never_its_model(partial_run: Path, tmp_path: Path) -> None:
    """A file at OUT is replaced when this command wrote it, or with --overwrite, and never when it is MODEL: the
    folders' ownership rule for one file."""
    checkpoint = partial_run / "checkpoint.pt"
    before = checkpoint.read_bytes()
    done = run_cli("export-detectron2", checkpoint, checkpoint, "--overwrite")
    assert done.returncode == EXIT_BAD_INPUT, done.stderr[-3000:]
    assert error_message(done) == (
        f"error: {checkpoint}: the output is the input {checkpoint}; choose another output path"
    )
    assert checkpoint.read_bytes() == before
    theirs = tmp_path / "theirs.pkl"
    theirs.write_text("a file of the user's")
    done = run_cli("export-detectron2", checkpoint, theirs)
    assert done.returncode == EXIT_BAD_INPUT
    assert "exists and was not written by this command" in error_message(done)
    assert theirs.read_text() == "a file of the user's"
    ours = tmp_path / "ours.pkl"
    for _ in range(2):  # written, then replaced as its own
        assert run_cli("export-detectron2", checkpoint, ours).returncode == 0
    assert run_cli("export-detectron2", checkpoint, theirs, "--overwrite").returncode == 0
    assert theirs.read_bytes() == ours.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ours.pkl", "theirs.pkl"]


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


def test_options_that_cannot_work_are_refused_before_any_work(exported: Path, tmp_path: Path) -> None:
    """A NaN or negative demo budget (NaN passed every range check and failed after minutes of work), a pull request
    against a branch, a checkpoint folder that is a file or lies inside the classifier folder: one line each."""
    for minutes in ("nan", "-1", "0"):
        done = run_cli("demo", "--minutes", minutes, "--out", tmp_path / "demo")
        assert done.returncode == 2 and "--minutes" in done.stderr and "positive number of minutes" in done.stderr
    assert not (tmp_path / "demo").exists()
    done = run_cli("push", exported, "--repo-id", "user/model", "--create-pr", "--revision", "dev")
    assert done.returncode == 2 and "cannot be combined with --revision" in done.stderr, done.stderr[-3000:]
    data = tmp_path / "ds"
    write_images(data / "train", ("a", "b"), 4)
    write_images(data / "val", ("a", "b"), 2)
    blocker = tmp_path / "checkpoints"
    blocker.write_text("mine")
    done = run_cli("finetune", exported, data, "--out", tmp_path / "out", "--epochs", 1, "--checkpoint-dir", blocker)
    assert done.returncode == EXIT_BAD_INPUT, done.stderr[-3000:]
    assert error_message(done) == f"error: {blocker}: --checkpoint-dir is a file, not a folder"
    inside = tmp_path / "out" / "checkpoints"
    done = run_cli("finetune", exported, data, "--out", tmp_path / "out", "--epochs", 1, "--checkpoint-dir", inside)
    assert done.returncode == EXIT_BAD_INPUT, done.stderr[-3000:]
    assert "lies in the classifier folder" in error_message(done) and not (tmp_path / "out").exists()


def test_an_output_path_the_file_system_cannot_take_is_one_line(exported: Path, images: Path, tmp_path: Path) -> None:
    """OUT a symbolic link loop, or a name longer than the file system allows: exit 3 naming it (tracebacks)."""
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    long = tmp_path / ("x" * 300)
    for out in (loop, long):
        done = run_cli("extract", exported, images, "--out", out)
        assert done.returncode == EXIT_BAD_INPUT, done.stderr[-3000:]
        assert error_message(done).startswith(f"error: {out}: cannot be used as an output path (")


def test_push_refuses_a_folder_whose_files_contradict_each_other(exported: Path, tmp_path: Path) -> None:
    """Each claim a folder makes is checked against the others (each of these was pushed): a config.json licence
    that is not the card's; a training checkpoint (simsiam.safetensors) whose backbone is not model.safetensors'."""
    from safetensors.torch import load_file, save_file

    folder = tmp_path / "folder"
    shutil.copytree(exported, folder)
    config = json.loads((folder / "config.json").read_text())
    config["pretrained_cfg"]["license"] = "mit"
    (folder / "config.json").write_text(json.dumps(config))
    done = run_cli("push", folder, "--repo-id", "user/model", "--dry-run")
    assert done.returncode == EXIT_BAD_INPUT, done.stderr[-3000:]
    assert "the card's licence 'apache-2.0' is not config.json's 'mit'" in error_message(done)
    shutil.copy2(exported / "config.json", folder / "config.json")
    full = load_file(folder / "simsiam.safetensors")
    full["backbone.conv1.weight"] = full["backbone.conv1.weight"] + 1
    save_file(full, folder / "simsiam.safetensors")
    done = run_cli("push", folder, "--repo-id", "user/model", "--dry-run")
    assert done.returncode == EXIT_BAD_INPUT, done.stderr[-3000:]
    assert error_message(done) == (
        f"error: {folder / 'simsiam.safetensors'}: its backbone is not the one in "
        "model.safetensors (1 tensors differ or are missing, e.g. conv1.weight)"
    )


@pytest.mark.parametrize(
    ("error", "code"),
    [
        ("bad revision", EXIT_BAD_INPUT),
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
