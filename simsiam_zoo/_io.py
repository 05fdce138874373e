"""Atomic file writes: a reader never sees a half-written file, a crash leaves the old one intact."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, NoReturn

# mkstemp creates 0600 files; a finished file gets the mode a plain open() would have given it.
_UMASK = os.umask(0)
os.umask(_UMASK)

def set_default_mode(path: Path) -> None:
    """Give a file or folder made by mkstemp/mkdtemp (0600/0700) the mode a plain create would have."""
    path.chmod((0o777 if path.is_dir() else 0o666) & ~_UMASK)


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temp path beside `path`; on success fsync and rename it over `path`, else remove it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as error:
        _raise_about(error, path, None)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        set_default_mode(tmp)
        os.replace(tmp, path)
    except OSError as error:
        tmp.unlink(missing_ok=True)
        _raise_about(error, path, tmp)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_directory(target: Path) -> Iterator[Path]:
    """Yield an empty staging folder beside `target`; on success it replaces `target` whole, else vanishes.

    A reader sees the old folder or the new one; an interruption leaves at most a hidden `.NAME.*` folder,
    cleaned up by the next successful call.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    except OSError as error:
        _raise_about(error, target, None)
    try:
        yield staging
        for path in (staging, *staging.iterdir()):
            set_default_mode(path)
        old = target.with_name(f".{target.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        if target.exists():
            target.rename(old)
        staging.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    except OSError as error:
        shutil.rmtree(staging, ignore_errors=True)
        _raise_about(error, target, staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    for stale in target.parent.glob(f".{target.name}.*.tmp"):
        shutil.rmtree(stale, ignore_errors=True)


def _raise_about(error: OSError, target: Path, temp: Path | None) -> NoReturn:
    """Raise `error` again, as the same OSError type naming `target` when it is about the hidden temp file or folder
    standing in for it, or names no file (as a failed write does): a "disk full" or "read-only" message then names
    what the user asked for. `temp` None: creating the temp path failed, and its random name means nothing to a user.
    """
    if error.errno is None:
        raise error
    if error.filename is None or temp is None:
        where = target
    else:
        name = Path(os.fsdecode(error.filename))
        if name != temp and temp not in name.parents:
            raise error  # about another file: its own name is the right one
        where = target / name.relative_to(temp)
    raise OSError(error.errno, error.strerror, str(where)) from error


def atomic_write(path: Path, write: Callable[[IO[Any]], None], *, binary: bool = True) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb" if binary else "w", encoding=None if binary else "utf-8") as f:
        write(f)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda f: f.write(text), binary=False)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    atomic_write(path, lambda f: f.write(data))
