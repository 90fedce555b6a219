"""Benchmark: ``python -m tools.bench`` prints the figures the course's speed choices rest on.

1. drawing the stand-in (2,892 images);
2. loading the images: the first load (decoding every PNG) and the cached load;
3. one CNN2 epoch over (a) ``ImageFolder`` decoding every epoch, as in the slides, and (b) the
   cached tensors, and the ratio (goal: at least 10x);
4. ``Architecture.train`` against a plain PyTorch loop on the same tensors (goal: within 10 %);
5. a cached epoch with torch's default thread count and with one thread, on an idle machine
   and while another process keeps a core busy;
6. ``Architecture.lr_range_test`` against ``torch-lr-finder``'s ``range_test`` on the same
   work (100 iterations, the same model, data and schedule; goal: no slower);
7. ``Architecture.train`` while capturing the parameters and gradients of every layer, against
   the same training without capture (goal: at most 1.5x).

Timings are medians of several runs.  Nothing here is a unit test: wall-clock time depends on
the machine.  Run it on an otherwise idle machine.  A maintainer's tool, so it lives in
``tools/``, not in the package that Colab installs.
"""

from __future__ import annotations

import argparse
import io
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from functools import partial

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from torchvision import transforms

from rpslib.data import ImageFolder, get_rps, load_tensors
from rpslib.data.stand_in import generate_rps
from rpslib.models import CNN2
from rpslib.runtime import torch_threads
from rpslib.trainer import Architecture


def median_time(fn: Callable[[], object], repeats: int) -> float:
    """The median wall-clock seconds of ``repeats`` calls of ``fn``."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def fresh_model(seed: int = 13) -> tuple[nn.Module, torch.optim.Optimizer]:
    """A new ``CNN2(n_feature=5, p=0.3)``, seeded with ``seed``, and its Adam (lr 3e-4)."""
    torch.manual_seed(seed)
    model = CNN2(n_feature=5, p=0.3)
    return model, torch.optim.Adam(model.parameters(), lr=3e-4)


def plain_epoch(model: nn.Module, optimizer: torch.optim.Optimizer,
                loader: DataLoader[tuple[torch.Tensor, ...]]) -> None:
    """One epoch of the textbook training loop, as the oracle for the trainer's overhead.

    ``loader`` gives (x, y) mini-batches: images (N, 3, 28, 28) and class indices (N,).
    """
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    for x, y in loader:
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()


@contextmanager
def busy_core() -> Iterator[None]:
    """Keep one core busy with another process, as a second kernel or a test would."""
    proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        yield
    finally:
        proc.kill()
        proc.wait()


def range_tests(loader: DataLoader[tuple[torch.Tensor, ...]], repeats: int) -> None:
    """Time our range test and torch-lr-finder's on the same 100 iterations, alternating.

    Both compute with one CPU thread (ours does so by itself, as ``train`` does).
    """
    from torch_lr_finder import LRFinder

    times: dict[str, list[float]] = {"rpslib": [], "torch-lr-finder": []}
    for _ in range(repeats):
        for name in times:
            model, opt = fresh_model()
            start = time.perf_counter()
            if name == "rpslib":
                arch = Architecture(model, nn.CrossEntropyLoss(), opt).to("cpu")
                arch.lr_range_test(loader, end_lr=0.1, num_iter=100, plot=False)
            else:
                finder = LRFinder(model, opt, nn.CrossEntropyLoss(), device="cpu")
                with torch_threads(1), redirect_stdout(io.StringIO()), \
                        redirect_stderr(io.StringIO()):  # its progress bar and messages
                    finder.range_test(loader, end_lr=0.1, num_iter=100)
                finder.reset()
            times[name].append(time.perf_counter() - start)
    ours, theirs = (statistics.median(times[k]) for k in ("rpslib", "torch-lr-finder"))
    print(f"6. LR range test, 100 iterations (median of {repeats}, alternating): rpslib "
          f"{ours:.2f} s, torch-lr-finder {theirs:.2f} s: ratio {ours / theirs:.2f}")


def capture_overhead(loader: DataLoader[tuple[torch.Tensor, ...]], repeats: int) -> None:
    """Time one epoch with every layer's parameters and gradients captured, and without."""
    times: dict[str, list[float]] = {"capturing": [], "plain": []}
    layers = ["conv1", "conv2", "fc1", "fc2"]
    for _ in range(repeats):
        for name in times:
            model, opt = fresh_model()
            arch = Architecture(model, nn.CrossEntropyLoss(), opt).to("cpu")
            arch.set_loaders(loader)
            start = time.perf_counter()
            if name == "capturing":
                with arch.capture_parameters(layers), arch.capture_gradients(layers):
                    arch.train(1, progress=False)
            else:
                arch.train(1, progress=False)
            times[name].append(time.perf_counter() - start)
    ours, plain = (statistics.median(times[k]) for k in ("capturing", "plain"))
    print(f"7. one epoch capturing every layer's parameters and gradients {ours:.2f} s, "
          f"without {plain:.2f} s (median of {repeats}, alternating): ratio {ours / plain:.2f}")


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--skip-generate", action="store_true",
                        help="use get_rps()'s images instead of drawing a fresh stand-in")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--only", choices=["range-test", "capture"],
                        help="time only item 6 (range-test) or 7 (capture), on get_rps()'s images")
    args = parser.parse_args(argv)
    r = args.repeats
    print(f"torch {torch.__version__}, default threads {torch.get_num_threads()}, CPU only")
    if args.only:
        x, y = load_tensors(get_rps().train, progress_bar=False).tensors
        normalize = transforms.Normalize(x.mean(dim=(0, 2, 3)), x.std(dim=(0, 2, 3)))
        loader = DataLoader(TensorDataset(normalize(x), y), batch_size=16, shuffle=True)
        (range_tests if args.only == "range-test" else capture_overhead)(loader, r)
        return

    with tempfile.TemporaryDirectory() as tmp:
        if args.skip_generate:
            train_dir, _, source = get_rps()
        else:
            start = time.perf_counter()
            train_dir, _ = generate_rps(tmp, progress_bar=False)
            source = "synthetic"
            print(f"1. drawing the stand-in (2,892 images): {time.perf_counter() - start:.1f} s")
        print(f"   images: {source}, {train_dir}")

        start = time.perf_counter()
        train = load_tensors(train_dir, progress_bar=False)
        first = time.perf_counter() - start
        cached = median_time(lambda: load_tensors(train_dir, progress_bar=False), r)
        print(f"2. load_tensors, training split: first load {first:.2f} s "
              f"(from the cache if it existed), cached load {cached:.2f} s")

        x, y = train.tensors
        mean, std = x.mean(dim=(0, 2, 3)), x.std(dim=(0, 2, 3))
        normalize = transforms.Normalize(mean, std)
        folder = ImageFolder(train_dir, transform=transforms.Compose(
            [transforms.Resize(28), transforms.ToTensor(), normalize]))
        folder_loader: DataLoader[tuple[torch.Tensor, ...]] = DataLoader(
            folder, batch_size=16, shuffle=True)
        tensors = TensorDataset(normalize(x), y)
        tensor_loader = DataLoader(tensors, batch_size=16, shuffle=True)

        with torch_threads(1):
            model, opt = fresh_model()
            t_folder = median_time(lambda: plain_epoch(model, opt, folder_loader), 3)
            t_tensor = median_time(lambda: plain_epoch(model, opt, tensor_loader), r)
        print(f"3. one CNN2 epoch (1 thread): (a) ImageFolder decoding every epoch "
              f"{t_folder:.2f} s, (b) cached tensors {t_tensor:.2f} s: "
              f"{t_folder / t_tensor:.1f}x faster")

        model, opt = fresh_model()
        arch = Architecture(model, nn.CrossEntropyLoss(), opt)
        arch.to("cpu")
        arch.set_loaders(tensor_loader)
        plain_model, plain_opt = fresh_model()
        runs: dict[str, list[tuple[float, float]]] = {"trainer": [], "plain": []}
        for _ in range(2 * r):  # alternate, so both see the same (noisy) machine
            for name in runs:
                wall, cpu = time.perf_counter(), time.process_time()
                if name == "trainer":
                    arch.train(1, progress=False)
                else:
                    with torch_threads(1):
                        plain_epoch(plain_model, plain_opt, tensor_loader)
                runs[name].append((time.perf_counter() - wall, time.process_time() - cpu))
        for k, label in enumerate(("wall", "CPU")):
            t_arch = statistics.median(t[k] for t in runs["trainer"])
            t_plain = statistics.median(t[k] for t in runs["plain"])
            print(f"4. Architecture.train {t_arch:.3f} s/epoch, plain loop {t_plain:.3f} "
                  f"s/epoch ({label} time, median of {2 * r}): ratio {t_arch / t_plain:.3f}")

        n_default = torch.get_num_threads()
        row = {}
        for label, threads in ((f"default ({n_default})", None), ("1 thread", 1)):
            model, opt = fresh_model()
            epoch = partial(plain_epoch, model, opt, tensor_loader)
            with torch_threads(threads):
                idle = median_time(epoch, r)
                with busy_core():  # the default setting can take 50x longer: time it once
                    busy = median_time(epoch, 1 if threads is None else r)
            row[label] = (idle, busy)
        print("5. cached epoch, idle / one core busy:")
        for label, (idle, busy) in row.items():
            print(f"   {label:>12}: {idle:.2f} s / {busy:.2f} s")

        range_tests(tensor_loader, r)
        capture_overhead(tensor_loader, r)


if __name__ == "__main__":
    main()
