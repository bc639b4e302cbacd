"""Adagrad; matches torch.optim.Adagrad.

Duchi, Hazan & Singer (2011), "Adaptive Subgradient Methods for Online Learning and Stochastic
Optimization". Each coordinate's step shrinks with the sum G of its squared gradients (the
diagonal of the paper's G_t; state "sum"):

    g ← -g                            if maximize
    g ← g + λθ                        weight_decay λ: L2, before everything else
    η_t = lr / (1 + (t - 1) lr_decay)
    G ← G + g²                        G starts at initial_accumulator_value G_0
    θ ← θ - η_t g / (sqrt(G) + ε)     eps ε outside the square root

Sparse gradients: lazy, and exactly the dense update when weight_decay is 0 (untouched rows have
zero gradient, so their sum and θ would not change anyway). η_t decays with the step count t of
the parameter. Weight decay, if any, reaches touched rows only.
"""
from __future__ import annotations

import numpy as np

from minigrad.backend import get_array_module

from .checks import flag, non_negative
from .common import weight_decay, weight_decay_scalars
from .optimizer import Optimizer, Params
from .scalars import Scalars


class Adagrad(Optimizer):
    __doc__ = __doc__  # the module docstring: citation, equations, conventions

    def __init__(self, params: Params, lr: float = 1e-2, lr_decay: float = 0.0,
                 weight_decay: float = 0.0, initial_accumulator_value: float = 0.0,
                 eps: float = 1e-10, foreach: bool | None = None, *, maximize: bool = False,
                 differentiable: bool = False, fused: bool | None = None) -> None:
        defaults = dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, eps=eps,
                        maximize=maximize, fused=fused,
                        foreach=foreach, differentiable=differentiable)
        super().__init__(params, defaults)

    hyperparameters = {"lr": non_negative, "lr_decay": non_negative, "weight_decay": non_negative,
                       "initial_accumulator_value": non_negative, "eps": non_negative,
                       "maximize": flag}
    symbols = {"G": "sum"}
    never_negative = ("sum",)  # sums and averages of squares: checked when loaded
    lazy_sparse = True

    @staticmethod
    def init(theta: np.ndarray, group: dict) -> dict:
        """G = G_0 (initial_accumulator_value) everywhere."""
        return {"sum": get_array_module(theta).full_like(theta, group["initial_accumulator_value"])}

    @staticmethod
    def scalars(t: int, group: dict, state: dict) -> Scalars:
        """η_t = lr / (1 + (t - 1) lr_decay), ε and the decay's numbers of step t."""
        # t and G_0 are for explain's estimate of the step at t = 1; the rule reads η_t
        return Scalars(eta=group["lr"] / (1 + (t - 1) * group["lr_decay"]),  # η_t
                       eps=group["eps"], t=t, G0=group["initial_accumulator_value"],
                       **weight_decay_scalars(group))

    @staticmethod
    def rule(theta: np.ndarray, g: np.ndarray, G: np.ndarray, h: Scalars) -> dict:
        """One Adagrad step on elements or arrays (NumPy or CuPy): the equations above, in order."""
        theta, g = weight_decay(theta, g, h)                # maximize; L2 decay
        G = G + g * g                                       # G ← G + g²
        theta = theta - h.eta * g / (np.sqrt(G) + h.eps)    # θ ← θ - η_t g / (sqrt(G) + ε)
        return dict(theta=theta, G=G)

    step_size_rule = "η_t/(√G+ε)"
    # why the steps only shrink: optim.TrainingMonitor warns when they have fallen 100x
    shrinking_steps = "accumulated squared gradients G only grow"

    @staticmethod
    def explain(theta: np.ndarray, g: np.ndarray, G: np.ndarray, h: Scalars) -> dict:
        """The per-element step size η_t / (sqrt(G) + ε); G's min, median and max; and how far
        the step fell since step 1, estimated as the median of step_1 / step_t, where
        step_1 = η_1 / (sqrt(G_0 + (G - G_0) / t) + ε) supposes the first gradient was as large
        as the average so far (η_1 = lr). No update: it took that step's gradient, not kept."""
        xp = get_array_module(G)
        step_size = h.eta / (np.sqrt(G) + h.eps)
        first = h.lr / (np.sqrt(h.G0 + (G - h.G0) / h.t) + h.eps)       # step_1, η_1 = lr
        return dict(step_size=step_size, G_min=float(G.min()), G_median=float(xp.median(G)),
                    G_max=float(G.max()), fall_since_step1=float(xp.median(first / step_size)))
