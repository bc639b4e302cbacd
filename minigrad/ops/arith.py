"""Arithmetic ops: + - * / ** @ and negation, with NumPy broadcasting in both directions."""
from __future__ import annotations

import numpy as np

from ..backend import Array, get_array_module
from ..function import Function, sum_to
from .checks import broadcast_shape


class Add(Function):
    """x0 + x1; each gradient summed back to its input's shape."""

    def forward(self, x0: Array, x1: Array) -> Array:
        if x0.shape != x1.shape:
            broadcast_shape("add", x0.shape, x1.shape)
        self.shapes = (x0.shape, x1.shape)
        return x0 + x1

    def backward(self, gy: Array) -> tuple[Array | None, ...]:
        return sum_to(gy, self.shapes[0]), sum_to(gy, self.shapes[1])


class Sub(Function):
    """x0 - x1; each gradient summed back to its input's shape."""

    def forward(self, x0: Array, x1: Array) -> Array:
        if x0.shape != x1.shape:
            broadcast_shape("sub", x0.shape, x1.shape)
        self.shapes = (x0.shape, x1.shape)
        return x0 - x1

    def backward(self, gy: Array) -> tuple[Array | None, ...]:
        return sum_to(gy, self.shapes[0]), sum_to(-gy, self.shapes[1])


class Mul(Function):
    """x0 * x1; d/dx0 = x1, d/dx1 = x0."""

    saves = ((1,), (0,))

    def forward(self, x0: Array, x1: Array) -> Array:
        if x0.shape != x1.shape:
            broadcast_shape("mul", x0.shape, x1.shape)
        self.x0, self.x1 = x0, x1
        return x0 * x1

    def backward(self, gy: Array) -> tuple[Array | None, ...]:
        x0, x1 = self.x0, self.x1
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

    def backward(self, gy: Array) -> tuple[Array | None, ...]:
        x0, x1 = self.x0, self.x1
        need0, need1 = self.needs_input_grad
        g0 = sum_to(gy / x1, x0.shape) if need0 else None
        g1 = sum_to(-gy * x0 / (x1 * x1), x1.shape) if need1 else None
        return g0, g1


class Neg(Function):
    """-x."""

    def forward(self, x: Array) -> Array:
        return -x

    def backward(self, gy: Array) -> tuple[Array | None, ...]:
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

    def backward(self, gy: Array) -> tuple[Array | None, ...]:
        c = self.c
        if c == 0:  # x^0 is constant; c x^(c-1) would be 0 * inf = NaN at x = 0
            return (get_array_module(gy).zeros_like(gy),)
        return (gy * c * self.x ** (c - 1),)


class RPowScalar(Function):
    """c ** x for a Python number c: d/dx = c^x log c, and 0 where c = 0 and x >= 0 (as torch)."""

    saves, saves_output = ((0,),), (True,)

    def __init__(self, c: float) -> None:
        self.c = c

    def forward(self, x: Array) -> Array:
        self.x = x
        self.y = self.c ** x
        return self.y

    def backward(self, gy: Array) -> tuple[Array | None, ...]:
        xp = get_array_module(gy)
        with np.errstate(divide="ignore", invalid="ignore"):  # log 0: masked below
            gx = gy * self.y * xp.log(xp.asarray(self.c, dtype=gy.dtype))
        if self.c == 0:  # 0^x log 0 is 0 * -inf = NaN for x > 0; torch takes the limit, 0
            gx = xp.where(self.x >= 0, gx.dtype.type(0), gx)
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

    def backward(self, gy: Array) -> tuple[Array | None, ...]:
        xp = get_array_module(gy)
        x0, x1 = self.x0, self.x1
        need0, need1 = self.needs_input_grad
        g0 = g1 = None
        with np.errstate(divide="ignore", invalid="ignore"):  # 0 · inf at x0 = 0: masked below
            if need0:
                g0 = gy * x1 * x0 ** (x1 - 1)
                g0 = sum_to(xp.where(x1 == 0, g0.dtype.type(0), g0), x0.shape)
            if need1:
                g1 = gy * self.y * xp.log(x0)
                g1 = sum_to(xp.where((x0 == 0) & (x1 >= 0), g1.dtype.type(0), g1), x1.shape)
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

    def backward(self, gy: Array) -> tuple[Array | None, ...]:
        x, W = self.x, self.W
        # promote 1-D operands the way matmul does, so one formula covers every case
        x2 = x[None, :] if x.ndim == 1 else x
        W2 = W[:, None] if W.ndim == 1 else W
        gy2 = gy.reshape((x2 @ W2).shape) if (x.ndim == 1 or W.ndim == 1) else gy
        need_x, need_W = self.needs_input_grad
        gx = gW = None
        if need_x:
            gx = sum_to(gy2 @ W2.swapaxes(-1, -2), x2.shape).reshape(x.shape)
        if need_W:
            gW = sum_to(x2.swapaxes(-1, -2) @ gy2, W2.shape).reshape(W.shape)
        return gx, gW
