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

__all__ = ["draw_dropout_sums", "dropout_widget"]


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
