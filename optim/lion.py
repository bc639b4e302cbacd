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

from .common import weight_decay_scalars, zeros
from .optimizer import Optimizer
from .trace import Scalars


def update(theta, g, m, h):
    """One Lion step on elements (or arrays): the equations above, in order."""
    if h.maximize:
        g = -g                                                  # g ← -g
    c = h.beta1 * m + (1 - h.beta1) * g                         # c = β1 m + (1-β1) g
    theta = theta - h.lr * (np.sign(c) + h.weight_decay * theta)  # θ ← θ - lr (sign(c) + λθ)
    m = h.beta2 * m + (1 - h.beta2) * g                         # m ← β2 m + (1-β2) g
    return theta, m


class Lion(Optimizer):
    __doc__ = __doc__  # the module docstring: citation, equations, conventions
    lazy_sparse = True
    rule = staticmethod(update)
    state_arrays = ("exp_avg",)

    def __init__(self, params, lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0, *, maximize=False,
                 fused=None):
        defaults = dict(lr=lr, betas=betas, weight_decay=weight_decay, maximize=maximize,
                        fused=fused)
        super().__init__(params, defaults)

    def _init_state(self, theta, group):
        return zeros(theta, *self.state_arrays)

    def scalars(self, theta, state, group):
        state["step"] += 1
        beta1, beta2 = group["betas"]
        return Scalars(beta1=beta1, beta2=beta2, **weight_decay_scalars(group))
