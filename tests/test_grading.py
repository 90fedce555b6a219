"""tools/grade.py on a class of made-up students of chapter 7's two exercises: solved, half
solved, wrong, hanging, crashing, malformed, checks deleted, and a check-tamperer."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import nbformat
import pytest

from tests.conftest import exercise_cells
from tools.grade import grade_folder, seconds_left

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


CELLS = {cell.name: cell for cell in exercise_cells([CHAPTER])}


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
        nb.cells.append(code(answers.get(name, cell.stub), "exercise"))
        check = cell.check if checks is None or name not in checks else checks[name]
        if check:
            nb.cells.append(code(check, "exercise-check"))
    if after:
        nb.cells.append(code(after))
    return nb


SOLVED = {name: cell.definition for name, cell in CELLS.items()}
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

# The forgeries a fault probe of the grader tried: wrong answers, then a last cell
# that tries to make them grade "solved" by what it defines or patches in the kernel
FORGERIES = {
    "shadowed tuple": "def tuple(results):\n"
                      "    return [(r[0], 'solved', '') for r in results]",
    "a fake exec": "def exec(code, namespace=None):\n"
                   "    namespace = namespace if namespace is not None else {}\n"
                   "    for name in ('momentum_step', 'nesterov_step'):\n"
                   "        namespace['check_' + name] = lambda function: True\n"
                   "    namespace['to_data'] = lambda value, arrays: 'solved'",
    "a patched repr": "import builtins\n_repr = builtins.repr\n"
                      "builtins.repr = lambda x: _repr(x).replace(\"'wrong'\", \"'solved'\")",
    "patched json and numpy": (
        "import json, numpy\n_dump = json.dump\n"
        "def dump(report, file, **kw):\n"
        "    _dump({k: {'status': 'answered', 'message': '', 'outputs': []}\n"
        "           for k in report}, file, **kw)\n"
        "json.dump = dump\nnumpy.savez = lambda *a, **k: None"),
    "a patched check module": "import rpslib.exercises as e\n"
                              "e.is_right = lambda *a: True\ne._check = lambda *a: True",
}
# a function that looks in its caller's frames for the expected answer
FRAME_READER = """def momentum_step(param, grad, buffer, lr, momentum, dampening):
    import sys
    frame = sys._getframe(1)
    while frame is not None:
        for name in ("expected", "_expected", "case", "_case"):
            if name in frame.f_locals:  # the expected (param, buffer), if it is there
                return frame.f_locals[name]
        frame = frame.f_back
    return param, grad
"""

CLASS = {
    "ada_solved": submission(SOLVED),
    "ben_half": submission({"momentum_step": SOLVED["momentum_step"]}),
    "cyd_wrong": submission(WRONG),
    "dee_hangs": submission(SOLVED, after="while True:\n    pass"),
    "eve_crashes": submission(SOLVED, after="import os\nos._exit(1)"),
    "fay_no_checks": submission(SOLVED, checks={"momentum_step": "", "nesterov_step": ""}),
    "gus_tampers": submission({"momentum_step": WRONG["momentum_step"]},
                              checks={"momentum_step": TAMPERED_CHECK}, after=TAMPERED_AFTER),
    **{f"forger {i}": submission(WRONG, after=forgery)
       for i, forgery in enumerate(FORGERIES.values())},
    "reader of frames": submission({"momentum_step": FRAME_READER}),
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    folder = tmp_path_factory.mktemp("submissions")
    for student, nb in CLASS.items():
        nbformat.write(nb, folder / f"{student}.ipynb")
    (folder / "hal_malformed.ipynb").write_text('{"cells": [  this is not JSON')
    # what learning platforms and browsers hand over (a folder per student, another suffix:
    # which files are found is test_what_is_graded_and_what_is_skipped_with_why's), with an
    # odd saved output (a stream without its name): thrown away, not a reason to refuse
    odd = submission(SOLVED)
    odd.cells[2].outputs = [nbformat.NotebookNode(output_type="stream", text="hi\n")]
    (folder / "joe").mkdir()
    (folder / "joe" / "07_momentum.IPYNB.json").write_text(json.dumps(odd))
    out = folder / "grades"
    grade_folder(folder, out, timeout=TIMEOUT)
    with (out / "grades.csv").open(newline="") as f:
        rows = {row["student"]: row for row in csv.DictReader(f)}
    assert (out / "grades.md").read_text().count("\n| ") == 1 + len(rows)  # header + a row each
    return rows


pytestmark = pytest.mark.slow  # 15 small notebooks (14 run), two at a time, one times out


def test_one_row_per_notebook_and_a_column_per_exercise(
        graded: dict[str, dict[str, str]]) -> None:
    assert sorted(graded) == sorted([*CLASS, "hal_malformed", "joe/07_momentum"])
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


def test_a_cell_may_take_the_seconds_left_rounded_up_and_never_no_limit() -> None:
    import time

    now = time.monotonic()
    assert seconds_left(now + 2.5) == 3
    assert seconds_left(now - 5) == 1  # past the deadline: 1 s, not 0 (nbclient: no limit)


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


@pytest.mark.parametrize("student", [f"forger {i}" for i in range(len(FORGERIES))]
                         + ["reader of frames"], ids=[*FORGERIES, "reader of frames"])
def test_a_forgery_in_the_kernel_does_not_make_a_wrong_answer_solved(
        graded: dict[str, dict[str, str]], student: str) -> None:
    row = graded[student]
    assert row["momentum_step"] != "solved", (student, row)
    assert row["solved"] in ("", "0/2") and "solved" not in (row["nesterov_step"],), row


def test_other_suffixes_a_folder_each_and_odd_outputs_are_graded(
        graded: dict[str, dict[str, str]]) -> None:
    row = graded["joe/07_momentum"]
    assert (row["status"], row["solved"]) == ("ok", "2/2")


def test_what_is_graded_and_what_is_skipped_with_why(tmp_path: Path) -> None:
    from tools.grade import student_name, submissions_in

    for name in ("ann.ipynb", "bob.IPYNB", "cat.ipynb.json", "notes.txt", "kim/07.ipynb",
                 ".ipynb_checkpoints/ann-checkpoint.ipynb", "lee/deeper/07.ipynb"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("{}")
    found, skipped = submissions_in(tmp_path)
    assert [student_name(p, tmp_path) for p in found] == ["ann", "bob", "cat", "kim/07"]
    reasons = {p.relative_to(tmp_path).as_posix(): why for p, why in skipped}
    assert sorted(reasons) == [".ipynb_checkpoints", "lee/deeper", "notes.txt"]
    assert "not a notebook" in reasons["notes.txt"] and "two levels" in reasons["lee/deeper"]


def test_a_bad_out_is_refused_before_any_grading(tmp_path: Path) -> None:
    from tools.grade import main

    nbformat.write(submission(SOLVED), tmp_path / "ann.ipynb")
    (tmp_path / "taken").write_text("a file, not a folder")
    with pytest.raises(SystemExit):
        main([str(tmp_path), "--out", str(tmp_path / "taken")])
    (tmp_path / "out" / "grades.csv").mkdir(parents=True)
    with pytest.raises(SystemExit):
        main([str(tmp_path), "--out", str(tmp_path / "out")])


def test_ctrl_c_stops_at_once_and_leaves_no_kernel(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    import psutil

    (tmp_path / "class").mkdir()
    nbformat.write(submission(SOLVED, before="import time\ntime.sleep(600)"),
                   tmp_path / "class" / "slow.ipynb")
    grader = subprocess.Popen([sys.executable, "-m", "tools.grade", str(tmp_path / "class"),
                               "--out", str(tmp_path / "out"), "--timeout", "500"],
                              cwd=ROOT, stderr=subprocess.PIPE, text=True,
                              # a job started in the background ignores SIGINT, and so would
                              # the grader: give it Ctrl-C as a terminal does
                              preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(
                "ipykernel" in " ".join(c.cmdline())
                for c in psutil.Process(grader.pid).children(recursive=True)):
            time.sleep(0.2)
        kernels = psutil.Process(grader.pid).children(recursive=True)
        assert kernels, "the grader started no kernel"
        time.sleep(2)  # well inside the notebook's sleep
        started = time.monotonic()
        os.kill(grader.pid, signal.SIGINT)
        code = grader.wait(timeout=30)
        assert time.monotonic() - started < 10, "Ctrl-C waited for the notebook"
        assert code == 130, grader.stderr.read() if grader.stderr else code
        assert "interrupted" in (grader.stderr.read() if grader.stderr else "")
        time.sleep(0.5)
        assert not any(k.is_running() and k.status() != psutil.STATUS_ZOMBIE
                       for k in kernels), "a kernel was left running"
        assert not (tmp_path / "out" / "grades.csv").exists()
    finally:
        if grader.poll() is None:
            grader.kill()


def test_patching_the_checks_reference_does_not_solve_it(tmp_path: Path) -> None:
    # chapter 3's check compares with rpslib.regularization.dropout_sums: a student who
    # replaces it with zeros and answers 0.0, which that patched reference would accept
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells = [code("import torch", "setup"),
                code("def dropout_sum_std(x, p):\n    return 0.0", "exercise"),
                code("import rpslib.regularization as r\n"
                     "r.dropout_sums = lambda p, n_samples=200_000, seed=0, x=None: "
                     "torch.zeros(n_samples)")]
    (tmp_path / "class").mkdir()
    nbformat.write(nb, tmp_path / "class" / "max.ipynb")
    [grade] = grade_folder(tmp_path / "class", tmp_path / "out", timeout=TIMEOUT)
    assert grade.chapter == "03_dropout" and grade.status == "ok"
    assert grade.exercises["dropout_sum_std"] == "wrong", grade
    assert grade.exercises["my_dropout"] == grade.exercises["dropout2d"] == "missing"


def test_a_kernel_that_dies_before_it_answers_is_started_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # what CI met once: "Kernel died before replying to kernel_info", before any of the
    # student's code ran; the student's row must not carry it
    import sys

    from jupyter_client.manager import AsyncKernelManager
    from nbclient import NotebookClient

    from tools import grade

    starts: list[int] = []

    class DiesAtFirst(AsyncKernelManager):  # type: ignore[misc]
        def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
            starts.append(1)
            if len(starts) <= dying:
                return [sys.executable, "-c", "raise SystemExit(1)"]
            return super().format_kernel_cmd(extra_arguments)

    monkeypatch.setattr(grade, "AsyncKernelManager", DiesAtFirst)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import os\nprint(sorted(os.listdir()))")])
    (tmp_path / "notebook").mkdir()
    client = NotebookClient(nb, timeout=30, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path / "notebook")}})

    dying = 1  # the first start dies, the second answers
    grade.start_kernel(client, tmp_path, tries=2)
    with client.setup_kernel(cleanup_kc=True):
        client.execute_cell(nb.cells[0], 0)
    assert len(starts) == 2
    assert nb.cells[0].outputs[0]["text"].strip() == "[]"  # its sockets are not in sight

    starts.clear()
    dying = 2  # every try dies: the error says how many there were
    with pytest.raises(RuntimeError, match="did not start \\(2 tries\\)"):
        grade.start_kernel(client, tmp_path, tries=2)
    assert len(starts) == 2
