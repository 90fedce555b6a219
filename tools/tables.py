"""Markdown tables, as the tools print them (the grader's grades.md, the stand-in's report)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A Markdown (GitHub) table: ``header``, then a line per row; each cell is ``str(cell)``
    with its ``|`` escaped, so that it stays one cell."""

    def cell(value: object) -> str:
        return str(value).replace("|", "\\|")

    lines = ["| " + " | ".join(map(cell, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(cell, row)) + " |" for row in rows]
    return "\n".join(lines)
