"""The students' version of the chapters (tools/student_notebooks.py): no solution left in
it, every exercise kept, and it still runs top to bottom with every check "not solved yet"."""

from __future__ import annotations

import ast
import copy
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from rpslib.exercises import NOT_SOLVED
from tests.conftest import _ORIGINAL_DATA
from tools.clean_notebooks import clean, is_clean
from tools.student_notebooks import exercise_names, main, student_version, tags

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"
CHAPTERS = sorted(BOOK.glob("*.ipynb"))
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


@pytest.fixture(scope="module")
def executed() -> dict[str, nbformat.NotebookNode | BaseException]:
    """Every chapter's student version, run top to bottom in a fresh kernel in book/ (where
    the real chapter runs): the notebook with its outputs, or what went wrong.

    They run two at a time, one kernel per core (most of a chapter's time is one core's:
    imports, figures, single trainings): about 100 s for the eight instead of 170.
    """
    def run(path: Path) -> nbformat.NotebookNode | BaseException:
        student = student_version(nbformat.read(path, as_version=4))
        try:
            NotebookClient(student, timeout=600, kernel_name="python3",
                           resources={"metadata": {"path": str(BOOK)}}).execute()
        except Exception as error:  # reported by the chapter's own test
            return error
        return student

    with pytest.MonkeyPatch.context() as patch:
        # the chapters' data root, as `make book` uses it (not the tests' empty one)
        if _ORIGINAL_DATA is None:
            patch.delenv("RPSLIB_DATA", raising=False)
        else:
            patch.setenv("RPSLIB_DATA", _ORIGINAL_DATA)
        workers = min(2, len(os.sched_getaffinity(0)))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return dict(zip([path.stem for path in CHAPTERS], pool.map(run, CHAPTERS),
                            strict=True))


@pytest.mark.slow
@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_the_student_version_runs_top_to_bottom_with_every_check_unsolved(
        path: Path, executed: dict[str, nbformat.NotebookNode | BaseException]) -> None:
    student = executed[path.stem]
    if isinstance(student, BaseException):
        raise student
    checks = tagged(student, "exercise-check")
    assert checks
    for cell in checks:
        printed = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
        assert NOT_SOLVED in printed, f"{cell.source!r} printed {printed!r}"
