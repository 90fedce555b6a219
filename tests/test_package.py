"""The package as a whole: importing it changes nothing; progress bars and threads behave."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest
import torch
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
import rpslib, rpslib.data, rpslib.download, rpslib.handgen, rpslib.models, rpslib.trainer
import rpslib.plots, rpslib.progress, rpslib.runtime, rpslib.bench
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


def test_torch_threads_restores_even_after_an_error() -> None:
    before = torch.get_num_threads()
    target = 1 if before != 1 else 2
    with pytest.raises(RuntimeError), torch_threads(target):
        assert torch.get_num_threads() == target
        raise RuntimeError("boom")
    assert torch.get_num_threads() == before
    with torch_threads(None):
        assert torch.get_num_threads() == before
