"""Causal multi-head self-attention, the mixing layer of a decoder-only transformer.

Written as in nanoGPT (`model.py`, CausalSelfAttention) rather than as torch.nn.MultiheadAttention:
a decoder only ever attends a sequence to itself, causally, so the module is one projection to
queries, keys and values, one attention call and one output projection, in twenty lines a learner
can read. It computes exactly what torch.nn.MultiheadAttention(n_embd, n_head, batch_first=True)
computes on (x, x, x) with a causal mask, with c_attn as in_proj and c_proj as out_proj (the tests
hold it to that).
"""
from __future__ import annotations

from numpy.typing import DTypeLike

from ..backend import Device
from ..tensor import Tensor
from . import functional as F
from .layers import Dropout, Linear, _flag, _number, _size
from .module import Module


class CausalSelfAttention(Module):
    """x (B, T, n_embd) -> (B, T, n_embd): each position attends to itself and the positions
    before it, in n_head heads of n_embd // n_head dimensions each.

    c_attn: Linear(n_embd, 3 n_embd), the queries, keys and values side by side (q | k | v);
    c_proj: Linear(n_embd, n_embd). dropout applies to the attention weights and to the output,
    in training only. Both Linears have torch.nn.Linear's initialisation.
    """

    def __init__(self, n_embd: int, n_head: int, bias: bool = True, dropout: float = 0.0,
                 dtype: DTypeLike | None = None, device: Device = "cpu") -> None:
        n_embd = _size("CausalSelfAttention", "n_embd", n_embd)
        n_head = _size("CausalSelfAttention", "n_head", n_head, minimum=1)
        if n_embd % n_head:
            raise ValueError(f"CausalSelfAttention: n_embd ({n_embd}) must be a positive multiple "
                             f"of n_head ({n_head})")
        dropout = _number("CausalSelfAttention", "dropout", dropout, 0.0, 1.0)
        bias = _flag("CausalSelfAttention", "bias", bias)
        self.n_embd, self.n_head, self.dropout = n_embd, n_head, dropout
        self.c_attn = Linear(n_embd, 3 * n_embd, bias=bias, dtype=dtype, device=device)
        self.c_proj = Linear(n_embd, n_embd, bias=bias, dtype=dtype, device=device)
        self.resid_dropout = Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 3 or x.shape[-1] != self.n_embd:
            raise ValueError(f"CausalSelfAttention({self.n_embd}, {self.n_head}) expects input "
                             f"(B, T, {self.n_embd}), got shape {x.shape}")
        B, T, C = x.shape
        H = self.n_head
        # (B, T, 3C) -> (3, B, H, T, C/H): one batched matmul per head and example
        qkv = self.c_attn(x).reshape(B, T, 3, H, C // H).transpose(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0,
                                           is_causal=True)
        y = y.transpose(0, 2, 1, 3).reshape(B, T, C)  # the heads side by side again
        return self.resid_dropout(self.c_proj(y))

    def extra_repr(self) -> str:
        return f"n_embd={self.n_embd}, n_head={self.n_head}, dropout={self.dropout}"
