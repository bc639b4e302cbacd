"""Optimizer-step speed: one step() on ~10M float32 parameters in ~40 tensors, minigrad against
torch.optim (foreach=False, its default CPU path, and foreach=True) in one process.

The shapes are a small GPT's: token and position embeddings, then per block the attention and
MLP weights with their biases and two norms. Both sides get the same gradients; the script
prints the median milliseconds of a step and the ratio torch / minigrad (> 1: minigrad faster)
for each way minigrad runs an optimizer's one rule (optim/executor.py): the compiled loop (when
Numba is installed), NumPy chunks (without Numba), and the reference (the rule once on whole
arrays, fused=False).

    python bench/optim_step.py [--repeats 15] [--optimizers adam,adamw,adagrad,rmsprop]
    (also: sgd, adadelta, adamax, nadam, radam, rprop, adafactor; AdaBelief, Lion, LAMB and Yogi
    have no torch counterpart)
"""
import argparse
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


def timed(step, repeats):
    step()  # state is created on the first step
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(times))


CONFIGS = {"adam": ("Adam", {}), "adamw": ("AdamW", {}), "adagrad": ("Adagrad", {}), "rmsprop": ("RMSprop", {}),
           "sgd": ("SGD", {"lr": 0.01, "momentum": 0.9}), "adadelta": ("Adadelta", {}),
           "adamax": ("Adamax", {}), "nadam": ("NAdam", {}), "radam": ("RAdam", {}),
           "rprop": ("Rprop", {}), "adafactor": ("Adafactor", {})}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--optimizers", default="adam,adamw,adagrad,rmsprop")
    args = ap.parse_args()
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
          f" {'loops/':>7s} {'loops/':>7s} {'chunks/':>8s}")
    print(f"{'':10s} {'':>7s} {'':>7s} {'path':>7s} {'fe=F':>7s} {'fe=T':>7s}"
          f" {'fe=F':>7s} {'fe=T':>7s} {'fe=F':>8s}")

    def ours(name, kw, **extra):
        ps = [mg.nn.Parameter(a.copy()) for a in arrays]
        for p, g in zip(ps, grads):
            p.grad = g
        return timed(getattr(optim, name)(ps, **extra, **kw).step, args.repeats)

    for key in args.optimizers.split(","):
        name, kw = CONFIGS[key]
        if getattr(optim, name).rule is not None:
            executor.set_jit(True)
            t_loops = ours(name, kw) if loops else float("nan")
            executor.set_jit(False)
            t_ufuncs = ours(name, kw)
            executor.set_jit(True)
            t_ref = ours(name, kw, fused=False)
        else:  # not elementwise: one path
            t_loops = t_ufuncs = t_ref = ours(name, kw)
        theirs = {}
        for foreach in (False, True):
            ts = [torch.tensor(a.copy(), requires_grad=True) for a in arrays]
            for t, g in zip(ts, grads):
                t.grad = torch.from_numpy(g)
            theirs[foreach] = timed(getattr(torch.optim, name)(ts, foreach=foreach, **kw).step, args.repeats)
        print(f"{name:10s} {t_loops:7.1f} {t_ufuncs:7.1f} {t_ref:7.1f} {theirs[False]:7.1f} {theirs[True]:7.1f}"
              f" {theirs[False] / t_loops:7.2f} {theirs[True] / t_loops:7.2f} {theirs[False] / t_ufuncs:8.2f}")


if __name__ == "__main__":
    main()
