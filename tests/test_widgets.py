"""The dropout slider, driven from code, and the chapter's rule for widgets on the website."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import matplotlib.pyplot as plt
import nbformat
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from rpslib.regularization import dropout_sums
from rpslib.widgets import draw_dropout_sums

ROOT = Path(__file__).resolve().parent.parent
CHAPTER = ROOT / "book" / "03_dropout.ipynb"


@pytest.fixture(autouse=True)
def no_figures_left_open() -> Iterator[None]:
    before = plt.get_fignums()
    yield
    assert plt.get_fignums() == before, "the slider must not pile up pyplot figures"


def mean_line(fig: plt.Figure) -> float:
    return float(fig.axes[0].lines[0].get_xdata()[0])


def test_draw_dropout_sums_is_the_plain_plot_for_one_p() -> None:
    fig = draw_dropout_sums(0.3, n_samples=200, seed=1)
    ax = fig.axes[0]
    assert ax.get_title().startswith("p = 0.3:")
    assert mean_line(fig) == pytest.approx(dropout_sums(0.3, 200, seed=1).mean().item())
    assert ax.get_xlim() == (0.0, 35.0)  # fixed, so that moving p shows the spread change
    assert float(ax.lines[1].get_xdata()[0]) == pytest.approx(6.6)  # the eval-mode sum


def test_the_slider_redraws_for_a_new_p() -> None:
    pytest.importorskip("ipywidgets")
    from rpslib.widgets import dropout_widget

    control = dropout_widget(p=0.5, n_samples=200, seed=2)
    slider = control.children[0]
    assert (slider.min, slider.max, slider.value) == (0.0, 0.9, 0.5)
    first = control.result
    assert first.axes[0].get_title().startswith("p = 0.5:")
    for p in (0.3, 0.9, 0.1):
        slider.value = p  # what dragging the slider does: the callback runs at once
        fig = control.result
        assert fig is not first
        assert fig.axes[0].get_title().startswith(f"p = {p:g}:")
        assert mean_line(fig) == pytest.approx(dropout_sums(p, 200, seed=2).mean().item())
        np.testing.assert_array_equal(fig.axes[0].get_xlim(), first.axes[0].get_xlim())
        first = fig


@pytest.mark.slow  # a fresh interpreter imports torch: a few seconds
def test_importing_rpslib_widgets_does_not_import_ipywidgets() -> None:
    code = ("import sys, rpslib, rpslib.widgets, rpslib.plots, rpslib.regularization\n"
            "raise SystemExit('ipywidgets' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, "importing rpslib.widgets imported ipywidgets"


def test_the_chapter_hides_the_slider_on_the_website_and_shows_a_figure_beside_it() -> None:
    cells = nbformat.read(CHAPTER, as_version=4).cells
    code = [c for c in cells if c.cell_type == "code"]
    widget_cells = [i for i, c in enumerate(code) if "dropout_widget(" in c.source]
    assert len(widget_cells) == 1
    i = widget_cells[0]
    tags = set(code[i].metadata.get("tags", []))
    # remove-output: no dead control on the page; skip-execution: the website's build never
    # makes the widget, so no widget state is embedded (the website tests fail on it)
    assert {"remove-output", "skip-execution"} <= tags
    # right before it (only prose between), the static figure of the same story
    figure = code[i - 1]
    assert "plot_dropout_distributions(" in figure.source
    assert not {"remove-output", "remove-cell", "skip-execution"} & set(
        figure.metadata.get("tags", []))
    assert figure.metadata["mystnb"]["image"]["alt"]


# --- chapter 8: the scheduler control -------------------------------------------------------

CHAPTER_8 = ROOT / "book" / "08_schedulers.ipynb"


def test_draw_lr_schedule_is_the_plain_plot_of_the_chosen_scheduler() -> None:
    from torch.optim import lr_scheduler as S

    from rpslib.schedulers import lr_sequence
    from rpslib.widgets import SCHEDULER_CHOICES, draw_lr_schedule, make_scheduler

    fig = draw_lr_schedule("StepLR", size=7, gamma=0.5, n_steps=30)
    rates = fig.axes[0].lines[0].get_ydata()
    assert rates[0] == pytest.approx(0.1) and rates[7] == pytest.approx(0.05)
    assert fig.axes[0].get_title() == "StepLR: size 7, gamma 0.5"
    for name in SCHEDULER_CHOICES:  # every choice builds, and draws its own sequence
        param = torch.nn.Parameter(torch.zeros(1))
        scheduler = make_scheduler(name, torch.optim.SGD([param], lr=0.1, momentum=0.9),
                                   size=5, gamma=0.95, n_steps=40)
        drawn = draw_lr_schedule(name, size=5, gamma=0.95, n_steps=40).axes[0].lines[0]
        np.testing.assert_allclose(drawn.get_ydata(), lr_sequence(scheduler, 40))
    assert isinstance(scheduler, S.CosineAnnealingWarmRestarts)
    with pytest.raises(ValueError, match="unknown scheduler"):
        make_scheduler("CosineLR", torch.optim.SGD([param], lr=0.1))


def test_the_scheduler_control_redraws_for_each_choice() -> None:
    pytest.importorskip("ipywidgets")
    from rpslib.widgets import scheduler_widget

    control = scheduler_widget(n_steps=40)
    name, size, gamma = control.children[:3]
    first = control.result
    assert first.axes[0].get_title().startswith("CyclicLR triangular:")
    name.value = "StepLR"  # what picking from the list does: the callback runs at once
    size.value = 4
    gamma.value = 0.5
    fig = control.result
    assert fig is not first and fig.axes[0].get_title() == "StepLR: size 4, gamma 0.5"
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata()[[0, 3, 4, 8]],
                               [0.1, 0.1, 0.05, 0.025])
    name.value = "OneCycleLR"
    assert control.result.axes[0].get_title().startswith("OneCycleLR:")


def test_chapter_8_hides_the_control_on_the_website_beside_a_static_figure() -> None:
    if not CHAPTER_8.exists():
        pytest.skip("chapter 8 is not written yet")
    code = [c for c in nbformat.read(CHAPTER_8, as_version=4).cells if c.cell_type == "code"]
    widget_cells = [i for i, c in enumerate(code) if "scheduler_widget(" in c.source]
    assert len(widget_cells) == 1
    i = widget_cells[0]
    assert {"remove-output", "skip-execution"} <= set(code[i].metadata.get("tags", []))
    figure = code[i - 1]  # right before it: the small multiples, no kernel needed
    assert "plot_lr_schedule(" in figure.source
    assert not {"remove-output", "remove-cell", "skip-execution"} & set(
        figure.metadata.get("tags", []))
    assert figure.metadata["mystnb"]["image"]["alt"]


# --- chapter 5: Adam's betas --------------------------------------------------------------

ADAM_CHAPTER = ROOT / "book" / "05_adam.ipynb"


def some_gradients() -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return -torch.linspace(2, 0, 30) + 0.3 * torch.randn(30, generator=g)


def test_draw_adam_gradients_is_the_plain_plot_for_one_pair_of_betas() -> None:
    from rpslib.optim import adapted_gradients
    from rpslib.widgets import draw_adam_gradients

    g = some_gradients()
    fig = draw_adam_gradients(g, 0.5, 0.99, name="weight's gradient", adapted_ylim=(-2, 2))
    left, right = fig.axes
    assert left.get_title() == "beta1 = 0.5, beta2 = 0.99"
    expected = adapted_gradients(g, (0.5, 0.99))
    np.testing.assert_allclose(left.lines[1].get_ydata(), expected.smoothed.numpy())
    np.testing.assert_allclose(right.lines[0].get_ydata(), expected.adapted.numpy())
    assert right.get_ylim() == (-2, 2)


def test_the_beta_sliders_redraw_for_new_betas() -> None:
    pytest.importorskip("ipywidgets")
    from rpslib.optim import adapted_gradients
    from rpslib.widgets import adam_widget

    g = some_gradients()
    control = adam_widget(g)
    beta1, beta2 = control.children[:2]
    assert (beta1.value, beta2.value) == (0.9, 0.999)
    first = control.result
    assert first.axes[0].get_title() == "beta1 = 0.9, beta2 = 0.999"
    for which, value in ((beta1, 0.0), (beta2, 0.5), (beta1, 0.99), (beta2, 0.9999)):
        which.value = value  # what moving the slider does: the callback runs at once
        fig = control.result
        assert fig is not first
        pair = (beta1.value, beta2.value)
        assert fig.axes[0].get_title() == f"beta1 = {pair[0]:g}, beta2 = {pair[1]:g}"
        np.testing.assert_allclose(fig.axes[1].lines[0].get_ydata(),
                                   adapted_gradients(g, pair).adapted.numpy())
        assert fig.axes[1].get_ylim() == first.axes[1].get_ylim()  # fixed: changes show
        first = fig
    limit = first.axes[1].get_ylim()[1]
    assert limit >= adapted_gradients(g, (0.0, 0.5)).adapted.abs().max().item()
    with pytest.raises(ValueError, match="not a stop"):
        adam_widget(g, beta1=0.7)


def test_chapter_5_hides_the_sliders_on_the_website_and_shows_small_multiples() -> None:
    code = [c for c in nbformat.read(ADAM_CHAPTER, as_version=4).cells if c.cell_type == "code"]
    widget_cells = [i for i, c in enumerate(code) if "adam_widget(" in c.source]
    assert len(widget_cells) == 1
    i = widget_cells[0]
    # as chapter 3: no dead control on the page, no widget state embedded in it
    assert {"remove-output", "skip-execution"} <= set(code[i].metadata.get("tags", []))
    figure = code[i - 1]  # right before it (only prose between): the same story, static
    assert "plot_adam_betas(" in figure.source
    assert not {"remove-output", "remove-cell", "skip-execution"} & set(
        figure.metadata.get("tags", []))
    assert figure.metadata["mystnb"]["image"]["alt"]


# --- without ipywidgets, and arguments out of range --------------------------------------


@pytest.fixture
def no_ipywidgets(monkeypatch: pytest.MonkeyPatch) -> None:
    """``import ipywidgets`` fails, as in a fresh Jupyter install without it."""
    monkeypatch.setitem(sys.modules, "ipywidgets", None)


@pytest.mark.parametrize(("make", "title", "shown"), [
    ("dropout_widget(p=0.25, n_samples=100)", "p = 0.25:", "p = 0.25"),
    ("adam_widget(torch.linspace(-1, 1, 20), beta1=0.5)", "", "beta1 = 0.5, beta2 = 0.999"),
    ("scheduler_widget('StepLR', size=5)", "StepLR: size 5", "StepLR, size 5, gamma 0.9"),
])
def test_without_ipywidgets_a_control_shows_its_figure_under_a_note(
        make: str, title: str, shown: str, no_ipywidgets: None,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Chapters 3, 5 and 8 must run on to their exercises where ipywidgets is missing."""
    from rpslib import widgets

    with pytest.raises(ImportError):
        import ipywidgets  # noqa: F401
    control = eval(make, vars(widgets) | {"torch": torch})
    assert isinstance(control, widgets.StaticControl)
    assert isinstance(control.result, Figure)
    assert control.result.axes[0].get_title().startswith(title)
    control._ipython_display_()
    note = capsys.readouterr().out.splitlines()[0]
    assert note == control.note and len(control.note.splitlines()) == 1
    assert note.startswith(f"ipywidgets is not installed: this is the figure for {shown} only")


@pytest.mark.parametrize("without", [False, True], ids=["with ipywidgets", "without"])
@pytest.mark.parametrize(("call", "message"), [
    ("draw_lr_schedule('StepLR', size=0)", "size is a number of steps, an integer of at least 1"),
    ("scheduler_widget('StepLR', size=0)", "size is a number of steps, an integer of at least 1"),
    ("draw_lr_schedule('CyclicLR triangular', size=0)", "size is a number of steps"),
    ("draw_lr_schedule('OneCycleLR', n_steps=0)", "n_steps is a number of steps"),
    ("scheduler_widget(n_steps=0)", "n_steps is a number of steps"),
    ("scheduler_widget(name='Bogus')", "unknown scheduler 'Bogus': pick one of StepLR"),
    ("scheduler_widget(size=500)", "size = 500 is outside its slider's range, 1 to 50"),
    ("scheduler_widget(gamma=0.2)", "gamma = 0.2 is outside its slider's range, 0.5 to 1"),
    ("adam_widget([])", "gradients: expected a non-empty .T,. series, got shape .0,."),
    ("adam_widget(torch.zeros(3, 2))", "expected a non-empty .T,. series, got shape .3, 2."),
    ("dropout_widget(n_samples=0)", "n_samples must be at least 1, got 0"),
    ("dropout_widget(p=1.5)", "p = 1.5 is outside its slider's range, 0 to 0.9"),
])
def test_arguments_out_of_range_are_the_functions_value_errors(
        call: str, message: str, without: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    from rpslib import widgets

    if without:
        monkeypatch.setitem(sys.modules, "ipywidgets", None)
    else:
        pytest.importorskip("ipywidgets")
    with pytest.raises(ValueError, match=message):
        eval(call, vars(widgets) | {"torch": torch})


def test_a_seed_must_be_an_integer() -> None:
    with pytest.raises(TypeError, match="'float' object cannot be interpreted as an integer"):
        draw_dropout_sums(0.5, seed=3.0)  # type: ignore[arg-type]
