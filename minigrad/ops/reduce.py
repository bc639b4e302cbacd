"""Reductions: sum, mean, max, min, var over an axis (int, tuple or None), with keepdims.

Each backward is one formula for both passes (minigrad/function.py). Max's mask of the maxima
and its count of ties are constants in both: max is linear where it is differentiable.
"""
from __future__ import annotations

from typing import Any

from ..backend import Array, Axis
from ..function import Function
from .checks import normalize_axis
from .primitives import broadcast_to, recording


def _expand(g, shape, axes, keepdims):
    """Reshape a reduced gradient so it broadcasts against the input's shape."""
    if keepdims:
        return g
    kept = tuple(1 if i in axes else n for i, n in enumerate(shape))
    return g.reshape(kept)


class Sum(Function):
    """Sum over axes; the gradient broadcasts back."""

    name = "sum"

    def __init__(self, axis: Axis = None, keepdims: bool = False) -> None:
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x: Array) -> Array:
        self.shape = x.shape
        self.axes = normalize_axis(self.name, self.axis, x.ndim)
        return x.sum(axis=self.axes, keepdims=self.keepdims)

    def backward(self, gy: Any) -> tuple[Any, ...]:
        return (broadcast_to(_expand(gy, self.shape, self.axes, self.keepdims), self.shape),)


class Mean(Function):
    """Mean over axes; the gradient broadcasts back divided by the count."""

    name = "mean"

    def __init__(self, axis: Axis = None, keepdims: bool = False) -> None:
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x: Array) -> Array:
        self.shape = x.shape
        self.axes = normalize_axis(self.name, self.axis, x.ndim)
        self.n = 1
        for a in self.axes:
            self.n *= x.shape[a]
        return x.mean(axis=self.axes, keepdims=self.keepdims)

    def backward(self, gy: Any) -> tuple[Any, ...]:
        g = _expand(gy, self.shape, self.axes, self.keepdims) / self.n
        return (broadcast_to(g, self.shape),)


class Max(Function):
    """Maximum over axes. Ties share the gradient equally (like torch.amax and torch.max())."""

    saves, saves_output = ((0,),), (True,)

    name = "max"

    def reduce(self, x: Array, axes: tuple[int, ...]) -> Array:
        return x.max(axis=axes, keepdims=True)

    def __init__(self, axis: Axis = None, keepdims: bool = False) -> None:
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x: Array) -> Array:
        self.axes = normalize_axis(self.name, self.axis, x.ndim)
        if any(x.shape[a] == 0 for a in self.axes):  # as torch.amax: no identity to return
            raise ValueError(f"{self.name}() over axis {self.axis} of a tensor of shape {x.shape}: "
                             "a reduced dimension has size 0")
        y = self.reduce(x, self.axes)
        self.x, self.y = x, y
        return y if self.keepdims else y.reshape(tuple(n for i, n in enumerate(x.shape) if i not in self.axes))

    def backward(self, gy: Any) -> tuple[Any, ...]:
        x = self.x
        mask = (x == self.y)
        count = mask.sum(axis=self.axes, keepdims=True).astype(x.dtype)
        g = _expand(gy, x.shape, self.axes, self.keepdims)
        return ((g / count) * mask,)


class Min(Max):
    """Minimum over axes. Ties share the gradient equally (like torch.amin and torch.min())."""

    name = "min"

    def reduce(self, x: Array, axes: tuple[int, ...]) -> Array:
        return x.min(axis=axes, keepdims=True)


class Var(Function):
    """Variance over axes, dividing by N - correction (correction=1: unbiased, as torch.var)."""

    saves = ((0,),)

    name = "var"

    def __init__(self, axis: Axis = None, keepdims: bool = False, correction: int = 1) -> None:
        self.axis, self.keepdims, self.correction = axis, keepdims, correction

    def forward(self, x: Array) -> Array:
        self.axes = normalize_axis(self.name, self.axis, x.ndim)
        n = 1
        for a in self.axes:
            n *= x.shape[a]
        self.denom = max(n - self.correction, 0)
        self.xc = _centered(x, self.axes)
        self.shape = x.shape
        return (self.xc * self.xc).sum(axis=self.axes, keepdims=self.keepdims) / self.denom

    def backward(self, gy: Any) -> tuple[Any, ...]:
        xc = _centered(self.inputs[0], self.axes) if recording(gy) else self.xc
        g = _expand(gy, self.shape, self.axes, self.keepdims)
        return (g * 2 * xc / self.denom,)


def _centered(x: Any, axes: tuple[int, ...]) -> Any:
    """x - mean(x) over axes, of an array or a Tensor."""
    return x - x.mean(axis=axes, keepdims=True)
