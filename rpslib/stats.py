"""Per-channel statistics of an image data set, and the normalizer they make.

``Architecture`` offers each of these under the slides' names (``arch.loader_apply``,
``Architecture.make_normalizer``, ...); they live here so the trainer stays a training loop.
The slides' ``statistics_per_channel`` averages per-image standard deviations, which is
(all but) never larger than the data set's std; ``moments_per_channel`` and
``make_normalizer(pooled=True)`` give the exact (pooled) one.  The chapters use them
from chapter 1 on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader
from torchvision.transforms import Normalize

__all__ = ["loader_apply", "make_normalizer", "moments_per_channel", "statistics_per_channel"]


def loader_apply(loader: DataLoader[Any], func: Callable[[Tensor, Tensor], Tensor],
                 reduction: str = "sum", *, reduce: str | None = None) -> Tensor:
    """Apply ``func(x, y)`` to every mini-batch and reduce the results over mini-batches.

    Args:
        loader: gives (x, y) mini-batches.
        func: returns a tensor of the same shape for every mini-batch, e.g.
            ``statistics_per_channel`` (3, C) or ``Architecture.correct`` (n_classes, 2).
        reduction: ``"sum"`` or ``"mean"`` over the mini-batches, or ``"none"``: every
            mini-batch's result, stacked.
        reduce: Godoy's name for ``reduction`` (``loader_apply(loader, func, reduce="mean")``).

    Returns:
        A tensor of the shape ``func`` returns (``"none"``: ``(n_batches, *shape)``).

    Introduced in chapter 1.
    """
    if reduce is not None:
        if reduction not in ("sum", reduce):
            raise ValueError(f"give reduction or reduce (Godoy's name), not both: got "
                             f"{reduction!r} and {reduce!r}")
        reduction = reduce
    if reduction not in ("sum", "mean", "none"):
        raise ValueError(f"reduction must be 'sum', 'mean' or 'none', got {reduction!r}")
    # (n_batches, *shape of one result)
    results = torch.stack([func(x, y) for x, y in loader], dim=0)
    if reduction == "none":
        return results
    if reduction == "sum":
        return results.sum(dim=0)
    if not results.is_floating_point():
        results = results.float()
    return results.mean(dim=0)


def statistics_per_channel(images: Tensor, labels: Tensor) -> Tensor:
    """Per-channel sums over a mini-batch of images (N, C, H, W), as the slides use them.

    Returns:
        A (3, C) tensor; column c is channel c:
        row 0: the number of images N (the same in every column),
        row 1: the sum over images of each image's mean pixel value,
        row 2: the sum over images of each image's standard deviation (unbiased, as
        ``torch.std``).
        ``labels`` is not used; it is there so ``loader_apply`` can call this.

    Introduced in chapter 1.
    """
    n_samples, n_channels = images.shape[:2]
    # (N, C, H * W): the pixels of each image, channel by channel
    flat = images.reshape(n_samples, n_channels, -1)
    means = flat.mean(dim=2)  # (N, C)
    stds = flat.std(dim=2)  # (N, C)
    counts = torch.full((n_channels,), float(n_samples), dtype=means.dtype,
                        device=means.device)
    return torch.stack([counts, means.sum(dim=0), stds.sum(dim=0)], dim=0)


def moments_per_channel(images: Tensor, labels: Tensor) -> Tensor:
    """Per-channel pixel count, sum and sum of squares of a mini-batch (N, C, H, W).

    Returns:
        A float64 (3, C) tensor: row 0 the number of pixels N * H * W, row 1 the sum of the
        pixel values, row 2 the sum of their squares.  Summed over all mini-batches (with
        ``loader_apply``) they give the exact mean and std of the whole data set.
        ``labels`` is not used.
    """
    n_samples, n_channels = images.shape[:2]
    # (N, C, H * W) in float64, so sums over a whole data set stay exact enough
    flat = images.reshape(n_samples, n_channels, -1).double()
    counts = torch.full((n_channels,), float(flat.shape[0] * flat.shape[2]),
                        dtype=flat.dtype, device=flat.device)
    return torch.stack([counts, flat.sum(dim=(0, 2)), (flat**2).sum(dim=(0, 2))], dim=0)


def make_normalizer(loader: DataLoader[Any], pooled: bool = False) -> Normalize:
    """A ``Normalize(mean, std)`` transform with the per-channel statistics of the loader.

    The mean is the same either way (every image has the same number of pixels).  The
    std is not:

    - ``pooled=False`` (the slides): the average of the per-image standard deviations.  It
      ignores how much the images differ from one another (a dark and a bright image), so
      it is not larger than the data set's std (with per-image stds over n - 1, at most by a
      factor sqrt(n / (n - 1)), n the pixels of an image): good enough to bring the inputs
      near unit scale, but not the data set's std.
    - ``pooled=True``: the exact std of all the pixel values of the channel, over all
      images (population std, dividing by the number of pixels).

    Introduced in chapter 1.
    """
    if pooled:
        n_pixels, sums, sums_of_squares = loader_apply(
            loader, moments_per_channel)
        mean = sums / n_pixels
        # variance = E[x^2] - E[x]^2 (in float64; clamped at 0 against rounding)
        std = (sums_of_squares / n_pixels - mean**2).clamp(min=0).sqrt()
    else:
        n_images, sum_means, sum_stds = loader_apply(
            loader, statistics_per_channel)
        mean = sum_means / n_images
        std = sum_stds / n_images
    return Normalize(mean=mean.float().cpu(), std=std.float().cpu())
