"""Grade the exercises of the notebooks students hand back: one table, a row per student.

    python -m tools.grade SUBMISSIONS_DIR [--out DIR] [--timeout SECONDS] [--book DIR]

Each ``*.ipynb`` in SUBMISSIONS_DIR is one student's (the file's stem is the student's name).
For each, in turn:

1. it runs top to bottom in a fresh kernel, in an empty temporary folder, with a time limit
   for the whole notebook (``--timeout``, 300 s by default); cells that raise do not stop it
   (a wrong answer makes its check cell raise), solution cells (tag ``solution``) are skipped;
2. then, in that same kernel, the grader sends its own code: it loads a private copy of
   ``rpslib.exercises`` from the source this grader read when it started (not from the
   kernel's ``sys.modules``, nor from the file as it may be by then), makes sure each
   ``check_<name>`` it calls is that copy's own function, calls it on the student's function
   ``<name>``, and returns the results as the value of its own request, behind a random nonce
   read from that request's reply only.

So the students' own check cells, what they printed, and any ``check_<name>`` they redefined,
patched in ``rpslib.exercises`` or edited in the check cell count for nothing. Which exercises
a notebook has is found by matching its exercise and function names with the chapters in
``book/`` (``--book``): a submission is graded on every exercise of the chapter it matches
best, so deleting a stub or a check cell does not remove a column. Without a matching chapter
it is graded on the functions its ``exercise`` cells define.

Each exercise gets ``solved``, ``wrong: <the check's message>``, ``not attempted`` (the stub
still raises NotImplementedError) or ``missing`` (no such function). A notebook that is not
valid JSON, runs past its time limit, or crashes its kernel (``os._exit``, a segfault) gets a
row saying so, and the run goes on. It writes ``grades.csv`` and ``grades.md`` to ``--out``
(SUBMISSIONS_DIR by default) and prints the Markdown table.

This is not a sandbox. It runs the students' code with the grader's user rights, files and
network: run it in a container or a throwaway account. And the checks only resist the easy
tricks: a student's code runs in the kernel before the grader's, so it could still patch
``torch`` (which the checks compare with), IPython's input transformers or the display hook.
Read the notebooks of surprising results.
"""

from __future__ import annotations

import argparse
import ast
import csv
import os
import re
import secrets
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError

from tools.clean_notebooks import clean
from tools.student_notebooks import exercise_names, tags

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"
EXERCISES_SOURCE = ROOT / "rpslib" / "exercises.py"
DEFAULT_TIMEOUT = 300
SOLVED, NOT_ATTEMPTED, MISSING = "solved", "not attempted", "missing"
OK = "ok"

# What the grader runs in the student's kernel once the notebook has run. Placeholders:
# NONCE (hex), SOURCE (the text of rpslib/exercises.py), NAMES (the exercises). Everything it
# defines lives inside one function whose name carries the nonce, deleted at the end.
GRADER_CODE = '''
def _rps_grader_NONCE():
    import sys as _sys
    import types as _types

    _origin = "<rps-grader NONCE>"
    _module = _types.ModuleType("_rps_grader_exercises_NONCE")
    _module.__file__ = _origin
    _sys.modules[_module.__name__] = _module
    try:
        exec(compile(SOURCE, _origin, "exec"), _module.__dict__)
    finally:
        del _sys.modules[_module.__name__]
    _user = get_ipython().user_ns
    _results = []
    for _name in NAMES:
        _check = _module.__dict__.get("check_" + _name)
        _code = getattr(_check, "__code__", None)
        if _code is None or _code.co_filename != _origin:
            _results.append((_name, "error", "the grader has no check for it"))
            continue
        if _name not in _user:
            _results.append((_name, "missing", "no function named " + _name))
            continue
        _function = _user[_name]
        if not callable(_function):
            _results.append((_name, "wrong", _name + " is not a function"))
            continue
        try:
            _right = _check(_function)
        except AssertionError as _error:
            _results.append((_name, "wrong", str(_error)))
        except BaseException as _error:  # the student's function raised, or exited
            _results.append((_name, "wrong", type(_error).__name__ + ": " + str(_error)))
        else:
            _results.append((_name, "solved" if _right is True else "not attempted", ""))
    return "NONCE" + repr(tuple(_results))


try:
    _rps_grader_NONCE_result = _rps_grader_NONCE()
finally:
    del _rps_grader_NONCE
_rps_grader_NONCE_result
'''


@dataclass
class Grade:
    """One submission's row."""

    student: str
    chapter: str = ""
    status: str = OK
    exercises: dict[str, str] = field(default_factory=dict)  # name -> result
    messages: dict[str, str] = field(default_factory=dict)  # name -> the check's message
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


def book_exercises(book: Path) -> dict[str, list[str]]:
    """{chapter stem: its exercise names} for the chapters in ``book``."""
    found = {}
    for path in sorted(book.glob("*.ipynb")):
        names = exercise_names(nbformat.read(path, as_version=4))
        if names:
            found[path.stem] = names
    return found


def identify(nb: nbformat.NotebookNode, chapters: dict[str, list[str]],
             checks: set[str]) -> tuple[str, list[str]]:
    """(chapter, its exercises) the notebook matches best, by the names its cells mention.

    Names count from every code cell (stubs, checks, answers), so a notebook whose stub or
    check cells were deleted or untagged still matches its chapter. ("", the names of its own
    exercise cells that rpslib can check) when it matches none.
    """
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    mentioned = set(re.findall(r"\b(\w+)\b", code))
    best, overlap = "", 0
    for chapter, names in chapters.items():
        shared = len(mentioned & set(names))
        if shared > overlap:
            best, overlap = chapter, shared
    if best:
        return best, chapters[best]
    return "", [n for n in exercise_names(nb) if n in checks]


def parse_results(cell: nbformat.NotebookNode, nonce: str) -> list[tuple[str, str, str]]:
    """The grader's results from the value its own request returned (and nothing else)."""
    for output in cell.outputs:
        if output.output_type == "execute_result":
            text = output.get("data", {}).get("text/plain", "")
            value = ast.literal_eval(text)
            if isinstance(value, str) and value.startswith(nonce):
                results = ast.literal_eval(value[len(nonce):])
                return [(str(a), str(b), str(c)) for a, b, c in results]
    errors = [f"{o.get('ename')}: {o.get('evalue')}" for o in cell.outputs
              if o.output_type == "error"]
    raise RuntimeError("the grader's code returned no result"
                       + (f" ({'; '.join(errors)})" if errors else ""))


def grader_code(nonce: str, source: str, names: list[str]) -> str:
    values = {"NONCE": nonce, "SOURCE": repr(source), "NAMES": repr(tuple(names))}
    # one pass: what is put in (the source of rpslib.exercises) is not searched again
    return re.sub("NONCE|SOURCE|NAMES", lambda m: values[m.group()], GRADER_CODE)


def grade_one(path: Path, chapters: dict[str, list[str]], source: str, checks: set[str],
              timeout: float) -> Grade:
    """Run one submission and its checks; never raises (the row says what went wrong)."""
    grade = Grade(student=path.stem)
    start = time.monotonic()
    try:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
    except Exception as error:  # not JSON, not a notebook
        grade.status = f"invalid notebook: {type(error).__name__}: {short(error)}"
        return grade
    try:
        _run_and_check(nb, grade, chapters, source, checks, timeout)
    except Exception as error:  # a bug here, or a notebook stranger than foreseen
        grade.status = f"error: {type(error).__name__}: {short(error)}"
    grade.seconds = time.monotonic() - start
    if grade.status != OK:
        grade.exercises = {name: "" for name in grade.exercises}
    return grade


def short(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text if len(text) <= 200 else text[:197] + "..."


def _run_and_check(nb: nbformat.NotebookNode, grade: Grade, chapters: dict[str, list[str]],
                   source: str, checks: set[str], timeout: float) -> None:
    start = time.monotonic()
    grade.chapter, names = identify(nb, chapters, checks)
    grade.exercises = {name: "" for name in names}
    if not names:
        grade.status = "no exercises found"
        return
    check_cells = "\n".join(c.source for c in nb.cells if c.cell_type == "code"
                            and "exercise-check" in tags(c))
    deleted = [n for n in names if f"check_{n}" not in check_cells]
    if deleted:
        grade.notes.append("check cell deleted or untagged: " + ", ".join(deleted))
    solutions = [c for c in nb.cells if "solution" in tags(c)]
    if solutions:
        grade.notes.append(f"{len(solutions)} solution cell(s) skipped")
    clean(nb)  # the student's outputs are theirs, not a result

    nonce = secrets.token_hex(16)
    deadline = start + timeout
    with tempfile.TemporaryDirectory(prefix="grade-") as workdir:
        client = NotebookClient(nb, timeout=int(timeout), kernel_name="python3",
                                allow_errors=True, record_timing=False,
                                resources={"metadata": {"path": workdir}})
        try:
            with client.setup_kernel():
                for index, cell in enumerate(nb.cells):
                    if cell.cell_type != "code" or "solution" in tags(cell):
                        continue
                    client.timeout = max(1, int(deadline - time.monotonic() + 0.999))
                    if time.monotonic() >= deadline:
                        raise CellTimeoutError("past the deadline")
                    client.execute_cell(cell, index)
                check = nbformat.v4.new_code_cell(grader_code(nonce, source, names))
                nb.cells.append(check)  # nbclient keeps each cell it runs in the notebook
                client.timeout = max(1, int(deadline - time.monotonic() + 0.999))
                client.execute_cell(check, len(nb.cells) - 1)  # its value: our answer
            results = parse_results(check, nonce)
        except CellTimeoutError:
            grade.status = f"timed out (over {timeout:g} s)"
        except DeadKernelError:
            grade.status = "crashed: the kernel died"
        else:
            for name, result, message in results:
                grade.exercises[name] = result
                if message:
                    grade.messages[name] = message


def cell_text(grade: Grade, name: str) -> str:
    result = grade.exercises.get(name, "")
    message = grade.messages.get(name, "")
    return f"{result}: {message}" if result == "wrong" and message else result


def score(grade: Grade) -> str:
    if grade.status != OK:
        return ""
    return f"{sum(r == SOLVED for r in grade.exercises.values())}/{len(grade.exercises)}"


def columns(grades: list[Grade], chapters: dict[str, list[str]]) -> list[str]:
    """Every exercise graded, in the book's order, then any others."""
    graded = {name for g in grades for name in g.exercises}
    ordered = [n for names in chapters.values() for n in names if n in graded]
    return ordered + sorted(graded - set(ordered))


def write_tables(grades: list[Grade], names: list[str], out: Path) -> str:
    """Write grades.csv and grades.md in ``out``; returns the Markdown."""
    out.mkdir(parents=True, exist_ok=True)
    header = ["student", "chapter", "status", "solved", *names, "notes"]
    rows = [[g.student, g.chapter, g.status, score(g), *(cell_text(g, n) for n in names),
             "; ".join(g.notes)] for g in grades]
    with (out / "grades.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)

    def md(text: str) -> str:
        first = text.strip().splitlines()[0] if text.strip() else ""
        first = first if len(first) <= 120 else first[:117] + "..."
        return first.replace("|", "\\|")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(md(c) for c in row) + " |" for row in rows]
    text = "\n".join(lines) + "\n"
    (out / "grades.md").write_text("# Grades\n\n" + text
                                   + "\nThe full messages of wrong answers are in grades.csv.\n")
    return text


def grade_folder(submissions: Path, out: Path, timeout: float = DEFAULT_TIMEOUT,
                 book: Path = BOOK, workers: int | None = None) -> list[Grade]:
    """Grade every ``*.ipynb`` in ``submissions``; write the tables to ``out``.

    ``workers`` notebooks run at a time, each in its own kernel (default: one per CPU core);
    the rows come out in the order of the file names all the same.
    """
    source = EXERCISES_SOURCE.read_text()  # read once, before any student's code runs
    checks = {m.group(1) for m in re.finditer(r"^def check_(\w+)\(", source, re.MULTILINE)}
    chapters = book_exercises(book)
    paths = sorted(submissions.glob("*.ipynb"))

    def one(path: Path) -> Grade:
        grade = grade_one(path, chapters, source, checks, timeout)
        print(f"{grade.student}: {grade.status}, {score(grade) or '-'} solved "
              f"({grade.seconds:.1f} s)", file=sys.stderr)
        return grade

    workers = workers or len(os.sched_getaffinity(0))
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:  # each waits on its kernel
        grades = list(pool.map(one, paths))
    write_tables(grades, columns(grades, chapters), out)
    return grades


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("submissions", type=Path, help="a folder of *.ipynb, one per student")
    parser.add_argument("--out", type=Path, help="where to write grades.csv and grades.md "
                        "(default: the submissions folder)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                        help=f"seconds per notebook (default {DEFAULT_TIMEOUT})")
    parser.add_argument("--book", type=Path, default=BOOK,
                        help="the chapters to recognise the exercises from (default book/)")
    args = parser.parse_args(argv)
    if not args.submissions.is_dir():
        parser.error(f"{args.submissions} is not a folder")
    out = args.out or args.submissions
    grades = grade_folder(args.submissions, out, args.timeout, args.book)
    print((out / "grades.md").read_text())
    print(f"{len(grades)} notebooks graded: {out / 'grades.csv'}, {out / 'grades.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
