"""Grade the exercises of the notebooks students hand back: one table, a row per student.

    python -m tools.grade SUBMISSIONS_DIR [--out DIR] [--timeout SECONDS] [--book DIR]

Each notebook in SUBMISSIONS_DIR is one student's: ``*.ipynb`` in any case, or
``*.ipynb.json`` (as some browsers save it), in the folder or one folder down (as learning
platforms export them, a folder per student); the student's name is the file's path there,
without the suffix. Anything else is listed as skipped, with the reason. For each notebook,
in turn:

1. it runs top to bottom in a fresh kernel, in an empty temporary folder, with a time limit
   for the whole notebook (``--timeout``, 300 s by default); cells that raise do not stop it
   (a wrong answer makes its check cell raise), solution cells (tag ``solution``) are skipped;
   a kernel that dies before it has run anything is started again (up to three times);
2. the grader draws a random seed, and sends the kernel its own code (the source of
   ``rpslib.exercises`` it read when it started), which builds the cases of that seed, calls
   the student's function ``<name>`` on their inputs, and writes what it returned as data:
   JSON, with tensors as numpy arrays (``np.savez``);
3. the grader reads that data back without unpickling anything (``allow_pickle=False``),
   builds the same cases itself, with the expected answers, and judges each answer here, in
   its own process, where no student code has run (both halves: ``tools/judge.py``).

So nothing a student can define or patch in the kernel takes part in the verdict: not the
check cells, not what the notebook printed, not a redefined ``check_<name>``, a shadowed
builtin, a patched ``repr`` or reference function, nor the frames of the code that calls the
function (the kernel builds the cases' inputs and drops their expected answers before it
calls the student's function), and the inputs are drawn when grading, so they cannot be
known in advance. What a determined student can still do: solve
an exercise by calling a library function that computes the answer (``nn.Dropout``,
``torch.optim.Adam``, ``torch.softmax``); the grade says the function returns the right
values, not how it got them. Read the code of surprising results.

Which exercises a notebook has is found by matching its exercise and function names with the
chapters in ``book/`` (``--book``): a submission is graded on every exercise of the chapter it
matches best, so deleting a stub or a check cell does not remove a column. Without a matching
chapter it is graded on the functions its ``exercise`` cells define.

Each exercise gets ``solved``, ``wrong: <why>``, ``not attempted`` (the stub still raises
NotImplementedError) or ``missing`` (no such function). A notebook that is not valid JSON,
runs past its time limit, or crashes its kernel (``os._exit``, a segfault) gets a row saying
so, and the run goes on. It writes ``grades.csv`` and ``grades.md`` to ``--out``
(SUBMISSIONS_DIR by default; checked before grading starts) and prints the Markdown table.
Ctrl-C stops at once: the kernels are shut down and no table is written.

This is not a sandbox. It runs the students' code with the grader's user rights, files and
network: run it in a container or a throwaway account.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import secrets
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError

from rpslib import exercises
from tools.clean_notebooks import clean
from tools.judge import SOLVED, WRONG, grader_code, judge
from tools.student_notebooks import exercise_names, tags
from tools.tables import markdown_table

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"
# the file of the module judge() uses: the kernel and the judge run the same code
EXERCISES_SOURCE = Path(exercises.__file__)
DEFAULT_TIMEOUT = 300
KERNEL_TRIES = 3  # starts of a kernel that dies before it answers, see start_kernel
OK = "ok"

NOTEBOOK = re.compile(r"\.ipynb(\.json)?$", re.IGNORECASE)


@dataclass
class Grade:
    """One submission's row."""

    student: str
    chapter: str = ""
    status: str = OK
    exercises: dict[str, str] = field(default_factory=dict)  # name -> result
    messages: dict[str, str] = field(default_factory=dict)  # name -> why it is wrong
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


def submissions_in(folder: Path) -> tuple[list[Path], list[tuple[Path, str]]]:
    """The notebooks to grade in ``folder`` (and one folder down), and what is skipped, why."""
    found, skipped = [], []

    def look(directory: Path, depth: int) -> None:
        for path in sorted(directory.iterdir()):
            if path.name.startswith("."):
                skipped.append((path, "hidden (Jupyter's checkpoints, the system's files)"))
            elif path.is_dir():
                if depth == 0:
                    look(path, 1)
                else:
                    skipped.append((path, "a folder two levels down: move its notebooks up"))
            elif NOTEBOOK.search(path.name):
                found.append(path)
            else:
                skipped.append((path, f"not a notebook ({path.suffix or 'no suffix'})"))

    look(folder, 0)
    return found, skipped


def student_name(path: Path, folder: Path) -> str:
    """The path of ``path`` in ``folder``, without its notebook suffix: ``alice/07_momentum``."""
    return NOTEBOOK.sub("", path.relative_to(folder).as_posix())


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


def grade_one(path: Path, chapters: dict[str, list[str]], source: str, checks: set[str],
              timeout: float, student: str) -> Grade:
    """Run one submission and its checks; never raises (the row says what went wrong)."""
    grade = Grade(student=student)
    start = time.monotonic()
    try:
        # its saved outputs are the student's, not a result: gone before validating
        nb = clean(nbformat.reads(path.read_text(encoding="utf-8"), as_version=4,
                                  capture_validation_error={}))
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


# the kernels running now, so that Ctrl-C can stop them at once (one per worker thread)
_RUNNING: set[NotebookClient] = set()
_LOCK = threading.Lock()


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

    nonce = secrets.token_hex(16)
    seed = secrets.randbelow(2**31 - 1) + 1  # the cases' inputs, drawn now
    deadline = start + timeout
    with tempfile.TemporaryDirectory(prefix="grade-") as workdir:
        report, arrays = Path(workdir) / f"{nonce}.json", Path(workdir) / f"{nonce}.npz"
        cwd = Path(workdir) / "notebook"  # the notebook's folder, empty; its kernel's
        cwd.mkdir()                       # sockets are beside it
        client = NotebookClient(nb, timeout=int(timeout), kernel_name="python3",
                                allow_errors=True, record_timing=False,
                                resources={"metadata": {"path": str(cwd)}})
        with _LOCK:
            _RUNNING.add(client)
        try:
            start_kernel(client, Path(workdir))
            with client.setup_kernel(cleanup_kc=True):  # shuts the kernel down after
                for index, cell in enumerate(nb.cells):
                    if cell.cell_type != "code" or "solution" in tags(cell):
                        continue
                    client.timeout = seconds_left(deadline)
                    if time.monotonic() >= deadline:
                        raise CellTimeoutError("past the deadline")
                    client.execute_cell(cell, index)
                report.unlink(missing_ok=True)  # only what the grader's own code writes
                arrays.unlink(missing_ok=True)
                check = nbformat.v4.new_code_cell(
                    grader_code(nonce, source, names, seed, report, arrays))
                nb.cells.append(check)
                client.timeout = seconds_left(deadline)
                client.execute_cell(check, len(nb.cells) - 1)
            if not report.exists() or not arrays.exists():
                errors = [f"{o.get('ename')}: {o.get('evalue')}" for o in check.outputs
                          if o.output_type == "error"]
                raise RuntimeError("the grader's code wrote no answers"
                                   + (f" ({'; '.join(errors)})" if errors else ""))
            verdicts = judge(names, seed, report, arrays)
        except CellTimeoutError:
            grade.status = f"timed out (over {timeout:g} s)"
        except DeadKernelError:
            grade.status = "crashed: the kernel died"
        else:
            for name, (result, message) in verdicts.items():
                grade.exercises[name] = result
                if message:
                    grade.messages[name] = message
        finally:
            with _LOCK:
                _RUNNING.discard(client)


def seconds_left(deadline: float) -> int:
    """The whole seconds until ``deadline`` (a ``time.monotonic()``), rounded up and at least 1:
    a cell's time limit (nbclient takes whole seconds, and 0 or less as no limit at all)."""
    return max(1, int(deadline - time.monotonic() + 0.999))


def start_kernel(client: NotebookClient, workdir: Path, tries: int = KERNEL_TRIES) -> None:
    """Start ``client``'s kernel, talking over Unix sockets in ``workdir`` where there are
    some (no TCP port that another process can take between choosing and binding it,
    jupyter_client#487). A kernel that dies before it answers has run nothing of the
    student's: it is started again, ``tries`` times in all, before the row says so."""
    for attempt in range(1, tries + 1):
        ipc = {"transport": "ipc", "ip": str(workdir / "kernel")} if os.name == "posix" else {}
        client.km = AsyncKernelManager(kernel_name="python3", **ipc)
        try:
            client.start_new_kernel()
            client.start_new_kernel_client()  # waits for the kernel's first answer
            return
        except RuntimeError as error:  # "Kernel died before replying to kernel_info"
            if attempt == tries:  # (nbclient has shut that kernel down and cleaned up)
                raise RuntimeError(f"the kernel did not start ({tries} tries): {error}") \
                    from error


def stop_kernels() -> None:
    """Kill every kernel the grader is running (Ctrl-C): their workers then end at once."""
    with _LOCK:
        clients = list(_RUNNING)
    for client in clients:
        process = getattr(getattr(getattr(client, "km", None), "provisioner", None),
                          "process", None)
        if process is not None and process.poll() is None:
            try:
                os.kill(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def cell_text(grade: Grade, name: str) -> str:
    result = grade.exercises.get(name, "")
    message = grade.messages.get(name, "")
    return f"{result}: {message}" if result == WRONG and message else result


def score(grade: Grade) -> str:
    if grade.status != OK:
        return ""
    return f"{sum(r == SOLVED for r in grade.exercises.values())}/{len(grade.exercises)}"


def columns(grades: list[Grade], chapters: dict[str, list[str]]) -> list[str]:
    """Every exercise graded, in the book's order, then any others."""
    graded = {name for g in grades for name in g.exercises}
    ordered = [n for names in chapters.values() for n in names if n in graded]
    return ordered + sorted(graded - set(ordered))


def first_line(text: str) -> str:
    """A table cell's text: the first line of ``text``, cut at 120 characters."""
    first = text.strip().splitlines()[0] if text.strip() else ""
    return first if len(first) <= 120 else first[:117] + "..."


def write_tables(grades: list[Grade], names: list[str], out: Path,
                 skipped: Sequence[tuple[str, str]] = ()) -> str:
    """Write grades.csv and grades.md in ``out``; returns the Markdown (and the skipped
    files, with why, below the table)."""
    out.mkdir(parents=True, exist_ok=True)
    header = ["student", "chapter", "status", "solved", *names, "notes"]
    rows = [[g.student, g.chapter, g.status, score(g), *(cell_text(g, n) for n in names),
             "; ".join(g.notes)] for g in grades]
    with (out / "grades.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)

    text = markdown_table(header, [[first_line(c) for c in row] for row in rows]) + "\n"
    if skipped:
        text += "\nSkipped:\n\n" + "".join(f"- `{path}`: {why}\n" for path, why in skipped)
    (out / "grades.md").write_text("# Grades\n\n" + text
                                   + "\nThe full messages of wrong answers are in grades.csv.\n")
    return text


def check_out(out: Path) -> None:
    """Refuse, before any grading, an ``--out`` the tables cannot be written to."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file, not a folder")
    for name in ("grades.csv", "grades.md"):
        if (out / name).is_dir():
            raise ValueError(f"{out / name} is a folder: the table cannot be written there")
    try:
        out.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=out).close()
    except OSError as error:
        raise ValueError(f"cannot write to --out {out}: {error.strerror or error}") from error


def grade_folder(submissions: Path, out: Path, timeout: float = DEFAULT_TIMEOUT,
                 book: Path = BOOK, workers: int | None = None) -> list[Grade]:
    """Grade every notebook of ``submissions`` (see ``submissions_in``); write the tables to
    ``out``, with the files skipped and why.

    ``workers`` notebooks run at a time, each in its own kernel (default: one per CPU core);
    the rows come out in the order of the file names all the same.  Ctrl-C kills the kernels
    and stops at once, writing no table.
    """
    check_out(out)
    source = EXERCISES_SOURCE.read_text()  # read once, before any student's code runs
    checks = set(exercises.EXERCISES)
    chapters = book_exercises(book)
    paths, skipped = submissions_in(submissions)
    for path, why in skipped:
        print(f"skipped {path.relative_to(submissions)}: {why}", file=sys.stderr)

    def one(path: Path) -> Grade:
        grade = grade_one(path, chapters, source, checks, timeout,
                          student=student_name(path, submissions))
        print(f"{grade.student}: {grade.status}, {score(grade) or '-'} solved "
              f"({grade.seconds:.1f} s)", file=sys.stderr)
        return grade

    workers = workers or len(os.sched_getaffinity(0))
    pool = ThreadPoolExecutor(max_workers=max(1, workers))  # each waits on its kernel
    try:
        grades = list(pool.map(one, paths))
    except KeyboardInterrupt:
        pool.shutdown(wait=False, cancel_futures=True)
        stop_kernels()
        pool.shutdown(wait=True)
        raise
    pool.shutdown()
    write_tables(grades, columns(grades, chapters), out,
                 [(path.relative_to(submissions).as_posix(), why) for path, why in skipped])
    return grades


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("submissions", type=Path,
                        help="a folder of notebooks, one per student (or a folder each)")
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
    try:
        grades = grade_folder(args.submissions, out, args.timeout, args.book)
    except ValueError as error:
        parser.error(str(error))
    except KeyboardInterrupt:
        print("interrupted: the kernels were stopped, no table was written", file=sys.stderr)
        return 130
    print((out / "grades.md").read_text())
    print(f"{len(grades)} notebooks graded: {out / 'grades.csv'}, {out / 'grades.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
