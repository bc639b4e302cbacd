"""Adam, with AMSGrad and decoupled weight decay as options; matches torch.optim.Adam.

Kingma & Ba (2015), "Adam: A Method for Stochastic Optimization", Algorithm 1; the AMSGrad
variant from Reddi, Kale & Kumar (2018), "On the Convergence of Adam and Beyond":

    g ← -g                               if maximize
    θ ← θ (1 - lr λ)                     weight_decay λ with decoupled_weight_decay (AdamW)
    g ← g + λθ                           weight_decay λ otherwise: an L2 penalty
    m ← β1 m + (1 - β1) g                first moment
    v ← β2 v + (1 - β2) g²               second moment
    v_max ← max(v_max, v)                amsgrad: the running max of the raw v (v stays raw)
    m̂ = m / (1 - β1^t)
    v̂ = v / (1 - β2^t)                   amsgrad: v̂ = v_max / (1 - β2^t)
    θ ← θ - lr m̂ / (sqrt(v̂) + ε)         eps ε added AFTER bias-correcting v (Algorithm 1),
                                         not the "ε-hat" form of the paper's section 2

AMSGrad has three versions in print. Reddi et al.'s Algorithm 2 keeps no bias correction:
v̂ ← max(v̂, v), θ ← θ - lr m / sqrt(v̂). The version many articles give takes the max of the
corrected v̂ = v / (1 - β2^t). This one (torch's) takes the max of the raw v and corrects the max
afterwards; since 1 - β2^t grows with t, its v̂ can fall while the raw maximum holds, which the
max of the corrected v̂ never does. v itself is never replaced by v_max: the moment keeps its
plain running average, and only the denominator uses the maximum.

Sparse gradients: lazy (as TensorFlow's LazyAdam): only touched rows of m, v (v_max) and θ
change. The bias corrections use the parameter's step count t, which advances every step, so a
row touched again after a gap is corrected as if its stale moments were current. Decoupled decay
(AdamW) shrinks touched rows only, like TensorFlow Addons' lazy AdamW; L2 decay likewise.
"""
from __future__ import annotations

import numpy as np

from .checks import betas, flag, non_negative
from .common import bias_corrections, weight_decay, weight_decay_scalars, zeros_like
from .optimizer import Optimizer, Params
from .scalars import Scalars


class Adam(Optimizer):
    __doc__ = __doc__  # the module docstring: citation, equations, conventions

    def __init__(self, params: Params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, amsgrad: bool = False, *,
                 maximize: bool = False, decoupled_weight_decay: bool = False,
                 fused: bool | None = None, foreach: bool | None = None, capturable: bool = False,
                 differentiable: bool = False) -> None:
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                        amsgrad=amsgrad, maximize=maximize,
                        decoupled_weight_decay=decoupled_weight_decay, fused=fused,
                        foreach=foreach, capturable=capturable, differentiable=differentiable)
        super().__init__(params, defaults)

    hyperparameters = {"lr": non_negative, "betas": betas, "eps": non_negative,
                       "weight_decay": non_negative, "amsgrad": flag, "maximize": flag,
                       "decoupled_weight_decay": flag}
    symbols = {"m": "exp_avg", "v": "exp_avg_sq", "v_max": "max_exp_avg_sq"}
    never_negative = ("exp_avg_sq", "max_exp_avg_sq")  # sums and averages of squares: checked when loaded
    lazy_sparse = True

    @staticmethod
    def init(theta: np.ndarray, group: dict) -> dict:
        """m = v = 0 (and v_max = 0 with amsgrad)."""
        keys = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq") if group["amsgrad"] else ("exp_avg", "exp_avg_sq")
        return zeros_like(theta, *keys)

    @staticmethod
    def add_state(theta: np.ndarray, state: dict, group: dict) -> None:
        """v_max, when amsgrad is switched on after the first step: it starts at 0, so the
        first max is v itself."""
        if group["amsgrad"] and "max_exp_avg_sq" not in state:
            state["max_exp_avg_sq"] = zeros_like(theta, "max_exp_avg_sq")["max_exp_avg_sq"]

    @staticmethod
    def scalars(t: int, group: dict, state: dict) -> Scalars:
        """β1, β2, ε, the bias corrections 1 - β^t, the amsgrad flag and the decay's numbers of
        step t."""
        beta1, beta2 = group["betas"]
        return Scalars(beta1=beta1, beta2=beta2, eps=group["eps"], amsgrad=group["amsgrad"],
                       **bias_corrections(t, beta1, beta2), **weight_decay_scalars(group))

    @staticmethod
    def rule(theta: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray,
             v_max: np.ndarray | None, h: Scalars) -> dict:
        """One Adam step on elements (or arrays): the equations above, in order."""
        theta, g = weight_decay(theta, g, h)            # maximize; decoupled or L2 decay
        m = h.beta1 * m + (1 - h.beta1) * g             # m ← β1 m + (1-β1) g
        v = h.beta2 * v + (1 - h.beta2) * g * g         # v ← β2 v + (1-β2) g²
        if h.amsgrad:
            v_max = np.maximum(v_max, v)                # v_max ← max(v_max, v), used for v below
        m_hat = m / h.bias_correction1                  # m̂ = m / (1-β1^t)
        v_hat = (v_max if h.amsgrad else v) / h.bias_correction2  # v̂ = v / (1-β2^t)
        theta = theta - h.lr * m_hat / (np.sqrt(v_hat) + h.eps)  # θ ← θ - lr m̂ / (sqrt(v̂) + ε)
        return dict(theta=theta, m=m, v=v, v_max=v_max)

    step_size_rule = "lr/(√v̂+ε)"

    @staticmethod
    def explain(theta: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray,
                v_max: np.ndarray | None, h: Scalars) -> dict:
        """The per-element step size lr / (sqrt(v̂) + ε), the update it made, and with amsgrad
        the share of elements whose v̂ comes from the running maximum."""
        v_hat = (v_max if h.amsgrad else v) / h.bias_correction2
        step_size = h.lr / (np.sqrt(v_hat) + h.eps)
        out = dict(step_size=step_size, update=-step_size * (m / h.bias_correction1))
        if h.amsgrad:
            out["vmax_share"] = v_max > v
        return out


class AMSGrad(Adam):
    """Adam with amsgrad=True: Reddi, Kale & Kumar (2018). The running maximum is taken over
    the raw second moment v, and bias-corrected afterwards (as torch.optim.Adam(amsgrad=True))."""
    fixed = {"amsgrad": True}

    def __init__(self, params: Params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, *, maximize: bool = False,
                 decoupled_weight_decay: bool = False, fused: bool | None = None,
                 foreach: bool | None = None, capturable: bool = False,
                 differentiable: bool = False) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, maximize=maximize,
                         decoupled_weight_decay=decoupled_weight_decay, fused=fused,
                         foreach=foreach, capturable=capturable, differentiable=differentiable)
