"""Adam's update is about lr · sign(m̂): its size is set by lr, not by the gradient's scale.

Adam divides the bias-corrected first moment by the root of the second (m̂, v̂: the averages of
g and g² of one weight, optim/adam.py), so multiplying every gradient by a constant c leaves the
step unchanged until ε matters:

    Δθ = -lr m̂ / (sqrt(v̂) + ε)                 Adam's step
    m̂ → c m̂,  sqrt(v̂) → |c| sqrt(v̂)             gradients multiplied by c
    |Δθ| / lr = |m̂| / (sqrt(v̂) + ε) ≤ about 1   and = 1 at t = 1 (|g| >> ε)
    Δθ = -lr sign(g)                           signSGD (Bernstein et al. 2018)
    Δθ = -lr sign(β1 m + (1 - β1) g)           Lion (Chen et al. 2023), m ← β2 m + (1 - β2) g

|m̂| / sqrt(v̂) equals 1 when the gradient's sign never changes and falls towards |E[g]| /
sqrt(E[g²]) when it flips from batch to batch: Adam is sign descent with a step that shrinks
where the sign is unreliable. signSGD is optim.Lion with betas (0, 0) (then c = g and
θ ← θ - lr sign(g); optim/lion.py's rule), Signum, the sign of a momentum, is optim.Lion with
betas (β, β), and Lion with its default betas (0.9, 0.99).

Three parts. (1) The names model (a character MLP on the surnames) trained with Adam at lr 3e-3
while every gradient is multiplied by c = 1e-3, 1 or 1e3 before the step: the distribution of
|Δθ| / lr over every weight, per step, per seed. (2) The Rosenbrock function from (-1, 1) with
its loss multiplied by 10^k, k = -3..3, Adam (lr 1e-2) beside SGD (lr 1e-3): deterministic, so
checked exactly. (3) Adam, signSGD, Signum (β 0.9) and Lion on the names task, each at three
learning rates, 500 steps of 96 examples; each method's best rate is the one with the lowest
mean validation loss over the seeds. Per seed s (5 in the full run) every run starts from the
same initialisation and sees the same batches.

The margins are fixed before the run: the median |Δθ| / lr under rescaling counts as the same
when it moves by less than 0.05 (5% of lr: less than a learning-rate sweep resolves); a
validation loss counts as better by 0.02 nats per character (about what 200 more steps of Adam
buy at the end of this budget, and twice the spread between seeds).
"""
import numpy as np

import optim
from models import plots
from models.tasks import make_task

from . import parallel, verdicts
from .common import figure_path, fit, table, val_loss

QUOTE = ("In paraphrase: Adam divides the first moment by the root of the second, so its update is "
         "roughly lr · sign(m̂), whatever the gradient's scale.")
SECTION = "Adam"
LOOK_FOR = (
    "Top left: the median update over lr for gradients multiplied by 1e-3, 1 and 1e3 lies on one "
    "curve: the scale of the gradient does not reach the step. It starts at 1 (pure sign "
    "descent) and falls well below 1 as the batch gradients disagree in sign. Top middle: at the "
    "end the whole distribution, not only its median, is the same for the three scales. Top "
    "right: on the Rosenbrock function Adam ends at the same point for every scale of the loss, "
    "while SGD stalls for a small scale and diverges for a large one. Bottom: validation loss "
    "against the learning rate for Adam and the sign methods (mean over seeds, band min-max), and "
    "the validation curves at each method's best rate.")
USES = (optim.Adam, optim.SGD, optim.Lion)  # the optimizer classes it runs (its code hash covers them)

# (2) Rosenbrock
ROSENBROCK_LR = {"Adam": 1e-2, "SGD": 1e-3}  # the Rosenbrock task's recommended rates
SCALES = range(-3, 4)
ROSENBROCK = {False: 3000, True: 400}
# (1) and (3): the names task
STEPS = {False: 500, True: 20}
EVERY = {False: 100, True: 10}     # validation loss every EVERY steps
VAL_EXAMPLES = {False: 10_000, True: 2_000}
ADAM_LR = 3e-3                     # the names task's Adam rate: part (1) runs at it
GRAD_SCALES = (1e-3, 1.0, 1e3)
METHODS = {  # name: (optimizer class, its arguments besides lr, the rates swept)
    "Adam": (optim.Adam, {}, (3e-4, 1e-3, 3e-3)),
    "signSGD": (optim.Lion, {"betas": (0.0, 0.0)}, (3e-4, 1e-3, 3e-3)),
    "Signum": (optim.Lion, {"betas": (0.9, 0.9)}, (1e-4, 3e-4, 1e-3)),
    "Lion": (optim.Lion, {"betas": (0.9, 0.99)}, (1e-4, 3e-4, 1e-3)),
}
QUICK_RATES = {"Adam": (3e-3,), "signSGD": (3e-4,), "Signum": (3e-4,), "Lion": (3e-4,)}
# margins, fixed before the run (why: the module docstring)
SAME_SIZE = 0.05   # |Δθ|/lr: a change of the median by less than this is "the same"
BETTER = 0.02      # nats/char of validation loss


def rosenbrock(p):
    x, y = p
    return (1 - x) ** 2 + 100 * (y - x * x) ** 2


def rosenbrock_grad(p):
    x, y = p
    return np.array([-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)])


def path(name, k, steps):
    """The points visited minimising 10^k * rosenbrock from (-1, 1); stops early at inf or NaN."""
    theta = np.array([-1.0, 1.0])
    state = optim.functional.init(name.lower(), theta)
    points = [theta.copy()]
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(steps):
            g = 10.0 ** k * rosenbrock_grad(theta)
            if not np.all(np.isfinite(g)):
                break
            getattr(optim.functional, name.lower())(theta, g, state, lr=ROSENBROCK_LR[name])
            points.append(theta.copy())
            if not np.all(np.isfinite(theta)) or np.abs(theta).max() > 1e6:
                break
    return np.array(points)


_TASK = {}


def names_task():
    """The names task, loaded once (before the workers fork, so they share it)."""
    if "names" not in _TASK:
        _TASK["names"] = make_task("names")
    return _TASK["names"]


class Rescaled:
    """An optimizer whose every gradient is multiplied by c before it steps."""

    def __init__(self, opt, c):
        self.opt, self.c = opt, c

    def zero_grad(self):
        self.opt.zero_grad()

    def step(self):
        if self.c != 1.0:
            for group in self.opt.param_groups:
                for p in group["params"]:
                    p.grad = p.grad * self.c
        self.opt.step()


def train(seed, method, lr, c, steps, every, n_val):
    """Seed s of one method at one rate (gradients times c): training losses, validation losses
    every `every` steps, and per step the median, 10th and 90th percentile of |Δθ|/lr and the
    share within a factor 2 of lr; the last step's |Δθ|/lr of every weight."""
    task = names_task()
    model = task.build(seed)
    cls, kwargs, _ = METHODS[method]
    opt = Rescaled(cls(model.parameters(), lr=lr, **kwargs), c)
    params = model.parameters()
    before = [p.data.copy() for p in params]
    sizes, vals, last = [], [], []

    def on_step(step):
        u = np.concatenate([np.abs(p.data - b).ravel() for p, b in zip(params, before)]) / lr
        sizes.append((np.median(u), np.percentile(u, 10), np.percentile(u, 90),
                      np.mean((u > 0.5) & (u < 2))))
        for p, b in zip(params, before):
            b[...] = p.data
        if step % every == 0 or step == steps:
            vals.append((step, val_loss(task, model, n_val)))
        if step == steps:
            last.append(u.astype(np.float32))

    losses = fit(task, model, opt, steps, task.batch_size, seed=seed, on_step=on_step)
    return {"loss": np.array(losses), "sizes": np.array(sizes), "val": np.array(vals),
            "last_update": last[0]}


def run(quick=False, out="runs/experiments"):
    result = {}
    seeds = verdicts.seeds(quick)
    steps, every, n_val = STEPS[quick], EVERY[quick], VAL_EXAMPLES[quick]
    rates = QUICK_RATES if quick else {m: spec[2] for m, spec in METHODS.items()}
    jobs = [(s, m, lr, 1.0, steps, every, n_val) for m in METHODS for lr in rates[m] for s in seeds]
    jobs += [(s, "Adam", ADAM_LR, c, steps, every, n_val) for c in GRAD_SCALES if c != 1.0 for s in seeds]
    names_task()  # loaded before the workers fork
    done = dict(zip([j[:4] for j in jobs], parallel.map(train, jobs)))

    # (1) the update's size under rescaling
    marks = [t for t in (1, 10, 100, steps) if t <= steps]
    rows = []
    for c in GRAD_SCALES:
        for t in marks:
            each = np.array([done[s, "Adam", ADAM_LR, c]["sizes"][t - 1] for s in seeds])
            rows.append([f"{c:g}", str(t)] + [f"{x:.3f}" for x in each[:, :3].mean(axis=0)]
                        + [f"{100 * each[:, 3].mean():.1f}%"])
    print(f"(1) names model, Adam lr {ADAM_LR:g}, gradients multiplied by c: |update| / lr over all "
          f"weights (mean over {len(seeds)} seeds)")
    table(["c", "step", "median", "10th pct", "90th pct", "in (0.5, 2)"], rows)
    med = {c: [float(np.median(done[s, "Adam", ADAM_LR, c]["sizes"][:, 0])) for s in seeds]
           for c in GRAD_SCALES}
    first = [done[s, "Adam", ADAM_LR, 1.0]["sizes"][0, 3] for s in seeds]
    end = [done[s, "Adam", ADAM_LR, 1.0]["sizes"][-1, 0] for s in seeds]
    result["update_sizes"] = {f"{c:g}": {"median_over_steps": med[c],
                                         "per_step": [done[s, "Adam", ADAM_LR, c]["sizes"].tolist()
                                                      for s in seeds]} for c in GRAD_SCALES}
    result.update(first_within_2x=first, last_median=end)
    verdicts.above("at step 1 Adam's update is lr · sign(g): the share of weights moved by between "
                   "0.5 and 2 times lr is above 95%", [100 * x for x in first], 95.0, unit="%")
    for c in GRAD_SCALES:
        if c != 1.0:
            verdicts.same(f"with every gradient multiplied by {c:g} the median |update|/lr (the "
                          f"median over steps of each step's median) is the same as at scale 1",
                          med[c], med[1.0], SAME_SIZE, names=(f"x{c:g}", "x1"))
    verdicts.above(f"later (step {steps}) the update is still about lr: the median |update|/lr "
                   "is above 0.5", end, 0.5)

    # (2) Rosenbrock, loss times 10^k: deterministic
    n = ROSENBROCK[quick]
    paths = {(name, k): path(name, k, n) for name in ROSENBROCK_LR for k in SCALES}
    rows, result["rosenbrock"] = [], {}
    for k in SCALES:
        r = result["rosenbrock"][k] = {}
        for name in ROSENBROCK_LR:
            p = paths[name, k]
            diverged = len(p) < n + 1
            ref = paths[name, 0]
            m = min(len(p), len(ref))
            d = np.linalg.norm(p[:m] - ref[:m], axis=1)
            # at the minimum Adam keeps stepping by about lr, and rounding differences between
            # the scaled runs grow there: the path is compared until it reaches loss 1e-6
            near = np.flatnonzero(rosenbrock(ref[:m].T) < 1e-6)
            until = near[0] if near.size else m
            r[name] = {"final_loss": float("inf") if diverged else float(rosenbrock(p[-1])),
                       "diverged": diverged, "max_distance_from_k0": float(d[:until].max()),
                       "max_distance_at_minimum": float(d[until:].max()) if until < m else 0.0}
        rows.append((f"{k:+d}", f"{r['Adam']['final_loss']:.3g}", f"{r['Adam']['max_distance_from_k0']:.1e}",
                     f"{r['Adam']['max_distance_at_minimum']:.1e}",
                     "diverged" if r["SGD"]["diverged"] else f"{r['SGD']['final_loss']:.3g}"))
    print(f"\n(2) Rosenbrock from (-1, 1), loss x 10^k, {n} steps (Adam lr {ROSENBROCK_LR['Adam']:g}, "
          f"SGD lr {ROSENBROCK_LR['SGD']:g}); deterministic")
    table(["k", "Adam final loss", "Adam max dist. from k=0 path", "then, at the minimum",
           "SGD final loss"], rows)
    adam_dev = max(result["rosenbrock"][k]["Adam"]["max_distance_from_k0"] for k in SCALES)
    sgd = result["rosenbrock"]
    start = rosenbrock((-1.0, 1.0))
    at_min = max(result["rosenbrock"][k]["Adam"]["max_distance_at_minimum"] for k in SCALES)
    verdicts.exact("Rosenbrock: Adam's path does not depend on the loss's scale (10^-3 to 10^3); "
                   "SGD's stalls at 10^-3 and diverges at 10^3",
                   adam_dev < 1e-3 and at_min < ROSENBROCK_LR["Adam"] and sgd[3]["SGD"]["diverged"]
                   and sgd[-3]["SGD"]["final_loss"] > 0.99 * start,
                   f"Adam's paths for k = -3..3 are at most {adam_dev:.1e} from k = 0's until the loss "
                   f"is 1e-6, then {at_min:.1e} (< lr: rounding differences grow as it circles the "
                   f"minimum); SGD from loss {start:g}: {sgd[-3]['SGD']['final_loss']:.3g} at k = -3, "
                   f"{sgd[0]['SGD']['final_loss']:.3g} at 0, "
                   f"{'diverged' if sgd[3]['SGD']['diverged'] else sgd[3]['SGD']['final_loss']} at 3")
    result["adam_max_distance"] = adam_dev

    # (3) Adam against the sign methods at their best rates
    final = {(m, lr): [float(done[s, m, lr, 1.0]["val"][-1, 1]) for s in seeds]
             for m in METHODS for lr in rates[m]}
    rows = [[m, f"{lr:g}", f"{np.mean(v):.4f}", f"{np.min(v):.4f}", f"{np.max(v):.4f}"]
            for (m, lr), v in final.items()]
    print(f"\n(3) names model, {steps} steps of {names_task().batch_size}: validation loss "
          f"(nats/char, {n_val} examples) over {len(seeds)} seeds")
    table(["method", "lr", "mean val loss", "min", "max"], rows)
    best = {m: min(rates[m], key=lambda lr: np.mean(final[m, lr])) for m in METHODS}
    result["val_loss"] = {f"{m} {lr:g}": v for (m, lr), v in final.items()}
    result["best_lr"] = best
    result["best_val"] = {m: final[m, best[m]] for m in METHODS}
    edge = [f"{m} ({best[m]:g}, the {'smallest' if best[m] == min(rates[m]) else 'largest'} rate tried)"
            for m in METHODS if len(rates[m]) > 1 and best[m] in (min(rates[m]), max(rates[m]))]
    verdicts.note("each method's best rate is picked on the same validation losses the comparison "
                  "uses (no separate test split for the names task): a small bias in every "
                  "method's favour alike" + (f"; at the edge of its sweep: {', '.join(edge)}" if edge else ""))
    a = final["Adam", best["Adam"]]
    for m in ("signSGD", "Signum", "Lion"):
        verdicts.better(f"Adam (lr {best['Adam']:g}) beats {m} (lr {best[m]:g}) on validation, each "
                        "at its best rate", a, final[m, best[m]], BETTER, names=("Adam", m), unit=" nats")
    verdicts.better(f"momentum helps sign descent: Signum (lr {best['Signum']:g}) beats signSGD "
                    f"(lr {best['signSGD']:g})", final["Signum", best["Signum"]],
                    final["signSGD", best["signSGD"]], BETTER, names=("Signum", "signSGD"), unit=" nats")
    result["png"] = _figure(done, seeds, rates, best, paths, n, adam_dev, figure_path(out, "sign-descent"))
    return result


COLORS = {"Adam": "tab:blue", "signSGD": "tab:red", "Signum": "tab:orange", "Lion": "tab:green"}
SCALE_COLORS = {1e-3: "tab:purple", 1.0: "black", 1e3: "tab:cyan"}


def _band(ax, x, ys, color, label, **kw):
    ys = np.asarray(ys)
    ax.plot(x, ys.mean(axis=0), color=color, label=label, **kw)
    if len(ys) > 1:
        ax.fill_between(x, ys.min(axis=0), ys.max(axis=0), color=color, alpha=0.2, lw=0)


def _figure(done, seeds, rates, best, paths, n, adam_dev, path):
    made = plots.panels(2, 3, (16, 9.5))
    if made is None:
        return None
    plt, fig, axes = made
    ax = axes[0]
    for c, width, style in ((1e-3, 5, "-"), (1.0, 2.5, "-"), (1e3, 1.2, "--")):
        ys = [done[s, "Adam", ADAM_LR, c]["sizes"][:, 0] for s in seeds]
        _band(ax, np.arange(1, len(ys[0]) + 1), ys, SCALE_COLORS[c], f"gradients x {c:g}", lw=width, ls=style)
    ax.set_xscale("log")
    ax.set_xlabel("step (log)", fontsize=11)
    ax.set_ylabel("median |update| / lr over all weights", fontsize=11)
    ax.set_title(f"names, Adam lr {ADAM_LR:g}: the update's size under rescaling", fontsize=11)
    ax.legend(fontsize=10)
    ax.grid(alpha=0.3, which="both")

    ax = axes[1]
    bins = np.logspace(-5, 0.7, 60)
    for c, width, style in ((1e-3, 4, "-"), (1.0, 2.2, "-"), (1e3, 1.2, "--")):
        u = done[seeds[0], "Adam", ADAM_LR, c]["last_update"]
        ax.hist(np.clip(u, bins[0], bins[-1]), bins=bins, histtype="step", lw=width, ls=style,
                color=SCALE_COLORS[c], label=f"gradients x {c:g}")
    ax.axvline(1, color="k", ls=":", lw=1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("|update| / lr per weight at the last step (log, clipped)", fontsize=11)
    ax.set_ylabel("number of weights (log)", fontsize=11)
    ax.set_title("the whole distribution at the end (seed 0)", fontsize=11)
    ax.legend(fontsize=10, loc="upper left")
    ax.grid(alpha=0.3)

    ax = axes[2]
    ks = np.array(list(SCALES))
    for name, color in (("Adam", "tab:blue"), ("SGD", "tab:red")):
        losses = np.array([rosenbrock(paths[name, k][-1]) if len(paths[name, k]) == n + 1 else np.nan
                           for k in ks])
        ax.plot(ks, losses, "o-", color=color, label=f"{name} (lr {ROSENBROCK_LR[name]:g})")
        bad = np.isnan(losses)
        if bad.any():
            ax.plot(ks[bad], np.full(bad.sum(), 1e2), "x", color=color, ms=10, mew=2,
                    label=f"{name} diverged (drawn at 100)")
    ax.set_yscale("log")
    ax.set_xlabel("k: the loss is multiplied by 10^k", fontsize=11)
    ax.set_ylabel(f"Rosenbrock value after {n} steps (log)", fontsize=11)
    ax.set_title(f"Rosenbrock: Adam's paths coincide ({adam_dev:.0e} apart)", fontsize=11)
    ax.legend(loc="lower left", fontsize=10)
    ax.grid(alpha=0.3, which="both")

    ax = axes[3]
    for m in METHODS:
        lrs = np.array(rates[m])
        ys = np.array([[done[s, m, lr, 1.0]["val"][-1, 1] for lr in lrs] for s in seeds])
        _band(ax, lrs, ys, COLORS[m], m, marker="o", lw=1.8)
        ax.plot(best[m], ys.mean(axis=0)[list(lrs).index(best[m])], "*", color=COLORS[m], ms=16, mec="k")
    ax.set_xscale("log")
    ticks = sorted({lr for m in METHODS for lr in rates[m]})
    ax.set_xticks(ticks)
    ax.set_xticklabels([f"{lr:g}" for lr in ticks])
    ax.minorticks_off()
    ax.set_xlabel("learning rate (log)", fontsize=11)
    ax.set_ylabel("final validation loss (nats/char)", fontsize=11)
    ax.set_title("names: validation loss against the rate (* best)", fontsize=11)
    ax.legend(fontsize=10)
    ax.grid(alpha=0.3, which="both")

    ax = axes[4]
    for m in METHODS:
        vals = [done[s, m, best[m], 1.0]["val"] for s in seeds]
        _band(ax, vals[0][:, 0], [v[:, 1] for v in vals], COLORS[m], f"{m}, lr {best[m]:g}", marker="o", lw=1.8)
    ax.set_xlabel("step", fontsize=11)
    ax.set_ylabel("validation loss (nats/char)", fontsize=11)
    ax.set_title("names: validation curves at each method's best rate", fontsize=11)
    ax.legend(fontsize=10)
    ax.grid(alpha=0.3)

    ax = axes[5]
    for m in METHODS:
        ys = [done[s, m, best[m], 1.0]["sizes"][:, 0] for s in seeds]
        _band(ax, np.arange(1, len(ys[0]) + 1), ys, COLORS[m], f"{m}, lr {best[m]:g}", lw=1.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("step (log)", fontsize=11)
    ax.set_ylabel("median |update| / lr (log)", fontsize=11)
    ax.set_title("sign methods: every line at 1 (they overlap); Adam below", fontsize=11)
    ax.legend(fontsize=10)
    ax.grid(alpha=0.3, which="both")
    return path if plots.save_panels(plt, fig, path, "Adam's update is about lr · sign(m̂) in size, "
                                     "whatever the gradient's scale; Adam against signSGD, Signum "
                                     "and Lion") else None
