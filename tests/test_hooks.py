"""Capturing parameters and gradients: the right number of points, no leaks, no doubles."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from rpslib.hooks import Capture, count_hooks
from rpslib.trainer import Architecture
from tests.test_trainer import arch_60, learnable_data, loss_failing_at, make_arch

STEPS_PER_EPOCH = 4  # 64 (or 60) training images in batches of 16


def hook_counts(arch: Architecture) -> dict[str, int]:
    """How many hooks each parameter and module carries (tensor, forward, backward)."""
    counts = {f"param {n}": len(p._backward_hooks or {})
              for n, p in arch.model.named_parameters()}
    for name, module in arch.model.named_modules():
        counts[f"module {name}"] = (len(module._forward_hooks) + len(module._forward_pre_hooks)
                                    + len(module._backward_hooks))
    return counts


def test_a_parameter_path_has_n_plus_one_points_whatever_the_validation() -> None:
    arch = make_arch()  # 2 validation batches per epoch: they must add nothing
    start = arch.model.fc1.weight.detach().clone()
    with arch.capture_parameters(["fc1", "conv1"]) as captured:
        arch.train(2, progress=False)
    n = 2 * STEPS_PER_EPOCH
    assert len(captured["fc1"]["weight"]) == len(captured["conv1"]["bias"]) == n + 1
    assert torch.equal(captured["fc1"]["weight"][0], start)
    assert torch.equal(captured["fc1"]["weight"][-1], arch.model.fc1.weight.detach())
    assert captured.stacked("fc1", "weight").shape == (n + 1, 50, 125)


def test_gradients_once_per_training_backward_and_equal_to_plain_torch() -> None:
    arch = arch_60()
    grads: list[Tensor] = []

    class Oracle(Capture):  # reads .grad after each backward, as plain PyTorch would
        def on_after_backward(self, arch: Architecture, loss: Tensor) -> None:
            grads.append(arch.model.fc2.weight.grad.detach().clone())  # type: ignore[union-attr]

    arch.add_callback(Oracle(arch.model, ["fc2"]))
    captured = arch.capture_gradients("fc2")
    arch.train(2, progress=False)
    x, y = learnable_data(8)
    F.cross_entropy(arch.model(x), y).backward()  # a backward outside training: not recorded
    assert len(captured["fc2"]["weight"]) == 2 * STEPS_PER_EPOCH == len(grads)
    for got, expected in zip(captured["fc2"]["weight"], grads, strict=True):
        assert isinstance(got, Tensor)
        torch.testing.assert_close(got, expected)
    arch.remove_hooks()


def test_captured_values_are_detached_cpu_copies() -> None:
    arch = make_arch()
    params = arch.capture_parameters("fc2")
    grads = arch.capture_gradients("fc2")
    arch.train(1, progress=False)
    for capture in (params, grads):
        for value in capture["fc2"]["weight"]:
            assert isinstance(value, Tensor)
            assert not value.requires_grad and value.device.type == "cpu"
            assert value.data_ptr() != arch.model.fc2.weight.data_ptr()
    arch.remove_hooks()


def test_summaries_instead_of_tensors() -> None:
    arch = make_arch()
    with arch.capture_gradients(["fc1"], summary=True) as captured:
        arch.train(1, progress=False)
    first = captured["fc1"]["weight"][0]
    assert isinstance(first, dict) and set(first) == {"norm", "mean", "std"}
    assert captured.stacked("fc1", "weight").shape == (STEPS_PER_EPOCH, 3)


def test_capturing_a_layer_twice_replaces_the_first_capture() -> None:
    arch = make_arch()
    before = hook_counts(arch)
    first = arch.capture_gradients(["fc1", "fc2"])
    second = arch.capture_gradients(["fc1"])
    arch.capture_parameters("fc1")
    arch.capture_parameters("fc1")
    arch.train(1, progress=False)
    assert len(first["fc1"]["weight"]) == 0  # replaced before training
    assert len(first["fc2"]["weight"]) == len(second["fc1"]["weight"]) == STEPS_PER_EPOCH
    assert sum(isinstance(cb, Capture) for cb in arch.callbacks) == 3
    assert hook_counts(arch)["param fc1.weight"] == before["param fc1.weight"] + 1
    arch.remove_hooks()
    assert hook_counts(arch) == before and arch.callbacks == []


def test_the_users_own_hooks_survive() -> None:
    arch = make_arch()
    seen = []
    handle = arch.model.fc1.weight.register_hook(lambda g: seen.append(1))
    module_handle = arch.model.fc1.register_forward_hook(lambda m, i, o: None)
    before = hook_counts(arch)
    arch.capture_gradients(["fc1"])
    arch.capture_parameters(["fc1"])
    arch.remove_hooks()
    assert hook_counts(arch) == before
    arch.train(1, progress=False)
    assert len(seen) == STEPS_PER_EPOCH
    handle.remove()
    module_handle.remove()


def test_an_error_inside_the_block_removes_the_hooks() -> None:
    arch = make_arch()
    before = hook_counts(arch)
    with pytest.raises(RuntimeError, match="inside"), arch.capture_gradients(["fc1"]):
        arch.train(1, progress=False)
        raise RuntimeError("inside the block")
    assert hook_counts(arch) == before and arch.callbacks == []


def test_a_step_that_fails_leaves_no_capture_armed() -> None:
    arch = make_arch()
    captured = arch.capture_gradients(["fc1"])
    arch.loss_fn = loss_failing_at(2, RuntimeError("second step"))
    with pytest.raises(RuntimeError):
        arch.train(1, progress=False)
    x, y = learnable_data(8)
    F.cross_entropy(arch.model(x), y).backward()  # after the failure: not a training step
    assert len(captured["fc1"]["weight"]) == 1
    arch.remove_hooks()


def test_an_unknown_layer_lists_the_layers() -> None:
    arch = make_arch()
    with pytest.raises(ValueError, match=r"'fc3'.*\['conv1', 'conv2', 'fc1', 'fc2'\]"):
        arch.capture_parameters(["fc1", "fc3"])
    with pytest.raises(ValueError, match="drop"):  # a layer without parameters
        arch.capture_gradients("drop")
    assert arch.callbacks == []  # nothing half-done


def test_memory_of_a_full_capture_is_what_the_chapter_says() -> None:
    arch = make_arch()
    with arch.capture_parameters(["conv1", "conv2", "fc1", "fc2"]) as captured:
        arch.train(1, progress=False)
    n_bytes = sum(v.numel() * v.element_size() for layer in captured.values()
                  for values in layer.values() for v in values if isinstance(v, Tensor))
    assert n_bytes == (STEPS_PER_EPOCH + 1) * arch.count_parameters() * 4
    assert "fc1.weight" in repr(captured)


def test_norms_of_a_layer_equal_plain_torch_from_full_tensors_and_from_summaries() -> None:
    expected: list[Tensor] = []

    class Oracle(Capture):  # the layer's gradient norm, weight and bias together
        def on_after_backward(self, arch: Architecture, loss: Tensor) -> None:
            fc1 = arch.model.fc1  # type: ignore[union-attr]
            expected.append(torch.cat([fc1.weight.grad.flatten(), fc1.bias.grad.flatten()])
                            .norm().detach())

    norms = []
    for summary in (False, True):
        arch = make_arch()
        arch.add_callback(Oracle(arch.model, ["fc1"]))
        with arch.capture_gradients(["fc1"], summary=summary) as captured:
            arch.train(1, seed=3, progress=False)
        norms.append(captured.norms("fc1"))
    assert norms[0].shape == (STEPS_PER_EPOCH,)
    torch.testing.assert_close(norms[0], torch.stack(expected[:STEPS_PER_EPOCH]))
    torch.testing.assert_close(norms[1], norms[0])
    with arch.capture_parameters("fc2") as params:  # a path's norms: the start point too
        pass
    assert params.norms("fc2").shape == (1,)
    assert arch.capture_gradients("fc2").norms("fc2").shape == (0,)  # nothing captured yet
    arch.remove_hooks()


def test_count_hooks_counts_every_kind_and_only_the_models() -> None:
    from rpslib.hooks import count_hooks

    arch = make_arch()
    model = arch.model
    assert count_hooks(model) == 0
    handles = [model.fc1.register_forward_hook(lambda m, i, o: None),
               model.conv1.register_forward_pre_hook(lambda m, i: None),
               model.fc2.register_full_backward_hook(lambda m, gi, go: None),
               model.fc2.register_full_backward_pre_hook(lambda m, go: None),
               model.fc1.weight.register_hook(lambda g: None),
               model.fc1.bias.register_post_accumulate_grad_hook(lambda p: None)]
    assert count_hooks(model) == 6 == sum(hook_counts(arch).values()) + 2
    arch.capture_gradients(["fc1", "conv2"])  # one tensor hook per parameter: 4
    arch.capture_parameters(["fc1"])  # a trainer callback: no hook at all
    assert count_hooks(model) == 10
    arch.remove_hooks()
    assert count_hooks(model) == 6
    for handle in handles:
        handle.remove()
    assert count_hooks(model) == 0


def test_a_frozen_layer_is_refused_and_a_half_frozen_one_captured_in_part() -> None:
    arch = make_arch()
    arch.model.fc1.requires_grad_(False)
    before = count_hooks(arch.model)
    with pytest.raises(ValueError, match="requires a gradient"):
        arch.capture_gradients(["fc2", "fc1"])  # all or nothing: fc2 gets no hook either
    assert count_hooks(arch.model) == before and arch.callbacks == []
    arch.model.fc1.weight.requires_grad_(True)  # only the bias frozen now
    with arch.capture_gradients("fc1") as grads:
        assert count_hooks(arch.model) == before + 1  # the weight's hook, no other
        arch.train(1, seed=0, progress=False)
    assert list(grads["fc1"]) == ["weight"] and count_hooks(arch.model) == before
    assert grads.stacked("fc1", "weight").shape[0] == len(arch.train_loader)


def test_a_layer_that_recorded_nothing_stacks_to_an_empty_tensor() -> None:
    arch = make_arch()
    with arch.capture_gradients("conv1") as grads:
        pass  # no training step: nothing recorded
    assert grads.stacked("conv1", "weight").shape == (0, *arch.model.conv1.weight.shape)
    assert grads.norms("conv1").shape == (0,)
