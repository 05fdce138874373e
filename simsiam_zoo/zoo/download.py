"""Zoo entries' original files from their URLs: a resumable, verified download (`fetch_entry` in export.py converts it).

The download is the one torch.hub and huggingface_hub make: streamed into `NAME.incomplete` with a progress bar,
continued with an HTTP `Range` request after a dropped connection, retried on transient errors, checked against
the published hash (and the pinned sha256), then renamed into place. The converted hub folder lives under
`cache_root()/models/NAME` (`cached_folder`), so the next load is local and works with `HF_HUB_OFFLINE=1`.

`SIMSIAM_ZOO_SOURCE_MIRROR=http://HOST:PORT/PREFIX` replaces the scheme and host of every source URL (the path is
kept, after PREFIX): for a corporate mirror, or a test server.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from filelock import FileLock
from huggingface_hub import is_offline_mode
from tqdm.auto import tqdm

from simsiam_zoo._io import atomic_write_text
from simsiam_zoo.digests import Digests, file_digests, sha256_of
from simsiam_zoo.errors import ChecksumMismatch, HubFolderError, NotCachedOffline, OutputRefused, SourceUnavailable
from simsiam_zoo.zoo import Source, ZooEntry

MIRROR_VARIABLE = "SIMSIAM_ZOO_SOURCE_MIRROR"
CACHE_VARIABLE = "SIMSIAM_ZOO_CACHE"
_RETRIES = 5
_TRANSIENT_STATUS = (408, 425, 429, 500, 502, 503, 504)
# A partial file's length and sha256 are recorded this often (and where a transfer stops): a kill loses the rest.
_RECORD_EVERY = 64 << 20


def cache_root() -> Path:
    """`$SIMSIAM_ZOO_CACHE`, else `$XDG_CACHE_HOME/simsiam-zoo`, else `~/.cache/simsiam-zoo`."""
    if os.environ.get(CACHE_VARIABLE):
        return Path(os.environ[CACHE_VARIABLE])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "simsiam-zoo"


def cached_folder(entry: ZooEntry) -> Path:
    return cache_root() / "models" / entry.name


def resolve_url(url: str) -> str:
    """`url` with its scheme and host replaced by `$SIMSIAM_ZOO_SOURCE_MIRROR` (whose path, if any, prefixes)."""
    mirror = os.environ.get(MIRROR_VARIABLE)
    if not mirror:
        return url
    try:  # `http://[::1` and a port that is no number failed in a traceback
        base, original = urlsplit(mirror), urlsplit(url)
        usable = base.scheme in ("http", "https") and bool(base.hostname) and (base.port is None or base.port > 0)
    except ValueError:
        usable = False
    if not usable:
        raise HubFolderError(f"{MIRROR_VARIABLE}={mirror!r}: expected http(s)://HOST[:PORT][/PREFIX]")
    query = f"?{original.query}" if original.query else ""
    return f"{base.scheme}://{base.netloc}{base.path.rstrip('/')}{original.path}{query}"


def check_digests(source: Source, digests: Digests) -> str | None:
    """None when `digests` agree with what `source` pins and publishes, else what disagrees (naming both)."""
    if source.sha256 is not None and digests.sha256 != source.sha256:
        return f"sha256 {digests.sha256} is not the pinned {source.sha256}"
    if source.hash_kind == "sha256-prefix" and not digests.sha256.startswith(source.published_hash or ""):
        return f"sha256 {digests.sha256} does not start with the published {source.published_hash}"
    if source.hash_kind == "md5-prefix" and not digests.md5.startswith(source.published_hash or ""):
        return f"md5 {digests.md5} does not start with the published {source.published_hash}"
    return None


def download(url: str, destination: Path, *, progress: bool = True, retry_wait: float = 1.0) -> Digests:
    """Stream `url` to `destination` through `destination.incomplete`, resuming it with `Range` when a transfer
    breaks off (also one left by an earlier, killed run), retrying transient failures with a growing wait; the
    file's digests.

    A partial file is resumed only with the validator the server gave for it (`If-Range` with its ETag or
    Last-Modified): a file changed on the server, or a partial file of unknown origin, starts over. A complete file
    is kept only beside the record made when its transfer ended (`kept_download`). One process at a time downloads a
    destination (a lock file beside it); the others wait and find it done."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    if destination.is_dir():  # found after the whole transfer, in the rename, on every run
        raise OutputRefused(f"{destination}: a folder where the download goes; move it away")
    # The lock file stays (as huggingface_hub's do): removing it would let a process that waited on it and one
    # arriving later hold two locks at once.
    with FileLock(destination.with_name(f".{destination.name}.lock")):
        digests = kept_download(url, destination)
        if digests is None:
            _download_unlocked(url, destination, progress=progress, retry_wait=retry_wait)
            digests = file_digests(destination)
            record = {"url": url, "sha256": digests.sha256}
            atomic_write_text(_origin_path(destination), json.dumps(record) + "\n")
        return digests


def kept_download(url: str, destination: Path) -> Digests | None:
    """The digests of a complete download of `url` whose record (written when its transfer ended) names that URL
    and the file's sha256; else None: a file of unknown origin or changed since, which the next transfer replaces.
    A file placed there by hand, or left by a kill before its record, was converted as the entry's and called
    verified."""
    if not destination.exists():
        return None
    try:
        record = json.loads(_origin_path(destination).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return None
    if not isinstance(record, dict) or record.get("url") != url:
        return None
    digests = file_digests(destination)
    return digests if digests.sha256 == record.get("sha256") else None


def discard_download(destination: Path) -> None:
    destination.unlink(missing_ok=True)
    _origin_path(destination).unlink(missing_ok=True)


def _origin_path(destination: Path) -> Path:
    return destination.with_name(destination.name + ".origin.json")


def _download_unlocked(url: str, destination: Path, *, progress: bool, retry_wait: float) -> None:
    partial = _Partial(destination, url)
    problem = "no attempt made"
    for attempt in range(_RETRIES):
        if attempt:
            time.sleep(retry_wait * 2 ** (attempt - 1))
        try:
            if _transfer(url, partial, progress=progress):
                partial.finish()
                return
            problem = "the connection closed before the end of the file"
        except httpx.HTTPStatusError as error:
            status = error.response.status_code
            if status not in _TRANSIENT_STATUS:
                raise SourceUnavailable(f"{url}: the server answered HTTP {status}") from None
            problem = f"HTTP {status}"
        except httpx.DecodingError as error:
            if not partial.resumable():  # the same again on a retry
                raise SourceUnavailable(f"{url}: {type(error).__name__}: {error}") from None
            partial.discard()  # the rest of an encoded answer, which decodes alone to nothing: start over
            problem = f"{type(error).__name__}: {error}"
        except httpx.TooManyRedirects as error:  # the same again on a retry
            raise SourceUnavailable(f"{url}: {type(error).__name__}: {error}") from None
        except httpx.TransportError as error:
            problem = f"{type(error).__name__}: {error}"
    if partial.resumable():
        kept = f"the partial file {partial.path} is kept, and the next try resumes it"
    else:  # a source without a validator: its bytes cannot be resumed, so they are not left in the cache
        partial.discard()
        kept = "nothing was kept"
    raise SourceUnavailable(f"{url}: download failed after {_RETRIES} tries ({problem}); {kept}")


class _Partial:
    """`NAME.incomplete` and, beside it, the URL and validator (ETag or Last-Modified) its bytes came with, and the
    length and sha256 of its bytes as last written (every `_RECORD_EVERY` bytes and where a transfer stops): a
    resume takes those bytes only if they are still what was received (a partial file changed on disk was resumed
    and recorded as the original)."""

    def __init__(self, destination: Path, url: str):
        self.destination, self.url = destination, url
        self.path = destination.with_name(destination.name + ".incomplete")
        self.meta = destination.with_name(destination.name + ".incomplete.json")

    def _saved(self) -> dict[str, Any]:
        try:
            saved = json.loads(self.meta.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError, RecursionError):
            return {}
        ok = isinstance(saved, dict) and saved.get("url") == self.url and _sendable(saved.get("validator"))
        return saved if ok else {}

    def validator(self) -> str | None:
        return self._saved().get("validator")

    def resumable(self) -> bool:
        return self.path.exists() and self.path.stat().st_size > 0 and self.validator() is not None

    def received(self) -> Any:
        """A sha256 hasher of the bytes last recorded, the file cut to them; None when they are not what was
        received (or no record says what was: a partial file of an older version starts over)."""
        saved = self._saved()
        size, digest = saved.get("size"), saved.get("sha256")
        if not (isinstance(size, int) and 0 < size <= self.path.stat().st_size and isinstance(digest, str)):
            return None
        os.truncate(self.path, size)  # bytes after the record (a kill between two records) are not known good
        hasher = sha256_of(self.path)
        return hasher if hasher.hexdigest() == digest else None

    def record(self, size: int, hasher: Any) -> None:
        saved = self._saved()
        if saved:
            atomic_write_text(self.meta, json.dumps({**saved, "size": size, "sha256": hasher.hexdigest()}) + "\n")

    def start(self, response: httpx.Response) -> None:
        """A fresh transfer: its validator recorded before any byte, so that a break leaves a resumable file. An
        encoded answer is not resumable: its offsets count encoded bytes, the file holds decoded ones."""
        validator = _validator_of(response)
        if _sendable(validator) and not _encoded(response):
            atomic_write_text(self.meta, json.dumps({"url": self.url, "validator": validator}) + "\n")
        else:
            self.meta.unlink(missing_ok=True)

    def unlink_if_linked(self) -> None:
        """A link in the partial file's place is removed, never written through (it led to a user's file)."""
        if self.path.is_symlink():
            self.discard()

    def finish(self) -> None:
        os.replace(self.path, self.destination)
        self.meta.unlink(missing_ok=True)

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)
        self.meta.unlink(missing_ok=True)


def _validator_of(response: httpx.Response) -> str | None:
    """The answer's strong ETag, else its Last-Modified: what an If-Range sends back."""
    etag = response.headers.get("ETag")
    return etag if etag and not etag.startswith("W/") else response.headers.get("Last-Modified")


def _sendable(validator: object) -> bool:
    """A validator a header can carry back: `"café"` failed in a traceback on this run and every later one."""
    return isinstance(validator, str) and validator.isascii() and validator.isprintable()


# The codings httpx decodes: the file then holds other bytes than the answer's offsets count. Any other coding
# (`aws-chunked`, `x-gzip` on a .tar.gz) arrives as sent, and resumes at its offsets.
_DECODED_CODINGS = {"gzip", "deflate", "br", "zstd"}


def _encoded(response: httpx.Response) -> bool:
    """Whether httpx decodes the answer (sent encoded though not asked for)."""
    codings = response.headers.get_list("Content-Encoding", split_commas=True)
    return bool({coding.strip().lower() for coding in codings} & _DECODED_CODINGS)


def _total(response: httpx.Response, have: int) -> int | None:
    """The file's length: a 206's Content-Range says it (a short range was taken for the whole file), a 200's
    Content-Length; None when unknown (an encoded answer, or no length sent)."""
    if response.status_code == 206:
        match = re.fullmatch(r"bytes \d+-\d+/(\d+)", response.headers.get("Content-Range", "").strip())
        if match:
            return int(match.group(1))
    length = None if _encoded(response) else response.headers.get("Content-Length")
    return have + int(length) if length is not None and length.isdigit() else None


def _open_partial(path: Path, mode: str) -> Any:
    """The partial file opened without following a link in its place (one made after `unlink_if_linked`)."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if mode == "ab" else os.O_TRUNC)
    flags |= getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)  # neither exists on every system
    return open(os.open(path, flags, 0o666), mode)  # as a plain open() makes it


def _transfer(url: str, partial: _Partial, *, progress: bool) -> bool:
    """One request: append to the partial file from where it ends (when it can be resumed); True when whole."""
    partial.unlink_if_linked()
    received = partial.received() if partial.resumable() else None
    validator = partial.validator() if received is not None else None
    have = partial.path.stat().st_size if validator else 0
    received = received if validator else hashlib.sha256()  # a fresh transfer (a 206 from 0 to an unranged ask)
    # The file's own bytes: offsets and Content-Length count them (a gzip-encoded answer decoded to more, and each
    # retry asked for the rest of a file already whole).
    headers = {"Accept-Encoding": "identity"} | (
        {"Range": f"bytes={have}-", "If-Range": validator} if validator else {}
    )
    timeout = httpx.Timeout(60.0, connect=15.0)
    with httpx.stream("GET", url, headers=headers, follow_redirects=True, timeout=timeout) as response:
        if response.status_code == 416 and have:  # nothing after `have`: the server no longer has that file length
            partial.discard()
            return False
        response.raise_for_status()
        if response.status_code == 206 and not (_starts_at(response, have) and _same_file(response, validator)):
            partial.discard()  # bytes from elsewhere in the file, or from another file: start over
            return False
        if response.status_code != 206:
            have, received = 0, hashlib.sha256()  # the whole file: the Range ignored, or the file changed (If-Range)
            partial.start(response)
        total = _total(response, have)
        try:
            with (
                _open_partial(partial.path, "ab" if have else "wb") as f,
                tqdm(
                    total=total,
                    initial=have,
                    unit="B",
                    unit_scale=True,
                    unit_divisor=1024,
                    desc=partial.destination.name,
                    disable=not progress,
                    leave=False,
                ) as bar,
            ):
                _write_received(response, f, partial, received, start=have, bar=bar)
        except OSError as error:  # a full disk: a failed write names no file
            raise OSError(error.errno, error.strerror, str(error.filename or partial.path)) from error
    return total is None or partial.path.stat().st_size == total


def _write_received(
    response: httpx.Response, f: Any, partial: _Partial, received: Any, *, start: int, bar: Any
) -> None:
    """The answer's bytes appended as they arrive (a break keeps every byte received), and recorded with their
    sha256 every `_RECORD_EVERY` bytes and where the transfer stops, whichever way."""
    size, recorded = start, start
    try:
        for chunk in response.iter_bytes():
            f.write(chunk)
            received.update(chunk)
            size += len(chunk)
            bar.update(len(chunk))
            if size - recorded >= _RECORD_EVERY:
                f.flush()
                partial.record(size, received)
                recorded = size
    finally:
        with contextlib.suppress(OSError):  # a full disk: the error on its way out says so
            f.flush()
            partial.record(size, received)


def _same_file(response: httpx.Response, validator: str | None) -> bool:
    """Whether a 206 is of the file the partial one holds: a server that ignores If-Range sent the rest of another
    (its own validator beside it), and the two halves were called verified."""
    sent = _validator_of(response)
    return validator is None or sent is None or sent == validator


def _starts_at(response: httpx.Response, offset: int) -> bool:
    """Whether a 206 answer's Content-Range starts where the partial file ends."""
    match = re.match(r"bytes (\d+)-", response.headers.get("Content-Range", ""))
    return match is not None and int(match.group(1)) == offset


def fetch_original(entry: ZooEntry, *, progress: bool = True) -> tuple[Path, Digests]:
    """The entry's original file, downloaded into the cache and verified; a file that fails the check is deleted."""
    source = _source(entry)
    destination, url = cache_root() / "downloads" / entry.name / source.filename, resolve_url(source.url)
    # HF_HUB_OFFLINE=1, read by huggingface_hub itself: one switch turns every download off.
    if is_offline_mode() and kept_download(url, destination) is None:
        raise NotCachedOffline(
            f"{entry.name}: not in the cache ({cached_folder(entry)}), and HF_HUB_OFFLINE=1 "
            f"forbids downloading it from {source.url}"
        )
    digests = download(url, destination, progress=progress)
    mismatch = check_digests(source, digests)
    if mismatch:
        discard_download(destination)
        raise ChecksumMismatch(
            f"{entry.name}: the file downloaded from {url} is not the published one: {mismatch}; it was deleted"
        )
    return destination, digests


def _source(entry: ZooEntry) -> Source:
    if entry.unsupported:
        raise HubFolderError(f"{entry.name}: not supported: {entry.unsupported}")
    if entry.source is None:
        raise HubFolderError(f"{entry.name}: has no source URL to fetch it from")
    return entry.source
