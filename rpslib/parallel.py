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
(``tests/test_parallel.py``). If a training fails, its error is raised here at once and no
Architecture changes; if a training's process dies (killed, out of memory, ``os._exit``), a
``RuntimeError`` says so at once; Ctrl-C stops every process.

The trainings run one after another, here, where side by side would not be the same or
would not pay: on a GPU, or once CUDA has started in this process (a forked copy cannot use
it), on one core, where forking is not safe (macOS, Windows), for a single Architecture,
when two Architectures share a model, parameters or an optimizer (in order, the second
training continues from the first), when a loader has worker processes of its own, when a
callback other than a scheduler is attached (a capture records what happens while
training: it must see it), and when the environment variable ``RPSLIB_PARALLEL=0`` asks for
it. ``side_by_side_plan`` says which, and why.

Introduced in chapter 3.
"""

from __future__ import annotations

import multiprocessing
import operator
import os
import pickle
import sys
import time
import traceback
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING, Any

import torch

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
    if torch.cuda.is_initialized():
        return 1, "CUDA has started in this process: a forked copy of it cannot use CUDA"
    for arch in archs:
        others = [type(c).__name__ for c in arch.callbacks
                  if not isinstance(c, schedulers.SchedulerCallback)]
        if others:
            return 1, f"callbacks attached ({', '.join(others)}) record while training"
        for loader in (arch.train_loader, arch.val_loader):
            if loader is not None and loader.num_workers > 0:
                return 1, (f"a loader has worker processes (num_workers={loader.num_workers}): "
                           f"a training process cannot start its own")
    if len({id(arch) for arch in archs}) < len(archs):
        return 1, "the same Architecture twice: its trainings follow each other"
    shared = _shared(archs)
    if shared is not None:
        return 1, f"{shared}: in order, the second training continues from the first"
    return len(archs), f"one process per training, on {cores} CPU cores"


def _shared(archs: Sequence[Architecture]) -> str | None:
    """Which two of ``archs`` share a model, parameters or an optimizer, or ``None``."""
    owner: dict[int, int] = {}  # id of a parameter or an optimizer -> index of its arch
    for i, arch in enumerate(archs):
        parts = [id(arch.optimizer)] + [id(p) for p in arch.model.parameters()]
        parts += [id(p) for group in arch.optimizer.param_groups for p in group["params"]]
        for part in set(parts):
            if owner.setdefault(part, i) != i:
                return (f"Architectures {owner[part] + 1} and {i + 1} share a model, parameters "
                        f"or an optimizer")
    return None


def train_side_by_side(archs: Iterable[Architecture], n_epochs: int,
                       seed: int | None | Iterable[int | None] = None,
                       progress: bool | None = None) -> None:
    """``arch.train(n_epochs, seed=seed)`` for every arch in ``archs``, side by side.

    The result is the same as calling them in order (see the module's docstring); on a CPU
    with two cores or more, it comes in about the time of one training per core.

    Args:
        archs: the Architectures to train, each with its loaders set.
        n_epochs, seed: as for ``Architecture.train``; ``seed`` may also be an iterable (a
            list, a numpy array, a generator), one seed per arch.
        progress: one after another, each training's progress bar; side by side, one line
            when all are done (``None``: unless ``RPSLIB_PROGRESS=0``).

    Raises:
        RuntimeError: a training's process died (it was killed, ran out of memory, or
            called ``os._exit`` or ``sys.exit``), or raised an error that cannot be sent
            back as it is (its text is in the message). No Architecture changed.

    Introduced in chapter 3.
    """
    archs = list(archs)
    seeds = _seeds(seed, len(archs))
    processes, _ = side_by_side_plan(archs)
    if processes == 1:
        for arch, arch_seed in zip(archs, seeds, strict=True):
            arch.train(n_epochs, seed=arch_seed, progress=progress)
        return
    global _ARCHS
    _ARCHS = archs
    start = time.perf_counter()
    states: list[dict[str, Any]] = [{} for _ in archs]
    # one process per training: each computes with one thread, so a third training on two
    # cores shares them fairly instead of waiting for a free one. Unlike a
    # multiprocessing.Pool, the executor notices a process that dies, and says so.
    pool = ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("fork"))
    try:
        futures = {pool.submit(_train_one, i, n_epochs, seeds[i]): i for i in range(len(archs))}
        for future in as_completed(futures):  # the first failure is raised at once
            i = futures[future]
            try:
                states[i] = _result(future.result(), i)
            except BrokenProcessPool:
                raise RuntimeError(
                    f"a training's process died before it finished (training {i + 1} or one "
                    f"beside it): it was killed (out of memory?) or called os._exit. No "
                    f"Architecture changed; RPSLIB_PARALLEL=0 trains them in order, here.",
                ) from None
    finally:
        _ARCHS = ()
        # Ctrl-C or a failure: stop the rest (no public way to kill a pool's workers before
        # Python 3.14's terminate_workers)
        for process in list(pool._processes.values()):
            if process.is_alive():
                process.kill()
        pool.shutdown(wait=True, cancel_futures=True)
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


def _seeds(seed: int | None | Iterable[int | None], n: int) -> list[int | None]:
    """One seed per training: ``seed`` for all, or one each from an iterable of seeds."""
    if seed is None:
        return [None] * n
    try:
        return [operator.index(seed)] * n  # type: ignore[arg-type]  # an int, a numpy integer
    except TypeError:
        pass
    if isinstance(seed, str | bytes) or not isinstance(seed, Iterable):
        raise TypeError(f"seed must be an integer, None, or one seed per Architecture; got "
                        f"{type(seed).__name__}") from None
    seeds = [None if s is None else operator.index(s) for s in seed]
    if len(seeds) != n:
        raise ValueError(f"{len(seeds)} seeds for {n} Architectures: give one each")
    return seeds


def _train_one(index: int, n_epochs: int, seed: int | None) -> tuple[str, Any]:
    """In a forked process: train ``_ARCHS[index]``; return ``("ok", its snapshot)``, or
    ``("error", (the pickled error or None, its traceback as text))``."""
    try:
        arch = _ARCHS[index]
        arch.train(n_epochs, seed=seed, progress=False)
        return "ok", checkpoints.snapshot(arch)
    except BaseException as err:  # noqa: BLE001 - sys.exit too: the error goes back as data
        text = "".join(traceback.format_exception(err))
        pickled: bytes | None = None
        try:
            data = pickle.dumps(err)
            pickle.loads(data)  # an error whose class cannot be rebuilt (its __init__ takes
            pickled = data  # other arguments) goes back as text only
        except Exception:  # noqa: BLE001
            pass
        return "error", (pickled, text)


class _ChildTraceback(Exception):
    """The traceback of an error raised in a training's process, shown as its cause."""


def _result(result: tuple[str, Any], index: int) -> dict[str, Any]:
    """The snapshot that ``_train_one`` sent back, or its error raised here."""
    kind, value = result
    if kind == "ok":
        return value
    pickled, text = value
    err = None if pickled is None else pickle.loads(pickled)
    if isinstance(err, Exception):
        raise err from _ChildTraceback(f"in training {index + 1}'s process:\n{text}")
    last = text.strip().splitlines()[-1]
    raise RuntimeError(f"training {index + 1} failed in its own process with {last}; no "
                       f"Architecture changed. Its traceback:\n{text}")
