"""sparse-features: AdaGrad keeps large steps for rare features; does that make it win?

AdaGrad's step for feature k is its learning rate over the root of the sum of that feature's
squared gradients; Adam's, over the root of their (bias-corrected) exponential average; SGD's is
its learning rate for every feature:

    G_k = Σ_t g_{t,k}²                     AdaGrad's sum for feature k
    η_k = α / (sqrt(G_k) + ε)              AdaGrad's effective step size
    η_k = α / (sqrt(v̂_k) + ε)              Adam's, v̂_k its average of g_k², bias-corrected
    η_k = α                                SGD's: the same for every feature
    f_k = share of examples with x_k = 1   the feature's frequency

Here g_{t,k} is the gradient of the loss for the weight of feature k at step t and α the
learning rate (`lr`). A feature that appears in few examples has a nonzero gradient in few
steps, so G_k stays small and AdaGrad's step for it stays large; a frequent feature's shrinks.
Under SGD a rare feature's weight moves only in the few steps whose batch contains it.

The task is `minigrad compare --task sparse`'s: logistic regression on 500 binary features whose
frequencies fall off as a power law (from half the examples down to under 1%), with true
weights as large on rare features as on common ones, 2,000 steps of 64 examples. An untuned
comparison says little (SGD at the task's lr 0.5 lost; at lr 2 it ties), so each optimizer's
learning rate is the best of a sweep, chosen by the mean validation loss over the seeds on one
half of the validation split (the selection half); the verdicts are judged on the other half
(held out), on which nothing was chosen.

Varied: the optimizer (SGD, AdaGrad, Adam, each without momentum or decay beyond its defaults)
and its learning rate; seed s gives every run the same initialisation and the same batches.
Held fixed: the data, the model, the steps and the batch size.

The margins: the mechanism holds when AdaGrad's step for the rarest tenth of the features is at
least RARE_FACTOR = 3 times its step for the most frequent tenth (a factor smaller than that
would be no more than the spread within each tenth). The outcome, one method beating another on
held-out loss, needs a margin of LOSS_MARGIN = 0.005 nats per example: about the loss's change
between neighbouring rates of the sweep near the best one, and under 2% of the loss, below which
no choice between the methods would follow. That rare weights move further under AdaGrad needs
MOVED_MARGIN = 0.1 (weight units), a tenth of how far the frequent features' weights move.
"""
import numpy as np

import optim
from models import plots
from models.tasks import make_task

from . import parallel, verdicts
from .common import explained, figure_path, table

USES = (optim.Adagrad, optim.Adam, optim.SGD)  # the optimizer classes it runs (its code hash covers them)
QUOTE = ("AdaGrad \"accumulates the squared gradients for each parameter and scales the "
         "learning rate inversely\".")
SECTION = "AdaGrad"
LOOK_FOR = ("Left: the effective step of each feature against how often it appears, at the end. "
            "AdaGrad's (blue) and Adam's (green) fall as features get more frequent: a rare "
            "feature keeps a step about ten times larger than a frequent one; SGD's (red) is one "
            "line. Middle: how far each weight moved; under SGD the rarest features' weights "
            "barely move. Right: the held-out validation loss during training, each optimizer at "
            "its best rate, mean and range over seeds. Tuned, the three fall at about the same "
            "pace, so the large rare-feature steps buy little here: compare where the curves end, "
            "which is what the outcome verdicts judge.")

RARE_FACTOR = 3.0  # AdaGrad's rare/frequent step ratio must exceed this (see the docstring)
LOSS_MARGIN = 0.005  # nats per example on the held-out half: a win smaller than this is no win
MOVED_MARGIN = 0.1  # weight units: a tenth of the moves of the frequent features' weights (~1)
SWEEP = {False: {"SGD": [0.25, 0.5, 1.0, 2.0, 4.0, 8.0], "AdaGrad": [0.03, 0.1, 0.3, 1.0],
                 "Adam": [1e-3, 3e-3, 1e-2, 3e-2, 0.1]},
         True: {"SGD": [0.5, 2.0], "AdaGrad": [0.1, 0.3], "Adam": [3e-3, 1e-2]}}
STEPS = {False: 2000, True: 300}
EVERY = {False: 50, True: 30}  # steps between validation measurements
OPTIMIZERS = {"SGD": optim.SGD, "AdaGrad": optim.Adagrad, "Adam": optim.Adam}
_TASK = {}


def task():
    """The sparse task, loaded once (before the workers fork, so that they share it)."""
    if "task" not in _TASK:
        _TASK["task"] = make_task("sparse")
    return _TASK["task"]


def _loss(model, X, y):
    import minigrad as mg
    from models.problems import logistic_loss
    with mg.no_grad():
        return logistic_loss(model, task().to_device(X), task().to_device(y)).item()


def halves():
    """(selection half, held-out half) of the validation split: lr is chosen on the first."""
    X, y = task().val
    n = len(X) // 2
    return (X[:n], y[:n]), (X[n:], y[n:])


def train(name, lr, seed, steps, every):
    """One run: validation losses on both halves every `every` steps; at the end, each feature's
    effective step (class 0's weight row) and how far its weight moved."""
    t, cls = task(), OPTIMIZERS[name]
    model = t.build(seed)
    w = model.linear.weight
    start = w.data[0].copy()
    opt = cls(model.parameters(), lr=lr)
    select, held = halves()
    rng = np.random.default_rng(seed + 1)  # seed s: the same batches for every optimizer and rate
    at, curve_select, curve_held = [], [], []
    for step in range(1, steps + 1):
        loss = t.loss(model, t.batch(rng, t.batch_size))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % every == 0 or step == steps:
            at.append(step)
            curve_select.append(_loss(model, *select))
            curve_held.append(_loss(model, *held))
    if name == "SGD":
        effective = np.full(w.shape[1], lr)  # SGD: lr for every feature
    else:  # the declaration's per-element step size, lr/(sqrt(G)+eps) or lr/(sqrt(v_hat)+eps)
        effective = explained(cls, w.data, opt.state[w], opt.param_groups[0])["step_size"][0]
    return {"steps": np.array(at), "select": np.array(curve_select), "held": np.array(curve_held),
            "effective": np.asarray(effective, dtype=np.float64).copy(),
            "moved": np.abs(w.data[0] - start).astype(np.float64)}


def run(quick=False, out="runs/experiments"):
    sweep, steps, every, seeds = SWEEP[quick], STEPS[quick], EVERY[quick], verdicts.seeds(quick)
    t = task()
    freq = t.train[0].mean(axis=0)  # the share of training examples with each feature
    jobs = [(name, lr, seed, steps, every) for name in sweep for lr in sweep[name] for seed in seeds]
    done = dict(zip(jobs, parallel.map(train, jobs)))
    runs = {(name, lr): [done[name, lr, s, steps, every] for s in seeds] for name in sweep for lr in sweep[name]}
    print(f"sparse logistic task: {len(t.train[0])} training examples, {len(freq)} features, "
          f"{steps} steps of {t.batch_size}; {len(seeds)} seeds; lr chosen on the selection half "
          f"of the validation split ({len(halves()[0][0])} examples), judged on the held-out half "
          f"({len(halves()[1][0])})")
    rows = [(name, f"{lr:g}", f"{np.mean([r['select'][-1] for r in rs]):.4f}",
             f"{np.mean([r['held'][-1] for r in rs]):.4f}") for (name, lr), rs in runs.items()]
    table(["optimizer", "lr", "selection val loss (mean)", "held-out val loss (mean)"], rows)
    best = {name: min(sweep[name], key=lambda lr: np.mean([r["select"][-1] for r in runs[name, lr]]))
            for name in sweep}
    for name, lr in best.items():
        edge = lr in (sweep[name][0], sweep[name][-1])
        if edge and not quick:
            verdicts.note(f"{name}'s best rate {lr:g} is at the edge of its sweep")
    # the rarest and the most frequent tenth of the features that some batch contained
    ada = runs["AdaGrad", best["AdaGrad"]]
    seen = np.all([np.isfinite(r["effective"]) & (r["effective"] < 1e6) for r in ada], axis=0)
    order = np.flatnonzero(seen)[np.argsort(freq[seen])]
    tenth = len(order) // 10
    rare, common = order[:tenth], order[-tenth:]
    result = {"seeds": seeds, "best_lr": best, "rare_frequency": float(freq[rare].mean()),
              "common_frequency": float(freq[common].mean()),
              "sweep": {f"{n} {lr:g}": float(np.mean([r["held"][-1] for r in rs])) for (n, lr), rs in runs.items()}}
    rows = []
    for name, lr in best.items():
        rs = runs[name, lr]
        per = {"effective_rare": [float(r["effective"][rare].mean()) for r in rs],
               "effective_common": [float(r["effective"][common].mean()) for r in rs],
               "moved_rare": [float(r["moved"][rare].mean()) for r in rs],
               "moved_common": [float(r["moved"][common].mean()) for r in rs],
               "held_loss": [float(r["held"][-1]) for r in rs],
               "select_loss": [float(r["select"][-1]) for r in rs]}
        result[name] = {"lr": lr, "per_seed": per, **{k: float(np.mean(v)) for k, v in per.items()}}
        res = result[name]
        rows.append((name, f"{lr:g}", f"{res['effective_rare']:.3g}", f"{res['effective_common']:.3g}",
                     f"{res['effective_rare'] / res['effective_common']:.1f}", f"{res['moved_rare']:.3f}",
                     f"{res['moved_common']:.3f}", f"{res['select_loss']:.4f}", f"{res['held_loss']:.4f}"))
    print(f"\neach at its best rate; the rarest tenth of the features appear in "
          f"{100 * result['rare_frequency']:.2f}% of examples, the most frequent tenth in "
          f"{100 * result['common_frequency']:.1f}% (means over seeds)")
    table(["optimizer", "best lr", "eff. step rare", "eff. step frequent", "rare/frequent",
           "|w moved| rare", "|w moved| frequent", "selection val loss", "held-out val loss"], rows)
    a, s, m = result["AdaGrad"]["per_seed"], result["SGD"]["per_seed"], result["Adam"]["per_seed"]
    ratio = [r / c for r, c in zip(a["effective_rare"], a["effective_common"])]
    verdicts.above(f"the mechanism: AdaGrad's effective step for the rarest tenth of the features is "
                   f"over {RARE_FACTOR:g}x its step for the most frequent tenth (SGD's: 1x)", ratio,
                   RARE_FACTOR, unit="x")
    verdicts.above(f"the same holds for Adam's lr/(sqrt(v_hat)+eps): over {RARE_FACTOR:g}x",
                   [r / c for r, c in zip(m["effective_rare"], m["effective_common"])], RARE_FACTOR, unit="x")
    verdicts.better("rare features' weights move further under AdaGrad than under SGD at its best "
                    "rate (mean |w_end - w_start| on the rarest tenth)", a["moved_rare"], s["moved_rare"],
                    MOVED_MARGIN, lower_is_better=False, names=("AdaGrad", "SGD"))
    verdicts.better("the outcome: AdaGrad at its best rate ends lower than SGD at its best rate "
                    "(held-out validation loss)", a["held_loss"], s["held_loss"], LOSS_MARGIN,
                    names=("AdaGrad", "SGD"), unit=" nats")
    verdicts.better("Adam at its best rate ends lower than SGD at its best rate (held-out "
                    "validation loss)", m["held_loss"], s["held_loss"], LOSS_MARGIN,
                    names=("Adam", "SGD"), unit=" nats")
    verdicts.better("AdaGrad at its best rate ends lower than Adam at its best rate (held-out "
                    "validation loss)", a["held_loss"], m["held_loss"], LOSS_MARGIN,
                    names=("AdaGrad", "Adam"), unit=" nats")
    result["png"] = _figure(freq[seen], {n: runs[n, lr] for n, lr in best.items()}, best, seen,
                            figure_path(out, "sparse-features"))
    return result


COLORS = {"AdaGrad": "tab:blue", "SGD": "tab:red", "Adam": "tab:green"}


def _figure(freq, runs, best, seen, path):
    made = plots.panels(1, 3, (14, 4.8))
    if made is None:
        return None
    plt, fig, axes = made
    for name, rs in runs.items():
        label = f"{name} (best lr {best[name]:g})"
        for ax, key in zip(axes, ("effective", "moved")):
            y = np.mean([r[key][seen] for r in rs], axis=0)  # per feature, mean over seeds
            ax.plot(freq, y, "o", ms=2.5, alpha=0.2, color=COLORS[name])
            centers, medians = _binned_median(freq, y)
            ax.plot(centers, medians, "o-", ms=5, lw=1.8, color=COLORS[name], label=label)
        held = np.array([r["held"] for r in rs])
        at = rs[0]["steps"]
        axes[2].fill_between(at, held.min(0), held.max(0), color=COLORS[name], alpha=0.2, lw=0)
        axes[2].plot(at, held.mean(0), color=COLORS[name], lw=1.6, label=label)
    for ax in axes[:2]:
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("feature frequency (share of training examples, log)", fontsize=10)
        ax.grid(alpha=0.3, which="both")
    axes[0].set_ylabel("effective step size of feature k (log)", fontsize=10)
    axes[0].set_title("step size per feature at the end (lines: median per bin)", fontsize=11)
    axes[1].set_ylabel("|w_k(end) - w_k(start)| (weight units, log)", fontsize=10)
    axes[1].set_title("how far each feature's weight moved", fontsize=11)
    axes[2].set_xlabel("step", fontsize=10)
    axes[2].set_ylabel("held-out validation loss (nats per example)", fontsize=10)
    axes[2].set_title(f"held-out validation loss (mean, range over {len(rs)} seeds)", fontsize=11)
    lo = min(np.min([r["held"] for r in rs]) for rs in runs.values())
    axes[2].set_ylim(lo - 0.01, lo + 0.25)
    axes[2].grid(alpha=0.3)
    for ax in axes:
        ax.tick_params(labelsize=10)
    fig.legend(*axes[2].get_legend_handles_labels(), loc="upper center", ncol=3,
               bbox_to_anchor=(0.5, 0.94), frameon=False, fontsize=10)
    return path if plots.save_panels(plt, fig, path, "AdaGrad and Adam keep large steps for rare "
                                     "features; SGD steps all by lr (each at its best rate)") else None


def _binned_median(x, y, bins=12):
    """Medians of y in log-spaced bins of x (bins with a point), at the bins' geometric centres."""
    edges = np.logspace(np.log10(x.min()), np.log10(x.max()) + 1e-9, bins + 1)
    which = np.digitize(x, edges) - 1
    keep = [b for b in range(bins) if np.any(which == b)]
    return (np.sqrt(edges[keep] * edges[np.array(keep) + 1]),
            np.array([np.median(y[which == b]) for b in keep]))
