"""Figures of training: losses per epoch and per step, the LR range test's curve, a grid
search of learning rates, and a scheduler's learning rates.

Introduced in chapters 2, 4, 6 and 8.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from torch import Tensor

from rpslib.lr_finder import smooth
from rpslib.plots._axes import figure_and_axes
from rpslib.schedulers import lr_sequence, momentum_sequence, steps_are_batches

__all__ = ["plot_losses", "plot_lr_grid", "plot_lr_range", "plot_lr_schedule", "plot_per_step"]


def plot_losses(losses: Sequence[float], val_losses: Sequence[float] = (),
                ax: Axes | None = None) -> Figure:
    """Training (and validation) loss per epoch, on a log scale.

    Args:
        losses: mean training loss of each epoch.
        val_losses: mean validation loss of each epoch; empty when there was no validation set.
        ax: where to draw (its figure's layout is left to you); ``None`` makes a new 10x4
            figure.

    Introduced in chapter 2.
    """
    fig, ax = figure_and_axes(ax, figsize=(10, 4))
    epochs = np.arange(1, len(losses) + 1)
    ax.plot(epochs, losses, label="Training Loss", c="b")
    if len(val_losses):
        ax.plot(np.arange(1, len(val_losses) + 1), val_losses, label="Validation Loss", c="r")
    ax.set_yscale("log")
    ax.set_xlabel("Epochs")
    ax.set_ylabel("Loss")
    ax.legend()
    return fig


def plot_lr_range(tracking: dict[str, list[float]],
                  suggestions: dict[str, float] | None = None, ax: Axes | None = None,
                  label: str = "range test", **line_style: Any) -> Figure:
    """A learning-rate range test: the smoothed loss against the learning rate (log scale).

    Args:
        tracking: ``{"lr": [...], "loss": [...]}`` as ``lr_range_test`` returns it.
        suggestions: name -> learning rate (``rpslib.lr_finder.suggest_lrs``); each is marked
            on the curve and named in the legend with its value.
        ax: where to draw; ``None`` makes a new 6x4 figure.
        label: the curve's name in the legend (to draw two tests on one ``ax``).
        **line_style: passed to ``ax.plot`` for the curve, e.g. ``linewidth=4, alpha=0.4`` to
            let a second curve drawn on top show.

    Introduced in chapter 4.
    """
    fig, ax = figure_and_axes(ax, figsize=(6, 4))
    lrs, losses = np.asarray(tracking["lr"]), np.asarray(tracking["loss"])
    ax.plot(lrs, losses, label=label, **line_style)
    markers = {"steepest": ("o", "tab:red"), "valley": ("s", "tab:green"),
               "min/10": ("^", "tab:purple")}
    for name, lr in (suggestions or {}).items():
        marker, color = markers.get(name, ("x", "k"))
        loss = np.interp(np.log10(lr), np.log10(lrs), losses)
        ax.plot([lr], [loss], marker=marker, color=color, markersize=9, linestyle="none",
                label=f"{name} {lr:.1e}")
    ax.set_xscale("log")
    ax.set_xlabel("Learning rate")
    ax.set_ylabel("Loss (smoothed)")
    ax.legend()
    return fig


def plot_lr_grid(step_losses: Mapping[float, Sequence[float]], alpha: float = 0.1,
                 chance_loss: float | None = None, ax: Axes | None = None) -> Figure:
    """A grid search over learning rates: each rate's training loss per mini-batch, smoothed.

    Args:
        step_losses: learning rate -> the loss of each mini-batch of its run, e.g.
            ``LossRecorder().losses`` (runs of any lengths).
        alpha: how much each curve is smoothed (``rpslib.lr_finder.smooth``; ``1``: not at
            all): the loss of single mini-batches jumps too much to compare eight curves.
        chance_loss: draw a dotted line at this loss, e.g. ``math.log(3)``: the loss of a
            model that gives each of three classes the same probability.
        ax: where to draw; ``None`` makes a new 8x4.5 figure.

    One line per learning rate, coloured from the smallest (dark) to the largest (yellow);
    the loss axis is logarithmic.

    Introduced in chapter 4.
    """
    if not step_losses:
        raise ValueError("no runs to draw: step_losses is empty")
    fig, ax = figure_and_axes(ax, figsize=(8, 4.5))
    cmap = plt.get_cmap("viridis")
    rates = sorted(step_losses)
    for rank, lr in enumerate(rates):
        losses = smooth(step_losses[lr], alpha)
        ax.plot(np.arange(1, len(losses) + 1), losses, color=cmap(rank / max(1, len(rates) - 1)),
                label=f"{lr:g}")
    if chance_loss is not None:
        ax.axhline(chance_loss, color="gray", linestyle=":", label="chance")
    ax.set_yscale("log")
    ax.set_xlabel("Mini-batch")
    ax.set_ylabel("Training loss (smoothed)")
    ax.legend(title="learning rate", fontsize=8)
    return fig


def plot_per_step(values: Mapping[str, Sequence[float] | Tensor | np.ndarray], ylabel: str,
                  steps_per_epoch: int | None = None, alpha: float | None = None,
                  ax: Axes | None = None) -> Figure:
    """One line per name of a value recorded at each training step, e.g. a loss or a norm.

    Args:
        values: name -> one value per step, (n_steps,): e.g. ``Run.step_losses`` of
            ``compare_optimizers``, or ``capture.norms("fc1")`` of a gradient capture.
        ylabel: what the values are; the y axis is logarithmic.
        steps_per_epoch: draw a dotted line where each epoch ends.
        alpha: also draw each line smoothed (``rpslib.lr_finder.smooth``), the raw values
            faint behind it; ``None``: the raw values only.
        ax: where to draw; ``None`` makes a new 8x4 figure.

    Introduced in chapter 6.
    """
    if not values:
        raise ValueError("nothing to draw: values is empty")
    fig, ax = figure_and_axes(ax, figsize=(8, 4))
    n_steps = 0
    for name, series in values.items():
        y = np.asarray(series, dtype=np.float64)
        steps = np.arange(1, len(y) + 1)
        n_steps = max(n_steps, len(y))
        if alpha is None:
            ax.plot(steps, y, linewidth=1, label=name)
        else:
            raw, = ax.plot(steps, y, linewidth=0.6, alpha=0.3)
            ax.plot(steps, smooth(y, alpha), linewidth=1.5, color=raw.get_color(), label=name)
    if steps_per_epoch:
        for end in range(steps_per_epoch, n_steps, steps_per_epoch):
            ax.axvline(end + 0.5, color="gray", linestyle=":", linewidth=0.8)
    ax.set_yscale("log")
    ax.set_xlabel("training step" + (" (dotted lines: epochs)" if steps_per_epoch else ""))
    ax.set_ylabel(ylabel + (" (smoothed)" if alpha is not None else ""))
    ax.legend(fontsize=8)
    return fig


def plot_lr_schedule(scheduler: Any, n_steps: int, ax: Axes | None = None,
                     metrics: Sequence[float] | None = None, title: str | None = None,
                     momentum: bool = False, steps_per_epoch: int | None = None) -> Figure:
    """The learning rate a scheduler gives at each of ``n_steps`` steps, from its state now.

    The rates come from ``rpslib.schedulers.lr_sequence``, which steps a copy: the scheduler
    you pass (and its optimizer) are left exactly as they were, ready to train with.

    Args:
        scheduler: a PyTorch learning-rate scheduler (``ReduceLROnPlateau`` too).
        n_steps: how many steps to draw; a step is an epoch, or a mini-batch for the
            schedulers ``Architecture.set_lr_scheduler`` steps per mini-batch (the x label
            says which; ``CosineAnnealingWarmRestarts`` counts epochs unless
            ``steps_per_epoch`` is given).
        ax: where to draw; ``None`` makes a new 5x3 figure.
        metrics: for ``ReduceLROnPlateau``, the validation loss at each step, (n_steps,).
        title: the axes' title (default: the scheduler's class name).
        momentum: also draw the momentum at each step (dashed, on a right-hand axis), e.g.
            to see ``CyclicLR`` cycle it against the rate.
        steps_per_epoch: mini-batches per epoch, for ``CosineAnnealingWarmRestarts``: stepped
            with the fractional epoch, as the trainer does (``lr_sequence``).

    Introduced in chapter 8.
    """
    fig, ax = figure_and_axes(ax, figsize=(5, 3))
    rates = lr_sequence(scheduler, n_steps, metrics, steps_per_epoch)  # on a copy
    steps = np.arange(n_steps)
    ax.plot(steps, rates, color="tab:blue", linewidth=1.5, label="learning rate")
    ax.set_xlabel("mini-batch" if steps_are_batches(scheduler, steps_per_epoch) else "epoch")
    ax.set_ylabel("learning rate")
    ax.set_title(title if title is not None else type(scheduler).__name__, fontsize=10)
    ax.set_ylim(bottom=0)
    if momentum:
        right = ax.twinx()
        momenta = momentum_sequence(scheduler, n_steps, metrics, steps_per_epoch)
        right.plot(steps, momenta, color="tab:orange", linestyle="--", linewidth=1.2,
                   label="momentum")
        right.set_ylabel("momentum", color="tab:orange")
    return fig
