"""sparse-features: AdaGrad keeps large steps for rare features, small ones for frequent ones.

AdaGrad's step for coordinate k is lr / (sqrt(G_k) + eps), G_k the sum of its squared gradients.
A feature that appears in few examples gets a nonzero gradient in few steps, so G_k stays small
and its step stays large; a frequent feature's step shrinks. SGD's step is lr for every feature,
so a rare feature, whose gradient is nonzero only when it appears, barely moves.

The task is `minigrad compare --task sparse`'s: logistic regression on 500 binary features whose
frequencies fall off as a power law (from half the examples down to under 1%), with true weights
as large on rare features as on common ones. Both optimizers at the task's recommended rates,
from one initialisation on the same batches.
"""
import numpy as np

import optim
from models import plots
from models.compare import steps_to
from models.tasks import make_task

from .common import explained, figure_path, fit, table, verdict

USES = (optim.Adagrad, optim.SGD)  # the optimizer classes it runs (its code hash covers them)
STEPS = {False: 2000, True: 400}
OPTIMIZERS = {"AdaGrad": ("adagrad", optim.Adagrad), "SGD": ("sgd", optim.SGD)}


def train(task, name, steps):
    key, cls = OPTIMIZERS[name]
    lr = task.lr_for(key)
    model = task.build(0)
    w = model.linear.weight
    start = w.data[0].copy()
    opt = cls(model.parameters(), lr=lr)
    losses = fit(task, model, opt, steps, task.batch_size)
    if name == "AdaGrad":
        # the per-element step size of Adagrad's declaration, lr/(sqrt(G_k)+eps), for class 0
        effective = explained(cls, w.data, opt.state[w], opt.param_groups[0])["step_size"][0]
    else:
        effective = np.full(w.shape[1], lr)  # SGD: lr for every coordinate
    return {"lr": lr, "losses": np.array(losses), "effective": effective,
            "moved": np.abs(w.data[0] - start), "metrics": task.evaluate(model)}


def run(quick=False, out="runs/experiments"):
    task = make_task("sparse")
    steps = STEPS[quick]
    freq = task.train[0].mean(axis=0)  # the fraction of training examples with each feature
    runs = {name: train(task, name, steps) for name in OPTIMIZERS}
    # a feature no batch contained has G = 0 and a step of lr/eps that was never taken: left out
    seen = np.isfinite(runs["AdaGrad"]["effective"]) & (runs["AdaGrad"]["effective"] < 1e6)
    order = np.flatnonzero(seen)[np.argsort(freq[seen])]
    tenth = len(order) // 10
    rare, common = order[:tenth], order[-tenth:]
    result, rows = {"rare_frequency": float(freq[rare].mean()),
                    "common_frequency": float(freq[common].mean())}, []
    for name, r in runs.items():
        e, m = r["effective"], r["moved"]
        reach = steps_to(r["losses"], task.target_loss)
        result[name] = {
            "lr": r["lr"], "effective_rare": float(e[rare].mean()), "effective_common": float(e[common].mean()),
            "moved_rare": float(m[rare].mean()), "moved_common": float(m[common].mean()),
            "val_loss": r["metrics"]["val_loss"], "val_acc": r["metrics"]["val_acc"], "steps_to_target": reach}
        res = result[name]
        rows.append((name, f"{r['lr']:g}", f"{res['effective_rare']:.3g}", f"{res['effective_common']:.3g}",
                     f"{res['effective_rare'] / res['effective_common']:.1f}", f"{res['moved_rare']:.3f}",
                     f"{res['moved_common']:.3f}", f"{res['val_loss']:.4f}", f"{100 * res['val_acc']:.1f}%",
                     "-" if reach is None else str(reach)))
    print(f"sparse logistic task, {steps} steps of {task.batch_size}; the rarest tenth of the features "
          f"appear in {100 * result['rare_frequency']:.2f}% of examples, the most frequent tenth in "
          f"{100 * result['common_frequency']:.1f}%")
    table(["optimizer", "lr", "eff. step rare", "eff. step frequent", "rare/frequent",
           "|w moved| rare", "|w moved| frequent", "val loss", "val acc",
           f"steps to {task.target_loss:g}"], rows)
    a, s = result["AdaGrad"], result["SGD"]
    verdict(a["effective_rare"] > 3 * a["effective_common"], "AdaGrad gives rare features larger "
            "steps than frequent ones (SGD: the same lr for all)",
            f"AdaGrad's effective step {a['effective_rare'] / a['effective_common']:.1f}x larger for "
            f"the rarest tenth")
    verdict(a["moved_rare"] > 2 * s["moved_rare"], "rare features' weights move further under AdaGrad",
            f"mean |w moved| on the rarest tenth: AdaGrad {a['moved_rare']:.3f}, SGD {s['moved_rare']:.3f}")
    fast = a["steps_to_target"] is not None and (s["steps_to_target"] is None
                                                or a["steps_to_target"] < s["steps_to_target"])
    verdict(fast and a["val_loss"] < s["val_loss"], f"AdaGrad reaches the target loss "
            f"{task.target_loss:g} sooner and ends lower", f"steps {a['steps_to_target']} vs "
            f"{s['steps_to_target']}, val loss {a['val_loss']:.4f} vs {s['val_loss']:.4f}")
    result["features_never_in_a_batch"] = int((~seen).sum())
    result["png"] = _figure(freq[seen], {n: {**r, "effective": r["effective"][seen], "moved": r["moved"][seen]}
                                         for n, r in runs.items()},
                            task.target_loss, figure_path(out, "sparse-features"))
    return result


def _figure(freq, runs, target, path):
    made = plots.panels(1, 3, (15, 4.8))
    if made is None:
        return None
    plt, fig, axes = made
    colors = {"AdaGrad": "tab:blue", "SGD": "tab:red"}
    for name, r in runs.items():
        label = f"{name} (lr {r['lr']:g})"
        for ax, y in zip(axes, (r["effective"], r["moved"])):
            ax.plot(freq, y, "o", ms=2.5, alpha=0.25, color=colors[name])
            centers, medians = _binned_median(freq, y)
            ax.plot(centers, medians, "o-", ms=5, lw=1.8, color=colors[name], label=label)
        losses = r["losses"]
        axes[2].plot(np.arange(1, len(losses) + 1), plots.smooth(losses, max(1, len(losses) // 100)),
                     color=colors[name], lw=1.3, label=label)
    axes[2].axhline(target, color="k", ls=":", lw=1, label=f"target {target:g}")
    for ax in axes[:2]:
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("feature frequency (fraction of examples, log)")
        ax.grid(alpha=0.3, which="both")
    axes[0].set_ylabel("effective step lr / (sqrt(G_k) + eps) (log)")
    axes[0].set_title("step size per feature at the end (lines: median per bin)", fontsize=10)
    axes[1].set_ylabel("|w_k(end) - w_k(start)| (weight units, log)")
    axes[1].set_title("how far each feature's weight moved", fontsize=10)
    axes[2].set_xlabel("step")
    axes[2].set_ylabel("training loss (nats, mean of 1% of the run)")
    axes[2].set_title("training loss", fontsize=10)
    axes[2].grid(alpha=0.3)
    axes[2].legend(loc="upper right", fontsize=8)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="upper center", ncol=2,
               bbox_to_anchor=(0.5, 0.94), frameon=False)
    return path if plots.save_panels(plt, fig, path, "AdaGrad keeps large steps for rare features "
                                     "and small ones for frequent features; SGD steps all by lr")\
        else None


def _binned_median(x, y, bins=12):
    """Medians of y in log-spaced bins of x (bins with a point), at the bins' geometric centres."""
    edges = np.logspace(np.log10(x.min()), np.log10(x.max()) + 1e-9, bins + 1)
    which = np.digitize(x, edges) - 1
    keep = [b for b in range(bins) if np.any(which == b)]
    return (np.sqrt(edges[keep] * edges[np.array(keep) + 1]),
            np.array([np.median(y[which == b]) for b in keep]))
