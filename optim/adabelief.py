"""AdaBelief: Adam that divides by the belief in the gradient, not its raw size.

Zhuang et al. (2020), "AdaBelief Optimizer: Adapting Stepsizes by the Belief in Observed
Gradients", Algorithm 2. Not in torch.optim; tested against a literal transcription of the
paper's algorithm. Defaults follow the authors' release (adabelief-pytorch 0.2): eps 1e-16,
decoupled weight decay.

    g ← -g                                  if maximize
    θ ← θ (1 - lr λ)                        weight_decay λ, decoupled (default)
    g ← g + λθ                              weight_decay λ with decoupled_weight_decay=False
    m ← β1 m + (1 - β1) g
    s ← β2 s + (1 - β2) (g - m)² + ε        eps ε added inside s, as in the paper
    m̂ = m / (1 - β1^t),  ŝ = s / (1 - β2^t)
    θ ← θ - lr m̂ / (sqrt(ŝ) + ε)

Sparse gradients: lazy: only touched rows of m, s and θ change; t counts every step of the
parameter; weight decay (decoupled or L2) reaches touched rows only.
"""
from __future__ import annotations

import numpy as np

from .checks import betas, flag, non_negative
from .common import bias_corrections, weight_decay, weight_decay_scalars, zeros_like
from .optimizer import Optimizer, Params
from .scalars import Scalars


class AdaBelief(Optimizer):
    __doc__ = __doc__  # the module docstring: citation, equations, conventions

    def __init__(self, params: Params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-16, weight_decay: float = 0.0, decoupled_weight_decay: bool = True,
                 *, maximize: bool = False, fused: bool | None = None) -> None:
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                        decoupled_weight_decay=decoupled_weight_decay, maximize=maximize,
                        fused=fused)
        super().__init__(params, defaults)

    hyperparameters = {"lr": non_negative, "betas": betas, "eps": non_negative,
                       "weight_decay": non_negative, "decoupled_weight_decay": flag,
                       "maximize": flag}
    symbols = {"m": "exp_avg", "s": "exp_avg_var"}
    never_negative = ("exp_avg_var",)  # sums and averages of squares: checked when loaded
    lazy_sparse = True

    @staticmethod
    def init(theta: np.ndarray, group: dict) -> dict:
        """m = s = 0."""
        return zeros_like(theta, "exp_avg", "exp_avg_var")

    @staticmethod
    def scalars(t: int, group: dict, state: dict) -> Scalars:
        """β1, β2, ε, the bias corrections 1 - β^t and the decay's numbers of step t."""
        beta1, beta2 = group["betas"]
        return Scalars(beta1=beta1, beta2=beta2, eps=group["eps"],
                       **bias_corrections(t, beta1, beta2), **weight_decay_scalars(group))

    @staticmethod
    def rule(theta: np.ndarray, g: np.ndarray, m: np.ndarray, s: np.ndarray,
             h: Scalars) -> dict:
        """One AdaBelief step on elements or arrays (NumPy or CuPy): the equations above, in
        order."""
        theta, g = weight_decay(theta, g, h)                        # maximize; decoupled or L2 decay
        m = h.beta1 * m + (1 - h.beta1) * g                         # m ← β1 m + (1-β1) g
        s = h.beta2 * s + (1 - h.beta2) * (g - m) ** 2 + h.eps      # s ← β2 s + (1-β2)(g-m)² + ε
        m_hat = m / h.bias_correction1                              # m̂ = m / (1-β1^t)
        s_hat = s / h.bias_correction2                              # ŝ = s / (1-β2^t)
        theta = theta - h.lr * m_hat / (np.sqrt(s_hat) + h.eps)     # θ ← θ - lr m̂ / (sqrt(ŝ) + ε)
        return dict(theta=theta, m=m, s=s)

    step_size_rule = "lr/(√ŝ+ε)"

    @staticmethod
    def explain(theta: np.ndarray, g: np.ndarray, m: np.ndarray, s: np.ndarray,
                h: Scalars) -> dict:
        """The per-element step size lr / (sqrt(ŝ) + ε) and the adaptive part of the update it
        made (-size m̂; optim.explain adds back the decoupled decay)."""
        step_size = h.lr / (np.sqrt(s / h.bias_correction2) + h.eps)
        return dict(step_size=step_size, update=-step_size * (m / h.bias_correction1))
