"""Ops that move elements without arithmetic: reshape, transpose, indexing, concatenate, stack.

Their gradients move the elements back, by the same means on raw arrays and on Tensors (one
formula for both passes, minigrad/function.py); where() is in primitives.py.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import backend
from ..backend import Array, Device, Shape, device_of, get_array_module
from ..function import Function, ViewFunction
from .checks import check_index, normalize_axis
from .primitives import index_add, to_device


class Reshape(ViewFunction):
    """x.reshape(shape); the gradient is reshaped back."""

    def __init__(self, shape: Shape) -> None:
        self.shape = shape

    def forward(self, x: Array) -> Array:
        self.in_shape = x.shape
        return x.reshape(self.shape)

    def backward(self, gy: Any) -> tuple[Any, ...]:
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

    def backward(self, gy: Any) -> tuple[Any, ...]:
        inverse = tuple(np.argsort(self.axes))
        return (gy.transpose(inverse),)


class GetItem(ViewFunction):
    """x[index] with basic or integer-array indexing; repeated indices accumulate in backward."""

    def __init__(self, index: Any) -> None:
        self.index = index

    def forward(self, x: Array) -> Array:
        if not backend.capturing:  # a CUDA graph's capture: checked before each launch instead
            self.check(x)
        self.shape = x.shape
        return x[self.index]

    def check(self, x: Array) -> None:
        check_index(self.index, x.shape)

    def backward(self, gy: Any) -> tuple[Any, ...]:
        return (index_add(self.shape, self.index, gy),)


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

    def backward(self, gy: Any) -> tuple[Any, ...]:
        ends = np.cumsum(self.sizes).tolist()
        lead = (slice(None),) * self.axis
        return tuple(gy[lead + (slice(end - n, end),)] for n, end in zip(self.sizes, ends))


class Stack(Function):
    """Join along a new axis; the gradient is taken apart along it."""

    def __init__(self, axis: int = 0) -> None:
        self.axis = axis

    def forward(self, *xs: Array) -> Array:
        (self.axis,) = normalize_axis("stack", self.axis, xs[0].ndim + 1)
        self.n = len(xs)
        return get_array_module(*xs).stack(xs, axis=self.axis)

    def backward(self, gy: Any) -> tuple[Any, ...]:
        lead = (slice(None),) * self.axis
        return tuple(gy[lead + (i,)] for i in range(self.n))


class ToDevice(Function):
    """Copy to another device; the gradient is copied back."""

    def __init__(self, device: Device) -> None:
        self.device = device

    def forward(self, x: Array) -> Array:
        self.source = device_of(x)
        return to_device(x, self.device)

    def backward(self, gy: Any) -> tuple[Any, ...]:
        return (to_device(gy, self.source),)
