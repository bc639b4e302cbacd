"""AdaHessian: Adam with the Hessian's diagonal in place of the squared gradient; matches
pytorch_optimizer.AdaHessian.

Yao, Gholami, Shen, Mustafa, Keutzer & Mahoney (2021), "ADAHESSIAN: An Adaptive Second Order
Optimizer for Machine Learning", Algorithm 1, as pytorch_optimizer 4.1 runs it. D is the
Hutchinson estimate of diag(H), z ⊙ (H z) (optim/hutchinson.py), made every `update_period`
steps from the graph that `loss.backward(create_graph=True)` leaves, or given by the caller:

    D = mean over num_samples of z ⊙ (H z)    on steps t with (t-1) % update_period == 0
    D ← mean over (kh, kw) of |D|             4-D (convolution) parameters: the paper's
                                              spatial averaging, on the estimates made here
    g ← -g                                    if maximize
    θ ← θ (1 - lr λ)                          weight_decay λ, weight_decouple (the default);
                                              fixed_decay: θ ← θ (1 - λ)
    g ← g + λθ                                weight_decouple=False: an L2 penalty
    m ← β1 m + (1 - β1) g                     first moment of the gradient
    v ← β2 v + (1 - β2) D²                    second moment of the Hessian's diagonal, only
                                              on a step that estimated D (else v holds)
    m̂ = m / (1 - β1^t)
    v̂ = v / (1 - β2^t)
    θ ← θ - lr m̂ / (v̂^(k/2) + ε)              hessian_power k; eps ε added after the power

Two-meaning conventions, decided as the reference: eps is added after v̂^(k/2) (Adam's place,
not inside); between estimates v is not updated with the old D (pytorch_optimizer's reading of
the delayed update; the unofficial ada-hessian package folds the stale D in at every step); the
bias corrections count every step. D is state ("hessian", with "hessian_step", the step it was
estimated for), so state_dict keeps it and a resumed run continues bit for bit: see
optim/hutchinson.py. The spatial averaging applies to the estimates made here: an estimate given
to step(hessian=...) is used as given (the reference averages none). v̂^(k/2) runs as sqrt(v̂)
for k = 1 and as exp((k/2) log v̂) otherwise (the executors have no general power).

    loss.backward(create_graph=True)          # the gradient keeps its graph: D needs it
    opt.step()                                # or opt.step(hessian=[D1, D2, ...])

A step without the graph raises, naming the parameter. Sparse gradients are refused: the
estimate differentiates the dense gradient.
"""
from __future__ import annotations

import numpy as np

from .checks import betas, between, flag, non_negative
from .common import bias_corrections, zeros_like
from .hutchinson import HessianOptimizer, count, distribution
from .optimizer import Params
from .scalars import Scalars


class AdaHessian(HessianOptimizer):
    __doc__ = __doc__  # the module docstring: citation, equations, conventions
    average_conv_kernel = True

    def __init__(self, params: Params, lr: float = 0.1, betas: tuple[float, float] = (0.9, 0.999),
                 weight_decay: float = 0.0, weight_decouple: bool = True,
                 fixed_decay: bool = False, hessian_power: float = 1.0, update_period: int = 1,
                 num_samples: int = 1, hessian_distribution: str = "rademacher",
                 eps: float = 1e-16, maximize: bool = False,
                 foreach: bool | None = None, fused: bool | None = None) -> None:
        defaults = dict(lr=lr, betas=betas, weight_decay=weight_decay,
                        weight_decouple=weight_decouple, fixed_decay=fixed_decay,
                        hessian_power=hessian_power, update_period=update_period,
                        num_samples=num_samples, hessian_distribution=hessian_distribution,
                        eps=eps, maximize=maximize, foreach=foreach, fused=fused)
        super().__init__(params, defaults)

    hyperparameters = {"lr": non_negative, "betas": betas, "weight_decay": non_negative,
                       "weight_decouple": flag, "fixed_decay": flag,
                       "hessian_power": between(0.0, 1.0, "the power of the RMS Hessian "
                                                "diagonal", open_low=True),
                       "update_period": count, "num_samples": count,
                       "hessian_distribution": distribution, "eps": non_negative,
                       "maximize": flag}
    symbols = {"m": "exp_avg", "v": "exp_hessian_diag_sq", "D": "hessian"}
    never_negative = ("exp_hessian_diag_sq",)  # an average of squares: checked when loaded

    @staticmethod
    def init(theta: np.ndarray, group: dict) -> dict:
        """m = v = 0, D = 0, estimated at step 0 (never)."""
        return {**zeros_like(theta, "exp_avg", "exp_hessian_diag_sq", "hessian"),
                "hessian_step": 0}

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
        """β1, β2, ε, the bias corrections of step t, whether D is new this step, the power k/2,
        and the decay's numbers."""
        beta1, beta2 = group["betas"]
        wd, lr, k = group["weight_decay"], group["lr"], group["hessian_power"]
        decoupled = group["weight_decouple"] and wd != 0
        return Scalars(lr=lr, beta1=beta1, beta2=beta2, eps=group["eps"],
                       **bias_corrections(t, beta1, beta2), fresh=state["hessian_step"] == t,
                       square_root=k == 1, half_power=k / 2, maximize=group["maximize"],
                       decoupled=decoupled, l2=not group["weight_decouple"] and wd != 0,
                       weight_decay=wd, shrink_by=wd * (1.0 if group["fixed_decay"] else lr))

    @staticmethod
    def rule(theta: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray, D: np.ndarray,
             h: Scalars) -> dict:
        """One AdaHessian step on elements (or arrays): the equations above, in order."""
        if h.maximize:
            g = -g                                                  # g ← -g
        if h.decoupled:
            theta = theta * (1 - h.shrink_by)                       # θ ← θ (1 - lr λ)
        elif h.l2:
            g = g + h.weight_decay * theta                          # g ← g + λθ
        m = h.beta1 * m + (1 - h.beta1) * g                         # m ← β1 m + (1-β1) g
        if h.fresh:
            v = h.beta2 * v + (1 - h.beta2) * D * D                 # v ← β2 v + (1-β2) D²
        m_hat = m / h.bias_correction1                              # m̂ = m / (1-β1^t)
        v_hat = v / h.bias_correction2                              # v̂ = v / (1-β2^t)
        if h.square_root:
            denom = np.sqrt(v_hat) + h.eps                          # v̂^(1/2) + ε
        else:
            denom = np.exp(h.half_power * np.log(v_hat)) + h.eps    # v̂^(k/2) + ε
        theta = theta - h.lr * m_hat / denom                        # θ ← θ - lr m̂ / (v̂^(k/2) + ε)
        return dict(theta=theta, m=m, v=v)

    step_size_rule = "lr/(v̂^(k/2)+ε)"

    @staticmethod
    def explain(theta: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray, D: np.ndarray,
                h: Scalars) -> dict:
        """The per-element step size lr / (v̂^(k/2) + ε) and the update it made."""
        v_hat = v / h.bias_correction2
        power = np.sqrt(v_hat) if h.square_root else np.exp(h.half_power * np.log(v_hat))
        step_size = h.lr / (power + h.eps)
        return dict(step_size=step_size, update=-step_size * (m / h.bias_correction1))
