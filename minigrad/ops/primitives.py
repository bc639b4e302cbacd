"""The vocabulary of backward formulas: functions that run on raw arrays or on Tensors.

Every op's derivative is written once, in `backward(self, gy)`, and that one formula serves two
passes (see minigrad/function.py): on raw arrays (the first-order backward: plain NumPy/CuPy,
nothing recorded) and on Tensors (the recorded backward of create_graph=True: every step an op,
so the gradient can be differentiated again). Most of a formula needs nothing from here, since
arrays and Tensors share the operators (+ - * / ** @, unary -) and the methods `sum`, `mean`,
`reshape`, `transpose`, `T` and indexing. The rest is below: each function looks at its argument
and runs the NumPy/CuPy call on an array, or the matching op on a Tensor.

Three ops exist only because backward formulas need them as ops when recorded: Erf (GELU's
derivative), BroadcastTo (the gradient of a sum) and IndexAdd (the gradient of indexing, and in
turn differentiated by indexing); Where lives here too, as `where` needs it (shape.py and the
public mg.where use it from here). This module never imports tensor.py (which imports the ops):
it recognises a Tensor by `recording()` and makes a constant Tensor with `_from_op`, as
Function.apply does.
"""
from __future__ import annotations

import math
from typing import Any

from ..backend import Array, Device, Shape, get_array_module, is_array, scatter_add
from ..backend import erf as _erf
from ..backend import to_device as _to_device
from ..function import Function, recording, sum_to
from .checks import broadcast_shape

__all__ = ["recording", "sum_to", "raw", "array_module", "constant", "exp", "log", "sqrt",
           "tanh", "erf", "where", "broadcast_to", "swap_last", "index_add", "to_device",
           "zeros_like", "subtract_at", "Erf", "BroadcastTo", "IndexAdd", "Where"]


def raw(a: Any) -> Array:
    """The raw array of a Tensor, or the array itself: for masks and constants that a formula
    computes from values (a comparison has no derivative, in either pass)."""
    return a._data if recording(a) else a


def array_module(a: Any) -> Any:
    """numpy or cupy, for an array or a Tensor."""
    return get_array_module(raw(a))


def constant(like: Any, array: Array) -> Any:
    """`array` as a value of `like`'s kind: itself next to an array, a constant (a Tensor that
    requires no grad) next to a Tensor."""
    return like._from_op(array, None) if recording(like) else array


def zeros_like(a: Any) -> Any:
    """Zeros of a's shape and dtype, of a's kind (a constant next to a Tensor)."""
    return constant(a, array_module(a).zeros_like(raw(a)))


def exp(a: Any) -> Any:
    return a.exp() if recording(a) else get_array_module(a).exp(a)


def log(a: Any) -> Any:
    return a.log() if recording(a) else get_array_module(a).log(a)


def sqrt(a: Any) -> Any:
    return a.sqrt() if recording(a) else get_array_module(a).sqrt(a)


def tanh(a: Any) -> Any:
    return a.tanh() if recording(a) else get_array_module(a).tanh(a)


def erf(a: Any) -> Any:
    return Erf().apply(a) if recording(a) else _erf(a)


def where(condition: Array, a: Any, b: Any) -> Any:
    """a where the constant boolean `condition` holds, else b (a number or a value)."""
    if not (recording(a) or recording(b)):
        return get_array_module(a, b).where(condition, a, b)
    like = a if recording(a) else b
    a, b = (x if recording(x) else constant(like, array_module(like).asarray(x, dtype=like.dtype))
            for x in (a, b))
    return Where(condition).apply(a, b)


def broadcast_to(a: Any, shape: Shape) -> Any:
    """a broadcast to `shape` (a read-only view of an array; the BroadcastTo op of a Tensor)."""
    return BroadcastTo(shape).apply(a) if recording(a) else get_array_module(a).broadcast_to(a, shape)


def swap_last(a: Any) -> Any:
    """a with its last two axes swapped (a matrix transposed, batched over the leading axes)."""
    n = a.ndim
    return a.transpose(tuple(range(n - 2)) + (n - 1, n - 2))


def index_add(shape: Shape, index: Any, g: Any) -> Any:
    """Zeros of `shape` with g added at `index`, repeated indices accumulating: the gradient of
    x[index]. On a Tensor, the IndexAdd op, whose own gradient is indexing again."""
    return IndexAdd(shape, index).apply(g) if recording(g) else _index_add(shape, index, g)


def subtract_at(a: Any, index: Any, c: float) -> Any:
    """a less the number c at `index` (each position at most once): a copy written in place for
    an array; for a Tensor, a less a constant array that holds c at `index`."""
    if not recording(a):
        out = a.copy()
        out[index] -= c
        return out
    d = array_module(a).zeros(a.shape, dtype=a.dtype)
    d[index] = c
    return a - d


def to_device(a: Any, device: Device) -> Any:
    return a.to(device) if recording(a) else _to_device(a, device)


# ============================================================================ the ops

class Erf(Function):
    """erf(x); d/dx = 2/√π exp(-x²)."""

    saves = ((0,),)

    def forward(self, x: Array) -> Array:
        self.x = x
        return _erf(x)

    def backward(self, gy: Any) -> tuple[Any, ...]:
        x = self.inputs[0] if recording(gy) else self.x
        return (gy * (2 / math.sqrt(math.pi)) * exp(-(x * x)),)


class BroadcastTo(Function):
    """x broadcast to a shape; the gradient is summed back (the reverse of broadcasting)."""

    def __init__(self, shape: Shape) -> None:
        self.shape = tuple(shape)

    def forward(self, x: Array) -> Array:
        self.in_shape = x.shape
        return get_array_module(x).broadcast_to(x, self.shape)

    def backward(self, gy: Any) -> tuple[Any, ...]:
        return (sum_to(gy, self.in_shape),)


class Where(Function):
    """where(condition, x, y): the condition is a constant boolean array."""

    def __init__(self, condition: Array) -> None:
        self.condition = condition

    def forward(self, x: Array, y: Array) -> Array:
        broadcast_shape("where", self.condition.shape, x.shape, y.shape)
        self.shapes = (x.shape, y.shape)
        return get_array_module(x).where(self.condition, x, y)

    def backward(self, gy: Any) -> tuple[Any, ...]:
        c = self.condition
        return sum_to(gy * c, self.shapes[0]), sum_to(gy * ~c, self.shapes[1])


def _has_array_index(index: Any) -> bool:
    if type(index) is not tuple:  # one array, int or slice (Embedding's rows: the common case)
        return is_array(index) and index.dtype != bool
    return any(is_array(p) and p.dtype != bool for p in index)


def _index_add(shape: Shape, index: Any, g: Array) -> Array:
    out = get_array_module(g).zeros(shape, dtype=g.dtype)
    if _has_array_index(index):
        scatter_add(out, index, g)
    else:
        out[index] = g  # basic indexing never repeats an element: assignment suffices
    return out


class IndexAdd(Function):
    """Zeros of `shape` with g added at `index` (basic or integer-array indexing; repeated
    indices accumulate); the gradient is g's gradient read back at `index`."""

    def __init__(self, shape: Shape, index: Any) -> None:
        self.shape, self.index = shape, index

    def forward(self, g: Array) -> Array:
        return _index_add(self.shape, self.index, g)

    def backward(self, gy: Any) -> tuple[Any, ...]:
        return (gy[self.index],)
