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
import numpy as np

from .common import bias_corrections, weight_decay, weight_decay_scalars, zeros
from .optimizer import Optimizer
from .trace import Scalars


def update(theta, g, m, s, h):
    """One AdaBelief step on elements (or arrays): the equations above, in order."""
    theta, g = weight_decay(theta, g, h)                        # maximize; decoupled or L2 decay
    m = h.beta1 * m + (1 - h.beta1) * g                         # m ← β1 m + (1-β1) g
    s = h.beta2 * s + (1 - h.beta2) * (g - m) ** 2 + h.eps      # s ← β2 s + (1-β2)(g-m)² + ε
    m_hat = m / h.bias_correction1                              # m̂ = m / (1-β1^t)
    s_hat = s / h.bias_correction2                              # ŝ = s / (1-β2^t)
    theta = theta - h.lr * m_hat / (np.sqrt(s_hat) + h.eps)     # θ ← θ - lr m̂ / (sqrt(ŝ) + ε)
    return theta, m, s


class AdaBelief(Optimizer):
    __doc__ = __doc__  # the module docstring: citation, equations, conventions
    lazy_sparse = True
    rule = staticmethod(update)
    state_arrays = ("exp_avg", "exp_avg_var")

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-16, weight_decay=0.0,
                 decoupled_weight_decay=True, *, maximize=False, fused=None):
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                        decoupled_weight_decay=decoupled_weight_decay, maximize=maximize,
                        fused=fused)
        super().__init__(params, defaults)

    def _init_state(self, theta, group):
        return zeros(theta, *self.state_arrays)

    def scalars(self, theta, state, group):
        state["step"] += 1
        beta1, beta2 = group["betas"]
        return Scalars(beta1=beta1, beta2=beta2, eps=group["eps"],
                       **bias_corrections(state["step"], beta1, beta2), **weight_decay_scalars(group))
