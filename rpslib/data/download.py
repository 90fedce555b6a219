"""Download the real Rock, Paper, Scissors images, checked and never half-done.

The dataset (Laurence Moroney's CGI hands, CC BY 2.0) comes as two zip archives. This module
downloads them, checks their size and sha256, and extracts them safely:

- a download streams into a temporary name (``rps.zip.part-<random>``) and takes its final
  name only after its size and sha256 are right, so an interrupted or corrupt download never
  looks finished;
- an archive already on disk is hashed again before it is used (a file that exists is not
  a file that is right);
- every member of an archive is checked *before* anything is written (no absolute paths, no
  ``..``, no symbolic links, nothing outside the expected folder), then the archive is
  extracted into a temporary folder and moved into place in one step;
- when both folders are in place, a marker (``.rps-complete.json``) records the checked
  sha256s, so later calls return at once without hashing 230 MB again, and without writing
  anything (a read-only copy works);
- the temporary files of a killed run are removed by the next one (under the folder lock, so
  never those of a run still going); a full disk raises ``NotEnoughSpaceError``, naming the
  folder and the space needed (about twice the archives: they and their images).

Without a network, use the generated dataset instead (``rpslib.data.generate_rps`` or
``get_rps(source="synthetic")``). A classroom can serve the archives from its own mirror
(``base_url=``) or copy them into ``root/archives/`` beforehand: they are verified all the same.
Nothing here runs at import.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import ssl
import stat
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from http.client import HTTPException, HTTPResponse
from pathlib import Path, PurePosixPath
from types import MappingProxyType
from typing import BinaryIO

from rpslib.data.folders import is_disk_full, locked, not_enough_space, remove_leftovers
from rpslib.progress import progress as progress_bar

__all__ = [
    "ARCHIVES",
    "DEFAULT_BASE_URL",
    "MARKER_NAME",
    "Archive",
    "ChecksumError",
    "DownloadError",
    "download_rps",
    "fetch",
    "is_complete",
    "safe_extract",
    "sha256_of",
]

#: Where the real archives are downloaded from, unless ``base_url`` names a mirror.
DEFAULT_BASE_URL = "https://storage.googleapis.com/download.tensorflow.org/data/"
ARCHIVE_DIR = "archives"
#: The file, in the data folder, that says the set is complete and verified.
MARKER_NAME = ".rps-complete.json"
CHUNK_SIZE = 1 << 20  # bytes read (and hashed) at a time
_OFFLINE_HINT = (
    "no network? Check the connection, pass base_url= to use a mirror, or work offline with "
    'the generated dataset: rpslib.data.generate_rps or get_rps(source="synthetic")'
)
_DRIVE = re.compile(r"^[A-Za-z]:")


@dataclass(frozen=True)
class Archive:
    """One zip archive of the dataset: its file name, size in bytes, sha256 and top folder."""

    filename: str
    size: int
    sha256: str
    folder: str


#: The dataset's two archives, ``"train"`` and ``"test"``, with their sizes and sha256.
#:
#: :meta hide-value:
ARCHIVES: Mapping[str, Archive] = MappingProxyType({
    "train": Archive(
        filename="rps.zip",
        size=200_682_221,
        sha256="c2403444395842ad04c53612bad54b574443eae17a0723117a2ff87b9d72194f",
        folder="rps",
    ),
    "test": Archive(
        filename="rps-test-set.zip",
        size=29_516_758,
        sha256="c27ab9fa43ce40b2e453de711365b477f4424586edf0388116674fd320f07503",
        folder="rps-test-set",
    ),
})


class DownloadError(RuntimeError):
    """The dataset could not be downloaded or extracted; the message says what to do."""


class ChecksumError(DownloadError):
    """An archive's sha256 is not the expected one."""


# --------------------------------------------------------------------------- the entry point


def download_rps(root: str | os.PathLike[str], base_url: str | None = None,
                 timeout: float = 30.0, progress: bool | None = None) -> tuple[Path, Path]:
    """Download, verify and extract the Rock, Paper, Scissors images under ``root``.

    Makes ``root/rps/{paper,rock,scissors}/*.png`` (2,520 training images) and
    ``root/rps-test-set/{paper,rock,scissors}/*.png`` (372 test images), keeping the archives
    in ``root/archives/``. Once done (see ``is_complete``), a call returns at once.

    Args:
        root: the data folder; created if missing.
        base_url: where the archives are served; ``None`` means ``DEFAULT_BASE_URL``. A
            classroom mirror must serve the official archives (they are checked by sha256).
        timeout: seconds to wait for the connection and for each read.
        progress: ``False`` hides the download bars; ``None`` follows ``RPSLIB_PROGRESS``.

    Returns:
        ``(train_folder, test_folder)``, i.e. ``root/rps`` and ``root/rps-test-set``.

    Raises:
        DownloadError: the server could not be reached, answered an error, sent too few
            bytes, the connection broke, or an archive holds an unsafe member.
        ChecksumError: an archive's sha256 is wrong (downloaded or already on disk).
        NotEnoughSpaceError: the disk filled up (verified archives are kept, nothing else).
        FolderNotWritableError: ``root`` is read-only and the set there is not complete.
    """
    if timeout <= 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    root = Path(root).expanduser()
    folders = (root / ARCHIVES["train"].folder, root / ARCHIVES["test"].folder)
    if is_complete(root):
        return folders
    with locked(root, "downloading the real images"):  # a second kernel waits here
        if is_complete(root):
            return folders
        (root / MARKER_NAME).unlink(missing_ok=True)  # nothing counts as done until we say so
        remove_leftovers(root, ".extract-*", f"{MARKER_NAME}.part-*")  # of a killed run
        remove_leftovers(root / ARCHIVE_DIR, "*.part-*")
        base = DEFAULT_BASE_URL if base_url is None else base_url
        try:
            zips = {name: _ensure_archive(root / ARCHIVE_DIR, archive, base, timeout, progress)
                    for name, archive in ARCHIVES.items()}
            for name, archive in ARCHIVES.items():
                safe_extract(zips[name], root, archive.folder)
            _write_marker(root)
        except OSError as err:
            if not is_disk_full(err):
                raise
            needed = 2 * sum(a.size for a in ARCHIVES.values())  # archives, then their images
            raise not_enough_space(root, needed, "the real images") from err
    return folders


def is_complete(root: str | os.PathLike[str]) -> bool:
    """Whether ``root`` holds a verified, fully extracted download of the current ``ARCHIVES``.

    True when the marker ``root/.rps-complete.json`` exists, records the same archives and
    sha256s as ``ARCHIVES``, and every extracted folder exists. Cheap: it hashes nothing.
    """
    root = Path(root)
    try:
        recorded = json.loads((root / MARKER_NAME).read_text(encoding="utf-8"))["archives"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return recorded == _marker_record() and all(
        (root / archive.folder).is_dir() for archive in ARCHIVES.values())


def _write_marker(root: Path) -> Path:
    """Write the completion marker for the current ``ARCHIVES`` (atomically) and return it."""
    marker = root / MARKER_NAME
    tmp = marker.with_name(f"{marker.name}.part-{secrets.token_hex(4)}")
    try:
        tmp.write_text(json.dumps({"archives": _marker_record()}, indent=2), encoding="utf-8")
        os.replace(tmp, marker)
    finally:
        tmp.unlink(missing_ok=True)
    return marker


def _marker_record() -> dict[str, dict[str, str]]:
    """What the marker records: each archive's file name, sha256 and folder."""
    return {name: {"filename": a.filename, "sha256": a.sha256, "folder": a.folder}
            for name, a in ARCHIVES.items()}


# --------------------------------------------------------------------------- archives


def _ensure_archive(folder: Path, archive: Archive, base_url: str, timeout: float,
                    progress: bool | None) -> Path:
    """Return ``folder/archive.filename``, verified: hash it if present, else download it."""
    path = folder / archive.filename
    if path.exists():
        _verify_archive(path, archive)
        return path
    url = base_url.rstrip("/") + "/" + archive.filename
    return fetch(url, path, size=archive.size, sha256=archive.sha256, timeout=timeout,
                 progress=progress)


def _verify_archive(path: Path, archive: Archive) -> None:
    """Raise ``ChecksumError`` unless the file at ``path`` has ``archive.sha256``."""
    got = sha256_of(path)
    if got != archive.sha256:
        raise ChecksumError(
            f"sha256 mismatch for {path} (already on disk): expected {archive.sha256}, got "
            f"{got} ({path.stat().st_size:,} bytes, expected {archive.size:,}); the file was "
            f"kept. It is corrupt or not the official archive: delete it and run download_rps "
            f"again to download a fresh copy.")


def sha256_of(path: str | os.PathLike[str], chunk_size: int = CHUNK_SIZE) -> str:
    """The sha256 of a file as a hex string, read in chunks (constant memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


# --------------------------------------------------------------------------- downloading


def fetch(url: str, dest: str | os.PathLike[str], *, size: int, sha256: str,
          timeout: float = 30.0, progress: bool | None = None) -> Path:
    """Download ``url`` to ``dest``, which appears only once its size and sha256 are right.

    The bytes go to ``dest.part-<random>`` in the same folder, then ``os.replace`` gives them
    the final name; on any error (including Ctrl-C) the temporary file is removed.

    Args:
        url: what to download.
        dest: the final path; its folder is created if missing.
        size: the expected number of bytes.
        sha256: the expected sha256 (hex).
        timeout: seconds to wait for the connection and for each read.
        progress: ``False`` hides the bar; ``None`` follows ``RPSLIB_PROGRESS``.

    Raises:
        DownloadError: unreachable server, HTTP error, or a wrong number of bytes.
        ChecksumError: the bytes arrived but their sha256 is wrong.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f"{dest.name}.part-{secrets.token_hex(4)}")
    try:
        with open(tmp, "xb") as out:
            got = _download(url, out, size=size, timeout=timeout, progress=progress)
        if got != sha256:
            raise ChecksumError(
                f"sha256 mismatch for {dest.name} downloaded from {url}: expected {sha256}, "
                f"got {got}; the download was deleted. Run download_rps again; if you use a "
                f"mirror (base_url=...), check that it serves the official archive.")
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def _download(url: str, out: BinaryIO, *, size: int, timeout: float,
              progress: bool | None) -> str:
    """Stream ``url`` into ``out``, check the byte count, and return the sha256 (hex)."""
    name = url.rsplit("/", 1)[-1]
    try:
        response = urllib.request.urlopen(url, timeout=timeout)
    except urllib.error.HTTPError as err:
        err.close()
        raise DownloadError(
            f"could not download {name}: {url} answered HTTP {err.code} {err.reason}. Check "
            f"base_url: it must serve {name} (the default is {DEFAULT_BASE_URL}).") from err
    except urllib.error.URLError as err:
        raise DownloadError(_unreachable(url, timeout, err.reason)) from err
    except (TimeoutError, ConnectionError, ssl.SSLError, HTTPException) as err:
        raise DownloadError(_unreachable(url, timeout, err)) from err
    with response:
        _check_length(response, url, size)
        return _stream(response, out, size=size, name=name, progress=progress)


def _unreachable(url: str, timeout: float, reason: object) -> str:
    """The message for a server that did not answer (offline, refused, timed out)."""
    host = urllib.parse.urlsplit(url).netloc or url
    return (f"could not download {url}: could not reach the server {host} within "
            f"{timeout:g} s ({str(reason) or 'timed out'}); {_OFFLINE_HINT}.")


def _read(response: HTTPResponse, name: str, received: int) -> bytes:
    """The next chunk of the body; a ``DownloadError`` when the connection breaks."""
    try:
        return response.read(CHUNK_SIZE)
    except (OSError, HTTPException) as err:  # a timeout, a reset, an SSL error, ...
        raise DownloadError(
            f"the download of {name} was interrupted after {received:,} bytes ({err}); the "
            f"partial file was deleted. Run it again (a flaky connection?); "
            f"{_OFFLINE_HINT}.") from err


def _check_length(response: HTTPResponse, url: str, size: int) -> None:
    """Fail early when the server announces a size other than the expected one."""
    announced = response.headers.get("Content-Length")
    if announced is not None and announced.isdigit() and int(announced) != size:
        raise DownloadError(
            f"{url} announces {int(announced):,} bytes, expected {size:,}: it does not serve "
            f"the official archive. Check base_url (the default is {DEFAULT_BASE_URL}).")


def _stream(response: HTTPResponse, out: BinaryIO, *, size: int, name: str,
            progress: bool | None) -> str:
    """Copy the body to ``out`` in chunks (with a bar); return its sha256 if ``size`` bytes came."""
    digest = hashlib.sha256()
    received = 0
    disable = None if progress is None else not progress
    with progress_bar(total=size, desc=name, unit="B", unit_scale=True, unit_divisor=1024,
                      disable=disable) as bar:
        while chunk := _read(response, name, received):
            received += len(chunk)
            if received > size:
                break
            out.write(chunk)
            digest.update(chunk)
            bar.update(len(chunk))
    if received != size:
        raise DownloadError(
            f"download of {name} {'overran' if received > size else 'stopped'} after "
            f"{received:,} bytes, expected {size:,}; the partial file was deleted. Run "
            f"download_rps again (a flaky connection?); if it keeps happening, check base_url.")
    return digest.hexdigest()


# --------------------------------------------------------------------------- extracting


def safe_extract(zip_path: str | os.PathLike[str], target_root: str | os.PathLike[str],
                 folder: str) -> Path:
    """Extract the archive's top ``folder`` to ``target_root/folder``, all or nothing.

    Every member is checked before anything is written (no absolute path, drive letter,
    backslash, ``..`` or symbolic link, nothing outside ``folder/``); ``__MACOSX/`` entries are
    skipped. The archive is extracted into ``target_root/.extract-<random>``, then the folder
    replaces any previous ``target_root/folder`` in one ``os.replace``. On any error the
    temporary folder is removed, so a half-extracted folder never appears.

    Returns:
        ``target_root/folder``.

    Raises:
        DownloadError: an unsafe member (named in the message), or a damaged zip file.
    """
    zip_path, target_root = Path(zip_path), Path(target_root)
    target_root.mkdir(parents=True, exist_ok=True)
    try:
        with zipfile.ZipFile(zip_path) as archive:
            members = _safe_members(archive, folder, zip_path)
            scratch = Path(tempfile.mkdtemp(prefix=".extract-", dir=target_root))
            try:
                for member in members:
                    archive.extract(member, scratch)
                _move_into_place(scratch / folder, target_root / folder, scratch, zip_path)
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
    except zipfile.BadZipFile as err:
        raise DownloadError(
            f"{zip_path} is not a readable zip file ({err}); delete it and run download_rps "
            f"again.") from err
    return target_root / folder


def _safe_members(archive: zipfile.ZipFile, folder: str,
                  zip_path: Path) -> list[zipfile.ZipInfo]:
    """The members to extract (``__MACOSX/`` skipped); ``DownloadError`` on an unsafe one."""
    members = []
    for member in archive.infolist():
        if member.filename.startswith("__MACOSX/"):
            continue
        problem = _member_problem(member, folder)
        if problem is not None:
            raise DownloadError(
                f"refusing to extract {zip_path}: member {member.filename!r} {problem}; "
                f"nothing was extracted. The archive is unsafe or not the official one: "
                f"delete it and run download_rps again.")
        members.append(member)
    return members


def _member_problem(member: zipfile.ZipInfo, folder: str) -> str | None:
    """Why ``member`` must not be extracted under ``folder/``, or ``None`` when it is safe."""
    name = member.filename
    parts = PurePosixPath(name).parts
    if "\\" in name:
        return "contains a backslash"
    if name.startswith("/"):
        return "is an absolute path"
    if _DRIVE.match(name):
        return "starts with a drive letter"
    if ".." in parts:
        return "contains a '..' component"
    if stat.S_ISLNK(member.external_attr >> 16):
        return "is a symbolic link"
    if not parts or parts[0] != folder:
        return f"lies outside the expected top folder {folder}/"
    return None


def _move_into_place(extracted: Path, target: Path, scratch: Path, zip_path: Path) -> None:
    """Replace ``target`` by ``extracted``; a previous ``target`` goes into ``scratch``."""
    if not extracted.is_dir():
        raise DownloadError(
            f"{zip_path} holds no folder {extracted.name}/; delete it and run download_rps "
            f"again.")
    if target.exists() or target.is_symlink():
        os.replace(target, scratch / ".previous")  # an unfinished earlier attempt
    os.replace(extracted, target)
