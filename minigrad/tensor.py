"""Tensor: an array, its gradient, and the op that made it.

`t.data` is the raw array (numpy.ndarray or cupy.ndarray); `t.grad` is a raw array of the same
backend and shape, or None. Every operator and method is written out below so that grep finds
it; each one is a single op from `minigrad.ops`.

Versions. Each tensor counts the in-place writes made to it through minigrad (`t._version`, as
torch): assigning `t.data = ...`, and `increment_version(t)`, which code that writes into a
tensor's array itself calls (an optimizer's step, Module.load_state_dict). An op records the
versions of the tensors its backward reads; backward() refuses to use one that has moved since,
as torch does. A view (reshape, transpose, basic indexing, detach) shares its base's counter.
Writing into the raw array (`t.data[...] = v`) bypasses the count, as torch's `.data` does.
"""
from __future__ import annotations

import math
import numbers
import operator
from collections.abc import Iterable
from typing import Any, Union

import numpy as np
from numpy.typing import ArrayLike

from . import backend, function, ops, tracer
from .autograd import engine
from .backend import Array, Axis, Device, Shape
from .ops.checks import normalize_axis

# in the hints: the other operand of an operator (a Tensor, a Python number, or an array), and
# an index (anything NumPy indexes with, a Tensor of indices included)
Operand = Union["Tensor", float, Array]
Index = Any

_FLOAT_KINDS = ("f",)


class Tensor:
    """An array (numpy or cupy) with an optional gradient and the op that produced it.

    `data` is the raw array. Assigning to it (`t.data = array`) counts as an in-place write:
    it moves the tensor's version, and a backward() that needs the old value then raises.
    Writing into the array itself, `t.data[...] = v`, is invisible to minigrad, as it is through
    torch's `.data`: a backward that reads it then computes with the new values, silently; call
    `increment_version(t)` after such a write to have it checked.
    """

    # _data is the array (read directly on the engine's hot paths; `data` is the property that
    # counts assignments); _version_counter is [version], a list so that views can share it
    __slots__ = ("__weakref__", "_data", "_version_counter", "creator", "grad", "grad_graph",
                 "requires_grad")
    __array_priority__ = 100  # make `ndarray + Tensor` call Tensor.__radd__

    def __init__(self, data: Any, requires_grad: bool = False) -> None:
        if not backend.is_array(data):
            data = np.asarray(data)
        if requires_grad and data.dtype.kind not in _FLOAT_KINDS:
            raise TypeError(f"only floating-point tensors can require grad, got dtype {data.dtype}")
        self._data = data
        self.grad = None
        self.grad_graph = None  # .grad as a Tensor with a graph, after backward(create_graph=True)
        self.requires_grad = requires_grad
        self.creator = None  # the Function that produced this tensor, None for leaves
        self._version_counter = [0]

    @staticmethod
    def _from_op(data: Array, creator: function.Function | None) -> Tensor:
        """A Tensor (never a subclass) holding an op's result. Function.apply reaches it through
        an input, `inputs[0]._from_op`, as function.py does not import this module."""
        t = Tensor.__new__(Tensor)
        t._data = data
        t.grad = t.grad_graph = None
        t.requires_grad = creator is not None
        t.creator = creator
        t._version_counter = [0]
        return t

    def _set_data(self, data: Array) -> None:
        if not backend.is_array(data):  # a NumPy scalar (x.data.sum()) or array subclass is one
            if not isinstance(data, (np.ndarray, np.generic)):
                raise TypeError(f"assigned data must be a NumPy or CuPy array, got "
                                f"{type(data).__name__} (wrap it: np.asarray(...))")
            data = np.asarray(data)
        if self.requires_grad and data.dtype.kind not in _FLOAT_KINDS:
            raise TypeError(f"assigned data of dtype {data.dtype} to a tensor that requires grad: "
                            "only floating-point tensors can require grad")
        tracer.wrote_in_place()  # mg.compile: a replay would not assign it again
        self._data = data
        self._version_counter[0] += 1  # a new value: what backward saved of the old one is stale
        function.writes += 1

    # read through a C-level getter (about 25 ns more than a plain attribute); the engine's own
    # hot paths read _data
    data = property(operator.attrgetter("_data"), _set_data, doc="The raw array (see Tensor).")

    @property
    def _version(self) -> int:
        """How many in-place writes this tensor (or a view sharing its memory) has had."""
        return self._version_counter[0]

    # ======================================================================== properties

    @property
    def shape(self) -> Shape:
        return self._data.shape

    @property
    def dtype(self) -> np.dtype:
        return self._data.dtype

    @property
    def ndim(self) -> int:
        return self._data.ndim

    @property
    def size(self) -> int:
        return self._data.size

    @property
    def device(self) -> str:
        return backend.device_of(self._data)

    @property
    def is_leaf(self) -> bool:
        return self.creator is None

    def __len__(self) -> int:
        return len(self._data)

    def __bool__(self) -> bool:
        if self._data.size != 1:
            raise RuntimeError(f"the truth value of a tensor of shape {self.shape} is ambiguous; "
                               "use .any() on .data, or compare with `is` for identity")
        tracer.reads_value("bool()")  # a branch on a value: mg.compile cannot replay it
        return bool(self._data.item())

    def __repr__(self) -> str:
        body = np.array2string(backend.to_numpy(self._data), separator=", ", prefix="tensor(")
        extra = "" if self.dtype == backend.get_default_dtype() else f", dtype={self.dtype}"
        if self.device != "cpu":
            extra += f", device='{self.device}'"
        if self.requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    def numpy(self) -> np.ndarray:
        """The data as a NumPy array (copied from the GPU when it lives there)."""
        tracer.reads_value(".numpy()")
        return backend.to_numpy(self._data)

    def item(self) -> Any:
        if self._data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self.shape}")
        tracer.reads_value(".item()")
        return self._data.item()

    def tolist(self) -> Any:
        tracer.reads_value(".tolist()")
        return self._data.tolist()

    def detach(self) -> Tensor:
        """A new leaf tensor sharing this tensor's data (and so its version), outside the graph."""
        t = Tensor(self._data)
        t._version_counter = self._version_counter
        return t

    def to(self, device: Device) -> Tensor:
        """This tensor on `device` ('cpu', 'cuda', 'cuda:N'); differentiable like any op."""
        if backend.parse_device(device) == self.device:
            return self
        return ops.ToDevice(device).apply(self)

    def cpu(self) -> Tensor:
        return self.to("cpu")

    def cuda(self) -> Tensor:
        return self.to("cuda")

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        if requires_grad and self.dtype.kind not in _FLOAT_KINDS:
            raise TypeError(f"only floating-point tensors can require grad, got dtype {self.dtype}")
        self.requires_grad = requires_grad
        return self

    # ======================================================================== autograd

    def backward(self, grad: ArrayLike | Tensor | None = None, retain_graph: bool = False,
                 create_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's .grad that requires grad.

        A tensor with one element seeds 1; otherwise pass `grad`, the gradient of a scalar
        with respect to this tensor (same shape). Afterwards the ops on the graph drop what they
        saved for backward, so a second backward through them raises; pass retain_graph=True
        to keep it (as torch). A backward that fails changes no .grad and frees nothing.

        create_graph=True records the backward pass itself (minigrad/function.py): `.grad` is
        still the raw array, and `.grad_graph` is the same gradient as a Tensor with the graph
        of how it was computed, to differentiate again (a Hessian-vector product:
        `mg.grad(p.grad_graph, p, v)`). As torch, what the ops saved is then kept
        (retain_graph is taken as True), since the new graph reads it.
        """
        if not self.requires_grad:
            raise RuntimeError("backward() on a tensor that does not require grad "
                               "(no input of the computation had requires_grad=True)")
        if grad is None and self._data.size == 1 and not create_graph:
            seed = backend.get_array_module(self._data).ones_like(self._data)
        elif grad is None and self._data.size != 1:
            raise RuntimeError(f"backward() without grad needs a single-element output, got "
                               f"shape {self.shape}; pass grad= of that shape")
        else:
            seed = engine.seed(self, grad, create_graph, "backward(grad): grad")
        found = engine.run_backward((self,), (seed,), create_graph, retain_graph or create_graph)
        # write the leaves' gradients, only now that the whole pass has succeeded
        if create_graph:
            for t, g in found:
                _accumulate_recorded_grad(t, g)
            return
        for t, g in found:
            # accumulate in the leaf's dtype (a float64 input promotes the ops after a float32
            # weight, not the weight's gradient), copying so that no two leaves share one array
            if g.dtype != t._data.dtype:
                g = g.astype(t._data.dtype)
            t.grad = g.copy() if t.grad is None else t.grad + g
            if t.grad_graph is not None:
                t.grad_graph = None  # the graph of an earlier recorded pass, now out of date
        if tracer.active is not None:
            tracer.active.after_backward()  # mg.compile: these writes were recorded

    @tracer.replayed(graph="before")  # outside the graph: mg.compile's replay calls it again
    def zero_grad(self) -> None:
        self.grad = None
        self.grad_graph = None


    # ======================================================================== arithmetic

    def __add__(self, other: Operand) -> Tensor:
        return ops.Add().apply(self, _as_tensor(other, self))

    def __radd__(self, other: Operand) -> Tensor:
        return ops.Add().apply(_as_tensor(other, self), self)

    def __sub__(self, other: Operand) -> Tensor:
        return ops.Sub().apply(self, _as_tensor(other, self))

    def __rsub__(self, other: Operand) -> Tensor:
        return ops.Sub().apply(_as_tensor(other, self), self)

    def __mul__(self, other: Operand) -> Tensor:
        return ops.Mul().apply(self, _as_tensor(other, self))

    def __rmul__(self, other: Operand) -> Tensor:
        return ops.Mul().apply(_as_tensor(other, self), self)

    def __truediv__(self, other: Operand) -> Tensor:
        return ops.Div().apply(self, _as_tensor(other, self))

    def __rtruediv__(self, other: Operand) -> Tensor:
        return ops.Div().apply(_as_tensor(other, self), self)

    def __pow__(self, other: Operand) -> Tensor:
        if isinstance(other, numbers.Real) and not isinstance(other, bool):
            return ops.PowScalar(other).apply(self)
        return ops.Pow().apply(self, _as_tensor(other, self))

    def __rpow__(self, other: Operand) -> Tensor:
        if isinstance(other, numbers.Real) and not isinstance(other, bool):
            return ops.RPowScalar(other).apply(self)
        return ops.Pow().apply(_as_tensor(other, self), self)

    def __matmul__(self, other: Operand) -> Tensor:
        other = _as_tensor(other, self)
        _check_matmul(self.shape, other.shape)
        return ops.MatMul().apply(self, other)

    def __rmatmul__(self, other: Operand) -> Tensor:
        other = _as_tensor(other, self)
        _check_matmul(other.shape, self.shape)
        return ops.MatMul().apply(other, self)

    def __neg__(self) -> Tensor:
        return ops.Neg().apply(self)

    def __pos__(self) -> Tensor:
        return self

    # comparisons give boolean tensors outside the graph
    def __lt__(self, other: Operand) -> Tensor:
        return _computed(operator.lt, self, other)

    def __le__(self, other: Operand) -> Tensor:
        return _computed(operator.le, self, other)

    def __gt__(self, other: Operand) -> Tensor:
        return _computed(operator.gt, self, other)

    def __ge__(self, other: Operand) -> Tensor:
        return _computed(operator.ge, self, other)

    def __eq__(self, other: object) -> Tensor:  # type: ignore[override]  # elementwise, as torch
        return _computed(operator.eq, self, other)

    def __ne__(self, other: object) -> Tensor:  # type: ignore[override]  # elementwise, as torch
        return _computed(operator.ne, self, other)

    __hash__ = object.__hash__

    # ======================================================================== reductions

    def sum(self, axis: Axis = None, keepdims: bool = False) -> Tensor:
        return ops.Sum(axis, keepdims).apply(self)

    def mean(self, axis: Axis = None, keepdims: bool = False) -> Tensor:
        return ops.Mean(axis, keepdims).apply(self)

    def max(self, axis: Axis = None, keepdims: bool = False) -> Tensor:
        """Maximum over `axis`; tied elements share the gradient equally (as torch.amax)."""
        return ops.Max(axis, keepdims).apply(self)

    def min(self, axis: Axis = None, keepdims: bool = False) -> Tensor:
        """Minimum over `axis`; tied elements share the gradient equally (as torch.amin)."""
        return ops.Min(axis, keepdims).apply(self)

    def var(self, axis: Axis = None, keepdims: bool = False, correction: int = 1) -> Tensor:
        """Variance dividing by N - correction (default 1, unbiased, as torch.var)."""
        return ops.Var(axis, keepdims, correction).apply(self)

    def argmax(self, axis: int | None = None) -> Tensor:
        return _computed(operator.methodcaller("argmax", axis=axis), self)

    def argmin(self, axis: int | None = None) -> Tensor:
        return _computed(operator.methodcaller("argmin", axis=axis), self)

    # ======================================================================== elementwise

    def exp(self) -> Tensor:
        return ops.Exp().apply(self)

    def log(self) -> Tensor:
        return ops.Log().apply(self)

    def sqrt(self) -> Tensor:
        return ops.Sqrt().apply(self)

    def tanh(self) -> Tensor:
        return ops.Tanh().apply(self)

    def sigmoid(self) -> Tensor:
        return ops.Sigmoid().apply(self)

    def relu(self) -> Tensor:
        """max(x, 0); the gradient at 0 is 0 (as torch)."""
        return ops.ReLU().apply(self)

    def abs(self) -> Tensor:
        """|x|; the gradient at 0 is 0 (as torch)."""
        return ops.Abs().apply(self)

    def clip(self, min: float | None = None, max: float | None = None) -> Tensor:
        """Clamp to [min, max]; the gradient passes where min <= x <= max (as torch.clamp)."""
        return ops.Clip(min, max).apply(self)

    def softmax(self, axis: int = -1) -> Tensor:
        return ops.Softmax(axis).apply(self)

    def log_softmax(self, axis: int = -1) -> Tensor:
        return ops.LogSoftmax(axis).apply(self)

    # ======================================================================== shape

    def reshape(self, *shape: int | Shape | list[int]) -> Tensor:
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        try:
            return ops.Reshape(shape).apply(self)
        except (ValueError, TypeError) as e:
            raise ValueError(f"cannot reshape a tensor of shape {self.shape} to {shape}: {e}") from None

    def flatten(self, start_axis: int = 0, end_axis: int = -1) -> Tensor:
        shape = self.shape
        start, end = (normalize_axis("flatten", a, len(shape))
                      for a in (start_axis, end_axis))
        if not shape:
            return self.reshape(1)  # as torch: a 0-d tensor flattens to one element
        (start,), (end,) = start, end
        if start > end:
            raise ValueError(f"flatten: start_axis {start_axis} comes after end_axis {end_axis}")
        # the explicit size, not -1, which is ambiguous when the tensor is empty
        return self.reshape(shape[:start] + (math.prod(shape[start:end + 1]),) + shape[end + 1:])

    def transpose(self, *axes: int | Shape | list[int]) -> Tensor:
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return ops.Transpose(axes or None).apply(self)

    @property
    def T(self) -> Tensor:
        return ops.Transpose(None).apply(self)

    def __getitem__(self, index: Index) -> Tensor:
        return ops.GetItem(_raw_index(index)).apply(self)


# ============================================================================ helpers

def _accumulate_recorded_grad(t: Tensor, g: Tensor) -> None:
    """Add a gradient from a recorded backward into a leaf's .grad (a copy of its value, in the
    leaf's dtype) and .grad_graph (the Tensor with its graph). .grad_graph keeps adding up while
    .grad still holds its value; after .grad was set to None, zeroed or clipped in place, it
    starts again from that value, a constant."""
    previous = t.grad_graph
    if t.grad is not None:
        xp = backend.get_array_module(t.grad)
        if previous is None or not bool(xp.array_equal(previous._data, t.grad)):
            previous = Tensor(t.grad)  # the value as it is now, a constant
        g = previous + g
    t.grad_graph = g
    t.grad = g._data.astype(t._data.dtype, copy=True)


def increment_version(tensors: object) -> None:
    """Count an in-place write into the array of a tensor (or of each tensor in a list), made
    without a Tensor op: an optimizer's step, Module.load_state_dict, a custom kernel. A backward
    that needs the tensor's old value then raises instead of silently using the new one.

    As torch.autograd.graph.increment_version. Cheap (an integer increment per tensor) and safe
    to call on anything: a Tensor or Parameter is counted; a raw array, None or any other object
    without a version (a duck-typed parameter) is left alone, as are such items of an iterable.
    """
    if tracer.active is not None:
        tracer.wrote_in_place()
    if isinstance(tensors, Tensor):
        tensors._version_counter[0] += 1
        function.writes += 1
    elif isinstance(tensors, Iterable) and not backend.is_array(tensors):
        for t in tensors:
            if isinstance(t, Tensor):
                t._version_counter[0] += 1
                function.writes += 1


def _raw(x: Any) -> Any:
    return x._data if isinstance(x, Tensor) else x


def _computed(fn: Any, *args: Any) -> Tensor:
    """fn of the arguments' arrays, outside the graph (a comparison, argmax): a Tensor that
    requires no grad. While mg.compile records, the computation is recorded, to run again."""
    t = Tensor(fn(*[_raw(a) for a in args]))
    if tracer.active is not None:
        tracer.active.computed(fn, args, t)
    return t


def _as_tensor(x: Operand, like: Tensor) -> Tensor:
    """Wrap a Python number or array as a constant; a Python number takes `like`'s dtype."""
    if isinstance(x, Tensor):
        return x
    if isinstance(x, numbers.Number):
        xp = backend.get_array_module(like._data)
        dtype = like.dtype if like.dtype.kind in "fc" or isinstance(x, numbers.Integral) \
            else backend.get_default_dtype()
        return Tensor(xp.asarray(x, dtype=dtype))
    if backend.is_array(x):
        return Tensor(x)
    raise TypeError(f"unsupported operand of type {type(x).__name__}; expected a Tensor, "
                    "an array or a Python number")


def _raw_index(index: Index) -> Index:
    """Replace Tensors and lists inside an index with raw arrays."""
    if isinstance(index, tuple):
        return tuple(_raw_index(i) for i in index)
    if isinstance(index, Tensor):
        return index._data
    if isinstance(index, list):
        return np.asarray(index)
    return index


def _check_matmul(a: Shape, b: Shape) -> None:
    if len(a) == 0 or len(b) == 0:
        raise ValueError(f"matmul: both operands need at least 1 dimension, got shapes {a} and {b}")
    k_a = a[-1]
    k_b = b[0] if len(b) == 1 else b[-2]
    if k_a != k_b:
        raise ValueError(f"matmul: shapes {a} and {b} do not match "
                         f"({k_a} columns against {k_b} rows)")


def as_constant(x: Any, like: Array, name: str) -> Array:
    """x as a raw array on the device of the array `like`, for a value that takes no gradient (a
    condition, a mask, a target, indices): host data (a NumPy array, a list, a number) is moved
    there; a Tensor or a GPU array on another device is refused, naming both devices."""
    on_a_device = isinstance(x, Tensor) or (backend.is_array(x) and type(x) is not np.ndarray)
    x = x._data if isinstance(x, Tensor) else x
    device = backend.device_of(like)
    if not on_a_device:
        return backend.to_device(np.asarray(x), device)
    if backend.device_of(x) != device:
        raise RuntimeError(f"{name} is on {backend.device_of(x)} but the tensor is on {device}")
    return x
