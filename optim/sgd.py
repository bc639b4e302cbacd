"""SGD with momentum, dampening and Nesterov momentum; matches torch.optim.SGD.

Sutskever et al. (2013), "On the importance of initialization and momentum in deep learning",
in PyTorch's formulation (the learning rate outside the buffer):

    g ← -g                          if maximize
    g ← g + λθ                      weight_decay λ: an L2 penalty, before everything else
    b ← g                           on the first step (a copy: no dampening)
    b ← μ b + (1 - τ) g             afterwards (momentum μ, dampening τ)
    g ← g + μ b  if nesterov, else  g ← b
    θ ← θ - lr g

Sparse gradients: lazy. Without momentum (and weight decay) this is exactly the dense update, since
untouched rows have zero gradient. With momentum, only touched rows of the buffer decay and move
(the dense update would keep moving untouched rows along their buffers); weight decay reaches
touched rows only.
"""

from minigrad.backend import get_array_module

from ._kernels import loop_form
from .optimizer import Optimizer


class SGD(Optimizer):
    __doc__ = __doc__  # the module docstring: citation, equations, conventions
    lazy_sparse = True

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 nesterov=False, *, maximize=False, fused=None,
                 foreach=None, differentiable=False):
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening,
                        weight_decay=weight_decay, nesterov=nesterov, maximize=maximize,
                        fused=fused, foreach=foreach, differentiable=differentiable)
        super().__init__(params, defaults)

    def _check_group(self, group):
        super()._check_group(group)
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening "
                             f"(got momentum={group['momentum']}, dampening={group['dampening']})")

    def _init_state(self, theta, group):
        return {"momentum_buffer": None} if group["momentum"] != 0 else {}

    def _update(self, theta, g, state, group):
        lr, mu, tau = group["lr"], group["momentum"], group["dampening"]
        g = self._grad_with_l2(theta, g, group)
        if mu != 0:
            b = state["momentum_buffer"]
            if b is None:
                b = state["momentum_buffer"] = g.copy()  # b ← g
            else:
                b[...] = mu * b + (1 - tau) * g           # b ← μ b + (1 - τ) g
            g = g + mu * b if group["nesterov"] else b    # Nesterov looks one step ahead
        theta -= lr * g                                   # θ ← θ - lr g

    # ======================================================================== fast path
    def _update_fast(self, theta, g, state, group):
        """The scalar half of the step; _sgd_kernel does the arrays (optim/_kernels.py)."""
        mu = group["momentum"]
        if group["maximize"] or group["weight_decay"]:
            g = self._grad_with_l2(theta, g, group)
        b, first = state.get("momentum_buffer"), False
        if mu != 0 and b is None:
            b = state["momentum_buffer"] = g.copy()  # b ← g on the first step
            first = True
        c = (group["lr"], mu, 1 - group["dampening"], bool(group["nesterov"]), first)
        return _sgd_kernel, [theta, g, b], c


def _sgd_kernel(c, theta, g, b, tmp):
    """SGD in place, with ufuncs; b is None without momentum."""
    lr, mu, one_minus_tau, nesterov, first = c
    xp = get_array_module(theta)
    if b is not None:
        if not first:
            b *= mu
            if one_minus_tau != 1.0:    # (1 - τ) g is g itself when τ = 0, the default
                xp.multiply(g, one_minus_tau, out=tmp)
                b += tmp                # b ← μ b + (1 - τ) g
            else:
                b += g
        if nesterov:
            xp.multiply(b, mu, out=tmp)
            tmp += g                    # g ← g + μ b
            tmp *= lr
        else:
            xp.multiply(b, lr, out=tmp)  # g ← b
    else:
        xp.multiply(g, lr, out=tmp)
    theta -= tmp                        # θ ← θ - lr g


@loop_form(_sgd_kernel)
def _sgd_loop(theta, g, b, lr, mu, one_minus_tau, nesterov, first):
    """The same, one element at a time (compiled; see optim/_kernels.py); b empty without
    momentum."""
    momentum = b.size > 0
    for i in range(theta.size):
        d = g[i]
        if momentum:
            if not first:
                b[i] = b[i] * mu + g[i] * one_minus_tau     # b ← μ b + (1 - τ) g
            if nesterov:
                d = b[i] * mu + g[i]                        # g ← g + μ b
            else:
                d = b[i]                                    # g ← b
        theta[i] -= d * lr                                  # θ ← θ - lr g
