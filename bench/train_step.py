"""Training-step speed: the makemore MLP in minigrad and in PyTorch (CPU), side by side.

Embedding(27, 10) over 3 characters -> Linear(30, 200) -> BatchNorm1d(200) -> tanh ->
Linear(200, 27) -> cross_entropy, batch 32, plain SGD. Both frameworks train from the same
initial weights on the same batches; the script prints steps per second and the ratio
minigrad / PyTorch (> 1 means minigrad is faster), and checks the two loss curves agree.

    python bench/train_step.py [--steps 2000] [--repeats 3]
"""
import argparse
import time

import numpy as np

import minigrad as mg
import minigrad.nn as nn
import minigrad.nn.functional as F

V, CTX, EMB, HID, B, LR = 27, 3, 10, 200, 32, 0.1


def make_batches(steps, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.integers(0, V, (steps, B, CTX))
    Y = X[:, :, -1]  # a learnable target: repeat the last character
    return X, Y


class MLP(nn.Module):
    def __init__(self):
        self.emb = nn.Embedding(V, EMB)
        self.fc1 = nn.Linear(CTX * EMB, HID)
        self.bn = nn.BatchNorm1d(HID)
        self.fc2 = nn.Linear(HID, V)

    def forward(self, x):
        h = self.emb(x).reshape(x.shape[0], CTX * EMB)
        return self.fc2(self.bn(self.fc1(h)).tanh())


def run_minigrad(model, X, Y):
    params = model.parameters()
    losses = []
    for x, y in zip(X, Y):
        loss = F.cross_entropy(model(x), y)
        for p in params:
            p.grad = None
        loss.backward()
        for p in params:
            p.data -= LR * p.grad
        losses.append(loss.data)
    return np.array([float(v) for v in losses])


def torch_model(torch, model):
    emb = torch.nn.Embedding(V, EMB)
    fc1, bn, fc2 = torch.nn.Linear(CTX * EMB, HID), torch.nn.BatchNorm1d(HID), torch.nn.Linear(HID, V)
    with torch.no_grad():
        emb.weight.copy_(torch.from_numpy(model.emb.weight.data.copy()))
        fc1.weight.copy_(torch.from_numpy(model.fc1.weight.data.copy()))
        fc1.bias.copy_(torch.from_numpy(model.fc1.bias.data.copy()))
        fc2.weight.copy_(torch.from_numpy(model.fc2.weight.data.copy()))
        fc2.bias.copy_(torch.from_numpy(model.fc2.bias.data.copy()))
    return emb, fc1, bn, fc2


def run_torch(torch, layers, X, Y):
    emb, fc1, bn, fc2 = layers
    params = [p for m in layers for p in m.parameters()]
    X, Y = torch.from_numpy(X), torch.from_numpy(Y)
    losses = []
    for x, y in zip(X, Y):
        h = emb(x).view(x.shape[0], CTX * EMB)
        loss = torch.nn.functional.cross_entropy(fc2(torch.tanh(bn(fc1(h)))), y)
        for p in params:
            p.grad = None
        loss.backward()
        with torch.no_grad():
            for p in params:
                p -= LR * p.grad
        losses.append(loss.detach())
    return np.array([float(v) for v in losses])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    import torch
    torch.manual_seed(0)
    X, Y = make_batches(args.steps)
    best = {"minigrad": 0.0, "torch": 0.0}
    for _ in range(args.repeats):
        mg.manual_seed(0)
        model = MLP()
        layers = torch_model(torch, model)
        t0 = time.perf_counter()
        lm = run_minigrad(model, X, Y)
        t1 = time.perf_counter()
        lt = run_torch(torch, layers, X, Y)
        t2 = time.perf_counter()
        best["minigrad"] = max(best["minigrad"], args.steps / (t1 - t0))
        best["torch"] = max(best["torch"], args.steps / (t2 - t1))
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, numpy {np.__version__}")
    print(f"final loss: minigrad {lm[-50:].mean():.4f}  torch {lt[-50:].mean():.4f}  "
          f"(first-step difference {abs(lm[0] - lt[0]):.2e})")
    print(f"minigrad {best['minigrad']:8.0f} steps/s")
    print(f"torch    {best['torch']:8.0f} steps/s")
    print(f"ratio minigrad/torch = {best['minigrad'] / best['torch']:.2f}")


if __name__ == "__main__":
    main()
