"""SparseAdam: Adam for sparse gradients only; matches torch.optim.SparseAdam.

Kingma & Ba (2015), applied lazily to the rows a sparse gradient touches, in PyTorch's form,
which puts eps in the paper's section-2 "ε-hat" place: added to sqrt(v) BEFORE the bias
correction of v (unlike optim.Adam, whose lazy mode adds it after):

    g ← -g                                   if maximize
    m_i ← β1 m_i + (1 - β1) g_i              touched rows i only
    v_i ← β2 v_i + (1 - β2) g_i²
    θ_i ← θ_i - lr sqrt(1 - β2^t) / (1 - β1^t) · m_i / (sqrt(v_i) + ε)
t counts the parameter's steps. No weight decay. Dense gradients raise (use Adam).

The rule is elementwise; the owner (optim/optimizer.py) runs it on the touched rows of θ, m and
v, gathered, and writes them back: rows never touched keep their moments.
"""
from __future__ import annotations

import math

import numpy as np

from minigrad.sparse import RowSparseGrad

from .checks import betas, check, flag, non_negative
from .common import zeros_like
from .optimizer import Optimizer, Params
from .scalars import Scalars


def _positive(name: str, value: object) -> float:
    """ε > 0: the denominator sqrt(v) + ε of a row never touched before is ε."""
    value = non_negative(name, value)
    check(value > 0.0, name, value, "> 0")
    return value


class SparseAdam(Optimizer):
    __doc__ = __doc__  # the module docstring: citation, equations, conventions

    def __init__(self, params: Params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, maximize: bool = False) -> None:
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, maximize=maximize))

    hyperparameters = {"lr": non_negative, "betas": betas, "eps": _positive, "maximize": flag}
    symbols = {"m": "exp_avg", "v": "exp_avg_sq"}
    never_negative = ("exp_avg_sq",)  # sums and averages of squares: checked when loaded
    lazy_sparse = True

    def _check_grad(self, p):
        if not isinstance(p.grad, RowSparseGrad):
            raise TypeError("SparseAdam does not support dense gradients; use Adam, or "
                            "Embedding(sparse=True) for the parameters given to SparseAdam")
        super()._check_grad(p)

    @staticmethod
    def init(theta: np.ndarray, group: dict) -> dict:
        """m = v = 0."""
        return zeros_like(theta, "exp_avg", "exp_avg_sq")

    @staticmethod
    def scalars(t: int, group: dict, state: dict) -> Scalars:
        """1 - β1 and 1 - β2, as torch computes them (in Python floats, then in the arrays'
        precision: float32 rounds 1 - 0.9 once, not 0.9 first); the step size
        lr sqrt(1 - β2^t) / (1 - β1^t): both bias corrections in one number."""
        lr, (beta1, beta2) = group["lr"], group["betas"]
        return Scalars(one_minus_beta1=1 - beta1, one_minus_beta2=1 - beta2, eps=group["eps"],
                       maximize=group["maximize"],
                       step_size=lr * math.sqrt(1 - beta2 ** t) / (1 - beta1 ** t))

    @staticmethod
    def rule(theta: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray, h: Scalars) -> dict:
        """One SparseAdam step on the touched rows' elements: the equations above, in order."""
        if h.maximize:
            g = -g                                          # g ← -g
        m = m + h.one_minus_beta1 * (g - m)                 # m ← β1 m + (1-β1) g, as m + (1-β1)(g - m)
        v = v + h.one_minus_beta2 * (g * g - v)             # v ← β2 v + (1-β2) g², likewise
        theta = theta - h.step_size * m / (np.sqrt(v) + h.eps)  # ε before the correction
        return dict(theta=theta, m=m, v=v)

    step_size_rule = "lr√(1-β2^t)/((1-β1^t)(√v+ε))"

    @staticmethod
    def explain(theta: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray, h: Scalars) -> dict:
        """The per-element step size lr sqrt(1-β2^t) / ((1-β1^t)(sqrt(v) + ε)) and the update it
        made (on the rows the step touched)."""
        step_size = h.step_size / (np.sqrt(v) + h.eps)
        return dict(step_size=step_size, update=-step_size * m)
