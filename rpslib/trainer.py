"""The course's trainer: ``Architecture`` holds a model, its loss and its optimizer, and trains.

``Architecture`` is the ``StepByStep`` class of Godoy's "Deep Learning with PyTorch
Step-by-Step", renamed as in the slides, with the same public names (``set_loaders``,
``train``, ``predict``, ``correct``, ``loader_apply``, ``statistics_per_channel``,
``make_normalizer``, ...).  It fixes two defects of the slides' version: ``correct`` builds no
autograd graph and leaves the model in the mode it found it, and ``make_normalizer`` can give
the exact (pooled) standard deviation of the data set as well as the slides' approximation.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from torch import Tensor, nn
from torch.utils.data import DataLoader
from torchvision.transforms import Normalize

from rpslib import plots
from rpslib.progress import progress as progress_bar
from rpslib.runtime import default_device, deterministic_cudnn, torch_threads

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

        # Set later, by set_loaders
        self.train_loader: DataLoader[Any] | None = None
        self.val_loader: DataLoader[Any] | None = None

        # Computed while training
        self.losses: list[float] = []
        self.val_losses: list[float] = []
        self.total_epochs = 0

    def __repr__(self) -> str:
        return (
            f"Architecture(model={type(self.model).__name__}, "
            f"loss_fn={type(self.loss_fn).__name__}, "
            f"optimizer={type(self.optimizer).__name__}, device={self.device!r}, "
            f"total_epochs={self.total_epochs})"
        )

    def to(self, device: str | torch.device) -> None:
        """Use ``device`` (e.g. ``"cpu"``) from now on, and move the model there.

        Introduced in chapter 2.
        """
        self.device = str(device)
        self.model.to(self.device)
        # the optimizer's state (Adam's averages) must follow its parameters
        for state in self.optimizer.state.values():
            for key, value in state.items():
                if isinstance(value, Tensor) and key != "step":
                    state[key] = value.to(self.device)

    def set_loaders(self, train_loader: DataLoader[Any],
                    val_loader: DataLoader[Any] | None = None) -> None:
        """Use these loaders of (images, labels) mini-batches for training and validation.

        Introduced in chapter 2.
        """
        self.train_loader = train_loader
        self.val_loader = val_loader

    def set_seed(self, seed: int = 42) -> None:
        """Seed torch, numpy and ``random`` (and the training loader's own generator, if any).

        ``train`` calls it, so the same seed gives the same shuffling, the same dropout masks
        and therefore the same losses (``train`` also makes cuDNN deterministic while it runs,
        and restores its flags afterwards).

        Introduced in chapter 2.
        """
        torch.manual_seed(seed)  # also seeds every GPU
        np.random.seed(seed)  # noqa: NPY002 (seeds the legacy np.random.* functions)
        random.seed(seed)
        # A loader built with DataLoader(..., generator=g) shuffles with g, not torch's seed
        generator = getattr(getattr(self.train_loader, "sampler", None), "generator", None)
        if isinstance(generator, torch.Generator):
            generator.manual_seed(seed)

    # ----------------------------------------------------------------------------- training

    def _train_step(self, x: Tensor, y: Tensor) -> Tensor:
        """One gradient-descent step on a mini-batch; returns its (detached) loss."""
        yhat = self.model(x)  # Step 1: forward pass, the predictions
        loss = self.loss_fn(yhat, y)  # Step 2: the loss
        loss.backward()  # Step 3: the gradients
        self.optimizer.step()  # Step 4: update the parameters...
        self.optimizer.zero_grad()  # ...and clear the gradients for the next step
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

    def train(self, n_epochs: int, seed: int = 42, progress: bool | None = None,
              num_threads: int | None = 1) -> None:
        """Train for ``n_epochs`` epochs, validating after each one if there is a val_loader.

        Appends each epoch's mean mini-batch loss to ``losses`` (and ``val_losses``).

        Args:
            n_epochs: number of passes over the training loader.
            seed: passed to ``set_seed`` first, so the same seed gives the same losses.
            progress: show a progress bar over the epochs (``None``: unless the environment
                variable ``RPSLIB_PROGRESS=0``).
            num_threads: CPU threads torch computes with while training (on the CPU only;
                restored afterwards).  ``None`` keeps torch's own setting, which on a 2-core
                machine is much slower as soon as anything else keeps a core busy.

        Introduced in chapter 2.
        """
        if self.train_loader is None:
            raise ValueError("no training data: call set_loaders(train_loader, val_loader) first")
        self.set_seed(seed)
        on_cpu = torch.device(self.device).type == "cpu"
        disable = None if progress is None else not progress
        with torch_threads(num_threads if on_cpu else None), deterministic_cudnn(), \
                progress_bar(range(n_epochs), disable=disable, desc="Epochs", unit="epoch") as bar:
            for _ in bar:
                # Training: the model in train mode (dropout on), updating the parameters
                self.model.train()
                self.losses.append(self._mini_batch(validation=False))
                postfix = {"loss": f"{self.losses[-1]:.4f}"}
                # Validation: eval mode, no gradients
                if self.val_loader is not None:
                    with self._evaluating():
                        self.val_losses.append(self._mini_batch(validation=True))
                    postfix["val_loss"] = f"{self.val_losses[-1]:.4f}"
                self.total_epochs += 1  # counted once the epoch is complete
                bar.set_postfix(postfix, refresh=False)  # drawn with the next tick

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

    def predict(self, x: Tensor | np.ndarray) -> np.ndarray:
        """The model's outputs for a batch ``x`` (N, ...), as a numpy array, e.g. (N, 3) logits.

        Runs in eval mode without gradients and leaves the model in the mode it was in.

        Introduced in chapter 2.
        """
        with self._evaluating():
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
        with self._evaluating():
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

    @staticmethod
    def loader_apply(loader: DataLoader[Any], func: Callable[[Tensor, Tensor], Tensor],
                     reduction: str = "sum") -> Tensor:
        """Apply ``func(x, y)`` to every mini-batch and reduce the results over mini-batches.

        Args:
            loader: gives (x, y) mini-batches.
            func: returns a tensor of the same shape for every mini-batch, e.g.
                ``statistics_per_channel`` (3, C) or ``arch.correct`` (n_classes, 2).
            reduction: ``"sum"`` or ``"mean"`` over the mini-batches.

        Returns:
            A tensor of the shape ``func`` returns.

        Introduced in chapter 1.
        """
        if reduction not in ("sum", "mean"):
            raise ValueError(f"reduction must be 'sum' or 'mean', got {reduction!r}")
        # (n_batches, *shape of one result)
        results = torch.stack([func(x, y) for x, y in loader], dim=0)
        if reduction == "sum":
            return results.sum(dim=0)
        if not results.is_floating_point():
            results = results.float()
        return results.mean(dim=0)

    @staticmethod
    def statistics_per_channel(images: Tensor, labels: Tensor) -> Tensor:
        """Per-channel sums over a mini-batch of images (N, C, H, W), as the slides use them.

        Returns:
            A (3, C) tensor; column c is channel c:
            row 0: the number of images N (the same in every column),
            row 1: the sum over images of each image's mean pixel value,
            row 2: the sum over images of each image's standard deviation (unbiased, as
            ``torch.std``).
            ``labels`` is not used; it is there so ``loader_apply`` can call this.

        Introduced in chapter 1.
        """
        n_samples, n_channels = images.shape[:2]
        # (N, C, H * W): the pixels of each image, channel by channel
        flat = images.reshape(n_samples, n_channels, -1)
        means = flat.mean(dim=2)  # (N, C)
        stds = flat.std(dim=2)  # (N, C)
        counts = torch.full((n_channels,), float(n_samples), dtype=means.dtype,
                            device=means.device)
        return torch.stack([counts, means.sum(dim=0), stds.sum(dim=0)], dim=0)

    @staticmethod
    def moments_per_channel(images: Tensor, labels: Tensor) -> Tensor:
        """Per-channel pixel count, sum and sum of squares of a mini-batch (N, C, H, W).

        Returns:
            A float64 (3, C) tensor: row 0 the number of pixels N * H * W, row 1 the sum of the
            pixel values, row 2 the sum of their squares.  Summed over all mini-batches (with
            ``loader_apply``) they give the exact mean and std of the whole data set.
            ``labels`` is not used.

        Introduced in chapter 1.
        """
        n_samples, n_channels = images.shape[:2]
        # (N, C, H * W) in float64, so sums over a whole data set stay exact enough
        flat = images.reshape(n_samples, n_channels, -1).double()
        counts = torch.full((n_channels,), float(flat.shape[0] * flat.shape[2]),
                            dtype=flat.dtype, device=flat.device)
        return torch.stack([counts, flat.sum(dim=(0, 2)), (flat**2).sum(dim=(0, 2))], dim=0)

    @staticmethod
    def make_normalizer(loader: DataLoader[Any], pooled: bool = False) -> Normalize:
        """A ``Normalize(mean, std)`` transform with the per-channel statistics of the loader.

        The mean is the same either way (every image has the same number of pixels).  The
        std is not:

        - ``pooled=False`` (the slides): the average of the per-image standard deviations.  It
          ignores how much the images differ from one another (a dark and a bright image), so
          it is smaller than the data set's std: good enough to bring the inputs near unit
          scale, but not the data set's std.
        - ``pooled=True``: the exact std of all the pixel values of the channel, over all
          images (population std, dividing by the number of pixels).

        Introduced in chapter 1.
        """
        if pooled:
            n_pixels, sums, sums_of_squares = Architecture.loader_apply(
                loader, Architecture.moments_per_channel)
            mean = sums / n_pixels
            # variance = E[x^2] - E[x]^2 (in float64; clamped at 0 against rounding)
            std = (sums_of_squares / n_pixels - mean**2).clamp(min=0).sqrt()
        else:
            n_images, sum_means, sum_stds = Architecture.loader_apply(
                loader, Architecture.statistics_per_channel)
            mean = sum_means / n_images
            std = sum_stds / n_images
        return Normalize(mean=mean.float().cpu(), std=std.float().cpu())

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
        """Save what resuming training needs: epochs, model, optimizer and losses.

        Introduced in chapter 2.
        """
        checkpoint = {
            "epoch": self.total_epochs,
            "model_state_dict": self.model.state_dict(),
            "optimizer_state_dict": self.optimizer.state_dict(),
            "losses": self.losses,
            "val_losses": self.val_losses,
        }
        torch.save(checkpoint, filename)

    def load_checkpoint(self, filename: str | os.PathLike[str]) -> None:
        """Restore a ``save_checkpoint`` file into this model and optimizer, in train mode.

        The model and the optimizer must be built as the saved ones were.

        Introduced in chapter 2.
        """
        # weights_only=True: load tensors and plain values only, never run pickled code
        checkpoint = torch.load(filename, weights_only=True, map_location=self.device)
        self.model.load_state_dict(checkpoint["model_state_dict"])
        self.optimizer.load_state_dict(checkpoint["optimizer_state_dict"])
        self.total_epochs = checkpoint["epoch"]
        self.losses = list(checkpoint["losses"])
        self.val_losses = list(checkpoint["val_losses"])
        self.model.train()  # always resume in train mode
