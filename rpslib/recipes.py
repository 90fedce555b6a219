"""The course's recipes in one place: the code that builds and trains models for a lesson.

Chapters 2 to 4 write the recipe out, one line at a time, as the lesson; later code (the
finale of chapter 8, ``tests/test_lessons.py``, ``tools/stand_in_report.py``) reuses it from
here so every model of the course is trained the same way:

- 28x28 images standardized with the *training* statistics only (no leakage), batches of 16;
- CNN2 with five filters, built after ``torch.manual_seed(seed)``; Adam with ``lr=3e-4``
  unless another optimizer is given (``build_cnn2``); ten epochs; ``train(epochs, seed=seed)``
  (``train_cnn2`` does both).

The small problem of chapters 6 to 8, whose two parameters can be drawn: a one-feature linear
regression (``regression_loaders``, ``make_regression``).

And the two recipes of later chapters, which train several models: ``compare_optimizers``
(chapters 6 and 7: one model, several optimizers, the same start and mini-batches) and the
finale (chapter 8: ``prepare_finale``, ``train_finale``).  They live here, above the trainer,
because they build ``Architecture`` objects: the modules the trainer imports never import it back.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.optim.lr_scheduler import CyclicLR
from torch.utils.data import DataLoader, TensorDataset
from torchvision.transforms import Normalize

from rpslib.callbacks import Callback
from rpslib.data import load_tensors
from rpslib.models import CNN2
from rpslib.schedulers import cyclic_bounds
from rpslib.trainer import Architecture

__all__ = ["Finale", "Run", "accuracy", "build_cnn2", "compare_optimizers", "make_regression",
           "prepare_finale", "regression_loaders", "standardized_loaders", "train_cnn2",
           "train_finale"]

Loader = DataLoader[tuple[torch.Tensor, ...]]
MakeOptimizer = Callable[[Iterable[Any]], torch.optim.Optimizer]


def standardized_loaders(train_dir: Path | str, test_dir: Path | str, size: int = 28,
                         batch_size: int = 16) -> tuple[Loader, Loader, Normalize]:
    """Both splits as tensors, standardized with the training split's statistics.

    Returns the training loader (shuffled), the validation loader (in file order) and the
    normalizer (its ``mean`` and ``std`` per channel are the training statistics).  Images
    are (N, 3, size, size).  The training loader shuffles with a generator of its own, which
    ``Architecture.train(seed=...)`` seeds: models trained from the same seed see the same
    mini-batches in every epoch, whatever else (dropout) draws random numbers.
    """
    train = load_tensors(train_dir, size=size)
    test = load_tensors(test_dir, size=size, classes=train.classes)
    normalizer = Architecture.make_normalizer(DataLoader(train, batch_size=batch_size))
    x, y = train.tensors
    xv, yv = test.tensors
    train_loader = DataLoader(TensorDataset(normalizer(x), y), batch_size=batch_size,
                              shuffle=True, generator=torch.Generator())
    val_loader = DataLoader(TensorDataset(normalizer(xv), yv), batch_size=batch_size)
    return train_loader, val_loader, normalizer


def accuracy(arch: Architecture, loader: Loader, batch_size: int = 512) -> float:
    """The fraction of the loader's images that ``arch``'s model classifies correctly.

    Counts over ``loader.dataset`` in batches of ``batch_size``, in order: how many images
    the model gets right does not depend on how they are batched, and big batches are
    several times faster than training's 16 (fewer calls).  It leaves the random-number
    generators, and so ``loader``'s next shuffle and any later training, as they were.
    """
    # a generator of its own: iterating any DataLoader draws a seed from its generator
    in_order = DataLoader(loader.dataset, batch_size=batch_size, collate_fn=loader.collate_fn,
                          generator=torch.Generator())
    correct, total = Architecture.loader_apply(in_order, arch.correct).sum(dim=0).tolist()
    return float(correct / total)


def build_cnn2(train_loader: Loader, val_loader: Loader | None, p: float = 0.0,
               seed: int = 13, make_optimizer: MakeOptimizer | None = None,
               make_scheduler: Callable[[torch.optim.Optimizer], Any] | None = None
               ) -> Architecture:
    """CNN2 (five filters, dropout ``p``) ready for the course's recipe, not trained yet.

    The model is built after ``torch.manual_seed(seed)`` (so the same seed gives the same
    initial weights), with its loaders set.

    Args:
        make_optimizer: params -> optimizer; default Adam with ``lr=3e-4`` (the slides').
        make_scheduler: optimizer -> scheduler, attached with ``set_lr_scheduler``.
    """
    torch.manual_seed(seed)
    model = CNN2(n_feature=5, p=p)
    optimizer = (make_optimizer or (lambda params: torch.optim.Adam(params, lr=3e-4)))(
        model.parameters())
    arch = Architecture(model, nn.CrossEntropyLoss(), optimizer)
    arch.set_loaders(train_loader, val_loader)
    if make_scheduler is not None:
        arch.set_lr_scheduler(make_scheduler(arch.optimizer))
    return arch


def train_cnn2(train_loader: Loader, val_loader: Loader | None, p: float = 0.0,
               seed: int = 13, epochs: int = 10, make_optimizer: MakeOptimizer | None = None,
               make_scheduler: Callable[[torch.optim.Optimizer], Any] | None = None,
               progress: bool | None = False) -> Architecture:
    """``build_cnn2`` trained with ``train(epochs, seed=seed)``; returns it.

    Several independent recipes train faster side by side: build each with ``build_cnn2``,
    then ``rpslib.parallel.train_side_by_side(archs, epochs, seed=seed)``.
    """
    arch = build_cnn2(train_loader, val_loader, p=p, seed=seed, make_optimizer=make_optimizer,
                      make_scheduler=make_scheduler)
    arch.train(epochs, seed=seed, progress=progress)
    return arch


def regression_loaders(seed: int = 42, batch_size: int = 16) -> tuple[Loader, Loader]:
    """The one-feature regression of chapters 6 to 8: 100 training and 20 validation points.

    ``y = 1 + 2x + noise``, ``x`` uniform in [0, 1], noise of standard deviation 0.1, drawn
    from a generator seeded with ``seed`` (the same points every time).  Returns the training
    loader (shuffled, with a generator of its own, which ``train(seed=...)`` seeds) and the
    validation loader; each gives (x, y) mini-batches of shape (B, 1).

    Introduced in chapter 6.
    """
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(120, 1, generator=g)
    y = 1 + 2 * x + 0.1 * torch.randn(120, 1, generator=g)
    train_loader = DataLoader(TensorDataset(x[:100], y[:100]), batch_size=batch_size,
                              shuffle=True, generator=torch.Generator())
    val_loader = DataLoader(TensorDataset(x[100:], y[100:]), batch_size=batch_size)
    return train_loader, val_loader


def make_regression(bias: float = -1.0, weight: float = -1.0) -> nn.Sequential:
    """``nn.Linear(1, 1)``, named ``linear``, starting at ``bias`` and ``weight``.

    The chapters start it at (-1, -1), far from the answer near (1, 2), so that the paths of
    its two parameters are long enough to see.

    Introduced in chapter 6.
    """
    linear = nn.Linear(1, 1)
    with torch.no_grad():
        linear.bias.fill_(bias)
        linear.weight.fill_(weight)
    return nn.Sequential(OrderedDict(linear=linear))


@dataclass
class Run:
    """One optimizer's run in ``compare_optimizers``: its losses and its parameter paths.

    ``paths[layer][name]`` is a tensor ``(n_steps + 1, *shape)``: the starting value, then the
    value after each training step.  ``shuffles`` is the state the run left the training
    loader's own generator in (``None`` if the loader has none): runs that started it from
    the same seed and left it in the same state drew the same numbers from it, so they saw
    the same mini-batches in every epoch.

    Introduced in chapter 6.
    """

    losses: list[float]
    val_losses: list[float]
    paths: dict[str, dict[str, Tensor]] = field(default_factory=dict)
    step_losses: list[float] = field(default_factory=list)
    shuffles: Tensor | None = None


def compare_optimizers(model: nn.Module, loss_fn: Callable[[Tensor, Tensor], Tensor],
                       optimizers: Mapping[str, Callable[[Iterable[Any]], torch.optim.Optimizer]],
                       train_loader: DataLoader[Any], n_epochs: int,
                       val_loader: DataLoader[Any] | None = None,
                       layers: Sequence[str] = (), seed: int = 42) -> dict[str, Run]:
    """Train a copy of ``model`` with each optimizer, all from ``model``'s current state.

    Args:
        model: the starting point; it is copied for every run and never changed.
        loss_fn: e.g. ``nn.MSELoss()``.
        optimizers: name -> a function of the parameters that makes the optimizer, e.g.
            ``{"SGD": lambda p: torch.optim.SGD(p, lr=0.1), "Adam": lambda p: Adam(p, lr=0.1)}``.
        train_loader, val_loader: the data, the same for every run.  Give the training
            loader a generator of its own (``DataLoader(..., shuffle=True,
            generator=torch.Generator())``): every run then seeds it with ``seed`` and sees
            the same mini-batches in every epoch, whatever else draws random numbers.
        n_epochs: how long each run trains.
        layers: layers whose parameter paths to record (``capture_parameters``).
        seed: every run starts its random numbers from it (the same mini-batch order).

    Returns:
        name -> ``Run`` (epoch losses, validation losses, per-step losses, paths).

    Introduced in chapter 6.
    """
    class StepLosses(Callback):
        def __init__(self) -> None:
            self.losses: list[float] = []

        def on_step_end(self, arch: Architecture, loss: Tensor) -> None:
            self.losses.append(loss.item())

    runs = {}
    for name, make_optimizer in optimizers.items():
        copied = copy.deepcopy(model)  # every run starts from the same state
        arch = Architecture(copied, loss_fn, make_optimizer(copied.parameters()))
        arch.set_loaders(train_loader, val_loader)
        step_losses = arch.add_callback(StepLosses())
        assert isinstance(step_losses, StepLosses)
        with arch.capture_parameters(list(layers)) if layers else nullcontext() as captured:
            arch.train(n_epochs, seed=seed, progress=False)
        paths = {layer: {p: captured.stacked(layer, p) for p in captured[layer]}
                 for layer in layers} if captured is not None else {}
        rng = arch.rng_state()
        runs[name] = Run(arch.losses, arch.val_losses, paths, step_losses.losses,
                         None if rng is None else rng["generator"])
    return runs


@dataclass
class Finale:
    """The finale: its model (trained by ``train_finale``), the range test and the bounds.

    Introduced in chapter 8.
    """

    arch: Architecture
    tracking: dict[str, list[float]]
    base_lr: float
    max_lr: float


def prepare_finale(train_loader: DataLoader[Any], val_loader: DataLoader[Any] | None,
                   seed: int = 13, p: float = 0.5, momentum: float = 0.9,
                   start_lr: float = 1e-4, end_lr: float = 1.0, num_iter: int = 100,
                   ratio: float = 4.0) -> Finale:
    """The course's finale up to training: CNN2 with dropout, SGD with Nesterov momentum, and
    a cyclical rate whose bounds an LR range test chose.

    1. CNN2 (five filters, dropout ``p``) built after ``torch.manual_seed(seed)``, with
       ``SGD(lr=start_lr, momentum=momentum, nesterov=True)``, runs an LR range test from
       ``start_lr`` to ``end_lr`` over ``num_iter`` mini-batches, shuffled from ``seed``
       (which leaves it untouched);
    2. ``cyclic_bounds`` reads ``base_lr`` and ``max_lr`` off the curve;
    3. the same model is built again with ``build_cnn2`` (same seed, so the
       same initial weights) with ``CyclicLR(base_lr, max_lr, step_size_up=len(train_loader))``
       attached, stepped per mini-batch: one epoch up, one down, so an even number of epochs
       ends at ``base_lr``.  ``CyclicLR`` also cycles the momentum, between 0.8 and 0.9,
       against the rate (PyTorch's default).

    ``Finale.arch`` is ready to ``train(epochs, seed=seed)``; ``train_finale`` does all.

    Introduced in chapter 8.
    """
    def make_optimizer(params: Any) -> torch.optim.Optimizer:
        return torch.optim.SGD(params, lr=start_lr, momentum=momentum, nesterov=True)

    probe = build_cnn2(train_loader, val_loader, p=p, seed=seed, make_optimizer=make_optimizer)
    probe.set_seed(seed)  # the test's mini-batches follow the seed, whatever ran before
    tracking, _ = probe.lr_range_test(train_loader, end_lr=end_lr, num_iter=num_iter, plot=False)
    base_lr, max_lr = cyclic_bounds(tracking, ratio=ratio)

    def make_scheduler(optimizer: torch.optim.Optimizer) -> CyclicLR:
        return CyclicLR(optimizer, base_lr=base_lr, max_lr=max_lr,
                        step_size_up=len(train_loader), mode="triangular")

    arch = build_cnn2(train_loader, val_loader, p=p, seed=seed, make_optimizer=make_optimizer,
                      make_scheduler=make_scheduler)
    return Finale(arch, tracking, base_lr, max_lr)


def train_finale(train_loader: DataLoader[Any], val_loader: DataLoader[Any] | None,
                 seed: int = 13, epochs: int = 10, p: float = 0.5, **kwargs: Any) -> Finale:
    """``prepare_finale`` (same arguments), then ``Finale.arch.train(epochs, seed=seed)``."""
    finale = prepare_finale(train_loader, val_loader, seed=seed, p=p, **kwargs)
    finale.arch.train(epochs, seed=seed, progress=False)
    return finale
