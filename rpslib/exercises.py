"""Checks for the chapters' exercises: call one on your function to see whether it is right.

Each ``check_*`` function takes the function you wrote and tries it on a few inputs, against
plain PyTorch as the reference.  It returns

* ``True`` and prints "Correct!" when every case matches;
* ``False`` and prints a reminder when your function still raises ``NotImplementedError``
  (the exercise is not solved yet: running the notebook top to bottom still works);

and raises ``AssertionError`` saying which case went wrong otherwise.

One file on purpose, in chapter order, longer than the package's other modules: the grader
(``tools/grade.py``, with ``tools/judge.py``) reads this file's source once and sends that
text into the student's kernel, where it builds each exercise's cases and calls the
student's functions, then judges the answers in its own process with the same code.  A
single source is what it can send whole; split into a package, the kernel would have to
import the helpers from ``sys.modules``, which the student's code can replace.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

__all__ = [
    "check_adam_step",
    "check_bias_correct",
    "check_channel_stats",
    "check_conv_output_size",
    "check_dropout2d",
    "check_dropout_sum_std",
    "check_grad_norms",
    "check_loss_surface",
    "check_momentum_step",
    "check_most_confused",
    "check_my_dropout",
    "check_my_ewma",
    "check_nesterov_step",
    "check_range_test_lrs",
    "check_record_forward",
    "check_smooth",
    "check_softmax",
    "check_standardize",
    "check_steepest_lr",
    "check_step_lr",
    "check_triangular_lr",
    "check_unstandardize",
]

NOT_SOLVED = "not solved yet"


def _images(seed: int, n: int = 8, size: int = 6) -> Tensor:
    """Test images (n, 3, size, size), each channel with its own brightness."""
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, size, size, generator=g) * torch.rand(1, 3, 1, 1, generator=g)


def not_solved(name: str) -> str:
    """What the check of exercise ``name`` prints on the stub, which still raises
    ``NotImplementedError``."""
    return f"{name}: {NOT_SOLVED}. Fill in the function, run its cell, then this one."


Cases = list[tuple[tuple[Any, ...], Any]]  # (the arguments, the expected answer) of each case


def _as_is(student: Callable[..., Any]) -> Callable[..., Any]:
    return student


@dataclass(frozen=True)
class Exercise:
    """One exercise's check, in parts, so that the grader (``tools/judge.py``) can split it: the
    student's kernel calls the answer on ``cases(seed)``'s arguments and sends back what it
    returned, as data; the grader compares that with the expected answers it computes itself.

    ``cases(seed)``: the cases; seed 0 gives the notebook's own check, another seed other
    inputs. ``same(got, expected)``: whether an answer is right. ``call(answer)``: how the
    answer is called (e.g. three times, for dropout), by default as it is.
    """

    name: str
    cases: Callable[[int], Cases]
    same: Callable[[Any, Any], bool]
    call: Callable[[Callable[..., Any]], Callable[..., Any]] = _as_is


#: Every exercise, by name (the function the student writes), in the chapters' order.
EXERCISES: dict[str, Exercise] = {}


def _exercise(name: str, same: Callable[[Any, Any], bool],
              call: Callable[[Callable[..., Any]], Callable[..., Any]] = _as_is
              ) -> Callable[[Callable[[int], Cases]], Callable[[int], Cases]]:
    """Register the decorated ``cases(seed)`` function as exercise ``name``'s cases."""
    def register(cases: Callable[[int], Cases]) -> Callable[[int], Cases]:
        EXERCISES[name] = Exercise(name, cases, same, call)
        return cases
    return register


def wrong_message(name: str, args: tuple[Any, ...], expected: Any, got: Any) -> str:
    """What a check says of a wrong answer."""
    shapes = ", ".join(str(tuple(a.shape)) if isinstance(a, Tensor) else repr(a)
                       for a in args)
    hint = ("\n(your function returned None: does it end with `return ...`?)"
            if got is None else "")
    return (f"{name}: wrong answer for inputs ({shapes}).\n"
            f"expected: {expected}\ngot:      {got}{hint}")


def is_right(exercise: Exercise, got: Any, expected: Any) -> bool:
    """Whether ``got`` answers the case; an answer the comparison cannot even handle
    (``None``, a string, a list of tensors, a tensor of the wrong shape) is wrong."""
    try:
        return bool(exercise.same(got, expected))
    except Exception:
        return False


def _check(name: str, student: Callable[..., Any]) -> bool:
    """Run ``student`` on exercise ``name``'s cases and compare with the expected answers."""
    exercise = EXERCISES[name]
    answer = exercise.call(student)
    for args, expected in exercise.cases(0):  # seed 0: the notebook's own check
        try:
            got = answer(*args)
        except NotImplementedError:
            print(not_solved(name))
            return False
        if not is_right(exercise, got, expected):
            raise AssertionError(wrong_message(name, args, expected, got))
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
    return _check("channel_stats", channel_stats)


@_exercise("channel_stats", _close)
def _channel_stats_cases(seed: int) -> Cases:
    cases: Cases = []
    for s in (0, 1):
        x = _images(s + 1000 * seed)
        pixels = x.transpose(0, 1).reshape(3, -1)  # (3, N * H * W)
        cases.append(((x,), (pixels.mean(dim=1), pixels.std(dim=1, unbiased=False))))
    return cases


def check_standardize(standardize: Callable[[Tensor, Tensor, Tensor], Tensor]) -> bool:
    """Check ``standardize(images, mean, std)``: (images - mean) / std, channel by channel.

    ``images`` (N, 3, H, W), ``mean`` and ``std`` (3,); the result has the images' shape and
    equals torchvision's ``Normalize(mean, std)``.  Introduced in chapter 1.
    """
    return _check("standardize", standardize)


@_exercise("standardize", _close)
def _standardize_cases(seed: int) -> Cases:
    from torchvision.transforms import Normalize

    cases: Cases = []
    for s in (2, 3):
        x = _images(s + 1000 * seed)
        mean, std = torch.tensor([0.85, 0.82, 0.81]), torch.tensor([0.21, 0.25, 0.27])
        cases.append(((x, mean, std), Normalize(mean, std)(x)))
    return cases


def check_unstandardize(unstandardize: Callable[[Tensor, Tensor, Tensor], Tensor]) -> bool:
    """Check ``unstandardize(images, mean, std)``: back to [0, 1] for showing, clipped.

    The inverse of ``standardize`` (images * std + mean, channel by channel), then clamped to
    [0, 1] so that ``imshow`` shows true colours.  Shapes as in ``check_standardize``.
    Introduced in chapter 1.
    """
    return _check("unstandardize", unstandardize)


@_exercise("unstandardize", _close)
def _unstandardize_cases(seed: int) -> Cases:
    cases: Cases = []
    mean, std = torch.tensor([0.85, 0.82, 0.81]), torch.tensor([0.21, 0.25, 0.27])
    for s in (4, 5):
        x = _images(s + 1000 * seed) * 3 - 1.5  # standardized-looking values
        expected = (x * std.view(1, 3, 1, 1) + mean.view(1, 3, 1, 1)).clamp(0, 1)
        cases.append(((x, mean, std), expected))
    # far from the mean on both sides: x * std + mean goes below 0 and above 1
    x = torch.linspace(-6, 6, 2 * 3 * 4 * 4).view(2, 3, 4, 4)
    expected = (x * std.view(1, 3, 1, 1) + mean.view(1, 3, 1, 1)).clamp(0, 1)
    cases.append(((x, mean, std), expected))
    return cases


# --- chapter 2 ------------------------------------------------------------------------------


def check_conv_output_size(conv_output_size: Callable[..., int]) -> bool:
    """Check ``conv_output_size(size, kernel_size, stride=1, padding=0) -> int``.

    The side of a convolution's (or pooling's) output for a square input of side ``size``.
    Compared with the shape ``torch.nn.functional.conv2d`` gives.  Introduced in chapter 2.
    """
    return _check("conv_output_size", conv_output_size)


@_exercise("conv_output_size", _equal)
def _conv_output_size_cases(seed: int) -> Cases:
    # with stride 1 or 2, adding the padding outside the floor happens to give the right
    # answer; (9, 3, 3, 1) and (30, 4, 4, 2) tell the two apart
    settings = [(28, 3, 1, 0), (26, 2, 2, 0), (13, 3, 1, 0), (11, 2, 2, 0), (32, 5, 2, 2),
                (7, 3, 3, 1), (28, 3, 1, 1), (9, 3, 3, 1), (30, 4, 4, 2)]
    if seed:  # the grader's: more settings, drawn from the seed
        g = torch.Generator().manual_seed(seed)
        for _ in range(6):
            kernel, stride, padding = (int(torch.randint(1, 6, (1,), generator=g)),
                                       int(torch.randint(1, 5, (1,), generator=g)),
                                       int(torch.randint(0, 3, (1,), generator=g)))
            size = int(torch.randint(max(kernel - 2 * padding, 1), 40, (1,), generator=g))
            settings.append((size, kernel, stride, padding))
    cases: Cases = []
    for size, kernel, stride, padding in settings:
        out = torch.nn.functional.conv2d(torch.zeros(1, 1, size, size),
                                         torch.zeros(1, 1, kernel, kernel),
                                         stride=stride, padding=padding)
        cases.append(((size, kernel, stride, padding), out.shape[-1]))
    return cases


def check_most_confused(most_confused: Callable[[Tensor], tuple[int, int]]) -> bool:
    """Check ``most_confused(matrix) -> (true_class, predicted_class)``.

    ``matrix`` is a confusion matrix (n_classes, n_classes): row ``i``, column ``j`` counts the
    images of class ``i`` predicted as ``j``.  The answer is the off-diagonal cell with the
    largest count: the most frequent mistake.  Introduced in chapter 2.
    """
    return _check("most_confused", most_confused)


def _same_cell(got: Any, expected: tuple[int, int]) -> bool:
    return tuple(int(v) for v in got) == expected


@_exercise("most_confused", _same_cell)
def _most_confused_cases(seed: int) -> Cases:
    cases: Cases = []
    for s in (6, 7, 8):
        g = torch.Generator().manual_seed(s + 1000 * seed)
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
    return cases


def check_softmax(softmax: Callable[[Tensor], Tensor]) -> bool:
    """Check ``softmax(logits) -> probabilities``, for logits (N, n_classes).

    Each row of the result is positive and sums to 1; it must equal ``torch.softmax(logits,
    dim=1)`` also for large logits (subtract each row's maximum first, or ``exp`` overflows).
    Introduced in chapter 2.
    """
    return _check("softmax", softmax)


@_exercise("softmax", _close)
def _softmax_cases(seed: int) -> Cases:
    cases: Cases = []
    for s in (9, 10):
        g = torch.Generator().manual_seed(s + 1000 * seed)
        logits = torch.randn(5, 3, generator=g) * 3
        cases.append(((logits,), torch.softmax(logits, dim=1)))
    big = torch.tensor([[1000.0, 999.0, 0.0], [-5.0, 200.0, 200.0]])
    cases.append(((big,), torch.softmax(big, dim=1)))
    return cases


# --- chapter 3 ------------------------------------------------------------------------------


class _Draws:
    """What a dropout answer did: its outputs for one input, with generators seeded
    ``seed``, ``seed`` again and ``seed + 1``, and whether each call left its input alone."""

    def __init__(self, x: Tensor, p: float, outputs: list[Any], untouched: list[bool],
                 whole_maps: bool) -> None:
        self.x, self.p, self.outputs, self.untouched = x, p, outputs, untouched
        self.whole_maps = whole_maps  # True: judge (N, C) maps (dropout2d), else elements

    def zeroed(self) -> Tensor:
        """Which elements (or whole maps) of the first output are 0."""
        out = torch.as_tensor(self.outputs[0])
        return (out == 0).flatten(2).all(dim=2) if self.whole_maps else out == 0

    def __repr__(self) -> str:
        try:
            out = torch.as_tensor(self.outputs[0])
            kept = out != 0
            ratios = list(dict.fromkeys(f"{r:.4g}" for r in (out[kept] / self.x[kept]).tolist()))
            shown = ", ".join(ratios[:4]) + (", ..." if len(ratios) > 4 else "")
            zeroed = self.zeroed()
            text = f"shape {tuple(out.shape)}, {zeroed.float().mean().item():.3f} of the "
            if self.whole_maps:
                patterns = len({tuple(row) for row in zeroed.tolist()})
                partial = ((zeroed.sum(dim=1) > 0) & (~zeroed).any(dim=1)).float().mean()
                text += (f"maps zeroed ({patterns} different patterns of dropped channels "
                         f"over {len(zeroed)} images, {partial:.0%} of the images with some "
                         f"but not all channels dropped)")
            else:
                text += "values zeroed"
            return (f"{text}, kept values / x in {{{shown}}}; same seed, same output: "
                    f"{torch.equal(out, torch.as_tensor(self.outputs[1]))}; x left unchanged: "
                    f"{all(self.untouched)}")
        except Exception:  # an answer that is not a tensor of the right shape
            return repr(self.outputs[0])


SPREAD_DRAWS = 200  # how often the spread check calls a dropout answer


class _Counts:
    """How many values (or maps) a dropout answer dropped in each of many draws."""

    def __init__(self, counts: list[int] | None, what: Any = None) -> None:
        self.counts, self.what = counts, what  # what: the answer, when it is no tensor

    def variance(self) -> float:
        return torch.tensor(self.counts, dtype=torch.float64).var().item()

    def __repr__(self) -> str:
        if self.counts is None:
            return repr(self.what)
        return (f"the number dropped varied from {min(self.counts)} to {max(self.counts)} "
                f"over {len(self.counts)} draws (variance {self.variance():.2f})")


class _Spread:
    """Independent drops: the number dropped per draw is binomial, never a fixed count."""

    def __init__(self, x: Tensor, p: float, whole_maps: bool) -> None:
        # the units dropped one by one: every value of x, or every (N, C) map of x
        self.units = x.shape[0] * x.shape[1] if whole_maps else x.numel()
        self.p, self.whole_maps = p, whole_maps
        self.variance = self.units * p * (1 - p)

    def __repr__(self) -> str:
        unit = "maps" if self.whole_maps else "values"
        return (f"each of the {self.units} {unit} dropped on its own with probability "
                f"{self.p:g}: the number dropped varies from draw to draw like a binomial's "
                f"(variance {self.variance:.1f} over {SPREAD_DRAWS} draws), not a fixed count")


def _draw_three(student: Callable[[Tensor, float, torch.Generator], Tensor],
                whole_maps: bool) -> Callable[..., _Draws | _Counts | None]:
    """``student(x, p, generator)`` as a function of ``(x, p, seed)`` that calls it 3 times,
    or of ``(x, p, seed, SPREAD_DRAWS)``, which counts what it drops in each of many draws."""

    def run(x: Tensor, p: float, seed: int, draws: int = 3) -> _Draws | _Counts | None:
        if draws != 3:
            counts = []
            for s in range(seed, seed + draws):
                out = student(x.clone(), p, torch.Generator().manual_seed(s))
                if not isinstance(out, Tensor) or out.shape != x.shape:
                    return _Counts(None, out)
                zeroed = (out == 0).flatten(2).all(dim=2) if whole_maps else out == 0
                counts.append(int(zeroed.sum()))
            return _Counts(counts)
        outputs, untouched = [], []
        for s in (seed, seed, seed + 1):
            given = x.clone()
            out = student(given, p, torch.Generator().manual_seed(s))
            if out is None:
                return None  # _check then reminds the student of `return`
            outputs.append(out)
            untouched.append(torch.equal(given, x))
        return _Draws(x, p, outputs, untouched, whole_maps)

    return run


class _Reference:
    """What PyTorch's own layer does with the same input: the fraction it zeroes."""

    def __init__(self, layer: torch.nn.Module, x: Tensor, p: float, seed: int,
                 whole_maps: bool) -> None:
        with torch.random.fork_rng(devices=[]):
            torch.default_generator.manual_seed(seed)
            out = layer.train()(x)
        self.x, self.p, self.shape, self.whole_maps = x, p, tuple(x.shape), whole_maps
        self.layer_name = f"nn.{type(layer).__name__}"
        zeroed = (out == 0).flatten(2).all(dim=2) if whole_maps else out == 0
        self.fraction = zeroed.float().mean().item()
        self.n = zeroed.numel()

    def __repr__(self) -> str:
        unit = ("maps zeroed, whole channels, each image its own" if self.whole_maps
                else "values zeroed")
        return (f"shape {self.shape}, about {self.p:g} of the {unit} ({self.layer_name} "
                f"zeroed {self.fraction:.3f}), kept values / x = 1 / (1 - p) = "
                f"{1 / (1 - self.p):.4g}; the same output for the same generator seed; x left "
                f"unchanged (the third input is the seed of the generator passed)")


def _same_dropout(got: _Draws | _Counts, expected: _Reference | _Spread) -> bool:
    """Whether an answer drops like ``expected``'s PyTorch layer (see ``check_my_dropout``)."""
    if isinstance(expected, _Spread):
        # a fixed count has variance 0; a binomial's sample variance over 200 draws is within
        # a quarter of n p (1 - p) with overwhelming probability
        return (isinstance(got, _Counts) and got.counts is not None
                and got.variance() > expected.variance / 4)
    if not isinstance(got, _Draws):
        return False
    x, p = got.x, got.p
    out = got.outputs[0]
    if not isinstance(out, Tensor) or out.shape != x.shape or not all(got.untouched):
        return False
    if not torch.equal(out, got.outputs[1]):
        return False  # the generator must decide the mask
    kept = out != 0
    if not torch.allclose(out[kept], x[kept] / (1 - p), rtol=1e-5, atol=1e-7):
        return False  # every kept value is x / (1 - p)
    zeroed = got.zeroed()
    if got.whole_maps:
        maps_kept = ~zeroed
        if not kept.flatten(2).all(dim=2)[maps_kept].all():
            return False  # a map is dropped entirely or not at all
        if len(x) > 1 and 0 < p < 1:
            patterns = {tuple(row) for row in zeroed.tolist()}
            partial = ((zeroed.sum(dim=1) > 0) & (maps_kept.sum(dim=1) > 0)).float().mean()
            if len(patterns) == 1 or partial < 0.5:
                return False  # each image draws its own channels
    # about p of them zeroed, as PyTorch's layer on the same input: within 6 standard errors
    # of the difference of two such fractions
    tolerance = 6 * (2 * p * (1 - p) / expected.n) ** 0.5
    if abs(zeroed.float().mean().item() - expected.fraction) > tolerance:
        return False
    if 0 < p < 1 and torch.equal(out, got.outputs[2]):
        return False  # another seed, another mask
    return True


def check_my_dropout(my_dropout: Callable[[Tensor, float, torch.Generator], Tensor]) -> bool:
    """Check ``my_dropout(x, p, generator)``: inverted dropout, as ``nn.Dropout`` in train mode.

    ``x`` is any tensor, ``p`` the probability of dropping each value; the answer has ``x``'s
    shape, each value either 0 (with probability ``p``) or ``x / (1 - p)``, the random numbers
    drawn from ``generator`` (the same seed gives the same output), and ``x`` left as it was.
    Compared with the fraction ``nn.Dropout(p)`` zeroes on the same input; and each value is
    dropped on its own, so the number dropped varies from draw to draw (dropping a fixed
    number of values is not dropout).
    Introduced in chapter 3.
    """
    return _check("my_dropout", my_dropout)


@_exercise("my_dropout", _same_dropout, lambda answer: _draw_three(answer, whole_maps=False))
def _my_dropout_cases(seed: int) -> Cases:
    spaced = torch.linspace(0.1, 1.1, 11)
    big = spaced.repeat(10_000)  # (110000,): enough values to tell p from 1 - p
    g = torch.Generator().manual_seed(11 + 1000 * seed)
    grid = torch.randn(64, 50, generator=g).sign() * (torch.rand(64, 50, generator=g) + 0.1)
    cases: Cases = []
    for x, p, s in ((big, 0.2, 0), (big, 0.5, 1), (big, 0.8, 2), (grid, 0.3, 3),
                    (spaced, 0.0, 4)):
        s += 1000 * seed
        cases.append(((x, p, s), _Reference(torch.nn.Dropout(p), x, p, s, False)))
    counted = spaced.repeat(10)
    cases.append(((counted, 0.2, 5 + 1000 * seed, SPREAD_DRAWS),
                  _Spread(counted, 0.2, whole_maps=False)))
    return cases


def check_dropout2d(dropout2d: Callable[[Tensor, float, torch.Generator], Tensor]) -> bool:
    """Check ``dropout2d(x, p, generator)``: ``nn.Dropout2d`` in train mode, by hand.

    ``x`` is (N, C, H, W) feature maps.  Each image's channel ``c`` is dropped (all of its
    H x W values 0) with probability ``p``, independently for every image and channel; the
    kept maps are multiplied by ``1 / (1 - p)``.  Random numbers come from ``generator``, and
    ``x`` is left as it was.  Compared with the fraction of maps ``nn.Dropout2d(p)`` drops;
    and each map is dropped on its own, so the number dropped varies from draw to draw.
    Introduced in chapter 3.
    """
    return _check("dropout2d", dropout2d)


@_exercise("dropout2d", _same_dropout, lambda answer: _draw_three(answer, whole_maps=True))
def _dropout2d_cases(seed: int) -> Cases:
    g = torch.Generator().manual_seed(12 + 1000 * seed)
    maps = torch.rand(2000, 10, 3, 3, generator=g) + 0.1  # no zeros before dropout
    small = torch.rand(2, 3, 4, 4, generator=g) + 0.1
    cases: Cases = []
    for x, p, s in ((maps, 0.2, 0), (maps, 0.5, 1), (small, 0.0, 2)):
        s += 1000 * seed
        cases.append(((x, p, s), _Reference(torch.nn.Dropout2d(p), x, p, s, True)))
    counted = small.repeat(4, 3, 1, 1)
    cases.append(((counted, 0.3, 3 + 1000 * seed, SPREAD_DRAWS),
                  _Spread(counted, 0.3, whole_maps=True)))
    return cases


def check_dropout_sum_std(dropout_sum_std: Callable[[Tensor, float], Any]) -> bool:
    """Check ``dropout_sum_std(x, p)``: the standard deviation of ``F.linear(dropout(x), ones)``.

    ``x`` is (n,) values, ``p`` the drop probability; the answer is a number (a float or a
    0-dim tensor), compared with the standard deviation of 200,000 sums drawn with
    ``nn.Dropout(p)`` (``rpslib.regularization.dropout_sums``), within 2 %.
    Introduced in chapter 3.
    """
    return _check("dropout_sum_std", dropout_sum_std)


def _same_std(got: Any, expected: float) -> bool:
    return abs(float(got) - expected) <= 0.02 * expected + 1e-3


@_exercise("dropout_sum_std", _same_std)
def _dropout_sum_std_cases(seed: int) -> Cases:
    from rpslib.regularization import dropout_sums

    spaced = torch.linspace(0.1, 1.1, 11)
    other = torch.tensor([2.0, -1.0, 0.5, 3.0, -0.25])
    settings = [(spaced, 0.1), (spaced, 0.3), (spaced, 0.5), (spaced, 0.9), (other, 0.25)]
    if seed:  # the grader's: values and a probability drawn from the seed
        g = torch.Generator().manual_seed(seed)
        settings.append((torch.randn(7, generator=g) * 2,
                         round(float(torch.rand(1, generator=g)) * 0.8 + 0.1, 2)))
    settings.append((spaced, 0.0))  # p = 0 last: an answer that divides by p fails before it
    cases: Cases = []
    for x, p in settings:
        measured = dropout_sums(p, n_samples=200_000, seed=5 + seed, x=x).double().std().item()
        cases.append(((x, p), round(measured, 4)))
    return cases


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
    return _check("range_test_lrs", range_test_lrs)


@_exercise("range_test_lrs", _close_relative)
def _range_test_lrs_cases(seed: int) -> Cases:
    import numpy as np

    settings = [(0.01, 0.1, 11), (3e-4, 0.1, 100), (1e-5, 1.0, 2), (0.5, 0.005, 5)]
    if seed:  # the grader's: a range drawn from the seed
        g = torch.Generator().manual_seed(seed)
        start = 10 ** float(torch.empty(1).uniform_(-6, -2, generator=g))
        end = start * 10 ** float(torch.empty(1).uniform_(1, 5, generator=g))
        settings.append((start, end, int(torch.randint(3, 60, (1,), generator=g))))
    return [((start, end, n), torch.from_numpy(np.geomspace(start, end, n)))
            for start, end, n in settings]


def check_smooth(smooth: Callable[[list[float], float], Any]) -> bool:
    """Check ``smooth(losses, alpha)``: the exponentially weighted moving average.

    ``smoothed[0] = losses[0]`` and ``smoothed[i] = alpha * losses[i] + (1 - alpha) *
    smoothed[i - 1]``, one value per loss; compared with a plain loop.  Introduced in chapter 4.
    """
    return _check("smooth", smooth)


@_exercise("smooth", _close_relative)
def _smooth_cases(seed: int) -> Cases:
    def reference(losses: list[float], alpha: float) -> Tensor:
        smoothed = [losses[0]]
        for loss in losses[1:]:
            smoothed.append(alpha * loss + (1 - alpha) * smoothed[-1])
        return torch.tensor(smoothed, dtype=torch.float64)

    cases: Cases = []
    for s, alpha in ((11, 0.05), (12, 0.3), (13, 1.0)):
        g = torch.Generator().manual_seed(s + 1000 * seed)
        losses = (1.1 + torch.rand(8, generator=g)).tolist()
        cases.append(((losses, alpha), reference(losses, alpha)))
    cases.append((([2.0], 0.05), torch.tensor([2.0], dtype=torch.float64)))
    return cases


def check_steepest_lr(steepest_lr: Callable[[Any, Any], float]) -> bool:
    """Check ``steepest_lr(lrs, losses) -> float``: where the loss falls fastest.

    ``lrs`` and ``losses`` are numpy arrays of equal length (a range test's curve); the slope
    is taken against ``log10(lrs)`` with ``numpy.gradient`` (as the plot's log axis shows it),
    and the answer is the learning rate where the slope is most negative.  One case is a
    linear range test, where a slope per point (not per decade) gives another answer.
    Introduced in chapter 4.
    """
    return _check("steepest_lr", steepest_lr)


def _same_lr(got: Any, expected: float) -> bool:
    return abs(float(got) - expected) <= 1e-9 * expected


@_exercise("steepest_lr", _same_lr)
def _steepest_lr_cases(seed: int) -> Cases:
    import numpy as np

    def curve(lrs: np.ndarray, center: float) -> np.ndarray:
        x = np.log10(lrs)
        return 1.0 - 0.4 * np.tanh(2 * (x - center)) + np.where(x > center + 1, (x - center
                                                                                - 1) ** 2, 0)

    # the grader's seed moves each curve's fall a little
    shift = 0.0 if not seed else float(torch.empty(1).uniform_(
        -0.3, 0.3, generator=torch.Generator().manual_seed(seed)))
    cases: Cases = []
    for lrs, center in ((np.geomspace(1e-5, 1.0, 20), -3.2), (np.geomspace(3e-4, 0.1, 20), -2.0),
                        (np.linspace(1e-3, 0.1, 20), -1.6)):
        losses = curve(lrs, center + shift)
        slopes = np.gradient(losses, np.log10(lrs))
        cases.append(((lrs, losses), float(lrs[np.argmin(slopes)])))
    return cases


# --- chapter 5 ------------------------------------------------------------------------------


def _as_series(got: Any) -> Tensor:
    """An answer (T,) given as a tensor, an array, or a list of numbers or 0-dim tensors."""
    if isinstance(got, list | tuple) and got and all(isinstance(v, Tensor) for v in got):
        return torch.stack(list(got)).double()
    return torch.as_tensor(got, dtype=torch.float64)


def _same_series(got: Any, expected: Tensor) -> bool:
    series = _as_series(got)
    return series.shape == expected.shape and torch.allclose(series, expected, rtol=1e-5,
                                                             atol=1e-8)


def _ewma_closed_form(values: Tensor, beta: float) -> Tensor:
    """(1 - beta) * sum over k <= t of beta ** (t - k) * values[k], for every t at once."""
    t = torch.arange(len(values), dtype=torch.float64)
    ages = t.view(-1, 1) - t.view(1, -1)  # ages[t, k] = t - k
    weights = torch.where(ages >= 0, (1 - beta) * beta ** ages.clamp(min=0), 0.0)
    return weights @ values.double()


def _series_cases(seed: int) -> list[tuple[Tensor, float]]:
    """(values, beta): noisy series around 5 (so a start at zero shows) and a constant one."""
    g = torch.Generator().manual_seed(seed)
    return [(5 + torch.randn(20, generator=g, dtype=torch.float64), 0.9),
            (5 + torch.randn(12, generator=g, dtype=torch.float64), 0.5),
            (torch.full((8,), 3.0, dtype=torch.float64), 0.8)]


def check_my_ewma(my_ewma: Callable[[Tensor, float], Any]) -> bool:
    """Check ``my_ewma(values, beta)``: the EWMA of a series, started at zero, as Adam's.

    ``values`` is a float tensor (T,); the answer (T,) holds, at each step ``t``,
    ``beta * previous + (1 - beta) * values[t]`` with ``previous = 0`` before the first
    value (a tensor, an array or a list of numbers).  Compared with the closed form
    ``(1 - beta) * sum_k beta ** (t - k) * values[k]``.  Introduced in chapter 5.
    """
    return _check("my_ewma", my_ewma)


@_exercise("my_ewma", _same_series)
def _my_ewma_cases(seed: int) -> Cases:
    return [((values, beta), _ewma_closed_form(values, beta))
            for values, beta in _series_cases(1000 * seed)]


def check_bias_correct(bias_correct: Callable[[Tensor, float], Any]) -> bool:
    """Check ``bias_correct(averages, beta)``: an EWMA started at zero, corrected.

    ``averages`` (T,) is an EWMA with weight ``beta`` started at zero; the answer (T,) is
    ``averages[t] / (1 - beta ** (t + 1))`` with ``t`` counted from 0, i.e. dividing the
    first average by ``1 - beta``, the second by ``1 - beta ** 2``, and so on.  One case is a
    constant series, whose corrected averages are the constant itself.
    Introduced in chapter 5.
    """
    return _check("bias_correct", bias_correct)


@_exercise("bias_correct", _same_series)
def _bias_correct_cases(seed: int) -> Cases:
    cases: Cases = []
    for values, beta in (_series_cases(1 + 1000 * seed)
                         + [(torch.ones(40, dtype=torch.float64), 0.99)]):
        averages = _ewma_closed_form(values, beta)
        steps = torch.arange(1, len(values) + 1, dtype=torch.float64)
        cases.append(((averages, beta), averages / (1 - beta**steps)))
    return cases


def _same_tensors(got: Any, expected: tuple[Tensor, ...]) -> bool:
    """``got`` is a tuple of tensors close to ``expected``'s, one by one."""
    if not isinstance(got, tuple | list) or len(got) != len(expected):
        return False
    for mine, theirs in zip(got, expected, strict=True):
        mine = torch.as_tensor(mine).detach().double()
        if mine.shape != theirs.shape or not torch.allclose(mine, theirs, rtol=1e-6,
                                                            atol=1e-12):
            return False
    return True


@_exercise("adam_step", _same_tensors)
def _adam_cases(seed: int) -> Cases:
    """(param, grad, m, v, t, lr, betas, eps) before step t, and torch's Adam after it."""
    cases = []
    settings = [(1, 0.01, (0.9, 0.999), 1.0), (2, 0.01, (0.9, 0.999), 1.0),
                (10, 0.1, (0.8, 0.99), 1.0), (5, 0.01, (0.9, 0.999), 1e-5)]  # tiny gradients
    for s, (t, lr, betas, size) in enumerate(settings):
        g = torch.Generator().manual_seed(100 + s + 1000 * seed)
        param = torch.nn.Parameter(torch.randn(2, 3, generator=g, dtype=torch.float64))
        optimizer = torch.optim.Adam([param], lr=lr, betas=betas, eps=1e-8)
        grads = [size * torch.randn(2, 3, generator=g, dtype=torch.float64) for _ in range(t)]
        for grad in grads[:-1]:  # the steps before step t
            param.grad = grad.clone()
            optimizer.step()
        state = optimizer.state[param]
        m, v = ((state["exp_avg"].clone(), state["exp_avg_sq"].clone()) if t > 1
                else (torch.zeros_like(param), torch.zeros_like(param)))
        before = param.detach().clone()
        param.grad = grads[-1].clone()
        optimizer.step()
        expected = (param.detach().clone(), state["exp_avg"].clone(),
                    state["exp_avg_sq"].clone())
        cases.append(((before, grads[-1].clone(), m, v, t, lr, betas, 1e-8), expected))
    return cases


def check_adam_step(adam_step: Callable[..., Any]) -> bool:
    """Check ``adam_step(param, grad, m, v, t, lr, betas, eps) -> (param, m, v)``.

    One Adam update of a tensor ``param`` with gradient ``grad`` at step ``t`` (counted from
    1); ``m`` and ``v`` are the uncorrected averages after step ``t - 1`` (zeros before the
    first step), as PyTorch stores them.  The answer is the new parameter and the new,
    still uncorrected, averages, all shaped like ``param``; compared with ``torch.optim.Adam``
    at steps 1, 2, 5 and 10, one case with gradients so small that ``eps`` matters.
    Introduced in chapter 5.
    """
    return _check("adam_step", adam_step)


# --- chapter 6 ------------------------------------------------------------------------------


class _Model(torch.nn.Sequential):
    """A small ``nn.Sequential`` whose repr is one line (the check's message names it)."""

    def __init__(self, description: str, *layers: torch.nn.Module) -> None:
        super().__init__(*layers)
        self.description = description

    def __repr__(self) -> str:
        return self.description


def _backward_done(model: torch.nn.Module, x: Tensor, y: Tensor) -> torch.nn.Module:
    """``model`` after one backward pass of the MSE of ``model(x)`` against ``y``."""
    torch.nn.functional.mse_loss(model(x), y).backward()
    return model


def check_grad_norms(grad_norms: Callable[[torch.nn.Module], dict[str, float]]) -> bool:
    """Check ``grad_norms(model) -> {parameter name: norm of its gradient}``.

    One entry per parameter that has a gradient (``p.grad is not None``), named as
    ``model.named_parameters()`` names it, with the gradient's L2 norm (the square root of
    the sum of its squared elements) as a number: what ``capture_gradients(...,
    summary=True)`` records as "norm".  A frozen parameter (``requires_grad=False``) has no
    gradient and no entry.  Compared with ``torch.linalg.vector_norm``.  Introduced in
    chapter 6.
    """
    return _check("grad_norms", grad_norms)


def _same_norms(got: Any, expected: dict[str, float]) -> bool:
    return (isinstance(got, dict) and list(got) == list(expected)
            and all(abs(float(got[k]) - v) <= 1e-5 * v + 1e-8 for k, v in expected.items()))


@_exercise("grad_norms", _same_norms)
def _grad_norms_cases(seed: int) -> Cases:
    def model(s: int, description: str, frozen: bool = False) -> torch.nn.Module:
        torch.manual_seed(s)
        net = _Model(description, torch.nn.Linear(4, 3), torch.nn.Tanh(), torch.nn.Linear(3, 2))
        if frozen:
            net[0].requires_grad_(False)
        g = torch.Generator().manual_seed(s)
        return _backward_done(net, torch.randn(8, 4, generator=g), torch.randn(8, 2, generator=g))

    cases: Cases = []
    with torch.random.fork_rng(devices=[]):  # the caller's random numbers stay as they were
        for net in (model(1000 * seed, "Linear(4, 3), Tanh, Linear(3, 2) after a backward pass"),
                    model(1 + 1000 * seed, "the same, its first layer frozen (no gradient)",
                          frozen=True)):
            expected = {name: torch.linalg.vector_norm(p.grad).item()
                        for name, p in net.named_parameters() if p.grad is not None}
            cases.append(((net,), expected))
    return cases


class _Recorded:
    """What a ``record_forward`` answer did: its outputs, the error it let through, and how
    many forward hooks it left on the model."""

    def __init__(self, outputs: Any, error: str | None, hooks_left: int) -> None:
        self.outputs, self.error, self.hooks_left = outputs, error, hooks_left

    def same(self, other: _Recorded) -> bool:
        if (self.error, self.hooks_left) != (other.error, other.hooks_left):
            return False
        if self.error is not None:
            return True
        got, expected = self.outputs, other.outputs
        return (isinstance(got, dict) and list(got) == list(expected)
                and all(isinstance(got[k], Tensor) and not got[k].requires_grad
                        and got[k].shape == v.shape and torch.allclose(got[k], v, atol=1e-6)
                        for k, v in expected.items()))

    def __repr__(self) -> str:
        if self.error is not None:
            outcome = f"raised {self.error}"
        elif isinstance(self.outputs, dict):
            outcome = "{" + ", ".join(
                f"{k!r}: " + (f"shape {tuple(v.shape)}, requires_grad={v.requires_grad}"
                              if isinstance(v, Tensor) else repr(v))
                for k, v in self.outputs.items()) + "}"
        else:
            outcome = repr(self.outputs)
        return f"{outcome}; forward hooks left on the model: {self.hooks_left}"


def _forward_hooks(model: torch.nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def check_record_forward(record_forward: Callable[[torch.nn.Module, Tensor],
                                                  dict[str, Tensor]]) -> bool:
    """Check ``record_forward(model, x) -> {child name: its output}``, recorded with hooks.

    ``model(x)`` runs once; the answer holds the output of each direct child (in the order of
    ``model.named_children()``), detached from the graph (``requires_grad`` False), and the
    model keeps no hook afterwards, also when the forward pass fails (the error goes through
    to the caller).  The outputs are compared with the children called one by one.
    Introduced in chapter 6.
    """
    return _check("record_forward", record_forward)


def _record(answer: Callable[[torch.nn.Module, Tensor], Any]) -> Callable[..., _Recorded | None]:
    """``answer(net, x)``, with what it let through and the hooks it left on ``net``."""
    def recorded(net: torch.nn.Module, x: Tensor) -> _Recorded | None:
        try:
            outputs = answer(net, x)
        except NotImplementedError:
            raise
        except Exception as error:  # the forward pass (or the answer) failed
            return _Recorded(None, type(error).__name__, _forward_hooks(net))
        if outputs is None:
            return None  # _check then reminds the student of `return`
        return _Recorded(outputs, None, _forward_hooks(net))
    return recorded


def _same_record(got: Any, expected: _Recorded) -> bool:
    return isinstance(got, _Recorded) and got.same(expected)


@_exercise("record_forward", _same_record, _record)
def _record_forward_cases(seed: int) -> Cases:
    def model(s: int, description: str, *layers: torch.nn.Module) -> torch.nn.Module:
        torch.manual_seed(s + 1000 * seed)
        net = _Model(description)
        for name, layer in zip(("fc1", "act", "fc2", "out"), layers, strict=False):
            net.add_module(name, layer)
        return net

    def reference(net: torch.nn.Module, x: Tensor) -> dict[str, Tensor]:
        outputs = {}
        with torch.no_grad():
            for name, child in net.named_children():
                x = child(x)
                outputs[name] = x
        return outputs

    cases: Cases = []
    with torch.random.fork_rng(devices=[]):
        g = torch.Generator().manual_seed(1000 * seed)
        for net, x in (
                (model(0, "fc1 Linear(4, 3), act ReLU, fc2 Linear(3, 2)", torch.nn.Linear(4, 3),
                       torch.nn.ReLU(), torch.nn.Linear(3, 2)), torch.randn(5, 4, generator=g)),
                (model(1, "fc1 Linear(6, 5), act Tanh, fc2 Linear(5, 4), out Softmax",
                       torch.nn.Linear(6, 5), torch.nn.Tanh(), torch.nn.Linear(5, 4),
                       torch.nn.Softmax(dim=1)), torch.randn(3, 6, generator=g))):
            cases.append(((net, x), _Recorded(reference(net, x), None, 0)))
        # fc2 expects 4 inputs and gets 3: the forward pass fails halfway
        broken = model(2, "fc1 Linear(2, 3), act ReLU, fc2 Linear(4, 1): fails at fc2",
                       torch.nn.Linear(2, 3), torch.nn.ReLU(), torch.nn.Linear(4, 1))
        cases.append(((broken, torch.randn(5, 2, generator=g)),
                      _Recorded(None, "RuntimeError", 0)))
    return cases


def check_loss_surface(loss_surface: Callable[[Tensor, Tensor, Tensor, Tensor], Tensor]) -> bool:
    """Check ``loss_surface(x, y, biases, weights) -> (len(biases), len(weights))``.

    ``x`` and ``y`` are a one-feature regression's data, (N, 1) each; entry ``[i, j]`` is the
    mean squared error of ``biases[i] + weights[j] * x`` against ``y``.  Compared with
    ``torch.nn.functional.mse_loss`` at each pair, one by one; the grids are not square, so a
    transposed answer fails.  Introduced in chapter 6.
    """
    return _check("loss_surface", loss_surface)


def _same_surface(got: Any, expected: Tensor) -> bool:
    got = torch.as_tensor(got, dtype=torch.float64)
    return got.shape == expected.shape and torch.allclose(got, expected.double(),
                                                          rtol=1e-5, atol=1e-7)


@_exercise("loss_surface", _same_surface)
def _loss_surface_cases(seed: int) -> Cases:
    cases: Cases = []
    g = torch.Generator().manual_seed(6 + 1000 * seed)
    for n, biases, weights in ((50, torch.linspace(-1, 3, 5), torch.linspace(0, 4, 7)),
                               (7, torch.tensor([1.0, 0.0]), torch.tensor([2.0, -1.0, 0.5])),
                               (1, torch.tensor([0.5]), torch.tensor([1.5, 2.5]))):
        x = torch.rand(n, 1, generator=g)
        y = 1 + 2 * x + 0.1 * torch.randn(n, 1, generator=g)
        expected = torch.tensor([[torch.nn.functional.mse_loss(b + w * x, y).item()
                                  for w in weights] for b in biases])
        cases.append(((x, y, biases, weights), expected))
    return cases


# --- chapter 7 ------------------------------------------------------------------------------


def _sgd_cases(nesterov: bool, seed: int) -> Cases:
    """(param, grad, buffer[, lr, momentum, dampening]) before step t, torch's SGD after it.

    ``buffer`` is None before the first step, as PyTorch has no ``momentum_buffer`` then.
    """
    cases = []
    # (t, lr, momentum, dampening): the first step with dampening catches a damped start
    settings = ([(1, 0.1, 0.9, 0.0), (2, 0.1, 0.9, 0.0), (5, 0.05, 0.5, 0.0),
                 (8, 0.2, 0.8, 0.0)] if nesterov else
                [(1, 0.1, 0.9, 0.0), (1, 0.1, 0.9, 0.5), (3, 0.05, 0.9, 0.5),
                 (6, 0.1, 0.8, 0.0), (2, 0.5, 0.5, 0.3)])
    for s, (t, lr, momentum, dampening) in enumerate(settings):
        g = torch.Generator().manual_seed(700 + s + 1000 * seed)
        param = torch.nn.Parameter(torch.randn(2, 3, generator=g, dtype=torch.float64))
        optimizer = torch.optim.SGD([param], lr=lr, momentum=momentum, dampening=dampening,
                                    nesterov=nesterov)
        grads = [torch.randn(2, 3, generator=g, dtype=torch.float64) for _ in range(t)]
        for grad in grads[:-1]:  # the steps before step t
            param.grad = grad.clone()
            optimizer.step()
        buffer = optimizer.state[param]["momentum_buffer"].clone() if t > 1 else None
        before = param.detach().clone()
        param.grad = grads[-1].clone()
        optimizer.step()
        expected = (param.detach().clone(), optimizer.state[param]["momentum_buffer"].clone())
        settings_args = (lr, momentum) if nesterov else (lr, momentum, dampening)
        cases.append(((before, grads[-1].clone(), buffer, *settings_args), expected))
    return cases


def check_momentum_step(momentum_step: Callable[..., Any]) -> bool:
    """Check ``momentum_step(param, grad, buffer, lr, momentum, dampening) -> (param, buffer)``.

    One step of SGD with momentum, as ``torch.optim.SGD`` takes it: ``buffer`` is the
    velocity (``momentum_buffer``) after the previous step, or ``None`` before the first
    step, when the velocity starts as the gradient itself (undamped); later it becomes
    ``momentum * buffer + (1 - dampening) * grad``.  The answer is the new parameter,
    ``param - lr * buffer``, and the new buffer, both shaped like ``param``.  Compared with
    ``torch.optim.SGD`` at steps 1, 2, 3 and 6, with and without dampening.
    Introduced in chapter 7.
    """
    return _check("momentum_step", momentum_step)


@_exercise("momentum_step", _same_tensors)
def _momentum_step_cases(seed: int) -> Cases:
    return _sgd_cases(nesterov=False, seed=seed)


def check_nesterov_step(nesterov_step: Callable[..., Any]) -> bool:
    """Check ``nesterov_step(param, grad, buffer, lr, momentum) -> (param, buffer)``.

    One step of SGD with Nesterov momentum, as ``torch.optim.SGD(nesterov=True)`` takes it:
    the buffer is updated as in ``momentum_step`` (no dampening), then the parameter moves by
    ``-lr * (grad + momentum * buffer)`` with the *new* buffer: the look-ahead.  ``buffer`` is
    ``None`` before the first step.  Compared with ``torch.optim.SGD`` at steps 1, 2, 5 and 8.
    Introduced in chapter 7.
    """
    return _check("nesterov_step", nesterov_step)


@_exercise("nesterov_step", _same_tensors)
def _nesterov_step_cases(seed: int) -> Cases:
    return _sgd_cases(nesterov=True, seed=seed)


# --- chapter 8 ------------------------------------------------------------------------------


def _scheduler_rates(build: Callable[[torch.optim.Optimizer], Any], lr: float,
                     n_steps: int) -> list[float]:
    """The rates PyTorch's own loop uses, from the first: read, ``step()``, ``step()``."""
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    scheduler = build(optimizer)
    rates = []
    for _ in range(n_steps):
        rates.append(float(optimizer.param_groups[0]["lr"]))
        optimizer.step()
        scheduler.step()
    return rates


def _same_rate(got: Any, expected: float) -> bool:
    return isinstance(got, int | float | Tensor) and abs(float(got) - expected) <= (
        1e-9 + 1e-6 * abs(expected))


def check_step_lr(step_lr: Callable[[int, float, int, float], Any]) -> bool:
    """Check ``step_lr(epoch, lr, step_size, gamma) -> float``: ``StepLR``'s rate in an epoch.

    ``epoch`` counts from 0 (the first epoch trains with ``lr`` itself); compared with
    ``torch.optim.lr_scheduler.StepLR``'s rates, read before each ``scheduler.step()``.  A
    rate shifted by one epoch (the slides' record) fails.  Introduced in chapter 8.
    """
    return _check("step_lr", step_lr)


@_exercise("step_lr", _same_rate)
def _step_lr_cases(seed: int) -> Cases:
    from functools import partial

    from torch.optim.lr_scheduler import StepLR

    settings = [(0.1, 3, 0.5, 10), (0.05, 1, 0.9, 4), (1.0, 4, 0.1, 9)]
    if seed:  # the grader's: a schedule drawn from the seed
        g = torch.Generator().manual_seed(seed)
        settings.append((round(float(torch.rand(1, generator=g)) * 0.5 + 0.01, 3),
                         int(torch.randint(1, 6, (1,), generator=g)),
                         round(float(torch.rand(1, generator=g)) * 0.8 + 0.1, 2), 12))
    cases: Cases = []
    for lr, step_size, gamma, n in settings:
        rates = _scheduler_rates(partial(StepLR, step_size=step_size, gamma=gamma), lr, n)
        cases += [((epoch, lr, step_size, gamma), rate) for epoch, rate in enumerate(rates)]
    return cases


def check_triangular_lr(triangular_lr: Callable[[int, float, float, int], Any]) -> bool:
    """Check ``triangular_lr(iteration, base_lr, max_lr, step_size) -> float``.

    The rate ``CyclicLR(mode="triangular", step_size_up=step_size)`` gives at mini-batch
    ``iteration`` (from 0, which uses ``base_lr``): up from ``base_lr`` to ``max_lr`` in
    ``step_size`` mini-batches, down again in as many, over and over.  Compared with
    PyTorch's ``CyclicLR`` over three cycles.  Introduced in chapter 8.
    """
    return _check("triangular_lr", triangular_lr)


@_exercise("triangular_lr", _same_rate)
def _triangular_lr_cases(seed: int) -> Cases:
    from functools import partial

    from torch.optim.lr_scheduler import CyclicLR

    settings = [(0.01, 0.1, 4), (0.001, 0.005, 3), (0.2, 1.0, 1)]
    if seed:  # the grader's: a cycle drawn from the seed
        g = torch.Generator().manual_seed(seed)
        base = round(float(torch.rand(1, generator=g)) * 0.05 + 0.001, 4)
        settings.append((base, round(base * float(torch.randint(2, 20, (1,), generator=g)), 4),
                         int(torch.randint(1, 7, (1,), generator=g))))
    cases: Cases = []
    for base, top, size in settings:
        build = partial(CyclicLR, base_lr=base, max_lr=top, step_size_up=size,
                        cycle_momentum=False)
        rates = _scheduler_rates(build, base, 6 * size + 1)
        cases += [((i, base, top, size), rate) for i, rate in enumerate(rates)]
    return cases


# --- answers as data, for the grader ------------------------------------------------------
# the grader (tools/judge.py) calls the answers in the student's kernel, compares in its own
# process: what an answer returned travels as JSON, its tensors as numpy arrays (np.savez,
# read back with allow_pickle=False: no object of the student's is ever unpickled).


class _Opaque:
    """An answer that is not data (an object of the student's): shown, never equal."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def answers_as_data(name: str, namespace: Mapping[str, Any], seed: int,
                    arrays: dict[str, Any]) -> dict[str, Any]:
    """What the grader's code in the student's kernel reports of exercise ``name``.

    The function ``namespace[name]`` is called on the inputs of seed ``seed``'s cases (their
    expected answers are dropped first); each return value goes as data (``to_data``, its
    tensors into ``arrays``).  Returns ``{"status", "message", "outputs"}``: the status is
    ``answered``, ``missing``, ``not a function``, ``not attempted`` (it raised
    NotImplementedError) or ``raised`` (the message says what).
    """
    entry: dict[str, Any] = {"status": "answered", "message": "", "outputs": []}
    if name not in namespace:
        entry["status"] = "missing"
        return entry
    if not callable(namespace[name]):
        entry["status"] = "not a function"
        return entry
    exercise = EXERCISES[name]
    answer = exercise.call(namespace[name])
    for arguments in [case[0] for case in exercise.cases(seed)]:
        try:
            entry["outputs"].append(to_data(answer(*arguments), arrays))
        except NotImplementedError:
            entry["status"] = "not attempted"
            break
        except BaseException as error:  # noqa: BLE001 - the student's function raised, or exited
            entry["status"] = "raised"
            entry["message"] = type(error).__name__ + ": " + str(error)[:500]
            break
    return entry


def to_data(value: Any, arrays: dict[str, Any]) -> Any:
    """``value`` (an answer) as JSON data; its tensors and arrays go into ``arrays``."""
    import numpy as np

    def array(a: Any) -> str:
        key = f"a{len(arrays)}"
        arrays[key] = a
        return key

    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, np.generic) and value.dtype != object:
        return value.item()
    if isinstance(value, Tensor):
        return {"tensor": array(value.detach().cpu().numpy()),
                "requires_grad": bool(value.requires_grad)}
    if isinstance(value, np.ndarray) and value.dtype != object:
        return {"ndarray": array(value)}
    if isinstance(value, list | tuple):
        kind = "list" if isinstance(value, list) else "tuple"
        return {kind: [to_data(v, arrays) for v in value]}
    if isinstance(value, dict):
        return {"dict": [[to_data(k, arrays), to_data(v, arrays)] for k, v in value.items()]}
    if isinstance(value, _Draws):
        return {"draws": [to_data(value.outputs, arrays), [bool(u) for u in value.untouched]]}
    if isinstance(value, _Counts):
        return {"counts": [value.counts, None if value.counts is not None
                           else repr(value.what)[:300]]}
    if isinstance(value, _Recorded):
        return {"recorded": [to_data(value.outputs, arrays), value.error, value.hooks_left]}
    return {"other": repr(value)[:300]}


def from_data(data: Any, arrays: Any, expected: Any = None) -> Any:
    """The answer ``to_data`` described, rebuilt from plain data.

    ``arrays`` maps keys to numpy arrays; ``expected`` is the grader's own expected answer
    of the case, whose input (never the student's account of it) a dropout answer is judged
    against.  Raises ``ValueError`` on data ``to_data`` does not make.
    """
    import numpy as np

    if data is None or isinstance(data, bool | int | float | str):
        return data
    if not isinstance(data, dict) or not data or len(data) > 2:
        raise ValueError(f"not an answer's data: {str(data)[:80]}")
    kind = next(iter(data))
    value = data[kind]
    if kind == "tensor":
        tensor = torch.from_numpy(np.array(arrays[value]))
        if data.get("requires_grad") is True and tensor.is_floating_point():
            tensor.requires_grad_(True)
        return tensor
    if kind == "ndarray":
        return np.array(arrays[value])
    if kind in ("list", "tuple") and isinstance(value, list):
        items = [from_data(v, arrays) for v in value]
        return items if kind == "list" else tuple(items)
    if kind == "dict" and isinstance(value, list):
        return {_hashable(from_data(k, arrays)): from_data(v, arrays) for k, v in value}
    if kind == "draws" and isinstance(expected, _Reference):
        outputs, untouched = value
        return _Draws(expected.x, expected.p, from_data(outputs, arrays),
                      [bool(u) for u in untouched], expected.whole_maps)
    if kind == "counts":
        counts, what = value
        if counts is None:
            return _Counts(None, _Opaque(str(what)))
        return _Counts([int(c) for c in counts])
    if kind == "recorded":
        outputs, error, hooks_left = value
        return _Recorded(from_data(outputs, arrays), None if error is None else str(error),
                         int(hooks_left))
    if kind == "other":
        return _Opaque(str(value))
    raise ValueError(f"not an answer's data: {kind}")


def _hashable(key: Any) -> Any:
    """A dictionary key rebuilt from data (a list becomes a tuple)."""
    return tuple(key) if isinstance(key, list) else key
