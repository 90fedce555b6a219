"""Figures of optimizers: moving averages and their weights, what Adam makes of gradients,
SGD's directions with and without momentum, and training paths over a loss surface.

Introduced in chapters 5, 6 and 7.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from torch import Tensor

from rpslib.optim import adapted_gradients, sgd_directions
from rpslib.plots._axes import figure_and_axes, figure_of

__all__ = ["plot_adam_betas", "plot_adam_gradients", "plot_average_weights", "plot_loss_surface",
           "plot_moving_averages", "plot_sgd_directions"]


def _series(values: Tensor | np.ndarray | Sequence[float], what: str) -> np.ndarray:
    """A (T,) series as a float64 array; a clear error for anything else."""
    array = np.asarray(torch.as_tensor(values).detach().cpu(), dtype=np.float64)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"{what}: expected a non-empty (T,) series, got shape {array.shape}: "
                         f"pick one element of each step, e.g. gradients[:, 0]")
    return array


def plot_moving_averages(values: Tensor | np.ndarray | Sequence[float],
                         averages: Mapping[str, Tensor | np.ndarray | Sequence[float]],
                         ax: Axes | None = None, title: str | None = None) -> Figure:
    """A series (grey dots) and moving averages of it (one line each), step by step.

    Args:
        values: the series, shape (T,).
        averages: label -> an average of ``values`` at each step, shape (T,), e.g.
            ``{"EWMA, beta = 0.9": rpslib.optim.ewma(values, 0.9)}``.
        ax: where to draw; ``None`` makes a new 8x3.5 figure.
        title: the axes' title.

    Introduced in chapter 5.
    """
    v = _series(values, "values")
    fig, ax = figure_and_axes(ax, figsize=(8, 3.5))
    steps = np.arange(1, len(v) + 1)
    ax.plot(steps, v, "o", color="0.6", markersize=4, label="values")
    for label, average in averages.items():
        a = _series(average, label)
        if len(a) != len(v):
            raise ValueError(f"{label}: {len(a)} averages for {len(v)} values")
        ax.plot(steps, a, linewidth=2, label=label)
    ax.set_xlabel("step")
    ax.set_ylabel("value")
    if title:
        ax.set_title(title)
    ax.legend(fontsize=9)
    return fig


def plot_average_weights(weights: Mapping[str, Tensor | np.ndarray | Sequence[float]],
                         ax: Axes | None = None) -> Figure:
    """The weight a moving average gives each past value, against its age.

    Args:
        weights: label -> weights, shape (n_ages,): ``weights[k]`` is the weight of the value
            ``k`` steps old (``k = 0``: the newest).
        ax: where to draw; ``None`` makes a new 6x3.5 figure.

    Introduced in chapter 5.
    """
    if not weights:
        raise ValueError("weights is empty: give at least one average's weights")
    fig, ax = figure_and_axes(ax, figsize=(6, 3.5))
    for label, w in weights.items():
        array = _series(w, label)
        ax.plot(np.arange(len(array)), array, drawstyle="steps-mid", linewidth=2, label=label)
    ax.set_xlabel("age of the value (steps ago)")
    ax.set_ylabel("weight")
    ax.legend(fontsize=9)
    return fig


def plot_adam_gradients(gradients: Tensor | np.ndarray | Sequence[float],
                        betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                        axs: Sequence[Axes] | np.ndarray | None = None, name: str = "gradient",
                        adapted_ylim: tuple[float, float] | None = None) -> Figure:
    """What Adam makes of one parameter's gradients: smoothed, scaled, adapted.

    Left: the raw gradient at each step (grey), its bias-corrected EWMA (the first moment,
    ``beta1``, blue) and plus and minus the scale, the root of the bias-corrected EWMA of
    its squares (the second moment, ``beta2``, dashed orange).  Right: the adapted gradient,
    smoothed / (scale + eps), by which Adam multiplies the learning rate (dotted lines at
    -1 and 1).  The numbers come from ``rpslib.optim.adapted_gradients``.

    Args:
        gradients: one parameter's gradient at each step, shape (T,).
        betas: (beta1, beta2); the left title shows them.
        eps: as in Adam.
        axs: two axes (left, right), in any arrangement; ``None`` makes a new 11x3.5 figure.
        name: what the gradients are, for the legend (e.g. ``"weight's gradient"``).
        adapted_ylim: fix the right axes' y range (to compare several betas); ``None``: auto.

    Introduced in chapter 5.
    """
    g = _series(gradients, "gradients")
    if axs is None:
        fig, grid = plt.subplots(1, 2, figsize=(11, 3.5), layout="constrained")
        flat = list(grid.flat)
    else:
        flat = list(np.asarray(axs, dtype=object).flat)
        if len(flat) != 2:
            raise ValueError(f"axs must hold two axes (left, right), got {len(flat)}")
        fig = figure_of(flat[0])
    left, right = flat
    smoothed, scale, adapted = (
        t.numpy() for t in adapted_gradients(torch.from_numpy(g), betas, eps))
    steps = np.arange(1, len(g) + 1)
    left.plot(steps, g, ".-", color="0.65", linewidth=0.8, label=name)
    left.plot(steps, smoothed, color="tab:blue", linewidth=2, label="smoothed (first moment)")
    left.plot(steps, scale, "--", color="tab:orange", label="± scale (√ second moment)")
    left.plot(steps, -scale, "--", color="tab:orange")
    left.axhline(0, color="k", linewidth=0.5)
    left.set_title(f"beta1 = {betas[0]:g}, beta2 = {betas[1]:g}")
    left.set_xlabel("step")
    left.legend(fontsize=8)
    right.plot(steps, adapted, color="tab:green", linewidth=2, label="smoothed / scale")
    for level in (-1, 1):
        right.axhline(level, color="0.5", linestyle=":", linewidth=1)
    right.axhline(0, color="k", linewidth=0.5)
    if adapted_ylim is not None:
        right.set_ylim(*adapted_ylim)
    right.set_title("adapted gradient: the step is -lr times this")
    right.set_xlabel("step")
    right.legend(fontsize=8)
    return fig


def plot_adam_betas(gradients: Tensor | np.ndarray | Sequence[float],
                    betas: Sequence[tuple[float, float]], eps: float = 1e-8,
                    axs: np.ndarray | None = None, name: str = "gradient") -> Figure:
    """Small multiples of ``plot_adam_gradients``: one column per (beta1, beta2) pair.

    The top row shows the gradients with their smoothed value and scale, the bottom row the
    adapted gradients; each row has one y range, so the columns compare at a glance.  This
    is the website's stand-in for the beta sliders of ``rpslib.widgets.adam_widget``.

    Args:
        gradients: one parameter's gradient at each step, shape (T,).
        betas: the (beta1, beta2) pairs, one column each.
        eps, name: as in ``plot_adam_gradients``.
        axs: a (2, len(betas)) array of axes; ``None`` makes a new figure.

    Introduced in chapter 5.
    """
    if not betas:
        raise ValueError("betas is empty: give at least one (beta1, beta2) pair")
    n = len(betas)
    if axs is None:
        fig, grid = plt.subplots(2, n, figsize=(3.8 * n, 5.5), squeeze=False, sharex=True,
                                 sharey="row", layout="constrained")  # fewer tick labels
    else:
        grid = np.asarray(axs, dtype=object)
        if grid.shape != (2, n):
            raise ValueError(f"axs has shape {grid.shape}, expected (2, {n}): make them with "
                             f"plt.subplots(2, {n}, squeeze=False)")
        fig = figure_of(grid[0, 0])
    for column, pair in enumerate(betas):
        plot_adam_gradients(gradients, pair, eps=eps, axs=grid[:, column], name=name)
        grid[1, column].set_title("adapted gradient", fontsize=10)
        grid[0, column].set_xlabel("")  # the bottom row's says it
        grid[0, column].title.set_fontsize(10)
        if column:  # one legend per row is enough
            for ax in grid[:, column]:
                ax.get_legend().remove()
    for row in grid:
        low = min(ax.get_ylim()[0] for ax in row)
        high = max(ax.get_ylim()[1] for ax in row)
        for ax in row:
            ax.set_ylim(low, high)
    return fig


def plot_loss_surface(biases: Tensor | np.ndarray, weights: Tensor | np.ndarray,
                      surface: Tensor | np.ndarray,
                      paths: Mapping[str, Tensor | np.ndarray] | None = None,
                      n_levels: int = 20, ax: Axes | None = None) -> Figure:
    """The loss of a one-feature linear regression over (bias, weight), with training paths.

    Args:
        biases: the grid's biases (n_b,); weights: its weights (n_w,).
        surface: the loss at each grid point, (n_b, n_w): ``surface[i, j]`` is the loss with
            bias ``biases[i]`` and weight ``weights[j]``.
        paths: name -> the (bias, weight) points of a run, (n_points, 2), e.g. from
            ``capture_parameters``; each is drawn as a line of dots from a square (the start)
            to a star (the end).
        n_levels: how many contour lines; they are spaced evenly on a log scale (a positive
            surface), so the flat bottom of the valley gets lines too.
        ax: where to draw; ``None`` makes a new 6x5 figure.

    The bias is on the x axis, the weight on the y axis.

    Introduced in chapter 6.
    """
    b, w = np.asarray(biases, dtype=np.float64), np.asarray(weights, dtype=np.float64)
    z = np.asarray(surface, dtype=np.float64)
    if b.ndim != 1 or w.ndim != 1 or z.shape != (len(b), len(w)):
        raise ValueError(f"surface has shape {z.shape}, expected (len(biases), len(weights)) = "
                         f"({b.size}, {w.size}): surface[i, j] is the loss at biases[i], "
                         f"weights[j]")
    fig, ax = figure_and_axes(ax, figsize=(6, 5))
    low, high = float(z.min()), float(z.max())
    levels = (np.geomspace(low, high, n_levels + 1)[1:] if low > 0
              else np.linspace(low, high, n_levels + 2)[1:-1])
    contours = ax.contour(b, w, z.T, levels=levels, cmap="viridis", linewidths=0.8)
    ax.clabel(contours, levels[::4], fmt="%.2g", fontsize=7)  # a few lines labelled
    for name, path in (paths or {}).items():
        points = np.asarray(path, dtype=np.float64)
        if points.ndim != 2 or points.shape[1] != 2:
            raise ValueError(f"the path {name!r} has shape {points.shape}, expected "
                             f"(n_points, 2): one (bias, weight) pair per point")
        line, = ax.plot(points[:, 0], points[:, 1], ".-", markersize=3, linewidth=1,
                        label=f"{name} ({len(points)} points)")
        ax.plot(*points[0], "s", color=line.get_color(), markersize=6)
        ax.plot(*points[-1], "*", color=line.get_color(), markersize=11)
    ax.set_xlabel("bias b")
    ax.set_ylabel("weight w")
    if paths:
        ax.legend(fontsize=8)
    return fig


def plot_sgd_directions(gradients: Tensor | np.ndarray | Sequence[float],
                        momentum: float = 0.9, dampening: float = 0.0,
                        ax: Axes | None = None, name: str = "gradient") -> Figure:
    """What SGD makes of one parameter's gradients: plain, with momentum, with Nesterov.

    At each step (mini-batch): the raw gradient (grey dots), plain SGD's direction; the
    velocity, ``momentum_buffer`` (blue), momentum's direction; and Nesterov's look-ahead
    ``gradient + momentum * velocity`` (dashed green).  Each step moves the parameter by
    ``-lr`` times the direction.  The numbers come from ``rpslib.optim.sgd_directions``.

    Args:
        gradients: one parameter's gradient at each step, shape (T,).
        momentum, dampening: as for ``rpslib.optim.SGD``; the title shows them.
        ax: where to draw; ``None`` makes a new 8x3.5 figure.
        name: what the gradients are, for the legend (e.g. ``"weight's gradient"``).

    Introduced in chapter 7.
    """
    g = _series(gradients, "gradients")
    fig, ax = figure_and_axes(ax, figsize=(8, 3.5))
    directions = sgd_directions(torch.from_numpy(g), momentum, dampening)
    steps = np.arange(1, len(g) + 1)
    ax.plot(steps, g, ".:", color="0.55", linewidth=0.8, label=f"{name} (plain SGD)")
    ax.plot(steps, directions.momentum.numpy(), color="tab:blue", linewidth=2,
            label="velocity (momentum)")
    ax.plot(steps, directions.nesterov.numpy(), "--", color="tab:green", linewidth=1.5,
            label="look-ahead (Nesterov)")
    ax.axhline(0, color="k", linewidth=0.5)
    ax.set_title(f"momentum = {momentum:g}" + (f", dampening = {dampening:g}" if dampening
                                               else ""))
    ax.set_xlabel("step (mini-batch)")
    ax.set_ylabel("direction: the step is -lr times this")
    ax.legend(fontsize=8)
    return fig
