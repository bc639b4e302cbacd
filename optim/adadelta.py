"""Adadelta; matches torch.optim.Adadelta.

Zeiler (2012), "ADADELTA: An Adaptive Learning Rate Method", Algorithm 1, with PyTorch's extra
learning rate (default 1.0, the paper's method):

    g ← -g                                  if maximize
    g ← g + λθ                              weight_decay λ: L2, before everything else
    E[g²] ← ρ E[g²] + (1 - ρ) g²
    Δθ = sqrt(E[Δθ²] + ε) / sqrt(E[g²] + ε) · g       eps ε inside both square roots
    E[Δθ²] ← ρ E[Δθ²] + (1 - ρ) Δθ²
    θ ← θ - lr Δθ

Sparse gradients: lazy: only touched rows of E[g²], E[Δθ²] and θ change (the dense update would
decay the untouched rows' averages); weight decay reaches touched rows only.
"""
import numpy as np

from .common import weight_decay, weight_decay_scalars, zeros
from .optimizer import Optimizer, check
from .trace import Scalars


def update(theta, g, Eg2, Edx2, h):
    """One Adadelta step on elements (or arrays): the equations above, in order."""
    theta, g = weight_decay(theta, g, h)                        # maximize; L2 decay
    Eg2 = h.rho * Eg2 + (1 - h.rho) * g * g                     # E[g²] ← ρ E[g²] + (1-ρ) g²
    dx = np.sqrt(Edx2 + h.eps) / np.sqrt(Eg2 + h.eps) * g       # Δθ = RMS[Δθ] / RMS[g] · g
    Edx2 = h.rho * Edx2 + (1 - h.rho) * dx * dx                 # E[Δθ²] ← ρ E[Δθ²] + (1-ρ) Δθ²
    theta = theta - h.lr * dx                                   # θ ← θ - lr Δθ
    return theta, Eg2, Edx2


class Adadelta(Optimizer):
    __doc__ = __doc__  # the module docstring: citation, equations, conventions
    lazy_sparse = True
    rule = staticmethod(update)
    state_arrays = ("square_avg", "acc_delta")

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, foreach=None, *,
                 capturable=False, maximize=False, differentiable=False, fused=None):
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize,
                        fused=fused, foreach=foreach, capturable=capturable, differentiable=differentiable)
        super().__init__(params, defaults)

    def _check_group(self, group):
        super()._check_group(group)
        check(0.0 <= group["rho"] <= 1.0, "rho", group["rho"], "0 <= rho <= 1")

    def _init_state(self, theta, group):
        return zeros(theta, *self.state_arrays)

    def scalars(self, theta, state, group):
        state["step"] += 1
        return Scalars(rho=group["rho"], eps=group["eps"], **weight_decay_scalars(group))
