"""The `minigrad` command line (also `python -m models`): train, compare, experiment, lr-find.

How a command ends: 0 when it did its work; 2 with one line on stderr for an error it names
(bad input, a checkpoint it refuses, a file it cannot write); 128 + the signal number after an
interrupt (130 for Ctrl-C, 143 for SIGTERM), with one line. Under mpirun the same line is printed
once, by the rank that failed, prefixed `[rank R]`, and that rank ends the whole job
(MPI_Abort with the same status): an error on one rank never leaves the others waiting in a
collective for ever. An error that every rank meets (a bad argument, divergence, a signal that
reached them all) is printed by rank 0: the other ranks wait ABORT_GRACE_S seconds for rank 0
to end the job before they print theirs.

Only the standard library is imported at the top: a Ctrl-C while NumPy and the models load is
an interrupt like any other, not a traceback.
"""
import argparse
import builtins
import contextlib
import math
import os
import signal
import sys
import time

ABORT_GRACE_S = 2.0  # how long a rank other than 0 leaves rank 0 to report an error first


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (the usage itself is under --help)."""

    def error(self, message):
        from minigrad.distributed import launcher_rank
        if launcher_rank() != 0:
            # rank 0 prints this error; were this rank to exit first, mpirun would end the job
            # before rank 0's line reached it (as _fail waits for rank 0's abort)
            time.sleep(ABORT_GRACE_S)
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")

    def _print_message(self, message, file=None):
        from minigrad.distributed import launcher_rank
        if launcher_rank() == 0:  # under mpirun every rank parses the same argv: rank 0 says it
            super()._print_message(message, file)


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


def _non_negative_int(name, meaning=""):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be an integer, got {text!r}") from None
        if value < 0:
            raise argparse.ArgumentTypeError(f"{name} must be >= 0{meaning}, got {value}")
        return value
    return parse


_seed = _non_negative_int("--seed")


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
        if name.strip() in out:  # adam=1,adam=2 took the last, silently
            raise argparse.ArgumentTypeError(f"--lr gives {name.strip()} twice: one rate each")
        out[name.strip()] = _positive_float(f"--lr {name.strip()}")(value)
    return out


def _common(p):
    from .tasks import TASKS
    from .train import SCHEDULES
    p.add_argument("--task", default="names", help=f"one of: {', '.join(TASKS)}")
    p.add_argument("--steps", type=_positive_int("--steps"), help="training steps (task default)")
    p.add_argument("--batch-size", type=_positive_int("--batch-size"))
    p.add_argument("--schedule", choices=SCHEDULES, help="learning-rate schedule (task default)")
    p.add_argument("--clip", type=_positive_float("--clip"), default=None,
                   help="clip the gradient norm to this (positive, finite)")
    p.add_argument("--seed", type=_seed, default=0)
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--compile", action="store_true",
                   help="replay each training step with mg.compile (the same results, faster)")


def build_parser():
    """The argparse parser of `minigrad train` and `minigrad compare`."""
    from . import lr_find
    from .checkpoint import NAME
    from .optimizers import DEFAULT_COMPARE, OPTIMIZERS
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
    tr.add_argument("--checkpoint-every", type=_non_negative_int("--checkpoint-every", " (0: never)"), default=1000,
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
    lr_find.add_parser(sub, _positive_int, _positive_float, _seed)
    return ap


def _experiment_parser(sub):
    ex = sub.add_parser("experiment", help="run one of the subject's experiments (--list: all of them)")
    ex.add_argument("name", nargs="?", help="the experiment (see --list)")
    ex.add_argument("--list", action="store_true", help="list the experiments and how each runs")
    ex.add_argument("--all", action="store_true", help="run every experiment that runs here")
    ex.add_argument("--out", default="runs/experiments", help="directory for the figures")
    ex.add_argument("--quick", action="store_true", help="a budget of seconds instead of minutes")


def main(argv=None):
    """Entry point: run the command; see the module docstring for how it ends."""
    try:
        return run(build_parser().parse_args(argv))
    except SystemExit:  # argparse: --help, or a usage error it printed (on rank 0)
        raise
    except BaseException as e:  # noqa: BLE001 (every ending is reported; under mpirun, ends the job)
        if isinstance(e, KeyboardInterrupt):  # the command is ending: a second signal must not
            _ignore_stop_signals()            # cut its report short, nor relabel it
            e = _first_interrupt(e)
        code, line = _outcome(e)
        return _fail(code, line, e)


def _ignore_stop_signals():
    """From here to the exit, SIGINT and SIGTERM change nothing (the checkpoint is saved or
    left as it was already): a Ctrl-C after a SIGTERM would otherwise end the process by
    SIGINT after it reported SIGTERM (a KeyboardInterrupt while Python shuts down)."""
    with contextlib.suppress(ValueError, OSError):  # not the main thread: nothing to do
        for s in (signal.SIGINT, signal.SIGTERM):
            signal.signal(s, signal.SIG_IGN)


def _first_interrupt(e):
    """The interrupt that ended training (train.Interrupted, with .signum and the checkpoint
    saved), when a later Ctrl-C arrived while it unwound (a KeyboardInterrupt raised with the
    Interrupted as its context): the first signal is the one reported, as the loop's own is."""
    seen, c = set(), e
    while c is not None and id(c) not in seen:
        if isinstance(c, KeyboardInterrupt) and getattr(c, "signum", None) is not None:
            return c
        seen.add(id(c))
        c = c.__context__
    return e


def _outcome(e):
    """(exit status, the line to print) for an exception that ends a command; (1, None) for
    one that is not the user's to fix (a bug: its traceback is printed). No import here: a Ctrl-C
    may have cut one short (checkpoint.CheckpointError is a ValueError)."""
    if isinstance(e, KeyboardInterrupt):  # train.Interrupted has the signal; a Ctrl-C elsewhere is SIGINT
        signum = getattr(e, "signum", signal.SIGINT)
        text = str(e) if getattr(e, "signum", None) is not None else "interrupted"
        return 128 + signum, f"minigrad: {_printable(text)}"  # 130, 143: as a shell reports them
    if isinstance(e, (ValueError, RuntimeError, OSError)):
        return 2, f"minigrad: error: {_printable(str(e))}"
    return 1, None


def _printable(text):
    """text with every character that is not printable escaped as repr escapes it (a newline, a
    terminal escape): an error names values from files and arguments, and must stay one line."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _fail(code, line, e):
    """Print line (a traceback when None) and return code; under mpirun, end the whole job."""
    from minigrad import distributed as dist
    try:
        world = dist.get_world_size() if dist.launched_by_mpi() else 1
    except Exception:  # noqa: BLE001 (mpi4py missing, or MPI would not start: this process is alone)
        world = 1
    if world == 1:
        if line is None:
            raise e
        print(("\n" if code > 128 else "") + line, file=sys.stderr)  # after a progress bar's line
        return code
    rank = dist.get_rank()
    with contextlib.suppress(BaseException):
        if rank != 0:
            time.sleep(ABORT_GRACE_S)  # an error every rank met: rank 0's abort ends this one first
        sys.stdout.flush()
        if line is None:
            import traceback
            line = "".join(traceback.format_exception(e)).rstrip()
        print("\n".join(f"[rank {rank}] {s}" for s in line.splitlines()), file=sys.stderr, flush=True)
    dist.abort(code)


def _check_same_arguments(args):
    """Under mpirun, every rank must run the same command: ranks given different arguments
    (mpirun -n 1 ... --steps 200 : -n 1 ... --steps 300) would train different runs and wait in
    each other's collectives for ever. Compared once, at the start: every rank gets the same
    answer, so every rank refuses (rank 0 says it, and ends the job)."""
    from minigrad import distributed as dist
    if not dist.launched_by_mpi() or dist.get_world_size() == 1:
        return
    mine = {k: repr(v) for k, v in sorted(vars(args).items())}
    every = dist.all_gather_object(mine)
    for rank, theirs in enumerate(every):
        if theirs != every[0]:
            differ = sorted(k for k in set(theirs) | set(every[0]) if theirs.get(k) != every[0].get(k))
            raise ValueError(
                f"the ranks were started with different arguments (rank {rank}: "
                + ", ".join(f"{k} {theirs.get(k)} where rank 0 has {every[0].get(k)}" for k in differ)
                + "): under mpirun every rank runs the same command")


def run(args):
    """Resolve the task and its defaults, then train or compare (or run an experiment)."""
    from minigrad import backend
    from minigrad import distributed as dist

    from . import lr_find
    from .checkpoint import check_files, hold_out
    from .compare import compare, lr_sweep, output_names
    from .optimizers import DEFAULT_COMPARE, check_names
    from .tasks import make_task
    _check_same_arguments(args)
    if getattr(args, "out", None) == "":
        raise ValueError("--out is empty: name a directory (the current one is '.')")
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
    if args.command == "lr-find":
        lr_find.check_args(args)  # before the task's data loads
    kw = {"data": data or "surnames"} if args.command == "train" and args.task == "names" else {}
    task = make_task(args.task, device=args.device, seed=args.seed, **kw)
    if args.command == "lr-find":
        return lr_find.run(args, task)
    steps = args.steps or task.steps
    batch_size = args.batch_size or task.batch_size
    task.check_batch_size(batch_size)
    schedule = args.schedule or task.schedule
    if args.command == "train":
        return run_train(args, task, steps, batch_size, schedule)
    names = task.default_optimizers or DEFAULT_COMPARE
    if args.optimizers is not None:
        names = [n.strip() for n in args.optimizers.split(",") if n.strip()]
        if not names:
            raise ValueError(f"--optimizers {args.optimizers!r} names no optimizer: give a "
                             "comma-separated list, such as adam,sgd")
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"--optimizers names {', '.join(twice)} twice: each optimizer runs once")
    check_names(names, task.variants)
    check_names(list(args.lr), task.variants)
    unused = [n for n in args.lr if n not in names]
    if unused:
        raise ValueError(f"--lr gives a rate for {', '.join(unused)}, which the comparison does not "
                         f"run ({','.join(names)})")
    with hold_out(args.out):
        check_files(args.out, output_names(task, args.lr_sweep))
        compare(task, names, steps, batch_size, args.seed, args.lr, schedule, args.clip, args.out,
                progress=not args.quiet and dist.get_rank() == 0, compiled=args.compile)
        if args.lr_sweep:
            lr_sweep(task, names, steps, batch_size, args.seed, schedule, args.clip, args.out,
                     compiled=args.compile)
    return 0


def run_train(args, task, steps, batch_size, schedule):
    """`minigrad train`: check, then hold --out while training, reporting, checkpointing, plotting."""
    from minigrad import distributed as dist

    from .checkpoint import NAME, CheckpointError, check_files, hold_out
    from .optimizers import check_names
    name = args.optimizer if args.optimizer is not None else task.optimizer
    check_names([name], task.variants)
    if args.resume and args.overwrite:
        raise ValueError("--resume continues the checkpoint and --overwrite replaces it: choose one")
    if args.resume and not os.path.isdir(args.out):  # refused before --out is created
        raise CheckpointError(f"no checkpoint at {os.path.join(args.out, NAME)} to resume from")
    if args.zero and name.partition("+")[0] in ("muon", "prodigy"):
        raise ValueError(f"--zero shards one optimizer's state by its own rules; {name} cannot be "
                         + ("(Muon for the matrices with AdamW for the rest is two optimizers)"
                            if name.startswith("muon") else "(its step size sums over every parameter)")
                         + ": run it without --zero")
    config = dict(optimizer=name, lr=args.lr if args.lr is not None else task.lr_for(name),
                  schedule=schedule, clip=args.clip, steps=steps, batch_size=batch_size, seed=args.seed)
    rank0 = dist.get_rank() == 0  # under mpirun every rank trains; rank 0 alone reports and plots
    print = builtins.print if rank0 else (lambda *a, **k: None)
    png = os.path.join(args.out, "loss.png")
    with hold_out(args.out):  # this run's alone until it ends
        check_files(args.out, [NAME, "loss.png"])  # now, not after the training
        _train_and_report(args, task, name, config, print, png)
    return 0


def _train_and_report(args, task, name, config, print, png):
    import numpy as np

    import optim
    from minigrad import distributed as dist

    from . import plots
    from .checkpoint import NAME, saving
    from .train import train
    rank0 = dist.get_rank() == 0
    steps, batch_size, schedule = config["steps"], config["batch_size"], config["schedule"]
    print(f"{task.name}: {name} lr {config['lr']:g}, {schedule} schedule, {steps} steps of "
          f"{batch_size}" + (" (resuming)" if args.resume else ""))
    monitor = None if args.no_monitor else optim.TrainingMonitor(steps=steps, lr=config["lr"],
                                                                 batch_size=batch_size)
    try:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # divergence is reported below
            result = train(task, config, out=args.out, resume=args.resume, stop_after=args.stop_after,
                           progress=not args.quiet and rank0, checkpoint_every=args.checkpoint_every,
                           overwrite=args.overwrite, zero=args.zero, monitor=monitor,
                           compiled=args.compile)
    finally:  # also when the run diverged or was interrupted
        if monitor is not None and monitor.t:
            for f in monitor.findings:
                if f.severity != "critical":  # the critical ones were printed as they fired
                    print(f)
            print(monitor.health())
    m = result["metrics"]
    done = result["step"] - result["start"]
    rate = f", {done / result['seconds']:.0f} steps/s" if done and result["seconds"] > 0 else ""
    print(f"step {result['step']} in {result['seconds']:.1f}s{rate}"
          + (" (compiled)" if result["compiled"] else "") + ": " + ", ".join(
        f"{k} {100 * v:.2f}%" if k.endswith("acc") else f"{k} {v:.4f}"
        for k, v in m.items() if isinstance(v, float)))
    for line in task.report(result["model"]):
        print(line)
    print(f"checkpoint: {os.path.join(args.out, NAME)}")
    if rank0:
        with saving(png):
            plotted = plots.loss_curves({name: result["history"]["loss"]}, png, f"{task.name}: {name}",
                                        log_y=task.kind == "function")
        if plotted:
            print(f"loss curve: {png}")


def run_experiment(args):
    """`minigrad experiment`: NAME, --list or --all."""
    from minigrad import distributed as dist

    from . import experiments
    from .checkpoint import hold_out
    if sum((args.name is not None, args.list, args.all)) != 1:
        raise ValueError("give one of: an experiment NAME, --list, --all")
    if not args.list and dist.launched_by_mpi() and dist.get_world_size() > 1:
        raise ValueError("experiments run in one process (N ranks would run N copies and write "
                         "the same figures): run them without mpirun")
    if args.list:
        print("\n".join(experiments.listing()))
        return 0
    names = [e.name for e in experiments.runnable()] if args.all else [args.name]
    for name in names:  # every name is known and runnable before anything runs
        experiments.runnable_entry(name)
    experiments.parallel.processes()  # and MINIGRAD_EXPERIMENT_PROCESSES, if set, is a count
    with hold_out(args.out):
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
