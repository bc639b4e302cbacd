"""Yogi: Adam with an additive, sign-controlled second moment.

Zaheer et al. (2018), "Adaptive Methods for Nonconvex Optimization", Algorithm 2. Not in
torch.optim; tested against a literal transcription of the paper's algorithm, which has no bias
correction. Defaults are the paper's (lr 1e-2, ε 1e-3); v starts at initial_accumulator_value.

    g ← -g                                  if maximize
    g ← g + λθ                              weight_decay λ: L2
    m ← β1 m + (1 - β1) g
    v ← v - (1 - β2) sign(v - g²) g²        v grows at most additively, unlike Adam's
    θ ← θ - lr m / (sqrt(v) + ε)

Sparse gradients: lazy: only touched rows of m, v and θ change (Yogi has no bias correction);
weight decay reaches touched rows only.
"""
from __future__ import annotations

import numpy as np

from minigrad.backend import get_array_module

from .checks import betas, flag, non_negative
from .common import weight_decay, weight_decay_scalars
from .optimizer import Optimizer, Params
from .scalars import Scalars


class Yogi(Optimizer):
    __doc__ = __doc__  # the module docstring: citation, equations, conventions

    def __init__(self, params: Params, lr: float = 1e-2, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-3, weight_decay: float = 0.0,
                 initial_accumulator_value: float = 0.0, *, maximize: bool = False,
                 fused: bool | None = None) -> None:
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, maximize=maximize,
                        fused=fused)
        super().__init__(params, defaults)

    hyperparameters = {"lr": non_negative, "betas": betas, "eps": non_negative,
                       "weight_decay": non_negative, "initial_accumulator_value": non_negative,
                       "maximize": flag}
    symbols = {"m": "exp_avg", "v": "exp_avg_sq"}
    never_negative = ("exp_avg_sq",)  # sums and averages of squares: checked when loaded
    lazy_sparse = True

    @staticmethod
    def init(theta: np.ndarray, group: dict) -> dict:
        """m = 0, v = initial_accumulator_value."""
        xp = get_array_module(theta)
        return {"exp_avg": xp.zeros_like(theta),
                "exp_avg_sq": xp.full_like(theta, group["initial_accumulator_value"])}

    @staticmethod
    def scalars(t: int, group: dict, state: dict) -> Scalars:
        """β1, β2, ε and the decay's numbers (Yogi's rule has no bias correction)."""
        beta1, beta2 = group["betas"]
        return Scalars(beta1=beta1, beta2=beta2, eps=group["eps"], **weight_decay_scalars(group))

    @staticmethod
    def rule(theta: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray,
             h: Scalars) -> dict:
        """One Yogi step on elements or arrays (NumPy or CuPy): the equations above, in order."""
        theta, g = weight_decay(theta, g, h)                        # maximize; L2 decay
        m = h.beta1 * m + (1 - h.beta1) * g                         # m ← β1 m + (1-β1) g
        v = v - (1 - h.beta2) * np.sign(v - g * g) * g * g          # v ← v - (1-β2) sign(v-g²) g²
        theta = theta - h.lr * m / (np.sqrt(v) + h.eps)             # θ ← θ - lr m / (sqrt(v) + ε)
        return dict(theta=theta, m=m, v=v)

    step_size_rule = "lr/(√v+ε)"

    @staticmethod
    def explain(theta: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray,
                h: Scalars) -> dict:
        """The per-element step size lr / (sqrt(v) + ε) and the update it made."""
        step_size = h.lr / (np.sqrt(v) + h.eps)
        return dict(step_size=step_size, update=-step_size * m)
