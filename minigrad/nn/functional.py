"""Functions of tensors with torch.nn.functional's names, arguments and numerics."""
from __future__ import annotations

from typing import Any, Union

import numpy as np
from numpy.typing import ArrayLike

from .. import backend, ops, tracer
from ..backend import Array
from ..tensor import Tensor, as_constant, increment_version

# in the hints: where torch takes a tensor, a raw NumPy/CuPy array works too (as a constant)
TensorLike = Union[Tensor, Array]


def _index_array(x: Any, name: str, like: Array) -> Array:
    """An integer index/target as a raw array on `like`'s device (see as_constant)."""
    x = as_constant(x, like, name)
    if x.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integers, got dtype {x.dtype}")
    return x


def _float_tensor(x: TensorLike, name: str, op: str) -> Tensor:
    """A floating-point Tensor (or array) `x`, else a TypeError naming `op` and the dtype."""
    x = _tensor(x, name)
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: {name} must be a floating-point tensor, got dtype {x.dtype}")
    return x


def _tensor(x: TensorLike, name: str = "input") -> Tensor:
    """Accept a raw NumPy/CuPy array where a Tensor is expected (as a constant)."""
    if isinstance(x, Tensor):
        return x
    if backend.is_array(x):
        return Tensor(x)
    raise TypeError(f"{name} must be a Tensor or an array, got {type(x).__name__}")


def linear(input: TensorLike, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y = input @ weightᵀ + bias, weight of shape (out_features, in_features)."""
    input = _float_tensor(input, "input", "linear")
    if weight.ndim != 2:
        raise ValueError(f"linear: weight must be 2-D (out_features, in_features), got shape "
                         f"{weight.shape}")
    if input.ndim == 0:
        raise ValueError(f"linear: input must have at least 1 dimension (..., "
                         f"{weight.shape[1]}), got a 0-d tensor")
    if bias is not None and tuple(bias.shape) != (weight.shape[0],):
        raise ValueError(f"linear: bias has shape {tuple(bias.shape)}, expected "
                         f"({weight.shape[0]},) for weight of shape {weight.shape}")
    if input.shape[-1] != weight.shape[1]:
        raise ValueError(f"linear: input has shape {input.shape} (last dim {input.shape[-1]}), "
                         f"weight has shape {weight.shape} (expects {weight.shape[1]} features)")
    if bias is None:
        return ops.Linear().apply(input, weight)
    return ops.Linear().apply(input, weight, bias)


def relu(x: Tensor) -> Tensor:
    """max(x, 0)."""
    return x.relu()


def tanh(x: Tensor) -> Tensor:
    """tanh(x)."""
    return x.tanh()


def sigmoid(x: Tensor) -> Tensor:
    """1 / (1 + e^-x)."""
    return x.sigmoid()


def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    """x Φ(x); approximate='tanh' uses the tanh approximation (as torch)."""
    return ops.GELU(approximate).apply(x)


def softmax(x: Tensor, axis: int = -1) -> Tensor:
    """exp(x) / Σ exp(x) along axis."""
    return x.softmax(axis)


def log_softmax(x: Tensor, axis: int = -1) -> Tensor:
    """x - log Σ exp(x) along axis."""
    return x.log_softmax(axis)


def embedding(input: Tensor | ArrayLike, weight: Tensor, padding_idx: int | None = None,
              max_norm: float | None = None, norm_type: float = 2.0, sparse: bool = False) -> Tensor:
    """Rows of `weight` at the integer indices `input` (any shape): output input.shape + (D,).

    padding_idx: that row gets no gradient. max_norm: looked-up rows whose norm exceeds it are
    rescaled to max_norm / (norm + 1e-7) of themselves in place first (torch.embedding_renorm_).
    sparse: weight.grad is a minigrad.sparse.RowSparseGrad holding only the looked-up rows.
    """
    idx = _index_array(input, "embedding input", weight.data)
    if weight.ndim != 2:
        raise ValueError(f"embedding: weight must be 2-D (num_embeddings, embedding_dim), got "
                         f"shape {weight.shape}")
    V = weight.shape[0]
    if padding_idx is not None and not -V <= padding_idx < V:
        raise ValueError(f"embedding: padding_idx {padding_idx} must be within num_embeddings "
                         f"({V})")
    if padding_idx is not None and padding_idx < 0:
        padding_idx += V
    if max_norm is not None:
        if tracer.active is not None:
            tracer.active.cannot("embedding with max_norm renormalises rows chosen by the "
                                 "indices' values, in place")
        ops.nn.check_indices(idx, V)  # before the rows are written (the op checks them too)
        _renorm_rows(weight.data, idx, max_norm, norm_type)
        increment_version(weight)  # written in place, as torch counts it
    return ops.Embedding(idx, padding_idx, sparse).apply(weight)


def _renorm_rows(W: Array, idx: Array, max_norm: float, norm_type: float) -> None:
    xp = backend.get_array_module(W)
    rows = xp.unique(idx.reshape(-1))
    norms = (xp.abs(W[rows]) ** norm_type).sum(axis=1) ** (1.0 / norm_type)
    scale = xp.where(norms > max_norm, max_norm / (norms + 1e-7), 1.0).astype(W.dtype)
    W[rows] *= scale[:, None]


def batch_norm(input: TensorLike, running_mean: TensorLike | None, running_var: TensorLike | None,
               weight: Tensor | None = None, bias: Tensor | None = None, training: bool = False,
               momentum: float | None = 0.1, eps: float = 1e-5, num_batches_tracked: Array | None = None
               ) -> Tensor:
    """Batch normalisation over (N, C) or (N, C, L) input, per channel C.

    Training normalises with the batch's biased variance and, when running statistics are
    given, updates them in place: running = (1 - momentum) running + momentum batch, storing the
    unbiased variance. momentum=None is the cumulative average (factor 1 / batches seen, with
    num_batches_tracked a 0-d integer array incremented here). Evaluation uses the running
    statistics.
    """
    input = _float_tensor(input, "input", "batch_norm")
    if input.ndim not in (2, 3):
        raise ValueError(f"batch_norm expects (N, C) or (N, C, L) input, got shape {input.shape}")
    C = input.shape[1]
    for name, a in (("weight", weight), ("bias", bias), ("running_mean", running_mean),
                    ("running_var", running_var)):
        if a is not None and tuple(a.shape) != (C,):
            raise ValueError(f"batch_norm: {name} has shape {tuple(a.shape)}, expected ({C},)")
    m = input.shape[0] * (input.shape[2] if input.ndim == 3 else 1)  # values per channel
    if training and m <= 1:
        raise ValueError(f"Expected more than 1 value per channel when training, got input "
                         f"size {input.shape}")
    rm = running_mean.data if isinstance(running_mean, Tensor) else running_mean
    rv = running_var.data if isinstance(running_var, Tensor) else running_var
    if not training and (rm is None or rv is None):
        raise ValueError("batch_norm in evaluation mode needs running_mean and running_var")
    if (weight is None) != (bias is None):  # as torch, either alone: the other is 1 or 0
        given = weight if weight is not None else bias
        fill = (given.data * 0 + 1) if weight is None else given.data * 0
        weight, bias = (Tensor(fill), bias) if weight is None else (weight, Tensor(fill))
    op = ops.BatchNorm(training, eps, rm, rv)
    y = op.apply(input) if weight is None else op.apply(input, weight, bias)
    if training and rm is not None:
        _update_running_stats(op, rm, rv, momentum, num_batches_tracked, m)
    return y


@tracer.replayed(graph="after")  # outside the graph: mg.compile's replay makes this call again
def _update_running_stats(op: ops.BatchNorm, rm: Array, rv: Array, momentum: float | None,
                          num_batches_tracked: Array | None, m: int) -> None:
    """running = (1 - momentum) running + momentum batch, in place, with the unbiased variance
    of the batch statistics that `op` computed (m values per channel)."""
    if num_batches_tracked is not None:
        num_batches_tracked += 1
    factor = momentum if momentum is not None else 1.0 / float(num_batches_tracked)
    rm *= 1 - factor
    rm += factor * op.mean
    rv *= 1 - factor
    rv += factor * op.var * (m / (m - 1))


def dropout(input: TensorLike, p: float = 0.5, training: bool = True) -> Tensor:
    """Zero each element with probability p and scale the rest by 1/(1-p) (inverted dropout)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    input = _tensor(input)
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return input * 0.0
    mask = backend.keep_mask(input.shape, p, input.dtype, backend.device_of(input.data))
    return ops.Dropout(mask, p).apply(input)


def cross_entropy(input: TensorLike, target: Tensor | ArrayLike, ignore_index: int = -100, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """Softmax cross entropy of logits (N, C), or (N, C, d1, ...), against class indices or
    class probabilities, as torch.nn.functional.cross_entropy (no class weights).

    reduction 'mean' divides by the number of targets not equal to ignore_index; label
    smoothing ε mixes the target with the uniform distribution: (1-ε)·target + ε/C. Stable for
    logits of any size (the maximum is subtracted before exp).
    """
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    input = _float_tensor(input, "input", "cross_entropy")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing}")
    t = as_constant(target, input.data, "cross_entropy target")
    if input.ndim == 0:
        raise ValueError("cross_entropy: input must be logits (C,), (N, C) or (N, C, d1, ...), "
                         "got a 0-d tensor")
    # the target's shape, checked before it is reshaped: class indices have the logits' shape
    # without the class axis; class probabilities have the logits' shape
    expected = input.shape if t.dtype.kind == "f" else input.shape[:1] + input.shape[2:]
    if input.ndim == 1 and t.dtype.kind != "f":
        expected = ()
    if t.shape != expected:
        kind = "probability target" if t.dtype.kind == "f" else "target"
        raise ValueError(f"cross_entropy: {kind} has shape {t.shape}, expected {expected} for "
                         f"logits of shape {input.shape}")
    single = input.ndim == 1
    C = input.shape[0] if single else input.shape[1]
    loss_shape = () if single else input.shape[:1] + input.shape[2:]  # for reduction='none'
    if single:  # a single example of C logits
        input = input.reshape(1, C)
        t = t.reshape(1, C) if t.dtype.kind == "f" else t.reshape(1)
    spatial = input.shape[2:]
    if spatial:  # (N, C, d...) -> (N*d..., C)
        axes = (0,) + tuple(range(2, input.ndim)) + (1,)
        input = input.transpose(axes).reshape(-1, C)
        t = t.transpose(axes).reshape(-1, C) if t.dtype.kind == "f" else t.reshape(-1)
    if t.dtype.kind == "f":
        t = t.astype(input.dtype, copy=False)
    else:
        t = _index_array(t, "cross_entropy target", input.data)
    loss = ops.CrossEntropy(t, ignore_index, label_smoothing, reduction).apply(input)
    if reduction == "none" and (spatial or single):
        loss = loss.reshape(loss_shape)
    return loss


def mse_loss(input: TensorLike, target: TensorLike, reduction: str = "mean") -> Tensor:
    """Mean (or sum) of squared differences."""
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    input, target = _tensor(input), _tensor(target, "target")
    if input.shape != target.shape:
        raise ValueError(f"mse_loss: input has shape {input.shape}, target has shape "
                         f"{target.shape}")
    d = input - target
    sq = d * d
    if reduction == "none":
        return sq
    return sq.sum() if reduction == "sum" else sq.mean()


def binary_cross_entropy_with_logits(input: TensorLike, target: Tensor | ArrayLike, reduction: str = "mean") -> Tensor:
    """-[y log σ(z) + (1 - y) log(1 - σ(z))], computed stably as max(z, 0) - z y + log(1 + e^-|z|)."""
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    input = _tensor(input)
    target = Tensor(as_constant(target, input.data, "binary_cross_entropy_with_logits: target")
                    .astype(input.dtype, copy=False))
    if input.shape != target.shape:
        raise ValueError(f"binary_cross_entropy_with_logits: input has shape {input.shape}, "
                         f"target has shape {target.shape}")
    loss = ops.BinaryCrossEntropyWithLogits(target.data).apply(input)
    if reduction == "none":
        return loss
    return loss.sum() if reduction == "sum" else loss.mean()


def layer_norm(input: TensorLike, normalized_shape: int | tuple[int, ...] | list[int],
               weight: TensorLike | None = None, bias: TensorLike | None = None, eps: float = 1e-5) -> Tensor:
    """(x - μ) / sqrt(σ² + eps) · weight + bias, with μ and the biased σ² over the last
    len(normalized_shape) axes of each example, as torch.nn.functional.layer_norm."""
    input = _float_tensor(input, "input", "layer_norm")
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    n = len(shape)
    if n == 0 or input.ndim < n or tuple(input.shape[input.ndim - n:]) != shape:
        raise ValueError(f"layer_norm: normalized_shape {shape} must be the last dimensions of "
                         f"the input, got input of shape {input.shape}")
    for name, a in (("weight", weight), ("bias", bias)):
        if a is not None and tuple(a.shape) != shape:
            raise ValueError(f"layer_norm: {name} has shape {tuple(a.shape)}, expected {shape}")
    affine = [_tensor(a, name) for name, a in (("weight", weight), ("bias", bias)) if a is not None]
    return ops.LayerNorm(n, eps, weight is not None, bias is not None).apply(input, *affine)


def scaled_dot_product_attention(query: TensorLike, key: TensorLike, value: TensorLike,
                                 attn_mask: Tensor | ArrayLike | None = None, dropout_p: float = 0.0,
                                 is_causal: bool = False, scale: float | None = None) -> Tensor:
    """softmax(scale · query keyᵀ + mask) value, as torch.nn.functional.scaled_dot_product_attention.

    query (..., L, E), key (..., S, E), value (..., S, Ev) -> (..., L, Ev); scale defaults to
    1/sqrt(E). attn_mask broadcasts to (..., L, S): a boolean mask says which keys each query may
    attend to (True: attend), a float mask is added to the scores (and gets a gradient).
    is_causal masks key j > query i (top-left aligned, torch.ones(L, S).tril()); given together
    with attn_mask, both apply (as torch does, except that it refuses the pair when a float mask
    needs a gradient). A query that may attend to no key outputs zeros. dropout_p drops
    attention weights (the caller passes 0.0 in evaluation, as in torch).
    """
    q, k, v = (_float_tensor(t, name, "scaled_dot_product_attention")
               for t, name in ((query, "query"), (key, "key"), (value, "value")))
    if q.ndim < 2 or k.ndim != q.ndim or v.ndim != q.ndim:
        raise ValueError(f"scaled_dot_product_attention: query, key and value need the same "
                         f"number (>= 2) of dimensions, got shapes {q.shape}, {k.shape}, {v.shape}")
    if q.shape[:-2] != k.shape[:-2] or k.shape[:-2] != v.shape[:-2] or q.shape[-1] != k.shape[-1] \
            or k.shape[-2] != v.shape[-2]:
        raise ValueError(f"scaled_dot_product_attention: expected query (..., L, E), key (..., S, "
                         f"E), value (..., S, Ev) with one batch shape, got {q.shape}, {k.shape}, "
                         f"{v.shape}")
    if not 0.0 <= dropout_p < 1.0:
        raise ValueError(f"scaled_dot_product_attention: dropout_p must be in [0, 1), got {dropout_p}")
    if q.dtype != k.dtype or q.dtype != v.dtype:
        raise TypeError(f"scaled_dot_product_attention: query, key and value must share a dtype, "
                        f"got {q.dtype}, {k.dtype}, {v.dtype}")
    xp = backend.get_array_module(q.data)
    L, S = q.shape[-2], k.shape[-2]
    scores_shape = q.shape[:-2] + (L, S)
    mask = None
    if attn_mask is not None:
        if not (isinstance(attn_mask, Tensor) or backend.is_array(attn_mask)):
            raise TypeError(f"scaled_dot_product_attention: attn_mask must be a Tensor or an "
                            f"array, got {type(attn_mask).__name__}")
        mask = as_constant(attn_mask, q.data, "scaled_dot_product_attention: attn_mask")
        if mask.dtype.kind != "b" and mask.dtype != q.dtype:
            raise TypeError(f"scaled_dot_product_attention: attn_mask must be boolean or of the "
                            f"query's dtype {q.dtype}, got dtype {mask.dtype}")
        try:
            if np.broadcast_shapes(mask.shape, scores_shape) != scores_shape:
                raise ValueError
        except ValueError:
            raise ValueError(f"scaled_dot_product_attention: attn_mask of shape {mask.shape} does "
                             f"not broadcast to the scores' shape {scores_shape}") from None
    # every constant mask becomes one additive bias of 0 (attend) and -inf (masked)
    allowed = None
    if is_causal:
        allowed = xp.tril(xp.ones((L, S), dtype=bool))
    if mask is not None and mask.dtype.kind == "b":
        allowed = mask if allowed is None else allowed & mask
    bias = None
    if allowed is not None:
        bias = xp.where(allowed, q.dtype.type(0), q.dtype.type(-np.inf))
    scale = 1.0 / np.sqrt(q.shape[-1]) if scale is None else float(scale)
    op = ops.ScaledDotProductAttention(scale, bias, dropout_p)
    if mask is not None and mask.dtype.kind == "f":  # a Tensor mask may take a gradient
        return op.apply(q, k, v, attn_mask if isinstance(attn_mask, Tensor) else Tensor(mask))
    return op.apply(q, k, v)
