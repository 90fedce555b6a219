"""Trainings side by side (rpslib.parallel): the same, bit for bit, as training in order."""

from __future__ import annotations

import os
import random
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn
from torch.optim.lr_scheduler import StepLR

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
