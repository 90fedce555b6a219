"""The shared recipe: loaders standardized with training statistics, CNN2 trained the same way."""

from __future__ import annotations

from pathlib import Path

import torch
from torch.optim.lr_scheduler import StepLR

from rpslib.data import load_tensors
from rpslib.recipes import accuracy, standardized_loaders, train_cnn2


def test_loaders_use_the_training_statistics_only(tiny_rps: tuple[Path, Path]) -> None:
    train_loader, val_loader, normalizer = standardized_loaders(*tiny_rps)
    x = load_tensors(tiny_rps[0]).tensors[0]
    pixels = x.transpose(0, 1).reshape(3, -1)
    torch.testing.assert_close(normalizer.mean, pixels.mean(dim=1))
    images, _ = next(iter(val_loader))
    assert images.shape[1:] == (3, 28, 28)
    assert len(train_loader.dataset) == 12 and len(val_loader.dataset) == 6  # type: ignore[arg-type]


def test_train_cnn2_is_the_recipe_and_reproducible(tiny_rps: tuple[Path, Path]) -> None:
    train_loader, val_loader, _ = standardized_loaders(*tiny_rps)
    first = train_cnn2(train_loader, val_loader, p=0.3, seed=13, epochs=2)
    again = train_cnn2(train_loader, val_loader, p=0.3, seed=13, epochs=2)
    assert first.losses == again.losses and len(first.val_losses) == 2
    assert isinstance(first.optimizer, torch.optim.Adam)
    assert first.optimizer.param_groups[0]["lr"] == 3e-4
    assert 0.0 <= accuracy(first, val_loader) <= 1.0


def test_train_cnn2_with_another_optimizer_and_a_scheduler(tiny_rps: tuple[Path, Path]) -> None:
    train_loader, val_loader, _ = standardized_loaders(*tiny_rps)
    arch = train_cnn2(train_loader, None, epochs=3,
                      make_optimizer=lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9),
                      make_scheduler=lambda o: StepLR(o, step_size=1, gamma=0.5))
    assert arch.learning_rates == [0.1, 0.05, 0.025]
