"""The learning-rate range test: Smith (2017), "Cyclical Learning Rates for Training Neural
Networks", §3.3, as fastai's `lr_find`.

From the model as it is, train for `num_steps` steps while the learning rate rises
exponentially from `start_lr` to `end_lr`,

    lr_i = start_lr (end_lr / start_lr)^(i / (num_steps - 1)),

recording the loss of each step and its smoothed value (an exponential moving average with
`beta`, bias-corrected as Adam's m̂). Stop early when the smoothed loss explodes: it is not
finite, or more than `diverge` (4) times the lowest smoothed loss so far. Two suggestions, read
off the curve with its first tenth and last 5 points dropped (the noisy start and the
explosion), as fastai does:

    steep    the lr where the loss falls fastest against log lr
    min/10   the lr at the lowest loss, divided by 10 (at the minimum itself the loss is about to
             blow up)

One departure from fastai: the suggestions read a centered running mean of the losses (over
num_steps/25 steps either side), not the moving average. The moving average lags about
beta/(1-beta) = 49 steps behind, which on a 200-step ramp over 8 decades is 2 decades of lr: on
the digits MLP it puts the minimum at lr 0.39 where the per-step losses bottom out near 0.02. The
moving average still decides when to stop (a late stop only records more of the explosion).

The model, the optimizer and the global random generator are put back as they were: the
model's state_dict (parameters and buffers) and the parameters' .grad, the optimizer's
state_dict (state and param_groups, so its lr too), and minigrad's generator state. The next
training step is bit for bit the one it would have been without the test.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from minigrad.backend import get_rng_state, set_rng_state

from ..optimizer import Optimizer


@dataclass
class LRFinderResult:
    """What the range test recorded, and its two suggestions."""
    lrs: list = field(default_factory=list)        # the lr of each step taken
    losses: list = field(default_factory=list)     # each step's loss
    smoothed: list = field(default_factory=list)   # the bias-corrected moving average
    curve: list = field(default_factory=list)      # the centered running mean the suggestions read
    lr_steep: float = math.nan                     # the curve's steepest descent
    lr_min: float = math.nan                       # the lr at the curve's lowest point
    stopped: str = ""                              # why it ended

    @property
    def lr_min10(self) -> float:
        """The minimum's lr divided by 10."""
        return self.lr_min / 10


def lr_find(model: Any, optimizer: Optimizer, loss_fn: Callable[[Any, Any], Any], batches: Iterable[Any],
            start_lr: float = 1e-7, end_lr: float = 10.0, num_steps: int = 200, beta: float = 0.98,
            diverge: float = 4.0) -> LRFinderResult:
    """Run the range test (see the module docstring); returns an LRFinderResult.

    model: has state_dict(), load_state_dict() and parameters() (a minigrad Module);
    optimizer: an optim optimizer over the model's parameters; loss_fn(model, batch) returns
    the loss Tensor; batches: an iterable of batches (the test ends early if it runs out).
    With several param groups, each keeps its ratio to the first group's lr.
    """
    if not (0 < start_lr < end_lr and math.isfinite(end_lr)):
        raise ValueError(f"lr_find: expected 0 < start_lr < end_lr < inf, got start_lr={start_lr!r}, "
                         f"end_lr={end_lr!r}")
    if not (isinstance(num_steps, int) and num_steps >= 20):
        raise ValueError(f"lr_find: num_steps must be an integer >= 20, got {num_steps!r}")
    if not 0 <= beta < 1:
        raise ValueError(f"lr_find: beta must be in [0, 1), got {beta!r}")
    if not diverge > 1:
        raise ValueError(f"lr_find: diverge must be > 1, got {diverge!r}")
    saved_model = {k: v.copy() for k, v in model.state_dict().items()}
    saved_grads = [(p, p.grad) for p in model.parameters()]
    saved_opt = optimizer.state_dict()
    saved_rng = get_rng_state()
    base = optimizer.param_groups[0]["lr"]
    ratios = [g["lr"] / base if base else 1.0 for g in optimizer.param_groups]
    result = LRFinderResult(stopped=f"reached end_lr {end_lr:g}")
    try:
        _run(model, optimizer, loss_fn, batches, start_lr, end_lr, num_steps, beta, diverge,
             ratios, result)
    finally:  # also after an error or Ctrl-C: the model and optimizer are never left half-tested
        model.load_state_dict(saved_model)
        for p, g in saved_grads:
            p.grad = g
        optimizer.load_state_dict(saved_opt)
        set_rng_state(saved_rng)
    _suggest(result, max(2, num_steps // 25))
    return result


def _run(model, optimizer, loss_fn, batches, start_lr, end_lr, num_steps, beta, diverge, ratios, result):
    avg, best = 0.0, math.inf
    batches = iter(batches)
    for i in range(num_steps):
        try:
            batch = next(batches)
        except StopIteration:
            result.stopped = f"the batches ran out after {i} steps"
            return
        lr = start_lr * (end_lr / start_lr) ** (i / (num_steps - 1))
        for group, ratio in zip(optimizer.param_groups, ratios):
            group["lr"] = lr * ratio
        loss = loss_fn(model, batch)
        value = loss.item()
        avg = beta * avg + (1 - beta) * value
        smoothed = avg / (1 - beta ** (i + 1))   # bias-corrected, as Adam's m̂
        result.lrs.append(lr)
        result.losses.append(value)
        result.smoothed.append(smoothed)
        if not math.isfinite(smoothed) or smoothed > diverge * best:
            result.stopped = (f"the loss exploded at lr {lr:.3g} (smoothed {smoothed:.4g}, lowest "
                              f"{best:.4g})")
            return
        best = min(best, smoothed)
        optimizer.zero_grad()
        loss.backward(create_graph=getattr(optimizer, "needs_graph", False))  # AdaHessian: H z
        optimizer.step()


def _suggest(result: LRFinderResult, k: int) -> None:
    """The centered running mean (k either side; fewer at the ends), then its steepest descent
    and its minimum without the first tenth and the last 5 points."""
    losses = np.asarray(result.losses, dtype=np.float64)
    sums = np.concatenate([[0.0], np.cumsum(losses)])
    lo = np.maximum(np.arange(len(losses)) - k, 0)
    hi = np.minimum(np.arange(len(losses)) + k + 1, len(losses))
    curve = (sums[hi] - sums[lo]) / (hi - lo)           # non-finite once the losses are
    result.curve = curve.tolist()
    keep = slice(len(losses) // 10, max(len(losses) - 5, len(losses) // 10 + 2))
    lrs, curve = np.asarray(result.lrs)[keep], curve[keep]
    ok = np.isfinite(curve)
    lrs, curve = lrs[ok], curve[ok]
    if len(lrs) < 2:
        return
    slope = np.diff(curve) / np.diff(np.log(lrs))       # d loss / d log lr
    result.lr_steep = float(lrs[int(np.argmin(slope))])
    result.lr_min = float(lrs[int(np.argmin(curve))])
