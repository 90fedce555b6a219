"""Capturing parameters and gradients during training, to watch a model learn.

``Architecture.capture_parameters(["fc1"])`` and ``Architecture.capture_gradients(["fc1"])``
(the slides' names) delegate here.  Each returns a ``Capture`` that records, for every
parameter of the named layers (e.g. ``"fc1"`` -> ``"weight"``, ``"bias"``):

- parameters: the values when the capture starts, then one snapshot after each *training*
  step: N steps give N + 1 points (validation passes add nothing);
- gradients: one per backward pass of a training step, through PyTorch tensor hooks
  (``Tensor.register_hook``) that record only while a training step runs.

Unlike the slides' version, a capture never leaks and never doubles up: capturing a layer
again replaces the earlier capture of that layer; ``remove()``, ``arch.remove_hooks()`` or
leaving a ``with`` block takes off every hook this module added, and none it did not.  Values
are detached copies on the CPU; ``summary=True`` keeps only each tensor's norm, mean and std,
for layers too large to keep whole.

Introduced in chapter 6.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from rpslib.callbacks import Callback

if TYPE_CHECKING:
    from rpslib.trainer import Architecture

__all__ = ["Capture", "GradientCapture", "ParameterCapture", "capture", "count_hooks",
           "remove_captures"]

# A captured value: a detached CPU copy, or its summary
Value = Tensor | dict[str, float]


def _keep(tensor: Tensor, summary: bool) -> Value:
    """A detached CPU copy of ``tensor``, or its norm, mean and std (``summary=True``)."""
    t = tensor.detach()
    if summary:
        return {"norm": t.norm().item(), "mean": t.mean().item(),
                "std": t.std().item() if t.numel() > 1 else 0.0}
    return t.to("cpu", copy=True)


class Capture(Callback, Mapping[str, dict[str, list[Value]]]):
    """What was captured for some layers: ``capture["fc1"]["weight"]`` is a list of values.

    A ``Callback`` of the trainer and a read-only mapping layer -> parameter name -> list.
    Use it as a context manager to remove its hooks on leaving the block (the values stay).

    Introduced in chapter 6.
    """

    kind = "capture"

    def __init__(self, model: nn.Module, layers: Sequence[str], summary: bool = False) -> None:
        self.summary = summary
        self.layers: dict[str, nn.Module] = {name: _layer(model, name) for name in layers}
        self.captured: dict[str, dict[str, list[Value]]] = {
            name: {p: [] for p, _ in self._parameters(layer)}
            for name, layer in self.layers.items()}
        self._shapes = {(name, p): tuple(param.shape) for name, layer in self.layers.items()
                        for p, param in self._parameters(layer)}
        self._arch: Architecture | None = None

    def _parameters(self, layer: nn.Module) -> list[tuple[str, nn.Parameter]]:
        """The parameters of ``layer`` this capture records (all of them)."""
        return list(layer.named_parameters())

    # the mapping: capture["fc1"]["weight"]
    def __getitem__(self, layer: str) -> dict[str, list[Value]]:
        return self.captured[layer]

    def __iter__(self) -> Iterator[str]:
        return iter(self.captured)

    def __len__(self) -> int:
        return len(self.captured)

    # a capture is one object, not its contents: two captures are equal only if the same
    __eq__ = object.__eq__
    __hash__ = object.__hash__

    def stacked(self, layer: str, parameter: str) -> Tensor:
        """The captured values of one parameter as one tensor ``(n_points, *shape)``.

        (With ``summary=True``: ``(n_points, 3)``, the columns norm, mean, std.)
        """
        values = self.captured[layer][parameter]
        if not values:  # nothing recorded yet (no training step, or the layer took no part)
            return torch.zeros(0, 3) if self.summary else torch.zeros(
                0, *self._shapes[layer, parameter])
        if self.summary:
            return torch.tensor([[v["norm"], v["mean"], v["std"]] for v in values])  # type: ignore[index]
        return torch.stack(values)  # type: ignore[arg-type]

    def norms(self, layer: str) -> Tensor:
        """The norm of all of ``layer``'s parameters together at each point: shape (n_points,).

        The square root of the sum of every element squared, weight and bias together (the
        layer's gradient norm, for a gradient capture); the same from full tensors or from
        ``summary=True`` norms.

        Introduced in chapter 6.
        """
        squares = []
        for parameter, values in self.captured[layer].items():
            if not values:
                return torch.zeros(0)
            stacked = self.stacked(layer, parameter).double()
            squares.append(stacked[:, 0] ** 2 if self.summary
                           else stacked.flatten(1).pow(2).sum(dim=1))
        return torch.stack(squares).sum(dim=0).sqrt().float()

    def attach(self, arch: Architecture) -> Capture:
        """Start capturing while ``arch`` trains."""
        self._arch = arch
        arch.add_callback(self)
        return self

    def drop_layer(self, layer: str) -> None:
        """Stop capturing ``layer`` (its values stay)."""
        self.layers.pop(layer, None)

    def remove(self) -> None:
        """Take off everything this capture added; the captured values stay."""
        if self._arch is not None:
            self._arch.remove_callback(self)
            self._arch = None

    def __enter__(self) -> Capture:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.remove()

    def __repr__(self) -> str:
        counts = {f"{layer}.{p}": len(v) for layer, params in self.captured.items()
                  for p, v in params.items()}
        return f"{type(self).__name__}({counts})"


class ParameterCapture(Capture):
    """The values of the layers' parameters: the starting ones, then after each training step.

    Introduced in chapter 6.
    """

    kind = "parameters"

    def __init__(self, model: nn.Module, layers: Sequence[str], summary: bool = False) -> None:
        super().__init__(model, layers, summary)
        self._record()  # the starting point: N steps give N + 1 points

    def on_step_end(self, arch: Architecture, loss: Tensor) -> None:
        self._record()

    def _record(self) -> None:
        for name, layer in self.layers.items():
            for p_name, param in layer.named_parameters():
                self.captured[name][p_name].append(_keep(param, self.summary))


class GradientCapture(Capture):
    """The gradients of the layers' parameters, once per backward pass of a training step.

    Introduced in chapter 6.
    """

    kind = "gradients"

    def __init__(self, model: nn.Module, layers: Sequence[str], summary: bool = False) -> None:
        super().__init__(model, layers, summary)
        frozen = [name for name, params in self.captured.items() if not params]
        if frozen:
            raise ValueError(f"no parameter of {frozen} requires a gradient (frozen with "
                             f"requires_grad=False): there is no gradient to capture")
        self._in_step = False
        self._handles: dict[str, list[Any]] = {}
        try:
            for name in self.layers:
                self._hook(name)
        except BaseException:  # all or nothing: no hook left behind
            self.remove()
            raise

    def _parameters(self, layer: nn.Module) -> list[tuple[str, nn.Parameter]]:
        """The parameters that get a gradient: a frozen one (``requires_grad=False``) has
        none, and no entry."""
        return [(p, param) for p, param in layer.named_parameters() if param.requires_grad]

    def _hook(self, name: str) -> None:
        handles = self._handles.setdefault(name, [])  # each one kept at once: all or nothing
        for p_name, param in self._parameters(self.layers[name]):
            values = self.captured[name][p_name]

            def record(grad: Tensor, values: list[Value] = values) -> None:
                if self._in_step:  # a backward pass outside training records nothing
                    values.append(_keep(grad, self.summary))

            handles.append(param.register_hook(record))

    def on_step_begin(self, arch: Architecture) -> None:
        self._in_step = True

    def on_step_end(self, arch: Architecture, loss: Tensor) -> None:
        self._in_step = False

    def on_train_end(self, arch: Architecture) -> None:
        self._in_step = False  # also after a step that failed halfway

    def drop_layer(self, layer: str) -> None:
        for handle in self._handles.pop(layer, []):
            handle.remove()
        super().drop_layer(layer)

    def remove(self) -> None:
        for layer in list(self._handles):
            for handle in self._handles.pop(layer):
                handle.remove()
        super().remove()


def capture(arch: Architecture, kind: type[Capture], layers: str | Sequence[str],
            summary: bool = False) -> Capture:
    """Start a capture of ``kind`` on ``arch``'s layers, replacing earlier ones of them.

    An earlier capture of the same kind stops capturing these layers (its values stay); if
    it has no layers left, it is removed altogether.
    """
    names = [layers] if isinstance(layers, str) else list(layers)
    new = kind(arch.model, names, summary)  # checks the names before changing anything
    for old in [cb for cb in arch.callbacks if type(cb) is kind]:
        assert isinstance(old, Capture)
        for name in names:
            old.drop_layer(name)
        if not old.layers:
            old.remove()
    return new.attach(arch)


def remove_captures(arch: Architecture) -> None:
    """Remove every capture of ``arch`` (and so every hook this module added)."""
    for callback in list(arch.callbacks):
        if isinstance(callback, Capture):
            callback.remove()


def count_hooks(model: nn.Module) -> int:
    """How many hooks sit on ``model``'s modules and parameters, whoever added them.

    Counts the modules' forward, forward-pre, backward and backward-pre hooks and the
    parameters' tensor hooks (``register_hook``, ``register_post_accumulate_grad_hook``).
    Count before and after a capture to see that it takes off exactly what it added.  Hooks
    registered for all modules at once (``torch.nn.modules.module.register_module_*``) are
    not on the model and not counted.

    Introduced in chapter 6.
    """
    n = 0
    for module in model.modules():
        n += (len(module._forward_hooks) + len(module._forward_pre_hooks)
              + len(module._backward_hooks) + len(module._backward_pre_hooks))
    for param in model.parameters():
        n += len(param._backward_hooks or {})
        n += len(getattr(param, "_post_accumulate_grad_hooks", None) or {})
    return n


def _layer(model: nn.Module, name: str) -> nn.Module:
    """The submodule ``name``, or a ``ValueError`` listing the names that exist."""
    try:
        layer = model.get_submodule(name)
    except AttributeError:
        layer = None
    if layer is None or not any(True for _ in layer.parameters()):
        names = [n for n, m in model.named_modules()
                 if n and any(True for _ in m.parameters(recurse=False))]
        raise ValueError(f"the model has no layer with parameters called {name!r}; "
                         f"its layers with parameters are {names}")
    return layer
