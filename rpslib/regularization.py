"""Dropout, computed: the numbers behind chapter 3's figures.

The slides send eleven evenly spaced points, ``torch.linspace(.1, 1.1, 11)``, through
``nn.Dropout`` and add them up with ``F.linear`` and a weight of ones.  In eval mode the sum is
always 6.6; in train mode each draw drops a different subset and scales the survivors by
``1 / (1 - p)``, so the sum varies around 6.6.  ``dropout_sums`` repeats that draw many times;
``dropped_channels`` tells which feature maps ``nn.Dropout2d`` zeroed.

Computation only: the figures are in ``rpslib.plots``, the slider in ``rpslib.widgets``.
Random numbers come from an explicit ``seed`` and leave torch's global random state as it
was.

Introduced in chapter 3.
"""

from __future__ import annotations

import operator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["dropout_sums", "dropped_channels", "spaced_points"]


def spaced_points() -> Tensor:
    """The slides' input: ``torch.linspace(.1, 1.1, 11)``, shape (11,); its sum is 6.6."""
    return torch.linspace(0.1, 1.1, 11)


def dropout_sums(p: float, n_samples: int = 1000, seed: int = 0, scale: bool = True,
                 x: Tensor | None = None) -> Tensor:
    """``n_samples`` draws of ``F.linear(nn.Dropout(p)(x), weight=ones)``: dropout, then a sum.

    Each row of an (n_samples, n) copy of ``x`` goes through ``nn.Dropout(p)`` in train mode
    (its own random mask per row), then ``F.linear`` with a weight of ones adds each row up,
    exactly as in the slides, ``n_samples`` times at once.

    Args:
        p: the probability of dropping each value, in [0, 1].
        n_samples: how many sums to draw.
        seed: seeds the draw (the same seed, the same sums); torch's global random state is
            left as it was.
        scale: ``True``: what ``nn.Dropout`` does, kept values multiplied by ``1 / (1 - p)``;
            ``False``: the kept values as they were (the lesson's counterfactual: the mean of
            the sums then falls to ``(1 - p)`` times the eval-mode sum).
        x: the values dropped out, shape (n,); default ``spaced_points()``, whose sum (the
            eval-mode output) is 6.6.

    Returns:
        (n_samples,) float tensor on the CPU.

    Introduced in chapter 3.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p is the probability of dropping a value, in [0, 1]; got {p}")
    if n_samples < 1:
        raise ValueError(f"n_samples must be at least 1, got {n_samples}")
    x = spaced_points() if x is None else torch.as_tensor(x, dtype=torch.float32).cpu()
    if x.dim() != 1:
        raise ValueError(f"x must be one vector of shape (n,), got shape {tuple(x.shape)}")
    inputs = x.expand(n_samples, -1)  # (n_samples, n): one row per draw
    dropping = nn.Dropout(p=p).train()
    # nn.Dropout draws from torch's global CPU generator: seed it inside fork_rng, which puts
    # the global state back afterwards (no CUDA generator is touched)
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(operator.index(seed))  # 3.0 is no seed
        dropped = dropping(inputs)
    if not scale:
        dropped = dropped * (1.0 - p)  # undo nn.Dropout's 1 / (1 - p): the kept values as is
    return F.linear(dropped, weight=torch.ones(x.shape[0]))  # (n_samples,): one sum per row


def dropped_channels(maps: Tensor) -> Tensor:
    """Which feature maps are entirely zero, e.g. after ``nn.Dropout2d``.

    Args:
        maps: (N, C, H, W) feature maps (or (C, H, W) for one image).

    Returns:
        (N, C) (or (C,)) bool tensor: ``True`` where every value of the map is 0.

    Introduced in chapter 3.
    """
    if maps.dim() not in (3, 4):
        raise ValueError(f"expected feature maps of shape (N, C, H, W) or (C, H, W), got shape "
                         f"{tuple(maps.shape)}")
    return (maps == 0).flatten(start_dim=-2).all(dim=-1)
