"""SophiaG: Sophia with the Gauss-Newton-Bartlett estimate of the Hessian's diagonal; matches
the authors' official SophiaG (the `sophia-opt` package).

Liu, Li, Hall, Liang & Ma (2024), "Sophia: A Scalable Stochastic Second-order Optimizer for
Language Model Pre-training", Algorithms 2 and 3, as the authors' code runs them. For a loss on
the model's logits, the gradient ĝ of the loss on labels sampled from the model's own softmax
(not the data's labels) gives B ĝ ⊙ ĝ, an estimate of the Gauss-Newton diagonal (B the batch
size). As in the authors' training loop, every k steps: `ŷ = Categorical(logits).sample();
F.cross_entropy(logits, ŷ).backward(); opt.update_hessian(); opt.zero_grad()`; the factor B is
`bs`. (The Hutchinson form, which needs nothing beyond the loss, is optim.Sophia, whose
docstring says why these are two classes.)

    h ← β2 h + (1 - β2) ĝ ⊙ ĝ              update_hessian(), from each parameter's .grad
    g ← -g                                 if maximize (step())
    θ ← θ (1 - lr λ)                       weight_decay λ: always decoupled
    m ← β1 m + (1 - β1) g
    r = min(|m| / (ρ bs h + 1e-15), 1)     the clip: a step is at most lr
    θ ← θ - lr sign(m) r

Two-meaning conventions, decided as the reference: 1e-15 (the reference's constant) is added to
ρ bs h, not a floor; neither m nor h is bias-corrected; h changes only in update_hessian(), never
in step(); `bs`, the reference's step(bs=...) argument, is a hyperparameter here (default 5120,
the reference's), so state_dict keeps it. Sparse gradients are refused: update_hessian()
squares dense gradients.
"""
from __future__ import annotations

import numpy as np

from .checks import betas, flag, non_negative
from .common import zeros_like
from .hutchinson import count
from .optimizer import Optimizer, Params
from .scalars import Scalars


class SophiaG(Optimizer):
    __doc__ = __doc__  # the module docstring: citation, equations, conventions

    def __init__(self, params: Params, lr: float = 1e-4, betas: tuple[float, float] = (0.965, 0.99),
                 rho: float = 0.04, weight_decay: float = 1e-1, *, maximize: bool = False,
                 capturable: bool = False, bs: int = 5120, fused: bool | None = None) -> None:
        defaults = dict(lr=lr, betas=betas, rho=rho, weight_decay=weight_decay,
                        maximize=maximize, capturable=capturable, bs=bs, fused=fused)
        super().__init__(params, defaults)

    hyperparameters = {"lr": non_negative, "betas": betas, "rho": non_negative,
                       "weight_decay": non_negative, "maximize": flag, "bs": count}
    symbols = {"m": "exp_avg", "h_avg": "hessian"}  # h_avg: the paper's h
    never_negative = ("hessian",)  # an average of squares: checked when loaded
    decay = "decoupled"  # always: θ shrinks by 1 - lr λ (optim.explain's decay column)
    dense_only_reason = "update_hessian() squares dense gradients"

    @staticmethod
    def init(theta: np.ndarray, group: dict) -> dict:
        """m = h = 0."""
        return zeros_like(theta, "exp_avg", "hessian")

    def update_hessian(self) -> None:
        """h ← β2 h + (1 - β2) ĝ ⊙ ĝ for every parameter with a gradient, ĝ its .grad: call
        it after a backward of the loss on labels sampled from the model's own output (the
        class's docstring), every k steps; it moves no parameter and counts no step."""
        work = [(p, group) for group in self.param_groups for p in group["params"]
                if p.grad is not None]
        for p, _ in work:
            self._check_grad(p)  # all checked before any is written
        for p, group in work:
            state = self.state.get(p)
            if state is None:
                state = self.state[p] = self.start_state(p.data, group)
            beta2, g, h_avg = group["betas"][1], p.grad, state["hessian"]
            h_avg[...] = beta2 * h_avg + (1 - beta2) * g * g       # h ← β2 h + (1-β2) ĝ ⊙ ĝ

    @staticmethod
    def scalars(t: int, group: dict, state: dict) -> Scalars:
        """β1, lr, ρ, bs, the reference's 1e-15 and the decoupled decay's λ (none when λ = 0:
        the reference's θ (1 - 0) is θ)."""
        return Scalars(lr=group["lr"], beta1=group["betas"][0], rho=group["rho"],
                       bs=group["bs"], eps=1e-15, weight_decay=group["weight_decay"],
                       decoupled=group["weight_decay"] != 0, maximize=group["maximize"])

    @staticmethod
    def rule(theta: np.ndarray, g: np.ndarray, m: np.ndarray, h_avg: np.ndarray,
             h: Scalars) -> dict:
        """One SophiaG step on elements (or arrays): the equations above, in order."""
        if h.maximize:
            g = -g                                                  # g ← -g
        if h.decoupled:
            theta = theta * (1 - h.lr * h.weight_decay)             # θ ← θ (1 - lr λ)
        m = h.beta1 * m + (1 - h.beta1) * g                         # m ← β1 m + (1-β1) g
        r = np.minimum(np.abs(m) / (h.rho * h.bs * h_avg + h.eps), 1.0)  # r = min(|m| / (ρ bs h + ε), 1)
        theta = theta - h.lr * np.sign(m) * r                       # θ ← θ - lr sign(m) r
        return dict(theta=theta, m=m)

    step_size_rule = "lr/(ρ bs h+1e-15), at most lr"

    @staticmethod
    def explain(theta: np.ndarray, g: np.ndarray, m: np.ndarray, h_avg: np.ndarray,
                h: Scalars) -> dict:
        """The step size lr / (ρ bs h + 1e-15) before the clip, the update, and the share of
        elements whose step the clip bounds (a step of exactly lr)."""
        ratio = np.abs(m) / (h.rho * h.bs * h_avg + h.eps)
        return dict(step_size=h.lr / (h.rho * h.bs * h_avg + h.eps),
                    update=-h.lr * np.sign(m) * np.minimum(ratio, 1.0), clipped_share=ratio > 1)

