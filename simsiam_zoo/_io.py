"""Atomic file writes: a reader never sees a half-written file, a crash leaves the old one intact.

Output folders carry a marker saying this project wrote them and what they are (a hub folder, a run, features);
an existing OUT is replaced or reused only when its marker says so, and never when it is or holds an input.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import stat
import sys
import tempfile
from collections.abc import Callable, Collection, Iterable, Iterator
from pathlib import Path
from typing import IO, Any, NoReturn

from filelock import FileLock, Timeout
from tqdm.auto import tqdm

from simsiam_zoo.arguments import check_bool
from simsiam_zoo.errors import OutputRefused, listed

# mkstemp creates 0600 files; a finished file gets the mode a plain open() would have given it.
_UMASK = os.umask(0)
os.umask(_UMASK)

MARKER_NAME = ".simsiam-zoo.json"


def read_marker(folder: Path) -> str | None:
    """The kind of output this project wrote into `folder` ("hub-folder", "run", ...), or None."""
    marker = _marker(folder)
    return marker.get("kind") if marker is not None else None


def _marker(folder: Path) -> dict[str, Any] | None:
    """The marker this project wrote into `folder`, or None (none there, unreadable, or another's)."""
    if is_special_file(folder / MARKER_NAME):  # a FIFO's read waited for a writer, for good
        return None
    try:
        marker = json.loads((folder / MARKER_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):  # RecursionError: JSON nested too deep, as '[' * 100000
        return None
    return marker if isinstance(marker, dict) and marker.get("written_by") == "simsiam-zoo" else None


def is_special_file(path: Path) -> bool:
    """A FIFO, socket or device at `path` (through links): a read of a FIFO waits for a writer, for good. False
    where the path cannot be looked at (no permission, a name too long): the read that follows says why."""
    try:
        return path.exists() and not (path.is_file() or path.is_dir())
    except OSError:
        return False


def refuse_special_file(path: Path, error: type[Exception]) -> None:
    """`error` naming `path` where it is a FIFO, socket or device (`is_special_file`), before a read waits on it."""
    if is_special_file(path):
        raise error(f"{path}: not a regular file (a FIFO, socket or device)")


def read_text_once(path: Path) -> str:
    """The UTF-8 text of a file, or of a pipe a shell gives (`<(...)`, /dev/stdin): a pipe without a writer reads
    as empty, not as a wait for one for good. Devices and sockets are refused (ValueError)."""
    if not is_special_file(path):
        return path.read_text(encoding="utf-8")
    if not stat.S_ISFIFO(path.stat().st_mode):
        raise ValueError("not a regular file or a pipe (a socket or device)")
    handle = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO opens at once, writer or not
    os.set_blocking(handle, True)  # then reads wait for what a writer sends, and end where it closes
    with open(handle, encoding="utf-8") as pipe:
        return pipe.read()


def read_document(
    path: Path,
    parse: Callable[[str], Any],
    error: type[Exception],
    *,
    kind: str,
    missing: str,
    parse_errors: type[Exception] | tuple[type[Exception], ...],
) -> Any:
    """`parse` of the UTF-8 text at `path`; each way it can fail raised as `error`, one line naming `path` (a
    document nested too deep for the parser and a number too long for Python's int included)."""
    if is_special_file(path):
        raise error(f"{path}: not a regular file (a FIFO, socket or device), where a {kind} file belongs")
    try:
        return parse(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(f"{path}: {missing}") from None
    except IsADirectoryError:  # an errno read as "output cannot be written" (exit 6)
        raise error(f"{path}: a folder, where a {kind} file belongs") from None
    except UnicodeDecodeError as problem:
        raise error(f"{path}: not UTF-8 text ({problem.reason} at byte {problem.start}); save it as UTF-8") from None
    except parse_errors as problem:
        raise error(f"{path}: not valid {kind}: {_one_line(problem)}") from None
    except RecursionError:  # the parsers recurse once a level: '[' * 100000 went past Python's limit
        raise error(
            f"{path}: not valid {kind}: nested too deep (Python's recursion limit is {sys.getrecursionlimit()})"
        ) from None
    except error:  # already one line naming the file: `parse`'s own check
        raise
    except ValueError as problem:  # what the parsers raise besides their own errors: a number of over 4300 digits
        raise error(f"{path}: not valid {kind}: {_one_line(problem)}") from None


def _one_line(problem: Exception) -> str:
    """A parser's error in one line: PyYAML's spans several (the problem, then a quote of the text with a caret
    under the place), which its `problem` and `problem_mark` say in a few words."""
    mark, what = getattr(problem, "problem_mark", None), getattr(problem, "problem", None)
    if mark is not None and what:
        return f"{what} (line {mark.line + 1}, column {mark.column + 1})"
    return " ".join(str(problem).split())


def write_marker(folder: Path, kind: str, *, files: Iterable[str] | None = None) -> None:
    """Mark `folder` as a `kind` this project wrote; `files`: the names it holds, for a folder written whole."""
    marker: dict[str, Any] = {"written_by": "simsiam-zoo", "kind": kind}
    if files is not None:
        marker["files"] = sorted({*files, MARKER_NAME})
    atomic_write_text(folder / MARKER_NAME, json.dumps(marker) + "\n")


# The kinds of output `atomic_directory` writes whole; a marker of one written before markers listed files lists none.
_WRITTEN_WHOLE = ("hub-folder", "demo-report")


def _written_whole(folder: Path) -> bool:
    """`folder` is an output this project writes whole, which holds its own files only."""
    return _names_written(folder) is not None or read_marker(folder) in _WRITTEN_WHOLE


def _names_written(folder: Path) -> list[str] | None:
    """The files a folder written whole holds by its marker; None for any other folder."""
    written = (_marker(folder) or {}).get("files")
    return written if isinstance(written, list) else None


def _names_not_written(folder: Path, own_names: Collection[str] | None = None) -> list[str]:
    """What a folder written whole holds besides the files its marker lists (none for a marker without a list: a
    folder that grows, or one written before markers listed files). Where its kind has a fixed set of files,
    `own_names`, only those count as its own, listed or not: an earlier version listed any result written into a
    hub folder, and one before it listed nothing."""
    written = _names_written(folder)
    if own_names is None:
        own = written
    else:
        own = list(own_names) if written is None else [name for name in written if name in own_names]
    return sorted(set(os.listdir(folder)) - {*own, MARKER_NAME}) if own is not None else []


# What a message calls each kind of output a marker names.
_NOUNS = {"hub-folder": "hub folder", "features": "feature store", "demo": "demo output", "demo-report": "demo report"}


def _noun(kind: str | None) -> str:
    return _NOUNS.get(kind or "", kind or "folder")  # None: a marker read again after it was removed


def _usable_path(given: Path) -> Path:
    """`given` resolved, or OutputRefused naming it when the file system cannot (a link loop, a name too long)."""
    try:
        target = given.resolve()
        target.exists()  # ENAMETOOLONG and ELOOP show here
    except (OSError, RuntimeError) as error:  # RuntimeError: Python < 3.13 reports a link loop so
        reason = error.strerror if isinstance(error, OSError) and error.strerror else "a symbolic link loop"
        raise OutputRefused(f"{given}: cannot be used as an output path ({reason})") from None
    return target


def check_output(
    target: str | os.PathLike[str],
    *,
    kind: str,
    inputs: Iterable[str | os.PathLike[str] | None] = (),
    models: Iterable[str | os.PathLike[str] | None] = (),
    overwrite: bool | None = None,
    legacy_files: tuple[str, ...] = (),
    own_names: Collection[str] | None = None,
) -> Path:
    """`target` as an absolute path if this command may write `kind` there, else OutputRefused saying why.

    Free: a path that does not exist, an empty folder, or a folder whose marker says it is a `kind` this project
    wrote (or, for folders written before markers, that holds one of `legacy_files`). `overwrite` also frees a
    folder of other files; None when the command has no --overwrite, which the refusal then does not suggest.
    Never free: a file, a folder of another kind this project wrote, and any path that is, or holds, one of
    `inputs` (those that exist on disk: model names and dataset names are not paths), or lies inside one of
    `models` (it would become a file of that model, pushed with it and refused by its export), or inside a folder
    written whole (its next write refused for it). Inside a folder of data it may lie: marked, no read of the data
    lists it; but not where it would make a folder above it there, which has no marker. `own_names`: the files a
    `kind` folder holds, where that is a fixed set (see `_names_not_written`).
    """
    _check_overwrite(overwrite)
    given = Path(target)
    target = _usable_path(given)
    models = list(models)
    _refuse_inputs(given, target, models, inside=True)
    _refuse_inputs(given, target, inputs)
    _refuse_whole_outputs(given, target, target.parents, what="", choose="folder")
    if not target.exists():
        if (where := _file_in_the_way(target)) is not None:  # was the OS's "Not a directory", later
            raise OutputRefused(f"{given}: {where}, not a folder; choose another output path")
        return target
    if not target.is_dir():
        raise OutputRefused(f"{given}: exists and is not a folder; choose another output path")
    written = read_marker(target)
    if written == kind and not overwrite and (added := _names_not_written(target, own_names)):
        raise OutputRefused(
            f"{given}: a {_noun(kind)} simsiam-zoo wrote, but it now also holds {listed(added, limit=3)}, which "
            f"replacing it would delete; move them out{_overwrite_hint(overwrite)}"
        )
    if written == kind or _holds_nothing(target) or any((target / name).exists() for name in legacy_files):
        return target
    if written is not None:
        raise OutputRefused(
            f"{given}: holds a {_noun(written)} written by simsiam-zoo, not a {_noun(kind)}; choose another output path"
        )
    if overwrite:  # frees a folder of other files, never one inside an input (a class of the data, a run's logs)
        _refuse_inputs(given, target, inputs, inside=True)
        return target
    raise OutputRefused(
        f"{given}: exists and was not written by simsiam-zoo; choose a new or empty folder{_overwrite_hint(overwrite)}"
    )


def _refuse_inputs(
    given: Path, target: Path, inputs: Iterable[str | os.PathLike[str] | None], *, inside: bool = False
) -> None:
    """OutputRefused when `target` is or holds one of `inputs` that exist, or with `inside` lies in one. A folder
    with this project's marker may lie in an input: image folders never list one (`data.folder.scan_folder`); but
    making it must make no folder above it there, which has no marker (every read took it for a class of no
    images)."""
    for item in inputs:
        if item is None or not Path(item).exists():
            continue
        source = Path(item).resolve()
        if source == target or target in source.parents:
            what = "is" if source == target else "holds"
            raise OutputRefused(f"{given}: the output {what} the input {item}; choose another output path")
        if inside and source in target.parents:
            raise OutputRefused(f"{given}: the output lies inside the input {item}; choose a path outside it")
        made = [folder for folder in target.parents if source in folder.parents and not folder.exists()]
        if made and source.is_dir():  # under a file, `_file_in_the_way` names it
            raise OutputRefused(
                f"{given}: would make the folder {made[-1]} inside the input {item}, which reads of it would take for "
                "data; choose a path outside it, or one whose folder exists"
            )


def check_work_folder(
    target: str | os.PathLike[str], *, option: str, inputs: Iterable[str | os.PathLike[str] | None] = ()
) -> Path:
    """`target` as an absolute path if a command may keep its working files there (checkpoints, cached features),
    else OutputRefused naming `option`: a folder, or a path to make one at, outside every input. It has no marker,
    so inside an image folder it would be listed as a class."""
    given = Path(target)
    target = _usable_path(given)
    _refuse_inputs(given, target, inputs, inside=True)
    where = _file_in_the_way(target)
    if where is not None:
        raise OutputRefused(f"{given}: {option} {where}, not a folder")
    # Nor in an output written whole, which lists its files (a hub folder then held the cache, and its next export
    # was refused); a run or feature store grows, and another folder in it is no harm.
    _refuse_whole_outputs(given, target, (target, *target.parents), what=f"{option} ", choose="folder")
    refuse_unwritable(given, target)
    return target


def refuse_unwritable(given: Path, folder: Path) -> None:
    """The OSError of a file made in `folder` (or in the nearest folder above it that exists: the command makes the
    rest), raised before the work rather than after it: a read-only or immutable folder failed a 90-epoch linear
    probe's write of its result. The probe file is removed at once."""
    where = next((path for path in (folder, *folder.parents) if path.is_dir()), None)
    if where is None:
        return
    try:
        handle, probe = tempfile.mkstemp(dir=where, prefix=".simsiam-zoo-", suffix=".probe")
    except OSError as error:
        raise OSError(error.errno, f"{error.strerror}: cannot write into {where}", os.fspath(given)) from None
    os.close(handle)
    with contextlib.suppress(OSError):  # an append-only folder takes files and keeps them
        os.unlink(probe)


def _refuse_whole_outputs(given: Path, target: Path, folders: Iterable[Path], *, what: str, choose: str) -> None:
    """OutputRefused where `target` (`given` as an absolute path) is, or lies inside, one of `folders` that is an
    output written whole (`_written_whole`): its next write replaces it, and what else it holds is refused for."""
    whole = next((folder for folder in folders if _written_whole(folder)), None)
    if whole is not None:
        where = "is" if whole == target else f"lies inside {whole},"
        raise OutputRefused(
            f"{given}: {what}{where} a {_noun(read_marker(whole))} simsiam-zoo wrote, which holds its own files "
            f"only; choose another {choose}"
        )


def _file_in_the_way(target: Path) -> str | None:
    """ "is a file" or "lies under the file X" where a folder cannot be made at `target`, else None."""
    blocking = next((folder for folder in (target, *target.parents) if folder.exists()), None)
    if blocking is None or blocking.is_dir():
        return None
    return "is a file" if blocking == target else f"lies under the file {blocking}"


def _check_overwrite(overwrite: bool | None) -> None:
    """ "no" is true in Python: taken as True, it deleted a folder of the caller's own files."""
    if overwrite is not None:
        check_bool("overwrite", overwrite)


def _overwrite_hint(overwrite: bool | None) -> str:
    """The refusal's way out for a command that has --overwrite."""
    return "" if overwrite is None else " (or pass --overwrite to replace it)"


def check_output_file(
    target: str | os.PathLike[str],
    *,
    ours: Callable[[Path], bool],
    inputs: Iterable[str | os.PathLike[str] | None] = (),
    overwrite: bool | None = None,
) -> Path:
    """`target` as an absolute path if this command may write its file there, else OutputRefused saying why: the
    folders' rule for one file. Free: a path that does not exist (in a folder that is not a file), a file `ours`
    recognises as this command's own output, or with `overwrite` any file (None: the command has no --overwrite).
    Never free: a folder (or a path that ends with a separator, as a folder's may), what is not a regular file (a
    FIFO, which the check of `ours` would wait on), an input, or a path inside an input folder (a new file there
    is then pushed or exported with the model, or refused by its export), nor in a folder written whole (a hub
    folder: its next write takes along or refuses for what else it holds)."""
    _check_overwrite(overwrite)
    if os.fspath(target).endswith(("/", os.sep)):
        raise OutputRefused(f"{os.fspath(target)}: ends with a separator, as a folder does; give a file path")
    given = Path(target)
    target = _usable_path(given)
    _refuse_inputs(given, target, inputs, inside=True)
    parent = next((folder for folder in target.parents if folder.exists()), None)
    if parent is not None and not parent.is_dir():
        raise OutputRefused(f"{given}: {parent} is a file, not a folder; choose another output path")
    # A file put in a folder written whole was taken along, or refused for, by that folder's next write.
    _refuse_whole_outputs(given, target, target.parents, what="", choose="path")
    if target.is_dir():
        raise OutputRefused(f"{given}: is a folder; give a file path")
    if target.exists() and not target.is_file():
        raise OutputRefused(f"{given}: is not a regular file (a FIFO, socket or device); give a file path")
    refuse_unwritable(given, target.parent)
    if not target.exists():
        return target
    if overwrite or ours(target):
        return target
    raise OutputRefused(
        f"{given}: exists and was not written by this command; choose another path{_overwrite_hint(overwrite)}"
    )


def _holds_nothing(folder: Path) -> bool:
    """Empty, or holding only the temp file of a marker being written: another process claiming it at this moment
    (it was refused as a folder of someone else's files)."""
    return all(name.startswith(f".{MARKER_NAME}.") and name.endswith(".tmp") for name in os.listdir(folder))


def claim_output_dir(
    target: str | os.PathLike[str],
    *,
    kind: str,
    inputs: Iterable[str | os.PathLike[str] | None] = (),
    models: Iterable[str | os.PathLike[str] | None] = (),
    legacy_files: tuple[str, ...] = (),
) -> Path:
    """Create (or reuse) an output folder that commands add files to over time, such as a run or features (where
    `check_output` allows it).

    A folder taken for one of `legacy_files` (an older version's, without a marker) is not marked: the command
    has yet to read that file, which may be a user's of the same name, and a marked folder is no longer listed as
    data (a class folder holding an `index.json` vanished from every read after a refused `extract`)."""
    folder = check_output(target, kind=kind, inputs=inputs, models=models, legacy_files=legacy_files)
    unmarked = folder.is_dir() and read_marker(folder) is None and not _holds_nothing(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if read_marker(folder) != kind and not unmarked:
        write_marker(folder, kind)
    return Path(target)


def hold_lock(path: Path, held: contextlib.ExitStack, *, waiting: str) -> None:
    """Hold the lock file `path` for as long as `held` lasts, waiting (and saying `waiting`) while another process
    holds it. Where the lock file cannot be made (a read-only folder), nothing is held: the command then fails
    where it writes, if it must."""
    lock = FileLock(path)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        tqdm.write(waiting, file=sys.stderr)
        lock.acquire()
    except OSError:
        return
    held.callback(lock.release)


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


def remove_stale_temps(folder: Path, names: Iterable[str]) -> None:
    """Delete the temp files `atomic_path` left beside `names` in `folder` when a kill -9 stopped it; only names
    mkstemp made for them (`.NAME.` + 8 random characters + `.tmp`). For folders with one writer (a run)."""
    ours = re.compile(rf"\.(?:{'|'.join(re.escape(name) for name in names)})\.[a-z0-9_]{{8}}\.tmp")
    for stale in folder.iterdir():
        if ours.fullmatch(stale.name) and stale.is_file() and not stale.is_symlink():
            stale.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_directory(
    target: Path,
    *,
    kind: str,
    inputs: Iterable[str | os.PathLike[str] | None] = (),
    overwrite: bool | None = None,
    own_names: Collection[str] | None = None,
) -> Iterator[Path]:
    """Yield an empty staging folder beside `target`; on success it replaces `target` whole, else vanishes.

    `target` must be free for `kind` (`check_output`), checked before anything is written; the new folder gets
    the marker. A reader sees the old folder or the new one; an interruption leaves at most a hidden `.NAME.*`
    folder, cleaned up by the next successful call.
    """
    if kind not in _WRITTEN_WHOLE:
        raise ValueError(f"{kind!r} is not a kind written whole ({', '.join(_WRITTEN_WHOLE)})")
    target = check_output(target, kind=kind, inputs=inputs, overwrite=overwrite, own_names=own_names)
    target.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as held:
        # One writer at a time: the cleanup below took a second writer's staging folder for a killed run's.
        hold_lock(lock_path_outside(target), held, waiting=f"{target}: another command is writing it; waiting for it")
        yield from _replace_whole(target, kind)


def _replace_whole(target: Path, kind: str) -> Iterator[Path]:
    """`atomic_directory`'s work, under its lock."""
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    except OSError as error:
        _raise_about(error, target, None)
    try:
        yield staging
        write_marker(staging, kind, files=os.listdir(staging))
        for path in (staging, *staging.iterdir()):
            set_default_mode(path)
        old = staging.with_suffix(".old")  # as unique as the staging folder's own name
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
    # Only names mkdtemp made for this target (`.NAME.` + 8 random characters + `.tmp`/`.old`): a user's own
    # `.NAME.backup.old` beside it is not ours to delete.
    ours = re.compile(rf"\.{re.escape(target.name)}\.[a-z0-9_]{{8}}\.(?:tmp|old)")
    for stale in target.parent.iterdir():
        if ours.fullmatch(stale.name) and stale.is_dir() and not stale.is_symlink():
            shutil.rmtree(stale, ignore_errors=True)


def lock_path_outside(target: Path) -> Path:
    """A lock file for `target` outside it and its folder (where a user would see it), in the temp folder."""
    folder = Path(tempfile.gettempdir()) / "simsiam-zoo-locks"
    with contextlib.suppress(OSError):  # then the lock cannot be made, and `hold_lock` holds none
        folder.mkdir(exist_ok=True)
    return folder / f"{hashlib.sha256(os.fsencode(target)).hexdigest()[:32]}.lock"


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


def write_text_if_changed(path: Path, text: str) -> None:
    """`atomic_write_text` unless `path` holds `text` already: a finished output rerun in a read-only folder (a
    shared cache) writes nothing."""
    try:
        if path.is_file() and path.read_text() == text:
            return
    except (OSError, UnicodeDecodeError):
        pass
    atomic_write_text(path, text)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    atomic_write(path, lambda f: f.write(data))
