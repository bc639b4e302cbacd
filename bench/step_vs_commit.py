"""The makemore training step (bench/train_step.py's model) of this checkout against an earlier
commit's, in one process, taking turns: for a change to the engine that must not slow it.

    python bench/step_vs_commit.py COMMIT [--steps 300] [--rounds 14]

The commit's minigrad package is unpacked (git archive) into a temporary folder and imported
under another name, so both engines run the same model, batches and updates side by side; each
round runs `--steps` steps of one then of the other (alternating which goes first) and the
medians over rounds are printed, for the whole step and for backward() alone. Times are CPU
time of this process (time.process_time): on a shared machine the wall clock also counts the
time that other processes hold the cores.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
V, CTX, EMB, HID, B, LR = 27, 3, 10, 200, 32, 0.1


def unpack(commit, folder):
    """The commit's minigrad/ as the package minigrad_base in `folder` (it imports itself only
    relatively, so the new name works)."""
    archive = os.path.join(folder, "base.tar")
    subprocess.run(["git", "-C", ROOT, "archive", "-o", archive, commit, "minigrad"], check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(folder, filter="data")
    shutil.move(os.path.join(folder, "minigrad"), os.path.join(folder, "minigrad_base"))


def build(mg):
    """A step function of the makemore MLP on engine `mg`, as in bench/train_step.py."""
    nn, F = mg.nn, mg.nn.functional
    mg.manual_seed(0)
    emb, fc1 = nn.Embedding(V, EMB), nn.Linear(CTX * EMB, HID)
    bn, fc2 = nn.BatchNorm1d(HID), nn.Linear(HID, V)
    params = [p for m in (emb, fc1, bn, fc2) for p in m.parameters()]

    def run(X, Y):
        backward = 0.0
        for x, y in zip(X, Y):
            loss = F.cross_entropy(fc2(bn(fc1(emb(x).reshape(B, CTX * EMB))).tanh()), y)
            for p in params:
                p.grad = None
            t0 = time.process_time()
            loss.backward()
            backward += time.process_time() - t0
            for p in params:
                p.data -= LR * p.grad
        return backward
    return run


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("commit")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=14)
    args = parser.parse_args()
    folder = tempfile.mkdtemp()
    try:
        unpack(args.commit, folder)
        sys.path.insert(0, folder)
        sys.path.insert(0, ROOT)
        import minigrad_base

        import minigrad
        rng = np.random.default_rng(0)
        X = rng.integers(0, V, (args.steps, B, CTX))
        Y = X[:, :, -1]
        runs = {"base": build(minigrad_base), "this": build(minigrad)}
        for run in runs.values():
            run(X[:50], Y[:50])  # warm up
        step = {k: [] for k in runs}
        backward = {k: [] for k in runs}
        for i in range(args.rounds):
            for name in ("base", "this") if i % 2 == 0 else ("this", "base"):
                t0 = time.process_time()
                b = runs[name](X, Y)
                step[name].append((time.process_time() - t0) / args.steps * 1e6)
                backward[name].append(b / args.steps * 1e6)
    finally:
        shutil.rmtree(folder)
    for name, label in (("base", f"{args.commit}"), ("this", "this checkout")):
        print(f"{label:>14}: step median {statistics.median(step[name]):7.1f} us, "
              f"backward median {statistics.median(backward[name]):6.1f} us (CPU time)")
    print(f"this / base: step {statistics.median(step['this']) / statistics.median(step['base']):.3f}, "
          f"backward {statistics.median(backward['this']) / statistics.median(backward['base']):.3f}")


if __name__ == "__main__":
    main()
