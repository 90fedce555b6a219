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



class Seen(torch.utils.data.TensorDataset):
    """A dataset that remembers which images it was asked for, in order."""

    def __init__(self, *tensors: torch.Tensor) -> None:
        super().__init__(*tensors)
        self.asked: list[int] = []

    def __getitem__(self, index: int) -> tuple[torch.Tensor, ...]:
        self.asked.append(int(index))
        return super().__getitem__(index)


def epochs_seen(generator: torch.Generator | None, p: float, epochs: int = 3) -> list[list[int]]:
    """The order in which a CNN2 with dropout ``p`` sees the images, epoch by epoch."""
    from torch import nn
    from torch.utils.data import DataLoader

    from rpslib import CNN2, Architecture

    torch.manual_seed(0)
    x, y = torch.randn(48, 3, 28, 28), torch.randint(0, 3, (48,))
    data = Seen(x, y)
    loader = DataLoader(data, batch_size=16, shuffle=True, generator=generator)
    model = CNN2(n_feature=5, p=p)
    arch = Architecture(model, nn.CrossEntropyLoss(), torch.optim.Adam(model.parameters()))
    arch.set_loaders(loader)
    arch.train(epochs, seed=13, progress=False)
    return [data.asked[i:i + len(data)] for i in range(0, len(data.asked), len(data))]


def test_the_recipes_loader_shuffles_with_a_generator_of_its_own(
        tiny_rps: tuple[Path, Path]) -> None:
    train_loader, val_loader, _ = standardized_loaders(*tiny_rps)
    assert isinstance(train_loader.generator, torch.Generator)
    assert val_loader.generator is None  # in file order: nothing to shuffle


def test_dropout_changes_the_mini_batches_unless_the_loader_has_its_own_generator() -> None:
    # the loader's own generator, seeded by train(seed=...): the same batches in every epoch
    own = [epochs_seen(torch.Generator(), p) for p in (0.0, 0.5)]
    assert own[0] == own[1] and len(own[0]) == 3
    # torch's global generator, shared with dropout's masks: the same first epoch only
    shared = [epochs_seen(None, p) for p in (0.0, 0.5)]
    assert shared[0][0] == shared[1][0] and shared[0][1:] != shared[1][1:]
