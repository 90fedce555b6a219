"""Figures of the course: plain functions that take numbers and return a matplotlib Figure.

They never call ``plt.show()`` and never change matplotlib's global style (no
``plt.style.use``, no ``rcParams``); pass ``ax`` (or ``axs``) to draw into axes of your own
figure.  Choosing what a figure shows (``pick_mistakes``) is computation, kept apart from the
drawing.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
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
    if ax is None:
        fig, ax = plt.subplots(figsize=(4, 3.6), layout="constrained")
    else:
        fig = _figure_of(ax)
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
                  label: str = "range test") -> Figure:
    """A learning-rate range test: the smoothed loss against the learning rate (log scale).

    Args:
        tracking: ``{"lr": [...], "loss": [...]}`` as ``lr_range_test`` returns it.
        suggestions: name -> learning rate (``rpslib.lr_finder.suggest_lrs``); each is marked
            on the curve and named in the legend with its value.
        ax: where to draw; ``None`` makes a new 6x4 figure.
        label: the curve's name in the legend (to draw two tests on one ``ax``).

    Introduced in chapter 4.
    """
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
    else:
        fig = _figure_of(ax)
    lrs, losses = np.asarray(tracking["lr"]), np.asarray(tracking["loss"])
    ax.plot(lrs, losses, label=label)
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
