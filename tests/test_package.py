"""The package as a whole: importing it changes nothing; progress bars and threads behave."""

from __future__ import annotations

import io
import subprocess
import sys
import types
import warnings
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset
from tqdm.std import tqdm

from rpslib.progress import progress
from rpslib.runtime import torch_threads

CHECK_IMPORT = r"""
import random, warnings
import numpy as np, torch, matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torchvision.datasets, torchvision.transforms, tqdm, PIL.Image  # third-party imports
def snapshot():
    return (torch.get_rng_state().tolist(), repr(np.random.get_state()), random.getstate(),
            dict(plt.rcParams), torch.get_num_threads(), torch.get_default_dtype(),
            list(warnings.filters), torch.backends.cudnn.benchmark,
            torch.backends.cudnn.deterministic)
before = snapshot()
import importlib, pkgutil, rpslib
for module in pkgutil.walk_packages(rpslib.__path__, prefix="rpslib."):
    if not module.name.endswith(".__main__"):  # python -m rpslib.data's, which runs
        importlib.import_module(module.name)
after = snapshot()
names = ["torch rng", "numpy rng", "random", "rcParams", "threads", "dtype", "warnings",
         "cudnn.benchmark", "cudnn.deterministic"]
changed = [n for n, b, a in zip(names, before, after) if b != a]
print("changed:", changed)
raise SystemExit(1 if changed else 0)
"""


@pytest.mark.slow  # a fresh interpreter imports torch: a few seconds
def test_importing_rpslib_changes_no_global_state() -> None:
    result = subprocess.run([sys.executable, "-c", CHECK_IMPORT], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_progress_is_plain_text_never_a_widget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RPSLIB_PROGRESS", "1")
    out = io.StringIO()
    bar = progress(range(3), file=out, desc="x")
    assert type(bar) is tqdm  # not tqdm.notebook's widget
    assert list(bar) == [0, 1, 2]
    assert "3/3" in out.getvalue()


@pytest.mark.parametrize(("env", "disable", "shown"),
                         [("0", None, False), ("1", None, True), ("1", True, False),
                          ("0", False, True)])
def test_progress_can_be_silenced(monkeypatch: pytest.MonkeyPatch, env: str,
                                  disable: bool | None, shown: bool) -> None:
    monkeypatch.setenv("RPSLIB_PROGRESS", env)
    out = io.StringIO()
    list(progress(range(2), file=out, disable=disable))
    assert bool(out.getvalue()) is shown


def test_the_final_mode_prints_each_bar_once_as_it_ends(monkeypatch: pytest.MonkeyPatch) -> None:
    # what the website's build sets: a page would show every redraw as a line of its own
    monkeypatch.setenv("RPSLIB_PROGRESS", "final")
    out = io.StringIO()
    bar = progress(range(3), file=out, desc="Epochs", mininterval=0)
    for _ in bar:
        bar.set_postfix(loss=0.5)
    assert out.getvalue().count("Epochs") == 1 and "\r" not in out.getvalue()
    assert "3/3" in out.getvalue() and "loss=0.5" in out.getvalue()
    assert out.getvalue().endswith("\n")
    gone = io.StringIO()
    list(progress(range(3), file=gone, leave=False, mininterval=0))  # erases itself: nothing
    assert gone.getvalue() == ""
    monkeypatch.setenv("RPSLIB_PROGRESS", "1")
    redrawn = io.StringIO()
    list(progress(range(3), file=redrawn, desc="Epochs", mininterval=0))
    assert redrawn.getvalue().count("Epochs") > 1  # in a terminal or Jupyter: redraws


def test_torch_threads_restores_even_after_an_error() -> None:
    before = torch.get_num_threads()
    target = 1 if before != 1 else 2
    with pytest.raises(RuntimeError), torch_threads(target):
        assert torch.get_num_threads() == target
        raise RuntimeError("boom")
    assert torch.get_num_threads() == before
    with torch_threads(None):
        assert torch.get_num_threads() == before


def test_plain_progress_lends_a_module_the_text_bar_and_gives_its_own_back(
        capsys: pytest.CaptureFixture[str]) -> None:
    from tqdm.notebook import tqdm as widget_tqdm

    from rpslib.progress import plain_progress

    library = types.ModuleType("library")  # a library that draws with tqdm.autonotebook
    library.tqdm = widget_tqdm  # type: ignore[attr-defined]
    with plain_progress(library) as module:
        assert module is library and library.tqdm is not widget_tqdm
        assert list(library.tqdm(range(3), disable=False)) == [0, 1, 2]
        bar = library.tqdm(total=2, disable=False)
        assert isinstance(bar, tqdm) and not isinstance(bar, widget_tqdm)
        bar.close()
    assert library.tqdm is widget_tqdm
    assert "3/3" in capsys.readouterr().out  # plain text on stdout
    with pytest.raises(RuntimeError), plain_progress(library):
        raise RuntimeError("boom")
    assert library.tqdm is widget_tqdm  # given back after an error too
    with pytest.raises(AttributeError, match="no 'tqdm'"), plain_progress(types):
        pass


def test_plain_progress_silences_the_notebook_mode_warning_of_the_import(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rpslib.progress import plain_progress

    # what `from tqdm.autonotebook import tqdm` does, the first time, inside a notebook
    (tmp_path / "noisy_library.py").write_text(
        "import warnings\nfrom tqdm.std import TqdmExperimentalWarning, tqdm\n"
        "warnings.warn('Using tqdm.autonotebook.tqdm in notebook mode', "
        "TqdmExperimentalWarning)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with plain_progress("noisy_library") as module:
            assert module.__name__ == "noisy_library"
    assert not caught
    sys.modules.pop("noisy_library", None)


def test_torch_lr_finder_draws_the_text_bar_inside_plain_progress(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from torch_lr_finder import LRFinder

    from rpslib.progress import TextBar, plain_progress

    monkeypatch.setenv("RPSLIB_PROGRESS", "1")
    model = torch.nn.Linear(2, 1)
    data = TensorDataset(torch.randn(8, 2), torch.randn(8, 1))
    finder = LRFinder(model, torch.optim.SGD(model.parameters(), lr=1e-3), torch.nn.MSELoss())
    with plain_progress("torch_lr_finder.lr_finder") as module:
        finder.range_test(DataLoader(data, batch_size=4), end_lr=0.1, num_iter=5)
    finder.reset()
    captured = capsys.readouterr()
    assert "5/5" in captured.out and "5/5" not in captured.err  # ours, on stdout
    assert module.tqdm is not TextBar and module.tqdm.__module__.startswith("tqdm.")


def test_no_module_is_longer_than_450_lines() -> None:
    # a module a reader can hold in their head (CONTRIBUTING, "Where code goes");
    # exercises.py is one file on purpose (its docstring says why)
    root = Path(__file__).resolve().parent.parent
    long = {str(path.relative_to(root)): n for path in sorted((root / "rpslib").rglob("*.py"))
            if (n := len(path.read_text().splitlines())) > 450
            and path != root / "rpslib" / "exercises.py"}
    assert not long, f"over 450 lines: {long}"
