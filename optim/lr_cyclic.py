"""Cyclical schedules: CyclicLR (Smith 2017) and OneCycleLR (Smith & Topin 2019), which cycle
the learning rate and, against it, the momentum (or Adam's β1). Part of optim.lr_scheduler (which
re-exports them), in a file of their own: they are one idea, the cycle, and the only schedules
that also set momentum.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from minigrad import tracer

from .lr_base import (
    LRS,
    NON_NEGATIVE,
    POSITIVE,
    LRScheduler,
    _check,
    _Each,
    _flag,
    _groups,
    _half_cos,
    _integer,
    _one_of,
    _per_group,
    _real,
)
from .optimizer import Optimizer

MODES = ("triangular", "triangular2", "exp_range")
PHASE_KEYS = ("initial_lr", "max_lr", "min_lr", "max_momentum", "base_momentum")


def _name(name, value):
    """A string (CyclicLR's mode: one of MODES, or any name beside a scale_fn)."""
    if not isinstance(value, str):
        raise TypeError(f"Invalid {name}: {value!r} (expected a string)")
    return value


def _phases(name, value):
    """OneCycleLR's phases: 2 or 3 of [last step, then four of the group keys it anneals]."""
    _check(isinstance(value, (list, tuple)) and len(value) in (2, 3), name, value,
           "a list of 2 or 3 phases")
    out = []
    for i, phase in enumerate(value):
        _check(isinstance(phase, (list, tuple)) and len(phase) == 5
               and all(isinstance(k, str) and k in PHASE_KEYS for k in phase[1:]),
               f"{name}[{i}]", phase, f"[last step, then four of {', '.join(PHASE_KEYS)}]")
        out.append((_real()(f"{name}[{i}][0]", phase[0]), *phase[1:]))
    return out


class _CyclesMomentum(LRScheduler):
    """Also sets momentum (or Adam's beta1) to momentum_at(t) each step, if cycle_momentum.
    `start`: per group, the values a schedule starting afresh (last_epoch = -1) puts in it."""

    CHECKS = {"cycle_momentum": _flag, "use_beta1": _flag, "base_momentums": _Each(_real()),
              "max_momentums": _Each(_real())}

    def __init__(self, optimizer, last_epoch, start, cycle_momentum, base_momentum, max_momentum,
                 **kept):
        """kept: the subclass's values to check and keep (by attribute), before anything is
        written into the optimizer's groups."""
        _groups(optimizer)
        use_beta1 = "betas" in optimizer.defaults
        if _flag("cycle_momentum", cycle_momentum):
            _check(use_beta1 or "momentum" in optimizer.defaults, "cycle_momentum", True,
                   "False for an optimizer without momentum or betas")
            kept.update(base_momentums=_per_group("base_momentum", optimizer, base_momentum),
                        max_momentums=_per_group("max_momentum", optimizer, max_momentum))
        self._set(optimizer, last_epoch, cycle_momentum=cycle_momentum, use_beta1=use_beta1, **kept)
        if cycle_momentum:
            start = [dict(values, base_momentum=lo, max_momentum=hi)
                     for values, lo, hi in zip(start, self.base_momentums, self.max_momentums)]
        for group, values in zip(optimizer.param_groups, start if last_epoch == -1 else []):
            group.update(values)
        super().__init__(optimizer, last_epoch)

    def _check_together(self, values: dict[str, Any]) -> None:
        """The momenta it sets bypass the optimizer's checks: beta1 in [0, 1), momentum >= 0."""
        if hasattr(self, "optimizer"):  # loading: the optimizer decides which it is
            _check(values["use_beta1"] == ("betas" in self.optimizer.defaults), "use_beta1",
                   values["use_beta1"], f"{not values['use_beta1']}, for this optimizer")
        if not values["cycle_momentum"]:
            return
        ok, expected = ((lambda m: 0 <= m < 1, "0 <= beta1 < 1") if values["use_beta1"]
                        else (lambda m: m >= 0, "momentum >= 0"))
        for name in ("base_momentums", "max_momentums"):
            _check(name in values, name, None, "a value per param group, with cycle_momentum")
            for i, m in enumerate(values[name]):
                _check(ok(m), f"{name}[{i}]", m, expected)

    @tracer.replayed  # outside the graph: a compiled step (mg.compile) calls it again
    def step(self, epoch: int | None = None) -> None:
        super().step(epoch)
        momentums = self.momentum_at(self.last_epoch) if self.cycle_momentum else []
        for group, m in zip(self.optimizer.param_groups, momentums):
            if self.use_beta1:
                group["betas"] = (m, *group["betas"][1:])
            else:
                group["momentum"] = m


class CyclicLR(_CyclesMomentum):
    """Cyclical learning rates (Smith 2017). With cycle = ⌊1 + t / (up + down)⌋ and h(t) the
    triangle that climbs from 0 to 1 over step_size_up steps and back over step_size_down,
        lr_at(t) = base_lr + (max_lr - base_lr) · h(t) · scale(cycle, or t for 'exp_range')
        momentum = max_momentum - (max_momentum - base_momentum) · h(t) · scale(...)
    scale: 1 ('triangular'), 1 / 2^(cycle-1) ('triangular2'), gamma^t ('exp_range'), or scale_fn."""

    def __init__(self, optimizer: Optimizer, base_lr: float | Sequence[float], max_lr: float | Sequence[float],
                 step_size_up: float = 2000, step_size_down: float | None = None, mode: str = "triangular",
                 gamma: float = 1.0, scale_fn: Callable[[float], float] | None = None, scale_mode: str = "cycle",
                 cycle_momentum: bool = True, base_momentum: float | Sequence[float] = 0.8,
                 max_momentum: float | Sequence[float] = 0.9, last_epoch: int = -1) -> None:
        base_lrs = LRS("base_lr", _per_group("base_lr", optimizer, base_lr), len(_groups(optimizer)))
        up = float(POSITIVE("step_size_up", step_size_up))
        down = up if step_size_down is None else float(NON_NEGATIVE("step_size_down", step_size_down))
        _check(scale_fn is None or callable(scale_fn), "scale_fn", scale_fn, "None or a function")
        if scale_fn is None:
            scale_mode = "iterations" if mode == "exp_range" else "cycle"
        super().__init__(optimizer, last_epoch, [{"lr": lr} for lr in base_lrs],
                         cycle_momentum, base_momentum, max_momentum,
                         max_lrs=_per_group("max_lr", optimizer, max_lr), total_size=up + down,
                         step_ratio=up / (up + down), mode=mode, gamma=gamma, scale_fn=scale_fn,
                         scale_mode=scale_mode)
        self.base_lrs = base_lrs  # initial_lr is base_lr only if no other schedule set it

    CHECKS = {**_CyclesMomentum.CHECKS, "max_lrs": LRS, "total_size": POSITIVE,
              "step_ratio": _real(lambda v: 0 < v <= 1, "0 < step_ratio <= 1"), "gamma": POSITIVE,
              "mode": _name, "scale_mode": _one_of("cycle", "iterations"),
              "scale_fn": lambda name, f: f}

    def _check_together(self, values: dict[str, Any]) -> None:
        super()._check_together(values)
        scale_fn = values.get("scale_fn", getattr(self, "scale_fn", None))
        _check(values["mode"] in MODES or scale_fn is not None, "mode", values["mode"],
               "'triangular', 'triangular2', 'exp_range', or a scale_fn")

    def _height(self, t):
        """h(t) and scale: where in its triangle step t is, and this cycle's amplitude."""
        cycle = math.floor(1 + t / self.total_size)
        x = 1.0 + t / self.total_size - cycle
        h = x / self.step_ratio if x <= self.step_ratio else (x - 1) / (self.step_ratio - 1)
        s = cycle if self.scale_mode == "cycle" else t
        if self.scale_fn is not None:
            return h, self.scale_fn(s)
        if self.mode == "triangular":
            return h, 1.0
        return h, 1 / (2.0 ** (s - 1)) if self.mode == "triangular2" else self.gamma ** s

    def lr_at(self, t: int) -> list[float]:
        h, scale = self._height(t)
        return [base + (hi - base) * h * scale for base, hi in zip(self.base_lrs, self.max_lrs)]

    def momentum_at(self, t: int) -> list[float]:
        h, scale = self._height(t)
        return [hi - (hi - lo) * h * scale
                for lo, hi in zip(self.base_momentums, self.max_momentums)]


class OneCycleLR(_CyclesMomentum):
    """The 1cycle policy (Smith & Topin 2018). Each phase anneals lr and momentum between two of
    the group's values over the fraction pct of it done, by cos, b + (a - b) g(pct) (g as in
    CosineAnnealingLR), or linearly, a + (b - a) pct:
        to step pct_start·total_steps - 1: lr initial_lr → max_lr, momentum max → base
        to step total_steps - 1:           lr max_lr → min_lr,     momentum base → max
    initial_lr = max_lr / div_factor, min_lr = initial_lr / final_div_factor. three_phase goes
    back to initial_lr by step 2·pct_start·total_steps - 2 first, then down to min_lr."""

    def __init__(self, optimizer: Optimizer, max_lr: float | Sequence[float], total_steps: int | None = None,
                 epochs: int | None = None, steps_per_epoch: int | None = None, pct_start: float = 0.3,
                 anneal_strategy: str = "cos", cycle_momentum: bool = True,
                 base_momentum: float | Sequence[float] = 0.85, max_momentum: float | Sequence[float] = 0.95,
                 div_factor: float = 25.0, final_div_factor: float = 1e4, three_phase: bool = False,
                 last_epoch: int = -1) -> None:
        max_lrs = _Each(POSITIVE)("max_lr", _per_group("max_lr", optimizer, max_lr),
                                  len(_groups(optimizer)))
        if total_steps is None and (epochs is None or steps_per_epoch is None):
            raise ValueError("You must define either total_steps OR (epochs AND steps_per_epoch)")
        if total_steps is None:
            n = _integer(1)("epochs", epochs) * _integer(1)("steps_per_epoch", steps_per_epoch)
        else:
            n = _integer(1)("total_steps", total_steps)
        if not isinstance(pct_start, (float, np.floating)):  # as torch: 0.3, not 0 or 1 (a
            # NumPy float counts, as for every other number a schedule takes)
            raise TypeError(f"Invalid pct_start: {pct_start!r} (expected a float in [0, 1])")
        p = _real(lambda v: 0 <= v <= 1, "a float in [0, 1]")("pct_start", pct_start)
        div_factor = POSITIVE("div_factor", div_factor)
        final_div_factor = POSITIVE("final_div_factor", final_div_factor)
        # each phase: its last step, then the group keys of lr from, lr to, momentum from, to
        phases = [(float(p * n) - 1, "initial_lr", "max_lr", "max_momentum", "base_momentum")]
        if _flag("three_phase", three_phase):
            phases += [
                (float(2 * p * n) - 2, "max_lr", "initial_lr", "base_momentum", "max_momentum"),
                (n - 1, "initial_lr", "min_lr", "max_momentum", "max_momentum")]
        else:
            phases += [(n - 1, "max_lr", "min_lr", "base_momentum", "max_momentum")]
        start = [{"lr": hi / div_factor, "initial_lr": hi / div_factor, "max_lr": hi,
                  "min_lr": hi / div_factor / final_div_factor} for hi in max_lrs]
        super().__init__(optimizer, last_epoch, start, cycle_momentum, base_momentum, max_momentum,
                         total_steps=n, anneal_strategy=anneal_strategy, phases=phases)

    CHECKS = {**_CyclesMomentum.CHECKS, "total_steps": _integer(1),
              "anneal_strategy": _one_of("cos", "linear"), "phases": _phases}

    def _check_together(self, values: dict[str, Any]) -> None:
        super()._check_together(values)
        n, last = values["total_steps"], values["phases"][-1][0]
        _check(last == n - 1, "phases", values["phases"],
               f"a last phase that ends at step total_steps - 1 = {n - 1}")

    def _anneal(self, t, i, j):
        """Each group's value at step t, annealed from key phase[i] to key phase[j]."""
        if t > self.total_steps:
            raise ValueError(f"Tried to step {t} times. The specified number of total steps "
                             f"is {self.total_steps}")
        start = 0.0
        for phase in self.phases:  # the phase step t is in
            if t <= phase[0] or phase is self.phases[-1]:
                break
            start = phase[0]
        # a phase of no length (pct_start 0.5 of 2 steps) is at its end at once
        pct = (t - start) / (phase[0] - start) if phase[0] != start else 1.0
        ends = [(g[phase[i]], g[phase[j]]) for g in self.optimizer.param_groups]
        if self.anneal_strategy == "cos":
            return [b + (a - b) * _half_cos(pct) for a, b in ends]
        return [a + (b - a) * pct for a, b in ends]

    def lr_at(self, t: int) -> list[float]:
        return self._anneal(t, 1, 2)

    def momentum_at(self, t: int) -> list[float]:
        return self._anneal(t, 3, 4)
