"""Each chapter links an ``rpslib`` name to the API reference where its text first uses it.

    python -m tools.api_links           # adds the missing links to the chapters
    python -m tools.api_links --check   # exits 1, listing them, if a first use has no link

A link is plain Markdown to the published API page, so that it works wherever a reader meets
the chapter (the website, Colab, GitHub, Jupyter)::

    [`lr_sequence`](https://rps-course.github.io/rock-paper-scissors/book/api.html#rpslib.schedulers.lr_sequence)

The address is ``html: baseurl`` of ``_config.yml`` followed by ``book/api.html``, and the
fragment is the name's id on that page: its full dotted path where it is defined (the
re-export ``rpslib.data.download_rps`` is documented as
``rpslib.data.download.download_rps``),
``module-`` and the path for a module. The website does not send its readers to the
published copy: the book's Sphinx extension (``tools/sphinx_rps.py``) turns each of these
links into a Sphinx cross-reference (``to_sphinx``) as it reads a chapter, so on the website
it stays on the site, offline too, and a name that is not on the API page fails the build.

What counts as a use of a name: a piece of inline code in the text (not in code cells, where
a link cannot go) that is an ``rpslib`` name, optionally followed by a call's parentheses:
a full path (``rpslib.schedulers.lr_sequence``, ``rpslib.optim.SGD``, ``rpslib.plots``),
a class and its method (``Architecture.set_lr_scheduler``), or a bare name that only
``rpslib`` defines among the libraries the chapters use (``get_rps``, ``CNN2``; not ``SGD``,
which is also ``torch.optim.SGD``).
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import sys
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import Any

import nbformat

from tools.book import api_page, chapters

ROOT = Path(__file__).resolve().parent.parent

# inline code, possibly already the text of a Markdown link: [`name`](address)
CODE = re.compile(r"(\[)?`([^`\n]+)`(\]\(([^)\s]+)\))?")
# a name, optionally called: lr_sequence, lr_sequence(), lr_sequence(scheduler, n_steps)
NAME = re.compile(r"^([A-Za-z_][\w.]*)(\(.*\))?$")


def public_modules() -> list[ModuleType]:
    """The package and each of its modules and subpackages (``rpslib.plots.images``) none of
    whose names starts with an underscore."""
    import rpslib

    names = [info.name for info in pkgutil.walk_packages(rpslib.__path__, prefix="rpslib.")
             if not any(part.startswith("_") for part in info.name.split("."))]
    return [rpslib] + [importlib.import_module(name) for name in names]


def public_names(module: ModuleType) -> list[str]:
    """The module's ``__all__``, or the public functions and classes it defines."""
    if hasattr(module, "__all__"):
        return list(module.__all__)
    return [name for name, obj in vars(module).items()
            if not name.startswith("_") and (inspect.isfunction(obj) or inspect.isclass(obj))
            and obj.__module__ == module.__name__]


def home(module: ModuleType, name: str) -> str:
    """The module that defines ``module.name`` (another one for a re-export)."""
    obj = getattr(module, name)
    defined_in = getattr(obj, "__module__", None)
    if (inspect.isfunction(obj) or inspect.isclass(obj)) and defined_in != module.__name__:
        return str(defined_in)
    return module.__name__


def _elsewhere(name: str) -> bool:
    """Whether a library the chapters use also has ``name`` (a bare name is then ambiguous)."""
    import torch
    import torchvision
    from torch import nn, optim
    from torch.optim import lr_scheduler
    from torch.utils import data

    return any(hasattr(library, name) for library in
               (torch, nn, nn.functional, optim, lr_scheduler, data, torchvision.transforms,
                torchvision.datasets, torch.Tensor, nn.Module, optim.Optimizer))


@lru_cache(maxsize=1)
def targets() -> dict[str, str]:
    """How the text may write an ``rpslib`` name -> the name's dotted path on the API page."""
    found: dict[str, str] = {}
    bare: dict[str, set[str]] = {}
    methods: dict[str, set[str]] = {}
    for module in public_modules():
        found[module.__name__] = module.__name__
        for name in public_names(module):
            path = f"{home(module, name)}.{name}"
            found[f"{module.__name__}.{name}"] = path
            bare.setdefault(name, set()).add(path)
            obj = getattr(module, name)
            if inspect.isclass(obj) and obj.__module__.startswith("rpslib"):
                for attr, member in vars(obj).items():
                    if attr.startswith("_") or not (inspect.isfunction(member) or
                                                    isinstance(member, (property, staticmethod,
                                                                        classmethod))):
                        continue
                    for written in (f"{name}.{attr}", f"{module.__name__}.{name}.{attr}"):
                        found[written] = f"{path}.{attr}"
                    methods.setdefault(attr, set()).add(f"{path}.{attr}")
    # a bare name: a function or class, else a method (``capture_parameters``), that only one
    # place of rpslib defines and no library the chapters use has
    for candidates in (bare, methods):
        for name, paths in candidates.items():
            if name not in found and len(paths) == 1 and not _elsewhere(name):
                found[name] = next(iter(paths))
    return found


@lru_cache(maxsize=1)
def _module_names() -> frozenset[str]:
    return frozenset(module.__name__ for module in public_modules())


def anchor(path: str) -> str:
    """The id of ``path``'s entry on the API page (Sphinx prefixes a module's)."""
    return f"module-{path}" if path in _module_names() else path


def target_of(code: str) -> str | None:
    """The dotted path ``code`` (the inside of inline code) names, if it names rpslib's."""
    match = NAME.match(code.strip())
    return targets().get(match.group(1)) if match else None


def _first_uses(nb: Any) -> list[tuple[int, re.Match[str], str]]:
    """(cell index, match, the link it should be) of each rpslib name's first use in the
    text, in order."""
    page = api_page()
    seen: set[str] = set()
    uses = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown":
            continue
        for match in CODE.finditer(cell.source):
            target = target_of(match.group(2))
            if target is None or target in seen:
                continue
            seen.add(target)
            uses.append((index, match, f"[`{match.group(2)}`]({page}#{anchor(target)})"))
    return uses


def unlinked(nb: Any) -> list[str]:
    """The names whose first use in the text is not a link to their entry."""
    return [f"cell {index}: `{match.group(2)}` (link it: {link})"
            for index, match, link in _first_uses(nb) if match.group(0) != link]


def link_first_uses(nb: Any) -> int:
    """Make each name's first use in the text a link to its entry; returns how many changed."""
    edits: dict[int, list[tuple[int, int, str]]] = {}
    for index, match, link in _first_uses(nb):
        if match.group(0) != link:
            # plain code becomes a link; a link to the wrong place is replaced whole
            start, end = match.span()
            if match.group(1) is not None and match.group(3) is None:
                start += 1  # "[`x`" not followed by "](...)": keep the "["
            edits.setdefault(index, []).append((start, end, link))
    for index, cell_edits in edits.items():
        source = nb.cells[index].source
        for start, end, link in sorted(cell_edits, reverse=True):
            source = source[:start] + link + source[end:]
        nb.cells[index].source = source
    return sum(len(cell_edits) for cell_edits in edits.values())


def to_sphinx(markdown: str) -> str:
    """The website's version of a chapter's text: each API link a Sphinx cross-reference."""
    return _api_link().sub(lambda m: f"{{py:obj}}`{m.group(1)} <{m.group(2)}>`", markdown)


@lru_cache(maxsize=1)
def _api_link() -> re.Pattern[str]:
    """A link to the published API page: its code text, and the dotted path."""
    return re.compile(rf"\[`([^`\n]+)`\]\({re.escape(api_page())}#(?:module-)?([\w.]+)\)")


def main(argv: list[str]) -> int:
    check = "--check" in argv
    status = 0
    for path in chapters():  # the chapters of _toc.yml
        nb = nbformat.read(path, as_version=4)
        if check:
            for problem in unlinked(nb):
                print(f"{path.relative_to(ROOT)}: {problem}")
                status = 1
        elif link_first_uses(nb):
            nbformat.write(nb, path)
            print(f"linked the first uses in {path.relative_to(ROOT)}")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
