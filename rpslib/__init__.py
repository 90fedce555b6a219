"""rpslib: the tested helper package of the *Rock, Paper, Scissors* deep-learning course.

Modules, one concern each, in the order a reader meets them.

What the chapters teach:

* ``rpslib.stats``: per-channel statistics and the normalizer (chapter 1);
* ``rpslib.models``: :class:`~rpslib.models.CNN2`; ``rpslib.trainer``:
  :class:`~rpslib.trainer.Architecture`, the training loop (chapter 2), with its hook points
  (``rpslib.callbacks``), its random numbers (``rpslib.seeding``) and its checkpoints
  (``rpslib.checkpoints``);
* ``rpslib.regularization``: dropout, computed (chapter 3);
* ``rpslib.lr_finder``: the learning-rate range test (chapter 4);
* ``rpslib.optim``: Adam, SGD and moving averages written by hand (chapters 5 and 7);
* ``rpslib.hooks``: captures of parameters and gradients; ``rpslib.activations``: what
  layers output (chapter 6);
* ``rpslib.schedulers``: learning-rate schedulers in the trainer (chapter 8);
* ``rpslib.recipes``: the recipes that build and train models (the standardized loaders,
  CNN2 trained, ``compare_optimizers``, the finale).

The data, in the package ``rpslib.data``: :func:`~rpslib.data.get_rps`,
:class:`~rpslib.data.ImageFolder` and :func:`~rpslib.data.load_tensors` in the package
itself; ``rpslib.data.download`` (the real dataset, verified), ``rpslib.data.handgen`` and
``rpslib.data.stand_in`` (the offline stand-in: drawing a hand, writing the set),
``rpslib.data.folders`` (locks, leftovers, a full disk).

Around the lessons:

* ``rpslib.plots``: the figures (computation never draws), one module per topic:
  ``rpslib.plots.images``, ``rpslib.plots.dropout``, ``rpslib.plots.training`` and
  ``rpslib.plots.optimizers``; ``rpslib.widgets``: controls that redraw them;
* ``rpslib.exercises``: the checks of the chapters' exercises;
* ``rpslib.parallel``: independent trainings side by side;
* ``rpslib.progress``, ``rpslib.runtime``: progress bars, device and CPU threads.

Importing the package changes no global state: no plotting style, no random seeds.
"""

from rpslib.models import CNN2
from rpslib.trainer import Architecture

__all__ = ["CNN2", "Architecture"]
__version__ = "0.1.0"
