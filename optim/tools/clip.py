"""Gradient clipping: by total norm, and by value (torch.nn.utils.clip_grad_norm_ and
clip_grad_value_)."""
from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, Union

import numpy as np

from minigrad import backend, tracer
from minigrad.sparse import RowSparseGrad
from minigrad.tensor import Tensor

from ..checks import check, check_real

# in the hints: one tensor, or an iterable of them (anything with .grad: optim duck-types them)
Parameters = Union[Tensor, Iterable[Any]]


def _grad_arrays(parameters: Parameters) -> list[Any]:
    """The gradient arrays to measure and scale in place: a sparse gradient's rows."""
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p.grad.values if isinstance(p.grad, RowSparseGrad) else p.grad
            for p in parameters if p.grad is not None]


def _check_limit(name: str, value: Any) -> float:
    """A clipping limit as a Python float: a finite real number > 0, else ValueError (TypeError
    for a non-number) naming it."""
    value = check_real(name, value)
    check(value > 0, name, value, "a limit > 0")
    return float(value)


@tracer.replayed  # outside the graph: a compiled step (mg.compile) calls it again
def grad_norm(parameters: Parameters, norm_type: float = 2.0) -> float:
    """The norm_type-norm of the vector of every gradient element of parameters (inf: the
    largest |g|), accumulated in float64, as a Python float; the gradients are left alone."""
    return _norm(_grad_arrays(parameters), norm_type)


def _norm(grads: list[Any], norm_type: float) -> float:
    if not (isinstance(norm_type, (int, float, np.floating)) and norm_type == math.inf):
        norm_type = check_real("norm_type", norm_type)
    check(norm_type > 0, "norm_type", norm_type, "> 0 or inf")
    norm_type = float(norm_type)
    if not grads:
        return 0.0
    if norm_type == math.inf:  # a NaN anywhere makes the norm NaN (Python's max() would drop it)
        largest = [float(backend.get_array_module(g).abs(g).max()) for g in grads if g.size]
        return math.nan if any(map(math.isnan, largest)) else max(largest, default=0.0)
    acc = 0.0
    for g in grads:
        xp = backend.get_array_module(g)
        g = xp.abs(g.astype(xp.float64, copy=False))
        acc += float((g * g).sum()) if norm_type == 2.0 else float((g ** norm_type).sum())
    return acc ** (1.0 / norm_type)


@tracer.replayed  # outside the graph: a compiled step (mg.compile) calls it again
def clip_grad_norm_(parameters: Parameters, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False) -> float:
    """Scale all gradients together so that their joint norm is at most max_norm.

    The total norm is the norm_type-norm of the vector of every gradient element (inf: the
    largest |g|), accumulated in float64: a float32 sum over 10M elements is off by ~5e-5
    relative. The scale is coef = max_norm / (total_norm + 1e-6), applied only when coef < 1
    (as PyTorch). Returns the total norm (a Python float) from before clipping. A non-finite
    norm with error_if_nonfinite raises RuntimeError and leaves the gradients untouched; without
    it, an infinite norm zeroes the gradients and a NaN norm makes them NaN (as PyTorch).
    max_norm must be finite and > 0 (torch accepts 0, nan and inf, which zero the gradients or
    silently turn clipping off).
    """
    grads = _grad_arrays(parameters)
    max_norm = _check_limit("max_norm", max_norm)
    total = _norm(grads, norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from "
                           f"{len(grads)} parameters is non-finite ({total}), so it cannot be "
                           "clipped. Set error_if_nonfinite=False to clip anyway.")
    coef = max_norm / (total + 1e-6)
    if not coef >= 1.0:  # a NaN norm makes every gradient NaN, as in PyTorch
        for g in grads:
            g *= g.dtype.type(coef)
    return total


@tracer.replayed  # outside the graph: a compiled step (mg.compile) calls it again
def clip_grad_value_(parameters: Parameters, clip_value: float) -> None:
    """Clamp every gradient element to [-clip_value, clip_value], in place; clip_value must be
    finite and > 0 (a nan would make every gradient nan, 0 would zero them)."""
    clip_value = _check_limit("clip_value", clip_value)
    for g in _grad_arrays(parameters):
        backend.get_array_module(g).clip(g, -clip_value, clip_value, out=g)
