"""Each exercise check fails on the shipped stub and on a wrong answer, and passes on the
solution, taken from the chapter notebook itself."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import pytest
import torch

from rpslib import exercises

ROOT = Path(__file__).resolve().parent.parent


def wrong_channel_stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    # the slides' approximation: the average of per-image stds is not the pooled std
    flat = x.flatten(2)
    return flat.mean(dim=(0, 2)), flat.std(dim=2).mean(dim=0)


WRONG: dict[str, Callable[..., Any]] = {
    "channel_stats": wrong_channel_stats,
    "standardize": lambda x, m, s: (x - m.view(1, 3, 1, 1)) * s.view(1, 3, 1, 1),
    "unstandardize": lambda x, m, s: x * s.view(1, 3, 1, 1) + m.view(1, 3, 1, 1),  # no clip
    "conv_output_size": lambda size, k, stride=1, padding=0: size - k + 1,  # ignores stride
    # the largest cell overall: a correct answer on the diagonal, not a mistake
    "most_confused": lambda m: divmod(int(m.argmax()), m.shape[1]),
    # no shift by the row maximum: exp overflows to inf for large logits
    "softmax": lambda z: z.exp() / z.exp().sum(dim=1, keepdim=True),
}


def exercise_cells() -> list[tuple[str, str, str, str]]:
    """(chapter, function name, stub source, solution source) for every exercise."""
    found = []
    for path in sorted((ROOT / "book").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        stubs = [c.source for c in nb.cells if "exercise" in c.metadata.get("tags", [])]
        solutions = [c.source for c in nb.cells if "solution" in c.metadata.get("tags", [])]
        for stub, solution in zip(stubs, solutions, strict=True):
            name = stub.split("def ", 1)[1].split("(", 1)[0]
            found.append((path.stem, name, stub, solution))
    return found


CELLS = exercise_cells()


def define(source: str, name: str) -> Callable[..., Any]:
    namespace: dict[str, Any] = {}
    # the solution cell ends by calling its check: run the definitions only
    lines = [line for line in source.splitlines() if not line.startswith("check_")]
    exec("import torch\n" + "\n".join(lines), namespace)  # noqa: S102 (our own notebooks)
    return namespace[name]  # type: ignore[no-any-return]


def test_every_check_has_a_wrong_answer_here() -> None:
    assert CELLS, "no exercises found in book/"
    assert {name for _, name, _, _ in CELLS} <= set(WRONG)


@pytest.mark.parametrize(("chapter", "name", "stub", "solution"), CELLS,
                         ids=[f"{c}-{n}" for c, n, _, _ in CELLS])
def test_check_fails_on_stub_and_wrong_answer_and_passes_on_solution(
        chapter: str, name: str, stub: str, solution: str) -> None:
    check = getattr(exercises, f"check_{name}")
    assert check(define(stub, name)) is False
    with pytest.raises(AssertionError, match=name):
        check(WRONG[name])
    assert check(define(solution, name)) is True
