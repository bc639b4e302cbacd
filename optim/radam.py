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

from minigrad.backend import get_array_module

from .optimizer import Optimizer


class RAdam(Optimizer):
    __doc__ = __doc__  # the module docstring: citation, equations, conventions
    lazy_sparse = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 decoupled_weight_decay=False, *, maximize=False):
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        decoupled_weight_decay=decoupled_weight_decay, maximize=maximize)
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
