"""Adamax: Adam with the infinity norm; matches torch.optim.Adamax.

Kingma & Ba (2015), section 7.1, Algorithm 2:

    g ← -g                              if maximize
    g ← g + λθ                          weight_decay λ: L2, before everything else
    m ← β1 m + (1 - β1) g
    u ← max(β2 u, |g| + ε)              eps ε inside the max (as PyTorch), which keeps u > 0
    θ ← θ - lr / (1 - β1^t) · m / u     only m is bias-corrected

Sparse gradients: lazy: only touched rows of m, u and θ change; t (for the bias correction) counts
every step of the parameter; weight decay reaches touched rows only.
"""
from __future__ import annotations

import numpy as np

from .checks import betas, flag, non_negative
from .common import bias_corrections, weight_decay, weight_decay_scalars, zeros_like
from .optimizer import Optimizer, Params
from .scalars import Scalars


class Adamax(Optimizer):
    __doc__ = __doc__  # the module docstring: citation, equations, conventions

    def __init__(self, params: Params, lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, foreach: bool | None = None, *,
                 maximize: bool = False, differentiable: bool = False, capturable: bool = False,
                 fused: bool | None = None) -> None:
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                        maximize=maximize, fused=fused,
                        foreach=foreach, capturable=capturable, differentiable=differentiable)
        super().__init__(params, defaults)

    hyperparameters = {"lr": non_negative, "betas": betas, "eps": non_negative,
                       "weight_decay": non_negative, "maximize": flag}
    symbols = {"m": "exp_avg", "u": "exp_inf"}
    never_negative = ("exp_inf",)  # sums and averages of squares: checked when loaded
    lazy_sparse = True

    @staticmethod
    def init(theta: np.ndarray, group: dict) -> dict:
        """m = u = 0."""
        return zeros_like(theta, "exp_avg", "exp_inf")

    @staticmethod
    def scalars(t: int, group: dict, state: dict) -> Scalars:
        """β1, β2, ε, the bias corrections 1 - β^t and the decay's numbers of step t."""
        beta1, beta2 = group["betas"]
        return Scalars(beta1=beta1, beta2=beta2, eps=group["eps"],
                       **bias_corrections(t, beta1, beta2), **weight_decay_scalars(group))

    @staticmethod
    def rule(theta: np.ndarray, g: np.ndarray, m: np.ndarray, u: np.ndarray,
             h: Scalars) -> dict:
        """One Adamax step on elements or arrays (NumPy or CuPy): the equations above, in order."""
        theta, g = weight_decay(theta, g, h)                        # maximize; L2 decay
        m = h.beta1 * m + (1 - h.beta1) * g                         # m ← β1 m + (1-β1) g
        u = np.maximum(h.beta2 * u, np.abs(g) + h.eps)              # u ← max(β2 u, |g| + ε)
        theta = theta - h.lr / h.bias_correction1 * m / u           # θ ← θ - lr/(1-β1^t) · m/u
        return dict(theta=theta, m=m, u=u)

    step_size_rule = "lr/((1-β1^t)u)"

    @staticmethod
    def explain(theta: np.ndarray, g: np.ndarray, m: np.ndarray, u: np.ndarray,
                h: Scalars) -> dict:
        """The per-element step size lr / ((1 - β1^t) u) and the update it made."""
        # u >= ε on any element a step touched (u ← max(β2 u, |g| + ε)); 0 only on untouched rows
        step_size = h.lr / h.bias_correction1 / np.maximum(u, h.eps)
        return dict(step_size=step_size, update=-step_size * m)
