"""Adadelta; matches torch.optim.Adadelta.

Zeiler (2012), "ADADELTA: An Adaptive Learning Rate Method", Algorithm 1, with PyTorch's extra
learning rate (default 1.0, the paper's method):

    g ← -g                                  if maximize
    g ← g + λθ                              weight_decay λ: L2, before everything else
    E[g²] ← ρ E[g²] + (1 - ρ) g²
    Δθ = sqrt(E[Δθ²] + ε) / sqrt(E[g²] + ε) · g       eps ε inside both square roots
    E[Δθ²] ← ρ E[Δθ²] + (1 - ρ) Δθ²
    θ ← θ - lr Δθ

State: E[g²] is "square_avg" (Eg2 in the rule), E[Δθ²] "acc_delta" (Edx2).

Sparse gradients: lazy: only touched rows of E[g²], E[Δθ²] and θ change (the dense update would
decay the untouched rows' averages); weight decay reaches touched rows only.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .checks import check, flag, non_negative, real
from .common import weight_decay, weight_decay_scalars, zeros_like
from .optimizer import Optimizer, Params
from .scalars import Scalars


def decay(name: str, value: Any) -> float | int:
    """rho, the decay of both averages: 0 <= ρ <= 1."""
    value = real(name, value)
    check(0.0 <= value <= 1.0, name, value, f"0 <= {name} <= 1")
    return value


class Adadelta(Optimizer):
    __doc__ = __doc__  # the module docstring: citation, equations, conventions

    def __init__(self, params: Params, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0.0, foreach: bool | None = None, *,
                 capturable: bool = False, maximize: bool = False, differentiable: bool = False,
                 fused: bool | None = None) -> None:
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize,
                        fused=fused, foreach=foreach, capturable=capturable, differentiable=differentiable)
        super().__init__(params, defaults)

    hyperparameters = {"lr": non_negative, "rho": decay, "eps": non_negative,
                       "weight_decay": non_negative, "maximize": flag}
    symbols = {"Eg2": "square_avg", "Edx2": "acc_delta"}
    never_negative = ("square_avg", "acc_delta")  # sums and averages of squares: checked when loaded
    lazy_sparse = True

    @staticmethod
    def init(theta: np.ndarray, group: dict) -> dict:
        """E[g²] = E[Δθ²] = 0."""
        return zeros_like(theta, "square_avg", "acc_delta")

    @staticmethod
    def scalars(t: int, group: dict, state: dict) -> Scalars:
        """ρ, ε and the decay's numbers (Adadelta's step needs no t)."""
        return Scalars(rho=group["rho"], eps=group["eps"], **weight_decay_scalars(group))

    @staticmethod
    def rule(theta: np.ndarray, g: np.ndarray, Eg2: np.ndarray, Edx2: np.ndarray,
             h: Scalars) -> dict:
        """One Adadelta step on elements or arrays (NumPy or CuPy): the equations above, in order."""
        theta, g = weight_decay(theta, g, h)                        # maximize; L2 decay
        Eg2 = h.rho * Eg2 + (1 - h.rho) * g * g                     # E[g²] ← ρ E[g²] + (1-ρ) g²
        dx = np.sqrt(Edx2 + h.eps) / np.sqrt(Eg2 + h.eps) * g       # Δθ = RMS[Δθ] / RMS[g] · g
        Edx2 = h.rho * Edx2 + (1 - h.rho) * dx * dx                 # E[Δθ²] ← ρ E[Δθ²] + (1-ρ) Δθ²
        theta = theta - h.lr * dx                                   # θ ← θ - lr Δθ
        return dict(theta=theta, Eg2=Eg2, Edx2=Edx2)

    step_size_rule = "lr·√(E[Δθ²]+ε)/√(E[g²]+ε)"

    @staticmethod
    def explain(theta: np.ndarray, g: np.ndarray, Eg2: np.ndarray, Edx2: np.ndarray,
                h: Scalars) -> dict:
        """The per-element step size lr sqrt(E[Δθ²] + ε) / sqrt(E[g²] + ε), from the averages as
        the last step left them. No update: it took that step's gradient, not kept."""
        return dict(step_size=h.lr * np.sqrt(Edx2 + h.eps) / np.sqrt(Eg2 + h.eps))
