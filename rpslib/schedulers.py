"""Learning-rate schedulers in the trainer: stepped at the right moment, recorded exactly.

``Architecture.set_lr_scheduler(scheduler)`` (the slides' name) attaches a scheduler through a
callback of this module:

- epoch schedulers (``StepLR``, ``MultiStepLR``, ``ExponentialLR``, ``LambdaLR``, ...) step
  once after each epoch; ``ReduceLROnPlateau`` steps on that epoch's validation loss;
- mini-batch schedulers (``CyclicLR``, ``OneCycleLR``, ``CosineAnnealingWarmRestarts``) step
  once after each mini-batch; warm restarts at the fractional epoch reached
  (``epoch + (i + 1) / n_batches`` after mini-batch ``i``).

``Architecture.learning_rates`` records the rate each step (epoch or mini-batch) *used*,
read before the scheduler moves it on, so it starts with the very first rate.  Fixes of the
slides' helper: their record was shifted by one step, a scheduler built for another optimizer
was silently ignored, ``ReduceLROnPlateau`` without validation data crashed, and checkpoints
forgot the scheduler.

Introduced in chapter 8.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor
from torch.optim.lr_scheduler import (
    CosineAnnealingWarmRestarts,
    CyclicLR,
    LRScheduler,
    OneCycleLR,
    ReduceLROnPlateau,
)

from rpslib.callbacks import Callback

if TYPE_CHECKING:
    from rpslib.trainer import Architecture

__all__ = ["BATCH_SCHEDULERS", "SchedulerCallback", "attach", "lr_sequence", "scheduler_of"]

Scheduler = LRScheduler | ReduceLROnPlateau
# schedulers whose natural step is a mini-batch, not an epoch
BATCH_SCHEDULERS = (CyclicLR, OneCycleLR, CosineAnnealingWarmRestarts)


def is_per_batch(scheduler: Scheduler) -> bool:
    """Whether ``scheduler`` steps once per mini-batch (cyclic, one-cycle, warm restarts)."""
    return isinstance(scheduler, BATCH_SCHEDULERS)


class SchedulerCallback(Callback):
    """Steps a learning-rate scheduler while ``Architecture.train`` runs, and records the rates.

    Introduced in chapter 8.
    """

    def __init__(self, scheduler: Scheduler) -> None:
        self.scheduler = scheduler
        self.per_batch = is_per_batch(scheduler)
        self._batch = 0  # mini-batches done in the current epoch

    def on_train_begin(self, arch: Architecture) -> None:
        check(self.scheduler, arch)
        self._batch = 0

    def on_step_end(self, arch: Architecture, loss: Tensor) -> None:
        if not self.per_batch:
            return
        arch.learning_rates.append(_lr(arch))  # the rate this mini-batch used
        self._batch += 1
        if isinstance(self.scheduler, CosineAnnealingWarmRestarts):
            n_batches = len(arch.train_loader)  # type: ignore[arg-type]
            self.scheduler.step(arch.total_epochs + self._batch / n_batches)
        else:
            self.scheduler.step()

    def on_epoch_end(self, arch: Architecture, loss: float, val_loss: float | None) -> None:
        self._batch = 0
        if self.per_batch:
            return
        arch.learning_rates.append(_lr(arch))  # the rate this epoch used
        if isinstance(self.scheduler, ReduceLROnPlateau):
            if val_loss is not None and math.isfinite(val_loss):
                self.scheduler.step(val_loss)
        else:
            self.scheduler.step()

    def __repr__(self) -> str:
        return f"SchedulerCallback({type(self.scheduler).__name__})"


def _lr(arch: Architecture) -> float:
    return float(arch.optimizer.param_groups[0]["lr"])


def check(scheduler: Scheduler, arch: Architecture) -> None:
    """Raise ``ValueError`` if ``scheduler`` cannot work with ``arch`` (see ``attach``)."""
    if scheduler.optimizer is not arch.optimizer:
        raise ValueError(
            f"this {type(scheduler).__name__} was built for another optimizer than the "
            f"Architecture's ({type(arch.optimizer).__name__}): it would change nothing. Build "
            f"it on arch.optimizer, e.g. StepLR(arch.optimizer, step_size=2).")
    if isinstance(scheduler, ReduceLROnPlateau) and arch.val_loader is None:
        raise ValueError("ReduceLROnPlateau steps on the validation loss, and there is no "
                         "validation loader: call set_loaders(train_loader, val_loader) first.")


def scheduler_of(arch: Architecture) -> Scheduler | None:
    """The scheduler attached to ``arch``, or ``None``."""
    for callback in arch.callbacks:
        if isinstance(callback, SchedulerCallback):
            return callback.scheduler
    return None


def attach(arch: Architecture, scheduler: Scheduler | None) -> None:
    """Attach ``scheduler`` to ``arch`` (replacing any earlier one); ``None`` detaches.

    Raises:
        ValueError: it was built for another optimizer, or it is a ``ReduceLROnPlateau``
            and there is no validation loader.
    """
    if scheduler is not None:
        check(scheduler, arch)
    for callback in list(arch.callbacks):
        if isinstance(callback, SchedulerCallback):
            arch.remove_callback(callback)
    if scheduler is not None:
        arch.add_callback(SchedulerCallback(scheduler))


def detach_stale(arch: Architecture) -> None:
    """After a new optimizer: detach a scheduler of the old one, with a warning."""
    scheduler = scheduler_of(arch)
    if scheduler is not None and scheduler.optimizer is not arch.optimizer:
        attach(arch, None)
        warnings.warn(f"the {type(scheduler).__name__} belonged to the previous optimizer and "
                      f"was detached; build a new one on the new optimizer and call "
                      f"set_lr_scheduler again.", stacklevel=3)


def lr_sequence(scheduler: Scheduler, n_steps: int,
                metrics: Sequence[float] | None = None) -> list[float]:
    """The learning rates ``scheduler`` would give over ``n_steps`` steps, from its state now.

    Works on a deep copy: the reader's scheduler and optimizer are left exactly as they were.
    ``metrics`` feeds a ``ReduceLROnPlateau`` one value per step (e.g. validation losses).

    Introduced in chapter 8.
    """
    twin = copy.deepcopy(scheduler)  # copies its optimizer too
    rates = []
    with warnings.catch_warnings():  # the copied optimizer's step lost PyTorch's step counter
        warnings.filterwarnings("ignore", message=r"Seems like `optimizer.step\(\)`")
        for step in range(n_steps):
            rates.append(float(twin.optimizer.param_groups[0]["lr"]))
            _step_quietly(twin.optimizer)
            if isinstance(twin, ReduceLROnPlateau):
                twin.step(metrics[step] if metrics is not None else 1.0)
            else:
                twin.step()
    return rates


def _step_quietly(optimizer: torch.optim.Optimizer) -> None:
    """``optimizer.step()`` without gradients (on the copy): no update, but it counts as
    called, so PyTorch does not warn that the scheduler stepped first."""
    params: list[Any] = [p for g in optimizer.param_groups for p in g["params"]]
    for p in params:
        p.grad = None
    optimizer.step()
