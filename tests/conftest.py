"""Shared fixtures: a tiny generated dataset, and a data root that is never the user's."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import matplotlib
import pytest

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
    from rpslib.handgen import generate_rps

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
