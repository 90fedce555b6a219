"""Random-number snapshots: put back, every generator replays the same numbers."""

from __future__ import annotations

import io
import random

import numpy as np
import torch

from rpslib.seeding import get_rng_state, seed_everything, set_rng_state


def draws(generator: torch.Generator) -> tuple[torch.Tensor, np.ndarray, float, torch.Tensor]:
    return (torch.rand(5), np.random.rand(5), random.random(),  # noqa: NPY002
            torch.rand(5, generator=generator))


def test_a_snapshot_replays_every_generator() -> None:
    generator = torch.Generator()
    seed_everything(3, generator)
    np.random.randn()  # noqa: NPY002 (leaves a cached Gaussian: part of numpy's state)
    state = get_rng_state(generator)
    first = draws(generator)
    set_rng_state(state, generator)
    again = draws(generator)
    assert torch.equal(first[0], again[0]) and np.array_equal(first[1], again[1])
    assert first[2] == again[2] and torch.equal(first[3], again[3])


def test_a_snapshot_survives_weights_only_loading() -> None:
    generator = torch.Generator()
    seed_everything(4, generator)
    buffer = io.BytesIO()
    torch.save(get_rng_state(generator), buffer)
    first = draws(generator)
    buffer.seek(0)
    set_rng_state(torch.load(buffer, weights_only=True), generator)
    again = draws(generator)
    assert torch.equal(first[0], again[0]) and np.array_equal(first[1], again[1])
    assert first[2] == again[2] and torch.equal(first[3], again[3])


def test_seed_everything_seeds_all() -> None:
    g1, g2 = torch.Generator(), torch.Generator()
    seed_everything(9, g1)
    first = draws(g1)
    seed_everything(9, g2)
    again = draws(g2)
    assert torch.equal(first[0], again[0]) and np.array_equal(first[1], again[1])
    assert first[2] == again[2] and torch.equal(first[3], again[3])
