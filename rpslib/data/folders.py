"""A lock on a data folder, so two kernels never download or draw into it at once.

Two notebooks of the same course often start together (an instructor's and a student's, or
two chapters run side by side); both may call ``get_rps()``.  The second waits for the first,
says so in one line, and then finds the data ready.  Only writers take the lock: reading a
complete set never does, so a read-only shared copy works.

The temporary files of a run (``*.part-*``, ``.extract-*``, ``.generating-*``, ``*.tmp-*``)
are only ever written under the lock, so whoever holds it may remove any it finds: they
belong to a run that was killed.
"""

from __future__ import annotations

import errno
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK_NAME = ".lock"
_READ_ONLY = (errno.EACCES, errno.EPERM, errno.EROFS)
_FULL = (errno.ENOSPC, errno.EDQUOT)


class NotEnoughSpaceError(OSError):
    """The disk filled up; the message names the folder and about how much space is needed."""


class FolderNotWritableError(PermissionError):
    """The data must be written, but its folder is read-only; the message says what to do."""


@contextmanager
def locked(root: Path, doing: str = "downloading or drawing the data") -> Iterator[None]:
    """Hold an exclusive advisory lock on ``root`` (created if missing) inside the block.

    If another process holds it, prints one line (``waiting for another process that is
    <doing> in <root> ...``) and waits. On systems without ``fcntl`` (Windows) the block runs
    unlocked; the temporary folders and completion markers still keep a half-written set
    from counting as done.

    Raises:
        FolderNotWritableError: ``root`` cannot be written (a read-only copy that lacks data).
    """
    try:
        root.mkdir(parents=True, exist_ok=True)
        handle = open(root / LOCK_NAME, "a")
    except OSError as err:
        if err.errno not in _READ_ONLY:
            raise
        raise FolderNotWritableError(
            f"{root} is not writable ({err.strerror}), but {doing} there needs to write: the "
            f"data in it is missing or incomplete. Point the environment variable RPSLIB_DATA "
            f"(or root=) at a writable folder, or ask whoever manages {root} to complete it "
            f"(by running get_rps() there once).") from err
    with handle:
        try:
            import fcntl
        except ImportError:
            yield
            return
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"waiting for another process that is {doing} in {root} ...", flush=True)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def remove_leftovers(folder: Path, *patterns: str) -> None:
    """Delete what killed runs left in ``folder`` (files or folders matching ``patterns``).

    Call it only while holding :func:`locked` on the folder whose writers make them.
    """
    for pattern in patterns:
        for path in folder.glob(pattern):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


def is_disk_full(err: BaseException) -> bool:
    """Whether ``err`` is a full disk (or quota): ``Errno 28``."""
    return isinstance(err, OSError) and err.errno in _FULL


def not_enough_space(folder: Path, needed: int, what: str) -> NotEnoughSpaceError:
    """The error for a full disk: names ``folder``, the space ``what`` needs, and what is free."""
    try:
        free = f"{_mb(shutil.disk_usage(folder).free)} free"
    except OSError:
        free = "free space unknown"
    return NotEnoughSpaceError(
        f"not enough space in {folder} for {what}: it needs about {_mb(needed)} "
        f"({free}); nothing half-written was kept. Free some space, or point the environment "
        f"variable RPSLIB_DATA (or root=) at a folder on a larger disk.")


def _mb(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"
