"""warmup: RAdam rectifies the variance of the early adaptive step, so it needs no warmup.

Liu et al. (2020): in Adam's first steps v_hat is an average of very few squared gradients, so
the adaptive rate lr/(sqrt(v_hat)+eps) of each element varies wildly (at t = 1 it is lr/|g|).
Warmup hides this by making lr small while v_hat fills up; RAdam instead multiplies the adaptive
rate by r_t, which is 0 < r_t < 1 and grows to 1, and while the variance is not even defined
(rho_t <= 5, the first 5 steps for beta2 = 0.999) takes plain momentum steps lr * m_hat.

Three runs from one initialisation per setting: Adam without warmup, Adam with linear warmup
(optim.lr_scheduler.LinearLR), RAdam without warmup; same lr and betas, no weight decay (so the
warmup or the rectification is the only difference). Two settings of the tiny transformer on the
surnames: the names-gpt shape (pre-LN) at a large rate, and a deeper post-LN stack (the original
transformer's x = LN(x + f(x)), where the RAdam paper saw warmup matter) at the same rate.

What is read from the optimizers' declarations: each element's effective step in the first
steps is the step size their explain() gives for the state the step left (Adam
lr_t/(sqrt(v_hat)+eps)); RAdam's scalars(t, group, state) give rectified and r_t. rho_t is
the formula of RAdam's docstring, computed here: the verdict checks the code against it.
"""
import numpy as np

import minigrad as mg
import minigrad.nn as nn
import optim
from models import plots
from models.gpt import GPT, Block
from models.tasks import make_task

from .common import explained, figure_path, fit, table, verdict

USES = (optim.Adam, optim.RAdam)  # the optimizer classes it runs (its code hash covers them)
LR = 1e-2
BETAS, EPS = optim.Adam.defaults_of()["betas"], optim.Adam.defaults_of()["eps"]  # RAdam's too
N_EMBD, N_HEAD = 32, 4
SETTINGS = [  # (label, post_ln, n_layer, batch size)
    ("pre-LN, 2 layers", False, 2, 16),
    ("post-LN, 6 layers", True, 6, 16),
]
STEPS = {False: 800, True: 30}
WARMUP = {False: 200, True: 10}   # LinearLR from lr/WARMUP to lr over WARMUP steps
TRACKED = {False: 100, True: 12}  # steps whose per-element effective step is read
EARLY = {False: 300, True: 30}    # "the loss over the first few hundred steps"
MARGIN = 0.02                     # nats/char: a smaller difference in loss is called a tie
METHODS = ("Adam", "Adam + warmup", "RAdam")


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
    """RAdam's rho_t: the length of the SMA that v_t approximates (optim/radam.py)."""
    rho_inf = 2 / (1 - beta2) - 1
    return rho_inf - 2 * t * beta2 ** t / (1 - beta2 ** t)


def effective_steps(opt):
    """Each element's multiplier of m_hat in the step just taken (the step size of the
    optimizer's explain()), over elements that have seen a gradient: Adam lr/(sqrt(v_hat)+eps);
    RAdam lr r_t sqrt(1-beta2^t)/(sqrt(v)+eps), or lr when it is not rectified."""
    out = []
    for group in opt.param_groups:
        for p in group["params"]:
            state = opt.state[p]
            seen = state["exp_avg_sq"] > 0  # an element never touched (v = 0) has m = 0: no move
            step = explained(type(opt), p.data, state, group)["step_size"]
            out.append(np.broadcast_to(step, seen.shape)[seen])
    return np.concatenate(out)


def train(task, post_ln, n_layer, batch_size, method, quick):
    """Losses, validation loss, and per tracked step the 1st/50th/99th percentile of the
    effective step; for RAdam also its r_t and rectified flags at every step."""
    steps, tracked = STEPS[quick], TRACKED[quick]
    model = build(post_ln, n_layer)
    groups = optim.param_groups(model, 0.0)  # no decay: the only difference is warmup / r_t
    opt = (optim.RAdam if method == "RAdam" else optim.Adam)(groups, lr=LR, betas=BETAS, eps=EPS)
    sched = optim.lr_scheduler.LinearLR(opt, start_factor=1 / WARMUP[quick],
                                        total_iters=WARMUP[quick]) if "warmup" in method else None
    pct, r, rectified = [], [], []
    first = opt.param_groups[0]["params"][0]

    def on_step(step):
        if step <= tracked:  # group["lr"] is still the rate of this step: sched steps after
            pct.append(np.percentile(effective_steps(opt), (1, 50, 99)))
        if method == "RAdam":
            h = optim.RAdam.scalars(step, opt.param_groups[0], opt.state[first])
            r.append(h.r)
            rectified.append(bool(h.rectified))
        if sched is not None:
            sched.step()

    losses = fit(task, model, opt, steps, batch_size, on_step=on_step)
    return dict(loss=np.array(losses), val=task.evaluate(model)["val_loss"],
                pct=np.array(pct), r=np.array(r), rectified=np.array(rectified))


def run(quick=False, out="runs/experiments"):
    task = make_task("names-gpt")
    steps, early, tracked = STEPS[quick], EARLY[quick], TRACKED[quick]
    runs = {label: {m: train(task, post, n, bs, m, quick) for m in METHODS}
            for label, post, n, bs in SETTINGS}
    print(f"tiny GPT (n_embd {N_EMBD}, {N_HEAD} heads) on the surnames, lr {LR:g}, betas {BETAS}, "
          f"{steps} steps, warmup {WARMUP[quick]} steps (linear from lr/{WARMUP[quick]})")
    rows = []
    for (label, _, _, bs), by in zip(SETTINGS, runs.values()):
        for m, res in by.items():
            p = res["pct"]
            rows.append([f"{label}, batch {bs}", m, f"{res['loss'][:early].mean():.4f}",
                         f"{res['loss'][-min(100, steps):].mean():.4f}", f"{res['val']:.4f}",
                         f"{p[0, 1]:.2e}", f"{p[0, 2] / p[0, 0]:.3g}",
                         f"{p[-1, 1]:.2e}", f"{p[-1, 2] / p[-1, 0]:.3g}"])
    table(["setting", "optimizer", f"loss 1-{early}", f"loss last {min(100, steps)}", "val loss",
           "step@1 med", "@1 p99/p1", f"step@{tracked} med", f"@{tracked} p99/p1"], rows)
    t = np.arange(1, steps + 1)
    radam = runs[SETTINGS[0][0]]["RAdam"]
    print("\nRAdam's rectification: rho_t (formula), r_t and rectified (RAdam.scalars)")
    marks = [s for s in (1, 2, 5, 6, 7, 10, 50, 100, 300, steps) if s <= steps]
    table(["step"] + [str(s) for s in marks],
          [["rho_t"] + [f"{rho(s):.2f}" for s in marks],
           ["r_t"] + [f"{radam['r'][s - 1]:.3f}" for s in marks],
           ["rectified"] + [str(radam["rectified"][s - 1]) for s in marks]])
    result = {"settings": {label: {m: {"loss": res["loss"].tolist(), "val_loss": res["val"],
                                       "early_loss": float(res["loss"][:early].mean()),
                                       "effective_step_percentiles": res["pct"].tolist()}
                                   for m, res in by.items()} for label, by in runs.items()},
              "rho": [rho(s) for s in t], "r": radam["r"].tolist(),
              "rectified": radam["rectified"].tolist()}

    unrect = [int(s) for s in t if not radam["rectified"][s - 1]]
    expected = [int(s) for s in t if rho(s) <= 5]
    verdict(unrect == expected and all(radam["r"][s - 1] == 0 for s in unrect)
            and all(0 < radam["r"][s - 1] < 1 for s in t if s not in unrect),
            "RAdam takes plain momentum steps (r_t = 0) exactly while rho_t <= 5, then rectified "
            "steps with 0 < r_t < 1", f"unrectified steps {unrect}; r_6 = {radam['r'][5]:.4f}, "
            f"r_{steps} = {radam['r'][-1]:.4f}")
    spread = {label: by["Adam"]["pct"] for label, by in runs.items()}
    ratios = {label: (p[0, 2] / p[0, 0], p[-1, 2] / p[-1, 0]) for label, p in spread.items()}
    verdict(all(a > b for a, b in ratios.values()), "Adam's per-element effective step "
            "lr/(sqrt(v_hat)+eps) is spread widest in the first step",
            "; ".join(f"{label}: p99/p1 {a:.3g} at step 1 vs {b:.3g} at step {tracked}"
                      for label, (a, b) in ratios.items()))
    result["spread_ratio"] = {label: list(v) for label, v in ratios.items()}
    verdicts = {}
    for label, by in runs.items():
        a, w, r = (by[m]["val"] for m in METHODS)
        helps = a - w > MARGIN
        verdicts[label] = {"warmup_helps_adam": helps, "radam_matches_warmup": r - w <= MARGIN}
        verdict(helps, f"{label}: warmup improves Adam's validation loss by more than {MARGIN}",
                f"val {w:.4f} with warmup vs {a:.4f} without; loss over steps 1-{early} "
                f"{by['Adam + warmup']['loss'][:early].mean():.4f} vs {by['Adam']['loss'][:early].mean():.4f}")
        verdict(r - w <= MARGIN, f"{label}: RAdam without warmup is as good as Adam with warmup "
                f"(within {MARGIN})", f"val {r:.4f} RAdam vs {w:.4f} Adam + warmup")
    result["verdicts"] = verdicts
    final_r = radam["r"][-1] if len(radam["r"]) else float("nan")
    print(f"caveat: RAdam's r_t is still {final_r:.2f} at the last step, so it also steps at a "
          "fraction of Adam's rate throughout; a win for RAdam where Adam diverges late (after "
          "the warmup window) may come from that smaller rate, not from the early variance. "
          "Adam at lr * r_t would tell the two apart (not run).")
    result["png"] = _figure(runs, result, quick, figure_path(out, "warmup"))
    return result


COLORS = {"Adam": "tab:red", "Adam + warmup": "tab:blue", "RAdam": "tab:green"}


def _figure(runs, result, quick, path):
    made = plots.panels(2, 3, (16, 9))
    if made is None:
        return None
    plt, fig, axes = made
    steps, tracked = STEPS[quick], TRACKED[quick]
    window = max(1, steps // 40)
    for row, (label, by) in enumerate(runs.items()):
        ax = axes[3 * row]
        for m, res in by.items():
            ax.plot(np.arange(1, steps + 1), plots.smooth(res["loss"], window), color=COLORS[m],
                    lw=1.2, label=f"{m}: val {res['val']:.3f}")
        ax.set_ylim(top=min(3.4, ax.get_ylim()[1]))
        ax.set_title(f"{label}: training loss (mean of {window} steps)", fontsize=10)
        ax.set_xlabel("step")
        ax.set_ylabel("cross entropy (nats/char)")
        ax.axvline(WARMUP[quick], color="tab:blue", ls=":", lw=1)
        ax.legend(loc="upper right", fontsize=8)
        ax = axes[3 * row + 1]
        s = np.arange(1, tracked + 1)
        for m, res in by.items():
            p = res["pct"]
            ax.fill_between(s, p[:, 0], p[:, 2], color=COLORS[m], alpha=0.15)
            ax.plot(s, p[:, 1], color=COLORS[m], lw=1.4, label=f"{m}: median, band p1-p99")
        ax.set_yscale("log")
        ax.set_xscale("log")
        ax.set_title(f"{label}: effective step per element, first {tracked} steps", fontsize=10)
        ax.set_xlabel("step (log)")
        ax.set_ylabel("multiplier of m_hat (log)")
        ax.legend(loc="lower left", fontsize=8)
    ax = axes[2]
    t = np.arange(1, steps + 1)
    ax.plot(t, result["rho"], color="k", lw=1.2, label="rho_t")
    ax.axhline(5, color="k", ls=":", lw=1, label="rho_t = 5")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("step (log)")
    ax.set_ylabel("rho_t (log)")
    twin = ax.twinx()
    twin.plot(t, result["r"], color="tab:green", lw=1.4, label="r_t (0 while rho_t <= 5)")
    twin.set_ylabel("r_t", color="tab:green")
    twin.set_ylim(0, 1)
    ax.set_title(f"RAdam: rho_t and the rectification r_t (beta2 {BETAS[1]})", fontsize=10)
    lines = ax.get_legend_handles_labels()
    more = twin.get_legend_handles_labels()
    ax.legend(lines[0] + more[0], lines[1] + more[1], loc="upper left", fontsize=8)
    ax = axes[5]
    x = np.arange(len(runs))
    for i, m in enumerate(METHODS):
        vals = [by[m]["val"] for by in runs.values()]
        ax.bar(x + (i - 1) * 0.27, vals, 0.27, color=COLORS[m], label=m)
        for xi, v in zip(x, vals):
            ax.text(xi + (i - 1) * 0.27, v + 0.01, f"{v:.3f}", ha="center", fontsize=8)
    ax.set_xticks(x, list(runs))
    lo = min(by[m]["val"] for by in runs.values() for m in METHODS)
    hi = max(by[m]["val"] for by in runs.values() for m in METHODS)
    ax.set_ylim(lo - 0.1, hi + 0.15)
    ax.set_ylabel("validation loss (nats/char)")
    ax.set_title(f"validation loss after {steps} steps", fontsize=10)
    ax.legend(loc="upper left", fontsize=8)
    for a in axes[:2] + axes[3:5]:
        a.grid(alpha=0.3, which="both")
    return path if plots.save_panels(plt, fig, path, "RAdam rectifies Adam's early adaptive step "
                                     "(r_t = 0 while rho_t <= 5); does it replace warmup? "
                                     f"Tiny GPT on surnames, lr {LR:g}") else None
