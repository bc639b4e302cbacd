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

from minigrad.backend import get_array_module

from ._kernels import loop_form
from .optimizer import Optimizer


class Adagrad(Optimizer):
    __doc__ = __doc__  # the module docstring: citation, equations, conventions
    lazy_sparse = True

    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                 initial_accumulator_value=0.0, eps=1e-10, foreach=None, *, maximize=False,
                 differentiable=False, fused=None):
        defaults = dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, eps=eps,
                        maximize=maximize, fused=fused,
                        foreach=foreach, differentiable=differentiable)
        super().__init__(params, defaults)


    def _init_state(self, theta, group):
        xp = get_array_module(theta)
        return {"step": 0, "sum": xp.full_like(theta, group["initial_accumulator_value"])}

    def _update(self, theta, g, state, group):
        xp = get_array_module(theta)
        g = self._grad_with_l2(theta, g, group)
        state["step"] += 1
        t, s = state["step"], state["sum"]
        eta = group["lr"] / (1 + (t - 1) * group["lr_decay"])  # η_t = lr / (1 + (t-1) decay)
        s[...] = s + g * g                                      # s ← s + g²
        theta -= eta * g / (xp.sqrt(s) + group["eps"])          # θ ← θ - η_t g / (sqrt(s) + ε)

    # ======================================================================== fast path
    def _update_fast(self, theta, g, state, group):
        """The scalar half of the step; _adagrad_kernel does the arrays (optim/_kernels.py)."""
        if group["maximize"] or group["weight_decay"]:
            g = self._grad_with_l2(theta, g, group)
        state["step"] += 1
        eta = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
        return _adagrad_kernel, [theta, g, state["sum"]], (eta, group["eps"])


def _adagrad_kernel(c, theta, g, s, tmp):
    eta, eps = c
    xp = get_array_module(theta)
    xp.multiply(g, g, out=tmp)
    s += tmp                        # s ← s + g²
    xp.sqrt(s, out=tmp)
    tmp += eps
    xp.divide(g, tmp, out=tmp)
    tmp *= eta
    theta -= tmp                    # θ ← θ - η_t g / (sqrt(s) + ε)


@loop_form(_adagrad_kernel)
def _adagrad_loop(theta, g, s, eta, eps):
    """The same, one element at a time (compiled; see optim/_kernels.py)."""
    for i in range(theta.size):
        s[i] += g[i] * g[i]                                 # s ← s + g²
        theta[i] -= g[i] / (np.sqrt(s[i]) + eps) * eta      # θ ← θ - η_t g / (sqrt(s) + ε)
