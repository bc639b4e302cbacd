"""Reddi, Kale & Kumar's online problem: Adam converges to the worst point, AMSGrad to the best.

Reddi, Kale & Kumar (2018), "On the Convergence of Adam and Beyond". An online problem: at each
step t = 1, 2, ... the learner picks a point x_t of the feasible set F = [-1, 1], then is shown
a linear loss f_t and pays f_t(x_t). Each f_t is one of two lines, chosen by t alone (nothing is
random here, so there are no seeds: every check below is exact):

    F = [-1, 1]                        the feasible set; Π_F(x) = min(1, max(-1, x)) projects onto it
    f_t(x) = C x if t mod P = 1        the rare step: a large gradient C > 0
    f_t(x) = -c x otherwise            the P - 1 frequent steps: a small gradient -c
    Σ_{one period} f_t(x) = (C - (P-1) c) x    positive slope: the best fixed point is x* = -1
    x_{t+1} = Π_F(x_t - α_t u_t)       u_t: the method's update direction; α_t = α / sqrt(t)
    R_T = Σ_{t = 1..T} (f_t(x_t) - f_t(x*))   the regret; R_T / T → 0 for a method that converges

Two settings. The theorem's (Theorem 1): C = 3, c = 1, P = 3, β1 = 0, β2 = 1/(1 + C²) = 0.1.
The paper's synthetic experiment (section 5): C = 1010, c = 10, P = 101, β1 = 0.9, β2 = 0.99.
Both from x_1 = 0 with α = 0.5, ε = 1e-8.

Why Adam fails: the rare large gradient pushes x the right way (down), but with a short memory
β2 Adam's v forgets it within a few steps, so each of the many small gradients is divided by a
small sqrt(v) and takes a step of about α_t: together they push x up more than the one large
step (divided by its own large sqrt(v), also about α_t) pushes it down. Adam drifts to x = +1,
the worst point, and its average regret stays away from 0. AMSGrad divides by the largest
second moment seen so far, so the small gradients stay small and x goes to -1.

AMSGrad has three versions in print, and all three are run on both problems. First, torch's
(optim.AMSGrad, the same as optim.Adam(amsgrad=True)): v_max = max(v_max, v) over the
  raw second moment v, then v̂ = v_max / (1 - β2^t), θ ← θ - lr m̂ / (sqrt(v̂) + ε). Since
  1 - β2^t grows with t, this v̂ can fall while the raw maximum holds.

Second, the max of the corrected v̂ (the version many articles give): v̂_t = max(v̂_{t-1}, v_t / (1 - β2^t)),
  same step. This v̂ never falls. Written here as a plain NumPy loop, labelled as such.

Third, Reddi et al.'s Algorithm 2, without bias correction: v̂_t = max(v̂_{t-1}, v_t),
  x ← Π_F(x - α_t m_t / sqrt(v̂_t)). Also a plain loop.

Adam and torch's AMSGrad are optim.Adam's declaration on one number: its rule (Adam.rule) with the
scalars it computes for each step (Adam.scalars: the bias corrections, and the amsgrad flag).
"""
import numpy as np

import optim
from models import plots

from . import verdicts
from .common import figure_path, table

USES = (optim.Adam, optim.AMSGrad)  # the optimizer classes it runs (its code hash covers them)
QUOTE = ("In paraphrase: AMSGrad fixes a flaw in Adam's convergence: Adam can converge to the "
         "worst point of a simple online problem (Reddi, Kale & Kumar 2018).")
SECTION = "AMSGrad, RAdam"
LOOK_FOR = ("The left panels follow the iterate x_t: Adam (red) climbs to the top edge, x = +1, "
            "the worst point, and stays there; the three AMSGrads (blue shades) go down to the "
            "best point -1 (dotted line). The right panels show why that matters: Adam's average "
            "regret R_t/t levels off at a constant (it keeps paying for the wrong point), "
            "while every AMSGrad's keeps falling. In the theorem's problem the three AMSGrads "
            "draw one line (beta1 = 0 and beta2 = 0.1: the bias correction is 1 after a few "
            "steps). In the synthetic one they part: each rare large gradient sets the "
            "maximum, and how the correction treats it in the first steps decides how close "
            "to -1 each one stays afterwards, and so its regret.")
SETTINGS = {  # name: (C, c, period P, beta1, beta2, alpha)
    "theorem (C = 3, P = 3)": (3.0, 1.0, 3, 0.0, 1 / (1 + 3.0 ** 2), 0.5),
    "synthetic (C = 1010, c = 10, P = 101)": (1010.0, 10.0, 101, 0.9, 0.99, 0.5),
}
STEPS = {False: (20_000, 300_000), True: (3_000, 30_000)}  # per setting, full and quick
EPS = optim.Adam.defaults_of()["eps"]
METHODS = ("Adam", "AMSGrad, torch's (max of raw v)", "AMSGrad, max of v_hat",
           "AMSGrad, Reddi's (no bias correction)")
# "at an end": over the last tenth of the run the iterate stays within NEAR of +1 (Adam), within
# NEAR_BEST of -1 (AMSGrad). The AMSGrads approach -1 slowly in the synthetic problem (each period's
# net push is small and the rate falls as 1/sqrt(t): x_T is -0.87 to -0.97 after 30,000 steps), so
# their band is wider; either band is far from the other end (a distance of 2).
NEAR, NEAR_BEST = 0.1, 0.2


def gradient(t, large, small, period):
    """f_t'(x): the loss is linear, so its gradient does not depend on x."""
    return large if t % period == 1 else -small


def project(x):
    """Π_F: the nearest point of F = [-1, 1]."""
    return min(1.0, max(-1.0, x))


def run_online(method, large, small, period, beta1, beta2, alpha, steps):
    """x_t, the average regret R_t/t and the v̂ the step divided by, for t = 1..steps, x_1 = 0."""
    x, m, v, v_hat_max = 0.0, 0.0, 0.0, 0.0
    xs, regret, vhat = np.empty(steps), np.empty(steps), np.empty(steps)
    total = 0.0
    group = {**optim.Adam.defaults_of(), "betas": (beta1, beta2), "amsgrad": method == METHODS[1]}
    for t in range(1, steps + 1):
        g = gradient(t, large, small, period)
        total += g * x - g * -1.0                # f_t(x_t) - f_t(x*), x* = -1
        regret[t - 1] = total / t
        lr = alpha / np.sqrt(t)                  # α_t = α / sqrt(t)
        if method in METHODS[:2]:                # optim.Adam's own rule: Adam, torch's AMSGrad
            h = optim.Adam.scalars(t, dict(group, lr=lr), {})
            new = optim.Adam.rule(x, g, m=m, v=v, v_max=v_hat_max, h=h)
            x, m, v, v_hat_max = new["theta"], new["m"], new["v"], new["v_max"]
            vhat[t - 1] = (v_hat_max if h.amsgrad else v) / h.bias_correction2
        else:                                    # plain NumPy loops: the other two AMSGrads
            m = beta1 * m + (1 - beta1) * g
            v = beta2 * v + (1 - beta2) * g * g
            if method == METHODS[2]:             # max of the corrected v̂, then Adam's step
                v_hat_max = max(v_hat_max, v / (1 - beta2 ** t))
                x = x - lr * (m / (1 - beta1 ** t)) / (np.sqrt(v_hat_max) + EPS)
            else:                                # Reddi's Algorithm 2: no correction, no ε
                v_hat_max = max(v_hat_max, v)
                x = x - lr * m / np.sqrt(v_hat_max)
            vhat[t - 1] = v_hat_max
        x = project(x)
        xs[t - 1] = x
    return xs, regret, vhat


def _job(name, method, steps):
    return run_online(method, *SETTINGS[name], steps)


def run(quick=False, out="runs/experiments"):
    from . import parallel
    jobs = [(name, method, steps) for name, steps in zip(SETTINGS, STEPS[quick]) for method in METHODS]
    curves = dict(zip([(n, m) for n, m, _ in jobs], parallel.map(_job, jobs)))
    result, rows = {"settings": {}}, []
    for name, steps in zip(SETTINGS, STEPS[quick]):
        beta1, beta2 = SETTINGS[name][3:5]
        for method in METHODS:
            xs, regret, vhat = curves[name, method]
            tail = xs[-steps // 10:]
            result["settings"].setdefault(name, {})[method] = {
                "final_x": float(xs[-1]), "mean_x_last_10pct": float(tail.mean()),
                "max_x_last_10pct": float(tail.max()), "min_x_last_10pct": float(tail.min()),
                "average_regret": float(regret[-1]),
                "vhat_falls": int(np.sum(np.diff(vhat) < 0))}
            rows.append((name, method, f"{beta1:g}", f"{beta2:.3g}", str(steps), f"{xs[-1]:+.3f}",
                         f"{tail.mean():+.3f}", f"{regret[-1]:.4f}", str(int(np.sum(np.diff(vhat) < 0)))))
    table(["setting", "method", "beta1", "beta2", "steps", "final x", "mean x (last 10%)", "R_T/T",
           "steps where v_hat fell"], rows)
    for name, res in result["settings"].items():
        adam = res["Adam"]
        verdicts.exact(f"{name}: Adam ends at the worst point: x_t stays within {NEAR} of +1 over "
                       "the last tenth of the run", adam["min_x_last_10pct"] > 1 - NEAR,
                       f"x_t in [{adam['min_x_last_10pct']:+.3f}, {adam['max_x_last_10pct']:+.3f}], "
                       f"R_T/T = {adam['average_regret']:.4f}")
        ams = {m: res[m] for m in METHODS[1:]}
        verdicts.exact(f"{name}: every AMSGrad (torch's, max of v_hat, Reddi's) ends at the best "
                       f"point: x_t within {NEAR_BEST} of -1 over the last tenth, and a smaller "
                       "average regret than Adam's",
                       all(r["max_x_last_10pct"] < -1 + NEAR_BEST and r["average_regret"] < adam["average_regret"]
                           for r in ams.values()),
                       "; ".join(f"{m}: x_T = {r['final_x']:+.3f}, R_T/T = {r['average_regret']:.4f}"
                                 for m, r in ams.items()))
    syn = result["settings"][list(SETTINGS)[1]]
    falls, never = syn[METHODS[1]]["vhat_falls"], syn[METHODS[2]]["vhat_falls"]
    verdicts.exact("synthetic problem: torch's AMSGrad divides by a v_hat that falls on some steps "
                   "(max of the raw v, corrected by a growing 1 - beta2^t); the max of the "
                   "corrected v_hat never falls", falls > 0 and never == 0,
                   f"v_hat fell on {falls} steps for torch's, {never} for the max of v_hat")
    result["png"] = _figure(curves, figure_path(out, "amsgrad"), STEPS[quick])
    return result


COLORS = {METHODS[0]: "tab:red", METHODS[1]: "tab:blue", METHODS[2]: "tab:cyan",
          METHODS[3]: "navy"}
STYLES = {METHODS[0]: "-", METHODS[1]: "-", METHODS[2]: "--", METHODS[3]: ":"}


def _figure(curves, path, steps_of):
    made = plots.panels(2, 2, (14, 9))
    if made is None:
        return None
    plt, fig, axes = made
    for row, (name, steps) in enumerate(zip(SETTINGS, steps_of)):
        ax_x, ax_r = axes[2 * row], axes[2 * row + 1]
        # about 2,000 log-spaced steps per line: the shape survives, the file stays small
        idx = np.unique(np.geomspace(1, steps, 2000).astype(int)) - 1
        t = idx + 1
        for method in METHODS:
            xs, regret, _ = curves[name, method]
            ax_x.plot(t, xs[idx], color=COLORS[method], ls=STYLES[method], lw=1.6, label=method)
            ax_r.plot(t, np.maximum(regret[idx], 1e-4), color=COLORS[method], ls=STYLES[method], lw=1.6)
        for ax in (ax_x, ax_r):
            ax.set_xscale("log")
            ax.set_xlabel("step t (log scale)", fontsize=11)
            ax.grid(alpha=0.3, which="both")
            ax.tick_params(labelsize=10)
        ax_x.axhline(-1, color="k", ls=":", lw=1)
        ax_x.text(1.2, -1.12, "best point x* = -1", fontsize=10, va="center")
        ax_x.text(1.2, 1.12, "worst point x = +1", fontsize=10, va="center")
        ax_x.set_ylim(-1.2, 1.2)
        ax_x.set_ylabel("iterate x_t", fontsize=11)
        ax_x.set_title(f"{name}: the iterate", fontsize=12)
        ax_r.set_yscale("log")
        ax_r.set_ylabel("average regret R_t / t (loss units, log)", fontsize=11)
        ax_r.set_title(f"{name}: average regret", fontsize=12)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="upper center", ncol=4, fontsize=11,
               bbox_to_anchor=(0.5, 0.955), frameon=False)
    return path if plots.save_panels(plt, fig, path, "Adam goes to the worst point x = +1 of Reddi "
                                     "et al.'s online problem; all three AMSGrads go to the best, "
                                     "x* = -1") else None
