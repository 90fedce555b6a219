"""The trainer's callbacks fire at the right moments, only for training steps, and always end."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from rpslib.callbacks import Callback
from rpslib.trainer import Architecture
from tests.test_trainer import arch_60, loss_failing_at, make_arch


class Recorder(Callback):
    """Records every event, and what the gradients and parameters look like at each."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.grads_at_begin: list[bool] = []
        self.updated_before_step: list[bool] = []
        self.updated_after_step: list[bool] = []
        self.epoch_losses: list[tuple[float, float | None]] = []
        self._params: list[Tensor] = []

    def on_train_begin(self, arch: Architecture) -> None:
        self.events.append("train_begin")

    def on_step_begin(self, arch: Architecture) -> None:
        self.events.append("step_begin")
        self.grads_at_begin.append(any(p.grad is not None and bool(p.grad.any())
                                       for p in arch.model.parameters()))
        self._params = [p.detach().clone() for p in arch.model.parameters()]

    def on_after_backward(self, arch: Architecture, loss: Tensor) -> None:
        self.events.append("after_backward")
        assert all(p.grad is not None for p in arch.model.parameters())
        self.updated_before_step.append(self._changed(arch))

    def on_step_end(self, arch: Architecture, loss: Tensor) -> None:
        self.events.append("step_end")
        assert loss.ndim == 0 and not loss.requires_grad
        self.updated_after_step.append(self._changed(arch))

    def on_epoch_end(self, arch: Architecture, loss: float, val_loss: float | None) -> None:
        self.events.append("epoch_end")
        self.epoch_losses.append((loss, val_loss))

    def on_train_end(self, arch: Architecture) -> None:
        self.events.append("train_end")

    def _changed(self, arch: Architecture) -> bool:
        return any(not torch.equal(a, b) for a, b in zip(self._params, arch.model.parameters(),
                                                         strict=True))


def test_events_come_in_order_for_training_steps_only() -> None:
    arch = make_arch()  # 64 training images in batches of 16, 32 validation images
    recorder = arch.add_callback(Recorder())
    assert isinstance(recorder, Recorder)
    arch.train(2, progress=False)
    epoch = ["step_begin", "after_backward", "step_end"] * 4 + ["epoch_end"]
    assert recorder.events == ["train_begin"] + epoch * 2 + ["train_end"]
    assert recorder.grads_at_begin == [False] * 8  # zeroed before each step
    assert recorder.updated_before_step == [False] * 8  # backward does not update
    assert recorder.updated_after_step == [True] * 8
    assert recorder.epoch_losses == list(zip(arch.losses, arch.val_losses, strict=True))


def test_without_validation_the_epoch_gets_none() -> None:
    arch = arch_60()
    recorder = arch.add_callback(Recorder())
    arch.train(1, progress=False)
    assert isinstance(recorder, Recorder)
    assert recorder.epoch_losses == [(arch.losses[0], None)]
    assert recorder.events.count("step_begin") == 4  # 16 + 16 + 16 + 12 images


def test_removed_callbacks_are_not_called() -> None:
    arch = make_arch()
    recorder = Recorder()
    arch.add_callback(recorder)
    arch.add_callback(recorder)  # added once only
    assert arch.callbacks == [recorder]
    arch.remove_callback(recorder)
    arch.remove_callback(recorder)  # nothing happens
    arch.train(1, progress=False)
    assert recorder.events == []


class Boom(Exception):
    pass


def test_train_end_runs_when_a_step_fails() -> None:
    arch = make_arch()
    recorder = arch.add_callback(Recorder())
    arch.loss_fn = loss_failing_at(3, Boom("the third step fails"))
    with pytest.raises(Boom):
        arch.train(2, progress=False)
    assert isinstance(recorder, Recorder)
    assert recorder.events[-1] == "train_end" and recorder.events.count("step_end") == 2
    assert arch.losses == [] and arch.total_epochs == 0


def test_every_callback_gets_train_end_even_if_one_fails() -> None:
    class FailsAtEnd(Callback):
        def on_train_end(self, arch: Architecture) -> None:
            raise Boom("cleanup failed")

    arch = make_arch()
    arch.add_callback(FailsAtEnd())
    recorder = arch.add_callback(Recorder())
    with pytest.raises(Boom):
        arch.train(1, progress=False)
    assert isinstance(recorder, Recorder) and recorder.events[-1] == "train_end"


def test_the_base_class_does_nothing() -> None:
    arch = make_arch()
    arch.add_callback(Callback())
    arch.train(1, seed=2, progress=False)
    plain = make_arch()
    plain.train(1, seed=2, progress=False)
    assert arch.losses == plain.losses
    assert repr(Callback()) == "Callback()"
