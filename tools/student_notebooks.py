"""Write the students' version of the chapters: the exercises without their solutions.

    python -m tools.student_notebooks OUT_DIR                 # every chapter of _toc.yml
    python -m tools.student_notebooks OUT_DIR 07_momentum ... # some chapters (names or paths)
    python -m tools.student_notebooks --expect-unsolved OUT_DIR  # for nbval (make test-oldest)
    make student-notebooks                                    # every chapter, to _build/student

Each solution cell (tagged ``solution``, CONTRIBUTING.md "Exercises") is removed; the task,
the stub (``exercise``) and the check (``exercise-check``) stay, so "Run all" on a student
version goes top to bottom with every check printing "not solved yet". So do the hidden
checks (tag ``check``) that call an exercise's function: they test the solution, and on the
stub they would stop "Run all" with NotImplementedError (chapters 4 and 6 have one). Every
other cell is kept as it is, with outputs and execution counts cleared
(``tools/clean_notebooks.py``).

With ``--expect-unsolved`` each check cell also carries the output it must print on the stub
("<name>: not solved yet. ...") and the tag ``nbval-check-output``, so that
``pytest --nbval-lax`` fails a check that says anything else: CI's copy, never the students'.
"""

from __future__ import annotations

import ast
import copy
import re
import sys
from pathlib import Path

import nbformat

from tools.book import chapters
from tools.clean_notebooks import clean

BOOK = Path(__file__).resolve().parent.parent / "book"
SOLUTION = "solution"


def tags(cell: nbformat.NotebookNode) -> set[str]:
    return set(cell.metadata.get("tags", []))


def defined_functions(source: str) -> list[str]:
    """The names of the top-level functions a cell defines (by regex if it does not parse)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return [m.group(1) for m in re.finditer(r"^def\s+(\w+)", source, re.MULTILINE)]
    return [n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]


def exercise_names(nb: nbformat.NotebookNode) -> list[str]:
    """The functions the stubs (code cells tagged ``exercise``) define, in order, once each."""
    names: list[str] = []
    for cell in nb.cells:
        if cell.cell_type == "code" and "exercise" in tags(cell):
            names += [n for n in defined_functions(cell.source) if n not in names]
    return names


def needs_a_solution(cell: nbformat.NotebookNode, names: list[str]) -> bool:
    """A solution cell, or a hidden check that calls an exercise's function (not a method:
    ``torch.softmax(...)`` is not chapter 2's ``softmax``)."""
    if SOLUTION in tags(cell):
        return True
    return "check" in tags(cell) and any(
        re.search(rf"(?<![\w.]){re.escape(name)}\s*\(", cell.source) for name in names)


def student_version(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``nb`` without its solution cells (nor the hidden checks that call an
    exercise's function), outputs cleared; ``nb`` is left alone."""
    student = copy.deepcopy(nb)
    names = exercise_names(student)
    student.cells = [cell for cell in student.cells if not needs_a_solution(cell, names)]
    return clean(student)


def expect_unsolved(student: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """``student`` with each check cell expecting, under nbval, the "not solved yet" line."""
    from rpslib.exercises import not_solved

    for cell in student.cells:
        if "exercise-check" not in tags(cell):
            continue
        checked = re.findall(r"\bcheck_(\w+)\(", cell.source)
        cell.metadata["tags"] = [*cell.metadata.get("tags", []), "nbval-check-output"]
        cell.execution_count = 1  # nbval compares only the outputs of a cell that ran
        cell.outputs = [nbformat.v4.new_output(
            "stream", name="stdout", text="".join(f"{not_solved(n)}\n" for n in checked))]
        if cell.source.rstrip().endswith(";"):
            # nbval runs cells outside IPython's history, where a final ";" does not hide
            # the value: there, the check's False ("not solved", so "Run all" goes on) shows
            cell.outputs.append(nbformat.v4.new_output(
                "execute_result", data={"text/plain": "False"}, execution_count=1))
    return student


def chapter_paths(names: list[str]) -> list[Path]:
    """The chapters named (``07_momentum``, ``07_momentum.ipynb`` or a path), or all of them."""
    if not names:
        return chapters()
    paths = []
    for name in names:
        given = Path(name)
        candidates = [given, BOOK / given.name, (BOOK / given.name).with_suffix(".ipynb")]
        found = next((p for p in candidates if p.suffix == ".ipynb" and p.is_file()), None)
        if found is None:
            raise SystemExit(f"no chapter {name!r} (looked for {', '.join(map(str, candidates))})")
        paths.append(found)
    return paths


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if argv else 2
    expect = "--expect-unsolved" in argv
    argv = [arg for arg in argv if arg != "--expect-unsolved"]
    out_dir, names = Path(argv[0]), argv[1:]
    paths = chapter_paths(names)
    out_dir.mkdir(parents=True, exist_ok=True)
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        student = student_version(nb)
        if expect:
            student = expect_unsolved(student)
        target = out_dir / path.name
        nbformat.write(student, target)
        solutions = sum(SOLUTION in tags(c) for c in nb.cells)
        hidden = len(nb.cells) - len(student.cells) - solutions
        exercises = sum("exercise" in tags(c) for c in student.cells)
        print(f"wrote {target} ({exercises} exercises, {solutions} solutions removed"
              + (f", and {hidden} hidden check(s) calling them" if hidden else "") + ")")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
