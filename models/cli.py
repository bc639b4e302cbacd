"""The `minigrad` command line (also `python -m models`)."""
import argparse
import sys
import time

import numpy as np

import minigrad as mg
import minigrad.nn.functional as F

from .char_mlp import CharMLP
from .names import build_dataset, load_names, split


def train_names(args):
    mg.manual_seed(args.seed)
    words = load_names(args.data)
    train_w, val_w, _ = split(words, seed=args.seed)
    Xtr, Ytr = build_dataset(train_w, args.block_size)
    Xva, Yva = build_dataset(val_w, args.block_size)
    model = CharMLP(block_size=args.block_size)
    params = model.parameters()
    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    for step in range(args.steps):
        ix = rng.integers(0, len(Xtr), args.batch_size)
        loss = F.cross_entropy(model(Xtr[ix]), Ytr[ix])
        model.zero_grad()
        loss.backward()
        lr = args.lr if step < args.steps // 2 else args.lr / 10
        for p in params:  # plain SGD until the optim package is wired in
            p.data -= lr * p.grad
        if step % max(args.steps // 10, 1) == 0:
            print(f"step {step:6d}  loss {loss.item():.4f}  lr {lr:g}")
    model.eval()
    with mg.no_grad():
        val = F.cross_entropy(model(Xva), Yva).item()
    print(f"trained {args.steps} steps in {time.perf_counter() - t0:.1f}s; "
          f"validation loss {val:.4f} nats/char")
    print("samples:", ", ".join(model.sample(10, seed=args.seed)))


def main(argv=None):
    ap = argparse.ArgumentParser(prog="minigrad", description="Train small models with minigrad.")
    sub = ap.add_subparsers(dest="command", required=True)
    tr = sub.add_parser("train", help="train a character-level MLP on the bundled names")
    tr.add_argument("--data", default="surnames", choices=["surnames", "first-names"])
    tr.add_argument("--steps", type=int, default=20000)
    tr.add_argument("--batch-size", type=int, default=32)
    tr.add_argument("--lr", type=float, default=0.1)
    tr.add_argument("--block-size", type=int, default=3)
    tr.add_argument("--seed", type=int, default=42)
    args = ap.parse_args(argv)
    if args.steps <= 0:
        ap.error(f"--steps must be positive, got {args.steps}")
    train_names(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
