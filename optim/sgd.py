"""SGD with momentum, dampening and Nesterov momentum; matches torch.optim.SGD.

Sutskever et al. (2013), "On the importance of initialization and momentum in deep learning",
in PyTorch's formulation (the learning rate outside the buffer):

    g ← -g                          if maximize
    g ← g + λθ                      weight_decay λ: an L2 penalty, before everything else
    b ← g                           on the first step (a copy: no dampening)
    b ← μ b + (1 - τ) g             afterwards (momentum μ, dampening τ)
    g ← g + μ b  if nesterov, else  g ← b
    θ ← θ - lr g

torch keeps no step count for SGD, and its momentum buffer b (state "momentum_buffer") is None
until the first step with momentum; a group without momentum keeps no state at all.

Sparse gradients: lazy. Without momentum (and weight decay) this is exactly the dense update, since
untouched rows have zero gradient. With momentum, only touched rows of the buffer decay and move
(the dense update would keep moving untouched rows along their buffers); weight decay reaches
touched rows only.
"""
from __future__ import annotations

import numpy as np

from minigrad.backend import get_array_module

from .checks import flag, non_negative, real
from .common import weight_decay, weight_decay_scalars
from .optimizer import Optimizer, Params
from .scalars import Scalars


class SGD(Optimizer):
    __doc__ = __doc__  # the module docstring: citation, equations, conventions

    def __init__(self, params: Params, lr: float = 1e-3, momentum: float = 0.0,
                 dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False, *,
                 maximize: bool = False, fused: bool | None = None, foreach: bool | None = None,
                 differentiable: bool = False) -> None:
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening,
                        weight_decay=weight_decay, nesterov=nesterov, maximize=maximize,
                        fused=fused, foreach=foreach, differentiable=differentiable)
        super().__init__(params, defaults)

    hyperparameters = {"lr": non_negative, "momentum": non_negative, "dampening": real,
                       "weight_decay": non_negative, "nesterov": flag, "maximize": flag}
    symbols = {"b": "momentum_buffer"}
    counts_steps = False  # torch's SGD keeps no "step"
    lazy_sparse = True

    @staticmethod
    def validate(group: dict) -> None:
        """Nesterov's look-ahead g + μ b needs a momentum, and a buffer without dampening."""
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening "
                             f"(got momentum={group['momentum']}, dampening={group['dampening']})")

    @staticmethod
    def init(theta: np.ndarray, group: dict) -> dict:
        """b = None (torch's) until the first step; no state at all without momentum."""
        return {"momentum_buffer": None} if group["momentum"] != 0 else {}

    @staticmethod
    def add_state(theta: np.ndarray, state: dict, group: dict) -> None:
        """The array the first step with momentum writes b ← g into (momentum may also start
        mid-run, under a scheduler that cycles it)."""
        if group["momentum"] != 0 and state.get("momentum_buffer") is None:
            state["momentum_buffer"] = get_array_module(theta).zeros_like(theta)

    @staticmethod
    def scalars(t: None, group: dict, state: dict) -> Scalars:
        """μ, τ, the flags momentum, nesterov and first (b ← g when the buffer is yet to be
        made), and the decay's numbers; SGD counts no steps (t is None)."""
        mu = group["momentum"]
        return Scalars(mu=mu, dampening=group["dampening"], momentum=mu != 0,
                       first=mu != 0 and state.get("momentum_buffer") is None,  # b ← g
                       nesterov=bool(group["nesterov"]), **weight_decay_scalars(group))

    @staticmethod
    def rule(theta: np.ndarray, g: np.ndarray, b: np.ndarray | None, h: Scalars) -> dict:
        """One SGD step on elements or arrays (NumPy or CuPy): the equations above, in order."""
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
        return dict(theta=theta, b=b)

    step_size_rule = "lr"

    @staticmethod
    def explain(theta: np.ndarray, g: np.ndarray, b: np.ndarray | None, h: Scalars) -> dict:
        """Every element's step size is lr; with momentum and without Nesterov the last update
        was -lr b (with Nesterov it also took that step's gradient, which the state lacks)."""
        out = dict(step_size=h.lr)
        if b is not None and not h.nesterov:
            out["update"] = -h.lr * b
        return out

    @staticmethod
    def shrink(group: dict) -> float | None:
        """optim.explain's decay factor: without momentum the L2 step θ - lr (g + λθ) is
        θ (1 - lr λ) - lr g; with momentum λθ goes into b, and no one factor says it."""
        return None if group["momentum"] else 1 - group["lr"] * group["weight_decay"]
