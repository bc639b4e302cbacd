"""The per-op cost of anomaly detection: a chain of small ops, forward and backward.

    PYTHONPATH=$PWD python bench/anomaly_overhead.py

Off: Function.apply as it is (with its one flag check) against the same function with the check
cut out of its source, taking turns in one process, so that a loaded machine's drift falls on
both alike; forward, microseconds per op, median and best of the turns. On: the chain again
inside detect_anomaly(), forward and forward + backward. A chain of 200 elementwise ops on a
4x4 float64 tensor: the op's Python overhead, where a check would show most.
"""
import inspect
import statistics
import textwrap
import timeit

import numpy as np

import minigrad as mg
from minigrad import function

N_OPS, TURNS = 200, 40
CHECK = "if anomaly.enabled:\n    anomaly.check_forward(self, xs, y)\n"


def chain(x):
    for _ in range(N_OPS // 2):
        x = x * 1.0001 + 0.001  # two ops per turn
    return x


def per_op(fn, number=10):
    return min(timeit.repeat(fn, repeat=3, number=number)) / number / N_OPS * 1e6


def apply_without_check():
    """Function.apply recompiled from its source minus the anomaly check."""
    src = textwrap.dedent(inspect.getsource(function.Function.apply))
    check = textwrap.indent(CHECK, " " * 4)  # the body of a method, dedented
    if check not in src:
        raise SystemExit("bench: Function.apply no longer has the expected check; update CHECK")
    namespace = dict(vars(function))
    exec(src.replace(check, ""), namespace)
    return namespace["apply"]


def main():
    x = mg.tensor(np.random.default_rng(0).standard_normal((4, 4)), requires_grad=True)
    versions = {"off (as shipped)": function.Function.apply, "no check at all": apply_without_check()}
    times = {name: [] for name in versions}
    for turn in range(TURNS):
        for name in (list(versions) if turn % 2 else list(versions)[::-1]):
            function.Function.apply = versions[name]
            times[name].append(per_op(lambda: chain(x)))
    function.Function.apply = versions["off (as shipped)"]
    for name, ts in times.items():
        print(f"forward, {name:16s}: median {statistics.median(ts):6.2f} us/op, best {min(ts):6.2f}")
    off = (per_op(lambda: chain(x)), per_op(lambda: chain(x).sum().backward()))
    with mg.detect_anomaly():
        on = (per_op(lambda: chain(x)), per_op(lambda: chain(x).sum().backward()))
    print(f"anomaly off: forward {off[0]:6.2f} us/op, forward+backward {off[1]:6.2f} us/op")
    print(f"anomaly on : forward {on[0]:6.2f} us/op, forward+backward {on[1]:6.2f} us/op "
          f"({on[0] / off[0]:.1f}x, {on[1] / off[1]:.1f}x)")


if __name__ == "__main__":
    main()
