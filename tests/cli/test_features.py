"""`simsiam-zoo extract` on outputs it cannot write, bad sizes, broken hub folders and paths the file system refuses:
the documented exit code, one `error:` line naming the file and the problem, nothing half-written."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from simsiam_zoo._io import MARKER_NAME
from simsiam_zoo.data import decode_image
from simsiam_zoo.errors import EXIT_BAD_INPUT, EXIT_CANNOT_WRITE, DataError
from simsiam_zoo.features import SETTINGS_FILE, extract_features
from simsiam_zoo.features.store import LOCK_NAME
from simsiam_zoo.hub.folder import CONFIG_NAME, WEIGHTS_NAME
from simsiam_zoo.loader import load_backbone
from tests.builders import (
    error_message,
    leftovers,
    run_cli,
    snapshot,
    write_images,
)


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


def test_extract_into_a_file_is_bad_input(exported: Path, images: Path, tmp_path: Path) -> None:
    out = tmp_path / "features.json"
    out.write_text("{}")
    done = run_cli("extract", exported, images, "--out", out, "--num-workers", 0)
    assert done.returncode == EXIT_BAD_INPUT, done.stderr[-3000:]
    assert error_message(done) == f"error: {out}: exists and is not a folder; choose another output path"
    assert out.read_text() == "{}"
    done = run_cli("extract", exported, images, "--out", out / "sub", "--num-workers", 0)  # the OS's errno
    assert (
        error_message(done)
        == f"error: {out / 'sub'}: lies under the file {out}, not a folder; choose another output path"
    )


@pytest.mark.parametrize("option", ["--batch-size", "--shard-size", "--limit"])
def test_extract_with_a_zero_size_is_a_usage_error(exported: Path, images: Path, tmp_path: Path, option: str) -> None:
    done = run_cli("extract", exported, images, "--out", tmp_path / "out", option, 0)
    assert done.returncode == 2, done.stderr[-3000:]
    assert f"Invalid value for '{option}': 0 is not in the range x>=1" in done.stderr
    assert not (tmp_path / "out").exists()


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


def test_an_output_path_the_file_system_cannot_take_is_one_line(exported: Path, images: Path, tmp_path: Path) -> None:
    """OUT a symbolic link loop, or a name longer than the file system allows: exit 3 naming it (tracebacks)."""
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    long = tmp_path / ("x" * 300)
    for out in (loop, long):
        done = run_cli("extract", exported, images, "--out", out)
        assert done.returncode == EXIT_BAD_INPUT, done.stderr[-3000:]
        assert error_message(done).startswith(f"error: {out}: cannot be used as an output path (")


def test_a_fifo_named_like_an_image_is_a_listed_skip_not_a_wait(exported: Path, tmp_path: Path) -> None:
    """A named pipe in a class folder: opening it waited for a writer, and extract sat at 0 images for ever."""
    data = tmp_path / "data"
    write_images(data, ("a", "b"), 2)
    os.mkfifo(data / "b" / "pipe.png")
    done = run_cli("extract", exported, data, "--out", tmp_path / "feats", process=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    skipped = json.loads((tmp_path / "feats" / "skipped.json").read_text())
    assert [(s["path"], s["reason"]) for s in skipped] == [(str(Path("b") / "pipe.png"), "not a regular file")]
    with pytest.raises(DataError, match=r"gone.png: no such file$"):  # removed since the folder was listed
        decode_image(tmp_path / "gone.png")
