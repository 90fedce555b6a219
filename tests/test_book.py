"""The book's conventions (CONTRIBUTING.md), checked on every chapter notebook in book/."""

from __future__ import annotations

import re

import nbformat
import pytest
import yaml

from tools.book import ROOT, chapters, pages
from tools.clean_notebooks import is_clean

CHAPTERS = chapters()  # those of _toc.yml, the one list of the book's pages
# MyST-only syntax that Colab and Jupyter would show as raw text
MYST_ONLY = re.compile(r"```\{|^:::|\{[a-z][\w:-]*\}`|^\(.+\)=$", re.MULTILINE)


def tags(cell: nbformat.NotebookNode) -> set[str]:
    return set(cell.metadata.get("tags", []))


@pytest.fixture(params=CHAPTERS, ids=[p.stem for p in CHAPTERS])
def chapter(request: pytest.FixtureRequest) -> nbformat.NotebookNode:
    return nbformat.read(request.param, as_version=4)


def test_there_are_chapters() -> None:
    assert len(CHAPTERS) >= 2


def test_every_chapter_is_in_the_toc_and_every_toc_entry_exists() -> None:
    listed = pages()
    for nb in sorted((ROOT / "book").glob("*.ipynb")):  # every notebook of book/
        assert f"book/{nb.stem}" in listed, f"{nb.name} is not in _toc.yml"
    for entry in listed:
        assert list(ROOT.glob(entry + ".*")), f"_toc.yml lists {entry}, which does not exist"


def test_notebooks_are_committed_without_outputs(chapter: nbformat.NotebookNode) -> None:
    assert is_clean(chapter), "run `make clean-notebooks` (python -m tools.clean_notebooks)"


def test_setup_cell_installs_rpslib_from_the_configured_repository(
        chapter: nbformat.NotebookNode) -> None:
    config = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]
    source = f"git+{config['url']}@{config['branch']}"
    setup = [c for c in chapter.cells if "setup" in tags(c)]
    assert len(setup) == 1, "one setup cell, tagged 'setup'"
    assert "hide-input" in tags(setup[0]), "the setup cell is collapsed on the website"
    first_code = next(c for c in chapter.cells if c.cell_type == "code")
    assert first_code is setup[0], "the setup cell is the first code cell"
    code = setup[0].source
    assert source in code, f"the setup cell must install rpslib from {source}"
    assert '"google.colab" in sys.modules' in code, "install on Colab only"
    assert "get_rps()" in code


def test_at_least_three_hidden_checks(chapter: nbformat.NotebookNode) -> None:
    checks = [c for c in chapter.cells if "check" in tags(c)]
    assert len(checks) >= 3
    for cell in checks:
        assert cell.cell_type == "code" and "remove-cell" in tags(cell)
        assert "assert" in cell.source
        # one collapsed line on Colab (a form cell), plain code in Jupyter
        assert cell.source.startswith("# @title Self-check"), cell.source[:60]
        assert cell.metadata.get("cellView") == "form", "collapsed on Colab"
        assert not cell.metadata.get("jupyter", {}).get("source_hidden"), "visible in Jupyter"


def test_remove_input_is_only_for_cells_that_write_a_sentence(
        chapter: nbformat.NotebookNode) -> None:
    # CONTRIBUTING, "Numbers in prose": such a cell shows only its output on the website
    for cell in chapter.cells:
        if "remove-input" in tags(cell):
            writes = re.search(r"display\(\s*Markdown\(", cell.source)
            assert cell.cell_type == "code" and writes, (
                f"remove-input hides code that teaches: {cell.source[:80]!r}")


def test_two_to_four_exercises_with_stub_check_and_solution(
        chapter: nbformat.NotebookNode) -> None:
    stubs = [c for c in chapter.cells if "exercise" in tags(c)]
    checks = [c for c in chapter.cells if "exercise-check" in tags(c)]
    solutions = [c for c in chapter.cells if "solution" in tags(c)]
    assert 2 <= len(stubs) <= 4
    assert len(stubs) == len(checks) == len(solutions)
    for stub in stubs:
        assert 'raise NotImplementedError("not solved yet")' in stub.source
    for check in checks:
        assert "from rpslib.exercises import" in check.source or "check_" in check.source
    for solution in solutions:
        assert "hide-input" in tags(solution), "collapsed on the website"
        assert solution.metadata.get("cellView") == "form", "folded on Colab"
        assert solution.source.startswith("# @title"), "Colab shows the title, not the code"
        assert solution.metadata.get("jupyter", {}).get("source_hidden"), "folded in Jupyter"


def test_markdown_reads_well_outside_the_website(chapter: nbformat.NotebookNode) -> None:
    for cell in chapter.cells:
        if cell.cell_type == "markdown":
            found = MYST_ONLY.search(cell.source)
            assert not found, f"MyST-only syntax {found.group(0)!r} shows as raw text on Colab"
