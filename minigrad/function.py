"""The Function base class: every op's forward and backward, and the recording of the graph.

An op is a subclass with `forward(self, *arrays) -> array` and `backward(self, gy) -> tuple of
arrays` (one gradient per input, None where an input needs none; each of its input's shape and a
floating dtype, which Tensor.backward checks). Non-tensor arguments (an axis, a shape) go to
`__init__`. `Op(args).apply(x, y)` unwraps the tensors, runs forward on raw arrays
and, when grad mode is on and some input requires grad, records the op as the output's creator.

What backward reads is declared, so that a tensor written in place between forward and backward
is caught, as by torch's saved-tensor version check. For each input, in order: `saves` gives the
inputs its gradient is computed from (by index), `saves_output` whether it reads the op's result.
Only the gradients of inputs that require grad count, as torch saves a tensor only for a gradient
it will compute: `y = x * c` with only x requiring grad reads c, not x. When `saves` is set,
apply() notes every input's version (cheaper than working out which are read) and the count of
writes so far; the output's version is 0, as it was just made. Tensor.backward compares them
before the op's backward runs, only if some write came since, and raises if a tensor read moved.
An op whose result may share its input's memory (reshape, transpose, basic indexing) subclasses
ViewFunction: the result then shares the input's version counter, so a write into either is a
write into both.
"""
from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from . import anomaly, backend
from .backend import Array, Shape

if TYPE_CHECKING:  # for the hints only: tensor.py imports this module, never the reverse
    from .tensor import Tensor

_grad_enabled = True
OUTPUT = "output"  # names the op's result where saved_tensor_moved names a tensor
writes = 0  # in-place writes to any tensor so far: backward skips the check when none came since


def is_grad_enabled() -> bool:
    """False inside no_grad()."""
    return _grad_enabled


class _GradMode(contextlib.ContextDecorator):
    enabled = True

    def _recreate_cm(self) -> _GradMode:
        return type(self)()  # a fresh one per decorated call, so nested calls restore correctly

    def __enter__(self) -> None:
        global _grad_enabled
        self._prev = _grad_enabled
        _grad_enabled = self.enabled

    def __exit__(self, *exc: object) -> Literal[False]:
        global _grad_enabled
        _grad_enabled = self._prev
        return False


class no_grad(_GradMode):
    """Context manager and decorator: ops inside record no graph."""
    enabled = False


class enable_grad(_GradMode):
    """Context manager and decorator: turn grad mode back on inside a no_grad block."""
    enabled = True


def sum_to(g: Array, shape: Shape) -> Array:
    """Sum a broadcast gradient `g` back down to `shape` (the reverse of broadcasting)."""
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and g.shape[lead + i] != 1)
    g = g.sum(axis=axes, keepdims=True)
    if lead:
        g = g.reshape(shape)
    return g


class Function:
    """Base class of every op. See the module docstring for the protocol."""

    inputs: tuple[Tensor, ...] = ()  # the input tensors, recorded only when the graph is built
    released = False  # True once a backward pass has freed what forward saved
    saves = ()  # per input: the inputs its gradient reads, by index (see the module docstring)
    saves_output = ()  # per input: True when its gradient reads the op's result

    def apply(self, *inputs: Tensor) -> Tensor:
        xs = [t._data for t in inputs]
        if len(xs) > 1:
            _check_same_device(type(self).__name__, xs)
        y = self.forward(*xs)
        if type(y) is not np.ndarray and not backend.is_array(y):
            y = backend.get_array_module(*xs).asarray(y)  # NumPy turns 0-d results into scalars
        if anomaly.enabled:
            anomaly.check_forward(self, xs, y)
        if _grad_enabled:
            for t in inputs:
                if t.requires_grad:
                    self.inputs = inputs
                    if self.saves:  # for the in-place check (see the module docstring)
                        self.writes = writes
                        versions = self.versions = []
                        for x in inputs:  # a loop: half the cost of a comprehension on 3.11
                            versions.append(x._version_counter[0])
                    return inputs[0]._from_op(y, self)  # Tensor._from_op (see there)
        return inputs[0]._from_op(y, None)

    def forward(self, *xs: Array) -> Any:  # an array, or a NumPy scalar that apply() wraps
        raise NotImplementedError

    def backward(self, gy: Any) -> tuple[Any, ...]:  # arrays (or RowSparseGrad), None where none
        raise NotImplementedError

    def release(self) -> None:
        """Drop everything saved for backward (arrays, inputs) after a backward pass used it,
        so the graph's memory goes now rather than when the output does."""
        self.__dict__.clear()
        self.released = True

    @property
    def needs_input_grad(self) -> tuple[bool, ...]:
        return tuple(t.requires_grad for t in self.inputs)


def saved_tensor_moved(fn: Function, out: Tensor) -> tuple[int | str, int, int] | None:
    """(which, version now, version saved) for the first tensor that fn's backward will read and
    that was written in place since its forward (`which`: an input's index, or OUTPUT for `out`,
    fn's result), or None. Called by Tensor.backward only once some version has moved."""
    for i, x in enumerate(fn.inputs):
        if not x.requires_grad:
            continue  # its gradient is not computed: what it would read does not matter
        if i < len(fn.saves_output) and fn.saves_output[i] and out._version_counter[0]:
            return OUTPUT, out._version_counter[0], 0
        for j in fn.saves[i] if i < len(fn.saves) else ():
            if fn.inputs[j]._version_counter[0] != fn.versions[j]:
                return j, fn.inputs[j]._version_counter[0], fn.versions[j]
    return None


class ViewFunction(Function):
    """An op of one input whose result may share the input's memory (reshape, transpose, basic
    indexing). When it does, the result shares the input's version counter, as a torch view
    does: a write into either is a write into both, and a backward that saved either sees it."""

    def apply(self, x: Tensor) -> Tensor:  # type: ignore[override]  # one input
        out = Function.apply(self, x)
        # a view's .base is the array that owns the memory (NumPy and CuPy); a reshape that had
        # to copy has a private base of its own, and a fancy index none
        base = out._data.base
        if base is not None and (base is x._data or base is x._data.base):
            out._version_counter = x._version_counter
        return out


def _check_same_device(name: str, xs: list[Array]) -> None:
    kind = type(xs[0])
    for x in xs[1:]:
        if type(x) is not kind:
            devices = ", ".join(backend.device_of(x) for x in xs)
            raise RuntimeError(f"{name}: inputs are on different devices ({devices}); "
                               "move them to one device with .to(device)")
