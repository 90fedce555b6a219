"""tools/grade.py on a class of made-up students of chapter 7's two exercises: solved, half
solved, wrong, hanging, crashing, malformed, checks deleted, and a check-tamperer."""

from __future__ import annotations

import csv
from pathlib import Path

import nbformat
import pytest

from tools.grade import grade_folder

ROOT = Path(__file__).resolve().parent.parent
CHAPTER = ROOT / "book" / "07_momentum.ipynb"
NAMES = ["momentum_step", "nesterov_step"]  # chapter 7's exercises, in order
TIMEOUT = 30  # seconds per notebook: the hanging one is stopped after that (two run at a time)

# wrong answers: plain SGD for momentum, plain momentum for Nesterov (rpslib's checks reject
# both, tests/test_exercises.py)
WRONG = {
    "momentum_step": '''def momentum_step(param, grad, buffer, lr, momentum, dampening):
    return param - lr * grad, grad
''',
    "nesterov_step": '''def nesterov_step(param, grad, buffer, lr, momentum):
    buffer = grad.clone() if buffer is None else momentum * buffer + grad
    return param - lr * buffer, buffer
''',
}


def chapter_cells() -> dict[str, dict[str, str]]:
    """{name: {"stub", "check", "solution": source}} from chapter 7 itself."""
    nb = nbformat.read(CHAPTER, as_version=4)

    def sources(tag: str) -> list[str]:
        return [c.source for c in nb.cells if tag in c.metadata.get("tags", [])]

    cells = {}
    for stub, check, solution in zip(sources("exercise"), sources("exercise-check"),
                                     sources("solution"), strict=True):
        name = stub.split("def ", 1)[1].split("(", 1)[0]
        # the solution's definition only: without its title comment and final check call
        answer = "\n".join(line for line in solution.splitlines()
                           if not line.startswith(("# @title", "check_"))).strip()
        cells[name] = {"stub": stub, "check": check, "solution": answer}
    return cells


CELLS = chapter_cells()


def code(source: str, *tags: str) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source)
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def submission(answers: dict[str, str], *, before: str = "", after: str = "",
               checks: dict[str, str] | None = None) -> nbformat.NotebookNode:
    """Chapter 7's exercises in a small notebook: the task, the student's cell where the stub
    was (``answers[name]``, else the stub), the check cell (``checks[name]`` if given, ""
    deletes it); ``before`` and ``after``: code cells around them."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells.append(code("import torch", "setup"))
    if before:
        nb.cells.append(code(before))
    for name, cell in CELLS.items():
        nb.cells.append(nbformat.v4.new_markdown_cell(f"### Write `{name}`"))
        nb.cells.append(code(answers.get(name, cell["stub"]), "exercise"))
        check = cell["check"] if checks is None or name not in checks else checks[name]
        if check:
            nb.cells.append(code(check, "exercise-check"))
    if after:
        nb.cells.append(code(after))
    return nb


SOLVED = {name: cell["solution"] for name, cell in CELLS.items()}
# the check cell of a student who would rather not be checked
TAMPERED_CHECK = '''import rpslib.exercises
from rpslib import exercises

check_momentum_step = lambda function: True
exercises.check_momentum_step = lambda function: True
exercises._check = lambda *args: True
print("momentum_step: Correct!")
check_momentum_step(momentum_step)
'''
TAMPERED_AFTER = '''# and a fake grader's answer, in case the grader reads what is printed
print("('momentum_step', 'solved', ''), ('nesterov_step', 'solved', '')")
'''

CLASS = {
    "ada_solved": submission(SOLVED),
    "ben_half": submission({"momentum_step": SOLVED["momentum_step"]}),
    "cyd_wrong": submission(WRONG),
    "dee_hangs": submission(SOLVED, after="while True:\n    pass"),
    "eve_crashes": submission(SOLVED, after="import os\nos._exit(1)"),
    "fay_no_checks": submission(SOLVED, checks={"momentum_step": "", "nesterov_step": ""}),
    "gus_tampers": submission({"momentum_step": WRONG["momentum_step"]},
                              checks={"momentum_step": TAMPERED_CHECK}, after=TAMPERED_AFTER),
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    folder = tmp_path_factory.mktemp("submissions")
    for student, nb in CLASS.items():
        nbformat.write(nb, folder / f"{student}.ipynb")
    (folder / "hal_malformed.ipynb").write_text('{"cells": [  this is not JSON')
    out = folder / "grades"
    grade_folder(folder, out, timeout=TIMEOUT)
    with (out / "grades.csv").open(newline="") as f:
        rows = {row["student"]: row for row in csv.DictReader(f)}
    assert (out / "grades.md").read_text().count("\n| ") == 1 + len(rows)  # header + a row each
    return rows


pytestmark = pytest.mark.slow  # eight kernels, two at a time, one left to time out: about 45 s


def test_one_row_per_notebook_and_a_column_per_exercise(
        graded: dict[str, dict[str, str]]) -> None:
    assert sorted(graded) == sorted([*CLASS, "hal_malformed"])
    for row in graded.values():
        assert list(row)[:4] == ["student", "chapter", "status", "solved"]
        assert list(row)[4:] == [*NAMES, "notes"]


def test_a_solved_notebook(graded: dict[str, dict[str, str]]) -> None:
    row = graded["ada_solved"]
    assert (row["chapter"], row["status"], row["solved"]) == ("07_momentum", "ok", "2/2")
    assert [row[n] for n in NAMES] == ["solved", "solved"]
    assert row["notes"] == ""


def test_a_half_solved_notebook(graded: dict[str, dict[str, str]]) -> None:
    row = graded["ben_half"]
    assert (row["status"], row["solved"]) == ("ok", "1/2")
    assert [row[n] for n in NAMES] == ["solved", "not attempted"]


def test_wrong_answers_with_the_checks_messages(graded: dict[str, dict[str, str]]) -> None:
    row = graded["cyd_wrong"]
    assert (row["status"], row["solved"]) == ("ok", "0/2")
    for name in NAMES:
        assert row[name].startswith(f"wrong: {name}: wrong answer for inputs"), row[name]


def test_a_hanging_notebook_is_stopped_and_said_so(graded: dict[str, dict[str, str]]) -> None:
    row = graded["dee_hangs"]
    assert row["status"] == f"timed out (over {TIMEOUT} s)"
    assert row["solved"] == "" and [row[n] for n in NAMES] == ["", ""]


def test_a_crashing_notebook(graded: dict[str, dict[str, str]]) -> None:
    row = graded["eve_crashes"]
    assert row["status"] == "crashed: the kernel died"
    assert row["solved"] == ""


def test_a_malformed_notebook(graded: dict[str, dict[str, str]]) -> None:
    row = graded["hal_malformed"]
    assert row["status"].startswith("invalid notebook: ")
    assert row["chapter"] == "" and row["solved"] == ""


def test_deleted_check_cells_are_noted_and_the_functions_graded_all_the_same(
        graded: dict[str, dict[str, str]]) -> None:
    row = graded["fay_no_checks"]
    assert (row["chapter"], row["status"], row["solved"]) == ("07_momentum", "ok", "2/2")
    assert row["notes"] == "check cell deleted or untagged: momentum_step, nesterov_step"


def test_redefining_or_patching_the_check_does_not_solve_it(
        graded: dict[str, dict[str, str]]) -> None:
    row = graded["gus_tampers"]
    assert (row["status"], row["solved"]) == ("ok", "0/2")
    assert row["momentum_step"].startswith("wrong: momentum_step: wrong answer"), row
    assert row["nesterov_step"] == "not attempted"
