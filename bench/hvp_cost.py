"""The cost of a Hessian-vector product against a gradient's, on the makemore MLP of
bench/train_step.py (float64, batch 32): a gradient is forward + backward; a Hessian-vector
product is forward + recorded backward (create_graph=True) + backward of that gradient.

    python bench/hvp_cost.py

Prints both, wall clock and CPU time (time.process_time: on a shared machine the wall clock also
counts the time other processes hold the cores), and their ratio.
"""
import time

import numpy as np

import minigrad as mg

mg.set_default_dtype(np.float64)
nn, F = mg.nn, mg.nn.functional
V, CTX, EMB, HID, B = 27, 3, 10, 200, 32
mg.manual_seed(0)
emb, fc1, bn, fc2 = nn.Embedding(V, EMB), nn.Linear(CTX*EMB, HID), nn.BatchNorm1d(HID), nn.Linear(HID, V)
params = [p for m in (emb, fc1, bn, fc2) for p in m.parameters()]
rng = np.random.default_rng(0)
vs = [mg.tensor(rng.standard_normal(p.shape)) for p in params]


def loss():
    x = rng.integers(0, V, (B, CTX))
    y = x[:, -1]
    return F.cross_entropy(fc2(bn(fc1(emb(x).reshape(B, CTX*EMB))).tanh()), y)


def gradient():
    return mg.grad(loss(), params)


def hvp():
    g = mg.grad(loss(), params, create_graph=True)
    return mg.grad(g, params, vs)


# CPU time of this process (time.process_time) besides wall time: on a shared machine the wall
# clock counts the time other processes hold the cores
for clock in (time.perf_counter, time.process_time):
    T = {"gradient": [], "hvp": []}
    for _ in range(400):
        for name, f in (("gradient", gradient), ("hvp", hvp)):
            t0 = clock()
            f()
            T[name].append(clock() - t0)
    g, h = np.array(T["gradient"]) * 1e6, np.array(T["hvp"]) * 1e6
    print(f"[{clock.__name__}] gradient: min {g.min():.0f} us, median {np.median(g):.0f} us; "
          f"hvp: min {h.min():.0f} us, median {np.median(h):.0f} us; "
          f"hvp / gradient: min {h.min()/g.min():.2f}x, median {np.median(h)/np.median(g):.2f}x")
