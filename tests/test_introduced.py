""""Introduced in chapter N" is true: every tagged public name appears in that chapter.

rpslib's docstrings tell a reader where the book introduces each function or class (as d2l
does).  A tag that names a chapter which never mentions the name sends the reader nowhere,
so each tag is checked against the chapter notebook's own text (code and prose).
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import nbformat
import pytest

import rpslib
from tools.book import chapters

ROOT = Path(__file__).resolve().parent.parent
# the sentence may break between "in" and "chapter", as tools/sphinx_rps.py reads it too
TAG = re.compile(r"Introduced in\s+chapter (\d+)")


def chapter_text(number: int) -> str | None:
    """All the sources of chapter ``number`` (book/0N_*.ipynb), or None if there is none."""
    found = [path for path in chapters() if path.name.startswith(f"{number:02d}_")]
    if not found:
        return None
    nb = nbformat.read(found[0], as_version=4)
    return "\n".join(cell.source for cell in nb.cells)


def tagged_names() -> list[tuple[str, str, int]]:
    """(module, public name, chapter) for every docstring that carries a tag."""
    found = []
    for info in pkgutil.iter_modules(rpslib.__path__):
        module = importlib.import_module(f"rpslib.{info.name}")
        for match in TAG.finditer(module.__doc__ or ""):
            found.append((module.__name__, module.__name__, int(match.group(1))))
        for name, obj in vars(module).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
                continue
            members = [(name, obj)]
            if inspect.isclass(obj):
                members += [(attr, value) for attr, value in vars(obj).items()
                            if not attr.startswith("_")]
            for member, value in members:
                value = getattr(value, "__func__", value)  # staticmethod, classmethod
                doc = value.__doc__ if callable(value) or inspect.isclass(value) else None
                for match in TAG.finditer(doc or ""):
                    found.append((module.__name__, member, int(match.group(1))))
    return found


TAGGED = tagged_names()


def test_tags_are_found() -> None:
    assert len(TAGGED) >= 20


@pytest.mark.parametrize(("module", "name", "chapter"), TAGGED,
                         ids=[f"{m.split('.')[-1]}.{n}-ch{c}" for m, n, c in TAGGED])
def test_the_chapter_mentions_the_name(module: str, name: str, chapter: int) -> None:
    text = chapter_text(chapter)
    assert text is not None, f"{module}: {name} says chapter {chapter}, which does not exist"
    short = name.rsplit(".", 1)[-1] if name == module else name
    wanted = re.compile(rf"(?<![\w]){re.escape(short)}(?![\w])")
    assert wanted.search(text), (f"{module}: {name} says 'Introduced in chapter {chapter}', "
                                 f"but chapter {chapter} never mentions {short!r}")
