"""What the second-order optimizers' extra backward costs a training step, on the names task of
`minigrad compare` (the CharMLP, batch 96, float32): one step (forward, backward, optimizer) of

    adam          the first-order backward
    adam+graph    the same step with loss.backward(create_graph=True): the recorded backward alone
    adahessian    the recorded backward and a Hessian-vector product at every step
    sophia        the recorded backward, and the product every 10th step (update_period=10)

    python bench/second_order_step.py [--steps 200] [--repeats 3]

Prints the median step of the best repeat, in wall clock and CPU time (time.process_time: on a
shared machine the wall clock also counts the time other processes hold the cores), steps per
second, and each one's ratio to adam's.
"""
import argparse
import time

import numpy as np

import optim
from models.tasks import NamesTask

KINDS = {
    "adam": (lambda ps: optim.Adam(ps, lr=3e-3), False),
    "adam+graph": (lambda ps: optim.Adam(ps, lr=3e-3), True),
    "adahessian": (lambda ps: optim.AdaHessian(ps, lr=0.1), True),
    "sophia": (lambda ps: optim.Sophia(ps, lr=3e-3, p=1.0), True),
}


def run(task, kind, steps):
    """(median wall s, median CPU s) of a step, over `steps` steps after 10 to warm up."""
    make, create_graph = KINDS[kind]
    model = task.build(0)
    opt = make(model.parameters())
    rng = np.random.default_rng(1)
    wall, cpu = [], []
    for _ in range(steps + 10):
        batch = task.batch(rng, task.batch_size)
        w0, c0 = time.perf_counter(), time.process_time()
        loss = task.loss(model, batch)
        opt.zero_grad()
        loss.backward(create_graph=create_graph)
        opt.step()
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    return float(np.median(wall[10:])), float(np.median(cpu[10:]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    task = NamesTask()
    best = {}
    for _ in range(args.repeats):  # taking turns, so that a busy spell hits every kind alike
        for kind in KINDS:
            w, c = run(task, kind, args.steps)
            bw, bc = best.get(kind, (w, c))
            best[kind] = (min(w, bw), min(c, bc))
    base_w, base_c = best["adam"]
    print(f"{'step':11s} {'wall ms':>8s} {'steps/s':>8s} {'x adam':>7s} {'CPU ms':>8s} {'x adam':>7s}")
    for kind, (w, c) in best.items():
        print(f"{kind:11s} {1e3 * w:8.2f} {1 / w:8.0f} {w / base_w:7.2f} {1e3 * c:8.2f} "
              f"{c / base_c:7.2f}")


if __name__ == "__main__":
    main()
