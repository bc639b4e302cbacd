"""The subject's claims about adaptive optimizers, each one an experiment a reader runs:
`minigrad experiment NAME [--out DIR] [--quick]`, `--list`, `--all`.

Each experiment is one module here with `run(quick, out) -> result`: it prints a table of what it
measured and one verdict line per claim (verdicts.py: held, did not hold or within noise, over
seeds, against a margin stated in the module before it runs), writes one figure, out/NAME.png, and
returns its numbers in a dict (with "png": the figure's path, or None without matplotlib). `run`
below saves what it printed as out/NAME.txt and a record as out/NAME.json: the verdicts, the
seconds it took, the commit and the hash of the code it ran (provenance.py), which the
documentation build checks. `quick` is a smoke run for the tests (seconds, no verdicts); the full
run takes minutes.

A module also declares what its page needs (tools/docgen.py makes the page from them): its
docstring is the setup in words and math; QUOTE and SECTION, the claim as the article states it
and where; LOOK_FOR, what to look for in the figure; USES, the optimizer classes it runs (their
source is part of its code hash, and their rules are shown on the page).

EXPERIMENTS lists the whole subject in the order the course teaches it. An entry that is not run
here says why (pending).
"""
import contextlib
import importlib
import io
import os
import sys
import time
from typing import NamedTuple, Optional

from . import parallel, provenance, verdicts  # noqa: F401 (parallel: for the command, models/cli.py)


class Entry(NamedTuple):
    name: str
    title: str                     # the navigation title: what a learner reads
    claim: str                     # the claim in one line (--list, the index)
    module: Optional[str] = None   # a module of this package with run(quick, out)
    pending: Optional[str] = None  # why it cannot run yet


EXPERIMENTS = [
    Entry("gradient-scales", "Gradient scales across a network", "gradient scales differ across "
          "embeddings, normalisation parameters and depth, so one learning rate cannot suit all",
          module="gradient_scales"),
    Entry("sparse-features", "AdaGrad and rare features", "AdaGrad keeps large steps for rare "
          "features and small ones for frequent features", module="sparse_features"),
    Entry("adagrad-decay", "AdaGrad's shrinking step, RMSProp's recovery", "AdaGrad's step size only "
          "falls, so learning stalls; RMSProp's exponential average forgets, so its step recovers",
          module="adagrad_decay"),
    Entry("noisy-gradients", "Do noisy gradients get larger steps?", "noisy gradients get "
          "relatively larger learning rates", module="noisy_gradients"),
    Entry("bias-correction", "Adam's bias correction", "moments started at zero are (1 - beta^t) too "
          "small; without the correction Adam's first steps have the wrong size", module="bias_correction"),
    Entry("sign-descent", "Adam as sign descent", "Adam's update is about lr * sign(m_hat), whatever "
          "the gradient's scale", module="sign_descent"),
    Entry("adamw-vs-l2", "AdamW against Adam + L2", "decoupling the decay from Adam's rescaling makes the "
          "best weight decay independent of the learning rate (Loshchilov & Hutter 2019)",
          module="adamw_vs_l2"),
    Entry("amsgrad", "AMSGrad on Reddi et al.'s problem", "Adam can converge to the worst point of an "
          "online problem; AMSGrad does not (Reddi, Kale & Kumar 2018)", module="amsgrad"),
    Entry("amsgrad-in-practice", "AMSGrad on real tasks", "AMSGrad's improvement over Adam is "
          "marginal in practice", module="amsgrad_in_practice"),
    Entry("warmup", "Warmup and RAdam", "RAdam rectifies the variance of the early adaptive step, so "
          "it needs no warmup", module="warmup"),
    Entry("rosenbrock", "The Rosenbrock worked example", "the article's worked example: Adam, SGD and "
          "momentum on the Rosenbrock function", module="rosenbrock"),
    Entry("lr-sensitivity", "Sensitivity to the learning rate", "adaptive methods are less "
          "sensitive to the learning rate than SGD", module="lr_sensitivity"),
    Entry("generalization", "Do adaptive methods generalize worse?", "adaptive methods can "
          "generalize worse than SGD (Wilson et al. 2017)", module="generalization"),
    Entry("curvature", "What Adam's denominator approximates", "Adam's sqrt(v_hat) follows the "
          "empirical Fisher's diagonal more than the Hessian's; Newton, with the true curvature, "
          "solves Rosenbrock in a few steps", module="curvature"),
    Entry("recipes", "The practical recipes", "the practical guidelines, each run as it says and "
          "measured on validation", module="recipes"),
    Entry("hyperparameters", "The hyperparameter table", "the common hyperparameter ranges hold the "
          "best setting", module="hyperparameters"),
    Entry("debugging", "Debugging: five symptoms", "each of the debugging rules: a symptom provoked "
          "on a real task, and the remedy applied", module="debugging"),
]
BY_NAME = {e.name: e for e in EXPERIMENTS}


def runnable():
    """The entries that `run` runs here, in order."""
    return [e for e in EXPERIMENTS if e.module]


def status(entry):
    """How an entry runs: 'minigrad experiment NAME', or why not yet."""
    if entry.module:
        return f"minigrad experiment {entry.name}"
    return f"not yet available: {entry.pending}"


def listing():
    """The lines of `minigrad experiment --list`: the whole subject, numbered, in course order."""
    lines = []
    for i, e in enumerate(EXPERIMENTS, 1):
        lines.append(f"{i:2d}. {e.name:20s} {e.claim}")
        lines.append(f"    {'':20s} {status(e)}")
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


def module_of(entry):
    """The entry's module (imported), or None for a pending entry."""
    return importlib.import_module(f"{__name__}.{entry.module}") if entry.module else None


def run(name, quick=False, out="runs/experiments"):
    """Run the experiment called name; returns its result dict (see the module docstring).

    A smoke run (quick) says so on its first line and prints no statistical verdict. Its outputs
    are saved like a full run's, and its record says quick, so the documentation build refuses
    it in docs/experiments/."""
    entry = runnable_entry(name)
    module = module_of(entry)
    printed = io.StringIO()
    verdicts.start(quick)
    started = time.perf_counter()
    with contextlib.redirect_stdout(_Tee(sys.stdout, printed)):
        if quick:
            print(f"== {entry.name}: SMOKE RUN (--quick): {verdicts.QUICK_SEEDS} seeds and a few "
                  "steps, to show that it runs; no verdicts (the full run gives them)")
        print(f"== {entry.name}: {entry.claim}")
        result = module.run(quick=quick, out=out)
        if result.get("png"):
            print(f"figure: {result['png']}")
        seconds = time.perf_counter() - started
        print(f"took {seconds:.0f} s")
    # what it printed, beside the figure: the docs quote this file, never numbers typed by hand
    os.makedirs(out, exist_ok=True)
    result["txt"] = os.path.join(out, f"{name}.txt")
    with open(result["txt"], "w", encoding="utf-8") as f:
        f.write(printed.getvalue())
    result["verdicts"] = verdicts.recorded()
    record = {"name": name, "quick": bool(quick), "seconds": round(seconds, 1),
              "commit": provenance.commit(provenance.code_files(module)),
              "code_hash": provenance.code_hash(module),
              "files": provenance.code_files(module), "verdicts": result["verdicts"],
              "figure": os.path.basename(result["png"]) if result.get("png") else None}
    result["json"] = os.path.join(out, f"{name}.json")
    provenance.save(result["json"], record)
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
