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
import numpy as np

from minigrad.backend import get_array_module

from ._kernels import ema_, loop_form
from .optimizer import Optimizer


class Adamax(Optimizer):
    __doc__ = __doc__  # the module docstring: citation, equations, conventions
    lazy_sparse = True

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 foreach=None, *, maximize=False, differentiable=False, capturable=False,
                 fused=None):
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                        maximize=maximize, fused=fused,
                        foreach=foreach, capturable=capturable, differentiable=differentiable)
        super().__init__(params, defaults)


    def _init_state(self, theta, group):
        xp = get_array_module(theta)
        return {"step": 0, "exp_avg": xp.zeros_like(theta), "exp_inf": xp.zeros_like(theta)}

    def _update(self, theta, g, state, group):
        xp = get_array_module(theta)
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        g = self._grad_with_l2(theta, g, group)
        state["step"] += 1
        t, m, u = state["step"], state["exp_avg"], state["exp_inf"]
        m[...] = beta1 * m + (1 - beta1) * g            # m ← β1 m + (1-β1) g
        u[...] = xp.maximum(beta2 * u, xp.abs(g) + eps)  # u ← max(β2 u, |g| + ε)
        theta -= lr / (1 - beta1 ** t) * m / u          # θ ← θ - lr/(1-β1^t) · m/u

    # ======================================================================== fast path
    def _update_fast(self, theta, g, state, group):
        """The scalar half of the step; _adamax_kernel does the arrays (optim/_kernels.py)."""
        beta1, beta2 = group["betas"]
        if group["maximize"] or group["weight_decay"]:
            g = self._grad_with_l2(theta, g, group)
        state["step"] += 1
        clr = group["lr"] / (1 - beta1 ** state["step"])
        c = (1 - beta1, beta2, group["eps"], clr)
        return _adamax_kernel, [theta, g, state["exp_avg"], state["exp_inf"]], c


def _adamax_kernel(c, theta, g, m, u, tmp):
    """Adamax in place, with ufuncs."""
    one_minus_beta1, beta2, eps, clr = c
    xp = get_array_module(theta)
    ema_(m, g, one_minus_beta1, tmp)  # m ← β1 m + (1-β1) g
    u *= beta2
    xp.abs(g, out=tmp)
    tmp += eps
    xp.maximum(u, tmp, out=u)       # u ← max(β2 u, |g| + ε)
    xp.multiply(m, clr, out=tmp)
    tmp /= u
    theta -= tmp                    # θ ← θ - lr/(1-β1^t) · m/u


@loop_form(_adamax_kernel)
def _adamax_loop(theta, g, m, u, one_minus_beta1, beta2, eps, clr):
    """The same, one element at a time (compiled; see optim/_kernels.py)."""
    for i in range(theta.size):
        m[i] += (g[i] - m[i]) * one_minus_beta1                 # m ← β1 m + (1-β1) g
        u[i] = np.maximum(u[i] * beta2, np.abs(g[i]) + eps)     # u ← max(β2 u, |g| + ε)
        theta[i] -= m[i] * clr / u[i]                           # θ ← θ - lr/(1-β1^t) · m/u
