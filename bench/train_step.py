"""Training-step speed: three small models trained with Adam in minigrad (eager, and through
`mg.compile` once issue 23 lands), in hand-written NumPy, and in PyTorch on the CPU (eager and
torch.compile), side by side in one process.

Tasks, all float32, all with Adam as torch.optim.Adam (lr 1e-3, betas (0.9, 0.999), eps 1e-8):
  makemore  Embedding(27, 10) over 3 characters -> Linear(30, 200) -> BatchNorm1d(200) -> tanh
            -> Linear(200, 27) -> cross_entropy; batch 32, the target is the last character
  mlp       Linear(784, 512) -> ReLU -> Linear(512, 512) -> ReLU -> Linear(512, 10) ->
            cross_entropy; batch 64 of N(0, 1) inputs with random labels
  gpt       models.gpt.GPT() (block_size 16, 2 layers, 4 heads, n_embd 64); batch 32 of random
            index sequences of length 16, random targets; cross_entropy over (32*16, 27)

Variants (the table's rows):
  eager          minigrad: forward, cross_entropy, opt.zero_grad(), loss.backward(), opt.step()
  compiled       that same step function through mg.compile (issue 23); "not available" while
                 minigrad has no mg.compile. It replays the recorded step, so its losses must
                 equal eager's bit for bit: asserted.
  numpy          the floor: forward, backward and Adam written by hand in NumPy, no autograd
                 (makemore and mlp; none for the GPT, too much to hand-write). Its Adam is
                 plain ufuncs, a dozen passes over memory per tensor, where optim.Adam runs
                 its rule as one compiled loop on every core: on the mlp's 670K parameters
                 the floor's Adam takes longer than its forward and backward together.
  torch          PyTorch eager on the CPU with torch.optim.Adam (its default CPU path,
                 foreach=False); the GPT rebuilt nanoGPT-style with the same parameter names
  torch.compile  torch.compile(model): forward and backward compiled, the loss and Adam eager

Every variant starts from the same initial weights and trains on the same batches. First each
runs the first 50 steps untimed, and the largest |loss - eager's loss| is printed: the numpy
floor and torch do the same arithmetic up to float32 rounding, the compiled step the same bits.
Adam's step m̂ / (sqrt(v̂) + ε) is about ±lr however small the gradient, so a last-bit
difference grows: eager parts from the floor and torch by ~1e-5 (makemore) and ~1e-3 (mlp) in
50 steps, while the floor and torch stay within ~4e-5 of each other. The cause is that minigrad
rounds Adam's 1 - β in float32 (1 - 0.999f = 0.0009999871; torch and the floor use 0.001f):
with that rounding the floor equals eager bit for bit on both tasks.

Then `--rounds` rounds: in each, the variants take turns (starting one further along each
round); each builds its model and optimizer afresh from the initial weights, runs 3 warm-up
steps untimed (mg.compile records; torch.compile compiled during the check), then `--steps`
timed steps (wall clock). The table gives each variant's median steps/s over the rounds, and
ratios of medians: "vs eager" is the variant's steps/s / eager's (> 1: faster than minigrad's
eager step), "vs numpy" and "vs torch" likewise.

BLAS threads are left as they are (minigrad's load policy, minigrad/threads.py, or the user's
setting) and printed with torch's; the line under each table says if they changed during it.

    python bench/train_step.py [--tasks makemore,mlp,gpt] [--steps N] [--rounds 5]
                               [--variants eager,compiled,numpy,torch,torch.compile] [--markdown]
"""
from __future__ import annotations

import argparse
import functools
import importlib.metadata
import platform
import statistics
import sys
import time
from typing import Callable, NamedTuple

import numpy as np

import minigrad as mg
import minigrad.nn as nn
import minigrad.nn.functional as F
import optim
from minigrad import threads
from models.gpt import GPT

LR = 1e-3          # Adam's lr; its betas and eps are torch's defaults
WARMUP = 3         # untimed steps before each timed run
CHECK = 50         # untimed steps compared with eager's before timing
PAUSE = 0.15       # s of busy waiting before each variant's turn (see settle)
V, CTX, EMB, HID = 27, 3, 10, 200   # makemore
VARIANTS = ("eager", "compiled", "numpy", "torch", "torch.compile")


# === minigrad models =============================================================================

class Makemore(nn.Module):
    def __init__(self):
        self.emb = nn.Embedding(V, EMB)
        self.fc1 = nn.Linear(CTX * EMB, HID)
        self.bn = nn.BatchNorm1d(HID)
        self.fc2 = nn.Linear(HID, V)

    def forward(self, x):
        h = self.emb(x).reshape(x.shape[0], CTX * EMB)
        return self.fc2(self.bn(self.fc1(h)).tanh())


def mlp():
    return nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))


def loss_of(F, logits, y):
    """Mean cross entropy, for minigrad's F or torch's: the GPT's (B, T, C) logits flattened."""
    if logits.ndim == 3:
        logits, y = logits.reshape(-1, logits.shape[-1]), y.reshape(-1)
    return F.cross_entropy(logits, y)


# === the NumPy floor: no autograd, every derivative by hand ======================================

class AdamNumPy:
    """torch.optim.Adam's step on arrays in place, one line per equation of optim/adam.py.
    The scalars (1 - β, the bias corrections) are Python floats, rounded to float32 once, as
    torch's are."""

    def __init__(self, params, lr=LR, betas=(0.9, 0.999), eps=1e-8):
        self.params, self.lr, (self.beta1, self.beta2), self.eps = params, lr, betas, eps
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]
        self.t = 0

    def step(self, grads):
        self.t += 1
        bias_correction1 = 1 - self.beta1 ** self.t
        bias_correction2 = 1 - self.beta2 ** self.t
        for theta, g, m, v in zip(self.params, grads, self.m, self.v):
            m *= self.beta1
            m += (1 - self.beta1) * g                             # m ← β1 m + (1-β1) g
            v *= self.beta2
            v += (1 - self.beta2) * g * g                         # v ← β2 v + (1-β2) g²
            m_hat = m / bias_correction1                          # m̂ = m / (1-β1^t)
            v_hat = v / bias_correction2                          # v̂ = v / (1-β2^t)
            theta -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)  # θ ← θ - lr m̂ / (sqrt(v̂) + ε)


def softmax_cross_entropy(logits, y):
    """Mean cross entropy of logits (n, C) against class indices y (n,), and d loss / d logits."""
    n = logits.shape[0]
    rows = np.arange(n)
    z = logits - logits.max(axis=1, keepdims=True)  # exp of at most 0: no overflow
    e = np.exp(z)
    s = e.sum(axis=1, keepdims=True)
    loss = (np.log(s[:, 0]) - z[rows, y]).mean()    # -log softmax(z)[y]
    dlogits = e / s                                 # softmax - one_hot(y), over n
    dlogits[rows, y] -= 1
    dlogits /= n
    return loss, dlogits


class MakemoreNumPy:
    """The makemore step by hand, from a minigrad Makemore's state_dict."""

    def __init__(self, state):
        s = {k: v.copy() for k, v in state.items()}
        self.C, self.W1, self.b1 = s["emb.weight"], s["fc1.weight"], s["fc1.bias"]
        self.gamma, self.beta = s["bn.weight"], s["bn.bias"]
        self.running_mean, self.running_var = s["bn.running_mean"], s["bn.running_var"]
        self.W2, self.b2 = s["fc2.weight"], s["fc2.bias"]
        self.adam = AdamNumPy([self.C, self.W1, self.b1, self.gamma, self.beta, self.W2, self.b2])

    def step(self, x, y):
        n = x.shape[0]
        # forward
        e = self.C[x].reshape(n, CTX * EMB)               # the 3 characters' embeddings side by side
        h1 = e @ self.W1.T + self.b1
        mean = h1.mean(axis=0)
        xc = h1 - mean
        var = (xc * xc).mean(axis=0)                      # biased, as BatchNorm1d normalises
        inv_std = 1 / np.sqrt(var + 1e-5)
        xhat = xc * inv_std
        h = np.tanh(self.gamma * xhat + self.beta)
        loss, dlogits = softmax_cross_entropy(h @ self.W2.T + self.b2, y)
        self.running_mean *= 0.9                          # BatchNorm1d's running statistics
        self.running_mean += 0.1 * mean                   # (momentum 0.1, unbiased variance)
        self.running_var *= 0.9
        self.running_var += 0.1 * var * (n / (n - 1))
        # backward
        dW2, db2 = dlogits.T @ h, dlogits.sum(axis=0)
        dz = (dlogits @ self.W2) * (1 - h * h)            # tanh' = 1 - tanh²
        dgamma, dbeta = (dz * xhat).sum(axis=0), dz.sum(axis=0)
        dxhat = dz * self.gamma
        # batch norm's backward: Ioffe & Szegedy (2015), section 3's chain rule in one line
        dh1 = inv_std / n * (n * dxhat - dxhat.sum(axis=0) - xhat * (dxhat * xhat).sum(axis=0))
        dW1, db1 = dh1.T @ e, dh1.sum(axis=0)
        dC = np.zeros_like(self.C)
        np.add.at(dC, x.reshape(-1), (dh1 @ self.W1).reshape(-1, EMB))  # a repeated row adds up
        self.adam.step([dC, dW1, db1, dgamma, dbeta, dW2, db2])
        return float(loss)


class MLPNumPy:
    """The mlp step by hand, from a minigrad mlp()'s state_dict."""

    def __init__(self, state):
        s = {k: v.copy() for k, v in state.items()}
        self.W1, self.b1, self.W2, self.b2, self.W3, self.b3 = (
            s[k] for k in ("0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"))
        self.adam = AdamNumPy([self.W1, self.b1, self.W2, self.b2, self.W3, self.b3])

    def step(self, x, y):
        # forward
        h1 = np.maximum(x @ self.W1.T + self.b1, 0)
        h2 = np.maximum(h1 @ self.W2.T + self.b2, 0)
        loss, dlogits = softmax_cross_entropy(h2 @ self.W3.T + self.b3, y)
        # backward
        dW3, db3 = dlogits.T @ h2, dlogits.sum(axis=0)
        dz2 = (dlogits @ self.W3) * (h2 > 0)              # relu' = 1 where the output is positive
        dW2, db2 = dz2.T @ h1, dz2.sum(axis=0)
        dz1 = (dz2 @ self.W2) * (h1 > 0)
        dW1, db1 = dz1.T @ x, dz1.sum(axis=0)
        self.adam.step([dW1, db1, dW2, db2, dW3, db3])
        return float(loss)


# === the same models in PyTorch, with minigrad's parameter names =================================

@functools.cache
def torch_models(torch):
    """name -> a constructor of the task's torch.nn.Module. The classes are made once per process,
    so each round's new model is an instance of a class that torch.compile has compiled."""
    tnn, tF = torch.nn, torch.nn.functional

    class Makemore(tnn.Module):
        def __init__(self):
            super().__init__()
            self.emb, self.fc1 = tnn.Embedding(V, EMB), tnn.Linear(CTX * EMB, HID)
            self.bn, self.fc2 = tnn.BatchNorm1d(HID), tnn.Linear(HID, V)

        def forward(self, x):
            return self.fc2(torch.tanh(self.bn(self.fc1(self.emb(x).view(x.shape[0], CTX * EMB)))))

    class Attention(tnn.Module):  # minigrad/nn/attention.py
        def __init__(self, n_embd, n_head):
            super().__init__()
            self.n_head = n_head
            self.c_attn, self.c_proj = tnn.Linear(n_embd, 3 * n_embd), tnn.Linear(n_embd, n_embd)

        def forward(self, x):
            B, T, C = x.shape
            q, k, v = self.c_attn(x).view(B, T, 3, self.n_head, C // self.n_head).permute(2, 0, 3, 1, 4)
            y = tF.scaled_dot_product_attention(q, k, v, is_causal=True)
            return self.c_proj(y.transpose(1, 2).reshape(B, T, C))

    class MLP(tnn.Module):  # models/gpt.py's
        def __init__(self, n_embd):
            super().__init__()
            self.c_fc, self.c_proj = tnn.Linear(n_embd, 4 * n_embd), tnn.Linear(4 * n_embd, n_embd)

        def forward(self, x):
            return self.c_proj(tF.gelu(self.c_fc(x), approximate="tanh"))

    class Block(tnn.Module):
        def __init__(self, n_embd, n_head):
            super().__init__()
            self.ln_1, self.attn = tnn.LayerNorm(n_embd), Attention(n_embd, n_head)
            self.ln_2, self.mlp = tnn.LayerNorm(n_embd), MLP(n_embd)

        def forward(self, x):
            x = x + self.attn(self.ln_1(x))
            return x + self.mlp(self.ln_2(x))

    class GPT(tnn.Module):  # models/gpt.py's defaults
        def __init__(self, vocab_size=27, block_size=16, n_layer=2, n_head=4, n_embd=64):
            super().__init__()
            self.wte, self.wpe = tnn.Embedding(vocab_size, n_embd), tnn.Embedding(block_size, n_embd)
            self.h = tnn.ModuleList([Block(n_embd, n_head) for _ in range(n_layer)])
            self.ln_f, self.lm_head = tnn.LayerNorm(n_embd), tnn.Linear(n_embd, vocab_size, bias=False)

        def forward(self, idx):
            x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
            for block in self.h:
                x = block(x)
            return self.lm_head(self.ln_f(x))

    def mlp():
        return tnn.Sequential(tnn.Linear(784, 512), tnn.ReLU(), tnn.Linear(512, 512), tnn.ReLU(),
                              tnn.Linear(512, 10))

    return {"makemore": Makemore, "mlp": mlp, "gpt": GPT}


# === tasks and variants ==========================================================================

def batches(task, n, seed=0):
    """n batches (X, Y) of the task, as NumPy arrays, from a fixed seed."""
    rng = np.random.default_rng(seed)
    if task == "makemore":
        X = rng.integers(0, V, (n, 32, CTX))
        return X, X[:, :, -1]  # a learnable target: repeat the last character
    if task == "mlp":
        return rng.standard_normal((n, 64, 784), dtype=np.float32), rng.integers(0, 10, (n, 64))
    return rng.integers(0, 27, (n, 32, 16)), rng.integers(0, 27, (n, 32, 16))


class Task(NamedTuple):
    model: Callable      # () -> the minigrad model
    floor: Callable      # its NumPy floor from a state_dict, or None
    steps: int           # timed steps per round by default (about 0.15-0.3 s of eager steps)
    about: str


TASKS = {
    "makemore": Task(Makemore, MakemoreNumPy, 300,
                     "Embedding(27,10) x3 -> Linear(30,200) -> BatchNorm1d -> tanh -> Linear(200,27); batch 32"),
    "mlp": Task(mlp, MLPNumPy, 40, "Linear(784,512) -> ReLU -> Linear(512,512) -> ReLU -> Linear(512,10); batch 64"),
    "gpt": Task(GPT, None, 20, "models.gpt.GPT() (2 layers, 4 heads, n_embd 64, T 16); batch 32"),
}


def initial_state(task):
    """The task's initial weights and buffers (seed 0), by state_dict name: every variant's start."""
    mg.manual_seed(0)
    return {k: np.array(v, copy=True) for k, v in TASKS[task].model().state_dict().items()}


def why_not(task, variant):
    """Why `variant` cannot run `task` here (a line), or None."""
    if variant == "compiled" and getattr(mg, "compile", None) is None:
        return "not available (mg.compile missing)"
    if variant == "numpy" and TASKS[task].floor is None:
        return "no NumPy floor for this task (too much to hand-write)"
    if variant.startswith("torch"):
        try:
            import torch  # noqa: F401
        except ImportError:
            return "skipped (PyTorch is not installed)"
    return None


def variant_factory(task, variant, state, X, Y) -> Callable[[], Callable[[int], float]]:
    """fresh() for the variant: a new model and optimizer from `state`, as step(i) -> loss,
    which trains on batch i. The batches are converted to the variant's type here, once."""
    if variant in ("eager", "compiled"):
        Xt, Yt = [mg.tensor(x) for x in X], [mg.tensor(y) for y in Y]

        def fresh():
            model = TASKS[task].model()
            model.load_state_dict(state)
            opt = optim.Adam(model.parameters(), lr=LR)

            def step(x, y):
                loss = loss_of(F, model(x), y)
                opt.zero_grad()
                loss.backward()
                opt.step()
                return loss

            if variant == "compiled":
                step = mg.compile(step)
            return lambda i: step(Xt[i], Yt[i]).item()
        return fresh
    if variant == "numpy":
        def fresh():
            floor = TASKS[task].floor(state)
            return lambda i: floor.step(X[i], Y[i])
        return fresh
    import torch
    Xt, Yt = torch.from_numpy(np.ascontiguousarray(X)), torch.from_numpy(np.ascontiguousarray(Y))

    def fresh():
        model = torch_models(torch)[task]()
        model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in state.items()})
        forward = torch.compile(model) if variant == "torch.compile" else model
        opt = torch.optim.Adam(model.parameters(), lr=LR)

        def step(i):
            loss = loss_of(torch.nn.functional, forward(Xt[i]), Yt[i])
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss.item()
        return step
    return fresh


def check(task, variants, n=CHECK):
    """The losses of each variant's first n steps from the task's initial weights, and the
    reasons of those that could not run: ({variant: [loss, ...]}, {variant: reason}).
    torch.compile's failure to compile is a reason, not an error."""
    state, (X, Y) = initial_state(task), batches(task, n)
    losses, skipped = {}, {}
    for variant in variants:
        if why_not(task, variant):
            skipped[variant] = why_not(task, variant)
            continue
        step = variant_factory(task, variant, state, X, Y)()
        try:
            losses[variant] = [step(i) for i in range(n)]
        except Exception as e:  # inductor fails in many ways (no compiler, a bug): report any
            if variant != "torch.compile":
                raise
            skipped[variant] = f"skipped: {type(e).__name__}: {str(e).strip().splitlines()[0][:120]}"
    return losses, skipped


def settle(seconds=PAUSE):
    """Wait, busy, before a variant's turn: after their last product, OpenBLAS's threads spin for
    about 0.1 s and torch's OpenMP threads for milliseconds, holding cores the next variant
    needs. Busy rather than asleep, as in bench/optim_step.py's timed()."""
    until = time.perf_counter() + seconds
    while time.perf_counter() < until:
        pass


def measure(task, variants, steps, rounds):
    """Median steps/s of each variant over `rounds` rounds of `steps` timed steps, and the BLAS
    thread counts seen."""
    state, (X, Y) = initial_state(task), batches(task, WARMUP + steps)
    fresh = {v: variant_factory(task, v, state, X, Y) for v in variants}
    rates, blas = {v: [] for v in variants}, set()
    for r in range(rounds):
        for variant in variants[r % len(variants):] + variants[:r % len(variants)]:
            settle()
            step = fresh[variant]()
            for i in range(WARMUP):
                step(i)
            t0 = time.perf_counter()
            for i in range(WARMUP, WARMUP + steps):
                step(i)
            rates[variant].append(steps / (time.perf_counter() - t0))
            blas.add(threads.get_num_threads())
    return {v: statistics.median(r) for v, r in rates.items()}, rates, blas


# === the report ==================================================================================

def versions():
    """One line: the libraries' versions and the thread counts each runs with."""
    def version(name):
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"
    blas = threads.status()
    from optim import executor
    loops = "on" if executor.jit_available() else f"off ({executor.jit_unavailable_reason()})"
    try:
        import torch
        torch_line = f"torch {torch.__version__} ({torch.get_num_threads()} threads)"
    except ImportError:
        torch_line = "torch not installed"
    return (f"Python {platform.python_version()}, {blas['cores']} cores; numpy {np.__version__} (BLAS threads: "
            f"{blas['threads']} of {blas['default']}, decided by {blas['decided_by']}); {torch_line}; "
            f"numba {version('numba')} (optimizer loops compiled: {loops})")


def table(task, medians, skipped, variants, markdown):
    """The task's table: steps/s and the ratios to eager, numpy and torch (> 1: faster)."""
    rows = [("variant", "steps/s (median)", "vs eager", "vs numpy", "vs torch")]
    for v in variants:
        if v in skipped:
            rows.append((v, skipped[v], "", "", ""))
            continue
        ratios = tuple(f"{medians[v] / medians[ref]:.2f}" if ref in medians else "-"
                       for ref in ("eager", "numpy", "torch"))
        rows.append((v, f"{medians[v]:,.0f}") + ratios)
    if markdown:
        lines = [f"| {' | '.join(r)} |" for r in rows]
        return "\n".join(lines[:1] + ["| --- | ---: | ---: | ---: | ---: |"] + lines[1:])
    out = []
    for r in rows:
        if r[2:] == ("", "", ""):  # a skipped row: its reason across the columns
            out.append(f"{r[0]:14s} {r[1]}")
        else:
            out.append(f"{r[0]:14s} {r[1]:>16s} {r[2]:>9s} {r[3]:>9s} {r[4]:>9s}")
    return "\n".join(out)


def agreement(losses):
    """A line: how far each variant's first losses are from eager's (and the floor's from
    torch's); asserts that mg.compile's equal eager's bit for bit."""
    def gap(a, b):
        return f"{max(abs(x - y) for x, y in zip(losses[a], losses[b])):.1e}"
    if "eager" not in losses:
        return "(no eager run to compare with)"
    notes = []
    for v, curve in losses.items():
        if v == "compiled":
            assert curve == losses["eager"], \
                f"mg.compile's losses differ from eager's: {curve[:5]} != {losses['eager'][:5]}"
        elif v != "eager":
            notes.append(f"{v} {gap(v, 'eager')}")
    if "compiled" in losses:
        notes.append("compiled 0 (bit for bit)")
    n, curve = len(losses["eager"]), losses["eager"]
    line = f"first {n} steps, max |loss - eager's|: {', '.join(notes) or '-'}"
    if "numpy" in losses and "torch" in losses:
        line += f"; numpy vs torch {gap('numpy', 'torch')}"
    return line + f"; eager's loss {curve[0]:.4f} -> {curve[-1]:.4f}"


def names(kind, allowed):
    """An argparse type: a comma-separated list of names out of `allowed`."""
    def parse(text):
        chosen = [t.strip() for t in text.split(",") if t.strip()]
        bad = [t for t in chosen if t not in allowed]
        if bad or not chosen:
            raise argparse.ArgumentTypeError(f"unknown {kind} {', '.join(map(repr, bad)) or '(none given)'}; "
                                             f"choose from {', '.join(allowed)}")
        return list(dict.fromkeys(chosen))
    return parse


def positive(text):
    """An argparse type: an integer > 0."""
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return n


def parser():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tasks", type=names("task", list(TASKS)), default=list(TASKS),
                    help=f"comma-separated, from {','.join(TASKS)} (default: all)")
    ap.add_argument("--variants", type=names("variant", VARIANTS), default=list(VARIANTS),
                    help=f"comma-separated, from {','.join(VARIANTS)} (default: all)")
    ap.add_argument("--steps", type=positive, default=None,
                    help="timed steps per variant per round (default: makemore 300, mlp 40, gpt 20)")
    ap.add_argument("--rounds", type=positive, default=5, help="rounds; the median over them is reported")
    ap.add_argument("--markdown", action="store_true", help="print the tables as Markdown")
    return ap


def main(argv=None):
    args = parser().parse_args(argv)
    print(f"python bench/train_step.py {' '.join(sys.argv[1:] if argv is None else argv)}".strip())
    print(versions())
    for task in args.tasks:
        steps = args.steps or TASKS[task].steps
        t0 = time.perf_counter()
        losses, skipped = check(task, args.variants)
        print(f"\n{task}: {TASKS[task].about}; float32, Adam lr {LR}; {steps} steps x {args.rounds} rounds")
        print(agreement(losses) + f" (checks took {time.perf_counter() - t0:.1f} s)")
        run = [v for v in args.variants if v not in skipped]
        medians, rates, blas = measure(task, run, steps, args.rounds)
        if args.markdown:
            print()
        print(table(task, medians, skipped, args.variants, args.markdown))
        spread = ", ".join(f"{v} {max(r) / min(r):.2f}" for v, r in rates.items())
        print(f"{'' if not args.markdown else chr(10)}spread over rounds (fastest / slowest): {spread}; "
              f"BLAS threads {'/'.join(map(str, sorted(blas)))}", flush=True)


if __name__ == "__main__":
    main()
