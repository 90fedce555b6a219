"""Finding a learning rate: Smith's learning-rate range test, done exactly and safely.

The test trains for ``num_iter`` mini-batches while the learning rate grows from the
optimizer's current value to ``end_lr``, and records the (smoothed) loss at each step.  Where
the loss falls fastest, the learning rate is a good one; where it shoots up, too large.

Compared with the slides' version (see chapter 4), this one

- uses ``num_iter`` learning rates from the start to *exactly* ``end_lr`` (the schedule runs
  over ``num_iter - 1`` steps) and honours ``step_mode``, as ``torch-lr-finder`` does;
- seeds the smoothing with the first raw loss, and stops when the smoothed loss exceeds
  ``diverge_th`` times the best one (keeping that last point) or stops being a number;
- leaves nothing behind: parameters, buffers, optimizer state and learning rates, gradients,
  every layer's train/eval mode and the random-number generators are as before the call,
  also when it raises or is interrupted;
- can measure the loss on a validation loader instead (Smith's variant), and runs on the GPU;
- suggests three learning rates: the steepest descent, fastai's "valley", and the minimum
  divided by ten.

Introduced in chapter 4.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor
from torch.optim.lr_scheduler import LambdaLR
from torch.utils.data import DataLoader

from rpslib.callbacks import Callback
from rpslib.runtime import torch_threads
from rpslib.seeding import get_rng_state, set_rng_state

if TYPE_CHECKING:
    from rpslib.trainer import Architecture

__all__ = ["LossRecorder", "lr_range_test", "make_lr_fn", "smooth", "suggest_lrs"]

LRFn = Callable[[Any], Any]


def make_lr_fn(start_lr: float, end_lr: float, num_iter: int, step_mode: str = "exp") -> LRFn:
    """The multiplier of the learning rate at each iteration, for ``LambdaLR``.

    ``lr_fn(i)`` grows from ``lr_fn(0) = 1`` to ``lr_fn(num_iter) = end_lr / start_lr``, so that
    ``start_lr * lr_fn(i)`` runs from ``start_lr`` to ``end_lr``:

    - ``"linear"``: in equal steps, ``1 + i * (end_lr / start_lr - 1) / num_iter``;
    - ``"exp"``: by equal factors, ``exp(i * log(end_lr / start_lr) / num_iter)``, i.e.
      ``(end_lr / start_lr) ** (i / num_iter)``: equal steps on a log scale.

    (The slides' exponential branch returns ``np.exp(factor) * iteration``, a typo: that is a
    straight line through 0, not an exponential.)  Works on an int or a numpy array of them.

    Introduced in chapter 4.
    """
    if not (0 < start_lr < math.inf and 0 < end_lr < math.inf) or num_iter < 1:  # NaN too
        raise ValueError(f"need finite start_lr > 0, end_lr > 0 and num_iter >= 1, got {start_lr}, "
                         f"{end_lr}, {num_iter}")
    if step_mode == "linear":
        step = (end_lr / start_lr - 1) / num_iter

        def linear(iteration: Any) -> Any:
            return 1 + iteration * step

        return linear
    if step_mode == "exp":
        factor = (np.log(end_lr) - np.log(start_lr)) / num_iter

        def exponential(iteration: Any) -> Any:
            return np.exp(factor * iteration)

        return exponential
    raise ValueError(f"step_mode must be 'exp' or 'linear', got {step_mode!r}")


def lr_range_test(arch: Architecture, data_loader: DataLoader[Any], end_lr: float,
                  num_iter: int = 100, step_mode: str = "exp", alpha: float = 0.05,
                  diverge_th: float = 5, val_loader: DataLoader[Any] | None = None
                  ) -> dict[str, list[float]]:
    """Train ``arch`` for up to ``num_iter`` mini-batches with a growing learning rate.

    Args:
        arch: its model, loss and optimizer are used; the optimizer's current learning rate
            is where the test starts.
        data_loader: gives the training mini-batches (started again when it runs out).
        end_lr: the last learning rate, reached at iteration ``num_iter - 1``.
        num_iter: how many learning rates (and mini-batches), at least 2.
        step_mode: ``"exp"`` (equal factors) or ``"linear"`` (equal steps).
        alpha: the smoothing factor, ``smoothed = alpha * loss + (1 - alpha) * previous``
            (``0``: no smoothing).
        diverge_th: stop once the smoothed loss exceeds ``diverge_th`` times the best so far.
        val_loader: if given, the loss recorded at each step is the mean loss over this
            loader (Smith's variant: slower, steadier) instead of the training mini-batch's.

    Returns:
        ``{"lr": [...], "loss": [...]}``: the learning rate used at each iteration and the
        smoothed loss after it, of equal length (``num_iter``, or fewer if it diverged).

    Everything about ``arch`` is as before afterwards (see the module's docstring).

    Introduced in chapter 4.
    """
    if num_iter < 2:
        raise ValueError(f"num_iter must be at least 2, got {num_iter}")
    if not 0 <= alpha < 1:
        raise ValueError(f"alpha must be in [0, 1), got {alpha}")
    if not diverge_th > 0:
        raise ValueError(f"diverge_th must be above 0 (the test stops once the loss exceeds "
                         f"diverge_th times the lowest so far), got {diverge_th}")
    first_lr = arch.optimizer.param_groups[0]["lr"]
    if not math.isfinite(end_lr) or not end_lr > first_lr:
        raise ValueError(f"end_lr must be a number above the optimizer's learning rate "
                         f"({first_lr:g}): the range test raises the rate from there, got "
                         f"{end_lr}")
    tracking: dict[str, list[float]] = {"lr": [], "loss": []}
    on_cpu = torch.device(arch.device).type == "cpu"
    with _untouched(arch, data_loader), torch_threads(1 if on_cpu else None):
        for group in arch.optimizer.param_groups:  # a scheduler's mark: LambdaLR would use it
            group.pop("initial_lr", None)
        start_lr = arch.optimizer.param_groups[0]["lr"]
        # num_iter learning rates: num_iter - 1 steps from start_lr to end_lr
        lr_fn = make_lr_fn(start_lr, end_lr, num_iter - 1, step_mode)
        scheduler = LambdaLR(arch.optimizer, lr_lambda=lr_fn)
        batches = _endless(data_loader)
        best = math.inf
        for iteration in range(num_iter):
            x, y = next(batches)
            loss = _step(arch, x.to(arch.device), y.to(arch.device))
            if val_loader is not None:
                loss = _mean_loss(arch, val_loader)
            tracking["lr"].append(float(scheduler.get_last_lr()[0]))  # the rate this step used
            scheduler.step()
            # smoothing starts from the first raw loss; alpha=0 means none (as torch-lr-finder)
            if iteration > 0 and alpha > 0:
                loss = alpha * loss + (1 - alpha) * tracking["loss"][-1]
            if iteration == 0 and not math.isfinite(loss):
                raise ValueError(f"the loss was {loss} at the first step, with the starting "
                                 f"rate {start_lr:g}: look at the data and the model first")
            if math.isfinite(loss) and loss <= 0:
                raise ValueError(f"the range test needs losses above 0 (it stops when the loss "
                                 f"passes diverge_th times the lowest so far), got {loss:g}: "
                                 f"add a constant to the loss")
            best = min(best, loss)
            tracking["loss"].append(loss)
            if not math.isfinite(loss) or loss > diverge_th * best:
                break  # diverged: keep this last point, stop
    return tracking


def _step(arch: Architecture, x: torch.Tensor, y: torch.Tensor) -> float:
    """One plain training step (no callbacks: nothing else should react to the test)."""
    arch.model.train()
    arch.optimizer.zero_grad()
    loss = arch.loss_fn(arch.model(x), y)
    loss.backward()
    arch.optimizer.step()
    return float(loss.item())


def _mean_loss(arch: Architecture, loader: DataLoader[Any]) -> float:
    """The loss over a whole loader, weighting each mini-batch by its size (eval mode)."""
    arch.model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for x, y in loader:
            loss = arch.loss_fn(arch.model(x.to(arch.device)), y.to(arch.device))
            total += float(loss.item()) * len(y)
            count += len(y)
    if count == 0:
        raise ValueError("the validation loader gave no mini-batches: is its dataset empty?")
    return total / count


def _endless(loader: DataLoader[Any]) -> Iterator[Any]:
    """The loader's mini-batches, again and again."""
    while True:
        empty = True
        for batch in loader:
            empty = False
            yield batch
        if empty:
            raise ValueError("the data loader gave no mini-batches: is its dataset empty?")


@contextmanager
def _untouched(arch: Architecture, loader: DataLoader[Any]) -> Iterator[None]:
    """Inside the block anything may change; afterwards ``arch`` is exactly as before."""
    model, optimizer = arch.model, arch.optimizer
    generator = getattr(getattr(loader, "sampler", None), "generator", None)
    generator = generator if isinstance(generator, torch.Generator) else None
    params = {k: v.detach().clone() for k, v in model.state_dict().items()}
    # every buffer, also those left out of the state dict (persistent=False)
    buffers = {name: b.detach().clone() for name, b in model.named_buffers()}
    grads = [None if p.grad is None else p.grad.detach().clone() for p in model.parameters()]
    modes = [(m, m.training) for m in model.modules()]
    opt_state = copy.deepcopy(optimizer.state_dict())
    rng = get_rng_state(generator)
    try:
        yield
    finally:
        with torch.no_grad():
            model.load_state_dict(params)
            for name, buffer in model.named_buffers():
                if name in buffers and buffer.shape == buffers[name].shape:
                    buffer.copy_(buffers[name])
        optimizer.load_state_dict(opt_state)  # also drops the scheduler's "initial_lr"
        for p, grad in zip(model.parameters(), grads, strict=True):
            p.grad = grad
        for module, training in modes:
            module.training = training
        set_rng_state(rng, generator)


# --- the grid search: every step's loss ---------------------------------------------------


class LossRecorder(Callback):
    """A callback that records the loss of every training mini-batch.

    ``arch.add_callback(LossRecorder())`` before ``arch.train(...)``; afterwards ``losses``
    holds one float per mini-batch, in order (over several ``train`` calls, one after the
    other).  The epoch means of ``arch.losses`` hide what happens within an epoch: a
    learning rate that is too high shows in the first few hundred steps.

    The losses are kept as tensors while training and turned into floats when ``train``
    ends (reading each one at once would make the GPU wait at every step).

    Introduced in chapter 4.
    """

    def __init__(self) -> None:
        self.losses: list[float] = []
        self._pending: list[Tensor] = []

    def on_step_end(self, arch: Architecture, loss: Tensor) -> None:
        """Keep this mini-batch's (detached, 0-dim) loss."""
        self._pending.append(loss)

    def on_train_end(self, arch: Architecture) -> None:
        """Turn the losses kept so far into floats (once per ``train`` call)."""
        if self._pending:
            self.losses.extend(torch.stack(self._pending).cpu().tolist())
            self._pending.clear()

    def __repr__(self) -> str:
        return f"LossRecorder({len(self.losses) + len(self._pending)} losses)"


def smooth(losses: Any, alpha: float) -> np.ndarray:
    """The exponentially weighted moving average the range test draws, seeded with the first loss.

    ``smoothed[0] = losses[0]`` and ``smoothed[i] = alpha * losses[i] + (1 - alpha) *
    smoothed[i - 1]``: a small ``alpha`` smooths more (``alpha=1``: no smoothing).  Seeding
    with the first loss (not with 0) keeps the start of the curve at the right height.

    Args:
        losses: a sequence of N numbers, e.g. ``LossRecorder().losses``.
        alpha: the weight of each new loss, in (0, 1].

    Returns:
        An array of N floats.

    Introduced in chapter 4.
    """
    if not 0 < alpha <= 1:
        raise ValueError(f"alpha must be in (0, 1], got {alpha}")
    values = np.asarray(losses, dtype=np.float64)
    smoothed = np.empty_like(values)
    for i, value in enumerate(values):
        smoothed[i] = value if i == 0 else alpha * value + (1 - alpha) * smoothed[i - 1]
    return smoothed


# --- suggestions -------------------------------------------------------------------------


def suggest_lrs(tracking: dict[str, list[float]], skip_start: int = 10,
                skip_end: int = 5) -> dict[str, float]:
    """Three suggested learning rates from a range test's ``tracking``.

    - ``"steepest"``: where the smoothed loss falls fastest against log10(lr) (as
      ``torch-lr-finder``, ignoring the first ``skip_start`` and last ``skip_end`` points,
      whose slopes are noise and divergence);
    - ``"valley"``: fastai's rule: the longest run of points over which the loss keeps
      falling (each lower than the one before, not necessarily neighbours), and a point
      about half-way along it in log-lr (fastai's code counts the run's length ``k``, in
      points, back from its last point and goes ``k // 3 + k // 6`` points on from there,
      although the rule is often described as "two thirds"); robust to a noisy curve;
    - ``"min/10"``: the learning rate of the lowest loss divided by 10 (the loss is lowest
      just before it blows up; a tenth of that is safely below).

    Introduced in chapter 4.
    """
    lrs, losses = np.asarray(tracking["lr"]), np.asarray(tracking["loss"], dtype=float)
    if len(lrs) != len(losses):
        raise ValueError("need a range test's lr and loss of equal length")
    finite = np.isfinite(losses)  # a diverged test may end in NaN or inf: leave those out
    lrs, losses = lrs[finite], losses[finite]
    if len(lrs) < 3:
        raise ValueError(f"need a range test of at least 3 points with a finite loss, got "
                         f"{len(lrs)}: the loss was not a number from the start?")
    suggestions: dict[str, float] = {}
    stop = len(lrs) - skip_end
    if stop - skip_start < 2:  # a short test: use all of it
        skip_start, stop = 0, len(lrs)
    part = slice(skip_start, stop)
    slopes = np.gradient(losses[part], np.log10(lrs[part]))
    suggestions["steepest"] = float(lrs[part][int(np.argmin(slopes))])
    suggestions["valley"] = float(lrs[_valley(losses)])
    suggestions["min/10"] = float(lrs[int(np.nanargmin(losses))] / 10)
    return suggestions


def _valley(losses: np.ndarray) -> int:
    """fastai's "valley": the longest decreasing run of losses, about half-way along it.

    As fastai computes it: with ``k`` the number of points in the run, it starts ``k`` points
    before the run's last point and goes ``int(k/3) + int(k/6)`` points on: about half-way
    (not two thirds), and further along the more points the run skips.
    """
    n = len(losses)
    run = [1] * n  # run[i]: longest decreasing subsequence ending at point i
    best_start, best_end = 0, 0
    for i in range(1, n):
        for j in range(i):
            if losses[i] < losses[j] and run[i] < run[j] + 1:
                run[i] = run[j] + 1
            if run[best_end] < run[i]:
                best_end = i
                best_start = best_end - run[best_end]
    third = (best_end - best_start) / 3
    return best_start + int(third) + int(third / 2)
