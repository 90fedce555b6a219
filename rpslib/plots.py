"""Figures of the course: plain functions that take numbers and return a matplotlib Figure.

They never call ``plt.show()`` and never change matplotlib's global style (no
``plt.style.use``, no ``rcParams``); pass ``ax`` (or ``axs``) to draw into axes of your own
figure.  Choosing what a figure shows (``pick_mistakes``) is computation, kept apart from the
drawing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure, SubFigure
from torch import Tensor

from rpslib.lr_finder import smooth
from rpslib.optim import adapted_gradients


def _figure_of(ax: Axes) -> Figure:
    """The top-level Figure that holds ``ax`` (also when ``ax`` sits in a SubFigure)."""
    fig: Figure | SubFigure | None = ax.get_figure()
    while isinstance(fig, SubFigure):
        fig = fig.figure
    assert fig is not None, "the axes belongs to no figure"
    return fig


def _figure_and_axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    """``ax`` and its figure, or a new figure of ``figsize`` with one axes."""
    if ax is None:
        fig, new = plt.subplots(figsize=figsize, layout="constrained")
        return fig, new
    return _figure_of(ax), ax


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
    fig, ax = _figure_and_axes(ax, figsize=(10, 4))
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
                 cmap: str = "gray", figsize: tuple[float, float] | None = None,
                 axs: np.ndarray | None = None) -> Figure:
    """Show each filter of a convolutional layer, one row per filter, one column per channel.

    Args:
        weights: the layer's weights, shape (n_filters, n_channels, kernel_h, kernel_w), e.g.
            ``model.conv1.weight`` of shape (5, 3, 3, 3).
        title: a title for the figure the filters are drawn in, e.g. the layer's name.
        cmap: the colour map; each filter (row) uses one scale, from its smallest to its
            largest weight.
        figsize: the size of a new figure; ``None`` gives 2 inches per channel (+2) by 2 per
            filter.  Not allowed with ``axs`` (size their figure yourself).
        axs: where to draw (their figure's layout is left to you): a 2-D array of Axes of shape
            (n_filters, n_channels), e.g. ``plt.subplots(5, 3, squeeze=False)[1]``; ``None``
            makes a new figure.

    Returns:
        The figure that holds the axes.

    Used by ``Architecture.visualize_filters`` (chapter 2).
    """
    if isinstance(weights, Tensor):
        weights = weights.detach().cpu().numpy()
    if weights.ndim != 4:
        raise ValueError(
            f"expected weights of shape (n_filters, n_channels, kernel_h, kernel_w), got "
            f"{weights.shape}: pass a Conv2d layer's weight, e.g. model.conv1.weight"
        )
    n_filters, n_channels = weights.shape[:2]
    if axs is None:
        if figsize is None:
            figsize = (2 * n_channels + 2, 2 * n_filters)
        fig, axes = plt.subplots(n_filters, n_channels, figsize=figsize, squeeze=False,
                                 layout="constrained")
        holder: Figure | SubFigure = fig
    else:
        axes = np.asarray(axs)
        if axes.shape != (n_filters, n_channels):
            raise ValueError(
                f"axs has shape {axes.shape}, expected (n_filters, n_channels) = "
                f"({n_filters}, {n_channels}) for weights of shape {weights.shape}: make them "
                f"with plt.subplots({n_filters}, {n_channels}, squeeze=False)"
            )
        if figsize is not None:
            raise ValueError("figsize sizes a new figure only: with axs, size their figure "
                             "yourself (plt.subplots(..., figsize=...))")
        fig = _figure_of(axes[0, 0])
        holder = axes[0, 0].get_figure()  # a SubFigure gets its own title
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
        holder.suptitle(title)
    return fig


def _as_images(images: Tensor | np.ndarray, mean: Tensor | Sequence[float] | None,
               std: Tensor | Sequence[float] | None) -> np.ndarray:
    """(N, 3, H, W) tensors -> (N, H, W, 3) arrays for ``imshow``, un-standardized if asked.

    With ``mean`` and ``std`` the images are taken as standardized: ``x * std + mean``.
    Values are clipped to [0, 1] either way (``imshow`` would clip them anyway, silently).
    """
    x = np.asarray(images, dtype=np.float32)
    if mean is not None and std is not None:
        x = x * np.asarray(std, dtype=np.float32).reshape(1, -1, 1, 1) \
            + np.asarray(mean, dtype=np.float32).reshape(1, -1, 1, 1)
    return np.clip(x, 0.0, 1.0).transpose(0, 2, 3, 1)


def plot_images(images: Tensor | np.ndarray, labels: Tensor | Sequence[int],
                classes: Sequence[str], predictions: Tensor | Sequence[int] | None = None,
                mean: Tensor | Sequence[float] | None = None,
                std: Tensor | Sequence[float] | None = None, ncols: int = 8,
                axs: np.ndarray | None = None) -> Figure:
    """A grid of images (N, 3, H, W) titled with their class (and prediction, if given).

    Args:
        images: (N, 3, H, W) values in [0, 1], or standardized ones with ``mean`` and ``std``.
        labels: (N,) true class indices; ``classes`` names them.
        predictions: (N,) predicted class indices: titles read "true -> predicted", in red
            when wrong.
        mean, std: (3,) the normalizer's statistics, to undo the standardization so colours
            show right (see chapter 1).
        ncols: images per row of a new figure.
        axs: axes to draw into, at least N of them (any shape); their figure is returned.

    Introduced in chapter 1.
    """
    shown = _as_images(images, mean, std)
    n = len(shown)
    if axs is None:
        nrows = max(1, -(-n // ncols))
        fig, grid = plt.subplots(nrows, ncols, figsize=(1.5 * ncols, 1.7 * nrows),
                                 squeeze=False, layout="constrained")
        flat = list(grid.flat)
    else:
        flat = list(np.asarray(axs).flat)
        if len(flat) < n:
            raise ValueError(f"{n} images need at least {n} axes, got {len(flat)}")
        fig = _figure_of(flat[0])
    labels = [int(v) for v in labels]
    preds = None if predictions is None else [int(v) for v in predictions]
    for i, ax in enumerate(flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if i >= n:
            ax.set_axis_off()
            continue
        ax.imshow(shown[i])
        title = classes[labels[i]]
        color = "black"
        if preds is not None:
            title = f"{title} -> {classes[preds[i]]}"
            color = "black" if preds[i] == labels[i] else "tab:red"
        ax.set_title(title, fontsize=9, color=color)
    return fig


def pick_mistakes(labels: Tensor | Sequence[int], predictions: Tensor | Sequence[int],
                  per_cell: int = 3, seed: int = 0) -> Tensor:
    """Indices of a few mistakes from every off-diagonal cell of the confusion matrix.

    Args:
        labels: (N,) true class indices.
        predictions: (N,) predicted class indices.
        per_cell: how many mistakes to take from each (true, predicted) cell; a cell with
            fewer gives all of its mistakes, an empty cell none.
        seed: which mistakes of a cell are taken: a random choice (``torch.randperm`` with
            ``torch.Generator().manual_seed(seed)``), the same on every run.

    Returns:
        (M,) int64 indices into ``labels``, cell after cell, row by row (true class, then
        predicted class); M is at most ``per_cell`` times the number of off-diagonal cells.
        Pass them to ``plot_images`` with the predictions to title each "true -> predicted".

    Introduced in chapter 2.
    """
    labels = torch.as_tensor(labels).cpu().flatten()
    predictions = torch.as_tensor(predictions).cpu().flatten()
    if len(labels) != len(predictions):
        raise ValueError(f"labels and predictions must have the same length, got {len(labels)} "
                         f"and {len(predictions)}: one prediction per image")
    if per_cell < 0:
        raise ValueError(f"per_cell must be 0 or more, got {per_cell}")
    generator = torch.Generator().manual_seed(seed)
    wrong = labels != predictions
    picks = [torch.empty(0, dtype=torch.long)]
    for true, predicted in sorted(set(zip(labels[wrong].tolist(), predictions[wrong].tolist(),
                                          strict=True))):
        cell = ((labels == true) & (predictions == predicted)).nonzero().flatten()
        picks.append(cell[torch.randperm(len(cell), generator=generator)[:per_cell]])
    return torch.cat(picks)


def plot_samples(dataset: Sequence[tuple[object, int]], n_per_class: int = 6,
                 size: int = 120) -> Figure:
    """A contact sheet: the first ``n_per_class`` images of each class, one row per class.

    ``dataset`` is an ``ImageFolder`` without transform (PIL images) with ``classes`` and
    ``targets``, e.g. ``rpslib.data.ImageFolder(train_dir)``; ``size`` is the thumbnail side.

    Introduced in chapter 1.
    """
    classes: Sequence[str] = dataset.classes  # type: ignore[attr-defined]
    targets: Sequence[int] = dataset.targets  # type: ignore[attr-defined]
    fig, grid = plt.subplots(len(classes), n_per_class, squeeze=False,
                             figsize=(1.6 * n_per_class, 1.7 * len(classes)),
                             layout="constrained")
    for row, name in enumerate(classes):
        # spread the picks over the class, so different hands show
        indices = [i for i, t in enumerate(targets) if t == row]
        step = max(1, len(indices) // n_per_class)
        for col, ax in enumerate(grid[row]):
            ax.set_xticks([])
            ax.set_yticks([])
            if col * step >= len(indices):
                ax.set_axis_off()
                continue
            image = dataset[indices[col * step + col % step]][0]
            ax.imshow(image.resize((size, size)))  # type: ignore[attr-defined]
        grid[row, 0].set_ylabel(name)
    return fig


def plot_confusion_matrix(matrix: Tensor | np.ndarray, classes: Sequence[str],
                          ax: Axes | None = None) -> Figure:
    """A confusion matrix (n_classes, n_classes): rows are true classes, columns predictions.

    Introduced in chapter 2.
    """
    counts = np.asarray(matrix)
    fig, ax = _figure_and_axes(ax, figsize=(4, 3.6))
    ax.imshow(counts, cmap="Blues")
    for (i, j), value in np.ndenumerate(counts):
        ax.text(j, i, str(value), ha="center", va="center",
                color="white" if value > counts.max() / 2 else "black")
    ax.set_xticks(range(len(classes)), classes)
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
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
    fig, ax = _figure_and_axes(ax, figsize=(6, 4))
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


# --- chapter 3: dropout -------------------------------------------------------------------


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
    fig, ax = _figure_and_axes(ax, figsize=(6, 3.5))
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
    if axs is None:
        nrows = -(-n // ncols)
        fig, grid = plt.subplots(nrows, ncols, figsize=(5 * ncols, 3 * nrows), squeeze=False,
                                 layout="constrained")
        flat = list(grid.flat)
    else:
        flat = list(np.asarray(axs).flat)
        if len(flat) < n:
            raise ValueError(f"{n} values of p need at least {n} axes, got {len(flat)}")
        fig = _figure_of(flat[0])
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
        fig = _figure_of(grid[0, 0])
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


# --- chapter 4: finding a learning rate ----------------------------------------------------


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
    fig, ax = _figure_and_axes(ax, figsize=(8, 4.5))
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


# --- chapter 5: Adam ----------------------------------------------------------------------


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
    fig, ax = _figure_and_axes(ax, figsize=(8, 3.5))
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
    fig, ax = _figure_and_axes(ax, figsize=(6, 3.5))
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
        fig = _figure_of(flat[0])
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
        fig = _figure_of(grid[0, 0])
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


# --- chapter 6: watching parameters and gradients ------------------------------------------


def plot_outputs(visualization: Mapping[str, np.ndarray | None], layers: Sequence[str],
                 n_images: int = 10, y: Sequence[int] | Tensor | np.ndarray | None = None,
                 yhat: Sequence[int] | Tensor | np.ndarray | None = None) -> Figure:
    """What ``Architecture.attach_hooks`` recorded: one row per map, one column per image.

    As Godoy's ``visualize_outputs``: a layer whose outputs are (N, C, H, W) gets C rows, one
    per feature map; a layer of vectors (N, D) one row, each vector drawn as a strip. Each row
    is grey, scaled from its smallest to its largest value; the bottom row is labelled with
    ``y`` and ``yhat`` when given.

    Args:
        visualization: layer name -> its outputs (N, ...), e.g. ``arch.visualization``.
        layers: which layers to draw, in order; layers with nothing recorded are skipped.
        n_images: how many images (columns), at most N.
        y, yhat: each image's label and prediction (N,), to show under the bottom row.

    Raises:
        ValueError: none of ``layers`` recorded anything.

    Introduced in chapter 6.
    """
    shown = [layer for layer in layers if visualization.get(layer) is not None]
    if not shown:
        raise ValueError(f"nothing recorded for {list(layers)}: attach_hooks(layers) first, "
                         f"then run the model (e.g. predict)")
    rows: list[tuple[str, np.ndarray]] = []  # (row label, the row's values per image)
    for layer in shown:
        out = np.asarray(visualization[layer])
        if out.ndim == 4:
            rows += [(f"{layer}\nmap {c}", out[:, c]) for c in range(out.shape[1])]
        else:
            rows.append((layer, out.reshape(len(out), 1, -1)))
    n = min(n_images, len(rows[0][1]))
    fig, axs = plt.subplots(len(rows), n, figsize=(1.5 * n, 1.5 * len(rows)), squeeze=False,
                            layout="constrained")
    for r, (label, values) in enumerate(rows):
        low, high = values[:n].min(), values[:n].max()
        for j in range(n):
            ax = axs[r, j]
            image = np.atleast_2d(values[j].squeeze())
            ax.imshow(image, cmap="gray", vmin=low, vmax=high)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"image {j}", fontsize=9)
            if j == 0:
                ax.set_ylabel(f"{label}\n{image.shape[0]}x{image.shape[1]}", rotation=0,
                              labelpad=30, fontsize=8)
            if r == len(rows) - 1:
                below = [f"label {int(y[j])}"] if y is not None else []
                below += [f"predicted {int(yhat[j])}"] if yhat is not None else []
                ax.set_xlabel("\n".join(below), fontsize=8)
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
    fig, ax = _figure_and_axes(ax, figsize=(6, 5))
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
    fig, ax = _figure_and_axes(ax, figsize=(8, 4))
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


# --- chapter 7: momentum and Nesterov momentum ---------------------------------------------


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
    from rpslib.optim import sgd_directions

    g = _series(gradients, "gradients")
    fig, ax = _figure_and_axes(ax, figsize=(8, 3.5))
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


# --- chapter 8: learning-rate schedulers ----------------------------------------------------


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
    from rpslib.schedulers import is_per_batch, lr_sequence, momentum_sequence

    fig, ax = _figure_and_axes(ax, figsize=(5, 3))
    rates = lr_sequence(scheduler, n_steps, metrics, steps_per_epoch)  # on a copy
    steps = np.arange(n_steps)
    ax.plot(steps, rates, color="tab:blue", linewidth=1.5, label="learning rate")
    # warm restarts stepped without the fractional epoch count each step as an epoch
    restarts = type(scheduler).__name__ == "CosineAnnealingWarmRestarts"
    by_batch = is_per_batch(scheduler) and not (restarts and steps_per_epoch is None)
    ax.set_xlabel("mini-batch" if by_batch else "epoch")
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
