"""adagrad-decay: AdaGrad's step size only falls; RMSProp's recovers when the gradients shrink.

AdaGrad divides by the square root of the SUM of all squared gradients; RMSProp by the square
root of an exponential average of them, which forgets with a time constant of 1/(1 - β) steps
(β is the article's name for RMSProp's decay; the code calls it `alpha`, torch's 0.99 here):

    G_t = G_{t-1} + g_t²                  AdaGrad's sum (state `sum`): it can only grow
    η_t = α / (sqrt(G_t) + ε)             so AdaGrad's effective step size can only fall
    v_t = β v_{t-1} + (1 - β) g_t²        RMSProp's average (state `square_avg`)
    η_t = α / (sqrt(v_t) + ε)             falls and rises with the recent gradients
    θ_t = θ_{t-1} - η_t g_t               both: one step per coordinate
    c_t = 1, then 1/100 from T/2          the gradient's scale on the stream below
    g_t = c_t (θ - o_t + ξ_t)             ξ_t ~ N(0, 1) per coordinate; the optimum o_t moves by 1 at T/2

Here α is the learning rate (`lr`), g_t the gradient of step t, θ the D = 100 coordinates and
o_t the optimum of step t. The stream is a noisy quadratic: for the first half of its T steps
the gradients have scale 1; halfway, their scale drops 100x and the optimum moves by 1 in every
coordinate (new data on a smaller scale). AdaGrad still divides by the large gradients of the
first half, so its update shrinks 100x and it stalls far from the new optimum; RMSProp forgets
them: after k steps v has fallen by β^k, so its update is back to half its size when v has
fallen 100²/3 times, ln(3/100²)/ln(β) ≈ 807 steps after the drop.

Varied: the optimizer, and the seed (it draws the first optimum and the noise ξ); each seed's
stream is the same for both optimizers. Held fixed: D, the drop, the shift, AdaGrad's lr 0.5 and
RMSProp's lr 0.01 (each gives an update of about 0.01 per coordinate before the drop), the
default ε and β. Both run as optim.functional.adagrad / rmsprop on raw arrays; the effective step
sizes are what each declaration's explain() makes of the state the step left (G, v).

The margins: that AdaGrad's step never rises is an identity (G only grows), checked exactly on
every coordinate of every step. "Recovers" means RMSProp's update at the end is at least half
its size before the drop (RECOVERED); "stalls" means AdaGrad's is under a twentieth of it
(STALLED: a 20x slower learner, a difference no tuning of the drop hides). "Reaches the new
optimum" means an RMS distance at the end at least 0.25 smaller than AdaGrad's (a quarter of the
shift of 1). The recovery time is predicted within 25%.
"""
import math

import numpy as np

import optim
from models import plots

from . import parallel, verdicts
from .common import explained, figure_path, table

USES = (optim.Adagrad, optim.RMSprop)  # the optimizer classes it runs (its code hash covers them)
QUOTE = ("In paraphrase: AdaGrad's accumulated sum of squared gradients only grows, so its "
         "effective learning rate only shrinks and learning can stall; RMSProp replaces the sum "
         "with an exponentially decaying average, which forgets old gradients.")
SECTION = "RMSProp"
LOOK_FOR = ("Left: AdaGrad's effective step size (red) only falls, and the drop in gradient scale "
            "at the dotted line does nothing for it; RMSProp's (blue) jumps up about 100x over the "
            "next thousand steps. Middle: the update itself. Before the drop both move about 0.01 "
            "per step; after it AdaGrad's update falls 100x and stays there, while RMSProp's dips "
            "and climbs back to its old size. Right: the consequence. The optimum moved by 1 at the "
            "drop; RMSProp gets back to the noise floor, AdaGrad creeps. Bands: the range over seeds.")

D, DROP, NOISE, SHIFT = 100, 100.0, 1.0, 1.0
LR = {"AdaGrad": 0.5, "RMSProp": 0.01}
OPTIMIZERS = {"AdaGrad": optim.Adagrad, "RMSProp": optim.RMSprop}
ALPHA = optim.RMSprop.defaults_of()["alpha"]  # torch's 0.99: time constant 1/(1-alpha) = 100 steps
STEPS = {False: 4000, True: 2000}  # the drop comes halfway
RECOVERED = 0.5  # RMSProp's update at the end over its size before the drop: at least this
STALLED = 0.05  # AdaGrad's: below this (a learner 20x slower than before the drop)
CLOSER = 0.25  # RMSProp ends at least this much closer (RMS distance; the optimum moved by 1)
PREDICTED_WITHIN = 0.25  # the recovery time within 25% of ln(3/DROP²)/ln(alpha)


def stream(steps, seed=0):
    """(scale c_t, optimum theta*_t, noise) per step: c = 1 then 1/DROP; theta* moves at the drop."""
    rng = np.random.default_rng(seed)
    half = steps // 2
    scale = np.where(np.arange(1, steps + 1) <= half, 1.0, 1.0 / DROP)
    first = rng.standard_normal(D)
    optimum = np.where((np.arange(1, steps + 1) <= half)[:, None], first, first + SHIFT)
    return scale, optimum, NOISE * rng.standard_normal((steps, D))


def simulate(name, steps, seed=0):
    """Per step: the mean effective step size lr/(sqrt(acc)+eps), the mean |update|, the RMS
    distance to the current optimum; and the largest rise of any coordinate's effective step
    from one step to the next (0 when it never rose), with the share of steps where one rose."""
    scale, optimum, noise = stream(steps, seed)
    cls = OPTIMIZERS[name]
    group = {**cls.defaults_of(), "lr": LR[name]}  # what optim.functional makes of lr=LR[name]
    theta = np.zeros(D)
    state = {}
    eff, moved, dist = np.empty(steps), np.empty(steps), np.empty(steps)
    rise, rose, previous = 0.0, 0, None
    for t in range(steps):
        g = scale[t] * (theta - optimum[t] + noise[t])
        before = theta.copy()
        if name == "AdaGrad":
            optim.functional.adagrad(theta, g, state, lr=LR[name])  # G_t = sum of g²
        else:
            optim.functional.rmsprop(theta, g, state, lr=LR[name])  # v_t = alpha v + (1-alpha) g²
        size = explained(cls, theta, state, group)["step_size"]  # lr/(sqrt(G or v)+eps), per coordinate
        if previous is not None:
            up = float(np.max(size - previous))
            rise, rose = max(rise, up), rose + (up > 0)
        previous = size
        eff[t] = np.mean(size)
        moved[t] = np.mean(np.abs(theta - before))
        dist[t] = np.sqrt(np.mean((theta - optimum[t]) ** 2))
    return {"eff": eff, "moved": moved, "dist": dist, "max_rise": rise, "steps_rose": rose}


def summary(curves, half):
    """The numbers of one run: the update before the drop and at the end, the steps to recover
    half of it, the effective steps and the distances."""
    eff, moved, dist = curves["eff"], curves["moved"], curves["dist"]
    before = moved[half - half // 10:half].mean()  # |update| over the last 10% before the drop
    smoothed = plots.smooth(moved[half:], 10)
    recovered = np.flatnonzero(smoothed >= 0.5 * before)
    return {"step_before_drop": float(before), "step_at_end": float(moved[-50:].mean()),
            "recovery_steps": int(recovered[0]) + 1 if recovered.size else None,
            "effective_step_start": float(eff[0]), "effective_step_before_drop": float(eff[half - 1]),
            "effective_step_end": float(eff[-1]), "distance_before_drop": float(dist[half - 1]),
            "distance_at_end": float(dist[-1]), "max_rise": curves["max_rise"],
            "steps_rose": curves["steps_rose"]}


def run(quick=False, out="runs/experiments"):
    steps, seeds = STEPS[quick], verdicts.seeds(quick)
    half = steps // 2
    jobs = [(name, steps, seed) for name in LR for seed in seeds]
    done = dict(zip(jobs, parallel.map(simulate, jobs)))
    curves = {name: [done[name, steps, s] for s in seeds] for name in LR}
    each = {name: [summary(c, half) for c in curves[name]] for name in LR}
    predicted = math.log(3 / DROP ** 2) / math.log(ALPHA)  # v back to 4 v_new: half the old update
    result = {"seeds": seeds, "predicted_recovery_steps": predicted}
    rows = []
    for name in LR:
        runs = each[name]
        mean = {k: float(np.mean([r[k] for r in runs])) for k in runs[0] if k != "recovery_steps"}
        recov = [r["recovery_steps"] for r in runs]
        result[name] = {**mean, "per_seed": runs,
                        "recovery_steps": None if None in recov else float(np.mean(recov))}
        r = result[name]
        rows.append((name, f"{LR[name]:g}", f"{r['step_before_drop']:.2e}", f"{r['step_at_end']:.2e}",
                     f"{r['step_at_end'] / r['step_before_drop']:.3f}",
                     "never" if r["recovery_steps"] is None else f"{r['recovery_steps']:.0f}",
                     f"{r['effective_step_start']:.2e}", f"{r['effective_step_before_drop']:.2e}",
                     f"{r['effective_step_end']:.2e}", f"{r['distance_before_drop']:.3f}",
                     f"{r['distance_at_end']:.3f}", f"{r['steps_rose']:.0f}"))
    print(f"a stream of {steps} steps in {D} coordinates; at step {half} the gradient scale drops "
          f"{DROP:g}x and the optimum moves by {SHIFT:g}; means over {len(seeds)} seeds")
    table(["optimizer", "lr", "|step| before drop", "|step| at end", "end/before",
           "steps to recover 1/2", "eff. step: first", "before drop", "end", "dist. before drop",
           "dist. at end", "steps where one rose"], rows)
    a, r = each["AdaGrad"], each["RMSProp"]
    rises = [x["max_rise"] for x in a]
    verdicts.exact("AdaGrad's effective step size lr/(sqrt(G)+eps) never rises, on any coordinate "
                   "at any step", max(rises) <= 0.0,
                   f"largest rise from one step to the next over {len(seeds)} seeds x {steps} steps "
                   f"x {D} coordinates: {max(rises):.3g}; RMSProp's rose on some coordinate in "
                   f"{np.mean([x['steps_rose'] for x in r]):.0f} of {steps} steps")
    verdicts.above("RMSProp's update recovers after the drop: at the end it is at least half its "
                   "size before", [x["step_at_end"] / x["step_before_drop"] for x in r], RECOVERED)
    verdicts.below("AdaGrad's update stalls after the drop: at the end it is under a twentieth of "
                   "its size before", [x["step_at_end"] / x["step_before_drop"] for x in a], STALLED)
    verdicts.better("after the drop RMSProp gets back to the new optimum and AdaGrad does not "
                    "(RMS distance at the end)", [x["distance_at_end"] for x in r],
                    [x["distance_at_end"] for x in a], CLOSER, names=("RMSProp", "AdaGrad"))
    recov = [x["recovery_steps"] for x in r]
    if None in recov:
        verdicts.exact(f"RMSProp recovers half its update within the run, in about "
                       f"ln(3/{DROP:g}²)/ln(alpha) = {predicted:.0f} steps", False,
                       f"a seed never recovered: {recov}")
    else:
        verdicts.below(f"RMSProp recovers half its update in ln(3/{DROP:g}²)/ln(alpha) = "
                       f"{predicted:.0f} steps, within 25% (relative error of the prediction)",
                       [abs(k / predicted - 1) for k in recov], PREDICTED_WITHIN)
        verdicts.note(f"the time constant 1/(1-alpha) = {1 / (1 - ALPHA):.0f} steps is not the "
                      f"recovery time: v must fall {DROP ** 2 / 3:.0f}x, which takes "
                      f"ln({DROP ** 2 / 3:.0f}) = {math.log(DROP ** 2 / 3):.1f} time constants "
                      f"(measured {np.mean(recov):.0f} steps)")
    result["png"] = _figure(curves, half, figure_path(out, "adagrad-decay"))
    return result


def _figure(curves, half, path):
    made = plots.panels(1, 3, (14, 4.6))
    if made is None:
        return None
    plt, fig, axes = made
    colors = {"AdaGrad": "tab:red", "RMSProp": "tab:blue"}
    labels = ("lr / (sqrt(G or v) + eps) (per unit gradient, log)",
              "mean |update| per coordinate (parameter units, log)",
              "RMS distance to the optimum (parameter units, log)")
    titles = ("effective step size: AdaGrad's only falls", "the update, before and after the drop",
              "distance to the optimum: AdaGrad stalls")
    for ax, key, label, title in zip(axes, ("eff", "moved", "dist"), labels, titles):
        for name, runs in curves.items():
            ys = np.array([plots.smooth(c[key], 10) if key == "moved" else c[key] for c in runs])
            t = np.arange(1, ys.shape[1] + 1)
            ax.fill_between(t, ys.min(0), ys.max(0), color=colors[name], alpha=0.25, lw=0)
            ax.plot(t, ys.mean(0), color=colors[name], lw=1.3,
                    label=f"{name} (lr {LR[name]:g}), mean and range over {len(runs)} seeds")
        ax.axvline(half, color="k", ls=":", lw=1)
        ax.set_yscale("log")
        ax.set_xlabel("step", fontsize=11)
        ax.set_ylabel(label, fontsize=10)
        ax.set_title(title, fontsize=11)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=10)
    axes[0].text(half, axes[0].get_ylim()[1], f" gradients {DROP:g}x smaller", va="top", fontsize=10)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="upper center", ncol=2,
               bbox_to_anchor=(0.5, 0.94), frameon=False, fontsize=10)
    return path if plots.save_panels(plt, fig, path, f"AdaGrad's effective step only falls, so it "
                                     f"stalls when the gradients shrink {DROP:g}x; RMSProp's "
                                     "average forgets and its step recovers") else None
