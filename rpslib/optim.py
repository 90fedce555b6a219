"""Optimizers written by hand, to see that there is no magic in them.

- ``ewma`` and ``bias_corrected_ewma``: the exponentially weighted moving average Adam keeps,
  and its correction for starting at zero;
- ``Adam``: ``torch.optim.Adam``'s update as plain tensor arithmetic, line by line;
- ``compare_optimizers``: train copies of one model with several optimizers, each from the
  same starting state, and return their losses and parameter paths.

Introduced in chapter 5.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

__all__ = ["Adam", "Run", "bias_corrected_ewma", "compare_optimizers", "ewma"]


def ewma(values: Sequence[float] | Tensor, beta: float) -> Tensor:
    """The exponentially weighted moving average of a series, started at zero.

    ``ewma[t] = beta * ewma[t - 1] + (1 - beta) * values[t]``, with ``ewma[-1] = 0``, as Adam
    keeps its averages.  ``alpha = 1 - beta`` is the weight of the newest value; the average
    "remembers" about ``2 / alpha - 1`` periods (beta = 0.9: 19, beta = 0.999: 1,999).

    Args:
        values: the series, shape (T,).
        beta: the weight of the past, in [0, 1).

    Returns:
        A float tensor (T,).

    Introduced in chapter 5.
    """
    x = torch.as_tensor(values, dtype=torch.float64)
    out = torch.empty_like(x)
    average = torch.zeros((), dtype=torch.float64)
    for t in range(len(x)):
        average = beta * average + (1 - beta) * x[t]
        out[t] = average
    return out


def bias_corrected_ewma(values: Sequence[float] | Tensor, beta: float) -> Tensor:
    """``ewma`` divided by ``1 - beta ** t`` (t = 1, 2, ...): no longer too small early on.

    An EWMA that starts at zero gives the zero a weight of ``beta ** t`` at step ``t``; the
    real values share only ``1 - beta ** t`` of the weight, and dividing by it makes the
    weights sum to one.  Shape (T,) in and out.

    Introduced in chapter 5.
    """
    average = ewma(values, beta)
    t = torch.arange(1, len(average) + 1, dtype=torch.float64)
    return average / (1 - beta**t)


class Adam(torch.optim.Optimizer):
    """Adam (Kingma and Ba, 2015), written out; it follows ``torch.optim.Adam`` step for step.

    For each parameter with gradient ``g`` at step ``t``::

        m = beta1 * m + (1 - beta1) * g          # first moment: the smoothed gradient
        v = beta2 * v + (1 - beta2) * g ** 2     # second moment: the smoothed square
        m_hat = m / (1 - beta1 ** t)             # bias corrections
        v_hat = v / (1 - beta2 ** t)
        param -= lr * m_hat / (sqrt(v_hat) + eps)   # the adapted gradient, times lr

    Like PyTorch, it stores the *uncorrected* averages ``exp_avg`` (m) and ``exp_avg_sq`` (v)
    and the step count ``step``, so its state dict loads into ``torch.optim.Adam`` and back.
    ``weight_decay`` adds ``weight_decay * param`` to the gradient first (L2, as PyTorch's
    Adam); ``amsgrad`` divides by the largest ``v`` seen so far instead of the current one.

    Introduced in chapter 5.
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False) -> None:
        if lr < 0 or eps < 0 or weight_decay < 0 or not all(0 <= b < 1 for b in betas):
            raise ValueError(f"invalid Adam settings: lr={lr}, betas={betas}, eps={eps}, "
                             f"weight_decay={weight_decay}")
        defaults = {"lr": lr, "betas": tuple(betas), "eps": eps,
                    "weight_decay": weight_decay, "amsgrad": amsgrad}
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        """Update every parameter that has a gradient, once."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for param in group["params"]:
                if param.grad is None:
                    continue
                grad = param.grad
                if group["weight_decay"]:
                    grad = grad + group["weight_decay"] * param
                state = self.state[param]
                if not state:  # the first step: both averages start at zero
                    state["step"] = torch.tensor(0.0)
                    state["exp_avg"] = torch.zeros_like(param)
                    state["exp_avg_sq"] = torch.zeros_like(param)
                    if group["amsgrad"]:
                        state["max_exp_avg_sq"] = torch.zeros_like(param)
                state["step"] += 1
                t = state["step"].item()
                m, v = state["exp_avg"], state["exp_avg_sq"]
                m.mul_(beta1).add_((1 - beta1) * grad)  # first moment
                v.mul_(beta2).add_((1 - beta2) * grad * grad)  # second moment
                if group["amsgrad"]:
                    torch.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
                    v = state["max_exp_avg_sq"]
                m_hat = m / (1 - beta1**t)  # bias corrections
                v_hat = v / (1 - beta2**t)
                param.sub_(group["lr"] * m_hat / (v_hat.sqrt() + group["eps"]))
        return loss


# --- comparing optimizers ----------------------------------------------------------------


@dataclass
class Run:
    """One optimizer's run in ``compare_optimizers``: its losses and its parameter paths.

    ``paths[layer][name]`` is a tensor (n_steps + 1, *shape): the starting value, then the
    value after each training step.

    Introduced in chapter 6.
    """

    losses: list[float]
    val_losses: list[float]
    paths: dict[str, dict[str, Tensor]] = field(default_factory=dict)
    step_losses: list[float] = field(default_factory=list)


def compare_optimizers(model: nn.Module, loss_fn: Callable[[Tensor, Tensor], Tensor],
                       optimizers: Mapping[str, Callable[[Iterable[Any]], torch.optim.Optimizer]],
                       train_loader: DataLoader[Any], n_epochs: int,
                       val_loader: DataLoader[Any] | None = None,
                       layers: Sequence[str] = (), seed: int = 42) -> dict[str, Run]:
    """Train a copy of ``model`` with each optimizer, all from ``model``'s current state.

    Args:
        model: the starting point; it is copied for every run and never changed.
        loss_fn: e.g. ``nn.MSELoss()``.
        optimizers: name -> a function of the parameters that makes the optimizer, e.g.
            ``{"SGD": lambda p: torch.optim.SGD(p, lr=0.1), "Adam": lambda p: Adam(p, lr=0.1)}``.
        train_loader, val_loader: the data, the same for every run.
        n_epochs: how long each run trains.
        layers: layers whose parameter paths to record (``capture_parameters``).
        seed: every run starts its random numbers from it (the same mini-batch order).

    Returns:
        name -> ``Run`` (epoch losses, validation losses, per-step losses, paths).

    Introduced in chapter 6.
    """
    from rpslib.callbacks import Callback
    from rpslib.trainer import Architecture

    class StepLosses(Callback):
        def __init__(self) -> None:
            self.losses: list[float] = []

        def on_step_end(self, arch: Architecture, loss: Tensor) -> None:
            self.losses.append(loss.item())

    runs = {}
    for name, make_optimizer in optimizers.items():
        copied = copy.deepcopy(model)  # every run starts from the same state
        arch = Architecture(copied, loss_fn, make_optimizer(copied.parameters()))
        arch.set_loaders(train_loader, val_loader)
        step_losses = arch.add_callback(StepLosses())
        assert isinstance(step_losses, StepLosses)
        with arch.capture_parameters(list(layers)) if layers else nullcontext() as captured:
            arch.train(n_epochs, seed=seed, progress=False)
        paths = {layer: {p: captured.stacked(layer, p) for p in captured[layer]}
                 for layer in layers} if captured is not None else {}
        runs[name] = Run(arch.losses, arch.val_losses, paths, step_losses.losses)
    return runs

