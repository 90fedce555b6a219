"""The chapters run once: nbval records outputs and times, the gate reads them, the site is
built from them (tools/nbval_record.py, tools/chapter_times.py, tools/build_site.py)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from tools import build_site
from tools.chapter_times import chapter_times

ROOT = Path(__file__).resolve().parent.parent


def run_nbval(tmp_path: Path, cells: list[str], tags: dict[int, list[str]] | None = None
              ) -> tuple[int, Path, Path]:
    """nbval with the recorder on tmp_path/book/ch.ipynb; returns (exit code, nb, out dir)."""
    nb = new_notebook(cells=[new_markdown_cell("# A chapter")]
                      + [new_code_cell(src) for src in cells])
    for index, cell_tags in (tags or {}).items():
        nb.cells[index + 1].metadata["tags"] = cell_tags
    (tmp_path / "book").mkdir()
    path = tmp_path / "book" / "ch.ipynb"
    nbformat.write(nb, path)
    out = tmp_path / "executed"
    env = {**os.environ, "RPS_EXECUTED_DIR": str(out), "PYTHONPATH": str(ROOT)}
    code = subprocess.call(
        [sys.executable, "-m", "pytest", "-q", "--nbval-lax", "--nbval-current-env",
         "-p", "tools.nbval_record", "--rootdir", str(tmp_path), "-c", os.devnull,
         "-p", "no:cacheprovider", "book/ch.ipynb"],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL)
    return code, path, out


def test_nbval_keeps_each_chapters_outputs_and_time(tmp_path: Path) -> None:
    code, path, out = run_nbval(tmp_path, [
        "print('Epochs:  50%\\rEpochs: 100%')",
        "from IPython.display import Markdown, display\ndisplay(Markdown('**42**'))",
        "x = 1",
    ])
    assert code == 0
    executed = nbformat.read(out / "book" / "ch.ipynb", as_version=4)
    first, second, third = executed.cells[1:]
    assert first.outputs[0]["text"] == "Epochs: 100%\n"  # nbval keeps what a terminal shows
    assert second.outputs[0]["data"]["text/markdown"] == "**42**"
    assert third.outputs == [] and third.execution_count == 3
    ran = executed.metadata["rps_executed"]["source_sha256"]
    assert ran == hashlib.sha256(path.read_bytes()).hexdigest()
    record = json.loads((out / "timings.json").read_text())
    entry = record["chapters"]["book/ch.ipynb"]
    assert entry["passed"] and entry["cells"] == 3 and entry["seconds"] > 0
    assert record["libraries"]["torch"] and record["date"]


def test_a_chapter_that_fails_is_recorded_and_never_published(tmp_path: Path) -> None:
    code, _, out = run_nbval(tmp_path, ["x = 1", "assert x == 2, 'a check that fails'"])
    assert code != 0
    assert not (out / "book" / "ch.ipynb").exists()
    record = json.loads((out / "timings.json").read_text())
    assert record["chapters"]["book/ch.ipynb"]["passed"] is False


def write_book(root: Path, seconds: dict[str, float | None], passed: bool = True) -> None:
    """A _toc.yml of the given chapters, their sources, a budgets file and the times."""
    (root / "book").mkdir(exist_ok=True)
    names = list(seconds)
    toc = ("format: jb-book\nroot: book/intro\nparts:\n  - caption: C\n    chapters:\n"
           + "".join(f"      - file: book/{name}\n" for name in names))
    (root / "_toc.yml").write_text(toc)
    for name in names:
        nbformat.write(new_notebook(cells=[new_markdown_cell(f"# {name}")]),
                       root / "book" / f"{name}.ipynb")
    (root / "budgets.yml").write_text("default: 30\nchapters:\n  book/b.ipynb: 10\n")
    chapters = {f"book/{n}.ipynb": {"seconds": s, "cells": 1, "passed": passed}
                for n, s in seconds.items() if s is not None}
    (root / "timings.json").write_text(json.dumps({"chapters": chapters}))


@pytest.mark.parametrize("seconds, budget, verdict, fails", [
    (29.0, 30, "within budget", False),
    (45.0, 30, "over budget", False),
    (60.5, 30, "past 2x its budget", True),
    (20.5, 10, "past 2x its budget", True),  # its own budget in budgets.yml
    (None, 30, "not measured", True),
])
def test_the_gate_fails_a_chapter_only_past_twice_its_budget(
        tmp_path: Path, seconds: float | None, budget: float, verdict: str, fails: bool) -> None:
    name = "b" if budget == 10 else "a"
    write_book(tmp_path, {name: seconds})
    [row] = chapter_times(tmp_path / "timings.json", tmp_path / "budgets.yml", tmp_path)
    assert (row.budget, row.verdict, row.fails) == (budget, verdict, fails)


def test_a_failed_chapter_fails_the_gate(tmp_path: Path) -> None:
    write_book(tmp_path, {"a": 3.0}, passed=False)
    [row] = chapter_times(tmp_path / "timings.json", tmp_path / "budgets.yml", tmp_path)
    assert row.verdict == "failed" and row.fails


def test_the_site_is_never_built_from_a_stale_or_missing_run(tmp_path: Path) -> None:
    write_book(tmp_path, {"a": 3.0})
    executed = tmp_path / "executed"
    with pytest.raises(build_site.StaleChapterError, match="has not run"):
        build_site.executed_copy("book/a.ipynb", executed, tmp_path)
    nb = nbformat.read(tmp_path / "book" / "a.ipynb", as_version=4)
    nb.metadata["rps_executed"] = {"source_sha256": hashlib.sha256(
        (tmp_path / "book" / "a.ipynb").read_bytes()).hexdigest()}
    (executed / "book").mkdir(parents=True)
    nbformat.write(nb, executed / "book" / "a.ipynb")
    assert build_site.executed_copy("book/a.ipynb", executed, tmp_path).cells
    (tmp_path / "book" / "a.ipynb").write_text(
        (tmp_path / "book" / "a.ipynb").read_text().replace("# a", "# a, edited"))
    with pytest.raises(build_site.StaleChapterError, match="changed since it ran"):
        build_site.executed_copy("book/a.ipynb", executed, tmp_path)


def test_the_website_gets_final_progress_lines_and_no_live_widget() -> None:
    bar = new_code_cell("train()")
    bar.outputs = [new_output("stream", name="stderr",
                              text="Epochs:  10%|#\rEpochs: 100%|##########\ndone\n")]
    widget = new_code_cell("interact(...)", metadata={"tags": ["remove-output",
                                                               "skip-execution"]})
    widget.outputs = [new_output("display_data", data={
        "application/vnd.jupyter.widget-view+json": {"model_id": "x"}, "text/plain": "w"})]
    nb = new_notebook(cells=[bar, widget], metadata={"widgets": {"state": {}}})
    shown = build_site.for_the_website(nb)
    assert shown.cells[0].outputs[0]["text"] == "Epochs: 100%|##########\ndone\n"
    assert shown.cells[1].outputs == [] and "widgets" not in shown.metadata


def test_the_instructors_guide_lists_every_chapter_its_time_and_every_exercise() -> None:
    from tools.chapter_times import chapter_times as measured

    text = (ROOT / "book" / "instructors.md").read_text()
    assert build_site.GUIDE_MARK in text
    table = build_site.guide_table()
    rows = table.splitlines()[2:]
    times = measured()
    assert len(rows) == len(times) == len(list((ROOT / "book").glob("[0-9][0-9]_*.ipynb")))
    for row, chapter in zip(rows, times, strict=True):
        stem = Path(chapter.chapter).stem
        assert f"]({stem}.ipynb)" in row and f"book/{stem}.ipynb)" in row  # page and Colab
        seconds = "not measured" if chapter.seconds is None else f"{chapter.seconds:.0f} s"
        assert f"| {seconds} |" in row, "the run time comes from the measurement"
        nb = nbformat.read(ROOT / chapter.chapter, as_version=4)
        for cell in nb.cells:
            if "exercise-check" in cell.metadata.get("tags", []):
                name = re.search(r"\bcheck_(\w+)\(", cell.source).group(1)  # type: ignore[union-attr]
                assert f"`{name}(" in row, f"{stem}: the exercise {name} is missing"
