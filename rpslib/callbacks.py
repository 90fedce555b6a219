"""Callbacks: the points in ``Architecture.train`` where other code may step in.

The trainer stays a plain training loop.  What later chapters add to it (a learning-rate
scheduler that steps after every mini-batch, hooks that capture gradients after each
backward pass, a range test that records each step's loss) plugs in here instead of growing
the loop: a ``Callback`` overrides the events it needs, and the trainer calls them in order::

    on_train_begin                      once, when train() starts
      on_step_begin                     before each training step (gradients are zero)
        on_after_backward(loss)         gradients computed, parameters not yet updated
      on_step_end(loss)                 after the optimizer's step
    on_epoch_end(loss, val_loss)        after each epoch, with its mean losses
    on_train_end                        once, always: also when training fails or is stopped

Only training steps fire the step events: validation passes never do.  ``on_train_end`` runs
in a ``finally`` block, so a callback that attached something (a hook, a changed setting)
in ``on_train_begin`` can always take it off again.

The chapters use it from chapter 4 on (the learning-rate range test plugs in here).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import Tensor

if TYPE_CHECKING:  # for type hints only: the trainer imports this module
    from rpslib.trainer import Architecture

__all__ = ["Callback", "end_training"]


class Callback:
    """Base class of the trainer's callbacks: override the events you need; the rest do nothing.

    Each event receives the ``Architecture`` that is training, so a callback can read
    ``arch.model``, ``arch.optimizer`` or ``arch.total_epochs``.  Losses are given as the
    trainer has them: a step's loss as a 0-dim tensor (detached; call ``.item()`` only if you
    need the number, since that waits for the GPU), an epoch's mean losses as floats.
    """

    def on_train_begin(self, arch: Architecture) -> None:
        """``train()`` starts (after seeding, before the first epoch)."""

    def on_step_begin(self, arch: Architecture) -> None:
        """A training step starts: the gradients were just zeroed."""

    def on_after_backward(self, arch: Architecture, loss: Tensor) -> None:
        """``loss.backward()`` filled the gradients; the optimizer has not stepped yet."""

    def on_step_end(self, arch: Architecture, loss: Tensor) -> None:
        """The optimizer updated the parameters with this mini-batch's ``loss``."""

    def on_epoch_end(self, arch: Architecture, loss: float, val_loss: float | None) -> None:
        """An epoch ended: its mean training ``loss`` and ``val_loss`` (``None`` without a
        validation loader) are already in ``arch.losses`` and ``arch.val_losses``."""

    def on_train_end(self, arch: Architecture) -> None:
        """``train()`` ends, normally or with an error (always called: release things here)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def end_training(arch: Architecture) -> None:
    """Call ``on_train_end`` on every callback of ``arch``, even if one fails (then re-raise).

    ``Architecture.train`` calls it in its ``finally`` block.
    """
    errors = []
    for callback in list(arch.callbacks):
        try:
            callback.on_train_end(arch)
        except Exception as err:  # every callback must get its call
            errors.append(err)
    if errors:
        raise errors[0]
