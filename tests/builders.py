"""What several test modules share: coloured images (an easy dataset any working model separates), a ResNet-18 hub
folder and class folders of PNGs on disk (`conftest.py` makes the folders fixtures); the one way to drive the
command line; commands that cannot write or are killed mid-way, and what they leave behind."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import shlex
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import IO, Any

import numpy as np
import pytest
import timm
import torch
from PIL import Image
from torch import nn

from simsiam_zoo.augment import Preprocessing, eval_transform
from simsiam_zoo.data import HubDataset
from simsiam_zoo.hub.cards import CardFields
from simsiam_zoo.hub.folder import timm_config, write_hub_folder
from simsiam_zoo.options import RunOptions
from simsiam_zoo.protocols import TensorImages

REPO_ROOT = Path(__file__).resolve().parents[1]
PREPROCESSING = Preprocessing(input_size=(3, 32, 32), crop_pct=1.0, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
COLOURS = torch.tensor([[220, 40, 40], [40, 200, 40], [40, 60, 220], [210, 210, 50]])
CLASSES = ["red", "green", "blue", "yellow"]
ONE_THREAD = {**os.environ, "OMP_NUM_THREADS": "1"}  # a subprocess with one intra-op thread, as one_thread
QUIET = RunOptions(progress=False)


def reads_in(monkeypatch: pytest.MonkeyPatch, owner: type, method: str) -> dict[int, list[str]]:
    """The tensor reads (`.item()`, `tolist()`, `float()`, `bool()`, `int()`: what waits for a device) made inside
    `owner.method(self, step, ...)`, by step: the places a training loop syncs the host."""
    reads: list[str] = []
    for name in ("item", "tolist", "__float__", "__bool__", "__int__"):
        original = getattr(torch.Tensor, name)
        monkeypatch.setattr(
            torch.Tensor,
            name,
            lambda self, *a, _name=name, _original=original, **k: (reads.append(_name), _original(self, *a, **k))[1],
        )
    read_at: dict[int, list[str]] = {}
    wrapped = getattr(owner, method)

    def recorded(self: Any, step: int, *args: Any) -> Any:
        reads.clear()
        result = wrapped(self, step, *args)
        read_at[step] = list(reads)
        return result

    monkeypatch.setattr(owner, method, recorded)
    return read_at


def script_module(name: str) -> ModuleType:
    """scripts/NAME.py imported as a module (scripts/ is not a package), for tests of what the script computes."""
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def card_fields(**overrides: Any) -> CardFields:
    """A ResNet-18 backbone's card fields with placeholder text, and `overrides`."""
    fields = dict(
        name="resnet18.x",
        repo_id="org/resnet18.x",
        arch="resnet18",
        num_features=512,
        summary="S.",
        license="mit",
        datasets=[],
        preprocessing=Preprocessing(),
        recipe_summary="R.",
    )
    return CardFields(**{**fields, **overrides})


def coloured(size: int, *, seed: int, image_size: int = 32) -> TensorImages:
    """Class c is a noisy image of colour c: easy enough that any working fine-tune beats chance by far."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(size) % len(COLOURS)
    noise = torch.randint(-40, 40, (size, 3, image_size, image_size), generator=g)
    images = (COLOURS[labels][:, :, None, None] + noise).clamp(0, 255).to(torch.uint8)
    return TensorImages(images, labels, classes=CLASSES, paths=[f"coloured/{i}.png" for i in range(size)])


def build_hub_folder(root: Path) -> Path:
    """A random-init ResNet-18 hub folder at 32 px, as `export` writes them."""
    torch.manual_seed(0)
    # timm zero-inits each block's last BN, which leaves random features nearly constant; without it they
    # separate digits (~90% linear), a stand-in for pretrained features.
    model = timm.create_model("resnet18", pretrained=False, num_classes=0, zero_init_last=False)
    # Running BN statistics of images like the test data, as a pretrained backbone has: without them eval
    # mode would see activations hundreds of times larger than at the few fine-tuning steps' batches.
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for bn in bns:
        bn.momentum = None  # cumulative average
    with torch.no_grad():
        model.train()(PREPROCESSING.transform()(torch.randint(0, 256, (64, 3, 32, 32), dtype=torch.uint8)))
    for bn in bns:
        bn.momentum = 0.1
    config = timm_config(model, preprocessing=PREPROCESSING, tag="test", license="mit")
    card = "---\nlibrary_name: timm\nlicense: mit\n---\n\nsha256 {{weights_sha256}}\n"
    return write_hub_folder(root / "resnet18.test", backbone_state=model.state_dict(), config=config, card=card)


def write_png(path: Path, seed: int, size: tuple[int, int] = (40, 36)) -> None:
    """A PNG of seeded random pixels, `size` (width, height), its folders made."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)


def write_images(root: Path, classes: tuple[str, ...], per_class: int, *, name: str = "image {i}.png") -> Path:
    """A class folder of random PNGs: `per_class` in each of `classes` (seeded by class and index)."""
    for label, class_name in enumerate(classes):
        for i in range(per_class):
            write_png(root / class_name / name.format(i=i), seed=label * 100 + i)
    return root


def write_tar_shards(root: Path, images: list[tuple[str, bytes, int | None]], per_shard: int) -> None:
    """WebDataset shards `root/train-00000{i}.tar`: KEY.png (+ KEY.cls) per sample, `per_shard` samples each."""
    root.mkdir(parents=True, exist_ok=True)
    for number, start in enumerate(range(0, len(images), per_shard)):
        with tarfile.open(root / f"train-{number:06d}.tar", "w") as tar:
            for key, data, label in images[start : start + per_shard]:
                members = [(f"{key}.png", data)] + ([(f"{key}.cls", str(label).encode())] if label is not None else [])
                for name, body in members:
                    info = tarfile.TarInfo(name)
                    info.size = len(body)
                    tar.addfile(info, io.BytesIO(body))


def image_dataset(images: list[tuple[bytes | None, int]], classes: list[str]) -> Any:
    """A Hugging Face dataset of (image bytes or None, label) rows, with a ClassLabel and a column no one reads."""
    datasets = pytest.importorskip("datasets")
    features = datasets.Features(
        {"image": datasets.Image(), "label": datasets.ClassLabel(names=classes), "note": datasets.Value("string")}
    )
    return datasets.Dataset.from_dict(
        {
            "image": [None if data is None else {"bytes": data, "path": None} for data, _ in images],
            "label": [label for _, label in images],
            "note": ["x"] * len(images),
        },
        features=features,
    )


def build_image_folder(root: Path) -> Path:
    """train/ and val/ class folders of coloured PNGs under `root`."""
    for split, size, seed in (("train", 24, 1), ("val", 8, 2)):
        data = coloured(size, seed=seed)
        for i in range(size):
            image, label = data[i]
            folder = root / split / CLASSES[label]
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image.permute(1, 2, 0).numpy()).save(folder / f"{split}{i}.png")
    return root


# ------------------------------------------------------------------------------------------ a tiny embedding network


def tiny_model() -> nn.Module:
    """A small conv net with fixed weights (same in every process), pooled to 16-d embeddings."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return nn.Sequential(
            nn.Conv2d(3, 8, 3, stride=2, padding=1),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.Conv2d(8, 16, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        ).eval()


def make_transform() -> nn.Module:
    """The eval transform `tiny_model` is tested with: 32 px, no crop margin."""
    return eval_transform(image_size=32, crop_pct=1.0, mean=(0.5, 0.4, 0.3), std=(0.25, 0.2, 0.3))


def direct(images: list[torch.Tensor]) -> torch.Tensor:
    """What the extraction should give: one plain forward on the transformed images."""
    transform = make_transform()
    with torch.inference_mode():
        return tiny_model()(torch.stack([transform(image) for image in images]))


def class_folder(root: Path) -> list[str]:
    """Classes cat, dog (with a nested folder) and an empty emu, and a stray top image; the sorted paths."""
    names = ["cat/a.png", "cat/b.png", "cat/c.png", "dog/a.png", "dog/b.png", "dog/puppies/p.png", "top.png"]
    for seed, name in enumerate(names):
        write_png(root / name, seed)
    (root / "emu").mkdir()
    return names


# ------------------------------------------------------------------------------------------------ the command line

CLI = [sys.executable, "-m", "simsiam_zoo.cli"]
TIMEOUT = 300  # per command: a hang fails the test instead of stalling the suite


def run_cli(
    *args: str | Path,
    prefix: list[str] | None = None,
    env: dict[str, str] | None = None,
    process: bool = False,
    timeout: float = TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    """The one way tests drive the command line: `simsiam-zoo ARGS` in this process through click's test runner (a
    new interpreter costs seconds of imports; a test may patch the library), or, when the case needs a process of
    its own (`process`; `prefix`: a mount namespace, resource limits; `env`), as one. Exit code, stdout and stderr
    as a process has them."""
    if prefix is None and env is None and not process:
        done = _in_process(args)
    else:
        command = [*(prefix or CLI), *map(str, args)]
        environment = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", **(env or {})}
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=environment)
    # The outcome in one line, shown with a failure and tabulated by scripts/reliability_report.py.
    last = done.stdout.strip().splitlines()[-1:] or [""]
    print(f"{args[0]}: exit {done.returncode}: {(messages(done.stderr) or last)[0]}")
    return done


def _in_process(args: tuple[str | Path, ...]) -> subprocess.CompletedProcess[str]:
    from click.testing import CliRunner

    from simsiam_zoo.cli import main

    result = CliRunner().invoke(main, [str(arg) for arg in args], prog_name="simsiam-zoo")
    stderr = result.stderr
    if result.exc_info is not None and not isinstance(result.exception, SystemExit):
        stderr += "".join(traceback.format_exception(*result.exc_info))  # what a process would have printed
    return subprocess.CompletedProcess(["simsiam-zoo", *map(str, args)], result.exit_code, result.stdout, stderr)


def messages(stderr: str) -> list[str]:
    """The `error: ...` messages, each on a line of its own (progress bars end lines with \r; a bar the error cut
    short is closed first: the error went on its line)."""
    lines = stderr.replace("\r", "\n").splitlines()
    found = [line for line in lines if "error: " in line]
    assert all(line.startswith("error: ") for line in found), found
    return found


def error_message(done: subprocess.CompletedProcess[str]) -> str:
    """The one `error: ...` message of a failed command; no traceback, no second message."""
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    found = messages(done.stderr)
    assert len(found) == 1, done.stderr[-3000:]
    return found[0]


def hub_dataset_files(
    entry: HubDataset, *, per_class: int, folder: str = "data", columns: tuple[str, str] | None = None
) -> dict[str, bytes]:
    """A transfer-suite dataset's repo in miniature, as the Hub holds it: one parquet file per split under
    `folder` (`SPLIT-00000-of-00001.parquet`), the image column as `datasets.Image` (PNG bytes), the label column
    a ClassLabel of `entry.num_classes` names, each class a colour; and a card whose `configs` name the files. The
    columns are the entry's unless `columns` (image, label) names the repo's own."""
    import io

    import datasets
    import yaml

    image_column, label_column = columns or (entry.image_column, entry.label_column)
    splits = sorted({*entry.train_split.split("+"), entry.test_split})
    names = [f"class{c}" for c in range(entry.num_classes)]
    features = datasets.Features({image_column: datasets.Image(), label_column: datasets.ClassLabel(names=names)})
    files, configs = {}, []
    for index, split in enumerate(splits):
        labels = [c for c in range(entry.num_classes) for _ in range(per_class)]
        rng = np.random.default_rng(index)
        images = []
        for label in labels:
            colour = np.array([(37 * label) % 256, (91 * label) % 256, (53 * label + 100) % 256])
            noise = rng.integers(-20, 20, (24, 24, 3))
            buffer = io.BytesIO()
            Image.fromarray(np.clip(colour + noise, 0, 255).astype(np.uint8)).save(buffer, format="PNG")
            images.append({"bytes": buffer.getvalue(), "path": None})
        table = datasets.Dataset.from_dict({image_column: images, label_column: labels}, features=features)
        parquet = io.BytesIO()
        table.to_parquet(parquet)
        files[f"{folder}/{split}-00000-of-00001.parquet"] = parquet.getvalue()
        configs.append({"split": split, "path": f"{folder}/{split}-*"})
    card = {"configs": [{"config_name": "default", "data_files": configs, "default": True}]}
    files["README.md"] = f"---\n{yaml.safe_dump(card)}---\n# {entry.title} in miniature\n".encode()
    return files


# ---------------------------------------------------------------------------- commands that cannot write or are killed

EXPORT_NAME = "resnet18.reliability_test"  # what the command-line tests export under
# Runs the CLI after `setup` in the same interpreter: `python -c RUN_CLI.format(setup=...) ARGS...`.
RUN_CLI = """
import runpy, sys
{setup}
sys.argv = ["simsiam-zoo", *sys.argv[1:]]
runpy.run_module("simsiam_zoo.cli", run_name="__main__", alter_sys=True)
"""
# A full disk without root or a mount: no file may grow past 4 KiB, so writes fail with EFBIG. SIGXFSZ is ignored (as
# Python does by default) so that the write fails instead of the kernel killing the process. 4 KiB lets the small
# files through (recipe.yaml, TensorBoard events) and stops shards, weights and checkpoints.
DISK_FULL = """
import resource, signal
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
"""
# A private mount namespace in which `$0` is bind-mounted read-only over itself, then the command.
READ_ONLY = ["unshare", "--mount", "sh", "-c", 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@"']


def with_setup(setup: str) -> list[str]:
    """The command prefix that runs the CLI after the Python statements `setup`."""
    return [sys.executable, "-c", RUN_CLI.format(setup=setup)]


def os_error(code: int) -> str:
    """An OSError's message, as the command's one-line error quotes it."""
    return f"[Errno {code}] {os.strerror(code)}"


def leftovers(folder: Path) -> list[str]:
    """Hidden temp files and staging folders (`.NAME.*.tmp`, `.NAME.old`) below `folder`."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob(".*") if p.name.endswith((".tmp", ".old")))


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file below `folder`, by its relative path, with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def own_files(root: Path) -> dict[str, bytes]:
    """A folder of the user's own files, returned as its snapshot."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "notes.txt").write_text("years of work")
    (root / "sub").mkdir(exist_ok=True)
    (root / "sub" / "data.bin").write_bytes(b"\x00\x01")
    return snapshot(root)


POLL_SECONDS = 0.05  # short next to any step a test waits for, long enough not to compete for the 2 shared cores
TAIL_BYTES = 3000  # of the command's output, shown when the helper fails


def run_until_then_kill(
    command: Sequence[str | os.PathLike[str]],
    *,
    until: Callable[[], bool] | Path,
    timeout: float,
    log: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> None:
    """Start `command`, wait until `until` holds, then SIGKILL it and reap it.

    until: a path that must exist, or a function that returns true once the command has got far enough.
    timeout: seconds from the start before the test fails.
    log: where the command's stdout and stderr go (kept for a look after the test); a temp file when None. Opened
        for reading too, which the failure message needs.
    env: variables set for the command on top of this process's environment.

    Fails the test, with the end of the command's output, if the command exits before `until` holds, if `timeout`
    passes first, or if it exits on its own before the kill lands. Whatever happens, including a failure or a Ctrl-C
    here, the command's whole process group gets SIGKILL and the command is reaped before this returns: the command
    runs in a session of its own so that workers it started (DataLoader processes) die with it instead of lingering.
    """
    __tracebackhide__ = True  # a failure points at the test's call, not at this function's lines
    args = [str(arg) for arg in command]
    if isinstance(until, Path):
        waiting_for = f"{until} existed"
        until = until.exists
    else:
        waiting_for = f"{getattr(until, '__name__', repr(until))}() held"
    failure = None
    with open(log, "w+b") if log is not None else tempfile.TemporaryFile() as output:
        process = subprocess.Popen(
            args, stdout=output, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}, start_new_session=True
        )
        try:
            deadline = time.monotonic() + timeout
            while not until():
                if process.poll() is not None:
                    failure = f"exited with {process.returncode} before {waiting_for}"
                    break
                if time.monotonic() > deadline:
                    failure = f"{timeout:g} s passed before {waiting_for}"
                    break
                time.sleep(POLL_SECONDS)
        finally:
            # The group outlives its leader while any member lives, so this also reaches workers of a command that
            # has already exited; ProcessLookupError means nothing of it is left.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        if failure is None and process.returncode != -signal.SIGKILL:
            failure = f"exited with {process.returncode} on its own after {waiting_for}, before the kill"
        if failure is not None:
            pytest.fail(f"{_show(args)}: {failure}; {_tail(output)}")


def _show(args: list[str]) -> str:
    """The command for a failure message, with `python -c` scripts and other multi-line arguments elided."""
    return shlex.join("<script>" if "\n" in arg else arg for arg in args)


def _tail(output: IO[bytes]) -> str:
    """The end of what the command wrote to `output`; pread leaves the offset alone, which the command shared."""
    size = os.fstat(output.fileno()).st_size
    start = max(0, size - TAIL_BYTES)
    text = os.pread(output.fileno(), size - start, start).decode(errors="replace")
    return f"its output ends:\n{text}" if text else "it wrote no output"


_RELEASE_FIFO = """
import os, stat, sys, time
path, release_after = sys.argv[1], float(sys.argv[2])
time.sleep(release_after)
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    try:
        if not stat.S_ISFIFO(os.stat(path).st_mode):
            break
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))  # a waiting reader opens and reads nothing
    except FileNotFoundError:
        break
    except OSError:  # ENXIO: no reader waiting
        pass
    time.sleep(0.05)
"""


def make_fifo(path: Path, *, release_after: float = 20.0) -> Path:
    """A FIFO at `path`. A read of it waits for a writer, for good: a reader still waiting after `release_after`
    seconds (the wait a test refuses) gets an end of file, and so does each one for a minute after, so that the
    test fails rather than hangs. The releaser is a process of its own: a read that waits holding the GIL
    (safetensors' open) would stop a thread."""
    os.mkfifo(path)
    subprocess.Popen(
        [sys.executable, "-c", _RELEASE_FIFO, str(path), str(release_after)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    return path
