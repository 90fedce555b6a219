"""Architecture against plain PyTorch, on tiny random data (64 images of 3x28x28)."""

from collections.abc import Callable, Iterator
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

from rpslib.callbacks import Callback
from rpslib.models import CNN2
from rpslib.trainer import Architecture


@pytest.fixture(autouse=True)
def close_figures() -> Iterator[None]:
    yield
    plt.close("all")


def learnable_data(n: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Images whose label is their brightest channel: CNN2 learns this in a few epochs."""
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 3, (n,), generator=g)
    x = 0.5 * torch.rand(n, 3, 28, 28, generator=g)
    x[torch.arange(n), y] += 0.5
    return x, y


def varied_images(n: int = 64) -> torch.Tensor:
    """Images whose brightness differs from image to image and channel to channel."""
    g = torch.Generator().manual_seed(1)
    return torch.rand(n, 3, 28, 28, generator=g) * torch.rand(n, 3, 1, 1, generator=g)


def make_arch(init_seed: int = 0, p: float = 0.3, lr: float = 1e-2, val: bool = True,
              generator: torch.Generator | None = None) -> Architecture:
    """A CNN2 with Adam on the CPU, loaders set (shuffled training loader)."""
    torch.manual_seed(init_seed)
    model = CNN2(n_feature=5, p=p)
    arch = Architecture(model, nn.CrossEntropyLoss(), torch.optim.Adam(model.parameters(), lr=lr))
    arch.to("cpu")
    x, y = learnable_data()
    train_loader = DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True,
                              generator=generator)
    val_loader = DataLoader(TensorDataset(x[:32], y[:32]), batch_size=16) if val else None
    arch.set_loaders(train_loader, val_loader)
    return arch


def loss_failing_at(call: int, error: BaseException) -> Callable[[Tensor, Tensor], Tensor]:
    """Cross-entropy that raises ``error`` at its ``call``-th call (1 is the first): a training
    step that fails halfway."""
    calls = []

    def loss_fn(yhat: Tensor, y: Tensor) -> Tensor:
        calls.append(1)
        if len(calls) == call:
            raise error
        return F.cross_entropy(yhat, y)

    return loss_fn


# ------------------------------------------------------------------------------ training


def test_train_equals_a_plain_pytorch_loop() -> None:
    arch = make_arch(init_seed=0)
    arch.train(3, seed=5, progress=False)

    torch.manual_seed(0)
    model = CNN2(n_feature=5, p=0.3)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    x, y = learnable_data()
    train_loader = DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True)
    val_loader = DataLoader(TensorDataset(x[:32], y[:32]), batch_size=16)
    torch.manual_seed(5)
    losses, val_losses = [], []
    for _ in range(3):
        model.train()
        batch_losses = []
        for xb, yb in train_loader:
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            batch_losses.append(loss.item())
        losses.append(np.mean(batch_losses))
        model.eval()
        with torch.no_grad():
            val_losses.append(np.mean([F.cross_entropy(model(xb), yb).item()
                                       for xb, yb in val_loader]))
    assert arch.losses == pytest.approx(losses, rel=1e-5)
    assert arch.val_losses == pytest.approx(val_losses, rel=1e-5)
    assert arch.total_epochs == 3
    assert arch.model.training  # validation gave back train mode


def test_same_seed_same_losses_other_seed_other_losses() -> None:
    first, second, other = make_arch(), make_arch(), make_arch()
    first.train(2, seed=7, progress=False)
    second.train(2, seed=7, progress=False)
    other.train(2, seed=8, progress=False)
    assert first.losses == second.losses
    assert first.val_losses == second.val_losses
    assert first.losses != other.losses


def test_set_seed_seeds_the_loaders_own_generator() -> None:
    generator = torch.Generator().manual_seed(123)
    first, second = make_arch(generator=generator), make_arch(generator=generator)
    first.train(1, seed=7, progress=False)  # advances the shared generator
    second.train(1, seed=7, progress=False)
    assert first.losses == second.losses


def test_losses_decrease_on_a_learnable_problem() -> None:
    arch = make_arch(p=0.0)
    arch.train(6, seed=1, progress=False)
    assert arch.losses[-1] < 0.5 * arch.losses[0]
    assert arch.val_losses[-1] < 0.5 * arch.val_losses[0]


def test_train_without_validation_loader() -> None:
    arch = make_arch(val=False)
    arch.train(2, progress=False)
    arch.train(1, progress=False)
    assert len(arch.losses) == 3 and arch.val_losses == [] and arch.total_epochs == 3
    assert len(arch.plot_losses().axes) == 1


def test_train_needs_loaders() -> None:
    model = CNN2(n_feature=2)
    arch = Architecture(model, nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.1))
    with pytest.raises(ValueError, match="set_loaders"):
        arch.train(1)


def test_train_sets_and_restores_cpu_threads() -> None:
    arch = make_arch()
    seen: list[int] = []

    def loss_fn(yhat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        seen.append(torch.get_num_threads())
        return F.cross_entropy(yhat, y)

    arch.loss_fn = loss_fn
    x, y = learnable_data(4)
    arch.set_loaders(DataLoader(TensorDataset(x, y), batch_size=4))  # one small batch
    previous = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        arch.train(1, progress=False)  # num_threads=1 by default
        assert set(seen) == {1}
        assert torch.get_num_threads() == 2
        seen.clear()
        arch.train(1, progress=False, num_threads=None)
        assert set(seen) == {2}
    finally:
        torch.set_num_threads(previous)


def test_train_restores_cudnn_flags() -> None:
    flags = (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    try:
        # Not what train uses while it runs (deterministic=True, benchmark=False)
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = False, True
        arch = make_arch()
        seen = []

        class Spy(Callback):
            def on_step_begin(self, arch: Architecture) -> None:
                seen.append((torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark))

        arch.add_callback(Spy())
        arch.train(1, progress=False)
        assert set(seen) == {(True, False)}
        assert not torch.backends.cudnn.deterministic and torch.backends.cudnn.benchmark
    finally:
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = flags


def test_progress_bar_shows_the_losses(capsys: pytest.CaptureFixture[str]) -> None:
    make_arch().train(2, progress=True)
    out = capsys.readouterr().out
    assert "Epochs" in out and "loss=" in out and "val_loss=" in out


# ---------------------------------------------------------------------------- evaluation


def test_correct_counts_builds_no_graph_and_keeps_the_mode() -> None:
    arch = make_arch(p=0.5)
    model = arch.model
    assert isinstance(model, CNN2)
    x, y = learnable_data()
    requires_grad: list[bool] = []
    arch.model.register_forward_hook(lambda m, i, out: requires_grad.append(out.requires_grad))

    arch.model.train()
    result = arch.correct(x, y)
    assert requires_grad == [False]
    assert not result.requires_grad and result.grad_fn is None
    assert model.training and model.drop.training

    arch.model.eval()
    again = arch.correct(x, y)
    assert not model.training and not model.drop.training
    torch.testing.assert_close(again, result)  # dropout was off both times

    with torch.no_grad():
        predicted = arch.model(x).argmax(dim=1)
    expected = torch.tensor([[((predicted == c) & (y == c)).sum().item(), (y == c).sum().item()]
                             for c in range(3)])
    assert result.shape == (3, 2) and torch.equal(result, expected)


@pytest.mark.parametrize("sigmoid", [False, True])
def test_correct_binary(sigmoid: bool) -> None:
    torch.manual_seed(0)
    layers: list[nn.Module] = [nn.Linear(4, 1)] + ([nn.Sigmoid()] if sigmoid else [])
    model = nn.Sequential(*layers)
    arch = Architecture(model, nn.BCEWithLogitsLoss(), torch.optim.SGD(model.parameters(), lr=0.1))
    arch.to("cpu")
    x, y = torch.randn(50, 4), torch.randint(0, 2, (50, 1)).float()
    with torch.no_grad():
        probabilities = model(x) if sigmoid else torch.sigmoid(model(x))
    predicted = (probabilities > 0.3).long().view(-1)
    labels = y.view(-1).long()
    expected = torch.tensor([[((predicted == c) & (labels == c)).sum().item(),
                              (labels == c).sum().item()] for c in range(2)])
    assert torch.equal(arch.correct(x, y, threshold=0.3), expected)


def test_loader_apply_correct_sums_over_batches() -> None:
    arch = make_arch()
    x, y = learnable_data()
    loader = DataLoader(TensorDataset(x, y), batch_size=20)  # uneven last batch
    torch.testing.assert_close(Architecture.loader_apply(loader, arch.correct),
                               arch.correct(x, y))


def test_predict_returns_numpy_in_eval_mode_and_keeps_the_mode() -> None:
    arch = make_arch(p=0.5)
    x, _ = learnable_data(8)
    arch.model.train()
    yhat = arch.predict(x.numpy())
    assert isinstance(yhat, np.ndarray) and yhat.shape == (8, 3)
    assert arch.model.training
    arch.model.eval()
    with torch.no_grad():
        np.testing.assert_allclose(yhat, arch.model(x).numpy(), rtol=1e-6)


def test_count_parameters_counts_trainable_ones() -> None:
    arch = make_arch()
    assert arch.count_parameters() == 6823
    arch.model.conv1.requires_grad_(False)
    assert arch.count_parameters() == 6823 - (5 * 3 * 3 * 3 + 5)


# --------------------------------------------------------------------- data set statistics


def test_loader_apply_statistics_per_channel_equals_plain_torch() -> None:
    x = varied_images()
    loader = DataLoader(TensorDataset(x, torch.zeros(64)), batch_size=20)
    result = Architecture.loader_apply(loader, Architecture.statistics_per_channel)
    flat = x.reshape(64, 3, -1)
    expected = torch.stack([torch.full((3,), 64.0), flat.mean(dim=2).sum(dim=0),
                            flat.std(dim=2).sum(dim=0)])
    torch.testing.assert_close(result, expected)


def test_loader_apply_mean_and_bad_reduction() -> None:
    x = varied_images()
    loader = DataLoader(TensorDataset(x, torch.zeros(64)), batch_size=16)
    result = Architecture.loader_apply(loader, lambda xb, yb: xb.sum(dim=(0, 2, 3)), "mean")
    torch.testing.assert_close(result, x.sum(dim=(0, 2, 3)) / 4)
    with pytest.raises(ValueError, match="reduction"):
        Architecture.loader_apply(loader, Architecture.statistics_per_channel, "max")


def test_loader_apply_takes_godoys_reduce_keyword_and_none() -> None:
    x = varied_images()
    loader = DataLoader(TensorDataset(x, torch.zeros(64)), batch_size=16)

    def sums(xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        return xb.sum(dim=(0, 2, 3))

    # StepByStep.loader_apply(loader, func, reduce='sum'): Godoy's keyword, his meaning
    torch.testing.assert_close(Architecture.loader_apply(loader, sums, reduce="mean"),
                               x.sum(dim=(0, 2, 3)) / 4)
    torch.testing.assert_close(Architecture.loader_apply(loader, sums, reduce="sum"),
                               x.sum(dim=(0, 2, 3)))
    stacked = Architecture.loader_apply(loader, sums, reduce="none")  # each batch's result
    torch.testing.assert_close(stacked, torch.stack([sums(b, b) for b in x.split(16)]))
    with pytest.raises(ValueError, match="not both"):
        Architecture.loader_apply(loader, sums, "mean", reduce="none")


def test_make_normalizer_slides_and_pooled() -> None:
    x = varied_images()
    loader = DataLoader(TensorDataset(x, torch.zeros(64)), batch_size=20)
    slides = Architecture.make_normalizer(loader)
    pooled = Architecture.make_normalizer(loader, pooled=True)
    per_image = x.reshape(64, 3, -1)
    per_channel = x.transpose(0, 1).reshape(3, -1)
    # The slides: mean of per-image means and of per-image (unbiased) stds
    torch.testing.assert_close(slides.mean, per_image.mean(dim=2).mean(dim=0))
    torch.testing.assert_close(slides.std, per_image.std(dim=2).mean(dim=0))
    # Pooled: the population std of all pixels of a channel
    torch.testing.assert_close(pooled.mean, per_channel.mean(dim=1))
    torch.testing.assert_close(pooled.std, per_channel.std(dim=1, correction=0),
                               rtol=1e-5, atol=1e-6)
    # The average of per-image stds misses the spread between images
    assert (pooled.std > 1.2 * slides.std).all()


def test_pooled_std_is_the_population_std_of_all_pixels() -> None:
    # Tiny 2x2 images: few pixels, so dividing by n or by n - 1 makes a visible difference
    x = varied_images(5)[:, :, :2, :2]
    loader = DataLoader(TensorDataset(x, torch.zeros(5)), batch_size=2)
    moments = Architecture.loader_apply(loader, Architecture.moments_per_channel)
    per_channel = x.transpose(0, 1).reshape(3, -1).double()
    torch.testing.assert_close(moments, torch.stack([torch.full((3,), 20.0, dtype=torch.float64),
                                                     per_channel.sum(dim=1),
                                                     (per_channel**2).sum(dim=1)]))
    pooled = Architecture.make_normalizer(loader, pooled=True)
    torch.testing.assert_close(pooled.std, per_channel.std(dim=1, correction=0).float())


# ---------------------------------------------------------------------------- checkpoints


def test_checkpoint_round_trip_resumes_identically(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.pth"
    saved = make_arch(init_seed=0)
    saved.train(2, seed=1, progress=False)
    saved.save_checkpoint(path)

    fresh = make_arch(init_seed=99)
    fresh.model.eval()
    fresh.load_checkpoint(path)
    assert fresh.model.training
    assert fresh.total_epochs == 2
    assert fresh.losses == saved.losses and fresh.val_losses == saved.val_losses
    for name, tensor in saved.model.state_dict().items():
        assert torch.equal(fresh.model.state_dict()[name], tensor), name
    for p_saved, p_fresh in zip(saved.model.parameters(), fresh.model.parameters(),
                                strict=True):
        for key in ("exp_avg", "exp_avg_sq", "step"):
            assert torch.equal(saved.optimizer.state[p_saved][key],
                               fresh.optimizer.state[p_fresh][key])

    saved.train(1, seed=3, progress=False)
    fresh.train(1, seed=3, progress=False)
    assert fresh.losses == saved.losses and fresh.total_epochs == 3


# -------------------------------------------------------------------------- plots, import


def test_visualize_filters_and_plot_losses() -> None:
    model = CNN2(n_feature=2)  # few filters: few axes to draw
    arch = Architecture(model, nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.1))
    arch.losses, arch.val_losses = [1.0, 0.5], [1.1, 0.6]
    assert len(arch.visualize_filters("conv1").axes) == 2 * 3
    assert len(arch.visualize_filters("conv2", cmap="viridis").axes) == 2 * 2
    assert len(arch.plot_losses().axes[0].lines) == 2
    with pytest.raises(ValueError, match="conv1"):
        arch.visualize_filters("conv3")
    with pytest.raises(ValueError, match="Conv2d"):
        arch.visualize_filters("fc1")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_on_the_gpu(tmp_path: Path) -> None:
    arch = make_arch()
    arch.to("cuda")
    arch.train(2, progress=False)
    x, y = learnable_data()
    assert arch.correct(x, y).device.type == "cpu"
    assert arch.predict(x).shape == (64, 3)
    arch.save_checkpoint(tmp_path / "gpu.pth")
    fresh = make_arch(init_seed=5)
    fresh.to("cuda")
    fresh.load_checkpoint(tmp_path / "gpu.pth")
    assert fresh.losses == arch.losses
    # reproducible on the GPU too: the same seed gives the same losses
    runs = []
    for _ in range(2):
        again = make_arch()
        again.to("cuda")
        again.train(2, seed=3, progress=False)
        runs.append((again.losses, again.val_losses))
    assert runs[0] == runs[1]


# ----------------------------------------------------------- gradients, parts, resuming


def textbook_run(init_seed: int, seed: int, n_epochs: int, stale_gradient: bool
                 ) -> tuple[list[float], nn.Module]:
    """The textbook loop (zero_grad, forward, backward, step) on 60 images, batches of 16."""
    torch.manual_seed(init_seed)
    model = CNN2(n_feature=5, p=0.3)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    x, y = learnable_data(60)
    if stale_gradient:  # a reader's manual backward() before training: zero_grad clears it
        model(x).sum().backward()
    loader = DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True)  # last batch: 12
    torch.manual_seed(seed)
    losses = []
    for _ in range(n_epochs):
        model.train()
        batch_losses = []
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            optimizer.step()
            batch_losses.append(loss.item())
        losses.append(float(np.mean(batch_losses)))
    return losses, model


def arch_60(init_seed: int = 0) -> Architecture:
    torch.manual_seed(init_seed)
    model = CNN2(n_feature=5, p=0.3)
    arch = Architecture(model, nn.CrossEntropyLoss(),
                        torch.optim.Adam(model.parameters(), lr=1e-2)).to("cpu")
    x, y = learnable_data(60)
    arch.set_loaders(DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True))
    return arch


def test_a_gradient_left_behind_does_not_leak_into_training() -> None:
    expected, model = textbook_run(init_seed=0, seed=5, n_epochs=2, stale_gradient=True)
    arch = arch_60(init_seed=0)
    x, _ = learnable_data(60)
    arch.model(x).sum().backward()  # a stale gradient, as a hooks demo would leave
    arch.train(2, seed=5, progress=False)
    assert arch.losses == pytest.approx(expected, rel=1e-6)
    for ours, theirs in zip(arch.model.parameters(), model.parameters(), strict=True):
        torch.testing.assert_close(ours, theirs)


def test_training_in_parts_equals_training_at_once() -> None:
    at_once, in_parts = make_arch(), make_arch()
    at_once.train(4, seed=3, progress=False)
    in_parts.train(2, seed=3, progress=False)
    torch.rand(1000)  # anything random in between (a figure, another model) changes nothing
    in_parts.train(2, progress=False)
    assert in_parts.losses == at_once.losses and in_parts.val_losses == at_once.val_losses
    for ours, theirs in zip(in_parts.model.parameters(), at_once.model.parameters(),
                            strict=True):
        assert torch.equal(ours, theirs)


def test_in_parts_with_the_loaders_own_generator_and_the_default_seed() -> None:
    at_once = make_arch(generator=torch.Generator().manual_seed(1))
    in_parts = make_arch(generator=torch.Generator().manual_seed(2))
    at_once.train(3, progress=False)  # first call without a seed: seed 42
    in_parts.train(1, progress=False)
    in_parts.train(2, progress=False)
    assert in_parts.losses == at_once.losses


def test_a_new_seed_starts_afresh() -> None:
    first, second = make_arch(), make_arch()
    first.train(2, seed=3, progress=False)
    first.train(2, seed=3, progress=False)  # the same two epochs' randomness again
    second.train(2, seed=3, progress=False)
    second.set_seed(3)
    second.train(2, progress=False)
    assert first.losses == second.losses


def test_a_resumed_run_continues_as_if_uninterrupted(tmp_path: Path) -> None:
    uninterrupted = make_arch(init_seed=0)
    uninterrupted.train(4, seed=11, progress=False)
    first_half = make_arch(init_seed=0)
    first_half.train(2, seed=11, progress=False)
    first_half.save_checkpoint(tmp_path / "half.pth")
    torch.manual_seed(1234)  # a new kernel: the random state is whatever it is
    resumed = make_arch(init_seed=99)
    resumed.load_checkpoint(tmp_path / "half.pth")
    resumed.train(2, progress=False)
    assert resumed.losses == uninterrupted.losses
    assert resumed.val_losses == uninterrupted.val_losses
    for ours, theirs in zip(resumed.model.parameters(), uninterrupted.model.parameters(),
                            strict=True):
        assert torch.equal(ours, theirs)


def test_to_returns_the_trainer() -> None:
    arch = make_arch()
    assert arch.to("cpu") is arch


class FailingLoader:
    """A validation 'loader' whose second pass fails (a wrong image size, say)."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.x, self.y, self.passes = x, y, 0

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        self.passes += 1
        if self.passes == 2:
            yield self.x[:, :, :20, :20], self.y  # CNN2 cannot take 20x20 images
        yield self.x, self.y


def test_a_failing_validation_keeps_the_losses_in_step() -> None:
    arch = make_arch()
    x, y = learnable_data(16)
    arch.val_loader = FailingLoader(x, y)  # type: ignore[assignment]
    with pytest.raises(ValueError, match="3x20x20"):
        arch.train(3, progress=False)
    assert len(arch.losses) == len(arch.val_losses) == arch.total_epochs == 2
    assert np.isnan(arch.val_losses[1]) and not np.isnan(arch.val_losses[0])


def test_predict_and_correct_compute_with_one_cpu_thread() -> None:
    arch = make_arch()
    seen: list[int] = []
    arch.model.register_forward_hook(lambda m, i, o: seen.append(torch.get_num_threads()))
    x, y = learnable_data(8)
    previous = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        arch.predict(x)
        arch.correct(x, y)
        assert seen == [1, 1] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(previous)


def test_a_numpy_integer_seed_is_a_seed() -> None:
    import numpy as np

    plain, numpy_seeded = make_arch(init_seed=0), make_arch(init_seed=0)
    plain.train(1, seed=3, progress=False)
    numpy_seeded.train(1, seed=np.int64(3), progress=False)  # e.g. from np.arange
    assert numpy_seeded.losses == plain.losses
