"""The chapters' run times against their budgets (``budgets.yml``): the gate CI runs.

    python tools/chapter_times.py            # print the table; exit 1 past twice a budget

Reads the times nbval measured (``_build/executed/timings.json``, written by
``tools/nbval_record.py``). Every chapter of ``_toc.yml`` must have been measured, and
passed; one that ran past twice its budget fails, one merely over its budget is reported.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
TIMINGS = ROOT / "_build" / "executed" / "timings.json"
BUDGETS = ROOT / "budgets.yml"
GATE = 2.0  # CI fails a chapter only past this multiple of its budget


@dataclass
class ChapterTime:
    chapter: str  # "book/03_dropout.ipynb"
    seconds: float | None  # None: not measured
    budget: float
    passed: bool

    @property
    def verdict(self) -> str:
        if self.seconds is None:
            return "not measured"
        if not self.passed:
            return "failed"
        if self.seconds > GATE * self.budget:
            return f"past {GATE:g}x its budget"
        if self.seconds > self.budget:
            return "over budget"
        return "within budget"

    @property
    def fails(self) -> bool:
        return self.verdict not in ("within budget", "over budget")


def toc_chapters(root: Path = ROOT) -> list[str]:
    """Every chapter notebook of ``_toc.yml``, as ``book/<name>.ipynb``, in order."""
    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    files = [entry["file"] for part in toc.get("parts", []) for entry in part["chapters"]]
    return [f"{f}.ipynb" for f in files if (root / f"{f}.ipynb").exists()]


def chapter_times(timings: Path = TIMINGS, budgets: Path = BUDGETS,
                  root: Path = ROOT) -> list[ChapterTime]:
    """Each chapter's measured time, budget and verdict."""
    config = yaml.safe_load(budgets.read_text(encoding="utf-8"))
    measured = {}
    if timings.exists():
        measured = json.loads(timings.read_text(encoding="utf-8")).get("chapters", {})
    rows = []
    for chapter in toc_chapters(root):
        budget = float(config.get("chapters", {}).get(chapter, config["default"]))
        entry = measured.get(chapter)
        rows.append(ChapterTime(chapter, None if entry is None else float(entry["seconds"]),
                                budget, True if entry is None else bool(entry["passed"])))
    return rows


def main() -> int:
    rows = chapter_times()
    print(f"{'chapter':<32} {'seconds':>8} {'budget':>7}  verdict")
    for row in rows:
        seconds = "-" if row.seconds is None else f"{row.seconds:.1f}"
        print(f"{row.chapter:<32} {seconds:>8} {row.budget:>7g}  {row.verdict}")
    failing = [row for row in rows if row.fails]
    for row in failing:
        print(f"chapter times: {row.chapter} {row.verdict}", file=sys.stderr)
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main())
