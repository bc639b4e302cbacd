"""NAdam: Adam with Nesterov momentum; matches torch.optim.NAdam.

Dozat (2016), "Incorporating Nesterov Momentum into Adam", with the momentum schedule
μ_t = β1 (1 - 0.5 · 0.96^(t ψ)) (momentum_decay ψ) as in PyTorch:

    g ← -g                              if maximize
    θ ← θ (1 - lr λ)                    weight_decay λ with decoupled_weight_decay
    g ← g + λθ                          weight_decay λ otherwise: L2
    μ_t = β1 (1 - 0.5 · 0.96^(t ψ));  μ_{t+1} likewise
    Π_t = Π_{t-1} μ_t                    the product of the μ's (state "mu_product")
    m ← β1 m + (1 - β1) g
    v ← β2 v + (1 - β2) g²
    d = sqrt(v / (1 - β2^t)) + ε         eps ε after bias-correcting v
    θ ← θ - lr (1 - μ_t) / (1 - Π_t) · g / d - lr μ_{t+1} / (1 - Π_t μ_{t+1}) · m / d

Sparse gradients: lazy: only touched rows of m, v and θ change; t and the μ product advance every
step of the parameter; weight decay reaches touched rows only.
"""
from minigrad.backend import get_array_module

from .optimizer import Optimizer


class NAdam(Optimizer):
    __doc__ = __doc__  # the module docstring: citation, equations, conventions
    lazy_sparse = True

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 momentum_decay=4e-3, decoupled_weight_decay=False, *, maximize=False):
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        momentum_decay=momentum_decay,
                        decoupled_weight_decay=decoupled_weight_decay, maximize=maximize)
        super().__init__(params, defaults)


    def _init_state(self, theta, group):
        xp = get_array_module(theta)
        return {"step": 0, "mu_product": 1.0, "exp_avg": xp.zeros_like(theta),
                "exp_avg_sq": xp.zeros_like(theta)}

    def _update(self, theta, g, state, group):
        xp = get_array_module(theta)
        lr, (beta1, beta2), eps, psi = group["lr"], group["betas"], group["eps"], group["momentum_decay"]
        g = self._grad_with_decay(theta, g, group)              # maximize, weight decay
        state["step"] += 1
        t, m, v = state["step"], state["exp_avg"], state["exp_avg_sq"]
        mu = beta1 * (1 - 0.5 * 0.96 ** (t * psi))             # μ_t
        mu_next = beta1 * (1 - 0.5 * 0.96 ** ((t + 1) * psi))  # μ_{t+1}
        state["mu_product"] *= mu                               # Π_t = Π_{t-1} μ_t
        pi = state["mu_product"]
        m[...] = beta1 * m + (1 - beta1) * g                    # m ← β1 m + (1-β1) g
        v[...] = beta2 * v + (1 - beta2) * g * g                # v ← β2 v + (1-β2) g²
        d = xp.sqrt(v / (1 - beta2 ** t)) + eps                 # d = sqrt(v̂) + ε
        theta -= lr * (1 - mu) / (1 - pi) * g / d               # the gradient's share
        theta -= lr * mu_next / (1 - pi * mu_next) * m / d      # the momentum's share
