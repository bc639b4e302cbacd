"""LRScheduler, the base of every learning-rate schedule, and the checks of their arguments.

What every schedule shares, as optim/lr_scheduler.py's docstring describes it: the closed form
and the switch to the chained form (`step`, `lr_at`, `chained_lr`), state_dict and
load_state_dict, and the checked arguments (CHECKS, `_set`, `_checked_state`). The schedules are
in optim/lr_scheduler.py and optim/lr_cyclic.py; both import this module, and lr_scheduler
re-exports lr_cyclic's, so neither imports the other back.
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any

from minigrad import tracer

from .checks import check_real, short_repr
from .optimizer import Optimizer


def _check(ok: object, name: str, value: object, expected: str) -> None:
    """Validate an argument: unless ok, say which, its value, and what was expected."""
    if not ok:
        raise ValueError(f"Invalid {name}: {short_repr(value)} (expected {expected})")


# ============================================================================ checks of values
# each takes (name, value) and returns the value as a Python number (or as it is), or raises

def _integer(lo: float) -> Callable[[str, Any], int]:
    """An integer >= lo (and <= 2**53, exact as a float: schedules compute with floats); NumPy
    integers count; bools, strings and 2.0 do not."""
    def check(name, value):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"Invalid {name}: {short_repr(value)} (expected an integer, got "
                            f"{type(value).__name__})")
        _check(isinstance(value, numbers.Integral) and lo <= value <= 2 ** 53, name, value,
               f"an integer >= {lo}" + (" (at most 2**53)" if value > 2 ** 53 else ""))
        return int(value)
    return check


def _real(ok: Callable[[float], bool] | None = None, expected: str = "a finite number"
          ) -> Callable[[str, Any], float]:
    """A finite real number (inf, nan, 10**400, bools and strings are refused) for which ok holds."""
    def check(name, value):
        value = check_real(name, value)
        _check(ok is None or ok(value), name, value, expected)
        return value
    return check


def _one_of(*choices):
    def check(name, value):
        _check(isinstance(value, str) and value in choices, name, value,
               " or ".join(map(repr, choices)))
        return value
    return check


def _flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"Invalid {name}: {value!r} (expected True or False)")
    return value


class _Each:
    """A list with one value per param group, each checked by `check`."""

    def __init__(self, check):
        self.check = check

    def __call__(self, name, value, n):
        """n: how many values; a set of counts when more than one fits."""
        counts = n if isinstance(n, set) else {n}
        _check(isinstance(value, (list, tuple)) and len(value) in counts, name, value,
               f"a list of {' or '.join(map(str, sorted(counts)))} values, one per param group")
        return [self.check(f"{name}[{i}]", v) for i, v in enumerate(value)]


def _milestones(name, value):
    """Step numbers, integers >= 0, in increasing order (a repeated one counts twice)."""
    _check(isinstance(value, (list, tuple)), name, value, "a list of step numbers")
    value = [_integer(0)(f"{name}[{i}]", m) for i, m in enumerate(value)]
    _check(value == sorted(value), name, value, "step numbers in increasing order")
    return value


NON_NEGATIVE = _real(lambda v: v >= 0, "a finite number >= 0")
POSITIVE = _real(lambda v: v > 0, "a finite number > 0")
LRS = _Each(NON_NEGATIVE)
# keys of torch's scheduler state dicts that these schedules compute instead of keeping: a
# state dict from torch loads without them
TORCH_ONLY = frozenset({"_step_count", "_get_lr_called_within_step", "_is_initial", "verbose",
                        "T_cur", "T_i", "_scale_fn_custom", "_scale_fn_ref", "_anneal_func_type",
                        "_schedule_phases", "mode_worse"})


def _groups(optimizer: Optimizer) -> list[dict[str, Any]]:
    """optimizer.param_groups, once optimizer is one."""
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")
    return optimizer.param_groups


def _per_group(name: str, optimizer: Optimizer, value: Any) -> list[Any]:
    """One value per param group: a list as given, or a scalar repeated."""
    n, many = len(_groups(optimizer)), isinstance(value, (list, tuple))
    _check(not many or len(value) == n, name, value, f"one value per param group: {n}")
    return list(value) if many else [value] * n


def _half_cos(p: float) -> float:
    """g(p) = (1 + cos(π p)) / 2, from 1 at p = 0 down to 0 at p = 1."""
    return (1 + math.cos(math.pi * p)) / 2


class LRScheduler:
    """Base class: base_lrs (each group's initial_lr), last_epoch, and the lrs it set last."""

    # what every number this schedule keeps must be (see the module docstring): the entries
    # that all schedules keep here, each subclass's own in its CHECKS
    COMMON_CHECKS = {"last_epoch": _integer(0), "chained": _flag, "base_lrs": LRS, "_last_lr": LRS}
    CHECKS = {}

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        groups = _groups(optimizer)
        for i, group in enumerate(groups):
            if last_epoch != -1 and "initial_lr" not in group:
                raise KeyError(f"param_groups[{i}] has no 'initial_lr': resuming a schedule with "
                               f"last_epoch={last_epoch} needs the optimizer's state loaded first")
        self.optimizer, self.last_epoch, self.chained = optimizer, last_epoch, False
        added = [group for group in groups if "initial_lr" not in group]
        self.base_lrs = [group.setdefault("initial_lr", group["lr"]) for group in groups]
        self._last_lr = list(self.base_lrs)  # what the lr was before this scheduler
        try:
            self.step()
        except BaseException:  # a refused first lr (lr_lambda gave nan): the groups as they were
            for group in added:
                del group["initial_lr"]
            raise

    # ======================================================================== checked values
    def _set(self, optimizer, last_epoch=-1, **values):
        """Check a constructor's arguments (values: those it keeps, by attribute), then keep
        them; first of all, so that a refused one leaves the optimizer as it was."""
        groups = _groups(optimizer)
        _integer(-1)("last_epoch", last_epoch)
        values = {k: self._checked(k, v, len(groups)) for k, v in values.items()}
        base_lrs = [g.get("initial_lr", g["lr"]) for g in groups]  # what __init__ will take
        self._check_together({"base_lrs": base_lrs, **values})
        self.__dict__.update(values)

    def _checked(self, name, value, n_groups):
        check = {**self.COMMON_CHECKS, **self.CHECKS}[name]
        return check(name, value, n_groups) if isinstance(check, _Each) else check(name, value)

    def _check_together(self, values: dict[str, Any]) -> None:
        """Checks that tie several values together (values: the attributes, by name)."""

    def _checked_state(self, state_dict):
        """The entries of a state dict to load, each checked as the constructor checks it;
        raises naming the entry (and the scheduler) for anything this schedule would not keep."""
        name = type(self).__name__
        if not isinstance(state_dict, dict):
            raise ValueError(f"{name}.load_state_dict expects a dict (from state_dict()), got a "
                            f"{type(state_dict).__name__}")
        current = self.state_dict()
        unknown = sorted(str(k) for k in state_dict if k not in current and k not in TORCH_ONLY)
        if unknown:
            raise ValueError(f"{name}.load_state_dict: entries {unknown} are not a {name}'s; it "
                             f"keeps {sorted(current)}")
        # a list per group: as many values as this one's, or as the optimizer has groups now
        # (a group added after the schedule was made, before or after its state was saved)
        n = len(self.optimizer.param_groups)
        try:
            new = {k: self._checked(k, v, {n, len(current[k])} if isinstance(current[k], list) else n)
                   for k, v in state_dict.items() if k in current}
            self._check_together({**current, **new})
        except (TypeError, ValueError) as e:  # one kind for every fault of a loaded state
            raise ValueError(f"{name}.load_state_dict: {e}") from None
        return new

    # ======================================================================== the schedule
    def lr_at(self, t: int) -> list[float]:
        """The closed form: each group's lr at step t."""
        raise NotImplementedError

    def chained_lr(self, t: int) -> list[float]:
        """The recursive form, from each group's current lr; schedules that torch does not chain
        (LambdaLR, SGDR, WarmupCosine, the cyclic ones) keep lr_at(t)."""
        return self.lr_at(t)

    @tracer.replayed  # outside the graph: a compiled step (mg.compile) calls it again
    def step(self, epoch: int | None = None) -> None:
        """Move to step last_epoch + 1 (or jump to `epoch`, by the closed form)."""
        groups = self.optimizer.param_groups
        t = self.last_epoch + 1 if epoch is None else _integer(0)("epoch", epoch)
        moved = any(g["lr"] != lr for g, lr in zip(groups, self._last_lr))  # by another hand
        chained = epoch is None and (self.chained or moved)  # for good, unless jumping
        lrs = self._checked_lrs(t, self.chained_lr if chained else self.lr_at)
        for group, lr in zip(groups, lrs):
            group["lr"] = lr
        self.chained, self.last_epoch, self._last_lr = chained, t, [group["lr"] for group in groups]

    def _checked_lrs(self, t, form):
        """form(t), each group's lr at step t, once each is a finite number (a lr_lambda giving
        nan or a string, or gamma**t past the largest float, would reach the step; the sign
        is not checked: schedules side by side go below 0 where torch's do). ValueError
        naming the schedule, step and group, before any group is written."""
        name = type(self).__name__
        try:
            lrs = form(t)
        except (OverflowError, ZeroDivisionError, TypeError) as e:
            raise ValueError(f"{name}.step: the lr at step {t} cannot be computed "
                             f"({type(e).__name__}: {e})") from None
        for i, lr in enumerate(lrs):
            try:
                ok = not isinstance(lr, bool) and isinstance(lr, numbers.Real) and math.isfinite(lr)
            except OverflowError:  # an int beyond the largest float
                ok = False
            if not ok:
                raise ValueError(f"{name}.step: the lr of param group {i} at step {t} would be "
                                 f"{short_repr(lr)}; a learning rate is a finite number")
        return [float(lr) if isinstance(lr, numbers.Real) and not isinstance(lr, numbers.Integral)
                else lr for lr in lrs]

    def get_last_lr(self) -> list[float]:
        """The learning rates the last step set, one per group."""
        return self._last_lr

    def state_dict(self) -> dict[str, Any]:
        """Every attribute but the optimizer, functions and child schedulers: plain data."""
        return {k: v for k, v in self.__dict__.items()
                if k not in ("optimizer", "lr_lambdas", "scale_fn", "_schedulers")}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a state from state_dict(), every entry checked first (as the constructor
        checks its arguments): a refused one (ValueError naming it, whatever was wrong with it)
        changes nothing. Entries it leaves out keep their values."""
        self.__dict__.update(self._checked_state(state_dict))
