"""Mirroring zoo entries to the Hugging Face Hub, so that plain timm loads them with `hf-hub:ORG/NAME`.

Each entry whose licence permits redistribution is fetched from its source (verified, converted, validated: see
simsiam_zoo.export.fetch_entry), then pushed with the validated push. A repo whose weights are already these (the
sha256 the Hub gives them), whose config is this one (the preprocessing loads use) and whose card states the sha256
is left alone, so a second run pushes nothing. Each result gives the registry line to pin (hub id, revision,
sha256).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from simsiam_zoo.digests import sha256_file
from simsiam_zoo.errors import HubFolderError
from simsiam_zoo.export import fetch_entry
from simsiam_zoo.hub.folder import CARD_NAME, CONFIG_NAME, WEIGHTS_NAME
from simsiam_zoo.hub.publish import HUB_FILES, check_repo_id, hub_api, push_hub_folder, remote_text
from simsiam_zoo.zoo import REDISTRIBUTABLE, ZOO, ZooEntry, get_entry
from simsiam_zoo.zoo.download import cache_root


@dataclass(frozen=True)
class MirrorResult:
    name: str
    repo_id: str
    action: str  # "pushed", "up to date", "would push", "skipped"
    weights_sha256: str | None = None
    revision: str | None = None
    reason: str | None = None

    def registry_line(self) -> str:
        """The fields to set in the entry (simsiam_zoo/zoo/entries.py) so that loads come from this repo."""
        return f'{self.name}: hub_id="{self.repo_id}", revision="{self.revision}", sha256="{self.weights_sha256}"'


def mirror_entries(
    names: Sequence[str] = (),
    *,
    org: str,
    dry_run: bool = False,
    endpoint: str | None = None,
    token: str | None = None,
    progress: bool = True,
) -> Iterator[MirrorResult]:
    """Mirror the named entries (default: every entry with a source) to `org`, as the module docstring says; one
    result an entry, yielded as it is done, so that a caller can say what was pushed before an entry fails."""
    entries = [get_entry(name) for name in names] or [entry for entry in ZOO.values() if entry.source]
    for entry in entries:
        yield _mirror(entry, org=org, dry_run=dry_run, endpoint=endpoint, token=token, progress=progress)


def _mirror(
    entry: ZooEntry, *, org: str, dry_run: bool, endpoint: str | None, token: str | None, progress: bool
) -> MirrorResult:
    repo_id = check_repo_id(f"{org}/{entry.name}")
    why_not = _why_not_mirrored(entry)
    if why_not:
        return MirrorResult(entry.name, repo_id, "skipped", reason=why_not)
    folder = fetch_entry(entry, progress=progress)
    digest = sha256_file(folder / WEIGHTS_NAME)
    if dry_run:  # the Hub is not asked: a dry run works offline
        return MirrorResult(entry.name, repo_id, "would push", digest)
    remote = _remote_state(repo_id, endpoint=endpoint, token=token)
    config = (folder / CONFIG_NAME).read_text(encoding="utf-8")
    if remote is not None and (remote.weights_sha256, remote.config) == (digest, config) and digest in remote.card:
        return MirrorResult(entry.name, repo_id, "up to date", digest, remote.revision)
    with _staging_folder() as staging:
        # The cached folder's card shows the zoo's own repo id in its usage snippet; the mirror's shows its own.
        for name in HUB_FILES:
            if (folder / name).is_file():
                _linked_or_copied(folder / name, staging / name, copy=name == CARD_NAME)
        card = staging / CARD_NAME
        card.write_text(card.read_text(encoding="utf-8").replace(entry.hub_id, repo_id), encoding="utf-8")
        # The zoo's own repo: its card is the zoo's, and must state the new weights' sha256.
        try:
            pushed = push_hub_folder(
                staging,
                repo_id=repo_id,
                endpoint=endpoint,
                token=token,
                overwrite_card=True,
                commit_message=f"Mirror {entry.name} from {entry.source_url}",
            )
        except HubFolderError as error:  # it names the staging copy, gone by the time it is read
            message = str(error).replace(str(staging), f"the mirror copy of {folder}")
            raise type(error)(f"{entry.name}: {message}") from None
    return MirrorResult(entry.name, repo_id, "pushed", digest, pushed.commit_oid)


@contextlib.contextmanager
def _staging_folder() -> Iterator[Path]:
    """A folder in the zoo cache to push from, removed after, held by a lock file beside it while in use. Those no
    mirror holds (a killed one's) are removed first: a system temp folder kept a killed push's copy for good. A
    cache one may not write to stages in the system temp folder, as before."""
    root = cache_root() / "mirror-staging"
    try:
        root.mkdir(parents=True, exist_ok=True)
        lock = FileLock(root / f"{uuid.uuid4().hex}.lock")
        lock.acquire()  # before its folder is made: a cleanup never meets that folder unheld
    except OSError:
        with tempfile.TemporaryDirectory() as staging_elsewhere:
            yield Path(staging_elsewhere)
        return
    staging = root / Path(lock.lock_file).stem
    try:
        staging.mkdir()
        _remove_unheld(root, keep=staging)
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        lock.release()
        Path(lock.lock_file).unlink(missing_ok=True)


def _remove_unheld(root: Path, *, keep: Path) -> None:
    """The staging folders under `root` whose lock no process holds (a lock is the process's while it runs, in
    any PID namespace: a PID said nothing of another container's mirror)."""
    for stale in root.iterdir():
        if stale == keep or not stale.is_dir():
            continue
        lock = FileLock(f"{stale}.lock")
        try:
            lock.acquire(timeout=0)
        except (Timeout, OSError):
            continue
        try:
            shutil.rmtree(stale, ignore_errors=True)
        finally:
            lock.release()
        Path(f"{stale}.lock").unlink(missing_ok=True)


def _linked_or_copied(source: Path, destination: Path, *, copy: bool) -> None:
    """`destination` a hard link to `source` (the weights are not copied), or a copy where it is to be edited
    (`copy`) or no link can be made (another file system)."""
    if not copy:
        try:
            os.link(source, destination)
            return
        except OSError:
            pass
    shutil.copy2(source, destination)


def _why_not_mirrored(entry: ZooEntry) -> str | None:
    if entry.unsupported:
        return f"not supported: {entry.unsupported}"
    if entry.source is None:
        return "trained by this project, not fetched from a source: push its folder with `simsiam-zoo push`"
    if entry.published_by_timm:
        return f"timm publishes these weights as hf-hub:{entry.hub_id}, which loads of the entry use"
    if not entry.redistributable:
        return (
            f"its licence ({entry.license}) is none this project passes weights on under ({', '.join(REDISTRIBUTABLE)})"
        )
    return None


@dataclass(frozen=True)
class _RemoteState:
    """A repo's latest revision: the sha256 the Hub gives its weights (not the card's: a push of other weights keeps
    the card by default), its config (the preprocessing loads use) and its card."""

    revision: str
    weights_sha256: str | None
    config: str | None
    card: str


def _remote_state(repo_id: str, *, endpoint: str | None, token: str | None) -> _RemoteState | None:
    """What the repo holds, or None when it does not exist yet."""
    from huggingface_hub.errors import RepositoryNotFoundError

    api = hub_api(endpoint=endpoint, token=token)
    try:
        revision = api.model_info(repo_id).sha or ""
    except RepositoryNotFoundError:
        return None
    files = api.get_paths_info(repo_id, [WEIGHTS_NAME], revision=revision)
    lfs = getattr(files[0], "lfs", None) if files else None
    where = dict(revision=revision, endpoint=endpoint, token=token)
    return _RemoteState(
        revision,
        getattr(lfs, "sha256", None),
        remote_text(repo_id, CONFIG_NAME, **where),
        _remote_card(repo_id, where),
    )


def _remote_card(repo_id: str, where: dict[str, Any]) -> str:
    """The repo's card, "" without one or with one that is not UTF-8 text (mirror replaces it either way)."""
    try:
        return remote_text(repo_id, CARD_NAME, **where) or ""
    except HubFolderError:
        return ""
