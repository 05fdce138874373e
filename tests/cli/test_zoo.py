"""`simsiam-zoo export`, `convert`, `export-detectron2`, `push` and `download`: kill -9 mid-export and mid-push, outputs
they cannot write, folders they did not write, offline downloads."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from simsiam_zoo.errors import EXIT_BAD_INPUT, EXIT_CANNOT_WRITE, EXIT_OFFLINE
from simsiam_zoo.hub.folder import WEIGHTS_NAME
from simsiam_zoo.hub.publish import push_hub_folder
from tests.builders import (
    CLI,
    EXPORT_NAME,
    TIMEOUT,
    error_message,
    leftovers,
    own_files,
    run_cli,
    run_until_then_kill,
    snapshot,
    with_setup,
)
from tests.hub_server import HubServer, portal_server

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


def test_export_that_cannot_write_keeps_the_previous_folder(
    partial_run: Path, exported: Path, tmp_path: Path, cannot_write: Callable[[Path], tuple[list[str], str]]
) -> None:
    hub = tmp_path / "hub"
    target = shutil.copytree(exported, hub / EXPORT_NAME)
    before = snapshot(target)
    prefix, problem = cannot_write(hub)
    done = run_cli("export", partial_run, target, "--name", EXPORT_NAME, prefix=prefix)
    assert done.returncode == EXIT_CANNOT_WRITE, done.stderr[-3000:]
    assert error_message(done) == f"error: {problem}: '{target}'"  # the folder asked for, not its staging copy
    assert snapshot(target) == before
    assert sorted(p.name for p in hub.iterdir()) == [EXPORT_NAME]


def kill_at_marker(setup: str, args: list[str], marker: Path, log: Path) -> None:
    """Start the CLI with `args` after `setup`, SIGKILL it once `setup`'s pause point has created `marker`."""
    run_until_then_kill(
        [*with_setup(setup), *args], until=marker, timeout=TIMEOUT, log=log, env={"PYTHONDONTWRITEBYTECODE": "1"}
    )
    print(f"{args[0]}: killed by SIGKILL at its pause point")  # the outcome line scripts/reliability_report.py reads


def test_kill_during_export_then_rerun_gives_the_same_folder(partial_run: Path, exported: Path, tmp_path: Path) -> None:
    hub = tmp_path / "hub"
    target = shutil.copytree(exported, hub / EXPORT_NAME)
    (target / "README.md").write_text("an older export\n")
    older = snapshot(target)
    args = ["export", str(partial_run), str(target), "--name", EXPORT_NAME]
    marker = tmp_path / "paused"
    kill_at_marker(PAUSE_EXPORT.format(marker=str(marker)), args, marker, tmp_path / "log")
    assert snapshot(target) == older  # a reader still sees the whole older folder
    assert leftovers(hub), "the kill came before the staging folder was written"

    done = run_cli(*args)
    assert done.returncode == 0, done.stderr[-3000:]
    assert snapshot(target) == snapshot(exported)
    assert sorted(p.name for p in hub.iterdir()) == [EXPORT_NAME]


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


def test_download_offline_when_not_cached(isolated_hf_cache: Path) -> None:
    name = "resnet50.simsiam_in1k_ep100_bs512"
    done = run_cli("download", name, env={"HF_HUB_OFFLINE": "1"})
    assert done.returncode == EXIT_OFFLINE, done.stderr[-3000:]
    message = error_message(done)
    assert message.startswith(f"error: {name}: not in the cache (")
    assert "HF_HUB_OFFLINE=1 forbids downloading it from https://dl.fbaipublicfiles.com/simsiam/" in message
    assert not [p for p in isolated_hf_cache.rglob("*") if p.is_file()]


@pytest.mark.parametrize("body", [b"<html>Sign in to the network</html>", b"{}"])
def test_a_hub_answering_what_no_client_can_read_is_one_line_exit_5(
    body: bytes, exported: Path, isolated_hf_cache: Path
) -> None:
    """A captive portal's page (or JSON of another shape) for every request: push, download and mirror ended in
    tracebacks from inside huggingface_hub's parsing (JSONDecodeError, AttributeError, KeyError)."""
    with portal_server(body) as endpoint:
        env = {"HF_ENDPOINT": endpoint, "HF_TOKEN": "hf_x", "HF_HUB_OFFLINE": "0"}
        for args in (("push", exported, "--repo-id", "me/x"), ("download", "hf-hub:me/x")):
            done = run_cli(*args, env=env)
            assert done.returncode == EXIT_OFFLINE, done.stderr
            assert "answered with what no client can read" in done.stderr, done.stderr
            assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_a_hub_that_never_answers_ends_in_one_line_exit_5(exported: Path, isolated_hf_cache: Path) -> None:
    """A Hub that takes the connection and never answers: huggingface_hub's API calls (repo info, create_repo)
    have no timeout, and push and download waited for ever."""
    import socket

    listener = socket.create_server(("127.0.0.1", 0))
    try:
        env = {
            "HF_ENDPOINT": f"http://127.0.0.1:{listener.getsockname()[1]}",
            "HF_TOKEN": "hf_x",
            "HF_HUB_OFFLINE": "0",
            "SIMSIAM_ZOO_HUB_TIMEOUT": "0.5",
        }
        for args in (("push", exported, "--repo-id", "me/x"), ("download", "hf-hub:me/x")):
            done = run_cli(*args, env=env, timeout=120)
            assert done.returncode == EXIT_OFFLINE, done.stderr
            assert len(done.stderr.strip().splitlines()) == 1, done.stderr
            assert "Timeout" in done.stderr or "could not be reached" in done.stderr, done.stderr
    finally:
        listener.close()


@pytest.mark.parametrize("value", ["0", "nan", "soon"])
def test_a_hub_timeout_that_is_no_number_of_seconds_is_refused(value: str) -> None:
    done = run_cli("download", "hf-hub:me/x", env={"SIMSIAM_ZOO_HUB_TIMEOUT": value})
    assert done.returncode == EXIT_BAD_INPUT, done.stderr
    assert error_message(done) == f"error: SIMSIAM_ZOO_HUB_TIMEOUT={value!r}: not a positive number of seconds"


def test_download_of_a_local_folder_is_a_usage_error(exported: Path) -> None:
    """It loaded the folder and said "cached and verified": nothing was cached, nor verified."""
    done = run_cli("download", exported)
    assert done.returncode == 2 and "is a local file or folder, which loads as it is" in done.stderr, done.stderr


def _export_is_refused(partial_run: Path, out: Path, message: str) -> None:
    """`export` into `out` exits 3 with `message` about it, and leaves it as it was."""
    before = snapshot(out)
    done = run_cli("export", partial_run, out, "--name", EXPORT_NAME)
    assert done.returncode == EXIT_BAD_INPUT, done.stderr[-3000:]
    assert error_message(done) == f"error: {out}: {message}"
    assert snapshot(out) == before


def test_export_never_replaces_a_folder_it_did_not_write(partial_run: Path, tmp_path: Path) -> None:
    precious = tmp_path / "precious"
    own_files(precious)
    _export_is_refused(
        partial_run,
        precious,
        "exists and was not written by simsiam-zoo; choose a new or empty folder (or pass --overwrite to replace it)",
    )
    assert leftovers(tmp_path) == []


def test_export_replaces_its_own_hub_folder_and_with_overwrite_a_foreign_one(
    partial_run: Path, exported: Path, tmp_path: Path
) -> None:
    """Its own folder is replaced whole, unless it now holds files the export did not write (a user's notes, a
    hub folder converted into it): those were deleted with it, in silence. So are they where an older version's
    marker lists them (it listed any result written into the folder) or lists no files (both were deleted)."""
    out = tmp_path / "out"
    shutil.copytree(exported, out)
    (out / "notes.txt").write_text("the user's")
    refusal = (
        "a hub folder simsiam-zoo wrote, but it now also holds notes.txt, which replacing it would delete; move them "
        "out (or pass --overwrite to replace it)"
    )
    _export_is_refused(partial_run, out, refusal)
    marker = out / ".simsiam-zoo.json"
    written = json.loads(marker.read_text())
    marker.write_text(json.dumps({**written, "files": [*written["files"], "notes.txt"]}))
    _export_is_refused(partial_run, out, refusal)
    marker.write_text(json.dumps({key: value for key, value in written.items() if key != "files"}))
    _export_is_refused(partial_run, out, refusal)
    (out / "notes.txt").unlink()
    (out / "model.safetensors").write_bytes(b"an older export's weights")
    assert run_cli("export", partial_run, out, "--name", EXPORT_NAME).returncode == 0
    assert snapshot(out) == snapshot(exported)  # replaced whole
    precious = tmp_path / "precious"
    own_files(precious)
    assert run_cli("export", partial_run, precious, "--name", EXPORT_NAME, "--overwrite").returncode == 0
    assert snapshot(precious) == snapshot(exported) and leftovers(tmp_path) == []


def test_a_second_writer_of_one_hub_folder_waits_for_the_first(partial_run: Path, tmp_path: Path) -> None:
    """Two exports into one OUT at once: the first's cleanup took the second's staging folder for a killed run's,
    and the second failed naming that hidden folder (exit 3). The second now waits for the first."""
    import threading

    from filelock import FileLock

    from simsiam_zoo._io import lock_path_outside
    from simsiam_zoo.export import export_checkpoint

    out = tmp_path / "out"
    errors: list[BaseException] = []

    def export() -> None:
        try:
            export_checkpoint(partial_run, out, name=EXPORT_NAME)
        except BaseException as error:
            errors.append(error)

    with FileLock(lock_path_outside(out.resolve())):  # as the first writer holds it
        second = threading.Thread(target=export)
        second.start()
        second.join(timeout=3)
        assert second.is_alive() and not out.exists() and leftovers(tmp_path) == []
    second.join(timeout=120)
    assert not errors and (out / WEIGHTS_NAME).is_file() and leftovers(tmp_path) == []


def test_an_output_that_is_or_holds_the_input_is_refused_even_with_overwrite(partial_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(partial_run, run)
    before = snapshot(run)
    for out in (run, tmp_path):
        done = run_cli("export", run, out, "--name", EXPORT_NAME, "--overwrite")
        assert done.returncode == EXIT_BAD_INPUT, done.stderr[-3000:]
        what = "is" if out == run else "holds"
        assert error_message(done) == f"error: {out}: the output {what} the input {run}; choose another output path"
    # A folder of the input's own (the run's logs) was freed by --overwrite and replaced by the hub folder; a new
    # folder inside the run was written there (export-detectron2 refused it).
    for given, out, overwrite in (
        (run, run / "tensorboard", ["--overwrite"]),
        (run, run / "hub", []),
        (run / "checkpoint.pt", run / "hub", []),
    ):
        done = run_cli("export", given, out, "--name", EXPORT_NAME, *overwrite)
        assert done.returncode == EXIT_BAD_INPUT, done.stderr[-3000:]
        assert error_message(done) == f"error: {out}: the output lies inside the input {run}; choose a path outside it"
    assert snapshot(run) == before and leftovers(tmp_path) == []


def test_convert_into_the_folder_of_its_checkpoint_is_refused(exported: Path, tmp_path: Path) -> None:
    """`cd d && simsiam-zoo convert model.pth d` and `convert model.pth .` once deleted or crashed."""
    folder = tmp_path / "d"
    folder.mkdir()
    torch.save(load_file(exported / WEIGHTS_NAME), folder / "model.pth")
    before = snapshot(folder)
    for out in (".", str(folder)):
        done = subprocess.run(
            [*CLI, "convert", "model.pth", out, "--name", EXPORT_NAME, "--overwrite"],
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
    done = run_cli("export", partial_run, out, "--name", EXPORT_NAME, "--overwrite")
    assert done.returncode == EXIT_BAD_INPUT, done.stderr[-3000:]
    assert error_message(done) == f"error: {out}: exists and is not a folder; choose another output path"
    assert out.read_text() == "a file of the user's" and sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_run_folder_is_not_replaced_by_an_export(partial_run: Path, tmp_path: Path) -> None:
    other = tmp_path / "other_run"
    shutil.copytree(partial_run, other)
    before = snapshot(other)
    done = run_cli("export", partial_run, other, "--name", EXPORT_NAME, "--overwrite")
    assert done.returncode == EXIT_BAD_INPUT, done.stderr[-3000:]
    assert error_message(done) == (
        f"error: {other}: holds a run written by simsiam-zoo, not a hub folder; choose another output path"
    )
    assert snapshot(other) == before


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
    assert run_cli("export", partial_run, tmp_path / "out", "--name", EXPORT_NAME).returncode == 0
    assert not stale.exists() and snapshot(users) == before


def test_export_detectron2_replaces_only_its_own_file_and_never_its_model(partial_run: Path, tmp_path: Path) -> None:
    """A file at OUT is replaced when this command wrote it, or with --overwrite, and never when it is MODEL or one
    of its files: the folders' ownership rule for one file."""
    checkpoint = partial_run / "checkpoint.pt"
    before = checkpoint.read_bytes()
    done = run_cli("export-detectron2", checkpoint, checkpoint, "--overwrite")
    assert done.returncode == EXIT_BAD_INPUT, done.stderr[-3000:]
    assert error_message(done) == (
        f"error: {checkpoint}: the output is the input {checkpoint}; choose another output path"
    )
    assert checkpoint.read_bytes() == before
    # MODEL a folder, OUT one of its files: the run's checkpoint (a hub folder's weights) became the pickle.
    done = run_cli("export-detectron2", partial_run, checkpoint, "--overwrite")
    assert done.returncode == EXIT_BAD_INPUT, done.stderr[-3000:]
    assert error_message(done) == (
        f"error: {checkpoint}: the output lies inside the input {partial_run}; choose a path outside it"
    )
    assert checkpoint.read_bytes() == before
    # A new file in the model's folder (pushed or exported with it, or refused by its export); a file of the run
    # whose checkpoint MODEL is (its recipe.yaml became the pickle); a FIFO (the ownership check waited on it for
    # good); a path ending in a separator (a file of that name was written).
    recipe = partial_run / "recipe.yaml"
    os.mkfifo(tmp_path / "fifo.pkl")
    refusals = [
        (partial_run, partial_run / "new.pkl", "the output lies inside the input"),
        (checkpoint, recipe, "the output lies inside the input"),
        (checkpoint, tmp_path / "fifo.pkl", "is not a regular file (a FIFO, socket or device); give a file path"),
        (checkpoint, f"{tmp_path / 'folder'}/", "ends with a separator, as a folder does; give a file path"),
    ]
    snapshot_before = snapshot(partial_run)
    for model, out, refusal in refusals:
        fifo = str(out).endswith("fifo.pkl")  # in a process of its own: a wait fails the test, not hangs it
        done = run_cli("export-detectron2", model, out, "--overwrite", process=fifo, timeout=120)
        assert done.returncode == EXIT_BAD_INPUT, done.stderr[-3000:]
        assert refusal in error_message(done)
    assert snapshot(partial_run) == snapshot_before and not (tmp_path / "folder").exists()
    (tmp_path / "fifo.pkl").unlink()
    # Another project's checkpoint.pt in a folder of the user's: a pickle beside it is fine.
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    shutil.copy2(checkpoint, downloads / "checkpoint.pt")
    (downloads / "recipe.yaml").unlink(missing_ok=True)
    assert run_cli("export-detectron2", downloads / "checkpoint.pt", downloads / "r18.pkl").returncode == 0
    shutil.rmtree(downloads)
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


def test_push_refuses_a_folder_whose_files_contradict_each_other(exported: Path, tmp_path: Path) -> None:
    """Each claim a folder makes is checked against the others (each of these was pushed): a config.json licence
    that is not the card's; a training checkpoint (simsiam.safetensors) whose backbone is not model.safetensors'."""
    from safetensors.torch import load_file

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
    # An architecture the weights do not fit: torch's error of a line a key was the message (exit 3 all the same).
    shutil.copy2(exported / "simsiam.safetensors", folder / "simsiam.safetensors")
    config["pretrained_cfg"].pop("license")
    (folder / "config.json").write_text(json.dumps({**config, "architecture": "resnet34"}))
    done = run_cli("push", folder, "--repo-id", "user/model", "--dry-run")
    assert done.returncode == EXIT_BAD_INPUT, done.stderr[-3000:]
    message = error_message(done)
    assert message.startswith(f"error: {folder}: timm cannot load this folder: RuntimeError: Error(s) in loading")
    assert message.endswith("...") and len(message) < 500


def _edited_checkpoint(partial_run: Path, folder: Path, edit: Callable[[dict[str, torch.Tensor]], None]) -> Path:
    """`partial_run`'s checkpoint.pt, its model's tensors changed by `edit`, saved in `folder`."""
    saved = torch.load(partial_run / "checkpoint.pt", map_location="cpu", weights_only=True)
    edit(saved["model"])
    folder.mkdir()
    torch.save(saved, folder / "checkpoint.pt")
    return folder / "checkpoint.pt"


def test_export_writes_tied_weights(partial_run: Path, tmp_path: Path) -> None:
    """A model whose two weights are one tensor: safetensors refused to save them, a 46-line traceback (exit 1)."""

    def tie(model: dict[str, torch.Tensor]) -> None:
        model["backbone.bn1.bias"] = model["backbone.bn1.weight"]

    checkpoint = _edited_checkpoint(partial_run, tmp_path / "tied", tie)
    done = run_cli("export", checkpoint, tmp_path / "out", "--name", EXPORT_NAME)
    assert done.returncode == 0, done.stderr[-3000:]
    full = load_file(tmp_path / "out" / "simsiam.safetensors")
    assert torch.equal(full["backbone.bn1.bias"], full["backbone.bn1.weight"])


def _nan_projector(model: dict[str, torch.Tensor]) -> None:
    model["projector.0.weight"] = torch.full_like(model["projector.0.weight"], float("nan"))


def _no_projector(model: dict[str, torch.Tensor]) -> None:
    for key in [key for key in model if key.startswith("projector.")]:
        del model[key]


def _int64_predictor(model: dict[str, torch.Tensor]) -> None:
    model["predictor.0.weight"] = model["predictor.0.weight"].long()


def _bool_projector(model: dict[str, torch.Tensor]) -> None:
    model["projector.0.weight"] = model["projector.0.weight"].bool()


@pytest.mark.parametrize(
    ("edit", "refusal"),
    [
        (_nan_projector, "weights are not finite (NaN or inf) in projector.0.weight"),
        (_no_projector, "the model does not fit recipe 'tiny_fake': missing keys: projector.0.weight"),
        (_int64_predictor, "wrong dtypes: predictor.0.weight int64 where the recipe's model has float32"),
        (_bool_projector, "wrong dtypes: projector.0.weight bool where the recipe's model has float32"),
    ],
    ids=["nan-projector", "no-projector", "int64-predictor", "bool-projector"],
)
def test_export_refuses_a_training_model_that_is_not_the_recipes_naming_the_checkpoint(
    partial_run: Path, tmp_path: Path, edit: Callable[[dict[str, torch.Tensor]], None], refusal: str
) -> None:
    """simsiam.safetensors was published with NaN in its projector, or without one, and called validated; an int64
    predictor was refused naming the staged copy (`.OUT.x.tmp/simsiam.safetensors`), deleted by then."""
    checkpoint = _edited_checkpoint(partial_run, tmp_path / "run", edit)
    done = run_cli("export", checkpoint, tmp_path / "out", "--name", EXPORT_NAME)
    assert done.returncode == EXIT_BAD_INPUT, done.stderr[-3000:]
    message = error_message(done)
    assert message.startswith(f"error: {checkpoint}: ") and refusal in message
    assert sorted(path.name for path in tmp_path.iterdir()) == ["run"]


def test_push_refuses_a_training_checkpoint_that_is_not_finite_or_has_no_projector(
    exported: Path, tmp_path: Path
) -> None:
    folder = shutil.copytree(exported, tmp_path / "folder")
    full = load_file(exported / "simsiam.safetensors")
    for changed, problem in (
        ({**full, "projector.0.weight": full["projector.0.weight"] * float("nan")}, "weights are not finite"),
        ({key: value for key, value in full.items() if not key.startswith("projector.")}, "no projector.* weights"),
    ):
        save_file(changed, folder / "simsiam.safetensors")
        done = run_cli("push", folder, "--repo-id", "user/model", "--dry-run")
        assert done.returncode == EXIT_BAD_INPUT, done.stderr[-3000:]
        assert error_message(done).startswith(f"error: {folder / 'simsiam.safetensors'}: ")
        assert problem in error_message(done)


@pytest.mark.parametrize(
    "payload",
    [
        {"model": {}, "__author__": "MOCO", "note": "compare with simsiam-zoo"},
        {"model": {"__author__": "simsiam-zoo"}},
        {"__author__": 5, "note": "simsiam-zoo"},
    ],
    ids=["another-author", "nested-author", "author-no-string"],
)
def test_export_detectron2_never_takes_a_users_pickle_for_its_own(
    exported: Path, tmp_path: Path, payload: dict[str, object]
) -> None:
    """A pickle of the user's whose last 4 KB held `__author__` and `simsiam-zoo` anywhere was replaced without
    --overwrite; only a top-level `__author__` string starting with simsiam-zoo, read without unpickling, is ours."""
    theirs = tmp_path / "user_r50.pkl"
    theirs.write_bytes(pickle.dumps(payload))
    before = theirs.read_bytes()
    done = run_cli("export-detectron2", exported, theirs)
    assert done.returncode == EXIT_BAD_INPUT, done.stderr[-3000:]
    assert "exists and was not written by this command" in error_message(done)
    assert theirs.read_bytes() == before
