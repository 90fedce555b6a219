"""Checkpoints: atomic saves, and loads that check the file first and change nothing on error."""

from __future__ import annotations

import copy
import errno
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from rpslib import schedulers
from rpslib.checkpoints import CheckpointError
from rpslib.models import CNN2
from rpslib.trainer import Architecture
from tests.test_trainer import make_arch


def snapshot(arch: Architecture) -> tuple[dict[str, torch.Tensor], dict[str, Any], int]:
    """Everything load_checkpoint could change: parameters, optimizer state, epochs."""
    params = {k: v.clone() for k, v in arch.model.state_dict().items()}
    optimizer = arch.optimizer.state_dict()
    state = {k: {n: t.clone() if isinstance(t, torch.Tensor) else t for n, t in s.items()}
             for k, s in optimizer["state"].items()}
    groups = [{k: v for k, v in g.items()} for g in optimizer["param_groups"]]
    return params, {"state": state, "param_groups": groups}, arch.total_epochs


def assert_same(before: tuple[dict[str, torch.Tensor], dict[str, Any], int],
                arch: Architecture) -> None:
    params, optimizer, epochs = snapshot(arch)
    assert epochs == before[2]
    assert params.keys() == before[0].keys()
    assert all(torch.equal(params[k], before[0][k]) for k in params)
    assert optimizer["param_groups"] == before[1]["param_groups"]
    assert optimizer["state"].keys() == before[1]["state"].keys()
    for key, state in optimizer["state"].items():
        for name, value in state.items():
            saved = before[1]["state"][key][name]
            assert torch.equal(torch.as_tensor(value), torch.as_tensor(saved))


@pytest.fixture
def trained(tmp_path: Path) -> Path:
    arch = make_arch(init_seed=0)
    arch.train(1, seed=1, progress=False)
    path = tmp_path / "good.pth"
    arch.save_checkpoint(path)
    return path


def test_a_failed_save_keeps_the_previous_file(trained: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    good = trained.read_bytes()
    arch = make_arch(init_seed=3)
    arch.train(1, seed=2, progress=False)

    def disk_full(obj: object, f: Any, *args: Any, **kwargs: Any) -> None:
        Path(f).write_bytes(b"PK\x03\x04 half a checkpoint")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(OSError, match="the disk is full") as info:
        arch.save_checkpoint(trained)
    assert info.value.errno == errno.ENOSPC and str(trained) in str(info.value)
    assert trained.read_bytes() == good
    assert sorted(p.name for p in trained.parent.iterdir()) == ["good.pth"]  # no leftovers


def test_a_full_disk_says_so_and_names_the_file(
        tmp_path: Path, small_disk: Callable[[Path, int], None]) -> None:
    """A real full disk: torch's own error is ``unexpected pos 64 vs 0``, which names nothing."""
    folder = tmp_path / "small"
    small_disk(folder, 16)  # the checkpoint takes about 100 KB
    arch = make_arch(init_seed=0)
    with pytest.raises(OSError, match="the disk is full") as info:
        arch.save_checkpoint(folder / "run.pth")
    assert info.value.errno == errno.ENOSPC
    assert str(folder / "run.pth") in str(info.value) and "MB" in str(info.value)
    assert list(folder.iterdir()) == []  # no half-written file left


def damage_truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def damage_not_a_checkpoint(path: Path) -> None:
    torch.save({"weights": torch.zeros(3)}, path)


def damage_garbage(path: Path) -> None:
    path.write_text("this is not a checkpoint at all")


def damage_the_middle(path: Path) -> None:
    """Flip bytes inside the largest tensor's record: the zip still opens, the weights differ."""
    with zipfile.ZipFile(path) as archive:
        record = max(archive.infolist(), key=lambda info: info.file_size)
    data = bytearray(path.read_bytes())
    start = record.header_offset + 30 + len(record.filename) + len(record.extra)
    middle = start + record.compress_size // 2
    data[middle: middle + 16] = bytes(16)
    path.write_bytes(bytes(data))
    assert torch.load(path, weights_only=True)["epoch"] == 1  # torch alone loads it


@pytest.mark.parametrize(("damage", "message"), [
    (damage_truncate, "cannot read the checkpoint"),
    (damage_garbage, "cannot read the checkpoint"),
    (damage_not_a_checkpoint, "not a checkpoint written by save_checkpoint"),
    (damage_the_middle, "is damaged"),
])
def test_a_bad_file_is_refused_and_changes_nothing(trained: Path, damage: Callable[[Path], None],
                                                   message: str) -> None:
    damage(trained)
    arch = make_arch(init_seed=5)
    arch.train(1, seed=4, progress=False)
    before = snapshot(arch)
    with pytest.raises(CheckpointError, match=message) as info:
        arch.load_checkpoint(trained)
    assert trained.name in str(info.value)
    assert_same(before, arch)


def other_model() -> Architecture:
    torch.manual_seed(0)
    model = CNN2(n_feature=4, p=0.3)  # 4 filters, not 5: other shapes
    return Architecture(model, nn.CrossEntropyLoss(),
                        torch.optim.Adam(model.parameters(), lr=1e-2)).to("cpu")


def other_optimizer() -> Architecture:
    arch = make_arch(init_seed=7)
    arch.optimizer = torch.optim.SGD(arch.model.parameters(), lr=0.1, momentum=0.9)
    return arch


class Bigger(CNN2):
    """CNN2 with one more layer: the same class name would not give it away."""

    def __init__(self) -> None:
        super().__init__(n_feature=5, p=0.3)
        self.extra = nn.Linear(3, 3)


def bigger_model() -> Architecture:
    torch.manual_seed(0)
    model = Bigger()
    arch = Architecture(model, nn.CrossEntropyLoss(),
                        torch.optim.Adam(model.parameters(), lr=1e-2)).to("cpu")
    return arch


@pytest.mark.parametrize(("build", "message"), [
    (other_model, "conv1.weight has shape"),
    (other_optimizer, "holds a Adam optimizer, this Architecture has a SGD"),
    (bigger_model, "holds a CNN2 model, this Architecture has a Bigger"),
])
def test_a_checkpoint_of_another_model_or_optimizer_is_refused(
        trained: Path, build: Callable[[], Architecture], message: str) -> None:
    arch = build()
    before = snapshot(arch)
    with pytest.raises(CheckpointError, match=message) as info:
        arch.load_checkpoint(trained)
    assert str(trained) in str(info.value)
    assert_same(before, arch)


def test_other_parameter_names_are_named(trained: Path) -> None:
    checkpoint = torch.load(trained, weights_only=True)
    checkpoint["model_state_dict"]["extra.weight"] = torch.zeros(2)
    torch.save(checkpoint, trained)
    arch = make_arch(init_seed=1)
    before = snapshot(arch)
    with pytest.raises(CheckpointError, match="extra.weight"):
        arch.load_checkpoint(trained)
    assert_same(before, arch)


def test_a_scheduler_state_that_does_not_fit_changes_nothing(tmp_path: Path) -> None:
    """A SequentialLR of three parts loaded into one of two: model and optimizer roll back too."""
    def sequential(arch: Architecture, parts: int) -> None:
        optimizer = arch.optimizer
        steps = [torch.optim.lr_scheduler.StepLR(optimizer, 1) for _ in range(parts)]
        arch.set_lr_scheduler(torch.optim.lr_scheduler.SequentialLR(
            optimizer, steps, milestones=list(range(1, parts))))

    arch = make_arch(init_seed=0)
    sequential(arch, 3)
    arch.train(1, seed=1, progress=False)
    path = tmp_path / "three.pth"
    arch.save_checkpoint(path)

    other = make_arch(init_seed=5)
    sequential(other, 2)
    other.train(1, seed=4, progress=False)
    before = snapshot(other)
    scheduler = schedulers.scheduler_of(other)
    assert scheduler is not None
    scheduler_before = copy.deepcopy(scheduler.state_dict())
    with pytest.raises(CheckpointError, match="nothing was changed"):
        other.load_checkpoint(path)
    assert_same(before, other)
    assert scheduler.state_dict() == scheduler_before


def test_a_missing_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        make_arch().load_checkpoint(tmp_path / "nope.pth")
