"""Tests for ``rpslib.data.download``: tiny archives served from 127.0.0.1, never the internet."""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import io
import json
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rpslib.data import download
from rpslib.data.download import (
    MARKER_NAME,
    ChecksumError,
    DownloadError,
    download_rps,
    is_complete,
    sha256_of,
)
from rpslib.data.folders import NotEnoughSpaceError, locked
from tests.local_archives import (
    CLASSES,
    FILENAMES,
    Server,
    leftovers,
    serve_all,
    ssl_failing_urlopen,
    use_archives,
)

# A test that forgets ``base_url`` hits a closed local port, never the real server. The
# fixtures ``offline``, ``server``, ``png`` and ``archives`` are tests/conftest.py's.
pytestmark = pytest.mark.usefixtures("offline")

# --------------------------------------------------------------------------- helpers


def put_on_disk(root: Path, bodies: dict[str, bytes]) -> None:
    (root / "archives").mkdir(parents=True, exist_ok=True)
    for name, body in bodies.items():
        (root / "archives" / FILENAMES[name]).write_bytes(body)


def tampered(body: bytes) -> bytes:
    """The same number of bytes, one of them changed."""
    middle = len(body) // 2
    return body[:middle] + bytes([body[middle] ^ 0xFF]) + body[middle + 1:]


def assert_nothing_extracted(root: Path) -> None:
    assert not (root / "rps").exists()
    assert not (root / "rps-test-set").exists()
    assert not (root / MARKER_NAME).exists()
    assert leftovers(root) == []


def test_every_test_here_downloads_from_a_closed_local_port_unless_told() -> None:
    assert download.DEFAULT_BASE_URL == "http://127.0.0.1:9/"  # pytestmark's ``offline``


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



def test_an_ssl_error_mid_download_is_a_download_error(
        archives: dict[str, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ssl.SSLError is an OSError, not a ConnectionError: it must not escape (auto falls back)."""
    monkeypatch.setattr(urllib.request, "urlopen", ssl_failing_urlopen)
    root = tmp_path / "data"
    with pytest.raises(DownloadError, match="interrupted") as caught:
        download_rps(root, base_url="https://mirror.invalid/data/", progress=False)
    assert "bad record mac" in str(caught.value)
    assert not (root / "archives" / "rps.zip").exists()
    assert_nothing_extracted(root)


# --------------------------------------------------------------------------- a full disk


def noise_png(pixels: int = 160) -> bytes:
    """A PNG of random noise: it does not compress, so archives of it fill a disk."""
    buffer = io.BytesIO()
    noise = np.random.default_rng(0).integers(0, 256, (pixels, pixels, 3), dtype=np.uint8)
    Image.fromarray(noise).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("stage", ["download", "extract"])
def test_a_full_disk_names_the_folder_and_the_space_and_leaves_nothing(
        stage: str, server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        small_disk: Callable[[Path, int], None]) -> None:
    bodies = use_archives(tmp_path, noise_png(), monkeypatch)  # about 460 KB each
    serve_all(server, bodies)
    root = tmp_path / "data"
    archives_kib = sum(len(b) for b in bodies.values()) // 1024
    small_disk(root, 128 if stage == "download" else archives_kib + 64)

    with pytest.raises(NotEnoughSpaceError) as caught:
        download_rps(root, base_url=server.base_url, progress=False)

    message = str(caught.value)
    assert str(root) in message and "MB" in message and "RPSLIB_DATA" in message
    assert_nothing_extracted(root)
    if stage == "download":
        assert list((root / "archives").iterdir()) == []
    else:  # the verified archives stay: the next run, with more space, needs no network
        assert sorted(p.name for p in (root / "archives").iterdir()) == sorted(FILENAMES.values())


@pytest.mark.parametrize("stage", ["download", "extract"])
def test_a_full_disk_without_tmpfs(stage: str, server: Server, archives: dict[str, bytes],
                                   tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same, where ``mount`` is not allowed: the write itself raises ``Errno 28``."""
    def disk_full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    if stage == "download":
        monkeypatch.setattr(download, "_stream", disk_full)
    else:
        monkeypatch.setattr(zipfile.ZipFile, "extract", disk_full)
    serve_all(server, archives)
    root = tmp_path / "data"
    with pytest.raises(NotEnoughSpaceError, match="not enough space") as caught:
        download_rps(root, base_url=server.base_url, progress=False)
    assert str(root) in str(caught.value) and "MB" in str(caught.value)
    assert_nothing_extracted(root)


# --------------------------------------------------------------------------- killed runs


# Runs download_rps in a process the test kills. It loads rpslib.data.download without the
# packages' __init__ (which import torch, 4 s), and uses the test's tiny ARCHIVES.
KILLABLE = """
import json, sys, types
for name, path in (("rpslib", sys.argv[1]), ("rpslib.data", sys.argv[1] + "/data")):
    package = types.ModuleType(name)
    package.__path__ = [path]
    sys.modules[name] = package
from rpslib.data import download
download.ARCHIVES = {name: download.Archive(**fields)
                     for name, fields in json.loads(sys.argv[2]).items()}
download.download_rps(sys.argv[3], base_url=sys.argv[4], progress=False)
"""


def wait_for(condition: Callable[[], bool], what: str, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def test_a_killed_download_leaves_nothing_for_the_next_run(
        server: Server, archives: dict[str, bytes], tmp_path: Path) -> None:
    root = tmp_path / "data"
    stall = threading.Event()
    server.serve(FILENAMES["train"], archives["train"], stall=stall)  # hangs half-way
    fields = {name: dataclasses.asdict(a) for name, a in download.ARCHIVES.items()}
    package = str(Path(download.__file__).parent.parent)  # rpslib/
    killed = subprocess.Popen([sys.executable, "-c", KILLABLE, package, json.dumps(fields),
                               str(root), server.base_url])
    try:
        wait_for(lambda: bool(list(root.glob("archives/rps.zip.part-*"))), "the download")
        # a killed extraction leaves its folder too: pretend one happened before
        (root / ".extract-killed" / "rps" / "rock").mkdir(parents=True)
    finally:
        killed.send_signal(signal.SIGKILL)
        killed.wait()
        stall.set()
    assert leftovers(root), "the killed run left its temporary files"

    serve_all(server, archives)
    download_rps(root, base_url=server.base_url, progress=False)

    assert is_complete(root)
    assert leftovers(root) == []


def test_a_second_process_says_what_it_waits_for_and_keeps_the_first_ones_files(
        server: Server, archives: dict[str, bytes], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "data"
    serve_all(server, archives)
    live = root / "archives" / "rps.zip.part-live"
    printed: list[str] = []
    with locked(root):  # the first process, busy downloading
        live.parent.mkdir(parents=True)
        live.write_bytes(b"half")
        second = threading.Thread(target=download_rps, args=(root,),
                                  kwargs={"base_url": server.base_url, "progress": False})
        second.start()
        wait_for(lambda: bool(printed.append(capsys.readouterr().out) or "waiting"
                              in "".join(printed)), "the waiting line")
        time.sleep(0.05)
        assert live.exists(), "the waiting process deleted a live download"
    second.join(10)
    out = "".join(printed) + capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith("waiting for another process")
    assert str(root) in out
    assert is_complete(root) and leftovers(root) == []
