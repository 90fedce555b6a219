"""The API reference (book/api.md) documents every public name of rpslib.

The page is built by Sphinx autodoc from the docstrings, one ``automodule`` per module; a
module missing from the page, a name left out, or a name without a docstring (autodoc skips
those) would leave a reader of the website with no entry for it. Two checks:

- the page's source, fast: every public module has its ``.. automodule:: ... :members:``,
  nothing public is excluded except a re-export documented with its own module, and every
  public name has the docstring (or ``#:`` comment, for a constant) autodoc needs;
- the built page, once the website has been built from the current sources
  (``make book``, then ``pytest -m website``): every public name has its
  entry, an element whose id is the name's full dotted path, and every "Introduced in
  chapter N" links to chapter N.

A module's public names are its ``__all__``, or, without one, the functions and classes it
defines whose names do not start with an underscore; the package's are ``rpslib.__all__``.
"""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch

from tools.api_links import home, public_modules, public_names

ROOT = Path(__file__).resolve().parent.parent
API_PAGE = ROOT / "book" / "api.md"
BUILT_PAGE = ROOT / "_build" / "html" / "book" / "api.html"
DIRECTIVE = re.compile(r"^\.\. automodule:: +(\S+) *\n((?:[ \t]+:.*\n?)*)", re.MULTILINE)
OPTION = re.compile(r"^\s+:([\w-]+):(.*)$", re.MULTILINE)


PUBLIC = [(module.__name__, name) for module in public_modules() for name in public_names(module)]


def automodules(text: str) -> dict[str, dict[str, str]]:
    """Each ``automodule`` of the page's source, with its options (``{"members": ""}``)."""
    return {match.group(1): {option.group(1): option.group(2).strip()
                             for option in OPTION.finditer(match.group(2))}
            for match in DIRECTIVE.finditer(text)}


def test_the_package_has_public_names() -> None:
    assert len(PUBLIC) >= 100
    assert ("rpslib", "CNN2") in PUBLIC and ("rpslib.data", "get_rps") in PUBLIC


def test_the_packages_docstring_names_every_module() -> None:
    # the top of the API page: a reader finds every module there
    import rpslib

    unnamed = [m.__name__ for m in public_modules()[1:] if f"``{m.__name__}``" not in
               (rpslib.__doc__ or "")]
    assert not unnamed, f"rpslib's docstring does not name {unnamed}"


@pytest.mark.parametrize("module", [m.__name__ for m in public_modules()])
def test_every_public_module_is_on_the_page_with_its_members(module: str) -> None:
    documented = automodules(API_PAGE.read_text(encoding="utf-8"))
    assert module in documented, f"book/api.md has no '.. automodule:: {module}'"
    imported = importlib.import_module(module)
    # a package that only hands names on (rpslib, rpslib.plots) needs no :members: of its
    # own: each name is documented with the module that defines it
    if any(home(imported, name) == module for name in public_names(imported)):
        assert "members" in documented[module], f"{module} is on book/api.md without :members:"
    for name in public_names(imported):
        where = home(imported, name)
        assert "members" in documented.get(where, {}), (
            f"{module}.{name} comes from {where}, which book/api.md does not document")


@pytest.mark.parametrize("module", [m.__name__ for m in public_modules()])
def test_nothing_public_is_excluded_but_a_reexport(module: str) -> None:
    options = automodules(API_PAGE.read_text(encoding="utf-8")).get(module, {})
    excluded = [name.strip() for name in options.get("exclude-members", "").split(",")
                if name.strip()]
    imported = importlib.import_module(module)
    for name in excluded:
        if name in public_names(imported):
            assert home(imported, name) != module, (
                f"book/api.md excludes {module}.{name}, which is defined there")


def has_docstring(module: ModuleType, name: str) -> bool:
    """Whether autodoc has something to show for ``module.name`` (it skips the undocumented)."""
    obj: Any = getattr(module, name)
    if inspect.isfunction(obj) or inspect.isclass(obj):
        return bool((obj.__doc__ or "").strip())
    # a constant: its "#:" comment, as autodoc reads it (Sphinx: the book's environment only)
    pycode = pytest.importorskip("sphinx.pycode", reason="Sphinx reads '#:' comments; it is in "
                                 "the book's environment (make test), not the oldest versions'")
    ModuleAnalyzer = pycode.ModuleAnalyzer  # noqa: N806
    return ("", name) in ModuleAnalyzer.for_module(module.__name__).find_attr_docs()


@pytest.mark.parametrize(("module", "name"), PUBLIC, ids=[f"{m}.{n}" for m, n in PUBLIC])
def test_every_public_name_has_a_docstring(module: str, name: str) -> None:
    where = importlib.import_module(home(importlib.import_module(module), name))
    assert has_docstring(where, name), (
        f"{where.__name__}.{name} has no docstring (a constant: no '#:' comment), so the API "
        f"reference skips it")


def built_page() -> Any:
    """The built page, parsed; skips when it is missing or older than its sources."""
    if not BUILT_PAGE.exists():
        pytest.skip("the website is not built: make book")
    sources = [API_PAGE, *sorted((ROOT / "rpslib").rglob("*.py"))]
    if BUILT_PAGE.stat().st_mtime < max(path.stat().st_mtime for path in sources):
        pytest.skip("the website is older than rpslib or book/api.md: make book")
    # the book theme's dependency: in the book's environment, where make test checks the page
    bs4 = pytest.importorskip("bs4", reason="the built page is checked in the book's "
                              "environment (make test), which has the theme's BeautifulSoup")
    return bs4.BeautifulSoup(BUILT_PAGE.read_text(encoding="utf-8"), "html.parser")


@pytest.mark.website  # after the build: make test runs it with the browser test
def test_the_built_page_has_an_entry_for_every_public_name() -> None:
    page = built_page()
    ids = {element["id"] for element in page.find_all(id=True)}
    missing = []
    for module, name in PUBLIC:
        where = home(importlib.import_module(module), name)  # a re-export: with its module
        if f"{module}.{name}" not in ids and f"{where}.{name}" not in ids:
            missing.append(f"{module}.{name}")
    assert not missing, f"the API reference has no entry for {missing}"
    for imported in public_modules():
        assert f"module-{imported.__name__}" in ids, f"no section for {imported.__name__}"


@pytest.mark.website  # after the build: make test runs it with the browser test
def test_the_built_page_links_each_entry_to_its_chapter() -> None:
    page = built_page()
    content = page.select_one("article") or page
    tags = re.findall(r"Introduced in\s+chapter (\d+)", content.get_text())
    links = []
    for anchor in content.find_all("a"):
        match = re.fullmatch(r"chapter (\d+)", anchor.get_text().strip())
        if match:
            links.append(match.group(1))
            assert re.fullmatch(rf"0?{match.group(1)}_\w+\.html", anchor.get("href", "")), (
                f"'chapter {match.group(1)}' links to {anchor.get('href')}")
    assert len(tags) >= 20
    assert sorted(links) == sorted(tags), "an 'Introduced in chapter N' with no link"


# Every public name of Godoy's StepByStep (stepbystep/v3.py of dvgodoy/PyTorchStepByStep, as
# published): its methods and the attributes its __init__ sets, and make_lr_fn
GODOY = ["model", "loss_fn", "optimizer", "device", "train_loader", "val_loader", "writer",
         "scheduler", "is_batch_lr_scheduler", "losses", "val_losses", "learning_rates",
         "total_epochs", "visualization", "handles", "train_step_fn", "val_step_fn", "to",
         "set_loaders", "set_tensorboard", "set_seed", "train", "save_checkpoint",
         "load_checkpoint", "predict", "plot_losses", "add_graph", "count_parameters",
         "visualize_filters", "attach_hooks", "remove_hooks", "visualize_outputs", "correct",
         "loader_apply", "statistics_per_channel", "make_normalizer", "lr_range_test",
         "set_optimizer", "capture_gradients", "capture_parameters", "set_lr_scheduler",
         "make_lr_fn"]


def godoy_table() -> dict[str, str]:
    """The API page's "Coming from Godoy's StepByStep" table: name -> kept/changed/left out."""
    text = API_PAGE.read_text(encoding="utf-8")
    section = text.split("## Coming from Godoy's StepByStep", 1)[1].split("\n## ", 1)[0]
    verdicts = {}
    for row in section.splitlines():
        cells = [c.strip() for c in row.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[1] in ("kept", "changed", "left out"):
            for code in re.findall(r"`([^`]+)`", cells[0]):
                verdicts[re.match(r"\w+", code).group(0)] = cells[1]  # type: ignore[union-attr]
    return verdicts


def test_the_godoy_table_names_every_public_name_of_stepbystep() -> None:
    from torch import nn

    from rpslib.lr_finder import make_lr_fn
    from rpslib.trainer import Architecture

    table = godoy_table()
    assert sorted(set(GODOY) - set(table)) == [], "missing from the table"
    model = nn.Linear(1, 1)
    arch = Architecture(model, nn.MSELoss(), torch.optim.SGD(model.parameters(), lr=0.1))
    for name, verdict in table.items():
        if name in ("StepByStep", "make_lr_fn"):
            continue
        present = hasattr(arch, name)
        if verdict == "kept":
            assert present, f"the table keeps {name}, which Architecture lacks"
        elif verdict == "left out":
            assert not present, f"the table leaves out {name}, which Architecture has"
    assert callable(make_lr_fn) and table["make_lr_fn"] == "kept"
