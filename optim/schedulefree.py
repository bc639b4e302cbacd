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
"""
import numpy as np

from minigrad.function import enable_grad
from minigrad.tensor import increment_version

from .optimizer import Optimizer, check, check_real
from .trace import Scalars


def update(y, g, z, v, h):
    """One schedule-free AdamW step on elements (or arrays): the equations above, in order."""
    v = h.beta2 * v + (1 - h.beta2) * g * g                 # v ← β2 v + (1-β2) g²
    u = g / (np.sqrt(v / h.bias_correction2) + h.eps)       # u = g / (sqrt(v̂) + ε)
    if h.decay:
        u = u + h.weight_decay * y                          # u ← u + λ y
    y = y + h.c * (z - y)                                   # y ← y + c (z - y)
    y = y + h.lr * (h.beta1 * (1 - h.c) - 1) * u            # y ← y + γ (β1 (1-c) - 1) u
    z = z - h.lr * u                                        # z ← z - γ u
    return y, z, v


class ScheduleFreeAdamW(Optimizer):
    __doc__ = __doc__  # the module docstring: citation, equations, conventions
    rule = staticmethod(update)
    state_arrays = ("z", "exp_avg_sq")

    def __init__(self, params, lr=0.0025, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 warmup_steps=0, r=0.0, weight_lr_power=2.0, foreach=None):
        defaults = dict(lr=lr, betas=betas, eps=eps, r=r, k=0, warmup_steps=warmup_steps,
                        train_mode=False, weight_sum=0.0, lr_max=-1.0, scheduled_lr=0.0, ckp1=0.0,
                        weight_lr_power=weight_lr_power, weight_decay=weight_decay,
                        foreach=foreach)
        super().__init__(params, defaults)

    def _check_group(self, group):
        super()._check_group(group)  # lr, eps, weight_decay >= 0; 0 <= betas < 1
        check(group["betas"][0] > 0.0, "beta1 (betas[0])", group["betas"][0],
              "0 < beta1 < 1: eval() recovers x from y by dividing by beta1")
        for name in ("warmup_steps", "k"):  # k: the steps taken (group state, as the reference)
            n = group[name]
            check(isinstance(n, int) and not isinstance(n, bool) and n >= 0, name, n,
                  "an integer >= 0")
        # the rest of the group state, as step() leaves it: loaded, it must be what a run makes
        for name in ("weight_sum", "lr_max", "scheduled_lr", "ckp1"):
            group[name] = check_real(name, group[name])
        check(group["weight_sum"] >= 0.0, "weight_sum", group["weight_sum"], "weight_sum >= 0")
        check(group["lr_max"] == -1.0 or group["lr_max"] >= 0.0, "lr_max", group["lr_max"],
              "-1 (no step yet) or >= 0")
        check(group["scheduled_lr"] >= 0.0, "scheduled_lr", group["scheduled_lr"], ">= 0")
        check(0.0 <= group["ckp1"] <= 1.0, "ckp1", group["ckp1"], "0 <= ckp1 <= 1 (a weight)")
        check(isinstance(group["train_mode"], bool), "train_mode", group["train_mode"],
              "True or False")

    # ======================================================================== y and x
    def eval(self):
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

    def train(self):
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
    def step(self, closure=None):
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

    def _advance_group(self, group):
        """This step's γ (scheduled_lr) and c (ckp1), written into the group."""
        k, warmup = group["k"], group["warmup_steps"]
        sched = (k + 1) / warmup if k < warmup else 1.0
        lr = group["scheduled_lr"] = group["lr"] * sched                 # γ = lr min(1, t / warmup)
        lr_max = group["lr_max"] = max(lr, group["lr_max"])              # γ_max ← max(γ_max, γ)
        weight = (k + 1) ** group["r"] * lr_max ** group["weight_lr_power"]  # w = t^r γ_max^p
        weight_sum = group["weight_sum"] = group["weight_sum"] + weight  # Σw
        group["ckp1"] = weight / weight_sum if weight_sum != 0 else 0.0  # c = w / Σw

    def _init_state(self, theta, group):
        return {"z": theta.copy(), "exp_avg_sq": np.zeros_like(theta)}

    def scalars(self, theta, state, group):
        (beta1, beta2), wd = group["betas"], group["weight_decay"]
        return Scalars(lr=group["scheduled_lr"], c=group["ckp1"], beta1=beta1, beta2=beta2,
                       eps=group["eps"], bias_correction2=1 - beta2 ** (group["k"] + 1),
                       weight_decay=wd, decay=wd != 0)
