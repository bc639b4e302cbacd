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

CyclicLR and OneCycleLR, which also cycle momentum, are in optim/lr_cyclic.py (imported here).

state_dict() is plain data (numbers, strings, bools, None, lists, dicts), for JSON checkpoints;
like torch's, it leaves out the optimizer and functions (lr_lambda, scale_fn).
"""
import math
from bisect import bisect_right

from .optimizer import Optimizer


def _check(ok, name, value, expected):
    """Validate an argument: unless ok, say which, its value, and what was expected."""
    if not ok:
        raise ValueError(f"Invalid {name}: {value!r} (expected {expected})")


def _groups(optimizer):
    """optimizer.param_groups, once optimizer is one."""
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")
    return optimizer.param_groups


def _per_group(name, optimizer, value):
    """One value per param group: a list as given, or a scalar repeated."""
    n, many = len(_groups(optimizer)), isinstance(value, (list, tuple))
    _check(not many or len(value) == n, name, value, f"one value per param group: {n}")
    return list(value) if many else [value] * n


def _half_cos(p):
    """g(p) = (1 + cos(π p)) / 2, from 1 at p = 0 down to 0 at p = 1."""
    return (1 + math.cos(math.pi * p)) / 2


class LRScheduler:
    """Base class: base_lrs (each group's initial_lr), last_epoch, and the lrs it set last."""

    def __init__(self, optimizer, last_epoch=-1):
        groups = _groups(optimizer)
        for i, group in enumerate(groups):
            if last_epoch != -1 and "initial_lr" not in group:
                raise KeyError(f"param_groups[{i}] has no 'initial_lr': resuming a schedule with "
                               f"last_epoch={last_epoch} needs the optimizer's state loaded first")
        self.optimizer, self.last_epoch, self.chained = optimizer, last_epoch, False
        self.base_lrs = [group.setdefault("initial_lr", group["lr"]) for group in groups]
        self._last_lr = list(self.base_lrs)  # what the lr was before this scheduler
        self.step()

    def lr_at(self, t):
        """The closed form: each group's lr at step t."""
        raise NotImplementedError

    def chained_lr(self, t):
        """The recursive form, from each group's current lr; schedules that torch does not chain
        (LambdaLR, SGDR, WarmupCosine, the cyclic ones) keep lr_at(t)."""
        return self.lr_at(t)

    def step(self, epoch=None):
        """Move to step last_epoch + 1 (or jump to `epoch`, by the closed form)."""
        groups = self.optimizer.param_groups
        t = self.last_epoch + 1 if epoch is None else epoch
        moved = any(g["lr"] != lr for g, lr in zip(groups, self._last_lr))  # by another hand
        self.chained = epoch is None and (self.chained or moved)  # for good, unless jumping
        for group, lr in zip(groups, self.chained_lr(t) if self.chained else self.lr_at(t)):
            group["lr"] = lr
        self.last_epoch, self._last_lr = t, [group["lr"] for group in groups]

    def get_last_lr(self):
        """The learning rates the last step set, one per group."""
        return self._last_lr

    def state_dict(self):
        """Every attribute but the optimizer, functions and child schedulers: plain data."""
        return {k: v for k, v in self.__dict__.items()
                if k not in ("optimizer", "lr_lambdas", "scale_fn", "_schedulers")}

    def load_state_dict(self, state_dict):
        self.__dict__.update(state_dict)


# ============================================================================ multiplicative
class LambdaLR(LRScheduler):
    """lr_at(t) = base_lr · lr_lambda(t); a list gives one lr_lambda per group."""

    def __init__(self, optimizer, lr_lambda, last_epoch=-1):
        self.lr_lambdas = _per_group("lr_lambda", optimizer, lr_lambda)
        for i, f in enumerate(self.lr_lambdas):
            if not callable(f):
                raise TypeError(f"lr_lambda[{i}] should be a function, got {type(f).__name__}")
        super().__init__(optimizer, last_epoch)

    def lr_at(self, t):
        return [base * f(t) for f, base in zip(self.lr_lambdas, self.base_lrs)]


class MultiplicativeLR(LambdaLR):
    """lr_t = lr_(t-1) · lr_lambda(t) for t >= 1; step 0 keeps the group's lr: the one schedule
    defined by its recursion. As a later phase of SequentialLR it goes on from the previous
    phase's lr (torch also multiplies by lr_lambda(0))."""

    def lr_at(self, t):
        return [g["lr"] * f(t) if t > 0 else g["lr"]
                for f, g in zip(self.lr_lambdas, self.optimizer.param_groups)]


class _Factor(LRScheduler):
    """lr_at(t) = eta_min + (base_lr - eta_min) f(t), eta_min = 0 but in CosineAnnealingLR.
    Chained, as torch's recursion: the part above eta_min is scaled by f(t) / f(t-1), f(-1) = 1,
    or out of a trough (f(t-1) = 0) the rise (base_lr - eta_min) f(t) is added."""

    eta_min = 0.0

    def lr_at(self, t):
        return [self.eta_min + (base - self.eta_min) * self.f(t) for base in self.base_lrs]

    def chained_lr(self, t):
        lo, now, before = self.eta_min, self.f(t), (self.f(t - 1) if t > 0 else 1.0)
        lrs = [g["lr"] for g in self.optimizer.param_groups]
        if now == before:  # also when both are 0
            return lrs
        if before == 0:
            return [lr + (base - lo) * now for lr, base in zip(lrs, self.base_lrs)]
        return [lo + (lr - lo) * (now / before) for lr in lrs]


class StepLR(_Factor):
    """lr_at(t) = base_lr · f(t),  f(t) = gamma^⌊t / step_size⌋."""

    def __init__(self, optimizer, step_size, gamma=0.1, last_epoch=-1):
        self.step_size, self.gamma = step_size, gamma
        super().__init__(optimizer, last_epoch)

    def f(self, t):
        return self.gamma ** (t // self.step_size)


class MultiStepLR(_Factor):
    """lr_at(t) = base_lr · f(t),  f(t) = gamma^(number of milestones <= t), counting twice a
    milestone listed twice."""

    def __init__(self, optimizer, milestones, gamma=0.1, last_epoch=-1):
        self.milestones, self.gamma = sorted(milestones), gamma
        super().__init__(optimizer, last_epoch)

    def f(self, t):
        return self.gamma ** bisect_right(self.milestones, t)


class ConstantLR(_Factor):
    """lr_at(t) = base_lr · f(t),  f(t) = factor for t < total_iters, then 1."""

    def __init__(self, optimizer, factor=1.0 / 3, total_iters=5, last_epoch=-1):
        _check(0 <= factor <= 1.0, "factor", factor, "0 <= factor <= 1")
        self.factor, self.total_iters = factor, total_iters
        super().__init__(optimizer, last_epoch)

    def f(self, t):
        return self.factor + (t >= self.total_iters) * (1 - self.factor)


class LinearLR(_Factor):
    """lr_at(t) = base_lr · f(t),
    f(t) = start_factor + (end_factor - start_factor) · min(t, total_iters) / total_iters."""

    def __init__(self, optimizer, start_factor=1.0 / 3, end_factor=1.0, total_iters=5,
                 last_epoch=-1):
        _check(0 < start_factor <= 1.0, "start_factor", start_factor, "0 < start_factor <= 1")
        _check(0 <= end_factor <= 1.0, "end_factor", end_factor, "0 <= end_factor <= 1")
        self.start_factor, self.end_factor, self.total_iters = start_factor, end_factor, total_iters
        super().__init__(optimizer, last_epoch)

    def f(self, t):
        delta = self.end_factor - self.start_factor
        return self.start_factor + delta * min(self.total_iters, t) / self.total_iters


class ExponentialLR(_Factor):
    """lr_at(t) = base_lr · f(t),  f(t) = gamma^t."""

    def __init__(self, optimizer, gamma, last_epoch=-1):
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def f(self, t):
        return self.gamma ** t


class PolynomialLR(_Factor):
    """lr_at(t) = base_lr · f(t),  f(t) = (1 - min(t, total_iters) / total_iters)^power."""

    def __init__(self, optimizer, total_iters=5, power=1.0, last_epoch=-1):
        self.total_iters, self.power = total_iters, power
        super().__init__(optimizer, last_epoch)

    def f(self, t):
        return (1.0 - min(self.total_iters, t) / self.total_iters) ** self.power


# ============================================================================ cosine
class CosineAnnealingLR(_Factor):
    """lr_at(t) = eta_min + (base_lr - eta_min) f(t),  f(t) = g(t / T_max),
    g(p) = (1 + cos(π p)) / 2. Past T_max it rises again (a period of 2 T_max), as in torch."""

    def __init__(self, optimizer, T_max, eta_min=0.0, last_epoch=-1):
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(optimizer, last_epoch)

    def f(self, t):
        return _half_cos(t / self.T_max)


class CosineAnnealingWarmRestarts(LRScheduler):
    """SGDR (Loshchilov & Hutter 2017): lr_at(t) = eta_min + (base_lr - eta_min) g(T_cur / T_i),
    T_cur counting steps since the last restart; the first cycle lasts T_i = T_0 steps, each next
    one T_mult times longer."""

    def __init__(self, optimizer, T_0, T_mult=1, eta_min=0.0, last_epoch=-1):
        _check(isinstance(T_0, int) and T_0 > 0, "T_0", T_0, "a positive integer")
        _check(isinstance(T_mult, int) and T_mult >= 1, "T_mult", T_mult, "an integer >= 1")
        self.T_0, self.T_mult, self.eta_min = T_0, T_mult, eta_min
        super().__init__(optimizer, last_epoch)

    def lr_at(self, t):
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

    def __init__(self, optimizer, warmup_steps, total_steps, min_lr=0.0, last_epoch=-1):
        W, T = warmup_steps, total_steps
        _check(isinstance(W, int) and W >= 0, "warmup_steps", W, "an integer >= 0")
        _check(isinstance(T, int) and T > W, "total_steps", T, f"an integer > warmup_steps = {W}")
        _check(min_lr >= 0, "min_lr", min_lr, ">= 0")
        self.warmup_steps, self.total_steps, self.min_lr = W, T, min_lr
        super().__init__(optimizer, last_epoch)

    def lr_at(self, s):
        W, T, lo = self.warmup_steps, self.total_steps, self.min_lr
        if s < W:
            return [base * (s + 1) / W for base in self.base_lrs]
        return [lo + (base - lo) * _half_cos(min(s - W, T - W) / (T - W)) for base in self.base_lrs]


class ReduceLROnPlateau(LRScheduler):
    """lr ← max(lr · factor, min_lr) once the metric has not improved for more than `patience`
    steps, then wait `cooldown` steps; a cut smaller than eps is skipped. "Improved" in mode
    'min' is metric < best · (1 - threshold) ('rel') or < best - threshold ('abs'); in mode
    'max', metric > best · (1 + threshold) or > best + threshold."""

    def __init__(self, optimizer, mode="min", factor=0.1, patience=10, threshold=1e-4,
                 threshold_mode="rel", cooldown=0, min_lr=0, eps=1e-8):
        self.min_lrs = _per_group("min_lr", optimizer, min_lr)
        _check(factor < 1.0, "factor", factor, "< 1.0")
        _check(mode in ("min", "max"), "mode", mode, "'min' or 'max'")
        _check(threshold_mode in ("rel", "abs"), "threshold_mode", threshold_mode, "'rel' or 'abs'")
        self.default_min_lr = None if isinstance(min_lr, (list, tuple)) else min_lr
        self.optimizer, self.mode, self.factor, self.patience = optimizer, mode, factor, patience
        self.threshold, self.threshold_mode = threshold, threshold_mode
        self.cooldown, self.eps = cooldown, eps
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

    def __init__(self, optimizer, schedulers):
        _check(schedulers, "schedulers", schedulers, "at least one scheduler")
        for i, s in enumerate(schedulers):
            _check(not isinstance(s, ReduceLROnPlateau), f"schedulers[{i}]", type(s).__name__,
                   f"a scheduler whose step needs no metric, in {type(self).__name__}")
            _check(s.optimizer is optimizer, f"schedulers[{i}]", type(s).__name__,
                   "a scheduler of the same optimizer as the others")
        self.optimizer, self._schedulers = optimizer, list(schedulers)
        self._last_lr = [g["lr"] for g in optimizer.param_groups]

    def state_dict(self):
        return {**super().state_dict(), "_schedulers": [s.state_dict() for s in self._schedulers]}

    def load_state_dict(self, state_dict):
        for s, sd in zip(self._schedulers, state_dict["_schedulers"]):
            s.load_state_dict(sd)
        super().load_state_dict({k: v for k, v in state_dict.items() if k != "_schedulers"})


class SequentialLR(_Combination):
    """schedulers[i] runs from milestones[i-1] (or 0) on, starting at its own step 0."""

    def __init__(self, optimizer, schedulers, milestones, last_epoch=-1):
        super().__init__(optimizer, schedulers)
        _check(len(milestones) == len(schedulers) - 1, "milestones", milestones,
               f"one fewer than the {len(schedulers)} schedulers")
        self._milestones, self.last_epoch = list(milestones), last_epoch + 1
        for group in optimizer.param_groups:  # undo the children's initial steps
            group["lr"] = group["initial_lr"]
        self._schedulers[bisect_right(self._milestones, 0)].step(0)
        self._last_lr = [g["lr"] for g in optimizer.param_groups]

    def step(self):
        self.last_epoch += 1
        i = bisect_right(self._milestones, self.last_epoch)
        starts = i > 0 and self._milestones[i - 1] == self.last_epoch
        self._schedulers[i].step(0 if starts else None)  # a phase starts at its own step 0
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]


class ChainedScheduler(_Combination):
    """Steps every scheduler at every step; the chainable ones compound (see `chained_lr`)."""

    def __init__(self, schedulers, optimizer=None):
        if optimizer is None and schedulers:
            optimizer = schedulers[0].optimizer
        super().__init__(optimizer, schedulers)

    def step(self):
        for s in self._schedulers:
            s.step()
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]


from .lr_cyclic import CyclicLR, OneCycleLR  # noqa: E402  (they build on LRScheduler above)
