"""RowSparseGrad: the gradient of a lookup table when a batch touched only some rows.

It holds the touched rows' unique indices (sorted), their summed gradient rows, and the dense
shape. Embedding(sparse=True) produces it; backward() merges two of them by adding their rows;
adding one to a dense array gives a dense array. Optimizers that support it update only the
touched rows (see each optimizer's docstring); clip_grad_norm_ and clip_grad_value_ accept it.
"""
import numpy as np

from . import backend


class RowSparseGrad:
    """The gradient of a table on the rows a batch touched: indices, their summed rows, the dense shape."""

    __slots__ = ("indices", "values", "shape")
    __array_ufunc__ = None  # make `ndarray + RowSparseGrad` call our __radd__

    def __init__(self, indices, values, shape):
        """indices: (k,) unique sorted row indices; values: (k,) + shape[1:] rows."""
        self.indices, self.values, self.shape = indices, values, tuple(shape)

    @classmethod
    def from_rows(cls, indices, rows, shape, exclude=None):
        """Sum `rows` that share an index (repeated lookups), dropping the row `exclude`."""
        xp = backend.get_array_module(rows)
        indices = indices.reshape(-1)
        rows = rows.reshape((indices.shape[0],) + tuple(shape[1:]))
        if exclude is not None:
            keep = indices != exclude
            indices, rows = indices[keep], rows[keep]
        if xp is not np:
            unique, inverse = xp.unique(indices, return_inverse=True)
            values = xp.zeros((unique.shape[0],) + tuple(shape[1:]), dtype=rows.dtype)
            backend.scatter_add(values, inverse.reshape(-1), rows)
            return cls(unique, values, shape)
        # on the CPU: sort; take each index's first row, then add the repeats (usually few)
        order = np.argsort(indices, kind="stable")
        sorted_idx = indices[order]
        first = np.ones(len(order), dtype=bool)
        first[1:] = sorted_idx[1:] != sorted_idx[:-1]
        values = rows[order[first]]
        if not first.all():
            segment = np.cumsum(first) - 1
            np.add.at(values, segment[~first], rows[order[~first]])
        return cls(sorted_idx[first], values, shape)

    @property
    def dtype(self):
        return self.values.dtype

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def device(self):
        return backend.device_of(self.values)

    def __repr__(self):
        return (f"RowSparseGrad(shape={self.shape}, rows={self.indices.shape[0]}, "
                f"dtype={self.dtype}, device='{self.device}')")

    def to_dense(self):
        xp = backend.get_array_module(self.values)
        dense = xp.zeros(self.shape, dtype=self.values.dtype)
        dense[self.indices] = self.values
        return dense

    def copy(self):
        return RowSparseGrad(self.indices.copy(), self.values.copy(), self.shape)

    def astype(self, dtype, copy=True):
        return RowSparseGrad(self.indices, self.values.astype(dtype, copy=copy), self.shape)

    def __add__(self, other):
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

    def __neg__(self):
        return RowSparseGrad(self.indices, -self.values, self.shape)
