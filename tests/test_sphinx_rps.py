"""The book's Sphinx extension (tools/sphinx_rps.py): budgets, the cache that follows the code,
the chapters' API links on the site, the status and guide tables; and ``jupyter-book build``
of a toy book with the book's configuration, as ``make test`` builds the real one."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

pytest.importorskip("sphinx", reason="the book's environment builds the website; the "
                    "oldest-versions one has no Sphinx")

from docutils import nodes  # noqa: E402

from tools import chapter_cache, sphinx_rps  # noqa: E402
from tools.api_links import api_page  # noqa: E402
from tools.book import ROOT, chapters  # noqa: E402


def fake_env(runtimes: dict[str, float | None], succeeded: bool = True) -> Any:
    """A Sphinx environment as far as the tables read it: myst-nb's run data and titles."""
    metadata: defaultdict[str, dict[str, Any]] = defaultdict(dict)
    for doc, runtime in runtimes.items():
        metadata[doc]["exec_data"] = {"mtime": 0.0, "runtime": runtime, "method": "cache",
                                      "succeeded": succeeded, "error": None}
    return SimpleNamespace(nb_metadata=metadata, titles={})


def docs() -> list[str]:
    return [f"book/{path.stem}" for path in chapters()]


# --- budgets ----------------------------------------------------------------------------------


@pytest.mark.parametrize("runtime, budget, succeeded, said", [
    (19.0, 20, True, "within budget"),
    (25.0, 20, True, "over budget"),
    (40.5, 20, True, "past 2x its budget"),
    (1.0, 20, False, "failed"),
    (None, 20, True, "not measured"),
])
def test_the_verdict_fails_a_chapter_only_past_twice_its_budget(
        runtime: float | None, budget: float, succeeded: bool, said: str) -> None:
    assert sphinx_rps.verdict(runtime, budget, succeeded) == said


def test_every_chapter_has_a_budget_from_budgets_yml(tmp_path: Path) -> None:
    assert set(sphinx_rps.budgets(ROOT)) == set(docs())
    shutil.copy(ROOT / "_toc.yml", tmp_path / "_toc.yml")
    (tmp_path / "book").mkdir()
    for path in chapters():
        shutil.copy(path, tmp_path / "book" / path.name)
    first = docs()[0]
    (tmp_path / "budgets.yml").write_text(f"default: 7\nchapters:\n  {first}.ipynb: 3\n")
    given = sphinx_rps.budgets(tmp_path)
    assert given[first] == 3 and all(given[doc] == 7 for doc in docs()[1:])


def test_budgets_yml_names_only_chapters_of_the_toc(tmp_path: Path) -> None:
    # a chapter renamed in _toc.yml but not here would silently fall back to the default
    assert set(sphinx_rps.budgets(ROOT)) == set(docs())
    shutil.copy(ROOT / "_toc.yml", tmp_path / "_toc.yml")
    (tmp_path / "budgets.yml").write_text("default: 20\nchapters:\n  book/00_renamed.ipynb: 9\n")
    with pytest.raises(ValueError, match="00_renamed"):
        sphinx_rps.budgets(tmp_path)


def test_the_status_table_adds_each_chapters_budget_and_verdict() -> None:
    runtimes = dict.fromkeys(docs(), 5.0)
    over, past = docs()[1], docs()[2]
    runtimes[over], runtimes[past] = 25.0, 45.0
    env = fake_env(runtimes)
    env.titles[over] = nodes.title(text="2. A title")
    table = sphinx_rps.budget_columns(env, "book/status", ROOT)
    rows = [[entry.astext() for entry in row.children] for row in table.findall(nodes.row)]
    assert rows[0][0] == "Chapter" and rows[0][-2:] == ["Budget (s)", "Verdict"]
    assert len(rows) == 1 + len(docs())
    verdicts = {row[0]: row[-1] for row in rows[1:]}
    assert verdicts["2. A title"] == "over budget"  # the chapter's title, not its file
    assert verdicts[past] == "past 2x its budget"
    assert list(verdicts.values()).count("within budget") == len(docs()) - 2


def test_a_chapter_past_twice_its_budget_is_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    runtimes = dict.fromkeys(docs(), 5.0)
    runtimes[docs()[3]] = 41.0
    logger = logging.getLogger("sphinx.tools.sphinx_rps")
    logger.propagate, was = True, logger.propagate
    try:
        with caplog.at_level(logging.INFO, logger="sphinx"):
            sphinx_rps.check_budgets(SimpleNamespace(srcdir=str(ROOT)), fake_env(runtimes))
    finally:
        logger.propagate = was
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [f"{docs()[3]} ran 41.0 s, past 2 times its budget of 20 s "
                        f"(budgets.yml)"]


# --- the chapters' API links and the guide ---------------------------------------------------


def test_a_chapters_api_links_become_links_within_the_site() -> None:
    link = f"[`get_rps`]({api_page()}#rpslib.data.get_rps)"
    nb = new_notebook(cells=[new_markdown_cell(f"Call {link} first."),
                             new_code_cell(f"print('{link}')")])
    text = json.dumps(nb)
    shown = json.loads(sphinx_rps.site_links(text))
    assert shown["cells"][0]["source"] == "Call {py:obj}`get_rps <rpslib.data.get_rps>` first."
    assert shown["cells"][1]["source"] == f"print('{link}')"  # code is left as it is
    plain = json.dumps(new_notebook(cells=[new_markdown_cell("No link.")]))
    assert sphinx_rps.site_links(plain) is plain


def test_the_guide_lists_every_chapter_its_run_time_and_every_exercise() -> None:
    from tools.student_notebooks import exercise_names

    runtimes: dict[str, float | None] = dict.fromkeys(docs(), 9.4)
    runtimes[docs()[0]] = None
    table = sphinx_rps.chapter_guide(fake_env(runtimes), "book/instructors", ROOT)
    rows = list(table.findall(nodes.row))[1:]
    assert len(rows) == len(docs())
    for row, path in zip(rows, chapters(), strict=True):
        chapter, seconds, exercises, colab = row.children
        assert next(iter(chapter.findall(sphinx_rps.pending_xref)))["reftarget"] == path.stem
        assert seconds.astext() == ("not measured" if path == chapters()[0] else "9 s")
        assert f"book/{path.name}" in next(iter(colab.findall(nodes.reference)))["refuri"]
        for name in exercise_names(nbformat.read(path, as_version=4)):
            assert f"{name}(" in exercises.astext(), f"{path.stem}: {name} is missing"


# --- the cache follows the code ---------------------------------------------------------------


def test_the_code_key_changes_with_rpslib_the_pins_and_the_dataset(tmp_path: Path) -> None:
    (tmp_path / "rpslib" / "sub").mkdir(parents=True)
    module = tmp_path / "rpslib" / "sub" / "m.py"
    module.write_text("x = 1\n")
    (tmp_path / "requirements.txt").write_text("torch==1\n-r requirements-test.txt\n")
    (tmp_path / "requirements-test.txt").write_text("ipykernel==1\n")
    keys = [chapter_cache.code_key(tmp_path)]
    assert chapter_cache.code_key(tmp_path) == keys[0]  # the same code, the same key
    module.write_text("x = 2\n")
    keys.append(chapter_cache.code_key(tmp_path))
    (tmp_path / "requirements.txt").write_text("torch==2\n-r requirements-test.txt\n")
    keys.append(chapter_cache.code_key(tmp_path))
    (tmp_path / "requirements-test.txt").write_text("ipykernel==2\n")  # an included pin
    keys.append(chapter_cache.code_key(tmp_path))
    stand_in = Path(os.environ["RPSLIB_DATA"]) / "synthetic"
    stand_in.mkdir(parents=True)
    (stand_in / ".rps-generated.json").write_text('{"version": 3}')
    keys.append(chapter_cache.code_key(tmp_path))
    assert len(set(keys)) == len(keys)


def test_the_cache_is_emptied_only_when_its_key_changes(tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    assert not chapter_cache.empty_if_stale(folder, "a")  # nothing to empty
    (folder / "executed").mkdir()  # a run cached with the code "a"
    assert not chapter_cache.empty_if_stale(folder, "a")
    assert (folder / "executed").is_dir()
    assert chapter_cache.empty_if_stale(folder, "b")
    assert not (folder / "executed").exists()
    assert (folder / chapter_cache.KEY_FILE).read_text() == "b"


# --- a toy book, built as make test builds the real one ----------------------------------------

TOY_CONFIG = f"""
title: toy
only_build_toc_files: true
execute:
  execute_notebooks: cache
  timeout: 60
exclude_patterns: [".*", "**/.*", "_build", "rpslib"]
sphinx:
  local_extensions:
    tools.sphinx_rps: {ROOT}
  config:
    nb_execution_raise_on_error: false
    nb_merge_streams: true
    nb_kernel_rgx_aliases:
      ".*": python3
"""
BAR = ("from rpslib.progress import progress\n"
       "for _ in progress(range(3), desc='Epochs', mininterval=0):\n    pass")


def write_toy(root: Path, failing: bool) -> None:
    (root / "book").mkdir(parents=True)
    (root / "rpslib").mkdir()
    (root / "rpslib" / "lesson.py").write_text("STEPS = 3\n")  # what the toy chapters import
    (root / "_config.yml").write_text(TOY_CONFIG)
    (root / "_toc.yml").write_text(
        "format: jb-book\nroot: book/intro\nchapters:\n  - file: book/01_a\n"
        "  - file: book/02_b\n  - file: book/status\n")
    (root / "budgets.yml").write_text("default: 100\n")
    (root / "book" / "intro.md").write_text("# Toy\n")
    (root / "book" / "status.md").write_text(
        "# Status\n\n```{nb-exec-table}\n```\n\n```{rps-build-info}\n```\n")
    first = [new_markdown_cell("# 1. A"), new_code_cell("print('Using the toy images.')"),
             new_code_cell(BAR)]
    second = [new_markdown_cell("# 2. B"), new_code_cell("x = 1"),
              new_code_cell("assert x == 2, 'a check that fails'" if failing else "x")]
    for name, cells in (("01_a", first), ("02_b", second)):
        nbformat.write(new_notebook(cells=cells), root / "book" / f"{name}.ipynb")


def build(root: Path) -> tuple[int, str]:
    """``jupyter-book build . -W --keep-going`` in ``root``: (exit code, what it printed).

    In this process (Jupyter Book builds in a docutils namespace of its own), so that each
    build does not pay for importing torch and Sphinx again.
    """
    import logging

    from click.testing import CliRunner
    from jupyter_book.cli.main import main

    sphinx_logger = logging.getLogger("sphinx")  # Sphinx sets it up for its build: put back
    saved = (sphinx_logger.handlers[:], sphinx_logger.level, sphinx_logger.propagate)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.chdir(root)
            patch.setenv("RPSLIB_PROGRESS", "1")  # the build, not the tests, sets the mode
            result = CliRunner().invoke(main, ["build", ".", "-W", "--keep-going"])
    finally:
        sphinx_logger.handlers[:], sphinx_logger.level, sphinx_logger.propagate = saved
    return result.exit_code, result.output


def ran(output: str) -> list[str]:
    """The chapters this build ran (started a kernel for)."""
    return sorted(set(re.findall(r"book/(\w+)\.ipynb: Executing notebook", output)))


@pytest.mark.slow  # a two-chapter book, filled and built five times: about 20 s
# what Jupyter Book's own extensions say as they build (in this process, so pytest shows it)
@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning", "ignore::FutureWarning",
                            "ignore::DeprecationWarning")
def test_jupyter_book_builds_runs_each_chapter_once_and_caches(tmp_path: Path) -> None:
    write_toy(tmp_path, failing=True)
    with pytest.MonkeyPatch.context() as patch:  # make test fills the cache first
        patch.setenv("RPSLIB_PROGRESS", "1")
        failed = chapter_cache.fill(tmp_path)
    assert [Path(path).name for path in failed] == ["02_b.ipynb"]

    code, output = build(tmp_path)  # from the cache, but a chapter that failed runs again,
    assert code != 0 and ran(output) == ["02_b"]  # fails the build and is named
    assert "02_b.ipynb: WARNING: Executing notebook failed" in output
    report = (tmp_path / "_build" / "html" / "reports" / "book" / "02_b.err.log").read_text()
    assert "assert x == 2, 'a check that fails'" in report and "AssertionError" in report

    code, output = build(tmp_path)  # unchanged, a failed chapter still runs again
    assert code != 0 and ran(output) == ["02_b"]

    nb = nbformat.read(tmp_path / "book" / "02_b.ipynb", as_version=4)
    nb.cells[2].source = "x"
    nbformat.write(nb, tmp_path / "book" / "02_b.ipynb")
    code, output = build(tmp_path)  # only the changed chapter runs again
    assert code == 0, output
    assert ran(output) == ["02_b"]

    (tmp_path / "rpslib" / "lesson.py").write_text("STEPS = 4\n")
    code, output = build(tmp_path)  # what the chapters import changed: they all run again
    assert code == 0 and ran(output) == ["01_a", "02_b"]

    page = (tmp_path / "_build" / "html" / "book" / "01_a.html").read_text()
    assert page.count("Epochs:") == 1 and "3/3" in page  # one final line per bar
    status = (tmp_path / "_build" / "html" / "book" / "status.html").read_text()
    assert "within budget" in status and "the toy images." in status
    assert "torch" in status and "Budget (s)" in status

    (tmp_path / "budgets.yml").write_text("default: 100\nchapters:\n  book/01_a.ipynb: 0.01\n")
    code, output = build(tmp_path)  # no chapter changed: no kernel starts; and the gate
    assert ran(output) == []  # fails one past twice its budget, from its cached run time
    assert code != 0
    assert "book/01_a ran" in output and "past 2 times its budget of 0.01 s" in output
