"""What the book is made of: its configuration and its chapters, read from one place each.

``_config.yml`` says where the repository is (the Colab buttons, the setup cells) and where
the website is published; ``_toc.yml`` is the one list of the book's pages, in order. Every
tool and test that needs "the chapters" asks this module, so that a chapter added to
``_toc.yml`` is seen everywhere at once.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent


@lru_cache(maxsize=4)
def config(root: Path = ROOT) -> dict[str, Any]:
    """``_config.yml``, read once (do not change it: copy it first)."""
    data: dict[str, Any] = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))
    return data


def pages(root: Path = ROOT) -> list[str]:
    """Every page of ``_toc.yml`` as a document name (``book/03_dropout``), the root first.

    A ``jb-book`` table of contents lists its chapters under ``parts`` or directly under
    ``chapters``; a chapter may have ``sections``.
    """
    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))

    def files(entries: list[dict[str, Any]]) -> list[str]:
        found = []
        for entry in entries:
            found += [entry["file"]] if "file" in entry else []
            found += files(entry.get("sections", []))
        return found

    entries = [entry for part in toc.get("parts", []) for entry in part.get("chapters", [])]
    return [toc["root"]] + files(entries + toc.get("chapters", []))


def chapters(root: Path = ROOT) -> list[Path]:
    """The chapter notebooks, in the order of ``_toc.yml``: its pages that are ``.ipynb``."""
    return [root / f"{page}.ipynb" for page in pages(root)
            if (root / f"{page}.ipynb").is_file()]


def title(notebook: Path) -> str:
    """The chapter's "# " heading, e.g. "3. Regularizing with dropout" (else its file stem)."""
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    return next((line[2:].strip() for cell in nb.cells if cell.cell_type == "markdown"
                 for line in cell.source.splitlines() if line.startswith("# ")), notebook.stem)


def colab_url(stem: str, root: Path = ROOT) -> str:
    """The Colab address of a chapter, from the repository and branch in ``_config.yml``."""
    repository = config(root)["repository"]
    repo = repository["url"].removeprefix("https://github.com/").rstrip("/")
    return (f"https://colab.research.google.com/github/{repo}/blob/{repository['branch']}/"
            f"book/{stem}.ipynb")


def api_page(root: Path = ROOT) -> str:
    """The published API page's address, from ``html: baseurl`` in ``_config.yml``."""
    return f"{config(root)['html']['baseurl'].rstrip('/')}/book/api.html"
