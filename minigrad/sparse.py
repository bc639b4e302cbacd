"""RowSparseGrad: the gradient of a lookup table when a batch touched only some rows.

It holds the touched rows' unique indices (sorted), their summed gradient rows, and the dense
shape. Embedding(sparse=True) produces it; backward() merges two of them by adding their rows;
adding one to a dense array gives a dense array. Optimizers that support it update only the
touched rows (see each optimizer's docstring); clip_grad_norm_ and clip_grad_value_ accept it.

One made by hand may repeat a row: the constructor sums the repeats and sorts the rows, as
torch's coalesce() does, so that every optimizer sees each row once (a repeated row would
otherwise be applied once by an update that writes rows, and summed by one that accumulates).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import DTypeLike

from . import backend
from .backend import Array, Shape


class RowSparseGrad:
    """The gradient of a table on the rows a batch touched: indices, their summed rows, the dense shape."""

    __slots__ = ("indices", "values", "shape")
    __array_ufunc__ = None  # make `ndarray + RowSparseGrad` call our __radd__

    def __init__(self, indices: Array, values: Array, shape: Sequence[int]) -> None:
        """values[j] is the gradient of row indices[j] of a table of `shape`.

        indices: a 1-D integer array of rows in [0, shape[0]), in any order, repeats allowed:
        the rows of a repeated index are summed and the indices sorted (torch's coalesce()).
        values: an array of shape (len(indices),) + shape[1:], floating, on indices' device.
        Raises TypeError, ValueError or IndexError naming what is wrong.
        """
        shape = _checked_shape(shape)
        _check(indices, values, shape)
        if not _is_coalesced(indices):
            indices, values = _coalesce(indices, values, shape)
        self.indices, self.values, self.shape = indices, values, shape

    @classmethod
    def _coalesced(cls, indices: Array, values: Array, shape: Sequence[int]) -> RowSparseGrad:
        """One from rows already unique and sorted (the library's own, checked where they are
        made): no check, no copy."""
        g = cls.__new__(cls)
        g.indices, g.values, g.shape = indices, values, tuple(shape)
        return g

    @classmethod
    def from_rows(cls, indices: Array, rows: Array, shape: Sequence[int], exclude: int | None = None
                  ) -> RowSparseGrad:
        """Sum `rows` that share an index (repeated lookups), dropping the row `exclude`.

        The fast path from Embedding and DistributedDataParallel: indices are the lookups'
        own, already checked to be in range, so only the summing is done."""
        indices = indices.reshape(-1)
        rows = rows.reshape((indices.shape[0],) + tuple(shape[1:]))
        if exclude is not None:
            keep = indices != exclude
            indices, rows = indices[keep], rows[keep]
        return cls._coalesced(*_coalesce(indices, rows, shape), shape)

    @property
    def dtype(self) -> np.dtype:
        return self.values.dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def device(self) -> str:
        return backend.device_of(self.values)

    def __repr__(self) -> str:
        return (f"RowSparseGrad(shape={self.shape}, rows={self.indices.shape[0]}, "
                f"dtype={self.dtype}, device='{self.device}')")

    def to_dense(self) -> Array:
        xp = backend.get_array_module(self.values)
        dense = xp.zeros(self.shape, dtype=self.values.dtype)
        dense[self.indices] = self.values
        return dense

    def copy(self) -> RowSparseGrad:
        return RowSparseGrad._coalesced(self.indices.copy(), self.values.copy(), self.shape)

    def astype(self, dtype: DTypeLike, copy: bool = True) -> RowSparseGrad:
        return RowSparseGrad._coalesced(self.indices, self.values.astype(dtype, copy=copy),
                                        self.shape)

    def __add__(self, other: RowSparseGrad | Array) -> RowSparseGrad | Array:
        if isinstance(other, RowSparseGrad):
            if other.shape != self.shape:
                raise ValueError(f"cannot add sparse gradients of shapes {self.shape} and {other.shape}")
            xp = backend.get_array_module(self.values)
            return RowSparseGrad.from_rows(xp.concatenate([self.indices, other.indices]),
                                           xp.concatenate([self.values, other.values]), self.shape)
        dense = self.to_dense()
        dense += other
        return dense

    __radd__ = __add__

    def __neg__(self) -> RowSparseGrad:
        return RowSparseGrad._coalesced(self.indices, -self.values, self.shape)


# ============================================================================ checking and summing

def _checked_shape(shape: Sequence[int]) -> Shape:
    """shape as a tuple of ints: a tuple or list of integers (NumPy's count), not 4.7 (which
    int() would cut to 4), True, or the string "42" (which iterates as 4, 2)."""
    if not isinstance(shape, (tuple, list)) or any(
            isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)) for n in shape):
        raise TypeError(f"RowSparseGrad: shape must be a tuple of ints, got {shape!r}")
    shape = tuple(int(n) for n in shape)
    if len(shape) == 0 or min(shape) < 0:
        raise ValueError(f"RowSparseGrad: shape must have at least one axis (the rows) and no "
                         f"negative size, got {shape}")
    return shape


def _check(indices, values, shape):
    """indices and values as the constructor's docstring says, or an error naming what is not."""
    for name, a in (("indices", indices), ("values", values)):
        if not backend.is_array(a):
            raise TypeError(f"RowSparseGrad: {name} must be a NumPy or CuPy array, got "
                            f"{type(a).__name__}")
    if indices.ndim != 1 or indices.dtype.kind not in "iu":
        raise TypeError(f"RowSparseGrad: indices must be a 1-D integer array, got {indices.dtype} "
                        f"of shape {tuple(indices.shape)}")
    if values.dtype.kind not in "fc":
        raise TypeError(f"RowSparseGrad: values must be a floating array (a gradient), got "
                        f"{values.dtype}")
    expected = (indices.shape[0],) + shape[1:]
    if tuple(values.shape) != expected:
        raise ValueError(f"RowSparseGrad: values of shape {tuple(values.shape)} for "
                         f"{indices.shape[0]} indices of a table of shape {shape}: expected "
                         f"{expected}")
    if backend.device_of(indices) != backend.device_of(values):
        raise RuntimeError(f"RowSparseGrad: indices on {backend.device_of(indices)}, values on "
                           f"{backend.device_of(values)}")
    if indices.size:
        lo, hi = int(indices.min()), int(indices.max())
        if lo < 0 or hi >= shape[0]:
            bad = lo if lo < 0 else hi
            raise IndexError(f"RowSparseGrad: index {bad} is out of range for a table of "
                             f"{shape[0]} rows (indices must be in [0, {shape[0]}))")


def _is_coalesced(indices):
    """True when the indices are strictly increasing: unique and sorted."""
    return indices.shape[0] < 2 or bool((indices[1:] > indices[:-1]).all())


def _coalesce(indices, rows, shape):
    """The unique indices, sorted, and for each the sum of its rows (in the order given)."""
    xp = backend.get_array_module(rows)
    if xp is not np:
        unique, inverse = xp.unique(indices, return_inverse=True)
        values = xp.zeros((unique.shape[0],) + tuple(shape[1:]), dtype=rows.dtype)
        backend.scatter_add(values, inverse.reshape(-1), rows)
        return unique, values
    # on the CPU: sort; take each index's first row, then add the repeats (usually few)
    order = np.argsort(indices, kind="stable")
    sorted_idx = indices[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = sorted_idx[1:] != sorted_idx[:-1]
    values = rows[order[first]]
    if not first.all():
        segment = np.cumsum(first) - 1
        np.add.at(values, segment[~first], rows[order[~first]])
    return sorted_idx[first], values
