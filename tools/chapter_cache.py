"""Jupyter Book's cache of the chapters' runs: when it is stale, and filling it two at a time.

    python -m tools.chapter_cache      # run the chapters the cache lacks, two at a time
    jupyter-book build . -W --keep-going                # then builds from the cache

Jupyter Book (``execute_notebooks: cache``) keeps each chapter's outputs in
``_build/.jupyter_cache``, found again by the chapter's code cells. A chapter's outputs also
depend on what it imports, so the cache carries a key (``code_key``: ``rpslib``'s sources,
``requirements.txt`` and the files it includes, the dataset's marker) and is emptied when the
key changes (``empty_if_stale``): the book's Sphinx extension does so before every build.

Run as a command, this fills the cache before the build: every chapter not in it runs top to
bottom in a fresh kernel, one per core (jupyter-cache's ``local-parallel`` executor, in the
chapter's folder, with the build's one-line progress bars). On 2 cores the eight chapters
take 53 s this way against 75 s one after another (measured, quiet machine); each chapter's
own time grows (11 s to 18 s for the longest), and that time is what its budget is judged
on. The build then finds every chapter in the cache and starts no kernel; a chapter that
failed here is not cached, so the build runs it again and reports the failure as usual.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
from pathlib import Path

from tools import book
from tools.check_versions import requirement_files

KEY_FILE = "rps-code-key.txt"  # in the cache folder: the key of the code its runs imported


def code_key(srcdir: Path) -> str:
    """A digest of what the chapters' runs depend on beyond their own code: ``rpslib``'s
    sources, the pinned environment, and the dataset the chapters find (its marker)."""
    from rpslib.data import default_root
    from rpslib.data.download import MARKER_NAME
    from rpslib.data.stand_in import MARKER

    digest = hashlib.sha256()
    root = default_root()
    files = [*sorted((srcdir / "rpslib").rglob("*.py")),
             *requirement_files(srcdir / "requirements.txt"),
             root / "real" / MARKER_NAME, root / "synthetic" / MARKER]
    for path in files:
        name = path.relative_to(srcdir) if path.is_relative_to(srcdir) else path
        digest.update(f"{name.as_posix()}\0".encode())
        digest.update(path.read_bytes() if path.is_file() else b"-")
    return digest.hexdigest()


def empty_if_stale(folder: Path, key: str) -> bool:
    """Empty the cache ``folder`` unless it holds runs of the code ``key`` names; whether it
    was emptied. Then the folder records ``key``: whatever is cached from now on ran with it.
    """
    stored = folder / KEY_FILE
    if stored.is_file() and stored.read_text(encoding="utf-8") == key:
        return False
    emptied = folder.is_dir() and any(p.name != KEY_FILE for p in folder.iterdir())
    if emptied:
        from jupyter_cache import get_cache

        get_cache(str(folder)).clear_cache()
    folder.mkdir(parents=True, exist_ok=True)
    stored.write_text(key, encoding="utf-8")
    return emptied


def cache_folder(root: Path = book.ROOT) -> Path:
    """Where Jupyter Book keeps the runs: ``execute: cache`` of ``_config.yml``, by default
    ``_build/.jupyter_cache``."""
    given = book.config(root).get("execute", {}).get("cache")
    return root / given if given else root / "_build" / ".jupyter_cache"


def fill(root: Path = book.ROOT) -> list[str]:
    """Run every chapter the cache lacks, one kernel per core; the chapters that failed."""
    from jupyter_cache import get_cache
    from jupyter_cache.executors import load_executor

    from rpslib.progress import FINAL, progress_enabled

    folder = cache_folder(root)
    if empty_if_stale(folder, code_key(root)):
        print(f"rpslib, requirements.txt or the dataset changed: emptied {folder}")
    if progress_enabled():
        os.environ["RPSLIB_PROGRESS"] = FINAL  # as the build sets it (tools/sphinx_rps.py)
    cache = get_cache(str(folder))
    records = [cache.add_nb_to_project(str(path)) for path in book.chapters(root)]
    logging.basicConfig(format="%(message)s", level=logging.INFO)
    executor = load_executor("local-parallel", cache, logger=logging.getLogger(__name__))
    timeout = int(book.config(root).get("execute", {}).get("timeout", 300))
    result = executor.run_and_cache(filter_pks=[r.pk for r in records], timeout=timeout)
    return [*result.errored, *result.excepted]


def main() -> int:
    failed = fill()
    for path in failed:  # the build runs it again and reports why
        print(f"chapter_cache: {Path(path).name} failed; the build will say why")
    return 0


if __name__ == "__main__":
    sys.exit(main())
