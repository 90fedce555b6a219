"""What layers output, recorded with forward hooks: Godoy's ``attach_hooks``.

``Architecture.attach_hooks(["conv1", "fc1"])`` (Godoy's name and signature) registers a
forward hook on each named layer. Every forward pass through the layer then appends its
output, a numpy array on the CPU (N, ...), to ``arch.visualization[name]``: run
``arch.predict(images)`` and ``visualization["conv1"]`` holds their feature maps, drawn by
``arch.visualize_outputs(["conv1"])`` (``rpslib.plots.plot_outputs``). A forward hook fires
at every forward pass, training and validation too; it does not tell them apart unless it
checks ``module.training``. So attach, predict, look, and ``arch.remove_hooks()``.

As in Godoy's ``StepByStep``, ``hook_fn(layer, inputs, outputs)`` replaces the recording
with your own function, and each attach starts ``visualization`` afresh. Unlike it,
attaching again first removes the hooks attached before (his kept them: two hooks, every
output recorded twice), a name the model does not have is an error, and ``remove_hooks()``
takes them off with the captures of ``rpslib.hooks``.

Introduced in chapter 6.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.figure import Figure
from torch import nn

from rpslib import plots

if TYPE_CHECKING:
    from rpslib.trainer import Architecture

__all__ = ["attach_hooks", "remove_output_hooks", "visualize_outputs"]

HookFn = Callable[[nn.Module, Any, Any], Any]


def attach_hooks(arch: Architecture, layers_to_hook: str | Sequence[str],
                 hook_fn: HookFn | None = None) -> None:
    """Hook ``layers_to_hook`` (names as in ``model.named_modules()``, e.g. ``"conv1"``).

    Args:
        arch: the Architecture whose model is hooked; ``arch.visualization`` starts empty,
            with ``None`` for each layer until its first output.
        layers_to_hook: a layer name, or several.
        hook_fn: ``hook_fn(layer, inputs, outputs)`` instead of recording the outputs.

    Raises:
        ValueError: a name is not a layer of the model (nothing is attached then).

    Introduced in chapter 6.
    """
    names = [layers_to_hook] if isinstance(layers_to_hook, str) else list(layers_to_hook)
    layers = dict(arch.model.named_modules())
    missing = [name for name in names if not name or name not in layers]
    if missing:
        known = [name for name in layers if name]
        raise ValueError(f"the model has no layer {missing}; its layers are {known}")
    remove_output_hooks(arch)  # never two hooks on one layer
    arch.visualization = {name: None for name in names}
    layer_names = {layers[name]: name for name in names}

    def record(layer: nn.Module, inputs: Any, outputs: Any) -> None:
        name = layer_names[layer]
        values = outputs.detach().cpu().numpy()
        earlier = arch.visualization[name]
        arch.visualization[name] = values if earlier is None else np.concatenate(
            [earlier, values])

    arch._output_hooks = [  # type: ignore[attr-defined]
        layers[name].register_forward_hook(hook_fn or record) for name in names]


def remove_output_hooks(arch: Architecture) -> None:
    """Take off every hook ``attach_hooks`` put on ``arch``'s model (``visualization`` stays).

    Introduced in chapter 6.
    """
    for handle in getattr(arch, "_output_hooks", []):
        handle.remove()
    arch._output_hooks = []  # type: ignore[attr-defined]


def visualize_outputs(arch: Architecture, layers: Sequence[str], n_images: int = 10,
                      y: Any = None, yhat: Any = None) -> Figure:
    """Draw what ``attach_hooks`` recorded: one row per feature map, one column per image
    (``rpslib.plots.plot_outputs``; ``y`` and ``yhat`` label the images).

    Introduced in chapter 6.
    """
    return plots.plot_outputs(arch.visualization, layers, n_images, y, yhat)
