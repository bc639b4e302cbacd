"""The per-op cost of anomaly detection: a chain of small ops, forward and backward.

    PYTHONPATH=$PWD python bench/anomaly_overhead.py            # this checkout, mode off and on
    PYTHONPATH=/other/checkout python bench/anomaly_overhead.py  # e.g. main, to compare "off"

Prints microseconds per op (the best of several repeats, to shed the machine's noise) for a
chain of 200 elementwise ops on a 4x4 float64 tensor, forward alone and forward + backward.
"""
import timeit

import numpy as np

import minigrad as mg

N_OPS, REPEAT, NUMBER = 200, 15, 20


def chain(x):
    for _ in range(N_OPS // 2):
        x = x * 1.0001 + 0.001  # two ops per turn
    return x.sum()


def measure():
    x = mg.tensor(np.random.default_rng(0).standard_normal((4, 4)), requires_grad=True)
    fwd = min(timeit.repeat(lambda: chain(x), repeat=REPEAT, number=NUMBER)) / NUMBER / N_OPS
    both = min(timeit.repeat(lambda: chain(x).backward(), repeat=REPEAT, number=NUMBER)) / NUMBER / N_OPS
    return fwd * 1e6, both * 1e6


def main():
    modes = [("off", None)]
    if hasattr(mg, "detect_anomaly"):
        modes.append(("on", mg.detect_anomaly))
    for name, mode in modes:
        if mode is None:
            fwd, both = measure()
        else:
            with mode():
                fwd, both = measure()
        print(f"anomaly {name:3s}: forward {fwd:6.2f} us/op   forward+backward {both:6.2f} us/op")


if __name__ == "__main__":
    main()
