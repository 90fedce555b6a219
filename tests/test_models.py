"""CNN2 against plain PyTorch: its size, its shapes, its dropout and its error message."""

import pytest
import torch
import torch.nn.functional as F

from rpslib.models import CNN2


def images(n: int = 8, size: int = 28) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(0))


def test_parameter_count_matches_the_slides() -> None:
    assert sum(p.numel() for p in CNN2(n_feature=5).parameters()) == 6823


def test_output_shape_and_repr() -> None:
    model = CNN2(n_feature=5, p=0.3)
    assert model(images(8)).shape == (8, 3)
    assert model.featurizer(images(8)).shape == (8, 5 * 5 * 5)
    assert "n_feature=5, p=0.3" in repr(model)


def test_wrong_image_size_explains_the_5x5() -> None:
    model = CNN2(n_feature=5)
    with pytest.raises(ValueError, match=r"3x28x28, got 3x32x32.*5.*Resize\(28\)"):
        model(images(2, size=32))
    with pytest.raises(ValueError, match="unsqueeze"):
        model(images(1)[0])  # one image, not a batch


def test_forward_equals_functional_composition() -> None:
    model = CNN2(n_feature=4, p=0.5).eval()
    x = images(6)
    h = F.max_pool2d(F.relu(F.conv2d(x, model.conv1.weight, model.conv1.bias)), 2)
    h = F.max_pool2d(F.relu(F.conv2d(h, model.conv2.weight, model.conv2.bias)), 2)
    h = F.relu(F.linear(h.reshape(6, -1), model.fc1.weight, model.fc1.bias))
    expected = F.linear(h, model.fc2.weight, model.fc2.bias)
    torch.testing.assert_close(model(x), expected)


def test_dropout_only_in_train_mode_and_only_when_p_positive() -> None:
    x = images(8)
    torch.manual_seed(0)
    dropping = CNN2(n_feature=5, p=0.5)
    assert not torch.equal(dropping(x), dropping(x))  # train mode: random masks
    dropping.eval()
    torch.testing.assert_close(dropping(x), dropping(x), rtol=0, atol=0)

    calls = []
    plain = CNN2(n_feature=5, p=0.0)
    plain.drop.register_forward_hook(lambda *args: calls.append(1))
    torch.testing.assert_close(plain(x), plain(x), rtol=0, atol=0)  # train mode, p=0
    assert calls == []
    dropping.train()
    dropping.drop.register_forward_hook(lambda *args: calls.append(1))
    dropping(x)
    assert len(calls) == 2  # before fc1 and before fc2
