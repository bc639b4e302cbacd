"""ASGD: averaged stochastic gradient descent; matches torch.optim.ASGD.

Polyak & Juditsky (1992), "Acceleration of Stochastic Approximation by Averaging", with the
decaying step size of Bottou (2012), "Stochastic Gradient Descent Tricks", section 5.3, in
PyTorch's formulation. θ takes plain SGD steps with a decaying rate η; the average θ̄ of the
iterates (state "ax") is kept beside θ, and is what one evaluates (copy it into θ yourself):

    g ← -g                               if maximize
    g ← g + λ_w θ                        weight_decay λ_w: an L2 penalty
    θ ← θ (1 - λ η)                      lambd λ: the decay term of Bottou's step
    θ ← θ - η g
    θ̄ ← θ̄ + μ (θ - θ̄)                    θ̄ ← θ while μ = 1 (before averaging starts)
    η ← lr / (1 + λ lr t)^α              for the NEXT step; alpha α
    μ ← 1 / max(1, t - t0)               averaging starts after step t0

Sparse gradients: lazy: only touched rows of θ and θ̄ move; η and μ advance every step.

Two-meaning conventions, decided as torch: η and μ are updated after the step, so step t
uses the η computed at t - 1 (the first step uses η = lr, the lr of the group when the state
is created: a schedule that changes lr reaches η one step late, through η's formula);
λ shrinks θ with the current η, before the gradient step. torch keeps η and μ as 0-d tensors
in its default dtype (float32 unless set to float64); here they are Python floats.
"""
import numpy as np

from .common import weight_decay, weight_decay_scalars
from .optimizer import Optimizer, check
from .trace import Scalars


def update(theta, g, ax, h):
    """One ASGD step on elements (or arrays): the equations above, in order."""
    theta, g = weight_decay(theta, g, h)                # maximize; L2 decay
    theta = theta * (1 - h.lambd * h.eta)               # θ ← θ (1 - λ η)
    theta = theta - h.eta * g                           # θ ← θ - η g
    if h.averaging:
        ax = ax + h.mu * (theta - ax)                   # θ̄ ← θ̄ + μ (θ - θ̄)
    else:
        ax = theta                                      # θ̄ ← θ  (μ = 1)
    return theta, ax


class ASGD(Optimizer):
    __doc__ = __doc__  # the module docstring: citation, equations, conventions
    lazy_sparse = True
    rule = staticmethod(update)
    state_arrays = ("ax",)

    def __init__(self, params, lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0.0,
                 foreach=None, maximize=False, differentiable=False, capturable=False, *,
                 fused=None):
        defaults = dict(lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay,
                        foreach=foreach, maximize=maximize, differentiable=differentiable,
                        capturable=capturable, fused=fused)
        super().__init__(params, defaults)

    def _check_group(self, group):
        super()._check_group(group)  # lr, weight_decay, alpha >= 0
        check(group["lambd"] >= 0.0, "lambd", group["lambd"], "lambd >= 0")

    def _init_state(self, theta, group):
        return {"step": 0, "eta": float(group["lr"]), "mu": 1.0, "ax": np.zeros_like(theta)}

    def scalars(self, theta, state, group):
        """This step uses the η and μ computed at the last one; then the next ones."""
        lr, lambd, alpha = group["lr"], group["lambd"], group["alpha"]
        state["step"] += 1
        t, eta, mu = state["step"], state["eta"], state["mu"]
        state["eta"] = lr / (1 + lambd * lr * t) ** alpha  # η ← lr / (1 + λ lr t)^α
        state["mu"] = 1 / max(1, t - group["t0"])           # μ ← 1 / max(1, t - t0)
        return Scalars(eta=eta, mu=mu, averaging=mu != 1, lambd=lambd,
                       **weight_decay_scalars(group))
