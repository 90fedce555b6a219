"""The offline stand-in on disk: the drawn hands named, written in parallel, marked complete.

``generate_rps`` writes the same layout and counts as the real dataset:
``rps/{paper,rock,scissors}/`` with 840 images each, ``rps-test-set/...`` with 124 each, named
as the real files are (``rock01-005.png``, ``testpaper03-012.png``), each drawn by
``rpslib.data.handgen``.  The images are written to a temporary folder and moved into place
when all are done, then a marker file is written, under the folder's lock: an interrupted run
leaves nothing that counts as done.
"""

from __future__ import annotations

import io
import json
import multiprocessing as mp
import os
import shutil
import sys
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from rpslib.data.download import MARKER_NAME as REAL_MARKER
from rpslib.data.folders import is_disk_full, locked, not_enough_space
from rpslib.data.handgen import (
    CLASSES,
    GENERATOR_VERSION,
    N_IDENTITIES,
    SPLITS,
    render_indexed,
)
from rpslib.progress import progress

__all__ = ["MARKER", "generate_rps", "image_of", "is_generated"]

#: The file written last into a complete stand-in (the real set's is ``download.MARKER_NAME``).
MARKER = ".rps-generated.json"


def _task_list(seed: int, counts: Mapping[str, int]) -> list[tuple[int, str, str, int, str]]:
    tasks = []
    for split, per_class in counts.items():
        n_id = N_IDENTITIES[split]
        for pose in CLASSES:
            for k in range(per_class):
                prefix = "test" if split != "rps" else ""
                ident = k % n_id
                name = f"{prefix}{pose}{ident + 1:02d}-{k // n_id:03d}.png"
                tasks.append((seed, split, pose, k, name))
    return tasks


def image_of(name: str) -> tuple[str, str, int]:
    """``(split, pose, k)`` of a stand-in file name: the inverse of how the files are named.

    ``"testpaper03-012.png"`` is image ``k = 12 * 4 + 2`` of ``paper`` in ``rps-test-set``,
    drawn by the test identity ``k % N_IDENTITIES[split]`` = 2 (numbered from 1 in the name).
    No chapter uses it (``tools/stand_in_report.py`` does).
    """
    stem = name.removesuffix(".png")
    split = "rps-test-set" if stem.startswith("test") else "rps"
    stem = stem.removeprefix("test")
    try:
        pose = next(p for p in CLASSES if stem.startswith(p))
        ident, number = stem.removeprefix(pose).split("-")
        k = int(number) * N_IDENTITIES[split] + int(ident) - 1
    except (StopIteration, ValueError) as err:
        raise ValueError(f"{name!r} is not a stand-in file name like 'testpaper03-012.png' "
                         "or 'rock01-005.png'") from err
    return split, pose, k


def _write_one(job: tuple[Path, tuple[int, str, str, int, str]]) -> None:
    out, (seed, split, pose, k, name) = job
    render_indexed(seed, split, pose, k).save(out / split / pose / name, compress_level=1)


def _marker(seed: int, counts: Mapping[str, int]) -> dict[str, object]:
    return {"source": "synthetic", "seed": seed, "version": GENERATOR_VERSION,
            "counts": dict(counts)}


def is_generated(root: Path | str, seed: int = 0, counts: Mapping[str, int] | None = None) -> bool:
    """Whether ``root`` holds a complete stand-in drawn by this version with these settings.

    The marker file is written last, so a half-written set never counts as done; a set drawn
    by an older generator, another seed or other counts does not count either.
    """
    root = Path(root)
    try:
        marker = json.loads((root / MARKER).read_text())
    except (OSError, ValueError):
        return False
    expected = _marker(seed, SPLITS if counts is None else counts)
    return marker == expected and all((root / s).is_dir() for s in SPLITS)


def _pool_context() -> mp.context.BaseContext:
    """``fork`` on Linux (fast; scripts need no ``__main__`` guard), else ``spawn``.

    macOS defaults to ``spawn`` because forking is unsafe there; so do we.

    The workers only draw with PIL and numpy: they never touch torch, so forking a process
    that has imported torch is safe here.
    """
    return mp.get_context("fork" if sys.platform.startswith("linux") else "spawn")


@contextmanager
def _quiet_fork() -> Iterator[None]:
    """Silence Python 3.12's warning that forking a multi-threaded process may deadlock.

    The risk is a lock held by another thread at the fork; the workers take none (they
    draw and save images, no torch, no logging, no progress bar), as PyTorch's own
    DataLoader workers, which fork the same way on Linux.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*use of fork\(\) may lead to deadlocks",
                                category=DeprecationWarning)
        yield


def generate_rps(root: Path | str, seed: int = 0, workers: int | None = None,
                 progress_bar: bool | None = None,
                 counts: Mapping[str, int] | None = None) -> tuple[Path, Path]:
    """Draw the stand-in dataset into ``root/rps`` and ``root/rps-test-set``.

    Returns the train and test folders.  Does nothing (and writes nothing: a read-only copy
    works) if a complete set is already there.
    The images are drawn into a temporary folder and moved into place when all are written,
    then a marker file is written: an interrupted run leaves nothing that counts as done, and
    the next run removes what it left. A full disk raises ``NotEnoughSpaceError`` (the stand-in
    takes about 60 MB).

    Args:
        root: the folder that receives ``rps/`` and ``rps-test-set/``.
        seed: the same seed gives byte-identical files.
        workers: processes to draw with (default: the number of CPUs, at most 4).
        progress_bar: ``False`` hides the bar.
        counts: images per class of each split, e.g. ``{"rps": 10, "rps-test-set": 4}`` for a
            quick preview (default: the real set's 840 and 124).
    """
    root = Path(root)
    counts = dict(SPLITS if counts is None else counts)
    if set(counts) != set(SPLITS):
        raise ValueError(f"counts needs one entry per split {list(SPLITS)}, got {counts}")
    if is_generated(root, seed, counts):  # before the lock: reading takes none
        return root / "rps", root / "rps-test-set"
    try:
        _draw_under_lock(root, seed, workers, progress_bar, counts)
    except OSError as err:
        if not is_disk_full(err):
            raise
        sample = io.BytesIO()  # measure one image, so the estimate follows the generator
        render_indexed(seed, "rps", "rock", 0).save(sample, format="PNG", compress_level=1)
        needed = (len(sample.getvalue()) + 4096) * len(CLASSES) * sum(counts.values())
        raise not_enough_space(root, needed, "the generated stand-in") from err
    return root / "rps", root / "rps-test-set"


def _draw_under_lock(root: Path, seed: int, workers: int | None, progress_bar: bool | None,
                     counts: Mapping[str, int]) -> None:
    """``generate_rps``'s drawing, under the folder's lock; removes a killed run's leftovers."""
    with locked(root, "drawing the stand-in"):
        if is_generated(root, seed, counts):  # another process drew it while we waited
            return
        if (root / REAL_MARKER).exists():
            raise FileExistsError(f"{root} holds the downloaded real dataset: draw the stand-in "
                                  "into another folder (get_rps keeps them apart)")
        for stale in root.glob(".generating-*"):
            shutil.rmtree(stale, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=".generating-", dir=root))
        try:
            for split in SPLITS:
                for pose in CLASSES:
                    (tmp / split / pose).mkdir(parents=True)
            jobs = [(tmp, task) for task in _task_list(seed, counts)]
            n = workers if workers is not None else min(4, os.cpu_count() or 1)
            bar = progress(total=len(jobs), desc="drawing the stand-in", unit="img",
                           disable=None if progress_bar is None else not progress_bar)
            with bar:
                if n <= 1:
                    for job in jobs:
                        _write_one(job)
                        bar.update()
                else:
                    with _quiet_fork(), _pool_context().Pool(n) as pool:
                        for _ in pool.imap_unordered(_write_one, jobs, chunksize=16):
                            bar.update()
            (root / MARKER).unlink(missing_ok=True)
            for split in SPLITS:
                if (root / split).exists():  # an older or unfinished set
                    shutil.rmtree(root / split)
                os.replace(tmp / split, root / split)
            (root / MARKER).write_text(json.dumps(_marker(seed, counts)))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
