"""The subject's claims about adaptive optimizers, each one an experiment a reader runs:
`minigrad experiment NAME [--out DIR] [--quick]`, `--list`, `--all`.

Each experiment is one module here with `run(quick, out) -> result`: it prints a table of what it
measured and a verdict line per claim (held, or did not hold here, with the numbers), writes one
figure, out/NAME.png (what it printed goes to out/NAME.txt too), and returns its numbers in a
dict (with "png": the figure's path, or None without matplotlib). `quick` is a budget of
seconds, for the tests; the full run takes minutes.

EXPERIMENTS lists the whole subject in the order a course teaches it. Entries that are not run
here say why: run elsewhere (their command), or not yet available (what they wait for).
"""
import contextlib
import importlib
import io
import os
import sys
from typing import NamedTuple, Optional


class Entry(NamedTuple):
    name: str
    claim: str
    module: Optional[str] = None   # a module of this package with run(quick, out)
    command: Optional[str] = None  # the command that runs it, when it is not run here
    pending: Optional[str] = None  # why it cannot run yet


EXPERIMENTS = [
    Entry("adagrad-decay", "AdaGrad's step size only falls, so learning stalls; RMSProp's "
          "exponential average forgets, so its step recovers", module="adagrad_decay"),
    Entry("sparse-features", "AdaGrad keeps large steps for rare features and small ones for "
          "frequent features", module="sparse_features"),
    Entry("bias-correction", "moments started at zero are (1 - beta^t) too small; without the "
          "correction Adam's first steps have the wrong size", module="bias_correction"),
    Entry("sign-descent", "Adam's update is about lr * sign(m_hat), whatever the gradient's scale",
          module="sign_descent"),
    Entry("adamw-vs-l2", "Adam + L2 decays each parameter at its own rate lr*lambda/(sqrt(v_hat)+eps); "
          "AdamW decays all at lr*lambda", module="adamw_vs_l2"),
    Entry("amsgrad", "Adam can converge to the worst point of an online problem; AMSGrad does not "
          "(Reddi, Kale & Kumar 2018)", module="amsgrad"),
    Entry("warmup", "RAdam rectifies the variance of the early adaptive step, so it needs no warmup",
          module="warmup"),
    Entry("recipes", "the practical guidelines, each run as it says and measured", module="recipes"),
    Entry("lr-sensitivity", "adaptive methods are less sensitive to the learning rate than SGD",
          command="minigrad compare --task digits --lr-sweep"),
    Entry("debugging", "the debugging guide as tools: a training monitor that diagnoses the run, a "
          "learning-rate finder, anomaly detection, optimizer introspection",
          command="minigrad lr-find --task digits; minigrad train (its monitor's health line); "
          "mg.detect_anomaly(); optim.explain(opt)"),
]
BY_NAME = {e.name: e for e in EXPERIMENTS}


def runnable():
    """The entries that `run` runs here, in order."""
    return [e for e in EXPERIMENTS if e.module]


def status(entry):
    """How an entry runs: 'minigrad experiment NAME', its own command, or why not yet."""
    if entry.module:
        return f"minigrad experiment {entry.name}"
    if entry.command:
        return f"run by: {entry.command}"
    return f"not yet available: {entry.pending}"


def listing():
    """The lines of `minigrad experiment --list`: the whole subject, numbered."""
    lines = []
    for i, e in enumerate(EXPERIMENTS, 1):
        lines.append(f"{i:2d}. {e.name:16s} {e.claim}")
        lines.append(f"    {'':16s} {status(e)}")
    return lines


def runnable_entry(name):
    """The entry called name; ValueError, saying why, when there is none or it is not run here."""
    if name not in BY_NAME:
        raise ValueError(f"unknown experiment {name!r}; choose from {', '.join(BY_NAME)} "
                         "(minigrad experiment --list)")
    entry = BY_NAME[name]
    if not entry.module:
        raise ValueError(f"experiment {name} is not run here: {status(entry)}")
    return entry


def run(name, quick=False, out="runs/experiments"):
    """Run the experiment called name; returns its result dict (see the module docstring)."""
    entry = runnable_entry(name)
    module = importlib.import_module(f"{__name__}.{entry.module}")
    printed = io.StringIO()
    with contextlib.redirect_stdout(_Tee(sys.stdout, printed)):
        print(f"== {entry.name}{' (quick)' if quick else ''}: {entry.claim}")
        result = module.run(quick=quick, out=out)
        if result.get("png"):
            print(f"figure: {result['png']}")
    # what it printed, beside the figure: the docs quote this file, never numbers typed by hand
    os.makedirs(out, exist_ok=True)
    result["txt"] = os.path.join(out, f"{name}.txt")
    with open(result["txt"], "w") as f:
        f.write(printed.getvalue())
    return result


class _Tee:
    """A stream that writes to several."""

    def __init__(self, *streams):
        self.streams = streams

    def write(self, text):
        for s in self.streams:
            s.write(text)
        return len(text)

    def flush(self):
        for s in self.streams:
            s.flush()
