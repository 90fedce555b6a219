"""The course's recipe in one place: standardized loaders, CNN2 trained, accuracy.

Chapters 2 to 4 write these steps out, one line at a time, as the lesson; later code (the
finale of chapter 8, ``tests/test_lessons.py``, ``tools/stand_in_report.py``) reuses them
from here so every model of the course is trained the same way:

- 28x28 images standardized with the *training* statistics only (no leakage), batches of 16;
- CNN2 with five filters, built after ``torch.manual_seed(seed)``; Adam with ``lr=3e-4``
  unless another optimizer is given (``build_cnn2``); ten epochs; ``train(epochs, seed=seed)``
  (``train_cnn2`` does both).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from torchvision.transforms import Normalize

from rpslib.data import load_tensors
from rpslib.models import CNN2
from rpslib.trainer import Architecture

__all__ = ["accuracy", "build_cnn2", "standardized_loaders", "train_cnn2"]

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
