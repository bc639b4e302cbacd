"""Warmup and RAdam: does warmup help Adam, and is RAdam's benefit its rectification or its smaller rate?

Liu et al. (2020), "On the Variance of the Adaptive Learning Rate and Beyond": in Adam's first
steps v̂ averages very few squared gradients, so the adaptive rate lr / (sqrt(v̂) + ε) of each
element varies wildly (at t = 1 it is lr / |g|). Warmup hides this by keeping lr small while v̂
fills up. RAdam instead multiplies the adaptive step by a rectification r_t < 1, computed from
the length ρ_t of the moving average that v approximates:

    ρ_∞ = 2 / (1 - β2) - 1                                          the longest average: 199 for β2 = 0.99
    ρ_t = ρ_∞ - 2 t β2^t / (1 - β2^t)                               the length of the average v_t approximates
    r_t = sqrt((ρ_t - 4)(ρ_t - 2) ρ_∞ / ((ρ_∞ - 4)(ρ_∞ - 2) ρ_t))   when ρ_t > 5 (torch's threshold), else 0
    θ ← θ - lr r_t m̂ sqrt(1 - β2^t) / (sqrt(v) + ε)                 RAdam when ρ_t > 5: the rectified Adam step
    θ ← θ - lr m̂                                                    RAdam when ρ_t ≤ 5: SGD with momentum (t = 1..5)
    lr_t = lr (1/W + (1 - 1/W) min(t - 1, W) / W)                   Adam with warmup: linear over W steps (LinearLR)
    lr_t = lr r_t                                                   Adam at lr r_t: RAdam's own r_t as a LambdaLR

But r_t < 1 also means RAdam steps at a smaller rate than Adam for hundreds of steps, so a win
for RAdam could be the smaller rate, not the variance. The control that separates the two is Adam
run at lr·r_t (r_t read from optim.RAdam.scalars, the schedule RAdam itself uses): from step 6 on
it is RAdam's step exactly, up to where ε sits (Adam adds it to sqrt(v̂), RAdam to sqrt(v)). In
steps 1-5, where ρ_t ≤ 5, r_t = 0, so Adam at lr·r_t does not move at all (its m and v still
fill up), while RAdam takes five plain SGD-with-momentum steps of lr·m̂, unscaled by any v. If
RAdam is as good as Adam at lr·r_t, its benefit is the smaller rate (and those five steps), not
the variance it rectifies.

Warmup length: Ma & Yarats (2021) argue for 2 / (1 - β2) steps, 2,000 for β2 = 0.999, longer
than this machine can afford to train past. So β2 = 0.99 here (for every method), which makes
2 / (1 - β2) = 200 steps; the run is 600 steps (lr 0.01, β1 0.9, ε 1e-8, batch 16, no weight
decay, so warmup or r_t is the only difference). Five methods: Adam; Adam with a short warmup
(20 steps); Adam with the 2/(1 - β2) = 200-step warmup; RAdam; Adam at lr·r_t. Two settings of the
tiny GPT (n_embd 32, 4 heads) on the surnames: pre-LN with 2 layers (the names-gpt shape), and
post-LN with 6 layers (the original transformer's x = LN(x + f(x)), where Liu et al. saw
warmup matter). Five seeds: seed s is the initialisation and the batches, the same for every
method. Validation loss per character on a fixed 1,000 of the 8,880 validation names (about 7,000
characters; the same names for every run, so the paired differences do not include their noise).
The margin, stated before the run: 0.02 nats/char (about 1% of the loss; smaller differences
do not change what the model samples, and the earlier single-seed version of this experiment
saw post-LN verdicts flip with the seed at about that size).
"""
import numpy as np

import minigrad as mg
import minigrad.nn as nn
import minigrad.nn.functional as F
import optim
from models import plots
from models.gpt import GPT, Block
from models.tasks import make_task

from . import parallel, verdicts
from .common import figure_path, fit, table

USES = (optim.Adam, optim.RAdam)  # the optimizer classes it runs (its code hash covers them)
QUOTE = "In paraphrase: RAdam rectifies the variance of the early adaptive step, so it needs no warmup."
SECTION = "AMSGrad, RAdam"
LOOK_FOR = ("Top right: the rate each method actually uses, as a multiple of lr. The short and "
            "the long warmup ramp up linearly; Adam at lr·r_t follows RAdam's r_t, which is 0 for "
            "the first five steps (RAdam takes momentum steps there instead) and climbs towards 1 "
            "over the first few hundred steps, so RAdam, too, is a kind of warmup. Bottom right: "
            "ρ_t crossing 5 is where rectification starts. The left panels are the validation "
            "loss over training (mean of the seeds, band from the best to the worst seed); the "
            "middle panels show every seed's final validation loss for every method, so that you "
            "can see how much the seed moves each one before reading the verdicts: a verdict "
            "says 'held' only when the paired differences stay clear of the margin.")
LR = 1e-2
BETAS = (0.9, 0.99)   # β2 0.99 so that Ma & Yarats' 2/(1-β2) warmup (200 steps) fits the budget
EPS = optim.Adam.defaults_of()["eps"]
N_EMBD, N_HEAD, BATCH = 32, 4, 16
SETTINGS = [("pre-LN, 2 layers", False, 2), ("post-LN, 6 layers", True, 6)]  # (label, post_ln, layers)
STEPS = {False: 600, True: 24}
LONG_WARMUP = {False: round(2 / (1 - BETAS[1])), True: 10}  # Ma & Yarats: 2/(1-β2) = 200
SHORT_WARMUP = {False: 20, True: 4}
EVAL_EVERY = {False: 100, True: 8}
VAL_NAMES = {False: 1000, True: 200}  # the fixed validation subsample (the same for every run)
MARGIN = 0.02                         # nats/char
METHODS = ("Adam", "Adam + short warmup", "Adam + 2/(1-β2) warmup", "RAdam", "Adam at lr·r_t")


class PostLNBlock(Block):
    """The original transformer's block (Vaswani et al. 2017): normalise after each residual add,
    so the residual path itself goes through every LayerNorm."""

    def forward(self, x):
        x = self.ln_1(x + self.attn(x))
        return self.ln_2(x + self.mlp(x))


def build(post_ln, n_layer, seed=0):
    """The names-gpt model at this experiment's size; post_ln swaps in post-LN blocks."""
    mg.manual_seed(seed)
    model = GPT(block_size=16, n_layer=n_layer, n_head=N_HEAD, n_embd=N_EMBD)
    if post_ln:
        model.h = nn.ModuleList([PostLNBlock(N_EMBD, N_HEAD) for _ in range(n_layer)])
    return model


def rho(t, beta2=BETAS[1]):
    """RAdam's ρ_t, from the formula (optim/radam.py's docstring): the check compares the code."""
    rho_inf = 2 / (1 - beta2) - 1
    return rho_inf - 2 * t * beta2 ** t / (1 - beta2 ** t)


def r_of(t):
    """RAdam's own r_t (0 while ρ_t <= 5), from its declaration's scalars for step t."""
    return optim.RAdam.scalars(t, {**optim.RAdam.defaults_of(), "betas": BETAS}, {}).r


def multiplier(method, t, quick):
    """The factor of lr at step t (from 1) for each method: what the figure's rate panel shows."""
    if method in ("Adam + short warmup", "Adam + 2/(1-β2) warmup"):
        w = (SHORT_WARMUP if "short" in method else LONG_WARMUP)[quick]
        return 1 / w + (1 - 1 / w) * min(t - 1, w) / w
    if method == "Adam at lr·r_t":
        return r_of(t)
    return 1.0


_TASK = {}


def task():
    if "t" not in _TASK:
        _TASK["t"] = make_task("names-gpt")
    return _TASK["t"]


@mg.no_grad()
def val_loss(model, quick):
    """Loss per character on a fixed subsample of the validation names."""
    X, Y, lengths = task().val
    ix = np.random.default_rng(0).choice(len(X), VAL_NAMES[quick], replace=False)
    T = int(lengths[ix].max())
    model.eval()
    logits = model(task().to_device(X[ix, :T]))
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), task().to_device(Y[ix, :T].reshape(-1))).item()
    model.train()
    return loss


def train(post_ln, n_layer, method, seed, quick):
    """One run: validation curve, final validation loss, and how far the parameters moved in the
    first five steps (RAdam's momentum phase; Adam at lr·r_t should not move there)."""
    steps = STEPS[quick]
    model = build(post_ln, n_layer, seed)
    opt = (optim.RAdam if method == "RAdam" else optim.Adam)(model.parameters(), lr=LR, betas=BETAS, eps=EPS)
    sched = None
    if "warmup" in method:
        w = (SHORT_WARMUP if "short" in method else LONG_WARMUP)[quick]
        sched = optim.lr_scheduler.LinearLR(opt, start_factor=1 / w, total_iters=w)
    elif method == "Adam at lr·r_t":
        sched = optim.lr_scheduler.LambdaLR(opt, lambda e: r_of(e + 1))  # step t uses λ(t - 1)
    start = [p.data.copy() for p in model.parameters()]
    moved, curve = [], [(0, val_loss(model, quick))]

    def on_step(step):
        if step == 5:
            moved.append(float(max(np.max(np.abs(p.data - s)) for p, s in zip(model.parameters(), start))))
        if step % EVAL_EVERY[quick] == 0:
            curve.append((step, val_loss(model, quick)))

    losses = fit(task(), model, opt, steps, BATCH, seed=seed, sched=sched, on_step=on_step)
    return {"curve": curve, "val": curve[-1][1], "moved_in_5": moved[0] if moved else None,
            "train_last": float(np.mean(losses[-50:]))}


def run(quick=False, out="runs/experiments"):
    task()  # loaded before the workers fork
    seeds = verdicts.seeds(quick)
    steps = STEPS[quick]
    jobs = [(post, n, m, s, quick) for _, post, n in SETTINGS for m in METHODS for s in seeds]
    got = parallel.map(train, jobs)
    runs = {}
    for (post, n, m, _, _), r in zip(jobs, got):
        label = next(lab for lab, p, k in SETTINGS if (p, k) == (post, n))
        runs.setdefault(label, {}).setdefault(m, []).append(r)
    print(f"tiny GPT (n_embd {N_EMBD}, {N_HEAD} heads) on the surnames, lr {LR:g}, betas {BETAS}, "
          f"batch {BATCH}, {steps} steps; warmups {SHORT_WARMUP[quick]} and {LONG_WARMUP[quick]} steps "
          f"(2/(1-beta2) = {2 / (1 - BETAS[1]):.0f}); {len(seeds)} seeds")
    rows = []
    for label, by in runs.items():
        for m, rs in by.items():
            v = [r["val"] for r in rs]
            rows.append([label, m, f"{np.mean(v):.4f}", f"{min(v):.4f}", f"{max(v):.4f}",
                         f"{np.mean([r['train_last'] for r in rs]):.4f}"])
    table(["setting", "method", "val loss (mean)", "best seed", "worst seed", "train loss, last 50"], rows)

    t = np.arange(1, steps + 1)
    r = np.array([r_of(s) for s in t])
    rectified = [optim.RAdam.scalars(int(s), {**optim.RAdam.defaults_of(), "betas": BETAS}, {}).rectified
                 for s in t]
    rho_code = [optim.RAdam.scalars(int(s), {**optim.RAdam.defaults_of(), "betas": BETAS}, {}).rho_t
                for s in t]
    print("\nRAdam's rectification: rho_t (the formula), r_t and rectified (RAdam.scalars), beta2 "
          f"{BETAS[1]}")
    marks = [s for s in (1, 2, 5, 6, 7, 10, 20, 50, 100, 200, 400, steps) if s <= steps]
    table(["step"] + [str(s) for s in marks],
          [["rho_t"] + [f"{rho(s):.2f}" for s in marks],
           ["r_t"] + [f"{r[s - 1]:.3f}" for s in marks],
           ["rectified"] + [str(rectified[s - 1]) for s in marks]])
    unrect = [int(s) for s in t if not rectified[s - 1]]
    verdicts.exact("RAdam takes plain momentum steps (r_t = 0) exactly while rho_t <= 5, then "
                   "rectified steps with 0 < r_t < 1; its rho_t is the formula's",
                   unrect == [int(s) for s in t if rho(s) <= 5] and all(r[s - 1] == 0 for s in unrect)
                   and all(0 < r[s - 1] < 1 for s in t if s not in unrect)
                   and np.allclose(rho_code, [rho(s) for s in t], rtol=1e-12),
                   f"unrectified steps {unrect}; r_6 = {r[5]:.4f}, r_{min(200, steps)} = "
                   f"{r[min(200, steps) - 1]:.4f}, r_{steps} = {r[-1]:.4f}")
    still = [x["moved_in_5"] for by in runs.values() for x in by["Adam at lr·r_t"]]
    went = [x["moved_in_5"] for by in runs.values() for x in by["RAdam"]]
    verdicts.exact("in steps 1-5 (r_t = 0) Adam at lr·r_t does not move a single weight, while "
                   "RAdam moves by its momentum steps lr·m_hat", max(still) == 0 and min(went) > 0,
                   f"largest weight change after 5 steps: Adam at lr·r_t {max(still):g}, RAdam "
                   f"{min(went):.3g} to {max(went):.3g}")

    result = {"settings": {}, "rho": [rho(s) for s in t], "r": r.tolist(), "rectified": rectified}
    for label, by in runs.items():
        val = {m: [x["val"] for x in rs] for m, rs in by.items()}
        result["settings"][label] = {m: {"val_loss": v, "curves": [x["curve"] for x in by[m]]}
                                     for m, v in val.items()}
        for m in ("Adam + short warmup", "Adam + 2/(1-β2) warmup"):
            w = (SHORT_WARMUP if "short" in m else LONG_WARMUP)[quick]
            verdicts.better(f"{label}: {m.replace('Adam + ', '')} ({w} "
                            f"steps) lowers Adam's validation loss by at least {MARGIN}",
                            val[m], val["Adam"], MARGIN, names=(m, "Adam"), unit=" nats")
        verdicts.same(f"{label}: RAdam without warmup is as good as Adam with the 2/(1-β2) warmup "
                      f"(within {MARGIN})", val["RAdam"], val["Adam + 2/(1-β2) warmup"], MARGIN,
                      names=("RAdam", "Adam + 2/(1-β2) warmup"), unit=" nats")
        verdicts.same(f"{label}: RAdam is as good as Adam at lr·r_t (within {MARGIN}): if so, its "
                      "benefit is the smaller rate, not the rectified variance", val["RAdam"],
                      val["Adam at lr·r_t"], MARGIN, names=("RAdam", "Adam at lr·r_t"), unit=" nats")
    result["png"] = _figure(result, quick, figure_path(out, "warmup"))
    return result


SHORT = {"Adam": "Adam", "Adam + short warmup": "short\nwarmup", "Adam + 2/(1-β2) warmup": "2/(1-β2)\nwarmup",
         "RAdam": "RAdam", "Adam at lr·r_t": "Adam at\nlr·r_t"}
COLORS = {"Adam": "tab:red", "Adam + short warmup": "tab:cyan", "Adam + 2/(1-β2) warmup": "tab:blue",
          "RAdam": "tab:green", "Adam at lr·r_t": "tab:purple"}


def _figure(result, quick, path):
    made = plots.panels(2, 3, (15, 9.5))
    if made is None:
        return None
    plt, fig, axes = made
    steps = STEPS[quick]
    for row, (label, by) in enumerate(result["settings"].items()):
        ax = axes[3 * row]
        finals = []
        for m, res in by.items():
            x = [s for s, _ in res["curves"][0]]
            c = np.array([[v for _, v in curve] for curve in res["curves"]])
            ax.fill_between(x, c.min(0), c.max(0), color=COLORS[m], alpha=0.12)
            ax.plot(x, c.mean(0), color=COLORS[m], lw=1.6, label=m)
            finals.append(c[:, -1].max())
        lo = min(min(v["val_loss"]) for v in by.values())
        ax.set_ylim(lo - 0.05, max(lo + 0.8, max(finals) + 0.1))
        ax.set_xlabel("step", fontsize=11)
        ax.set_ylabel("validation loss (nats/char)", fontsize=11)
        ax.set_title(f"{label}: validation loss (band: min-max of seeds)", fontsize=11)
        ax.legend(fontsize=9, loc="upper right")
        ax = axes[3 * row + 1]
        for i, (m, res) in enumerate(by.items()):
            v = np.array(res["val_loss"])
            ax.scatter(np.full(len(v), i) + np.linspace(-0.15, 0.15, len(v)), v, color=COLORS[m], zorder=3)
            ax.plot([i - 0.3, i + 0.3], [v.mean()] * 2, color="k", lw=1.5)
        ax.set_xticks(range(len(by)), [SHORT[m] for m in by], fontsize=10)
        ax.set_ylabel(f"validation loss after {steps} steps", fontsize=11)
        ax.set_title(f"{label}: each seed (dots) and the mean (bar)", fontsize=11)
    ax = axes[2]
    t = np.arange(1, steps + 1)
    for m in METHODS:
        if m == "RAdam":
            continue
        ax.plot(t, [multiplier(m, s, quick) for s in t], color=COLORS[m], lw=2.2 if "r_t" in m else 1.8,
                label=SHORT[m].replace("\n", " "))
    ax.plot(t, result["r"], color=COLORS["RAdam"], lw=1.4, ls="--", label="RAdam's r_t (same)")
    ax.axvspan(0.5, 5.5, color="tab:green", alpha=0.1, label="RAdam: momentum")
    ax.set_xscale("log")
    ax.set_xlabel("step t (log)", fontsize=11)
    ax.set_ylabel("learning rate / lr", fontsize=11)
    ax.set_title(f"the rate each method uses (beta2 = {BETAS[1]})", fontsize=11)
    ax.set_ylim(-0.05, 1.6)  # room above the curves for the legend
    ax.set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    ax.legend(fontsize=9, loc="upper left", ncol=2, framealpha=0.95, columnspacing=0.8, handlelength=1.5)
    ax = axes[5]
    ax.plot(t, result["rho"], color="k", lw=1.6, label="rho_t")
    ax.axhline(5, color="k", ls=":", lw=1, label="rho_t = 5: rectification starts after")
    ax.axhline(2 / (1 - BETAS[1]) - 1, color="0.5", ls="--", lw=1, label="rho_inf = 2/(1-beta2) - 1")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("step t (log)", fontsize=11)
    ax.set_ylabel("rho_t (log)", fontsize=11)
    ax.set_title("RAdam's rho_t: the length of the average v approximates", fontsize=11)
    ax.legend(fontsize=9, loc="lower right")
    for a in axes:
        a.grid(alpha=0.3, which="both")
        a.tick_params(labelsize=10)
    n = len(next(iter(result["settings"].values()))["Adam"]["val_loss"])
    return path if plots.save_panels(plt, fig, path, "Warmup, RAdam, and Adam at RAdam's rate lr·r_t: "
                                     f"tiny GPT on surnames, lr {LR:g}, {n} seeds") else None
