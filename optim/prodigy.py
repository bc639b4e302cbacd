"""Prodigy: Adam with a learning rate it estimates itself; matches prodigyopt.Prodigy.

Mishchenko & Defazio (2023), "Prodigy: An Expeditiously Adaptive Parameter-Free Learner",
Algorithm 4 (the Adam version), as the authors' `prodigyopt` package runs it. d estimates the
distance from the start θ0 to a solution; the step is Adam's, scaled by d·lr (leave lr = 1).
Per parameter, with ĝ and θ̂ every slice_p-th entry of g and θ (flattened):

    g ← g + λθ                               weight_decay λ with decouple=False: L2
    r ← r + (d/d0) dlr ⟨ĝ, θ0 - θ̂⟩           d_numerator r, shared by all parameters
    m ← β1 m + d (1 - β1) g                  the moments are scaled by d (and d² for v)
    v ← β2 v + d² (1 - β2) g²
    s ← β3 s + (d/d0) dlr ĝ                  safeguard_warmup: s ← β3 s + (d/d0) d ĝ
then, once all parameters have been seen (the group-level step):

    D = Σ ||s||_1                            over every parameter; if D = 0, stop here
    d̂ = d_coef r / D
    d ← max(d, d̂)                            only while d is still d0 (the first estimate)
    d_max ← max(d_max, d̂)
    d ← min(d_max, d · growth_rate)          growth_rate caps how fast d grows
and each parameter moves with the new d:

    θ ← θ - λ dlr θ                          weight_decay λ with decouple=True (AdamW's)
    θ ← θ - dlr m / (sqrt(v) + d ε)          β1 = 0: θ ← θ - dlr d g / (sqrt(v) + d ε)

where r ← β3 r first, at the start of each step; dlr = d · lr · bc uses the d of the start of the
step, lr the largest group lr, and bc = sqrt(1 - β2^t) / (1 - β1^t) with use_bias_correction
(else 1); β3 = sqrt(β2) when beta3 is None.

Two-meaning conventions, decided as the reference: eps is scaled by d and added after the square
root (v itself carries d²); weight decay is decoupled by default, and then uses dlr, not lr; the
moments m, v and s are updated even on a step that stops at D = 0 (all gradients zero); the step
count t (the group's k) advances only on steps that move. d, d_max, r and the scalars of the last
step (d_hat, d_denom, dlr) are kept in every group, as the reference keeps them.
One estimate of d serves all groups, so betas, beta3, d0, d_coef, growth_rate, decouple and
use_bias_correction must agree across groups (ValueError at step; prodigyopt silently takes the
first group's), and a group's lr must be the largest lr or 0 (a frozen group).

Not one rule per parameter: a step reads every parameter (D and r are sums over all of them)
before any parameter moves, so Prodigy keeps its own step(): each parameter's statistics,
then d, then each parameter's move.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from minigrad import tracer
from minigrad.backend import get_array_module
from minigrad.function import enable_grad

from .checks import betas, check, check_real, flag, non_negative, real
from .optimizer import Optimizer, Params
from .scalars import Scalars

SHARED = ("betas", "beta3", "d0", "d_coef", "growth_rate", "decouple", "use_bias_correction")


def _positive(expected: str, at_least_zero: bool = False) -> Callable[[str, object], float]:
    """A check for a finite real number > 0 (`expected` says so); at_least_zero: first >= 0."""
    def checked(name: str, value: object) -> float:
        value = non_negative(name, value) if at_least_zero else check_real(name, value)
        check(value > 0.0, name, value, expected)
        return value
    return checked


def _beta3(name: str, value: object) -> float | None:
    """None (then β3 = sqrt(β2)) or 0 <= β3 < 1."""
    if value is None:
        return None
    value = check_real(name, value)
    check(0.0 <= value < 1.0, name, value, "None or 0 <= beta3 < 1")
    return value


def _growth_rate(name: str, value: object) -> float:
    """> 0; inf (the default) means no limit."""
    if not (isinstance(value, float) and value == math.inf):  # inf: no limit
        value = check_real(name, value)
    check(value > 0.0, name, value, "growth_rate > 0 (inf: no limit)")
    return float(value)


def _slice_p(name: str, value: object) -> int:
    """Every slice_p-th element estimates d: an integer >= 1."""
    check(isinstance(value, int) and not isinstance(value, bool) and value >= 1,
          name, value, "an integer >= 1")
    return value


def _no_fsdp(name: str, value: object) -> bool:
    """False: minigrad has no sharded parameters."""
    value = flag(name, value)
    check(not value, name, value, "False: minigrad has no sharded parameters")
    return value


def _steps_taken(name: str, value: object) -> int:
    """k: the steps taken, an integer >= 0."""
    check(isinstance(value, int) and not isinstance(value, bool) and value >= 0,
          name, value, "an integer >= 0 (the steps taken)")
    return value


class Prodigy(Optimizer):
    __doc__ = __doc__  # the module docstring: citation, equations, conventions
    couples_parameters = "its step size d is estimated from sums over every parameter of the groups"

    def __init__(self, params: Params, lr: float = 1.0, betas: tuple[float, float] = (0.9, 0.999),
                 beta3: float | None = None, eps: float = 1e-8, weight_decay: float = 0.0,
                 decouple: bool = True, use_bias_correction: bool = False,
                 safeguard_warmup: bool = False, d0: float = 1e-6, d_coef: float = 1.0,
                 growth_rate: float = float("inf"), fsdp_in_use: bool = False,
                 slice_p: int = 1) -> None:
        check(check_real("lr", lr) > 0.0, "lr", lr, "lr > 0 (the multiplier of d; leave it at 1.0)")
        defaults = dict(lr=lr, betas=betas, beta3=beta3, eps=eps,
                        weight_decay=weight_decay, d=d0, d0=d0, d_max=d0, d_numerator=0.0,
                        d_coef=d_coef, k=0, growth_rate=growth_rate,
                        use_bias_correction=use_bias_correction, decouple=decouple,
                        safeguard_warmup=safeguard_warmup, fsdp_in_use=fsdp_in_use,
                        slice_p=slice_p)
        super().__init__(params, defaults)

    # lr > 0 at construction (above); a group added later may have lr 0: frozen
    hyperparameters = {"lr": non_negative, "betas": betas, "beta3": _beta3,
                       "eps": _positive("eps > 0", at_least_zero=True),
                       "weight_decay": non_negative, "decouple": flag,
                       "use_bias_correction": flag, "safeguard_warmup": flag,
                       "d0": _positive("d0 > 0"), "d_coef": _positive("d_coef > 0"),
                       "growth_rate": _growth_rate, "fsdp_in_use": _no_fsdp, "slice_p": _slice_p}
    MAY_BE_INFINITE = ("growth_rate",)  # inf: d may grow without limit (the default)
    # the group state: the estimate, kept in every group as the reference keeps it (it starts in
    # the defaults and is saved with the groups); loaded, it must be one the method could reach
    group_state = {"d": _positive("d > 0 (the estimate of the distance)"),
                   "d_max": _positive("d_max > 0"), "d_numerator": real, "k": _steps_taken}
    symbols = {"m": "exp_avg", "v": "exp_avg_sq", "s": "s", "theta0": "p0"}  # s, θ0: sliced
    never_negative = ("exp_avg_sq",)  # sums and averages of squares: checked when loaded

    @staticmethod
    def init(theta: np.ndarray, group: dict) -> dict:
        """s = 0 and θ0 = θ̂ (every slice_p-th element), m = 0 (unless β1 = 0), v = 0."""
        xp = get_array_module(theta)
        theta_hat = theta.reshape(-1)[::group["slice_p"]]
        state = {"s": xp.zeros_like(theta_hat), "p0": theta_hat.copy()}
        if group["betas"][0] > 0:
            state["exp_avg"] = xp.zeros_like(theta)
        state["exp_avg_sq"] = xp.zeros_like(theta)
        return state

    @staticmethod
    def scalars(t: int, group: dict, state: dict) -> Scalars:
        """A parameter's move: the group's new d and this step's dlr (step() wrote them)."""
        return Scalars(d=group["d"], dlr=group["dlr"])

    @staticmethod
    def decay(group: dict) -> str:
        """optim.explain's decay column: decoupled (AdamW's) unless decouple=False."""
        return "decoupled" if group["decouple"] else "L2"

    @staticmethod
    def shrink(group: dict) -> float | None:
        """optim.explain's decay factor: θ - λ dlr θ with the last step's dlr (L2: none)."""
        if not group["decouple"] or "dlr" not in group:
            return None
        return 1 - group["weight_decay"] * group["dlr"]

    # ======================================================================== stepping
    @tracer.replayed  # outside the graph: a compiled step (mg.compile) calls it again
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Each parameter's statistics first (with the d of the start of the step), then the
        group-level estimate of d, then each parameter's update with the new d."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        first = self.param_groups[0]
        lr = max(group["lr"] for group in self.param_groups)
        for group in self.param_groups:  # everything checked before anything is written
            for name in SHARED:
                if group[name] != first[name]:
                    raise ValueError(f"Prodigy: {name} is {group[name]!r} in one group and "
                                     f"{first[name]!r} in the first; one d serves all groups")
            if group["lr"] not in (lr, 0.0):
                raise ValueError(f"Prodigy: a group has lr {group['lr']!r}; each group's lr must "
                                 f"be the largest ({lr!r}) or 0")
        work = self._checked_work()

        (beta1, beta2), t, d = first["betas"], first["k"] + 1, first["d"]
        beta3 = math.sqrt(beta2) if first["beta3"] is None else first["beta3"]
        bc = math.sqrt(1 - beta2 ** t) / (1 - beta1 ** t) if first["use_bias_correction"] else 1
        dlr = d * lr * bc                                           # dlr = d lr bc
        d_numerator = first["d_numerator"] * beta3                  # r ← β3 r
        delta_numerator, d_denom = 0.0, 0.0
        for p, group in work:
            if p not in self.state:
                self.state[p] = self.start_state(p.data, group)
            if group["lr"] > 0:
                dot, s_norm = self._accumulate(p.data, p.grad, self.state[p], group, beta3, d, dlr)
                delta_numerator += dot
                d_denom += s_norm                                   # D = Σ ||s||_1
        if d_denom == 0:
            return loss  # no gradient signal: nothing moves, d stays

        d_numerator = d_numerator + delta_numerator
        d_hat = first["d_coef"] * d_numerator / d_denom             # d̂ = d_coef r / D
        if d == first["d0"]:
            d = max(d, d_hat)                                       # d ← max(d, d̂), first time
        d_max = max(first["d_max"], d_hat)                          # d_max ← max(d_max, d̂)
        d = min(d_max, d * first["growth_rate"])                    # d ← min(d_max, d growth)
        for group in self.param_groups:
            group.update(d_numerator=d_numerator, d_denom=d_denom, d=d, d_max=d_max,
                         d_hat=d_hat, dlr=dlr)
        for p, group in work:
            self._update(p.data, p.grad, self.state[p], group)
        for group in self.param_groups:
            group["k"] += 1
        return loss

    @classmethod
    def _accumulate(cls, theta: np.ndarray, g: np.ndarray, state: dict, group: dict,
                    beta3: float, d: float, dlr: float) -> tuple[float, float]:
        """One parameter's share of the statistics: the moments, s, and its terms of r and D."""
        xp = get_array_module(theta)
        (beta1, beta2), d0, slice_p = group["betas"], group["d0"], group["slice_p"]
        g = cls._coupled_decay(theta, g, group)
        g_hat, theta_hat = g.reshape(-1)[::slice_p], theta.reshape(-1)[::slice_p]
        dot = (d / d0) * dlr * float(g_hat @ (state["p0"] - theta_hat))  # (d/d0) dlr ⟨ĝ, θ0 - θ̂⟩
        if beta1 > 0:
            m = state["exp_avg"]
            m[...] = beta1 * m + d * (1 - beta1) * g               # m ← β1 m + d (1-β1) g
        v = state["exp_avg_sq"]
        v[...] = beta2 * v + d * d * (1 - beta2) * g * g           # v ← β2 v + d² (1-β2) g²
        s = state["s"]
        scale = d if group["safeguard_warmup"] else dlr
        s[...] = beta3 * s + (d / d0) * scale * g_hat              # s ← β3 s + (d/d0) dlr ĝ
        return dot, float(xp.abs(s).sum())

    @classmethod
    def _update(cls, theta: np.ndarray, g: np.ndarray, state: dict, group: dict) -> None:
        """One parameter's move, with the group's new d and this step's dlr."""
        xp = get_array_module(theta)
        eps, wd = group["eps"], group["weight_decay"]
        g = cls._coupled_decay(theta, g, group)
        h = cls.next_scalars(theta, state, group)                  # the parameter's t advances
        d, dlr = h.d, h.dlr
        denom = xp.sqrt(state["exp_avg_sq"]) + d * eps              # sqrt(v) + d ε
        if wd != 0 and group["decouple"]:
            theta -= wd * dlr * theta                               # θ ← θ - λ dlr θ
        if group["betas"][0] > 0:
            theta -= dlr * state["exp_avg"] / denom                 # θ ← θ - dlr m / denom
        else:
            theta -= dlr * d * g / denom                            # θ ← θ - dlr d g / denom

    @staticmethod
    def _coupled_decay(theta: np.ndarray, g: np.ndarray, group: dict) -> np.ndarray:
        """g ← g + λθ when weight decay is not decoupled (computed afresh: θ has not moved)."""
        if group["weight_decay"] != 0 and not group["decouple"]:
            return g + group["weight_decay"] * theta
        return g
