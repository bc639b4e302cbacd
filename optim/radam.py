"""RAdam: Adam with a rectified adaptive learning rate; matches torch.optim.RAdam.

Liu et al. (2020), "On the Variance of the Adaptive Learning Rate and Beyond", Algorithm 2:

    g ← -g                              if maximize
    θ ← θ (1 - lr λ)                    weight_decay λ with decoupled_weight_decay
    g ← g + λθ                          weight_decay λ otherwise: L2
    m ← β1 m + (1 - β1) g
    v ← β2 v + (1 - β2) g²
    m̂ = m / (1 - β1^t)
    ρ_∞ = 2 / (1 - β2) - 1
    ρ_t = ρ_∞ - 2 t β2^t / (1 - β2^t)
    if ρ_t > 5 (strictly):
        l = sqrt(1 - β2^t) / (sqrt(v) + ε)                    eps ε BEFORE the bias correction
        r = sqrt((ρ_t - 4)(ρ_t - 2) ρ_∞ / ((ρ_∞ - 4)(ρ_∞ - 2) ρ_t))
        θ ← θ - lr m̂ l r
    else:
        θ ← θ - lr m̂                     plain bias-corrected momentum

Sparse gradients: lazy: only touched rows of m, v and θ change; t (bias corrections, ρ_t)
counts every step of the parameter; weight decay reaches touched rows only.
"""
import math

import numpy as np

from minigrad.backend import get_array_module

from ._kernels import ema_, ema_square_, loop_form
from .optimizer import Optimizer


class RAdam(Optimizer):
    __doc__ = __doc__  # the module docstring: citation, equations, conventions
    lazy_sparse = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 decoupled_weight_decay=False, *, maximize=False, fused=None,
                 foreach=None, capturable=False, differentiable=False):
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                        decoupled_weight_decay=decoupled_weight_decay, maximize=maximize,
                        fused=fused, foreach=foreach, capturable=capturable, differentiable=differentiable)
        super().__init__(params, defaults)


    def _init_state(self, theta, group):
        xp = get_array_module(theta)
        return {"step": 0, "exp_avg": xp.zeros_like(theta), "exp_avg_sq": xp.zeros_like(theta)}

    def _update(self, theta, g, state, group):
        xp = get_array_module(theta)
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        g = self._grad_with_decay(theta, g, group)              # maximize, weight decay
        state["step"] += 1
        t, m, v = state["step"], state["exp_avg"], state["exp_avg_sq"]
        m[...] = beta1 * m + (1 - beta1) * g                    # m ← β1 m + (1-β1) g
        v[...] = beta2 * v + (1 - beta2) * g * g                # v ← β2 v + (1-β2) g²
        m_hat = m / (1 - beta1 ** t)                            # m̂ = m / (1-β1^t)
        rho_inf = 2 / (1 - beta2) - 1                           # ρ_∞
        rho_t = rho_inf - 2 * t * beta2 ** t / (1 - beta2 ** t)  # ρ_t
        if rho_t > 5.0:
            l = math.sqrt(1 - beta2 ** t) / (xp.sqrt(v) + eps)  # adaptive learning rate
            r = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf
                          / ((rho_inf - 4) * (rho_inf - 2) * rho_t))  # rectification term
            theta -= lr * m_hat * l * r                         # θ ← θ - lr m̂ l r
        else:
            theta -= lr * m_hat                                 # θ ← θ - lr m̂

    # ======================================================================== fast path
    def _update_fast(self, theta, g, state, group):
        """The scalar half of the step; _radam_kernel does the arrays (optim/_kernels.py)."""
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        g, decay = self._grad_and_decay_factor(theta, g, group)   # decay: applied in the kernel
        state["step"] += 1
        t = state["step"]
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * t * beta2 ** t / (1 - beta2 ** t)
        rectified = rho_t > 5.0
        if rectified:  # lr m̂ l r = (lr r sqrt(1-β2^t) / (1-β1^t)) m / (sqrt(v) + ε)
            r = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
            step_size = lr * r * math.sqrt(1 - beta2 ** t) / (1 - beta1 ** t)
        else:          # lr m̂ = (lr / (1-β1^t)) m
            step_size = lr / (1 - beta1 ** t)
        c = (decay, 1 - beta1, beta2, 1 - beta2, eps, step_size, rectified)
        return _radam_kernel, [theta, g, state["exp_avg"], state["exp_avg_sq"]], c


def _radam_kernel(c, theta, g, m, v, tmp):
    """RAdam in place, with ufuncs."""
    decay, one_minus_beta1, beta2, one_minus_beta2, eps, step_size, rectified = c
    xp = get_array_module(theta)
    if decay != 1.0:
        theta *= decay              # θ ← θ (1 - lr λ), decoupled weight decay
    ema_(m, g, one_minus_beta1, tmp)  # m ← β1 m + (1-β1) g
    ema_square_(v, g, beta2, one_minus_beta2, tmp)  # v ← β2 v + (1-β2) g²
    if rectified:
        xp.sqrt(v, out=tmp)
        tmp += eps
        xp.divide(m, tmp, out=tmp)
        tmp *= step_size            # lr m̂ l r
    else:
        xp.multiply(m, step_size, out=tmp)  # lr m̂
    theta -= tmp


@loop_form(_radam_kernel)
def _radam_loop(theta, g, m, v, decay, one_minus_beta1, beta2, one_minus_beta2, eps,
                step_size, rectified):
    """The same, one element at a time (compiled; see optim/_kernels.py)."""
    for i in range(theta.size):
        theta[i] *= decay                                       # θ ← θ (1 - lr λ)
        m[i] += (g[i] - m[i]) * one_minus_beta1                 # m ← β1 m + (1-β1) g
        v[i] = v[i] * beta2 + g[i] * g[i] * one_minus_beta2     # v ← β2 v + (1-β2) g²
        if rectified:
            theta[i] -= m[i] / (np.sqrt(v[i]) + eps) * step_size  # θ ← θ - lr m̂ l r
        else:
            theta[i] -= m[i] * step_size                        # θ ← θ - lr m̂
