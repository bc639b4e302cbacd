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
from minigrad.backend import get_array_module

from .optimizer import Optimizer, check


class Rprop(Optimizer):
    __doc__ = __doc__  # the module docstring: citation, equations, conventions
    dense_only_reason = "it is a full-batch method: a missing row would count as a sign change"

    def __init__(self, params, lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50), *,
                 maximize=False):
        defaults = dict(lr=lr, etas=tuple(etas), step_sizes=tuple(step_sizes), maximize=maximize)
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
