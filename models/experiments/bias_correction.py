"""Averages started at zero are too small by (1 - β^t); Adam divides that factor out.

Adam keeps two exponential moving averages of the gradient g_t of each weight, both started at
zero, and bias-corrects them before the step (β1 = 0.9, β2 = 0.999, ε = 1e-8, optim.Adam's
defaults; t counts the steps from 1):

    m_t = β1 m_{t-1} + (1 - β1) g_t          first moment, m_0 = 0
    v_t = β2 v_{t-1} + (1 - β2) g_t²         second moment, v_0 = 0
    E[m_t] = (1 - β1^t) E[g]                 when g's distribution does not change
    m̂_t = m_t / (1 - β1^t)                   so E[m̂_t] = E[g]
    v̂_t = v_t / (1 - β2^t)                   so E[v̂_t] = E[g²]
    θ ← θ - lr m̂_t / (sqrt(v̂_t) + ε)         the step
    ρ_t = (1 - β1^t) / sqrt(1 - β2^t)        the uncorrected step over the corrected one

Part 1 (an identity, checked exactly) runs optim.Adam's own rule on 4,000 gradient streams, a
constant g = 1 and a noisy g = 1 + 2 N(0, 1), and compares m_t and v_t, raw and corrected, with
(1 - β^t). After one step m_1 = 0.1 g and v_1 = 0.001 g².

Part 2 asks what the correction is for. It trains the names model (a character MLP on the
surnames, validation loss in nats per character) with Adam at lr 3e-3 and with the same rule
with both corrections set to 1: an ablation written here from the declaration's parts (Adam.rule
and Adam.scalars), not an option of optim.Adam. Everything else is held fixed: per seed s (5 in
the full run) both runs start from the same initialisation and see the same batches. Without the
correction the first step is ρ_1 = 0.1 / sqrt(0.001) = 3.16 times Adam's; ρ_t peaks at 6.6 at step 12
and is still 1.26 at step 1,000 (1.1 at step 1,750). Measured per seed: the ratio
of the two runs' median |update| over steps 1-10, the mean training loss over the first 100
steps, and the validation loss at the end (800 steps).

The margins are fixed before the run: an update 1.5 times too large counts as the wrong size
(a factor a learning-rate sweep would tell apart); 0.02 nats per character of early training
loss and 0.01 of final validation loss count as mattering (the names model's loss falls by
about 0.01 every few hundred steps late in training, so less is a tie).
"""
import numpy as np

import optim
from models import plots
from models.tasks import make_task
from optim.scalars import Scalars

from . import parallel, verdicts
from .common import figure_path, fit, table, val_loss

QUOTE = ("In paraphrase: the moving averages start at zero, so early on they are biased towards "
         "zero by a factor (1 - β^t); Adam's bias correction divides it out, and without it the "
         "first steps have the wrong size.")
SECTION = "Adam (with bias correction)"
LOOK_FOR = (
    "Top row: the red curves (raw averages) start at 0.1 and 0.001 and creep towards 1 at the "
    "pace of 1 - β^t; the blue ones (corrected) sit at 1 from the first step, for a constant and "
    "for a noisy gradient alike. Bottom left: without the correction the median update is several "
    "times Adam's in the first tens of steps and follows the dotted (1-0.9^t)/sqrt(1-0.999^t); it "
    "comes back towards Adam's only after hundreds of steps. Bottom right: what those too-large "
    "steps cost, the training loss over the first steps, the mean over seeds with its min-max band.")
USES = (optim.Adam,)  # the optimizer classes it runs (its code hash covers them)
DEFAULTS = optim.Adam.defaults_of()  # lr 1e-3, betas (0.9, 0.999), eps 1e-8, no weight decay
(BETA1, BETA2), EPS = DEFAULTS["betas"], DEFAULTS["eps"]
MOMENT_STEPS, STREAMS, NOISE = 50, 4000, 2.0
TRAIN_STEPS = {False: 800, True: 15}
EARLY = {False: 100, True: 15}   # "the first steps": the training loss averaged over these
FIRST = 10                       # the update size is compared over steps 1..FIRST
LR = 3e-3  # the names task's Adam rate
# margins, fixed before the run (why: the module docstring)
WRONG_SIZE = 1.5       # uncorrected / corrected median |update|: above this the size is wrong
EARLY_MARGIN = 0.02    # nats/char of mean training loss over the first EARLY steps
FINAL_MARGIN = 0.01    # nats/char of validation loss after TRAIN_STEPS steps
VAL_EXAMPLES = 20_000


class AdamFromRule:
    """Adam on a model's parameters: optim.Adam.rule, with the scalars of Adam.scalars.

    correct=False: the bias corrections are 1 (m and v used as they are), the only difference.
    With correct=True this is optim.Adam, bit for bit (tests/experiments/test_bias_correction.py
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


_TASK = {}


def names_task():
    """The names task, loaded once (before the workers fork, so they share it)."""
    if "names" not in _TASK:
        _TASK["names"] = make_task("names")
    return _TASK["names"]


def train_names(seed, correct, steps):
    """Seed s: per-step training losses, per-step median |update|/lr, the first update of every
    element, and the validation loss at the end."""
    task = names_task()
    model = task.build(seed)
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

    losses = fit(task, model, opt, steps, task.batch_size, seed=seed, on_step=on_step)
    return np.array(losses), np.array(sizes), first[0], val_loss(task, model, VAL_EXAMPLES)


def rho(t):
    """(1 - β1^t) / sqrt(1 - β2^t): the uncorrected step over the corrected one, constant g."""
    t = np.asarray(t, dtype=np.float64)
    return (1 - BETA1 ** t) / np.sqrt(1 - BETA2 ** t)


def run(quick=False, out="runs/experiments"):
    steps, early = TRAIN_STEPS[quick], EARLY[quick]
    curves = {kind: moments(kind == "noisy") for kind in ("constant", "noisy")}
    rows = []
    for t in (1, 2, 10, 50):
        rows.append([str(t)] + [f"{curves[k][i][t - 1]:.4f}" for k in curves for i in (0, 2, 1, 3)]
                    + [f"{1 - BETA1 ** t:.4f}", f"{1 - BETA2 ** t:.4f}"])
    print(f"Part 1: moments over {STREAMS} streams, beta1 {BETA1}, beta2 {BETA2} (noisy: g = 1 + "
          f"{NOISE:g} N(0, 1))")
    table(["t", "const m/g", "m_hat/g", "v/g^2", "v_hat/g^2", "noisy m/E[g]", "m_hat/E[g]",
           "v/E[g^2]", "v_hat/E[g^2]", "1-beta1^t", "1-beta2^t"], rows)
    result = {"moments": {k: {name: c.tolist() for name, c in zip(("m", "v", "m_hat", "v_hat"), v)}
                          for k, v in curves.items()}}
    t = np.arange(1, MOMENT_STEPS + 1)
    raw_m, raw_v, hat_m, hat_v = curves["constant"]
    err = max(np.abs(raw_m - (1 - BETA1 ** t)).max(), np.abs(raw_v - (1 - BETA2 ** t)).max(),
              np.abs(hat_m - 1).max(), np.abs(hat_v - 1).max())
    verdicts.exact("for a constant g, m_t = (1 - beta1^t) g and v_t = (1 - beta2^t) g² (m_1 = 0.1 g, "
                   "v_1 = 0.001 g²), and the corrected m_hat = g, v_hat = g², at every step 1-50",
                   err < 1e-12, f"largest deviation {err:.1e} over t = 1..{MOMENT_STEPS}; m_1/g = "
                   f"{raw_m[0]:.4f}, v_1/g² = {raw_v[0]:.6f}")
    nm, nv, nhm, nhv = curves["noisy"]
    worst = max(np.abs(nhm - 1).max(), np.abs(nhv - 1).max())
    verdicts.exact(f"for a noisy g, the corrected averages are unbiased: m_hat/E[g] and v_hat/E[g²] "
                   f"stay within 5% of 1 from step 1 (mean of {STREAMS} streams, one fixed stream "
                   "seed)", worst < 0.05,
                   f"largest deviation {worst:.3f}; raw m_50/E[g] = {nm[-1]:.4f} vs 1 - beta1^50 = "
                   f"{1 - BETA1 ** MOMENT_STEPS:.4f}, raw v_50/E[g²] = {nv[-1]:.4f} vs 1 - "
                   f"beta2^50 = {1 - BETA2 ** MOMENT_STEPS:.4f}")

    seeds = verdicts.seeds(quick)
    names_task()  # loaded before the workers fork
    jobs = [(s, correct, steps) for s in seeds for correct in (True, False)]
    done = parallel.map(train_names, jobs)
    runs = {(s, correct): r for (s, correct, _), r in zip(jobs, done)}
    predicted = float(rho(1))
    first_ratio, size_ratio, early_c, early_u, val_c, val_u = [], [], [], [], [], []
    rows = []
    for s in seeds:
        (lc, sc, fc, vc), (lu, su, fu, vu) = runs[s, True], runs[s, False]
        big = fc > 1e-2 * LR  # elements the first gradient moved (|g| >> eps)
        first_ratio.append(float(np.median(fu[big] / fc[big])))
        size_ratio.append(float(np.mean(su[:FIRST] / sc[:FIRST])))
        early_c.append(float(np.mean(lc[:early])))
        early_u.append(float(np.mean(lu[:early])))
        val_c.append(vc)
        val_u.append(vu)
        rows.append([str(s), f"{first_ratio[-1]:.4f}", f"{size_ratio[-1]:.2f}", f"{early_c[-1]:.4f}",
                     f"{early_u[-1]:.4f}", f"{vc:.4f}", f"{vu:.4f}"])
    print(f"\nPart 2: names model, Adam lr {LR:g}, {steps} steps, corrected vs uncorrected from the "
          f"same initialisation and batches per seed")
    table(["seed", "first |update| ratio", f"median |update| ratio, steps 1-{FIRST}",
           f"corrected train loss 1-{early}", f"uncorrected train loss 1-{early}",
           "corrected val loss", "uncorrected val loss"], rows)
    result.update(first_step_ratio=first_ratio, predicted_first_step_ratio=predicted,
                  size_ratio=size_ratio, early_loss={"corrected": early_c, "uncorrected": early_u},
                  val_loss={"corrected": val_c, "uncorrected": val_u},
                  median_update_over_lr={k: [runs[s, c][1].tolist() for s in seeds]
                                         for k, c in (("corrected", True), ("uncorrected", False))},
                  loss={k: [runs[s, c][0].tolist() for s in seeds]
                        for k, c in (("corrected", True), ("uncorrected", False))})
    worst = max(abs(r / predicted - 1) for r in first_ratio)
    verdicts.exact("without the correction the first update is (1 - beta1) / sqrt(1 - beta2) = "
                   f"{predicted:.3f} times Adam's, on every seed (median over weights with |g| >> eps)",
                   worst < 0.01, "per seed " + ", ".join(f"{r:.4f}" for r in first_ratio)
                   + f"; largest relative deviation {worst:.1e}")
    verdicts.above(f"without the correction the updates of the first {FIRST} steps have the wrong "
                   f"size: the median |update| is more than {WRONG_SIZE:g} times Adam's",
                   size_ratio, WRONG_SIZE, unit="x")
    verdicts.better(f"the corrected Adam has the lower training loss over the first {early} steps",
                    early_c, early_u, EARLY_MARGIN, names=("corrected", "uncorrected"), unit=" nats")
    verdicts.better(f"the corrected Adam still has the lower validation loss after {steps} steps",
                    val_c, val_u, FINAL_MARGIN, names=("corrected", "uncorrected"), unit=" nats")
    result["png"] = _figure(curves, runs, seeds, figure_path(out, "bias-correction"))
    return result


def _band(ax, x, curves, color, label, window=1):
    y = np.array([plots.smooth(c, window) for c in curves])
    ax.plot(x, y.mean(axis=0), color=color, lw=1.6, label=label)
    if len(y) > 1:
        ax.fill_between(x, y.min(axis=0), y.max(axis=0), color=color, alpha=0.2, lw=0)


def _figure(curves, runs, seeds, path):
    made = plots.panels(2, 2, (14, 9.5))
    if made is None:
        return None
    plt, fig, axes = made
    t = np.arange(1, MOMENT_STEPS + 1)
    for ax, (raw, hat, what) in zip(axes[:2], ((0, 2, "m_t / E[g]"), (1, 3, "v_t / E[g²]"))):
        for color, k, label in (("tab:red", raw, "raw"), ("tab:blue", hat, "bias-corrected")):
            ax.plot(t, curves["constant"][k], color=color, lw=1.6, label=f"{label}, constant g")
            ax.plot(t[::3], curves["noisy"][k][::3], "o", color=color, ms=5, mfc="none",
                    label=f"{label}, noisy g (mean of {STREAMS} streams)")
        ax.set_xlabel("step t", fontsize=11)
        ax.set_ylabel(f"{what} (ratio, log)", fontsize=11)
        ax.set_yscale("log")
        ax.grid(alpha=0.3, which="both")
    axes[0].set_title("first moment: m_1 = 0.1 g, E[m_t] = (1 - 0.9^t) E[g]", fontsize=11)
    axes[1].set_title("second moment: v_1 = 0.001 g², E[v_t] = (1 - 0.999^t) E[g²]", fontsize=11)
    axes[0].legend(loc="lower right", fontsize=10)
    colors = {True: "tab:blue", False: "tab:red"}
    n = len(runs[seeds[0], True][0])
    s = np.arange(1, n + 1)
    window = max(1, n // 40)
    for correct, name in ((True, "corrected (Adam)"), (False, "uncorrected")):
        _band(axes[2], s, [runs[k, correct][1] for k in seeds], colors[correct], name)
        _band(axes[3], s, [runs[k, correct][0] for k in seeds], colors[correct], name, window)
        axes[3].plot([n * (1.08 if correct else 1.16)] * len(seeds), [runs[k, correct][3] for k in seeds],
                     "D", color=colors[correct], ms=6, mec="k", mew=0.5, ls="none",
                     label=f"{name}: validation loss at step {n}, each seed")
    axes[2].plot(s, rho(s), "k:", lw=1.2, label="uncorrected, constant g: (1-0.9^t)/sqrt(1-0.999^t)")
    axes[2].set_yscale("log")
    axes[2].set_ylim(0.02, 10)  # room below the curves for the legend
    axes[2].set_ylabel("median |update| / lr over all weights (log)", fontsize=11)
    axes[2].set_title(f"names model: update size (lr {LR:g}), mean and min-max over "
                      f"{len(seeds)} seeds", fontsize=11)
    top = max(max(runs[k, c][0][:window].max() for k in seeds) for c in (True, False))
    axes[3].set_ylim(1.9, top + 0.1)  # room below the curves for the legend
    axes[3].set_ylabel(f"training loss (nats/char, mean of {window} steps)", fontsize=11)
    axes[3].set_title("names model: training loss (mean, min-max over seeds); validation at the end",
                      fontsize=11)
    for ax in axes[2:]:
        ax.set_xscale("log")
        ax.set_xlabel("step (log)", fontsize=11)
        ax.grid(alpha=0.3, which="both")
        ax.legend(loc="lower left", fontsize=10)
    return path if plots.save_panels(plt, fig, path, "Averages started at zero are (1 - β^t) too "
                                     "small; without the correction Adam's first updates are "
                                     "several times too large") else None
