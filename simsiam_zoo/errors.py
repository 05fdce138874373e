"""Every exception this project raises on purpose, each with the CLI exit code it ends a command with.

The bottom layer: it imports nothing from the project, so any module may raise any of these. The builtin bases
(ValueError, KeyError, RuntimeError) stay, so a caller's `except ValueError` keeps working.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterable

EXIT_USAGE = 2  # click's own code for a usage error
EXIT_BAD_INPUT = 3
EXIT_DIVERGED = 4
EXIT_OFFLINE = 5
EXIT_CANNOT_WRITE = 6
EXIT_INTERRUPTED = 130  # as a shell reports a command ended by Ctrl-C (128 + SIGINT)


def one_line(text: str) -> str:
    """`text` with its line breaks and other control characters escaped (`\\n`): a file named with a newline kept
    a message from being the one line a command prints."""
    return "".join(char if char.isprintable() else char.encode("unicode_escape").decode() for char in text)


def listed(items: Iterable[object], *, limit: int, separator: str = ", ") -> str:
    """The first `limit` items joined, and how many more: how every message names a long list. An item with a line
    break or another control character (a key in someone's checkpoint) is shown quoted, so the message stays one
    line."""
    items = [text if text.isprintable() else repr(text) for text in map(str, items)]
    shown = separator.join(items[:limit])
    return shown + (f"{separator}and {len(items) - limit} more" if len(items) > limit else "")


class SimsiamZooError(Exception):
    """A failure the message explains in one line (it names the file, option or entry); no traceback needed."""

    exit_code = EXIT_BAD_INPUT


class OutputRefused(SimsiamZooError, ValueError):
    """An output path that exists and is not this project's to replace (or is one of the inputs)."""


class RecipeError(SimsiamZooError, ValueError):
    """A recipe file or override that cannot be used as given."""


class DataError(SimsiamZooError, ValueError):
    """A data file or folder that cannot be read as given."""


class DatasetUnavailable(DataError):
    """A Hub dataset that cannot be had: offline and not in the datasets cache, or the Hub cannot be reached."""

    exit_code = EXIT_OFFLINE


class ConversionError(SimsiamZooError, ValueError):
    """A checkpoint cannot be read, recognised or converted."""


class HubFolderError(SimsiamZooError, ValueError):
    """A hub folder or weights file that cannot be used as given."""


class RepoNotFound(HubFolderError):
    """The hub has no such repo or revision, or hides it (private or gated without a valid token)."""


class ChecksumMismatch(HubFolderError):
    """A downloaded or cached file is not the published one (a download that fails the check is deleted)."""


class NotCachedOffline(HubFolderError):
    """HF_HUB_OFFLINE=1 and the repo or file is not in the local cache."""

    exit_code = EXIT_OFFLINE


class SourceUnavailable(NotCachedOffline):
    """A zoo entry's original URL could not be reached (offline, server down, gone): a model not to be had."""


class UncheckedFileWarning(UserWarning):
    """A cached file served with nothing to check it against (offline, a copy where the cache keeps links)."""


class UnknownModelError(SimsiamZooError, KeyError):
    """A name that is neither a zoo entry nor an existing path; the message names the closest entries."""

    def __str__(self) -> str:  # KeyError's own str() quotes the message
        return str(self.args[0])


class TrainingDiverged(SimsiamZooError, RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""

    exit_code = EXIT_DIVERGED


def http_client_errors(name: str) -> tuple[type[Exception], ...]:
    """The error class `name` ("HTTPError", "TransportError") of each HTTP client installed: huggingface_hub's from
    2.0 on is httpx2, whose errors are not httpx's; the zoo's own downloads use httpx."""
    classes = []
    for client in ("httpx", "httpx2"):
        try:
            classes.append(getattr(importlib.import_module(client), name))
        except ImportError:
            continue
    return tuple(classes)


def unreadable_hub_answer(error: BaseException, *, endpoint: str) -> str | None:
    """What to say of an error raised inside huggingface_hub's own code as it read an answer no client can read (a
    captive portal's HTML page, JSON of another shape), or None for any other error."""
    import json
    import os
    import traceback

    if not isinstance(error, (json.JSONDecodeError, KeyError, AttributeError, TypeError, IndexError)):
        return None
    package = f"{os.sep}huggingface_hub{os.sep}"
    if not any(package in frame.filename for frame in traceback.extract_tb(error.__traceback__)):
        return None
    return (
        f"the Hugging Face Hub at {endpoint} answered with what no client can read "
        f"({type(error).__name__}: {first_line(error)}); check HF_ENDPOINT and the network"
    )


def first_line(error: BaseException) -> str:
    """The first line of an error's message that says something: another library's error in a one-line message."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else "(no message)"


def squeezed(error: BaseException, *, limit: int = 300) -> str:
    """Another library's error of several lines (torch's missing keys, one a line) as one line of at most about
    `limit` characters, its type first."""
    text = " ".join(f"{type(error).__name__}: {error}".split())
    return text if len(text) <= limit else f"{text[:limit]}..."


def shown_value(value: object, limit: int = 80) -> str:
    """`value` as a message quotes it, cut short: a config's 400-digit number is not worth a screenful."""
    try:
        text = repr(value)
    except ValueError:  # an int over Python's 4300 digits cannot be written out at all
        return f"a number of over {sys.get_int_max_str_digits()} digits"
    except RecursionError:
        return "lists nested too deep to show"
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def type_name(value: object) -> str:
    """`value`'s type as a message names it, with its module unless a builtin: `PIL.Image.Image`, `numpy.ndarray`,
    `str`."""
    module = type(value).__module__
    return type(value).__qualname__ if module == "builtins" else f"{module}.{type(value).__qualname__}"
