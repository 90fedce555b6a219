"""Tests for ``rpslib.download``: tiny archives served from 127.0.0.1, never the internet."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import socket
import stat
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from rpslib import download
from rpslib.download import (
    MARKER_NAME,
    Archive,
    ChecksumError,
    DownloadError,
    download_rps,
    is_complete,
    sha256_of,
)

CLASSES = ("paper", "rock", "scissors")
FOLDERS = {"train": "rps", "test": "rps-test-set"}
FILENAMES = {"train": "rps.zip", "test": "rps-test-set.zip"}


# --------------------------------------------------------------------------- a local server


@dataclass
class Route:
    """What the server answers for one path: a body, and the Content-Length it announces."""

    body: bytes
    length: int | None = None  # the Content-Length to announce; None: the true length
    announce: bool = True  # False: send no Content-Length (the body ends when it closes)


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
              announce: bool = True) -> None:
        self.routes[f"/data/{filename}"] = Route(body, length, announce)


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
        self.wfile.write(route.body)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet."""


@pytest.fixture
def server() -> Iterator[Server]:
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


@pytest.fixture(autouse=True)
def no_internet(monkeypatch: pytest.MonkeyPatch) -> None:
    """A test that forgets ``base_url`` hits a closed local port, never the real server."""
    monkeypatch.setattr(download, "DEFAULT_BASE_URL", "http://127.0.0.1:9/")


# --------------------------------------------------------------------------- tiny archives


@pytest.fixture(scope="module")
def png() -> bytes:
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


@pytest.fixture
def archives(tmp_path: Path, png: bytes, monkeypatch: pytest.MonkeyPatch) -> dict[str, bytes]:
    """Two tiny archives; ``ARCHIVES`` is patched to their sizes and sha256s. Name -> bytes."""
    return use_archives(tmp_path, png, monkeypatch)


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
    for name, body in bodies.items():
        server.serve(FILENAMES[name], body)


def put_on_disk(root: Path, bodies: dict[str, bytes]) -> None:
    (root / "archives").mkdir(parents=True, exist_ok=True)
    for name, body in bodies.items():
        (root / "archives" / FILENAMES[name]).write_bytes(body)


def tampered(body: bytes) -> bytes:
    """The same number of bytes, one of them changed."""
    middle = len(body) // 2
    return body[:middle] + bytes([body[middle] ^ 0xFF]) + body[middle + 1:]


def leftovers(root: Path) -> list[Path]:
    """Temporary downloads or extraction folders left behind."""
    if not root.exists():
        return []
    return [p for p in root.rglob("*") if ".part-" in p.name or p.name.startswith(".extract-")]


def assert_nothing_extracted(root: Path) -> None:
    assert not (root / "rps").exists()
    assert not (root / "rps-test-set").exists()
    assert not (root / MARKER_NAME).exists()
    assert leftovers(root) == []


# --------------------------------------------------------------------------- happy paths


def test_download_verifies_extracts_and_marks_complete(
        server: Server, archives: dict[str, bytes], tmp_path: Path,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    serve_all(server, archives)
    root = tmp_path / "data"

    train, test = download_rps(root, base_url=server.base_url, progress=False)

    assert (train, test) == (root / "rps", root / "rps-test-set")
    for folder in (train, test):
        pngs = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.png"))
        assert pngs == [f"{c}/{c}{i}.png" for c in CLASSES for i in range(2)]
    for name, body in archives.items():
        assert (root / "archives" / FILENAMES[name]).read_bytes() == body
    marker = json.loads((root / MARKER_NAME).read_text())
    assert marker["archives"]["train"]["sha256"] == hashlib.sha256(archives["train"]).hexdigest()
    assert is_complete(root)
    assert leftovers(root) == []
    assert sorted(server.requests) == ["/data/rps-test-set.zip", "/data/rps.zip"]
    assert capsys.readouterr().out == ""  # progress=False

    def no_hashing(path: object, chunk_size: int = 0) -> str:
        raise AssertionError(f"a complete download was hashed again: {path}")

    monkeypatch.setattr(download, "sha256_of", no_hashing)
    assert download_rps(root, base_url=server.base_url) == (train, test)
    assert len(server.requests) == 2  # complete: no second download, and no re-hashing


def test_progress_bar_counts_bytes(server: Server, archives: dict[str, bytes], tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    serve_all(server, archives)
    download_rps(tmp_path / "data", base_url=server.base_url, progress=True)
    out = capsys.readouterr().out
    assert "rps.zip" in out and "100%" in out


def test_archives_already_on_disk_are_used_without_network(
        server: Server, archives: dict[str, bytes], tmp_path: Path) -> None:
    root = tmp_path / "data"
    put_on_disk(root, archives)
    download_rps(root, base_url=server.base_url, progress=False)
    assert is_complete(root)
    assert server.requests == []


def test_unfinished_folder_without_marker_is_replaced(
        server: Server, archives: dict[str, bytes], tmp_path: Path) -> None:
    root = tmp_path / "data"
    (root / "rps" / "rock").mkdir(parents=True)
    (root / "rps" / "rock" / "half-written.png").write_bytes(b"junk")
    serve_all(server, archives)
    download_rps(root, base_url=server.base_url, progress=False)
    assert not (root / "rps" / "rock" / "half-written.png").exists()
    assert (root / "rps" / "rock" / "rock0.png").exists()
    assert leftovers(root) == []


def test_macosx_entries_are_skipped(server: Server, png: bytes, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    bodies = use_archives(tmp_path, png, monkeypatch,
                          extra=(("__MACOSX/rps/rock/._rock0.png", b"resource fork"),))
    serve_all(server, bodies)
    root = tmp_path / "data"
    download_rps(root, base_url=server.base_url, progress=False)
    assert is_complete(root)
    assert not list(root.rglob("*MACOSX*"))


def test_is_complete_needs_marker_folders_and_current_checksums(
        server: Server, archives: dict[str, bytes], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "data"
    assert not is_complete(root)
    serve_all(server, archives)
    download_rps(root, base_url=server.base_url, progress=False)
    assert is_complete(root)

    newer = dict(download.ARCHIVES, train=replace(download.ARCHIVES["train"], sha256="0" * 64))
    monkeypatch.setattr(download, "ARCHIVES", newer)
    assert not is_complete(root)  # the marker is for other archives
    monkeypatch.undo()

    shutil.rmtree(root / "rps-test-set")
    assert not is_complete(root)
    (root / MARKER_NAME).write_text("{not json")
    assert not is_complete(root)


def test_sha256_of_matches_hashlib(tmp_path: Path) -> None:
    path = tmp_path / "blob"
    path.write_bytes(bytes(range(256)) * 3)
    assert sha256_of(path, chunk_size=7) == hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------- checksums


def test_tampered_download_raises_checksum_error_and_leaves_nothing(
        server: Server, archives: dict[str, bytes], tmp_path: Path) -> None:
    server.serve("rps.zip", tampered(archives["train"]))
    server.serve("rps-test-set.zip", archives["test"])
    root = tmp_path / "data"

    with pytest.raises(ChecksumError, match="sha256") as caught:
        download_rps(root, base_url=server.base_url, progress=False)

    assert "base_url" in str(caught.value)  # says what to do
    assert not (root / "archives" / "rps.zip").exists()
    assert_nothing_extracted(root)


def test_tampered_archive_on_disk_is_checked_not_trusted(
        server: Server, archives: dict[str, bytes], tmp_path: Path) -> None:
    root = tmp_path / "data"
    put_on_disk(root, {"train": tampered(archives["train"]), "test": archives["test"]})

    with pytest.raises(ChecksumError, match="sha256") as caught:
        download_rps(root, base_url=server.base_url, progress=False)

    assert "delete it" in str(caught.value)
    assert server.requests == []
    assert_nothing_extracted(root)


# --------------------------------------------------------------------------- unsafe archives


def symlink_member() -> zipfile.ZipInfo:
    member = zipfile.ZipInfo("rps/rock/link.png")
    member.external_attr = (stat.S_IFLNK | 0o777) << 16
    return member


@pytest.mark.parametrize("member, problem", [
    ("../evil.png", "'..'"),
    ("rps/../../evil.png", "'..'"),
    ("ABSOLUTE", "absolute"),
    (symlink_member(), "symbolic link"),
    ("rps\\..\\..\\evil.png", "backslash"),
    ("C:/evil.png", "drive letter"),
    ("elsewhere/evil.png", "outside"),
], ids=["dotdot", "nested-dotdot", "absolute", "symlink", "backslash", "drive", "outside"])
def test_unsafe_member_is_refused_before_anything_is_written(
        member: zipfile.ZipInfo | str, problem: str, png: bytes, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    if member == "ABSOLUTE":
        member = str(tmp_path / "evil.png")
    name = member.filename if isinstance(member, zipfile.ZipInfo) else member
    # The unsafe member comes last, after six good ones: checking must precede writing.
    bodies = use_archives(tmp_path, png, monkeypatch, extra=((member, b"/etc/passwd"),))
    root = tmp_path / "data"
    put_on_disk(root, bodies)

    with pytest.raises(DownloadError, match=problem) as caught:
        download_rps(root, base_url=download.DEFAULT_BASE_URL, progress=False)

    assert repr(name) in str(caught.value)
    assert list(tmp_path.rglob("evil*")) == [] and list(tmp_path.rglob("link*")) == []
    assert sorted(p.name for p in root.iterdir()) == [".lock", "archives"]
    assert_nothing_extracted(root)


# --------------------------------------------------------------------------- network failures


def test_silent_server_times_out_with_a_helpful_message(archives: dict[str, bytes],
                                                        tmp_path: Path) -> None:
    root = tmp_path / "data"
    with socket.socket() as silent:  # accepts connections (the kernel does), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/data/"
        # If the timeout were ignored, the test would hang: after 5 s the watchdog closes the
        # socket instead, the client sees a reset rather than a timeout, and the test fails.
        watchdog = threading.Timer(5.0, silent.close)
        watchdog.start()
        try:
            with pytest.raises(DownloadError) as caught:
                download_rps(root, base_url=url, timeout=0.5, progress=False)
        finally:
            watchdog.cancel()

    message = str(caught.value)
    assert "within 0.5 s (timed out)" in message and "no network" in message
    assert "synthetic" in message and "base_url" in message
    assert not isinstance(caught.value, ChecksumError)
    assert_nothing_extracted(root)
    assert not (root / "archives" / "rps.zip").exists()


def test_refused_connection_raises_download_error(archives: dict[str, bytes],
                                                  tmp_path: Path) -> None:
    with socket.socket() as closed:  # bound, not listening: connections are refused
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}/data/"
        with pytest.raises(DownloadError, match="could not reach"):
            download_rps(tmp_path / "data", base_url=url, timeout=0.5, progress=False)
    assert_nothing_extracted(tmp_path / "data")


@pytest.mark.parametrize("answer, message", [
    ("missing", "HTTP 404"),
    ("short", "announces"),
    ("cut", "stopped after"),
    ("longer", "announces"),
    ("longer-unannounced", "overran"),
    ("short-unannounced", "stopped after"),
])
def test_bad_answer_raises_and_leaves_nothing(answer: str, message: str, server: Server,
                                              archives: dict[str, bytes],
                                              tmp_path: Path) -> None:
    body = archives["train"]
    if answer == "short":  # the server is honest about a shorter file
        server.serve("rps.zip", body[:-100])
    elif answer == "cut":  # the connection drops half-way through
        server.serve("rps.zip", body[: len(body) // 2], length=len(body))
    elif answer == "longer":
        server.serve("rps.zip", body + b"trailing junk")
    elif answer == "longer-unannounced":
        server.serve("rps.zip", body + b"trailing junk", announce=False)
    elif answer == "short-unannounced":
        server.serve("rps.zip", body[:-100], announce=False)
    server.serve("rps-test-set.zip", archives["test"])
    root = tmp_path / "data"

    with pytest.raises(DownloadError, match=message):
        download_rps(root, base_url=server.base_url, progress=False)

    assert not (root / "archives" / "rps.zip").exists()
    assert_nothing_extracted(root)

