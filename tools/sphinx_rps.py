"""A local Sphinx extension of the book: links between the chapters and the API reference.

1. "Introduced in chapter N." links to chapter N.

rpslib's docstrings end with the chapter that introduces the name (tests/test_introduced.py
checks that the chapter does mention it). On the API reference (book/api.md) this extension
turns the words "chapter N" of that sentence into a link to the chapter's page,
``book/0N_<name>``, whose file name it finds by globbing ``book/0N_*.ipynb`` in the book
being built. A tag that names no chapter is a warning, so an error in the build (``-W``).

2. A chapter's link to an ``rpslib`` name (``tools/api_links.py``: on the website, a
``{py:obj}`` cross-reference) that the API page does not have is a warning, so an error in
the build; Sphinx itself would only print the name unlinked.

How Sphinx finds it: ``_config.yml`` lists it under ``sphinx: local_extensions`` with the
path ``../../tools``, which Jupyter Book resolves against the folder of the ``_config.yml`` it
builds and puts on ``sys.path``. The website is built from the copy of the book in
``_build/stage/`` (tools/build_site.py), so that path is this repository's ``tools/``.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)

# the sentence may break between "in" and "chapter": keep that whitespace, line breaks included
TAG = re.compile(r"Introduced in(\s+)chapter (\d+)\b")


@lru_cache(maxsize=4)  # once per build, not once per docstring
def chapter_pages(srcdir: Path) -> dict[int, str]:
    """Chapter number -> the chapter's document name (``book/03_dropout``), from book/0N_*."""
    pages: dict[int, str] = {}
    for notebook in sorted((srcdir / "book").glob("[0-9][0-9]_*.ipynb")):
        pages.setdefault(int(notebook.name[:2]), f"book/{notebook.stem}")
    return pages


def link_chapters(text: str, pages: dict[int, str], where: str = "") -> str:
    """``text`` with every "Introduced in chapter N" turned into a link to chapter N's page."""

    def link(match: re.Match[str]) -> str:
        number = int(match.group(2))
        page = pages.get(number)
        if page is None:
            logger.warning("%s says 'Introduced in chapter %d', but there is no "
                           "book/%02d_*.ipynb", where or "a docstring", number, number,
                           type="rps", subtype="chapter")
            return match.group(0)
        return f"Introduced in{match.group(1)}:doc:`chapter {number} </{page}>`"

    return TAG.sub(link, text)


def process_docstring(app: Sphinx, what: str, name: str, obj: Any, options: Any,
                      lines: list[str]) -> None:
    """The ``autodoc-process-docstring`` handler: rewrites ``lines`` in place."""
    pages = chapter_pages(Path(app.srcdir))
    text = "\n".join(lines)
    linked = link_chapters(text, pages, where=name)
    if linked != text:
        lines[:] = linked.split("\n")


def missing_reference(app: Sphinx, env: Any, node: Any, contnode: Any) -> None:
    """The ``missing-reference`` handler: a chapter names an rpslib object the API page lacks."""
    target = node.get("reftarget", "")
    document = node.get("refdoc", "")
    if node.get("refdomain") == "py" and target.split(".")[0] == "rpslib" and \
            document.startswith("book/") and document[5:7].isdigit():
        logger.warning("%s links to %s, which the API reference does not document", document,
                       target, type="rps", subtype="api", location=node)
    return None


def setup(app: Sphinx) -> dict[str, Any]:
    app.setup_extension("sphinx.ext.autodoc")
    app.connect("autodoc-process-docstring", process_docstring)
    app.connect("missing-reference", missing_reference)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
