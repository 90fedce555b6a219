"""Seeds and random-number states: the same seed gives the same run, and a run can resume.

Everything random in training draws from a few generators: torch's (weights, dropout masks,
the shuffling of a ``DataLoader`` built without ``generator=``), every GPU's, numpy's and
Python's ``random`` (used by some transforms), and a loader's own ``generator`` if it has one.
``seed_everything`` seeds them all; ``get_rng_state`` / ``set_rng_state`` take a snapshot of
all of them and put it back, so that training can stop and go on exactly where it was (the
trainer keeps one between ``train`` calls, and checkpoints save it).

The snapshot holds tensors, lists and numbers only, so ``torch.load(..., weights_only=True)``
reads it back.  Nothing here runs at import.
"""

from __future__ import annotations

import operator
import random
from typing import Any

import numpy as np
import torch

__all__ = ["get_rng_state", "seed_everything", "set_rng_state"]

RNGState = dict[str, Any]


def seed_everything(seed: int, generator: torch.Generator | None = None) -> None:
    """Seed torch (CPU and every GPU), numpy, ``random`` and ``generator`` (if given).

    ``seed`` is any integer, a numpy one too (``np.int64(3)``, from ``np.arange``).
    """
    seed = operator.index(seed)  # a plain int: random.seed refuses numpy's
    torch.manual_seed(seed)  # also seeds every GPU
    np.random.seed(seed)  # noqa: NPY002 (seeds the legacy np.random.* functions)
    random.seed(seed)
    if generator is not None:
        generator.manual_seed(seed)


def get_rng_state(generator: torch.Generator | None = None) -> RNGState:
    """A snapshot of every random-number generator that ``seed_everything`` seeds.

    Returns:
        A dict of ``"torch"`` (uint8 tensor), ``"cuda"`` (a list of uint8 tensors, one per GPU;
        empty without one), ``"numpy"``, ``"random"`` and ``"generator"`` (the state of
        ``generator``, or ``None``).
    """
    np_state = np.random.get_state(legacy=False)  # noqa: NPY002 (the legacy global state)
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        # numpy's key array as a tensor: weights_only loading accepts tensors, not arrays
        "numpy": {"key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)),
                  "pos": int(np_state["state"]["pos"]),
                  "has_gauss": int(np_state["has_gauss"]), "gauss": float(np_state["gauss"])},
        "random": _to_lists(random.getstate()),
        "generator": None if generator is None else generator.get_state(),
    }


def set_rng_state(state: RNGState, generator: torch.Generator | None = None) -> None:
    """Put back a snapshot taken by ``get_rng_state`` (GPUs only if both have the same ones)."""
    torch.set_rng_state(state["torch"].cpu())
    cuda = state.get("cuda") or []
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([s.cpu() for s in cuda])
    saved = state["numpy"]
    np.random.set_state({  # noqa: NPY002 (the legacy global state)
        "bit_generator": "MT19937",
        "state": {"key": saved["key"].numpy().astype(np.uint32), "pos": saved["pos"]},
        "has_gauss": saved["has_gauss"], "gauss": saved["gauss"]})
    random.setstate(_to_tuples(state["random"]))
    if generator is not None and state.get("generator") is not None:
        generator.set_state(state["generator"].cpu())


def _to_lists(value: Any) -> Any:
    """``random.getstate()`` is nested tuples; store lists (what JSON-like loaders keep)."""
    return [_to_lists(v) for v in value] if isinstance(value, tuple | list) else value


def _to_tuples(value: Any) -> Any:
    return tuple(_to_tuples(v) for v in value) if isinstance(value, list) else value
