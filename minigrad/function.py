"""The Function base class: every op's forward and backward, and the recording of the graph.

Each op's derivative is written once. An op's `backward(self, gy)` is one formula that runs in
two passes, told apart by what `gy` is:

- the first-order backward (`loss.backward()`, `mg.grad(...)`): `gy` is a raw array, and so is
  everything the formula reads (what forward saved on `self`). The formula is plain NumPy/CuPy
  arithmetic: no Tensor is made and nothing is recorded, so it costs what a hand-written
  raw-array backward costs (one type check more).
- the recorded backward (`create_graph=True`): `gy` is a Tensor, and the formula reads Tensors
  instead: the op's inputs (`self.inputs`), and what it needs of its result or of forward's
  intermediates recomputed from them with Tensor ops (`y = x.tanh()`). The same arithmetic then
  runs as ops, grad mode on, so the gradient it returns has a graph, and differentiating it runs
  these same formulas again: to any order.

So a formula may use what arrays and Tensors share (operators, `sum`, `mean`, `reshape`,
`transpose`, indexing) and the few functions of minigrad/ops/primitives.py that pick the
NumPy/CuPy call or the op by their argument (`exp`, `where`, `broadcast_to`, `index_add`, ...).
A mask or a count computed from values (a comparison: relu's x > 0, max's ties) is a constant in
both passes: its derivative is zero wherever it exists. `recording(gy)` tells a formula which
pass it is in, for the one line that picks its values. An op whose second derivative is not
supported raises in the recorded pass, naming itself (Embedding with sparse=True is the one).

Why not DeZero's way, every backward in Tensor ops with recording switched off when not needed?
Each Tensor op costs a Tensor, a Function and a call even when nothing is recorded, for every
step of every formula of every backward: the first-order backward would pay that on each
training step. Here it pays one type check per op, and only the recorded pass makes Tensors
(and recomputes what it reads of a result: an extra forward op, as the price of holding no
reference from an op to its output). The engine that runs both passes is minigrad/autograd/
engine.py.

A user's own Function follows the same protocol: its backward gets a Tensor in the recorded
pass, so `gy * self.saved_array` still runs, but treats the saved array as a constant; such an
op's gradient is right and its second derivative is not. gradgradcheck (gradcheck.py) catches it.

The protocol in detail:

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

from . import anomaly, backend, tracer
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


def recording(g: Any) -> bool:
    """True when `g` is a Tensor (a backward formula in the recorded pass), False for a raw array
    or a NumPy scalar (the first-order pass). See the module docstring."""
    return type(g) is not np.ndarray and hasattr(g, "creator")


def sum_to(g: Any, shape: Shape) -> Any:
    """Sum a broadcast gradient `g` back down to `shape` (the reverse of broadcasting); `g` is a
    raw array or a Tensor (the sum and reshape it calls are shared by both)."""
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
        rec = tracer.active  # mg.compile recording a step (minigrad/tracer.py), else None
        if rec is not None:
            rec.before_op(self)
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
                    out = inputs[0]._from_op(y, self)  # Tensor._from_op (see there)
                    if rec is not None:
                        rec.after_op(self, inputs, out)
                    return out
        out = inputs[0]._from_op(y, None)
        if rec is not None:
            rec.after_op(self, inputs, out)
        return out

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
