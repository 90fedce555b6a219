"""Shared fixtures: a tiny generated dataset, and a data root that is never the user's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

TINY = {"rps": 4, "rps-test-set": 2}


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
    from rpslib.handgen import generate_rps

    root = tmp_path_factory.mktemp("tiny-rps")
    return generate_rps(root, workers=1, progress_bar=False, counts=TINY)
