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

from minigrad.backend import get_array_module

from ._kernels import loop_form
from .optimizer import Optimizer, check


class Rprop(Optimizer):
    __doc__ = __doc__  # the module docstring: citation, equations, conventions
    dense_only_reason = "it is a full-batch method: a missing row would count as a sign change"

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
        xp = get_array_module(theta)
        return {"step": 0, "prev": xp.zeros_like(theta),
                "step_size": xp.full_like(theta, group["lr"])}

    def _update(self, theta, g, state, group):
        xp = get_array_module(theta)
        eta_minus, eta_plus = group["etas"]
        step_min, step_max = group["step_sizes"]
        g = -g if group["maximize"] else g
        state["step"] += 1
        eta, g_prev = state["step_size"], state["prev"]
        s = xp.sign(g * g_prev)                                  # s = sign(g · g_prev)
        factor = xp.where(s > 0, eta_plus, xp.where(s < 0, eta_minus, 1.0)).astype(eta.dtype)
        eta[...] = xp.clip(eta * factor, step_min, step_max)     # η ← clip(η · factor)
        g = xp.where(s < 0, 0, g).astype(g.dtype)                # skip after a sign change
        theta -= xp.sign(g) * eta                                # θ ← θ - sign(g) η
        g_prev[...] = g                                          # g_prev ← g

    # ======================================================================== fast path
    def _update_fast(self, theta, g, state, group):
        """The scalar half of the step; _rprop_kernel does the arrays (optim/_kernels.py)."""
        g = -g if group["maximize"] else g
        state["step"] += 1
        c = tuple(group["etas"]) + tuple(group["step_sizes"])
        return _rprop_kernel, [theta, g, state["prev"], state["step_size"]], c


def _rprop_kernel(c, theta, g, g_prev, eta, s, tmp):
    """Rprop in place, with ufuncs."""
    eta_minus, eta_plus, step_min, step_max = c
    xp = get_array_module(theta)
    xp.multiply(g, g_prev, out=s)
    xp.sign(s, out=s)                           # s = sign(g · g_prev)
    tmp.fill(1.0)
    xp.copyto(tmp, eta_plus, where=s > 0)
    xp.copyto(tmp, eta_minus, where=s < 0)
    eta *= tmp
    xp.clip(eta, step_min, step_max, out=eta)   # η ← clip(η · factor)
    xp.copyto(g_prev, g)
    xp.copyto(g_prev, 0.0, where=s < 0)         # g_prev ← g, 0 after a sign change
    xp.sign(g_prev, out=tmp)
    tmp *= eta
    theta -= tmp                                # θ ← θ - sign(g) η


@loop_form(_rprop_kernel)
def _rprop_loop(theta, g, g_prev, eta, eta_minus, eta_plus, step_min, step_max):
    """The same, one element at a time (compiled; see optim/_kernels.py)."""
    zero, one = np.zeros(1, eta.dtype)[0], np.ones(1, eta.dtype)[0]
    for i in range(theta.size):
        s = np.sign(g[i] * g_prev[i])                                   # s = sign(g · g_prev)
        factor = eta_plus if s > 0 else (eta_minus if s < 0 else one)
        eta[i] = np.minimum(np.maximum(eta[i] * factor, step_min), step_max)  # η ← clip(η · factor)
        g_i = zero if s < 0 else g[i]                                   # skip after a sign change
        theta[i] -= np.sign(g_i) * eta[i]                               # θ ← θ - sign(g) η
        g_prev[i] = g_i                                                 # g_prev ← g
