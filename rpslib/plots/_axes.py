"""The axes helpers every figure of ``rpslib.plots`` shares: draw into the caller's axes, or
into a new figure of the figure's own size."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure, SubFigure

__all__ = ["figure_and_axes", "figure_and_panels", "figure_of"]


def figure_of(ax: Axes) -> Figure:
    """The top-level Figure that holds ``ax`` (also when ``ax`` sits in a SubFigure)."""
    fig: Figure | SubFigure | None = ax.get_figure()
    while isinstance(fig, SubFigure):
        fig = fig.figure
    assert fig is not None, "the axes belongs to no figure"
    return fig


def figure_and_axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    """``ax`` and its figure, or a new figure of ``figsize`` with one axes."""
    if ax is None:
        fig, new = plt.subplots(figsize=figsize, layout="constrained")
        return fig, new
    return figure_of(ax), ax


def figure_and_panels(axs: Any, n: int, ncols: int, panel: tuple[float, float],
                      what: str) -> tuple[Figure, list[Axes]]:
    """A figure and its axes, flat, for ``n`` panels.

    ``axs`` are the caller's axes (any shape, at least ``n`` of them); ``None`` makes a new
    figure of ``ncols`` panels a row, each ``panel`` (width, height) inches.  ``what`` names
    the ``n`` things in the error for too few axes ("images").
    """
    if axs is None:
        nrows = max(1, -(-n // ncols))
        fig, grid = plt.subplots(nrows, ncols, figsize=(panel[0] * ncols, panel[1] * nrows),
                                 squeeze=False, layout="constrained")
        return fig, list(grid.flat)
    flat = list(np.asarray(axs).flat)
    if len(flat) < n:
        raise ValueError(f"{n} {what} need at least {n} axes, got {len(flat)}")
    return figure_of(flat[0]), flat
