"""Controls to play with, in Jupyter and Colab: each one redraws a plain ``rpslib.plots`` figure.

A control's callback is Python, so it needs a running kernel: Jupyter and Colab have one, the
course's website does not.  The chapters therefore show each control's figure statically too
(see chapter 3), and the figure functions are tested on their own.  ``ipywidgets`` is imported
only when a control is made: ``rpslib`` itself does not depend on it (Colab has it, and so do
``rpslib[book]`` and the course's ``requirements.txt``).  Where it is missing, a control shows
its figure for its first values under a one-line note (a ``StaticControl``), so that a chapter
still runs to its exercises.  A control's arguments are checked as the figure function checks
them: out of range, the same ``ValueError``, at once.

Introduced in chapter 3.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from torch import Tensor

from rpslib.optim import adapted_gradients
from rpslib.plots import plot_adam_gradients, plot_dropout_sums, plot_lr_schedule
from rpslib.regularization import dropout_sums, spaced_points

__all__ = ["BETA1_CHOICES", "BETA2_CHOICES", "adam_widget", "draw_adam_gradients",
           "SCHEDULER_CHOICES", "draw_dropout_sums", "draw_lr_schedule", "dropout_widget",
           "make_scheduler", "scheduler_widget"]


class StaticControl:
    """What a control shows where ``ipywidgets`` is not installed: a one-line note, then its
    figure for its first values (``.result``, as a control's ``.result``).
    """

    def __init__(self, result: Figure, note: str) -> None:
        self.result = result
        self.note = note

    def _ipython_display_(self) -> None:
        from IPython.display import display

        print(self.note)
        display(self.result)

    def __repr__(self) -> str:
        return self.note


def _ipywidgets() -> ModuleType | None:
    """The ``ipywidgets`` module, or ``None`` where it is not installed."""
    try:
        import ipywidgets
    except ImportError:
        return None
    return ipywidgets


def _static(figure: Figure, shown: str, control: str) -> StaticControl:
    return StaticControl(figure, f"ipywidgets is not installed: this is the figure for {shown} "
                                 f"only. For the {control}, pip install ipywidgets, restart "
                                 f"the kernel and run this cell again.")


def _drawn(control: Any, first: Callable[[], Figure]) -> Any:
    """``control`` with ``.result`` set to its first figure.

    ipywidgets 8 draws a control's figure as it makes it; ipywidgets 7 (Colab's) only once it
    is shown, so until then ``.result`` would be ``None``.
    """
    if control.result is None:
        control.result = first()
    return control


def _in_range(name: str, value: float, low: float, high: float) -> None:
    """A ValueError where ``value`` is outside its slider (ipywidgets would clamp it silently)."""
    if not low <= value <= high:
        raise ValueError(f"{name} = {value} is outside its slider's range, {low:g} to {high:g}")


def draw_dropout_sums(p: float, n_samples: int = 1000, seed: int = 0,
                      xlim: tuple[float, float] = (0.0, 35.0)) -> Figure:
    """The slider's figure for one p: ``plot_dropout_sums(dropout_sums(p, ...), p)``.

    The figure is made without ``pyplot`` (so redrawing never piles up open figures) on a
    fixed x range, so that moving p shows the spread change.

    Introduced in chapter 3.
    """
    fig = Figure(figsize=(6, 3.5), layout="constrained")
    FigureCanvasAgg(fig)
    sums = dropout_sums(p, n_samples=n_samples, seed=seed)
    return plot_dropout_sums(sums, p, ax=fig.add_subplot(), xlim=xlim,
                             eval_sum=float(spaced_points().sum()))


def dropout_widget(p: float = 0.5, n_samples: int = 1000, seed: int = 0,
                   xlim: tuple[float, float] = (0.0, 35.0)) -> Any:
    """A slider for the drop probability p that redraws the histogram of dropout sums.

    Each move draws ``n_samples`` sums of the slides' eleven points after ``nn.Dropout(p)``
    (``rpslib.regularization.dropout_sums``, the same ``seed`` every time) and shows them with
    ``draw_dropout_sums``.  End a notebook cell with it to show it.

    Args:
        p: the slider's first value, from 0 to 0.9 in steps of 0.05.
        n_samples, seed, xlim: as in ``draw_dropout_sums``.

    Returns:
        An ``ipywidgets.interactive``: ``.children[0]`` is the slider (set its ``value`` to
        move it from code) and ``.result`` the figure drawn for the current p.  Without
        ipywidgets, a ``StaticControl``.

    Raises:
        ValueError: ``p`` outside the slider, or what ``draw_dropout_sums`` refuses.

    Introduced in chapter 3.
    """
    _in_range("p", p, 0.0, 0.9)
    first = draw_dropout_sums(p, n_samples=n_samples, seed=seed, xlim=xlim)  # checks the rest
    ipywidgets = _ipywidgets()  # only here: rpslib does not depend on ipywidgets
    if ipywidgets is None:
        return _static(first, f"p = {p:g}", "slider")
    from IPython.display import display

    def show(p: float) -> Figure:
        fig = draw_dropout_sums(p, n_samples=n_samples, seed=seed, xlim=xlim)
        display(fig)
        return fig

    slider = ipywidgets.FloatSlider(value=p, min=0.0, max=0.9, step=0.05, description="p",
                                    continuous_update=False, readout_format=".2f")
    return _drawn(ipywidgets.interactive(show, p=slider), lambda: first)


# --- chapter 8: a scheduler's learning rate --------------------------------------------------

#: The schedulers the chapter 8 control offers (:func:`make_scheduler` builds each).
SCHEDULER_CHOICES = ("StepLR", "ExponentialLR", "CyclicLR triangular", "CyclicLR triangular2",
                     "CyclicLR exp_range", "OneCycleLR", "CosineAnnealingWarmRestarts")


def make_scheduler(name: str, optimizer: Any, size: int = 10, gamma: float = 0.9,
                   n_steps: int = 100, max_lr: float = 0.1) -> Any:
    """One of ``SCHEDULER_CHOICES`` built on ``optimizer`` from the control's two numbers.

    ``size`` is the scheduler's length in steps (``StepLR``'s ``step_size``, ``CyclicLR``'s
    ``step_size_up``, the warm restarts' first period ``T_0``, ``OneCycleLR``'s warm-up, as
    ``pct_start = size / n_steps``); ``gamma`` its decay factor (``StepLR``,
    ``ExponentialLR``, ``CyclicLR`` ``exp_range``; ignored by the others).  Cyclical schedules
    run from ``max_lr / 10`` to ``max_lr``.

    Raises:
        ValueError: an unknown ``name``; ``size`` or ``n_steps`` not an integer of at least
            1; ``gamma`` or ``max_lr`` not positive.

    Introduced in chapter 8.
    """
    from torch.optim import lr_scheduler as S

    if name not in SCHEDULER_CHOICES:
        raise ValueError(f"unknown scheduler {name!r}: pick one of "
                         f"{', '.join(SCHEDULER_CHOICES)}")
    for what, value in (("size", size), ("n_steps", n_steps)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{what} is a number of steps, an integer of at least 1; got "
                             f"{value!r}")
    if not (gamma > 0 and max_lr > 0):
        raise ValueError(f"gamma and max_lr must be positive; got gamma={gamma}, "
                         f"max_lr={max_lr}")
    if name == "StepLR":
        return S.StepLR(optimizer, step_size=size, gamma=gamma)
    if name == "ExponentialLR":
        return S.ExponentialLR(optimizer, gamma=gamma)
    if name.startswith("CyclicLR "):
        return S.CyclicLR(optimizer, base_lr=max_lr / 10, max_lr=max_lr, step_size_up=size,
                          mode=name.split()[1], gamma=gamma)  # type: ignore[arg-type]
    if name == "OneCycleLR":
        return S.OneCycleLR(optimizer, max_lr=max_lr, total_steps=n_steps,
                            pct_start=min(max(size / n_steps, 0.01), 0.99))
    return S.CosineAnnealingWarmRestarts(optimizer, T_0=size, eta_min=max_lr / 100)


def draw_lr_schedule(name: str, size: int = 10, gamma: float = 0.9, n_steps: int = 100,
                     max_lr: float = 0.1) -> Figure:
    """The scheduler control's figure: ``plot_lr_schedule`` of ``make_scheduler(...)``.

    The scheduler is built on a throw-away SGD optimizer (one parameter, ``lr=max_lr``,
    momentum 0.9, so the cyclical schedules' momentum shows too); the figure is made
    without ``pyplot``.

    Introduced in chapter 8.
    """
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=max_lr, momentum=0.9)
    scheduler = make_scheduler(name, optimizer, size=size, gamma=gamma, n_steps=n_steps,
                               max_lr=max_lr)
    fig = Figure(figsize=(6, 3.5), layout="constrained")
    FigureCanvasAgg(fig)
    return plot_lr_schedule(scheduler, n_steps, ax=fig.add_subplot(), momentum=True,
                            title=f"{name}: size {size}, gamma {gamma:g}")


def scheduler_widget(name: str = "CyclicLR triangular", size: int = 10, gamma: float = 0.9,
                     n_steps: int = 100) -> Any:
    """Pick a scheduler and its two numbers; the figure shows its rate over ``n_steps`` steps.

    Each change calls ``draw_lr_schedule``.  End a notebook cell with it to show it.

    Returns:
        An ``ipywidgets.interactive``: ``.children[:3]`` are the controls (scheduler, size,
        gamma: set their ``value`` to move them from code), ``.result`` the figure drawn now.
        Without ipywidgets, a ``StaticControl``.

    Raises:
        ValueError: ``size`` (1 to 50) or ``gamma`` (0.5 to 1) outside its slider, or what
            ``make_scheduler`` refuses (an unknown ``name``, ``n_steps`` below 1).

    Introduced in chapter 8.
    """
    first = draw_lr_schedule(name, size=size, gamma=gamma, n_steps=n_steps)  # checks them
    _in_range("size", size, 1, 50)
    _in_range("gamma", gamma, 0.5, 1.0)
    ipywidgets = _ipywidgets()  # only here: rpslib does not depend on ipywidgets
    if ipywidgets is None:
        return _static(first, f"{name}, size {size}, gamma {gamma:g}", "controls")
    from IPython.display import display

    def show(name: str, size: int, gamma: float) -> Figure:
        fig = draw_lr_schedule(name, size=size, gamma=gamma, n_steps=n_steps)
        display(fig)
        return fig

    return _drawn(ipywidgets.interactive(
        show,
        name=ipywidgets.Dropdown(options=SCHEDULER_CHOICES, value=name, description="scheduler"),
        size=ipywidgets.IntSlider(value=size, min=1, max=50, description="size (steps)",
                                  continuous_update=False),
        gamma=ipywidgets.FloatSlider(value=gamma, min=0.5, max=1.0, step=0.01,
                                     description="gamma", continuous_update=False)),
        lambda: first)


# --- chapter 5: Adam's betas --------------------------------------------------------------

#: The stops of the beta1 slider of :func:`adam_widget`.
BETA1_CHOICES = (0.0, 0.5, 0.8, 0.9, 0.95, 0.99)
#: The stops of the beta2 slider of :func:`adam_widget`.
BETA2_CHOICES = (0.5, 0.9, 0.99, 0.999, 0.9999)


def draw_adam_gradients(gradients: Tensor | Sequence[float], beta1: float, beta2: float,
                        eps: float = 1e-8, name: str = "gradient",
                        adapted_ylim: tuple[float, float] | None = None) -> Figure:
    """The beta sliders' figure for one (beta1, beta2): ``plot_adam_gradients``, no pyplot.

    Args:
        gradients: one parameter's gradient at each step, shape (T,).
        beta1, beta2, eps: Adam's settings to apply to them.
        name, adapted_ylim: as in ``rpslib.plots.plot_adam_gradients``.

    Introduced in chapter 5.
    """
    fig = Figure(figsize=(11, 3.5), layout="constrained")
    FigureCanvasAgg(fig)
    return plot_adam_gradients(gradients, (beta1, beta2), eps=eps, axs=fig.subplots(1, 2),
                               name=name, adapted_ylim=adapted_ylim)


def adam_widget(gradients: Tensor | Sequence[float], beta1: float = 0.9, beta2: float = 0.999,
                eps: float = 1e-8, name: str = "gradient") -> Any:
    """Sliders for beta1 and beta2 that redraw what Adam makes of the same gradients.

    Each move applies Adam's averages with the chosen betas to ``gradients`` (recorded once:
    they do not change with the betas) and shows the result with ``draw_adam_gradients``:
    beta1 changes the smoothing, beta2 the scale.  The adapted gradient's axis is fixed to
    the largest value any pair of stops gives, so that moving a slider shows the change.
    End a notebook cell with it to show it.

    Args:
        gradients: one parameter's gradient at each step, shape (T,).
        beta1: the first slider's value, one of ``BETA1_CHOICES``.
        beta2: the second slider's value, one of ``BETA2_CHOICES``.
        eps, name: as in ``draw_adam_gradients``.

    Returns:
        An ``ipywidgets.interactive``: ``.children[0]`` and ``.children[1]`` are the beta1 and
        beta2 sliders (set their ``value`` to move them from code) and ``.result`` the figure
        drawn for the current pair.  Without ipywidgets, a ``StaticControl``.

    Raises:
        ValueError: a beta that is not a stop of its slider, or what
            ``draw_adam_gradients`` refuses (gradients that are not a non-empty (T,) series).

    Introduced in chapter 5.
    """
    for value, choices, which in ((beta1, BETA1_CHOICES, "beta1"),
                                  (beta2, BETA2_CHOICES, "beta2")):
        if value not in choices:
            raise ValueError(f"{which} = {value} is not a stop of its slider: pick one of "
                             f"{choices}")
    g = torch.as_tensor(gradients).detach().cpu().double()
    first = draw_adam_gradients(g, beta1, beta2, eps=eps, name=name)  # checks the gradients
    ipywidgets = _ipywidgets()  # only here: rpslib does not depend on ipywidgets
    if ipywidgets is None:
        return _static(first, f"beta1 = {beta1:g}, beta2 = {beta2:g}", "sliders")
    limit = 1.05 * max(1.0, max(adapted_gradients(g, (b1, b2), eps).adapted.abs().max().item()
                                for b1 in BETA1_CHOICES for b2 in BETA2_CHOICES))
    from IPython.display import display

    def show(beta1: float, beta2: float) -> Figure:
        fig = draw_adam_gradients(g, beta1, beta2, eps=eps, name=name,
                                  adapted_ylim=(-limit, limit))
        display(fig)
        return fig

    sliders = {which: ipywidgets.SelectionSlider(
        options=[(f"{b:g}", b) for b in choices], value=value, description=which,
        continuous_update=False)
        for which, choices, value in (("beta1", BETA1_CHOICES, beta1),
                                      ("beta2", BETA2_CHOICES, beta2))}
    return _drawn(ipywidgets.interactive(show, **sliders),
                  lambda: draw_adam_gradients(g, beta1, beta2, eps=eps, name=name,
                                              adapted_ylim=(-limit, limit)))
