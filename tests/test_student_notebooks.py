"""The students' version of the chapters (tools/student_notebooks.py): no solution left in
it, every exercise kept, and no cell it keeps needs a solution.

That the student versions run top to bottom with every check printing "not solved yet" is
checked by running them: ``make test-oldest`` runs each under nbval, as written by
``python -m tools.student_notebooks --expect-unsolved`` (its check cells expect that line)."""

from __future__ import annotations

import ast
import copy
import re
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell

from rpslib.exercises import NOT_SOLVED
from tools.book import ROOT, chapters
from tools.clean_notebooks import clean, is_clean
from tools.student_notebooks import (
    exercise_names,
    expect_unsolved,
    main,
    needs_a_solution,
    student_version,
    tags,
)

BOOK = ROOT / "book"
CHAPTERS = chapters()
# a body line this long is specific enough to be the solution's own; shorter ones ("try:",
# "model(x)", "handle.remove()") also occur in the chapters' other cells
SPECIFIC = 20


def tagged(nb: nbformat.NotebookNode, tag: str) -> list[nbformat.NotebookNode]:
    return [cell for cell in nb.cells if tag in tags(cell)]


def function_bodies(source: str) -> dict[str, list[str]]:
    """{name: the lines of its body} for each function a solution cell defines.

    The body is what follows the ``def`` line, without the docstring: the stub repeats the
    docstring on purpose, so only the code after it would give the answer away.
    """
    lines = source.splitlines()
    bodies = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef):
            statements = node.body[1:] if ast.get_docstring(node) is not None else node.body
            assert statements, f"{node.name}: a solution with nothing but a docstring"
            end = node.end_lineno or statements[-1].lineno
            bodies[node.name] = lines[statements[0].lineno - 1:end]
    return bodies


@pytest.fixture(params=CHAPTERS, ids=[p.stem for p in CHAPTERS])
def chapter(request: pytest.FixtureRequest) -> nbformat.NotebookNode:
    return nbformat.read(request.param, as_version=4)


def test_the_student_version_keeps_the_exercises_and_no_solution(
        chapter: nbformat.NotebookNode) -> None:
    student = student_version(chapter)
    assert tagged(chapter, "solution"), "a chapter without exercises, or student_version " \
        "changed the chapter it was given"
    assert not tagged(student, "solution")
    for tag in ("exercise", "exercise-check"):
        assert tagged(student, tag) == tagged(chapter, tag), f"a {tag} cell changed or went"
    # everything else unchanged: the chapter minus its solution cells, and minus the hidden
    # checks that call an exercise's function (they test the solution), in the same order
    names = exercise_names(chapter)
    cleaned = clean(copy.deepcopy(chapter))
    kept = [c for c in cleaned.cells if "solution" not in tags(c)
            and not ("check" in tags(c) and any(f"{n}(" in c.source for n in names)
                     and not any(f".{n}(" in c.source for n in names))]
    assert student.cells == kept
    assert is_clean(student)


def test_no_solution_code_leaks_into_the_student_version(
        chapter: nbformat.NotebookNode) -> None:
    student = [cell.source for cell in student_version(chapter).cells]
    for solution in tagged(chapter, "solution"):
        bodies = function_bodies(solution.source)
        assert bodies, f"a solution cell that defines no function:\n{solution.source}"
        for name, body in bodies.items():
            block = "\n".join(body)
            leaked = [i for i, source in enumerate(student) if block in source]
            assert not leaked, f"{name}'s solution is still in cell(s) {leaked}"
            for line in body:
                if len(line.strip()) >= SPECIFIC:
                    leaked = [i for i, source in enumerate(student) if line.strip() in source]
                    assert not leaked, f"{name}'s line {line.strip()!r} is in cell(s) {leaked}"


def test_the_command_writes_the_chapters_it_is_given(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path), "07_momentum", str(BOOK / "08_schedulers.ipynb")]) == 0
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == ["07_momentum.ipynb", "08_schedulers.ipynb"]
    printed = capsys.readouterr().out
    assert all(f"wrote {tmp_path / name}" in printed for name in written)
    nb = nbformat.read(tmp_path / "07_momentum.ipynb", as_version=4)
    assert not tagged(nb, "solution") and tagged(nb, "exercise")


def bound(source: str) -> set[str]:
    """The names a cell binds at its top level (functions, classes, assignments, imports)."""
    names: set[str] = set()
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        else:
            for child in ast.walk(node):
                if isinstance(child, ast.Name) and isinstance(child.ctx, ast.Store):
                    names.add(child.id)
    return names


def read(source: str) -> set[str]:
    """The names a cell reads."""
    return {node.id for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)}


def needing_a_solution(nb: nbformat.NotebookNode) -> list[str]:
    """The cells the student version keeps that read a name only an exercise's stub or
    solution binds: on the stub they would fail (or differ), so "Run all" would break.
    The check cells (``exercise-check``) read them on purpose."""
    names = exercise_names(nb)
    answers = [c for c in nb.cells if c.cell_type == "code" and tags(c) & {"solution",
                                                                          "exercise"}]
    kept = [c for c in nb.cells if c.cell_type == "code" and c not in answers
            and not needs_a_solution(c, names)]
    only_answers = set().union(*(bound(c.source) for c in answers)) - set().union(
        *(bound(c.source) for c in kept))
    return [f"cell {nb.cells.index(c)} reads {sorted(read(c.source) & only_answers)}"
            for c in kept if "exercise-check" not in tags(c) and read(c.source) & only_answers]


def test_no_cell_the_student_version_keeps_needs_a_solution(
        chapter: nbformat.NotebookNode) -> None:
    assert needing_a_solution(chapter) == []


def test_a_kept_cell_that_uses_an_exercise_is_found() -> None:
    nb = nbformat.read(CHAPTERS[0], as_version=4)
    name = exercise_names(nb)[0]
    nb.cells.append(new_code_cell(f"result = {name}(images)\nprint(result)"))
    assert needing_a_solution(nb) == [f"cell {len(nb.cells) - 1} reads {[name]}"]


def test_ci_copies_expect_every_check_to_say_not_solved_yet(
        chapter: nbformat.NotebookNode) -> None:
    student = expect_unsolved(student_version(chapter))
    checks = tagged(student, "exercise-check")
    assert checks
    for cell in checks:
        assert "nbval-check-output" in tags(cell) and cell.execution_count is not None
        printed = cell.outputs[0]["text"]
        calls = re.findall(r"\bcheck_\w+\(", cell.source)
        assert calls and printed.count(NOT_SOLVED) == len(calls), cell.source
    assert tagged(student_version(chapter), "nbval-check-output") == []  # not the students'
