"""Learning-rate schedules with torch.optim.lr_scheduler's names, arguments and semantics.

Each schedule is its closed form `lr_at(t)`, each group's lr at step t, as its docstring writes
it. Constructing a scheduler sets lr_at(0); each `step()` (after `optimizer.step()`) the next.

Chaining: torch writes most schedules recursively (lr ← lr · ratio) so several can steer one
optimizer (ChainedScheduler, two schedulers side by side, one plus ReduceLROnPlateau or a hand
edit). Here that form is one method, `chained_lr(t)`, and a scheduler switches to it for good
the first time it finds an lr other than the one it set: until then the others' net effect was
exactly 1, so both forms agree. Alone, these match torch's recursion to 1e-14 (float64, 3000
steps), except CosineAnnealingLR over many periods: torch's recursion drifts ~3e-16 a step
(8.8e-13 after 3000 steps at T_max=20); the closed form is the exact one.

CyclicLR and OneCycleLR, which also cycle momentum, are in optim/lr_cyclic.py; LRScheduler, the
base of them all, with the checks of every argument, in optim/lr_base.py. This module re-exports
both (`__all__`), so every schedule is `optim.lr_scheduler.<Name>`.

state_dict() is plain data (numbers, strings, bools, None, lists, dicts), for JSON checkpoints;
like torch's, it leaves out the optimizer and functions (lr_lambda, scale_fn).

Checked arguments: every number a schedule keeps is declared once, in its class's CHECKS (what
it must be: an integer >= 1, a finite number > 0, ...), and held to that twice: by the
constructor (ValueError or TypeError naming the argument and its value, before the optimizer is
touched) and by load_state_dict (naming the entry; a refused state changes nothing). Checks that
tie several together (WarmupCosine's total_steps > warmup_steps) are `_check_together`.
"""
from __future__ import annotations

import math
import numbers
from bisect import bisect_right
from collections.abc import Callable, Sequence
from typing import Any

from minigrad import tracer

from .checks import check_real, short_repr
from .lr_base import (
    LRS,
    NON_NEGATIVE,
    POSITIVE,
    LRScheduler,
    _check,
    _groups,
    _half_cos,
    _integer,
    _milestones,
    _one_of,
    _per_group,
    _real,
)
from .lr_cyclic import CyclicLR, OneCycleLR
from .optimizer import Optimizer

__all__ = ["ChainedScheduler", "ConstantLR", "CosineAnnealingLR", "CosineAnnealingWarmRestarts", "CyclicLR",
           "ExponentialLR", "LRScheduler", "LambdaLR", "LinearLR", "MultiStepLR", "MultiplicativeLR",
           "OneCycleLR", "PolynomialLR", "ReduceLROnPlateau", "SequentialLR", "StepLR", "WarmupCosine"]


# ============================================================================ multiplicative
class LambdaLR(LRScheduler):
    """lr_at(t) = base_lr · lr_lambda(t); a list gives one lr_lambda per group."""

    def __init__(self, optimizer: Optimizer, lr_lambda: Callable[[int], float] | Sequence[Callable[[int], float]],
                 last_epoch: int = -1) -> None:
        self.lr_lambdas = _per_group("lr_lambda", optimizer, lr_lambda)
        for i, f in enumerate(self.lr_lambdas):
            if not callable(f):
                raise TypeError(f"lr_lambda[{i}] should be a function, got {type(f).__name__}")
        super().__init__(optimizer, last_epoch)

    def lr_at(self, t: int) -> list[float]:
        return [base * f(t) for f, base in zip(self.lr_lambdas, self.base_lrs)]


class MultiplicativeLR(LambdaLR):
    """lr_t = lr_(t-1) · lr_lambda(t) for t >= 1; step 0 keeps the group's lr: the one schedule
    defined by its recursion. As a later phase of SequentialLR it goes on from the previous
    phase's lr (torch also multiplies by lr_lambda(0))."""

    def lr_at(self, t: int) -> list[float]:
        return [g["lr"] * f(t) if t > 0 else g["lr"]
                for f, g in zip(self.lr_lambdas, self.optimizer.param_groups)]


class _Factor(LRScheduler):
    """lr_at(t) = eta_min + (base_lr - eta_min) f(t), eta_min = 0 but in CosineAnnealingLR.
    Chained, as torch's recursion: the part above eta_min is scaled by f(t) / f(t-1), f(-1) = 1,
    or out of a trough (f(t-1) = 0) the rise (base_lr - eta_min) f(t) is added."""

    eta_min = 0.0

    def lr_at(self, t: int) -> list[float]:
        return [self.eta_min + (base - self.eta_min) * self.f(t) for base in self.base_lrs]

    def chained_lr(self, t: int) -> list[float]:
        lo, now, before = self.eta_min, self.f(t), (self.f(t - 1) if t > 0 else 1.0)
        lrs = [g["lr"] for g in self.optimizer.param_groups]
        if now == before:  # also when both are 0
            return lrs
        if before == 0:
            return [lr + (base - lo) * now for lr, base in zip(lrs, self.base_lrs)]
        return [lo + (lr - lo) * (now / before) for lr in lrs]


class StepLR(_Factor):
    """lr_at(t) = base_lr · f(t),  f(t) = gamma^⌊t / step_size⌋."""

    CHECKS = {"step_size": _integer(1), "gamma": POSITIVE}

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1) -> None:
        self._set(optimizer, last_epoch, step_size=step_size, gamma=gamma)
        super().__init__(optimizer, last_epoch)

    def f(self, t: int) -> float:
        return self.gamma ** (t // self.step_size)


class MultiStepLR(_Factor):
    """lr_at(t) = base_lr · f(t),  f(t) = gamma^(number of milestones <= t), counting twice a
    milestone listed twice."""

    CHECKS = {"milestones": _milestones, "gamma": POSITIVE}

    def __init__(self, optimizer: Optimizer, milestones: Sequence[int], gamma: float = 0.1,
                 last_epoch: int = -1) -> None:
        if hasattr(milestones, "__iter__") and not isinstance(milestones, str):  # any order
            milestones = sorted(milestones, key=lambda m: m if isinstance(m, numbers.Real) else 0)
        self._set(optimizer, last_epoch, milestones=milestones, gamma=gamma)
        super().__init__(optimizer, last_epoch)

    def f(self, t: int) -> float:
        return self.gamma ** bisect_right(self.milestones, t)


class ConstantLR(_Factor):
    """lr_at(t) = base_lr · f(t),  f(t) = factor for t < total_iters, then 1."""

    CHECKS = {"factor": _real(lambda v: 0 <= v <= 1, "0 <= factor <= 1"),
              "total_iters": _integer(0)}

    def __init__(self, optimizer: Optimizer, factor: float = 1.0 / 3, total_iters: int = 5,
                 last_epoch: int = -1) -> None:
        self._set(optimizer, last_epoch, factor=factor, total_iters=total_iters)
        super().__init__(optimizer, last_epoch)

    def f(self, t: int) -> float:
        return self.factor + (t >= self.total_iters) * (1 - self.factor)


class LinearLR(_Factor):
    """lr_at(t) = base_lr · f(t),
    f(t) = start_factor + (end_factor - start_factor) · min(t, total_iters) / total_iters."""

    CHECKS = {"start_factor": _real(lambda v: 0 < v <= 1, "0 < start_factor <= 1"),
              "end_factor": _real(lambda v: 0 <= v <= 1, "0 <= end_factor <= 1"),
              "total_iters": _integer(1)}

    def __init__(self, optimizer: Optimizer, start_factor: float = 1.0 / 3, end_factor: float = 1.0,
                 total_iters: int = 5, last_epoch: int = -1) -> None:
        self._set(optimizer, last_epoch, start_factor=start_factor, end_factor=end_factor,
                  total_iters=total_iters)
        super().__init__(optimizer, last_epoch)

    def f(self, t: int) -> float:
        delta = self.end_factor - self.start_factor
        return self.start_factor + delta * min(self.total_iters, t) / self.total_iters


class ExponentialLR(_Factor):
    """lr_at(t) = base_lr · f(t),  f(t) = gamma^t."""

    CHECKS = {"gamma": POSITIVE}

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        self._set(optimizer, last_epoch, gamma=gamma)
        super().__init__(optimizer, last_epoch)

    def f(self, t: int) -> float:
        return self.gamma ** t


class PolynomialLR(_Factor):
    """lr_at(t) = base_lr · f(t),  f(t) = (1 - min(t, total_iters) / total_iters)^power."""

    CHECKS = {"total_iters": _integer(1), "power": NON_NEGATIVE}

    def __init__(self, optimizer: Optimizer, total_iters: int = 5, power: float = 1.0,
                 last_epoch: int = -1) -> None:
        self._set(optimizer, last_epoch, total_iters=total_iters, power=power)
        super().__init__(optimizer, last_epoch)

    def f(self, t: int) -> float:
        return (1.0 - min(self.total_iters, t) / self.total_iters) ** self.power


# ============================================================================ cosine
class CosineAnnealingLR(_Factor):
    """lr_at(t) = eta_min + (base_lr - eta_min) f(t),  f(t) = g(t / T_max),
    g(p) = (1 + cos(π p)) / 2. Past T_max it rises again (a period of 2 T_max), as in torch."""

    CHECKS = {"T_max": POSITIVE, "eta_min": NON_NEGATIVE}

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1) -> None:
        self._set(optimizer, last_epoch, T_max=T_max, eta_min=eta_min)
        super().__init__(optimizer, last_epoch)

    def f(self, t: int) -> float:
        return _half_cos(t / self.T_max)


class CosineAnnealingWarmRestarts(LRScheduler):
    """SGDR (Loshchilov & Hutter 2017): lr_at(t) = eta_min + (base_lr - eta_min) g(T_cur / T_i),
    T_cur counting steps since the last restart; the first cycle lasts T_i = T_0 steps, each next
    one T_mult times longer."""

    CHECKS = {"T_0": _integer(1), "T_mult": _integer(1), "eta_min": NON_NEGATIVE}

    def __init__(self, optimizer: Optimizer, T_0: int, T_mult: int = 1, eta_min: float = 0.0,
                 last_epoch: int = -1) -> None:
        self._set(optimizer, last_epoch, T_0=T_0, T_mult=T_mult, eta_min=eta_min)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, t: int) -> list[float]:
        T_cur, T_i = (t % self.T_0 if self.T_mult == 1 else t), self.T_0
        while T_cur >= T_i:  # whole cycles off, so that restarts land exactly
            T_cur, T_i = T_cur - T_i, T_i * self.T_mult
        return [self.eta_min + (base - self.eta_min) * _half_cos(T_cur / T_i)
                for base in self.base_lrs]


class WarmupCosine(LRScheduler):
    """Linear warmup, then cosine decay to min_lr: the standard transformer recipe, one object.
    With W = warmup_steps, T = total_steps and s counting scheduler steps from 0,
        lr_at(s) = base_lr · (s + 1) / W                                        s < W
        lr_at(s) = min_lr + (base_lr - min_lr) g(min(s - W, T - W) / (T - W))   s >= W
    (g as in CosineAnnealingLR): the first step already has a non-zero rate, the peak is at
    s = W, and the rate stays at min_lr from T on."""

    CHECKS = {"warmup_steps": _integer(0), "total_steps": _integer(1), "min_lr": NON_NEGATIVE}

    def __init__(self, optimizer: Optimizer, warmup_steps: int, total_steps: int, min_lr: float = 0.0,
                 last_epoch: int = -1) -> None:
        self._set(optimizer, last_epoch, warmup_steps=warmup_steps, total_steps=total_steps,
                  min_lr=min_lr)
        super().__init__(optimizer, last_epoch)

    def _check_together(self, values: dict[str, Any]) -> None:
        W, T, lo = values["warmup_steps"], values["total_steps"], values["min_lr"]
        _check(T > W, "total_steps", T, f"an integer > warmup_steps = {W}")
        for i, base in enumerate(values["base_lrs"]):  # decay to min_lr, not up to it
            _check(lo <= base, "min_lr", lo, f"<= the lr of every param group (group {i}: {base})")

    def lr_at(self, s: int) -> list[float]:
        W, T, lo = self.warmup_steps, self.total_steps, self.min_lr
        if s < W:
            return [base * (s + 1) / W for base in self.base_lrs]
        return [lo + (base - lo) * _half_cos(min(s - W, T - W) / (T - W)) for base in self.base_lrs]


def _best(name, value):
    """ReduceLROnPlateau's best metric: a number, inf before the first (-inf in mode 'max')."""
    if isinstance(value, float) and math.isinf(value):
        return value
    return check_real(name, value)


class ReduceLROnPlateau(LRScheduler):
    """lr ← max(lr · factor, min_lr) once the metric has not improved for more than `patience`
    steps, then wait `cooldown` steps; a cut smaller than eps is skipped. "Improved" in mode
    'min' is metric < best · (1 - threshold) ('rel') or < best - threshold ('abs'); in mode
    'max', metric > best · (1 + threshold) or > best + threshold."""

    CHECKS = {"mode": _one_of("min", "max"), "factor": _real(lambda v: 0 <= v < 1, "0 <= factor < 1"),
              "patience": _integer(0), "threshold": NON_NEGATIVE,
              "threshold_mode": _one_of("rel", "abs"), "cooldown": _integer(0), "eps": NON_NEGATIVE,
              "min_lrs": LRS, "default_min_lr": lambda name, v: v if v is None else NON_NEGATIVE(name, v),
              "cooldown_counter": _integer(0), "num_bad_epochs": _integer(0),
              "best": _best}

    def __init__(self, optimizer: Optimizer, mode: str = "min", factor: float = 0.1, patience: int = 10,
                 threshold: float = 1e-4, threshold_mode: str = "rel", cooldown: int = 0,
                 min_lr: float | Sequence[float] = 0, eps: float = 1e-8) -> None:
        self._set(optimizer, mode=mode, factor=factor, patience=patience, threshold=threshold,
                  threshold_mode=threshold_mode, cooldown=cooldown, eps=eps,
                  min_lrs=_per_group("min_lr", optimizer, min_lr))
        self.default_min_lr = None if isinstance(min_lr, (list, tuple)) else self.min_lrs[0]
        self.optimizer, self.last_epoch, self.cooldown_counter, self.num_bad_epochs = optimizer, 0, 0, 0
        self.best = math.inf if mode == "min" else -math.inf
        self._last_lr = [g["lr"] for g in optimizer.param_groups]

    def _is_better(self, a, best):
        rel, eps = self.threshold_mode == "rel", self.threshold
        if self.mode == "min":
            return a < best * (1.0 - eps) if rel else a < best - eps
        return a > best * (eps + 1.0) if rel else a > best + eps

    @tracer.replayed  # outside the graph: a compiled step (mg.compile) calls it again
    def step(self, metrics: float) -> None:  # type: ignore[override]  # takes the metric
        try:  # nan counts as no improvement, as in torch
            current, groups = float(metrics), self.optimizer.param_groups
        except (TypeError, ValueError):
            raise TypeError(f"ReduceLROnPlateau.step: metrics {short_repr(metrics)} is not a "
                            "number") from None
        if len(self.min_lrs) != len(groups):  # a group was added since construction
            if self.default_min_lr is None:
                raise RuntimeError(f"min_lr has {len(self.min_lrs)} values but the optimizer has "
                                   f"{len(groups)} param groups now; set min_lrs to match")
            self.min_lrs = [self.default_min_lr] * len(groups)
        self.last_epoch += 1
        if self._is_better(current, self.best):
            self.best, self.num_bad_epochs = current, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:  # in cooldown, bad epochs do not count
            self.cooldown_counter, self.num_bad_epochs = self.cooldown_counter - 1, 0
        if self.num_bad_epochs > self.patience:
            for group, lo in zip(groups, self.min_lrs):
                new_lr = max(group["lr"] * self.factor, lo)
                if group["lr"] - new_lr > self.eps:
                    group["lr"] = new_lr
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0
        self._last_lr = [g["lr"] for g in groups]


# ============================================================================ combinations
class _Combination(LRScheduler):
    """Several schedulers of one optimizer run as one; saves their states with its own."""

    CHECKS = {"_milestones": _milestones}

    def __init__(self, optimizer: Optimizer, schedulers: Sequence[LRScheduler]) -> None:
        _check(isinstance(schedulers, (list, tuple)) and schedulers, "schedulers", schedulers,
               "a list of at least one scheduler")
        for i, s in enumerate(schedulers):
            _check(isinstance(s, LRScheduler), f"schedulers[{i}]", s, "a scheduler")
            _check(not isinstance(s, ReduceLROnPlateau), f"schedulers[{i}]", type(s).__name__,
                   f"a scheduler whose step needs no metric, in {type(self).__name__}")
            _check(s.optimizer is optimizer, f"schedulers[{i}]", type(s).__name__,
                   "a scheduler of the same optimizer as the others")
        _groups(optimizer)
        self.optimizer, self._schedulers = optimizer, list(schedulers)
        self._last_lr = [g["lr"] for g in optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "_schedulers": [s.state_dict() for s in self._schedulers]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Every scheduler's state and its own, each checked before any is loaded."""
        name = type(self).__name__
        children = state_dict.get("_schedulers") if isinstance(state_dict, dict) else None
        if not isinstance(children, (list, tuple)) or len(children) != len(self._schedulers):
            raise ValueError(f"{name}.load_state_dict: '_schedulers' must be a list of the "
                             f"{len(self._schedulers)} schedulers' states, got {children!r:.80}")
        new = [s._checked_state(sd) for s, sd in zip(self._schedulers, children)]
        own = self._checked_state({k: v for k, v in state_dict.items() if k != "_schedulers"})
        for s, values in zip(self._schedulers, new):
            s.__dict__.update(values)
        self.__dict__.update(own)


class SequentialLR(_Combination):
    """schedulers[i] runs from milestones[i-1] (or 0) on, starting at its own step 0."""

    def __init__(self, optimizer: Optimizer, schedulers: Sequence[LRScheduler], milestones: Sequence[int],
                 last_epoch: int = -1) -> None:
        super().__init__(optimizer, schedulers)
        _integer(-1)("last_epoch", last_epoch)
        milestones = _milestones("milestones", milestones)
        _check(len(milestones) == len(schedulers) - 1, "milestones", milestones,
               f"one fewer than the {len(schedulers)} schedulers")
        self._milestones, self.last_epoch = list(milestones), last_epoch + 1
        for group in optimizer.param_groups:  # undo the children's initial steps
            group["lr"] = group["initial_lr"]
        self._schedulers[bisect_right(self._milestones, 0)].step(0)
        self._last_lr = [g["lr"] for g in optimizer.param_groups]

    def _check_together(self, values: dict[str, Any]) -> None:
        n = len(self._schedulers)
        _check(len(values["_milestones"]) == n - 1, "_milestones", values["_milestones"],
               f"one fewer than the {n} schedulers")

    @tracer.replayed  # outside the graph: a compiled step (mg.compile) calls it again
    def step(self) -> None:  # type: ignore[override]  # steps its schedulers
        self.last_epoch += 1
        i = bisect_right(self._milestones, self.last_epoch)
        starts = i > 0 and self._milestones[i - 1] == self.last_epoch
        self._schedulers[i].step(0 if starts else None)  # a phase starts at its own step 0
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]


class ChainedScheduler(_Combination):
    """Steps every scheduler at every step; the chainable ones compound (see `chained_lr`)."""

    def __init__(self, schedulers: Sequence[LRScheduler], optimizer: Optimizer | None = None) -> None:
        if optimizer is None and isinstance(schedulers, (list, tuple)) and schedulers:
            optimizer = getattr(schedulers[0], "optimizer", None)
        super().__init__(optimizer, schedulers)

    @tracer.replayed  # outside the graph: a compiled step (mg.compile) calls it again
    def step(self) -> None:  # type: ignore[override]  # steps its schedulers
        for s in self._schedulers:
            s.step()
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]

