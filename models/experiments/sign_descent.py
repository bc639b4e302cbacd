"""sign-descent: Adam's update is roughly lr * sign(m_hat), about lr whatever the gradient's scale.

Adam divides m_hat by sqrt(v_hat), an estimate of the gradient's own size, so the size of an
update is set by lr and by how consistent the gradient's sign has been, not by its scale: on the
first step |update| = lr |g| / (|g| + eps) = lr for every weight with |g| >> eps.

Two views:
- the histogram of |update| / lr over every weight of the names model at a few points of training
  (Adam at the task's rate, no schedule), beside the spread of |g| itself;
- invariance: the Rosenbrock function from (-1, 1) with its loss multiplied by 10^k, k = -3..3.
  Adam's path is the same for every k (until eps matters); SGD's step is multiplied by 10^k, so it
  stalls for small k and diverges for large k. Both run as optim.functional on one array.
"""
import numpy as np

import optim
from models import plots
from models.tasks import make_task

from .common import figure_path, fit, table, verdict

USES = (optim.Adam,)  # the optimizer classes it runs (its code hash covers them)
LR = {"Adam": 1e-2, "SGD": 1e-3}  # the Rosenbrock task's recommended rates
SCALES = range(-3, 4)
ROSENBROCK = {False: 3000, True: 400}
NAMES = {False: (2000, (1, 10, 100, 1000, 2000)), True: (30, (1, 10, 30))}
NAMES_LR = 3e-3


def rosenbrock(p):
    x, y = p
    return (1 - x) ** 2 + 100 * (y - x * x) ** 2


def rosenbrock_grad(p):
    x, y = p
    return np.array([-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)])


def path(name, k, steps):
    """The points visited minimising 10^k * rosenbrock from (-1, 1); stops early at inf or NaN."""
    theta = np.array([-1.0, 1.0])
    state = optim.functional.init(name.lower(), theta)
    points = [theta.copy()]
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(steps):
            g = 10.0 ** k * rosenbrock_grad(theta)
            if not np.all(np.isfinite(g)):
                break
            getattr(optim.functional, name.lower())(theta, g, state, lr=LR[name])
            points.append(theta.copy())
            if not np.all(np.isfinite(theta)) or np.abs(theta).max() > 1e6:
                break
    return np.array(points)


def names_updates(steps, marks):
    """|update|/lr and |g| of every weight of the names model at the steps in marks."""
    task = make_task("names")
    model = task.build(0)
    opt = optim.Adam(model.parameters(), lr=NAMES_LR)
    params = model.parameters()
    before = [p.data.copy() for p in params]
    seen = {}

    def on_step(step):
        if step in marks:
            seen[step] = (np.concatenate([np.abs(p.data - b).ravel() for p, b in zip(params, before)]) / NAMES_LR,
                          np.concatenate([np.abs(p.grad).ravel() for p in params]))
        for p, b in zip(params, before):
            b[...] = p.data

    fit(task, model, opt, steps, task.batch_size, on_step=on_step)
    return seen


def decades(a):
    """The spread of positive values: log10 of the ratio of their 90th to 10th percentile."""
    a = a[a > 0]
    return float(np.log10(np.percentile(a, 90) / np.percentile(a, 10)))


def run(quick=False, out="runs/experiments"):
    steps, marks = NAMES[quick]
    seen = names_updates(steps, marks)
    rows, result = [], {"names": {}}
    for step, (u, g) in seen.items():
        r = result["names"][step] = {
            "median": float(np.median(u)), "p10": float(np.percentile(u, 10)),
            "p90": float(np.percentile(u, 90)), "p99": float(np.percentile(u, 99)),
            "within_2x": float(np.mean((u > 0.5) & (u < 2))),
            "update_decades": decades(u), "grad_decades": decades(g)}
        rows.append((str(step), f"{r['median']:.3f}", f"{r['p10']:.3f}", f"{r['p90']:.3f}", f"{r['p99']:.3f}",
                     f"{100 * r['within_2x']:.1f}%", f"{r['update_decades']:.2f}", f"{r['grad_decades']:.2f}"))
    print(f"names model, Adam lr {NAMES_LR:g} (no schedule): |update| / lr over all weights")
    table(["step", "median", "10th pct", "90th pct", "99th pct", "in (0.5, 2)", "decades of |update|",
           "decades of |g|"], rows)
    first, last = result["names"][marks[0]], result["names"][marks[-1]]
    verdict(first["within_2x"] > 0.9 and first["update_decades"] < 0.5 * first["grad_decades"],
            "Adam's first update is about lr for every weight, whatever |g|",
            f"{100 * first['within_2x']:.1f}% within 2x of lr at step 1; |update| spans "
            f"{first['update_decades']:.2f} decades (10th-90th pct), |g| {first['grad_decades']:.2f}")
    verdict(last["within_2x"] > 0.5, f"later (step {marks[-1]}) the update is still about lr",
            f"median |update|/lr {last['median']:.3f}, {100 * last['within_2x']:.1f}% within 2x, 99th "
            f"percentile {last['p99']:.2f}: bounded by about lr, but as the gradient's sign flips "
            "from batch to batch |m_hat| / sqrt(v_hat) falls well below 1")

    n = ROSENBROCK[quick]
    paths = {(name, k): path(name, k, n) for name in LR for k in SCALES}
    rows, result["rosenbrock"] = [], {}
    for k in SCALES:
        r = result["rosenbrock"][k] = {}
        for name in LR:
            p = paths[name, k]
            diverged = len(p) < n + 1
            ref = paths[name, 0]
            m = min(len(p), len(ref))
            d = np.linalg.norm(p[:m] - ref[:m], axis=1)
            # at the minimum Adam keeps stepping by about lr, and rounding differences between
            # the scaled runs grow there: the path is compared until it reaches loss 1e-6
            near = np.flatnonzero(rosenbrock(ref[:m].T) < 1e-6)
            until = near[0] if near.size else m
            r[name] = {"final_loss": float("inf") if diverged else float(rosenbrock(p[-1])),
                       "diverged": diverged, "max_distance_from_k0": float(d[:until].max()),
                       "max_distance_at_minimum": float(d[until:].max()) if until < m else 0.0}
        rows.append((f"{k:+d}", f"{r['Adam']['final_loss']:.3g}", f"{r['Adam']['max_distance_from_k0']:.1e}",
                     f"{r['Adam']['max_distance_at_minimum']:.1e}",
                     "diverged" if r["SGD"]["diverged"] else f"{r['SGD']['final_loss']:.3g}",
                     "-" if r["SGD"]["diverged"] else f"{r['SGD']['max_distance_from_k0']:.1e}"))
    print(f"\nRosenbrock from (-1, 1), loss x 10^k, {n} steps (Adam lr {LR['Adam']:g}, SGD lr {LR['SGD']:g})")
    table(["k", "Adam final loss", "Adam max dist. from k=0 path", "then, at the minimum",
           "SGD final loss", "SGD max dist. from k=0 path"], rows)
    adam_dev = max(result["rosenbrock"][k]["Adam"]["max_distance_from_k0"] for k in SCALES)
    sgd = result["rosenbrock"]
    start = rosenbrock((-1.0, 1.0))
    at_min = max(result["rosenbrock"][k]["Adam"]["max_distance_at_minimum"] for k in SCALES)
    verdict(adam_dev < 1e-3 and at_min < LR["Adam"] and sgd[3]["SGD"]["diverged"]
            and sgd[-3]["SGD"]["final_loss"] > 0.99 * start,
            "Adam's path does not depend on the loss's scale; SGD's stalls or diverges",
            f"Adam's paths for k = -3..3 are at most {adam_dev:.1e} from k = 0's until the loss is "
            f"1e-6, then {at_min:.1e} (< lr: rounding differences grow as it circles the minimum); "
            f"SGD from loss "
            f"{start:g}: {sgd[-3]['SGD']['final_loss']:.3g} at k = -3, {sgd[0]['SGD']['final_loss']:.3g} at 0, "
            f"{'diverged' if sgd[3]['SGD']['diverged'] else sgd[3]['SGD']['final_loss']} at 3")
    result["adam_max_distance"] = adam_dev
    result["png"] = _figure(seen, paths, n, adam_dev, figure_path(out, "sign-descent"))
    return result


def _figure(seen, paths, n, adam_dev, path):
    made = plots.panels(2, 2, (12, 9))
    if made is None:
        return None
    plt, fig, axes = made
    ax = axes[0]
    bins = np.logspace(-6, 1.5, 76)
    cmap = plt.get_cmap("viridis")
    for i, (step, (u, _)) in enumerate(seen.items()):
        ax.hist(np.clip(u, bins[0], bins[-1]), bins=bins, histtype="step", lw=1.5,
                color=cmap(i / max(1, len(seen) - 1)), label=f"step {step}")
    ax.axvline(1, color="k", ls=":", lw=1)
    ax.set_xscale("log")
    ax.set_xlabel("|update| / lr per weight (log; clipped to the axis)")
    ax.set_yscale("log")
    ax.set_ylabel("number of weights (log)")
    ax.set_title(f"names model, Adam lr {NAMES_LR:g}: update sizes stay at or below about lr", fontsize=10)
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)

    ax = axes[1]
    ks = np.array(list(SCALES))
    for name, color in (("Adam", "tab:blue"), ("SGD", "tab:red")):
        losses = np.array([rosenbrock(paths[name, k][-1]) if len(paths[name, k]) == n + 1 else np.nan
                           for k in ks])
        ax.plot(ks, losses, "o-", color=color, label=f"{name} (lr {LR[name]:g})")
        bad = np.isnan(losses)
        if bad.any():
            ax.plot(ks[bad], np.full(bad.sum(), 1e2), "x", color=color, ms=10, mew=2,
                    label=f"{name} diverged (drawn at 100)")
    ax.set_yscale("log")
    ax.set_xlabel("k: the loss is multiplied by 10^k")
    ax.set_ylabel(f"Rosenbrock value after {n} steps (log)")
    ax.set_title("final loss against the loss's scale", fontsize=10)
    ax.legend(loc="lower left", fontsize=8)
    ax.grid(alpha=0.3, which="both")

    X, Y = np.meshgrid(np.linspace(-2, 2, 200), np.linspace(-1, 3, 200))
    Z = rosenbrock((X, Y))
    for ax, name in zip(axes[2:], LR):
        ax.contour(X, Y, Z, levels=np.logspace(-1, 3.5, 15), cmap="Greys", linewidths=0.5)
        for i, k in enumerate(SCALES):
            p = paths[name, k]
            ax.plot(p[:, 0], p[:, 1], color=plt.get_cmap("coolwarm")(i / 6), lw=3.5 - 0.4 * i,
                    label=f"k = {k:+d}")
        ax.plot(1, 1, "k*", ms=12)
        ax.plot(-1, 1, "o", mec="k", mfc="none", ms=7, zorder=0)
        ax.set_xlim(-2, 2)
        ax.set_ylim(-1, 3)
        ax.set_xlabel("x")
        ax.set_ylabel("y")
        ax.legend(loc="lower right", fontsize=7, ncol=2)
    axes[2].set_title(f"Adam: the 7 paths coincide ({adam_dev:.0e} apart until the minimum)", fontsize=10)
    axes[3].set_title("SGD: k < 0 barely leave the start (o), k > 0 diverge", fontsize=10)
    return path if plots.save_panels(plt, fig, path, "Adam's update is about lr * sign(m_hat): its "
                                     "size and its path do not depend on the gradient's scale")\
        else None
