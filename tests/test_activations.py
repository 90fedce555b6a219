"""Godoy's attach_hooks and visualize_outputs (rpslib.activations): the layers' outputs, as
plain PyTorch computes them, recorded without leaking hooks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rpslib.hooks import count_hooks
from tests.test_trainer import make_arch


def test_attach_hooks_records_what_the_layers_output() -> None:
    arch = make_arch(p=0.0)
    x = torch.randn(6, 3, 28, 28, generator=torch.Generator().manual_seed(0))
    arch.attach_hooks(["conv1", "fc1"])
    assert arch.visualization == {"conv1": None, "fc1": None}  # nothing until a forward pass
    arch.predict(x[:4])
    arch.predict(x[4:])  # a second pass: concatenated, as in StepByStep
    arch.remove_hooks()  # else the oracle's own forward passes would be recorded too
    model = arch.model.eval()
    with torch.no_grad():  # the oracle: the layers themselves, on the inputs they received
        conv1 = model.conv1(x)
        fc1 = model.fc1(model.featurizer(x))
    np.testing.assert_allclose(arch.visualization["conv1"], conv1.numpy(), rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_allclose(arch.visualization["fc1"], fc1.numpy(), rtol=1e-5, atol=1e-6)


def test_attaching_again_replaces_the_hooks_and_remove_hooks_takes_them_off() -> None:
    arch = make_arch()
    before = count_hooks(arch.model)
    arch.attach_hooks("conv1")
    arch.attach_hooks("conv1")  # StepByStep would now hold two hooks and record twice
    assert count_hooks(arch.model) == before + 1
    arch.predict(torch.zeros(2, 3, 28, 28))
    assert arch.visualization["conv1"].shape[0] == 2
    arch.remove_hooks()
    assert count_hooks(arch.model) == before


def test_a_hook_function_of_ones_own_and_a_layer_that_does_not_exist() -> None:
    arch = make_arch()
    seen: list[tuple[str, tuple[int, ...]]] = []
    arch.attach_hooks(["conv2"], hook_fn=lambda layer, inputs, outputs: seen.append(
        (type(layer).__name__, tuple(outputs.shape))))
    arch.predict(torch.zeros(3, 3, 28, 28))
    assert seen == [("Conv2d", (3, 5, 11, 11))]
    arch.remove_hooks()
    before = count_hooks(arch.model)
    with pytest.raises(ValueError, match="no layer"):
        arch.attach_hooks(["conv1", "conv9"])
    assert count_hooks(arch.model) == before  # nothing attached


def test_visualize_outputs_draws_a_row_per_feature_map_and_a_column_per_image() -> None:
    arch = make_arch()
    arch.attach_hooks(["conv1", "fc2"])
    arch.predict(torch.randn(8, 3, 28, 28, generator=torch.Generator().manual_seed(1)))
    arch.remove_hooks()
    fig = arch.visualize_outputs(["conv1", "fc2", "not hooked"], n_images=5,
                                 y=[0, 1, 2, 0, 1], yhat=[0, 2, 2, 0, 1])
    n_maps = arch.model.conv1.out_channels
    assert len(fig.axes) == (n_maps + 1) * 5  # conv1's maps, then fc2's vector as a strip
    first = fig.axes[0].images[0].get_array()
    np.testing.assert_allclose(first, arch.visualization["conv1"][0, 0], rtol=1e-6)
    assert "predicted 2" in fig.axes[-4].get_xlabel()
    with pytest.raises(ValueError, match="nothing recorded"):
        arch.visualize_outputs(["conv2"])
