"""ASGD: averaged stochastic gradient descent; matches torch.optim.ASGD.

Polyak & Juditsky (1992), "Acceleration of Stochastic Approximation by Averaging", with the
decaying step size of Bottou (2012), "Stochastic Gradient Descent Tricks", section 5.3, in
PyTorch's formulation. θ takes plain SGD steps with a decaying rate η; the average θ̄ of the
iterates (state "ax") is kept beside θ, and is what one evaluates (copy it into θ yourself):

    g ← -g                               if maximize
    g ← g + λ_w θ                        weight_decay λ_w: an L2 penalty
    θ ← θ (1 - λ η)                      lambd λ: the decay term of Bottou's step
    θ ← θ - η g
    θ̄ ← θ̄ + μ (θ - θ̄)                    θ̄ ← θ while μ = 1 (before averaging starts)
    η ← lr / (1 + λ lr t)^α              for the NEXT step; alpha α
    μ ← 1 / max(1, t - t0)               averaging starts after step t0

Sparse gradients: lazy: only touched rows of θ and θ̄ move; η and μ advance every step.

Two-meaning conventions, decided as torch: η and μ are updated after the step, so step t
uses the η computed at t - 1 (the first step uses η = lr, the lr of the group when the state
is created: a schedule that changes lr reaches η one step late, through η's formula);
λ shrinks θ with the current η, before the gradient step. torch keeps η and μ as 0-d tensors
in its default dtype (float32 unless set to float64); here they are Python floats, carried in
the state ("eta", "mu") from one step to the next.
"""
from __future__ import annotations

import numpy as np

from .checks import flag, non_negative, real
from .common import weight_decay, weight_decay_scalars, zeros_like
from .optimizer import Optimizer, Params
from .scalars import Scalars


class ASGD(Optimizer):
    __doc__ = __doc__  # the module docstring: citation, equations, conventions

    def __init__(self, params: Params, lr: float = 1e-2, lambd: float = 1e-4, alpha: float = 0.75,
                 t0: float = 1e6, weight_decay: float = 0.0, foreach: bool | None = None,
                 maximize: bool = False, differentiable: bool = False, capturable: bool = False, *,
                 fused: bool | None = None) -> None:
        defaults = dict(lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay,
                        foreach=foreach, maximize=maximize, differentiable=differentiable,
                        capturable=capturable, fused=fused)
        super().__init__(params, defaults)

    hyperparameters = {"lr": non_negative, "lambd": non_negative, "alpha": non_negative,
                       "t0": real, "weight_decay": non_negative, "maximize": flag}
    symbols = {"theta_bar": "ax"}  # θ̄
    carried_ranges = {"eta": (lambda v: v >= 0.0, "eta >= 0 (a step size)"),
                      "mu": (lambda v: 0.0 < v <= 1.0, "0 < mu <= 1 (an averaging weight)")}
    carry = {"eta": "next_eta", "mu": "next_mu"}  # computed at step t, used at step t + 1
    lazy_sparse = True

    @staticmethod
    def init(theta: np.ndarray, group: dict) -> dict:
        """η = lr (the group's, now), μ = 1, θ̄ = 0."""
        return {"eta": float(group["lr"]), "mu": 1.0, **zeros_like(theta, "ax")}

    @staticmethod
    def scalars(t: int, group: dict, state: dict) -> Scalars:
        """This step uses the η and μ computed at the last one; then the next ones."""
        lr, lambd, alpha = group["lr"], group["lambd"], group["alpha"]
        eta, mu = state["eta"], state["mu"]
        return Scalars(eta=eta, mu=mu, averaging=mu != 1, lambd=lambd,
                       next_eta=lr / (1 + lambd * lr * t) ** alpha,  # η ← lr / (1 + λ lr t)^α
                       next_mu=1 / max(1, t - group["t0"]),          # μ ← 1 / max(1, t - t0)
                       **weight_decay_scalars(group))

    @staticmethod
    def rule(theta: np.ndarray, g: np.ndarray, theta_bar: np.ndarray, h: Scalars) -> dict:
        """One ASGD step on elements or arrays (NumPy or CuPy): the equations above, in order."""
        theta, g = weight_decay(theta, g, h)                # maximize; L2 decay
        theta = theta * (1 - h.lambd * h.eta)               # θ ← θ (1 - λ η)
        theta = theta - h.eta * g                           # θ ← θ - η g
        if h.averaging:
            theta_bar = theta_bar + h.mu * (theta - theta_bar)  # θ̄ ← θ̄ + μ (θ - θ̄)
        else:
            theta_bar = theta                               # θ̄ ← θ  (μ = 1)
        return dict(theta=theta, theta_bar=theta_bar)
