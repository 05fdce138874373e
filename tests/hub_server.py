"""A Hugging Face Hub-compatible server on 127.0.0.1 for tests, and the fixtures that start, point at and stop it.

Design: downloads are served by olah (PyPI `olah`), a real hub mirror server, from local git repos, offline. A
server written by others checks that what we push is a repo that huggingface_hub and timm read, rather than one
that only our own idea of the protocol reads. olah has no write side, so a small standard-library front server
takes every request: it answers the write endpoints that `create_repo` + `upload_folder` use with
HF_HUB_DISABLE_XET=1 (repo create, README YAML check, preupload, LFS batch / PUT upload / verify, NDJSON commit),
commits into those same git repos with the `git` CLI (LFS files as pointer files, objects under `.git/lfs/objects`
where olah looks for them), and forwards everything else to olah. olah offline cannot tell the latest commit of a
local repo, so `/api/models/ORG/NAME` (or `datasets`) without a revision is forwarded as `.../revision/main`.

Any path with a `..`, `.` or empty segment (an absolute file name) is answered 400, in the URL and in JSON bodies.
Branches are created from main (`create_branch`) and committed to; a commit with `create_pr` goes to a new
`refs/pr/N` on top of its branch, as the Hub does, and answers its pull request URL. Deletions and copies are
refused with 400 rather than half-done.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import yaml

_REPO = r"(?P<repo_id>[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*)"
_OID = r"(?P<oid>[0-9a-f]{64})"
_LFS_POINTER = "version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {size}\n"
# The hub's default .gitattributes sends weights and anything of 10 MB or more to LFS.
_LFS_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt")
_LFS_MIN_SIZE = 10 * 1024 * 1024
# Hop-by-hop headers stay between olah and the front server; send_response writes Date and Server itself.
_NOT_FORWARDED = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "date", "server"}
# A user's git config (signing, hooks, templates) must not change what the test repos get.
_GIT_ENV = {
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "hub-test",
    "GIT_AUTHOR_EMAIL": "hub-test@localhost",
    "GIT_COMMITTER_NAME": "hub-test",
    "GIT_COMMITTER_EMAIL": "hub-test@localhost",
}


class HttpError(Exception):
    def __init__(self, status: int, message: str, *, code: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.extra = status, code, extra


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args], env={**os.environ, **_GIT_ENV}, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def _safe_path(path: str) -> str:
    """A repo-relative file path, or 400: no `..`/`.`/empty segments (absolute paths), no backslashes, no `.git`."""
    if "\\" in path or any(part in ("", ".", "..", ".git") for part in path.split("/")):
        raise HttpError(400, f"invalid path {path!r}")
    return path


def _check_url_path(path: str) -> None:
    """400 for a URL path that climbs (`..`, `.`) or names an absolute file (`//`); a trailing `/` is fine."""
    if "\\" in path or "//" in path or any(part in (".", "..") for part in path.split("/")):
        raise HttpError(400, f"invalid path {path!r}")


class HubServer:
    """olah on a loopback port, behind the front server on another; `url` is the endpoint to give clients."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.mirrors = root / "mirrors"
        self.lock = threading.Lock()
        self.requests: list[str] = []  # "METHOD /path" of every request, so tests can tell what reached the hub
        self.upload_status: int | None = None  # a status every LFS upload is answered with (a refusal, an outage)
        self._httpd = _FrontServer(("127.0.0.1", 0), _Handler, hub=self)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._olah: subprocess.Popen[bytes] | None = None
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def repo_dir(self, repo_id: str) -> Path:
        return self.mirrors / "models" / repo_id

    def add_dataset(self, repo_id: str, files: dict[str, bytes]) -> Path:
        """A dataset repo of `files` (path in the repo: content), committed to main as plain git files."""
        repo = self.mirrors / "datasets" / repo_id
        repo.mkdir(parents=True)
        _git(repo, "init", "-q", "-b", "main")
        for name, content in files.items():
            (repo / _safe_path(name)).parent.mkdir(parents=True, exist_ok=True)
            (repo / name).write_bytes(content)
        _git(repo, "add", "-A")
        _git(repo, "commit", "-q", "-m", "dataset")
        return repo

    def lfs_object(self, repo_id: str, oid: str) -> Path:
        return self.repo_dir(repo_id) / ".git" / "lfs" / "objects" / oid[:2] / oid[2:4] / oid

    def __enter__(self) -> HubServer:
        try:
            self.olah_port = self._start_olah()
        except BaseException:
            self._httpd.server_close()
            raise
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._olah is not None:
            self._olah.terminate()
            try:
                self._olah.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._olah.kill()
                self._olah.wait()

    def _start_olah(self) -> int:
        with socket.socket() as probe:  # a free loopback port; olah takes no listening socket from us
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        config = self.root / "olah.toml"
        config.write_text(
            f'[basic]\nhost = "127.0.0.1"\nport = {port}\nrepos-path = {json.dumps(str(self.root / "olah-cache"))}\n'
            f"mirrors-path = [{json.dumps(str(self.mirrors))}]\nmetadata-cache-ttl = 0\n"
            "[accessibility]\noffline = true\n"
        )
        log_path = self.root / "olah.log"
        with open(log_path, "wb") as log:
            self._olah = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    "from olah.server import cli; cli()",
                    "--config",
                    str(config),
                    "--log-path",
                    str(self.root / "logs"),
                ],
                cwd=self.root,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while True:
            if self._olah.poll() is not None:
                raise RuntimeError(f"olah exited with {self._olah.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return port
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"olah did not listen in 60 s:\n{log_path.read_text()[-3000:]}") from None
                time.sleep(0.1)


class _FrontServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], *, hub: HubServer) -> None:
        super().__init__(address, handler)
        self.hub = hub


class _Handler(BaseHTTPRequestHandler):
    server: _FrontServer

    def _dispatch(self) -> None:
        url = urlsplit(self.path)
        path = unquote(url.path)
        self.server.hub.requests.append(f"{self.command} {path}")
        try:
            _check_url_path(path)
            for method, pattern, name in _ROUTES:
                match = pattern.fullmatch(path)
                if method == self.command and match:
                    getattr(self, name)(**match.groupdict(), query=parse_qs(url.query))
                    return
            if self.command in ("GET", "HEAD") and re.fullmatch(rf"/api/(models|datasets)/{_REPO}", path):
                self._forward(f"{url.path}/revision/main")
            else:
                self._forward(self.path)
        except HttpError as error:
            headers = {"X-Error-Code": error.code} if error.code else {}
            self._json(error.status, {"error": str(error), **error.extra}, headers=headers)
        except (KeyError, TypeError, ValueError) as error:  # a body without the fields the hub API has
            self._json(400, {"error": f"malformed request: {error!r}"})

    do_GET = do_HEAD = do_POST = do_PUT = _dispatch

    @property
    def _base(self) -> str:
        return f"http://{self.headers['Host']}"

    def _json(
        self,
        status: int,
        payload: Any,
        *,
        headers: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        for key, value in {"Content-Type": content_type, "Content-Length": str(len(data)), **(headers or {})}.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _body_chunks(self) -> Iterator[bytes]:
        remaining = int(self.headers.get("Content-Length", 0))
        while remaining:
            chunk = self.rfile.read(min(remaining, 1 << 20))
            if not chunk:
                raise HttpError(400, "request body ended early")
            remaining -= len(chunk)
            yield chunk

    def _read_json(self) -> Any:
        return json.loads(b"".join(self._body_chunks()))

    def _repo(self, repo_id: str) -> Path:
        repo = self.server.hub.repo_dir(repo_id)
        if not repo.is_dir():
            raise HttpError(404, f"Repository {repo_id} not found", code="RepoNotFound")
        return repo

    @staticmethod
    def _check_revision(repo: Path, revision: str) -> None:
        if (
            not re.fullmatch(r"[\w.-]+", revision)
            or subprocess.run(
                ["git", "-C", str(repo), "rev-parse", "--verify", "-q", f"refs/heads/{revision}"],
                capture_output=True,
                env={**os.environ, **_GIT_ENV},
            ).returncode
        ):
            raise HttpError(404, f"Invalid rev id: {revision}", code="RevisionNotFound")

    def create_branch(self, *, repo_id: str, branch: str, query: dict[str, list[str]]) -> None:
        repo = self._repo(repo_id)
        start = self._read_json().get("startingPoint") or "main"
        if not re.fullmatch(r"[\w.-]+", branch):
            raise HttpError(400, f"invalid branch name {branch!r}")
        with self.server.hub.lock:
            if _git(repo, "branch", "--list", branch):
                raise HttpError(409, f"branch {branch} already exists")
            _git(repo, "branch", branch, start)
        self._json(200, {})

    def create_repo(self, *, query: dict[str, list[str]]) -> None:
        body = self._read_json()
        repo_id = f"{body['organization']}/{body['name']}"
        valid = body["organization"] and re.fullmatch(_REPO, repo_id) and ".." not in repo_id
        if body.get("type", "model") != "model" or not valid:
            raise HttpError(400, f"cannot create {body.get('type', 'model')} repo {repo_id!r}")
        repo, url = self.server.hub.repo_dir(repo_id), f"{self._base}/{repo_id}"
        with self.server.hub.lock:
            if repo.exists():
                raise HttpError(409, "You already created this model repo", url=url)
            repo.mkdir(parents=True)
            _git(repo, "init", "-q", "-b", "main")
            _git(repo, "commit", "-q", "--allow-empty", "-m", "initial commit")
        self._json(200, {"url": url, "name": repo_id})

    def validate_yaml(self, *, query: dict[str, list[str]]) -> None:
        match = re.match(r"---\n(.*?)\n---", self._read_json()["content"], flags=re.S)
        try:
            yaml.safe_load(match.group(1) if match else "")
        except yaml.YAMLError as error:
            raise HttpError(400, "invalid YAML", errors=[{"message": str(error)}]) from None
        self._json(200, {"errors": [], "warnings": []})

    def preupload(self, *, repo_id: str, revision: str, query: dict[str, list[str]]) -> None:
        self._check_revision(self._repo(repo_id), revision)
        files = [
            {
                "path": _safe_path(file["path"]),
                "uploadMode": "lfs"
                if file["path"].endswith(_LFS_SUFFIXES) or file["size"] >= _LFS_MIN_SIZE
                else "regular",
                "shouldIgnore": False,
            }
            for file in self._read_json()["files"]
        ]
        self._json(200, {"files": files})

    def lfs_batch(self, *, repo_id: str, query: dict[str, list[str]]) -> None:
        self._repo(repo_id)
        body = self._read_json()
        if body.get("operation") != "upload":
            raise HttpError(400, "this test server takes LFS uploads only; download through /resolve")
        objects = []
        for obj in body["objects"]:
            if not re.fullmatch(_OID, obj["oid"]):
                raise HttpError(400, f"invalid oid {obj['oid']!r}")
            entry = {"oid": obj["oid"], "size": obj["size"], "authenticated": True}
            if not self.server.hub.lfs_object(repo_id, obj["oid"]).is_file():  # no actions: already stored
                href = f"{self._base}/{repo_id}.git/info/lfs/objects/{obj['oid']}"
                entry["actions"] = {"upload": {"href": href}, "verify": {"href": f"{href}/verify"}}
            objects.append(entry)
        self._json(200, {"transfer": "basic", "objects": objects}, content_type="application/vnd.git-lfs+json")

    def lfs_upload(self, *, repo_id: str, oid: str, query: dict[str, list[str]]) -> None:
        self._repo(repo_id)
        if self.server.hub.upload_status is not None:
            b"".join(self._body_chunks())
            raise HttpError(self.server.hub.upload_status, "upload refused")
        target = self.server.hub.lfs_object(repo_id, oid)
        target.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as tmp:
            for chunk in self._body_chunks():
                digest.update(chunk)
                tmp.write(chunk)
        if digest.hexdigest() != oid:
            os.unlink(tmp.name)
            raise HttpError(400, f"uploaded content has sha256 {digest.hexdigest()}, not {oid}")
        os.replace(tmp.name, target)
        self._json(200, {})

    def lfs_verify(self, *, repo_id: str, oid: str, query: dict[str, list[str]]) -> None:
        target = self.server.hub.lfs_object(repo_id, oid)
        if not target.is_file() or target.stat().st_size != self._read_json()["size"]:
            raise HttpError(404, f"LFS object {oid} not uploaded")
        self._json(200, {})

    def commit(self, *, repo_id: str, revision: str, query: dict[str, list[str]]) -> None:
        repo = self._repo(repo_id)
        self._check_revision(repo, revision)
        lines = [json.loads(line) for line in b"".join(self._body_chunks()).splitlines() if line.strip()]
        if not lines or lines[0]["key"] != "header":
            raise HttpError(400, "a commit starts with a header line")
        header, files, deleted = lines[0]["value"], {}, []
        for line in lines[1:]:  # check every line before writing anything: a refused commit changes nothing
            value, path = line["value"], _safe_path(line["value"]["path"])
            if line["key"] == "file" and value.get("encoding") == "base64":
                files[path] = base64.b64decode(value["content"])
            elif line["key"] == "lfsFile" and re.fullmatch(_OID, value["oid"]):
                stored = self.server.hub.lfs_object(repo_id, value["oid"])
                if not stored.is_file():
                    raise HttpError(400, f"{path}: LFS object {value['oid']} was not uploaded")
                files[path] = _LFS_POINTER.format(oid=value["oid"], size=stored.stat().st_size).encode()
            elif line["key"] == "deletedFile":
                deleted.append(path)
            else:
                raise HttpError(400, f"unsupported commit operation {line['key']!r} for {path!r}")
        create_pr = query.get("create_pr", ["0"])[0] in ("1", "true", "True")
        with self.server.hub.lock:
            parent = header.get("parentCommit")
            if parent and not _git(repo, "rev-parse", revision).startswith(parent):
                raise HttpError(412, f"{repo_id}: branch {revision} is not at parent commit {parent}")
            # The work tree is checked out at the commit's base only while committing; main otherwise.
            _git(repo, "checkout", "-q", "--detach", revision)
            try:
                for path, content in files.items():
                    (repo / path).parent.mkdir(parents=True, exist_ok=True)
                    (repo / path).write_bytes(content)
                if files:
                    _git(repo, "add", "--", *files)
                if deleted:
                    _git(repo, "rm", "-q", "--ignore-unmatch", "--", *deleted)
                description = ["-m", header["description"]] if header.get("description") else []
                _git(repo, "commit", "-q", "--allow-empty", "-m", header["summary"], *description)
                oid = _git(repo, "rev-parse", "HEAD")
                pr_url = None
                if create_pr:
                    number = 1 + len(_git(repo, "for-each-ref", "refs/pr/").splitlines())
                    _git(repo, "update-ref", f"refs/pr/{number}", oid)
                    pr_url = f"{self._base}/{repo_id}/discussions/{number}"
                else:
                    _git(repo, "update-ref", f"refs/heads/{revision}", oid)
            finally:
                _git(repo, "checkout", "-q", "-f", "main")
        self._json(
            200, {"commitUrl": f"{self._base}/{repo_id}/commit/{oid}", "commitOid": oid, "pullRequestUrl": pr_url}
        )

    def _forward(self, path: str) -> None:
        body = b"".join(self._body_chunks()) if "Content-Length" in self.headers else None
        headers = {key: value for key, value in self.headers.items() if key.lower() not in _NOT_FORWARDED}
        olah = http.client.HTTPConnection("127.0.0.1", self.server.hub.olah_port, timeout=120)
        try:
            olah.request(self.command, path, body=body, headers=headers)
            response = olah.getresponse()
            self.send_response(response.status)
            for key, value in response.getheaders():
                if key.lower() not in _NOT_FORWARDED:
                    self.send_header(key, value)
            self.end_headers()  # HTTP/1.0: the body ends when the connection closes, whatever olah's framing was
            if self.command != "HEAD":
                shutil.copyfileobj(response, self.wfile)
        finally:
            olah.close()


_ROUTES = [
    ("POST", re.compile("/api/repos/create"), "create_repo"),
    ("POST", re.compile("/api/validate-yaml"), "validate_yaml"),
    ("POST", re.compile(rf"/api/models/{_REPO}/preupload/(?P<revision>[^/]+)"), "preupload"),
    ("POST", re.compile(rf"/api/models/{_REPO}/commit/(?P<revision>[^/]+)"), "commit"),
    ("POST", re.compile(rf"/api/models/{_REPO}/branch/(?P<branch>[^/]+)"), "create_branch"),
    ("POST", re.compile(rf"/{_REPO}\.git/info/lfs/objects/batch"), "lfs_batch"),
    ("PUT", re.compile(rf"/{_REPO}\.git/info/lfs/objects/{_OID}"), "lfs_upload"),
    ("POST", re.compile(rf"/{_REPO}\.git/info/lfs/objects/{_OID}/verify"), "lfs_verify"),
]


@pytest.fixture(scope="module")
def hub_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubServer]:
    """A server for each test module, so that the repos one module pushes or adds never meet another's (they may
    share names); tests reach it through the `hub` fixture."""
    with HubServer(tmp_path_factory.mktemp("hub_server")) as server:
        yield server


@pytest.fixture(name="hub")
def hub_env(hub_server: HubServer, isolated_hf_cache: Path, monkeypatch: pytest.MonkeyPatch) -> HubServer:
    """Point huggingface_hub at `hub_server`, here and in subprocesses, with every cache under this test's temp dirs
    (those that conftest's `isolated_hf_cache` put in the environment).
    """
    from huggingface_hub import constants

    monkeypatch.setenv("HF_ENDPOINT", hub_server.url)
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")  # uploads take the LFS route, which the server implements
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    # huggingface_hub read its paths and endpoint when first imported, maybe before conftest set the env.
    old_home = constants.HF_HOME
    for name, value in list(vars(constants).items()):
        if name.isupper() and isinstance(value, str) and value.startswith(old_home):
            monkeypatch.setattr(constants, name, os.environ["HF_HOME"] + value[len(old_home) :])
    monkeypatch.setattr(constants, "HF_HUB_CACHE", os.environ["HF_HUB_CACHE"])
    monkeypatch.setattr(constants, "ENDPOINT", hub_server.url)
    template = hub_server.url + "/{repo_id}/resolve/{revision}/{filename}"
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", template)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    return hub_server


@pytest.fixture(name="hub_datasets")
def hub_datasets_env(hub: HubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> HubServer:
    """`hub`, with the datasets library pointed at it too (it read the endpoint when first imported) and its cache
    under this test's temp dir; `HubServer.add_dataset` puts a dataset repo there."""
    datasets = pytest.importorskip("datasets")
    monkeypatch.setattr(datasets.config, "HF_ENDPOINT", hub.url)
    monkeypatch.setattr(datasets.config, "HUB_DATASETS_URL", hub.url + "/datasets/{repo_id}/resolve/{revision}/{path}")
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "datasets-cache")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)
    return hub


@contextlib.contextmanager
def portal_server(body: bytes) -> Iterator[str]:
    """The endpoint of a server on 127.0.0.1 that answers every request with `body` as a 200, as a captive
    portal does: what no Hub client can read."""

    class Portal(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_POST = do_HEAD = do_GET

    server = ThreadingHTTPServer(("127.0.0.1", 0), Portal)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
