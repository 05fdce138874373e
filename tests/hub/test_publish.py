"""Publishing to and loading from a hub: a loopback hub server (tests/hub_server.py), temp caches, plain timm."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import timm
import torch
from huggingface_hub import HfApi, constants
from safetensors.torch import load_file, save_file

from simsiam_zoo.augment import Preprocessing
from simsiam_zoo.digests import sha256_file
from simsiam_zoo.errors import HubFolderError, NotCachedOffline, RepoNotFound
from simsiam_zoo.hub.folder import CARD_NAME, WEIGHTS_NAME, timm_config, write_hub_folder
from simsiam_zoo.hub.publish import download_hub_repo, push_hub_folder
from simsiam_zoo.loader import load_backbone
from simsiam_zoo.recipe import load_recipe
from tests.hub_server import HubServer, portal_server

CARD = """---
license: apache-2.0
library_name: timm
pipeline_tag: image-feature-extraction
---
# ResNet-18 test backbone

Weights sha256: `{{weights_sha256}}`
"""
FILES = ("model.safetensors", "config.json", "README.md", "recipe.yaml")
# Runs in a fresh interpreter that knows only timm and the environment: what a user of the published repo has.
TIMM_LOAD = """
import sys
import timm, torch
model = timm.create_model("hf-hub:" + sys.argv[1], pretrained=True).eval()
with torch.no_grad():
    torch.save(model(torch.load(sys.argv[2])), sys.argv[3])
assert "simsiam_zoo" not in sys.modules
"""


@dataclass(frozen=True)
class Published:
    folder: Path
    inputs: Path
    features: torch.Tensor


@pytest.fixture(scope="module")
def publishable(tmp_path_factory: pytest.TempPathFactory) -> Published:
    """A ResNet-18 hub folder with random BN statistics (a load that dropped buffers shows) and its features."""
    root = tmp_path_factory.mktemp("publishable")
    generator = torch.Generator().manual_seed(0)
    model = timm.create_model("resnet18", num_classes=0)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.copy_(torch.randn(module.num_features, generator=generator) * 0.1)
            module.running_var.copy_(torch.rand(module.num_features, generator=generator) + 0.5)
    config = timm_config(model, preprocessing=Preprocessing(), tag="test", license="apache-2.0")
    recipe = load_recipe("tiny_fake").to_yaml()
    folder = write_hub_folder(
        root / "resnet18", backbone_state=model.state_dict(), config=config, card=CARD, recipe_yaml=recipe
    )
    inputs = torch.randn(2, 3, 64, 64, generator=generator)
    torch.save(inputs, root / "inputs.pt")
    with torch.no_grad():
        features = model.eval()(inputs)
    return Published(folder, root / "inputs.pt", features)


def _timm_load(repo_id: str, published: Published, out: Path, *, cache: Path, offline: bool) -> torch.Tensor:
    env = {**os.environ, "HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1" if offline else "0"}
    done = subprocess.run(
        [sys.executable, "-c", TIMM_LOAD, repo_id, str(published.inputs), str(out)],
        env=env,
        cwd=out.parent,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return torch.load(out)


def test_push_download_and_plain_timm_load(
    hub: HubServer, publishable: Published, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo_id = "zoo-test/resnet18-roundtrip"
    result = push_hub_folder(publishable.folder, repo_id=repo_id, endpoint=hub.url, token="hf_test")
    assert result.files == FILES
    assert result.weights_sha256 == sha256_file(publishable.folder / WEIGHTS_NAME)
    assert result.commit_url == f"{hub.url}/{repo_id}/commit/{result.commit_oid}"

    snapshot = download_hub_repo(repo_id)
    for name in FILES:
        assert (snapshot / name).read_bytes() == (publishable.folder / name).read_bytes(), name

    # A cache of its own, so that timm downloads through the server rather than finding the files above.
    cache = tmp_path / "timm_cache"
    before = len(hub.requests)
    online = _timm_load(repo_id, publishable, tmp_path / "online.pt", cache=cache, offline=False)
    assert f"GET /{repo_id}/resolve/main/{WEIGHTS_NAME}" in hub.requests[before:]
    torch.testing.assert_close(online, publishable.features, atol=1e-6, rtol=0)

    before = len(hub.requests)
    offline = _timm_load(repo_id, publishable, tmp_path / "offline.pt", cache=cache, offline=True)
    assert hub.requests[before:] == []
    torch.testing.assert_close(offline, publishable.features, atol=1e-6, rtol=0)

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    assert download_hub_repo(repo_id) == snapshot
    with pytest.raises(NotCachedOffline, match="zoo-test/never-pushed.*HF_HUB_OFFLINE=1"):
        download_hub_repo("zoo-test/never-pushed")
    assert hub.requests[before:] == []


@pytest.mark.parametrize("body", [b"<html>Sign in to the network</html>", b"{}"])
def test_a_hub_answering_what_no_client_can_read_is_not_cached_offline(
    body: bytes, isolated_hf_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """load_backbone("hf-hub:...") in a notebook behind a captive portal raised huggingface_hub's JSONDecodeError
    or AttributeError from inside its parsing, naming neither the model nor the Hub."""
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    with portal_server(body) as endpoint:
        message = f"me/x: the Hugging Face Hub at {re.escape(endpoint)} answered with what no client can read"
        with pytest.raises(NotCachedOffline, match=message):
            download_hub_repo("me/x", endpoint=endpoint)
        monkeypatch.setattr(constants, "ENDPOINT", endpoint)
        with pytest.raises(NotCachedOffline, match=message):
            load_backbone("hf-hub:me/x")


def _git_show(hub: HubServer, repo_id: str, ref: str, path: str | None = None) -> str:
    """The commit `ref` (its message) or, with `path`, that file's text at `ref`, in the server's git repo."""
    args = ["show", f"{ref}:{path}"] if path else ["show", "-s", ref]
    return subprocess.run(
        ["git", "-C", str(hub.repo_dir(repo_id)), *args], capture_output=True, text=True, check=True
    ).stdout


def test_push_to_a_branch_and_as_a_pull_request(hub: HubServer, publishable: Published, tmp_path: Path) -> None:
    repo_id = "zoo-test/resnet18-branches"
    push_hub_folder(publishable.folder, repo_id=repo_id, endpoint=hub.url, token="hf_test")
    main = _git_show(hub, repo_id, "main")

    branch = push_hub_folder(
        publishable.folder,
        repo_id=repo_id,
        endpoint=hub.url,
        token="hf_test",
        revision="v2",
        commit_message="Weights for v2",
        overwrite_card=True,
    )
    assert branch.pr_url is None and _git_show(hub, repo_id, "main") == main
    assert "Weights for v2" in _git_show(hub, repo_id, "v2")
    assert download_hub_repo(repo_id, revision="v2", cache_dir=tmp_path / "cache").name == branch.commit_oid

    pr = push_hub_folder(
        publishable.folder,
        repo_id=repo_id,
        endpoint=hub.url,
        token="hf_test",
        create_pr=True,
        commit_message="Proposed weights",
    )
    assert pr.pr_url == f"{hub.url}/{repo_id}/discussions/1"
    assert "Proposed weights" in _git_show(hub, repo_id, "refs/pr/1") and _git_show(hub, repo_id, "main") == main


def test_a_card_edited_on_the_hub_is_kept_unless_asked(hub: HubServer, publishable: Published, tmp_path: Path) -> None:
    repo_id = "zoo-test/resnet18-edited-card"
    push_hub_folder(publishable.folder, repo_id=repo_id, endpoint=hub.url, token="hf_test")
    edited = CARD.replace("# ResNet-18 test backbone", "# Edited on the Hub").replace(
        "{{weights_sha256}}", sha256_file(publishable.folder / WEIGHTS_NAME)
    )
    HfApi(endpoint=hub.url, token="hf_test").upload_file(
        path_or_fileobj=edited.encode(), path_in_repo=CARD_NAME, repo_id=repo_id
    )
    again = push_hub_folder(publishable.folder, repo_id=repo_id, endpoint=hub.url, token="hf_test")
    assert again.kept_card == "" and CARD_NAME not in again.files
    assert "Edited on the Hub" in _git_show(hub, repo_id, "main", CARD_NAME)

    # Other weights: the kept card no longer states their sha256, and the result says so.
    retrained = shutil.copytree(publishable.folder, tmp_path / "retrained")
    state = load_file(retrained / WEIGHTS_NAME)
    state["fc.weight" if "fc.weight" in state else "conv1.weight"] += 1.0
    save_file(state, retrained / WEIGHTS_NAME, metadata={"format": "pt"})
    card = (
        (retrained / CARD_NAME)
        .read_text()
        .replace(sha256_file(publishable.folder / WEIGHTS_NAME), sha256_file(retrained / WEIGHTS_NAME))
    )
    (retrained / CARD_NAME).write_text(card)
    stale = push_hub_folder(retrained, repo_id=repo_id, endpoint=hub.url, token="hf_test")
    assert stale.kept_card and stale.weights_sha256 in stale.kept_card
    replaced = push_hub_folder(retrained, repo_id=repo_id, endpoint=hub.url, token="hf_test", overwrite_card=True)
    assert replaced.kept_card is None and CARD_NAME in replaced.files
    assert _git_show(hub, repo_id, "main", CARD_NAME) == card


def test_a_card_on_the_hub_that_is_not_utf8_is_named(hub: HubServer, publishable: Published) -> None:
    """It was a UnicodeDecodeError traceback; --overwrite-card replaces it."""
    repo_id = "zoo-test/latin1-card"
    push_hub_folder(publishable.folder, repo_id=repo_id, endpoint=hub.url, token="hf_test")
    repo = hub.repo_dir(repo_id)  # git takes what huggingface_hub's upload refuses (it reads a card as UTF-8)
    (repo / CARD_NAME).write_bytes("# Modèle\n".encode("latin-1"))
    subprocess.run(["git", "-C", str(repo), "commit", "-qam", "latin-1 card"], check=True, capture_output=True)
    with pytest.raises(HubFolderError, match=rf"{repo_id}: its README.md on the Hub is not UTF-8 text \(.*--overwrite"):
        push_hub_folder(publishable.folder, repo_id=repo_id, endpoint=hub.url, token="hf_test")
    push_hub_folder(publishable.folder, repo_id=repo_id, endpoint=hub.url, token="hf_test", overwrite_card=True)


def test_a_push_removes_the_hub_files_its_folder_lacks(hub: HubServer, publishable: Published, tmp_path: Path) -> None:
    """A converted model (no recipe) pushed over a run's push left the run's recipe.yaml beside other weights, a
    pair validate_hub_folder refuses; the same weights pushed again from a folder without it keep it, and the user's
    own files stay."""
    repo_id = "zoo-test/repushed"

    def repo_files() -> list[str]:
        listing = ["git", "-C", str(hub.repo_dir(repo_id)), "ls-tree", "-r", "--name-only", "main"]
        return sorted(subprocess.run(listing, capture_output=True, text=True, check=True).stdout.split())

    push_hub_folder(publishable.folder, repo_id=repo_id, endpoint=hub.url, token="hf_test")
    HfApi(endpoint=hub.url, token="hf_test").upload_file(
        path_or_fileobj=b"mine", path_in_repo="notes/recipe.yaml", repo_id=repo_id
    )
    converted = shutil.copytree(publishable.folder, tmp_path / "converted")
    (converted / "recipe.yaml").unlink()
    again = push_hub_folder(converted, repo_id=repo_id, endpoint=hub.url, token="hf_test")
    assert again.removed == () and repo_files() == sorted({*FILES, "notes/recipe.yaml"})
    state, before = load_file(converted / WEIGHTS_NAME), sha256_file(converted / WEIGHTS_NAME)
    state["conv1.weight"] += 1.0
    save_file(state, converted / WEIGHTS_NAME, metadata={"format": "pt"})
    card = (converted / CARD_NAME).read_text().replace(before, sha256_file(converted / WEIGHTS_NAME))
    (converted / CARD_NAME).write_text(card)
    other = push_hub_folder(converted, repo_id=repo_id, endpoint=hub.url, token="hf_test")
    assert other.removed == ("recipe.yaml",) and "recipe.yaml" not in other.files
    assert repo_files() == sorted({*FILES, "notes/recipe.yaml"} - {"recipe.yaml"})


def test_a_private_push_to_a_public_repo_uploads_nothing(hub: HubServer, publishable: Published) -> None:
    """create_repo leaves an existing repo's visibility as it is: the weights went into the public repo."""
    push_hub_folder(publishable.folder, repo_id="zoo-test/public", endpoint=hub.url, token="hf_test")
    before = len(hub.requests)
    with pytest.raises(HubFolderError, match="zoo-test/public: a private push, but the repo exists and is public"):
        push_hub_folder(publishable.folder, repo_id="zoo-test/public", private=True, endpoint=hub.url, token="hf_test")
    assert not [request for request in hub.requests[before:] if "/commit/" in request or "/lfs/" in request]
    fresh = push_hub_folder(
        publishable.folder, repo_id="zoo-test/private", private=True, endpoint=hub.url, token="hf_test"
    )
    assert fresh.commit_oid  # a new repo is created private


def test_dry_run_uploads_nothing(hub: HubServer, publishable: Published) -> None:
    before = len(hub.requests)
    result = push_hub_folder(publishable.folder, repo_id="zoo-test/dry-run", dry_run=True, endpoint=hub.url)
    assert (result.files, result.repo_url, result.commit_oid) == (FILES, None, None)
    assert result.weights_sha256 == sha256_file(publishable.folder / WEIGHTS_NAME)
    assert hub.requests[before:] == []
    assert not HfApi(endpoint=hub.url).repo_exists("zoo-test/dry-run")


def _drop_card_digest(folder: Path) -> None:
    card = folder / CARD_NAME
    card.write_text(card.read_text().replace(sha256_file(folder / WEIGHTS_NAME), "(to be added)"))


def _truncate_weights(folder: Path) -> None:
    weights = folder / WEIGHTS_NAME
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])


def _break_card_yaml(folder: Path) -> None:  # a traceback from huggingface_hub's card parser, exit 1
    card = folder / CARD_NAME
    card.write_text(card.read_text().replace("library_name: timm", "library_name: timm\nlibrary_name: [x", 1))


def _card_not_utf8(folder: Path) -> None:
    (folder / CARD_NAME).write_bytes(b"\xff\xfe x")


def _recipe_no_run_can_use(folder: Path) -> None:  # listed for upload as it stood
    recipe = folder / "recipe.yaml"
    recipe.write_text(recipe.read_text().replace("batch_size: 8", "batch_size: 0", 1))


def _recipe_too_big(folder: Path) -> None:
    with open(folder / "recipe.yaml", "ab") as f:
        f.truncate(3 << 30)  # sparse: 3 GB on paper


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        (_drop_card_digest, "sha256"),
        (_truncate_weights, "safetensors"),
        (_break_card_yaml, r"README.md: not a model card the Hub can read \(ParserError: "),
        (_card_not_utf8, r"README.md: not a model card the Hub can read \(UnicodeDecodeError: "),
        (_recipe_no_run_can_use, r"recipe.yaml: optim.batch_size must be at least"),
        (_recipe_too_big, r"recipe.yaml: not a recipe \(a folder's recipe.yaml is a YAML file of at most 1 MiB\)"),
    ],
)
def test_invalid_folder_is_refused_before_any_upload(
    hub: HubServer, publishable: Published, tmp_path: Path, breakage: Callable[[Path], None], message: str
) -> None:
    folder = shutil.copytree(publishable.folder, tmp_path / "broken")
    breakage(folder)
    before = len(hub.requests)
    with pytest.raises(HubFolderError, match=message):
        push_hub_folder(folder, repo_id="zoo-test/broken", endpoint=hub.url, token="hf_test")
    assert hub.requests[before:] == []
    assert not HfApi(endpoint=hub.url).repo_exists("zoo-test/broken")


@pytest.mark.parametrize("repo_id", ["resnet18", "zoo-test/../escape", "a/b/c", "zoo-test/x..y", "zoo test/x"])
def test_bad_repo_id_is_refused(publishable: Published, repo_id: str) -> None:
    with pytest.raises(HubFolderError, match="repo id"):
        push_hub_folder(publishable.folder, repo_id=repo_id, dry_run=True)


REFUSED_BRANCHES = ["", " ", "a..b", "a b", "v1~1", "a:b", "x?", "x*", "x[1]", "a\\b", "a\tb", "x.lock", "a//b"]
REFUSED_BRANCHES += ["feature/", "/x", ".hidden", "a/.b", "x.", "a@{1}", "-x", "HEAD"]


@pytest.mark.parametrize("branch", REFUSED_BRANCHES)
def test_a_branch_git_refuses_is_refused_before_any_work(hub: HubServer, publishable: Published, branch: str) -> None:
    """The Hub refused such a --revision only after the repo was created (an empty one answered 404, "no repo")."""
    before = len(hub.requests)
    with pytest.raises(HubFolderError, match=re.escape(f"branch name {branch!r}: ")):
        push_hub_folder(publishable.folder, repo_id="zoo-test/branch", revision=branch, endpoint=hub.url, token="t")
    assert hub.requests[before:] == []
    if branch not in ("-x", "HEAD"):  # refused by `git branch`, not by check-ref-format's rules
        assert subprocess.run(["git", "check-ref-format", f"refs/heads/{branch}"]).returncode != 0


@pytest.mark.parametrize("branch", ["v2", "feature/x", "release-2.1", "a.b/c_d", "refs/pr/1", "é", "x@y", "@", "\xa0"])
def test_a_branch_git_takes_is_taken(publishable: Published, branch: str) -> None:
    assert subprocess.run(["git", "check-ref-format", f"refs/heads/{branch}"]).returncode == 0
    assert push_hub_folder(publishable.folder, repo_id="zoo-test/branch", revision=branch, dry_run=True).files == FILES


def test_unknown_repo_names_it(hub: HubServer) -> None:
    with pytest.raises(RepoNotFound, match="zoo-test/missing"):
        download_hub_repo("zoo-test/missing")


def test_a_hub_id_cannot_climb_out_of_the_local_hub_directory(publishable: Published, tmp_path: Path) -> None:
    """With `hub_dir`, `hf-hub:ORG/NAME` is a folder below it; `..` would reach a folder the user never published."""
    shutil.copytree(publishable.folder, tmp_path / "elsewhere" / "model")
    (tmp_path / "hub" / "org").mkdir(parents=True)
    for climbing in ("hf-hub:../elsewhere/model", "hf-hub:org/../../elsewhere/model", "hf-hub:org/.."):
        with pytest.raises(HubFolderError, match="repo id"):
            load_backbone(climbing, hub_dir=tmp_path / "hub")
    assert load_backbone("hf-hub:elsewhere/model", hub_dir=tmp_path).arch == "resnet18"  # the same folder, below


def test_a_cache_dir_given_with_a_tilde_holds_the_repos_own_snapshots(tmp_path, monkeypatch) -> None:
    """huggingface_hub expands `~` in a cache_dir; the check of the snapshot's place did not, and refused it."""
    from simsiam_zoo.errors import ChecksumMismatch
    from simsiam_zoo.hub.publish import _check_snapshot_place

    monkeypatch.setenv("HOME", str(tmp_path))
    snapshot = tmp_path / "hfc" / "models--org--name" / "snapshots" / ("a" * 40)
    snapshot.mkdir(parents=True)
    _check_snapshot_place(snapshot, repo_id="org/name", cache_dir="~/hfc")
    with pytest.raises(ChecksumMismatch, match=r"not a snapshot folder of org/other's in the Hugging Face cache"):
        _check_snapshot_place(snapshot, repo_id="org/other", cache_dir="~/hfc")
