"""Cyclical schedules: CyclicLR (Smith 2017) and OneCycleLR (Smith & Topin 2019), which cycle
the learning rate and, against it, the momentum (or Adam's β1). Part of optim.lr_scheduler (which
re-exports them), in a file of their own: they are one idea, the cycle, and the only schedules
that also set momentum.
"""
import math

from .lr_scheduler import LRScheduler, _check, _half_cos, _per_group


class _CyclesMomentum(LRScheduler):
    """Also sets momentum (or Adam's beta1) to momentum_at(t) each step, if cycle_momentum.
    `start`: per group, the values a schedule starting afresh (last_epoch = -1) puts in it."""

    def __init__(self, optimizer, last_epoch, start, cycle_momentum, base_momentum, max_momentum):
        self.cycle_momentum, self.use_beta1 = cycle_momentum, "betas" in optimizer.defaults
        if cycle_momentum:
            _check(self.use_beta1 or "momentum" in optimizer.defaults, "cycle_momentum", True,
                   "False for an optimizer without momentum or betas")
            self.base_momentums = _per_group("base_momentum", optimizer, base_momentum)
            self.max_momentums = _per_group("max_momentum", optimizer, max_momentum)
            start = [dict(values, base_momentum=lo, max_momentum=hi)
                     for values, lo, hi in zip(start, self.base_momentums, self.max_momentums)]
        for group, values in zip(optimizer.param_groups, start if last_epoch == -1 else []):
            group.update(values)
        super().__init__(optimizer, last_epoch)

    def step(self, epoch=None):
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

    def __init__(self, optimizer, base_lr, max_lr, step_size_up=2000, step_size_down=None,
                 mode="triangular", gamma=1.0, scale_fn=None, scale_mode="cycle",
                 cycle_momentum=True, base_momentum=0.8, max_momentum=0.9, last_epoch=-1):
        base_lrs = _per_group("base_lr", optimizer, base_lr)
        self.max_lrs = _per_group("max_lr", optimizer, max_lr)
        _check(mode in ("triangular", "triangular2", "exp_range") or scale_fn is not None, "mode",
               mode, "'triangular', 'triangular2', 'exp_range', or a scale_fn")
        up = float(step_size_up)
        down = float(step_size_down) if step_size_down is not None else up
        self.total_size, self.step_ratio = up + down, up / (up + down)
        self.mode, self.gamma, self.scale_fn, self.scale_mode = mode, gamma, scale_fn, scale_mode
        if scale_fn is None:
            self.scale_mode = "iterations" if mode == "exp_range" else "cycle"
        super().__init__(optimizer, last_epoch, [{"lr": lr} for lr in base_lrs],
                         cycle_momentum, base_momentum, max_momentum)
        self.base_lrs = base_lrs  # initial_lr is base_lr only if no other schedule set it

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

    def lr_at(self, t):
        h, scale = self._height(t)
        return [base + (hi - base) * h * scale for base, hi in zip(self.base_lrs, self.max_lrs)]

    def momentum_at(self, t):
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

    def __init__(self, optimizer, max_lr, total_steps=None, epochs=None, steps_per_epoch=None,
                 pct_start=0.3, anneal_strategy="cos", cycle_momentum=True, base_momentum=0.85,
                 max_momentum=0.95, div_factor=25.0, final_div_factor=1e4, three_phase=False,
                 last_epoch=-1):
        max_lrs = _per_group("max_lr", optimizer, max_lr)
        if total_steps is None and (epochs is None or steps_per_epoch is None):
            raise ValueError("You must define either total_steps OR (epochs AND steps_per_epoch)")
        n = total_steps if total_steps is not None else epochs * steps_per_epoch
        _check(isinstance(n, int) and n > 0, "total_steps", n, "a positive integer")
        _check(isinstance(pct_start, float) and 0 <= pct_start <= 1, "pct_start", pct_start,
               "a float in [0, 1]")
        _check(anneal_strategy in ("cos", "linear"), "anneal_strategy", anneal_strategy,
               "'cos' or 'linear'")
        self.total_steps, self.anneal_strategy, p = n, anneal_strategy, pct_start
        # each phase: its last step, then the group keys of lr from, lr to, momentum from, to
        self.phases = [(float(p * n) - 1, "initial_lr", "max_lr", "max_momentum", "base_momentum")]
        if three_phase:
            self.phases += [
                (float(2 * p * n) - 2, "max_lr", "initial_lr", "base_momentum", "max_momentum"),
                (n - 1, "initial_lr", "min_lr", "max_momentum", "max_momentum")]
        else:
            self.phases += [(n - 1, "max_lr", "min_lr", "base_momentum", "max_momentum")]
        start = [{"lr": hi / div_factor, "initial_lr": hi / div_factor, "max_lr": hi,
                  "min_lr": hi / div_factor / final_div_factor} for hi in max_lrs]
        super().__init__(optimizer, last_epoch, start, cycle_momentum, base_momentum, max_momentum)

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
        pct = (t - start) / (phase[0] - start)
        ends = [(g[phase[i]], g[phase[j]]) for g in self.optimizer.param_groups]
        if self.anneal_strategy == "cos":
            return [b + (a - b) * _half_cos(pct) for a, b in ends]
        return [a + (b - a) * pct for a, b in ends]

    def lr_at(self, t):
        return self._anneal(t, 1, 2)

    def momentum_at(self, t):
        return self._anneal(t, 3, 4)


# ============================================================================ on a metric
