"""Optimizer-step speed: one step() on ~10M float32 parameters in ~40 tensors, minigrad against
torch.optim (foreach=False, its default CPU path, foreach=True, and fused=True where torch has a
fused CPU kernel: Adam, AdamW, SGD, Adagrad) in one process.

The shapes are a small GPT's: token and position embeddings, then per block the attention and
MLP weights with their biases and two norms. Both sides get the same gradients; the script
prints the median milliseconds of a step and the ratio torch / minigrad (> 1: minigrad faster)
for each way minigrad runs an optimizer's one rule (optim/executor/): the compiled loop (when
Numba is installed), NumPy chunks (without Numba), and the reference (the rule once on whole
arrays, fused=False).

    python bench/optim_step.py [--repeats 15] [--optimizers adam,adamw,adagrad,rmsprop]
                               [--baseline DIR] [--made-first] [--flat]
    (also: sgd, adadelta, adamax, nadam, radam, rprop, adafactor; AdaBelief, Lion, LAMB and Yogi
    have no torch counterpart)

--baseline DIR times another checkout's optim package (say, `git worktree add /tmp/before <commit>`)
in the same process, on the same engine, taking turns with the rest: the "base" column and
the ratio base / loops (> 1: this checkout faster). --made-first also times the loops with every
task made before any chunk runs (`executor.set_overlap(False)`): the "first" column and the
ratio first / loops (> 1: making the later tasks while the first chunks run is faster).
--flat also times the loops on one flat tensor of all the elements: the "flat" column and the
ratio loops / flat, the share of a step that goes to having many tensors (their set-up in
Python and their hand-offs between threads).
"""
import argparse
import importlib.util
import os
import sys
import time

import numpy as np

import minigrad as mg
import optim

D, V, CTX, LAYERS = 384, 8192, 256, 4


def shapes():
    out = [(V, D), (CTX, D)]
    for _ in range(LAYERS):
        out += [(D,), (D,), (3 * D, D), (3 * D,), (D, D), (D,), (D,), (D,), (4 * D, D), (4 * D,), (D, 4 * D), (D,)]
    return out + [(D,), (D,)]


def timed(steps, repeats, block=5, pause=0.05):
    """Median milliseconds of a step for each of steps (name -> step function).

    The variants take turns, `block` steps each, until each has run `repeats` steps: a shared
    machine's speed drifts over seconds, and taking turns spreads the drift over all of them.
    Each turn starts with a pause of `pause` seconds and an untimed step: torch's OpenMP
    threads keep spinning on both cores for milliseconds after its last step, and without the
    pause the variant after torch's (the compiled loop, each round) ran up to 1.5x slower.
    This thread spends the pause busy, as a training loop's forward and backward would, not
    asleep: after the whole process slept, the first steps of a two-thread variant ran on one
    core (the woken worker thread was placed beside this one; see docs/benchmarks.md)."""
    for step in steps.values():
        step()  # state is created on the first step (and loops are compiled or loaded)
        step()
    times = {name: [] for name in steps}
    while any(len(t) < repeats for t in times.values()):
        for name, step in steps.items():
            busy_until = time.perf_counter() + pause  # torch's threads stop spinning
            while time.perf_counter() < busy_until:
                pass
            step()  # not timed
            for _ in range(min(block, repeats - len(times[name]))):
                t0 = time.perf_counter()
                step()
                times[name].append(time.perf_counter() - t0)
    return {name: 1e3 * float(np.median(t)) for name, t in times.items()}


CONFIGS = {"adam": ("Adam", {}), "adamw": ("AdamW", {}), "adagrad": ("Adagrad", {}), "rmsprop": ("RMSprop", {}),
           "sgd": ("SGD", {"lr": 0.01, "momentum": 0.9}), "adadelta": ("Adadelta", {}),
           "adamax": ("Adamax", {}), "nadam": ("NAdam", {}), "radam": ("RAdam", {}),
           "rprop": ("Rprop", {}), "adafactor": ("Adafactor", {})}
def load_baseline(root):
    """DIR/optim imported as the package optim_baseline (its relative imports stay inside it)."""
    init = os.path.join(root, "optim", "__init__.py")
    if not os.path.exists(init):
        sys.exit(f"--baseline: no optim package in {root!r}")
    spec = importlib.util.spec_from_file_location(
        "optim_baseline", init, submodule_search_locations=[os.path.dirname(init)])
    module = importlib.util.module_from_spec(spec)
    sys.modules["optim_baseline"] = module
    spec.loader.exec_module(module)
    return module


FUSED = {"Adam", "AdamW", "SGD", "Adagrad"}  # torch's optimizers with a fused CPU kernel


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=15, help="timed steps of each variant")
    ap.add_argument("--optimizers", default="adam,adamw,adagrad,rmsprop")
    ap.add_argument("--baseline", metavar="DIR", help="another checkout whose optim to time too")
    ap.add_argument("--made-first", action="store_true",
                    help="also time the loops with every task made before any chunk runs "
                         "(executor.set_overlap(False)): the 'first' column")
    ap.add_argument("--flat", action="store_true",
                    help="also time the loops on one flat tensor of all the elements: the 'flat' column")
    args = ap.parse_args()
    baseline = load_baseline(args.baseline) if args.baseline else None
    import torch

    from optim import executor
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s).astype(np.float32) * 0.02 for s in shapes()]
    grads = [rng.standard_normal(s).astype(np.float32) * 1e-3 for s in shapes()]
    n = sum(a.size for a in arrays)
    print(f"{len(arrays)} tensors, {n / 1e6:.1f}M float32 parameters; torch {torch.__version__} "
          f"({torch.get_num_threads()} threads), numpy {np.__version__}")
    loops = executor.jit_available()
    print("compiled loops:", "on" if loops else f"off ({executor.jit_unavailable_reason()})")
    print("milliseconds per step (median), and torch's time / minigrad's (> 1: minigrad faster)")
    print(f"{'optimizer':10s} {'loops':>7s} {'chunks':>7s} {'refer.':>7s} {'torch':>7s} {'torch':>7s}"
          f" {'torch':>7s} {'loops/':>7s} {'loops/':>7s} {'loops/':>7s} {'chunks/':>8s}"
          + (f" {'base':>7s} {'base/':>7s}" if baseline is not None else "")
          + (f" {'first':>7s} {'first/':>7s}" if args.made_first else "")
          + (f" {'flat':>7s} {'loops/':>7s}" if args.flat else ""))
    print(f"{'':10s} {'':>7s} {'':>7s} {'path':>7s} {'fe=F':>7s} {'fe=T':>7s} {'fused':>7s}"
          f" {'fe=F':>7s} {'fe=T':>7s} {'fused':>7s} {'fe=F':>8s}"
          + (f" {'loops':>7s} {'loops':>7s}" if baseline is not None else "")
          + (f" {'loops':>7s} {'loops':>7s}" if args.made_first else "")
          + (f" {'':>7s} {'flat':>7s}" if args.flat else ""))

    def ours(name, kw, jit, package=optim, overlap=True, flat=False, **extra):
        data, grad = (arrays, grads) if not flat else (
            [np.concatenate([a.ravel() for a in arrays])], [np.concatenate([g.ravel() for g in grads])])
        ps = [mg.nn.Parameter(a.copy()) for a in data]
        for p, g in zip(ps, grad):
            p.grad = g
        step = getattr(package, name)(ps, **extra, **kw).step

        def run():
            executor.set_jit(jit)
            executor.set_overlap(overlap)
            step()
        return run

    def theirs(name, kw, how):
        ts = [torch.tensor(a.copy(), requires_grad=True) for a in arrays]
        for t, g in zip(ts, grads):
            t.grad = torch.from_numpy(g)
        flag, value = how.split("=")
        return getattr(torch.optim, name)(ts, **{flag: value == "True"}, **kw).step

    for key in args.optimizers.split(","):
        name, kw = CONFIGS[key]
        steps = {}
        if getattr(optim, name).rule is not None:
            if loops:
                steps["loops"] = ours(name, kw, True)
            steps["chunks"] = ours(name, kw, False)
            steps["reference"] = ours(name, kw, True, fused=False)
        else:  # not elementwise: one path
            steps["loops"] = ours(name, kw, loops)
        if baseline is not None:
            steps["base"] = ours(name, kw, loops, package=baseline)
        if args.made_first:
            steps["first"] = ours(name, kw, loops, overlap=False)
        if args.flat:
            steps["flat"] = ours(name, kw, loops, flat=True)
        for how in ("foreach=False", "foreach=True", "fused=True"):
            if how != "fused=True" or name in FUSED:
                steps[how] = theirs(name, kw, how)
        ms = timed(steps, args.repeats)
        executor.set_jit(True)
        executor.set_overlap(True)
        nan = float("nan")
        t_loops, t_ufuncs = ms.get("loops", nan), ms.get("chunks", ms.get("loops", nan))
        t_ref = ms.get("reference", ms.get("loops", nan))
        f, t, fused = ms["foreach=False"], ms["foreach=True"], ms.get("fused=True", nan)
        base = f" {ms['base']:7.1f} {ms['base'] / t_loops:7.2f}" if baseline is not None else ""
        base += f" {ms['first']:7.2f} {ms['first'] / t_loops:7.2f}" if args.made_first else ""
        base += f" {ms['flat']:7.2f} {t_loops / ms['flat']:7.2f}" if args.flat else ""
        print(f"{name:10s} {t_loops:7.1f} {t_ufuncs:7.1f} {t_ref:7.1f} {f:7.1f} {t:7.1f} {fused:7.1f}"
              f" {f / t_loops:7.2f} {t / t_loops:7.2f} {fused / t_loops:7.2f} {f / t_ufuncs:8.2f}{base}",
              flush=True)


if __name__ == "__main__":
    main()
