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

from .common import bias_corrections, weight_decay, weight_decay_scalars, zeros
from .optimizer import Optimizer
from .trace import Scalars


def update(theta, g, m, v, h):
    """One RAdam step on elements (or arrays): the equations above, in order."""
    theta, g = weight_decay(theta, g, h)                        # maximize; decoupled or L2 decay
    m = h.beta1 * m + (1 - h.beta1) * g                         # m ← β1 m + (1-β1) g
    v = h.beta2 * v + (1 - h.beta2) * g * g                     # v ← β2 v + (1-β2) g²
    m_hat = m / h.bias_correction1                              # m̂ = m / (1-β1^t)
    if h.rectified:                                             # ρ_t > 5
        l = np.sqrt(h.bias_correction2) / (np.sqrt(v) + h.eps)  # adaptive learning rate
        theta = theta - h.lr * m_hat * l * h.r                  # θ ← θ - lr m̂ l r
    else:
        theta = theta - h.lr * m_hat                            # θ ← θ - lr m̂
    return theta, m, v


class RAdam(Optimizer):
    __doc__ = __doc__  # the module docstring: citation, equations, conventions
    lazy_sparse = True
    rule = staticmethod(update)
    state_arrays = ("exp_avg", "exp_avg_sq")

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 decoupled_weight_decay=False, *, maximize=False, fused=None,
                 foreach=None, capturable=False, differentiable=False):
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                        decoupled_weight_decay=decoupled_weight_decay, maximize=maximize,
                        fused=fused, foreach=foreach, capturable=capturable, differentiable=differentiable)
        super().__init__(params, defaults)

    def _init_state(self, theta, group):
        return zeros(theta, *self.state_arrays)

    def scalars(self, theta, state, group):
        state["step"] += 1
        t, (beta1, beta2) = state["step"], group["betas"]
        rho_inf = 2 / (1 - beta2) - 1                               # ρ_∞
        rho_t = rho_inf - 2 * t * beta2 ** t / (1 - beta2 ** t)     # ρ_t
        r = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf
                      / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) if rho_t > 5 else 0.0  # r_t
        return Scalars(beta1=beta1, beta2=beta2, eps=group["eps"], rectified=rho_t > 5.0, r=r,
                       rho_t=rho_t,  # read by optim.explain, not by the rule
                       **bias_corrections(t, beta1, beta2), **weight_decay_scalars(group))
