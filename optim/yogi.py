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

from .common import weight_decay, weight_decay_scalars
from .optimizer import Optimizer
from .trace import Scalars


def update(theta, g, m, v, h):
    """One Yogi step on elements (or arrays): the equations above, in order."""
    theta, g = weight_decay(theta, g, h)                        # maximize; L2 decay
    m = h.beta1 * m + (1 - h.beta1) * g                         # m ← β1 m + (1-β1) g
    v = v - (1 - h.beta2) * np.sign(v - g * g) * g * g          # v ← v - (1-β2) sign(v-g²) g²
    theta = theta - h.lr * m / (np.sqrt(v) + h.eps)             # θ ← θ - lr m / (sqrt(v) + ε)
    return theta, m, v


class Yogi(Optimizer):
    __doc__ = __doc__  # the module docstring: citation, equations, conventions
    lazy_sparse = True
    rule = staticmethod(update)
    state_arrays = ("exp_avg", "exp_avg_sq")

    def __init__(self, params, lr=1e-2, betas=(0.9, 0.999), eps=1e-3, weight_decay=0.0,
                 initial_accumulator_value=0.0, *, maximize=False, fused=None):
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, maximize=maximize,
                        fused=fused)
        super().__init__(params, defaults)

    def _init_state(self, theta, group):
        return {"step": 0, "exp_avg": np.zeros_like(theta),
                "exp_avg_sq": np.full_like(theta, group["initial_accumulator_value"])}

    def scalars(self, theta, state, group):
        state["step"] += 1
        beta1, beta2 = group["betas"]
        return Scalars(beta1=beta1, beta2=beta2, eps=group["eps"], **weight_decay_scalars(group))
