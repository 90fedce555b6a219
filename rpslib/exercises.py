"""Checks for the chapters' exercises: call one on your function to see whether it is right.

Each ``check_*`` function takes the function you wrote and tries it on a few inputs, against
plain PyTorch as the reference.  It returns

* ``True`` and prints "Correct!" when every case matches;
* ``False`` and prints a reminder when your function still raises ``NotImplementedError``
  (the exercise is not solved yet: running the notebook top to bottom still works);

and raises ``AssertionError`` saying which case went wrong otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor

__all__ = [
    "check_accuracy_per_class",
    "check_channel_stats",
    "check_confusion_matrix",
    "check_conv_output_size",
    "check_standardize",
    "check_unstandardize",
]

NOT_SOLVED = "not solved yet"


def _images(seed: int, n: int = 8, size: int = 6) -> Tensor:
    """Test images (n, 3, size, size), each channel with its own brightness."""
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, size, size, generator=g) * torch.rand(1, 3, 1, 1, generator=g)


def _check(name: str, student: Callable[..., Any],
           cases: Iterable[tuple[tuple[Any, ...], Any]],
           same: Callable[[Any, Any], bool]) -> bool:
    """Run ``student(*args)`` on each case and compare with the expected answer."""
    for args, expected in cases:
        try:
            got = student(*args)
        except NotImplementedError:
            print(f"{name}: {NOT_SOLVED}. Fill in the function, run its cell, then this one.")
            return False
        if not same(got, expected):
            shapes = ", ".join(str(tuple(a.shape)) if isinstance(a, Tensor) else repr(a)
                               for a in args)
            raise AssertionError(f"{name}: wrong answer for inputs ({shapes}).\n"
                                 f"expected: {expected}\ngot:      {got}")
    print(f"{name}: Correct!")
    return True


def _close(got: Any, expected: Any) -> bool:
    if isinstance(expected, tuple):
        return (isinstance(got, tuple | list) and len(got) == len(expected)
                and all(_close(g, e) for g, e in zip(got, expected, strict=True)))
    got = torch.as_tensor(got)
    return got.shape == expected.shape and torch.allclose(got.double(), expected.double(),
                                                          atol=1e-5)


def _equal(got: Any, expected: Any) -> bool:
    if isinstance(expected, Tensor):
        got = torch.as_tensor(got)
        return got.shape == expected.shape and torch.equal(got.long(), expected.long())
    return bool(got == expected)


# --- chapter 1 ------------------------------------------------------------------------------


def check_channel_stats(channel_stats: Callable[[Tensor], tuple[Tensor, Tensor]]) -> bool:
    """Check ``channel_stats(images) -> (mean, std)``: per-channel pooled mean and std.

    ``images`` is (N, 3, H, W); ``mean`` and ``std`` are (3,): over every pixel of every
    image of the channel, std dividing by the number of pixels (``unbiased=False``).
    Introduced in chapter 1.
    """
    cases = []
    for seed in (0, 1):
        x = _images(seed)
        pixels = x.transpose(0, 1).reshape(3, -1)  # (3, N * H * W)
        cases.append(((x,), (pixels.mean(dim=1), pixels.std(dim=1, unbiased=False))))
    return _check("channel_stats", channel_stats, cases, _close)


def check_standardize(standardize: Callable[[Tensor, Tensor, Tensor], Tensor]) -> bool:
    """Check ``standardize(images, mean, std)``: (images - mean) / std, channel by channel.

    ``images`` (N, 3, H, W), ``mean`` and ``std`` (3,); the result has the images' shape and
    equals torchvision's ``Normalize(mean, std)``.  Introduced in chapter 1.
    """
    from torchvision.transforms import Normalize

    cases = []
    for seed in (2, 3):
        x = _images(seed)
        mean, std = torch.tensor([0.85, 0.82, 0.81]), torch.tensor([0.21, 0.25, 0.27])
        cases.append(((x, mean, std), Normalize(mean, std)(x)))
    return _check("standardize", standardize, cases, _close)


def check_unstandardize(unstandardize: Callable[[Tensor, Tensor, Tensor], Tensor]) -> bool:
    """Check ``unstandardize(images, mean, std)``: back to [0, 1] for showing, clipped.

    The inverse of ``standardize`` (images * std + mean, channel by channel), then clamped to
    [0, 1] so that ``imshow`` shows true colours.  Shapes as in ``check_standardize``.
    Introduced in chapter 1.
    """
    cases = []
    for seed in (4, 5):
        x = _images(seed) * 3 - 1.5  # standardized-looking values
        mean, std = torch.tensor([0.85, 0.82, 0.81]), torch.tensor([0.21, 0.25, 0.27])
        expected = (x * std.view(1, 3, 1, 1) + mean.view(1, 3, 1, 1)).clamp(0, 1)
        cases.append(((x, mean, std), expected))
    return _check("unstandardize", unstandardize, cases, _close)


# --- chapter 2 ------------------------------------------------------------------------------


def check_conv_output_size(conv_output_size: Callable[..., int]) -> bool:
    """Check ``conv_output_size(size, kernel_size, stride=1, padding=0) -> int``.

    The side of a convolution's (or pooling's) output for a square input of side ``size``.
    Compared with the shape ``torch.nn.functional.conv2d`` gives.  Introduced in chapter 2.
    """
    cases = []
    for size, kernel, stride, padding in ((28, 3, 1, 0), (26, 2, 2, 0), (13, 3, 1, 0),
                                          (11, 2, 2, 0), (32, 5, 2, 2), (7, 3, 3, 1)):
        out = torch.nn.functional.conv2d(torch.zeros(1, 1, size, size),
                                         torch.zeros(1, 1, kernel, kernel),
                                         stride=stride, padding=padding)
        cases.append(((size, kernel, stride, padding), out.shape[-1]))
    return _check("conv_output_size", conv_output_size, cases, _equal)


def _random_predictions(seed: int, n: int = 40) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 3, (n,), generator=g)
    predictions = torch.where(torch.rand(n, generator=g) < 0.7, labels,
                              torch.randint(0, 3, (n,), generator=g))
    return predictions, labels


def check_confusion_matrix(confusion_matrix: Callable[[Tensor, Tensor, int], Tensor]) -> bool:
    """Check ``confusion_matrix(predictions, labels, n_classes) -> (n_classes, n_classes)``.

    Row ``i``, column ``j`` counts the images of true class ``i`` predicted as class ``j``.
    ``predictions`` and ``labels`` are (N,) class indices.  Introduced in chapter 2.
    """
    cases = []
    for seed in (6, 7):
        predictions, labels = _random_predictions(seed)
        expected = torch.bincount(labels * 3 + predictions, minlength=9).view(3, 3)
        cases.append(((predictions, labels, 3), expected))
    return _check("confusion_matrix", confusion_matrix, cases, _equal)


def check_accuracy_per_class(accuracy_per_class: Callable[[Tensor], Tensor]) -> bool:
    """Check ``accuracy_per_class(counts) -> (n_classes,)`` fractions in [0, 1].

    ``counts`` is what ``Architecture.loader_apply(loader, arch.correct)`` returns: one row
    ``[correct, total]`` per class, shape (n_classes, 2).  Introduced in chapter 2.
    """
    cases = []
    for seed in (8, 9):
        predictions, labels = _random_predictions(seed)
        total = torch.bincount(labels, minlength=3)
        correct = torch.bincount(labels[predictions == labels], minlength=3)
        counts = torch.stack([correct, total], dim=1)
        cases.append(((counts,), correct.double() / total.double()))
    return _check("accuracy_per_class", accuracy_per_class, cases, _close)
