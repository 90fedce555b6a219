"""Schedulers in the trainer: PyTorch's own sequence, stepped per epoch or per mini-batch."""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn
from torch.optim import lr_scheduler as S
from torch.utils.data import DataLoader, TensorDataset

from rpslib.checkpoints import CheckpointError
from rpslib.lr_finder import suggest_lrs
from rpslib.models import CNN2
from rpslib.schedulers import cyclic_bounds, lr_sequence, momentum_sequence
from rpslib.trainer import Architecture
from tests.test_trainer import learnable_data

N_BATCHES = 4  # 64 images in batches of 16
N_EPOCHS = 3

Make = Callable[[torch.optim.Optimizer], Any]
EPOCH: dict[str, Make] = {
    "StepLR": lambda o: S.StepLR(o, step_size=1, gamma=0.5),
    "MultiStepLR": lambda o: S.MultiStepLR(o, milestones=[1, 2], gamma=0.3),
    "ExponentialLR": lambda o: S.ExponentialLR(o, gamma=0.9),
    "LambdaLR": lambda o: S.LambdaLR(o, lambda e: 1 / (e + 1)),
}
BATCH: dict[str, Make] = {
    "CyclicLR": lambda o: S.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=3),
    "CyclicLR-triangular2": lambda o: S.CyclicLR(o, 0.01, 0.1, step_size_up=2,
                                                 mode="triangular2"),
    "OneCycleLR": lambda o: S.OneCycleLR(o, max_lr=0.1, total_steps=N_EPOCHS * N_BATCHES),
}


def make(momentum: float = 0.9) -> Architecture:
    torch.manual_seed(0)
    model = CNN2(n_feature=3, p=0.0)
    arch = Architecture(model, nn.CrossEntropyLoss(),
                        torch.optim.SGD(model.parameters(), lr=0.05, momentum=momentum)).to("cpu")
    x, y = learnable_data(64)
    arch.set_loaders(DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True),
                     DataLoader(TensorDataset(x[:32], y[:32]), batch_size=16))
    return arch


def pytorch_sequence(build: Make, n_steps: int) -> list[float]:
    """The rates PyTorch's own loop uses: read, optimizer.step(), scheduler.step()."""
    param = nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=0.05, momentum=0.9)
    scheduler = build(optimizer)
    rates = []
    for _ in range(n_steps):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return rates


@pytest.mark.parametrize("name", list(EPOCH))
def test_epoch_schedulers_record_pytorchs_sequence(name: str) -> None:
    arch = make()
    arch.set_lr_scheduler(EPOCH[name](arch.optimizer))
    arch.train(N_EPOCHS, progress=False)
    assert arch.learning_rates == pytest.approx(pytorch_sequence(EPOCH[name], N_EPOCHS))
    assert arch.learning_rates[0] == 0.05  # the very first rate: not shifted by one


@pytest.mark.parametrize("name", list(BATCH))
def test_batch_schedulers_step_once_per_mini_batch(name: str) -> None:
    arch = make()
    arch.set_lr_scheduler(BATCH[name](arch.optimizer))
    arch.train(N_EPOCHS, progress=False)
    expected = pytorch_sequence(BATCH[name], N_EPOCHS * N_BATCHES)
    assert len(arch.learning_rates) == N_EPOCHS * N_BATCHES
    assert arch.learning_rates == pytest.approx(expected)


def test_warm_restarts_step_at_the_fractional_epoch() -> None:
    arch = make()
    scheduler = S.CosineAnnealingWarmRestarts(arch.optimizer, T_0=2, eta_min=0.001)
    arch.set_lr_scheduler(scheduler)
    arch.train(N_EPOCHS, progress=False)
    param = nn.Parameter(torch.zeros(1))
    reference = torch.optim.SGD([param], lr=0.05, momentum=0.9)
    twin = S.CosineAnnealingWarmRestarts(reference, T_0=2, eta_min=0.001)
    expected = []
    for epoch in range(N_EPOCHS):
        for i in range(N_BATCHES):
            expected.append(reference.param_groups[0]["lr"])
            reference.step()
            twin.step(epoch + (i + 1) / N_BATCHES)
    assert arch.learning_rates == pytest.approx(expected)
    assert arch.learning_rates[2 * N_BATCHES] == pytest.approx(0.05)  # restarted at epoch 2
    # drawn as the trainer steps it: T_0 counts epochs, not mini-batches
    fresh = S.CosineAnnealingWarmRestarts(torch.optim.SGD([param], lr=0.05), T_0=2,
                                          eta_min=0.001)
    n = N_EPOCHS * N_BATCHES
    assert lr_sequence(fresh, n, steps_per_epoch=N_BATCHES) == pytest.approx(expected)
    plain = lr_sequence(fresh, n)  # each step an epoch: a restart every 2 mini-batches
    assert plain[2] == pytest.approx(0.05) and plain != pytest.approx(expected)
    with pytest.raises(ValueError, match="steps_per_epoch"):
        lr_sequence(fresh, n, steps_per_epoch=0)


def test_reduce_on_plateau_steps_on_the_validation_loss() -> None:
    arch = make()
    scheduler = S.ReduceLROnPlateau(arch.optimizer, factor=0.5, patience=0)
    arch.set_lr_scheduler(scheduler)
    arch.train(4, progress=False)
    param = nn.Parameter(torch.zeros(1))
    reference = torch.optim.SGD([param], lr=0.05, momentum=0.9)
    twin = S.ReduceLROnPlateau(reference, factor=0.5, patience=0)
    expected = []
    for val_loss in arch.val_losses:
        expected.append(reference.param_groups[0]["lr"])
        twin.step(val_loss)
    assert arch.learning_rates == pytest.approx(expected)


def test_a_plateau_scheduler_without_validation_data_says_so() -> None:
    arch = make()
    arch.val_loader = None
    with pytest.raises(ValueError, match="validation"):
        arch.set_lr_scheduler(S.ReduceLROnPlateau(arch.optimizer))
    arch.set_loaders(arch.train_loader)  # type: ignore[arg-type]
    val = make()
    val.set_lr_scheduler(S.ReduceLROnPlateau(val.optimizer))
    val.val_loader = None  # removed after attaching: train says so before the first step
    with pytest.raises(ValueError, match="validation"):
        val.train(1, progress=False)
    assert val.losses == []


def test_a_scheduler_of_another_optimizer_is_refused() -> None:
    arch = make()
    other = torch.optim.SGD(arch.model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="another optimizer"):
        arch.set_lr_scheduler(S.StepLR(other, step_size=1))


def test_a_new_optimizer_detaches_the_stale_scheduler_with_a_warning() -> None:
    arch = make()
    arch.set_lr_scheduler(S.StepLR(arch.optimizer, step_size=1))
    with pytest.warns(UserWarning, match="detached"):
        arch.set_optimizer(torch.optim.SGD(arch.model.parameters(), lr=0.2))
    arch.train(2, progress=False)
    assert arch.optimizer.param_groups[0]["lr"] == 0.2 and arch.learning_rates == []
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no scheduler: nothing to warn about
        arch.set_optimizer(torch.optim.SGD(arch.model.parameters(), lr=0.3))


def test_replacing_and_detaching() -> None:
    arch = make()
    arch.set_lr_scheduler(S.StepLR(arch.optimizer, step_size=1, gamma=0.5))
    arch.set_lr_scheduler(S.StepLR(arch.optimizer, step_size=1, gamma=0.1))
    assert len(arch.callbacks) == 1
    arch.set_lr_scheduler(None)
    assert arch.callbacks == []


@pytest.mark.parametrize("name", ["StepLR", "CyclicLR", "OneCycleLR", "LambdaLR"])
def test_a_checkpoint_resumes_with_the_same_learning_rates(name: str, tmp_path: Path) -> None:
    build = {**EPOCH, **BATCH}[name]
    whole = make()
    whole.set_lr_scheduler(build(whole.optimizer))
    whole.train(N_EPOCHS, seed=1, progress=False)

    half = make()
    half.set_lr_scheduler(build(half.optimizer))
    half.train(1, seed=1, progress=False)
    half.save_checkpoint(tmp_path / "half.pth")
    resumed = make()
    resumed.set_lr_scheduler(build(resumed.optimizer))
    resumed.load_checkpoint(tmp_path / "half.pth")
    resumed.train(N_EPOCHS - 1, progress=False)
    assert resumed.learning_rates == pytest.approx(whole.learning_rates)
    assert resumed.losses == pytest.approx(whole.losses)


def test_a_checkpoint_with_a_scheduler_needs_one(tmp_path: Path) -> None:
    arch = make()
    arch.set_lr_scheduler(S.StepLR(arch.optimizer, step_size=1))
    arch.train(1, progress=False)
    arch.save_checkpoint(tmp_path / "c.pth")
    with pytest.raises(CheckpointError, match="StepLR"):
        make().load_checkpoint(tmp_path / "c.pth")


@pytest.mark.parametrize("name", ["StepLR", "CyclicLR", "OneCycleLR"])
def test_lr_sequence_leaves_the_scheduler_unchanged(name: str) -> None:
    arch = make()
    scheduler = {**EPOCH, **BATCH}[name](arch.optimizer)
    before = copy.deepcopy(scheduler.state_dict()), copy.deepcopy(arch.optimizer.state_dict())
    rates = lr_sequence(scheduler, 12)
    assert rates == pytest.approx(pytorch_sequence({**EPOCH, **BATCH}[name], 12))
    assert scheduler.state_dict() == before[0]
    assert arch.optimizer.state_dict() == before[1]


def test_lr_range_test_restores_an_attached_scheduler() -> None:
    arch = make()
    scheduler = S.CyclicLR(arch.optimizer, base_lr=0.01, max_lr=0.1, step_size_up=3)
    arch.set_lr_scheduler(scheduler)
    arch.train(1, progress=False)
    state = copy.deepcopy(scheduler.state_dict())
    groups = copy.deepcopy(arch.optimizer.state_dict()["param_groups"])
    arch.lr_range_test(arch.train_loader, end_lr=1.0, num_iter=10, plot=False)  # type: ignore[arg-type]
    assert scheduler.state_dict() == state
    assert arch.optimizer.state_dict()["param_groups"] == groups
    arch.train(1, progress=False)  # and it goes on as before
    assert len(arch.learning_rates) == 2 * N_BATCHES


def test_momentum_sequence_is_what_cyclic_lr_leaves_in_the_optimizer() -> None:
    param = nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=0.05, momentum=0.9)
    scheduler = S.CyclicLR(optimizer, base_lr=0.01, max_lr=0.1, step_size_up=3)
    before = copy.deepcopy(scheduler.state_dict())
    momenta = momentum_sequence(scheduler, 12)
    assert scheduler.state_dict() == before
    expected = []
    for _ in range(12):
        expected.append(optimizer.param_groups[0]["momentum"])
        optimizer.step()
        scheduler.step()
    assert momenta == pytest.approx(expected)
    assert momenta[0] == pytest.approx(0.9) and momenta[3] == pytest.approx(0.8)  # against the rate


def test_cyclic_bounds_top_is_the_valley_not_the_lowest_point() -> None:
    lrs = [10 ** (-4 + 4 * i / 30) for i in range(31)]  # 1e-4 to 1
    # the loss falls steadily to its lowest point at index 24, then blows up
    losses = [1.0 - 0.03 * i for i in range(25)] + [0.5, 0.9, 1.5, 3.0, 6.0, math.nan]
    tracking = {"lr": lrs, "loss": losses}
    valley = suggest_lrs(tracking)["valley"]
    assert valley < lrs[24] / 4  # well below the lowest point
    assert cyclic_bounds(tracking) == pytest.approx((valley / 4, valley))
    assert cyclic_bounds(tracking, ratio=10) == pytest.approx((valley / 10, valley))
    with pytest.raises(ValueError, match="equal"):
        cyclic_bounds({"lr": [0.1], "loss": []})
    with pytest.raises(ValueError, match="ratio"):
        cyclic_bounds(tracking, ratio=0.5)
