"""Figures of dropout: the sum of a dropped-out vector, for one or several ``p``, and the
feature maps that 2-D dropout zeroes whole.

Introduced in chapter 3.
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from torch import Tensor

from rpslib.plots._axes import figure_and_axes, figure_and_panels, figure_of

__all__ = ["plot_channel_dropout", "plot_dropout_distributions", "plot_dropout_sums"]


def _as_sums(sums: Tensor | np.ndarray) -> np.ndarray:
    """(n_samples,) sums as a float64 array; a clear error for anything else."""
    values = np.asarray(torch.as_tensor(sums).detach().cpu(), dtype=np.float64)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"expected a non-empty (n_samples,) vector of sums, got shape "
                         f"{values.shape}: pass rpslib.regularization.dropout_sums(p)")
    return values


def _sum_bin_edges(values: np.ndarray, xlim: tuple[float, float], n_bins: int) -> list[float]:
    """About ``n_bins`` bins over ``xlim``, each holding the same number of possible sums.

    Dropout sums of a few inputs take only values on a grid (multiples of 0.1 / (1 - p) for
    the slides' points): bins whose width is not a multiple of the grid's step hold 3 or 4
    grid values by turns and draw a comb.  So the width is a whole number of steps, and the
    edges fall half a step between grid values.
    """
    target = (xlim[1] - xlim[0]) / n_bins
    distinct = np.unique(values)
    gaps = np.diff(distinct)
    gaps = gaps[gaps > 1e-4 * max(1.0, float(np.abs(distinct).max()))]  # not float noise
    step = float(gaps.min()) if gaps.size else target
    width = step * max(1, round(target / step))
    first = float(distinct[0]) - step / 2  # an edge half a step below the smallest sum
    start = first - np.ceil((first - xlim[0]) / width) * width
    return np.arange(start, xlim[1] + width, width).tolist()


def plot_dropout_sums(sums: Tensor | np.ndarray, p: float, ax: Axes | None = None,
                      xlim: tuple[float, float] | None = None, n_bins: int = 70,
                      eval_sum: float | None = None) -> Figure:
    """A histogram of dropout sums (``rpslib.regularization.dropout_sums``), the mean marked.

    Args:
        sums: (n_samples,) the sums drawn with drop probability ``p``.
        p: the drop probability; the title shows it with the sums' standard deviation.
        ax: where to draw; ``None`` makes a new 6x3.5 figure.
        xlim: the x range; ``None``: from 0 to past the largest sum.  Fix it to compare
            several p (the slider and the frame player do).
        n_bins: about how many bins span ``xlim`` (each holds a whole number of the values a
            sum can take, so the histogram shows no comb).
        eval_sum: if given, a dashed line at the eval-mode sum (6.6 for the slides' input).

    Returns:
        The figure that holds ``ax``.  The mean is the red line, its value in the legend.

    Introduced in chapter 3.
    """
    values = _as_sums(sums)
    fig, ax = figure_and_axes(ax, figsize=(6, 3.5))
    if xlim is None:
        xlim = (0.0, float(values.max()) * 1.05 + 0.5)
    ax.hist(values, bins=_sum_bin_edges(values, xlim, n_bins), histtype="stepfilled",
            color="tab:blue", alpha=0.8)
    ax.axvline(values.mean(), color="tab:red", linewidth=2, label=f"mean {values.mean():.2f}")
    if eval_sum is not None:
        ax.axvline(eval_sum, color="k", linestyle="--", linewidth=1,
                   label=f"eval-mode sum {eval_sum:.1f}")
    ax.set_xlim(*xlim)
    ax.set_title(f"p = {p:g}: standard deviation {values.std():.2f}")
    ax.set_xlabel("sum of the values after dropout")
    ax.set_ylabel("count")
    ax.legend(loc="upper right")
    return fig


def _shared_xlim(sums: list[np.ndarray]) -> tuple[float, float]:
    """One x range for several histograms: 0 to past the largest sum of all."""
    return (0.0, max(float(values.max()) for values in sums) * 1.05 + 0.5)


def plot_dropout_distributions(sums_by_p: Mapping[float, Tensor | np.ndarray],
                               axs: np.ndarray | None = None, ncols: int = 2,
                               n_bins: int = 70, eval_sum: float | None = None) -> Figure:
    """Small multiples: one histogram of dropout sums per p, all on one x range.

    Args:
        sums_by_p: p -> (n_samples,) sums, e.g. ``{p: dropout_sums(p) for p in (.1, .3)}``.
        axs: at least ``len(sums_by_p)`` axes (any shape); ``None`` makes a grid of ``ncols``
            columns.
        ncols: columns of a new grid.
        n_bins, eval_sum: as in ``plot_dropout_sums``.

    Returns:
        The figure; every panel spans 0 to past the largest sum of all, so spreads compare.

    Introduced in chapter 3.
    """
    if not sums_by_p:
        raise ValueError("sums_by_p is empty: give at least one p and its sums")
    panels = [(p, _as_sums(sums)) for p, sums in sums_by_p.items()]
    xlim = _shared_xlim([values for _, values in panels])
    n = len(panels)
    fig, flat = figure_and_panels(axs, n, ncols, panel=(5, 3), what="values of p")
    for ax, (p, values) in zip(flat, panels, strict=False):
        plot_dropout_sums(values, p, ax=ax, xlim=xlim, n_bins=n_bins, eval_sum=eval_sum)
    for ax in flat[n:]:
        ax.set_axis_off()
    return fig


def plot_channel_dropout(maps: Tensor | np.ndarray, dropped: Tensor | np.ndarray,
                         axs: np.ndarray | None = None, cmap: str = "gray") -> Figure:
    """One image's feature maps before (top row) and after two-dimensional dropout (bottom).

    Args:
        maps: (C, H, W) feature maps, e.g. ``F.relu(model.conv1(x))[0]``; a leading batch
            dimension of 1 is accepted.
        dropped: the same maps after ``nn.Dropout2d`` in train mode, same shape.
        axs: a (2, C) array of axes; ``None`` makes a new figure.
        cmap: the colour map.  Each channel (column) uses one scale for both rows, so the kept
            maps, scaled by 1 / (1 - p), look brighter; each map's largest value is written
            under it.

    Returns:
        The figure; the titles of the bottom row say which channels were dropped (a map that
        was all 0 already says so instead).

    Introduced in chapter 3.
    """
    before = torch.as_tensor(maps).detach().cpu().float()
    after = torch.as_tensor(dropped).detach().cpu().float()
    if before.dim() == 4 and before.shape[0] == 1:
        before, after = before[0], after[0]
    if before.dim() != 3 or before.shape != after.shape:
        raise ValueError(f"expected two (C, H, W) stacks of feature maps of one shape, got "
                         f"{tuple(before.shape)} and {tuple(after.shape)}")
    n_channels = before.shape[0]
    if axs is None:
        fig, grid = plt.subplots(2, n_channels, figsize=(2 * n_channels, 4.6), squeeze=False,
                                 layout="constrained")
    else:
        grid = np.asarray(axs)
        if grid.shape != (2, n_channels):
            raise ValueError(f"axs has shape {grid.shape}, expected (2, {n_channels}): make them "
                             f"with plt.subplots(2, {n_channels}, squeeze=False)")
        fig = figure_of(grid[0, 0])
    for c in range(n_channels):
        low = min(float(before[c].min()), float(after[c].min()))
        high = max(float(before[c].max()), float(after[c].max()), low + 1e-12)
        for row, (stack, name) in enumerate(((before, "before"), (after, "after"))):
            ax = grid[row, c]
            ax.imshow(stack[c].numpy(), cmap=cmap, vmin=low, vmax=high)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_xlabel(f"max {float(stack[c].max()):.2f}", fontsize=9)
            if c == 0:
                ax.set_ylabel(name)
        gone = bool((after[c] == 0).all())
        grid[0, c].set_title(f"channel {c}", fontsize=10)
        if gone and bool((before[c] == 0).all()):
            title = "all 0 before"  # a dead map: nothing to tell about the dropout
        else:
            title = "dropped" if gone else "kept, scaled"
        grid[1, c].set_title(title, fontsize=10, color="tab:red" if title == "dropped"
                             else "black")
    return fig
