"""adagrad-decay: AdaGrad's step size only falls; RMSProp's recovers when the gradients shrink.

AdaGrad divides by the square root of the SUM of all squared gradients, G_t = sum g², which only
grows: its effective step size lr/(sqrt(G_t)+eps) only falls. RMSProp divides by an exponential
average, v_t = alpha v + (1 - alpha) g², which forgets with time constant 1/(1 - alpha) steps.

The stream: a noisy quadratic in D coordinates, gradient c_t (theta - theta*_t + noise). Halfway,
the gradient scale c_t drops 100x and the optimum moves by 1 in every coordinate (new data on a
smaller scale). AdaGrad still divides by the large gradients of the first half, so it stalls far
from the new optimum; RMSProp forgets them, its steps grow back, and it gets there.

Both run as optim.functional.adagrad / rmsprop on raw arrays, with their default eps (and
RMSProp's default alpha); the effective step sizes are what each declaration's explain() makes
of the state the step left (the sum G, the average v).
"""
import math

import numpy as np

import optim
from models import plots

from .common import explained, figure_path, table, verdict

USES = (optim.Adagrad, optim.RMSprop)  # the optimizer classes it runs (its code hash covers them)
D, DROP, NOISE, SHIFT = 100, 100.0, 1.0, 1.0
LR = {"AdaGrad": 0.5, "RMSProp": 0.01}
OPTIMIZERS = {"AdaGrad": optim.Adagrad, "RMSProp": optim.RMSprop}
ALPHA = optim.RMSprop.defaults_of()["alpha"]  # torch's 0.99: time constant 1/(1-alpha) = 100 steps
STEPS = {False: 4000, True: 2000}  # the drop comes halfway


def stream(steps, seed=0):
    """(scale c_t, optimum theta*_t, noise) per step: c = 1 then 1/DROP; theta* moves at the drop."""
    rng = np.random.default_rng(seed)
    half = steps // 2
    scale = np.where(np.arange(1, steps + 1) <= half, 1.0, 1.0 / DROP)
    first = rng.standard_normal(D)
    optimum = np.where((np.arange(1, steps + 1) <= half)[:, None], first, first + SHIFT)
    return scale, optimum, NOISE * rng.standard_normal((steps, D))


def simulate(name, steps):
    """Per step: the mean effective step size lr/(sqrt(acc)+eps), the mean |update|, and the RMS
    distance to the current optimum."""
    scale, optimum, noise = stream(steps)
    cls = OPTIMIZERS[name]
    group = {**cls.defaults_of(), "lr": LR[name]}  # what optim.functional makes of lr=LR[name]
    theta = np.zeros(D)
    state = {}
    eff, moved, dist = np.empty(steps), np.empty(steps), np.empty(steps)
    for t in range(steps):
        g = scale[t] * (theta - optimum[t] + noise[t])
        before = theta.copy()
        if name == "AdaGrad":
            optim.functional.adagrad(theta, g, state, lr=LR[name])  # G_t = sum of g²
        else:
            optim.functional.rmsprop(theta, g, state, lr=LR[name])  # v_t = alpha v + (1-alpha) g²
        eff[t] = np.mean(explained(cls, theta, state, group)["step_size"])  # lr/(sqrt(G or v)+eps)
        moved[t] = np.mean(np.abs(theta - before))
        dist[t] = np.sqrt(np.mean((theta - optimum[t]) ** 2))
    return eff, moved, dist


def run(quick=False, out="runs/experiments"):
    steps = STEPS[quick]
    half = steps // 2
    curves, result, rows = {}, {}, []
    for name in LR:
        eff, moved, dist = simulate(name, steps)
        curves[name] = (eff, moved, dist)
        before = moved[half - half // 10:half].mean()  # |update| over the last 10% before the drop
        recovered = np.flatnonzero(moved[half:] >= 0.5 * before)
        r = result[name] = {
            "step_before_drop": float(before), "step_at_end": float(moved[-50:].mean()),
            "recovery_steps": int(recovered[0]) + 1 if recovered.size else None,
            "effective_step_start": float(eff[0]), "effective_step_before_drop": float(eff[half - 1]),
            "effective_step_end": float(eff[-1]),
            "distance_before_drop": float(dist[half - 1]), "distance_at_end": float(dist[-1])}
        rows.append((name, f"{LR[name]:g}", f"{r['step_before_drop']:.2e}", f"{r['step_at_end']:.2e}",
                     f"{r['step_at_end'] / r['step_before_drop']:.3f}",
                     "never" if r["recovery_steps"] is None else str(r["recovery_steps"]),
                     f"{eff[0]:.2e}", f"{eff[half - 1]:.2e}", f"{eff[-1]:.2e}", f"{r['distance_before_drop']:.3f}",
                     f"{r['distance_at_end']:.3f}"))
    print(f"a stream of {steps} steps in {D} coordinates; at step {half} the gradient scale drops "
          f"{DROP:g}x and the optimum moves by {SHIFT:g}")
    table(["optimizer", "lr", "|step| before drop", "|step| at end", "end/before",
           "steps to recover 1/2", "eff. step: first", "before drop", "end", "dist. before drop",
           "dist. at end"], rows)
    a, r = result["AdaGrad"], result["RMSProp"]
    # v falls from v_0 to v_new as alpha^k: the update is back to half its size when v = 4 v_new
    predicted = math.log(3 / DROP ** 2) / math.log(ALPHA)
    result["predicted_recovery_steps"] = predicted
    verdict(r["recovery_steps"] is not None and (a["recovery_steps"] is None),
            "RMSProp's update recovers to within 2x of its size before the drop; AdaGrad's does not",
            f"RMSProp in {r['recovery_steps']} steps; AdaGrad's final update is "
            f"{a['step_at_end'] / a['step_before_drop']:.3f} of its size before the drop, its "
            f"effective step {a['effective_step_end'] / a['effective_step_start']:.1e} of its first")
    verdict(r["recovery_steps"] is not None and r["recovery_steps"] < 2 / (1 - ALPHA),
            "RMSProp recovers in about 1/(1-alpha) steps",
            f"1/(1-alpha) = {1 / (1 - ALPHA):.0f}, measured {r['recovery_steps']}; a {DROP:g}x drop "
            f"needs v to fall {DROP ** 2 / 3:.0f}x, ln({DROP ** 2 / 3:.0f}) / (1-alpha) = "
            f"{predicted:.0f} steps")
    verdict(r["distance_at_end"] < 0.5 * a["distance_at_end"], "after the drop RMSProp reaches "
            "the new optimum and AdaGrad stalls", f"RMS distance at the end {r['distance_at_end']:.3f} "
            f"vs {a['distance_at_end']:.3f}")
    result["png"] = _figure(curves, half, figure_path(out, "adagrad-decay"))
    return result


def _figure(curves, half, path):
    made = plots.panels(1, 3, (15, 4.8))
    if made is None:
        return None
    plt, fig, axes = made
    colors = {"AdaGrad": "tab:red", "RMSProp": "tab:blue"}
    labels = ("lr / (sqrt(G or v) + eps) (per unit gradient, log)",
              "mean |update| per coordinate (parameter units, log)",
              "RMS distance to the optimum (parameter units, log)")
    titles = ("effective step size: AdaGrad's only falls", "the update, before and after the drop",
              "the loss: AdaGrad stalls after the drop")
    for ax, k, label, title in zip(axes, range(3), labels, titles):
        for name, series in curves.items():
            t = np.arange(1, len(series[k]) + 1)
            ax.plot(t, plots.smooth(series[k], 10) if k == 1 else series[k], color=colors[name],
                    lw=1.2, label=f"{name} (lr {LR[name]:g})")
        ax.axvline(half, color="k", ls=":", lw=1)
        ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_ylabel(label)
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].text(half, axes[0].get_ylim()[1], f" gradients {DROP:g}x smaller", va="top", fontsize=8)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="upper center", ncol=2,
               bbox_to_anchor=(0.5, 0.94), frameon=False)
    return path if plots.save_panels(plt, fig, path, f"AdaGrad's effective step only falls, so it "
                                     f"stalls when the gradients shrink {DROP:g}x; RMSProp's "
                                     "average forgets and its step recovers") else None
