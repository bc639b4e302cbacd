"""The checks of an optimizer's hyperparameters, as a vocabulary for declarations.

An algorithm declares its hyperparameters as a table, name -> check:

    hyperparameters = {"lr": non_negative, "betas": betas, "eps": non_negative,
                       "amsgrad": flag, "alpha": between(0.0, 1.0, "the smoothing constant")}

A check takes (name, value) and returns the value as a Python number, bool or tuple once it is
valid; it raises TypeError for a value of the wrong kind and ValueError for a bad value, naming
the hyperparameter, its value and what was expected.
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any

import numpy as np

Check = Callable[[str, Any], Any]


def check(ok: bool, name: str, value: Any, expected: str) -> None:
    """Raise ValueError naming the hyperparameter, its value and what was expected."""
    if not ok:
        raise ValueError(f"Invalid {name}: {short_repr(value)} (expected {expected})")


def short_repr(value: Any, limit: int = 60) -> str:
    """repr(value), its middle cut out past `limit` characters (10**400 has 401 digits)."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit // 2]}...{text[-limit // 4:]}"


def check_real(name: str, value: Any) -> float | int:
    """Return `value` as a Python number once it is a finite real number: NumPy scalars count,
    strings and bools do not (TypeError); inf, nan and an int too large for a float (10**400)
    do not (ValueError): every update computes in floats."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"Invalid {name}: {short_repr(value)} (expected a real number, got "
                        f"{type(value).__name__})")
    check(is_finite(value), name, value, "a finite number")
    return int(value) if isinstance(value, numbers.Integral) else float(value)


def is_finite(value: Any) -> bool:
    """True for a real number that is a finite float (an int too large to be one is not)."""
    try:
        return math.isfinite(value)
    except OverflowError:  # an int beyond the largest float
        return False


def check_flag(name: str, value: Any, optional: bool = False) -> bool | None:
    """Return `value` as a Python bool once it is True or False (a NumPy bool counts), or None
    where `optional`; TypeError otherwise: a string such as "no" or "False" is truthy."""
    if value is None and optional:
        return None
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"Invalid {name}: {short_repr(value)} (expected True or False"
                        + (" or None" if optional else "") + f", got {type(value).__name__})")
    return bool(value)


def check_pair(name: str, value: Any, names: tuple[str, str] | None = None) -> tuple[float | int, float | int]:
    """Return `value` as a tuple of two finite real numbers; `names` names the two elements."""
    check(isinstance(value, (tuple, list)) and len(value) == 2, name, value, "a pair")
    names = names or (f"{name}[0]", f"{name}[1]")
    return check_real(names[0], value[0]), check_real(names[1], value[1])


def check_betas(betas: Any) -> tuple[float | int, float | int]:
    """Return betas as a tuple, once it is a pair of numbers with 0 <= beta < 1."""
    check(isinstance(betas, (tuple, list)) and len(betas) == 2, "betas", betas, "a pair (beta1, beta2)")
    beta1, beta2 = check_pair("betas", betas, ("beta1 (betas[0])", "beta2 (betas[1])"))
    check(0.0 <= beta1 < 1.0, "beta1 (betas[0])", betas[0], "0 <= beta1 < 1")
    check(0.0 <= beta2 < 1.0, "beta2 (betas[1])", betas[1], "0 <= beta2 < 1")
    return beta1, beta2


# ============================================================================ the vocabulary

def real(name: str, value: Any) -> float | int:
    """Any finite real number."""
    return check_real(name, value)


def non_negative(name: str, value: Any) -> float | int:
    """A finite real number >= 0."""
    value = check_real(name, value)
    check(value >= 0.0, name, value, f"{name} >= 0")
    return value


def flag(name: str, value: Any) -> bool:
    """True or False (a NumPy bool counts; "no" does not: it would be truthy)."""
    return check_flag(name, value)


def optional_flag(name: str, value: Any) -> bool | None:
    """True, False or None (torch's "choose for me")."""
    return check_flag(name, value, optional=True)


def pair(name: str, value: Any) -> tuple[float | int, float | int]:
    """A pair of finite real numbers."""
    return check_pair(name, value)


def betas(name: str, value: Any) -> tuple[float | int, float | int]:
    """A pair (beta1, beta2) with 0 <= beta < 1."""
    return check_betas(value)


def between(low: float, high: float, what: str, *, open_low: bool = False,
            open_high: bool = False) -> Check:
    """A check for a finite real number in [low, high] (open at an end where asked); `what` says
    what the number is, for the message."""
    def checked(name: str, value: Any) -> float | int:
        value = check_real(name, value)
        ok = (low < value if open_low else low <= value) and \
             (value < high if open_high else value <= high)
        lo, hi = "<" if open_low else "<=", "<" if open_high else "<="
        check(ok, name, value, f"{low} {lo} {name} {hi} {high} ({what})")
        return value
    checked.__name__ = f"between({low}, {high})"
    return checked
