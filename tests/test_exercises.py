"""Each exercise check fails on the shipped stub and on a wrong answer, and passes on the
solution, taken from the chapter notebook itself."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from rpslib import exercises
from tests.conftest import ExerciseCells, exercise_cells

ROOT = Path(__file__).resolve().parent.parent


def wrong_channel_stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    # the slides' approximation: the average of per-image stds is not the pooled std
    flat = x.flatten(2)
    return flat.mean(dim=(0, 2)), flat.std(dim=2).mean(dim=0)


def standardize_times_std(x: torch.Tensor, m: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    return (x - m.view(1, 3, 1, 1)) * s.view(1, 3, 1, 1)


def standardize_as_a_list(x: torch.Tensor, m: torch.Tensor, s: torch.Tensor) -> list[Any]:
    # the right numbers, one tensor per image: not a tensor the check can compare
    return list((x - m.view(1, 3, 1, 1)) / s.view(1, 3, 1, 1))


def unstandardize_unclipped(x: torch.Tensor, m: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    return x * s.view(1, 3, 1, 1) + m.view(1, 3, 1, 1)


def unstandardize_clipped_above_only(x: torch.Tensor, m: torch.Tensor,
                                     s: torch.Tensor) -> torch.Tensor:
    return (x * s.view(1, 3, 1, 1) + m.view(1, 3, 1, 1)).clamp(max=1)


def conv_ignores_stride(size: int, k: int, stride: int = 1, padding: int = 0) -> int:
    return size - k + 1


def conv_padding_outside_the_floor(size: int, k: int, stride: int = 1, padding: int = 0) -> int:
    # right for stride 1 and 2, wrong for stride 3 and more
    return (size - k) // stride + 1 + padding


def most_confused_largest_cell(m: torch.Tensor) -> tuple[int, int]:
    # the largest cell overall: a correct answer on the diagonal, not a mistake
    return divmod(int(m.argmax()), m.shape[1])


def most_confused_from_sums(m: torch.Tensor) -> tuple[int, int]:
    # the worst row and the worst column need not meet at the largest mistake
    diagonal = m.diagonal()
    return int((m.sum(dim=1) - diagonal).argmax()), int((m.sum(dim=0) - diagonal).argmax())


def most_confused_flat_index(m: torch.Tensor) -> int:
    # the right cell as one flat index, not the (true, predicted) pair
    mistakes = m.clone()
    mistakes.fill_diagonal_(-1)
    return int(mistakes.argmax())


def softmax_without_shift(z: torch.Tensor) -> torch.Tensor:
    # no shift by the row maximum: exp overflows to inf for large logits
    return z.exp() / z.exp().sum(dim=1, keepdim=True)


def softmax_as_text(z: torch.Tensor) -> str:
    return str(torch.softmax(z, dim=1))


def my_dropout_without_scaling(x: torch.Tensor, p: float, g: torch.Generator) -> torch.Tensor:
    # the kept values as they were: the mean output falls to (1 - p) times the input's
    return x * (torch.rand(x.shape, generator=g) >= p)


def my_dropout_keeps_with_probability_p(x: torch.Tensor, p: float,
                                        g: torch.Generator) -> torch.Tensor:
    # p taken as the probability of keeping (scaled by 1 / p, so the mean is still right)
    return x * (torch.rand(x.shape, generator=g) < p) / p


def my_dropout_keeps_where_rand_is_below_p(x: torch.Tensor, p: float,
                                           g: torch.Generator) -> torch.Tensor:
    # the right scaling, but the mask keeps a value with probability p: only the fraction of
    # zeros gives it away
    return x * (torch.rand(x.shape, generator=g) < p) / (1 - p)


def my_dropout_ignores_the_generator(x: torch.Tensor, p: float,
                                     g: torch.Generator) -> torch.Tensor:
    # torch's global generator: the same seed no longer gives the same mask
    return x * (torch.rand(x.shape) >= p) / (1 - p)


def my_dropout_in_place(x: torch.Tensor, p: float, g: torch.Generator) -> torch.Tensor:
    # right numbers, but the caller's x is changed too (nn.Dropout leaves its input alone)
    x[torch.rand(x.shape, generator=g) < p] = 0
    return x.div_(1 - p)


def my_dropout_as_in_eval_mode(x: torch.Tensor, p: float, g: torch.Generator) -> torch.Tensor:
    return x.clone()


def my_dropout_of_a_fixed_count(x: torch.Tensor, p: float, g: torch.Generator) -> torch.Tensor:
    # exactly round(p * n) values dropped, every time: not independent drops
    n = x.numel()
    mask = torch.ones(n)
    mask[torch.randperm(n, generator=g)[:round(p * n)]] = 0
    return x * mask.view_as(x) / (1 - p)


def dropout2d_of_a_fixed_count(x: torch.Tensor, p: float, g: torch.Generator) -> torch.Tensor:
    # exactly round(p * C) maps of each image dropped
    n, c = x.shape[:2]
    mask = torch.ones(n, c)
    for image in range(n):
        mask[image, torch.randperm(c, generator=g)[:round(p * c)]] = 0
    return x * mask.view(n, c, 1, 1) / (1 - p)


def dropout2d_elementwise(x: torch.Tensor, p: float, g: torch.Generator) -> torch.Tensor:
    # ordinary dropout: single values dropped, not whole maps
    return x * (torch.rand(x.shape, generator=g) >= p) / (1 - p)


def dropout2d_same_channels_for_every_image(x: torch.Tensor, p: float,
                                            g: torch.Generator) -> torch.Tensor:
    keep = torch.rand(1, x.shape[1], 1, 1, generator=g) >= p
    return x * keep / (1 - p)


def dropout2d_whole_images(x: torch.Tensor, p: float, g: torch.Generator) -> torch.Tensor:
    keep = torch.rand(x.shape[0], 1, 1, 1, generator=g) >= p
    return x * keep / (1 - p)


def dropout2d_without_scaling(x: torch.Tensor, p: float, g: torch.Generator) -> torch.Tensor:
    return x * (torch.rand(*x.shape[:2], 1, 1, generator=g) >= p)


def dropout_sum_std_without_scaling(x: torch.Tensor, p: float) -> float:
    # the spread of the unscaled sum: each kept x_i not multiplied by 1 / (1 - p)
    return math.sqrt(p * (1 - p) * float((x**2).sum()))


def dropout_sum_std_variance(x: torch.Tensor, p: float) -> float:
    return p / (1 - p) * float((x**2).sum())  # the variance: no square root


def dropout_sum_std_keep_drop_swapped(x: torch.Tensor, p: float) -> float:
    return math.sqrt((1 - p) / p * float((x**2).sum()))  # right at p = 0.5 only


def dropout_sum_std_square_of_the_sum(x: torch.Tensor, p: float) -> float:
    return math.sqrt(p / (1 - p)) * float(x.sum())  # (sum x)^2, not sum of x^2


def range_test_lrs_slides_typo(start: float, end: float, n: int) -> Any:
    # the slides' exponential branch: exp(factor) * i, a straight line from 0
    factor = (np.log(end) - np.log(start)) / (n - 1)
    return start * np.exp(factor) * np.arange(n)


def range_test_lrs_over_num_iter_steps(start: float, end: float, n: int) -> Any:
    # the slides' schedule: over num_iter steps, so the last rate falls short of end_lr
    return start * (end / start) ** (np.arange(n) / n)


def range_test_lrs_linear(start: float, end: float, n: int) -> Any:
    return np.linspace(start, end, n)


def range_test_lrs_multipliers(start: float, end: float, n: int) -> Any:
    # what make_lr_fn returns: the factors, not yet times start_lr
    return (end / start) ** (np.arange(n) / (n - 1))


def smooth_seeded_with_zero(losses: list[float], alpha: float) -> list[float]:
    smoothed, previous = [], 0.0  # starts too low: the curve's first points are biased
    for loss in losses:
        previous = alpha * loss + (1 - alpha) * previous
        smoothed.append(previous)
    return smoothed


def smooth_weights_swapped(losses: list[float], alpha: float) -> list[float]:
    smoothed = [losses[0]]
    for loss in losses[1:]:
        smoothed.append((1 - alpha) * loss + alpha * smoothed[-1])
    return smoothed


def smooth_without_the_first(losses: list[float], alpha: float) -> list[float]:
    return smooth_weights_swapped(losses, 1 - alpha)[1:]  # one value short


def steepest_lr_at_the_minimum(lrs: Any, losses: Any) -> float:
    return float(lrs[np.argmin(losses)])


def steepest_lr_against_lr(lrs: Any, losses: Any) -> float:
    # the slope per unit of learning rate, not per decade: small rates win
    return float(lrs[np.argmin(np.gradient(losses, lrs))])


def steepest_lr_per_point(lrs: Any, losses: Any) -> float:
    # ignores the spacing: right for an exponential test only
    return float(lrs[np.argmin(np.gradient(losses))])


def steepest_lr_steepest_rise(lrs: Any, losses: Any) -> float:
    return float(lrs[np.argmax(np.gradient(losses, np.log10(lrs)))])


def grad_norms_of_the_parameters(model: torch.nn.Module) -> dict[str, float]:
    # the parameters' own norms, not their gradients'
    return {n: p.norm().item() for n, p in model.named_parameters() if p.grad is not None}


def grad_norms_squared(model: torch.nn.Module) -> dict[str, float]:
    # the sum of squares, without the square root
    return {n: (p.grad**2).sum().item() for n, p in model.named_parameters()
            if p.grad is not None}


def grad_norms_l1(model: torch.nn.Module) -> dict[str, float]:
    return {n: p.grad.abs().sum().item() for n, p in model.named_parameters()
            if p.grad is not None}


def grad_norms_zero_for_frozen(model: torch.nn.Module) -> dict[str, float]:
    # a frozen parameter has no gradient: it gets no entry, not a norm of 0
    return {n: p.grad.norm().item() if p.grad is not None else 0.0
            for n, p in model.named_parameters()}


def grad_norms_as_a_list(model: torch.nn.Module) -> list[float]:
    return [p.grad.norm().item() for p in model.parameters() if p.grad is not None]


def _record_forward(model: torch.nn.Module, x: torch.Tensor, detach: bool = True,
                    inputs: bool = False, remove: str = "always",
                    swallow: bool = False) -> dict[str, torch.Tensor]:
    """record_forward with one of the likely mistakes switched on. ``remove``: when the hooks
    go, "always" (try/finally), "after success" or "never"."""
    outputs: dict[str, torch.Tensor] = {}

    def recorder(name: str) -> Callable[..., None]:
        def record(module: torch.nn.Module, args: tuple[Any, ...], output: Any) -> None:
            value = args[0] if inputs else output
            outputs[name] = value.detach() if detach else value
        return record

    handles = [child.register_forward_hook(recorder(name))
               for name, child in model.named_children()]
    try:
        model(x)
    except RuntimeError:
        if not swallow:
            raise
    finally:
        if remove == "always":
            for handle in handles:
                handle.remove()
    if remove == "after success":  # reached only when model(x) did not raise
        for handle in handles:
            handle.remove()
    return outputs


def record_forward_leaves_its_hooks(model: torch.nn.Module,
                                    x: torch.Tensor) -> dict[str, torch.Tensor]:
    return _record_forward(model, x, remove="never")


def record_forward_removes_only_when_all_goes_well(
        model: torch.nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    # no try/finally: a forward pass that fails leaves every hook behind
    return _record_forward(model, x, remove="after success")


def record_forward_keeps_the_graph(model: torch.nn.Module,
                                   x: torch.Tensor) -> dict[str, torch.Tensor]:
    # not detached: each output holds the autograd graph (and its memory) alive
    return _record_forward(model, x, detach=False)


def record_forward_records_the_inputs(model: torch.nn.Module,
                                      x: torch.Tensor) -> dict[str, torch.Tensor]:
    return _record_forward(model, x, inputs=True)


def record_forward_swallows_the_error(model: torch.nn.Module,
                                      x: torch.Tensor) -> dict[str, torch.Tensor]:
    # hides a failed forward pass from the caller, who gets half the outputs
    return _record_forward(model, x, swallow=True)


def _predictions(x: torch.Tensor, b: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return b.view(-1, 1, 1) + w.view(1, -1, 1) * x.view(1, 1, -1)  # (n_b, n_w, N)


def loss_surface_transposed(x: torch.Tensor, y: torch.Tensor, b: torch.Tensor,
                            w: torch.Tensor) -> torch.Tensor:
    # weights down, biases across: (n_w, n_b), as a meshgrid in 'xy' order gives
    return ((_predictions(x, b, w) - y.view(1, 1, -1)) ** 2).mean(dim=2).T


def loss_surface_summed(x: torch.Tensor, y: torch.Tensor, b: torch.Tensor,
                        w: torch.Tensor) -> torch.Tensor:
    return ((_predictions(x, b, w) - y.view(1, 1, -1)) ** 2).sum(dim=2)


def loss_surface_root(x: torch.Tensor, y: torch.Tensor, b: torch.Tensor,
                      w: torch.Tensor) -> torch.Tensor:
    # the RMSE: the same valley, other contour values
    return ((_predictions(x, b, w) - y.view(1, 1, -1)) ** 2).mean(dim=2).sqrt()


def loss_surface_absolute(x: torch.Tensor, y: torch.Tensor, b: torch.Tensor,
                          w: torch.Tensor) -> torch.Tensor:
    return (_predictions(x, b, w) - y.view(1, 1, -1)).abs().mean(dim=2)


def loss_surface_one_point(x: torch.Tensor, y: torch.Tensor, b: torch.Tensor,
                           w: torch.Tensor) -> torch.Tensor:
    # the error of the first data point only, not the mean over all of them
    return (_predictions(x, b, w) - y.view(1, 1, -1))[..., 0] ** 2


def my_ewma_started_at_the_first_value(values: torch.Tensor, beta: float) -> torch.Tensor:
    # the range test's smoothing: no bias, but not what Adam keeps
    out, average = [], values[0]
    for value in values:
        average = beta * average + (1 - beta) * value
        out.append(average)
    return torch.stack(out)


def my_ewma_weights_swapped(values: torch.Tensor, beta: float) -> torch.Tensor:
    out, average = [], torch.tensor(0.0)
    for value in values:
        average = (1 - beta) * average + beta * value
        out.append(average)
    return torch.stack(out)


def my_ewma_corrected(values: torch.Tensor, beta: float) -> torch.Tensor:
    # the next exercise's answer: right for Adam's step, not what it stores
    steps = torch.arange(1, len(values) + 1)
    return my_ewma_weights_swapped(values, 1 - beta) / (1 - beta**steps)


def my_ewma_last_only(values: torch.Tensor, beta: float) -> float:
    return float(my_ewma_weights_swapped(values, 1 - beta)[-1])


def bias_correct_t_from_zero(averages: torch.Tensor, beta: float) -> torch.Tensor:
    # 1 - beta ** 0 = 0: the first average is divided by zero
    return averages / (1 - beta ** torch.arange(len(averages)))


def bias_correct_multiplied(averages: torch.Tensor, beta: float) -> torch.Tensor:
    return averages * (1 - beta ** torch.arange(1, len(averages) + 1))


def bias_correct_by_one_minus_beta(averages: torch.Tensor, beta: float) -> torch.Tensor:
    # right for the first step only
    return averages / (1 - beta)


def bias_correct_by_beta_to_the_t(averages: torch.Tensor, beta: float) -> torch.Tensor:
    return averages / beta ** torch.arange(1, len(averages) + 1)


def _adam_step(param: torch.Tensor, grad: torch.Tensor, m: torch.Tensor, v: torch.Tensor,
               t: int, lr: float, betas: tuple[float, float], eps: float, correct: bool = True,
               t0: int = 0, sqrt: bool = True, eps_inside: bool = False,
               store_corrected: bool = False) -> tuple[torch.Tensor, ...]:
    """Adam's step with one of the likely mistakes switched on."""
    beta1, beta2 = betas
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad**2
    m_hat = m / (1 - beta1 ** (t - t0)) if correct else m
    v_hat = v / (1 - beta2 ** (t - t0)) if correct else v
    if eps_inside:
        scale = (v_hat + eps).sqrt()
    else:
        scale = (v_hat.sqrt() if sqrt else v_hat) + eps
    new = param - lr * m_hat / scale
    return (new, m_hat, v_hat) if store_corrected else (new, m, v)


def adam_step_without_correction(*args: Any) -> tuple[torch.Tensor, ...]:
    return _adam_step(*args, correct=False)


def adam_step_t_from_zero(*args: Any) -> tuple[torch.Tensor, ...]:
    return _adam_step(*args, t0=1)


def adam_step_without_sqrt(*args: Any) -> tuple[torch.Tensor, ...]:
    return _adam_step(*args, sqrt=False)


def adam_step_eps_inside_the_sqrt(*args: Any) -> tuple[torch.Tensor, ...]:
    return _adam_step(*args, eps_inside=True)


def adam_step_stores_the_corrected_averages(*args: Any) -> tuple[torch.Tensor, ...]:
    return _adam_step(*args, store_corrected=True)


def adam_step_climbs(*args: Any) -> tuple[torch.Tensor, ...]:
    param, *rest = args
    new, m, v = _adam_step(param, *rest)
    return 2 * param - new, m, v  # + lr * ...: up the gradient


def step_lr_shifted_by_one(epoch: int, lr: float, step_size: int, gamma: float) -> float:
    # the slides' record: the rate read after scheduler.step(), one epoch early
    return lr * gamma ** ((epoch + 1) // step_size)


def step_lr_epochs_from_one(epoch: int, lr: float, step_size: int, gamma: float) -> float:
    # counts epochs from 1: the first decay comes one epoch late
    return lr * gamma ** ((epoch - 1) // step_size) if epoch else lr


def step_lr_every_epoch(epoch: int, lr: float, step_size: int, gamma: float) -> float:
    # ExponentialLR, not StepLR: decays every epoch, ignoring step_size
    return lr * gamma ** epoch


def step_lr_smooth(epoch: int, lr: float, step_size: int, gamma: float) -> float:
    # no floor: a smooth decay that matches StepLR only at multiples of step_size
    return lr * gamma ** (epoch / step_size)


def _triangle(i: float, base: float, top: float, size: int) -> float:
    cycle = math.floor(1 + i / (2 * size))
    return base + (top - base) * max(0.0, 1 - abs(i / size - 2 * cycle + 1))


def triangular_lr_shifted_by_one(i: int, base: float, top: float, size: int) -> float:
    return _triangle(i + 1, base, top, size)


def triangular_lr_cycle_of_step_size(i: int, base: float, top: float, size: int) -> float:
    # a whole cycle in step_size mini-batches instead of step_size up and step_size down
    return _triangle(2 * i, base, top, size)


def triangular_lr_sawtooth(i: int, base: float, top: float, size: int) -> float:
    # up, then back to base_lr at once: no way down
    return base + (top - base) * (i % size) / size


def triangular_lr_starts_at_the_top(i: int, base: float, top: float, size: int) -> float:
    return _triangle(i + size, base, top, size)


def _momentum_step(param: torch.Tensor, grad: torch.Tensor, buffer: torch.Tensor | None,
                   lr: float, momentum: float, dampening: float = 0.0, nesterov: bool = False,
                   damp_first: bool = False, lr_inside: bool = False,
                   old_velocity: bool = False, no_dampening: bool = False,
                   climb: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """SGD's step with one of the likely mistakes switched on."""
    scale = (1 - dampening) if not no_dampening else 1.0
    rate = lr if lr_inside else 1.0
    if buffer is None:
        new = rate * (scale * grad if damp_first else grad.clone())
        old = torch.zeros_like(grad)
    else:
        new, old = momentum * buffer + rate * scale * grad, buffer
    if nesterov:
        direction = grad + momentum * (old if old_velocity else new)
    else:
        direction = new
    step = direction if lr_inside else lr * direction
    return (param + step if climb else param - step), new


def momentum_step_damps_the_first_step(*args: Any) -> tuple[torch.Tensor, torch.Tensor]:
    # PyTorch starts the velocity at the gradient itself, undamped
    return _momentum_step(*args, damp_first=True)


def momentum_step_lr_inside_the_buffer(*args: Any) -> tuple[torch.Tensor, torch.Tensor]:
    # the textbook's velocity: the same steps at a constant rate, not PyTorch's buffer
    return _momentum_step(*args, lr_inside=True)


def momentum_step_without_dampening(*args: Any) -> tuple[torch.Tensor, torch.Tensor]:
    return _momentum_step(*args, no_dampening=True)


def momentum_step_climbs(*args: Any) -> tuple[torch.Tensor, torch.Tensor]:
    return _momentum_step(*args, climb=True)


def momentum_step_plain_sgd(param: torch.Tensor, grad: torch.Tensor, *args: Any) -> tuple[
        torch.Tensor, torch.Tensor]:
    lr = args[1]
    return param - lr * grad, grad


def nesterov_step_with_the_old_velocity(*args: Any) -> tuple[torch.Tensor, torch.Tensor]:
    # looks ahead along the velocity of the previous step, not the updated one
    return _momentum_step(*args, nesterov=True, old_velocity=True)


def nesterov_step_is_plain_momentum(*args: Any) -> tuple[torch.Tensor, torch.Tensor]:
    return _momentum_step(*args)


def nesterov_step_lr_inside_the_buffer(*args: Any) -> tuple[torch.Tensor, torch.Tensor]:
    return _momentum_step(*args, nesterov=True, lr_inside=True)


def nesterov_step_returns_the_look_ahead(param: torch.Tensor, grad: torch.Tensor,
                                         buffer: torch.Tensor | None, lr: float,
                                         momentum: float) -> tuple[torch.Tensor, torch.Tensor]:
    # the right parameter, but the look-ahead direction stored as the velocity
    new_param, new = _momentum_step(param, grad, buffer, lr, momentum, nesterov=True)
    return new_param, grad + momentum * new


WRONG: dict[str, list[Callable[..., Any]]] = {
    "channel_stats": [wrong_channel_stats],
    "standardize": [standardize_times_std, standardize_as_a_list],
    "unstandardize": [unstandardize_unclipped, unstandardize_clipped_above_only],
    "conv_output_size": [conv_ignores_stride, conv_padding_outside_the_floor],
    "most_confused": [most_confused_largest_cell, most_confused_from_sums,
                      most_confused_flat_index],
    "softmax": [softmax_without_shift, softmax_as_text],
    "range_test_lrs": [range_test_lrs_slides_typo, range_test_lrs_over_num_iter_steps,
                       range_test_lrs_linear, range_test_lrs_multipliers],
    "smooth": [smooth_seeded_with_zero, smooth_weights_swapped, smooth_without_the_first],
    "steepest_lr": [steepest_lr_at_the_minimum, steepest_lr_against_lr, steepest_lr_per_point,
                    steepest_lr_steepest_rise],
    "my_dropout": [my_dropout_without_scaling, my_dropout_keeps_with_probability_p,
                   my_dropout_keeps_where_rand_is_below_p, my_dropout_ignores_the_generator,
                   my_dropout_in_place,
                   my_dropout_as_in_eval_mode, my_dropout_of_a_fixed_count],
    "dropout_sum_std": [dropout_sum_std_without_scaling, dropout_sum_std_variance,
                        dropout_sum_std_keep_drop_swapped, dropout_sum_std_square_of_the_sum],
    "dropout2d": [dropout2d_elementwise, dropout2d_same_channels_for_every_image,
                  dropout2d_whole_images, dropout2d_without_scaling,
                  dropout2d_of_a_fixed_count],
    "my_ewma": [my_ewma_started_at_the_first_value, my_ewma_weights_swapped, my_ewma_corrected,
                my_ewma_last_only],
    "bias_correct": [bias_correct_t_from_zero, bias_correct_multiplied,
                     bias_correct_by_one_minus_beta, bias_correct_by_beta_to_the_t],
    "adam_step": [adam_step_without_correction, adam_step_t_from_zero, adam_step_without_sqrt,
                  adam_step_eps_inside_the_sqrt, adam_step_stores_the_corrected_averages,
                  adam_step_climbs],
    "grad_norms": [grad_norms_of_the_parameters, grad_norms_squared, grad_norms_l1,
                   grad_norms_zero_for_frozen, grad_norms_as_a_list],
    "record_forward": [record_forward_leaves_its_hooks,
                       record_forward_removes_only_when_all_goes_well,
                       record_forward_keeps_the_graph, record_forward_records_the_inputs,
                       record_forward_swallows_the_error],
    "loss_surface": [loss_surface_transposed, loss_surface_summed, loss_surface_root,
                     loss_surface_absolute, loss_surface_one_point],
    "momentum_step": [momentum_step_damps_the_first_step, momentum_step_lr_inside_the_buffer,
                      momentum_step_without_dampening, momentum_step_climbs,
                      momentum_step_plain_sgd],
    "nesterov_step": [nesterov_step_with_the_old_velocity, nesterov_step_is_plain_momentum,
                      nesterov_step_lr_inside_the_buffer, nesterov_step_returns_the_look_ahead],
    "step_lr": [step_lr_shifted_by_one, step_lr_epochs_from_one, step_lr_every_epoch,
                step_lr_smooth],
    "triangular_lr": [triangular_lr_shifted_by_one, triangular_lr_cycle_of_step_size,
                      triangular_lr_sawtooth, triangular_lr_starts_at_the_top],
}
WRONG_CASES = [(name, wrong) for name, wrongs in WRONG.items() for wrong in wrongs]


def forgets_return(*args: Any) -> None:
    """A student's function that computes its answer but never returns it."""


CELLS = exercise_cells()
IDS = [f"{cell.chapter}-{cell.name}" for cell in CELLS]


def define(source: str, name: str) -> Callable[..., Any]:
    namespace: dict[str, Any] = {}
    exec("import torch\n" + source, namespace)  # noqa: S102 (our own notebooks)
    return namespace[name]  # type: ignore[no-any-return]


def test_every_check_has_a_wrong_answer_here() -> None:
    assert CELLS, "no exercises found in book/"
    assert {cell.name for cell in CELLS} <= set(WRONG)


@pytest.mark.parametrize("cell", CELLS, ids=IDS)
def test_check_fails_on_stub_and_passes_on_solution(cell: ExerciseCells) -> None:
    check = getattr(exercises, f"check_{cell.name}")
    assert check(define(cell.stub, cell.name)) is False
    assert check(define(cell.definition, cell.name)) is True


@pytest.mark.parametrize(("name", "wrong"), WRONG_CASES,
                         ids=[wrong.__name__ for _, wrong in WRONG_CASES])
def test_check_rejects_a_wrong_answer_saying_so(name: str, wrong: Callable[..., Any]) -> None:
    check = getattr(exercises, f"check_{name}")
    with pytest.raises(AssertionError, match=f"^{name}: wrong answer for inputs"):
        check(wrong)


@pytest.mark.parametrize("name", sorted(WRONG))
def test_a_function_that_forgets_return_gets_the_wrong_answer_message(name: str) -> None:
    check = getattr(exercises, f"check_{name}")
    with pytest.raises(AssertionError, match=f"^{name}: wrong answer for inputs") as failure:
        check(forgets_return)
    assert "return" in str(failure.value)  # the hint: None usually means a missing return


def test_pytorchs_own_dropout_layers_pass_the_chapter_3_checks() -> None:
    # the checks are no stricter than the layers they compare with
    def seeded(layer: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
        def drop(x: torch.Tensor, p: float, g: torch.Generator) -> torch.Tensor:
            with torch.random.fork_rng(devices=[]):
                torch.default_generator.manual_seed(g.initial_seed())
                return layer(x, p)
        return drop

    assert exercises.check_my_dropout(seeded(torch.nn.functional.dropout)) is True
    assert exercises.check_dropout2d(seeded(torch.nn.functional.dropout2d)) is True


def fingerprint(cases: Any) -> str:
    """What the cases' expected answers are, as text (their tensors' values included)."""
    import hashlib
    import json

    arrays: dict[str, Any] = {}
    text = json.dumps(exercises.to_data([expected for _, expected in cases], arrays))
    return text + hashlib.sha256(b"".join(a.tobytes() for a in arrays.values())).hexdigest()


def through_data(exercise: exercises.Exercise, answer: Callable[..., Any], seed: int,
                 tmp_path: Any) -> list[tuple[Any, Any, Any]]:
    """What the grader does: the answer's returns, sent through JSON and np.savez (no
    pickle), rebuilt against its own expected answers: [(args, expected, rebuilt)]."""
    import json

    import numpy as np

    arrays: dict[str, Any] = {}
    cases = exercise.cases(seed)
    entry = exercises.answers_as_data(exercise.name, {exercise.name: answer}, seed, arrays)
    assert entry["status"] == "answered", entry
    sent = json.dumps(entry["outputs"])
    np.savez(tmp_path / "arrays.npz", **arrays)
    with np.load(tmp_path / "arrays.npz", allow_pickle=False) as npz:
        loaded = {key: npz[key] for key in npz.files}
    return [(args, expected, exercises.from_data(data, loaded, expected))
            for (args, expected), data in zip(cases, json.loads(sent), strict=True)]


@pytest.mark.parametrize("cell", CELLS, ids=IDS)
def test_an_answer_sent_as_data_is_judged_as_the_check_judges_it(cell: ExerciseCells,
                                                                 tmp_path: Any) -> None:
    name = cell.name
    exercise = exercises.EXERCISES[name]
    seed = 20261205  # a grading seed: other cases than the notebook's check
    assert fingerprint(exercise.cases(seed)) != fingerprint(exercise.cases(0))
    for args, expected, got in through_data(exercise, define(cell.definition, name), seed,
                                            tmp_path):
        assert exercises.is_right(exercise, got, expected), (name, args)
    wrong = WRONG[name][0]
    verdicts = [exercises.is_right(exercise, got, expected)
                for _, expected, got in through_data(exercise, wrong, seed, tmp_path)]
    assert not all(verdicts), f"{wrong.__name__} passed once sent as data"


def test_answers_as_data_says_why_there_is_no_answer() -> None:
    def stub(*args: Any) -> Any:
        raise NotImplementedError

    def broken(*args: Any) -> Any:
        raise ZeroDivisionError("oops")

    statuses = {what: exercises.answers_as_data("softmax", namespace, 0, {})
                for what, namespace in (("missing", {}), ("not a function", {"softmax": 3}),
                                        ("not attempted", {"softmax": stub}),
                                        ("raised", {"softmax": broken}))}
    assert {what: entry["status"] for what, entry in statuses.items()} == {
        what: what for what in statuses}
    assert statuses["raised"]["message"] == "ZeroDivisionError: oops"
    assert all(entry["outputs"] == [] for entry in statuses.values())
