"""Adagrad; matches torch.optim.Adagrad.

Duchi, Hazan & Singer (2011), "Adaptive Subgradient Methods for Online Learning and Stochastic
Optimization". Each coordinate's step shrinks with the sum of its squared gradients:

    g ← -g                            if maximize
    g ← g + λθ                        weight_decay λ: L2, before everything else
    η_t = lr / (1 + (t - 1) lr_decay)
    s ← s + g²                        s starts at initial_accumulator_value
    θ ← θ - η_t g / (sqrt(s) + ε)     eps ε outside the square root

Sparse gradients: lazy, and exactly the dense update when weight_decay is 0 (untouched rows have
zero gradient, so their sum and θ would not change anyway). η_t decays with the step count t of
the parameter. Weight decay, if any, reaches touched rows only.
"""
import numpy as np

from .common import weight_decay, weight_decay_scalars
from .optimizer import Optimizer
from .trace import Scalars


def update(theta, g, s, h):
    """One Adagrad step on elements (or arrays): the equations above, in order."""
    theta, g = weight_decay(theta, g, h)                # maximize; L2 decay
    s = s + g * g                                       # s ← s + g²
    theta = theta - h.eta * g / (np.sqrt(s) + h.eps)    # θ ← θ - η_t g / (sqrt(s) + ε)
    return theta, s


class Adagrad(Optimizer):
    __doc__ = __doc__  # the module docstring: citation, equations, conventions
    lazy_sparse = True
    rule = staticmethod(update)
    state_arrays = ("sum",)

    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                 initial_accumulator_value=0.0, eps=1e-10, foreach=None, *, maximize=False,
                 differentiable=False, fused=None):
        defaults = dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, eps=eps,
                        maximize=maximize, fused=fused,
                        foreach=foreach, differentiable=differentiable)
        super().__init__(params, defaults)

    def _init_state(self, theta, group):
        return {"step": 0, "sum": np.full_like(theta, group["initial_accumulator_value"])}

    def scalars(self, theta, state, group):
        state["step"] += 1
        t = state["step"]
        return Scalars(eta=group["lr"] / (1 + (t - 1) * group["lr_decay"]),  # η_t
                       eps=group["eps"], **weight_decay_scalars(group))
