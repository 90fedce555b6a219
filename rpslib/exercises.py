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
    "check_channel_stats",
    "check_conv_output_size",
    "check_most_confused",
    "check_range_test_lrs",
    "check_smooth",
    "check_softmax",
    "check_standardize",
    "check_steepest_lr",
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
    """Run ``student(*args)`` on each case and compare with the expected answer.

    An answer the comparison cannot even handle (``None``, a string, a list of tensors, a
    tensor of the wrong shape) is a wrong answer too, reported the same way.
    """
    for args, expected in cases:
        try:
            got = student(*args)
        except NotImplementedError:
            print(f"{name}: {NOT_SOLVED}. Fill in the function, run its cell, then this one.")
            return False
        try:
            right = bool(same(got, expected))
        except Exception:  # any failure to compare is a wrong answer
            right = False
        if not right:
            shapes = ", ".join(str(tuple(a.shape)) if isinstance(a, Tensor) else repr(a)
                               for a in args)
            hint = ("\n(your function returned None: does it end with `return ...`?)"
                    if got is None else "")
            raise AssertionError(f"{name}: wrong answer for inputs ({shapes}).\n"
                                 f"expected: {expected}\ngot:      {got}{hint}")
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
    # far from the mean on both sides: x * std + mean goes below 0 and above 1
    x = torch.linspace(-6, 6, 2 * 3 * 4 * 4).view(2, 3, 4, 4)
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
    # with stride 1 or 2, adding the padding outside the floor happens to give the right
    # answer; (9, 3, 3, 1) and (30, 4, 4, 2) tell the two apart
    for size, kernel, stride, padding in ((28, 3, 1, 0), (26, 2, 2, 0), (13, 3, 1, 0),
                                          (11, 2, 2, 0), (32, 5, 2, 2), (7, 3, 3, 1),
                                          (28, 3, 1, 1), (9, 3, 3, 1), (30, 4, 4, 2)):
        out = torch.nn.functional.conv2d(torch.zeros(1, 1, size, size),
                                         torch.zeros(1, 1, kernel, kernel),
                                         stride=stride, padding=padding)
        cases.append(((size, kernel, stride, padding), out.shape[-1]))
    return _check("conv_output_size", conv_output_size, cases, _equal)


def check_most_confused(most_confused: Callable[[Tensor], tuple[int, int]]) -> bool:
    """Check ``most_confused(matrix) -> (true_class, predicted_class)``.

    ``matrix`` is a confusion matrix (n_classes, n_classes): row ``i``, column ``j`` counts the
    images of class ``i`` predicted as ``j``.  The answer is the off-diagonal cell with the
    largest count: the most frequent mistake.  Introduced in chapter 2.
    """
    cases = []
    for seed in (6, 7, 8):
        g = torch.Generator().manual_seed(seed)
        matrix = torch.randint(0, 20, (3, 3), generator=g)
        matrix += torch.diag(torch.tensor([100, 90, 80]))  # most answers are right
        i, j = divmod(int(torch.randint(0, 6, (1,), generator=g)), 2)
        j = [c for c in range(3) if c != i][j]
        matrix[i, j] = 60  # one clear winner among the mistakes
        cases.append(((matrix,), (i, j)))
    # the row with the most mistakes is 0 and the column with the most is 2, but the largest
    # single mistake is (1, 2): worst row and worst column need not meet at the answer
    tricky = torch.tensor([[50, 10, 10], [0, 50, 12], [9, 0, 50]])
    cases.append(((tricky,), (1, 2)))
    return _check("most_confused", most_confused, cases,
                  lambda got, expected: tuple(int(v) for v in got) == expected)


def check_softmax(softmax: Callable[[Tensor], Tensor]) -> bool:
    """Check ``softmax(logits) -> probabilities``, for logits (N, n_classes).

    Each row of the result is positive and sums to 1; it must equal ``torch.softmax(logits,
    dim=1)`` also for large logits (subtract each row's maximum first, or ``exp`` overflows).
    Introduced in chapter 2.
    """
    cases = []
    for seed in (9, 10):
        g = torch.Generator().manual_seed(seed)
        logits = torch.randn(5, 3, generator=g) * 3
        cases.append(((logits,), torch.softmax(logits, dim=1)))
    big = torch.tensor([[1000.0, 999.0, 0.0], [-5.0, 200.0, 200.0]])
    cases.append(((big,), torch.softmax(big, dim=1)))
    return _check("softmax", softmax, cases, _close)


# --- chapter 4 ------------------------------------------------------------------------------


def _close_relative(got: Any, expected: Tensor) -> bool:
    """Equal shapes and values within a relative 1e-6 (learning rates span many decades)."""
    got = torch.as_tensor(got, dtype=torch.float64)
    return got.shape == expected.shape and torch.allclose(got, expected, rtol=1e-6, atol=0.0)


def check_range_test_lrs(range_test_lrs: Callable[[float, float, int], Any]) -> bool:
    """Check ``range_test_lrs(start_lr, end_lr, num_iter)``: the range test's learning rates.

    ``num_iter`` rates from ``start_lr`` to exactly ``end_lr``, each the previous one times
    the same factor: equal steps on a log scale.  Compared with ``numpy.geomspace``; the
    slides' typo (``exp(factor) * i``, which starts at 0) and a schedule over ``num_iter``
    steps instead of ``num_iter - 1`` (which never reaches ``end_lr``) both fail.
    Introduced in chapter 4.
    """
    import numpy as np

    cases = [((start, end, n), torch.from_numpy(np.geomspace(start, end, n)))
             for start, end, n in ((0.01, 0.1, 11), (3e-4, 0.1, 100), (1e-5, 1.0, 2),
                                   (0.5, 0.005, 5))]
    return _check("range_test_lrs", range_test_lrs, cases, _close_relative)


def check_smooth(smooth: Callable[[list[float], float], Any]) -> bool:
    """Check ``smooth(losses, alpha)``: the exponentially weighted moving average.

    ``smoothed[0] = losses[0]`` and ``smoothed[i] = alpha * losses[i] + (1 - alpha) *
    smoothed[i - 1]``, one value per loss; compared with a plain loop.  Introduced in chapter 4.
    """
    def reference(losses: list[float], alpha: float) -> Tensor:
        smoothed = [losses[0]]
        for loss in losses[1:]:
            smoothed.append(alpha * loss + (1 - alpha) * smoothed[-1])
        return torch.tensor(smoothed, dtype=torch.float64)

    cases = []
    for seed, alpha in ((11, 0.05), (12, 0.3), (13, 1.0)):
        g = torch.Generator().manual_seed(seed)
        losses = (1.1 + torch.rand(8, generator=g)).tolist()
        cases.append(((losses, alpha), reference(losses, alpha)))
    cases.append((([2.0], 0.05), torch.tensor([2.0], dtype=torch.float64)))
    return _check("smooth", smooth, cases, _close_relative)


def check_steepest_lr(steepest_lr: Callable[[Any, Any], float]) -> bool:
    """Check ``steepest_lr(lrs, losses) -> float``: where the loss falls fastest.

    ``lrs`` and ``losses`` are numpy arrays of equal length (a range test's curve); the slope
    is taken against ``log10(lrs)`` with ``numpy.gradient`` (as the plot's log axis shows it),
    and the answer is the learning rate where the slope is most negative.  One case is a
    linear range test, where a slope per point (not per decade) gives another answer.
    Introduced in chapter 4.
    """
    import numpy as np

    def curve(lrs: np.ndarray, center: float) -> np.ndarray:
        x = np.log10(lrs)
        return 1.0 - 0.4 * np.tanh(2 * (x - center)) + np.where(x > center + 1, (x - center
                                                                                - 1) ** 2, 0)

    cases = []
    for lrs, center in ((np.geomspace(1e-5, 1.0, 20), -3.2), (np.geomspace(3e-4, 0.1, 20), -2.0),
                        (np.linspace(1e-3, 0.1, 20), -1.6)):
        losses = curve(lrs, center)
        slopes = np.gradient(losses, np.log10(lrs))
        cases.append(((lrs, losses), float(lrs[np.argmin(slopes)])))
    return _check("steepest_lr", steepest_lr, cases,
                  lambda got, expected: abs(float(got) - expected) <= 1e-9 * expected)
