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
from collections.abc import Callable, Sequence
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
from rpslib.lr_finder import suggest_lrs

if TYPE_CHECKING:
    from rpslib.trainer import Architecture

__all__ = ["BATCH_SCHEDULERS", "SchedulerCallback", "attach", "cyclic_bounds",
           "lr_sequence", "momentum_sequence", "scheduler_of", "step_after_batch",
           "steps_are_batches"]

Scheduler = LRScheduler | ReduceLROnPlateau
#: The schedulers whose natural step is a mini-batch, not an epoch.
BATCH_SCHEDULERS = (CyclicLR, OneCycleLR, CosineAnnealingWarmRestarts)


def is_per_batch(scheduler: Scheduler) -> bool:
    """Whether ``scheduler`` steps once per mini-batch (cyclic, one-cycle, warm restarts)."""
    return isinstance(scheduler, BATCH_SCHEDULERS)


def step_after_batch(scheduler: Scheduler, epoch: float, batch: int, n_batches: int) -> None:
    """Step a per-batch ``scheduler`` after mini-batch ``batch`` (from 1) of ``n_batches`` of
    the epoch that started at ``epoch``: warm restarts with the fractional epoch reached
    (``epoch + batch / n_batches``, so that ``T_0`` counts epochs), the others once."""
    if isinstance(scheduler, CosineAnnealingWarmRestarts):
        scheduler.step(epoch + batch / n_batches)
    else:
        scheduler.step()


def steps_are_batches(scheduler: Scheduler, steps_per_epoch: int | None = None) -> bool:
    """Whether ``lr_sequence``'s steps are mini-batches: a per-batch scheduler, except warm
    restarts without ``steps_per_epoch``, each of whose steps then counts as an epoch."""
    warm = isinstance(scheduler, CosineAnnealingWarmRestarts)
    return is_per_batch(scheduler) and not (warm and steps_per_epoch is None)


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
        step_after_batch(self.scheduler, arch.total_epochs, self._batch,
                         len(arch.train_loader))  # type: ignore[arg-type]

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
                metrics: Sequence[float] | None = None,
                steps_per_epoch: int | None = None) -> list[float]:
    """The learning rates ``scheduler`` would give over ``n_steps`` steps, from its state now.

    Works on a deep copy: the reader's scheduler and optimizer are left exactly as they were.
    ``metrics`` feeds a ``ReduceLROnPlateau`` one value per step (e.g. validation losses).
    ``steps_per_epoch``: the steps are mini-batches, that many per epoch; a
    ``CosineAnnealingWarmRestarts`` is then stepped with the fractional epoch, as the trainer
    steps it (so ``T_0`` counts epochs). Without it, each of its steps counts as an epoch.

    Introduced in chapter 8.
    """
    return _sequence(scheduler, n_steps, metrics, lambda group: float(group["lr"]),
                     steps_per_epoch)


def momentum_sequence(scheduler: Scheduler, n_steps: int,
                      metrics: Sequence[float] | None = None,
                      steps_per_epoch: int | None = None) -> list[float]:
    """The momentum ``scheduler`` would leave in the optimizer at each of ``n_steps`` steps.

    ``CyclicLR`` and ``OneCycleLR`` cycle the momentum against the learning rate by default
    (``cycle_momentum=True``): high rate, low momentum.  For an optimizer with ``betas``
    (Adam) it is ``beta1``.  Like ``lr_sequence``, it works on a copy.

    Introduced in chapter 8.
    """
    def momentum(group: dict[str, Any]) -> float:
        return float(group["betas"][0] if "betas" in group else group.get("momentum", 0.0))

    return _sequence(scheduler, n_steps, metrics, momentum, steps_per_epoch)


def _sequence(scheduler: Scheduler, n_steps: int, metrics: Sequence[float] | None,
              read: Callable[[dict[str, Any]], float],
              steps_per_epoch: int | None = None) -> list[float]:
    if metrics is not None and len(metrics) < n_steps:
        raise ValueError(f"metrics has {len(metrics)} values for {n_steps} steps: give one "
                         f"per step")
    if steps_per_epoch is not None and steps_per_epoch < 1:
        raise ValueError(f"steps_per_epoch must be at least 1, got {steps_per_epoch}")
    twin = copy.deepcopy(scheduler)  # copies its optimizer too
    start = twin.last_epoch  # the epoch it stands at now
    values = []
    with warnings.catch_warnings():  # the copied optimizer's step lost PyTorch's step counter
        warnings.filterwarnings("ignore", message=r"Seems like `optimizer.step\(\)`")
        for step in range(n_steps):
            values.append(read(twin.optimizer.param_groups[0]))
            _step_quietly(twin.optimizer)
            if isinstance(twin, ReduceLROnPlateau):
                twin.step(metrics[step] if metrics is not None else 1.0)
            elif steps_per_epoch is not None and is_per_batch(twin):  # as SchedulerCallback
                step_after_batch(twin, start, step + 1, steps_per_epoch)
            else:
                twin.step()
    return values


def _step_quietly(optimizer: torch.optim.Optimizer) -> None:
    """``optimizer.step()`` without gradients (on the copy): no update, but it counts as
    called, so PyTorch does not warn that the scheduler stepped first."""
    params: list[Any] = [p for g in optimizer.param_groups for p in g["params"]]
    for p in params:
        p.grad = None
    optimizer.step()


# --- the bounds of chapter 8's cyclical rate ------------------------------------------------


def cyclic_bounds(tracking: dict[str, list[float]], ratio: float = 4.0) -> tuple[float, float]:
    """``(base_lr, max_lr)`` for ``CyclicLR``, read off an LR range test's curve.

    ``max_lr`` is the range test's "valley" (``rpslib.lr_finder.suggest_lrs``, chapter 4):
    half-way along the longest stretch where the loss falls, well below the lowest point,
    which sits at the edge where the loss blows up and moves a lot from one range test to
    the next (a cycle's top there, with momentum, can kill the network); ``base_lr`` is
    ``max_lr / ratio`` (Smith suggests a ratio of 3 to 4).

    Args:
        tracking: ``{"lr": [...], "loss": [...]}`` as ``lr_range_test`` returns it.
        ratio: ``max_lr / base_lr``, at least 1.

    Introduced in chapter 8.
    """
    if not tracking["loss"] or len(tracking["loss"]) != len(tracking["lr"]):
        raise ValueError("need a range test's tracking: lr and loss of equal, non-zero length")
    if ratio < 1:
        raise ValueError(f"ratio must be at least 1, got {ratio}")
    max_lr = suggest_lrs(tracking)["valley"]
    return max_lr / ratio, max_lr
