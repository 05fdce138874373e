"""The CLI's Hub requests end when the Hub stops answering: huggingface_hub sends its API calls (a repo's info,
create_repo, a commit) with no timeout, so a Hub that takes the connection and never answers hung `download`,
`push` and every command given an hf-hub: model. Downloads of files keep huggingface_hub's own timeouts.

Set for the command line's process only: the client factory is process-wide state, which a library function
called from someone's notebook must not change."""

from __future__ import annotations

import math
import os
from typing import Any

from simsiam_zoo.cli.failures import fail
from simsiam_zoo.errors import EXIT_BAD_INPUT

TIMEOUT_VARIABLE = "SIMSIAM_ZOO_HUB_TIMEOUT"
DEFAULT_SECONDS = 60.0
CONNECT_SECONDS = 15.0


def bound_hub_requests() -> None:
    """Give every Hub request sent without a timeout one: connect within 15 s, then no wait for a byte longer
    than SIMSIAM_ZOO_HUB_TIMEOUT seconds (60 by default)."""
    seconds = _timeout_seconds()
    try:
        from huggingface_hub import set_client_factory
        from huggingface_hub.utils._http import default_client_factory
    except ImportError:  # a huggingface_hub before 1.0, which sends with requests: its own defaults stand
        return
    bound = {"connect": min(CONNECT_SECONDS, seconds), "read": seconds, "write": seconds, "pool": seconds}

    def bound_timeout(request: Any) -> None:
        if all(value is None for value in request.extensions.get("timeout", {}).values()):
            request.extensions["timeout"] = dict(bound)

    def bounded_client() -> Any:
        client = default_client_factory()
        client.event_hooks["request"].append(bound_timeout)
        return client

    set_client_factory(bounded_client)


def _timeout_seconds() -> float:
    text = os.environ.get(TIMEOUT_VARIABLE, "").strip()
    if not text:
        return DEFAULT_SECONDS
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        fail(f"{TIMEOUT_VARIABLE}={text!r}: not a positive number of seconds", EXIT_BAD_INPUT)
    return seconds
