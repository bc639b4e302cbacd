"""NAdam: Adam with Nesterov momentum; matches torch.optim.NAdam.

Dozat (2016), "Incorporating Nesterov Momentum into Adam", with the momentum schedule
μ_t = β1 (1 - 0.5 · 0.96^(t ψ)) (momentum_decay ψ) as in PyTorch:

    g ← -g                              if maximize
    θ ← θ (1 - lr λ)                    weight_decay λ with decoupled_weight_decay
    g ← g + λθ                          weight_decay λ otherwise: L2
    μ_t = β1 (1 - 0.5 · 0.96^(t ψ));  μ_{t+1} likewise
    Π_t = Π_{t-1} μ_t                    the product of the μ's (state "mu_product", Π_0 = 1)
    m ← β1 m + (1 - β1) g
    v ← β2 v + (1 - β2) g²
    d = sqrt(v / (1 - β2^t)) + ε         eps ε after bias-correcting v
    θ ← θ - lr (1 - μ_t) / (1 - Π_t) · g / d - lr μ_{t+1} / (1 - Π_t μ_{t+1}) · m / d

Sparse gradients: lazy: only touched rows of m, v and θ change; t and the μ product advance every
step of the parameter; weight decay reaches touched rows only.
"""
from __future__ import annotations

import numpy as np

from .checks import betas, flag, non_negative
from .common import bias_corrections, weight_decay, weight_decay_scalars, zeros_like
from .optimizer import Optimizer, Params
from .scalars import Scalars


class NAdam(Optimizer):
    __doc__ = __doc__  # the module docstring: citation, equations, conventions

    def __init__(self, params: Params, lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, momentum_decay: float = 4e-3,
                 decoupled_weight_decay: bool = False, *, maximize: bool = False,
                 fused: bool | None = None, foreach: bool | None = None, capturable: bool = False,
                 differentiable: bool = False) -> None:
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                        momentum_decay=momentum_decay,
                        decoupled_weight_decay=decoupled_weight_decay, maximize=maximize,
                        fused=fused, foreach=foreach, capturable=capturable, differentiable=differentiable)
        super().__init__(params, defaults)

    hyperparameters = {"lr": non_negative, "betas": betas, "eps": non_negative,
                       "weight_decay": non_negative, "momentum_decay": non_negative,
                       "decoupled_weight_decay": flag, "maximize": flag}
    symbols = {"m": "exp_avg", "v": "exp_avg_sq"}
    never_negative = ("exp_avg_sq",)  # sums and averages of squares: checked when loaded
    carried_ranges = {"mu_product": (lambda v: 0.0 <= v <= 1.0, "0 <= mu_product <= 1 (a product of momenta)")}
    carry = {"mu_product": "mu_product"}  # Π_t, kept in the state from step to step
    lazy_sparse = True

    @staticmethod
    def init(theta: np.ndarray, group: dict) -> dict:
        """m = v = 0, and the empty product Π_0 = 1."""
        return {**zeros_like(theta, "exp_avg", "exp_avg_sq"), "mu_product": 1.0}

    @staticmethod
    def scalars(t: int, group: dict, state: dict) -> Scalars:
        """β1, β2, ε, μ_t, μ_{t+1}, Π_t = Π_{t-1} μ_t (carried into the state), the bias
        corrections and the decay's numbers of step t."""
        (beta1, beta2), psi = group["betas"], group["momentum_decay"]
        mu = beta1 * (1 - 0.5 * 0.96 ** (t * psi))                  # μ_t
        return Scalars(beta1=beta1, beta2=beta2, eps=group["eps"], mu=mu,
                       mu_next=beta1 * (1 - 0.5 * 0.96 ** ((t + 1) * psi)),  # μ_{t+1}
                       mu_product=state["mu_product"] * mu,         # Π_t = Π_{t-1} μ_t
                       **bias_corrections(t, beta1, beta2), **weight_decay_scalars(group))

    @staticmethod
    def rule(theta: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray,
             h: Scalars) -> dict:
        """One NAdam step on elements or arrays (NumPy or CuPy): the equations above, in order."""
        theta, g = weight_decay(theta, g, h)                        # maximize; decoupled or L2 decay
        m = h.beta1 * m + (1 - h.beta1) * g                         # m ← β1 m + (1-β1) g
        v = h.beta2 * v + (1 - h.beta2) * g * g                     # v ← β2 v + (1-β2) g²
        d = np.sqrt(v / h.bias_correction2) + h.eps                 # d = sqrt(v̂) + ε
        theta = theta - h.lr * (1 - h.mu) / (1 - h.mu_product) * g / d               # the gradient's share
        theta = theta - h.lr * h.mu_next / (1 - h.mu_product * h.mu_next) * m / d    # the momentum's share
        return dict(theta=theta, m=m, v=v)

    step_size_rule = "lr/(√v̂+ε)"

    @staticmethod
    def explain(theta: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray,
                h: Scalars) -> dict:
        """The per-element step size lr / (sqrt(v̂) + ε) and the step's μ_t and Π_t. No update:
        the step's gradient share needs the gradient it took, which the state does not keep."""
        step_size = h.lr / (np.sqrt(v / h.bias_correction2) + h.eps)
        return dict(step_size=step_size, mu=h.mu, mu_product=h.mu_product)
