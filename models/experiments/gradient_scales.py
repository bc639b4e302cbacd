"""gradient-scales: gradient scales differ across a network; Adam's step evens them out.

SGD moves every parameter by the same multiple of its gradient, so a tensor whose gradients are
a hundred times smaller than another's moves a hundred times less, at every learning rate. Adam
divides each element's averaged gradient by the root of its averaged square, which removes the
gradient's scale. For one tensor P (a weight matrix, a bias, a norm's scale, an embedding) with
elements i:

    r_P = sqrt(mean_i g_i²)                  the RMS of P's gradient at a step
    s_P = sqrt(mean_i (Δθ_i / α)²)           the RMS of P's step, per unit learning rate
    Δθ_i / α = g_i                           SGD: s_P = r_P, the gradient's scale as it is
    Δθ_i / α = m̂_i / (sqrt(v̂_i) + ε)         Adam: about ±1 for a steady gradient, whatever its scale
    spread = max_P r_P / min_P r_P           across the tensors of a model (likewise for s_P)

Here α is the learning rate (`lr`), g_i the gradient of element i, m̂_i and v̂_i Adam's
bias-corrected averages of g_i and g_i² (taken from the declaration: `explained`). r_P and s_P
are averaged (as a root mean square) over the second half of training. For an embedding table
each row is looked at alone too: a row's gradient is zero in every step whose batch lacks its
token, so the row's hit rate (the share of steps with a nonzero gradient) and its RMS when hit
say how sparse and how large its gradients are.

Two models on the surnames: the names model (an embedding of 5 characters, a Linear layer,
BatchNorm, tanh, the output Linear: models/char_mlp.py) and the tiny transformer (token and
position embeddings, 3 pre-LN blocks with LayerNorm, attention and an MLP, a final LayerNorm and
the head: models/gpt.py). Each is trained by SGD and by Adam (one group, no weight decay, no
schedule; seed s: the same initialisation and batches for both) for a few hundred steps, which
is long enough for the scales to settle and short enough for five seeds of each. Varied: the
model, the optimizer, the seed. Held fixed: each task's batch size, the rates (SGD 0.1, the
course's default; Adam 3e-3, the names tasks' rate). A tensor whose gradient is zero up to
rounding is left out of the spread and named: the names model's first bias, which the BatchNorm
after it cancels exactly.

The margins: the claim that scales differ holds when the spread of the gradient RMS across the
tensors exceeds SPREAD = 10 (a decade: any one learning rate is then 10x off for one of them), and
the depth claim when the last weight matrix's gradient RMS differs from the first's by over
DEPTH = 2x. Adam evens the steps when the spread of SGD's steps (its gradients' spread) is over
EVENS = 3 times the spread of Adam's steps.
"""
import numpy as np

import optim
from models import plots
from models.tasks import NamesGPTTask, NamesTask

from . import parallel, verdicts
from .common import explained, figure_path, fit, table

USES = (optim.SGD, optim.Adam)  # the optimizer classes it runs (its code hash covers them)
QUOTE = ("SGD with momentum uses the same learning rate for every parameter. [...] different "
         "parameters face very different optimization landscapes [...] Batch normalization "
         "parameters see gradients on a very different scale than weight matrices [...] "
         "Adaptive methods maintain a separate effective learning rate for each parameter, "
         "automatically adjusting based on gradient history.")
SECTION = "The Problem with a Single Learning Rate"
LOOK_FOR = ("Left column: one point per parameter tensor, in the order the forward pass meets "
            "them, for SGD (red: its step per unit learning rate is the gradient itself) and Adam "
            "(blue). SGD's points spread over one to two decades; Adam's lie in a narrow band "
            "around 0.1-1, because m̂/sqrt(v̂) has no units. Middle: that spread (largest over "
            "smallest tensor) at every step of training; Adam's stays low from the first steps. "
            "Right: the embedding rows. Each point is one row (a character, or a position in the "
            "transformer); x: how often a batch contains it; y: its RMS when it does. SGD's rare "
            "rows get small steps; Adam's get steps as large as frequent rows', or larger. Bands "
            "and bars: the range over seeds.")

SPREAD = 10.0  # gradient RMS, largest over smallest tensor: above this, one rate cannot suit all
DEPTH = 2.0  # last vs first weight matrix, gradient RMS ratio (either way): above this
EVENS = 3.0  # SGD's step spread over Adam's step spread: above this
LR = {"SGD": 0.1, "Adam": 3e-3}
OPTIMIZERS = {"SGD": optim.SGD, "Adam": optim.Adam}
MODELS = {"names": NamesTask, "names-gpt": NamesGPTTask}
TITLES = {"names": "names model (Embedding, Linear, BatchNorm)", "names-gpt": "tiny transformer (3 blocks, LayerNorm)"}
SHORT = {"names": "names model", "names-gpt": "tiny transformer"}
FIRST_LAST = {"names": ("fc1.weight", "fc2.weight"), "names-gpt": ("h.0.attn.c_attn.weight", "lm_head.weight")}
EMBEDDINGS = {"names": ("emb.weight",), "names-gpt": ("wte.weight", "wpe.weight")}
STEPS = {False: {"names": 1000, "names-gpt": 300}, True: {"names": 60, "names-gpt": 16}}
EVERY = {False: {"names": 5, "names-gpt": 2}, True: {"names": 2, "names-gpt": 1}}  # steps between measures
DEAD = 1e-6  # a tensor whose gradient RMS is below this share of the median is zero up to rounding
_TASKS = {}


def task(model):
    """The task of a model, loaded once (before the workers fork, so that they share it)."""
    if model not in _TASKS:
        _TASKS[model] = MODELS[model]()
    return _TASKS[model]


def _rms(a):
    return float(np.sqrt(np.mean(np.square(a, dtype=np.float64))))


def train(model_name, opt_name, seed, steps, every):
    """One run. Every `every` steps: each tensor's gradient RMS r_P and step RMS per unit lr s_P;
    per embedding row, whether it was hit and its gradient's and step's mean square."""
    t = task(model_name)
    model = t.build(seed)
    named = list(model.named_parameters())
    names = [n for n, _ in named]
    cls, lr = OPTIMIZERS[opt_name], LR[opt_name]
    opt = cls([p for _, p in named], lr=lr)
    group = opt.param_groups[0]
    grads, stepped, at = [], [], []
    rows = {n: {k: np.zeros(p.data.shape[0]) for k in ("hit", "grad_sq", "step_sq")} | {"measured": 0}
            for n, p in named if n in EMBEDDINGS[model_name]}

    def on_step(step):
        if step % every:
            return
        g_rms, s_rms = [], []
        for n, p in named:
            g = p.grad
            if opt_name == "SGD":
                s = g  # SGD's step per unit lr: the gradient
            else:  # Adam's, from its declaration: -lr m_hat/(sqrt(v_hat)+eps), over lr
                s = explained(cls, p.data, opt.state[p], group, g=g)["update"] / lr
            g_rms.append(_rms(g))
            s_rms.append(_rms(s))
            if n in rows:
                r = rows[n]
                hit = np.any(g != 0, axis=1)
                r["hit"] += hit
                r["grad_sq"] += np.where(hit, np.mean(np.square(g, dtype=np.float64), axis=1), 0.0)
                r["step_sq"] += np.where(hit, np.mean(np.square(s, dtype=np.float64), axis=1), 0.0)
                r["measured"] += 1
        grads.append(g_rms)
        stepped.append(s_rms)
        at.append(step)

    losses = fit(t, model, opt, steps, t.batch_size, seed=seed, on_step=on_step)
    return {"names": names, "at": np.array(at), "grad": np.array(grads), "step": np.array(stepped),
            "rows": rows, "loss_end": float(np.mean(losses[-max(1, steps // 10):]))}


def _late(series, at, steps):
    """Root mean square over the measures of the second half of training, per tensor."""
    late = at > steps // 2
    return np.sqrt(np.mean(series[late] ** 2, axis=0))


def _spread(rms, alive):
    return float(rms[alive].max() / rms[alive].min())


def summarize(run, steps):
    """The late RMS per tensor, which tensors are alive, the spreads, the first/last ratio."""
    g = _late(run["grad"], run["at"], steps)
    s = _late(run["step"], run["at"], steps)
    alive = g > DEAD * np.median(g)
    curve_alive = run["grad"][:, alive]
    return {"grad": g, "step": s, "alive": alive, "grad_spread": _spread(g, alive),
            "step_spread": _spread(s, alive),
            "grad_spread_curve": curve_alive.max(1) / curve_alive.min(1),
            "step_spread_curve": run["step"][:, alive].max(1) / run["step"][:, alive].min(1)}


def run(quick=False, out="runs/experiments"):
    seeds = verdicts.seeds(quick)
    for m in MODELS:
        task(m)
    jobs = [(m, o, s, STEPS[quick][m], EVERY[quick][m]) for m in MODELS for o in OPTIMIZERS for s in seeds]
    done = dict(zip(jobs, parallel.map(train, jobs)))
    runs = {(m, o): [done[m, o, s, STEPS[quick][m], EVERY[quick][m]] for s in seeds]
            for m in MODELS for o in OPTIMIZERS}
    result = {"seeds": seeds}
    for m in MODELS:
        steps = STEPS[quick][m]
        names = runs[m, "SGD"][0]["names"]
        sgd = [summarize(r, steps) for r in runs[m, "SGD"]]
        adam = [summarize(r, steps) for r in runs[m, "Adam"]]
        dead = [n for n, a in zip(names, sgd[0]["alive"]) if not a]
        first, last = (names.index(n) for n in FIRST_LAST[m])
        depth = [max(x["grad"][last] / x["grad"][first], x["grad"][first] / x["grad"][last]) for x in sgd]
        res = result[m] = {
            "tensors": names, "left_out": dead,
            "grad_rms": np.mean([x["grad"] for x in sgd], axis=0).tolist(),
            "sgd_step_rms": np.mean([x["step"] for x in sgd], axis=0).tolist(),
            "adam_step_rms": np.mean([x["step"] for x in adam], axis=0).tolist(),
            "adam_grad_rms": np.mean([x["grad"] for x in adam], axis=0).tolist(),
            "grad_spread": [x["grad_spread"] for x in sgd],
            "adam_run_grad_spread": [x["grad_spread"] for x in adam],
            "sgd_step_spread": [x["step_spread"] for x in sgd],
            "adam_step_spread": [x["step_spread"] for x in adam],
            "depth_ratio": depth,
            "loss_end": {o: float(np.mean([r["loss_end"] for r in runs[m, o]])) for o in OPTIMIZERS}}
        res["evens"] = [a / b for a, b in zip(res["sgd_step_spread"], res["adam_step_spread"])]
        res["rows"] = _rows(runs, m)
        print(f"\n{TITLES[m]}: {steps} steps of {task(m).batch_size}; SGD lr {LR['SGD']:g}, Adam lr "
              f"{LR['Adam']:g}; training loss over the last tenth: SGD {res['loss_end']['SGD']:.3f}, "
              f"Adam {res['loss_end']['Adam']:.3f}; RMS over the second half, means over {len(seeds)} seeds")
        table(["tensor", "grad RMS (SGD run)", "grad RMS (Adam run)", "Adam step / lr (RMS)"],
              [(n + (" (left out: zero gradient)" if n in dead else ""),
                f"{res['grad_rms'][i]:.2e}", f"{res['adam_grad_rms'][i]:.2e}", f"{res['adam_step_rms'][i]:.3f}")
               for i, n in enumerate(names)])
        for n, r in res["rows"].items():
            print(f"{n}: {r['n']} rows; hit in {100 * min(r['hit_rate']):.1f}% to {100 * max(r['hit_rate']):.0f}% "
                  f"of steps; RMS when hit, rarest vs most frequent quarter of the rows: gradient "
                  f"{r['grad_rare']:.2e} vs {r['grad_common']:.2e}, SGD step/lr the same, Adam step/lr "
                  f"{r['adam_rare']:.3f} vs {r['adam_common']:.3f}")
    for m in MODELS:
        res = result[m]
        for n, r in res["rows"].items():
            size = "smaller" if r["grad_rare"] < r["grad_common"] else "larger"
            verdicts.note(f"{m}, {n}: a row hit in few steps gets a {size} gradient when hit than "
                          f"a frequent row (RMS, rarest quarter of the rows {r['grad_rare']:.2e}, "
                          f"most frequent quarter {r['grad_common']:.2e}: SGD moves it "
                          f"{r['grad_rare'] / r['grad_common']:.2g}x as far); Adam's step per unit lr: "
                          f"{r['adam_rare']:.2f} vs {r['adam_common']:.2f}")
        left = f" ({', '.join(res['left_out'])} left out: its gradient is zero)" if res["left_out"] else ""
        for n in res["left_out"]:
            i = res["tensors"].index(n)
            verdicts.note(f"{m}, {n}: its gradient is rounding error (RMS {res['grad_rms'][i]:.1e}; the "
                          f"BatchNorm after it subtracts the batch mean); Adam's eps 1e-8, larger than "
                          f"sqrt(v_hat) here, keeps its step at {res['adam_step_rms'][i]:.3f} lr instead of "
                          f"about lr")
        verdicts.above(f"{m}: the gradient RMS of its parameter tensors spans over {SPREAD:g}x "
                       f"(largest/smallest, SGD run){left}", res["grad_spread"], SPREAD, unit="x")
        a, b = FIRST_LAST[m]
        verdicts.above(f"{m}: gradient scale varies with depth: {b} and {a} differ by over "
                       f"{DEPTH:g}x", res["depth_ratio"], DEPTH, unit="x")
        verdicts.above(f"{m}: Adam's per-tensor step spread is over {EVENS:g}x smaller than SGD's "
                       f"(SGD's step spread / Adam's)", res["evens"], EVENS, unit="x")
    result["png"] = _figure(runs, result, seeds, quick, figure_path(out, "gradient-scales"))
    return result


def _rows(runs, m):
    """Per embedding table: each row's hit rate and RMS when hit (SGD's gradient, Adam's step per
    unit lr), means over seeds, and the means of its rarest and most frequent quarter."""
    out = {}
    for n in runs[m, "SGD"][0]["rows"]:
        sgd = [r["rows"][n] for r in runs[m, "SGD"]]
        adam = [r["rows"][n] for r in runs[m, "Adam"]]
        rate = np.mean([x["hit"] / x["measured"] for x in sgd], axis=0)
        grad = np.mean([np.sqrt(x["grad_sq"] / np.maximum(x["hit"], 1)) for x in sgd], axis=0)
        step = np.mean([np.sqrt(x["step_sq"] / np.maximum(x["hit"], 1)) for x in adam], axis=0)
        used = rate > 0
        order = np.flatnonzero(used)[np.argsort(rate[used])]
        q = max(1, len(order) // 4)
        rare, common = order[:q], order[-q:]
        out[n] = {"n": len(rate), "hit_rate": rate[used].tolist(), "grad_when_hit": grad[used].tolist(),
                  "adam_step_when_hit": step[used].tolist(), "grad_rare": float(grad[rare].mean()),
                  "grad_common": float(grad[common].mean()), "adam_rare": float(step[rare].mean()),
                  "adam_common": float(step[common].mean())}
    return out


COLORS = {"SGD": "tab:red", "Adam": "tab:blue"}


def _figure(runs, result, seeds, quick, path):
    made = plots.panels(2, 3, (14, 9))
    if made is None:
        return None
    plt, fig, axes = made
    for row, m in enumerate(MODELS):
        res, steps = result[m], STEPS[quick][m]
        names = res["tensors"]
        alive = [n not in res["left_out"] for n in names]
        x = np.arange(len(names))[alive]
        ax = axes[3 * row]
        for o, key in (("SGD", "step"), ("Adam", "step")):
            vals = np.array([summarize(r, steps)[key] for r in runs[m, o]])[:, alive]
            mean = vals.mean(0)
            ax.errorbar(x, mean, yerr=[mean - vals.min(0), vals.max(0) - mean], fmt="o", ms=4,
                        color=COLORS[o], capsize=2, lw=1,
                        label=f"{o} (lr {LR[o]:g}): " + ("gradient g" if o == "SGD" else "m_hat/(sqrt(v_hat)+eps)"))
        ax.set_yscale("log")
        ax.set_xticks(*_ticks(m, names, alive))
        ax.tick_params(axis="x", labelrotation=0 if m == "names-gpt" else 30, labelsize=9)
        ax.set_ylabel("RMS step per unit lr (log)", fontsize=10)
        ax.set_title(f"{SHORT[m]}: each tensor's step (late in training)", fontsize=11)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=9, loc="center left")
        ax = axes[3 * row + 1]
        for o, key in (("SGD", "grad_spread_curve"), ("Adam", "step_spread_curve")):
            curves = np.array([summarize(r, steps)[key] for r in runs[m, o]])
            at = runs[m, o][0]["at"]
            ax.fill_between(at, curves.min(0), curves.max(0), color=COLORS[o], alpha=0.2, lw=0)
            ax.plot(at, curves.mean(0), color=COLORS[o], lw=1.5,
                    label=f"{o}'s steps" + (" (= its gradients)" if o == "SGD" else ""))
        ax.axhline(SPREAD, color="k", ls=":", lw=1, label=f"{SPREAD:g}x")
        ax.set_yscale("log")
        ax.set_ylim(1, 30 * SPREAD)  # room for the legend
        ax.set_xlabel("step", fontsize=10)
        ax.set_ylabel("largest / smallest tensor RMS (log)", fontsize=10)
        ax.set_title(f"{SHORT[m]}: the spread across tensors", fontsize=11)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=9, loc="upper right")
        ax = axes[3 * row + 2]
        for n, marker in zip(res["rows"], ("o", "s")):
            r = res["rows"][n]
            ax.plot(r["hit_rate"], r["grad_when_hit"], marker, color=COLORS["SGD"], ms=5, alpha=0.8,
                    label=f"{n}: SGD's step/lr (gradient)")
            ax.plot(r["hit_rate"], r["adam_step_when_hit"], marker, color=COLORS["Adam"], ms=5,
                    alpha=0.8, label=f"{n}: Adam's step/lr")
        ax.set_xlim(0, 1.05)
        ax.set_yscale("log")
        ax.set_xlabel("share of steps in which the row is hit", fontsize=10)
        ax.set_ylabel("row's RMS step per unit lr when hit (log)", fontsize=10)
        ax.set_title(f"{SHORT[m]}: embedding rows, when hit", fontsize=11)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    for ax in axes:
        ax.tick_params(labelsize=9)
    return path if plots.save_panels(plt, fig, path, f"Gradient scales differ across tensors; Adam's "
                                     f"step evens them out (mean and range over {len(seeds)} seeds)") else None


def _ticks(m, names, alive):
    """x ticks: every tensor for the names model; the start of each part for the transformer."""
    if m == "names":
        return [i for i, a in enumerate(alive) if a], [n for n, a in zip(names, alive) if a]
    parts, starts = [], []
    for i, n in enumerate(names):
        head = n.split(".")[0]
        part = f"block {int(n.split('.')[1]) + 1}" if head == "h" else \
            "emb." if head in ("wte", "wpe") else "head"
        if not parts or parts[-1] != part:
            parts.append(part)
            starts.append(i)
    ends = starts[1:] + [len(names)]
    out = [(a + b - 1) / 2 for a, b in zip(starts, ends)]  # the middle of each part
    return out, parts
