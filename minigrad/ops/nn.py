"""Fused layer ops: linear, embedding, batch norm, cross entropy, dropout.

Each is one graph node with a hand-written backward: fewer nodes means less Python per step, and
the closed-form gradients (batch norm, softmax cross entropy) are both faster and more accurate
than the same function built from primitives. Each backward is one formula for both passes
(minigrad/function.py); in the recorded one, what forward kept of its intermediates (batch norm's
x̂, the softmax of the logits) is recomputed from the input Tensors by the same helper forward
used, so that its own derivative is part of the graph.
"""
from __future__ import annotations

import math
from typing import Any

from .. import backend
from ..backend import Array, get_array_module
from ..function import Function
from ..sparse import RowSparseGrad
from .primitives import index_add, recording, sqrt, subtract_at


def check_indices(idx: Array, V: int) -> None:
    """Every index in [0, V), else an IndexError naming the first bad one's value."""
    if idx.size and (int(idx.min()) < 0 or int(idx.max()) >= V):
        bad = int(idx.min()) if int(idx.min()) < 0 else int(idx.max())
        raise IndexError(f"embedding: index {bad} is out of range for {V} embeddings")


def check_targets(t: Array, ignore_index: int, C: int) -> None:
    """Every class index other than ignore_index in [0, C), else an IndexError."""
    valid = t[t != ignore_index]
    if valid.size and (int(valid.min()) < 0 or int(valid.max()) >= C):
        bad = int(valid.min()) if int(valid.min()) < 0 else int(valid.max())
        raise IndexError(f"cross_entropy: target {bad} is out of bounds for {C} classes")


class Linear(Function):
    """y = x Wᵀ + b, with W of shape (out_features, in_features) as in torch.nn.Linear."""

    saves = ((1,), (0,), ())

    def forward(self, x: Array, W: Array, b: Array | None = None) -> Array:
        self.x, self.W = x, W
        y = x @ W.T
        if b is not None:
            y += b
        return y

    def backward(self, gy: Any) -> tuple[Any, ...]:
        if recording(gy):
            x, W = self.inputs[0], self.inputs[1]
        else:
            x, W = self.x, self.W
        needs = self.needs_input_grad
        gx = gy @ W if needs[0] else None
        rows = math.prod(gy.shape[:-1])
        gy2 = gy.reshape(rows, gy.shape[-1])  # explicit rows: -1 is ambiguous for zero-size
        gW = gy2.T @ x.reshape(rows, x.shape[-1]) if needs[1] else None
        if len(needs) == 2:
            return gx, gW
        return gx, gW, gy2.sum(axis=0) if needs[2] else None


class Embedding(Function):
    """W[indices]; backward scatter-adds the rows (repeated indices accumulate), into a dense
    array, or with sparse=True into a RowSparseGrad of the touched rows only."""

    def __init__(self, indices: Array, padding_idx: int | None = None, sparse: bool = False) -> None:
        self.indices, self.padding_idx, self.sparse = indices, padding_idx, sparse

    def forward(self, W: Array) -> Array:
        if not backend.capturing:  # here, so that a compiled step's replay checks too
            self.check(W)
        self.shape = W.shape
        return W[self.indices]

    def check(self, W: Array) -> None:
        check_indices(self.indices, W.shape[0])

    def backward(self, gy: Any) -> tuple[Any]:
        if self.sparse:  # the padding row never appears
            if recording(gy):
                raise RuntimeError(
                    "Embedding with sparse=True: its second derivative is not supported (a "
                    "RowSparseGrad cannot be recorded); use sparse=False with create_graph=True")
            return (RowSparseGrad.from_rows(self.indices, gy, self.shape, exclude=self.padding_idx),)
        index = self.indices.reshape(-1)
        rows = gy.reshape(self.indices.size, self.shape[1])  # explicit: -1 is ambiguous if D = 0
        if self.padding_idx is not None:  # the padding row never receives a gradient
            rows = rows * (index != self.padding_idx).reshape(-1, 1)
        return (index_add(self.shape, index, rows),)


class BatchNorm(Function):
    """y = γ (x - μ) / sqrt(σ² + eps) + β over the batch (and length) axes, per channel.

    Training normalises with the batch's biased variance; evaluation with the given running
    statistics. The batch statistics are left in `self.mean` and `self.var` for the caller.
    """

    def __init__(self, training: bool, eps: float, running_mean: Array | None = None,
                 running_var: Array | None = None) -> None:
        self.training, self.eps = training, eps
        self.running_mean, self.running_var = running_mean, running_var

    def forward(self, x: Array, gamma: Array | None = None, beta: Array | None = None) -> Array:
        xp = get_array_module(x)
        # one backward formula reads x and γ for all three gradients (as torch; β is not read)
        self.saves = ((0,),) if gamma is None else ((0, 1),) * 3
        self.axes = (0,) if x.ndim == 2 else (0, 2)
        self.pshape = (1, x.shape[1]) if x.ndim == 2 else (1, x.shape[1], 1)
        if self.training:
            self.mean, self.var, self.inv_std, self.xhat = self.normalize(x)
        else:
            self.inv_std = 1 / xp.sqrt(self.running_var + self.eps)
            self.xhat = self.normalize(x)[3]
        self.gamma = gamma
        y = self.xhat
        if gamma is not None:
            y = y * gamma.reshape(self.pshape) + beta.reshape(self.pshape)
        return y

    def normalize(self, x: Any) -> tuple[Any, ...]:
        """(μ, σ², 1/sqrt(σ² + eps), x̂) of an array or a Tensor x: the batch's statistics in
        training, the running ones (constants) in evaluation, where only x̂ is computed."""
        axes, pshape = self.axes, self.pshape
        if not self.training:
            return None, None, self.inv_std, (x - self.running_mean.reshape(pshape)) * self.inv_std.reshape(pshape)
        mean = x.mean(axis=axes)
        xc = x - mean.reshape(pshape)
        var = (xc * xc).mean(axis=axes)
        inv_std = 1 / sqrt(var + self.eps)
        return mean, var, inv_std, xc * inv_std.reshape(pshape)

    def backward(self, gy: Any) -> tuple[Any, ...]:
        axes, pshape = self.axes, self.pshape
        if recording(gy):
            _, _, inv_std, xhat = self.normalize(self.inputs[0])
            gamma = self.inputs[1] if self.gamma is not None else None
        else:
            inv_std, xhat, gamma = self.inv_std, self.xhat, self.gamma
        g_xhat = gy * gamma.reshape(pshape) if gamma is not None else gy
        if self.training:
            m = xhat.size // xhat.shape[1]
            # d/dx of the normalisation, with μ and σ² depending on x
            gx = (inv_std.reshape(pshape) / m) * (
                m * g_xhat - g_xhat.sum(axis=axes).reshape(pshape)
                - xhat * (g_xhat * xhat).sum(axis=axes).reshape(pshape))
        else:
            gx = g_xhat * inv_std.reshape(pshape)
        if self.gamma is None:
            return (gx,)
        return gx, (gy * xhat).sum(axis=axes), gy.sum(axis=axes)


class CrossEntropy(Function):
    """Softmax cross entropy over the last axis of 2-D logits (N, C).

    `target` holds class indices (N,) or class probabilities (N, C). With label smoothing ε the
    target distribution is (1-ε)·target + ε/C. Rows whose index is `ignore_index` are left out
    of the loss and of the mean's count, as in torch.nn.functional.cross_entropy.
    """

    def __init__(self, target: Array, ignore_index: int = -100, label_smoothing: float = 0.0,
                 reduction: str = "mean") -> None:
        self.target, self.ignore_index = target, ignore_index
        self.eps, self.reduction = label_smoothing, reduction

    def forward(self, z: Array) -> Array:
        xp = get_array_module(z)
        N, C = z.shape
        zc = z - z.max(axis=1, keepdims=True) if z.size else z  # empty: no maximum to take
        e = xp.exp(zc)
        s = e.sum(axis=1, keepdims=True)
        logp = zc - xp.log(s)
        self.p = e / s
        t = self.target
        if t.dtype.kind == "f":  # class probabilities
            q = t * (1 - self.eps) + self.eps / C if self.eps else t
            self.q, self.valid, self.count = q, None, N
            loss = -(q * logp).sum(axis=1)
        else:
            if not backend.capturing:  # here: a compiled step's replay checks too
                check_targets(t, self.ignore_index, C)
            self.valid = t != self.ignore_index
            safe_t = xp.where(self.valid, t, 0)
            self.safe_t = safe_t
            rows = self.rows = xp.arange(N)
            nll = -logp[rows, safe_t]
            loss = (1 - self.eps) * nll
            if self.eps:
                loss = loss - (self.eps / C) * logp.sum(axis=1)
            loss = loss * self.valid
            self.count = self.valid.sum().astype(z.dtype)
        if self.reduction == "none":
            return loss
        if self.reduction == "sum":
            return loss.sum()
        return loss.sum() / self.count

    def check(self, z: Array) -> None:
        if self.target.dtype.kind != "f":
            check_targets(self.target, self.ignore_index, z.shape[1])

    def backward(self, gy: Any) -> tuple[Any, ...]:
        p = self.inputs[0].softmax(1) if recording(gy) else self.p
        # d/dz of -Σ q log softmax(z) is softmax(z) Σq - q, for the target distribution q
        if self.valid is None:
            gz = p * self.q.sum(axis=1, keepdims=True) - self.q
        else:  # q: 1 - ε at the target, plus ε/C everywhere (Σq = 1), and 0 in ignored rows
            N, C = self.p.shape
            gz = subtract_at(p, (self.rows, self.safe_t), 1 - self.eps)
            if self.eps:
                gz = gz - self.eps / C
            gz = gz * self.valid.reshape(N, 1)
        if self.reduction == "none":
            return (gz * gy.reshape(-1, 1),)
        if self.reduction == "mean":
            gy = gy / self.count
        return (gz * gy,)


class BinaryCrossEntropyWithLogits(Function):
    """Elementwise max(z, 0) - z y + log(1 + e^-|z|); backward σ(z) - y, exact at z = 0 too."""

    saves = ((0,),)

    def __init__(self, target: Array) -> None:
        self.target = target

    def forward(self, z: Array) -> Array:
        xp = get_array_module(z)
        self.z = z
        return xp.maximum(z, 0) - z * self.target + xp.log1p(xp.exp(-xp.abs(z)))

    def backward(self, gy: Any) -> tuple[Any, ...]:
        z = self.inputs[0] if recording(gy) else self.z
        return (gy * (_sigmoid(z) - self.target),)


def _sigmoid(z: Any) -> Any:
    """σ(z) of an array (with tanh: no overflow) or a Tensor (its sigmoid op, the same formula)."""
    return z.sigmoid() if recording(z) else 0.5 * get_array_module(z).tanh(0.5 * z) + 0.5


class Dropout(Function):
    """x · mask / (1 - p): the mask is a fixed boolean array drawn by the caller."""

    def __init__(self, mask: Array, p: float) -> None:
        self.mask, self.scale = mask, 1.0 / (1.0 - p)

    def forward(self, x: Array) -> Array:
        return x * self.mask * x.dtype.type(self.scale)

    def backward(self, gy: Any) -> tuple[Any, ...]:
        return (gy * self.mask * gy.dtype.type(self.scale),)
