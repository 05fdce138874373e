"""Known failures as one line on stderr and the exit code errors.py gives them, not a traceback."""

from __future__ import annotations

import errno
import functools
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import click

from simsiam_zoo.errors import (
    EXIT_BAD_INPUT,
    EXIT_CANNOT_WRITE,
    EXIT_INTERRUPTED,
    EXIT_OFFLINE,
    SimsiamZooError,
    first_line,
    http_client_errors,
    one_line,
    unreadable_hub_answer,
)

# Read-only file system, disk full, quota exceeded, file size limit (RLIMIT_FSIZE or the file system's own).
CANNOT_WRITE_ERRNOS = (errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def clean_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Known failures become one line on stderr and a documented exit code, not a traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except KeyboardInterrupt:
            fail_interrupted()
        except SimsiamZooError as error:
            fail(error, error.exit_code)
        except (PermissionError, IsADirectoryError) as error:
            if isinstance(error, PermissionError) and (unreadable := unreadable_path(error)) is not None:
                fail(f"{unreadable}: permission denied: cannot be read", EXIT_BAD_INPUT)
            fail(error, EXIT_CANNOT_WRITE)
        except OSError as error:
            if error.errno in CANNOT_WRITE_ERRNOS:
                fail(error, EXIT_CANNOT_WRITE)
            # NotADirectory: a path under a file; FileExists: a file where a folder is made (a run's tensorboard).
            if isinstance(error, (FileNotFoundError, NotADirectoryError, FileExistsError)):
                fail(error, EXIT_BAD_INPUT)
            if error.errno in (errno.ENAMETOOLONG, errno.ELOOP):  # a 300-letter model name; a link to itself
                fail(error, EXIT_BAD_INPUT)
            fail_if_network(error)  # several of the Hub's errors are OSErrors (ConnectionError, requests')
            raise
        except Exception as error:
            fail_if_unsendable_token(error)
            fail_if_network(error)
            fail_if_unreadable_hub_answer(error)
            fail_if_out_of_memory(error)
            fail_if_batch_of_one(error)
            raise

    return wrapper


def unreadable_path(error: PermissionError) -> Path | None:
    """What a permission error failed to read: a folder on the way that cannot be entered, or the file or folder
    itself where it cannot be read; None where it is readable (the error was a write's: exit 6)."""
    if error.filename is None:
        return None
    path = Path(os.fsdecode(error.filename))
    for folder in reversed(path.parents):
        if folder.is_dir() and not os.access(folder, os.X_OK):
            return folder
    return path if os.path.lexists(path) and not os.access(path, os.R_OK) else None


class CommandGroup(click.Group):
    """The commands, where Ctrl-C while a command's options are read (`--device` imports torch) is the interruption
    the command itself reports (click said "Aborted!", exit 1)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            fail_interrupted()


def fail_interrupted() -> NoReturn:
    """Ctrl-C's one line and exit code."""
    fail(
        "interrupted; what was written so far is whole, and the same command resumes or redoes the rest",
        EXIT_INTERRUPTED,
    )


def network_exit_code(error: Exception) -> int | None:
    """The exit code of an error of the Hub's or the HTTP client's (None for any other): a request the Hub
    refused (4xx: a bad revision, a missing repo, no access) is bad input; offline mode, a Hub or source that
    cannot be reached or answers with garbage is a model that cannot be had."""
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    if isinstance(error, HfHubHTTPError):
        status = error.response.status_code if error.response is not None else None
        return EXIT_BAD_INPUT if status is not None and 400 <= status < 500 else EXIT_OFFLINE
    if isinstance(error, (OfflineModeIsEnabled, *http_client_errors("HTTPError"))):
        return EXIT_OFFLINE
    try:
        import requests
    except ImportError:
        return None
    return EXIT_OFFLINE if isinstance(error, requests.RequestException) else None


def fail_if_network(error: Exception) -> None:
    # huggingface_hub wraps a failed LFS upload ("Error while uploading 'X' to the Hub.") around the HTTP error.
    cause = error.__cause__ if type(error) is RuntimeError else None
    if isinstance(cause, Exception) and (code := network_exit_code(cause)) is not None:
        fail(f"{first_line(error).rstrip('.')}: {type(cause).__name__}: {first_line(cause)}{_more_of(cause)}", code)
    code = network_exit_code(error)
    if code is not None:
        fail(f"{type(error).__name__}: {first_line(error)}{_more_of(error)}", code)


def fail_if_unreadable_hub_answer(error: Exception) -> None:
    """An answer of the Hub's that huggingface_hub could not read fails inside its parsing, in a traceback: one
    line, exit 5, as a Hub that cannot be reached."""
    from huggingface_hub import constants

    message = unreadable_hub_answer(error, endpoint=constants.ENDPOINT)
    if message is not None:
        fail(message, EXIT_OFFLINE)


def _more_of(error: Exception) -> str:
    """What the first line of a Hub error leaves out: the Hub's own reason (on a later line, after "Bad request:"),
    or, where nothing answered, the Hub that was asked."""
    reason = getattr(error, "server_message", None)
    if isinstance(reason, str) and reason.strip() and reason.strip() not in first_line(error):
        return f" ({' '.join(reason.split())})"
    if isinstance(error, http_client_errors("TransportError")):
        from huggingface_hub import constants

        return f" (the Hugging Face Hub at {constants.ENDPOINT})"
    return ""


def fail_if_unsendable_token(error: Exception) -> None:
    """httpx's error for a token no HTTP header can carry, as one line naming where the token comes from."""
    if isinstance(error, UnicodeEncodeError) and str(error).endswith("(header 'authorization')"):
        fail(
            "the Hugging Face token (HF_TOKEN, or the one `hf auth login` saved) holds a character that is not "
            "ASCII, which no HTTP header can carry; set it again",
            EXIT_BAD_INPUT,
        )


def fail_if_out_of_memory(error: Exception) -> None:
    """A tensor too large for the device (a recipe's batch or image size beyond its memory): torch's CUDA error, or
    the CPU allocator's RuntimeError, as one line. Whatever was written before is whole (every write is atomic)."""
    import torch

    cpu = re.search(r"can't allocate memory: you tried to allocate (\d+) bytes", str(error))
    if cpu is not None:
        fail(f"out of memory: the CPU could not allocate {_gib(int(cpu[1]))}; {_SMALLER}", EXIT_BAD_INPUT)
    if isinstance(error, RuntimeError) and str(error).startswith("Storage size calculation overflowed"):
        fail(
            f"out of memory: a tensor of more bytes than any memory holds ({first_line(error)}); {_SMALLER}",
            EXIT_BAD_INPUT,
        )
    if isinstance(error, torch.OutOfMemoryError):
        fail(f"out of memory: {first_line(error).rstrip('.')}; {_SMALLER}", EXIT_BAD_INPUT)
    if isinstance(error, MemoryError):  # Python's own allocator (a file that unfolds into more than the memory)
        fail(f"out of memory: Python could not allocate more; {_SMALLER}", EXIT_BAD_INPUT)


def fail_if_batch_of_one(error: Exception) -> None:
    """torch's BatchNorm error for a batch whose one image leaves one value a channel (a fine-tune of small images
    with --batch-size 1), as one line naming the option."""
    if "Expected more than 1 value per channel when training" in str(error):
        fail(f"{first_line(error)}: a batch of one image a rank; {_LARGER}", EXIT_BAD_INPUT)


_SMALLER = (
    "use a smaller batch or image size (a recipe's optim.batch_size and data.image_size, a command's --batch-size)"
)
_LARGER = "give --batch-size 2 or more (or --frozen-backbone, whose BatchNorm keeps its statistics)"


def _gib(size: int) -> str:
    return f"{size / 2**30:,.1f} GiB"


def fail(error: BaseException | str, code: int) -> NoReturn:
    _end_progress_bars()
    click.echo(f"error: {one_line(str(error))}", err=True)
    sys.exit(code)


def _end_progress_bars() -> None:
    """Close the bars still drawn, each ending its line: an error said while one was drawn went on its line
    ("finetune:  33%|...| 12/36 error: ...")."""
    from tqdm import tqdm

    for bar in list(getattr(tqdm, "_instances", ())):
        bar.close()
