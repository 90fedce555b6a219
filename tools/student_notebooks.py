"""Write the students' version of the chapters: the exercises without their solutions.

    python tools/student_notebooks.py OUT_DIR                 # every chapter in book/
    python tools/student_notebooks.py OUT_DIR 07_momentum ... # some chapters (names or paths)
    make student-notebooks                                    # every chapter, to _build/student

Each solution cell (tagged ``solution``, CONTRIBUTING.md "Exercises") is removed; the task,
the stub (``exercise``) and the check (``exercise-check``) stay, so "Run all" on a student
version goes top to bottom with every check printing "not solved yet". So do the hidden
checks (tag ``check``) that call an exercise's function: they test the solution, and on the
stub they would stop "Run all" with NotImplementedError (chapters 4 and 6 have one). Every
other cell is kept as it is, with outputs and execution counts cleared
(tools/clean_notebooks.py).
"""

from __future__ import annotations

import ast
import copy
import re
import sys
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tools.clean_notebooks import clean  # noqa: E402

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


def chapter_paths(names: list[str]) -> list[Path]:
    """The chapters named (``07_momentum``, ``07_momentum.ipynb`` or a path), or all of book/."""
    if not names:
        return sorted(BOOK.glob("*.ipynb"))
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
    out_dir, names = Path(argv[0]), argv[1:]
    paths = chapter_paths(names)
    out_dir.mkdir(parents=True, exist_ok=True)
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        student = student_version(nb)
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
