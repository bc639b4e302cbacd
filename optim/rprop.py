"""Rprop: resilient backpropagation, sign-based steps; matches torch.optim.Rprop.

Riedmiller & Braun (1993), "A Direct Adaptive Method for Faster Backpropagation Learning: The
RPROP Algorithm", in PyTorch's variant (Rprop without weight backtracking):

    g ← -g                                  if maximize
    s = sign(g · g_prev)
    η ← η · η+  where s > 0;  η · η-  where s < 0;  η where s = 0     (etas (η-, η+))
    η ← clip(η, step_min, step_max)                                   (step_sizes)
    g ← 0 where s < 0                       a sign change: skip this step, forget the gradient
    θ ← θ - sign(g) η
    g_prev ← g
Each step size η starts at lr. State: g_prev is "prev", η "step_size".
"""
from __future__ import annotations

from typing import Any

import numpy as np

from minigrad.backend import get_array_module

from .checks import check, flag, non_negative, pair
from .common import weight_decay, weight_decay_scalars, zeros_like
from .optimizer import Optimizer, Params
from .scalars import Scalars


def factors(name: str, value: Any) -> tuple:
    """etas (η-, η+): η shrinks by η- after a sign change and grows by η+ while it holds."""
    value = pair(name, value)
    check(0.0 < value[0] < 1.0 < value[1], name, value, "0 < etaminus < 1 < etaplus")
    return value


def bounds(name: str, value: Any) -> tuple:
    """step_sizes (step_min, step_max), the range η is clipped to."""
    value = pair(name, value)
    check(0.0 <= value[0] <= value[1], name, value, "0 <= min <= max")
    return value


class Rprop(Optimizer):
    __doc__ = __doc__  # the module docstring: citation, equations, conventions

    def __init__(self, params: Params, lr: float = 1e-2, etas: tuple[float, float] = (0.5, 1.2),
                 step_sizes: tuple[float, float] = (1e-6, 50), *, maximize: bool = False,
                 fused: bool | None = None, foreach: bool | None = None, capturable: bool = False,
                 differentiable: bool = False) -> None:
        defaults = dict(lr=lr, etas=etas, step_sizes=step_sizes, maximize=maximize,
                        fused=fused, foreach=foreach, capturable=capturable, differentiable=differentiable)
        super().__init__(params, defaults)

    hyperparameters = {"lr": non_negative, "etas": factors, "step_sizes": bounds, "maximize": flag}
    symbols = {"g_prev": "prev", "eta": "step_size"}
    never_negative = ("step_size",)  # step sizes are never negative: checked when loaded
    dense_only_reason = "it is a full-batch method: a missing row would count as a sign change"

    @staticmethod
    def init(theta: np.ndarray, group: dict) -> dict:
        """g_prev = 0; η = lr everywhere."""
        return {**zeros_like(theta, "prev"),
                "step_size": get_array_module(theta).full_like(theta, group["lr"])}

    @staticmethod
    def scalars(t: int, group: dict, state: dict) -> Scalars:
        """η-, η+, the step-size bounds and the maximize flag (Rprop's step needs no t)."""
        (eta_minus, eta_plus), (step_min, step_max) = group["etas"], group["step_sizes"]
        return Scalars(eta_minus=eta_minus, eta_plus=eta_plus, step_min=step_min,
                       step_max=step_max, **weight_decay_scalars(group))

    @staticmethod
    def rule(theta: np.ndarray, g: np.ndarray, g_prev: np.ndarray, eta: np.ndarray,
             h: Scalars) -> dict:
        """One Rprop step on elements or arrays (NumPy or CuPy): the equations above, in order."""
        theta, g = weight_decay(theta, g, h)                                  # maximize
        s = np.sign(g * g_prev)                                               # s = sign(g · g_prev)
        factor = np.where(s > 0, h.eta_plus, np.where(s < 0, h.eta_minus, 1))
        eta = np.minimum(np.maximum(eta * factor, h.step_min), h.step_max)    # η ← clip(η · factor)
        g = np.where(s < 0, 0, g)                                             # skip after a sign change
        theta = theta - np.sign(g) * eta                                      # θ ← θ - sign(g) η
        return dict(theta=theta, g_prev=g, eta=eta)                           # g_prev ← g

    step_size_rule = "η (Rprop)"

    @staticmethod
    def explain(theta: np.ndarray, g: np.ndarray, g_prev: np.ndarray, eta: np.ndarray,
                h: Scalars) -> dict:
        """The per-element step sizes η, and the last update -sign(g_prev) η (g_prev is the
        gradient that step moved by, zero where it skipped)."""
        return dict(step_size=eta, update=-np.sign(g_prev) * eta)
