"""The figures: they return a Figure with the expected axes and leave matplotlib's style alone."""

from collections.abc import Iterator
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from rpslib.plots import plot_filters, plot_losses


@pytest.fixture(autouse=True)
def close_figures_and_check_style() -> Iterator[None]:
    rc = dict(matplotlib.rcParams)
    yield
    plt.close("all")
    assert dict(matplotlib.rcParams) == rc


def test_plot_losses_new_figure() -> None:
    fig = plot_losses([1.0, 0.5, 0.25], [1.2, 0.7, 0.4])
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    ax = fig.axes[0]
    assert len(ax.lines) == 2 and ax.get_yscale() == "log"
    np.testing.assert_array_equal(ax.lines[0].get_xdata(), [1, 2, 3])


def test_plot_losses_into_given_axes_and_without_validation() -> None:
    fig, axs = plt.subplots(1, 2)
    assert plot_losses([1.0, 0.5], ax=axs[1]) is fig
    assert len(axs[1].lines) == 1 and len(axs[0].lines) == 0


def test_plot_filters_grid() -> None:
    weights = torch.randn(2, 3, 3, 3, requires_grad=True)  # like CNN2(2).conv1.weight
    fig = plot_filters(weights, title="conv1")
    assert isinstance(fig, Figure) and len(fig.axes) == 2 * 3
    assert fig.axes[0].get_title() == "Channel #0"
    assert len(plot_filters(np.zeros((1, 1, 3, 3))).axes) == 1


def test_plot_filters_needs_4d_weights() -> None:
    with pytest.raises(ValueError, match="n_filters, n_channels"):
        plot_filters(torch.zeros(50, 125))


def test_plot_filters_into_given_axes() -> None:
    weights = torch.randn(2, 3, 3, 3)
    fig, axs = plt.subplots(2, 3, squeeze=False)
    assert plot_filters(weights, title="conv1", axs=axs) is fig
    assert len(fig.axes) == 2 * 3  # drew into them, made no others
    assert all(len(ax.images) == 1 for ax in axs.flat)
    np.testing.assert_array_equal(axs[1, 2].images[0].get_array(), weights[1, 2].numpy())
    assert axs[0, 1].get_title() == "Channel #1"
    assert fig._suptitle is not None and fig._suptitle.get_text() == "conv1"  # matplotlib 3.7


def test_plot_filters_rejects_axes_of_the_wrong_shape() -> None:
    weights = torch.zeros(2, 3, 3, 3)
    _, axs = plt.subplots(3, 2, squeeze=False)
    with pytest.raises(ValueError, match=r"shape \(3, 2\), expected .* \(2, 3\)"):
        plot_filters(weights, axs=axs)
    _, row = plt.subplots(1, 3)  # squeezed to shape (3,)
    with pytest.raises(ValueError, match="squeeze=False"):
        plot_filters(weights[:1], axs=row)
    with pytest.raises(ValueError, match="figsize"):
        plot_filters(weights, axs=plt.subplots(2, 3, squeeze=False)[1], figsize=(4, 4))
    assert all(len(ax.images) == 0 for ax in [*axs.flat, *row])  # nothing drawn


def test_plot_images_undoes_the_standardization_and_marks_mistakes() -> None:
    import torch

    from rpslib.plots import plot_images

    raw = torch.rand(3, 3, 4, 4)
    mean, std = torch.tensor([0.8, 0.7, 0.6]), torch.tensor([0.2, 0.3, 0.4])
    standardized = (raw - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1)
    fig = plot_images(standardized, [0, 1, 2], ["a", "b", "c"], predictions=[0, 2, 2],
                      mean=mean, std=std, ncols=2)
    shown = [ax for ax in fig.axes if ax.images]
    assert len(fig.axes) == 4 and len(shown) == 3
    np.testing.assert_allclose(shown[0].images[0].get_array(),
                               raw[0].permute(1, 2, 0).numpy(), atol=1e-6)
    assert shown[1].get_title() == "b -> c" and shown[1].title.get_color() == "tab:red"
    assert shown[2].title.get_color() == "black"
    with pytest.raises(ValueError, match="at least 3 axes"):
        plot_images(raw, [0, 1, 2], ["a", "b", "c"], axs=plt.subplots(1, 2)[1])


def test_plot_confusion_matrix_writes_the_counts() -> None:
    from rpslib.plots import plot_confusion_matrix

    fig = plot_confusion_matrix(np.array([[5, 1], [0, 7]]), ["x", "y"])
    texts = sorted(t.get_text() for t in fig.axes[0].texts)
    assert texts == ["0", "1", "5", "7"]
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["x", "y"]


def test_plot_samples_shows_each_class(tiny_rps: tuple[Path, Path]) -> None:
    from rpslib.data import ImageFolder
    from rpslib.plots import plot_samples

    fig = plot_samples(ImageFolder(tiny_rps[0]), n_per_class=2, size=30)
    assert len(fig.axes) == 6 and all(ax.images for ax in fig.axes)
    assert [fig.axes[i].get_ylabel() for i in (0, 2, 4)] == ["paper", "rock", "scissors"]


def test_pick_mistakes_takes_a_few_from_every_off_diagonal_cell() -> None:
    from rpslib.plots import pick_mistakes

    # cells (true, predicted): (0, 1) has 5 mistakes, (0, 2) one, (2, 0) four, the rest none
    labels = torch.tensor([0, 0, 0, 0, 0, 0, 1, 1, 2, 2, 2, 2, 0, 1, 2])
    predictions = torch.tensor([1, 1, 1, 1, 1, 2, 1, 1, 0, 0, 0, 0, 0, 1, 2])
    picked = pick_mistakes(labels, predictions, per_cell=2, seed=0)
    assert picked.dtype == torch.long
    cells = [(int(labels[k]), int(predictions[k])) for k in picked]
    assert cells == [(0, 1), (0, 1), (0, 2), (2, 0), (2, 0)]  # row by row; short cell: all
    assert len(set(picked.tolist())) == len(picked)
    assert torch.equal(pick_mistakes(labels, predictions, per_cell=2, seed=0), picked)
    draws = {tuple(pick_mistakes(labels, predictions, per_cell=2, seed=s)[:2].tolist())
             for s in range(10)}
    assert len(draws) > 1, "the seed chooses which mistakes of a cell show"
    everything = pick_mistakes(labels, predictions, per_cell=10)
    assert sorted(everything.tolist()) == (labels != predictions).nonzero().flatten().tolist()


def test_pick_mistakes_without_mistakes_and_bad_input() -> None:
    from rpslib.plots import pick_mistakes

    right = torch.tensor([0, 1, 2])
    none = pick_mistakes(right, right)
    assert none.dtype == torch.long and none.shape == (0,)
    assert pick_mistakes([0, 1], [1, 0], per_cell=0).shape == (0,)
    with pytest.raises(ValueError, match="same length"):
        pick_mistakes(torch.tensor([0, 1]), torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="per_cell"):
        pick_mistakes(right, right, per_cell=-1)


# --- chapter 3: dropout -------------------------------------------------------------------


def test_plot_dropout_sums_marks_the_mean_and_the_eval_sum() -> None:
    from rpslib.plots import plot_dropout_sums
    from rpslib.regularization import dropout_sums

    sums = dropout_sums(0.5, n_samples=300)
    fig = plot_dropout_sums(sums, 0.5, eval_sum=6.6)
    ax = fig.axes[0]
    mean_line, eval_line = ax.lines
    np.testing.assert_allclose(mean_line.get_xdata(), [sums.mean().item()] * 2, rtol=1e-6)
    np.testing.assert_allclose(eval_line.get_xdata(), [6.6, 6.6])
    assert ax.get_title() == f"p = 0.5: standard deviation {sums.double().std(correction=0):.2f}"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        f"mean {sums.mean().item():.2f}", "eval-mode sum 6.6"]
    assert ax.get_xlim()[0] == 0 and ax.get_xlim()[1] > sums.max().item()
    fig2, axs = plt.subplots(1, 2)
    assert plot_dropout_sums(sums, 0.5, ax=axs[1], xlim=(0, 40)) is fig2
    assert axs[1].get_xlim() == (0, 40) and not axs[0].lines
    with pytest.raises(ValueError, match="dropout_sums"):
        plot_dropout_sums(torch.zeros(3, 2), 0.5)


@pytest.mark.parametrize("p", [0.1, 0.3, 0.5, 0.9])
def test_dropout_sum_bins_hold_whole_steps_of_the_grid(p: float) -> None:
    # the sums of the slides' points lie on a grid of step 0.1 / (1 - p); a bin edge must
    # never sit on a grid value, else bins hold 3 and 4 values by turns and draw a comb
    from rpslib.plots.dropout import _sum_bin_edges
    from rpslib.regularization import dropout_sums

    values = dropout_sums(p, n_samples=2000).double().numpy()
    edges = np.asarray(_sum_bin_edges(values, (0.0, 35.0), 70))
    step = 0.1 / (1 - p)
    width = np.diff(edges)
    np.testing.assert_allclose(width / step, np.round(width / step), atol=1e-3)
    assert edges[0] <= 0 and edges[-1] >= 35
    assert len(edges) - 1 <= 72  # about 70 bins, fewer where the grid is coarser (p = 0.9)
    distance = np.abs(values[:, None] - edges[None, :]).min(axis=1)
    assert distance.min() > 0.4 * step


def test_plot_dropout_distributions_share_one_x_range() -> None:
    from rpslib.plots import plot_dropout_distributions
    from rpslib.regularization import dropout_sums

    sums = {p: dropout_sums(p, n_samples=200) for p in (0.1, 0.5, 0.9)}
    fig = plot_dropout_distributions(sums, eval_sum=6.6)
    assert len(fig.axes) == 4 and not fig.axes[3].axison  # a 2x2 grid, the last one empty
    assert [ax.get_title().split(":")[0] for ax in fig.axes[:3]] == [
        "p = 0.1", "p = 0.5", "p = 0.9"]
    assert len({ax.get_xlim() for ax in fig.axes[:3]}) == 1
    assert fig.axes[0].get_xlim()[1] > max(s.max().item() for s in sums.values())
    with pytest.raises(ValueError, match="at least 3 axes"):
        plot_dropout_distributions(sums, axs=plt.subplots(1, 2)[1])
    with pytest.raises(ValueError, match="empty"):
        plot_dropout_distributions({})


def test_plot_channel_dropout_names_the_dropped_channels() -> None:
    from rpslib.plots import plot_channel_dropout

    maps = torch.rand(1, 4, 5, 5) + 0.1
    maps[0, 3] = 0  # a dead map (all 0 after a ReLU): not one that dropout dropped
    after = maps * 2
    after[0, 1] = 0
    fig = plot_channel_dropout(maps, after)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["channel 0", "channel 1", "channel 2", "channel 3",
                      "kept, scaled", "dropped", "kept, scaled", "all 0 before"]
    assert fig.axes[5].title.get_color() == "tab:red"
    assert fig.axes[1].get_xlabel() == f"max {maps[0, 1].max().item():.2f}"
    # one colour scale per channel, for both rows: the scaled map looks brighter
    assert fig.axes[0].images[0].get_clim() == fig.axes[4].images[0].get_clim()
    with pytest.raises(ValueError, match="one shape"):
        plot_channel_dropout(maps, after[:, :2])
    with pytest.raises(ValueError, match=r"expected \(2, 4\)"):
        plot_channel_dropout(maps, after, axs=plt.subplots(4, 2, squeeze=False)[1])


# --- chapter 4 ------------------------------------------------------------------------------


def test_plot_lr_grid_one_smoothed_line_per_rate_in_order() -> None:
    from rpslib.lr_finder import smooth
    from rpslib.plots import plot_lr_grid

    runs = {0.1: [1.1, 5.0, 1.1, 1.1], 1e-4: [1.1, 1.0, 0.9], 3e-3: [1.1, 0.5, 0.2, 0.1]}
    fig = plot_lr_grid(runs, alpha=0.5, chance_loss=float(np.log(3)))
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    curves, chance = ax.lines[:3], ax.lines[3]
    assert [line.get_label() for line in curves] == ["0.0001", "0.003", "0.1"]  # sorted
    np.testing.assert_allclose(curves[2].get_ydata(), smooth(runs[0.1], 0.5))
    np.testing.assert_array_equal(curves[0].get_xdata(), [1, 2, 3])
    np.testing.assert_allclose(chance.get_ydata(), np.log(3))
    assert curves[0].get_color() != curves[2].get_color()
    _, axs = plt.subplots(1, 2)
    assert plot_lr_grid({1e-3: [1.0, 0.5]}, ax=axs[1]) is axs[1].figure
    assert len(axs[1].lines) == 1 and not axs[0].lines
    with pytest.raises(ValueError, match="empty"):
        plot_lr_grid({})


def test_plot_lr_range_styles_its_curve_so_a_second_one_shows() -> None:
    from rpslib.plots import plot_lr_range

    tracking = {"lr": [1e-4, 1e-3, 1e-2, 1e-1], "loss": [1.0, 0.8, 0.5, 2.0]}
    fig = plot_lr_range(tracking, {"valley": 1e-3}, label="ours", linewidth=4, alpha=0.4)
    ax = fig.axes[0]
    plot_lr_range(tracking, ax=ax, label="theirs", linestyle="--")
    ours, marker, theirs = ax.lines
    assert ours.get_linewidth() == 4 and ours.get_alpha() == 0.4
    assert theirs.get_linestyle() == "--" and marker.get_marker() == "s"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["ours", "valley 1.0e-03",
                                                                    "theirs"]


# --- chapter 5: Adam ----------------------------------------------------------------------


def test_plot_moving_averages_draws_the_values_and_each_average() -> None:
    from rpslib.optim import ewma
    from rpslib.plots import plot_moving_averages

    values = torch.tensor([3.0, 1.0, 4.0, 1.0, 5.0])
    fig = plot_moving_averages(values, {"EWMA": ewma(values, 0.5), "mean": [2.8] * 5},
                               title="five values")
    ax = fig.axes[0]
    dots, first, second = ax.lines
    np.testing.assert_array_equal(dots.get_xdata(), [1, 2, 3, 4, 5])
    np.testing.assert_array_equal(dots.get_ydata(), values.numpy())
    np.testing.assert_allclose(first.get_ydata(), ewma(values, 0.5).numpy())
    assert first.get_label() == "EWMA" and ax.get_title() == "five values"
    with pytest.raises(ValueError, match="3 averages for 5 values"):
        plot_moving_averages(values, {"short": [1.0, 2.0, 3.0]})
    _, axs = plt.subplots(1, 2)
    assert plot_moving_averages([1.0, 2.0], {}, ax=axs[0]) is axs[0].figure
    assert len(axs[0].lines) == 1 and not axs[1].lines


def test_plot_average_weights_one_line_per_average_against_the_age() -> None:
    from rpslib.plots import plot_average_weights

    ages = np.arange(30)
    weights = {"SMA": (ages < 19) / 19, "EWMA": 0.1 * 0.9**ages}
    fig = plot_average_weights(weights)
    sma, ewma_line = fig.axes[0].lines
    np.testing.assert_array_equal(sma.get_xdata(), ages)
    np.testing.assert_allclose(ewma_line.get_ydata(), weights["EWMA"])
    assert sma.get_drawstyle() == "steps-mid"
    with pytest.raises(ValueError, match="empty"):
        plot_average_weights({})


def test_plot_adam_gradients_shows_what_adam_makes_of_them() -> None:
    from rpslib.optim import adapted_gradients
    from rpslib.plots import plot_adam_gradients

    g = torch.randn(25, generator=torch.Generator().manual_seed(0))
    fig = plot_adam_gradients(g, (0.8, 0.99), name="weight's gradient")
    left, right = fig.axes
    raw, smoothed, upper, lower = left.lines[:4]
    expected = adapted_gradients(g, (0.8, 0.99))
    np.testing.assert_allclose(raw.get_ydata(), g.numpy())
    np.testing.assert_allclose(smoothed.get_ydata(), expected.smoothed.numpy())
    np.testing.assert_allclose(upper.get_ydata(), expected.scale.numpy())
    np.testing.assert_allclose(lower.get_ydata(), -expected.scale.numpy())
    np.testing.assert_allclose(right.lines[0].get_ydata(), expected.adapted.numpy())
    assert left.get_title() == "beta1 = 0.8, beta2 = 0.99"
    assert raw.get_label() == "weight's gradient"
    _, axs = plt.subplots(2, 1)
    assert plot_adam_gradients(g, axs=axs, adapted_ylim=(-3, 3)) is axs[0].figure
    assert axs[1].get_ylim() == (-3, 3)
    with pytest.raises(ValueError, match="two axes"):
        plot_adam_gradients(g, axs=plt.subplots(1, 3)[1])
    with pytest.raises(ValueError, match=r"\(T,\) series"):
        plot_adam_gradients(torch.zeros(25, 2))


def test_plot_adam_betas_one_column_per_pair_rows_on_one_scale() -> None:
    from rpslib.optim import adapted_gradients
    from rpslib.plots import plot_adam_betas

    g = torch.randn(30, generator=torch.Generator().manual_seed(1))
    pairs = [(0.0, 0.999), (0.9, 0.999), (0.9, 0.9)]
    fig = plot_adam_betas(g, pairs)
    grid = np.array(fig.axes).reshape(2, 3)
    assert [ax.get_title() for ax in grid[0]] == [f"beta1 = {b1:g}, beta2 = {b2:g}"
                                                  for b1, b2 in pairs]
    for column, pair in enumerate(pairs):
        np.testing.assert_allclose(grid[1, column].lines[0].get_ydata(),
                                   adapted_gradients(g, pair).adapted.numpy())
    for row in grid:
        assert len({ax.get_ylim() for ax in row}) == 1
    assert grid[0, 0].get_legend() is not None and grid[0, 1].get_legend() is None
    assert grid[0, 0].get_xlabel() == "" and grid[1, 0].get_xlabel() == "step"
    with pytest.raises(ValueError, match=r"expected \(2, 3\)"):
        plot_adam_betas(g, pairs, axs=plt.subplots(3, 2, squeeze=False)[1])
    _, own = plt.subplots(2, 3, squeeze=False)  # axes of one's own, not shared: one y range too
    assert plot_adam_betas(g, pairs, axs=own) is own[0, 0].figure
    for row in own:
        assert len({ax.get_ylim() for ax in row}) == 1
    with pytest.raises(ValueError, match="empty"):
        plot_adam_betas(g, [])


# --- chapter 6 ------------------------------------------------------------------------------


def test_plot_loss_surface_draws_the_surface_and_each_path_from_start_to_end() -> None:
    from rpslib.plots import plot_loss_surface

    biases, weights = torch.linspace(-1, 3, 9), torch.linspace(0, 4, 5)  # not square
    surface = (biases.view(-1, 1) - 1) ** 2 + 3 * (weights.view(1, -1) - 2) ** 2 + 0.1
    path = torch.tensor([[-1.0, 0.0], [0.0, 1.0], [1.0, 2.0]])
    fig = plot_loss_surface(biases, weights, surface, {"SGD": path, "Adam": path + 0.1})
    ax = fig.axes[0]
    assert ax.get_xlabel() == "bias b" and ax.get_ylabel() == "weight w"
    # the lowest contour line circles the minimum at (b, w) = (1, 2): bias on x, weight on y
    lowest = ax.collections[0].get_paths()[0].vertices
    np.testing.assert_allclose(lowest.mean(axis=0), [1, 2], atol=0.3)
    sgd, start, end = ax.lines[:3]
    np.testing.assert_array_equal(sgd.get_xdata(), [-1, 0, 1])
    np.testing.assert_array_equal(sgd.get_ydata(), [0, 1, 2])
    assert start.get_marker() == "s" and end.get_marker() == "*"
    assert list(start.get_xydata()[0]) == [-1, 0] and list(end.get_xydata()[0]) == [1, 2]
    assert len(ax.lines) == 6 and ax.lines[3].get_color() != sgd.get_color()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["SGD (3 points)",
                                                                    "Adam (3 points)"]
    _, axs = plt.subplots(1, 2)
    assert plot_loss_surface(biases, weights, surface, ax=axs[0]) is axs[0].figure
    with pytest.raises(ValueError, match=r"expected \(len\(biases\), len\(weights\)\)"):
        plot_loss_surface(biases, weights, surface.T)
    with pytest.raises(ValueError, match="one .bias, weight. pair"):
        plot_loss_surface(biases, weights, surface, {"SGD": path.T})


def test_plot_per_step_one_line_per_name_epochs_marked_smoothing_optional() -> None:
    from rpslib.lr_finder import smooth
    from rpslib.plots import plot_per_step

    values = {"fc1": [1.0, 4.0, 2.0, 8.0, 3.0], "fc2": torch.tensor([0.1, 0.2, 0.1, 0.3, 0.2])}
    fig = plot_per_step(values, "gradient norm", steps_per_epoch=2)
    ax = fig.axes[0]
    assert ax.get_yscale() == "log" and ax.get_ylabel() == "gradient norm"
    fc1, fc2, *epochs = ax.lines
    np.testing.assert_array_equal(fc1.get_xdata(), [1, 2, 3, 4, 5])
    np.testing.assert_allclose(fc2.get_ydata(), [0.1, 0.2, 0.1, 0.3, 0.2])
    assert [line.get_xdata()[0] for line in epochs] == [2.5, 4.5]  # between the epochs
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["fc1", "fc2"]
    _, axs = plt.subplots(1, 2)
    assert plot_per_step(values, "loss", alpha=0.5, ax=axs[1]) is axs[1].figure
    raw, smoothed = axs[1].lines[:2]
    np.testing.assert_allclose(smoothed.get_ydata(), smooth(values["fc1"], 0.5))
    assert raw.get_color() == smoothed.get_color() and raw.get_alpha() < 1
    assert len(axs[1].lines) == 4 and not axs[0].lines  # no epoch lines without their length
    assert axs[1].get_ylabel() == "loss (smoothed)"
    with pytest.raises(ValueError, match="empty"):
        plot_per_step({}, "loss")


def test_plot_sgd_directions_draws_the_gradient_the_velocity_and_the_look_ahead() -> None:
    from rpslib.optim import sgd_directions
    from rpslib.plots import plot_sgd_directions

    grads = torch.tensor([1.0, -0.5, 2.0, 0.0, 1.5])
    fig = plot_sgd_directions(grads, momentum=0.8, name="weight's gradient")
    ax = fig.axes[0]
    gradient, velocity, look_ahead = ax.lines[:3]
    directions = sgd_directions(grads, 0.8)
    np.testing.assert_array_equal(gradient.get_xdata(), [1, 2, 3, 4, 5])
    np.testing.assert_allclose(gradient.get_ydata(), grads.numpy())
    np.testing.assert_allclose(velocity.get_ydata(), directions.momentum.numpy())
    np.testing.assert_allclose(look_ahead.get_ydata(), directions.nesterov.numpy())
    assert velocity.get_ydata()[1] == pytest.approx(0.8 * 1.0 - 0.5)  # b = 0.8 b + g
    assert look_ahead.get_ydata()[1] == pytest.approx(-0.5 + 0.8 * 0.3)  # g + 0.8 b
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "weight's gradient (plain SGD)", "velocity (momentum)", "look-ahead (Nesterov)"]
    assert ax.get_title() == "momentum = 0.8"
    _, axs = plt.subplots(1, 2)
    assert plot_sgd_directions(grads, 0.9, dampening=0.5, ax=axs[1]) is axs[1].figure
    assert axs[1].get_title() == "momentum = 0.9, dampening = 0.5" and not axs[0].lines
    with pytest.raises(ValueError, match="expected a non-empty"):
        plot_sgd_directions(torch.zeros(5, 2))


def test_plot_lr_schedule_draws_lr_sequence_and_leaves_the_scheduler_alone() -> None:
    from torch.optim import lr_scheduler as S

    from rpslib.plots import plot_lr_schedule
    from rpslib.schedulers import lr_sequence, momentum_sequence

    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=0.1, momentum=0.9)
    cyclic = S.CyclicLR(optimizer, base_lr=0.01, max_lr=0.1, step_size_up=4)
    before = (cyclic.state_dict(), optimizer.state_dict()["param_groups"][0]["lr"])
    fig = plot_lr_schedule(cyclic, 20, momentum=True)
    assert (cyclic.state_dict(), optimizer.param_groups[0]["lr"]) == before
    ax, right = fig.axes
    np.testing.assert_allclose(ax.lines[0].get_ydata(), lr_sequence(cyclic, 20))
    np.testing.assert_allclose(ax.lines[0].get_xdata(), np.arange(20))
    np.testing.assert_allclose(right.lines[0].get_ydata(), momentum_sequence(cyclic, 20))
    assert ax.get_xlabel() == "mini-batch" and ax.get_title() == "CyclicLR"

    other = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    plateau = S.ReduceLROnPlateau(other, factor=0.5, patience=0)
    fig, axs = plt.subplots(1, 2)
    assert plot_lr_schedule(plateau, 4, ax=axs[1], metrics=[1.0, 1.0, 1.0, 0.5],
                            title="plateau") is fig
    np.testing.assert_allclose(axs[1].lines[0].get_ydata(), [0.1, 0.1, 0.05, 0.025])
    assert axs[1].get_xlabel() == "epoch" and len(fig.axes) == 2  # no momentum axis

    # warm restarts: per mini-batch with the fractional epoch, else each step is an epoch
    restarts = S.CosineAnnealingWarmRestarts(
        torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1), T_0=1)
    by_batch = plot_lr_schedule(restarts, 12, steps_per_epoch=4).axes[0]
    np.testing.assert_allclose(by_batch.lines[0].get_ydata(),
                               lr_sequence(restarts, 12, steps_per_epoch=4))
    assert by_batch.get_xlabel() == "mini-batch"
    assert plot_lr_schedule(restarts, 12).axes[0].get_xlabel() == "epoch"
