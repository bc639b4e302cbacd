"""Muon: momentum, orthogonalized by Newton-Schulz; matches torch.optim.Muon.

Jordan et al. (2024), "Muon: An optimizer for hidden layers in neural networks"
(kellerjordan.github.io/posts/muon), with the learning-rate adjustment of Liu et al. (2025),
"Muon is Scalable for LLM Training" as an option. For 2-D parameters only (weight matrices);
give biases, norms and other parameters to AdamW (models/optimizers.py's "muon" does).

    B ← μ B + (1 - μ) g                    momentum μ: an EMA (torch's lerp), not B ← μ B + g
    U = (1 - μ) g + μ B    if nesterov     else U = B
    O = NS_k(U)                            ns_steps k, ns_coefficients (a, b, c), eps ε:
        X = U / max(||U||_F, ε)            (transposed first when U has more rows than columns)
        k times:  A = X Xᵀ;  X ← a X + (b A + c A²) X
    θ ← θ (1 - lr λ)                       weight_decay λ: decoupled, with the unadjusted lr
    θ ← θ - lr' O                          lr' = lr sqrt(max(1, rows/cols))   adjust_lr_fn "original"
                                           lr' = 0.2 lr sqrt(max(rows, cols)) "match_rms_adamw"

Two-meaning conventions: the momentum is the EMA form above (torch's code; its docstring writes
B ← μ B + g). torch runs Newton-Schulz in bfloat16 (Keller Jordan's speed choice for GPUs);
here it runs in the parameter's dtype, so float64 parameters get a float64 orthogonalization.
The iteration does not converge to UVᵀ exactly: its coefficients trade accuracy for speed, and
the singular values end near 1 (about 0.7 to 1.2), not at 1; very small ones may stay small.

Not elementwise: O is a matrix function of the whole U, so the step is an `update` hook on the
whole parameter, not a rule. Like torch's, it keeps no step count.
"""
from __future__ import annotations

import math

import numpy as np

from minigrad.backend import get_array_module

from .checks import check, check_real, flag, non_negative
from .common import zeros_like
from .optimizer import Optimizer

ADJUST_LR_FNS = (None, "original", "match_rms_adamw")


def _ns_coefficients(name: str, value: object) -> tuple:
    """(a, b, c): three finite real numbers."""
    check(isinstance(value, (tuple, list)) and len(value) == 3, name, value, "three numbers (a, b, c)")
    return tuple(check_real(f"{name}[{i}]", c) for i, c in enumerate(value))


def _ns_steps(name: str, value: object) -> int:
    """k: an integer 0 <= k < 100."""
    check(isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 100,
          name, value, "an integer 0 <= ns_steps < 100")
    return value


def _adjust_lr_fn(name: str, value: object) -> str | None:
    """None, "original" or "match_rms_adamw" (torch's message)."""
    if value not in ADJUST_LR_FNS:
        raise ValueError(f"Adjust learning rate function {value} is not supported (adjust_lr_fn: "
                         "expected None, 'original' or 'match_rms_adamw')")
    return value


class Muon(Optimizer):
    __doc__ = __doc__  # the module docstring: citation, equations, conventions

    def __init__(self, params, lr=1e-3, weight_decay=0.1, momentum=0.95, nesterov=True,
                 ns_coefficients=(3.4445, -4.775, 2.0315), eps=1e-7, ns_steps=5,
                 adjust_lr_fn=None):
        defaults = dict(lr=lr, weight_decay=weight_decay, momentum=momentum, nesterov=nesterov,
                        ns_coefficients=ns_coefficients, eps=eps, ns_steps=ns_steps,
                        adjust_lr_fn=adjust_lr_fn)
        super().__init__(params, defaults)

    hyperparameters = {"lr": non_negative, "weight_decay": non_negative, "momentum": non_negative,
                       "nesterov": flag, "ns_coefficients": _ns_coefficients, "eps": non_negative,
                       "ns_steps": _ns_steps, "adjust_lr_fn": _adjust_lr_fn}
    symbols = {"B": "momentum_buffer"}
    counts_steps = False  # torch's Muon keeps no step count
    rule = None  # not elementwise: see update
    dense_only_reason = "it orthogonalizes the whole matrix"
    decay = "decoupled"  # always: optim.explain's decay column (θ shrinks by 1 - lr λ)

    def add_param_group(self, param_group):
        super().add_param_group(param_group)
        for p in self.param_groups[-1]["params"]:
            if p.ndim != 2:
                self.param_groups.pop()  # a failed call changes nothing
                raise ValueError("Muon only supports 2D parameters whereas we found a parameter "
                                 f"with size: {tuple(p.shape)}; optimize it with AdamW")

    @staticmethod
    def init(theta: np.ndarray, group: dict) -> dict:
        """B = 0."""
        return zeros_like(theta, "momentum_buffer")

    @staticmethod
    def update(theta: np.ndarray, g: np.ndarray, state: dict, group: dict) -> None:
        """One Muon step on a whole matrix, in place (NumPy or CuPy arrays): the equations
        above, in order."""
        lr, wd, mu = group["lr"], group["weight_decay"], group["momentum"]
        B = state["momentum_buffer"]
        B[...] = mu * B + (1 - mu) * g                    # B ← μ B + (1 - μ) g
        U = (1 - mu) * g + mu * B if group["nesterov"] else B
        O = newton_schulz(U, group["ns_coefficients"], group["ns_steps"], group["eps"])
        theta *= 1 - lr * wd                              # θ ← θ (1 - lr λ)
        theta -= adjusted_lr(lr, group["adjust_lr_fn"], theta.shape) * O  # θ ← θ - lr' O


def newton_schulz(U: np.ndarray, ns_coefficients: tuple, ns_steps: int, eps: float) -> np.ndarray:
    """O = NS_k(U): k quintic Newton-Schulz steps towards the orthogonal factor of U."""
    xp = get_array_module(U)
    a, b, c = ns_coefficients
    tall = U.shape[0] > U.shape[1]
    X = U.T if tall else U                                # iterate on the wide side: X Xᵀ is small
    X = X / max(float(xp.linalg.norm(X)), eps)            # X = U / max(||U||_F, ε): spectral norm <= 1
    for _ in range(ns_steps):
        A = X @ X.T                                       # A = X Xᵀ
        X = a * X + (b * A + c * (A @ A)) @ X             # X ← a X + (b A + c A²) X
    return X.T if tall else X


def adjusted_lr(lr: float, adjust_lr_fn: str | None, shape: tuple) -> float:
    """lr': the same update RMS across matrix shapes ("original"), or AdamW's ("match_rms_adamw")."""
    rows, cols = shape
    if adjust_lr_fn == "match_rms_adamw":
        return lr * (0.2 * math.sqrt(max(rows, cols)))    # lr' = 0.2 lr sqrt(max(rows, cols))
    return lr * math.sqrt(max(1, rows / cols))            # lr' = lr sqrt(max(1, rows/cols))
