"""Controls to play with, in Jupyter and Colab: each one redraws a plain ``rpslib.plots`` figure.

A control's callback is Python, so it needs a running kernel: Jupyter and Colab have one, the
course's website does not.  The chapters therefore show each control's figure statically too
(see chapter 3), and the figure functions are tested on their own.  ``ipywidgets`` is imported
only when a control is made: ``rpslib`` itself does not depend on it (Colab and the course's
``requirements.txt`` have it).

Introduced in chapter 3.
"""

from __future__ import annotations

from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from rpslib.plots import plot_dropout_sums
from rpslib.regularization import dropout_sums, spaced_points

__all__ = ["SCHEDULER_CHOICES", "draw_dropout_sums", "draw_lr_schedule", "dropout_widget",
           "make_scheduler", "scheduler_widget"]


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
        move it from code) and ``.result`` the figure drawn for the current p.

    Introduced in chapter 3.
    """
    import ipywidgets  # only here: rpslib does not depend on ipywidgets
    from IPython.display import display

    def show(p: float) -> Figure:
        fig = draw_dropout_sums(p, n_samples=n_samples, seed=seed, xlim=xlim)
        display(fig)
        return fig

    slider = ipywidgets.FloatSlider(value=p, min=0.0, max=0.9, step=0.05, description="p",
                                    continuous_update=False, readout_format=".2f")
    return ipywidgets.interactive(show, p=slider)


# --- chapter 8: a scheduler's learning rate --------------------------------------------------

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

    Introduced in chapter 8.
    """
    from torch.optim import lr_scheduler as S

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
    if name == "CosineAnnealingWarmRestarts":
        return S.CosineAnnealingWarmRestarts(optimizer, T_0=size, eta_min=max_lr / 100)
    raise ValueError(f"unknown scheduler {name!r}: pick one of {', '.join(SCHEDULER_CHOICES)}")


def draw_lr_schedule(name: str, size: int = 10, gamma: float = 0.9, n_steps: int = 100,
                     max_lr: float = 0.1) -> Figure:
    """The scheduler control's figure: ``plot_lr_schedule`` of ``make_scheduler(...)``.

    The scheduler is built on a throw-away SGD optimizer (one parameter, ``lr=max_lr``,
    momentum 0.9, so the cyclical schedules' momentum shows too); the figure is made
    without ``pyplot``.

    Introduced in chapter 8.
    """
    import torch

    from rpslib.plots import plot_lr_schedule

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

    Introduced in chapter 8.
    """
    import ipywidgets  # only here: rpslib does not depend on ipywidgets
    from IPython.display import display

    def show(name: str, size: int, gamma: float) -> Figure:
        fig = draw_lr_schedule(name, size=size, gamma=gamma, n_steps=n_steps)
        display(fig)
        return fig

    return ipywidgets.interactive(
        show,
        name=ipywidgets.Dropdown(options=SCHEDULER_CHOICES, value=name, description="scheduler"),
        size=ipywidgets.IntSlider(value=size, min=1, max=50, description="size (steps)",
                                  continuous_update=False),
        gamma=ipywidgets.FloatSlider(value=gamma, min=0.5, max=1.0, step=0.01,
                                     description="gamma", continuous_update=False))
