"""AdaBelief: Adam that divides by the belief in the gradient, not its raw size.

Zhuang et al. (2020), "AdaBelief Optimizer: Adapting Stepsizes by the Belief in Observed
Gradients", Algorithm 2. Not in torch.optim; tested against a literal transcription of the
paper's algorithm. Defaults follow the authors' release (adabelief-pytorch 0.2): eps 1e-16,
decoupled weight decay.

    g ← -g                                  if maximize
    θ ← θ (1 - lr λ)                        weight_decay λ, decoupled (default)
    g ← g + λθ                              weight_decay λ with decoupled_weight_decay=False
    m ← β1 m + (1 - β1) g
    s ← β2 s + (1 - β2) (g - m)² + ε        eps ε added inside s, as in the paper
    m̂ = m / (1 - β1^t),  ŝ = s / (1 - β2^t)
    θ ← θ - lr m̂ / (sqrt(ŝ) + ε)

Sparse gradients: lazy: only touched rows of m, s and θ change; t counts every step of the
parameter; weight decay (decoupled or L2) reaches touched rows only.
"""
from minigrad.backend import get_array_module

from .optimizer import Optimizer


class AdaBelief(Optimizer):
    __doc__ = __doc__  # the module docstring: citation, equations, conventions
    lazy_sparse = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-16, weight_decay=0.0,
                 decoupled_weight_decay=True, *, maximize=False):
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        decoupled_weight_decay=decoupled_weight_decay, maximize=maximize)
        super().__init__(params, defaults)


    def _init_state(self, theta, group):
        xp = get_array_module(theta)
        return {"step": 0, "exp_avg": xp.zeros_like(theta), "exp_avg_var": xp.zeros_like(theta)}

    def _update(self, theta, g, state, group):
        xp = get_array_module(theta)
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        g = self._grad_with_decay(theta, g, group)
        state["step"] += 1
        t, m, s = state["step"], state["exp_avg"], state["exp_avg_var"]
        m[...] = beta1 * m + (1 - beta1) * g                        # m ← β1 m + (1-β1) g
        s[...] = beta2 * s + (1 - beta2) * (g - m) ** 2 + eps       # s ← β2 s + (1-β2)(g-m)² + ε
        m_hat = m / (1 - beta1 ** t)                                # m̂ = m / (1-β1^t)
        s_hat = s / (1 - beta2 ** t)                                # ŝ = s / (1-β2^t)
        theta -= lr * m_hat / (xp.sqrt(s_hat) + eps)                # θ ← θ - lr m̂ / (sqrt(ŝ) + ε)
