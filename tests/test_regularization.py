"""Dropout, computed (rpslib.regularization), with plain PyTorch as the oracle."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from rpslib.regularization import dropout_sums, dropped_channels, spaced_points

EVAL_SUM = 6.6  # the eleven points 0.1, 0.2, ..., 1.1 add up to 6.6
SUM_OF_SQUARES = 5.06  # 0.01 * (1 + 4 + ... + 121)


def test_spaced_points_are_the_slides_input() -> None:
    assert torch.equal(spaced_points(), torch.linspace(0.1, 1.1, 11))
    dropping = nn.Dropout(p=0.5).eval()  # eval mode: dropout is the identity
    assert torch.equal(dropping(spaced_points()), spaced_points())
    total = F.linear(dropping(spaced_points()), weight=torch.ones(11), bias=torch.tensor(0.0))
    assert total.item() == pytest.approx(EVAL_SUM, abs=1e-6)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mean_of_10000_sums_is_6_6_only_with_the_scaling(seed: int) -> None:
    # the acceptance test: nn.Dropout scales the kept values by 1 / (1 - p), so the
    # mean sum stays the eval-mode sum; without the scaling it falls to (1 - p) * 6.6 = 3.3
    sums = dropout_sums(0.5, n_samples=10_000, seed=seed)
    assert sums.shape == (10_000,)
    assert abs(sums.mean().item() - EVAL_SUM) <= 0.1
    unscaled = dropout_sums(0.5, n_samples=10_000, seed=seed, scale=False)
    assert abs(unscaled.mean().item() - EVAL_SUM) > 0.1
    assert unscaled.mean().item() == pytest.approx(0.5 * EVAL_SUM, abs=0.1)


def test_sums_are_what_nn_dropout_and_f_linear_give() -> None:
    p, n, seed = 0.3, 50, 7
    torch.manual_seed(seed)
    by_hand = F.linear(nn.Dropout(p=p)(spaced_points().expand(n, -1)), weight=torch.ones(11))
    assert torch.equal(dropout_sums(p, n_samples=n, seed=seed), by_hand)
    # without the scaling: the same kept values, each multiplied back by (1 - p)
    unscaled = dropout_sums(p, n_samples=n, seed=seed, scale=False)
    torch.testing.assert_close(unscaled, by_hand * (1 - p))


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_each_sum_adds_up_some_of_the_points_scaled(p: float) -> None:
    # a sum keeps some of 0.1, ..., 1.1 (a multiple of 0.1, at most 6.6), times 1 / (1 - p)
    unscaled = dropout_sums(p, n_samples=500, scale=False)
    tenths = unscaled / 0.1
    torch.testing.assert_close(tenths, tenths.round(), atol=1e-3, rtol=0)
    assert 0 <= unscaled.min() and unscaled.max() <= EVAL_SUM + 1e-5
    torch.testing.assert_close(dropout_sums(p, n_samples=500), unscaled / (1 - p))


def test_the_spread_grows_with_p_as_the_formula_says() -> None:
    # each kept value x_i is x_i / (1 - p) with probability 1 - p: the variance of the sum is
    # p / (1 - p) * sum(x_i ** 2)
    stds = []
    for p in (0.1, 0.3, 0.5, 0.9):
        sums = dropout_sums(p, n_samples=10_000, seed=1)
        stds.append(sums.std().item())
        assert stds[-1] == pytest.approx(math.sqrt(p / (1 - p) * SUM_OF_SQUARES), rel=0.05)
    assert stds == sorted(stds)


def test_extremes_p_0_and_p_1() -> None:
    torch.testing.assert_close(dropout_sums(0.0, n_samples=20), torch.full((20,), EVAL_SUM))
    assert torch.equal(dropout_sums(1.0, n_samples=20), torch.zeros(20))
    assert torch.equal(dropout_sums(1.0, n_samples=20, scale=False), torch.zeros(20))


def test_seeded_and_leaves_the_global_random_state_alone() -> None:
    state = torch.get_rng_state()
    first = dropout_sums(0.5, n_samples=100, seed=3)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(dropout_sums(0.5, n_samples=100, seed=3), first)
    assert not torch.equal(dropout_sums(0.5, n_samples=100, seed=4), first)


def test_other_inputs_and_bad_arguments() -> None:
    x = torch.tensor([1.0, -2.0, 3.0])
    assert dropout_sums(0.0, n_samples=4, x=x).tolist() == [2.0] * 4
    assert dropout_sums(0.5, n_samples=4, x=x).shape == (4,)
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        dropout_sums(1.5)
    with pytest.raises(ValueError, match="at least 1"):
        dropout_sums(0.5, n_samples=0)
    with pytest.raises(ValueError, match=r"shape \(n,\)"):
        dropout_sums(0.5, x=torch.ones(2, 3))


def test_dropout2d_zeroes_whole_channels_and_dropped_channels_finds_them() -> None:
    # the lesson's claim about nn.Dropout2d, and the helper that reads its masks
    torch.manual_seed(0)
    maps = torch.rand(64, 8, 4, 4) + 0.1  # no zeros before dropout
    after = nn.Dropout2d(p=0.5)(maps)
    dropped = dropped_channels(after)
    assert dropped.shape == (64, 8) and dropped.dtype == torch.bool
    assert 0.4 < dropped.float().mean().item() < 0.6
    kept = ~dropped
    torch.testing.assert_close(after[kept], maps[kept] * 2)  # kept maps: all scaled by 2
    assert (after[dropped] == 0).all()
    # some pixels zero is not a dropped channel
    partly = maps.clone()
    partly[0, 0, 0, 0] = 0
    assert not dropped_channels(partly)[0, 0]
    assert dropped_channels(after[0]).tolist() == dropped[0].tolist()  # one image (C, H, W)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        dropped_channels(torch.zeros(4, 4))
