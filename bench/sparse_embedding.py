"""Sparse against dense embedding gradients: does a step's cost follow the batch or the vocabulary?

One training step (forward, backward, optimizer step) of an embedding-bag classifier: batch 256,
20 token indices per example, embeddings of dim 64 averaged per example, Linear(64, 10), cross
entropy; vocabularies of 10K and 1M rows; Embedding(sparse=False) against Embedding(sparse=True)
with Adagrad and Adam (lazy for sparse). Prints the median milliseconds of a step and the ratio
1M / 10K. With sparse gradients the ratio should stay near 1; with dense ones it grows with the
vocabulary (a 1M x 64 gradient and optimizer pass each step).

    python bench/sparse_embedding.py [--steps 20]
"""
import argparse
import time

import numpy as np

import minigrad as mg
import minigrad.nn as nn
import minigrad.nn.functional as F
import optim

B, L, DIM, CLASSES = 256, 20, 64, 10


class EmbeddingBag(nn.Module):
    def __init__(self, vocab, sparse):
        self.emb = nn.Embedding(vocab, DIM, sparse=sparse)
        self.out = nn.Linear(DIM, CLASSES)

    def forward(self, idx):
        return self.out(self.emb(idx).mean(axis=1))


def step_ms(vocab, sparse, opt_name, steps, seed=0):
    mg.manual_seed(seed)
    model = EmbeddingBag(vocab, sparse)
    opt = getattr(optim, opt_name)(model.parameters(), lr=1e-2)
    rng = np.random.default_rng(seed)
    batches = [(rng.integers(0, vocab, (B, L)), rng.integers(0, CLASSES, B)) for _ in range(steps + 2)]
    times = []
    for k, (x, y) in enumerate(batches):
        t0 = time.perf_counter()
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if k >= 2:  # the first steps allocate the optimizer state
            times.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(times))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=20)
    args = ap.parse_args()
    print(f"batch {B} x {L} indices, dim {DIM}; median of {args.steps} steps; numpy {np.__version__}")
    print(f"{'optimizer':10s} {'gradient':8s} {'10K ms':>9s} {'1M ms':>9s} {'1M/10K':>7s}")
    for opt_name in ("Adagrad", "Adam"):
        for sparse in (False, True):
            small = step_ms(10_000, sparse, opt_name, args.steps)
            large = step_ms(1_000_000, sparse, opt_name, args.steps)
            kind = "sparse" if sparse else "dense"
            print(f"{opt_name:10s} {kind:8s} {small:9.2f} {large:9.2f} {large / small:7.2f}")


if __name__ == "__main__":
    main()
