"""Figures of the course: plain functions that take numbers and return a matplotlib Figure.

They never call ``plt.show()`` and never change matplotlib's global style (no
``plt.style.use``, no ``rcParams``); pass ``ax`` to draw into an axes of your own figure.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure, SubFigure
from torch import Tensor


def _figure_of(ax: Axes) -> Figure:
    """The top-level Figure that holds ``ax`` (also when ``ax`` sits in a SubFigure)."""
    fig: Figure | SubFigure | None = ax.get_figure()
    while isinstance(fig, SubFigure):
        fig = fig.figure
    assert fig is not None, "the axes belongs to no figure"
    return fig


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
    if ax is None:
        fig, ax = plt.subplots(figsize=(10, 4), layout="constrained")
    else:
        fig = _figure_of(ax)
    epochs = np.arange(1, len(losses) + 1)
    ax.plot(epochs, losses, label="Training Loss", c="b")
    if len(val_losses):
        ax.plot(np.arange(1, len(val_losses) + 1), val_losses, label="Validation Loss", c="r")
    ax.set_yscale("log")
    ax.set_xlabel("Epochs")
    ax.set_ylabel("Loss")
    ax.legend()
    return fig


def plot_filters(weights: Tensor | np.ndarray, title: str | None = None,
                 cmap: str = "gray", figsize: tuple[float, float] | None = None) -> Figure:
    """Show each filter of a convolutional layer, one row per filter, one column per channel.

    Args:
        weights: the layer's weights, shape (n_filters, n_channels, kernel_h, kernel_w), e.g.
            ``model.conv1.weight`` of shape (5, 3, 3, 3).
        title: a title for the whole figure, e.g. the layer's name.
        cmap: the colour map; each filter (row) uses one scale, from its smallest to its
            largest weight.
        figsize: the figure size; ``None`` gives 2 inches per channel (+2) by 2 per filter.

    Introduced in chapter 2.
    """
    if isinstance(weights, Tensor):
        weights = weights.detach().cpu().numpy()
    if weights.ndim != 4:
        raise ValueError(
            f"expected weights of shape (n_filters, n_channels, kernel_h, kernel_w), got "
            f"{weights.shape}: pass a Conv2d layer's weight, e.g. model.conv1.weight"
        )
    n_filters, n_channels = weights.shape[:2]
    if figsize is None:
        figsize = (2 * n_channels + 2, 2 * n_filters)
    fig, axes = plt.subplots(n_filters, n_channels, figsize=figsize, squeeze=False,
                             layout="constrained")
    for i in range(n_filters):
        # One colour scale per filter, so its channels can be compared
        vmin, vmax = weights[i].min(), weights[i].max()
        for j in range(n_channels):
            ax = axes[i, j]
            ax.imshow(weights[i, j], cmap=cmap, vmin=vmin, vmax=vmax)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(f"Channel #{j}", fontsize=12)
            if j == 0:
                h, w = weights.shape[2:]
                ax.set_ylabel(f"Filter #{i}\n{h}x{w}", rotation=0, labelpad=40)
    if title is not None:
        fig.suptitle(title)
    return fig
