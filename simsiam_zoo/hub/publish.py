"""Publish a hub folder to a Hugging Face Hub model repo, and fetch one back into the local cache.

Pushing validates the folder first (what timm and a reader of the card rely on), so a broken folder is never
uploaded; only the hub folder's own files go up, whatever else lies in the folder.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simsiam_zoo.digests import git_blob_sha1, sha256_file
from simsiam_zoo.errors import (
    ChecksumMismatch,
    HubFolderError,
    NotCachedOffline,
    RepoNotFound,
    UncheckedFileWarning,
    listed,
    unreadable_hub_answer,
)
from simsiam_zoo.hub.folder import (
    CARD_NAME,
    CONFIG_NAME,
    FULL_MODEL_NAME,
    HUB_FILES,
    RECIPE_NAME,
    WEIGHTS_NAME,
    HubFolderInfo,
    validate_hub_folder,
)

# What a user of a backbone needs; the training checkpoint (simsiam.safetensors) stays on the hub until asked for.
DOWNLOAD_FILES = (CONFIG_NAME, WEIGHTS_NAME, CARD_NAME, RECIPE_NAME)


@dataclass(frozen=True)
class PushResult:
    repo_id: str
    repo_url: str | None  # None for a dry run
    commit_url: str | None
    commit_oid: str | None
    files: tuple[str, ...]
    weights_sha256: str
    pr_url: str | None = None
    # The Hub's README.md was kept (as timm keeps it): "" when it states these weights' sha256, else why it is stale.
    kept_card: str | None = None
    removed: tuple[str, ...] = ()  # an earlier push's files that belonged to other weights


def hub_api(*, endpoint: str | None = None, token: str | None = None) -> Any:
    """An `HfApi` that tells the Hub which library calls it (simsiam-zoo and its version)."""
    from importlib.metadata import PackageNotFoundError, version

    from huggingface_hub import HfApi

    try:
        ours = version("simsiam-zoo")
    except PackageNotFoundError:  # run from a source tree that was never installed
        ours = "unknown"
    return HfApi(endpoint=endpoint, token=token, library_name="simsiam-zoo", library_version=ours)


def check_repo_id(repo_id: str) -> str:
    """`repo_id` if it is a hub model id `ORG/NAME`, else a HubFolderError saying why not."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    if repo_id.count("/") != 1:
        raise HubFolderError(f"repo id {repo_id!r}: expected ORG/NAME")
    try:
        validate_repo_id(repo_id)
    except HFValidationError as error:
        raise HubFolderError(f"repo id {repo_id!r}: {error}") from None
    return repo_id


def check_branch_name(branch: str) -> str:
    """`branch` if git takes it as a branch name (`git check-ref-format`'s rules), else a HubFolderError saying why
    not: the Hub refuses such a name only after the repo is created."""
    problem = _branch_name_problem(branch)
    if problem is not None:
        raise HubFolderError(f"branch name {branch!r}: {problem}")
    return branch


def _branch_name_problem(name: str) -> str | None:
    if not name:
        return "empty"
    bad = next((c for c in name if ord(c) < 0x20 or ord(c) == 0x7F or c in " ~^:?*[\\"), None)
    if bad is not None:
        return f"holds {bad!r}, which git refuses in a ref"
    sequence = next((seq for seq in ("..", "@{", "//") if seq in name), None)
    if sequence is not None:
        return f"holds {sequence!r}, which git refuses in a ref"
    if name.startswith(("-", "/")) or name.endswith(("/", ".")) or name == "HEAD":
        return "git refuses a branch that starts with '-' or '/', ends with '/' or '.', or is 'HEAD'"
    if any(part.startswith(".") or part.endswith(".lock") for part in name.split("/")):
        return "git refuses a part (between '/') that starts with '.' or ends with '.lock'"
    return None


def _check_zoo_repo(folder: Path, repo_id: str, info: HubFolderInfo) -> None:
    """A zoo entry's repo takes only that entry's weights: its architecture, its pinned sha256, a card in its name,
    and (for weights converted from a source) the preprocessing the entry records."""
    from simsiam_zoo.hub.cards import read_card
    from simsiam_zoo.zoo import ZOO

    entry = next((entry for entry in ZOO.values() if entry.hub_id == repo_id), None)
    if entry is None:
        return
    card_name = read_card(folder / CARD_NAME).data.model_name
    problems = [
        f"it is a {info.arch}, the entry a {entry.arch}" if info.arch != entry.arch else None,
        f"its card is for {card_name!r}" if card_name != entry.name else None,
        f"its weights' sha256 is {info.weights_sha256}, the entry pins {entry.sha256}"
        if entry.sha256 and entry.sha256 != info.weights_sha256
        else None,
        f"its config's preprocessing has {info.preprocessing.differences(entry.preprocessing, 'the entry')}"
        if entry.source is not None and info.arch == entry.arch and info.preprocessing != entry.preprocessing
        else None,
    ]
    problems = [problem for problem in problems if problem]
    if problems:
        raise HubFolderError(
            f"{folder}: {repo_id} is the repo of the zoo entry {entry.name}, and this folder is not "
            f"that entry ({'; '.join(problems)}); push it to a repo of its own"
        )


def push_hub_folder(
    folder: str | Path,
    *,
    repo_id: str,
    private: bool = False,
    dry_run: bool = False,
    token: str | None = None,
    endpoint: str | None = None,
    commit_message: str | None = None,
    revision: str | None = None,
    create_pr: bool = False,
    overwrite_card: bool = False,
) -> PushResult:
    """Validate `folder`, then create `repo_id` if needed and upload the hub files in one commit: to `revision`
    (a branch, created from main if new; default main), or as a pull request against it (`create_pr`).

    A README.md already in the repo is kept, as timm's push keeps it (it may have been edited on the Hub), unless
    `overwrite_card`; `kept_card` then says whether it still states the new weights' sha256. A training checkpoint
    or recipe the folder lacks is removed from the repo where it belongs to other weights (`removed`); the repo's
    other files stay. A dry run validates
    and lists the files without touching the network. Raises HubFolderError, before any upload, for a bad repo id
    or a folder that fails `validate_hub_folder`.
    """
    check_repo_id(repo_id)
    if revision is not None:
        check_branch_name(revision)
    folder = Path(folder)
    _refuse_links(folder)
    info = validate_hub_folder(folder)
    _check_zoo_repo(folder, repo_id, info)
    files = tuple(name for name in HUB_FILES if (folder / name).is_file())
    listed = PushResult(
        repo_id, repo_url=None, commit_url=None, commit_oid=None, files=files, weights_sha256=info.weights_sha256
    )
    if dry_run:
        return listed

    api = hub_api(endpoint=endpoint, token=token)
    if private:
        _refuse_public_repo(api, repo_id)
    repo_url = api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
    if revision not in (None, "main"):
        api.create_branch(repo_id, branch=revision, repo_type="model", exist_ok=True)
    remote = None if overwrite_card else remote_card(repo_id, revision=revision, endpoint=endpoint, token=token)
    kept_card = None if not remote else _kept_card_problem(remote, info.weights_sha256)
    files = tuple(name for name in files if not (remote and name == CARD_NAME))
    removed = _left_by_an_earlier_push(api, repo_id, revision=revision, files=files, weights_sha256=info.weights_sha256)
    commit = api.upload_folder(
        folder_path=folder,
        repo_id=repo_id,
        repo_type="model",
        revision=revision,
        create_pr=create_pr,
        commit_message=commit_message or f"Upload {info.arch} backbone (weights sha256 {info.weights_sha256[:12]})",
        allow_patterns=list(files),
        delete_patterns=list(removed) or None,
    )
    pushed = {"commit_url": commit.commit_url, "commit_oid": commit.oid, "pr_url": commit.pr_url, "removed": removed}
    return dataclasses.replace(listed, repo_url=str(repo_url), files=files, kept_card=kept_card, **pushed)


def _left_by_an_earlier_push(
    api: Any, repo_id: str, *, revision: str | None, files: tuple[str, ...], weights_sha256: str
) -> tuple[str, ...]:
    """The training checkpoint or recipe an earlier push left in the repo beside other weights than these (a
    backbone-only export or a converted model pushed over a run's), a pair validate_hub_folder refuses locally.
    Beside these very weights they stay (the same model pushed again from a folder that lacks them)."""
    from huggingface_hub.errors import EntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError

    candidates = [name for name in (FULL_MODEL_NAME, RECIPE_NAME) if name not in files]
    if not candidates:
        return ()
    try:
        listed = {
            entry.path: entry for entry in api.get_paths_info(repo_id, [WEIGHTS_NAME, *candidates], revision=revision)
        }
    except (EntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError):
        return ()
    weights = listed.get(WEIGHTS_NAME)
    if weights is None or (weights.lfs is not None and weights.lfs.sha256 == weights_sha256):
        return ()
    return tuple(name for name in candidates if name in listed)


def _refuse_public_repo(api: Any, repo_id: str) -> None:
    """`private` makes a new repo private; an existing one keeps its visibility (create_repo leaves it), so a
    private push to a public repo would publish the weights."""
    from huggingface_hub.errors import RepositoryNotFoundError

    try:
        public = api.model_info(repo_id).private is False
    except RepositoryNotFoundError:
        return
    if public:
        raise HubFolderError(
            f"{repo_id}: a private push, but the repo exists and is public; nothing was uploaded (make it private "
            "on the Hub first, or push without --private)"
        )


def _refuse_links(folder: Path) -> None:
    """A link could send any file of the machine to the Hub: push uploads only the folder's regular files."""
    linked = [name for name in HUB_FILES if (folder / name).is_symlink()]
    if linked:
        raise HubFolderError(
            f"{folder}: {', '.join(linked)} is a symbolic link; push uploads only regular files of "
            "the folder (copy the file in instead)"
        )


def _kept_card_problem(remote: str, weights_sha256: str) -> str:
    """What is wrong with keeping the Hub's card ('' when it states these weights' sha256)."""
    if weights_sha256 in remote:
        return ""
    return f"the Hub's {CARD_NAME} is kept and does not state these weights' sha256 {weights_sha256}"


def remote_card(
    repo_id: str, *, revision: str | None = None, endpoint: str | None = None, token: str | None = None
) -> str | None:
    """The text of the repo's README.md at `revision`, or None when the repo, revision or card does not exist."""
    try:
        return remote_text(repo_id, CARD_NAME, revision=revision, endpoint=endpoint, token=token)
    except HubFolderError as error:
        raise HubFolderError(f"{error}; push with --overwrite-card to replace it") from None


def remote_text(
    repo_id: str, filename: str, *, revision: str | None = None, endpoint: str | None = None, token: str | None = None
) -> str | None:
    """The text of the repo's `filename` at `revision`, or None when the repo, revision or file does not exist."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError

    try:
        path = hf_hub_download(repo_id, filename, revision=revision, endpoint=endpoint, token=token, cache_dir=None)
    except (RepositoryNotFoundError, RevisionNotFoundError, EntryNotFoundError):
        return None
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise HubFolderError(
            f"{repo_id}: its {filename} on the Hub{f' at {revision}' if revision else ''} is not UTF-8 text ({error})"
        ) from None


def download_hub_repo(
    repo_id: str, *, revision: str | None = None, cache_dir: str | Path | None = None, endpoint: str | None = None
) -> Path:
    """The snapshot folder of `repo_id` in the Hugging Face cache with config.json, model.safetensors, and the card
    and recipe when the repo has them; downloaded if needed, or taken from the cache alone with HF_HUB_OFFLINE=1.
    """
    check_repo_id(repo_id)
    where = f"{repo_id}@{revision}" if revision else repo_id
    snapshot = _snapshot(repo_id, where, revision=revision, cache_dir=cache_dir, endpoint=endpoint)
    _check_snapshot_place(snapshot, repo_id=repo_id, cache_dir=cache_dir)
    for name in (CONFIG_NAME, WEIGHTS_NAME):
        if (snapshot / name).exists() and not (snapshot / name).is_file():
            raise ChecksumMismatch(
                f"{snapshot / name}: not a file in the Hugging Face cache; delete it to download it again"
            )
    missing = [name for name in (CONFIG_NAME, WEIGHTS_NAME) if not (snapshot / name).is_file()]
    if missing:
        raise HubFolderError(f"{where}: the repo has no {' or '.join(missing)}, so it is not a timm hub folder")
    _check_cached_blobs(snapshot, repo_id=repo_id, endpoint=endpoint)
    return snapshot


def _snapshot(
    repo_id: str, where: str, *, revision: str | None, cache_dir: str | Path | None, endpoint: str | None
) -> Path:
    """snapshot_download's folder of the hub files, each way it fails said as this project's error about `where`."""
    from huggingface_hub import constants, is_offline_mode, snapshot_download
    from huggingface_hub.errors import (
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    hub = endpoint or constants.ENDPOINT
    try:
        return Path(
            snapshot_download(
                repo_id,
                repo_type="model",
                revision=revision,
                cache_dir=cache_dir,
                endpoint=endpoint,
                allow_patterns=list(DOWNLOAD_FILES),
            )
        )
    except (LocalEntryNotFoundError, OfflineModeIsEnabled) as error:
        if not is_offline_mode():  # online, yet the Hub could not be reached (it says which way in the cause)
            raise NotCachedOffline(
                f"{where}: the Hub ({hub}) could not be reached and the model is not in the Hugging Face cache; try "
                "again, or check HF_ENDPOINT and the network"
            ) from error
        raise NotCachedOffline(
            f"{where}: not (fully) in the Hugging Face cache, and HF_HUB_OFFLINE=1 forbids downloading it; "
            "download it once online (or unset HF_HUB_OFFLINE)"
        ) from error
    except RevisionNotFoundError as error:
        raise RepoNotFound(f"{where}: the hub repo has no revision {revision!r}") from error
    except RepositoryNotFoundError as error:
        what = "model repo" if revision is None else "model repo or revision"
        raise RepoNotFound(
            f"{where}: no such {what} on {hub} (or it is private or gated, and no valid token was given)"
        ) from error
    except Exception as error:
        message = unreadable_hub_answer(error, endpoint=hub)
        if message is None:
            raise
        raise NotCachedOffline(f"{where}: {message}") from error


def _check_snapshot_place(snapshot: Path, *, repo_id: str, cache_dir: str | Path | None) -> None:
    """The snapshot folder is one of this repo's own in the cache: a `refs/main` naming another repo's snapshot
    (`../../models--org--other/snapshots/...`), or a snapshot folder linked elsewhere, served that model as this
    one, "cached and verified" against the other place's blobs."""
    from huggingface_hub import constants
    from huggingface_hub.file_download import repo_folder_name

    own = Path(cache_dir or constants.HF_HUB_CACHE).expanduser() / repo_folder_name(repo_id=repo_id, repo_type="model")
    if Path(os.path.realpath(snapshot)).parent != Path(os.path.realpath(own / "snapshots")):
        raise ChecksumMismatch(
            f"{snapshot}: not a snapshot folder of {repo_id}'s in the Hugging Face cache (it leads to "
            f"{os.path.realpath(snapshot)}); delete {own} to download it again"
        )


def _check_cached_blobs(snapshot: Path, *, repo_id: str, endpoint: str | None) -> None:
    """Each file of a snapshot against the digest the Hub gave it (sha256 for a file in LFS, git's sha1 for another).
    A link the cache made (to `blobs/DIGEST` of this repo) is checked against that name: a blob changed on disk
    since was served as the repo's. When the Hub answers, every file is then checked against its listing of the
    snapshot's revision: a copy (a cache without links, a backup restored with its links followed), a link made by
    hand, or a link to another revision's blob. Offline, or when the Hub cannot be reached (huggingface_hub then
    serves the cache), nothing says what a copy should be, and a link the cache did not make is refused (it was
    served as "cached and verified")."""
    blobs = Path(os.path.normpath(snapshot.parent.parent / "blobs"))
    # Each file's digest: its blob's name once checked, "" for a link to a blob of another name (a proxy's ETag),
    # None for a copy or a link elsewhere. A link to a missing blob is a file the snapshot lacks (an optional card).
    digests = {
        path: _checked_blob_name(path, blobs) if path.is_symlink() else None
        for path in sorted(snapshot.iterdir())
        if path.is_file()
    }
    if not _checked_against_listing(digests, repo_id=repo_id, revision=snapshot.name, endpoint=endpoint):
        foreign = [path for path, digest in digests.items() if path.is_symlink() and digest is None]
        if foreign:
            raise ChecksumMismatch(
                f"{foreign[0]}: a link the Hugging Face cache did not make (to {os.readlink(foreign[0])}, not to a "
                f"blob in {blobs}); delete it to download it again"
            )
        copies = [path.name for path, digest in digests.items() if not path.is_symlink()]
        if copies:
            warnings.warn(
                f"{snapshot}: {listed(copies, limit=5)} taken as found, unchecked (copies, not the cache's links to "
                "its blobs, and the Hub's listing could not be read)",
                UncheckedFileWarning,
                stacklevel=2,
            )


def _checked_blob_name(path: Path, blobs: Path) -> str | None:
    """The digest a link of the cache's own names (its blob's file name), once the blob's content is checked
    against it; "" for a link to a blob whose name is no digest; None for a link elsewhere. The blob may link on
    to a shared store (Xet's) under another name."""
    link = path.parent / os.readlink(path)
    # Where the link leads, its folders' links followed (`d/../../blobs/X` through a linked `d` led elsewhere, where
    # the text said this repo's blobs); the blob itself may link on.
    target = Path(os.path.realpath(link.parent)) / link.name
    if target.parent != Path(os.path.realpath(blobs)):
        return None
    name = target.name
    digest = {64: sha256_file, 40: git_blob_sha1}.get(len(name))
    if digest is None or not all(c in "0123456789abcdef" for c in name):
        return ""
    actual = digest(path)  # the file a load reads
    if actual != name:
        raise ChecksumMismatch(
            f"{path}: the Hugging Face cache's copy is not the file the Hub served (its digest {actual}, the "
            f"Hub's {name}); delete {target} to download it again"
        )
    return name


def _checked_against_listing(
    digests: dict[Path, str | None], *, repo_id: str, revision: str, endpoint: str | None
) -> bool:
    """Whether the Hub's listing of the revision was read and every file matches it (a mismatch is the error);
    False offline or when the Hub cannot be reached."""
    from huggingface_hub import is_offline_mode

    if is_offline_mode():
        return False
    try:
        listed = hub_api(endpoint=endpoint).get_paths_info(repo_id, [path.name for path in digests], revision=revision)
    except Exception:  # unreachable, a 5xx, a timeout: whatever the client raises, the cache is what there is
        return False
    given = {entry.path: (entry.lfs.sha256 if entry.lfs else entry.blob_id) for entry in listed}
    for path, digest in digests.items():
        expected = given.get(path.name)
        if expected is None:  # a card put there was read for the model's licence
            raise ChecksumMismatch(
                f"{path}: a file the Hub does not list for revision {revision} of {repo_id}; delete it (the cache "
                "holds only files of the repo)"
            )
        actual = digest or (sha256_file if len(expected) == 64 else git_blob_sha1)(path)
        if actual != expected:
            raise ChecksumMismatch(
                f"{path}: the Hugging Face cache's copy is not the file the Hub lists for revision {revision} "
                f"(its digest {actual}, the Hub's {expected}); delete {path} to download it again"
            )
    return True
