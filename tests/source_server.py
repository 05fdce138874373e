"""A file server on 127.0.0.1 standing in for the zoo's source URLs (dl.fbaipublicfiles.com, download.openmmlab.com,
...), and the fixture that starts it, points SIMSIAM_ZOO_SOURCE_MIRROR at it and stops it.

It serves `root/<url path>` with HTTP Range support (206 + Content-Range, an ETag honoured in If-Range), as those
hosts do, and can misbehave on
request: `cut[path] = n` sends the first n bytes of the next response for `path`, then drops the connection;
`fail[path] = [503, ...]` answers those statuses first; `delay[path] = s` waits s seconds before each body;
`after_cut(path)` runs after a cut; `gzip` paths are sent gzip-encoded whatever the client accepts (a misconfigured
nginx); `redirect[path] = other` answers 302 to `other`; `misplaced[path] = offset` answers the next ranged request
with a 206 from `offset` instead of the start asked for (a broken proxy); `short[path] = n` answers it with a 206 of
n bytes only (its Content-Range saying so); `ignore_if_range` paths answer a Range whatever If-Range says (the rest
of a file that changed); `etag[path]` is sent as the ETag instead of the content's hash; `coding[path]` is sent as
the Content-Encoding of bytes left as they are (`aws-chunked`, `x-gzip`). Every request is logged as
(path, Range header or None), and its Accept-Encoding in `accepted_encodings`.
"""

from __future__ import annotations

import gzip
import hashlib
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

PREFIX = "/mirror"


class SourceServer:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.cut: dict[str, int] = {}
        self.fail: dict[str, list[int]] = {}
        self.delay: dict[str, float] = {}
        self.after_cut: Callable[[str], None] | None = None
        self.gzip: set[str] = set()
        self.redirect: dict[str, str] = {}
        self.misplaced: dict[str, int] = {}
        self.short: dict[str, int] = {}
        self.ignore_if_range: set[str] = set()
        self.etag: dict[str, str] = {}
        self.coding: dict[str, str] = {}
        self.accepted_encodings: list[str | None] = []
        self.requests: list[tuple[str, str | None]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{PREFIX}"

    def put(self, source_url: str, data: bytes) -> str:
        """Serve `data` where `source_url` is mirrored; returns the path the requests will log."""
        path = unquote(urlsplit(source_url).path)
        (self.root / path.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
        (self.root / path.lstrip("/")).write_bytes(data)
        return path

    def __enter__(self) -> SourceServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # quiet test output
                pass

            def do_GET(self) -> None:
                path = unquote(urlsplit(self.path).path)
                if not path.startswith(PREFIX + "/") or ".." in path.split("/"):
                    self.send_error(400)
                    return
                path = path[len(PREFIX) :]
                server.requests.append((path, self.headers.get("Range")))
                server.accepted_encodings.append(self.headers.get("Accept-Encoding"))
                if path in server.redirect:
                    self.send_response(302)
                    self.send_header("Location", PREFIX + server.redirect[path])
                    self.end_headers()
                    return
                if server.fail.get(path):
                    self.send_error(server.fail[path].pop(0))
                    return
                file = server.root / path.lstrip("/")
                if not file.is_file():
                    self.send_error(404)
                    return
                data = file.read_bytes()
                if path in server.gzip:
                    data = gzip.compress(data, mtime=0)
                etag = server.etag.get(path, f'"{hashlib.md5(data).hexdigest()}"')
                start = 0
                match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
                if_range = self.headers.get("If-Range")
                if match and if_range is not None and if_range != etag and path not in server.ignore_if_range:
                    match = None  # RFC 9110: the file changed since; send all of it
                if match:
                    start = server.misplaced.pop(path, int(match.group(1)))
                    if start >= len(data):
                        self.send_error(416)
                        return
                    end = min(len(data), start + server.short.pop(path, len(data)))
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{end - 1}/{len(data)}")
                else:
                    end = len(data)
                    self.send_response(200)
                self.send_header("Content-Length", str(end - start))
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("ETag", etag)
                if path in server.gzip or path in server.coding:
                    self.send_header("Content-Encoding", server.coding.get(path, "gzip"))
                self.end_headers()
                body = data[start:end]
                time.sleep(server.delay.get(path, 0.0))
                if path in server.cut:
                    self.wfile.write(body[: server.cut.pop(path)])
                    self.wfile.flush()
                    if server.after_cut is not None:
                        server.after_cut(path)
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                self.wfile.write(body)

        return Handler


@pytest.fixture
def source_server(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[SourceServer]:
    with SourceServer(tmp_path_factory.mktemp("sources")) as server:
        monkeypatch.setenv("SIMSIAM_ZOO_SOURCE_MIRROR", server.url)
        yield server
