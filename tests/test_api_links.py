"""The chapters link each rpslib name to the API reference where their text first uses it."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest

from tools import api_links
from tools.api_links import link_first_uses, target_of, to_sphinx, unlinked
from tools.book import ROOT, api_page, chapters

CHAPTERS = chapters()


def _notebook(*markdown: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(text)
                                           for text in markdown])


def test_the_page_is_the_published_site() -> None:
    assert api_page() == "https://rps-course.github.io/rock-paper-scissors/book/api.html"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[path.stem for path in CHAPTERS])
def test_every_first_use_in_a_chapter_is_a_link(chapter: Path) -> None:
    nb = nbformat.read(chapter, as_version=4)
    assert unlinked(nb) == [], "run: python -m tools.api_links"
    assert api_links.CODE.search(nb.cells[0].source + "".join(
        cell.source for cell in nb.cells if cell.cell_type == "markdown"))


def test_names_as_the_chapters_write_them() -> None:
    assert target_of("rpslib.schedulers.lr_sequence(scheduler, n_steps)") == \
        "rpslib.schedulers.lr_sequence"
    assert target_of("Architecture.set_lr_scheduler") == \
        "rpslib.trainer.Architecture.set_lr_scheduler"
    assert target_of("CNN2") == "rpslib.models.CNN2"
    # a re-export is documented where it is defined
    assert target_of("rpslib.data.download_rps") == "rpslib.data.download.download_rps"
    assert target_of("rpslib.optim.SGD") == "rpslib.optim.SGD"
    # a method that only one rpslib class has, and torch's classes do not
    assert target_of("capture_parameters") == "rpslib.trainer.Architecture.capture_parameters"
    # torch has these too: bare, they may mean torch's; so are code that names no rpslib object
    for code in ("SGD", "Adam", "train", "x.grad", "torch.optim.SGD", "arch.train(10)"):
        assert target_of(code) is None, code


def test_only_the_first_use_is_linked_and_a_wrong_link_is_mended() -> None:
    page = api_page()
    nb = _notebook("Call `get_rps()` first, then `get_rps()` again; `SGD` is torch's.",
                   f"[`CNN2`]({page}#rpslib.models.Wrong) and `rpslib.optim.SGD`, "
                   f"[`lr_sequence`]({page}#rpslib.schedulers.lr_sequence)")
    assert len(unlinked(nb)) == 3
    assert link_first_uses(nb) == 3
    assert nb.cells[0].source == (f"Call [`get_rps()`]({page}#rpslib.data.get_rps) first, "
                                  "then `get_rps()` again; `SGD` is torch's.")
    assert nb.cells[1].source == (f"[`CNN2`]({page}#rpslib.models.CNN2) and "
                                  f"[`rpslib.optim.SGD`]({page}#rpslib.optim.SGD), "
                                  f"[`lr_sequence`]({page}#rpslib.schedulers.lr_sequence)")
    assert unlinked(nb) == [] and link_first_uses(nb) == 0


def test_a_module_links_to_its_section() -> None:
    nb = _notebook("The module `rpslib.schedulers`.")
    link_first_uses(nb)
    assert f"({api_page()}#module-rpslib.schedulers)" in nb.cells[0].source


def test_the_website_links_within_the_site() -> None:
    page = api_page()
    text = (f"[`get_rps()`]({page}#rpslib.data.get_rps) and [`rpslib`]({page}#module-rpslib), "
            "[a paper](https://arxiv.org/abs/1506.01186)")
    assert to_sphinx(text) == ("{py:obj}`get_rps() <rpslib.data.get_rps>` and "
                               "{py:obj}`rpslib <rpslib>`, [a paper](https://arxiv.org/abs/1506.01186)")


def test_the_build_fails_on_a_chapter_link_the_reference_lacks(
        caplog: pytest.LogCaptureFixture) -> None:
    pytest.importorskip("sphinx", reason="the book's environment builds the website; the "
                        "oldest-versions one has no Sphinx")
    from sphinx.addnodes import pending_xref

    from tools import sphinx_rps

    def node(target: str, document: str) -> pending_xref:
        return pending_xref(reftarget=target, refdoc=document, refdomain="py")

    logger = logging.getLogger("sphinx.tools.sphinx_rps")
    logger.propagate, was = True, logger.propagate
    try:
        with caplog.at_level(logging.WARNING, logger="sphinx"):
            app = SimpleNamespace(srcdir=str(ROOT))
            chapter = "book/08_schedulers"
            sphinx_rps.missing_reference(app, None, node("rpslib.nothing", chapter), None)
            assert f"{chapter} links to rpslib.nothing" in caplog.text
            caplog.clear()
            # the API page's own type hints, and torch's names, are Sphinx's business
            sphinx_rps.missing_reference(app, None, node("rpslib.nothing", "book/api"), None)
            sphinx_rps.missing_reference(app, None, node("torch.Tensor", chapter), None)
            assert caplog.text == ""
    finally:
        logger.propagate = was
