"""Parameter initialisers, drawing from minigrad's seeded generator (mg.manual_seed)."""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Union

from numpy.typing import DTypeLike

from .. import backend
from ..backend import Array, Device, Shape

ShapeLike = Union[int, Sequence[int]]  # one size, or a tuple or list of sizes


def _shape(fn: str, shape: ShapeLike) -> Shape:
    """shape as a tuple of non-negative ints, else ValueError/TypeError naming fn and shape
    (a negative size would otherwise reach math.sqrt: "math domain error")."""
    shape = (shape,) if isinstance(shape, int) and not isinstance(shape, bool) else shape
    if not isinstance(shape, (tuple, list)) or any(
            isinstance(d, bool) or not hasattr(d, "__index__") for d in shape):  # int, np.int64
        raise TypeError(f"{fn}: shape must be a tuple of integers, got {shape!r}")
    if any(d < 0 for d in shape):
        raise ValueError(f"{fn}: shape {tuple(shape)} has a negative size")
    return tuple(int(d) for d in shape)


def uniform(shape: ShapeLike, low: float, high: float, dtype: DTypeLike | None = None,
            device: Device = "cpu") -> Array:
    """U(low, high) samples from the seeded generator."""
    shape = _shape("uniform", shape)
    return backend.uniform(low, high, shape, dtype or backend.get_default_dtype(), device)


def normal(shape: ShapeLike, mean: float = 0.0, std: float = 1.0, dtype: DTypeLike | None = None,
           device: Device = "cpu") -> Array:
    """N(mean, std²) samples from the seeded generator."""
    shape = _shape("normal", shape)
    return backend.normal(mean, std, shape, dtype or backend.get_default_dtype(), device)


def kaiming_uniform(shape: ShapeLike, a: float = 0.0, fan_in: float | None = None, dtype: DTypeLike | None = None,
                    device: Device = "cpu") -> Array:
    """U(-b, b) with b = gain * sqrt(3 / fan_in), gain = sqrt(2 / (1 + a²)) (leaky ReLU)."""
    shape = _shape("kaiming_uniform", shape)
    if fan_in is not None and not fan_in >= 0:
        raise ValueError(f"kaiming_uniform: fan_in must be >= 0, got {fan_in}")
    fan_in = fan_in if fan_in is not None else _fan_in(shape)
    gain = math.sqrt(2.0 / (1 + a * a))
    bound = gain * math.sqrt(3.0 / fan_in) if fan_in else 0.0
    return uniform(shape, -bound, bound, dtype, device)


def xavier_uniform(shape: ShapeLike, gain: float = 1.0, dtype: DTypeLike | None = None,
                   device: Device = "cpu") -> Array:
    """U(-b, b) with b = gain * sqrt(6 / (fan_in + fan_out))."""
    shape = _shape("xavier_uniform", shape)
    if not shape:
        raise ValueError("xavier_uniform: a 0-d shape has no fan_in and fan_out")
    fan_out, fan_in = shape[0], _fan_in(shape)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out)) if fan_in + fan_out else 0.0
    return uniform(shape, -bound, bound, dtype, device)


def _fan_in(shape: Shape) -> int:
    n = 1
    for d in shape[1:]:
        n *= d
    return n
