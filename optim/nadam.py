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
import numpy as np

from minigrad.backend import get_array_module

from ._kernels import ema_, ema_square_, loop_form
from .optimizer import Optimizer


class NAdam(Optimizer):
    __doc__ = __doc__  # the module docstring: citation, equations, conventions
    lazy_sparse = True

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 momentum_decay=4e-3, decoupled_weight_decay=False, *, maximize=False, fused=None,
                 foreach=None, capturable=False, differentiable=False):
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                        momentum_decay=momentum_decay,
                        decoupled_weight_decay=decoupled_weight_decay, maximize=maximize,
                        fused=fused, foreach=foreach, capturable=capturable, differentiable=differentiable)
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

    # ======================================================================== fast path
    def _update_fast(self, theta, g, state, group):
        """The scalar half of the step; _nadam_kernel does the arrays (optim/_kernels.py)."""
        lr, (beta1, beta2), eps, psi = group["lr"], group["betas"], group["eps"], group["momentum_decay"]
        g, decay = self._grad_and_decay_factor(theta, g, group)   # decay: applied in the kernel
        state["step"] += 1
        t = state["step"]
        mu = beta1 * (1 - 0.5 * 0.96 ** (t * psi))
        mu_next = beta1 * (1 - 0.5 * 0.96 ** ((t + 1) * psi))
        state["mu_product"] *= mu
        pi = state["mu_product"]
        c = (decay, 1 - beta1, beta2, 1 - beta2, 1 - beta2 ** t, eps,
             lr * (1 - mu) / (1 - pi), lr * mu_next / (1 - pi * mu_next))
        return _nadam_kernel, [theta, g, state["exp_avg"], state["exp_avg_sq"]], c


def _nadam_kernel(c, theta, g, m, v, d, tmp):
    """NAdam in place, with ufuncs; g_step and m_step are the two shares' scalar factors."""
    decay, one_minus_beta1, beta2, one_minus_beta2, bc2, eps, g_step, m_step = c
    xp = get_array_module(theta)
    if decay != 1.0:
        theta *= decay              # θ ← θ (1 - lr λ), decoupled weight decay
    ema_(m, g, one_minus_beta1, tmp)  # m ← β1 m + (1-β1) g
    ema_square_(v, g, beta2, one_minus_beta2, tmp)  # v ← β2 v + (1-β2) g²
    xp.divide(v, bc2, out=d)
    xp.sqrt(d, out=d)
    d += eps                        # d = sqrt(v̂) + ε
    xp.multiply(g, g_step, out=tmp)
    tmp /= d
    theta -= tmp                    # the gradient's share
    xp.multiply(m, m_step, out=tmp)
    tmp /= d
    theta -= tmp                    # the momentum's share


@loop_form(_nadam_kernel)
def _nadam_loop(theta, g, m, v, decay, one_minus_beta1, beta2, one_minus_beta2, bc2, eps,
                g_step, m_step):
    """The same, one element at a time (compiled; see optim/_kernels.py)."""
    for i in range(theta.size):
        theta[i] *= decay                                       # θ ← θ (1 - lr λ)
        m[i] += (g[i] - m[i]) * one_minus_beta1                 # m ← β1 m + (1-β1) g
        v[i] = v[i] * beta2 + g[i] * g[i] * one_minus_beta2     # v ← β2 v + (1-β2) g²
        d = np.sqrt(v[i] / bc2) + eps                           # d = sqrt(v̂) + ε
        theta[i] -= g[i] * g_step / d                           # the gradient's share
        theta[i] -= m[i] * m_step / d                           # the momentum's share
