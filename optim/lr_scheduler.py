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
"""
import math
from bisect import bisect_right

from .optimizer import Optimizer


def _per_group(name, optimizer, value):
    """One value per param group: a list as given, or a scalar repeated."""
    n = len(optimizer.param_groups)
    if isinstance(value, (list, tuple)) and len(value) != n:
        raise ValueError(f"expected {n} values for {name} (one per param group), got {len(value)}")
    return list(value) if isinstance(value, (list, tuple)) else [value] * n


def _check_optimizer(optimizer):
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")


class LRScheduler:
    """Base class: base_lrs (each group's initial_lr), last_epoch, and the lrs it set last."""

    chained = False  # True once this scheduler has found the lr moved by another hand

    def __init__(self, optimizer, last_epoch=-1):
        _check_optimizer(optimizer)
        self.optimizer = optimizer
        for i, group in enumerate(optimizer.param_groups):
            if last_epoch != -1 and "initial_lr" not in group:
                raise KeyError(f"param_groups[{i}] has no 'initial_lr': resuming a schedule with "
                               f"last_epoch={last_epoch} needs the optimizer's state loaded first")
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._last_lr = list(self.base_lrs)  # what the lr was before this scheduler
        self.step()

    def lr_at(self, t):
        """The closed form: each group's lr at step t."""
        raise NotImplementedError

    def chained_lr(self, t):
        """The recursive form: each group's lr at step t from its current lr. Schedules that torch
        does not chain (LambdaLR, the cyclic ones, SGDR, WarmupCosine) overwrite: lr_at(t)."""
        return self.lr_at(t)

    def step(self, epoch=None):
        """Move to step last_epoch + 1 (or jump to `epoch`, by the closed form)."""
        groups = self.optimizer.param_groups
        if epoch is None:
            t = self.last_epoch + 1
            if any(g["lr"] != lr for g, lr in zip(groups, self._last_lr)):
                self.chained = True
            lrs = self.chained_lr(t) if self.chained else self.lr_at(t)
        else:
            t, lrs, self.chained = epoch, self.lr_at(epoch), False
        for group, lr in zip(groups, lrs):
            group["lr"] = lr
        self.last_epoch = t
        self._last_lr = [group["lr"] for group in groups]

    def get_last_lr(self):
        """The learning rates the last step set, one per group."""
        return self._last_lr

    def state_dict(self):
        """Everything but the optimizer (and functions, which cannot be saved)."""
        return {k: v for k, v in self.__dict__.items()
                if k not in ("optimizer", "lr_lambdas", "_schedulers", "scale_fn")}

    def load_state_dict(self, state_dict):
        self.__dict__.update(state_dict)


class _Multiplicative(LRScheduler):
    """lr_at(t) = base_lr · f(t); chained: lr ← lr · f(t) / f(t-1), with f(-1) = 1."""

    def f(self, t):
        raise NotImplementedError

    def lr_at(self, t):
        return [base * self.f(t) for base in self.base_lrs]

    def chained_lr(self, t):
        now, before = self.f(t), (self.f(t - 1) if t > 0 else 1.0)
        ratio = 1.0 if now == before else now / before  # 1 also when both are 0
        return [group["lr"] * ratio for group in self.optimizer.param_groups]


# ============================================================================ multiplicative

class LambdaLR(LRScheduler):
    """lr_at(t) = base_lr · lr_lambda(t); a list gives one lr_lambda per group."""

    def __init__(self, optimizer, lr_lambda, last_epoch=-1):
        self.lr_lambdas = _per_group("lr_lambda", optimizer, lr_lambda)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, t):
        return [base * f(t) for f, base in zip(self.lr_lambdas, self.base_lrs)]


class MultiplicativeLR(LRScheduler):
    """lr_t = lr_(t-1) · lr_lambda(t) for t >= 1; step 0 keeps the group's lr.

    The one schedule defined by its recursion: it multiplies whatever the lr is. As a later phase
    of SequentialLR it goes on from the previous phase's lr (torch also multiplies by lr_lambda(0))."""

    def __init__(self, optimizer, lr_lambda, last_epoch=-1):
        self.lr_lambdas = _per_group("lr_lambda", optimizer, lr_lambda)
        for i, f in enumerate(self.lr_lambdas):
            if not callable(f):
                raise TypeError(f"lr_lambda[{i}] should be a function, got {type(f).__name__}")
        super().__init__(optimizer, last_epoch)

    def lr_at(self, t):
        return [g["lr"] * f(t) if t > 0 else g["lr"]
                for f, g in zip(self.lr_lambdas, self.optimizer.param_groups)]


class StepLR(_Multiplicative):
    """lr_at(t) = base_lr · gamma^⌊t / step_size⌋."""

    def __init__(self, optimizer, step_size, gamma=0.1, last_epoch=-1):
        self.step_size, self.gamma = step_size, gamma
        super().__init__(optimizer, last_epoch)

    def f(self, t):
        return self.gamma ** (t // self.step_size)


class MultiStepLR(_Multiplicative):
    """lr_at(t) = base_lr · gamma^(milestones <= t); a milestone listed twice counts twice."""

    def __init__(self, optimizer, milestones, gamma=0.1, last_epoch=-1):
        self.milestones, self.gamma = sorted(milestones), gamma
        super().__init__(optimizer, last_epoch)

    def f(self, t):
        return self.gamma ** bisect_right(self.milestones, t)


class ConstantLR(_Multiplicative):
    """lr_at(t) = base_lr · factor for t < total_iters, then base_lr."""

    def __init__(self, optimizer, factor=1.0 / 3, total_iters=5, last_epoch=-1):
        if not 0 <= factor <= 1.0:
            raise ValueError(f"Invalid factor: {factor} (expected 0 <= factor <= 1)")
        self.factor, self.total_iters = factor, total_iters
        super().__init__(optimizer, last_epoch)

    def f(self, t):
        return self.factor + (t >= self.total_iters) * (1 - self.factor)


class LinearLR(_Multiplicative):
    """lr_at(t) = base_lr · (start_factor + (end_factor - start_factor) min(t, total_iters) / total_iters)."""

    def __init__(self, optimizer, start_factor=1.0 / 3, end_factor=1.0, total_iters=5, last_epoch=-1):
        if not 0 < start_factor <= 1.0:
            raise ValueError(f"Invalid start_factor: {start_factor} (expected 0 < start_factor <= 1)")
        if not 0 <= end_factor <= 1.0:
            raise ValueError(f"Invalid end_factor: {end_factor} (expected 0 <= end_factor <= 1)")
        self.start_factor, self.end_factor, self.total_iters = start_factor, end_factor, total_iters
        super().__init__(optimizer, last_epoch)

    def f(self, t):
        delta = self.end_factor - self.start_factor
        return self.start_factor + delta * min(self.total_iters, t) / self.total_iters


class ExponentialLR(_Multiplicative):
    """lr_at(t) = base_lr · gamma^t."""

    def __init__(self, optimizer, gamma, last_epoch=-1):
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def f(self, t):
        return self.gamma ** t


class PolynomialLR(_Multiplicative):
    """lr_at(t) = base_lr · (1 - min(t, total_iters) / total_iters)^power."""

    def __init__(self, optimizer, total_iters=5, power=1.0, last_epoch=-1):
        self.total_iters, self.power = total_iters, power
        super().__init__(optimizer, last_epoch)

    def f(self, t):
        return (1.0 - min(self.total_iters, t) / self.total_iters) ** self.power


# ============================================================================ cosine

class CosineAnnealingLR(LRScheduler):
    """lr_at(t) = η_min + (base_lr - η_min) g(t),  g(t) = (1 + cos(π t / T_max)) / 2.

    Past T_max it rises again (a period of 2 T_max), as in PyTorch. Chained, the part above η_min
    is scaled, lr ← η_min + (lr - η_min) g(t) / g(t-1), or out of a trough (g(t-1) = 0) the
    rise is added, lr ← lr + (base_lr - η_min) g(t)."""

    def __init__(self, optimizer, T_max, eta_min=0.0, last_epoch=-1):
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(optimizer, last_epoch)

    def g(self, t):
        return (1 + math.cos(math.pi * t / self.T_max)) / 2

    def lr_at(self, t):
        return [self.eta_min + (base - self.eta_min) * self.g(t) for base in self.base_lrs]

    def chained_lr(self, t):
        lo, now, before = self.eta_min, self.g(t), self.g(t - 1)
        lrs = [g["lr"] for g in self.optimizer.param_groups]
        if t == 0:
            return lrs
        if before == 0:
            return [lr + (base - lo) * now for lr, base in zip(lrs, self.base_lrs)]
        return [lo + (lr - lo) * (now / before) for lr in lrs]


class CosineAnnealingWarmRestarts(LRScheduler):
    """SGDR (Loshchilov & Hutter 2017): lr_at(t) = η_min + (base_lr - η_min)(1 + cos(π T_cur / T_i)) / 2,
    T_cur counting steps since the last restart; the first cycle lasts T_i = T_0 steps, each next
    one T_mult times longer."""

    def __init__(self, optimizer, T_0, T_mult=1, eta_min=0.0, last_epoch=-1):
        if not isinstance(T_0, int) or T_0 <= 0:
            raise ValueError(f"Expected positive integer T_0, but got {T_0!r}")
        if not isinstance(T_mult, int) or T_mult < 1:
            raise ValueError(f"Expected integer T_mult >= 1, but got {T_mult!r}")
        self.T_0, self.T_mult, self.eta_min = T_0, T_mult, eta_min
        super().__init__(optimizer, last_epoch)

    def cycle(self, t):
        """(T_cur, T_i) at step t, by whole cycles so that restarts land exactly."""
        if self.T_mult == 1:
            return t % self.T_0, self.T_0
        T_cur, T_i = t, self.T_0
        while T_cur >= T_i:
            T_cur, T_i = T_cur - T_i, T_i * self.T_mult
        return T_cur, T_i

    def lr_at(self, t):
        T_cur, T_i = self.cycle(t)
        return [self.eta_min + (base - self.eta_min) * (1 + math.cos(math.pi * T_cur / T_i)) / 2
                for base in self.base_lrs]


class WarmupCosine(LRScheduler):
    """Linear warmup, then cosine decay to min_lr: the standard transformer recipe, one object.

        lr_at(s) = base_lr · (s + 1) / warmup_steps                       s < warmup_steps
        lr_at(s) = min_lr + (base_lr - min_lr)(1 + cos(π p)) / 2,  p = (s - warmup_steps) /
                   (total_steps - warmup_steps), clipped to [0, 1]        afterwards
    so the first step already has a non-zero rate, the peak is at s = warmup_steps, and the rate
    stays at min_lr from total_steps on. s counts scheduler steps from 0.
    """

    def __init__(self, optimizer, warmup_steps, total_steps, min_lr=0.0, last_epoch=-1):
        if not isinstance(warmup_steps, int) or warmup_steps < 0:
            raise ValueError(f"Invalid warmup_steps: {warmup_steps!r} (expected an integer >= 0)")
        if not isinstance(total_steps, int) or total_steps <= warmup_steps:
            raise ValueError(f"Invalid total_steps: {total_steps!r} (expected an integer > "
                             f"warmup_steps = {warmup_steps})")
        if min_lr < 0:
            raise ValueError(f"Invalid min_lr: {min_lr!r} (expected >= 0)")
        self.warmup_steps, self.total_steps, self.min_lr = warmup_steps, total_steps, min_lr
        super().__init__(optimizer, last_epoch)

    def lr_at(self, s):
        W, T = self.warmup_steps, self.total_steps
        if s < W:
            return [base * (s + 1) / W for base in self.base_lrs]      # 1. linear warmup
        p = min((s - W) / (T - W), 1.0)                                 # 2. progress in [0, 1]
        return [self.min_lr + (base - self.min_lr) * (1 + math.cos(math.pi * p)) / 2
                for base in self.base_lrs]                              # 3. cosine to min_lr


# ============================================================================ cyclic

class _CyclesMomentum(LRScheduler):
    """After each step sets momentum (or Adam's beta1) to momentum_at(t), when cycle_momentum."""

    def _setup_momentum(self, optimizer, cycle_momentum, base_momentum, max_momentum, last_epoch):
        self.cycle_momentum = cycle_momentum
        if not cycle_momentum:
            return
        if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
            raise ValueError("optimizer must support momentum or beta1 with `cycle_momentum` enabled")
        self.use_beta1 = "betas" in optimizer.defaults
        self.base_momentums = _per_group("base_momentum", optimizer, base_momentum)
        self.max_momentums = _per_group("max_momentum", optimizer, max_momentum)
        for hi, lo, group in zip(self.max_momentums, self.base_momentums, optimizer.param_groups):
            if last_epoch == -1:
                self._set_momentum(group, hi)
                group["max_momentum"], group["base_momentum"] = hi, lo

    def _set_momentum(self, group, value):
        if self.use_beta1:
            group["betas"] = (value, *group["betas"][1:])
        else:
            group["momentum"] = value

    def step(self, epoch=None):
        super().step(epoch)
        if self.cycle_momentum:
            for group, m in zip(self.optimizer.param_groups, self.momentum_at(self.last_epoch)):
                self._set_momentum(group, m)


class CyclicLR(_CyclesMomentum):
    """Cyclical learning rates (Smith 2017). With cycle = ⌊1 + t / (up + down)⌋ and h(t) the
    triangle that climbs from 0 to 1 over step_size_up steps and back over step_size_down,
        lr_at(t) = base_lr + (max_lr - base_lr) · h(t) · scale(cycle, or t for 'exp_range')
        momentum = max_momentum - (max_momentum - base_momentum) · h(t) · scale(...)
    scale: 1 ('triangular'), 1 / 2^(cycle-1) ('triangular2'), gamma^t ('exp_range'), or scale_fn."""

    def __init__(self, optimizer, base_lr, max_lr, step_size_up=2000, step_size_down=None,
                 mode="triangular", gamma=1.0, scale_fn=None, scale_mode="cycle",
                 cycle_momentum=True, base_momentum=0.8, max_momentum=0.9, last_epoch=-1):
        _check_optimizer(optimizer)
        if mode not in ("triangular", "triangular2", "exp_range") and scale_fn is None:
            raise ValueError(f"Invalid mode: {mode!r} (expected 'triangular', 'triangular2', "
                             "'exp_range', or a scale_fn)")
        base_lrs, self.max_lrs = _per_group("base_lr", optimizer, base_lr), _per_group("max_lr", optimizer, max_lr)
        up = float(step_size_up)
        down = float(step_size_down) if step_size_down is not None else up
        self.total_size, self.step_ratio = up + down, up / (up + down)
        self.mode, self.gamma, self.scale_fn, self.scale_mode = mode, gamma, scale_fn, scale_mode
        if scale_fn is None:
            self.scale_mode = "iterations" if mode == "exp_range" else "cycle"
        self._setup_momentum(optimizer, cycle_momentum, base_momentum, max_momentum, last_epoch)
        for lr, group in zip(base_lrs, optimizer.param_groups):
            if last_epoch == -1:
                group["lr"] = lr
        super().__init__(optimizer, last_epoch)  # initial_lr = base_lr, unless already set
        self.base_lrs = base_lrs

    def _scale(self, s):
        if self.scale_fn is not None:
            return self.scale_fn(s)
        if self.mode == "triangular":
            return 1.0
        return 1 / (2.0 ** (s - 1)) if self.mode == "triangular2" else self.gamma ** s

    def _height(self, t):
        """h(t) · scale: where in its triangle step t is, times this cycle's amplitude."""
        cycle = math.floor(1 + t / self.total_size)
        x = 1.0 + t / self.total_size - cycle
        h = x / self.step_ratio if x <= self.step_ratio else (x - 1) / (self.step_ratio - 1)
        return h, self._scale(cycle if self.scale_mode == "cycle" else t)

    def lr_at(self, t):
        h, scale = self._height(t)
        return [base + (hi - base) * h * scale for base, hi in zip(self.base_lrs, self.max_lrs)]

    def momentum_at(self, t):
        h, scale = self._height(t)
        return [hi - (hi - lo) * h * scale for lo, hi in zip(self.base_momentums, self.max_momentums)]


class OneCycleLR(_CyclesMomentum):
    """The 1cycle policy (Smith & Topin 2018). Each phase anneals lr and momentum between two of
    the group's values over the fraction pct of it done, by cos, b + (a - b)(1 + cos(π pct)) / 2,
    or linearly, a + (b - a) pct:
        to step pct_start·total_steps - 1: lr initial_lr → max_lr, momentum max → base
        to step total_steps - 1:           lr max_lr → min_lr,     momentum base → max
    initial_lr = max_lr / div_factor, min_lr = initial_lr / final_div_factor. three_phase goes
    back to initial_lr by step 2·pct_start·total_steps - 2 first, then down to min_lr."""

    def __init__(self, optimizer, max_lr, total_steps=None, epochs=None, steps_per_epoch=None,
                 pct_start=0.3, anneal_strategy="cos", cycle_momentum=True, base_momentum=0.85,
                 max_momentum=0.95, div_factor=25.0, final_div_factor=1e4, three_phase=False,
                 last_epoch=-1):
        _check_optimizer(optimizer)
        if total_steps is None and (epochs is None or steps_per_epoch is None):
            raise ValueError("You must define either total_steps OR (epochs AND steps_per_epoch)")
        n = total_steps if total_steps is not None else epochs * steps_per_epoch
        if not isinstance(n, int) or n <= 0:
            raise ValueError(f"Expected positive integer total_steps, but got {n!r}")
        if not isinstance(pct_start, float) or not 0 <= pct_start <= 1:
            raise ValueError(f"Expected float between 0 and 1 pct_start, but got {pct_start!r}")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"anneal_strategy must be 'cos' or 'linear', got {anneal_strategy!r}")
        self.total_steps, self.anneal_strategy, p = n, anneal_strategy, pct_start
        # (last step of the phase, then the group keys of: lr from, lr to, momentum from, to)
        self.phases = [(float(p * n) - 1, "initial_lr", "max_lr", "max_momentum", "base_momentum")]
        if three_phase:
            self.phases += [(float(2 * p * n) - 2, "max_lr", "initial_lr", "base_momentum", "max_momentum"),
                            (n - 1, "initial_lr", "min_lr", "max_momentum", "max_momentum")]
        else:
            self.phases += [(n - 1, "max_lr", "min_lr", "base_momentum", "max_momentum")]
        max_lrs = _per_group("max_lr", optimizer, max_lr)
        self._setup_momentum(optimizer, cycle_momentum, base_momentum, max_momentum, last_epoch)
        for hi, group in zip(max_lrs, optimizer.param_groups):
            if last_epoch == -1:
                group["lr"] = group["initial_lr"] = hi / div_factor  # where it starts
                group["max_lr"] = hi
                group["min_lr"] = group["initial_lr"] / final_div_factor
        super().__init__(optimizer, last_epoch)

    def _phase(self, t):
        """The phase step t is in, and the fraction of it done."""
        if t > self.total_steps:
            raise ValueError(f"Tried to step {t} times. The specified number of total steps "
                             f"is {self.total_steps}")
        start = 0.0
        for phase in self.phases:
            if t <= phase[0] or phase is self.phases[-1]:
                return phase, (t - start) / (phase[0] - start)
            start = phase[0]

    def _anneal(self, a, b, pct):
        if self.anneal_strategy == "cos":
            return b + (a - b) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (b - a) * pct + a

    def lr_at(self, t):
        (_, lr0, lr1, _, _), pct = self._phase(t)
        return [self._anneal(g[lr0], g[lr1], pct) for g in self.optimizer.param_groups]

    def momentum_at(self, t):
        (_, _, _, m0, m1), pct = self._phase(t)
        return [self._anneal(g[m0], g[m1], pct) for g in self.optimizer.param_groups]


# ============================================================================ on a metric

class ReduceLROnPlateau(LRScheduler):
    """lr ← max(lr · factor, min_lr) once the metric has not improved for more than `patience`
    steps, then wait `cooldown` steps; a cut smaller than eps is skipped. "Improved" in mode
    'min' is metric < best · (1 - threshold) ('rel') or < best - threshold ('abs'); in mode
    'max', metric > best · (1 + threshold) or > best + threshold."""

    def __init__(self, optimizer, mode="min", factor=0.1, patience=10, threshold=1e-4,
                 threshold_mode="rel", cooldown=0, min_lr=0, eps=1e-8):
        _check_optimizer(optimizer)
        if factor >= 1.0:
            raise ValueError(f"Invalid factor: {factor} (expected < 1.0)")
        if mode not in ("min", "max"):
            raise ValueError(f"Invalid mode: {mode!r} (expected 'min' or 'max')")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"Invalid threshold_mode: {threshold_mode!r} (expected 'rel' or 'abs')")
        self.min_lrs = _per_group("min_lr", optimizer, min_lr)
        self.default_min_lr = None if isinstance(min_lr, (list, tuple)) else min_lr
        self.optimizer, self.mode, self.factor, self.patience = optimizer, mode, factor, patience
        self.threshold, self.threshold_mode, self.cooldown, self.eps = threshold, threshold_mode, cooldown, eps
        self.last_epoch, self.cooldown_counter, self.num_bad_epochs = 0, 0, 0
        self.best = math.inf if mode == "min" else -math.inf
        self._last_lr = [g["lr"] for g in optimizer.param_groups]

    def _is_better(self, a, best):
        rel, eps = self.threshold_mode == "rel", self.threshold
        if self.mode == "min":
            return a < best * (1.0 - eps) if rel else a < best - eps
        return a > best * (eps + 1.0) if rel else a > best + eps

    def step(self, metrics):
        current, groups = float(metrics), self.optimizer.param_groups
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
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad epochs in cooldown do not count
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

    def __init__(self, optimizer, schedulers):
        name = type(self).__name__
        if not schedulers:
            raise ValueError(f"{name} expects at least one scheduler")
        for i, s in enumerate(schedulers):
            if isinstance(s, ReduceLROnPlateau):
                raise ValueError(f"{name} does not support ReduceLROnPlateau (index {i}): its step needs a metric")
            if s.optimizer is not optimizer:
                raise ValueError(f"{name}: scheduler {i} ({type(s).__name__}) belongs to another optimizer")
        self.optimizer, self._schedulers = optimizer, list(schedulers)

    def state_dict(self):
        return {**super().state_dict(), "_schedulers": [s.state_dict() for s in self._schedulers]}

    def load_state_dict(self, state_dict):
        state_dict = dict(state_dict)
        for s, sd in zip(self._schedulers, state_dict.pop("_schedulers")):
            s.load_state_dict(sd)
        self.__dict__.update(state_dict)


class SequentialLR(_Combination):
    """schedulers[i] runs from milestones[i-1] (or 0) on, starting at its own step 0."""

    def __init__(self, optimizer, schedulers, milestones, last_epoch=-1):
        super().__init__(optimizer, schedulers)
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(f"SequentialLR expects one milestone fewer than schedulers, got "
                             f"{len(schedulers)} schedulers and {len(milestones)} milestones")
        self._milestones, self.last_epoch = list(milestones), last_epoch + 1
        for group in optimizer.param_groups:  # undo the children's initial steps
            group["lr"] = group["initial_lr"]
        first = self._schedulers[bisect_right(self._milestones, 0)]
        first.step(0)
        self._last_lr = first.get_last_lr()

    def step(self):
        self.last_epoch += 1
        idx = bisect_right(self._milestones, self.last_epoch)
        s = self._schedulers[idx]
        if idx > 0 and self._milestones[idx - 1] == self.last_epoch:
            s.step(0)  # a new phase starts at its own step 0
        else:
            s.step()
        self._last_lr = s.get_last_lr()


class ChainedScheduler(_Combination):
    """Steps every scheduler at every step; the chainable ones compound (see `chained_lr`)."""

    def __init__(self, schedulers, optimizer=None):
        if optimizer is None and schedulers:
            optimizer = schedulers[0].optimizer
        super().__init__(optimizer, schedulers)
        self._last_lr = [g["lr"] for g in optimizer.param_groups]

    def step(self):
        for s in self._schedulers:
            s.step()
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]
