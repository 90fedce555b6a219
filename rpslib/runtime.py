"""Where and how torch computes: the device, and the CPU thread count during training.

On a 2-core laptop torch's default of one worker thread per core is fragile: when anything
else keeps a core busy (a second kernel, a data-loader worker, a parallel test), the threads
wait on each other and a CNN2 epoch can take 50x longer.  One thread costs about 10 % when
the machine is idle and nothing under contention (``python -m tools.bench`` measures both),
so the trainer computes with one CPU thread *while it trains* and restores the previous
setting afterwards.  Nothing here runs at import.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


def default_device() -> str:
    """``"cuda"`` when a GPU is available (as on Colab with a GPU runtime), else ``"cpu"``.
    """
    return "cuda" if torch.cuda.is_available() else "cpu"


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``n`` intra-op CPU threads, then restore the previous count.

    ``n=None`` leaves the setting alone.
    """
    if n is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@contextmanager
def deterministic_cudnn() -> Iterator[None]:
    """Inside the block, cuDNN picks deterministic algorithms and no autotuning; then restore.

    On a GPU, cuDNN may otherwise choose convolution algorithms whose results vary from run to
    run, so the same seed would not give the same losses.  On the CPU this changes nothing.
    """
    cudnn = torch.backends.cudnn
    previous = (cudnn.deterministic, cudnn.benchmark)
    cudnn.deterministic, cudnn.benchmark = True, False
    try:
        yield
    finally:
        cudnn.deterministic, cudnn.benchmark = previous
