"""Checkpoints: save a training run to a file and resume it, safely.

``Architecture.save_checkpoint`` and ``load_checkpoint`` delegate here.  Compared with the
slides' version:

- saving is atomic: the file is written under a temporary name and renamed only when it is
  complete, so a failed save (a full disk, Ctrl-C) never destroys the previous checkpoint;
- a checkpoint also records where the random-number generators stand, so a resumed run
  continues as if it had never stopped (the same shuffles, the same dropout masks);
- a save that fails because the disk is full says so, naming the file and the space needed;
- loading checks the file first: one that is truncated, damaged in the middle (its zip
  checksums do not match), is not a checkpoint, or was saved from another model, optimizer or
  scheduler raises ``CheckpointError`` naming the file and the mismatch, and leaves the model,
  the optimizer and the scheduler exactly as they were.
"""

from __future__ import annotations

import copy
import errno
import os
import secrets
import shutil
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from rpslib import schedulers
from rpslib.data.folders import NotEnoughSpaceError, is_disk_full

if TYPE_CHECKING:
    from rpslib.trainer import Architecture

__all__ = ["CheckpointError", "load_checkpoint", "restore", "save_checkpoint", "snapshot"]

REQUIRED = ("epoch", "model_state_dict", "optimizer_state_dict", "losses", "val_losses")


class CheckpointError(ValueError):
    """A checkpoint file that cannot be loaded into this model and optimizer."""


def save_checkpoint(arch: Architecture, filename: str | os.PathLike[str]) -> Path:
    """Write what resuming ``arch``'s training needs to ``filename``, atomically.

    Saves the epoch count, the model's and the optimizer's state dicts (and their class
    names, to check them on loading), the losses, and the random-number state.
    """
    path = Path(filename)
    checkpoint = snapshot(arch)
    tmp = path.with_name(f"{path.name}.tmp-{secrets.token_hex(4)}")
    try:
        torch.save(checkpoint, tmp)
        os.replace(tmp, path)  # the previous file is replaced only by a complete one
    except (OSError, RuntimeError) as err:
        needed = _size(checkpoint)
        # torch's own writer fails with a RuntimeError that has no errno ("unexpected pos"):
        # then only the free space tells a full disk from another failure
        full = is_disk_full(err) or (isinstance(err, RuntimeError) and path.parent.exists()
                                     and shutil.disk_usage(path.parent).free < needed + 2**20)
        if not full:
            raise
        raise NotEnoughSpaceError(
            errno.ENOSPC, f"the disk is full: the checkpoint {path} needs about "
            f"{needed / 2**20:.1f} MB, {path.parent} has "
            f"{shutil.disk_usage(path.parent).free / 2**20:.1f} MB free; the previous file, "
            f"if any, is kept") from err
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _size(value: Any) -> int:
    """About how many bytes the tensors in ``value`` take (what a checkpoint of it needs)."""
    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, dict):
        return sum(_size(v) for v in value.values())
    if isinstance(value, list | tuple):
        return sum(_size(v) for v in value)
    return 0


def snapshot(arch: Architecture) -> dict[str, Any]:
    """What ``save_checkpoint`` writes: ``arch``'s training state as tensors and plain values."""
    checkpoint = {
        "epoch": arch.total_epochs,
        "model_class": type(arch.model).__name__,
        "model_state_dict": arch.model.state_dict(),
        "optimizer_class": type(arch.optimizer).__name__,
        "optimizer_state_dict": arch.optimizer.state_dict(),
        "losses": list(arch.losses),
        "val_losses": list(arch.val_losses),
        "rng_state": arch.rng_state(),
        "learning_rates": list(arch.learning_rates),
    }
    scheduler = schedulers.scheduler_of(arch)
    if scheduler is not None:
        checkpoint["scheduler_class"] = type(scheduler).__name__
        checkpoint["scheduler_state_dict"] = _plain_state(scheduler)
    return checkpoint


def load_checkpoint(arch: Architecture, filename: str | os.PathLike[str]) -> None:
    """Restore a ``save_checkpoint`` file into ``arch``, or raise and change nothing.

    Raises:
        CheckpointError: the file is truncated or not a checkpoint, or its model or optimizer
            differs from ``arch``'s (class, parameter names or shapes, parameter groups).
        FileNotFoundError: there is no such file.
    """
    path = Path(filename)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint file {path}")
    try:
        with zipfile.ZipFile(path) as archive:  # torch does not check the CRCs of its zip
            damaged = archive.testzip()
        if damaged is not None:
            raise CheckpointError(f"the checkpoint {path} is damaged ({damaged} does not match "
                                  f"its checksum): it would load other weights; nothing was "
                                  f"changed.")
        # weights_only=True: load tensors and plain values only, never run pickled code
        checkpoint = torch.load(path, weights_only=True, map_location=arch.device)
    except CheckpointError:
        raise
    except Exception as err:  # a truncated zip, a pickle of something else, ...
        raise CheckpointError(
            f"cannot read the checkpoint {path}: {type(err).__name__}: {_first_line(err)}. "
            f"The file is damaged (an interrupted copy?) or was not written by "
            f"save_checkpoint.") from err
    restore(arch, checkpoint, str(path))


def restore(arch: Architecture, checkpoint: Any, source: str = "snapshot") -> None:
    """Put a ``snapshot`` (or a loaded checkpoint) back into ``arch``, or raise and change nothing.

    ``source`` names where it came from in error messages.
    """
    _check(checkpoint, arch, source)

    # Checked: now load, and put everything back if loading still fails halfway
    model_before = {k: v.clone() for k, v in arch.model.state_dict().items()}
    optimizer_before = copy.deepcopy(arch.optimizer.state_dict())
    scheduler = schedulers.scheduler_of(arch)
    scheduler_before = None if scheduler is None else copy.deepcopy(scheduler.state_dict())
    try:
        arch.model.load_state_dict(checkpoint["model_state_dict"])
        arch.optimizer.load_state_dict(checkpoint["optimizer_state_dict"])
        if scheduler is not None and "scheduler_state_dict" in checkpoint:
            scheduler.load_state_dict(checkpoint["scheduler_state_dict"])
    except Exception as err:  # all three back as they were
        arch.model.load_state_dict(model_before)
        arch.optimizer.load_state_dict(optimizer_before)
        if scheduler is not None and scheduler_before is not None:
            scheduler.load_state_dict(scheduler_before)
        raise CheckpointError(f"cannot load the checkpoint {source} into this model, optimizer "
                              f"and scheduler: {_first_line(err)}; nothing was changed.") from err
    arch.learning_rates = [float(v) for v in checkpoint.get("learning_rates", [])]
    arch.total_epochs = int(checkpoint["epoch"])
    arch.losses = [float(v) for v in checkpoint["losses"]]
    arch.val_losses = [float(v) for v in checkpoint["val_losses"]]
    arch.set_rng_state(checkpoint.get("rng_state"))
    arch.model.train()  # always resume in train mode


def _check(checkpoint: Any, arch: Architecture, path: str) -> None:
    """Raise ``CheckpointError`` naming the first way ``checkpoint`` does not fit ``arch``."""
    if not isinstance(checkpoint, dict) or any(key not in checkpoint for key in REQUIRED):
        keys = sorted(checkpoint) if isinstance(checkpoint, dict) else type(checkpoint).__name__
        raise CheckpointError(f"{path} is not a checkpoint written by save_checkpoint: it "
                              f"holds {keys}, expected the keys {list(REQUIRED)}.")
    for what, ours in (("model", arch.model), ("optimizer", arch.optimizer)):
        saved_class = checkpoint.get(f"{what}_class")
        if saved_class is not None and saved_class != type(ours).__name__:
            raise CheckpointError(f"{path} holds a {saved_class} {what}, this Architecture has "
                                  f"a {type(ours).__name__}: build the {what} as it was saved.")
    saved_scheduler = checkpoint.get("scheduler_class")
    scheduler = schedulers.scheduler_of(arch)
    attached = None if scheduler is None else type(scheduler).__name__
    if saved_scheduler is not None and saved_scheduler != attached:
        raise CheckpointError(f"{path} holds a {saved_scheduler} learning-rate scheduler, this "
                              f"Architecture has {attached or 'none'}: attach the same kind with "
                              f"set_lr_scheduler before loading.")
    problem = _model_mismatch(checkpoint["model_state_dict"], arch.model.state_dict())
    if problem is None:
        problem = _optimizer_mismatch(checkpoint["optimizer_state_dict"],
                                      arch.optimizer.state_dict())
    if problem is not None:
        raise CheckpointError(f"{path} was saved from another model or optimizer: {problem}. "
                              f"Build them as they were when the checkpoint was saved.")


def _plain_state(scheduler: Any) -> dict[str, Any]:
    """The scheduler's state dict without what weights-only loading refuses (functions)."""
    return {k: v for k, v in scheduler.state_dict().items() if not callable(v)}


def _model_mismatch(saved: dict[str, Any], ours: dict[str, Any]) -> str | None:
    missing, unexpected = sorted(set(ours) - set(saved)), sorted(set(saved) - set(ours))
    if missing or unexpected:
        return f"parameters missing from the file {missing}, not in this model {unexpected}"
    for name, tensor in ours.items():
        if tuple(saved[name].shape) != tuple(tensor.shape):
            return (f"{name} has shape {tuple(saved[name].shape)} in the file, "
                    f"{tuple(tensor.shape)} in this model")
    return None


def _optimizer_mismatch(saved: dict[str, Any], ours: dict[str, Any]) -> str | None:
    saved_sizes = [len(g["params"]) for g in saved.get("param_groups", [])]
    our_sizes = [len(g["params"]) for g in ours["param_groups"]]
    if saved_sizes != our_sizes:
        return (f"the optimizer's parameter groups hold {saved_sizes} parameters in the file, "
                f"{our_sizes} here")
    return None


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
