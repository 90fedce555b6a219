"""Tiny dataset archives and a local HTTP server for them: downloads in tests never leave 127.0.0.1.

Shared by ``tests/test_download.py`` and ``tests/test_data.py``; not a test module itself.
"""

from __future__ import annotations

import hashlib
import io
import ssl
import threading
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from rpslib.data import download
from rpslib.data.download import Archive

CLASSES = ("paper", "rock", "scissors")
FOLDERS = {"train": "rps", "test": "rps-test-set"}
FILENAMES = {"train": "rps.zip", "test": "rps-test-set.zip"}


@dataclass
class Route:
    """What the server answers for one path: a body, and the Content-Length it announces."""

    body: bytes
    length: int | None = None  # the Content-Length to announce; None: the true length
    announce: bool = True  # False: send no Content-Length (the body ends when it closes)
    stall: threading.Event | None = None  # send half the body, then wait for this event


class Server(ThreadingHTTPServer):
    """A local HTTP server that records every request path."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.routes: dict[str, Route] = {}
        self.requests: list[str] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/data/"

    def serve(self, filename: str, body: bytes, length: int | None = None,
              announce: bool = True, stall: threading.Event | None = None) -> None:
        self.routes[f"/data/{filename}"] = Route(body, length, announce, stall)


class Handler(BaseHTTPRequestHandler):
    """Serves ``server.routes``; 404 for anything else."""

    server: Server

    def do_GET(self) -> None:  # the name http.server calls
        self.server.requests.append(self.path)
        route = self.server.routes.get(self.path)
        if route is None:
            self.send_error(404)
            return
        self.send_response(200)
        if route.announce:
            length = len(route.body) if route.length is None else route.length
            self.send_header("Content-Length", str(length))
        self.end_headers()
        if route.stall is None:
            self.wfile.write(route.body)
            return
        self.wfile.write(route.body[: len(route.body) // 2])
        self.wfile.flush()
        route.stall.wait(10)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet."""


@contextmanager
def running() -> Iterator[Server]:
    """A local server, shut down afterwards."""
    httpd = Server()
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01},
                              daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def tiny_png() -> bytes:
    """A 4x4 orange PNG."""
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 120, 40)).save(buffer, format="PNG")
    return buffer.getvalue()


def make_zip(path: Path, folder: str, png: bytes,
             extra: tuple[tuple[zipfile.ZipInfo | str, bytes], ...] = ()) -> Archive:
    """A zip with two PNGs per class under ``folder/``, plus ``extra`` members at the end."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        for label in CLASSES:
            for i in range(2):
                archive.writestr(f"{folder}/{label}/{label}{i}.png", png)
        for member, data in extra:
            archive.writestr(member, data)
    body = path.read_bytes()
    return Archive(path.name, len(body), hashlib.sha256(body).hexdigest(), folder)


def use_archives(tmp_path: Path, png: bytes, monkeypatch: pytest.MonkeyPatch,
                 extra: tuple[tuple[zipfile.ZipInfo | str, bytes], ...] = ()) -> dict[str, bytes]:
    """Build both archives (``extra`` members go into the train one) and patch ``ARCHIVES``."""
    made = {
        "train": make_zip(tmp_path / "src" / FILENAMES["train"], FOLDERS["train"], png, extra),
        "test": make_zip(tmp_path / "src" / FILENAMES["test"], FOLDERS["test"], png),
    }
    monkeypatch.setattr(download, "ARCHIVES", made)
    return {name: (tmp_path / "src" / a.filename).read_bytes() for name, a in made.items()}


def serve_all(server: Server, bodies: dict[str, bytes]) -> None:
    """Serve both archives as they are."""
    for name, body in bodies.items():
        server.serve(FILENAMES[name], body)


def leftovers(root: Path) -> list[Path]:
    """Temporary downloads, extraction folders, drawings or cache files left behind."""
    if not root.exists():
        return []
    return [p for p in root.rglob("*")
            if ".part-" in p.name or ".tmp-" in p.name
            or p.name.startswith((".extract-", ".generating-"))]


class SSLFailingResponse(io.BytesIO):
    """An HTTPS answer whose connection breaks after the first chunk, as flaky Wi-Fi does."""

    def __init__(self, size: int) -> None:
        super().__init__(b"x" * 10)
        self.headers = {"Content-Length": str(size)}

    def read(self, n: int | None = -1) -> bytes:
        if self.tell() == 0:
            return super().read(n)
        raise ssl.SSLError(1, "[SSL: DECRYPTION_FAILED_OR_BAD_RECORD_MAC] decryption failed "
                              "or bad record mac")


def ssl_failing_urlopen(url: str, timeout: float) -> SSLFailingResponse:
    name = url.rsplit("/", 1)[-1]
    size = next(a.size for a in download.ARCHIVES.values() if a.filename == name)
    return SSLFailingResponse(size)
