"""Kill -9 tests: start a command, wait for it to reach a point, SIGKILL it. Imported as `tests._process`."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO

import pytest

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
