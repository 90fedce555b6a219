"""Progress bars that read well in a terminal, in Jupyter/Colab and on the static website.

``tqdm.auto`` draws an ipywidget inside notebooks; on the book's static pages a widget whose
JavaScript cannot load shows up as an empty box.  The course therefore uses tqdm's plain-text
bar, written to standard output: Jupyter redraws it in place (it understands carriage
returns) and the website shows its redraws as a short log, one line each (the trainer's bar
redraws about once per epoch, with the latest losses).

Set the environment variable ``RPSLIB_PROGRESS=0`` to silence every bar (the test-suite
does not need to, but a log file may want to).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import Any, TypeVar

from tqdm.std import tqdm

T = TypeVar("T")


def progress_enabled(disable: bool | None = None) -> bool:
    """Whether bars are shown: ``disable`` wins, else ``RPSLIB_PROGRESS`` (default on).

    Introduced in chapter 1.
    """
    if disable is not None:
        return not disable
    return os.environ.get("RPSLIB_PROGRESS", "1").strip().lower() not in {"0", "false", "no", "off"}


def progress(iterable: Iterable[T] | None = None, *, disable: bool | None = None,
             **kwargs: Any) -> tqdm:
    """A text ``tqdm`` bar on stdout (never a widget).

    Args:
        iterable: what to wrap, as with ``tqdm``; ``None`` for a manual bar
            (``total=``, ``update``).
        disable: ``True`` hides the bar; ``None`` follows ``RPSLIB_PROGRESS``.
        **kwargs: passed to ``tqdm`` (``total``, ``desc``, ``unit``, ...).

    Introduced in chapter 1.
    """
    kwargs.setdefault("file", sys.stdout)
    kwargs.setdefault("dynamic_ncols", False)
    kwargs.setdefault("ncols", 80)
    kwargs.setdefault("leave", True)
    kwargs.setdefault("mininterval", 0.5)  # fewer redraws: shorter logs and notebook outputs
    return tqdm(iterable, disable=not progress_enabled(disable), **kwargs)
