"""The lessons must show on the stand-in: the slides' recipe, dropout helps, the statistics.

Slow (about a minute): it trains six CNN2 models on the full stand-in.  CI runs it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from rpslib import CNN2, Architecture
from rpslib.data import load_tensors

pytestmark = pytest.mark.slow

SEEDS = (13, 42, 7)
REAL_MEAN = (0.850, 0.822, 0.812)  # the slides' normalizer on the real training set
REAL_STD = (0.209, 0.251, 0.266)


def standardized_loaders(train_dir: Path, test_dir: Path
                         ) -> tuple[DataLoader[tuple[torch.Tensor, ...]],
                                    DataLoader[tuple[torch.Tensor, ...]]]:
    """28x28 tensors standardized with the *training* statistics (no leakage), batch 16."""
    train, test = load_tensors(train_dir), load_tensors(test_dir)
    normalizer = Architecture.make_normalizer(DataLoader(train, batch_size=16))
    x, y = train.tensors
    xv, yv = test.tensors
    train_loader = DataLoader(TensorDataset(normalizer(x), y), batch_size=16, shuffle=True)
    val_loader = DataLoader(TensorDataset(normalizer(xv), yv), batch_size=16)
    return train_loader, val_loader


def accuracy(arch: Architecture, loader: DataLoader[tuple[torch.Tensor, ...]]) -> float:
    correct, total = Architecture.loader_apply(loader, arch.correct).sum(dim=0).tolist()
    return correct / total


def test_stand_in_statistics_match_the_real_set(full_stand_in: tuple[Path, Path]) -> None:
    train = load_tensors(full_stand_in[0])
    normalizer = Architecture.make_normalizer(DataLoader(train, batch_size=16))
    print(f"stand-in: mean {normalizer.mean.tolist()}, std {normalizer.std.tolist()}")
    for ours, real in zip(normalizer.mean.tolist(), REAL_MEAN, strict=True):
        assert abs(ours - real) <= 0.06
    for ours, real in zip(normalizer.std.tolist(), REAL_STD, strict=True):
        assert abs(ours - real) <= 0.06


def test_slides_recipe_and_dropout(full_stand_in: tuple[Path, Path]) -> None:
    train_loader, val_loader = standardized_loaders(*full_stand_in)
    val_acc: dict[float, list[float]] = {0.0: [], 0.3: []}
    for p in val_acc:
        for seed in SEEDS:
            torch.manual_seed(seed)
            model = CNN2(n_feature=5, p=p)
            arch = Architecture(model, nn.CrossEntropyLoss(),
                                torch.optim.Adam(model.parameters(), lr=3e-4))
            arch.set_loaders(train_loader, val_loader)
            arch.train(10, seed=seed, progress=False)
            train_acc = accuracy(arch, train_loader)
            val_acc[p].append(accuracy(arch, val_loader))
            print(f"p={p} seed={seed}: train {train_acc:.4f}, validation {val_acc[p][-1]:.4f}")
            assert train_acc >= 0.99, f"p={p}, seed={seed}: train accuracy {train_acc:.4f}"
    no_dropout = sum(val_acc[0.0]) / len(SEEDS)
    dropout = sum(val_acc[0.3]) / len(SEEDS)
    print(f"mean validation accuracy: {no_dropout:.4f} without dropout, {dropout:.4f} with")
    assert 0.75 <= no_dropout <= 0.88
    assert dropout >= no_dropout + 0.02
