"""Optimizer-step speed on a GPU: minigrad's traced CUDA kernel (optim/executor/cuda_kernel.py)
against torch.optim.Adam(fused=True) on CUDA and against a plain device-to-device copy, on one flat
float32 parameter of 100M and 1B elements.

Prints milliseconds per step (median of CUDA-event timings), the bytes a step must move (Adam:
read θ, g, m, v; write θ, m, v: 28 bytes per float32 parameter; Adagrad: 20), the achieved GB/s,
and that as a share of the copy's GB/s (a copy reads and writes 8 bytes per element).

    python bench/gpu_step.py [--sizes 100e6,1e9] [--repeats 10]
"""
import argparse
import functools

import numpy as np

BYTES = {"Adam": 28, "AdamW": 28, "Adagrad": 20}


def cuda_ms(fn, repeats, cp):
    fn()  # compiles and creates state
    start, stop, times = cp.cuda.Event(), cp.cuda.Event(), []
    for _ in range(repeats):
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        times.append(cp.cuda.get_elapsed_time(start, stop))
    return float(np.median(times))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="100e6,1e9")
    ap.add_argument("--repeats", type=int, default=10)
    args = ap.parse_args()
    import cupy as cp

    import minigrad as mg
    import optim
    try:
        import torch
        has_torch = torch.cuda.is_available()
    except ImportError:
        has_torch = False
    print(f"{cp.cuda.runtime.getDeviceProperties(0)['name'].decode()}, CuPy {cp.__version__}"
          + (f", torch {torch.__version__}" if has_torch else ", no CUDA torch"))
    print(f"{'n':>6s} {'what':24s} {'ms':>8s} {'GB/s':>8s} {'% copy':>7s}")
    for n in [int(float(s)) for s in args.sizes.split(",")]:
        a, b = cp.ones(n, cp.float32), cp.empty(n, cp.float32)
        copy_ms = cuda_ms(functools.partial(b.__setitem__, Ellipsis, a), args.repeats, cp)  # b[...] = a
        copy_gbs = 8 * n / copy_ms / 1e6
        print(f"{n / 1e6:5.0f}M {'device copy':24s} {copy_ms:8.2f} {copy_gbs:8.0f} {100:7.0f}")
        del a, b
        for name in ("Adam", "AdamW", "Adagrad"):
            p = mg.nn.Parameter(cp.zeros(n, cp.float32))
            p.grad = cp.full(n, 1e-3, cp.float32)
            opt = getattr(optim, name)([p], lr=1e-3)
            ms = cuda_ms(opt.step, args.repeats, cp)
            gbs = BYTES[name] * n / ms / 1e6
            print(f"{n / 1e6:5.0f}M {'minigrad ' + name:24s} {ms:8.2f} {gbs:8.0f} {100 * gbs / copy_gbs:7.0f}")
            del p, opt
            cp.get_default_memory_pool().free_all_blocks()
            if has_torch and name != "Adagrad":
                t = torch.zeros(n, device="cuda", requires_grad=True)
                t.grad = torch.full((n,), 1e-3, device="cuda")
                topt = getattr(torch.optim, name)([t], lr=1e-3, fused=True)
                ms_t = cuda_ms(topt.step, args.repeats, cp)
                gbs = BYTES[name] * n / ms_t / 1e6
                print(f"{n / 1e6:5.0f}M {'torch ' + name + ' fused':24s} {ms_t:8.2f} {gbs:8.0f} "
                      f"{100 * gbs / copy_gbs:7.0f}")
                del t, topt
                torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
