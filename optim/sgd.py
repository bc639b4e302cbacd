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
import numpy as np

from .common import weight_decay, weight_decay_scalars
from .optimizer import Optimizer
from .trace import Scalars


def update(theta, g, b, h):
    """One SGD step on elements (or arrays): the equations above, in order."""
    theta, g = weight_decay(theta, g, h)                # maximize; L2 decay
    if h.momentum:
        if h.first:
            b = g                                       # b ← g
        else:
            b = h.mu * b + (1 - h.dampening) * g        # b ← μ b + (1 - τ) g
        if h.nesterov:
            g = g + h.mu * b                            # g ← g + μ b
        else:
            g = b                                       # g ← b
    theta = theta - h.lr * g                            # θ ← θ - lr g
    return theta, b


class SGD(Optimizer):
    __doc__ = __doc__  # the module docstring: citation, equations, conventions
    lazy_sparse = True
    rule = staticmethod(update)
    state_arrays = ("momentum_buffer",)

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

    def scalars(self, theta, state, group):
        mu = group["momentum"]
        first = mu != 0 and state.get("momentum_buffer") is None
        if first:  # the buffer starts as the first gradient (momentum may also start mid-run)
            state["momentum_buffer"] = np.zeros_like(theta)
        return Scalars(mu=mu, dampening=group["dampening"], momentum=mu != 0, first=first,
                       nesterov=bool(group["nesterov"]), **weight_decay_scalars(group))
