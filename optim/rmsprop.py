"""RMSprop, plain or centered, with optional momentum; matches torch.optim.RMSprop.

Hinton, Srivastava & Swersky (2012), Neural Networks for Machine Learning, lecture 6e; the
centered variant from Graves (2013), "Generating Sequences With Recurrent Neural Networks":

    g ← -g                              if maximize
    g ← g + λθ                          weight_decay λ: L2, before everything else
    v ← α v + (1 - α) g²                (alpha α: the smoothing constant)
    ḡ ← α ḡ + (1 - α) g                 centered only
    d = sqrt(v - ḡ²) + ε  if centered, else  d = sqrt(v) + ε      eps ε outside the root
    b ← μ b + g / d,  θ ← θ - lr b      with momentum μ > 0
    θ ← θ - lr g / d                    without

Sparse gradients: lazy: only touched rows of v (and ḡ, b) and θ change; untouched rows keep a
stale v instead of decaying by α; weight decay reaches touched rows only.
"""
import numpy as np

from .common import weight_decay, weight_decay_scalars
from .optimizer import Optimizer, check
from .trace import Scalars


def update(theta, g, v, b, g_avg, h):
    """One RMSprop step on elements (or arrays): the equations above, in order."""
    theta, g = weight_decay(theta, g, h)                # maximize; L2 decay
    v = h.alpha * v + (1 - h.alpha) * g * g             # v ← α v + (1-α) g²
    if h.centered:
        g_avg = h.alpha * g_avg + (1 - h.alpha) * g     # ḡ ← α ḡ + (1-α) g
        d = np.sqrt(v - g_avg * g_avg) + h.eps          # d = sqrt(v - ḡ²) + ε
    else:
        d = np.sqrt(v) + h.eps                          # d = sqrt(v) + ε
    if h.momentum:
        b = h.mu * b + g / d                            # b ← μ b + g / d
        theta = theta - h.lr * b                        # θ ← θ - lr b
    else:
        theta = theta - h.lr * g / d                    # θ ← θ - lr g / d
    return theta, v, b, g_avg


class RMSprop(Optimizer):
    __doc__ = __doc__  # the module docstring: citation, equations, conventions
    lazy_sparse = True
    rule = staticmethod(update)
    state_arrays = ("square_avg", "momentum_buffer", "grad_avg")

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                 centered=False, capturable=False, foreach=None, maximize=False,
                 differentiable=False, *, fused=None):
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                        momentum=momentum, centered=centered, maximize=maximize, fused=fused,
                        foreach=foreach, capturable=capturable, differentiable=differentiable)
        super().__init__(params, defaults)

    def _check_group(self, group):
        super()._check_group(group)  # alpha >= 0 with the shared rules
        # torch checks only alpha >= 0; past 1, v ← α v + (1-α) g² goes negative and sqrt(v)
        # is NaN from the second step on (torch's too)
        check(group["alpha"] <= 1.0, "alpha", group["alpha"],
              "0 <= alpha <= 1 (the smoothing constant of the average of g²)")

    def _init_state(self, theta, group):
        return self._add_buffers(theta, {"step": 0, "square_avg": np.zeros_like(theta)}, group)

    @staticmethod
    def _add_buffers(theta, state, group):
        """b and ḡ exist while momentum > 0 and centered; one switched on mid-run (OneCycleLR
        cycles momentum) starts at zero."""
        if group["momentum"] > 0 and "momentum_buffer" not in state:
            state["momentum_buffer"] = np.zeros_like(theta)
        if group["centered"] and "grad_avg" not in state:
            state["grad_avg"] = np.zeros_like(theta)
        return state

    def scalars(self, theta, state, group):
        self._add_buffers(theta, state, group)
        state["step"] += 1
        return Scalars(alpha=group["alpha"], eps=group["eps"], mu=group["momentum"],
                       momentum=group["momentum"] > 0, centered=bool(group["centered"]),
                       **weight_decay_scalars(group))
