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
import math

import numpy as np

from minigrad.backend import get_array_module

from ._kernels import ema_, loop_form
from .optimizer import Optimizer


class AdaBelief(Optimizer):
    __doc__ = __doc__  # the module docstring: citation, equations, conventions
    lazy_sparse = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-16, weight_decay=0.0,
                 decoupled_weight_decay=True, *, maximize=False, fused=None):
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                        decoupled_weight_decay=decoupled_weight_decay, maximize=maximize,
                        fused=fused)
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

    # ======================================================================== fast path
    def _update_fast(self, theta, g, state, group):
        """The scalar half of the step; _adabelief_kernel does the arrays (optim/_kernels.py)."""
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        g, decay = self._grad_and_decay_factor(theta, g, group)   # decay: applied in the kernel
        state["step"] += 1
        t = state["step"]
        # m̂ / (sqrt(ŝ) + ε) = (sqrt(1-β2^t) / (1-β1^t)) m / (sqrt(s) + ε sqrt(1-β2^t))
        root_bc2 = math.sqrt(1 - beta2 ** t)
        c = (decay, 1 - beta1, beta2, 1 - beta2, eps, eps * root_bc2, lr * root_bc2 / (1 - beta1 ** t))
        return _adabelief_kernel, [theta, g, state["exp_avg"], state["exp_avg_var"]], c


def _adabelief_kernel(c, theta, g, m, s, tmp):
    """AdaBelief in place, with ufuncs."""
    decay, one_minus_beta1, beta2, one_minus_beta2, eps, eps_scaled, step_size = c
    xp = get_array_module(theta)
    if decay != 1.0:
        theta *= decay              # θ ← θ (1 - lr λ), decoupled weight decay
    ema_(m, g, one_minus_beta1, tmp)  # m ← β1 m + (1-β1) g
    xp.subtract(g, m, out=tmp)
    tmp *= tmp
    tmp *= one_minus_beta2
    s *= beta2
    s += tmp
    s += eps                        # s ← β2 s + (1-β2)(g-m)² + ε
    xp.sqrt(s, out=tmp)
    tmp += eps_scaled
    xp.divide(m, tmp, out=tmp)
    tmp *= step_size
    theta -= tmp                    # θ ← θ - lr m̂ / (sqrt(ŝ) + ε)


@loop_form(_adabelief_kernel)
def _adabelief_loop(theta, g, m, s, decay, one_minus_beta1, beta2, one_minus_beta2, eps,
                    eps_scaled, step_size):
    """The same, one element at a time (compiled; see optim/_kernels.py)."""
    for i in range(theta.size):
        theta[i] *= decay                                       # θ ← θ (1 - lr λ)
        m[i] += (g[i] - m[i]) * one_minus_beta1                 # m ← β1 m + (1-β1) g
        belief = g[i] - m[i]
        s[i] = s[i] * beta2 + belief * belief * one_minus_beta2 + eps  # s ← β2 s + (1-β2)(g-m)² + ε
        theta[i] -= m[i] / (np.sqrt(s[i]) + eps_scaled) * step_size   # θ ← θ - lr m̂ / (sqrt(ŝ) + ε)
