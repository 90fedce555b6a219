"""The stand-in on disk: file names, determinism whatever the workers, never a half set,
reused when complete, drawn once by two runs at once, never over the real set."""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

import pytest

from rpslib.data import handgen, stand_in
from rpslib.data.download import MARKER_NAME as REAL_MARKER
from rpslib.data.stand_in import MARKER, generate_rps, is_generated
from tests.conftest import TINY


def digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*.png"))}


def test_a_file_name_gives_back_its_image() -> None:
    for _, split, pose, k, name in stand_in._task_list(0, handgen.SPLITS):
        assert stand_in.image_of(name) == (split, pose, k), name
    with pytest.raises(ValueError, match="not a stand-in file name"):
        stand_in.image_of("hand-01.png")


@pytest.mark.slow  # starts a process pool
def test_same_seed_same_bytes_whatever_the_workers(tmp_path: Path) -> None:
    one = generate_rps(tmp_path / "a", seed=3, workers=1, counts=TINY)[0].parent
    two = generate_rps(tmp_path / "b", seed=3, workers=2, counts=TINY)[0].parent
    other = generate_rps(tmp_path / "c", seed=4, workers=1, counts=TINY)[0].parent
    assert digests(one) == digests(two)
    assert digests(one) != digests(other)


def test_an_interrupted_run_leaves_nothing_that_counts(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    calls = 0
    real_write = stand_in._write_one

    def crash_after_a_few(job: tuple[Path, tuple[int, str, str, int, str]]) -> None:
        nonlocal calls
        calls += 1
        if calls > 5:
            raise KeyboardInterrupt
        real_write(job)

    monkeypatch.setattr(stand_in, "_write_one", crash_after_a_few)
    with pytest.raises(KeyboardInterrupt):
        generate_rps(tmp_path, workers=1, counts=TINY)
    assert not is_generated(tmp_path, counts=TINY)
    assert not (tmp_path / "rps").exists() and not list(tmp_path.glob(".generating-*"))

    monkeypatch.setattr(stand_in, "_write_one", real_write)
    generate_rps(tmp_path, workers=1, counts=TINY)
    assert is_generated(tmp_path, counts=TINY)


def test_a_complete_set_is_reused_and_a_different_one_replaced(tmp_path: Path) -> None:
    train, _ = generate_rps(tmp_path, workers=1, counts=TINY)
    before = digests(tmp_path)
    generate_rps(tmp_path, workers=1, counts=TINY)  # nothing to do
    assert digests(tmp_path) == before
    assert not is_generated(tmp_path)  # a preview is not the full set
    bigger = {"rps": 5, "rps-test-set": 2}
    generate_rps(tmp_path, workers=1, counts=bigger)
    assert len(list((train / "rock").glob("*.png"))) == 5
    assert json.loads((tmp_path / MARKER).read_text())["counts"] == bigger


def test_counts_must_name_both_splits(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="one entry per split"):
        generate_rps(tmp_path, counts={"rps": 3})


def test_two_runs_at_once_draw_the_set_once(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    drawn = []
    real_write = stand_in._write_one

    def counting(job: tuple[Path, tuple[int, str, str, int, str]]) -> None:
        drawn.append(job[1])
        real_write(job)

    monkeypatch.setattr(stand_in, "_write_one", counting)
    results: list[tuple[Path, Path]] = []
    threads = [threading.Thread(target=lambda: results.append(
        generate_rps(tmp_path, workers=1, counts=TINY))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 2 and results[0] == results[1]
    assert len(drawn) == 3 * (TINY["rps"] + TINY["rps-test-set"])  # once, not twice
    assert is_generated(tmp_path, counts=TINY)
    assert not list(tmp_path.glob(".generating-*"))


def test_never_draws_over_the_real_set(tmp_path: Path) -> None:
    (tmp_path / "rps").mkdir()
    (tmp_path / REAL_MARKER).write_text("{}")
    with pytest.raises(FileExistsError, match="real dataset"):
        generate_rps(tmp_path, workers=1, counts=TINY)
    assert (tmp_path / "rps").is_dir() and (tmp_path / REAL_MARKER).exists()
