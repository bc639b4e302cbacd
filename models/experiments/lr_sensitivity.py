"""lr-sensitivity: how wide is each optimizer's range of good learning rates?

Every optimizer has a learning rate α (the code's `lr`) to choose, and a rate off by a factor of
ten can cost most of what training would learn. The claim is that Adam's per-parameter scaling
makes it forgiving: its update m̂/(√v̂ + ε) has about the same size whatever the scale of the
gradient, so a rate that suits one task or layer is not far off for another, while SGD's step
α g grows and shrinks with the gradient itself.

What is varied: the learning rate, over three decades on a grid of quarter-decades (13 rates)
for each of four optimizers, each grid placed around its own usual rate: SGD 0.01 to 10, SGD with
momentum 0.9 from 1e-3 to 1 (momentum multiplies the step by about 1/(1 - 0.9) = 10), Adam and
AdamW (weight decay 0.01) from 1.8e-4 to 0.18 (up a quarter-decade from 1e-4 to 0.1, where
Adam's good range on digits reached the top edge in a trial). On two tasks (models/experiments/sweeps.py): the
digits MLP (500 steps) and the names character MLP (1,000 steps), 5 seeds each; seed s gives
every optimizer and rate the same initialisation and the same batches. What is held fixed: the
model, the batches, the budget, no schedule. What is measured: the final validation loss L(α).

The good range of one optimizer on one seed is the contiguous run of grid rates around its best
whose loss is within a tolerance of that best:

    L(α) ≤ L* + τ (L₀ - L*)           L*: the optimizer's best loss on the grid (this seed)
    L₀ = ln K                         the loss of a uniform guess over K classes (10, 27)
    τ = 0.1                           TOLERANCE: giving up a tenth of what training learns
    width = log₁₀(α_high/α_low) + ¼   in decades; one good grid point alone is ¼ decade

τ is a fraction of the learnable range L₀ - L* so that the two tasks, whose losses differ by a
factor of 25, are held to the same standard: on digits (L* ≈ 0.09) it admits 0.22 nats, on names
(L* ≈ 2.44) 0.09 nats. The width is computed per seed, and the claim compared per seed: Adam's
width minus SGD's (and minus SGD with momentum's), against a margin of half a decade
(MARGIN_DECADES): two grid points, a factor of about 3 in the rate, the step between the rates
one usually tries (1e-3, 3e-3, 1e-2); a smaller difference would not change how one tunes.
"""
import numpy as np

from models import plots

from . import sweeps, verdicts
from .common import figure_path, table

QUOTE = ("In paraphrase: adaptive methods such as Adam are less sensitive to the choice of "
         "learning rate than SGD (the article's claim, as this course's registry states it).")
SECTION = "A comparison of the methods"
LOOK_FOR = (
    "Each curve is an optimizer's final validation loss against its learning rate (mean over 5 "
    "seeds, the band from the lowest to the highest seed); the thick bar under the curves is the "
    "range of rates within the tolerance of its best (on the mean curve). Read the lengths of the "
    "bars, not the heights of the curves: a long flat valley is an optimizer that forgives a "
    "mistuned rate. Then the right column: the widths seed by seed, which the verdicts compare. "
    "Look also at how each valley ends on the right: plain SGD and SGD with momentum end at a "
    "cliff (a quarter-decade past the range the loss jumps to chance or above), while Adam's loss "
    "rises gradually; the valleys' lengths differ less than their walls.")
USES = sweeps.USES  # the optimizer classes it runs (its code hash covers them)

TOLERANCE = 0.1        # τ: the fraction of the learnable range L0 - L* a good rate may give up
MARGIN_DECADES = 0.5   # two grid points, a factor ~3 in the rate: the step one tunes by
WD = {"SGD": 0.0, "SGD+momentum": 0.0, "Adam": 0.0, "AdamW": 0.01}  # AdamW at torch's default decay
# the grid of each optimizer: q from q0 to q0 + 12 (lr = 10^(q/4), three decades)
GRID = {"SGD": -8, "SGD+momentum": -12, "Adam": -15, "AdamW": -15}
COLORS = {"SGD": "tab:gray", "SGD+momentum": "tab:green", "Adam": "tab:blue", "AdamW": "tab:red"}


def grid(opt):
    return list(range(GRID[opt], GRID[opt] + 13))


def keys(quick):
    seeds = verdicts.seeds(quick)
    return [(t, o, q, WD[o], s, bool(quick)) for t in sweeps.TASKS for o in sweeps.OPTIMIZERS
            for q in grid(o) for s in seeds]


def run(quick=False, out="runs/experiments"):
    seeds = verdicts.seeds(quick)
    got = sweeps.final_losses(keys(quick))
    print(f"final validation loss after {', '.join(f'{t} {sweeps.steps_of(t, quick)} steps' for t in sweeps.TASKS)}; "
          f"{len(seeds)} seeds; good range: within {TOLERANCE:g} of the learnable range of the best")
    result = {"tasks": {}}
    for t in sweeps.TASKS:
        L0 = sweeps.chance(t)
        res = result["tasks"][t] = {"chance": L0, "optimizers": {}}
        rows = []
        for o in sweeps.OPTIMIZERS:
            qs = grid(o)
            L = np.array([[got[t, o, q, WD[o], s, bool(quick)] for q in qs] for s in seeds])  # seeds x rates
            widths, edges = [], 0
            for row in L:
                lo, hi, w = sweeps.good_range(row, qs, TOLERANCE * (L0 - row.min()))
                widths.append(w)
                edges += lo == 0 or hi == len(qs) - 1
            mean = L.mean(axis=0)
            lo, hi, w = sweeps.good_range(mean, qs, TOLERANCE * (L0 - mean.min()))
            best = int(np.argmin(mean))
            res["optimizers"][o] = {
                "lrs": [sweeps.lr_of(q) for q in qs], "losses": L.tolist(), "mean": mean.tolist(),
                "widths": widths, "mean_curve_range": (sweeps.lr_of(qs[lo]), sweeps.lr_of(qs[hi])),
                "mean_curve_width": w, "best_lr": sweeps.lr_of(qs[best]), "best_loss": float(mean[best]),
                "at_grid_edge": edges}
            rows.append((o, f"{sweeps.lr_of(qs[0]):.0e}..{sweeps.lr_of(qs[-1]):.0e}",
                         f"{sweeps.lr_of(qs[best]):.2g}", f"{mean[best]:.4f}",
                         f"{sweeps.lr_of(qs[lo]):.2g}..{sweeps.lr_of(qs[hi]):.2g}", f"{w:.2f}",
                         " ".join(f"{x:.2f}" for x in widths), str(edges)))
        print(f"\n{t} (chance ln K = {L0:.3f} nats)")
        table(["optimizer", "grid", "best lr", "best val loss", "good range (mean)", "width dec",
               "width per seed", "seeds at edge"], rows)
    print()
    for t in sweeps.TASKS:
        opts = result["tasks"][t]["optimizers"]
        for other in ("SGD", "SGD+momentum"):
            verdicts.better(f"{t}: Adam's good range of learning rates is wider than {other}'s by "
                            f"at least {MARGIN_DECADES:g} decades (per seed)", opts["Adam"]["widths"],
                            opts[other]["widths"], MARGIN_DECADES, lower_is_better=False,
                            names=("Adam", other), unit=" decades")
        edge = sum(opts[o]["at_grid_edge"] for o in sweeps.OPTIMIZERS)
        if edge:
            verdicts.note(f"{t}: in {edge} of {len(seeds) * len(opts)} (optimizer, seed) sweeps the good "
                          "range reaches the grid's edge, so its width there is a lower bound")
    result["png"] = _figure(result, quick, figure_path(out, "lr-sensitivity"))
    return result


def _figure(result, quick, path):
    made = plots.panels(1, 1, (1, 1))
    if made is None:
        return None
    plt, fig, _ = made
    plt.close(fig)  # a figure of curves (wide) beside widths (narrow)
    fig, grid_axes = plt.subplots(2, 2, figsize=(14, 9.5), dpi=100, gridspec_kw={"width_ratios": (2.2, 1)})
    axes = list(grid_axes.flat)
    for row, t in enumerate(sweeps.TASKS):
        res = result["tasks"][t]
        ax, bx = axes[2 * row], axes[2 * row + 1]
        L0 = res["chance"]
        best = min(r["best_loss"] for r in res["optimizers"].values())
        top = L0 + 0.15 * (L0 - best)
        for k, (o, r) in enumerate(res["optimizers"].items()):
            L = np.minimum(np.array(r["losses"]), 1e3)
            ax.plot(r["lrs"], r["mean"], "o-", ms=3.5, color=COLORS[o], lw=1.6,
                    label=f"{o} (best {r['best_loss']:.3f} at {r['best_lr']:.2g})")
            ax.fill_between(r["lrs"], L.min(axis=0), L.max(axis=0), color=COLORS[o], alpha=0.15)
            lo, hi = r["mean_curve_range"]
            y = best - (0.06 + 0.05 * k) * (top - best)
            ax.plot([lo, hi], [y, y], color=COLORS[o], lw=5, solid_capstyle="butt")
            widths = r["widths"]
            jitter = 0.08 * (np.arange(len(widths)) - (len(widths) - 1) / 2)  # seeds side by side
            bx.scatter(widths, k + jitter, color=COLORS[o], s=34, zorder=3)
            bx.plot([np.mean(widths)] * 2, [k - 0.3, k + 0.3], color="k", lw=2)
        ax.axhline(L0, color="k", ls=":", lw=1, label=f"chance, ln K = {L0:.2f}")
        ax.set_xscale("log")
        ax.set_ylim(best - 0.3 * (top - best), top)
        ax.set_xlabel("learning rate α (log scale)", fontsize=11)
        ax.set_ylabel("final validation loss (nats)", fontsize=11)
        steps = sweeps.steps_of(t, quick)
        ax.set_title(f"{t}: validation loss after {steps} steps; bars: the good range "
                     f"(within {TOLERANCE:g} of the learnable range)", fontsize=10.5)
        ax.grid(alpha=0.3, which="both")
        bx.set_yticks(range(len(res["optimizers"])))
        bx.set_yticklabels(list(res["optimizers"]), fontsize=10)
        bx.set_xlabel("width of the good range (decades of learning rate)", fontsize=11)
        bx.set_title(f"{t}: width per seed (black: mean)", fontsize=10.5)
        bx.set_ylim(-0.6, len(res["optimizers"]) - 0.4)
        bx.grid(alpha=0.3, axis="x")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, [label.split(" (")[0] if "chance" not in label else "chance: a uniform guess, ln K"
                         for label in labels], loc="upper center", ncol=5, fontsize=10.5,
               bbox_to_anchor=(0.5, 0.955), frameon=False)
    return path if plots.save_panels(plt, fig, path, "Final validation loss against the learning rate, "
                                     "and the width of each optimizer's good range") else None
