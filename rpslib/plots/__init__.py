"""Figures of the course: plain functions that take numbers and return a matplotlib Figure.

They never call ``plt.show()`` and never change matplotlib's global style (no
``plt.style.use``, no ``rcParams``); pass ``ax`` (or ``axs``) to draw into axes of your own
figure.  Choosing what a figure shows (``pick_mistakes``) is computation, kept apart from the
drawing.

One module per topic, each name handed on from here (``from rpslib.plots import plot_losses``):

- ``rpslib.plots.images``: samples, images with predictions, mistakes, the confusion matrix,
  filters and a layer's outputs (chapters 1, 2 and 6);
- ``rpslib.plots.dropout``: dropout's sums and 2-D dropout's feature maps (chapter 3);
- ``rpslib.plots.training``: losses, the LR range test, a grid search, per-step curves and
  learning-rate schedules (chapters 2, 4, 6 and 8);
- ``rpslib.plots.optimizers``: moving averages, Adam, SGD's directions and loss surfaces
  (chapters 5, 6 and 7).
"""

from rpslib.plots.dropout import (
    plot_channel_dropout,
    plot_dropout_distributions,
    plot_dropout_sums,
)
from rpslib.plots.images import (
    pick_mistakes,
    plot_confusion_matrix,
    plot_filters,
    plot_images,
    plot_outputs,
    plot_samples,
)
from rpslib.plots.optimizers import (
    plot_adam_betas,
    plot_adam_gradients,
    plot_average_weights,
    plot_loss_surface,
    plot_moving_averages,
    plot_sgd_directions,
)
from rpslib.plots.training import (
    plot_losses,
    plot_lr_grid,
    plot_lr_range,
    plot_lr_schedule,
    plot_per_step,
)

__all__ = ["pick_mistakes", "plot_adam_betas", "plot_adam_gradients", "plot_average_weights",
           "plot_channel_dropout", "plot_confusion_matrix", "plot_dropout_distributions",
           "plot_dropout_sums", "plot_filters", "plot_images", "plot_losses", "plot_loss_surface",
           "plot_lr_grid", "plot_lr_range", "plot_lr_schedule", "plot_moving_averages",
           "plot_outputs", "plot_per_step", "plot_samples", "plot_sgd_directions"]
