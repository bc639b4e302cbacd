"""RAdam: Adam with a rectified adaptive learning rate; matches torch.optim.RAdam.

Liu et al. (2020), "On the Variance of the Adaptive Learning Rate and Beyond", Algorithm 2, with
torch's threshold for the rectified step:

    g ← -g                              if maximize
    θ ← θ (1 - lr λ)                    weight_decay λ with decoupled_weight_decay
    g ← g + λθ                          weight_decay λ otherwise: L2
    m ← β1 m + (1 - β1) g
    v ← β2 v + (1 - β2) g²
    m̂ = m / (1 - β1^t)
    ρ_∞ = 2 / (1 - β2) - 1
    ρ_t = ρ_∞ - 2 t β2^t / (1 - β2^t)
    if ρ_t > 5 (strictly; the paper says ρ_t > 4, see below):
        l_t = sqrt(1 - β2^t) / (sqrt(v) + ε)                  eps ε BEFORE the bias correction
        r = sqrt((ρ_t - 4)(ρ_t - 2) ρ_∞ / ((ρ_∞ - 4)(ρ_∞ - 2) ρ_t))
        θ ← θ - lr m̂ l_t r
    else:
        θ ← θ - lr m̂                     plain bias-corrected momentum (the "SGD phase")

The threshold: Algorithm 2 of the paper rectifies when ρ_t > 4 (where it calls the variance of
the adaptive rate tractable, and r's factor ρ_t - 4 is positive). torch.optim.RAdam rectifies
only when ρ_t > 5, and so does this code, for parity with torch; the authors' released code
takes ρ_t >= 5 ("more conservative since it's an approximated value"). On the steps with
4 < ρ_t <= 5 the paper already takes the rectified step; this code still takes the momentum step.

Sparse gradients: lazy: only touched rows of m, v and θ change; t (bias corrections, ρ_t)
counts every step of the parameter; weight decay reaches touched rows only.
"""
from __future__ import annotations

import math

import numpy as np

from .checks import betas, flag, non_negative
from .common import bias_corrections, weight_decay, weight_decay_scalars, zeros_like
from .optimizer import Optimizer, Params
from .scalars import Scalars


class RAdam(Optimizer):
    __doc__ = __doc__  # the module docstring: citation, equations, conventions

    def __init__(self, params: Params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, decoupled_weight_decay: bool = False,
                 *, maximize: bool = False, fused: bool | None = None, foreach: bool | None = None,
                 capturable: bool = False, differentiable: bool = False) -> None:
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                        decoupled_weight_decay=decoupled_weight_decay, maximize=maximize,
                        fused=fused, foreach=foreach, capturable=capturable, differentiable=differentiable)
        super().__init__(params, defaults)

    hyperparameters = {"lr": non_negative, "betas": betas, "eps": non_negative,
                       "weight_decay": non_negative, "decoupled_weight_decay": flag,
                       "maximize": flag}
    symbols = {"m": "exp_avg", "v": "exp_avg_sq"}
    never_negative = ("exp_avg_sq",)  # sums and averages of squares: checked when loaded
    lazy_sparse = True

    @staticmethod
    def init(theta: np.ndarray, group: dict) -> dict:
        """m = v = 0."""
        return zeros_like(theta, "exp_avg", "exp_avg_sq")

    @staticmethod
    def scalars(t: int, group: dict, state: dict) -> Scalars:
        """β1, β2, ε, ρ_t, whether ρ_t > 5 rectifies, r_t, the bias corrections and the decay's
        numbers of step t."""
        beta1, beta2 = group["betas"]
        rho_inf = 2 / (1 - beta2) - 1                               # ρ_∞
        rho_t = rho_inf - 2 * t * beta2 ** t / (1 - beta2 ** t)     # ρ_t
        r = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf
                      / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) if rho_t > 5 else 0.0  # r_t
        return Scalars(beta1=beta1, beta2=beta2, eps=group["eps"], rectified=rho_t > 5.0, r=r,
                       rho_t=rho_t,  # read by explain, not by the rule
                       **bias_corrections(t, beta1, beta2), **weight_decay_scalars(group))

    @staticmethod
    def rule(theta: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray,
             h: Scalars) -> dict:
        """One RAdam step on elements or arrays (NumPy or CuPy): the equations above, in order."""
        theta, g = weight_decay(theta, g, h)                        # maximize; decoupled or L2 decay
        m = h.beta1 * m + (1 - h.beta1) * g                         # m ← β1 m + (1-β1) g
        v = h.beta2 * v + (1 - h.beta2) * g * g                     # v ← β2 v + (1-β2) g²
        m_hat = m / h.bias_correction1                              # m̂ = m / (1-β1^t)
        if h.rectified:                                             # ρ_t > 5 (torch; the paper: > 4)
            l_t = np.sqrt(h.bias_correction2) / (np.sqrt(v) + h.eps)  # l_t = sqrt(1-β2^t) / (sqrt(v) + ε)
            theta = theta - h.lr * m_hat * l_t * h.r                # θ ← θ - lr m̂ l_t r
        else:
            theta = theta - h.lr * m_hat                            # θ ← θ - lr m̂
        return dict(theta=theta, m=m, v=v)

    step_size_rule = "lr·r·√(1-β2^t)/(√v+ε), or lr in the SGD phase"

    @staticmethod
    def explain(theta: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray,
                h: Scalars) -> dict:
        """The per-element step size lr r sqrt(1 - β2^t) / (sqrt(v) + ε) (lr while ρ_t <= 5),
        the update it made, and the step's ρ_t, r_t and whether it was in the SGD phase."""
        if h.rectified:
            step_size = h.lr * h.r * np.sqrt(h.bias_correction2) / (np.sqrt(v) + h.eps)
        else:
            step_size = h.lr
        return dict(step_size=step_size, update=-step_size * (m / h.bias_correction1),
                    rho_t=h.rho_t, r_t=h.r, sgd_phase=not h.rectified,  # and the phase's formula:
                    step_size_rule="lr·r·√(1-β2^t)/(√v+ε)" if h.rectified else "lr (SGD phase)")
