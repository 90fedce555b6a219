"""Trainings side by side (rpslib.parallel): the same, bit for bit, as training in order."""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn
from torch.optim.lr_scheduler import StepLR
from torch.utils.data import DataLoader

from rpslib.callbacks import Callback
from rpslib.checkpoints import snapshot
from rpslib.parallel import side_by_side_plan, train_side_by_side
from rpslib.trainer import Architecture
from tests.test_trainer import make_arch

two_cores = pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs 2 CPU cores")


@pytest.fixture
def plan_sees_two_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    """The plan counts two cores, whatever the host has: the tests of its reasons need not
    depend on the machine (a one-core runner would otherwise get "one CPU core" first)."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})


class CountingLoss(nn.CrossEntropyLoss):
    """Cross-entropy that counts its calls *in this process* (a forked copy counts its own)."""

    calls = 0
    fail_after: int | None = None

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        type(self).calls += 1
        if self.fail_after is not None and type(self).calls > self.fail_after:
            raise RuntimeError("a training that fails halfway")
        return super().forward(input, target)


def archs_for(case: str) -> list[Architecture]:
    """Fresh Architectures, built the same way every time for ``case``."""
    CountingLoss.calls = 0
    archs = [make_arch(init_seed=0, p=0.3), make_arch(init_seed=1, p=0.0)]
    if case == "three, a scheduler, a loader generator":
        archs.append(make_arch(init_seed=2, p=0.5, generator=torch.Generator()))
        archs[0].set_lr_scheduler(StepLR(archs[0].optimizer, step_size=1, gamma=0.5))
    for arch in archs:
        arch.loss_fn = CountingLoss()
    return archs


def everything(archs: list[Architecture]) -> list[Any]:
    """All that training changes, for every arch, and every generator's state afterwards."""
    generators = [a._loader_generator() for a in archs]
    return [snapshot(a) for a in archs] + [
        [g.get_state() for g in generators if g is not None],
        torch.get_rng_state(), np.random.get_state(legacy=False), random.getstate()]  # noqa: NPY002


def assert_equal(a: Any, b: Any) -> None:
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and torch.equal(a, b)
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys()
        for key in a:
            assert_equal(a[key], b[key])
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            assert_equal(x, y)
    elif isinstance(a, np.ndarray):
        assert np.array_equal(a, b)
    else:
        assert a == b


@two_cores
@pytest.mark.parametrize("case, seed", [("two", 13),
                                        ("three, a scheduler, a loader generator", None)])
def test_side_by_side_equals_training_in_order(case: str, seed: int | None) -> None:
    in_order = archs_for(case)
    for arch in in_order:
        arch.train(1, seed=3, progress=False)  # some history, so that seed=None carries on
        arch.train(2, seed=seed, progress=False)
    expected = everything(in_order)
    assert CountingLoss.calls > 0

    side = archs_for(case)
    for arch in side:
        arch.train(1, seed=3, progress=False)
    assert side_by_side_plan(side)[0] == len(side)
    CountingLoss.calls = 0
    train_side_by_side(side, 2, seed=seed)
    assert CountingLoss.calls == 0, "the trainings ran in other processes"
    assert_equal(everything(side), expected)
    assert all(arch.model.training for arch in side)


@two_cores
def test_a_failing_training_raises_and_changes_nothing() -> None:
    archs = archs_for("two")
    archs[1].loss_fn.fail_after = 5  # type: ignore[union-attr]
    before = everything(archs)
    with pytest.raises(RuntimeError, match="fails halfway"):
        train_side_by_side(archs, 2, seed=13)
    assert_equal(everything(archs), before)
    assert all(arch.losses == [] and arch.total_epochs == 0 for arch in archs)


class Recorder(Callback):
    def __init__(self) -> None:
        self.epochs = 0

    def on_epoch_end(self, arch: Architecture, loss: float, val_loss: float | None) -> None:
        self.epochs += 1


def test_a_recording_callback_keeps_the_trainings_here(plan_sees_two_cores: None) -> None:
    archs = archs_for("two")
    recorder = archs[0].add_callback(Recorder())
    assert side_by_side_plan(archs) == (
        1, "callbacks attached (Recorder) record while training")
    train_side_by_side(archs, 2, seed=13, progress=False)
    assert recorder.epochs == 2 and CountingLoss.calls > 0  # trained here, seen by the callback


@pytest.mark.parametrize("change, reason", [
    ("env", "RPSLIB_PARALLEL=0"),
    ("gpu", "on cuda: the GPU computes each training in parallel already"),
    ("one", "a single training"),
    ("one core", "one CPU core"),
    ("twice", "the same Architecture twice: its trainings follow each other"),
])
def test_the_plan_says_why_it_trains_in_order(change: str, reason: str,
                                              monkeypatch: pytest.MonkeyPatch,
                                              plan_sees_two_cores: None) -> None:
    archs = archs_for("two")
    if change == "env":
        monkeypatch.setenv("RPSLIB_PARALLEL", "0")
    elif change == "gpu":
        archs[1].device = "cuda"  # only the plan reads it
    elif change == "one":
        archs = archs[:1]
    elif change == "one core":
        monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
    else:
        archs = [archs[0], archs[0]]
    assert side_by_side_plan(archs) == (1, reason)


def test_in_order_when_asked_is_training_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RPSLIB_PARALLEL", "0")
    in_order = archs_for("two")
    for arch in in_order:
        arch.train(2, seed=13, progress=False)
    expected = everything(in_order)
    archs = archs_for("two")
    train_side_by_side(archs, 2, seed=13, progress=False)
    assert CountingLoss.calls > 0
    assert_equal(everything(archs), expected)


@two_cores
def test_one_seed_per_arch_equals_training_each_with_its_own() -> None:
    in_order = archs_for("two")
    for arch, seed in zip(in_order, (5, 6), strict=True):
        arch.train(2, seed=seed, progress=False)
    expected = everything(in_order)
    side = archs_for("two")
    train_side_by_side(side, 2, seed=[5, 6], progress=False)
    assert CountingLoss.calls == 0
    assert_equal(everything(side), expected)
    with pytest.raises(ValueError, match="3 seeds for 2 Architectures"):
        train_side_by_side(side, 1, seed=[1, 2, 3])


# --------------------------------------------------------------- what cannot go side by side


@pytest.mark.parametrize("share", ["model", "parameters", "optimizer"])
def test_archs_that_share_train_in_order(share: str, plan_sees_two_cores: None) -> None:
    """In order, the second training continues from the first: side by side cannot do that."""
    def build() -> list[Architecture]:
        archs = archs_for("two")
        first, second = archs
        if share == "model":
            second.model = first.model
            second.optimizer = torch.optim.Adam(first.model.parameters(), lr=1e-2)
        elif share == "parameters":
            second.model.fc2 = first.model.fc2  # one layer of the first in the second
            second.optimizer = torch.optim.Adam(second.model.parameters(), lr=1e-2)
        else:
            second.optimizer = first.optimizer
        return archs

    in_order = build()
    for arch in in_order:
        arch.train(2, seed=13, progress=False)
    expected = everything(in_order)
    archs = build()
    assert side_by_side_plan(archs) == (1, "Architectures 1 and 2 share a model, parameters or "
                                           "an optimizer: in order, the second training "
                                           "continues from the first")
    train_side_by_side(archs, 2, seed=13, progress=False)
    assert_equal(everything(archs), expected)


def test_a_loader_with_workers_trains_in_order(plan_sees_two_cores: None) -> None:
    archs = archs_for("two")
    loader = archs[1].train_loader
    assert loader is not None
    archs[1].set_loaders(DataLoader(loader.dataset, batch_size=16, num_workers=1),
                         archs[1].val_loader)
    assert side_by_side_plan(archs) == (1, "a loader has worker processes (num_workers=1): a "
                                           "training process cannot start its own")
    train_side_by_side(archs, 1, seed=13, progress=False)
    assert all(arch.total_epochs == 1 for arch in archs)


def test_once_cuda_has_started_the_trainings_stay_here(
        monkeypatch: pytest.MonkeyPatch, plan_sees_two_cores: None) -> None:
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    assert side_by_side_plan(archs_for("two")) == (
        1, "CUDA has started in this process: a forked copy of it cannot use CUDA")


@pytest.mark.parametrize("seeds", [np.int64(13), np.arange(5, 7), (s for s in (5, 6))],
                         ids=["numpy integer", "numpy array", "generator"])
def test_seeds_may_be_numpy_integers_or_any_iterable(seeds: Any,
                                                     plan_sees_two_cores: None) -> None:
    as_ints = [13, 13] if isinstance(seeds, np.integer) else [5, 6]
    in_order = archs_for("two")
    for arch, seed in zip(in_order, as_ints, strict=True):
        arch.train(1, seed=seed, progress=False)
    expected = everything(in_order)
    archs = archs_for("two")
    train_side_by_side(archs, 1, seed=seeds, progress=False)
    assert_equal(everything(archs), expected)


# ---------------------------------------------------------- a training whose process dies


class TwoArgError(Exception):
    """An error that pickles but cannot be rebuilt: ``__init__`` wants two arguments."""

    def __init__(self, a: str, b: str) -> None:
        super().__init__(f"{a} and {b}")


class DyingLoss(CountingLoss):
    """Cross-entropy whose process ends on its third call, in the way ``how`` names."""

    how = "SIGKILL"

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if type(self).calls == 2:
            if self.how == "SIGKILL":
                os.kill(os.getpid(), signal.SIGKILL)  # what the out-of-memory killer does
            elif self.how == "sys.exit":
                sys.exit(3)
            elif self.how == "os._exit":
                os._exit(1)
            raise TwoArgError("an error", "its second argument")
        return super().forward(input, target)


@pytest.fixture
def deadline() -> Iterator[None]:
    """Fail instead of hanging for ever: a TimeoutError after 60 s."""
    def too_long(signum: int, frame: Any) -> None:
        raise TimeoutError("train_side_by_side hung")

    previous = signal.signal(signal.SIGALRM, too_long)
    signal.alarm(60)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@two_cores
@pytest.mark.parametrize(("how", "message"), [
    ("SIGKILL", "a training's process died before it finished"),
    ("os._exit", "a training's process died before it finished"),
    ("sys.exit", "training 2 failed in its own process with SystemExit: 3"),
    ("TwoArgError", "training 2 failed in its own process with .*TwoArgError: an error and"),
])
def test_a_process_that_dies_gives_a_clear_error_at_once(how: str, message: str,
                                                         deadline: None) -> None:
    archs = archs_for("two")
    dying = DyingLoss()
    dying.how = how
    archs[1].loss_fn = dying
    before = everything(archs)
    with pytest.raises(RuntimeError, match=message):
        train_side_by_side(archs, 2, seed=13, progress=False)
    assert_equal(everything(archs), before)
    assert multiprocessing.active_children() == []


class SlowLoss(CountingLoss):
    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        time.sleep(0.5)
        return super().forward(input, target)


@two_cores
def test_ctrl_c_stops_every_process_and_changes_nothing(deadline: None) -> None:
    # Ctrl-C as a terminal or a Jupyter kernel delivers it: a KeyboardInterrupt (a test run
    # started in the background inherits SIGINT ignored, and Python then never raises it)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        ctrl_c_while_training()
    finally:
        signal.signal(signal.SIGINT, previous)


def ctrl_c_while_training() -> None:
    archs = archs_for("two")
    for arch in archs:
        arch.loss_fn = SlowLoss()
    before = everything(archs)
    threading.Timer(1.5, os.kill, (os.getpid(), signal.SIGINT)).start()
    start = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        train_side_by_side(archs, 5, seed=13, progress=False)
    assert time.perf_counter() - start < 10  # a training alone takes over 60 s
    assert multiprocessing.active_children() == []
    assert_equal(everything(archs), before)
