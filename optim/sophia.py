"""Sophia: a clipped, Hessian-preconditioned momentum step, with Hutchinson's estimate of the
Hessian's diagonal; matches pytorch_optimizer.SophiaH. (The Gauss-Newton-Bartlett form, the
authors' SophiaG, is optim.SophiaG, optim/sophiag.py.)

Liu, Li, Hall, Liang & Ma (2024), "Sophia: A Scalable Stochastic Second-order Optimizer for
Language Model Pre-training", Algorithm 3: momentum m, an average h of a Hessian-diagonal
estimate refreshed every k steps, and an update clipped elementwise, so that where the curvature
is small, negative or badly estimated a coordinate moves at most a fixed amount. D is the
Hutchinson estimate z ⊙ (H z) (optim/hutchinson.py), made every update_period steps from the
graph that `loss.backward(create_graph=True)` leaves, or given as step(hessian=[...]):

    g ← -g                                 if maximize
    θ ← θ (1 - lr λ)                       weight_decay λ, weight_decouple (the default);
                                           fixed_decay: θ ← θ (1 - λ)
    g ← g + λθ                             weight_decouple=False: an L2 penalty
    m ← β1 m + (1 - β1) g
    h ← β2 h + (1 - β2) D                  only on a step that estimated D (else h holds)
    u = clip(m / max(h, ε), -p, p)         p bounds every coordinate's step at lr p
    θ ← θ - lr u

Why two classes, Sophia and SophiaG, and not one with an `estimator` argument: the estimator is
not the only difference. The two references write the clip differently (SophiaH bounds
m / max(h, ε) by p, so a step is at most lr·p; SophiaG bounds |m| / (ρ·bs·h) by 1, so at most
lr), with different hyperparameters and defaults, and their estimates arrive differently
(SophiaH's from the gradient's graph in step(); SophiaG's from a second backward on sampled
labels, which only the training loop can make, through update_hessian()). A flag that switched
between them would switch two algorithms; two classes keep each as its reference, drop-in, as
torch keeps one class per algorithm. `Sophia` is the Hutchinson form because it needs nothing
beyond the loss (any model, `minigrad compare`); the authors use SophiaG for language models.

Two-meaning conventions, decided as the reference: ε floors h (max(h, ε)), it is not added; h
may be negative (a Hutchinson estimate is), and then the clip gives the full step lr·p in the
direction of -m; neither m nor h is bias-corrected; between estimates h is not updated with the
old D. D is state, as in AdaHessian (optim/hutchinson.py), so state_dict keeps it and a resumed
run continues bit for bit. Sparse gradients are refused: the estimate differentiates the dense
gradient.
"""
from __future__ import annotations

import numpy as np

from .checks import betas, flag, non_negative
from .common import zeros_like
from .hutchinson import HessianOptimizer, count, distribution
from .optimizer import Params
from .scalars import Scalars


class Sophia(HessianOptimizer):
    __doc__ = __doc__  # the module docstring: citation, equations, conventions

    def __init__(self, params: Params, lr: float = 6e-2, betas: tuple[float, float] = (0.96, 0.99),
                 weight_decay: float = 0.0, weight_decouple: bool = True,
                 fixed_decay: bool = False, p: float = 1e-2, update_period: int = 10,
                 num_samples: int = 1, hessian_distribution: str = "gaussian",
                 eps: float = 1e-12, maximize: bool = False,
                 foreach: bool | None = None, fused: bool | None = None) -> None:
        defaults = dict(lr=lr, betas=betas, weight_decay=weight_decay,
                        weight_decouple=weight_decouple, fixed_decay=fixed_decay, p=p,
                        update_period=update_period, num_samples=num_samples,
                        hessian_distribution=hessian_distribution, eps=eps, maximize=maximize,
                        foreach=foreach, fused=fused)
        super().__init__(params, defaults)

    hyperparameters = {"lr": non_negative, "betas": betas, "weight_decay": non_negative,
                       "weight_decouple": flag, "fixed_decay": flag, "p": non_negative,
                       "update_period": count, "num_samples": count,
                       "hessian_distribution": distribution, "eps": non_negative,
                       "maximize": flag}
    # h_avg: the paper's h (h is the rule's scalars here)
    symbols = {"m": "momentum", "h_avg": "hessian_moment", "D": "hessian"}

    @staticmethod
    def init(theta: np.ndarray, group: dict) -> dict:
        """m = h = 0, D = 0, estimated at step 0 (never)."""
        return {**zeros_like(theta, "momentum", "hessian_moment", "hessian"), "hessian_step": 0}

    @staticmethod
    def decay(group: dict) -> str:
        """optim.explain's decay column: decoupled unless weight_decouple=False."""
        return "decoupled" if group["weight_decouple"] else "L2"

    @staticmethod
    def shrink(group: dict) -> float | None:
        """optim.explain's decay factor: 1 - lr λ, or 1 - λ with fixed_decay (L2: none)."""
        if not group["weight_decouple"]:
            return None
        return 1 - group["weight_decay"] * (1.0 if group["fixed_decay"] else group["lr"])

    @staticmethod
    def scalars(t: int, group: dict, state: dict) -> Scalars:
        """β1, β2, ε, the clip p, whether D is new this step, and the decay's numbers."""
        beta1, beta2 = group["betas"]
        wd, lr = group["weight_decay"], group["lr"]
        return Scalars(lr=lr, beta1=beta1, beta2=beta2, eps=group["eps"], p=group["p"],
                       fresh=state["hessian_step"] == t, maximize=group["maximize"],
                       decoupled=group["weight_decouple"] and wd != 0,
                       l2=not group["weight_decouple"] and wd != 0, weight_decay=wd,
                       shrink_by=wd * (1.0 if group["fixed_decay"] else lr))

    @staticmethod
    def rule(theta: np.ndarray, g: np.ndarray, m: np.ndarray, h_avg: np.ndarray, D: np.ndarray,
             h: Scalars) -> dict:
        """One Sophia (Hutchinson) step on elements (or arrays): the equations above, in order."""
        if h.maximize:
            g = -g                                                  # g ← -g
        if h.decoupled:
            theta = theta * (1 - h.shrink_by)                       # θ ← θ (1 - lr λ)
        elif h.l2:
            g = g + h.weight_decay * theta                          # g ← g + λθ
        m = h.beta1 * m + (1 - h.beta1) * g                         # m ← β1 m + (1-β1) g
        if h.fresh:
            h_avg = h.beta2 * h_avg + (1 - h.beta2) * D             # h ← β2 h + (1-β2) D
        u = m / np.maximum(h_avg, h.eps)                            # m / max(h, ε) ...
        u = np.minimum(np.maximum(u, -h.p), h.p)                    # ... clipped to [-p, p]
        theta = theta - h.lr * u                                    # θ ← θ - lr u
        return dict(theta=theta, m=m, h_avg=h_avg)

    step_size_rule = "lr/max(h,ε), clipped at lr p"

    @staticmethod
    def explain(theta: np.ndarray, g: np.ndarray, m: np.ndarray, h_avg: np.ndarray,
                D: np.ndarray, h: Scalars) -> dict:
        """The step size lr / max(h, ε) before the clip, the update, and the share of elements
        whose step the clip bounds."""
        u = m / np.maximum(h_avg, h.eps)
        clipped = np.abs(u) > h.p
        return dict(step_size=h.lr / np.maximum(h_avg, h.eps),
                    update=-h.lr * np.minimum(np.maximum(u, -h.p), h.p), clipped_share=clipped)

