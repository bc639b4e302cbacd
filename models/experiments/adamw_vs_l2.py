"""Adam + L2 against AdamW: a grid of learning rate × weight decay, and where the best λ lies.

L2 adds λθ to the gradient g, and Adam then divides it by sqrt(v̂) + ε like the rest of the
gradient, so each weight is pulled towards 0 at its own rate. AdamW (Loshchilov & Hutter 2019)
decouples the decay from Adam's rescaling. How much θ shrinks per step differs between the
paper and torch (optim.AdamW), when lr(t) = α η_t is the base rate α times a schedule η_t:

    g ← g + λ θ;  θ ← θ - lr(t) m̂ / (sqrt(v̂) + ε)     Adam + L2: decay lr(t) λ / (sqrt(v̂) + ε)
    θ ← θ (1 - lr(t) λ_torch)                         AdamW in torch, then Adam's step: decay α η_t λ_torch
    θ ← θ (1 - η_t λ_paper)                           the paper's Algorithm 2, then Adam's step: decay η_t λ_paper
    λ_torch = λ_paper / α                             the two are one algorithm

Loshchilov & Hutter's point is that with the decay decoupled the best λ_paper does not depend
on α (the hyperparameters separate); then the best λ_torch must fall as 1/α. Adam + L2's best
λ is tied to the rate.

The task overfits: a plain MLP 64-128-10 (no dropout or batch norm) trained on 200 of the digits
training images for 1,200 steps of 32, with a cosine schedule η_t = (1 + cos(π t / T)) / 2, scored
by cross entropy on the 269 validation images. Varied: α in {1e-3, 3e-3, 1e-2, 3e-2} and, per
method, five decays one decade apart, plus no decay (λ = 0, where all three are plain Adam); the
AdamW grid is run twice, in torch's λ and in the paper's (weight_decay = λ_paper / α: a point of
both grids is one run). Held fixed: the model, the data, the schedule, betas and ε; per seed s
(5 in the full run) every run starts from the same initialisation and sees the same batches.

Per seed and method the best λ at each α is where the validation loss is lowest (refined by a
parabola through the lowest grid point and its neighbours, in log λ); the slope of log10(best λ)
against log10(α), fitted over the four rates, says how the best λ moves with the rate: 0 for
independent, -1 for "falls as 1/α". A slope counts as that value within ±0.5 (half a decade of λ
per decade of α, the grid's resolution after the refinement). Two validation losses differ when
they differ by 0.02 nats: one of the 269 validation images going from right to confidently wrong
(-log p ≈ 5) moves the mean by that much.
"""
import numpy as np

import optim
from models import plots
from models.mlp import MLP
from models.tasks import DigitsTask

from . import parallel, verdicts
from .common import figure_path, fit, table

QUOTE = ("In paraphrase: AdamW decouples the weight decay from Adam's per-parameter rescaling; with "
         "L2 the decay is divided by sqrt(v̂) like the gradient (Loshchilov & Hutter 2019: "
         "decoupling makes the best decay independent of the learning rate).")
SECTION = "AdamW"
LOOK_FOR = (
    "The top row is three heatmaps of validation loss (darker is lower; each cell the mean over "
    "seeds, the white dot each rate's best λ). If Loshchilov & Hutter's point held here, the "
    "dots of AdamW in the paper's λ (right) would stand in one column, and those in torch's λ "
    "(middle) would slide one decade left per decade of rate. Bottom left: the best λ against "
    "the rate, with its fitted slope, per seed (thin) and the median. Bottom middle: the best "
    "validation loss at each rate, against no decay at all: how much any decay buys on this "
    "task. Bottom right: Adam + L2's decay per weight is spread over decades; AdamW's is one "
    "number.")
USES = (optim.Adam, optim.AdamW)  # the optimizer classes it runs (its code hash covers them)
TRAIN_SIZE, BATCH = 200, 32
LRS = {False: (1e-3, 3e-3, 1e-2, 3e-2), True: (3e-3, 3e-2)}
LAMBDAS = {  # per method, five decays a decade apart (quick: two)
    "Adam + L2": {False: (1e-6, 1e-5, 1e-4, 1e-3, 1e-2), True: (1e-5, 1e-3)},
    "AdamW, torch's λ": {False: (1e-3, 1e-2, 1e-1, 1.0, 10.0), True: (1e-2, 1.0)},
    "AdamW, paper's λ": {False: (1e-5, 1e-4, 1e-3, 1e-2, 1e-1), True: (1e-4, 1e-2)},
}
METHODS = tuple(LAMBDAS)
STEPS = {False: 1200, True: 100}
SHOW = ("Adam + L2", 3e-3, 1e-3)  # the run whose per-weight decay the figure shows
# margins, fixed before the run (why: the module docstring)
SLOPE_MARGIN = 0.5  # decades of best λ per decade of lr
BETTER = 0.02       # nats of validation loss


class SmallDigits(DigitsTask):
    """The digits task on the first TRAIN_SIZE training images, with a plain MLP: it overfits."""

    def __init__(self):
        super().__init__()
        X, y = self.train
        self.train = X[:TRAIN_SIZE], y[:TRAIN_SIZE]

    def build(self, seed, variant=""):
        import minigrad as mg
        mg.manual_seed(seed)
        return MLP([64, 128, 10], activation="relu")


_TASK = {}


def digits():
    """The task, loaded once (before the workers fork, so they share it)."""
    if "digits" not in _TASK:
        _TASK["digits"] = SmallDigits()
    return _TASK["digits"]


def weight_decay_argument(method, lr, lam):
    """What the optimizer is given: λ itself, or for the paper's λ, λ_paper / α (rounded to 12
    digits, so that a point on both AdamW grids is the same call)."""
    return float(f"{lam / lr:.12g}") if method == "AdamW, paper's λ" else lam


def train(seed, decoupled, lr, weight_decay, steps, show):
    """One run: validation and training loss, validation accuracy, and when show is set the
    decay's pull per step of every weight at the end (L2: lr λ / (sqrt(v̂) + ε))."""
    task = digits()
    model = task.build(seed)
    cls = optim.AdamW if decoupled else optim.Adam
    opt = cls(model.parameters(), lr=lr, weight_decay=weight_decay)
    sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    fit(task, model, opt, steps, BATCH, seed=seed, sched=sched)
    m = task.evaluate(model)
    out = {"val_loss": m["val_loss"], "train_loss": m["train_loss"], "val_acc": m["val_acc"]}
    if show:
        decay, group = [], opt.param_groups[0]
        for p in model.parameters():
            s = opt.state[p]
            h = cls.scalars(s["step"], group, s)  # the declaration's own eps and bias correction
            v_hat = s["exp_avg_sq"] / h.bias_correction2
            decay.append((lr * weight_decay / (np.sqrt(v_hat) + h.eps)).ravel())
        out["decay"] = np.concatenate(decay)
    return out


def best_log_lambda(losses, lams):
    """log10 of the λ with the lowest loss, refined by a parabola through it and its neighbours
    (kept within half a grid step); at the grid's edge, the edge."""
    x, y = np.log10(lams), np.asarray(losses, dtype=np.float64)
    i = int(np.argmin(y))
    if i == 0 or i == len(y) - 1:
        return float(x[i])
    a, b, _ = np.polyfit(x[i - 1:i + 2], y[i - 1:i + 2], 2)
    step = (x[i + 1] - x[i - 1]) / 4
    return float(np.clip(-b / (2 * a), x[i] - step, x[i] + step)) if a > 0 else float(x[i])


def slope(lrs, log_best):
    """The least-squares slope of log10(best λ) against log10(lr)."""
    return float(np.polyfit(np.log10(lrs), log_best, 1)[0])


def run(quick=False, out="runs/experiments"):
    seeds, lrs, steps = verdicts.seeds(quick), LRS[quick], STEPS[quick]
    lams = {m: LAMBDAS[m][quick] for m in METHODS}
    calls = {}  # (seed, decoupled, lr, weight_decay) -> index of the job: one run per distinct call
    cells = {}  # (method, seed, lr, λ) -> the call
    for s in seeds:
        for lr in lrs:
            cells["none", s, lr, 0.0] = (s, False, lr, 0.0)
            for m in METHODS:
                for lam in lams[m]:
                    cells[m, s, lr, lam] = (s, m != "Adam + L2", lr, weight_decay_argument(m, lr, lam))
    for call in cells.values():
        calls.setdefault(call, len(calls))
    show = SHOW if SHOW[1] in lrs and SHOW[2] in lams[SHOW[0]] else (SHOW[0], lrs[0], lams[SHOW[0]][0])
    shown = {cells[show[0], s, show[1], show[2]] for s in seeds}
    jobs = [(*call, steps, call in shown) for call in calls]
    digits()  # loaded before the workers fork
    done = parallel.map(train, jobs)
    res = {key: done[calls[call]] for key, call in cells.items()}
    print(f"digits MLP 64-128-10 on {TRAIN_SIZE} training images, {steps} steps of {BATCH}, cosine "
          f"schedule; {len(calls)} distinct runs ({len(seeds)} seeds). Validation loss, mean over seeds:")
    val = {(m, lr, lam): np.array([res[m, s, lr, lam]["val_loss"] for s in seeds])
           for (m, s, lr, lam) in cells}
    for m in METHODS:
        rows = [[f"{lr:g}", f"{val['none', lr, 0.0].mean():.4f}"]
                + [f"{val[m, lr, lam].mean():.4f}" for lam in lams[m]] for lr in lrs]
        print(f"\n{m}")
        table(["lr", "no decay"] + [f"λ {lam:g}" for lam in lams[m]], rows)
    result = {"val_loss": {f"{m} lr {lr:g} λ {lam:g}": v.tolist() for (m, lr, lam), v in val.items()}}

    # where the best λ lies, per seed and rate, and how it moves with the rate
    best = {m: np.array([[best_log_lambda([res[m, s, lr, lam]["val_loss"] for lam in lams[m]], lams[m])
                          for lr in lrs] for s in seeds]) for m in METHODS}
    slopes = {m: [slope(lrs, best[m][i]) for i in range(len(seeds))] for m in METHODS}
    rows = [[m] + [f"{10 ** np.median(best[m][:, j]):.2g}" for j in range(len(lrs))]
            + [f"{np.mean(slopes[m]):+.2f}"] for m in METHODS]
    print("\nbest λ at each rate (median over seeds, refined between grid points) and the slope of "
          "log10(best λ) against log10(lr) (mean over seeds)")
    table(["method"] + [f"lr {lr:g}" for lr in lrs] + ["slope"], rows)
    result.update(best_log10_lambda={m: b.tolist() for m, b in best.items()}, slopes=slopes)
    edges = []
    for m in METHODS:
        low = int(np.sum(best[m] == np.log10(lams[m][0])))
        high = int(np.sum(best[m] == np.log10(lams[m][-1])))
        if low or high:
            edges.append(f"{m}: {low} at the smallest λ, {high} at the largest")
    verdicts.note(f"of the {len(seeds) * len(lrs)} (seed, rate) pairs per method, the best λ fell at "
                  "the grid's edge for " + ("; ".join(edges) if edges else "none")
                  + " (an edge is a bound, not a location)")
    zero = [0.0] * len(seeds)
    verdicts.same("AdamW, paper's λ (decay η_t λ): the best λ does not depend on the learning "
                  "rate (log-slope of best λ against lr is 0)", slopes["AdamW, paper's λ"], zero,
                  SLOPE_MARGIN, names=("slope", "target"))
    verdicts.same("AdamW, torch's λ (decay lr λ): the best weight_decay falls as 1/lr "
                  "(log-slope -1)", slopes["AdamW, torch's λ"], [-1.0] * len(seeds), SLOPE_MARGIN,
                  names=("slope", "target"))
    verdicts.above("Adam + L2: the best λ moves with the learning rate (|log-slope| above "
                   f"{SLOPE_MARGIN:g})", np.abs(slopes["Adam + L2"]), SLOPE_MARGIN)

    # the best of each method, chosen on the mean over seeds, compared per seed
    top = {}
    for m in ("none", *METHODS):
        grid = [(lr, lam) for lr in lrs for lam in ((0.0,) if m == "none" else lams[m])]
        lr, lam = min(grid, key=lambda c: val[m, c[0], c[1]].mean())
        top[m] = (lr, lam, val[m, lr, lam])
    rows = [[m, f"{lr:g}", f"{lam:g}", f"{v.mean():.4f}", f"{v.min():.4f}", f"{v.max():.4f}",
             f"{100 * np.mean([res[m, s, lr, lam]['val_acc'] for s in seeds]):.1f}%"]
            for m, (lr, lam, v) in top.items()]
    print("\nthe best cell of each method (lowest mean validation loss over seeds)")
    table(["method", "lr", "λ", "val loss", "min", "max", "val acc"], rows)
    result["best"] = {m: {"lr": lr, "lambda": lam, "val_loss": v.tolist()} for m, (lr, lam, v) in top.items()}
    for m in METHODS:
        if top[m][1] == lams[m][0]:
            verdicts.note(f"{m}'s best λ ({top[m][1]:g} at lr {top[m][0]:g}) is the smallest in its "
                          "grid, the least decay tried: no evidence that decay helps it here")
    gains = []
    for lr in lrs:
        each = [f"{m.split(',')[0] if m == 'Adam + L2' else m} "
                f"{val['none', lr, 0.0].mean() - min(val[m, lr, lam].mean() for lam in lams[m]):+.3f}"
                for m in METHODS]
        gains.append(f"lr {lr:g}: " + ", ".join(each))
    verdicts.note("what the best decay gains over no decay at each rate (mean validation loss, nats; "
                  "positive: decay helps; the figure's bottom middle): " + "; ".join(gains))
    # AdamW's best: the better of its two grids (one algorithm, two ways to write λ)
    torch_grid = "AdamW, torch's λ"
    w_name = min((torch_grid, "AdamW, paper's λ"), key=lambda m: top[m][2].mean())
    w, a, none = top[w_name], top["Adam + L2"], top["none"]
    w_decay = f"weight_decay {w[1] if w_name == torch_grid else w[1] / w[0]:g}"
    verdicts.better(f"AdamW's best (lr {w[0]:g}, {w_decay}) beats Adam + L2's best (lr {a[0]:g}, "
                    f"λ {a[1]:g}) on validation", w[2], a[2], BETTER, names=("AdamW", "Adam + L2"),
                    unit=" nats")
    for m, (lr, decay, v) in (("AdamW", (w[0], w_decay, w[2])), ("Adam + L2", (a[0], f"λ {a[1]:g}", a[2]))):
        verdicts.better(f"decay helps {m}: its best (lr {lr:g}, {decay}) beats the best without "
                        f"decay (lr {none[0]:g})", v, none[2], BETTER, names=(m, "no decay"), unit=" nats")

    # Adam + L2's decay per weight
    spread = []
    for s in seeds:
        d = res[show[0], s, show[1], show[2]]["decay"]
        spread.append(float(np.percentile(d, 90) / np.percentile(d, 10)))
    d0 = res[show[0], seeds[0], show[1], show[2]]["decay"]
    result.update(decay_spread=spread, decay_percentiles={q: float(np.percentile(d0, q)) for q in (10, 50, 90)},
                  adamw_decay_at_show=show[1] * show[2])
    verdicts.above(f"under L2 the decay's pull differs per weight (lr {show[1]:g}, λ {show[2]:g}): "
                   "its 90th percentile over its 10th is above 10; AdamW's is one number, lr λ",
                   spread, 10.0, unit="x")
    result["png"] = _figure(val, best, slopes, top, lrs, lams, seeds, d0, show, figure_path(out, "adamw-vs-l2"))
    return result


COLORS = {"Adam + L2": "tab:red", "AdamW, torch's λ": "tab:blue", "AdamW, paper's λ": "tab:green",
          "none": "black"}


def _rate_ticks(ax, lrs):
    ax.set_xticks(lrs)
    ax.set_xticklabels([f"{lr:g}" for lr in lrs])
    ax.minorticks_off()
    ax.set_xlabel("learning rate (log)", fontsize=11)


def _figure(val, best, slopes, top, lrs, lams, seeds, decay, show, path):
    made = plots.panels(2, 3, (16, 10))
    if made is None:
        return None
    plt, fig, axes = made
    means = {m: np.array([[val[m, lr, lam].mean() for lam in lams[m]] for lr in lrs]) for m in METHODS}
    vmin = min(x.min() for x in means.values())
    vmax = min(max(x.max() for x in means.values()), 4 * vmin)
    for ax, m in zip(axes[:3], METHODS):
        im = ax.imshow(means[m], origin="lower", cmap="viridis", vmin=vmin, vmax=vmax, aspect="auto")
        for i in range(len(lrs)):
            for j in range(len(lams[m])):
                v = means[m][i, j]
                ax.text(j, i + 0.22, f"{v:.3f}", ha="center", va="center", fontsize=10,
                        color="white" if v < (vmin + vmax) / 2 else "black")
            b = np.median(best[m][:, i])
            x = np.interp(b, np.log10(lams[m]), np.arange(len(lams[m])))
            ax.plot(x, i - 0.12, "o", mfc="white", mec="k", ms=8)
        ax.set_xticks(range(len(lams[m])))
        ax.set_xticklabels([f"{lam:g}" for lam in lams[m]])
        ax.set_yticks(range(len(lrs)))
        ax.set_yticklabels([f"{lr:g}" for lr in lrs])
        ax.set_xlabel("weight decay λ" + (" (given as λ / lr)" if m == "AdamW, paper's λ" else ""), fontsize=11)
        if m == METHODS[0]:
            ax.set_ylabel("learning rate (base of the cosine)", fontsize=11)
        ax.set_title(f"{m}: val loss (nats), mean of {len(seeds)} seeds", fontsize=11)
    fig.colorbar(im, ax=axes[:3], fraction=0.02, pad=0.01, label="validation loss (nats)")

    ax = axes[3]
    for m in METHODS:
        b = best[m]
        for row in b:
            ax.plot(lrs, 10 ** row, color=COLORS[m], lw=0.7, alpha=0.4)
        ax.plot(lrs, 10 ** np.median(b, axis=0), "o-", color=COLORS[m], lw=2,
                label=f"{m}: slope {np.mean(slopes[m]):+.2f}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    _rate_ticks(ax, lrs)
    ax.set_ylabel("best λ (log; thin: each seed)", fontsize=11)
    ax.set_title("where the best λ lies, against the rate", fontsize=11)
    ax.legend(fontsize=9)
    ax.grid(alpha=0.3, which="both")

    ax = axes[4]
    for m in ("none", *METHODS):
        grid = (0.0,) if m == "none" else lams[m]
        per_seed = np.array([[min(val[m, lr, lam][k] for lam in grid) for lr in lrs] for k in range(len(seeds))])
        ax.plot(lrs, per_seed.mean(axis=0), "o-", color=COLORS[m], lw=2,
                label="no decay" if m == "none" else f"{m}, best λ per seed")
        if len(seeds) > 1:
            ax.fill_between(lrs, per_seed.min(axis=0), per_seed.max(axis=0), color=COLORS[m], alpha=0.15, lw=0)
    ax.set_xscale("log")
    _rate_ticks(ax, lrs)
    ax.set_ylabel("validation loss (nats; band: min-max over seeds)", fontsize=11)
    ax.set_title("best validation loss at each rate", fontsize=11)
    ax.legend(fontsize=9)
    ax.grid(alpha=0.3, which="both")

    ax = axes[5]
    bins = np.logspace(np.log10(decay.min()) - 0.1, np.log10(decay.max()) + 0.1, 60)
    ax.hist(decay, bins=bins, color="tab:red", alpha=0.7, label="Adam + L2: lr λ / (sqrt(v̂) + ε)")
    ax.axvline(show[1] * show[2], color="tab:blue", lw=2,
               label=f"AdamW at the same numbers: lr λ = {show[1] * show[2]:.0e}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("decay's pull per step, fraction of the weight (log)", fontsize=11)
    ax.set_ylabel("number of weights (log)", fontsize=11)
    ax.set_title(f"decay per weight at the end (lr {show[1]:g}, λ {show[2]:g}, seed 0)", fontsize=11)
    ax.set_ylim(0.5, ax.get_ylim()[1] * 30)
    ax.legend(loc="upper right", fontsize=9)
    ax.grid(alpha=0.3)
    fig.suptitle("Adam + L2 and AdamW over a grid of learning rate and weight decay: where is the best λ?",
                 fontsize=13)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path
