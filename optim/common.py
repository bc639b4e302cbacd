"""Pieces that several update rules share: the weight-decay prologue and its scalars, the bias
corrections of exponential moving averages, and the state arrays they start from."""
from __future__ import annotations

import functools
from typing import Any

from minigrad.backend import Array, get_array_module

from .scalars import Scalars


def weight_decay(theta: Array, g: Array, h: Scalars) -> tuple[Array, Array]:
    """The prologue of most rules, elementwise: maximize negates g; then either decoupled weight
    decay θ ← θ (1 - lr λ) (Loshchilov & Hutter 2019), with the step's (scheduled) lr, or L2
    weight decay g ← g + λθ (the gradient of λ/2 ||θ||²), which adaptive methods then rescale."""
    if h.maximize:
        g = -g                                          # g ← -g
    if h.decoupled:
        theta = theta * (1 - h.lr * h.weight_decay)     # θ ← θ (1 - lr λ)
    elif h.l2:
        g = g + h.weight_decay * theta                  # g ← g + λθ
    return theta, g


def weight_decay_scalars(group: dict[str, Any]) -> dict[str, Any]:
    """The scalars `weight_decay` reads: lr, λ and which kind of decay, if any."""
    wd = group.get("weight_decay", 0.0)
    decoupled = bool(group.get("decoupled_weight_decay", False))
    return dict(lr=group["lr"], weight_decay=wd, maximize=bool(group.get("maximize", False)),
                decoupled=decoupled and wd != 0, l2=not decoupled and wd != 0)


def bias_corrections(t: int, beta1: float, beta2: float) -> dict[str, float]:
    """1 - β1^t and 1 - β2^t: an average started at 0 is (1 - β^t) times too small after t steps."""
    return dict(zip(("bias_correction1", "bias_correction2"), _bias_corrections(t, beta1, beta2)))


@functools.lru_cache(maxsize=64)
def _bias_corrections(t, beta1, beta2):
    # cached: every parameter of a step gets the same two float objects, which lets the
    # executor see at a glance that they share their scalars (optim/executor/plan.py)
    return 1 - beta1 ** t, 1 - beta2 ** t


def zeros_like(theta: Array, *keys: str) -> dict[str, Array]:
    """State arrays of zeros shaped like θ, by state_dict key."""
    xp = get_array_module(theta)
    return {key: xp.zeros_like(theta) for key in keys}


def zeros(theta: Array, *names: str) -> dict[str, Any]:
    """State arrays of zeros shaped like θ, by name, and the step count t = 0."""
    xp = get_array_module(theta)
    return {"step": 0, **{name: xp.zeros_like(theta) for name in names}}
