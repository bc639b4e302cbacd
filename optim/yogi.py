"""Yogi: Adam with an additive, sign-controlled second moment.

Zaheer et al. (2018), "Adaptive Methods for Nonconvex Optimization", Algorithm 2. Not in
torch.optim; tested against a literal transcription of the paper's algorithm, which has no bias
correction. Defaults are the paper's (lr 1e-2, ε 1e-3); v starts at initial_accumulator_value.

    g ← -g                                  if maximize
    g ← g + λθ                              weight_decay λ: L2
    m ← β1 m + (1 - β1) g
    v ← v - (1 - β2) sign(v - g²) g²        v grows at most additively, unlike Adam's
    θ ← θ - lr m / (sqrt(v) + ε)

Sparse gradients: lazy: only touched rows of m, v and θ change (Yogi has no bias correction);
weight decay reaches touched rows only.
"""
import numpy as np

from minigrad.backend import get_array_module

from ._kernels import ema_, loop_form
from .optimizer import Optimizer


class Yogi(Optimizer):
    __doc__ = __doc__  # the module docstring: citation, equations, conventions
    lazy_sparse = True

    def __init__(self, params, lr=1e-2, betas=(0.9, 0.999), eps=1e-3, weight_decay=0.0,
                 initial_accumulator_value=0.0, *, maximize=False, fused=None):
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, maximize=maximize,
                        fused=fused)
        super().__init__(params, defaults)


    def _init_state(self, theta, group):
        xp = get_array_module(theta)
        return {"step": 0, "exp_avg": xp.zeros_like(theta),
                "exp_avg_sq": xp.full_like(theta, group["initial_accumulator_value"])}

    def _update(self, theta, g, state, group):
        xp = get_array_module(theta)
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        g = self._grad_with_l2(theta, g, group)
        state["step"] += 1
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m[...] = beta1 * m + (1 - beta1) * g                        # m ← β1 m + (1-β1) g
        v[...] = v - (1 - beta2) * xp.sign(v - g * g) * g * g       # v ← v - (1-β2) sign(v-g²) g²
        theta -= lr * m / (xp.sqrt(v) + eps)                        # θ ← θ - lr m / (sqrt(v) + ε)

    # ======================================================================== fast path
    def _update_fast(self, theta, g, state, group):
        """The scalar half of the step; _yogi_kernel does the arrays (optim/_kernels.py)."""
        beta1, beta2 = group["betas"]
        if group["maximize"] or group["weight_decay"]:
            g = self._grad_with_l2(theta, g, group)
        state["step"] += 1
        c = (group["lr"], 1 - beta1, 1 - beta2, group["eps"])
        return _yogi_kernel, [theta, g, state["exp_avg"], state["exp_avg_sq"]], c


def _yogi_kernel(c, theta, g, m, v, g2, tmp):
    """Yogi in place, with ufuncs."""
    lr, one_minus_beta1, one_minus_beta2, eps = c
    xp = get_array_module(theta)
    ema_(m, g, one_minus_beta1, tmp)  # m ← β1 m + (1-β1) g
    xp.multiply(g, g, out=g2)
    xp.subtract(v, g2, out=tmp)
    xp.sign(tmp, out=tmp)
    tmp *= g2
    tmp *= one_minus_beta2
    v -= tmp                        # v ← v - (1-β2) sign(v-g²) g²
    xp.sqrt(v, out=tmp)
    tmp += eps
    xp.divide(m, tmp, out=tmp)
    tmp *= lr
    theta -= tmp                    # θ ← θ - lr m / (sqrt(v) + ε)


@loop_form(_yogi_kernel)
def _yogi_loop(theta, g, m, v, lr, one_minus_beta1, one_minus_beta2, eps):
    """The same, one element at a time (compiled; see optim/_kernels.py)."""
    for i in range(theta.size):
        m[i] += (g[i] - m[i]) * one_minus_beta1                 # m ← β1 m + (1-β1) g
        g2 = g[i] * g[i]
        v[i] -= np.sign(v[i] - g2) * g2 * one_minus_beta2       # v ← v - (1-β2) sign(v-g²) g²
        theta[i] -= m[i] / (np.sqrt(v[i]) + eps) * lr           # θ ← θ - lr m / (sqrt(v) + ε)
