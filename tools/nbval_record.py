"""A pytest plugin for nbval: keep what each chapter printed and how long it ran.

    python -m pytest --nbval-lax --nbval-current-env -p tools.nbval_record book/

nbval runs every chapter top to bottom in a fresh kernel and fails on any error or failed
check. This plugin keeps that run's outputs, so that the website is built from them
(``tools/build_site.py``) instead of running every chapter a second time, and measures each
chapter (kernel start to kernel stop), for the budgets (``tools/chapter_times.py``) and the
status page. It writes, under ``_build/executed/``:

- ``book/<chapter>.ipynb``: the chapter with the outputs of this run, and the SHA-256 of the
  source it ran (``metadata.rps_executed.source_sha256``), so a stale copy is never published;
- ``timings.json``: ``{"book/<chapter>.ipynb": {"seconds": ..., "cells": ..., "passed": ...}}``
  plus the date and the library versions of the run.

A chapter that failed is recorded as failed, and its notebook is not written.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import platform
import time
from collections.abc import Generator
from importlib import metadata
from pathlib import Path
from typing import Any

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "_build" / "executed"  # the environment variable RPS_EXECUTED_DIR moves it
LIBRARIES = ("torch", "torchvision", "numpy", "matplotlib", "pillow", "jupyter-book",
             "myst-nb", "nbval")


class _Chapter:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.seconds = 0.0
        self.cells = 0
        self.passed = True
        self.nb: Any = None


_chapters: dict[str, _Chapter] = {}


def _key(path: Path, rootdir: Path) -> str:
    """``book/<chapter>.ipynb``: the path from the repository's root."""
    return path.resolve().relative_to(rootdir.resolve()).as_posix()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None
                            ) -> Generator[None, None, None]:
    """Time every cell; the first includes starting the kernel, the last stopping it."""
    start = time.perf_counter()
    yield
    if not hasattr(item, "test_outputs"):  # not an nbval cell
        return
    chapter = _chapters.setdefault(_key(item.path, item.config.rootpath), _Chapter(item.path))
    chapter.seconds += time.perf_counter() - start
    chapter.cells += 1
    chapter.nb = item.parent.nb  # type: ignore[union-attr]
    # the cell's outputs as this run made them (None when the cell never ran)
    outputs = item.test_outputs  # type: ignore[attr-defined]
    item.cell.outputs = list(outputs or [])  # type: ignore[attr-defined]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                              ) -> Generator[None, Any, None]:
    outcome = yield
    report = outcome.get_result()
    if report.failed and item.path.suffix == ".ipynb":
        key = _key(item.path, item.config.rootpath)
        _chapters.setdefault(key, _Chapter(item.path)).passed = False


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not _chapters:
        return
    out = Path(os.environ.get("RPS_EXECUTED_DIR", OUT))
    out.mkdir(parents=True, exist_ok=True)
    record_file = out / "timings.json"
    try:
        record = json.loads(record_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        record = {}
    chapters = record.setdefault("chapters", {})
    for key, chapter in _chapters.items():
        target = out / key
        chapters[key] = {"seconds": round(chapter.seconds, 2), "cells": chapter.cells,
                         "passed": chapter.passed}
        if not chapter.passed or chapter.nb is None:
            target.unlink(missing_ok=True)  # never publish a chapter that failed
            continue
        nb = chapter.nb
        count = 0
        for cell in nb.cells:
            if cell.cell_type == "code":
                count += 1
                cell.execution_count = count
                for output in cell.outputs:
                    if output.get("output_type") == "execute_result":
                        output["execution_count"] = count
        nb.metadata["rps_executed"] = {
            "source_sha256": hashlib.sha256(chapter.path.read_bytes()).hexdigest(),
            "seconds": round(chapter.seconds, 2)}
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".tmp")
        nbformat.write(nb, tmp)
        tmp.replace(target)
    record["date"] = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    record["python"] = platform.python_version()
    record["libraries"] = {name: _version(name) for name in LIBRARIES}
    record_file.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"
