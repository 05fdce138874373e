"""What the command-line tests share: a tiny run stopped one step before its end, its exported hub folder, a folder
of images and its features, and commands that cannot write (a full disk, a read-only mount)."""

from __future__ import annotations

import errno
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from simsiam_zoo.export import export_checkpoint
from simsiam_zoo.features import extract_features
from simsiam_zoo.loader import load_backbone
from simsiam_zoo.pretrain import train
from simsiam_zoo.recipe import load_recipe
from tests.builders import (
    CLI,
    DISK_FULL,
    EXPORT_NAME,
    READ_ONLY,
    os_error,
    with_setup,
    write_images,
)


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
    return export_checkpoint(partial_run, tmp_path_factory.mktemp("export") / EXPORT_NAME, name=EXPORT_NAME)


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


@pytest.fixture(scope="module")
def features(exported: Path, images: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    loaded = load_backbone(str(exported))
    out = tmp_path_factory.mktemp("features") / "feats"
    extract_features(loaded.model, loaded.transform, images, out=out, progress=False)
    return out
