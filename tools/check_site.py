"""After the build: every chapter's page exists and carries executed output.

    python tools/check_site.py _build/html

A notebook that silently did not run would produce a page without outputs; this fails then.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tools.api_links import api_page, book_config  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def colab_url(stem: str) -> str:
    """The Colab address of a chapter, from the repository and branch in _config.yml."""
    config = book_config()["repository"]
    repo = config["url"].removeprefix("https://github.com/").rstrip("/")
    return (f"https://colab.research.google.com/github/{repo}/blob/{config['branch']}/"
            f"book/{stem}.ipynb")


def machine_paths() -> list[str]:
    """Folders of this machine that no page may show (the repository, the home folder)."""
    paths = {str(ROOT), str(Path.home())}
    return sorted(p for p in paths if len(p) > 1)


def main(argv: list[str]) -> int:
    # the theme's dependency: in the book's environment, not in the oldest-versions one, whose
    # tests import this module
    from bs4 import BeautifulSoup

    html = Path(argv[0]) if argv else ROOT / "_build" / "html"
    problems = []
    chapters = sorted((ROOT / "book").glob("*.ipynb"))
    if not chapters:
        problems.append("no chapters in book/")
    for nb in chapters:
        page = html / "book" / f"{nb.stem}.html"
        if not page.exists():
            problems.append(f"{page} is missing")
            continue
        text = page.read_text(encoding="utf-8")
        if text.count('class="cell_output') < 3:
            problems.append(f"{page.name} has fewer than 3 cell outputs: did it run?")
        if "Traceback" in text or 'class="output traceback' in text:
            problems.append(f"{page.name} shows a traceback")
        if colab_url(nb.stem) not in text:
            problems.append(f"{page.name} has no 'Open in Colab' button for {nb.name}")
        if "widget-view" in text or "jupyter-widgets" in text:
            problems.append(f"{page.name} embeds a widget, which shows as an empty box offline")
        if f'href="{api_page()}#' in text:
            problems.append(f"{page.name} sends its readers to the published API page, not "
                            f"to this site's (tools/build_site.py: to_sphinx)")
        outputs = BeautifulSoup(text, "html.parser").select("div.cell_output")
        if any("|---" in output.get_text() for output in outputs):
            problems.append(f"{page.name} shows a Markdown table as raw text")
    for page in sorted(html.rglob("*.html")):
        text = page.read_text(encoding="utf-8")
        for path in machine_paths():
            if path in text:
                problems.append(f"{page.relative_to(html)} shows {path}, a path of the machine "
                                f"that built it")
    for p in problems:
        print("site check:", p)
    print(f"site check: {len(chapters)} chapter pages, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
