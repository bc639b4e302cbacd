"""hyperparameters: does the common hyperparameter table hold the best setting?

Practical guides give a table of starting points. The one this course's article gives (as issue
20 reports it; the page itself was not readable here) is:

    SGD + momentum 0.9   lr 0.01 – 0.1; weight decay 1e-4 (L2: λθ added to the gradient)
    Adam                 lr 1e-4 – 1e-3; weight decay 1e-4 (L2)
    AdamW                lr 1e-4 – 1e-3; weight decay 0.01 – 0.1 (decoupled: θ ← θ(1 - lr λ))

What is varied: the learning rate (the code's `lr`, the article's α) on a grid of half-decades
that reaches past each range on both sides (SGD with momentum 1e-3 to 1, Adam and AdamW 3e-5 to
0.1), and the weight decay λ (`weight_decay`): the table's value against none (SGD and Adam: 0
and 1e-4; AdamW: 0, 0.01 and 0.1; AdamW without decay is Adam, and is that run). What is held
fixed: the two tasks of lr-sensitivity (the digits MLP, 500 steps; the names character MLP,
1,000 steps; models/experiments/sweeps.py, whose runs the two experiments share), the batches
and initialisation of each seed, no schedule. What is measured: the final validation loss, 5
seeds per setting.

For each optimizer and task, the best setting is the one with the lowest mean validation loss over
the seeds; the best inside the table is the best among the settings the table allows. The question
a reader of the table has is whether starting inside it costs anything, per seed s: d_s = L_s(best
inside) - L_s(best overall), with L the final validation loss in nats; the claim holds when the
95% interval of the mean d lies inside ±δ (MARGIN, per task). δ is 0.05 nats on digits and 0.03
nats per character on names: a few times the spread of one setting's loss across seeds (its
standard deviation at the best rates, measured: 0.011-0.016 on digits, 0.004-0.010 on names), and
2–4% of what training learns (ln K - L*: 2.2 nats on digits, 0.85 on names). A smaller gap is one
a practitioner would not tune for. The budgets are short (500 and 1,000 steps), and a short budget
favours larger rates: the best rate found here is the best for this budget, which is how such a
table is usually used (a starting point for a short trial run).
"""
import math

import numpy as np

from models import plots

from . import sweeps, verdicts
from .common import figure_path, table

QUOTE = ("In paraphrase: common starting points are SGD with momentum at lr 0.01–0.1 with weight "
         "decay 1e-4, and Adam or AdamW at lr 1e-4–1e-3, AdamW with weight decay 0.01–0.1 (the "
         "article's table as issue 20 reports it; not checked against the page).")
SECTION = "Practical recipes"
LOOK_FOR = (
    "Each panel is one optimizer on one task: the mean validation loss over 5 seeds for every "
    "learning rate (across) and weight decay (down), darker is better. The black frame is the "
    "table's recommended region, the white star the best setting of the sweep, the white circle "
    "the best inside the frame. Look first at whether the star is inside the frame; then, when "
    "it is not, at the numbers in the two cells: a star a column outside the frame whose loss "
    "is within the margin of the circle's means the table is a good start; one whose loss is "
    "far better means the table's range is off for this budget. Weight decay (the rows) barely "
    "matters at these budgets; the learning rate (the columns) decides.")
USES = sweeps.USES  # the optimizer classes it runs (its code hash covers them)

MARGIN = {"digits": 0.05, "names": 0.03}  # nats: see the docstring (a few seeds' spread, 2-4% of ln K - L*)
# optimizer: (lr grid q = 4 log10 lr, weight decays swept, table's lr range, table's decay range)
SWEEP = {
    "SGD+momentum": (range(-12, 1, 2), (0.0, 1e-4), (0.01, 0.1), (1e-4, 1e-4)),
    "Adam": (range(-18, -3, 2), (0.0, 1e-4), (1e-4, 1e-3), (1e-4, 1e-4)),
    "AdamW": (range(-18, -3, 2), (0.0, 1e-2, 1e-1), (1e-4, 1e-3), (1e-2, 1e-1)),
}
QUICK_LRS = 4  # a smoke run sweeps the four rates around each table's range


def grid(opt, quick):
    qs = list(SWEEP[opt][0])
    if quick:
        first = next(i for i, q in enumerate(qs) if decades_outside(opt, sweeps.lr_of(q)) == 0.0)
        start = max(0, min(first - 1, len(qs) - QUICK_LRS))
        qs = qs[start:start + QUICK_LRS]
    return qs


def inside(opt, q, wd):
    """Whether (lr, wd) is in the table's region (a small tolerance for the grid's rounding)."""
    _, _, (lo, hi), (wlo, whi) = SWEEP[opt]
    lr, tol = sweeps.lr_of(q), 1 + 1e-9
    return lo <= lr * tol and lr <= hi * tol and wlo <= wd * tol and wd <= whi * tol


def decades_outside(opt, lr):
    """How far lr lies outside the table's lr range, in decades (0 inside; + above, - below)."""
    lo, hi = SWEEP[opt][2]
    if lr > hi * (1 + 1e-9):
        return math.log10(lr / hi)
    if lr < lo * (1 - 1e-9):
        return math.log10(lr / lo)
    return 0.0


def keys(quick):
    seeds = verdicts.seeds(quick)
    return [(t, o, q, wd, s, bool(quick)) for t in sweeps.TASKS for o in SWEEP
            for q in grid(o, quick) for wd in SWEEP[o][1] for s in seeds]


def run(quick=False, out="runs/experiments"):
    seeds = verdicts.seeds(quick)
    got = sweeps.final_losses(keys(quick))
    print(f"final validation loss after {', '.join(f'{t} {sweeps.steps_of(t, quick)} steps' for t in sweeps.TASKS)}; "
          f"mean over {len(seeds)} seeds; the table's region marked *")
    result = {"tasks": {}}
    for t in sweeps.TASKS:
        result["tasks"][t] = {}
        for o, (_, wds, lr_range, wd_range) in SWEEP.items():
            qs = grid(o, quick)
            L = np.array([[[got[t, o, q, wd, s, bool(quick)] for s in seeds] for q in qs] for wd in wds])
            mean = L.mean(axis=2)  # weight decays x rates
            ib = np.unravel_index(np.argmin(mean), mean.shape)
            mask = np.array([[inside(o, q, wd) for q in qs] for wd in wds])
            masked = np.where(mask, mean, np.inf)
            ii = np.unravel_index(np.argmin(masked), mean.shape)
            best_lr, in_lr = sweeps.lr_of(qs[ib[1]]), sweeps.lr_of(qs[ii[1]])
            result["tasks"][t][o] = {
                "lrs": [sweeps.lr_of(q) for q in qs], "wds": list(wds), "mean": mean.tolist(),
                "losses": L.tolist(), "inside": mask.tolist(), "lr_range": lr_range, "wd_range": wd_range,
                "best": {"lr": best_lr, "wd": wds[ib[0]], "loss": float(mean[ib]), "per_seed": L[ib].tolist(),
                         "inside": bool(mask[ib]), "decades_outside": decades_outside(o, best_lr)},
                "best_inside": {"lr": in_lr, "wd": wds[ii[0]], "loss": float(mean[ii]),
                                "per_seed": L[ii].tolist()},
                "index": {"best": [int(i) for i in ib], "inside": [int(i) for i in ii]}}
        print(f"\n{t}: mean final validation loss (nats); rows: optimizer and weight decay, columns: lr")
        for o, r in result["tasks"][t].items():
            rows = []
            for i, wd in enumerate(r["wds"]):
                rows.append([f"{o} wd {wd:g}"] + [f"{r['mean'][i][j]:.4f}" + ("*" if r["inside"][i][j] else " ")
                                                  for j in range(len(r["lrs"]))])
            table(["optimizer, decay"] + [f"lr {lr:.2g}" for lr in r["lrs"]], rows)
        rows = []
        for o, r in result["tasks"][t].items():
            b, i = r["best"], r["best_inside"]
            d = b["decades_outside"]
            where = "inside" if b["inside"] else (
                f"outside: lr {abs(d):.1f} decades {'above' if d > 0 else 'below'}" if d else "outside: the decay only")
            rows.append((o, f"lr {b['lr']:.2g}, wd {b['wd']:g}", f"{b['loss']:.4f}", where,
                         f"lr {i['lr']:.2g}, wd {i['wd']:g}", f"{i['loss']:.4f}"))
        print()
        table(["optimizer", "best setting", "val loss", "where", "best inside the table", "val loss"], rows)
    print()
    for t in sweeps.TASKS:
        for o, r in result["tasks"][t].items():
            b, i = r["best"], r["best_inside"]
            d = b["decades_outside"]
            where = (f"its lr inside the table's range {r['lr_range'][0]:g}-{r['lr_range'][1]:g}" if not d else
                     f"its lr {abs(d):.1f} decades {'above' if d > 0 else 'below'} the table's range "
                     f"{r['lr_range'][0]:g}-{r['lr_range'][1]:g}")
            wlo, whi = r["wd_range"]
            decay_in = wlo <= b["wd"] * (1 + 1e-9) and b["wd"] <= whi * (1 + 1e-9)
            where += (f", its decay {'inside' if decay_in else 'outside'} the table's {wlo:g}"
                      + (f"-{whi:g}" if whi != wlo else ""))
            verdicts.note(f"{t}, {o}: the best setting by mean validation loss, lr {b['lr']:.2g} and "
                          f"weight decay {b['wd']:g} (loss {b['loss']:.4f}): {where}")
            verdicts.same(f"{t}, {o}: the best setting inside the table (lr {i['lr']:.2g}, wd {i['wd']:g}) "
                          f"is within {MARGIN[t]:g} nats of the best overall (lr {b['lr']:.2g}, wd {b['wd']:g})",
                          i["per_seed"], b["per_seed"], MARGIN[t], names=("inside", "best"), unit=" nats")
    result["png"] = _figure(result, quick, figure_path(out, "hyperparameters"))
    return result


def _figure(result, quick, path):
    made = plots.panels(2, 3, (16, 8.5))
    if made is None:
        return None
    plt, fig, axes = made
    for row, t in enumerate(sweeps.TASKS):
        for col, (o, r) in enumerate(result["tasks"][t].items()):
            ax = axes[3 * row + col]
            mean = np.array(r["mean"])
            finite = mean[np.isfinite(mean)]
            lo = finite.min()
            hi = lo + 0.35 * (sweeps.chance(t) - lo)
            shown = np.where(np.isfinite(mean), np.minimum(mean, hi), hi)
            ax.imshow(shown, cmap="viridis", vmin=lo, vmax=hi, aspect="auto", origin="lower")
            for i in range(mean.shape[0]):
                for j in range(mean.shape[1]):
                    v = mean[i, j]
                    ax.text(j, i - 0.22, f"{v:.3f}" if math.isfinite(v) else "inf", ha="center", va="center",
                            fontsize=8.5, color="w" if shown[i, j] < lo + 0.6 * (hi - lo) else "k")
            cols = [j for j in range(mean.shape[1]) if any(r["inside"][i][j] for i in range(mean.shape[0]))]
            rws = [i for i in range(mean.shape[0]) if any(r["inside"][i])]
            if cols and rws:
                ax.add_patch(plt.Rectangle((cols[0] - 0.5, rws[0] - 0.5), len(cols), len(rws), fill=False,
                                           ec="k", lw=3))
            star, circle = r["index"]["best"], r["index"]["inside"]
            ax.plot(circle[1], circle[0] + 0.2, "o", ms=11, mfc="none", mec="w", mew=2.2)
            ax.plot(star[1], star[0] + 0.2, "*", ms=14, color="w", mec="k")
            ax.set_xticks(range(len(r["lrs"])))
            ax.set_xticklabels([f"{lr:.2g}" for lr in r["lrs"]], fontsize=9)
            ax.set_yticks(range(len(r["wds"])))
            ax.set_yticklabels([f"{wd:g}" for wd in r["wds"]], fontsize=9)
            ax.set_xlabel("learning rate lr", fontsize=10.5)
            ax.set_ylabel("weight decay λ" + (" (decoupled)" if o == "AdamW" else " (L2)"), fontsize=10.5)
            b = r["best"]
            ax.set_title(f"{t}, {o} ({sweeps.steps_of(t, quick)} steps)\nbest lr {b['lr']:.2g}, λ {b['wd']:g}: "
                         f"{b['loss']:.3f}; best in table {r['best_inside']['loss']:.3f}", fontsize=10.5)
    return path if plots.save_panels(plt, fig, path, "Mean final validation loss (nats) over the "
                                     "table's neighbourhood; frame: the table's range, star: the best, "
                                     "circle: the best inside the table") else None
