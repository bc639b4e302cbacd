"""Lion: evolved sign momentum.

Chen et al. (2023), "Symbolic Discovery of Optimization Algorithms", Algorithm 2. Not in
torch.optim; tested against a literal transcription of the paper's algorithm. Every coordinate
moves by exactly lr per step (plus decay), so use a learning rate 3-10x smaller than AdamW's and
a weight decay 3-10x larger (the paper's advice).

    g ← -g                                  if maximize
    c = β1 m + (1 - β1) g                   the update direction interpolates ...
    θ ← θ - lr (sign(c) + λθ)               ... weight_decay λ: decoupled, scaled by lr
    m ← β2 m + (1 - β2) g                   ... and momentum tracks with a slower β2

The decay is decoupled (AdamW's kind): θ - lr λθ = θ (1 - lr λ), never added to g, so it does
not enter the momentum or the sign. There is no L2 form and no decoupled_weight_decay switch.

Sparse gradients: lazy: only touched rows of m and θ move; weight decay reaches touched rows only.
"""
from __future__ import annotations

import numpy as np

from .checks import betas, flag, non_negative
from .common import zeros_like
from .optimizer import Optimizer, Params
from .scalars import Scalars


class Lion(Optimizer):
    __doc__ = __doc__  # the module docstring: citation, equations, conventions

    def __init__(self, params: Params, lr: float = 1e-4, betas: tuple[float, float] = (0.9, 0.99),
                 weight_decay: float = 0.0, *, maximize: bool = False,
                 fused: bool | None = None) -> None:
        defaults = dict(lr=lr, betas=betas, weight_decay=weight_decay, maximize=maximize,
                        fused=fused)
        super().__init__(params, defaults)

    hyperparameters = {"lr": non_negative, "betas": betas, "weight_decay": non_negative,
                       "maximize": flag}
    symbols = {"m": "exp_avg"}
    decay = "decoupled"  # always: optim.explain's decay column (θ shrinks by 1 - lr λ)
    lazy_sparse = True

    @staticmethod
    def init(theta: np.ndarray, group: dict) -> dict:
        """m = 0."""
        return zeros_like(theta, "exp_avg")

    @staticmethod
    def scalars(t: int, group: dict, state: dict) -> Scalars:
        """β1, β2, lr and the decoupled decay's numbers (Lion's step needs no t)."""
        beta1, beta2 = group["betas"]
        wd = group["weight_decay"]
        # the decay is decoupled (θ - lr λθ), never L2: said so to whoever reads h
        return Scalars(beta1=beta1, beta2=beta2, lr=group["lr"], weight_decay=wd,
                       maximize=group["maximize"], decoupled=wd != 0, l2=False)

    @staticmethod
    def rule(theta: np.ndarray, g: np.ndarray, m: np.ndarray, h: Scalars) -> dict:
        """One Lion step on elements or arrays (NumPy or CuPy): the equations above, in order."""
        if h.maximize:
            g = -g                                                  # g ← -g
        c = h.beta1 * m + (1 - h.beta1) * g                         # c = β1 m + (1-β1) g
        theta = theta - h.lr * (np.sign(c) + h.weight_decay * theta)  # θ ← θ - lr (sign(c) + λθ)
        m = h.beta2 * m + (1 - h.beta2) * g                         # m ← β2 m + (1-β2) g
        return dict(theta=theta, m=m)

    step_size_rule = "lr"

    @staticmethod
    def explain(theta: np.ndarray, g: np.ndarray | None, m: np.ndarray, h: Scalars) -> dict:
        """The step size lr (every coordinate moves by lr, plus decay) and the sign agreement:
        the share of elements, among those where both are nonzero, where m and the current
        gradient g have the same sign (None without a gradient, or with no such element). No
        update: it needs the step's gradient, which the state does not keep."""
        if g is None:
            return dict(step_size=h.lr, sign_agreement=None)
        both = (m != 0) & (g != 0)
        n = int(both.sum())
        agree = None if n == 0 else float(((np.sign(m) == np.sign(g)) & both).sum()) / n
        return dict(step_size=h.lr, sign_agreement=agree)
