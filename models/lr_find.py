"""`minigrad lr-find`: the learning-rate range test (optim.lr_find) on a task's fresh model, with
its plot. The subcommand's parser and runner live here, so models/cli.py only registers them."""
import os

import numpy as np

import optim
from minigrad import distributed as dist

from .checkpoint import check_files, hold_out, saving
from .optimizers import OPTIMIZERS, check_names
from .tasks import TASKS


def add_parser(sub, positive_int, positive_float, seed=int):
    """Register `lr-find` on the CLI's subparsers."""
    p = sub.add_parser("lr-find", help="the learning-rate range test (Smith 2017): suggest a rate")
    p.add_argument("--task", default="names", help=f"one of: {', '.join(TASKS)}")
    p.add_argument("--optimizer", help=f"one of: {', '.join(OPTIMIZERS)} (the task's default)")
    p.add_argument("--steps", type=positive_int("--steps"), default=200,
                   help="steps of the exponential lr ramp (default 200)")
    p.add_argument("--start-lr", type=positive_float("--start-lr"), default=1e-7)
    p.add_argument("--end-lr", type=positive_float("--end-lr"), default=10.0)
    p.add_argument("--batch-size", type=positive_int("--batch-size"))
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--out", default="runs/lr-find", help="directory for lr_find.png")
    return p


def batches(task, seed, batch_size):
    """The task's training batches, drawn as `minigrad train` draws them (seed + 1)."""
    rng = np.random.default_rng(seed + 1)
    while True:
        yield task.batch(rng, batch_size)


def find(task, name, seed=0, batch_size=None, num_steps=200, start_lr=1e-7, end_lr=10.0):
    """Range-test optimizer `name` on task's fresh model (built as `minigrad train` builds it)."""
    check_names([name], task.variants)
    batch_size = batch_size or task.batch_size
    task.check_batch_size(batch_size)
    from .optimizers import make_optimizer
    model = task.build(seed, name.partition("+")[2])
    opt = make_optimizer(name, model.parameters(), task.lr_for(name))
    if hasattr(opt, "train"):
        opt.train()  # schedule-free: steps are taken at y, as `minigrad train` takes them
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # the test ends in an explosion
        return optim.lr_find(model, opt, task.loss, batches(task, seed, batch_size),
                             start_lr=start_lr, end_lr=end_lr, num_steps=num_steps)


def check_args(args):
    """What can be refused before the task's data loads: lr-find under mpirun (it runs one
    process's model: N ranks would run N copies of it and write one plot N times), the lr range."""
    if dist.launched_by_mpi() and dist.get_world_size() > 1:
        raise ValueError("lr-find runs in one process (the range test has no data parallelism): "
                         "run it without mpirun")
    if not args.start_lr < args.end_lr:
        raise ValueError(f"--start-lr {args.start_lr:g} must be below --end-lr {args.end_lr:g}")


def run(args, task):
    """`minigrad lr-find`: print the suggestions next to the task's recommended rate; plot. Holds
    args.out (checkpoint.hold_out) while it runs."""
    check_args(args)
    name = args.optimizer if args.optimizer is not None else task.optimizer
    check_names([name], task.variants)
    task.check_batch_size(args.batch_size or task.batch_size)
    png = os.path.join(args.out, "lr_find.png")
    with hold_out(args.out):  # created, writable, this run's alone: now, not after the test
        check_files(args.out, ["lr_find.png"])
        result = find(task, name, args.seed, args.batch_size, args.steps, args.start_lr, args.end_lr)
        print(f"{task.name}: {name}, lr {args.start_lr:g} -> {args.end_lr:g} over {args.steps} steps; "
              f"{len(result.lrs)} steps run, stopped: {result.stopped}")
        if not np.isfinite(result.lr_min):
            raise ValueError("lr-find: too few steps ran to suggest a rate (raise --steps or --end-lr)")
        print(f"steepest descent at lr {result.lr_steep:.3g}; lowest loss at lr {result.lr_min:.3g}, "
              f"/10 = {result.lr_min10:.3g}")
        print(f"recommended for {task.name}: {task.lr_for(name):g}; try --lr {result.lr_min10:.2g} "
              f"(or {result.lr_steep:.2g})")
        with saving(png):
            plotted = plot(result, png, f"{task.name}: {name} learning-rate range test", task.lr_for(name))
        if plotted:
            print(f"plot: {png}")
    return 0


def plot(result, path, title, recommended=None):
    """Loss (raw, faint; smoothed) against lr on a log axis, the suggestions marked."""
    from . import plots
    made = plots._figure((8, 5))
    if made is None:
        return False
    plt, fig, ax = made
    ax.plot(result.lrs, result.losses, color="0.75", lw=0.8, label="loss per step")
    ax.plot(result.lrs, result.smoothed, color="C0", lw=1, alpha=0.5, label="moving average (stops the test)")
    ax.plot(result.lrs, result.curve, color="C0", lw=1.8, label="centered mean (the suggestions)")
    marks = [(result.lr_steep, "C1", f"steepest descent {result.lr_steep:.2g}"),
             (result.lr_min10, "C2", f"minimum / 10 {result.lr_min10:.2g}"),
             (result.lr_min, "C3", f"minimum {result.lr_min:.2g}")]
    if recommended:
        marks.append((recommended, "k", f"recommended {recommended:g}"))
    for lr, color, label in marks:
        ax.axvline(lr, color=color, ls="--" if color != "k" else ":", lw=1.2, label=label)
    finite = np.asarray(result.curve)[np.isfinite(result.curve)]
    if finite.size:  # the explosion would squash the interesting part
        lo, first = min(finite.min(), np.nanmin(result.losses)), finite[0]
        ax.set_ylim(lo - 0.1 * (first - lo) - 1e-12, max(first, lo) + 0.5 * (first - lo) + 1e-12)
    ax.set_xscale("log")
    ax.set_xlabel("learning rate (log scale)")
    ax.set_ylabel("training loss")
    return plots._save(plt, fig, ax, path, title, legend_kw={"fontsize": 8})
