"""RMSprop, plain or centered, with optional momentum; matches torch.optim.RMSprop.

Hinton, Srivastava & Swersky (2012), Neural Networks for Machine Learning, lecture 6e; the
centered variant from Graves (2013), "Generating Sequences With Recurrent Neural Networks":

    g ← -g                              if maximize
    g ← g + λθ                          weight_decay λ: L2, before everything else
    v ← α v + (1 - α) g²                alpha α: the decay of the average of g²
    ḡ ← α ḡ + (1 - α) g                 centered only
    d = sqrt(v - ḡ²) + ε  if centered, else  d = sqrt(v) + ε      eps ε outside the root
    b ← μ b + g / d,  θ ← θ - lr b      with momentum μ > 0
    θ ← θ - lr g / d                    without

Which argument is which symbol. torch's `alpha` is the DECAY α of the average of g² (default
0.99), not a learning rate: many texts, the course's article among them, call the learning rate
α and write this decay β (others γ or ρ; Keras names it `rho`). Here the learning rate is `lr`
(written lr), the decay is `alpha` (α), `eps` is ε, `momentum` is μ, `weight_decay` is λ.
State: v is "square_avg", b "momentum_buffer" (kept while momentum > 0), ḡ "grad_avg" (kept
while centered); one switched on mid-run (OneCycleLR cycles momentum) starts at zero.

Sparse gradients: lazy: only touched rows of v (and ḡ, b) and θ change; untouched rows keep a
stale v instead of decaying by α; weight decay reaches touched rows only.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .checks import check, flag, non_negative
from .common import weight_decay, weight_decay_scalars, zeros_like
from .optimizer import Optimizer, Params
from .scalars import Scalars


def decay(name: str, value: Any) -> float | int:
    """alpha, 0 <= α <= 1. torch checks only α >= 0; past 1, v ← α v + (1-α) g² goes negative
    and sqrt(v) is NaN from the second step on (torch's too)."""
    value = non_negative(name, value)
    check(value <= 1.0, name, value, f"0 <= {name} <= 1 (the smoothing constant of the average of g²)")
    return value


def switched_on(group: dict) -> list:
    """The state arrays that the group's flags switch on: b with momentum > 0, ḡ if centered."""
    return ["momentum_buffer"] * (group["momentum"] > 0) + ["grad_avg"] * bool(group["centered"])


class RMSprop(Optimizer):
    __doc__ = __doc__  # the module docstring: citation, equations, conventions

    def __init__(self, params: Params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False,
                 capturable: bool = False, foreach: bool | None = None, maximize: bool = False,
                 differentiable: bool = False, *, fused: bool | None = None) -> None:
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                        momentum=momentum, centered=centered, maximize=maximize, fused=fused,
                        foreach=foreach, capturable=capturable, differentiable=differentiable)
        super().__init__(params, defaults)

    hyperparameters = {"lr": non_negative, "alpha": decay, "eps": non_negative,
                       "weight_decay": non_negative, "momentum": non_negative,
                       "centered": flag, "maximize": flag}
    symbols = {"v": "square_avg", "b": "momentum_buffer", "g_avg": "grad_avg"}
    never_negative = ("square_avg",)  # sums and averages of squares: checked when loaded
    lazy_sparse = True

    @staticmethod
    def init(theta: np.ndarray, group: dict) -> dict:
        """v = 0; b = 0 with momentum > 0; ḡ = 0 if centered."""
        return zeros_like(theta, "square_avg", *switched_on(group))

    @staticmethod
    def add_state(theta: np.ndarray, state: dict, group: dict) -> None:
        """b or ḡ switched on since the parameter's state was made starts at zero."""
        if (group["momentum"] > 0 and "momentum_buffer" not in state) or \
                (group["centered"] and "grad_avg" not in state):  # (checked first: every step)
            state.update(zeros_like(theta, *[k for k in switched_on(group) if k not in state]))

    @staticmethod
    def scalars(t: int, group: dict, state: dict) -> Scalars:
        """α, ε, the momentum μ and the flags momentum and centered, and the decay's numbers."""
        return Scalars(alpha=group["alpha"], eps=group["eps"], mu=group["momentum"],
                       momentum=group["momentum"] > 0, centered=bool(group["centered"]),
                       **weight_decay_scalars(group))

    @staticmethod
    def rule(theta: np.ndarray, g: np.ndarray, v: np.ndarray, b: np.ndarray | None,
             g_avg: np.ndarray | None, h: Scalars) -> dict:
        """One RMSprop step on elements or arrays (NumPy or CuPy): the equations above, in order."""
        theta, g = weight_decay(theta, g, h)                # maximize; L2 decay
        v = h.alpha * v + (1 - h.alpha) * g * g             # v ← α v + (1-α) g²
        if h.centered:
            g_avg = h.alpha * g_avg + (1 - h.alpha) * g     # ḡ ← α ḡ + (1-α) g
            d = np.sqrt(v - g_avg * g_avg) + h.eps          # d = sqrt(v - ḡ²) + ε
        else:
            d = np.sqrt(v) + h.eps                          # d = sqrt(v) + ε
        if h.momentum:
            b = h.mu * b + g / d                            # b ← μ b + g / d
            theta = theta - h.lr * b                        # θ ← θ - lr b
        else:
            theta = theta - h.lr * g / d                    # θ ← θ - lr g / d
        return dict(theta=theta, v=v, b=b, g_avg=g_avg)

    step_size_rule = "lr/(√v+ε)"

    @staticmethod
    def explain(theta: np.ndarray, g: np.ndarray, v: np.ndarray, b: np.ndarray | None,
                g_avg: np.ndarray | None, h: Scalars) -> dict:
        """The per-element step size lr / (sqrt(v) + ε) (centered: sqrt(v - ḡ²)); with momentum
        the last update was -lr b (without, it took that step's gradient, not kept)."""
        if h.centered:
            v = v - g_avg * g_avg
        out = dict(step_size=h.lr / (np.sqrt(v) + h.eps))
        if h.momentum:
            out["update"] = -h.lr * b
        return out
