"""Adafactor in PyTorch's variant; matches torch.optim.Adafactor.

Shazeer & Stern (2018), "Adafactor: Adaptive Learning Rates with Sublinear Memory Cost",
Algorithms 4 and 5, without first moment, with PyTorch's choices: relative step size
ρ_t = min(lr, 1/sqrt(t)), β2 decay 1 - t^c (beta2_decay c, default -0.8), and weight decay
applied to θ with lr. For a parameter of two or more dimensions the second moment is kept
factored over the last two axes (row and column means); for a vector, in full.

    g ← -g                                           if maximize
    β̂2_t = 1 - t^c                                   (the code keeps 1 - β̂2_t = t^c)
    α_t = max(ε2, RMS(θ)) · ρ_t                       (eps (ε1, ε2); RMS before the decay)
    θ ← θ (1 - lr λ)                                 weight_decay λ
    R ← β̂2 R + (1 - β̂2) mean(g², last axis)          factored: row and column statistics
    C ← β̂2 C + (1 - β̂2) mean(g², second-last axis)
    V̂ = R C / mean(R over rows)  (floored at ε1)      or, for a vector, V ← β̂2 V + (1 - β̂2) g²
    U = g / sqrt(max(V̂, ε1²))
    θ ← θ - α_t / max(1, RMS(U) / d) · U             clipping threshold d
ε1 = None means the dtype's machine epsilon.

Not elementwise: V̂ and RMS(θ), RMS(U) need whole rows, columns and tensors, so the step is an
`update` hook on the whole parameter, not a rule.
"""
from __future__ import annotations

import math

import numpy as np

from minigrad.backend import get_array_module

from .checks import check, check_real, flag, non_negative
from .optimizer import Optimizer, Params
from .scalars import Scalars


def _eps_pair(name: str, value: object) -> tuple:
    """(ε1, ε2): ε1 None (the dtype's machine epsilon) or >= 0, ε2 >= 0."""
    check(isinstance(value, (tuple, list)) and len(value) == 2, name, value, "a pair (eps1, eps2)")
    eps1 = None if value[0] is None else check_real(f"{name}[0]", value[0])
    eps2 = check_real(f"{name}[1]", value[1])
    check(eps1 is None or eps1 >= 0.0, f"{name}[0]", eps1, "None or >= 0")
    check(eps2 >= 0.0, f"{name}[1]", eps2, ">= 0")
    return eps1, eps2


def _beta2_decay(name: str, value: object) -> float:
    """c <= 0, so that β̂2_t = 1 - t^c grows towards 1."""
    value = check_real(name, value)
    check(value <= 0.0, name, value, "<= 0")
    return value


def _clipping_threshold(name: str, value: object) -> float:
    """d >= 1: the update's RMS is clipped to d."""
    value = check_real(name, value)
    check(value >= 1.0, name, value, "the clipping threshold d >= 1")
    return value


class Adafactor(Optimizer):
    __doc__ = __doc__  # the module docstring: citation, equations, conventions

    def __init__(self, params: Params, lr: float = 1e-2, beta2_decay: float = -0.8,
                 eps: tuple[float | None, float] = (None, 1e-3), d: float = 1.0,
                 weight_decay: float = 0.0, *, foreach: bool | None = None, maximize: bool = False,
                 fused: bool | None = None) -> None:
        defaults = dict(lr=lr, beta2_decay=beta2_decay, eps=eps, d=d,
                        weight_decay=weight_decay, maximize=maximize, foreach=foreach,
                        fused=fused)
        super().__init__(params, defaults)

    hyperparameters = {"lr": non_negative, "beta2_decay": _beta2_decay, "eps": _eps_pair,
                       "d": _clipping_threshold, "weight_decay": non_negative, "maximize": flag}
    symbols = {"R": "row_var", "C": "col_var", "V": "variance"}  # R, C for a matrix; V for a vector
    never_negative = ("row_var", "col_var", "variance")  # sums and averages of squares: checked when loaded
    rule = None  # not elementwise: see update
    dense_only_reason = "its factored second moment and RMS(θ) need whole rows and columns"
    decay = "decoupled"  # always: optim.explain's decay column (θ shrinks by 1 - lr λ)

    @staticmethod
    def init(theta: np.ndarray, group: dict) -> dict:
        """R = C = 0 (row and column statistics) for a matrix or more; V = 0 for a vector."""
        xp = get_array_module(theta)
        if theta.ndim > 1:
            row_shape = theta.shape[:-1] + (1,)
            col_shape = theta.shape[:-2] + (1, theta.shape[-1])
            return {"row_var": xp.zeros(row_shape, theta.dtype),
                    "col_var": xp.zeros(col_shape, theta.dtype)}
        return {"variance": xp.zeros_like(theta)}

    @staticmethod
    def scalars(t: int, group: dict, state: dict) -> Scalars:
        """1 - β̂2_t = t^c and ρ_t = min(lr, 1/sqrt(t)); α_t also needs RMS(θ): see update."""
        return Scalars(one_minus_beta2=t ** group["beta2_decay"],      # 1 - β̂2_t = t^c
                       rho=min(group["lr"], 1 / math.sqrt(t)))          # ρ_t

    @classmethod
    def update(cls, theta: np.ndarray, g: np.ndarray, state: dict, group: dict) -> None:
        """One Adafactor step on a whole parameter, in place (NumPy or CuPy arrays): the
        equations above, in order."""
        xp = get_array_module(theta)
        lr, d, wd = group["lr"], group["d"], group["weight_decay"]
        eps1, eps2 = group["eps"]
        eps1 = float(np.finfo(theta.dtype).eps) if eps1 is None else eps1
        g = -g if group["maximize"] else g
        h = cls.next_scalars(theta, state, group)                       # t advances
        alpha = max(eps2, _rms(theta)) * h.rho                          # α_t = max(ε2, RMS(θ)) ρ_t
        if wd != 0:
            theta *= 1 - lr * wd                                        # θ ← θ (1 - lr λ)
        if theta.ndim > 1:
            R, C = state["row_var"], state["col_var"]
            R[...] = R + h.one_minus_beta2 * ((g * g).mean(axis=-1, keepdims=True) - R)
            C[...] = C + h.one_minus_beta2 * ((g * g).mean(axis=-2, keepdims=True) - C)
            V = (R @ C) / xp.maximum(R.mean(axis=-2, keepdims=True), eps1)  # V̂ = R C / mean(R)
        else:
            V = state["variance"]
            V[...] = V + h.one_minus_beta2 * (g * g - V)                # V ← β̂2 V + (1-β̂2) g²
        U = g / xp.sqrt(xp.maximum(V, eps1 * eps1))                     # U = g / sqrt(V̂)
        denom = max(1.0, _rms(U) / d)
        theta -= alpha / denom * U                                      # θ ← θ - α/max(1, RMS(U)/d) U


def _rms(x: np.ndarray) -> float:
    """RMS(x) = ||x|| / sqrt(n)."""
    return float(get_array_module(x).linalg.norm(x.ravel())) / math.sqrt(x.size)
