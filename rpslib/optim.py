"""Optimizers written by hand, to see that there is no magic in them.

- ``ewma`` and ``bias_corrected_ewma``: the exponentially weighted moving average Adam keeps,
  and its correction for starting at zero;
- ``Adam``: ``torch.optim.Adam``'s update as plain tensor arithmetic, line by line;
- ``adapted_gradients``: what Adam makes of a series of gradients (smoothed, scaled), to look at;
- ``SGD``: plain, with momentum and with Nesterov momentum, as ``torch.optim.SGD``.

Both are ``ByHand`` optimizers: the loop over the parameters is written once, and each
writes its update rule, for one parameter, in ``update``.

Training copies of one model with several optimizers, from the same start, is a recipe:
``rpslib.recipes.compare_optimizers``.

Introduced in chapter 5.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor

__all__ = ["SGD", "Adam", "AdaptedGradients", "ByHand", "SGDDirections", "adapted_gradients",
           "bias_corrected_ewma", "ewma", "sgd_directions"]


def ewma(values: Sequence[float] | Tensor, beta: float) -> Tensor:
    """The exponentially weighted moving average of a series, started at zero.

    ``ewma[t] = beta * ewma[t - 1] + (1 - beta) * values[t]``, with ``ewma[-1] = 0``, as Adam
    keeps its averages.  ``alpha = 1 - beta`` is the weight of the newest value; the average
    "remembers" about ``2 / alpha - 1`` periods (beta = 0.9: 19, beta = 0.999: 1,999).

    Args:
        values: the series, shape (T,), or (T, ...) for several series averaged side by side
            (along the first dimension, as Adam averages each element of a gradient).
        beta: the weight of the past, in [0, 1).

    Returns:
        A float64 tensor shaped like ``values``.

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
    weights sum to one.  Shape (T,) or (T, ...) in and out, as ``ewma``.

    Raises:
        ValueError: ``beta`` outside [0, 1): at 1, ``1 - beta ** t`` is zero.

    Introduced in chapter 5.
    """
    if not 0 <= beta < 1:
        raise ValueError(f"beta must be in [0, 1) (as Adam's betas), got {beta}: at beta = 1 the "
                         f"bias correction 1 - beta ** t is zero")
    average = ewma(values, beta)
    t = torch.arange(1, len(average) + 1, dtype=torch.float64)
    return average / (1 - beta**t).view(-1, *[1] * (average.dim() - 1))


class AdaptedGradients(NamedTuple):
    """``adapted_gradients``' answer: three tensors shaped like the gradients, (T, ...)."""

    smoothed: Tensor  # m_hat: the bias-corrected EWMA of the gradients (beta1)
    scale: Tensor  # sqrt(v_hat): the root of the bias-corrected EWMA of their squares (beta2)
    adapted: Tensor  # smoothed / (scale + eps): what Adam multiplies by the learning rate


def adapted_gradients(gradients: Sequence[float] | Tensor,
                      betas: tuple[float, float] = (0.9, 0.999),
                      eps: float = 1e-8) -> AdaptedGradients:
    """What Adam makes of a series of gradients, step by step, to look at (no optimizer needed).

    At step ``t`` Adam moves a parameter by ``-lr * adapted[t]``, where::

        smoothed[t] = bias_corrected_ewma(gradients, beta1)[t]        # m_hat
        scale[t]    = sqrt(bias_corrected_ewma(gradients ** 2, beta2)[t])   # sqrt(v_hat)
        adapted[t]  = smoothed[t] / (scale[t] + eps)

    Args:
        gradients: one parameter's gradient at each step, shape (T,), or (T, ...) for a
            whole tensor of them (each element on its own, as Adam treats them).
        betas: (beta1, beta2), as for ``Adam``.
        eps: as for ``Adam``.

    Returns:
        ``AdaptedGradients(smoothed, scale, adapted)``, float64 tensors shaped like
        ``gradients``.

    Introduced in chapter 5.
    """
    beta1, beta2 = betas
    g = torch.as_tensor(gradients, dtype=torch.float64)
    smoothed = bias_corrected_ewma(g, beta1)
    scale = bias_corrected_ewma(g * g, beta2).sqrt()
    return AdaptedGradients(smoothed, scale, smoothed / (scale + eps))


class ByHand(torch.optim.Optimizer):
    """What ``Adam`` and ``SGD`` below share: ``step`` calls ``update`` once for every
    parameter that has a gradient, after adding ``weight_decay * param`` to the gradient (an
    L2 penalty, as ``torch.optim`` adds it).  A subclass writes its update rule in ``update``.

    Introduced in chapter 5.
    """

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        """Update every parameter that has a gradient, once."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is None:
                    continue
                grad = param.grad
                if group["weight_decay"]:
                    grad = grad + group["weight_decay"] * param
                self.update(param, grad, group)
        return loss

    def update(self, param: Tensor, grad: Tensor, group: dict[str, Any]) -> None:
        """Change ``param`` (in place) by its gradient ``grad``; ``group`` holds the settings."""
        raise NotImplementedError


class Adam(ByHand):
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
        # as torch.optim.Adam refuses: "not >= 0" also catches NaN
        if (not lr >= 0 or not eps >= 0 or not weight_decay >= 0 or len(tuple(betas)) != 2
                or not all(0 <= b < 1 for b in betas)):
            raise ValueError(f"invalid Adam settings: lr={lr}, betas={betas} (two numbers in "
                             f"[0, 1)), eps={eps}, weight_decay={weight_decay}")
        defaults = {"lr": lr, "betas": tuple(betas), "eps": eps,
                    "weight_decay": weight_decay, "amsgrad": amsgrad}
        super().__init__(params, defaults)

    def update(self, param: Tensor, grad: Tensor, group: dict[str, Any]) -> None:
        """One Adam step of ``param``, whose gradient is ``grad`` (weight decay added)."""
        beta1, beta2 = group["betas"]
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


class SGD(ByHand):
    """Stochastic gradient descent, with momentum or Nesterov momentum, written out.

    It follows ``torch.optim.SGD`` step for step.  For each parameter with gradient ``g``::

        g = g + weight_decay * param                 # L2 penalty, if any
        b = momentum * b + (1 - dampening) * g       # velocity ("momentum_buffer"); b = g at first
        d = g + momentum * b  if nesterov  else b    # Nesterov: look ahead along the velocity
        param -= lr * d

    PyTorch's velocity ``b`` holds gradients; the learning rate multiplies it at the end.  The
    textbook formulation puts the learning rate inside (``v = momentum * v + lr * g``;
    ``param -= v``).  With a constant learning rate the two give the same steps; when a
    scheduler changes the rate, PyTorch's velocity is rescaled at once by the new rate, the
    textbook's keeps the old rates inside it for a while.

    Introduced in chapter 7.
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, momentum: float = 0.0,
                 dampening: float = 0.0, weight_decay: float = 0.0,
                 nesterov: bool = False) -> None:
        if lr < 0 or momentum < 0 or weight_decay < 0:
            raise ValueError(f"invalid SGD settings: lr={lr}, momentum={momentum}, "
                             f"weight_decay={weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum needs a momentum > 0 and zero dampening")
        defaults = {"lr": lr, "momentum": momentum, "dampening": dampening,
                    "weight_decay": weight_decay, "nesterov": nesterov}
        super().__init__(params, defaults)

    def update(self, param: Tensor, grad: Tensor, group: dict[str, Any]) -> None:
        """One SGD step of ``param``, whose gradient is ``grad`` (weight decay added)."""
        momentum = group["momentum"]
        direction = grad
        if momentum:
            state = self.state[param]
            velocity = state.get("momentum_buffer")
            if velocity is None:  # the first step: the velocity is the gradient
                velocity = state["momentum_buffer"] = grad.clone()
            else:
                velocity.mul_(momentum).add_((1 - group["dampening"]) * grad)
            direction = grad + momentum * velocity if group["nesterov"] else velocity
        param.sub_(group["lr"] * direction)


class SGDDirections(NamedTuple):
    """``sgd_directions``' answer: three tensors shaped like the gradients, (T, ...)."""

    gradient: Tensor  # g: plain SGD's direction
    momentum: Tensor  # b: the velocity ("momentum_buffer"), momentum's direction
    nesterov: Tensor  # g + momentum * b: Nesterov's look-ahead direction


def sgd_directions(gradients: Sequence[float] | Tensor, momentum: float = 0.9,
                   dampening: float = 0.0) -> SGDDirections:
    """What ``SGD`` makes of a series of gradients, step by step, to look at (no optimizer).

    At step ``t`` plain SGD moves a parameter by ``-lr * gradient[t]``, SGD with momentum by
    ``-lr * momentum[t]`` and Nesterov by ``-lr * nesterov[t]``, where::

        momentum[0] = gradient[0]
        momentum[t] = momentum * momentum[t - 1] + (1 - dampening) * gradient[t]
        nesterov[t] = gradient[t] + momentum * momentum[t]

    (``nesterov`` is meant for ``dampening=0``, the only setting ``SGD`` allows it with.)

    Args:
        gradients: one parameter's gradient at each step, shape (T,), or (T, ...) for a
            whole tensor of them.
        momentum, dampening: as for ``SGD``.

    Returns:
        ``SGDDirections(gradient, momentum, nesterov)``, float64 tensors shaped like
        ``gradients``.

    Introduced in chapter 7.
    """
    g = torch.as_tensor(gradients, dtype=torch.float64)
    velocity = torch.empty_like(g)
    for t in range(len(g)):
        velocity[t] = g[t] if t == 0 else momentum * velocity[t - 1] + (1 - dampening) * g[t]
    return SGDDirections(g, velocity, g + momentum * velocity)
