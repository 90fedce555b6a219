"""A lock on a data folder, so two kernels never download or draw into it at once.

Two notebooks of the same course often start together (an instructor's and a student's, or
two chapters run side by side); both may call ``get_rps()``.  The second waits for the first
and then finds the data ready.  Introduced in chapter 1 (used by ``get_rps``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK_NAME = ".lock"


@contextmanager
def locked(root: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``root`` (created if missing) inside the block.

    On systems without ``fcntl`` (Windows) the block runs unlocked; the temporary folders
    and completion markers still keep a half-written set from counting as done.

    Introduced in chapter 1.
    """
    root.mkdir(parents=True, exist_ok=True)
    with open(root / LOCK_NAME, "w") as handle:
        try:
            import fcntl
        except ImportError:
            yield
            return
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
