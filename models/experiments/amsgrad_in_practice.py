"""AMSGrad against Adam on two real tasks: is AMSGrad's improvement marginal in practice?

AMSGrad (Reddi, Kale & Kumar 2018) divides by the running maximum of the second moment instead of
the second moment itself, which repairs Adam's convergence on the constructed online problem of
the `amsgrad` experiment. Here the question is what it does where nothing is constructed: the
same network, the same initialisation, the same batches and the same learning rate, trained once
with Adam and once with AMSGrad; the only difference is the denominator:

    m ← β1 m + (1 - β1) g                             both
    v ← β2 v + (1 - β2) g²                            both
    θ ← θ - lr m̂ / (sqrt(v / (1 - β2^t)) + ε)         Adam
    v_max ← max(v_max, v)                             AMSGrad: the running maximum of the raw v
    θ ← θ - lr m̂ / (sqrt(v_max / (1 - β2^t)) + ε)     AMSGrad

(torch's AMSGrad, optim.AMSGrad: the maximum of the raw v, bias-corrected afterwards; see the
`amsgrad` experiment for the other two versions in print.) Since v_max ≥ v, AMSGrad's step is
never larger than Adam's for the same m̂ and v; it differs where v has fallen from an earlier peak.

Two tasks, each at its own usual Adam rate (betas 0.9, 0.999, ε 1e-8, no weight decay):

- digits: the 8x8 digits MLP (64-256-256-10, batch norm, dropout 0.1), batch 64, lr 1e-3,
  1,500 steps (about 76 passes over the 1,258 training images); validation loss on the 269
  validation images.
- names: the character MLP on the surnames (5 characters of context, embedding 24, 300 hidden
  units), batch 96, lr 3e-3, 2,000 steps; validation loss per character on a fixed 20,000
  validation examples.

Varied: the optimizer (Adam, AMSGrad). Held fixed: everything else, seed by seed (5 seeds: seed s
is the network's initialisation and the order of the batches, the same for both). The claim is
one of equivalence: AMSGrad's validation loss is within a margin of Adam's. The margins are
stated before the run: 0.02 nats/char on names (about 1% of the loss; smaller than the gap
between consecutive learning rates of a factor 3 on this task), and 0.01 nats on digits (the
loss is about 0.07; seed-to-seed it varies by about that much, and 0.01 nats is the loss of
being a little more or less confident on a few of the 269 images). "Held" means the 95%
interval of the paired difference lies inside ±margin: the improvement, if any, is marginal.
"""
import numpy as np

import optim
from models import plots
from models.tasks import make_task

from . import parallel, verdicts
from .common import figure_path, fit, table, val_loss

USES = (optim.Adam, optim.AMSGrad)  # the optimizer classes it runs (its code hash covers them)
QUOTE = "In paraphrase: AMSGrad's improvement over Adam is marginal in practice."
SECTION = "AMSGrad, RAdam"
LOOK_FOR = ("The left two panels are the validation loss over training, the mean of the seeds "
            "with a band from the best seed to the worst: if the red (Adam) and blue (AMSGrad) "
            "bands lie on top of each other, AMSGrad changed nothing that matters. The right "
            "panel shows each seed's final difference, AMSGrad minus Adam, against the grey band "
            "of the margin: a dot below 0 is a seed where AMSGrad did better. The verdict asks "
            "whether the interval of these differences lies inside the band.")
OPTIMIZERS = {"Adam": optim.Adam, "AMSGrad": optim.AMSGrad}
TASKS = {  # name: (lr, batch size, steps full, steps quick, margin in nats)
    "digits": (1e-3, 64, 1500, 60, 0.01),
    "names": (3e-3, 96, 2000, 60, 0.02),
}
CHECKPOINTS = {False: 10, True: 3}  # validation losses per run, evenly spaced
VAL_EXAMPLES = {False: 20_000, True: 2_000}  # names' fixed validation subsample
_LOADED = {}


def task_of(name):
    """The task, loaded once per process (forked workers share it)."""
    if name not in _LOADED:
        _LOADED[name] = make_task(name)
    return _LOADED[name]


def validation(task, model, quick=False):
    """The validation loss: all of digits' 269 images; names' fixed 20,000 examples."""
    if task.name == "digits":
        return task.evaluate(model)["val_loss"]
    return val_loss(task, model, VAL_EXAMPLES[quick])


def train(name, method, seed, quick):
    """One run: validation loss at each checkpoint, and with AMSGrad the share of elements whose
    denominator came from the running maximum at the end (v_max > v)."""
    lr, batch, steps_full, steps_quick, _ = TASKS[name]
    steps = steps_quick if quick else steps_full
    task = task_of(name)
    model = task.build(seed)
    opt = OPTIMIZERS[method](model.parameters(), lr=lr)
    marks = set(np.linspace(0, steps, CHECKPOINTS[quick] + 1).astype(int)[1:])
    curve = [validation(task, model, quick)]

    def on_step(step):
        if step in marks:
            curve.append(validation(task, model, quick))

    fit(task, model, opt, steps, batch, seed=seed, on_step=on_step)
    share = ratio = None
    if method == "AMSGrad":  # how often the maximum binds, and by how much it shrinks the step
        v = np.concatenate([opt.state[p]["exp_avg_sq"].ravel() for p in model.parameters()])
        v_max = np.concatenate([opt.state[p]["max_exp_avg_sq"].ravel() for p in model.parameters()])
        binds = v_max > v
        share = float(np.mean(binds))
        ratio = float(np.median(np.sqrt(v_max[binds] / v[binds]))) if binds.any() else 1.0
    return {"curve": curve, "val": curve[-1], "vmax_share": share, "step_ratio": ratio}


def run(quick=False, out="runs/experiments"):
    seeds = verdicts.seeds(quick)
    for name in TASKS:
        task_of(name)  # loaded before the workers fork
    jobs = [(name, method, s, quick) for name in TASKS for method in OPTIMIZERS for s in seeds]
    runs = dict(zip([j[:3] for j in jobs], parallel.map(train, jobs)))
    result, rows = {"tasks": {}}, []
    for name, (lr, _, steps_full, steps_quick, margin) in TASKS.items():
        steps = steps_quick if quick else steps_full
        by = {m: [runs[name, m, s] for s in seeds] for m in OPTIMIZERS}
        adam = [r["val"] for r in by["Adam"]]
        ams = [r["val"] for r in by["AMSGrad"]]
        shares = [r["vmax_share"] for r in by["AMSGrad"]]
        ratios = [r["step_ratio"] for r in by["AMSGrad"]]
        result["tasks"][name] = {"lr": lr, "steps": steps, "margin": margin, "adam_val": adam,
                                 "amsgrad_val": ams, "vmax_share": shares, "step_ratio": ratios,
                                 "curves": {m: [r["curve"] for r in rs] for m, rs in by.items()}}
        for i, s in enumerate(seeds):
            rows.append((name, str(s), f"{lr:g}", str(steps), f"{adam[i]:.4f}", f"{ams[i]:.4f}",
                         f"{ams[i] - adam[i]:+.4f}", f"{shares[i]:.1%}"))
    table(["task", "seed", "lr", "steps", "Adam val loss", "AMSGrad val loss", "AMSGrad - Adam",
           "v_max > v at the end"], rows)
    for name, r in result["tasks"].items():
        verdicts.same(f"{name}: AMSGrad's validation loss is within {r['margin']} nats of Adam's "
                      f"at the same learning rate ({r['lr']:g}): its improvement is marginal",
                      r["amsgrad_val"], r["adam_val"], r["margin"], names=("AMSGrad", "Adam"),
                      unit=" nats")
        verdicts.note(f"{name}: at the end, AMSGrad's denominator came from the running maximum "
                      f"(v_max > v) for {np.mean(r['vmax_share']):.0%} of the elements (mean over "
                      "seeds); where it did, it divided Adam's step by sqrt(v_max / v), whose median "
                      f"was {np.mean(r['step_ratio']):.2f}")
    result["png"] = _figure(result, seeds, figure_path(out, "amsgrad-in-practice"))
    return result


COLORS = {"Adam": "tab:red", "AMSGrad": "tab:blue"}


def _figure(result, seeds, path):
    made = plots.panels(1, 3, (15, 4.8))
    if made is None:
        return None
    plt, fig, axes = made
    for ax, (name, r) in zip(axes, result["tasks"].items()):
        x = np.linspace(0, r["steps"], len(r["curves"]["Adam"][0]))
        for m, curves in r["curves"].items():
            c = np.array(curves)
            ax.fill_between(x, c.min(0), c.max(0), color=COLORS[m], alpha=0.2)
            ax.plot(x, c.mean(0), color=COLORS[m], lw=1.8, marker="o", ms=3,
                    label=f"{m}: final {c[:, -1].mean():.4f} (mean of {len(seeds)} seeds)")
        ax.set_yscale("log")
        ax.set_xlabel("step", fontsize=11)
        ax.set_ylabel("validation loss (nats" + ("/char" if name == "names" else "") + ", log)",
                      fontsize=11)
        ax.set_title(f"{name}: validation loss, lr {r['lr']:g} (band: min-max over seeds)", fontsize=11)
        ax.legend(fontsize=10)
        ax.grid(alpha=0.3, which="both")
    ax = axes[2]
    for i, r in enumerate(result["tasks"].values()):
        d = np.array(r["amsgrad_val"]) - np.array(r["adam_val"])
        ax.add_patch(plt.Rectangle((i - 0.3, -r["margin"]), 0.6, 2 * r["margin"], color="0.85",
                                   label="margin (±)" if i == 0 else None))
        ax.scatter(np.full(len(d), i) + np.linspace(-0.1, 0.1, len(d)), d, color="k", zorder=3,
                   label="one seed" if i == 0 else None)
        ax.plot([i - 0.25, i + 0.25], [d.mean()] * 2, color="tab:purple", lw=2,
                label="mean" if i == 0 else None)
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xticks(range(len(result["tasks"])), list(result["tasks"]))
    ax.set_xlim(-0.6, len(result["tasks"]) - 0.4)
    ax.set_ylabel("final validation loss: AMSGrad - Adam (nats)", fontsize=11)
    ax.set_title("per seed: below 0, AMSGrad did better", fontsize=11)
    ax.legend(fontsize=10, loc="upper right")
    ax.grid(alpha=0.3, axis="y")
    for a in axes:
        a.tick_params(labelsize=10)
    return path if plots.save_panels(plt, fig, path, "AMSGrad against Adam at the same learning "
                                     "rate: same seeds, same batches") else None
