"""Layer normalisation as one op, with the closed-form backward (as ops/nn.py does for BatchNorm).

    y = γ ⊙ (x - μ) / sqrt(σ² + eps) + β

with μ and σ² (biased) over the last `n` axes of each example, not over the batch: so training
and evaluation compute the same thing and there are no running statistics (Ba et al. 2016).
The backward is one formula for both passes (minigrad/function.py); the recorded one recomputes
x̂ and 1/sqrt(σ² + eps) from the input Tensor with `normalize`, the helper forward uses.
"""
from __future__ import annotations

from typing import Any

from ..backend import Array
from ..function import Function
from .primitives import recording, sqrt


class LayerNorm(Function):
    """Normalise over the last `n` axes; inputs x, then optionally γ, then optionally β."""

    def __init__(self, n: int, eps: float, has_weight: bool, has_bias: bool) -> None:
        self.n, self.eps, self.has_weight, self.has_bias = n, eps, has_weight, has_bias
        # torch's one backward formula takes x, γ and β for every gradient: all saved
        self.saves = (tuple(range(1 + has_weight + has_bias)),) * (1 + has_weight + has_bias)

    def forward(self, x: Array, *affine: Array) -> Array:
        self.axes = tuple(range(x.ndim - self.n, x.ndim))
        self.xhat, self.rstd = self.normalize(x)
        self.gamma = affine[0] if self.has_weight else None
        y = self.xhat if self.gamma is None else self.xhat * self.gamma
        if self.has_bias:
            y = y + affine[-1]
        return y

    def normalize(self, x: Any) -> tuple[Any, Any]:
        """(x̂, 1/sqrt(σ² + eps)) of an array or a Tensor x, over the normalised axes."""
        mean = x.mean(axis=self.axes, keepdims=True)
        xc = x - mean
        var = (xc * xc).mean(axis=self.axes, keepdims=True)  # biased, as torch
        rstd = 1 / sqrt(var + x.dtype.type(self.eps))
        return xc * rstd, rstd

    def backward(self, gy: Any) -> tuple[Any, ...]:
        axes = self.axes
        if recording(gy):
            xhat, rstd = self.normalize(self.inputs[0])
            gamma = self.inputs[1] if self.has_weight else None
        else:
            xhat, rstd, gamma = self.xhat, self.rstd, self.gamma
        needs = self.needs_input_grad
        g = gy if gamma is None else gy * gamma  # d/d x̂
        # d/dx of x̂ = (x - μ) · rstd, with μ and σ² depending on x
        gx = rstd * (g - g.mean(axis=axes, keepdims=True)
                          - xhat * (g * xhat).mean(axis=axes, keepdims=True)) if needs[0] else None
        lead = tuple(range(gy.ndim - self.n))  # the affine parameters are shared over these
        out = [gx]
        if self.has_weight:
            out.append((gy * xhat).sum(axis=lead) if needs[len(out)] else None)
        if self.has_bias:
            out.append(gy.sum(axis=lead) if needs[len(out)] else None)
        return tuple(out)
