"""bias-correction: averages started at zero are too small by (1 - beta^t); Adam corrects them.

With m_0 = v_0 = 0 the moving averages m_t = beta1 m + (1 - beta1) g and v_t = beta2 v +
(1 - beta2) g² have E[m_t] = (1 - beta1^t) E[g] and E[v_t] = (1 - beta2^t) E[g²]: after one step
m_1 = 0.1 g and v_1 = 0.001 g². Adam divides them by those factors (m_hat, v_hat).

Part 1 runs optim.Adam's rule (Adam.rule, with the scalars of each step from Adam.scalars and
its default betas and eps) on many independent gradient streams, a constant one and a noisy one,
and shows m_t / E[g] and v_t / E[g²] before and after correction.

Part 2 is the training consequence, an ablation written here from the declaration's parts (not
an option of the optimizer): the same Adam rule, with the scalars of the step as Adam.scalars
computes them, or with both corrections set to 1. Without them the first update
is (1 - beta1) / sqrt(1 - beta2) = 3.16 times too large (m is 10x too small, sqrt(v) 31.6x), and
the ratio (1 - beta1^t) / sqrt(1 - beta2^t) grows to about 6.6 near step 20 and falls back to 1
only after thousands of steps. Both run on the names task from one initialisation.
"""
import numpy as np

import optim
from models import plots
from models.tasks import make_task
from optim.scalars import Scalars

from .common import figure_path, fit, table, val_loss, verdict

USES = (optim.Adam,)  # the optimizer classes it runs (its code hash covers them)
DEFAULTS = optim.Adam.defaults_of()  # lr 1e-3, betas (0.9, 0.999), eps 1e-8, no weight decay
(BETA1, BETA2), EPS = DEFAULTS["betas"], DEFAULTS["eps"]
MOMENT_STEPS, STREAMS, NOISE = 50, 4000, 2.0
TRAIN_STEPS = {False: 600, True: 15}
LR = 3e-3  # the names task's Adam rate


class AdamFromRule:
    """Adam on a model's parameters: optim.Adam.rule, with the scalars of Adam.scalars.

    correct=False: the bias corrections are 1 (m and v used as they are), the only difference.
    With correct=True this is optim.Adam, bit for bit (tests/experiments/test_experiments.py
    checks it)."""

    def __init__(self, params, lr, correct=True, betas=(BETA1, BETA2), eps=EPS):
        self.params = list(params)
        self.group = {**DEFAULTS, "lr": lr, "betas": betas, "eps": eps}
        self.correct = correct
        start = [optim.Adam.init(p.data, self.group) for p in self.params]  # m = v = 0
        self.m, self.v = [s["exp_avg"] for s in start], [s["exp_avg_sq"] for s in start]
        self.t = 0

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    def scalars(self):
        h = optim.Adam.scalars(self.t, self.group, {})
        if self.correct:
            return h
        return Scalars(**{**dict(h.items()), "bias_correction1": 1.0, "bias_correction2": 1.0})

    def step(self):
        self.t += 1
        h = self.scalars()
        for p, m, v in zip(self.params, self.m, self.v):
            new = optim.Adam.rule(p.data, p.grad, m=m, v=v, v_max=None, h=h.cast(p.dtype))
            p.data[...], m[...], v[...] = new["theta"], new["m"], new["v"]


def moments(noisy, steps=MOMENT_STEPS, seed=0):
    """m_t / E[g] and v_t / E[g²] averaged over STREAMS streams, for t = 1..steps: raw, then
    bias-corrected. Gradients are 1 (constant) or 1 + NOISE * N(0, 1) (E[g²] = 1 + NOISE²)."""
    rng = np.random.default_rng(seed)
    m, v, theta = np.zeros(STREAMS), np.zeros(STREAMS), np.zeros(STREAMS)
    raw_m, raw_v, hat_m, hat_v = (np.empty(steps) for _ in range(4))
    mean_g2 = 1 + NOISE ** 2 if noisy else 1.0
    group = {**DEFAULTS, "lr": 0.0}  # θ stays put: only the moments are watched
    for t in range(1, steps + 1):
        g = 1 + NOISE * rng.standard_normal(STREAMS) if noisy else np.ones(STREAMS)
        h = optim.Adam.scalars(t, group, {})
        new = optim.Adam.rule(theta, g, m=m, v=v, v_max=None, h=h)
        theta, m, v = new["theta"], new["m"], new["v"]
        raw_m[t - 1], raw_v[t - 1] = m.mean(), v.mean() / mean_g2
        hat_m[t - 1] = m.mean() / h.bias_correction1
        hat_v[t - 1] = v.mean() / mean_g2 / h.bias_correction2
    return raw_m, raw_v, hat_m, hat_v


def train_names(task, correct, steps):
    """Losses, per-step median |update|/lr, the first update of every element, validation loss."""
    model = task.build(0)
    opt = AdamFromRule(model.parameters(), LR, correct)
    sizes, first = [], []
    before = [p.data.copy() for p in opt.params]

    def on_step(step):
        moved = np.concatenate([np.abs(p.data - b).ravel() for p, b in zip(opt.params, before)])
        sizes.append(float(np.median(moved)) / LR)
        if step == 1:
            first.append(moved)
        for p, b in zip(opt.params, before):
            b[...] = p.data

    losses = fit(task, model, opt, steps, task.batch_size, on_step=on_step)
    return np.array(losses), np.array(sizes), first[0], val_loss(task, model)


def run(quick=False, out="runs/experiments"):
    steps = TRAIN_STEPS[quick]
    curves = {kind: moments(kind == "noisy") for kind in ("constant", "noisy")}
    rows = []
    for t in (1, 2, 10, 50):
        rows.append([str(t)] + [f"{curves[k][i][t - 1]:.4f}" for k in curves for i in (0, 2, 1, 3)]
                    + [f"{1 - BETA1 ** t:.4f}", f"{1 - BETA2 ** t:.4f}"])
    print(f"moments over {STREAMS} streams, beta1 {BETA1}, beta2 {BETA2} (noisy: g = 1 + "
          f"{NOISE:g} N(0, 1))")
    table(["t", "const m/g", "m_hat/g", "v/g^2", "v_hat/g^2", "noisy m/E[g]", "m_hat/E[g]",
           "v/E[g^2]", "v_hat/E[g^2]", "1-beta1^t", "1-beta2^t"], rows)
    result = {"moments": {k: {name: c.tolist() for name, c in zip(("m", "v", "m_hat", "v_hat"), v)}
                          for k, v in curves.items()}}

    task = make_task("names")
    runs = {name: train_names(task, correct, steps) for name, correct in (("corrected", True),
                                                                      ("uncorrected", False))}
    (lc, sc, fc, vc), (lu, su, fu, vu) = runs["corrected"], runs["uncorrected"]
    big = fc > 1e-2 * LR  # elements the first gradient moved (|g| >> eps)
    ratio = float(np.median(fu[big] / fc[big]))
    predicted = (1 - BETA1) / np.sqrt(1 - BETA2)
    window = max(1, steps // 20)
    marks = [t for t in (1, 5, 20, 50, 100, 300, steps) if t <= steps]
    rows = [[name, f"{np.median(f[big]) / LR:.3f}"]
            + [f"{plots.smooth(loss, window)[t - 1]:.4f}" for t in marks] + [f"{v:.4f}"]
            for name, (loss, s, f, v) in runs.items()]
    print(f"\nnames task, Adam lr {LR:g}, {steps} steps from one initialisation "
          f"(training loss: mean of {window} steps)")
    table(["Adam", "first |update|/lr"] + [f"loss@{t}" for t in marks] + ["val loss"], rows)
    result.update(first_step_ratio=ratio, predicted_first_step_ratio=float(predicted),
                  median_update_over_lr={"corrected": sc.tolist(), "uncorrected": su.tolist()},
                  loss={"corrected": lc.tolist(), "uncorrected": lu.tolist()},
                  val_loss={"corrected": vc, "uncorrected": vu})
    m1 = curves["constant"][0][0]
    verdict(abs(m1 - (1 - BETA1)) < 1e-12 and abs(curves["noisy"][0][-1] / (1 - BETA1 ** MOMENT_STEPS) - 1) < 0.05,
            "m_1 = 0.1 g, and E[m_t] = (1 - beta1^t) E[g]",
            f"m_1/g = {m1:.4f}; noisy m_50/E[g] = {curves['noisy'][0][-1]:.4f} vs 1 - beta1^50 = "
            f"{1 - BETA1 ** MOMENT_STEPS:.4f}")
    verdict(abs(ratio / predicted - 1) < 0.05, "without the correction the first update has the "
            "wrong size, (1 - beta1) / sqrt(1 - beta2) times Adam's",
            f"median ratio {ratio:.3f}, predicted {predicted:.3f}")
    early = min(steps, 100)
    ahead = plots.smooth(lu, window)[early - 1] - plots.smooth(lc, window)[early - 1]
    verdict(ahead > 0, f"the uncorrected, too-large first steps cost early loss on names (step {early})",
            f"smoothed loss {plots.smooth(lu, window)[early - 1]:.4f} uncorrected vs "
            f"{plots.smooth(lc, window)[early - 1]:.4f} corrected; val loss after {steps} steps "
            f"{vu:.4f} vs {vc:.4f}")
    result["png"] = _figure(curves, runs, window, figure_path(out, "bias-correction"))
    return result


def _figure(curves, runs, window, path):
    made = plots.panels(2, 2, (12, 8.5))
    if made is None:
        return None
    plt, fig, axes = made
    t = np.arange(1, MOMENT_STEPS + 1)
    for ax, (raw, hat, what) in zip(axes[:2], ((0, 2, "m_t / E[g]"), (1, 3, "v_t / E[g²]"))):
        for color, k, label in (("tab:red", raw, "raw"), ("tab:blue", hat, "bias-corrected")):
            ax.plot(t, curves["constant"][k], color=color, lw=1.4, label=f"{label}, constant g")
            ax.plot(t[::3], curves["noisy"][k][::3], "o", color=color, ms=4, mfc="none",
                    label=f"{label}, noisy g (mean of {STREAMS} streams)")
        ax.set_xlabel("step t")
        ax.set_ylabel(f"{what} (ratio, log)")
        ax.set_yscale("log")
        ax.grid(alpha=0.3, which="both")
    axes[0].set_title("first moment: m_1 = 0.1 g, E[m_t] = (1 - 0.9^t) E[g]", fontsize=10)
    axes[1].set_title("second moment: v_1 = 0.001 g², E[v_t] = (1 - 0.999^t) E[g²]", fontsize=10)
    axes[0].legend(loc="lower right", fontsize=8)
    colors = {"corrected": "tab:blue", "uncorrected": "tab:red"}
    for name, (losses, sizes, _, _) in runs.items():
        s = np.arange(1, len(sizes) + 1)
        axes[2].plot(s, sizes, color=colors[name], lw=1.2, label=f"Adam, {name}")
        axes[3].plot(s, plots.smooth(losses, window), color=colors[name], lw=1.2, label=f"Adam, {name}")
    s = np.arange(1, len(runs["corrected"][1]) + 1)
    axes[2].plot(s, (1 - BETA1 ** s) / np.sqrt(1 - BETA2 ** s), "k:", lw=1,
                 label="uncorrected for a constant g: (1-0.9^t)/sqrt(1-0.999^t)")
    axes[2].set_yscale("log")
    axes[2].set_ylim(bottom=0.3 * min(runs["corrected"][1].min(), 1.0))  # room for the legend
    axes[2].set_ylabel("median |update| / lr over all weights (log)")
    axes[2].set_title(f"names model: update size in the first steps (lr {LR:g})", fontsize=10)
    axes[3].set_ylabel(f"training loss (nats/char, mean of {window} steps)")
    axes[3].set_title("names model: the early loss", fontsize=10)
    for ax in axes[2:]:
        ax.set_xscale("log")
        ax.set_xlabel("step (log)")
        ax.grid(alpha=0.3, which="both")
        ax.legend(loc="lower left" if ax is axes[2] else "upper right", fontsize=8)
    return path if plots.save_panels(plt, fig, path, "Averages started at zero are (1 - beta^t) too "
                                     "small; without the correction Adam's first updates are "
                                     "several times too large") else None
