"""Figures of images: samples of the dataset, images with their labels and predictions, the
mistakes a model makes, the confusion matrix, a convolution's filters and a layer's outputs.

Introduced in chapters 1, 2 and 6.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure, SubFigure
from torch import Tensor

from rpslib.plots._axes import figure_and_axes, figure_and_panels, figure_of

__all__ = ["pick_mistakes", "plot_confusion_matrix", "plot_filters", "plot_images", "plot_outputs",
           "plot_samples"]


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
    fig, flat = figure_and_panels(axs, n, ncols, panel=(1.5, 1.7), what="images")
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


def plot_confusion_matrix(matrix: Tensor | np.ndarray, classes: Sequence[str],
                          ax: Axes | None = None) -> Figure:
    """A confusion matrix (n_classes, n_classes): rows are true classes, columns predictions.

    Introduced in chapter 2.
    """
    counts = np.asarray(matrix)
    fig, ax = figure_and_axes(ax, figsize=(4, 3.6))
    ax.imshow(counts, cmap="Blues")
    for (i, j), value in np.ndenumerate(counts):
        ax.text(j, i, str(value), ha="center", va="center",
                color="white" if value > counts.max() / 2 else "black")
    ax.set_xticks(range(len(classes)), classes)
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
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
        fig = figure_of(axes[0, 0])
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
