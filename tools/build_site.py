"""Build the website from the chapters as nbval ran them: every chapter runs once, not twice.

    python tools/build_site.py          # after: pytest --nbval-lax -p tools.nbval_record book/

nbval has just run every chapter top to bottom in a fresh kernel, and ``tools/nbval_record.py``
kept the outputs (``_build/executed/``). This script puts those notebooks, with the book's
other pages and configuration, in ``_build/stage/`` and builds the website from there with
Jupyter Book, warnings as errors and execution off: the website shows exactly the run that
passed the checks. It refuses to build from a chapter whose source changed since it ran, or
that did not run or failed.

On the way it
- fills the status page (``book/status.md``): every chapter's run time and budget
  (``tools/chapter_times.py``), the dataset it ran on, the library versions and the date;
- drops the outputs of cells tagged ``skip-execution`` (the live widgets: the website must
  not embed a dead one, see CONTRIBUTING.md), as a Jupyter Book execution would;
- turns each link of a chapter to the published API page into a link within the site
  (``tools/api_links.py``), checked by the build;
- keeps only the final state of each progress bar: a bar redraws in place with carriage
  returns in Jupyter and Colab; on a web page every redraw would be a line.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tools.api_links import book_config, to_sphinx  # noqa: E402
from tools.chapter_times import TIMINGS, chapter_times  # noqa: E402
from tools.check_site import colab_url  # noqa: E402
from tools.student_notebooks import exercise_names  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
EXECUTED = ROOT / "_build" / "executed"
STAGE = ROOT / "_build" / "stage"
STATUS_MARK = "<!-- the status table: filled in by tools/build_site.py -->"
GUIDE_MARK = "<!-- the chapters' run times and exercises: filled in by tools/build_site.py -->"


class StaleChapterError(RuntimeError):
    """A chapter has no executed copy that matches its source."""


def executed_copy(chapter: str, executed: Path = EXECUTED, root: Path = ROOT) -> Any:
    """The notebook nbval ran for ``chapter`` (``book/<name>.ipynb``), checked to be current."""
    copy = executed / chapter
    if not copy.exists():
        raise StaleChapterError(
            f"{chapter} has not run (no executed copy in {executed.name}/): run the chapters "
            f"first, python -m pytest --nbval-lax --nbval-current-env -p tools.nbval_record book/")
    nb = nbformat.read(copy, as_version=4)
    ran = nb.metadata.get("rps_executed", {}).get("source_sha256")
    now = hashlib.sha256((root / chapter).read_bytes()).hexdigest()
    if ran != now:
        raise StaleChapterError(f"{chapter} changed since it ran: run the chapters again")
    return nb


def final_lines(text: str) -> str:
    """Each line as a terminal would leave it: what follows its last carriage return."""
    return "\n".join(line.rsplit("\r", 1)[-1] for line in text.split("\n"))


def for_the_website(nb: Any) -> Any:
    """The executed notebook as the website shows it (see the module's docstring)."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = to_sphinx(cell.source)
        if cell.cell_type != "code":
            continue
        if "skip-execution" in cell.metadata.get("tags", []):
            cell.outputs = []
            continue
        for output in cell.outputs:
            if output.get("output_type") == "stream":
                output["text"] = final_lines(output["text"])
    nb.metadata.pop("widgets", None)
    return nb


def chapter_title(chapter: str) -> str:
    """The chapter's "# " heading, e.g. "3. Regularizing with dropout"."""
    nb = nbformat.read(ROOT / chapter, as_version=4)
    return next((line[2:].strip() for cell in nb.cells if cell.cell_type == "markdown"
                 for line in cell.source.splitlines() if line.startswith("# ")), chapter)


def status_table(record: dict[str, Any]) -> str:
    """The status page's Markdown: chapters, times, budgets, dataset, versions, date."""
    rows = chapter_times()
    lines = ["| chapter | run time | budget | verdict |", "|---|---|---|---|"]
    for row in rows:
        seconds = "not measured" if row.seconds is None else f"{row.seconds:.1f} s"
        lines.append(f"| [{chapter_title(row.chapter)}]({Path(row.chapter).name}) | {seconds} "
                     f"| {row.budget:g} s | {row.verdict} |")
    libraries = ", ".join(f"{name} {version}"
                          for name, version in record.get("libraries", {}).items())
    sources = sorted({_dataset(EXECUTED / row.chapter) for row in rows})
    return "\n".join([
        *lines, "",
        f"**Run on:** {record.get('date', 'unknown date')}, Python {record.get('python', '?')}.",
        "",
        f"**Dataset:** {'; '.join(sources)}",
        "",
        f"**Libraries:** {libraries}.",
    ])


def guide_table() -> str:
    """The instructor's guide's table: each chapter's run time, exercises and Colab link.

    The exercises are the functions the chapter's stubs define, and what each check verifies
    comes from the first line of its docstring in ``rpslib.exercises``.
    """
    import inspect

    import rpslib.exercises

    lines = ["| chapter | run time | exercises: what the check verifies | Colab |",
             "|---|---|---|---|"]
    for row in chapter_times():
        exercises = []
        for name in exercise_names(nbformat.read(ROOT / row.chapter, as_version=4)):
            check = getattr(rpslib.exercises, f"check_{name}")
            summary = " ".join((inspect.getdoc(check) or "").split("\n\n")[0].split())
            exercises.append(summary.replace("``", "`").removeprefix("Check "))
        stem = Path(row.chapter).stem
        seconds = "not measured" if row.seconds is None else f"{row.seconds:.0f} s"
        lines.append(f"| [{chapter_title(row.chapter)}]({stem}.ipynb) | {seconds} "
                     f"| {'<br>'.join(exercises)} | [open]({colab_url(stem)}) |")
    return "\n".join(lines)


def _dataset(executed: Path) -> str:
    """The line the chapter's setup cell printed about its dataset ("Using ...")."""
    if not executed.exists():
        return "not run"
    nb = nbformat.read(executed, as_version=4)
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            for line in output.get("text", "").splitlines():
                if line.startswith("Using "):
                    return re.sub(r"\s+", " ", line.removeprefix("Using ")).rstrip(".") + "."
    return "unknown"


def stage() -> Path:
    """Write ``_build/stage/``: the book's sources, its chapters as they ran, the status."""
    chapters = [row.chapter for row in chapter_times()]
    notebooks = {chapter: executed_copy(chapter) for chapter in chapters}  # all, or raise
    if STAGE.exists():
        shutil.rmtree(STAGE)
    (STAGE / "book").mkdir(parents=True)
    config = copy.deepcopy(book_config())
    config.setdefault("execute", {})["execute_notebooks"] = "off"  # they ran under nbval
    (STAGE / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False), "utf-8")
    shutil.copy2(ROOT / "_toc.yml", STAGE / "_toc.yml")
    for page in (ROOT / "book").iterdir():
        if page.suffix == ".md":
            shutil.copy2(page, STAGE / "book" / page.name)
    for chapter, nb in notebooks.items():
        nbformat.write(for_the_website(nb), STAGE / chapter)
    status = STAGE / "book" / "status.md"
    if status.exists():
        record = json.loads(TIMINGS.read_text(encoding="utf-8"))
        text = status.read_text(encoding="utf-8")
        if STATUS_MARK not in text:
            raise ValueError(f"book/status.md lacks the line {STATUS_MARK!r}")
        status.write_text(text.replace(STATUS_MARK, status_table(record)), "utf-8")
    guide = STAGE / "book" / "instructors.md"
    if guide.exists():
        text = guide.read_text(encoding="utf-8")
        if GUIDE_MARK not in text:
            raise ValueError(f"book/instructors.md lacks the line {GUIDE_MARK!r}")
        guide.write_text(text.replace(GUIDE_MARK, guide_table()), "utf-8")
    return STAGE


def main() -> int:
    try:
        stage()
    except StaleChapterError as err:
        print(f"build_site: {err}", file=sys.stderr)
        return 1
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    command = [str(jupyter_book), "build", str(STAGE), "--path-output", str(ROOT), "--all",
               "-W", "--keep-going"]
    return subprocess.call(command)


if __name__ == "__main__":
    sys.exit(main())
