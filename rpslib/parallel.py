"""Independent trainings side by side, one per CPU core: the same results, sooner.

Chapter 3 trains CNN2 twice (without and with dropout), chapter 4 twice (two learning rates),
chapter 8 three times. The trainings do not depend on each other, and ``train`` computes with
one CPU thread, so on a laptop's two cores they can run at the same time::

    train_side_by_side([arch_a, arch_b], 10, seed=13)
    # leaves arch_a and arch_b as:  arch_a.train(10, seed=13); arch_b.train(10, seed=13)

How: each training runs in a *forked* copy of this Python process (it starts at once, with
the models, the data and the loaders already in memory), exactly as ``train`` would run it
here. What training changed (weights, optimizer state, losses, scheduler, the random-number
state; a ``rpslib.checkpoints.snapshot``) comes back through a pipe and is loaded into the
very objects you passed, so the result is the same, bit for bit, as training them one after
another, and so are torch's, numpy's and Python's random-number states afterwards
(``tests/test_parallel.py``). If a training fails, the error is raised here and no
Architecture changes; Ctrl-C stops every process.

The trainings run one after another, here, where side by side would not be the same or
would not pay: on a GPU, on one core, where forking is not safe (macOS, Windows), for a
single Architecture, when a callback other than a scheduler is attached (a capture records
what happens while training: it must see it), and when the environment variable
``RPSLIB_PARALLEL=0`` asks for it. ``side_by_side_plan`` says which, and why.

Introduced in chapter 3.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from rpslib import checkpoints, schedulers
from rpslib.progress import progress_enabled
from rpslib.seeding import set_rng_state

if TYPE_CHECKING:
    from rpslib.trainer import Architecture

__all__ = ["side_by_side_plan", "train_side_by_side"]

# The Architectures of the call in progress: forked processes inherit them (nothing is pickled)
_ARCHS: Sequence[Architecture] = ()


def side_by_side_plan(archs: Sequence[Architecture]) -> tuple[int, str]:
    """How many processes ``train_side_by_side`` would use for ``archs``, and why.

    Returns ``(n_processes, reason)``; ``n_processes == 1`` means one after another, here.
    """
    if len(archs) < 2:
        return 1, "a single training"
    if os.environ.get("RPSLIB_PARALLEL", "1") == "0":
        return 1, "RPSLIB_PARALLEL=0"
    if not sys.platform.startswith("linux"):
        return 1, f"forking is not safe on {sys.platform}"
    if multiprocessing.current_process().daemon:
        return 1, "already inside a worker process"
    cores = len(os.sched_getaffinity(0))
    if cores < 2:
        return 1, "one CPU core"
    for arch in archs:
        if str(arch.device) != "cpu":
            return 1, f"on {arch.device}: the GPU computes each training in parallel already"
        others = [type(c).__name__ for c in arch.callbacks
                  if not isinstance(c, schedulers.SchedulerCallback)]
        if others:
            return 1, f"callbacks attached ({', '.join(others)}) record while training"
    if len({id(arch) for arch in archs}) < len(archs):
        return 1, "the same Architecture twice: its trainings follow each other"
    return len(archs), f"one process per training, on {cores} CPU cores"


def train_side_by_side(archs: Iterable[Architecture], n_epochs: int,
                       seed: int | None | Sequence[int | None] = None,
                       progress: bool | None = None) -> None:
    """``arch.train(n_epochs, seed=seed)`` for every arch in ``archs``, side by side.

    The result is the same as calling them in order (see the module's docstring); on a CPU
    with two cores or more, it comes in about the time of one training per core.

    Args:
        archs: the Architectures to train, each with its loaders set.
        n_epochs, seed: as for ``Architecture.train``; ``seed`` may also be a sequence, one
            seed per arch.
        progress: one after another, each training's progress bar; side by side, one line
            when all are done (``None``: unless ``RPSLIB_PROGRESS=0``).

    Introduced in chapter 3.
    """
    archs = list(archs)
    seeds = list(seed) if isinstance(seed, Sequence) else [seed] * len(archs)
    if len(seeds) != len(archs):
        raise ValueError(f"{len(seeds)} seeds for {len(archs)} Architectures: give one each")
    processes, _ = side_by_side_plan(archs)
    if processes == 1:
        for arch, arch_seed in zip(archs, seeds, strict=True):
            arch.train(n_epochs, seed=arch_seed, progress=progress)
        return
    global _ARCHS
    _ARCHS = archs
    start = time.perf_counter()
    try:
        # one process per training: each computes with one thread, so a third training on two
        # cores shares them fairly instead of waiting for a free one
        with multiprocessing.get_context("fork").Pool(processes) as pool:
            states = pool.starmap(_train_one, [(i, n_epochs, seeds[i]) for i in range(len(archs))])
    finally:
        _ARCHS = ()
    for i, (arch, state) in enumerate(zip(archs, states, strict=True)):
        checkpoints.restore(arch, state, f"of training {i + 1} (trained in its own process)")
    for arch in archs:
        # every generator where training in order leaves it: each loader's own generator as
        # its training left it; torch's, numpy's and Python's as the last training left them
        rng = arch.rng_state()
        if rng is not None:
            set_rng_state(rng, arch._loader_generator())
    if progress_enabled(None if progress is None else not progress):
        print(f"{len(archs)} trainings of {n_epochs} epochs side by side, in {processes} "
              f"processes: {time.perf_counter() - start:.1f} s")


def _train_one(index: int, n_epochs: int, seed: int | None) -> dict[str, Any]:
    """In a forked process: train ``_ARCHS[index]``, return its snapshot."""
    arch = _ARCHS[index]
    arch.train(n_epochs, seed=seed, progress=False)
    return checkpoints.snapshot(arch)
