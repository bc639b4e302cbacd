"""The `minigrad` command line (also `python -m models`): train, compare, experiment, lr-find."""
import argparse
import builtins
import math
import os
import sys

import numpy as np

import optim
from minigrad import backend
from minigrad import distributed as dist

from . import lr_find
from .checkpoint import NAME, CheckpointError, check_writable
from .compare import compare, lr_sweep
from .optimizers import DEFAULT_COMPARE, OPTIMIZERS, check_names
from .tasks import TASKS, make_task
from .train import SCHEDULES, Interrupted, train


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (the usage itself is under --help)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _positive_int(name):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be an integer, got {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{name} must be positive, got {value}")
        return value
    return parse


def _non_negative_int(name):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be an integer, got {text!r}") from None
        if value < 0:
            raise argparse.ArgumentTypeError(f"{name} must be >= 0 (0: never), got {value}")
        return value
    return parse


def _positive_float(name):
    """A rate or a limit: inf would run to NaN weights, nan would silently switch the limit off."""
    def parse(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a number, got {text!r}") from None
        if not (math.isfinite(value) and value > 0):
            raise argparse.ArgumentTypeError(f"{name} must be positive and finite, got {text}")
        return value
    return parse


def _lr_pairs(text):
    out = {}
    for part in filter(None, text.split(",")):
        name, eq, value = part.partition("=")
        if not eq or not name.strip():
            raise argparse.ArgumentTypeError(f"--lr expects name=value pairs, got {part!r}")
        out[name.strip()] = _positive_float(f"--lr {name.strip()}")(value)
    return out


def _common(p):
    p.add_argument("--task", default="names", help=f"one of: {', '.join(TASKS)}")
    p.add_argument("--steps", type=_positive_int("--steps"), help="training steps (task default)")
    p.add_argument("--batch-size", type=_positive_int("--batch-size"))
    p.add_argument("--schedule", choices=SCHEDULES, help="learning-rate schedule (task default)")
    p.add_argument("--clip", type=_positive_float("--clip"), default=None,
                   help="clip the gradient norm to this (positive, finite)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def build_parser():
    """The argparse parser of `minigrad train` and `minigrad compare`."""
    ap = _Parser(prog="minigrad", description="Train small models and compare "
                                 "optimizers with minigrad.")
    sub = ap.add_subparsers(dest="command", required=True)
    tr = sub.add_parser("train", help="train one model with one optimizer")
    _common(tr)
    tr.add_argument("--data", choices=["surnames", "first-names"],
                    help="name list for --task names (default surnames; other tasks have no --data)")
    tr.add_argument("--optimizer", help=f"one of: {', '.join(OPTIMIZERS)}")
    tr.add_argument("--lr", type=_positive_float("--lr"), help="learning rate (the optimizer's default)")
    tr.add_argument("--out", default="runs/train", help="directory for the checkpoint and plot")
    tr.add_argument("--resume", action="store_true", help=f"continue from --out/{NAME}")
    tr.add_argument("--overwrite", action="store_true",
                    help="start over even if --out already holds a checkpoint")
    tr.add_argument("--stop-after", type=_positive_int("--stop-after"),
                    help="stop at this step and checkpoint, as if interrupted")
    tr.add_argument("--checkpoint-every", type=_non_negative_int("--checkpoint-every"), default=1000,
                    help="also checkpoint every N steps (default 1000; 0: only at the end and on "
                    "Ctrl-C/SIGTERM)")
    tr.add_argument("--zero", action="store_true", help="under mpirun, shard the optimizer state "
                    "across the ranks (ZeRO-1, optim.ZeroRedundancyOptimizer)")
    tr.add_argument("--no-monitor", action="store_true",
                    help="do not diagnose the run (optim.TrainingMonitor: critical findings at once, "
                    "a health line at the end)")
    cp = sub.add_parser("compare", help="compare optimizers from one initialisation")
    _common(cp)
    cp.add_argument("--optimizers", help=f"comma-separated (default: {','.join(DEFAULT_COMPARE)}, "
                    "or the task's own list)")
    cp.add_argument("--lr", type=_lr_pairs, default={}, help="per-optimizer rates: adam=3e-3,sgd=0.1")
    cp.add_argument("--lr-sweep", action="store_true",
                    help="also sweep each optimizer's lr over 0.1x..10x its recommended rate")
    cp.add_argument("--out", default="runs/compare")
    _experiment_parser(sub)
    lr_find.add_parser(sub, _positive_int, _positive_float)
    return ap


def _experiment_parser(sub):
    ex = sub.add_parser("experiment", help="run one of the subject's experiments (--list: all of them)")
    ex.add_argument("name", nargs="?", help="the experiment (see --list)")
    ex.add_argument("--list", action="store_true", help="list the experiments and how each runs")
    ex.add_argument("--all", action="store_true", help="run every experiment that runs here")
    ex.add_argument("--out", default="runs/experiments", help="directory for the figures")
    ex.add_argument("--quick", action="store_true", help="a budget of seconds instead of minutes")


def main(argv=None):
    """Entry point: run the command; errors exit 2 with one line on stderr."""
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except (ValueError, RuntimeError, CheckpointError, OSError) as e:
        print(f"minigrad: error: {e}", file=sys.stderr)
        return 2
    except Interrupted as e:
        print(f"\nminigrad: {e}", file=sys.stderr)
        return 128 + e.signum  # 130 for SIGINT, 143 for SIGTERM, as a shell reports them
    except KeyboardInterrupt:
        print("\nminigrad: interrupted", file=sys.stderr)
        return 130


def run(args):
    """Resolve the task and its defaults, then train or compare (or run an experiment)."""
    if args.command == "experiment":
        return run_experiment(args)
    if args.device != "cpu":
        backend.parse_device(args.device)
        reason = backend.gpu_unavailable_reason()
        if reason:
            raise RuntimeError(f"--device {args.device}: {reason}")
    data = getattr(args, "data", None)
    if data is not None and args.task != "names":
        raise ValueError(f"--data {data} applies only to --task names (this is --task {args.task})")
    kw = {"data": data or "surnames"} if args.command == "train" and args.task == "names" else {}
    task = make_task(args.task, device=args.device, seed=args.seed, **kw)
    if args.command == "lr-find":
        return lr_find.run(args, task)
    steps = args.steps or task.steps
    batch_size = args.batch_size or task.batch_size
    schedule = args.schedule or task.schedule
    if args.command == "train":
        return run_train(args, task, steps, batch_size, schedule)
    names = [n.strip() for n in args.optimizers.split(",") if n.strip()] if args.optimizers \
        else (task.default_optimizers or DEFAULT_COMPARE)
    check_names(names, task.variants)
    check_names(list(args.lr), task.variants)
    compare(task, names, steps, batch_size, args.seed, args.lr, schedule, args.clip, args.out,
            progress=not args.quiet and dist.get_rank() == 0)
    if args.lr_sweep:
        lr_sweep(task, names, steps, batch_size, args.seed, schedule, args.clip, args.out)
    return 0


def run_train(args, task, steps, batch_size, schedule):
    """`minigrad train`: train, report, checkpoint, plot."""
    name = args.optimizer or task.optimizer
    check_names([name], task.variants)
    if args.resume and args.overwrite:
        raise ValueError("--resume continues the checkpoint and --overwrite replaces it: choose one")
    if args.zero and name.partition("+")[0] in ("muon", "prodigy"):
        raise ValueError(f"--zero shards one optimizer's state by its own rules; {name} cannot be "
                         + ("(Muon for the matrices with AdamW for the rest is two optimizers)"
                            if name.startswith("muon") else "(its step size sums over every parameter)")
                         + ": run it without --zero")
    config = dict(optimizer=name, lr=args.lr if args.lr is not None else task.lr_for(name),
                  schedule=schedule, clip=args.clip, steps=steps, batch_size=batch_size, seed=args.seed)
    rank0 = dist.get_rank() == 0  # under mpirun every rank trains; rank 0 alone reports and plots
    print = builtins.print if rank0 else (lambda *a, **k: None)
    print(f"{task.name}: {name} lr {config['lr']:g}, {schedule} schedule, {steps} steps of "
          f"{batch_size}" + (" (resuming)" if args.resume else ""))
    monitor = None if args.no_monitor else optim.TrainingMonitor(steps=steps, lr=config["lr"],
                                                                 batch_size=batch_size)
    try:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # divergence is reported below
            result = train(task, config, out=args.out, resume=args.resume, stop_after=args.stop_after,
                           progress=not args.quiet and rank0, checkpoint_every=args.checkpoint_every,
                           overwrite=args.overwrite, zero=args.zero, monitor=monitor)
    finally:  # also when the run diverged or was interrupted
        if monitor is not None and monitor.t:
            for f in monitor.findings:
                if f.severity != "critical":  # the critical ones were printed as they fired
                    print(f)
            print(monitor.health())
    m = result["metrics"]
    print(f"step {result['step']} in {result['seconds']:.1f}s: " + ", ".join(
        f"{k} {100 * v:.2f}%" if k.endswith("acc") else f"{k} {v:.4f}"
        for k, v in m.items() if isinstance(v, float)))
    for line in task.report(result["model"]):
        print(line)
    print(f"checkpoint: {os.path.join(args.out, NAME)}")
    from . import plots
    png = os.path.join(args.out, "loss.png")
    if rank0 and plots.loss_curves({name: result["history"]["loss"]}, png, f"{task.name}: {name}",
                         log_y=task.kind == "function"):
        print(f"loss curve: {png}")
    return 0


def run_experiment(args):
    """`minigrad experiment`: NAME, --list or --all."""
    from . import experiments
    if sum((args.name is not None, args.list, args.all)) != 1:
        raise ValueError("give one of: an experiment NAME, --list, --all")
    if args.list:
        print("\n".join(experiments.listing()))
        return 0
    names = [e.name for e in experiments.runnable()] if args.all else [args.name]
    for name in names:  # every name is known and runnable before anything runs
        experiments.runnable_entry(name)
    check_writable(args.out)
    for name in names:
        experiments.run(name, quick=args.quick, out=args.out)
        print()
    if args.all:
        for e in experiments.EXPERIMENTS:
            if not e.module:
                print(f"{e.name}: {experiments.status(e)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
