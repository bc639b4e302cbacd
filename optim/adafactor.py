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
"""
import math

import numpy as np

from minigrad.backend import get_array_module

from .optimizer import Optimizer, check, check_real


class Adafactor(Optimizer):
    __doc__ = __doc__  # the module docstring: citation, equations, conventions
    dense_only_reason = "its factored second moment and RMS(θ) need whole rows and columns"

    def __init__(self, params, lr=1e-2, beta2_decay=-0.8, eps=(None, 1e-3), d=1.0,
                 weight_decay=0.0, *, foreach=None, maximize=False, fused=None):
        defaults = dict(lr=lr, beta2_decay=beta2_decay, eps=eps, d=d,
                        weight_decay=weight_decay, maximize=maximize, foreach=foreach,
                        fused=fused)
        super().__init__(params, defaults)

    NON_NEGATIVE = tuple(n for n in Optimizer.NON_NEGATIVE if n != "eps")  # eps is a pair here

    def _check_group(self, group):
        super()._check_group(group)
        eps = group["eps"]
        check(isinstance(eps, (tuple, list)) and len(eps) == 2, "eps", eps, "a pair (eps1, eps2)")
        eps1 = None if eps[0] is None else check_real("eps[0]", eps[0])
        eps2 = check_real("eps[1]", eps[1])
        group["eps"] = (eps1, eps2)
        check(group["beta2_decay"] <= 0.0, "beta2_decay", group["beta2_decay"], "<= 0")
        check(eps1 is None or eps1 >= 0.0, "eps[0]", eps1, "None or >= 0")
        check(eps2 >= 0.0, "eps[1]", eps2, ">= 0")
        check(group["d"] >= 1.0, "d", group["d"], "the clipping threshold d >= 1")

    def _init_state(self, theta, group):
        xp = get_array_module(theta)
        if theta.ndim > 1:
            row_shape = theta.shape[:-1] + (1,)
            col_shape = theta.shape[:-2] + (1, theta.shape[-1])
            return {"step": 0, "row_var": xp.zeros(row_shape, theta.dtype),
                    "col_var": xp.zeros(col_shape, theta.dtype)}
        return {"step": 0, "variance": xp.zeros_like(theta)}

    def _schedule(self, theta, state, group):
        """Advance t; return 1 - β̂2_t, α_t and ε1. Call before θ changes: α_t uses RMS(θ)."""
        eps1, eps2 = group["eps"]
        eps1 = float(np.finfo(theta.dtype).eps) if eps1 is None else eps1
        state["step"] += 1
        t = state["step"]
        one_minus_beta2 = t ** group["beta2_decay"]                     # 1 - β̂2_t = t^c
        rho = min(group["lr"], 1 / math.sqrt(t))                        # ρ_t
        alpha = max(eps2, _rms(theta)) * rho                            # α_t = max(ε2, RMS(θ)) ρ_t
        return one_minus_beta2, alpha, eps1

    def _update(self, theta, g, state, group):
        xp = get_array_module(theta)
        lr, d, wd = group["lr"], group["d"], group["weight_decay"]
        g = -g if group["maximize"] else g
        one_minus_beta2, alpha, eps1 = self._schedule(theta, state, group)
        if wd != 0:
            theta *= 1 - lr * wd                                        # θ ← θ (1 - lr λ)
        if theta.ndim > 1:
            R, C = state["row_var"], state["col_var"]
            R[...] = R + one_minus_beta2 * ((g * g).mean(axis=-1, keepdims=True) - R)
            C[...] = C + one_minus_beta2 * ((g * g).mean(axis=-2, keepdims=True) - C)
            V = (R @ C) / xp.maximum(R.mean(axis=-2, keepdims=True), eps1)  # V̂ = R C / mean(R)
        else:
            V = state["variance"]
            V[...] = V + one_minus_beta2 * (g * g - V)                  # V ← β̂2 V + (1-β̂2) g²
        U = g / xp.sqrt(xp.maximum(V, eps1 * eps1))                     # U = g / sqrt(V̂)
        denom = max(1.0, _rms(U) / d)
        theta -= alpha / denom * U                                      # θ ← θ - α/max(1, RMS(U)/d) U


def _rms(x):
    """RMS(x) = ||x|| / sqrt(n)."""
    return float(get_array_module(x).linalg.norm(x.ravel())) / math.sqrt(x.size)
