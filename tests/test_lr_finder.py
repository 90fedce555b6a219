"""The learning-rate range test: exact schedules, equal to torch-lr-finder, and leaves no trace."""

from __future__ import annotations

import io
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.optim.lr_scheduler import LambdaLR
from torch.utils.data import DataLoader, TensorDataset
from torch_lr_finder import LRFinder

from rpslib.lr_finder import LossRecorder, lr_range_test, make_lr_fn, smooth, suggest_lrs
from rpslib.models import CNN2
from rpslib.runtime import torch_threads
from rpslib.trainer import Architecture
from tests.test_trainer import learnable_data, loss_failing_at, make_arch

# ------------------------------------------------------------------------------- make_lr_fn


def test_make_lr_fn_prints_the_slides_arrays() -> None:
    iterations = np.arange(11)
    exp = make_lr_fn(0.01, 0.1, 10, "exp")(iterations)
    np.testing.assert_allclose(exp, [1.0, 1.25892541, 1.58489319, 1.99526231, 2.51188643,
                                     3.16227766, 3.98107171, 5.01187234, 6.30957344,
                                     7.94328235, 10.0], rtol=1e-8)
    linear = make_lr_fn(0.01, 0.1, 10, "linear")(iterations)
    np.testing.assert_allclose(linear, [1.0, 1.9, 2.8, 3.7, 4.6, 5.5, 6.4, 7.3, 8.2, 9.1, 10.0])


@pytest.mark.parametrize(("start", "end", "n"), [(1e-4, 1e-1, 99), (0.3, 0.003, 7)])
def test_make_lr_fn_equals_the_closed_forms(start: float, end: float, n: int) -> None:
    i = np.arange(n + 1)
    np.testing.assert_allclose(make_lr_fn(start, end, n, "exp")(i), (end / start) ** (i / n),
                               rtol=1e-12)
    np.testing.assert_allclose(make_lr_fn(start, end, n, "linear")(i),
                               1 + i * (end / start - 1) / n, rtol=1e-12)


def test_the_slides_typo_is_not_an_exponential() -> None:
    factor = (np.log(0.1) - np.log(0.01)) / 10
    slides = np.exp(factor) * np.arange(11)  # the slides' exponential branch
    assert slides[0] == 0  # a learning rate of zero at the start: not what they printed
    assert not np.allclose(slides, make_lr_fn(0.01, 0.1, 10)(np.arange(11)))


def test_make_lr_fn_refuses_bad_arguments() -> None:
    with pytest.raises(ValueError, match="step_mode"):
        make_lr_fn(0.1, 1.0, 10, "cosine")
    with pytest.raises(ValueError, match="start_lr > 0"):
        make_lr_fn(0.0, 1.0, 10)
    for end_lr in (float("nan"), float("inf")):  # NaN passed a `<= 0` check
        with pytest.raises(ValueError, match="need finite start_lr > 0, end_lr > 0"):
            make_lr_fn(0.1, end_lr, 10)


def test_lambda_lr_follows_start_lr_times_lr_fn() -> None:
    start_lr, lr_fn = 0.01, make_lr_fn(0.01, 0.1, 10)
    weight = nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.Adam([weight], lr=start_lr)
    scheduler = LambdaLR(optimizer, lr_lambda=lr_fn)
    seen = []
    for _ in range(11):
        seen.append(scheduler.get_last_lr()[0])
        optimizer.step()
        scheduler.step()
    np.testing.assert_allclose(seen, start_lr * lr_fn(np.arange(11)), rtol=1e-12)


# ------------------------------------------------------------------- against torch-lr-finder


def model_and_data(p: float = 0.0, lr: float = 1e-4, shuffle: bool = True
                   ) -> tuple[Architecture, DataLoader[Any]]:
    torch.manual_seed(0)
    model = CNN2(n_feature=5, p=p)
    arch = Architecture(model, nn.CrossEntropyLoss(),
                        torch.optim.Adam(model.parameters(), lr=lr)).to("cpu")
    x, y = learnable_data(64)
    loader = DataLoader(TensorDataset(x, y), batch_size=16, shuffle=shuffle)
    return arch, loader


def val_data() -> DataLoader[Any]:
    x, y = learnable_data(40)
    return DataLoader(TensorDataset(x, y), batch_size=16)  # last batch: 8


def theirs(end_lr: float, num_iter: int, step_mode: str, val: bool = False,
           alpha: float = 0.05) -> dict[str, list[float]]:
    # With a validation loader, torch-lr-finder creates its loader iterators in another
    # order (each creation draws a random number): keep the training order fixed instead
    arch, loader = model_and_data(shuffle=not val)
    finder = LRFinder(arch.model, arch.optimizer, nn.CrossEntropyLoss(), device="cpu")
    torch.manual_seed(123)  # the same data order for both
    # one CPU thread, as ours: the same sums in the same order
    with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()), torch_threads(1):
        finder.range_test(loader, val_loader=val_data() if val else None, end_lr=end_lr,
                          num_iter=num_iter, step_mode=step_mode, smooth_f=alpha, diverge_th=5)
    return finder.history


def ours(end_lr: float, num_iter: int, step_mode: str, val: bool = False,
         alpha: float = 0.05) -> dict[str, list[float]]:
    arch, loader = model_and_data(shuffle=not val)
    torch.manual_seed(123)
    return lr_range_test(arch, loader, end_lr, num_iter=num_iter, step_mode=step_mode,
                         alpha=alpha, val_loader=val_data() if val else None)


@pytest.mark.parametrize(("end_lr", "num_iter", "step_mode", "val", "alpha"), [
    (0.1, 30, "exp", False, 0.05),
    (0.1, 20, "linear", False, 0.05),
    (30.0, 40, "exp", False, 0.05),  # diverges: both stop at the same point
    (0.05, 8, "exp", True, 0.05),  # Smith's variant, the loss on a validation loader
    (0.1, 12, "exp", False, 0.0),  # alpha=0: no smoothing at all
])
def test_equals_torch_lr_finder(end_lr: float, num_iter: int, step_mode: str,
                                val: bool, alpha: float) -> None:
    expected, got = (theirs(end_lr, num_iter, step_mode, val, alpha),
                     ours(end_lr, num_iter, step_mode, val, alpha))
    assert len(got["lr"]) == len(expected["lr"]) == len(got["loss"])
    np.testing.assert_allclose(got["lr"], expected["lr"], rtol=1e-6)
    np.testing.assert_allclose(got["loss"], expected["loss"], rtol=1e-6, atol=1e-6)


def test_reaches_end_lr_and_linear_is_linear() -> None:
    exp = ours(0.01, 12, "exp")
    assert len(exp["lr"]) == 12 and exp["lr"][0] == pytest.approx(1e-4)
    assert exp["lr"][-1] == pytest.approx(0.01, rel=1e-9)
    np.testing.assert_allclose(np.diff(np.log(exp["lr"])), np.log(100) / 11, rtol=1e-9)
    linear = ours(0.01, 12, "linear")
    assert linear["lr"][-1] == pytest.approx(0.01, rel=1e-9)
    np.testing.assert_allclose(np.diff(linear["lr"]), (0.01 - 1e-4) / 11, rtol=1e-9)


def test_stops_on_divergence_keeping_the_last_point() -> None:
    tracking = ours(1e4, 100, "exp")
    assert 2 < len(tracking["loss"]) < 100
    assert tracking["loss"][-1] > 5 * min(tracking["loss"])
    assert all(loss <= 5 * min(tracking["loss"][: i + 1])
               for i, loss in enumerate(tracking["loss"][:-1]))


def test_stops_on_nan() -> None:
    arch, loader = model_and_data()
    calls = []

    def loss_fn(yhat: Tensor, y: Tensor) -> Tensor:
        calls.append(1)
        loss = F.cross_entropy(yhat, y)
        return loss * float("nan") if len(calls) == 4 else loss

    arch.loss_fn = loss_fn
    tracking = lr_range_test(arch, loader, 0.01, num_iter=20)
    assert len(tracking["loss"]) == 4 and np.isnan(tracking["loss"][-1])


# ------------------------------------------------------------------------- leaves no trace


class WithBuffers(nn.Module):
    """A small model with batch-norm buffers and dropout: more state to leave untouched."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.drop = nn.Dropout(0.3)
        self.fc = nn.Linear(4 * 26 * 26, 3)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.drop(F.relu(self.bn(self.conv(x)))).flatten(1))


def everything(arch: Architecture, generator: torch.Generator) -> dict[str, Any]:
    """A deep snapshot of all the range test must leave as it was."""
    return {
        "state": {k: v.clone() for k, v in arch.model.state_dict().items()},
        "grads": [None if p.grad is None else p.grad.clone() for p in arch.model.parameters()],
        "modes": [m.training for m in arch.model.modules()],
        "optimizer": torch.save(arch.optimizer.state_dict(), buffer := io.BytesIO()) or
        buffer.getvalue(),
        "lrs": [g["lr"] for g in arch.optimizer.param_groups],
        "groups": [sorted(g) for g in arch.optimizer.param_groups],
        "rng": torch.get_rng_state(),
        "generator": generator.get_state(),
    }


def assert_unchanged(before: dict[str, Any], after: dict[str, Any]) -> None:
    assert before["state"].keys() == after["state"].keys()
    for name, tensor in before["state"].items():
        assert torch.equal(tensor, after["state"][name]), name
    for a, b in zip(before["grads"], after["grads"], strict=True):
        assert (a is None and b is None) or (a is not None and b is not None and torch.equal(a, b))
    assert before["modes"] == after["modes"]
    assert before["optimizer"] == after["optimizer"]
    assert before["lrs"] == after["lrs"] and before["groups"] == after["groups"]
    assert torch.equal(before["rng"], after["rng"])
    assert torch.equal(before["generator"], after["generator"])


def prepared() -> tuple[Architecture, DataLoader[Any], torch.Generator]:
    """An Architecture mid-training: Adam state, gradients left, mixed train/eval modes."""
    torch.manual_seed(0)
    model = WithBuffers()
    arch = Architecture(model, nn.CrossEntropyLoss(),
                        torch.optim.Adam(model.parameters(), lr=1e-3)).to("cpu")
    x, y = learnable_data(48)
    generator = torch.Generator().manual_seed(5)
    loader = DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True, generator=generator)
    arch.set_loaders(loader)
    arch.train(1, seed=1, progress=False)
    model(x[:4]).sum().backward()  # gradients left behind
    model.eval()
    model.drop.train()  # a mixed state, to be given back as it was
    return arch, loader, generator


def test_leaves_everything_as_it_was() -> None:
    arch, loader, generator = prepared()
    before = everything(arch, generator)
    tracking, fig = arch.lr_range_test(loader, end_lr=1.0, num_iter=15, plot=False)
    assert fig is None and len(tracking["lr"]) > 1
    assert_unchanged(before, everything(arch, generator))


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_leaves_everything_as_it_was_when_interrupted(error: type[BaseException]) -> None:
    arch, loader, generator = prepared()
    before = everything(arch, generator)
    arch.loss_fn = loss_failing_at(5, error("stopped halfway"))
    with pytest.raises(error):
        arch.lr_range_test(loader, end_lr=1.0, num_iter=15, plot=False)
    assert_unchanged(before, everything(arch, generator))


def test_train_afterwards_is_as_without_the_range_test() -> None:
    plain, loader = model_and_data(p=0.3)
    plain.set_loaders(loader)
    plain.train(2, seed=4, progress=False)
    tested, loader2 = model_and_data(p=0.3)
    tested.set_loaders(loader2)
    tested.lr_range_test(loader2, end_lr=1.0, num_iter=10, plot=False)
    tested.train(2, seed=4, progress=False)
    assert tested.losses == plain.losses


def test_a_scheduler_mark_on_the_optimizer_is_given_back() -> None:
    arch, loader = model_and_data(lr=1e-3)
    LambdaLR(arch.optimizer, lambda epoch: 0.5)  # sets initial_lr and lr = 5e-4
    tracking = lr_range_test(arch, loader, end_lr=0.1, num_iter=5)
    assert tracking["lr"][0] == pytest.approx(5e-4)  # starts from the current rate
    assert arch.optimizer.param_groups[0]["initial_lr"] == 1e-3


# ---------------------------------------------------------------------------- suggestions


def test_suggestions_on_a_known_curve() -> None:
    lrs = np.logspace(-5, 0, 60)
    x = np.log10(lrs)
    losses = 1.0 - 0.5 * np.tanh(3 * (x + 3)) + np.where(x > -1.5, (x + 1.5) ** 2 * 2, 0)
    tracking = {"lr": lrs.tolist(), "loss": losses.tolist()}
    found = suggest_lrs(tracking)
    assert found["steepest"] == pytest.approx(1e-3, rel=0.25)  # the tanh is steepest at 1e-3
    assert found["min/10"] == pytest.approx(lrs[np.argmin(losses)] / 10)
    assert lrs[0] < found["valley"] < lrs[np.argmin(losses)]
    with pytest.raises(ValueError, match="at least 3"):
        suggest_lrs({"lr": [1e-3, 1e-2], "loss": [1.0, 0.5]})


def test_plot_marks_the_suggestions() -> None:
    arch, loader = model_and_data()
    tracking, fig = arch.lr_range_test(loader, end_lr=0.1, num_iter=20)
    assert fig is not None
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    assert len(ax.lines) >= 1 + 3  # the curve and a marker per suggestion
    legend = ax.get_legend()
    assert legend is not None
    assert {"steepest", "valley", "min/10"} <= {t.get_text().split(" ")[0]
                                                 for t in legend.get_texts()}


# ------------------------------------------------------------- the grid search's helpers


def test_loss_recorder_keeps_every_step_and_their_means_are_the_epoch_losses() -> None:
    arch = make_arch()  # 64 training images in batches of 16: 4 steps per epoch
    recorder = arch.add_callback(LossRecorder())
    arch.train(2, seed=3, progress=False)
    arch.train(1, progress=False)  # a second call appends
    assert len(recorder.losses) == 3 * 4
    assert all(isinstance(loss, float) for loss in recorder.losses)
    epoch_means = np.asarray(recorder.losses).reshape(3, 4).mean(axis=1)
    np.testing.assert_allclose(epoch_means, arch.losses, rtol=1e-6)
    assert "12 losses" in repr(recorder)


def test_smooth_is_the_exponentially_weighted_average_seeded_with_the_first_value() -> None:
    values = np.array([3.0, 1.0, 4.0, 1.0, 5.0, 9.0])
    alpha = 0.3
    # closed form: (1 - a)^i x0 + sum_k a (1 - a)^(i - k) x_k
    expected = [(1 - alpha) ** i * values[0]
                + sum(alpha * (1 - alpha) ** (i - k) * values[k] for k in range(1, i + 1))
                for i in range(len(values))]
    np.testing.assert_allclose(smooth(values.tolist(), alpha), expected, rtol=1e-12)
    np.testing.assert_array_equal(smooth(values, 1.0), values)
    with pytest.raises(ValueError, match="alpha"):
        smooth(values, 0.0)


def test_smooth_draws_the_range_tests_curve() -> None:
    raw = ours_with_alpha(0.0)  # alpha=0: the raw losses
    np.testing.assert_allclose(smooth(raw, 0.05), ours_with_alpha(0.05), rtol=1e-12)


def ours_with_alpha(alpha: float) -> list[float]:
    arch, loader = model_and_data()
    torch.manual_seed(123)
    return lr_range_test(arch, loader, 0.1, num_iter=12, alpha=alpha, diverge_th=1e9)["loss"]


def test_suggestions_leave_out_the_points_where_the_loss_is_not_a_number() -> None:
    import math

    import numpy as np

    # a short test that diverged: the last two losses are NaN
    lrs = list(np.geomspace(1e-4, 1.0, 9))
    losses = [1.0, 0.9, 0.7, 0.6, 0.55, 0.52, 0.51, math.nan, math.nan]
    steepest = suggest_lrs({"lr": lrs, "loss": losses})["steepest"]
    finite = np.gradient(np.array(losses[:7]), np.log10(lrs[:7]))
    assert steepest == lrs[int(np.argmin(finite))] and steepest != lrs[6]
    with pytest.raises(ValueError, match="not a number"):
        suggest_lrs({"lr": lrs, "loss": [math.nan] * 9})


class CountingNet(nn.Module):
    """A linear model with a buffer outside its state dict that counts training images."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(3 * 28 * 28, 3)
        self.register_buffer("seen", torch.zeros(()), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.seen += len(x)
        return self.linear(x.flatten(1))


def test_the_range_test_restores_buffers_left_out_of_the_state_dict() -> None:
    model = CountingNet()
    arch = Architecture(model, nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), 1e-3))
    x, y = learnable_data()
    lr_range_test(arch, DataLoader(TensorDataset(x, y), batch_size=16), end_lr=0.1, num_iter=5)
    assert model.seen.item() == 0  # its docstring promises buffers too


def shifted(loss_fn: nn.Module, by: float) -> Callable[..., torch.Tensor]:
    return lambda yhat, y: loss_fn(yhat, y) + by


@pytest.mark.parametrize(("change", "message"), [
    ({"end_lr": float("nan")}, "end_lr must be a number above"),
    ({"end_lr": float("inf")}, "end_lr must be a number above"),
    ({"end_lr": 1e-2}, "end_lr must be a number above"),  # the optimizer's own rate
    ({"end_lr": 1e-3}, "end_lr must be a number above"),  # below it: the test goes up
    ({"diverge_th": 0}, "diverge_th must be above 0"),
    ({"diverge_th": -1}, "diverge_th must be above 0"),
    ({"loss_shift": -10.0}, "needs losses above 0"),  # e.g. a Gaussian NLL
    ({"loss_shift": float("nan")}, "at the first step"),
    ({"empty_val": True}, "validation loader gave no mini-batches"),
])
def test_the_range_test_says_clearly_what_it_cannot_do(change: dict[str, Any],
                                                        message: str) -> None:
    arch = make_arch(lr=1e-2)
    before = arch.model.state_dict()["fc1.weight"].clone()
    if "loss_shift" in change:
        arch.loss_fn = shifted(arch.loss_fn, change["loss_shift"])
    x, y = learnable_data()
    val = DataLoader(TensorDataset(x[:0], y[:0]), batch_size=4) if "empty_val" in change \
        else None
    kwargs = {k: v for k, v in change.items() if k in ("end_lr", "diverge_th")}
    with pytest.raises(ValueError, match=message):
        lr_range_test(arch, arch.train_loader, **{"end_lr": 1.0, "num_iter": 10, **kwargs},
                      val_loader=val)
    assert torch.equal(arch.model.state_dict()["fc1.weight"], before)  # nothing changed
