"""Making tensors, and the functions of several tensors: concatenate, stack, where."""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from . import backend, ops
from .backend import Device
from .tensor import Operand, Tensor, _as_tensor, as_constant


def tensor(data: ArrayLike | Tensor, requires_grad: bool = False, dtype: DTypeLike | None = None,
           device: Device = "cpu") -> Tensor:
    """A new leaf tensor holding a copy of `data`.

    A NumPy/CuPy array keeps its dtype; Python numbers and (nested) lists of floats get the
    default dtype (float32 unless set_default_dtype changed it), lists of ints get int64 and
    of bools bool, as in torch.tensor.
    """
    if isinstance(data, Tensor):
        data = data.data
    if backend.is_array(data):
        array = data.astype(dtype) if dtype is not None else data.copy()
    else:
        array = np.array(data)
        if dtype is not None:
            array = array.astype(dtype)
        elif array.dtype.kind == "f":
            array = array.astype(backend.get_default_dtype())
        elif array.dtype.kind not in "iub":
            raise TypeError(f"cannot make a tensor from {type(data).__name__} "
                            f"(NumPy gives dtype {array.dtype})")
    return Tensor(backend.to_device(array, device), requires_grad=requires_grad)


def zeros(*shape: int | tuple[int, ...] | list[int], dtype: DTypeLike | None = None, device: Device = "cpu",
          requires_grad: bool = False) -> Tensor:
    """A tensor of zeros (default dtype unless given)."""
    shape = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
    array = np.zeros(shape, dtype=dtype or backend.get_default_dtype())
    return Tensor(backend.to_device(array, device), requires_grad=requires_grad)


def ones(*shape: int | tuple[int, ...] | list[int], dtype: DTypeLike | None = None, device: Device = "cpu",
         requires_grad: bool = False) -> Tensor:
    """A tensor of ones (default dtype unless given)."""
    shape = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
    array = np.ones(shape, dtype=dtype or backend.get_default_dtype())
    return Tensor(backend.to_device(array, device), requires_grad=requires_grad)


def randn(*shape: int | tuple[int, ...] | list[int], dtype: DTypeLike | None = None, device: Device = "cpu",
          requires_grad: bool = False) -> Tensor:
    """Standard normal samples from minigrad's seeded generator (mg.manual_seed).

    float32 samples are drawn in float32, using no more memory than the result; they differ
    from float64 samples cast down, so one seed gives different values per dtype (float64
    draws are the same as NumPy's Generator.standard_normal with that seed).
    """
    shape = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
    array = backend.normal(0.0, 1.0, shape, dtype or backend.get_default_dtype(), device)
    return Tensor(array, requires_grad=requires_grad)


def _tensors(name: str, tensors: Iterable[Tensor | ArrayLike]) -> list[Tensor]:
    tensors = list(tensors)
    if not tensors:
        raise ValueError(f"{name} needs at least one tensor")
    return [t if isinstance(t, Tensor) else Tensor(t) for t in tensors]


def concatenate(tensors: Iterable[Tensor | ArrayLike], axis: int = 0) -> Tensor:
    """Join tensors along an existing axis (torch.cat)."""
    tensors = _tensors("concatenate", tensors)
    ref = tensors[0].shape
    for i, t in enumerate(tensors):
        if t.ndim != len(ref) or any(a != b for k, (a, b) in enumerate(zip(t.shape, ref))
                                     if k != axis % len(ref)):
            raise ValueError(f"concatenate along axis {axis}: tensor {i} has shape {t.shape}, "
                             f"tensor 0 has shape {ref}")
    return ops.Concatenate(axis).apply(*tensors)


cat = concatenate


def stack(tensors: Iterable[Tensor | ArrayLike], axis: int = 0) -> Tensor:
    """Join tensors of one shape along a new axis (torch.stack)."""
    tensors = _tensors("stack", tensors)
    for i, t in enumerate(tensors):
        if t.shape != tensors[0].shape:
            raise ValueError(f"stack: tensor {i} has shape {t.shape}, tensor 0 has shape "
                             f"{tensors[0].shape}")
    return ops.Stack(axis).apply(*tensors)


def where(condition: ArrayLike | Tensor, x: Operand, y: Operand) -> Tensor:
    """Elementwise `x` where `condition` is true, else `y`; gradients flow to x and y. The
    condition is a constant: host data (a NumPy array, a list) goes to x's device, a Tensor or
    GPU array on another device is refused."""
    if not isinstance(x, Tensor) and not isinstance(y, Tensor):
        raise TypeError("where: x or y must be a Tensor")
    x = x if isinstance(x, Tensor) else _as_tensor(x, y)
    y = y if isinstance(y, Tensor) else _as_tensor(y, x)
    condition = as_constant(condition, x.data, "where: condition")
    if condition.dtype != bool:
        raise TypeError(f"where: condition must be boolean, got dtype {condition.dtype}")
    return ops.Where(condition).apply(x, y)
