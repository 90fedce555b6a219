"""tools/tables.py: the Markdown tables of the grader and the stand-in's report."""

from __future__ import annotations

from tools.tables import markdown_table


def test_a_table_has_a_header_a_rule_and_a_line_per_row() -> None:
    table = markdown_table(["student", "solved"], [["ann", "2/2"], ["bo", 0]])
    assert table.splitlines() == ["| student | solved |", "|---|---|", "| ann | 2/2 |",
                                  "| bo | 0 |"]


def test_a_pipe_in_a_cell_is_escaped_so_that_it_stays_one_cell() -> None:
    table = markdown_table(["why"], [["wrong: a | b"]])
    assert table.splitlines()[-1] == "| wrong: a \\| b |"
