"""Rprop: resilient backpropagation, sign-based steps; matches torch.optim.Rprop.

Riedmiller & Braun (1993), "A Direct Adaptive Method for Faster Backpropagation Learning: The
RPROP Algorithm", in PyTorch's variant (Rprop without weight backtracking):

    g ← -g                                  if maximize
    s = sign(g · g_prev)
    η ← η · η+  where s > 0;  η · η-  where s < 0;  η where s = 0     (etas (η-, η+))
    η ← clip(η, step_min, step_max)                                   (step_sizes)
    g ← 0 where s < 0                       a sign change: skip this step, forget the gradient
    θ ← θ - sign(g) η
    g_prev ← g
Each step size η starts at lr.
"""
import numpy as np

from .common import weight_decay, weight_decay_scalars
from .optimizer import Optimizer, check
from .trace import Scalars


def update(theta, g, g_prev, eta, h):
    """One Rprop step on elements (or arrays): the equations above, in order."""
    theta, g = weight_decay(theta, g, h)                                  # maximize
    s = np.sign(g * g_prev)                                               # s = sign(g · g_prev)
    factor = np.where(s > 0, h.eta_plus, np.where(s < 0, h.eta_minus, 1))
    eta = np.minimum(np.maximum(eta * factor, h.step_min), h.step_max)    # η ← clip(η · factor)
    g = np.where(s < 0, 0, g)                                             # skip after a sign change
    theta = theta - np.sign(g) * eta                                      # θ ← θ - sign(g) η
    return theta, g, eta                                                  # g_prev ← g


class Rprop(Optimizer):
    __doc__ = __doc__  # the module docstring: citation, equations, conventions
    dense_only_reason = "it is a full-batch method: a missing row would count as a sign change"
    rule = staticmethod(update)
    state_arrays = ("prev", "step_size")

    def __init__(self, params, lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50), *,
                 maximize=False, fused=None,
                 foreach=None, capturable=False, differentiable=False):
        defaults = dict(lr=lr, etas=etas, step_sizes=step_sizes, maximize=maximize,
                        fused=fused, foreach=foreach, capturable=capturable, differentiable=differentiable)
        super().__init__(params, defaults)

    def _check_group(self, group):
        super()._check_group(group)
        eta_minus, eta_plus = group["etas"]
        check(0.0 < eta_minus < 1.0 < eta_plus, "etas", group["etas"],
              "0 < etaminus < 1 < etaplus")
        lo, hi = group["step_sizes"]
        check(0.0 <= lo <= hi, "step_sizes", group["step_sizes"], "0 <= min <= max")

    def _init_state(self, theta, group):
        return {"step": 0, "prev": np.zeros_like(theta), "step_size": np.full_like(theta, group["lr"])}

    def scalars(self, theta, state, group):
        state["step"] += 1
        (eta_minus, eta_plus), (step_min, step_max) = group["etas"], group["step_sizes"]
        return Scalars(eta_minus=eta_minus, eta_plus=eta_plus, step_min=step_min,
                       step_max=step_max, **weight_decay_scalars(group))
