"""The shared recipe: loaders standardized with training statistics, CNN2 trained the same way;
the recipes that train several models: compare_optimizers and the finale."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn
from torch.optim.lr_scheduler import CyclicLR, StepLR
from torch.utils.data import DataLoader, TensorDataset

from rpslib.data import load_tensors
from rpslib.optim import Adam
from rpslib.recipes import (
    accuracy,
    compare_optimizers,
    standardized_loaders,
    train_cnn2,
    train_finale,
)
from rpslib.schedulers import cyclic_bounds


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


class Seen(TensorDataset):
    """A dataset that remembers which images it was asked for, in order."""

    def __init__(self, *tensors: torch.Tensor) -> None:
        super().__init__(*tensors)
        self.asked: list[int] = []

    def __getitem__(self, index: int) -> tuple[torch.Tensor, ...]:
        self.asked.append(int(index))
        return super().__getitem__(index)


def epochs_seen(generator: torch.Generator | None, p: float, epochs: int = 3) -> list[list[int]]:
    """The order in which a CNN2 with dropout ``p`` sees the images, epoch by epoch."""
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


# ------------------------------------------------------------------------ compare_optimizers


def regression() -> tuple[nn.Module, DataLoader[Any]]:
    torch.manual_seed(3)
    x = torch.rand(64, 1)
    y = 1 + 2 * x + 0.1 * torch.randn(64, 1)
    model = nn.Sequential()
    model.add_module("linear", nn.Linear(1, 1))
    return model, DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True)


def test_every_run_starts_from_the_same_state_and_the_model_is_unchanged() -> None:
    model, loader = regression()
    start = {k: v.clone() for k, v in model.state_dict().items()}
    runs = compare_optimizers(model, nn.MSELoss(), {
        "SGD": lambda p: torch.optim.SGD(p, lr=0.1),
        "Adam": lambda p: Adam(p, lr=0.1),
        "SGD again": lambda p: torch.optim.SGD(p, lr=0.1),
    }, loader, n_epochs=3, layers=["linear"])
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, start[name])
    for result in runs.values():
        path = result.paths["linear"]["weight"]
        assert path.shape == (3 * 4 + 1, 1, 1)
        assert torch.equal(path[0], start["linear.weight"])
        assert len(result.losses) == 3 and len(result.step_losses) == 12
    assert runs["SGD"].losses == runs["SGD again"].losses  # same start, same data order
    assert runs["SGD"].losses != runs["Adam"].losses


def test_compare_optimizers_without_paths() -> None:
    model, loader = regression()
    runs = compare_optimizers(model, nn.MSELoss(), {"SGD": lambda p: torch.optim.SGD(p, 0.1)},
                              loader, n_epochs=1)
    assert runs["SGD"].paths == {}
    assert runs["SGD"].shuffles is None  # the loader has no generator of its own


def test_each_run_leaves_the_loaders_own_generator_where_the_same_shuffles_do() -> None:
    model, loader = regression()
    loader = DataLoader(loader.dataset, batch_size=16, shuffle=True, generator=torch.Generator())
    runs = compare_optimizers(model, nn.MSELoss(), {
        "SGD": lambda p: torch.optim.SGD(p, lr=0.1),
        "Adam": lambda p: Adam(p, lr=0.1),
    }, loader, n_epochs=3, seed=5)
    # the oracle: the generator seeded by hand, asked for three epochs' shuffles
    expected = torch.Generator().manual_seed(5)
    for _ in range(3):
        list(DataLoader(loader.dataset, batch_size=16, shuffle=True, generator=expected))
    for run in runs.values():
        assert run.shuffles is not None and torch.equal(run.shuffles, expected.get_state())


# ------------------------------------------------------------------------------- finale


def test_train_finale_is_the_shared_recipe_with_a_cyclical_rate(
        tiny_rps: tuple[Path, Path]) -> None:
    train_loader, val_loader, _ = standardized_loaders(*tiny_rps)
    finale = train_finale(train_loader, val_loader, seed=3, epochs=4, num_iter=20)
    arch = finale.arch
    assert (finale.base_lr, finale.max_lr) == pytest.approx(cyclic_bounds(finale.tracking))
    assert len(finale.tracking["lr"]) >= 3 and finale.base_lr < finale.max_lr
    optimizer = arch.optimizer
    assert isinstance(optimizer, torch.optim.SGD) and optimizer.defaults["nesterov"]
    assert arch.model.p == 0.5  # type: ignore[union-attr]
    assert len(arch.learning_rates) == 4 * len(train_loader)  # once per mini-batch
    assert arch.learning_rates[0] == pytest.approx(finale.base_lr)
    # the range test left nothing behind: the same as training with those bounds directly
    twin = train_cnn2(
        train_loader, val_loader, p=0.5, seed=3, epochs=4,
        make_optimizer=lambda p: torch.optim.SGD(p, lr=1e-4, momentum=0.9, nesterov=True),
        make_scheduler=lambda o: CyclicLR(o, finale.base_lr, finale.max_lr,
                                          step_size_up=len(train_loader)))
    assert arch.losses == twin.losses and arch.learning_rates == twin.learning_rates


# --------------------------------------------------------------------------- the regression


def test_the_regression_is_the_chapters_points_and_start() -> None:
    from rpslib.recipes import make_regression, regression_loaders

    train_loader, val_loader = regression_loaders()
    # the oracle: the points chapters 6 to 8 drew by hand
    g = torch.Generator().manual_seed(42)
    x = torch.rand(120, 1, generator=g)
    y = 1 + 2 * x + 0.1 * torch.randn(120, 1, generator=g)
    assert torch.equal(train_loader.dataset.tensors[0], x[:100])  # type: ignore[attr-defined]
    assert torch.equal(val_loader.dataset.tensors[1], y[100:])  # type: ignore[attr-defined]
    assert train_loader.generator is not None and val_loader.generator is None
    model = make_regression()
    assert [name for name, _ in model.named_parameters()] == ["linear.weight", "linear.bias"]
    assert model.linear.weight.item() == model.linear.bias.item() == -1.0
