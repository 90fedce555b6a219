"""Progress bars that read well in a terminal, in Jupyter/Colab and on the static website.

``tqdm.auto`` draws an ipywidget inside notebooks; on the book's static pages a widget whose
JavaScript cannot load shows up as an empty box.  The course therefore uses tqdm's plain-text
bar, written to standard output: Jupyter redraws it in place (it understands carriage
returns) and the website shows its redraws as a short log, one line each (the trainer's bar
redraws about once per epoch, with the latest losses).

Set the environment variable ``RPSLIB_PROGRESS=0`` to silence every bar (the test-suite
does not need to, but a log file may want to), or ``RPSLIB_PROGRESS=final`` to print each
bar once, as it ends: only the line a terminal would finally show.  The website's build sets
``final`` (``tools/sphinx_rps.py``), and the chapters' kernels inherit it: myst-nb 1.4 shows
every redraw of a bar on a line of its own (it ends each streamed chunk with a newline before
it applies the carriage returns), so a page would otherwise show a log of redraws.

Other libraries choose for themselves: ``torch-lr-finder`` draws its bar with
``tqdm.autonotebook``, a widget inside a notebook.  ``plain_progress`` lends such a module the
course's text bar for the duration of a block.
"""

from __future__ import annotations

import importlib
import os
import sys
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any, TypeVar

from tqdm.std import TqdmExperimentalWarning, tqdm

T = TypeVar("T")


OFF = {"0", "false", "no", "off"}
FINAL = "final"


def _mode() -> str:
    return os.environ.get("RPSLIB_PROGRESS", "1").strip().lower()


def progress_enabled(disable: bool | None = None) -> bool:
    """Whether bars are shown: ``disable`` wins, else ``RPSLIB_PROGRESS`` (default on).
    """
    if disable is not None:
        return not disable
    return _mode() not in OFF


def progress(iterable: Iterable[T] | None = None, *, disable: bool | None = None,
             **kwargs: Any) -> tqdm:
    """A text ``tqdm`` bar on stdout (never a widget).

    Args:
        iterable: what to wrap, as with ``tqdm``; ``None`` for a manual bar
            (``total=``, ``update``).
        disable: ``True`` hides the bar; ``None`` follows ``RPSLIB_PROGRESS``.
        **kwargs: passed to ``tqdm`` (``total``, ``desc``, ``unit``, ...).
    """
    return tqdm(iterable, **_text_settings(disable, kwargs))


def _text_settings(disable: bool | None, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The course's bar settings, where ``kwargs`` does not set them."""
    kwargs.setdefault("file", sys.stdout)
    kwargs.setdefault("dynamic_ncols", False)
    kwargs.setdefault("ncols", 80)
    kwargs.setdefault("leave", True)
    kwargs.setdefault("mininterval", 0.5)  # fewer redraws: shorter logs and notebook outputs
    kwargs["disable"] = not progress_enabled(disable)
    if _mode() == FINAL:
        kwargs["file"] = FinalLines(kwargs["file"])
    return kwargs


class FinalLines:
    """A text file that writes each line as a terminal would finally show it.

    A bar redraws its line in place: it writes a carriage return and its new state, and a line
    break when it closes.  This keeps what follows the last carriage return and writes it once
    the line ends, so a bar prints a single line (a bar that erases itself, ``leave=False``,
    prints nothing).

    Args:
        file: where the finished lines go (the bar's ``file``, standard output by default).
    """

    def __init__(self, file: Any) -> None:
        self.file = file
        self.pending = ""

    def write(self, text: str) -> int:
        *lines, self.pending = (self.pending + text).split("\n")
        if lines:
            self.file.write("".join(line.rsplit("\r", 1)[-1] + "\n" for line in lines))
        return len(text)

    def flush(self) -> None:
        self.file.flush()

    def __getattr__(self, name: str) -> Any:  # encoding, isatty, ...: those of the file
        return getattr(self.file, name)


class TextBar(tqdm):
    """``tqdm``'s plain-text bar with the course's settings: what ``plain_progress`` lends.

    A subclass (not a function) so that code which uses ``tqdm.write`` or
    ``isinstance(bar, tqdm)`` keeps working.
    """

    def __init__(self, iterable: Iterable[Any] | None = None, *args: Any,
                 disable: bool | None = None, **kwargs: Any) -> None:
        super().__init__(iterable, *args, **_text_settings(disable, kwargs))


@contextmanager
def plain_progress(module: ModuleType | str) -> Iterator[ModuleType]:
    """Inside the block, ``module.tqdm`` is the course's plain-text bar; then it is restored.

    For libraries that draw their progress bar with ``tqdm.autonotebook`` (a widget inside a
    notebook, an empty box on the static website), e.g. ``torch-lr-finder``::

        with plain_progress("torch_lr_finder.lr_finder"):
            from torch_lr_finder import LRFinder
            LRFinder(model, optimizer, loss_fn).range_test(train_loader, end_lr=0.1)

    Args:
        module: the module that calls ``tqdm``, or its name.  A name is imported here, with
            ``tqdm.autonotebook``'s "notebook mode" warning silenced (it would show when that
            import is the first one of ``tqdm.autonotebook``).

    Yields:
        The module.  Its own ``tqdm`` is put back when the block ends, also after an error.
    """
    if isinstance(module, str):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TqdmExperimentalWarning)
            module = importlib.import_module(module)
    if not hasattr(module, "tqdm"):
        raise AttributeError(f"module {module.__name__!r} has no 'tqdm' to replace: pass the "
                             f"module that calls tqdm (e.g. 'torch_lr_finder.lr_finder')")
    original = module.tqdm
    setattr(module, "tqdm", TextBar)  # noqa: B010 (mypy knows no module's tqdm)
    try:
        yield module
    finally:
        setattr(module, "tqdm", original)  # noqa: B010
