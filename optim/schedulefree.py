"""Schedule-free AdamW; matches schedulefree.AdamWScheduleFree (the `schedulefree` package).

Defazio, Yang, Mehta, Mishchenko, Khaled & Cutkosky (2024), "The Road Less Scheduled",
Algorithm 1 (AdamW form), in the reference's memory-saving form. The method keeps three points:
z, the base SGD-like sequence; x, a weighted average of the z's (the point to evaluate); and
y = (1 - β1) z + β1 x, where gradients are taken. With c_{t+1} the averaging weight:

    z ← z - γ u                   u: the Adam-normalized gradient, with weight decay at y
    x ← (1 - c) x + c z
    y ← (1 - β1) z + β1 x

The reference stores only z and, in θ, y (x is recovered when needed); substituting the first
two lines into the third gives the update of y that the code runs, one line each:

    v ← β2 v + (1 - β2) g²                    exp_avg_sq; no first moment: β1 lives in y
    u = g / (sqrt(v / (1 - β2^t)) + ε) + λ y  eps ε after the bias correction; weight_decay λ at y
    y ← y + c (z - y)
    y ← y + γ (β1 (1 - c) - 1) u
    z ← z - γ u

and the group-level scalars of step t (k = t - 1 steps done; kept in the group, as the reference):

    γ = lr · min(1, t / warmup_steps)        linear warmup, no other schedule
    γ_max ← max(γ_max, γ)                    lr_max
    w = t^r · γ_max^weight_lr_power          the weight of this step in the average
    c = w / Σw                               ckp1 (0 while Σw = 0)

train() and eval() swap θ between y (training: gradients are taken there) and
x = y + (1 - 1/β1)(z - y) (evaluation, and the weights to keep). Call opt.train() before the
first step (a step in eval mode raises, as the reference) and opt.eval() before evaluating.

Two-meaning conventions, decided as the reference: the bias correction and the warmup use the
group's step count k, which advances even for parameters without a gradient; weight decay is
taken at y (not at z, the reference's paper form's decay_at_z option); only the first group's
train_mode is checked by step().

The rule is elementwise, with θ holding y; the group-level scalars (γ, c, and the counters they
need) live in the groups, as the reference keeps them, so step() computes them once per step
before the rule runs, and the state has no per-parameter step count.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from minigrad import tracer
from minigrad.backend import get_array_module
from minigrad.function import enable_grad
from minigrad.tensor import increment_version

from .checks import check, check_betas, check_real, flag, non_negative, real
from .optimizer import Optimizer, Params
from .scalars import Scalars


def _betas(name: str, value: object) -> tuple:
    """(β1, β2) with 0 < β1 < 1 (eval() divides by β1) and 0 <= β2 < 1."""
    beta1, beta2 = check_betas(value)
    check(beta1 > 0.0, "beta1 (betas[0])", value[0],
          "0 < beta1 < 1: eval() recovers x from y by dividing by beta1")
    return beta1, beta2


def _count(name: str, value: object) -> int:
    """An integer >= 0 (a number of steps)."""
    check(isinstance(value, int) and not isinstance(value, bool) and value >= 0, name, value,
          "an integer >= 0")
    return value


def _in_range(ok: Callable[[float], bool], expected: str) -> Callable[[str, object], float]:
    """A check for a finite real number for which ok(value) holds."""
    def checked(name: str, value: object) -> float:
        value = check_real(name, value)
        check(ok(value), name, value, expected)
        return value
    return checked


class ScheduleFreeAdamW(Optimizer):
    __doc__ = __doc__  # the module docstring: citation, equations, conventions

    def __init__(self, params: Params, lr: float = 0.0025,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, warmup_steps: int = 0, r: float = 0.0,
                 weight_lr_power: float = 2.0, foreach: bool | None = None) -> None:
        defaults = dict(lr=lr, betas=betas, eps=eps, r=r, k=0, warmup_steps=warmup_steps,
                        train_mode=False, weight_sum=0.0, lr_max=-1.0, scheduled_lr=0.0, ckp1=0.0,
                        weight_lr_power=weight_lr_power, weight_decay=weight_decay,
                        foreach=foreach)
        super().__init__(params, defaults)

    hyperparameters = {"lr": non_negative, "betas": _betas, "eps": non_negative,
                       "weight_decay": non_negative, "warmup_steps": _count, "r": real,
                       "weight_lr_power": real}
    # the group state: the numbers the method keeps in each group, as the reference does (they
    # start in the defaults and are saved with the groups); loaded, they must be what a run makes
    group_state = {
        "k": _count,                                                     # the steps taken
        "train_mode": flag,                                              # θ holds y (else x)
        "weight_sum": _in_range(lambda v: v >= 0.0, "weight_sum >= 0"),  # Σw
        "lr_max": _in_range(lambda v: v == -1.0 or v >= 0.0, "-1 (no step yet) or >= 0"),  # γ_max
        "scheduled_lr": _in_range(lambda v: v >= 0.0, ">= 0"),           # γ of the last step
        "ckp1": _in_range(lambda v: 0.0 <= v <= 1.0, "0 <= ckp1 <= 1 (a weight)"),  # its c
    }
    dense_only_reason = ("every row's y and average x move at every step, touched by the "
                         "gradient or not")
    symbols = {"z": "z", "v": "exp_avg_sq"}  # and θ holds y
    never_negative = ("exp_avg_sq",)  # sums and averages of squares: checked when loaded
    counts_steps = False  # the step count is the group's k, as the reference keeps it
    decay = "decoupled"  # always: λy joins the normalized u, not g (optim.explain's decay column)

    @staticmethod
    def init(theta: np.ndarray, group: dict) -> dict:
        """z = θ (= y = x at the start), v = 0."""
        return {"z": theta.copy(), "exp_avg_sq": get_array_module(theta).zeros_like(theta)}

    @staticmethod
    def scalars(t: None, group: dict, state: dict) -> Scalars:
        """γ and c of this step (step() wrote them into the group), the bias correction of
        step k + 1, and the decay's λ."""
        (beta1, beta2), wd = group["betas"], group["weight_decay"]
        return Scalars(lr=group["scheduled_lr"], c=group["ckp1"], beta1=beta1, beta2=beta2,
                       eps=group["eps"], bias_correction2=1 - beta2 ** (group["k"] + 1),
                       weight_decay=wd, decay=wd != 0)

    @staticmethod
    def rule(theta: np.ndarray, g: np.ndarray, z: np.ndarray, v: np.ndarray, h: Scalars) -> dict:
        """One schedule-free AdamW step on elements (or arrays), θ holding y: the equations
        above, in order."""
        v = h.beta2 * v + (1 - h.beta2) * g * g                     # v ← β2 v + (1-β2) g²
        u = g / (np.sqrt(v / h.bias_correction2) + h.eps)           # u = g / (sqrt(v̂) + ε)
        if h.decay:
            u = u + h.weight_decay * theta                          # u ← u + λ y
        theta = theta + h.c * (z - theta)                           # y ← y + c (z - y)
        theta = theta + h.lr * (h.beta1 * (1 - h.c) - 1) * u        # y ← y + γ (β1 (1-c) - 1) u
        z = z - h.lr * u                                            # z ← z - γ u
        return dict(theta=theta, z=z, v=v)

    @staticmethod
    def shrink(group: dict) -> float:
        """optim.explain's decay factor of the last step: its λy term moved y by
        -γ (1 - β1 (1 - c)) λ y, with that step's γ and c (kept in the group)."""
        beta1, c = group["betas"][0], group["ckp1"]
        return 1 - group["scheduled_lr"] * group["weight_decay"] * (1 - beta1 * (1 - c))

    # ======================================================================== y and x
    def eval(self) -> None:
        """θ ← x = y + (1 - 1/β1)(z - y): the averaged point, to evaluate or keep."""
        for group in self.param_groups:
            if group["train_mode"]:
                beta1 = group["betas"][0]
                for p in group["params"]:
                    if p in self.state:
                        z = self.state[p]["z"]
                        p.data += (1 - 1 / beta1) * (z - p.data)
                        increment_version(p)
                group["train_mode"] = False

    def train(self) -> None:
        """θ ← y = x + (1 - β1)(z - x): the point where gradients are taken."""
        for group in self.param_groups:
            if not group["train_mode"]:
                beta1 = group["betas"][0]
                for p in group["params"]:
                    if p in self.state:
                        z = self.state[p]["z"]
                        p.data += (1 - beta1) * (z - p.data)
                        increment_version(p)
                group["train_mode"] = True

    # ======================================================================== stepping
    @tracer.replayed  # outside the graph: a compiled step (mg.compile) calls it again
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """The group-level scalars first (γ, c), then each parameter's update (the base class's
        step); group counters advance once per step, whether or not a parameter had a gradient."""
        if not self.param_groups[0]["train_mode"]:
            raise RuntimeError("ScheduleFreeAdamW.step() called in eval mode: call opt.train() "
                               "before training steps and opt.eval() before evaluating")
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        self._checked_work()  # all gradients checked before anything is written
        for group in self.param_groups:
            self._advance_group(group)
        super().step()
        for group in self.param_groups:
            group["k"] += 1
        return loss

    @staticmethod
    def _advance_group(group: dict) -> None:
        """This step's γ (scheduled_lr) and c (ckp1), written into the group."""
        k, warmup = group["k"], group["warmup_steps"]
        sched = (k + 1) / warmup if k < warmup else 1.0
        lr = group["scheduled_lr"] = group["lr"] * sched                 # γ = lr min(1, t / warmup)
        lr_max = group["lr_max"] = max(lr, group["lr_max"])              # γ_max ← max(γ_max, γ)
        weight = (k + 1) ** group["r"] * lr_max ** group["weight_lr_power"]  # w = t^r γ_max^p
        weight_sum = group["weight_sum"] = group["weight_sum"] + weight  # Σw
        group["ckp1"] = weight / weight_sum if weight_sum != 0 else 0.0  # c = w / Σw
