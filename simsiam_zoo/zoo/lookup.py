"""Finding zoo entries: by name (or a former name), by pattern, method and licence."""

from __future__ import annotations

import difflib
import fnmatch

from simsiam_zoo.errors import UnknownModelError
from simsiam_zoo.zoo.entries import ALIASES, ZOO
from simsiam_zoo.zoo.schema import ZooEntry


def select_entries(
    pattern: str | None = None,
    *,
    method: str | None = None,
    license: str | None = None,
    arch: str | None = None,
    include_unsupported: bool = False,
) -> list[ZooEntry]:
    """Entries whose name matches `pattern`, of `method`, `license` and timm architecture `arch` (case-insensitive),
    by architecture, method, epochs and name; those that cannot be loaded only with `include_unsupported`. A pattern
    with wildcards is a glob over the whole name, as timm's and `benchmark`'s (`resnet50.*_ep800*`); any other is
    a part of the name."""
    chosen = [
        entry
        for entry in ZOO.values()
        if (pattern is None or _matches(entry.name, pattern))
        and (method is None or entry.method == method.lower())
        and (license is None or entry.license == license.lower())
        and (arch is None or entry.arch == arch.lower())
        and (include_unsupported or entry.unsupported is None)
    ]
    return sorted(chosen, key=lambda e: (e.arch, e.method, e.epochs or 0, e.name))


def _matches(name: str, pattern: str) -> bool:
    name, pattern = name.lower(), pattern.lower()
    if any(wildcard in pattern for wildcard in "*?["):
        return fnmatch.fnmatchcase(name, pattern)
    return pattern in name


def find_entry(name: str) -> ZooEntry | None:
    """The entry named `name` (or one of its aliases), else None."""
    return ZOO.get(ALIASES.get(name, name))


def get_entry(name: str) -> ZooEntry:
    entry = find_entry(name)
    if entry is not None:
        return entry
    known = [*ZOO, *ALIASES]
    # Names are lower case as timm's: RESNET50.VICREG_IN1K is nearer to none of them by letters.
    close = [known_name for known_name in known if known_name.lower() == name.lower()]
    close = close or difflib.get_close_matches(name.lower(), known, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else "; `simsiam-zoo models` lists them"
    raise UnknownModelError(f"{name}: unknown zoo model{hint}")
