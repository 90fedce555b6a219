"""Every chapter runs on Colab: what it imports is there, or its setup cell installs it.

Colab ships a fixed set of packages; a chapter that imports anything else works in CI (whose
environment comes from requirements.txt) and fails on Colab with ModuleNotFoundError.  So
every top-level import of every chapter must be

- the standard library, or ``rpslib`` itself;
- one of Colab's stock packages (``COLAB_STOCK`` below: only those the course relies on; all
  of them come with every Colab runtime);
- or a requirement of ``rpslib`` or of an extra that the chapter's setup cell installs
  (``rpslib[book] @ git+...``), as declared in ``pyproject.toml``.
"""

from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import nbformat
import pytest
import tomllib

from tools.book import chapters

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = chapters()

# Colab's stock packages that the chapters may import without installing them (import names)
COLAB_STOCK = frozenset({"torch", "torchvision", "numpy", "matplotlib", "PIL", "tqdm",
                         "ipywidgets", "IPython"})
EXTRAS = re.compile(r"rpslib\[([\w,\s-]+)\]\s*@")


def imports_of(nb: nbformat.NotebookNode) -> set[str]:
    """The top-level module names that the notebook's code cells import."""
    names = set()
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        # shell and magic lines (!pip, %matplotlib) are not Python
        code = "\n".join(line for line in cell.source.splitlines()
                         if not line.lstrip().startswith(("!", "%")))
        for node in ast.walk(ast.parse(code)):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names


def requirement_name(requirement: str) -> str:
    """'torch-lr-finder>=0.2.1' -> 'torch-lr-finder' (normalized)."""
    name = re.split(r"[<>=!~;\[\s]", requirement.strip(), maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def installed_by(nb: nbformat.NotebookNode) -> set[str]:
    """The distributions the setup cell installs on Colab: rpslib's requirements and extras'."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    setup = next(c for c in nb.cells if "setup" in c.metadata.get("tags", []))
    found = EXTRAS.search(setup.source)
    extras = [e.strip() for e in found.group(1).split(",")] if found else []
    requirements = list(project["dependencies"])
    for extra in extras:
        requirements += project["optional-dependencies"][extra]
    return {requirement_name(r) for r in requirements}


def test_the_book_extra_is_what_the_chapters_need() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    book = {requirement_name(r) for r in project["optional-dependencies"]["book"]}
    assert "torch-lr-finder" in book
    # Colab has ipywidgets, a laptop's Jupyter may not: chapters 3, 5 and 8 make controls
    assert "ipywidgets" in book


def missing_on_colab(nb: nbformat.NotebookNode) -> list[str]:
    """The imports of ``nb`` that Colab lacks and its setup cell does not install."""
    installed = installed_by(nb)
    distributions = packages_distributions()
    missing = []
    for name in sorted(imports_of(nb)):
        if name in sys.stdlib_module_names or name == "rpslib" or name in COLAB_STOCK:
            continue
        dists = {requirement_name(d) for d in distributions.get(name, [name])}
        if not dists & installed:
            missing.append(f"{name} (from {', '.join(sorted(dists))})")
    return missing


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_every_import_is_on_colab_or_installed_by_the_setup_cell(path: Path) -> None:
    missing = missing_on_colab(nbformat.read(path, as_version=4))
    assert not missing, (f"{path.name} imports {missing}, which Colab does not ship and its "
                         f"setup cell does not install: add it to the 'book' extra in "
                         f"pyproject.toml")


def chapter_like(setup: str, code: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(setup, metadata={"tags": ["setup"]}),
                nbformat.v4.new_code_cell(code)]
    return nb


def test_an_import_that_colab_lacks_is_caught() -> None:
    plain = '["pip", "install", "rpslib @ git+https://example.org/r@main"]'
    extra = '["pip", "install", "rpslib[book] @ git+https://example.org/r@main"]'
    finder = "from torch_lr_finder import LRFinder\nimport numpy, json"
    assert missing_on_colab(chapter_like(plain, finder)) == [
        "torch_lr_finder (from torch-lr-finder)"]
    assert missing_on_colab(chapter_like(extra, finder)) == []
    assert missing_on_colab(chapter_like(extra, "import nbformat")) == [
        "nbformat (from nbformat)"]


def test_the_import_reader_sees_what_it_must() -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("!pip install x\nimport os, torch.nn as nn\n"
                                          "from torch_lr_finder import LRFinder\n"
                                          "from . import local\n%matplotlib inline")]
    assert imports_of(nb) == {"os", "torch", "torch_lr_finder"}
