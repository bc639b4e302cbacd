"""Argument checks shared by the ops: axes, broadcasting, indices.

Each op validates its arguments here before computing, so that bad input fails with a message
that names the op and the shapes or values, never with a NumPy error from deep inside. The
exception types follow PyTorch: IndexError for an axis or index out of range, ValueError for
shapes that do not fit, TypeError for a wrong type or dtype.
"""
from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from ..backend import Axis, Shape, is_array


def _is_int(a):
    return isinstance(a, numbers.Integral) and not isinstance(a, bool)


def normalize_axis(name: str, axis: Axis, ndim: int) -> tuple[int, ...]:
    """`axis` (None, an int or a tuple of ints) as a tuple of non-negative axes.

    A 0-d tensor takes axis 0 or -1 and reduces over nothing, as torch does.
    """
    if axis is None:
        return tuple(range(ndim))
    if _is_int(axis):
        axis = (axis,)
    if not isinstance(axis, (tuple, list)) or not all(_is_int(a) for a in axis):
        raise TypeError(f"{name}: axis must be None, an int or a tuple of ints, got {axis!r}")
    out = []
    for a in axis:
        if not -max(ndim, 1) <= a < max(ndim, 1):
            raise IndexError(f"{name}: axis {a} is out of range for a tensor of {ndim} "
                             f"dimension(s) (expected {-max(ndim, 1)} <= axis < {max(ndim, 1)})")
        if ndim:
            out.append(a % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"{name}: axis {tuple(axis)} repeats an axis")
    return tuple(out)


def broadcast_shape(name: str, *shapes: Shape) -> Shape:
    """The shape NumPy broadcasting gives `shapes`, or a ValueError naming the op and them."""
    ndim = max(len(s) for s in shapes)
    out = []
    for i in range(-ndim, 0):
        sizes = {s[i] for s in shapes if len(s) >= -i} - {1}
        if len(sizes) > 1:
            listed = " and ".join(str(tuple(s)) for s in shapes)
            raise ValueError(f"{name}: shapes {listed} cannot be broadcast together "
                             f"(dimension {i}: sizes {sorted(sizes)})")
        out.append(sizes.pop() if sizes else 1)
    return tuple(out)


def check_index(index: Any, shape: Shape) -> None:
    """Check `index` (basic and integer/boolean-array indexing) against `shape`, as torch
    does: IndexError for an index out of bounds or too many indices, TypeError for a float
    index. Returns nothing; raises before the op touches the data."""
    parts = index if isinstance(index, tuple) else (index,)
    consumed = 0
    for p in parts:
        if p is None or p is Ellipsis or isinstance(p, (bool, np.bool_)):
            continue  # a scalar bool adds an axis, as None does
        if is_array(p) and p.dtype == bool:
            consumed += max(p.ndim, 1) if p.ndim else 0
        else:
            consumed += 1
    if consumed > len(shape):
        raise IndexError(f"getitem: too many indices for a tensor of shape {tuple(shape)}: "
                         f"{consumed} indexed, {len(shape)} dimension(s)")
    n_ellipsis = sum(p is Ellipsis for p in parts)
    if n_ellipsis > 1:
        raise IndexError("getitem: an index can only have a single ellipsis ('...')")
    axis, array_shapes = 0, []
    for p in parts:
        if p is None or isinstance(p, (bool, np.bool_)):
            continue
        if p is Ellipsis:
            axis += len(shape) - consumed
            continue
        if isinstance(p, slice):
            for v in (p.start, p.stop, p.step):
                if v is not None and not _is_int(v):
                    raise TypeError(f"getitem: slice bounds must be integers or None, got {p}")
            if p.step == 0:
                raise ValueError("getitem: slice step cannot be zero")
            axis += 1
            continue
        if _is_int(p):
            _check_bounds(int(p), int(p), axis, shape[axis])
            axis += 1
            continue
        if is_array(p):
            if p.dtype == bool:
                if p.shape != tuple(shape[axis:axis + p.ndim]):
                    raise IndexError(f"getitem: boolean mask of shape {p.shape} does not match "
                                     f"the indexed dimensions {tuple(shape[axis:axis + p.ndim])} "
                                     f"of a tensor of shape {tuple(shape)}")
                array_shapes.append((int(p.sum()),))
                axis += p.ndim
                continue
            if p.dtype.kind not in "iu":
                raise TypeError(f"getitem: index arrays must hold integers or booleans, got "
                                f"dtype {p.dtype}")
            if p.size:
                _check_bounds(int(p.min()), int(p.max()), axis, shape[axis])
            array_shapes.append(p.shape)
            axis += 1
            continue
        raise TypeError(f"getitem: indices must be integers, slices, None, '...', or integer "
                        f"or boolean arrays, got {type(p).__name__} {p!r}")
    if len(array_shapes) > 1:
        try:
            broadcast_shape("getitem", *array_shapes)
        except ValueError:
            raise IndexError(f"getitem: index arrays of shapes "
                             f"{' and '.join(map(str, array_shapes))} cannot be broadcast "
                             "together") from None


def _check_bounds(lo, hi, axis, size):
    bad = lo if lo < -size else hi if hi >= size else None
    if bad is not None:
        raise IndexError(f"getitem: index {bad} is out of bounds for dimension {axis} "
                         f"with size {size}")
