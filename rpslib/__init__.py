"""rpslib: the tested helper package of the *Rock, Paper, Scissors* deep-learning course.

Modules, one concern each:

* ``rpslib.data``: get the images (:func:`~rpslib.data.get_rps`), load them safely and fast;
* ``rpslib.download``: the real dataset, verified; ``rpslib.handgen``: the offline stand-in;
* ``rpslib.models``: :class:`~rpslib.models.CNN2`; ``rpslib.trainer``:
  :class:`~rpslib.trainer.Architecture`;
* ``rpslib.plots``: figures (computation never draws);
* ``rpslib.progress``, ``rpslib.runtime``: progress bars, device and CPU threads.

Importing the package changes no global state: no plotting style, no random seeds.
"""

from rpslib.models import CNN2
from rpslib.trainer import Architecture

__all__ = ["CNN2", "Architecture"]
__version__ = "0.1.0"
