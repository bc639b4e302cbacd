"""adamw-vs-l2: Adam + L2 and AdamW differ because Adam rescales the L2 gradient per parameter.

L2 adds lambda theta to the gradient, and Adam then divides it by sqrt(v_hat) + eps like the rest
of the gradient: each step pulls theta_i towards 0 by lr lambda theta_i / (sqrt(v_hat_i) + eps), so
a weight with small gradients is decayed hard and one with large gradients hardly at all. AdamW
(Loshchilov & Hutter 2019) decays every weight by the same fraction, lr lambda, outside Adam.

The task overfits: the digits MLP (64-128-10, no dropout or batch norm) trained on 200 of the
training images. lambda is swept for optim.Adam(weight_decay=lambda), which is L2, and for
optim.AdamW(weight_decay=lambda); the validation split picks the best of each.
"""
import numpy as np

import optim
from models import plots
from models.mlp import MLP
from models.tasks import DigitsTask

from .common import figure_path, fit, table, verdict

USES = (optim.Adam, optim.AdamW)  # the optimizer classes it runs (its code hash covers them)
LR, TRAIN_SIZE, BATCH = 1e-3, 200, 32
SHOW = 1e-2  # the lambda whose per-weight decay the figure shows
SWEEP = {False: ([1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0], 1500), True: ([1e-2, 1.0], 150)}
OPTIMIZERS = {"Adam + L2": optim.Adam, "AdamW": optim.AdamW}


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


def train(task, name, lam, steps):
    model = task.build(0)
    opt = OPTIMIZERS[name](model.parameters(), lr=LR, weight_decay=lam)
    fit(task, model, opt, steps, BATCH)
    out = {"metrics": task.evaluate(model)}
    if lam == SHOW:
        # the fraction of each weight the decay removes per step: lr λ / (sqrt(v_hat) + eps) for L2,
        # with the optimizer's own eps and bias correction of its last step (its declaration's)
        decay, group = [], opt.param_groups[0]
        for p in model.parameters():
            s = opt.state[p]
            h = type(opt).scalars(s["step"], group, s)
            v_hat = s["exp_avg_sq"] / h.bias_correction2
            decay.append((LR * lam / (np.sqrt(v_hat) + h.eps)).ravel() if name == "Adam + L2"
                         else np.full(p.data.size, LR * lam))
        out["decay"] = np.concatenate(decay)
    return out


def run(quick=False, out="runs/experiments"):
    lams, steps = SWEEP[quick]
    task = SmallDigits()
    base = train(task, "AdamW", 0.0, steps)["metrics"]  # λ = 0: Adam and AdamW are the same
    runs = {(name, lam): train(task, name, lam, steps) for name in OPTIMIZERS for lam in lams}
    print(f"digits MLP 64-128-10 on {TRAIN_SIZE} training images, lr {LR:g}, {steps} steps of {BATCH}; "
          f"no decay: val acc {100 * base['val_acc']:.1f}%, val loss {base['val_loss']:.4f}, "
          f"train loss {base['train_loss']:.4f}")
    rows = [(name, f"{lam:g}", f"{r['metrics']['train_loss']:.4f}", f"{r['metrics']['val_loss']:.4f}",
             f"{100 * r['metrics']['val_acc']:.1f}%", f"{100 * r['metrics']['test_acc']:.1f}%")
            for (name, lam), r in runs.items()]
    table(["optimizer", "lambda", "train loss", "val loss", "val acc", "test acc"], rows)
    result = {"no_decay": base, "sweep": {f"{n} {lam:g}": r["metrics"] for (n, lam), r in runs.items()}}
    best = {}
    for name in OPTIMIZERS:
        lam = min(lams, key=lambda each: runs[name, each]["metrics"]["val_loss"])
        best[name] = {"lambda": lam, **runs[name, lam]["metrics"]}
    result["best"] = best
    rows = [(name, f"{b['lambda']:g}", f"{b['val_loss']:.4f}", f"{100 * b['val_acc']:.1f}%",
             f"{100 * b['test_acc']:.1f}%") for name, b in best.items()]
    print("\nbest lambda of each by validation loss")
    table(["optimizer", "best lambda", "val loss", "val acc", "test acc"], rows)
    l2 = runs["Adam + L2", SHOW]["decay"]
    spread = float(np.percentile(l2, 90) / np.percentile(l2, 10))
    result.update(decay_percentiles={q: float(np.percentile(l2, q)) for q in (10, 50, 90)},
                  decay_spread=spread, adamw_decay=LR * SHOW)
    verdict(spread > 10, f"under L2 the decay per weight varies (lambda {SHOW:g}); AdamW's is one "
            f"number, lr lambda = {LR * SHOW:.0e}", f"L2's lr lambda/(sqrt(v_hat)+eps) from "
            f"{np.percentile(l2, 10):.1e} (10th pct) to {np.percentile(l2, 90):.1e} (90th), "
            f"{spread:.0f}x apart")
    a, w = best["Adam + L2"], best["AdamW"]
    verdict(w["val_loss"] < a["val_loss"], "AdamW's best beats Adam + L2's best on validation",
            f"val loss {w['val_loss']:.4f} (lambda {w['lambda']:g}) vs {a['val_loss']:.4f} "
            f"(lambda {a['lambda']:g}); val acc {100 * w['val_acc']:.1f}% vs {100 * a['val_acc']:.1f}%")
    result["png"] = _figure(runs, lams, base, l2, figure_path(out, "adamw-vs-l2"))
    return result


def _figure(runs, lams, base, l2, path):
    made = plots.panels(1, 3, (15, 4.8))
    if made is None:
        return None
    plt, fig, axes = made
    colors = {"Adam + L2": "tab:red", "AdamW": "tab:blue"}
    for ax, metric, label in ((axes[0], "val_acc", "validation accuracy (%)"),
                              (axes[1], "val_loss", "validation loss (nats)")):
        scale = 100 if metric == "val_acc" else 1
        for name in OPTIMIZERS:
            ax.plot(lams, [scale * runs[name, lam]["metrics"][metric] for lam in lams], "o-",
                    color=colors[name], label=name)
        ax.axhline(scale * base[metric], color="k", ls=":", lw=1, label="no decay (lambda = 0)")
        ax.set_xscale("log")
        ax.set_xlabel("weight_decay lambda (log)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].set_title("validation accuracy after training", fontsize=10)
    axes[1].set_title("validation loss", fontsize=10)
    axes[1].set_yscale("log")
    ax = axes[2]
    bins = np.logspace(np.log10(l2.min()) - 0.1, np.log10(l2.max()) + 0.1, 60)
    ax.hist(l2, bins=bins, color="tab:red", alpha=0.7, label="Adam + L2: lr lambda / (sqrt(v_hat) + eps)")
    ax.axvline(LR * SHOW, color="tab:blue", lw=2, label=f"AdamW: lr lambda = {LR * SHOW:.0e} for all")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("decay's pull per step, as a fraction of the weight (log)")
    ax.set_ylabel("number of weights (log)")
    ax.set_title(f"effective decay per weight at the end, lambda = {SHOW:g}", fontsize=10)
    ax.set_ylim(0.5, ax.get_ylim()[1] * 30)  # room for the legend above the bars
    ax.legend(loc="upper right", fontsize=8)
    ax.grid(alpha=0.3)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="upper center", ncol=3,
               bbox_to_anchor=(0.5, 0.94), frameon=False)
    return path if plots.save_panels(plt, fig, path, "Adam + L2 decays each weight at its own rate "
                                     "lr lambda / (sqrt(v_hat) + eps); AdamW decays all at lr lambda")\
        else None
