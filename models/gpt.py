"""GPT: a decoder-only transformer over characters, in the shape of nanoGPT's `model.py`.

    x = wte(idx) + wpe(position)                 token and position embeddings
    x = x + attn(ln_1(x))                        each block, pre-LN (Radford et al. 2019):
    x = x + mlp(ln_2(x))                         the residual path is never normalised
    logits = lm_head(ln_f(x))

Every position predicts the next character from itself and the ones before it (the attention is
causal), so one forward pass of a name gives a loss term for each of its characters.
"""
import numpy as np

import minigrad as mg
import minigrad.nn as nn
from minigrad import backend

from .names import ALPHABET


class MLP(nn.Module):
    """Linear(n, 4n) -> GELU (tanh form) -> Linear(4n, n): the per-position feed-forward."""

    def __init__(self, n_embd, bias=True, dropout=0.0, dtype=None):
        self.c_fc = nn.Linear(n_embd, 4 * n_embd, bias=bias, dtype=dtype)
        self.gelu = nn.GELU(approximate="tanh")  # as GPT-2; exact erf costs more than the matmuls here
        self.c_proj = nn.Linear(4 * n_embd, n_embd, bias=bias, dtype=dtype)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    """One pre-LN transformer block: attention, then the MLP, each added to the residual."""

    def __init__(self, n_embd, n_head, bias=True, dropout=0.0, dtype=None):
        self.ln_1 = nn.LayerNorm(n_embd, bias=bias, dtype=dtype)
        self.attn = nn.CausalSelfAttention(n_embd, n_head, bias=bias, dropout=dropout, dtype=dtype)
        self.ln_2 = nn.LayerNorm(n_embd, bias=bias, dtype=dtype)
        self.mlp = MLP(n_embd, bias=bias, dropout=dropout, dtype=dtype)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    """idx (B, T) of character indices, T <= block_size -> logits (B, T, vocab_size).

    Every layer keeps torch's default initialisation (Embedding N(0, 1), Linear
    U(±1/sqrt(fan_in)), LayerNorm ones and zeros), not GPT-2's N(0, 0.02): at this size and on
    the surnames, GPT-2's trained to a worse validation loss in the same number of steps.
    tie_weights: lm_head shares wte's matrix (Press & Wolf 2017).
    """

    def __init__(self, vocab_size=27, block_size=16, n_layer=2, n_head=4, n_embd=64, dropout=0.0,
                 bias=True, tie_weights=False, dtype=None):
        self.block_size = block_size
        self.wte = nn.Embedding(vocab_size, n_embd, dtype=dtype)
        self.wpe = nn.Embedding(block_size, n_embd, dtype=dtype)
        self.drop = nn.Dropout(dropout)
        self.h = nn.ModuleList([Block(n_embd, n_head, bias, dropout, dtype) for _ in range(n_layer)])
        self.ln_f = nn.LayerNorm(n_embd, bias=bias, dtype=dtype)
        self.lm_head = nn.Linear(n_embd, vocab_size, bias=False, dtype=dtype)
        if tie_weights:
            self.lm_head.weight = self.wte.weight  # one Parameter: its gradient sums both uses

    def forward(self, idx):
        idx = idx.data if isinstance(idx, mg.Tensor) else idx
        if idx.ndim != 2 or not 1 <= idx.shape[1] <= self.block_size:
            raise ValueError(f"GPT expects indices (B, T) with 1 <= T <= block_size "
                             f"({self.block_size}), got shape {idx.shape}")
        xp = backend.get_array_module(idx)
        pos = xp.arange(idx.shape[1])
        x = self.drop(self.wte(idx) + self.wpe(pos))  # (B, T, C) + (T, C)
        for block in self.h:
            x = block(x)
        return self.lm_head(self.ln_f(x))

    @mg.no_grad()
    def sample(self, n, seed=0, temperature=1.0):
        """n names, drawn character by character (all n at once), each until '.' or until the
        context is full."""
        was_training = self.training
        self.eval()
        rng = np.random.default_rng(seed)
        idx = np.zeros((n, 1), dtype=np.int64)  # every name starts after '.'
        done = np.zeros(n, dtype=bool)
        while idx.shape[1] < self.block_size and not done.all():
            logits = self(backend.to_device(idx, self.wte.weight.device)).numpy()[:, -1]
            z = logits.astype(np.float64) / temperature
            p = np.exp(z - z.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            nxt = (p.cumsum(axis=1) > rng.random((n, 1))).argmax(axis=1)  # one draw per row
            nxt[done] = 0
            done |= nxt == 0
            idx = np.concatenate([idx, nxt[:, None]], axis=1)
        self.train(was_training)
        return ["".join(ALPHABET[i] for i in row[1:]).split(".")[0] for row in idx]
