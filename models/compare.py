"""`minigrad compare`: optimizers side by side from one initialisation on the same batches.

Under `mpirun -n N` every rank trains each optimizer data-parallel (models/train.py); rank 0
alone prints the tables and writes the figures."""
import builtins
import math
import os

import numpy as np

from minigrad import distributed as dist

from . import plots
from .checkpoint import check_writable, saving
from .optimizers import needs_graph
from .train import train

SWEEP = (0.1, 0.3, 1.0, 3.0, 10.0)  # multiples of each optimizer's recommended lr


def steps_to(losses, target):
    """The first step at which the running mean of the loss (window 1% of the run) reaches target."""
    if target is None:
        return None
    sm = plots.smooth(losses, max(1, len(losses) // 100))
    hit = np.flatnonzero(sm <= target)
    return int(hit[0]) + 1 if hit.size else None


def final_loss(metrics):
    """The loss a comparison ranks by: validation if the task has it, else training."""
    return metrics.get("val_loss", metrics.get("train_loss"))


def output_names(task, sweep=False):
    """The files that compare (and, with sweep, lr_sweep) write in out for task."""
    return ([f"compare-{task.name}.png"] + (["rosenbrock-trajectories.png"] if task.name == "rosenbrock" else [])
            + ([f"lr-sweep-{task.name}.png"] if sweep else []))


def compare(task, names, steps, batch_size, seed, lrs, schedule, clip, out, progress=True,
            compiled=False):
    """Train each optimizer; print the table; save loss curves (and trajectories) in out."""
    if out:
        check_writable(out)  # now, not after all the training
    rows, curves, paths = [], {}, {}
    for name in names:
        lr = lrs.get(name, task.lr_for(name))
        config = dict(optimizer=name, lr=lr, schedule=schedule, clip=clip, steps=steps,
                      batch_size=batch_size, seed=seed)
        if task.kind == "function":
            task.trace = []  # the task records the point at every step
        result = train(task, config, progress=progress, stop_on_nonfinite=False,  # diverged: a result
                       compiled=compiled)
        curves[f"{name} (lr {lr:g})"] = result["history"]["loss"]
        if task.kind == "function":
            paths[f"{name} (lr {lr:g})"], task.trace = task.trace, None
        rows.append((name, lr, result))
    if dist.get_rank() != 0:
        return rows  # the replicas are equal: rank 0 reports
    print_table(task, rows)
    if out:
        os.makedirs(out, exist_ok=True)
        png = os.path.join(out, f"compare-{task.name}.png")
        with saving(png):
            plotted = plots.loss_curves(curves, png, f"{task.name}: optimizers from one initialisation",
                                        log_y=task.name != "names")
        if plotted:
            print(f"loss curves: {png}")
        if paths and task.name == "rosenbrock":
            png = os.path.join(out, "rosenbrock-trajectories.png")
            with saving(png):
                plotted = plots.trajectories(lambda x, y: (1 - x) ** 2 + 100 * (y - x * x) ** 2, paths,
                                             png, "Rosenbrock from (-1, 1)")
            if plotted:
                print(f"trajectories: {png}")
    return rows


def print_table(task, rows):
    """One row per optimizer: losses, accuracy, steps to target, time."""
    metrics = list(rows[0][2]["metrics"])
    show = [m for m in ("train_loss", "val_loss", "val_acc", "test_acc") if m in metrics]
    width = max(10, *(len(name) for name, _, _ in rows))
    head = f"{'optimizer':{width}s} {'lr':>8s} " + " ".join(f"{m:>10s}" for m in show)
    head += f" {'steps to ' + format(task.target_loss, 'g') if task.target_loss else '':>14s} {'time s':>7s}"
    print()
    print(head)
    print("-" * len(head))
    for name, lr, r in rows:
        vals = " ".join(_fmt(m, r["metrics"][m]) for m in show)
        reach = steps_to(r["history"]["loss"], task.target_loss)
        reach = "-" if reach is None else str(reach)
        print(f"{name:{width}s} {lr:8.2g} {vals} {reach:>14s} {r['seconds']:7.1f}")
    second = [name for name, _, _ in rows if needs_graph(name)]
    if second:  # their time pays for the Hessian estimate: say what it is made of
        print(f"\n{', '.join(second)}: backward(create_graph=True) at every step, and a "
              "Hessian-vector product (one more backward, through the recorded one) on each step "
              "that estimates the Hessian's diagonal; their time column includes both "
              "(docs/comparisons.md measures the cost per step)")


def _fmt(metric, value):
    if metric.endswith("acc"):
        return f"{100 * value:9.2f}%"
    return f"{value:10.4g}" if abs(value) < 1e-3 else f"{value:10.4f}"


def lr_sweep(task, names, steps, batch_size, seed, schedule, clip, out, progress=False,
             compiled=False):
    """Each optimizer at SWEEP multiples (0.1x to 10x) of its recommended lr; prints the best lr,
    and how sensitive the optimizer is: the worst loss of the sweep and the mean excess of the
    five final losses over the best one (lower: less sensitive to the learning rate)."""
    if out:
        check_writable(out)
    results = {}
    print = _rank0_print()
    print(f"\nlearning-rate sweep on {task.name}, {steps} steps each")
    print(f"{'optimizer':10s} {'best lr':>9s} {'best loss':>10s} {'worst loss':>11s} {'mean excess':>12s}  "
          f"losses at {', '.join(f'{k:g}x' for k in SWEEP)}")
    for name in names:
        base = task.lr_for(name)
        points = []
        for k in SWEEP:
            config = dict(optimizer=name, lr=base * k, schedule=schedule, clip=clip, steps=steps,
                          batch_size=batch_size, seed=seed)
            loss = final_loss(train(task, config, progress=progress, stop_on_nonfinite=False,
                                    compiled=compiled)["metrics"])
            points.append((base * k, loss if math.isfinite(loss) else float("inf")))
        results[name] = points
        losses = np.array([loss for _, loss in points])
        best = int(np.argmin(losses))
        excess = float(np.mean(losses - losses[best]))
        print(f"{name:10s} {points[best][0]:9.2g} {losses[best]:10.4f} {losses.max():11.4f} {excess:12.4f}  "
              + " ".join(f"{loss:.4g}" for loss in losses))
    if out and dist.get_rank() == 0:
        os.makedirs(out, exist_ok=True)
        png = os.path.join(out, f"lr-sweep-{task.name}.png")
        with saving(png):
            plotted = plots.lr_sweep({n: [(lr, min(loss, 10.0)) for lr, loss in p] for n, p in results.items()},
                                     png, f"{task.name}: final loss against learning rate")
        if plotted:
            print(f"sweep plot: {png}")
    return results


def _rank0_print():
    """print on rank 0 (or alone); nothing on the other ranks of an mpirun."""
    return builtins.print if dist.get_rank() == 0 else (lambda *a, **k: None)
