"""Arithmetic ops: + - * / ** @ and negation, with NumPy broadcasting in both directions.

Each backward is one formula for both passes (minigrad/function.py): `gy` and the values it reads
are raw arrays in the first-order backward, Tensors in the recorded one.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..backend import Array
from ..function import Function, sum_to
from .checks import broadcast_shape
from .primitives import array_module, log, recording, swap_last, where, zeros_like


class Add(Function):
    """x0 + x1; each gradient summed back to its input's shape."""

    def forward(self, x0: Array, x1: Array) -> Array:
        if x0.shape != x1.shape:
            broadcast_shape("add", x0.shape, x1.shape)
        self.shapes = (x0.shape, x1.shape)
        return x0 + x1

    def backward(self, gy: Any) -> tuple[Any, ...]:
        return sum_to(gy, self.shapes[0]), sum_to(gy, self.shapes[1])


class Sub(Function):
    """x0 - x1; each gradient summed back to its input's shape."""

    def forward(self, x0: Array, x1: Array) -> Array:
        if x0.shape != x1.shape:
            broadcast_shape("sub", x0.shape, x1.shape)
        self.shapes = (x0.shape, x1.shape)
        return x0 - x1

    def backward(self, gy: Any) -> tuple[Any, ...]:
        return sum_to(gy, self.shapes[0]), sum_to(-gy, self.shapes[1])


class Mul(Function):
    """x0 * x1; d/dx0 = x1, d/dx1 = x0."""

    saves = ((1,), (0,))

    def forward(self, x0: Array, x1: Array) -> Array:
        if x0.shape != x1.shape:
            broadcast_shape("mul", x0.shape, x1.shape)
        self.x0, self.x1 = x0, x1
        return x0 * x1

    def backward(self, gy: Any) -> tuple[Any, ...]:
        x0, x1 = self.inputs if recording(gy) else (self.x0, self.x1)
        need0, need1 = self.needs_input_grad
        g0 = sum_to(gy * x1, x0.shape) if need0 else None
        g1 = sum_to(gy * x0, x1.shape) if need1 else None
        return g0, g1


class Div(Function):
    """x0 / x1; d/dx0 = 1/x1, d/dx1 = -x0/x1²."""

    saves = ((1,), (0, 1))

    def forward(self, x0: Array, x1: Array) -> Array:
        if x0.shape != x1.shape:
            broadcast_shape("div", x0.shape, x1.shape)
        self.x0, self.x1 = x0, x1
        return x0 / x1

    def backward(self, gy: Any) -> tuple[Any, ...]:
        x0, x1 = self.inputs if recording(gy) else (self.x0, self.x1)
        need0, need1 = self.needs_input_grad
        g0 = sum_to(gy / x1, x0.shape) if need0 else None
        g1 = sum_to(-gy * x0 / (x1 * x1), x1.shape) if need1 else None
        return g0, g1


class Neg(Function):
    """-x."""

    def forward(self, x: Array) -> Array:
        return -x

    def backward(self, gy: Any) -> tuple[Any, ...]:
        return (-gy,)


class PowScalar(Function):
    """x ** c for a Python number c: d/dx = c x^(c-1), and 0 for c = 0 (also at x = 0, as torch)."""

    saves = ((0,),)

    def __init__(self, c: float) -> None:
        self.c = c

    def forward(self, x: Array) -> Array:
        if x.dtype.kind in "iu" and self.c < 0 and float(self.c).is_integer():
            raise ValueError(f"pow: an integer tensor to the negative power {self.c} is not "
                             "allowed (as in torch); convert it to a float tensor first")
        self.x = x
        return x ** self.c

    def backward(self, gy: Any) -> tuple[Any, ...]:
        c = self.c
        if c == 0:  # x^0 is constant; c x^(c-1) would be 0 * inf = NaN at x = 0
            return (zeros_like(gy),)
        x = self.inputs[0] if recording(gy) else self.x
        return (gy * c * x ** (c - 1),)


class RPowScalar(Function):
    """c ** x for a Python number c: d/dx = c^x log c, and 0 where c = 0 and x >= 0 (as torch)."""

    saves, saves_output = ((0,),), (True,)

    def __init__(self, c: float) -> None:
        self.c = c

    def forward(self, x: Array) -> Array:
        self.x = x
        self.y = self.c ** x
        return self.y

    def backward(self, gy: Any) -> tuple[Any, ...]:
        xp = array_module(gy)
        y = self.c ** self.inputs[0] if recording(gy) else self.y
        with np.errstate(divide="ignore", invalid="ignore"):  # log 0: masked below
            gx = gy * y * xp.log(xp.asarray(self.c, dtype=gy.dtype))
        if self.c == 0:  # 0^x log 0 is 0 * -inf = NaN for x > 0; torch takes the limit, 0
            gx = where(self.x >= 0, 0, gx)
        return (gx,)


class Pow(Function):
    """x0 ** x1 for two tensors: d/dx0 = x1 x0^(x1-1), d/dx1 = x0^x1 log x0.

    At the points where these are 0 · inf, the gradient is the limit 0, as torch: d/dx0 = 0 where
    x1 = 0, and d/dx1 = 0 where x0 = 0 and x1 >= 0 (elsewhere log of x0 <= 0 gives -inf or NaN).
    """

    saves, saves_output = ((0, 1), (0, 1)), (True, True)  # only d/dx1 reads y; torch saves it

    def forward(self, x0: Array, x1: Array) -> Array:
        if x0.shape != x1.shape:
            broadcast_shape("pow", x0.shape, x1.shape)
        self.x0, self.x1 = x0, x1
        self.y = x0 ** x1
        return self.y

    def backward(self, gy: Any) -> tuple[Any, ...]:
        if recording(gy):
            x0, x1 = self.inputs
            y = x0 ** x1
        else:
            x0, x1, y = self.x0, self.x1, self.y
        need0, need1 = self.needs_input_grad
        g0 = g1 = None
        with np.errstate(divide="ignore", invalid="ignore"):  # 0 · inf at x0 = 0: masked below
            if need0:
                g0 = gy * x1 * x0 ** (x1 - 1)
                g0 = sum_to(where(self.x1 == 0, 0, g0), x0.shape)
            if need1:
                g1 = gy * y * log(x0)
                g1 = sum_to(where((self.x0 == 0) & (self.x1 >= 0), 0, g1), x1.shape)
        return g0, g1


class MatMul(Function):
    """x @ W with NumPy's rules: 1-D operands are promoted, batch dimensions broadcast."""

    saves = ((1,), (0,))

    def forward(self, x: Array, W: Array) -> Array:
        if x.ndim > 2 or W.ndim > 2:  # the batch dimensions broadcast
            try:
                broadcast_shape("matmul", x.shape[:-2], W.shape[:-2])
            except ValueError:
                raise ValueError(f"matmul: shapes {x.shape} and {W.shape} have batch dimensions "
                                 f"{x.shape[:-2]} and {W.shape[:-2]} that cannot be broadcast "
                                 "together") from None
        self.x, self.W = x, W
        return x @ W

    def backward(self, gy: Any) -> tuple[Any, ...]:
        x, W = self.inputs if recording(gy) else (self.x, self.W)
        # promote 1-D operands the way matmul does, so one formula covers every case
        x2 = x.reshape((1,) + x.shape) if x.ndim == 1 else x
        W2 = W.reshape(W.shape + (1,)) if W.ndim == 1 else W
        if x.ndim == 1 or W.ndim == 1:  # gy without the promoted axes: put them back
            lead = np.broadcast_shapes(x2.shape[:-2], W2.shape[:-2])
            gy2 = gy.reshape(lead + (x2.shape[-2], W2.shape[-1]))
        else:
            gy2 = gy
        need_x, need_W = self.needs_input_grad
        gx = gW = None
        if need_x:
            gx = sum_to(gy2 @ swap_last(W2), x2.shape).reshape(x.shape)
        if need_W:
            gW = sum_to(swap_last(x2) @ gy2, W2.shape).reshape(W.shape)
        return gx, gW
