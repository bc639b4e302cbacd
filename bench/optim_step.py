"""Optimizer-step speed: one step() on ~10M float32 parameters in ~40 tensors, minigrad against
torch.optim (foreach=False, its default CPU path, and foreach=True) in one process.

The shapes are a small GPT's: token and position embeddings, then per block the attention and
MLP weights with their biases and two norms. Both sides get the same gradients; the script
prints the median milliseconds of a step and the ratio torch / minigrad (> 1: minigrad faster).

    python bench/optim_step.py [--repeats 15] [--optimizers adam,adamw,adagrad,rmsprop]
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


CONFIGS = {"adam": ("Adam", {}), "adamw": ("AdamW", {}), "adagrad": ("Adagrad", {}), "rmsprop": ("RMSprop", {})}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--optimizers", default="adam,adamw,adagrad,rmsprop")
    args = ap.parse_args()
    import torch
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s).astype(np.float32) * 0.02 for s in shapes()]
    grads = [rng.standard_normal(s).astype(np.float32) * 1e-3 for s in shapes()]
    n = sum(a.size for a in arrays)
    print(f"{len(arrays)} tensors, {n / 1e6:.1f}M float32 parameters; torch {torch.__version__} "
          f"({torch.get_num_threads()} threads), numpy {np.__version__}")
    print(f"{'optimizer':10s} {'minigrad':>10s} {'reference':>10s} {'torch':>10s} {'torch':>10s}"
          f" {'ratio vs':>9s} {'ratio vs':>9s}")
    print(f"{'':10s} {'ms':>10s} {'path ms':>10s} {'foreach=F':>10s} {'foreach=T':>10s}"
          f" {'foreach=F':>9s} {'foreach=T':>9s}")
    for key in args.optimizers.split(","):
        name, kw = CONFIGS[key]
        ps = [mg.nn.Parameter(a.copy()) for a in arrays]
        for p, g in zip(ps, grads):
            p.grad = g
        ours = timed(getattr(optim, name)(ps, **kw).step, args.repeats)
        ps_ref = [mg.nn.Parameter(a.copy()) for a in arrays]
        for p, g in zip(ps_ref, grads):
            p.grad = g
        reference = timed(getattr(optim, name)(ps_ref, fused=False, **kw).step, max(args.repeats // 3, 3))
        theirs = {}
        for foreach in (False, True):
            ts = [torch.tensor(a.copy(), requires_grad=True) for a in arrays]
            for t, g in zip(ts, grads):
                t.grad = torch.from_numpy(g)
            theirs[foreach] = timed(getattr(torch.optim, name)(ts, foreach=foreach, **kw).step, args.repeats)
        print(f"{name:10s} {ours:10.1f} {reference:10.1f} {theirs[False]:10.1f} {theirs[True]:10.1f}"
              f" {theirs[False] / ours:9.2f} {theirs[True] / ours:9.2f}")


if __name__ == "__main__":
    main()
