"""How rpslib's modules import each other: no cycle at run time, and each imports alone.

A module below the trainer (callbacks, hooks, schedulers, plots, ...) may name
``rpslib.trainer.Architecture`` in its type hints, under ``if TYPE_CHECKING:``, but never import
the trainer when it runs, not even inside a function: that is a cycle a reader has to untangle,
and the next top-level import along it fails with a half-initialized module.
"""

from __future__ import annotations

import ast
import graphlib
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "rpslib"


def source_modules(package: Path = PACKAGE) -> list[str]:
    """Every module of the package's source tree, subpackages included (``rpslib.plots`` for
    ``plots/__init__.py``), whether or not an import or a wheel would find it."""
    names = []
    for path in package.rglob("*.py"):
        parts = path.relative_to(package.parent).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return sorted(names)


def importable_modules(package: Path = PACKAGE) -> list[str]:
    """The modules of the source tree that an import only defines: not ``__main__`` (the
    ``python -m rpslib.data`` script, which gets the images when imported)."""
    return [name for name in source_modules(package) if not name.endswith(".__main__")]


@dataclass(frozen=True)
class Import:
    """One edge of the import graph: ``module`` imports ``target`` at ``path:line``."""

    module: str
    target: str
    path: str  # relative to the package's folder: rpslib/optim.py
    line: int
    function: str | None  # the function it runs in; None: when the module is imported

    def __str__(self) -> str:
        inside = f", inside {self.function}()" if self.function else ""
        return f"{self.module} imports {self.target} ({self.path}:{self.line}{inside})"


def _is_type_checking(test: ast.expr) -> bool:
    return ((isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
            or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"))


class _Imports(ast.NodeVisitor):
    """The package's imports in one module that run: at import time or when a function is
    called; not those under ``if TYPE_CHECKING:``."""

    def __init__(self, module: str, path: Path, package: Path, modules: set[str]) -> None:
        self.module, self.modules = module, modules
        self.path = path.relative_to(package.parent).as_posix()
        self.is_package = path.name == "__init__.py"
        self.ancestors = {".".join(module.split(".")[:i]) for i in range(1, module.count(".") + 1)}
        self.function: list[str] = []
        self.found: list[Import] = []

    def visit_If(self, node: ast.If) -> None:
        if not _is_type_checking(node.test):
            for statement in node.body:
                self.visit(statement)
        for statement in node.orelse:  # the else of TYPE_CHECKING runs
            self.visit(statement)

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.function.append(node.name)
        self.generic_visit(node)
        self.function.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._imports(alias.name, node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = node.module or ""
        if node.level:  # relative: from . import x, from .sibling import y
            package = self.module.split(".")
            if not self.is_package:
                package = package[:-1]
            package = package[:len(package) - node.level + 1]
            base = ".".join(package + ([base] if base else []))
        self._imports(base, node)
        for alias in node.names:
            if f"{base}.{alias.name}" in self.modules:
                self._add(f"{base}.{alias.name}", node)  # a submodule: `from rpslib import plots`
            elif base in self.ancestors:
                # a name the package's __init__ defines (`from rpslib import Architecture`):
                # it exists only once that __init__ has run to its end
                self._add(base, node)

    def _imports(self, dotted: str, node: ast.stmt) -> None:
        """``import a.b.c`` runs a, a.b and a.b.c; a package this module lies in is already
        being imported when this module runs, so that is no edge."""
        parts = dotted.split(".")
        for i in range(1, len(parts) + 1):
            name = ".".join(parts[:i])
            if name in self.modules and name not in self.ancestors and name != self.module:
                self._add(name, node)

    def _add(self, target: str, node: ast.stmt) -> None:
        self.found.append(Import(self.module, target, self.path, node.lineno,
                                 self.function[-1] if self.function else None))


def runtime_imports(package: Path = PACKAGE) -> list[Import]:
    """Every import of one of the package's modules by another that runs (at import time or
    inside a function), read from the source with ``ast``; ``TYPE_CHECKING`` imports left out."""
    modules = set(source_modules(package))
    found = []
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package.parent).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        visitor = _Imports(module, path, package, modules)
        visitor.visit(ast.parse(path.read_text(), filename=str(path)))
        found += visitor.found
    return found


def import_cycles(imports: list[Import]) -> list[list[Import]]:
    """The cycles of the import graph, each as the imports along it (empty: none). Each cycle
    found loses one edge (an import inside a function if it has one: the likely culprit), so
    the next search names another."""
    edges = {(i.module, i.target): i for i in reversed(imports)}  # the first import of each
    cycles: list[list[Import]] = []
    while True:
        graph: dict[str, set[str]] = {}
        for module, target in edges:
            graph.setdefault(module, set()).add(target)
        try:
            tuple(graphlib.TopologicalSorter(graph).static_order())
            return cycles
        except graphlib.CycleError as error:
            # [a, ..., c, a]: each node is one the next imports (its predecessor)
            nodes = error.args[1][::-1]
        cycle = [edges[(nodes[i], nodes[i + 1])] for i in range(len(nodes) - 1)]
        cycles.append(cycle)
        culprit = [i for i in cycle if i.function] or cycle
        del edges[(culprit[-1].module, culprit[-1].target)]


def describe(cycle: list[Import]) -> str:
    names = " -> ".join([i.module for i in cycle] + [cycle[0].module])
    return names + ":\n" + "\n".join(f"    {i}" for i in cycle)


def test_no_rpslib_module_imports_another_in_a_cycle_at_run_time() -> None:
    cycles = import_cycles(runtime_imports())
    if cycles:
        pytest.fail("rpslib's modules import each other in a cycle when they run (a "
                    "TYPE_CHECKING import is fine; a module below the trainer must not import "
                    "it, not even inside a function):\n" + "\n".join(map(describe, cycles)))


def test_the_walk_covers_subpackages_and_every_import_that_runs(tmp_path: Path) -> None:
    # the check above is only as good as this reading of the sources: a package made up here
    package = tmp_path / "rpslib"
    (package / "plots").mkdir(parents=True)
    files = {
        "__init__.py": "from rpslib.trainer import Architecture\n",
        "trainer.py": "from rpslib import plots, hooks\nArchitecture = object\n",
        "hooks.py": ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                     "    from rpslib.trainer import Architecture\n"),  # type hints only: fine
        "plots/__init__.py": "from .lr import plot_lr\n",
        "plots/_axes.py": "",
        "plots/lr.py": ("from rpslib.plots import _axes\n"  # its own package: no edge
                        "def plot_lr():\n    from rpslib import optim\n"),
        "optim.py": "def compare():\n    import rpslib.trainer\n",
        "stats.py": "from rpslib import Architecture\n",  # a name from rpslib/__init__
        "__main__.py": "import rpslib.trainer\n",  # python -m rpslib: a script, not imported
    }
    for name, text in files.items():
        (package / name).write_text(text)
    assert source_modules(package) == [
        "rpslib", "rpslib.__main__", "rpslib.hooks", "rpslib.optim", "rpslib.plots",
        "rpslib.plots._axes", "rpslib.plots.lr", "rpslib.stats", "rpslib.trainer"]
    assert "rpslib.__main__" not in importable_modules(package)
    edges = {(i.module, i.target, i.function) for i in runtime_imports(package)}
    assert edges == {
        ("rpslib", "rpslib.trainer", None),
        ("rpslib.trainer", "rpslib.plots", None), ("rpslib.trainer", "rpslib.hooks", None),
        ("rpslib.plots", "rpslib.plots.lr", None),
        ("rpslib.plots.lr", "rpslib.plots._axes", None),
        ("rpslib.plots.lr", "rpslib.optim", "plot_lr"),
        ("rpslib.optim", "rpslib.trainer", "compare"),
        ("rpslib.stats", "rpslib", None),
        ("rpslib.__main__", "rpslib.trainer", None),
    }
    cycles = import_cycles(runtime_imports(package))
    assert [sorted(i.module for i in c) for c in cycles] == [
        ["rpslib.optim", "rpslib.plots", "rpslib.plots.lr", "rpslib.trainer"]]
    assert "rpslib.optim imports rpslib.trainer (rpslib/optim.py:2, inside compare())" in (
        describe(cycles[0]))
    (package / "trainer.py").write_text("from rpslib import stats\n")
    assert [sorted(i.module for i in c) for c in import_cycles(runtime_imports(package))] == [
        ["rpslib", "rpslib.stats", "rpslib.trainer"]]


# Each module alone, as a notebook's first `import rpslib.X` does. A fresh interpreter each
# would spend about 4 s importing torch again (30 modules: two minutes on 2 cores), so one
# interpreter imports the third-party packages once and forks a child per module: each child
# starts with no rpslib module loaded (about 5 s in all).
IMPORT_EACH_ALONE = r"""
import importlib, os, sys, traceback
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot, numpy, PIL.Image, torch, torchvision, tqdm  # not rpslib: once
failed = []
for name in sys.argv[1:]:
    pid = os.fork()
    if pid == 0:
        try:
            assert not [m for m in sys.modules if m.split(".")[0] == "rpslib"]
            importlib.import_module(name)
        except BaseException:
            print(f"import {name}:", file=sys.stderr)
            traceback.print_exc()
            sys.stderr.flush()
            os._exit(1)
        os._exit(0)
    if os.waitpid(pid, 0)[1] != 0:
        failed.append(name)
print(f"{len(sys.argv) - 1 - len(failed)} imported alone, failed: {failed}")
raise SystemExit(1 if failed else 0)
"""


@pytest.mark.slow  # an interpreter that imports torch, then a child per module: about 5 s
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork (Linux, macOS)")
def test_each_rpslib_module_imports_alone_in_a_fresh_interpreter() -> None:
    modules = importable_modules()
    result = subprocess.run([sys.executable, "-c", IMPORT_EACH_ALONE, *modules], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(modules)} imported alone" in result.stdout
