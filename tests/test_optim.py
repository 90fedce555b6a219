"""Hand-written optimizers against torch.optim as the oracle; EWMAs against closed forms."""

from __future__ import annotations

import importlib
import io
from typing import Any

import pytest
import torch
from torch import nn

import rpslib.optim as optim
from rpslib.optim import (
    Adam,
    adapted_gradients,
    bias_corrected_ewma,
    ewma,
)

# --------------------------------------------------------------------------------- EWMA


def test_ewma_equals_its_closed_form() -> None:
    x = torch.randn(30, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    beta = 0.8
    # ewma[t] = (1 - beta) * sum_{k<=t} beta^(t-k) x[k]
    closed = torch.stack([(1 - beta) * sum(beta ** (t - k) * x[k] for k in range(t + 1))
                          for t in range(30)])
    torch.testing.assert_close(ewma(x, beta), closed)
    corrected = closed / (1 - beta ** torch.arange(1, 31, dtype=torch.float64))
    torch.testing.assert_close(bias_corrected_ewma(x, beta), corrected)


def test_bias_correction_of_a_constant_series_is_exact() -> None:
    constant = torch.full((10,), 3.0)
    assert ewma(constant, 0.9)[0].item() == pytest.approx(0.3)  # too small: started at 0
    torch.testing.assert_close(bias_corrected_ewma(constant, 0.9),
                               torch.full((10,), 3.0, dtype=torch.float64))


# --------------------------------------------------------------------------------- Adam


def run(make: Any, steps: int = 50, **kwargs: Any) -> tuple[nn.Module, torch.optim.Optimizer]:
    """``steps`` Adam steps on a small model with random mini-batches (fixed seed)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 1))
    optimizer = make(model.parameters(), lr=0.01, **kwargs)
    g = torch.Generator().manual_seed(1)
    for _ in range(steps):
        x, y = torch.randn(16, 5, generator=g), torch.randn(16, 1, generator=g)
        optimizer.zero_grad()
        nn.functional.mse_loss(model(x), y).backward()
        optimizer.step()
    return model, optimizer


@pytest.mark.parametrize("kwargs", [{}, {"weight_decay": 0.1}, {"amsgrad": True},
                                    {"betas": (0.5, 0.9), "eps": 1e-6}])
def test_adam_follows_torch_step_for_step(kwargs: dict[str, Any]) -> None:
    ours, our_opt = run(Adam, **kwargs)
    theirs, their_opt = run(torch.optim.Adam, **kwargs)
    for p, q in zip(ours.parameters(), theirs.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-7)
        for key in ("exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if kwargs.get("amsgrad")
                                                else ()):
            torch.testing.assert_close(our_opt.state[p][key], their_opt.state[q][key],
                                       rtol=1e-5, atol=1e-7)
        assert our_opt.state[p]["step"].item() == their_opt.state[q]["step"].item() == 50


def forbid_torchs_update(monkeypatch: pytest.MonkeyPatch,
                         optimizer: type[torch.optim.Optimizer], update: str) -> None:
    """Make torch's ``optimizer.step`` and the update it calls (``update`` in the optimizer's
    module: ``torch.optim.adam.adam``) raise: our optimizer must do its own arithmetic."""
    name = optimizer.__name__

    def forbidden(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"rpslib.optim.{name} must not call torch's {name} update")

    monkeypatch.setattr(importlib.import_module(optimizer.__module__), update, forbidden)
    monkeypatch.setattr(optimizer, "step", forbidden)


def test_adam_does_not_call_torchs_update(monkeypatch: pytest.MonkeyPatch) -> None:
    forbid_torchs_update(monkeypatch, torch.optim.Adam, "adam")
    assert not issubclass(Adam, torch.optim.Adam)
    run(Adam, steps=3)


def test_adam_state_dict_loads_into_torch_and_back() -> None:
    ours, our_opt = run(Adam, steps=10)
    theirs, their_opt = run(torch.optim.Adam, steps=10)
    buffer = io.BytesIO()
    torch.save(our_opt.state_dict(), buffer)
    buffer.seek(0)
    fresh_torch = torch.optim.Adam(theirs.parameters(), lr=0.01)
    fresh_torch.load_state_dict(torch.load(buffer, weights_only=True))
    fresh_ours = Adam(ours.parameters(), lr=0.01)
    fresh_ours.load_state_dict(their_opt.state_dict())
    for p, q in zip(ours.parameters(), theirs.parameters(), strict=True):
        torch.testing.assert_close(fresh_torch.state[q]["exp_avg"], our_opt.state[p]["exp_avg"])
        torch.testing.assert_close(fresh_ours.state[p]["exp_avg_sq"],
                                   their_opt.state[q]["exp_avg_sq"])
    # both go on alike from the swapped states
    for model, opt in ((ours, fresh_ours), (theirs, fresh_torch)):
        opt.zero_grad()
        nn.functional.mse_loss(model(torch.ones(2, 5)), torch.zeros(2, 1)).backward()
        opt.step()


def test_adam_refuses_bad_settings() -> None:
    with pytest.raises(ValueError, match="betas"):
        Adam([nn.Parameter(torch.zeros(1))], betas=(1.0, 0.999))


# ------------------------------------------------------------------- adapted_gradients


@pytest.mark.parametrize("beta", [1.0, 1.5, -0.1])
def test_a_bias_correction_needs_beta_below_one(beta: float) -> None:
    """At beta = 1 the correction divides by zero: NaN and inf curves, drawn without a word."""
    from rpslib.widgets import draw_adam_gradients

    with pytest.raises(ValueError, match=r"beta must be in \[0, 1\)"):
        bias_corrected_ewma(torch.ones(5), beta)
    with pytest.raises(ValueError, match=r"beta must be in \[0, 1\)"):
        draw_adam_gradients(torch.ones(5), beta1=beta, beta2=0.999)


def test_ewma_of_several_series_averages_each_on_its_own() -> None:
    x = torch.randn(20, 2, 3, generator=torch.Generator().manual_seed(4))
    for average in (ewma, bias_corrected_ewma):
        together = average(x, 0.7)
        assert together.shape == (20, 2, 3)
        for i in range(2):
            for j in range(3):
                torch.testing.assert_close(together[:, i, j], average(x[:, i, j], 0.7))


def torchs_steps(optimizer: torch.optim.Optimizer, param: nn.Parameter,
                 grads: torch.Tensor) -> torch.Tensor:
    """The directions torch's ``optimizer`` moves ``param`` along when its gradients are the
    rows of ``grads`` in turn: (before - after) / lr for each step, stacked (T, ...)."""
    lr = optimizer.param_groups[0]["lr"]
    steps = []
    for g in grads:
        before = param.detach().clone()
        param.grad = g.clone()
        optimizer.step()
        steps.append((before - param.detach()) / lr)
    return torch.stack(steps)


@pytest.mark.parametrize(("betas", "eps"), [((0.9, 0.999), 1e-8), ((0.5, 0.9), 1e-3)])
def test_adapted_gradients_are_the_steps_of_torchs_adam(betas: tuple[float, float],
                                                        eps: float) -> None:
    grads = torch.randn(40, 3, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    grads[:, 2] *= 1e-3  # a small gradient: eps matters
    param = nn.Parameter(torch.zeros(3, dtype=torch.float64))
    optimizer = torch.optim.Adam([param], lr=0.01, betas=betas, eps=eps)
    steps = torchs_steps(optimizer, param, grads)
    smoothed, scale, adapted = adapted_gradients(grads, betas, eps)
    torch.testing.assert_close(adapted, steps, rtol=1e-6, atol=1e-9)
    state = optimizer.state[param]  # torch keeps the averages uncorrected
    t = len(grads)
    torch.testing.assert_close(smoothed[-1] * (1 - betas[0] ** t), state["exp_avg"])
    torch.testing.assert_close(scale[-1] ** 2 * (1 - betas[1] ** t), state["exp_avg_sq"])


def test_the_first_adapted_gradient_is_the_sign_of_the_gradient() -> None:
    first = adapted_gradients(torch.tensor([[-3.0, 0.02, 5e-4]])).adapted[0]
    torch.testing.assert_close(first, torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64),
                               rtol=0, atol=1e-4)


def test_the_weights_of_an_ewma_sum_to_one_minus_beta_to_the_t() -> None:
    weights = ewma(torch.ones(50), 0.9)  # the EWMA of ones is the sum of its weights
    torch.testing.assert_close(weights, 1 - 0.9 ** torch.arange(1, 51, dtype=torch.float64))
    assert "Adam" in optim.__all__


# ---------------------------------------------------------------------------------- SGD


@pytest.mark.parametrize("kwargs", [
    {},
    {"momentum": 0.9},
    {"momentum": 0.9, "dampening": 0.5},
    {"momentum": 0.9, "nesterov": True},
    {"momentum": 0.8, "nesterov": True, "weight_decay": 0.01},
])
def test_sgd_follows_torch_step_for_step(kwargs: dict[str, Any]) -> None:
    from rpslib.optim import SGD

    ours, our_opt = run(SGD, **kwargs)
    theirs, their_opt = run(torch.optim.SGD, **kwargs)
    for p, q in zip(ours.parameters(), theirs.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-7)
        if kwargs.get("momentum"):
            torch.testing.assert_close(our_opt.state[p]["momentum_buffer"],
                                       their_opt.state[q]["momentum_buffer"],
                                       rtol=1e-5, atol=1e-7)


def test_sgd_does_not_call_torchs_update(monkeypatch: pytest.MonkeyPatch) -> None:
    from rpslib.optim import SGD

    forbid_torchs_update(monkeypatch, torch.optim.SGD, "sgd")
    assert not issubclass(SGD, torch.optim.SGD)
    run(SGD, steps=3, momentum=0.9, nesterov=True)


def test_sgd_refuses_nesterov_without_momentum() -> None:
    from rpslib.optim import SGD

    with pytest.raises(ValueError, match="Nesterov"):
        SGD([nn.Parameter(torch.zeros(1))], lr=0.1, nesterov=True)


@pytest.mark.parametrize(("momentum", "dampening", "nesterov"),
                         [(0.9, 0.0, False), (0.5, 0.3, False), (0.9, 0.0, True)])
def test_sgd_directions_are_the_steps_of_torchs_sgd(momentum: float, dampening: float,
                                                    nesterov: bool) -> None:
    from rpslib.optim import sgd_directions

    grads = torch.randn(30, 2, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    param = nn.Parameter(torch.zeros(2, dtype=torch.float64))
    optimizer = torch.optim.SGD([param], lr=0.1, momentum=momentum, dampening=dampening,
                                nesterov=nesterov)
    steps = torchs_steps(optimizer, param, grads)
    directions = sgd_directions(grads, momentum, dampening)
    torch.testing.assert_close(directions.nesterov if nesterov else directions.momentum,
                               steps, rtol=1e-6, atol=1e-9)
    torch.testing.assert_close(directions.momentum[-1],
                               optimizer.state[param]["momentum_buffer"])
    torch.testing.assert_close(directions.gradient, grads)


@pytest.mark.parametrize("settings", [{"lr": float("nan")}, {"betas": (0.9,)},
                                      {"betas": (0.9, 1.0)}, {"eps": float("nan")}])
def test_adam_refuses_what_torchs_adam_refuses(settings: dict[str, Any]) -> None:
    param = torch.nn.Parameter(torch.zeros(2))
    with pytest.raises((ValueError, IndexError)):
        torch.optim.Adam([param], **settings)  # the oracle refuses it too
    with pytest.raises(ValueError, match="invalid Adam settings"):
        Adam([param], **settings)
