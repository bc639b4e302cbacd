"""Ops that move elements without arithmetic: reshape, transpose, indexing, concatenate, stack, where."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..backend import Array, Device, Shape, device_of, get_array_module, is_array, scatter_add, to_device
from ..function import Function, ViewFunction, sum_to
from .checks import broadcast_shape, check_index, normalize_axis


class Reshape(ViewFunction):
    """x.reshape(shape); the gradient is reshaped back."""

    def __init__(self, shape: Shape) -> None:
        self.shape = shape

    def forward(self, x: Array) -> Array:
        self.in_shape = x.shape
        return x.reshape(self.shape)

    def backward(self, gy: Array) -> tuple[Array | None, ...]:
        return (gy.reshape(self.in_shape),)


class Transpose(ViewFunction):
    """x.transpose(axes); the gradient takes the inverse permutation."""

    def __init__(self, axes: tuple[int, ...] | None = None) -> None:
        self.axes = axes

    def forward(self, x: Array) -> Array:
        if self.axes is None:
            self.axes = tuple(range(x.ndim))[::-1]
        elif len(self.axes) != x.ndim:
            raise ValueError(f"transpose: axes {tuple(self.axes)} do not match a tensor of "
                             f"{x.ndim} dimension(s) (shape {x.shape}); give one per dimension")
        else:
            self.axes = normalize_axis("transpose", self.axes, x.ndim)
        return x.transpose(self.axes)

    def backward(self, gy: Array) -> tuple[Array | None, ...]:
        inverse = tuple(np.argsort(self.axes))
        return (gy.transpose(inverse),)


def _has_array_index(index):
    parts = index if isinstance(index, tuple) else (index,)
    return any(is_array(p) and p.dtype != bool for p in parts)


class GetItem(ViewFunction):
    """x[index] with basic or integer-array indexing; repeated indices accumulate in backward."""

    def __init__(self, index: Any) -> None:
        self.index = index

    def forward(self, x: Array) -> Array:
        check_index(self.index, x.shape)
        self.shape, self.dtype = x.shape, x.dtype
        return x[self.index]

    def backward(self, gy: Array) -> tuple[Array | None, ...]:
        xp = get_array_module(gy)
        gx = xp.zeros(self.shape, dtype=self.dtype)
        if _has_array_index(self.index):
            scatter_add(gx, self.index, gy)
        else:
            gx[self.index] = gy
        return (gx,)


class Concatenate(Function):
    """Join along an axis; the gradient is split at the same places."""

    def __init__(self, axis: int = 0) -> None:
        self.axis = axis

    def forward(self, *xs: Array) -> Array:
        if xs[0].ndim == 0:
            raise ValueError("concatenate: zero-dimensional tensors cannot be concatenated; "
                             "use stack")
        (self.axis,) = normalize_axis("concatenate", self.axis, xs[0].ndim)
        self.sizes = [x.shape[self.axis] for x in xs]
        return get_array_module(*xs).concatenate(xs, axis=self.axis)

    def backward(self, gy: Array) -> tuple[Array | None, ...]:
        xp = get_array_module(gy)
        cuts = np.cumsum(self.sizes)[:-1].tolist()
        return tuple(xp.split(gy, cuts, axis=self.axis))


class Stack(Function):
    """Join along a new axis; the gradient is taken apart along it."""

    def __init__(self, axis: int = 0) -> None:
        self.axis = axis

    def forward(self, *xs: Array) -> Array:
        (self.axis,) = normalize_axis("stack", self.axis, xs[0].ndim + 1)
        self.n = len(xs)
        return get_array_module(*xs).stack(xs, axis=self.axis)

    def backward(self, gy: Array) -> tuple[Array | None, ...]:
        xp = get_array_module(gy)
        return tuple(xp.take(gy, i, axis=self.axis) for i in range(self.n))


class Where(Function):
    """where(condition, x, y): the condition is a constant boolean array."""

    def __init__(self, condition: Array) -> None:
        self.condition = condition

    def forward(self, x: Array, y: Array) -> Array:
        broadcast_shape("where", self.condition.shape, x.shape, y.shape)
        self.shapes = (x.shape, y.shape)
        return get_array_module(x).where(self.condition, x, y)

    def backward(self, gy: Array) -> tuple[Array | None, ...]:
        c = self.condition
        return sum_to(gy * c, self.shapes[0]), sum_to(gy * ~c, self.shapes[1])


class ToDevice(Function):
    """Copy to another device; the gradient is copied back."""

    def __init__(self, device: Device) -> None:
        self.device = device

    def forward(self, x: Array) -> Array:
        self.source = device_of(x)
        return to_device(x, self.device)

    def backward(self, gy: Array) -> tuple[Array | None, ...]:
        return (to_device(gy, self.source),)
