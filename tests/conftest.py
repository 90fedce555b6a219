"""Shared fixtures: a tiny generated dataset, a data root that is never the user's, tiny
archives on a local server, and the chapters' exercise cells."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib
import nbformat
import pytest

from tools.book import chapters
from tools.student_notebooks import defined_functions, tags

if TYPE_CHECKING:
    from tests.local_archives import Server

matplotlib.use("Agg")

TINY = {"rps": 4, "rps-test-set": 2}
# the reader's own data root, read before any test points RPSLIB_DATA elsewhere
_ORIGINAL_DATA = os.environ.get("RPSLIB_DATA")


@pytest.fixture(autouse=True)
def isolated_data_root(tmp_path_factory: pytest.TempPathFactory,
                       monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point RPSLIB_DATA at an empty folder, so no test reads or writes the reader's data."""
    root = tmp_path_factory.mktemp("rpslib-data")
    monkeypatch.setenv("RPSLIB_DATA", str(root))
    monkeypatch.setenv("RPSLIB_PROGRESS", "0")
    yield root


@pytest.fixture(scope="session")
def tiny_rps(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A stand-in with 4 training and 2 test images per class (drawn once per session)."""
    from rpslib.data.stand_in import generate_rps

    root = tmp_path_factory.mktemp("tiny-rps")
    return generate_rps(root, workers=1, progress_bar=False, counts=TINY)


@pytest.fixture(scope="session")
def full_stand_in() -> tuple[Path, Path]:
    """The full-size stand-in in the reader's data root (``$RPSLIB_DATA`` or the default),
    drawn once and reused by later runs, as the chapters do."""
    from rpslib.data import get_rps

    with pytest.MonkeyPatch.context() as mp:
        if _ORIGINAL_DATA is None:
            mp.delenv("RPSLIB_DATA", raising=False)
        else:
            mp.setenv("RPSLIB_DATA", _ORIGINAL_DATA)
        train, test, source = get_rps(source="synthetic")
    assert source == "synthetic"
    return train, test


# --- tiny archives on a local server (tests/local_archives.py): never the internet -------


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Point the download at a closed local port: the connection is refused at once, and a
    test that forgets ``base_url`` never reaches the real server."""
    from rpslib.data import download

    monkeypatch.setattr(download, "DEFAULT_BASE_URL", "http://127.0.0.1:9/")


@pytest.fixture
def server() -> Iterator[Server]:
    """A local HTTP server on 127.0.0.1 (it serves nothing until told), shut down after."""
    from tests.local_archives import running

    with running() as httpd:
        yield httpd


@pytest.fixture(scope="session")
def png() -> bytes:
    """The small PNG the tiny archives are made of."""
    from tests.local_archives import tiny_png

    return tiny_png()


@pytest.fixture
def archives(tmp_path: Path, png: bytes, monkeypatch: pytest.MonkeyPatch) -> dict[str, bytes]:
    """Two tiny archives; ``ARCHIVES`` is patched to their sizes and sha256s. Name -> bytes."""
    from tests.local_archives import use_archives

    return use_archives(tmp_path, png, monkeypatch)


# --- a read-only folder and a small disk, as a classroom meets them ---------------------


def _run(*command: str) -> bool:
    """Run a command quietly; whether it succeeded."""
    return subprocess.run(command, capture_output=True).returncode == 0


def _unmount(path: Path) -> None:
    if not _run("umount", str(path)):
        _run("umount", "--lazy", str(path))


@pytest.fixture
def read_only() -> Iterator[Callable[[Path], None]]:
    """``read_only(folder)`` makes ``folder`` read-only until the test ends.

    Root ignores permissions (and the tests often run as root), so as root the folder becomes
    a read-only bind mount of itself; otherwise its files lose their write permission. Skips
    the test where neither works.
    """
    mounted: list[Path] = []
    chmodded: list[tuple[Path, int]] = []

    def make_read_only(folder: Path) -> None:
        if os.geteuid() != 0:
            for path in [folder, *folder.rglob("*")]:
                chmodded.append((path, path.stat().st_mode))
                path.chmod(path.stat().st_mode & ~0o222)
            return
        if not _run("mount", "--bind", str(folder), str(folder)):
            pytest.skip("a read-only folder needs `mount --bind` as root (CI has it)")
        mounted.append(folder)
        if not _run("mount", "-o", "remount,bind,ro", str(folder)):
            pytest.skip("a read-only folder needs `mount -o remount,bind,ro` (CI has it)")

    try:
        yield make_read_only
    finally:
        for folder in reversed(mounted):
            _unmount(folder)
        for path, mode in reversed(chmodded):
            path.chmod(mode)


@pytest.fixture
def small_disk() -> Iterator[Callable[[Path, int], None]]:
    """``small_disk(folder, kib)`` mounts an empty ``kib`` KiB tmpfs on ``folder`` (a full disk).

    Needs root and ``mount`` (CI runs as root); skips the test otherwise.
    """
    mounted: list[Path] = []

    def mount(folder: Path, kib: int) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() != 0 or not _run("mount", "-t", "tmpfs", "-o", f"size={kib}k",
                                          "tmpfs", str(folder)):
            pytest.skip("a small disk needs root and `mount -t tmpfs` (CI has both)")
        mounted.append(folder)

    try:
        yield mount
    finally:
        for folder in reversed(mounted):
            _unmount(folder)


# --- the chapters' exercises, as the notebooks hold them ----------------------------------


@dataclass(frozen=True)
class ExerciseCells:
    """One exercise of a chapter: its stub, check and solution cells (their sources)."""

    chapter: str  # the notebook's stem, 07_momentum
    name: str  # the function the stub defines
    stub: str
    check: str
    solution: str

    @property
    def definition(self) -> str:
        """The solution's definition only: without its title comment and final check call."""
        return "\n".join(line for line in self.solution.splitlines()
                         if not line.startswith(("# @title", "check_"))).strip()


def exercise_cells(paths: Iterable[Path] | None = None) -> list[ExerciseCells]:
    """Every exercise of the chapters ``paths`` (default: all of ``_toc.yml``), in order: the
    cells tagged ``exercise``, ``exercise-check`` and ``solution``, paired in their order."""
    found = []
    for path in chapters() if paths is None else paths:
        cells = nbformat.read(path, as_version=4).cells
        stubs, checks, solutions = ([c.source for c in cells if tag in tags(c)]
                                    for tag in ("exercise", "exercise-check", "solution"))
        for stub, check, solution in zip(stubs, checks, solutions, strict=True):
            name = defined_functions(stub)[0]
            found.append(ExerciseCells(path.stem, name, stub, check, solution))
    return found
