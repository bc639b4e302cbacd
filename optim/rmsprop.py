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

from minigrad.backend import get_array_module

from ._kernels import ema_square_, loop_form
from .optimizer import Optimizer


class RMSprop(Optimizer):
    __doc__ = __doc__  # the module docstring: citation, equations, conventions
    lazy_sparse = True

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                 centered=False, capturable=False, foreach=None, maximize=False,
                 differentiable=False, *, fused=None):
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                        momentum=momentum, centered=centered, maximize=maximize, fused=fused,
                        foreach=foreach, capturable=capturable, differentiable=differentiable)
        super().__init__(params, defaults)


    def _init_state(self, theta, group):
        xp = get_array_module(theta)
        state = {"step": 0, "square_avg": xp.zeros_like(theta)}
        self._add_buffers(theta, state, group)
        return state

    @staticmethod
    def _add_buffers(theta, state, group):
        """b and ḡ exist while momentum > 0 and centered; one switched on mid-run (OneCycleLR
        cycles momentum) starts at zero."""
        xp = get_array_module(theta)
        if group["momentum"] > 0 and "momentum_buffer" not in state:
            state["momentum_buffer"] = xp.zeros_like(theta)
        if group["centered"] and "grad_avg" not in state:
            state["grad_avg"] = xp.zeros_like(theta)

    def _update(self, theta, g, state, group):
        xp = get_array_module(theta)
        lr, alpha, eps, mu = group["lr"], group["alpha"], group["eps"], group["momentum"]
        g = self._grad_with_l2(theta, g, group)
        self._add_buffers(theta, state, group)
        state["step"] += 1
        v = state["square_avg"]
        v[...] = alpha * v + (1 - alpha) * g * g        # v ← α v + (1-α) g²
        if group["centered"]:
            g_avg = state["grad_avg"]
            g_avg[...] = alpha * g_avg + (1 - alpha) * g    # ḡ ← α ḡ + (1-α) g
            d = xp.sqrt(v - g_avg * g_avg) + eps            # d = sqrt(v - ḡ²) + ε
        else:
            d = xp.sqrt(v) + eps                            # d = sqrt(v) + ε
        if mu > 0:
            b = state["momentum_buffer"]
            b[...] = mu * b + g / d                         # b ← μ b + g / d
            theta -= lr * b                                 # θ ← θ - lr b
        else:
            theta -= lr * g / d                             # θ ← θ - lr g / d

    # ======================================================================== fast path
    def _update_fast(self, theta, g, state, group):
        """The scalar half of the step; _rmsprop_kernel does the arrays (optim/_kernels.py)."""
        if group["maximize"] or group["weight_decay"]:
            g = self._grad_with_l2(theta, g, group)
        self._add_buffers(theta, state, group)
        state["step"] += 1
        centered, momentum = group["centered"], group["momentum"] > 0
        arrays = [theta, g, state["square_avg"], state["grad_avg"] if centered else None,
                  state["momentum_buffer"] if momentum else None]
        alpha = group["alpha"]
        c = (group["lr"], alpha, 1 - alpha, group["eps"], group["momentum"])
        return _rmsprop_kernel, arrays, c


def _rmsprop_kernel(c, theta, g, v, g_avg, b, d):
    """RMSprop in place, with ufuncs; g_avg is None unless centered, b None without momentum."""
    lr, alpha, one_minus_alpha, eps, mu = c
    xp = get_array_module(theta)
    ema_square_(v, g, alpha, one_minus_alpha, d)  # v ← α v + (1-α) g²
    if g_avg is not None:
        g_avg *= alpha
        xp.multiply(g, one_minus_alpha, out=d)
        g_avg += d                  # ḡ ← α ḡ + (1-α) g
        xp.multiply(g_avg, g_avg, out=d)
        xp.subtract(v, d, out=d)
        xp.sqrt(d, out=d)
    else:
        xp.sqrt(v, out=d)
    d += eps                        # d = sqrt(v [- ḡ²]) + ε
    xp.divide(g, d, out=d)
    if b is not None:
        b *= mu
        b += d                      # b ← μ b + g / d
        xp.multiply(b, lr, out=d)
    else:
        d *= lr
    theta -= d                      # θ ← θ - lr (b or g / d)


@loop_form(_rmsprop_kernel)
def _rmsprop_loop(theta, g, v, g_avg, b, lr, alpha, one_minus_alpha, eps, mu):
    """The same, one element at a time (compiled; see optim/_kernels.py); g_avg and b are
    empty when absent."""
    centered, momentum = g_avg.size > 0, b.size > 0
    for i in range(theta.size):
        v[i] = v[i] * alpha + g[i] * g[i] * one_minus_alpha        # v ← α v + (1-α) g²
        if centered:
            g_avg[i] = g_avg[i] * alpha + g[i] * one_minus_alpha    # ḡ ← α ḡ + (1-α) g
            d = np.sqrt(v[i] - g_avg[i] * g_avg[i]) + eps           # d = sqrt(v - ḡ²) + ε
        else:
            d = np.sqrt(v[i]) + eps                                 # d = sqrt(v) + ε
        if momentum:
            b[i] = b[i] * mu + g[i] / d                             # b ← μ b + g / d
            theta[i] -= b[i] * lr                                   # θ ← θ - lr b
        else:
            theta[i] -= g[i] / d * lr                               # θ ← θ - lr g / d
