"""amsgrad: Adam can converge to the worst point of a simple online problem; AMSGrad does not.

Reddi, Kale & Kumar (2018), "On the Convergence of Adam and Beyond". Online linear losses f_t(x)
on the interval [-1, 1] (x is projected back onto it after every step), with the rate lr/sqrt(t)
of the analysis. The best fixed point is x = -1 in both settings:

- the theorem's: f_t(x) = C x when t mod 3 = 1, else -x (C = 3, beta1 = 0, beta2 = 1/(1 + C²));
- the paper's synthetic experiment: f_t(x) = 1010 x when t mod 101 = 1, else -10 x (beta1 = 0.9,
  beta2 = 0.99).

The rare large gradient pushes the right way, but Adam's v forgets it within a few steps, so the
frequent small gradients (each divided by a small sqrt(v)) win: Adam drifts to x = +1. AMSGrad
keeps the largest v seen, so the small gradients stay small and x moves to -1.

Both optimizers are optim.Adam's declaration on one number: its rule (Adam.rule), with the
scalars the declaration computes for each step (Adam.scalars: bias corrections included,
amsgrad as the flag) from its default hyperparameters, changed where the setting says; the
average regret R_T/T = (1/T) sum_t (f_t(x_t) - f_t(-1)) tends to 0 for a method that converges.
"""
import numpy as np

import optim
from models import plots

from .common import figure_path, table, verdict

USES = (optim.Adam,)  # the optimizer classes it runs (its code hash covers them)
SETTINGS = {  # name: (large gradient, small gradient, period, beta1, beta2, lr)
    "theorem (C = 3)": (3.0, -1.0, 3, 0.0, 1 / (1 + 3.0 ** 2), 0.5),
    "synthetic (1010 / -10, period 101)": (1010.0, -10.0, 101, 0.9, 0.99, 0.5),
}
STEPS = {False: (20_000, 300_000), True: (3_000, 30_000)}  # per setting, full and quick


def gradient(t, large, small, period):
    """f_t'(x): the loss is linear, so its gradient does not depend on x."""
    return large if t % period == 1 else small


def run_online(large, small, period, beta1, beta2, lr, steps, amsgrad):
    """x_t and the average regret R_t/t for t = 1..steps, from x = 0."""
    group = {**optim.Adam.defaults_of(), "betas": (beta1, beta2), "amsgrad": amsgrad}
    x, m, v, v_max = 0.0, 0.0, 0.0, 0.0
    xs, regret = np.empty(steps), np.empty(steps)
    total = 0.0
    for t in range(1, steps + 1):
        g = gradient(t, large, small, period)
        total += g * x - g * -1.0          # f_t(x_t) - f_t(-1)
        regret[t - 1] = total / t
        h = optim.Adam.scalars(t, dict(group, lr=lr / np.sqrt(t)), {})  # the rate lr/sqrt(t)
        new = optim.Adam.rule(x, g, m=m, v=v, v_max=v_max, h=h)
        x, m, v, v_max = new["theta"], new["m"], new["v"], new["v_max"]
        x = min(1.0, max(-1.0, x))         # projection onto the feasible set [-1, 1]
        xs[t - 1] = x
    return xs, regret


def run(quick=False, out="runs/experiments"):
    result, rows, curves = {"settings": {}}, [], {}
    for (name, (large, small, period, beta1, beta2, lr)), steps in zip(SETTINGS.items(), STEPS[quick]):
        for method, amsgrad in (("Adam", False), ("AMSGrad", True)):
            xs, regret = run_online(large, small, period, beta1, beta2, lr, steps, amsgrad)
            curves[name, method] = (xs, regret)
            result["settings"].setdefault(name, {})[method] = {
                "final_x": float(xs[-1]), "mean_x_last_10pct": float(xs[-steps // 10:].mean()),
                "average_regret": float(regret[-1])}
            rows.append((name, method, f"{beta1:g}", f"{beta2:.3g}", str(steps), f"{xs[-1]:+.3f}",
                         f"{xs[-steps // 10:].mean():+.3f}", f"{regret[-1]:.4f}"))
    table(["setting", "method", "beta1", "beta2", "steps", "final x", "mean x (last 10%)",
           "R_T/T"], rows)
    for name, res in result["settings"].items():
        a, b = res["Adam"]["final_x"], res["AMSGrad"]["final_x"]
        verdict(a > 0.5 and b < -0.5, f"{name}: Adam ends near the worst point +1 and AMSGrad "
                f"near the best point -1", f"Adam x_T = {a:+.3f}, AMSGrad x_T = {b:+.3f}")
    result["png"] = _figure(curves, figure_path(out, "amsgrad"))
    return result


def _figure(curves, path):
    made = plots.panels(2, 2, (11, 7.5))
    if made is None:
        return None
    plt, fig, axes = made
    colors = {"Adam": "tab:red", "AMSGrad": "tab:blue"}
    for row, name in enumerate(SETTINGS):
        ax_x, ax_r = axes[2 * row], axes[2 * row + 1]
        for method in ("Adam", "AMSGrad"):
            xs, regret = curves[name, method]
            t = np.arange(1, len(xs) + 1)
            ax_x.plot(t, xs, color=colors[method], lw=1.2, label=method)
            ax_r.plot(t, np.maximum(regret, 1e-4), color=colors[method], lw=1.2)
        for ax in (ax_x, ax_r):
            ax.set_xscale("log")
            ax.set_xlabel("step t (log scale)")
            ax.grid(alpha=0.3)
        ax_x.axhline(-1, color="k", ls=":", lw=1)
        ax_x.text(1.5, -0.93, "best point x = -1", fontsize=8)
        ax_x.set_ylim(-1.1, 1.1)
        ax_x.set_ylabel("iterate x_t")
        ax_x.set_title(f"{name}: the iterate", fontsize=10)
        ax_r.set_yscale("log")
        ax_r.set_ylabel("average regret R_t / t (loss units, log)")
        ax_r.set_title(f"{name}: average regret", fontsize=10)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="upper center", ncol=2,
               bbox_to_anchor=(0.5, 0.955), frameon=False)
    fig.subplots_adjust(top=0.85)
    return path if plots.save_panels(plt, fig, path, "Adam converges to the worst point x = +1 of "
                                     "an online problem; AMSGrad moves to the best, x = -1") else None
