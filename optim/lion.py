"""Lion: evolved sign momentum.

Chen et al. (2023), "Symbolic Discovery of Optimization Algorithms", Algorithm 2. Not in
torch.optim; tested against a literal transcription of the paper's algorithm. Every coordinate
moves by exactly lr per step (plus decay), so use a learning rate 3-10x smaller than AdamW's and
a weight decay 3-10x larger (the paper's advice).

    g ← -g                                  if maximize
    c = β1 m + (1 - β1) g                   the update direction interpolates ...
    θ ← θ - lr (sign(c) + λθ)               ... weight_decay λ: decoupled, scaled by lr
    m ← β2 m + (1 - β2) g                   ... and momentum tracks with a slower β2

Sparse gradients: lazy: only touched rows of m and θ move; weight decay reaches touched rows only.
"""
import numpy as np

from minigrad.backend import get_array_module

from ._kernels import loop_form
from .optimizer import Optimizer


class Lion(Optimizer):
    __doc__ = __doc__  # the module docstring: citation, equations, conventions
    lazy_sparse = True

    def __init__(self, params, lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0, *, maximize=False,
                 fused=None):
        defaults = dict(lr=lr, betas=betas, weight_decay=weight_decay, maximize=maximize,
                        fused=fused)
        super().__init__(params, defaults)


    def _init_state(self, theta, group):
        xp = get_array_module(theta)
        return {"step": 0, "exp_avg": xp.zeros_like(theta)}

    def _update(self, theta, g, state, group):
        xp = get_array_module(theta)
        lr, (beta1, beta2), wd = group["lr"], group["betas"], group["weight_decay"]
        g = -g if group["maximize"] else g
        state["step"] += 1
        m = state["exp_avg"]
        c = beta1 * m + (1 - beta1) * g                 # c = β1 m + (1-β1) g
        theta -= lr * (xp.sign(c) + wd * theta)         # θ ← θ - lr (sign(c) + λθ)
        m[...] = beta2 * m + (1 - beta2) * g            # m ← β2 m + (1-β2) g

    # ======================================================================== fast path
    def _update_fast(self, theta, g, state, group):
        """The scalar half of the step; _lion_kernel does the arrays (optim/_kernels.py)."""
        beta1, beta2 = group["betas"]
        g = -g if group["maximize"] else g
        state["step"] += 1
        c = (group["lr"], beta1, 1 - beta1, beta2, 1 - beta2, group["weight_decay"])
        return _lion_kernel, [theta, g, state["exp_avg"]], c


def _lion_kernel(c, theta, g, m, u, tmp):
    """Lion in place, with ufuncs; u holds the update direction."""
    lr, beta1, one_minus_beta1, beta2, one_minus_beta2, wd = c
    xp = get_array_module(theta)
    xp.multiply(m, beta1, out=u)
    xp.multiply(g, one_minus_beta1, out=tmp)
    u += tmp                        # c = β1 m + (1-β1) g
    xp.sign(u, out=u)
    xp.multiply(theta, wd, out=tmp)
    u += tmp
    u *= lr
    theta -= u                      # θ ← θ - lr (sign(c) + λθ)
    m *= beta2
    xp.multiply(g, one_minus_beta2, out=tmp)
    m += tmp                        # m ← β2 m + (1-β2) g


@loop_form(_lion_kernel)
def _lion_loop(theta, g, m, lr, beta1, one_minus_beta1, beta2, one_minus_beta2, wd):
    """The same, one element at a time (compiled; see optim/_kernels.py)."""
    for i in range(theta.size):
        c = m[i] * beta1 + g[i] * one_minus_beta1                # c = β1 m + (1-β1) g
        theta[i] -= (np.sign(c) + theta[i] * wd) * lr           # θ ← θ - lr (sign(c) + λθ)
        m[i] = m[i] * beta2 + g[i] * one_minus_beta2            # m ← β2 m + (1-β2) g
