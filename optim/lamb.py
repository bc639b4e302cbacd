"""LAMB: layer-wise adaptive moments, for large batches.

You et al. (2020), "Large Batch Optimization for Deep Learning: Training BERT in 76 minutes",
Algorithm 2, with φ the identity. Not in torch.optim; tested against a literal transcription of
the paper's algorithm. Each parameter tensor is one "layer": its step is scaled by the trust
ratio ||θ|| / ||r + λθ||.

    g ← -g                                  if maximize
    m ← β1 m + (1 - β1) g
    v ← β2 v + (1 - β2) g²
    m̂ = m / (1 - β1^t),  v̂ = v / (1 - β2^t)
    r = m̂ / (sqrt(v̂) + ε)                  eps ε after the bias correction
    u = r + λθ                              weight_decay λ: decoupled, inside the trust ratio
    θ ← θ - lr ||θ|| / ||u|| · u            trust ratio 1 when either norm is 0

Not elementwise: the trust ratio takes the norms of the whole tensor, so the step is an
`update` hook on the whole parameter, not a rule.
"""
from __future__ import annotations

import numpy as np

from minigrad.backend import get_array_module

from .checks import betas, flag, non_negative
from .common import bias_corrections, zeros_like
from .optimizer import Optimizer, Params
from .scalars import Scalars


class LAMB(Optimizer):
    __doc__ = __doc__  # the module docstring: citation, equations, conventions

    def __init__(self, params: Params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-6, weight_decay: float = 0.0, *, maximize: bool = False,
                 fused: bool | None = None) -> None:
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                        maximize=maximize, fused=fused)
        super().__init__(params, defaults)

    hyperparameters = {"lr": non_negative, "betas": betas, "eps": non_negative,
                       "weight_decay": non_negative, "maximize": flag}
    symbols = {"m": "exp_avg", "v": "exp_avg_sq"}
    never_negative = ("exp_avg_sq",)  # sums and averages of squares: checked when loaded
    rule = None  # not elementwise: see update
    dense_only_reason = "its trust ratio needs the norm of the whole tensor"
    decay = "decoupled"  # always: optim.explain's decay column (λθ joins the update, not g)

    @staticmethod
    def init(theta: np.ndarray, group: dict) -> dict:
        """m = v = 0."""
        return zeros_like(theta, "exp_avg", "exp_avg_sq")

    @staticmethod
    def scalars(t: int, group: dict, state: dict) -> Scalars:
        """The bias corrections 1 - β1^t and 1 - β2^t."""
        beta1, beta2 = group["betas"]
        return Scalars(**bias_corrections(t, beta1, beta2))

    @staticmethod
    def shrink(group: dict) -> float | None:
        """optim.explain's decay factor: none, since the trust ratio scales λθ with the rest of
        the update, so θ shrinks by no one factor per step."""
        return None

    @classmethod
    def update(cls, theta: np.ndarray, g: np.ndarray, state: dict, group: dict) -> None:
        """One LAMB step on a whole parameter, in place (NumPy or CuPy arrays): the equations
        above, in order."""
        xp = get_array_module(theta)
        lr, (beta1, beta2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        g = -g if group["maximize"] else g
        h = cls.next_scalars(theta, state, group)       # t advances
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m[...] = beta1 * m + (1 - beta1) * g            # m ← β1 m + (1-β1) g
        v[...] = beta2 * v + (1 - beta2) * g * g        # v ← β2 v + (1-β2) g²
        m_hat = m / h.bias_correction1                  # m̂
        v_hat = v / h.bias_correction2                  # v̂
        r = m_hat / (xp.sqrt(v_hat) + eps)              # r = m̂ / (sqrt(v̂) + ε)
        u = r + wd * theta                              # u = r + λθ
        theta_norm = float(xp.linalg.norm(theta.ravel()))
        u_norm = float(xp.linalg.norm(u.ravel()))
        trust = theta_norm / u_norm if theta_norm > 0 and u_norm > 0 else 1.0
        theta -= lr * trust * u                         # θ ← θ - lr ||θ||/||u|| u
