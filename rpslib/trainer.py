"""The course's trainer: ``Architecture`` holds a model, its loss and its optimizer, and trains.

``Architecture`` is the ``StepByStep`` class of Godoy's "Deep Learning with PyTorch
Step-by-Step", renamed as in the slides, with the same public names (``set_loaders``,
``train``, ``predict``, ``correct``, ``loader_apply``, ``statistics_per_channel``,
``make_normalizer``, ...).  It stays a training loop a student can read in one sitting: what
later chapters add plugs in through callbacks (``rpslib.callbacks``), and the statistics,
checkpoints and random-number states live in modules of their own (``rpslib.stats``,
``rpslib.checkpoints``, ``rpslib.seeding``).

It fixes defects of the slides' version: each step zeroes the gradients *before* its forward
pass (a gradient left behind by anything else never leaks into training); training in parts
gives the same run as training at once, also across a checkpoint; ``correct`` builds no
autograd graph and leaves the model in the mode it found it; checkpoints are written
atomically and checked when loaded.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from torch import Tensor, nn
from torch.utils.data import DataLoader

from rpslib import activations, checkpoints, hooks, lr_finder, plots, schedulers, stats
from rpslib.callbacks import Callback, end_training
from rpslib.progress import progress as progress_bar
from rpslib.runtime import default_device, deterministic_cudnn, torch_threads
from rpslib.seeding import RNGState, get_rng_state, seed_everything, set_rng_state

LossFn = Callable[[Tensor, Tensor], Tensor]


class Architecture:
    """Trains a model with a loss function and an optimizer, and evaluates it.

    Attributes:
        model, loss_fn, optimizer: as given.
        device: where the model lives and mini-batches are sent (``"cuda"`` or ``"cpu"``).
        train_loader, val_loader: the data loaders (see ``set_loaders``).
        losses, val_losses: mean training / validation loss of each epoch so far
            (``val_losses`` stays empty without a validation loader).
        total_epochs: the number of epochs trained so far.
        callbacks: ``rpslib.callbacks.Callback`` objects called at each training event
            (see ``add_callback``).

    Example::

        arch = Architecture(CNN2(n_feature=5, p=0.3), nn.CrossEntropyLoss(), optimizer)
        arch.set_loaders(train_loader, val_loader)
        arch.train(10)

    Introduced in chapter 2.
    """

    def __init__(self, model: nn.Module, loss_fn: LossFn, optimizer: torch.optim.Optimizer) -> None:
        self.model = model
        self.loss_fn = loss_fn
        self.optimizer = optimizer
        self.device = default_device()
        self.model.to(self.device)

        self.train_loader: DataLoader[Any] | None = None  # set later, by set_loaders
        self.val_loader: DataLoader[Any] | None = None

        # Computed while training
        self.losses: list[float] = []
        self.val_losses: list[float] = []
        self.total_epochs = 0

        # Where the random numbers stand between train() calls (None: train has not started)
        self._rng_state: RNGState | None = None
        self.callbacks: list[Callback] = []
        self.learning_rates: list[float] = []  # per step, with a scheduler (see rpslib.schedulers)
        self.visualization: dict[str, np.ndarray | None] = {}  # attach_hooks (rpslib.activations)

    def __repr__(self) -> str:
        return (f"Architecture(model={type(self.model).__name__}, loss_fn="
                f"{type(self.loss_fn).__name__}, optimizer={type(self.optimizer).__name__}, "
                f"device={self.device!r}, total_epochs={self.total_epochs})")

    def to(self, device: str | torch.device) -> Architecture:
        """Use ``device`` (e.g. ``"cpu"``) from now on, move the model there; return ``self``.

        Introduced in chapter 2.
        """
        self.device = str(device)
        self.model.to(self.device)
        # the optimizer's state (Adam's averages) must follow its parameters
        for state in self.optimizer.state.values():
            for key, value in state.items():
                if isinstance(value, Tensor) and key != "step":
                    state[key] = value.to(self.device)
        return self

    def set_loaders(self, train_loader: DataLoader[Any],
                    val_loader: DataLoader[Any] | None = None) -> None:
        """Use these loaders of (images, labels) mini-batches for training and validation.

        Introduced in chapter 2.
        """
        self.train_loader = train_loader
        self.val_loader = val_loader

    def set_optimizer(self, optimizer: torch.optim.Optimizer) -> None:
        """Use ``optimizer`` from now on (a scheduler of the old one is detached, with a warning).

        Introduced in chapter 7.
        """
        self.optimizer = optimizer
        schedulers.detach_stale(self)

    def set_lr_scheduler(self, scheduler: schedulers.Scheduler | None) -> None:
        """Step ``scheduler`` while training: per epoch, or per mini-batch for cyclic ones
        (``None`` detaches it); ``learning_rates`` records the rates used.  See
        ``rpslib.schedulers`` for the rules and errors.  Introduced in chapter 8."""
        schedulers.attach(self, scheduler)

    def set_seed(self, seed: int = 42) -> None:
        """Seed torch, numpy and ``random`` (and the training loader's own generator, if any).

        The next ``train`` call starts from this seed: the same seed gives the same shuffling,
        the same dropout masks and therefore the same losses (``train`` also makes cuDNN
        deterministic while it runs, and restores its flags afterwards).

        Introduced in chapter 2.
        """
        seed_everything(seed, self._loader_generator())
        self._rng_state = get_rng_state(self._loader_generator())

    def rng_state(self) -> RNGState | None:
        """Where training's random numbers stand, as ``train`` will carry on (checkpoints)."""
        return self._rng_state

    def set_rng_state(self, state: RNGState | None) -> None:
        """Make the next ``train`` call carry on from ``state`` (``None``: seed 42 afresh)."""
        self._rng_state = state

    def _loader_generator(self) -> torch.Generator | None:
        """The training loader's own generator, if it was built with ``generator=``."""
        # A loader built with DataLoader(..., generator=g) shuffles with g, not torch's seed
        generator = getattr(getattr(self.train_loader, "sampler", None), "generator", None)
        return generator if isinstance(generator, torch.Generator) else None

    # ---------------------------------------------------------------------------- callbacks

    def add_callback(self, callback: Callback) -> Callback:
        """Call ``callback`` at every training event from now on; returns it.

        See ``rpslib.callbacks`` for the events.  ``remove_callback`` takes it off again.
        """
        if not any(added is callback for added in self.callbacks):
            self.callbacks.append(callback)
        return callback

    def remove_callback(self, callback: Callback) -> None:
        """Stop calling ``callback`` (nothing happens if it was not added)."""
        self.callbacks = [added for added in self.callbacks if added is not callback]

    def _fire(self, event: str, *args: Any) -> None:
        """Call ``event`` (e.g. ``"on_step_end"``) on every callback, in the order added."""
        for callback in list(self.callbacks):
            getattr(callback, event)(self, *args)

    # ----------------------------------------------------------------------------- training

    def _train_step(self, x: Tensor, y: Tensor) -> Tensor:
        """One gradient-descent step on a mini-batch; returns its (detached) loss."""
        self.optimizer.zero_grad()  # Step 0: clear the gradients (also any left from before)
        self._fire("on_step_begin")
        yhat = self.model(x)  # Step 1: forward pass, the predictions
        loss = self.loss_fn(yhat, y)  # Step 2: the loss
        loss.backward()  # Step 3: the gradients
        self._fire("on_after_backward", loss.detach())
        self.optimizer.step()  # Step 4: update the parameters
        self._fire("on_step_end", loss.detach())
        return loss.detach()

    def _val_step(self, x: Tensor, y: Tensor) -> Tensor:
        """The loss on a mini-batch, without updating anything (call it under no_grad)."""
        return self.loss_fn(self.model(x), y)

    def _mini_batch(self, validation: bool = False) -> float:
        """One pass over the training (or validation) loader; the mean mini-batch loss."""
        loader = self.val_loader if validation else self.train_loader
        step = self._val_step if validation else self._train_step
        assert loader is not None
        batch_losses = []
        for x, y in loader:
            x, y = x.to(self.device), y.to(self.device)
            # Keep the loss as a tensor: .item() here would wait for the GPU at every step
            batch_losses.append(step(x, y))
        if not batch_losses:
            raise ValueError("the data loader gave no mini-batches: is its dataset empty?")
        return torch.stack(batch_losses).mean().item()

    def train(self, n_epochs: int, seed: int | None = None, progress: bool | None = None,
              num_threads: int | None = 1) -> None:
        """Train for ``n_epochs`` epochs, validating after each one if there is a val_loader.

        Appends each epoch's mean mini-batch loss to ``losses`` (and ``val_losses``).

        The random numbers (shuffling, dropout masks) follow one rule: ``seed`` starts them
        afresh, and a call without ``seed`` carries on where the previous call stopped (the
        very first call starts from seed 42).  So ``train(2)`` then ``train(2)`` gives the same
        losses as ``train(4)``, the same seed gives the same run, and a run resumed from a
        checkpoint continues as if it had never stopped.

        Args:
            n_epochs: number of passes over the training loader.
            seed: start the random numbers from this seed (``set_seed``); ``None``: carry on.
            progress: show a progress bar over the epochs (``None``: unless the environment
                variable ``RPSLIB_PROGRESS=0``).
            num_threads: CPU threads torch computes with while training (on the CPU only;
                restored afterwards).  ``None`` keeps torch's own setting, which on a 2-core
                machine is much slower as soon as anything else keeps a core busy.

        Introduced in chapter 2.
        """
        if self.train_loader is None:
            raise ValueError("no training data: call set_loaders(train_loader, val_loader) first")
        if seed is not None or self._rng_state is None:
            self.set_seed(42 if seed is None else seed)
        else:  # carry on where the last call (or the loaded checkpoint) stopped
            set_rng_state(self._rng_state, self._loader_generator())
        on_cpu = torch.device(self.device).type == "cpu"
        disable = None if progress is None else not progress
        try:
            with torch_threads(num_threads if on_cpu else None), deterministic_cudnn(), \
                    progress_bar(range(n_epochs), disable=disable, desc="Epochs",
                                 unit="epoch") as bar:
                self._fire("on_train_begin")
                for _ in bar:
                    loss, val_loss = self._epoch()
                    postfix = {"loss": f"{loss:.4f}"}
                    if val_loss is not None:
                        postfix["val_loss"] = f"{val_loss:.4f}"
                    bar.set_postfix(postfix, refresh=False)  # drawn with the next tick
                    self._fire("on_epoch_end", loss, val_loss)
        finally:
            # where the next call carries on, even if this one failed or was interrupted
            self._rng_state = get_rng_state(self._loader_generator())
            end_training(self)  # on_train_end for every callback, even if one fails

    def _epoch(self) -> tuple[float, float | None]:
        """Train one epoch, then validate; record both losses together (kept in step)."""
        self.model.train()  # train mode: dropout on, updating the parameters
        loss = self._mini_batch(validation=False)
        val_loss: float | None = None
        try:
            if self.val_loader is not None:
                with self._evaluating():  # eval mode, no gradients
                    val_loss = self._mini_batch(validation=True)
        finally:
            # the epoch was trained either way: it counts (a failed validation reads NaN)
            self.losses.append(loss)
            if self.val_loader is not None:
                self.val_losses.append(math.nan if val_loss is None else val_loss)
            self.total_epochs += 1
        return loss, val_loss

    def lr_range_test(self, data_loader: DataLoader[Any], end_lr: float, num_iter: int = 100,
                      step_mode: str = "exp", alpha: float = 0.05, diverge_th: float = 5,
                      val_loader: DataLoader[Any] | None = None, plot: bool = True,
                      ax: Axes | None = None) -> tuple[dict[str, list[float]], Figure | None]:
        """The learning-rate range test (``rpslib.lr_finder.lr_range_test``), and its plot.

        Returns ``(tracking, fig)``: ``tracking["lr"]`` the learning rate of each iteration,
        ``tracking["loss"]`` the smoothed loss; ``fig`` the curve with the suggested learning
        rates marked (``None`` if ``plot=False``).  The model, optimizer, gradients, modes
        and random numbers are left exactly as they were.

        Introduced in chapter 4.
        """
        tracking = lr_finder.lr_range_test(self, data_loader, end_lr, num_iter=num_iter,
                                           step_mode=step_mode, alpha=alpha,
                                           diverge_th=diverge_th, val_loader=val_loader)
        if not plot:
            return tracking, None
        return tracking, plots.plot_lr_range(tracking, lr_finder.suggest_lrs(tracking), ax=ax)

    # ----------------------------------------------------------------------------- capturing

    def capture_parameters(self, layers_to_hook: str | Sequence[str],
                           summary: bool = False) -> hooks.Capture:
        """Record the layers' parameters: at the start, then after each training step.

        ``capture["fc1"]["weight"]`` lists detached CPU copies (N steps: N + 1 points), or
        their norm, mean and std with ``summary=True``.  Capturing a layer again replaces the
        earlier capture; use it in a ``with`` block, or call ``remove_hooks()``, to stop.

        Introduced in chapter 6.
        """
        return hooks.capture(self, hooks.ParameterCapture, layers_to_hook, summary)

    def capture_gradients(self, layers_to_hook: str | Sequence[str],
                          summary: bool = False) -> hooks.Capture:
        """Record the gradients of the layers' parameters, once per training step's backward.

        Same use as ``capture_parameters`` (see ``rpslib.hooks``).

        Introduced in chapter 6.
        """
        return hooks.capture(self, hooks.GradientCapture, layers_to_hook, summary)

    def remove_hooks(self) -> None:
        """Remove every hook ``capture_*`` and ``attach_hooks`` added, and none other.

        Introduced in chapter 6.
        """
        hooks.remove_captures(self)
        activations.remove_output_hooks(self)

    # Godoy's names for recording and drawing layer outputs (rpslib.activations)
    attach_hooks = activations.attach_hooks
    visualize_outputs = activations.visualize_outputs

    # --------------------------------------------------------------------------- evaluation

    @contextmanager
    def _evaluating(self) -> Iterator[None]:
        """Eval mode and no autograd inside the block; then every layer's previous mode."""
        modes = [(module, module.training) for module in self.model.modules()]
        self.model.eval()
        try:
            with torch.no_grad():
                yield
        finally:
            for module, training in modes:
                module.training = training

    def _one_cpu_thread(self) -> AbstractContextManager[None]:
        """One CPU thread, as in ``train``: a busy second core cannot slow evaluation 20x."""
        return torch_threads(1 if torch.device(self.device).type == "cpu" else None)

    def predict(self, x: Tensor | np.ndarray) -> np.ndarray:
        """The model's outputs for a batch ``x`` (N, ...), as a numpy array, e.g. (N, 3) logits.

        Runs in eval mode without gradients and leaves the model in the mode it was in.

        Introduced in chapter 2.
        """
        with self._evaluating(), self._one_cpu_thread():
            yhat = self.model(torch.as_tensor(x, dtype=torch.float32).to(self.device))
        return yhat.cpu().numpy()

    def correct(self, x: Tensor, y: Tensor, threshold: float = 0.5) -> Tensor:
        """How many of each class the model gets right: rows of [correct, total] per class.

        Args:
            x: a mini-batch of inputs, e.g. images (N, 3, 28, 28).
            y: their labels: class indices (N,) or, for a binary model, 0/1 of shape (N,) or
                (N, 1).
            threshold: for a binary model (one output column), the probability above which the
                prediction is class 1; the logits go through a sigmoid first unless the model
                is an ``nn.Sequential`` ending in ``nn.Sigmoid``.

        Returns:
            An int64 tensor of shape (n_classes, 2) on the CPU; with more than one output column
            the predicted class is the biggest logit (argmax).  Sum over mini-batches with
            ``Architecture.loader_apply(loader, arch.correct)``.

        Runs in eval mode without gradients and leaves the model in the mode it was in (the
        slides' version built a graph and always left train mode).

        Introduced in chapter 2.
        """
        with self._evaluating(), self._one_cpu_thread():
            yhat = self.model(x.to(self.device))
        y = y.to(self.device)
        n_classes = yhat.shape[1]
        if n_classes > 1:
            # Multiclass: the biggest logit wins, no need for probabilities
            predicted = yhat.argmax(dim=1)
        else:
            # Binary: one column of logits (or of probabilities, after a final Sigmoid)
            n_classes = 2
            ends_in_sigmoid = isinstance(self.model, nn.Sequential) and isinstance(
                self.model[-1], nn.Sigmoid)
            probabilities = yhat if ends_in_sigmoid else torch.sigmoid(yhat)
            predicted = (probabilities > threshold).long().view(-1)
            y = y.view(-1)
        y = y.long()
        n_total = torch.bincount(y, minlength=n_classes)
        n_correct = torch.bincount(y[predicted == y], minlength=n_classes)
        return torch.stack([n_correct, n_total], dim=1).cpu()

    def count_parameters(self) -> int:
        """The number of trainable parameters (those with ``requires_grad``).

        Introduced in chapter 2.
        """
        return sum(p.numel() for p in self.model.parameters() if p.requires_grad)

    # ------------------------------------------------------------------- data set statistics
    # The slides' names for rpslib.stats (introduced in chapter 1), e.g. arch.loader_apply

    loader_apply = staticmethod(stats.loader_apply)
    statistics_per_channel = staticmethod(stats.statistics_per_channel)
    moments_per_channel = staticmethod(stats.moments_per_channel)
    make_normalizer = staticmethod(stats.make_normalizer)

    # -------------------------------------------------------------------------------- plots

    def plot_losses(self, ax: Axes | None = None) -> Figure:
        """Training and validation losses per epoch (see ``rpslib.plots.plot_losses``).

        Introduced in chapter 2.
        """
        return plots.plot_losses(self.losses, self.val_losses, ax=ax)

    def visualize_filters(self, layer_name: str, **kwargs: Any) -> Figure:
        """The filters of a convolutional layer, e.g. ``"conv1"``: one row per filter.

        ``kwargs`` go to ``rpslib.plots.plot_filters`` (``cmap``, ``figsize``, ``title``,
        ``axs``).

        Introduced in chapter 2.
        """
        try:
            layer = self.model.get_submodule(layer_name)
        except AttributeError as error:
            convs = [name for name, m in self.model.named_modules() if isinstance(m, nn.Conv2d)]
            raise ValueError(f"the model has no layer {layer_name!r}; its convolutional "
                             f"layers are {convs}") from error
        if not isinstance(layer, nn.Conv2d):
            raise ValueError(f"{layer_name!r} is a {type(layer).__name__}, not an nn.Conv2d: "
                             f"only convolutional layers have filters to show")
        kwargs.setdefault("title", layer_name)
        return plots.plot_filters(layer.weight, **kwargs)

    # -------------------------------------------------------------------------- checkpoints

    def save_checkpoint(self, filename: str | os.PathLike[str]) -> None:
        """Save what resuming needs (model, optimizer, scheduler, losses, random state),
        atomically: see ``rpslib.checkpoints``.  Introduced in chapter 2."""
        checkpoints.save_checkpoint(self, filename)

    def load_checkpoint(self, filename: str | os.PathLike[str]) -> None:
        """Restore a ``save_checkpoint`` file (built alike, or ``CheckpointError`` and nothing
        changes); ``train`` then carries on as if never stopped.  Introduced in chapter 2."""
        checkpoints.load_checkpoint(self, filename)
