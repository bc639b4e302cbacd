"""Elementwise functions and the softmax family.

Subgradients at kinks follow PyTorch: relu'(0) = 0, abs'(0) = 0, and clip passes the gradient
where min <= x <= max (both ends included). Each backward is one formula for both passes
(minigrad/function.py): in the recorded one it reads the input Tensor, and recomputes the output
from it where the formula reads the output (`y = x.tanh()`). The masks of relu, abs and clip are
constants in both: the second derivative of a piecewise-linear function is 0 (as torch).
"""
from __future__ import annotations

import math
from typing import Any

from ..backend import Array, get_array_module
from ..function import Function
from .checks import normalize_axis
from .primitives import erf, exp, recording, tanh


class Exp(Function):
    """exp(x); d/dx = exp(x)."""

    saves_output = (True,)

    def forward(self, x: Array) -> Array:
        self.y = get_array_module(x).exp(x)
        return self.y

    def backward(self, gy: Any) -> tuple[Any, ...]:
        y = self.inputs[0].exp() if recording(gy) else self.y
        return (gy * y,)


class Log(Function):
    """log(x); d/dx = 1/x."""

    saves = ((0,),)

    def forward(self, x: Array) -> Array:
        self.x = x
        return get_array_module(x).log(x)

    def backward(self, gy: Any) -> tuple[Any, ...]:
        x = self.inputs[0] if recording(gy) else self.x
        return (gy / x,)


class Sqrt(Function):
    """sqrt(x); d/dx = 1 / (2 sqrt(x))."""

    saves_output = (True,)

    def forward(self, x: Array) -> Array:
        self.y = get_array_module(x).sqrt(x)
        return self.y

    def backward(self, gy: Any) -> tuple[Any, ...]:
        y = self.inputs[0].sqrt() if recording(gy) else self.y
        return (gy / (2 * y),)


class Tanh(Function):
    """tanh(x); d/dx = 1 - tanh²(x)."""

    saves_output = (True,)

    def forward(self, x: Array) -> Array:
        self.y = get_array_module(x).tanh(x)
        return self.y

    def backward(self, gy: Any) -> tuple[Any, ...]:
        y = self.inputs[0].tanh() if recording(gy) else self.y
        return (gy * (1 - y * y),)


class Sigmoid(Function):
    """σ(x) = 1 / (1 + e^-x); d/dx = σ(1 - σ)."""

    saves_output = (True,)

    def forward(self, x: Array) -> Array:
        xp = get_array_module(x)
        self.y = 0.5 * xp.tanh(0.5 * x) + 0.5  # stable for large |x|, no overflow in exp
        return self.y

    def backward(self, gy: Any) -> tuple[Any, ...]:
        y = self.inputs[0].sigmoid() if recording(gy) else self.y
        return (gy * y * (1 - y),)


class ReLU(Function):
    """max(x, 0); d/dx = 1 where x > 0, else 0."""

    saves_output = (True,)  # as torch, whose backward reads its output (the mask is its sign)

    def forward(self, x: Array) -> Array:
        self.mask = x > 0
        return x * self.mask

    def backward(self, gy: Any) -> tuple[Any, ...]:
        return (gy * self.mask,)


class Abs(Function):
    """|x|; d/dx = sign(x), 0 at 0."""

    saves = ((0,),)

    def forward(self, x: Array) -> Array:
        xp = get_array_module(x)
        self.sign = xp.sign(x)
        return xp.abs(x)

    def backward(self, gy: Any) -> tuple[Any, ...]:
        return (gy * self.sign,)


class Clip(Function):
    """clip(x, min, max); d/dx = 1 where min <= x <= max."""

    saves = ((0,),)

    def __init__(self, min: float | None = None, max: float | None = None) -> None:
        if min is None and max is None:
            raise ValueError("clip needs at least one of min and max")
        self.min, self.max = min, max

    def forward(self, x: Array) -> Array:
        xp = get_array_module(x)
        self.mask = xp.ones(x.shape, dtype=bool)
        if self.min is not None:
            self.mask &= x >= self.min
        if self.max is not None:
            self.mask &= x <= self.max
        return xp.clip(x, self.min, self.max).astype(x.dtype, copy=False)

    def backward(self, gy: Any) -> tuple[Any, ...]:
        return (gy * self.mask,)


class GELU(Function):
    """x Φ(x), exactly with erf ('none') or with the tanh approximation ('tanh'), as torch."""

    saves = ((0,),)

    def __init__(self, approximate: str = "none") -> None:
        if approximate not in ("none", "tanh"):
            raise ValueError(f"approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x: Array) -> Array:
        self.x = x
        if self.approximate == "none":
            self.cdf = _normal_cdf(x)
            return x * self.cdf
        self.t = _tanh_inner(x)
        return 0.5 * x * (1 + self.t)

    def backward(self, gy: Any) -> tuple[Any, ...]:
        x = self.inputs[0] if recording(gy) else self.x
        if self.approximate == "none":
            cdf = _normal_cdf(x) if recording(gy) else self.cdf
            pdf = exp(-0.5 * x * x) * (1 / math.sqrt(2 * math.pi))
            return (gy * (cdf + x * pdf),)
        k = math.sqrt(2 / math.pi)
        t = _tanh_inner(x) if recording(gy) else self.t
        dt = (1 - t * t) * k * (1 + 3 * 0.044715 * x * x)
        return (gy * (0.5 * (1 + t) + 0.5 * x * dt),)


def _normal_cdf(x: Any) -> Any:
    """Φ(x) = (1 + erf(x / √2)) / 2, of an array or a Tensor."""
    return 0.5 * (1 + erf(x * (1 / math.sqrt(2))))


def _tanh_inner(x: Any) -> Any:
    """tanh(√(2/π) (x + 0.044715 x³)), of an array or a Tensor."""
    k = math.sqrt(2 / math.pi)
    return tanh(k * (x + 0.044715 * (x * x * x)))  # not x ** 3: NumPy's pow is ~100x slower


class Softmax(Function):
    """exp(x) / Σ exp(x) along an axis (the max subtracted first)."""

    saves_output = (True,)

    def __init__(self, axis: int = -1) -> None:
        self.axis = axis

    def forward(self, x: Array) -> Array:
        xp = get_array_module(x)
        self.axis = normalize_axis("softmax", self.axis, x.ndim)
        # an empty tensor has no maximum, and nothing to overflow
        e = xp.exp(x - x.max(axis=self.axis, keepdims=True) if x.size else x)
        self.y = e / e.sum(axis=self.axis, keepdims=True)
        return self.y

    def backward(self, gy: Any) -> tuple[Any, ...]:
        y = self.inputs[0].softmax(self.axis) if recording(gy) else self.y
        gx = y * gy
        return (gx - y * gx.sum(axis=self.axis, keepdims=True),)


class LogSoftmax(Function):
    """x - log Σ exp(x) along an axis (the max subtracted first)."""

    saves_output = (True,)

    def __init__(self, axis: int = -1) -> None:
        self.axis = axis

    def forward(self, x: Array) -> Array:
        xp = get_array_module(x)
        self.axis = normalize_axis("log_softmax", self.axis, x.ndim)
        if x.size == 0:  # an empty tensor has no maximum; its log-softmax is empty too
            self.y = x.copy()
            return self.y
        z = x - x.max(axis=self.axis, keepdims=True)
        self.y = z - xp.log(xp.exp(z).sum(axis=self.axis, keepdims=True))
        return self.y

    def backward(self, gy: Any) -> tuple[Any, ...]:
        y = self.inputs[0].log_softmax(self.axis) if recording(gy) else self.y
        return (gy - exp(y) * gy.sum(axis=self.axis, keepdims=True),)
