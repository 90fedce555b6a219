"""The shared recipe: loaders standardized with training statistics, CNN2 trained the same way."""

from __future__ import annotations

from pathlib import Path

import pytest
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


def test_accuracy_counts_like_plain_pytorch_and_leaves_the_shuffling(
        tiny_rps: tuple[Path, Path]) -> None:
    train_loader, val_loader, _ = standardized_loaders(*tiny_rps, batch_size=4)
    arch = train_cnn2(train_loader, val_loader, seed=13, epochs=2)
    x, y = train_loader.dataset.tensors  # type: ignore[attr-defined]
    arch.model.eval()
    with torch.no_grad():
        expected = (arch.model(x).argmax(dim=1) == y).float().mean().item()
    arch.model.train()
    # a shuffled loader without a generator of its own draws its order from torch's
    before = (train_loader.generator or torch.default_generator).get_state()
    assert accuracy(arch, train_loader, batch_size=5) == pytest.approx(expected)
    after = (train_loader.generator or torch.default_generator).get_state()
    assert torch.equal(after, before)  # later shuffles are as without it
    assert arch.model.training


def test_train_cnn2_with_another_optimizer_and_a_scheduler(tiny_rps: tuple[Path, Path]) -> None:
    train_loader, val_loader, _ = standardized_loaders(*tiny_rps)
    arch = train_cnn2(train_loader, None, epochs=3,
                      make_optimizer=lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9),
                      make_scheduler=lambda o: StepLR(o, step_size=1, gamma=0.5))
    assert arch.learning_rates == [0.1, 0.05, 0.025]
