"""The grader's two halves of a verdict: the code it sends into the student's kernel, and the
judging, in its own process, of the answers that code wrote.

``grader_code`` is the text the kernel runs once the notebook has: it builds each exercise's
cases from a seed (with the source of ``rpslib.exercises`` the grader read when it started),
calls the student's function on their inputs, and writes what came back as data: JSON, with
tensors as numpy arrays (``np.savez``).  ``judge`` reads that data without unpickling
anything, builds the same cases here, with the expected answers, and compares: nothing the
student can define or patch in the kernel takes part.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from rpslib import exercises

SOLVED, NOT_ATTEMPTED, MISSING, WRONG = "solved", "not attempted", "missing", "wrong"

# What the grader runs in the student's kernel once the notebook has run. Placeholders:
# NONCE (hex), SOURCE (the text of rpslib/exercises.py), NAMES (the exercises), SEED (the
# cases'), REPORT and ARRAYS (where to write). It returns nothing that decides: the answers,
# as data. Everything it defines lives inside one function, deleted at the end.
GRADER_CODE = '''
def _rps_grader_NONCE():
    import json as _json
    import sys as _sys
    import types as _types

    import numpy as _np

    _origin = "<rps-grader NONCE>"
    _module = _types.ModuleType("_rps_grader_exercises_NONCE")
    _module.__file__ = _origin
    _sys.modules[_module.__name__] = _module
    try:
        exec(compile(SOURCE, _origin, "exec"), _module.__dict__)
    finally:
        del _sys.modules[_module.__name__]
    _user = get_ipython().user_ns
    _arrays = {}
    _report = {_name: _module.answers_as_data(_name, _user, SEED, _arrays) for _name in NAMES}
    _np.savez(ARRAYS, **_arrays)
    with open(REPORT, "w") as _file:
        _json.dump(_report, _file)


try:
    _rps_grader_NONCE()
finally:
    del _rps_grader_NONCE
'''


def grader_code(nonce: str, source: str, names: list[str], seed: int, report: Path,
                arrays: Path) -> str:
    values = {"NONCE": nonce, "SOURCE": repr(source), "NAMES": repr(tuple(names)),
              "SEED": str(seed), "REPORT": repr(str(report)), "ARRAYS": repr(str(arrays))}
    # one pass: what is put in (the source of rpslib.exercises) is not searched again
    return re.sub("NONCE|SOURCE|NAMES|SEED|REPORT|ARRAYS", lambda m: values[m.group()],
                  GRADER_CODE)


def judge(names: list[str], seed: int, report: Path,
          arrays: Path) -> dict[str, tuple[str, str]]:
    """{name: (result, why)}: the answers the kernel wrote, judged here against the expected
    answers of the same seed's cases, computed here (never in the student's kernel)."""
    data = json.loads(report.read_text(encoding="utf-8"))
    with np.load(arrays, allow_pickle=False) as npz:
        loaded = {key: npz[key] for key in npz.files}
    verdicts = {}
    for name in names:
        entry = data.get(name) if isinstance(data, dict) else None
        if not isinstance(entry, dict):
            verdicts[name] = (WRONG, "the grader got no answer for it")
            continue
        status, message = entry.get("status"), str(entry.get("message", ""))
        if status == "missing":
            verdicts[name] = (MISSING, f"no function named {name}")
        elif status == "not attempted":
            verdicts[name] = (NOT_ATTEMPTED, "")
        elif status == "not a function":
            verdicts[name] = (WRONG, f"{name} is not a function")
        elif status == "raised":
            verdicts[name] = (WRONG, message)
        elif status == "answered":
            verdicts[name] = _judge_answers(name, seed, entry.get("outputs"), loaded)
        else:
            verdicts[name] = (WRONG, "the grader could not read its answer")
    return verdicts


def _judge_answers(name: str, seed: int, outputs: Any,
                   arrays: dict[str, Any]) -> tuple[str, str]:
    exercise = exercises.EXERCISES[name]
    cases = exercise.cases(seed)
    if not isinstance(outputs, list) or len(outputs) != len(cases):
        return WRONG, "the grader could not read its answers"
    for (args, expected), data in zip(cases, outputs, strict=True):
        try:
            got = exercises.from_data(data, arrays, expected)
        except Exception:
            return WRONG, "the grader could not read its answer"
        if not exercises.is_right(exercise, got, expected):
            return WRONG, exercises.wrong_message(name, args, expected, got)
    return SOLVED, ""
