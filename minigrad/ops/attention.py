"""Scaled dot-product attention as one op, with the closed-form backward.

    S = scale · Q Kᵀ + bias        (bias: 0 where allowed, -inf where masked, or a float mask)
    P = softmax(S) along the keys
    Y = dropout(P) V

One graph node instead of six (matmul, scale, add, softmax, dropout, matmul): fewer Python calls
per step, and the softmax backward is the exact dS = P ⊙ (dP - Σ dP ⊙ P) rather than a chain of
primitives. The matmuls are batched over every leading axis: (..., L, E) x (..., E, S).
The backward is one formula for both passes (minigrad/function.py); the recorded one recomputes
P from the input Tensors with `probabilities`, the helper forward uses.
"""
from __future__ import annotations

from typing import Any

from ..backend import Array, device_of, keep_mask
from ..function import Function, sum_to
from .primitives import array_module, exp, raw, recording, swap_last


class ScaledDotProductAttention(Function):
    """softmax(scale · q kᵀ + bias) v over the last two axes, as torch's math backend.

    `bias` is a constant array added to the scores (the causal and boolean masks, as 0 / -inf),
    or None. A float attention mask that may need a gradient is the op's fourth input instead.
    `dropout_p` drops attention weights: the keep mask is drawn in forward, after apply() has
    checked the inputs, so a refused call draws nothing from the generator.
    A query row whose every key is masked gets zero weights (not NaN), as torch does.
    """

    saves = ((1, 2), (0, 2), (), (2,))  # dP = dY Vᵀ feeds the gradients of q, k and the mask

    def __init__(self, scale: float, bias: Array | None = None, dropout_p: float = 0.0) -> None:
        self.scale, self.bias, self.dropout_p = scale, bias, dropout_p

    def probabilities(self, q: Any, k: Any, mask: Any = None) -> Any:
        """P = softmax(scale · q kᵀ + bias + mask) along the keys, of arrays or Tensors."""
        s = (q @ swap_last(k)) * q.dtype.type(self.scale)
        masked = self.bias is not None or mask is not None
        if self.bias is not None:
            s = s + self.bias  # broadcasting may grow s to the mask's batch shape
        if mask is not None:
            s = s + mask
        # softmax along the keys, less the maximum (a constant: it cancels) for stability
        xp, s_values = array_module(s), raw(s)
        m = s_values.max(axis=-1, keepdims=True) if s_values.size else s_values
        if masked:  # a fully masked row has max -inf: shift by 0 instead, so exp gives 0, not NaN
            m = xp.where(xp.isfinite(m), m, 0)
        e = exp(s - m)
        z = e.sum(axis=-1, keepdims=True)
        if masked:  # a fully masked row sums to 0: divide by 1 instead, for weights of 0
            z = z + (raw(z) == 0)
        return e / z

    def forward(self, q: Array, k: Array, v: Array, mask: Array | None = None) -> Array:
        p = self.probabilities(q, k, mask)
        self.q, self.k, self.v, self.p = q, k, v, p
        self.mask_shape = None if mask is None else mask.shape
        self.keep = None
        if self.dropout_p > 0.0:  # the scores' shape, before any broadcast with the mask
            self.keep = keep_mask(q.shape[:-2] + (q.shape[-2], k.shape[-2]), self.dropout_p,
                                  q.dtype, device_of(q))
        self.pd = p if self.keep is None else p * self.keep * p.dtype.type(1 / (1 - self.dropout_p))
        return self.pd @ v

    def backward(self, gy: Any) -> tuple[Any, ...]:
        if recording(gy):
            q, k, v = self.inputs[:3]
            p = self.probabilities(q, k, self.inputs[3] if len(self.inputs) == 4 else None)
            pd = p if self.keep is None else p * self.keep * p.dtype.type(1 / (1 - self.dropout_p))
        else:
            q, k, v, p, pd = self.q, self.k, self.v, self.p, self.pd
        needs = self.needs_input_grad
        # Y = Pd V
        gv = sum_to(swap_last(pd) @ gy, v.shape) if needs[2] else None
        gp = gy @ swap_last(v)
        if self.keep is not None:  # Pd = P ⊙ keep / (1 - p)
            gp = gp * self.keep * gp.dtype.type(1 / (1 - self.dropout_p))
        # P = softmax(S): dS = P ⊙ (dP - Σ_j dP_j P_j)
        gs = p * (gp - (gp * p).sum(axis=-1, keepdims=True))
        # S = scale · Q Kᵀ + mask
        scale = gs.dtype.type(self.scale)
        gq = sum_to((gs @ k) * scale, q.shape) if needs[0] else None
        gk = sum_to((swap_last(gs) @ q) * scale, k.shape) if needs[1] else None
        if len(needs) == 3:
            return gq, gk, gv
        return gq, gk, gv, sum_to(gs, self.mask_shape) if needs[3] else None
