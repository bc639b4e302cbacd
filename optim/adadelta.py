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

from minigrad.backend import get_array_module

from ._kernels import ema_square_, loop_form
from .optimizer import Optimizer, check


class Adadelta(Optimizer):
    __doc__ = __doc__  # the module docstring: citation, equations, conventions
    lazy_sparse = True

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, foreach=None, *,
                 capturable=False, maximize=False, differentiable=False, fused=None):
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize,
                        fused=fused, foreach=foreach, capturable=capturable, differentiable=differentiable)
        super().__init__(params, defaults)

    def _check_group(self, group):
        super()._check_group(group)
        check(0.0 <= group["rho"] <= 1.0, "rho", group["rho"], "0 <= rho <= 1")

    def _init_state(self, theta, group):
        xp = get_array_module(theta)
        return {"step": 0, "square_avg": xp.zeros_like(theta), "acc_delta": xp.zeros_like(theta)}

    def _update(self, theta, g, state, group):
        xp = get_array_module(theta)
        rho, eps = group["rho"], group["eps"]
        g = self._grad_with_l2(theta, g, group)
        state["step"] += 1
        Eg2, Edx2 = state["square_avg"], state["acc_delta"]
        Eg2[...] = rho * Eg2 + (1 - rho) * g * g                # E[g²] ← ρ E[g²] + (1-ρ) g²
        dx = xp.sqrt(Edx2 + eps) / xp.sqrt(Eg2 + eps) * g       # Δθ = RMS[Δθ] / RMS[g] · g
        Edx2[...] = rho * Edx2 + (1 - rho) * dx * dx            # E[Δθ²] ← ρ E[Δθ²] + (1-ρ) Δθ²
        theta -= group["lr"] * dx                               # θ ← θ - lr Δθ

    # ======================================================================== fast path
    def _update_fast(self, theta, g, state, group):
        """The scalar half of the step; _adadelta_kernel does the arrays (optim/_kernels.py)."""
        if group["maximize"] or group["weight_decay"]:
            g = self._grad_with_l2(theta, g, group)
        state["step"] += 1
        rho = group["rho"]
        c = (rho, 1 - rho, group["eps"], group["lr"])
        return _adadelta_kernel, [theta, g, state["square_avg"], state["acc_delta"]], c


def _adadelta_kernel(c, theta, g, Eg2, Edx2, dx, tmp):
    """Adadelta in place, with ufuncs."""
    rho, one_minus_rho, eps, lr = c
    xp = get_array_module(theta)
    ema_square_(Eg2, g, rho, one_minus_rho, tmp)  # E[g²] ← ρ E[g²] + (1-ρ) g²
    xp.add(Edx2, eps, out=dx)
    xp.sqrt(dx, out=dx)
    xp.add(Eg2, eps, out=tmp)
    xp.sqrt(tmp, out=tmp)
    dx /= tmp
    dx *= g                         # Δθ = RMS[Δθ] / RMS[g] · g
    ema_square_(Edx2, dx, rho, one_minus_rho, tmp)  # E[Δθ²] ← ρ E[Δθ²] + (1-ρ) Δθ²
    dx *= lr
    theta -= dx                     # θ ← θ - lr Δθ


@loop_form(_adadelta_kernel)
def _adadelta_loop(theta, g, Eg2, Edx2, rho, one_minus_rho, eps, lr):
    """The same, one element at a time (compiled; see optim/_kernels.py)."""
    for i in range(theta.size):
        Eg2[i] = Eg2[i] * rho + g[i] * g[i] * one_minus_rho             # E[g²] ← ρ E[g²] + (1-ρ) g²
        dx = np.sqrt(Edx2[i] + eps) / np.sqrt(Eg2[i] + eps) * g[i]      # Δθ = RMS[Δθ] / RMS[g] · g
        Edx2[i] = Edx2[i] * rho + dx * dx * one_minus_rho               # E[Δθ²] ← ρ E[Δθ²] + (1-ρ) Δθ²
        theta[i] -= dx * lr                                             # θ ← θ - lr Δθ
