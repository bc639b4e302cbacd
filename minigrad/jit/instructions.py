"""The instructions of a recorded step (program.py runs them), each run by the same code that
ran it eagerly, so that a replay computes the same bits:

- Op: an op's forward on the arrays in its input slots, into its output slot. The op object
  is the one recorded; its `__dict__` is put back to what its constructor made, the bindings
  filled from their slots, and `forward` runs: no Tensor is made and no graph is recorded.
- View: a view of a slot's array that the step's Python made (a reshape of an input).
- Compute: a value computed outside the graph (a comparison, argmax).
- Call: a function marked `@tracer.replayed` (an optimizer's step, zero_grad, batch norm's
  running statistics, a dropout mask's draw), called again with the same arguments; or, where
  the function gave one, its faster `capture` form.
- Backward: the recorded pass's plan, in the engine's order (autograd/engine.py): each op's
  `backward` on the gradient of its output, the gradients summed per tensor in the same order,
  then written into the leaves' `.grad` as Tensor.backward writes them. No graph is walked and
  nothing is checked again.

Each can say how it differs from the same instruction of another recording (`differs`), which
is how two recordings of a step are compared, and describe itself for `show()`.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import backend
from ..tensor import Tensor


class Input:
    """What a replayed op's backward reads of an input tensor: whether it needs a gradient
    (`needs_input_grad`). The recorded tensors themselves are not kept."""
    __slots__ = ("requires_grad",)

    def __init__(self, requires_grad: bool) -> None:
        self.requires_grad = requires_grad


def same_value(a: Any, b: Any) -> bool:
    """Two constants of a recording are the same: one object, or equal arrays, tuples, numbers."""
    if a is b:
        return True
    if backend.is_array(a) or backend.is_array(b):
        if not (backend.is_array(a) and backend.is_array(b) and a.shape == b.shape
                and a.dtype == b.dtype and type(a) is type(b)):
            return False
        same = a == b
        if a.dtype.kind in "fc":  # NaN where both have NaN is the same value
            same |= (a != a) & (b != b)
        return bool(same.all())
    if type(a) is not type(b):
        return False
    if type(a) in (tuple, list):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 (an object without a usable ==: not a constant we know)
        return False


class Op:
    """An op's forward at replay (see the module docstring)."""
    __slots__ = ("fn", "init", "ins", "out", "bindings")

    def __init__(self, fn: Any, init: dict, ins: list[int], out: int,
                 bindings: list[tuple[str, int | None, int]]) -> None:
        self.fn, self.init, self.ins, self.out, self.bindings = fn, init, ins, out, bindings
        for name, _, _ in bindings:  # filled at each replay: the recorded arrays are not kept
            init[name] = None if type(init[name]) is not tuple else init[name]

    def run(self, slots: list[Any]) -> None:
        d = self.fn.__dict__
        d.clear()
        d.update(self.init)
        for name, i, s in self.bindings:
            if i is None:
                d[name] = slots[s]
            else:  # an array inside a tuple (an index)
                items = list(d[name])
                items[i] = slots[s]
                d[name] = tuple(items)
        y = self.fn.forward(*[slots[s] for s in self.ins])
        if type(y) is not np.ndarray and not backend.is_array(y):
            y = backend.get_array_module(*[slots[s] for s in self.ins]).asarray(y)
        slots[self.out] = y

    def differs(self, other: Op) -> str | None:
        name = type(self.fn).__name__
        if type(self.fn) is not type(other.fn) or self.ins != other.ins or self.out != other.out:
            return f"{name} and {type(other.fn).__name__} on different arrays"
        if self.bindings != other.bindings or self.init.keys() != other.init.keys():
            return f"{name}'s constructor was given different arrays"
        bound = {b[0] for b in self.bindings}
        for key, value in self.init.items():
            if key in bound or key == "inputs":
                continue
            if not same_value(value, other.init[key]):
                return (f"{name}'s {key} differs ({_short(value)} and {_short(other.init[key])}): "
                        "it comes from the data or from Python state that changes; pass it as "
                        "an argument of the step")
        return None

    def describe(self, shapes: list[Any]) -> str:
        ins = ", ".join(f"%{s}" for s in self.ins)
        bound = "".join(f" {n}=%{s}" for n, _, s in self.bindings)
        return f"%{self.out} = {type(self.fn).__name__}({ins}){bound}  {_shape(shapes[self.out])}"


class View:
    """A view of a slot's array that the step's Python made (a reshape of an input): the same
    elements of this call's array, as C-contiguous elements from `offset`, in `shape`."""
    __slots__ = ("base", "offset", "shape", "out")

    def __init__(self, base: int, offset: int, shape: tuple[int, ...], out: int) -> None:
        self.base, self.offset, self.shape, self.out = base, offset, shape, out

    def run(self, slots: list[Any]) -> None:
        flat = slots[self.base].reshape(-1)
        n = 1
        for d in self.shape:
            n *= d
        slots[self.out] = flat[self.offset:self.offset + n].reshape(self.shape)

    def differs(self, other: View) -> str | None:
        if (self.base, self.offset, self.shape, self.out) != \
                (other.base, other.offset, other.shape, other.out):
            return "a view of the step's arrays changed"
        return None

    def describe(self, shapes: list[Any]) -> str:
        return f"%{self.out} = view of %{self.base} from {self.offset}  {_shape(shapes[self.out])}"


class Compute:
    """A value computed outside the graph (a comparison, argmax: minigrad/tensor.py), computed
    again from this call's arrays."""
    __slots__ = ("fn", "spec", "out")

    def __init__(self, fn: Any, spec: list[tuple[bool, Any]], out: int) -> None:
        self.fn, self.spec, self.out = fn, spec, out

    def run(self, slots: list[Any]) -> None:
        slots[self.out] = self.fn(*[slots[v] if is_slot else v for is_slot, v in self.spec])

    def differs(self, other: Compute) -> str | None:
        if self.out != other.out or len(self.spec) != len(other.spec) or \
                any(a[0] != b[0] or (a[1] != b[1] if a[0] else not same_value(a[1], b[1]))
                    for a, b in zip(self.spec, other.spec)) or not same_value(self.fn, other.fn):
            return "a comparison or argmax was computed from different values"
        return None

    def describe(self, shapes: list[Any]) -> str:
        args = ", ".join(f"%{v}" if is_slot else _short(v) for is_slot, v in self.spec)
        return f"%{self.out} = {_name(self.fn)}({args})  {_shape(shapes[self.out])}"


class Call:
    """A `@tracer.replayed` function called again (or its captured form)."""
    __slots__ = ("fn", "capture", "args", "kwargs", "out", "fast")

    def __init__(self, fn: Any, capture: Any, args: tuple, kwargs: dict, out: int | None) -> None:
        self.fn, self.capture, self.args, self.kwargs, self.out = fn, capture, args, kwargs, out
        self.fast = None  # the captured form, made by prepare()

    def prepare(self) -> None:
        if self.capture is not None:
            self.fast = self.capture(*self.args, **self.kwargs)

    def run(self, slots: list[Any]) -> Any:
        result = self.fast() if self.fast is not None else self.fn(*self.args, **self.kwargs)
        if self.out is not None:
            slots[self.out] = result
        return result

    def differs(self, other: Call) -> str | None:
        name = self.fn.__qualname__
        if self.fn is not other.fn or self.out != other.out:
            return f"{name} and {other.fn.__qualname__} were called"
        for a, b in zip((*self.args, *self.kwargs.items()), (*other.args, *other.kwargs.items())):
            if hasattr(a, "forward") and type(a) is type(b) and hasattr(a, "backward"):
                continue  # an op of the step (batch norm's statistics): its own instruction
            if not same_value(a, b):
                return f"{name} was given {_short(a)}, then {_short(b)}"
        if len(self.args) != len(other.args) or self.kwargs.keys() != other.kwargs.keys():
            return f"{name} was called with different arguments"
        return None

    def describe(self, shapes: list[Any]) -> str:
        out = f"%{self.out} = " if self.out is not None else ""
        text = f"{out}call {self.fn.__qualname__}"
        if self.fast is not None:
            text += f"  [{getattr(self.fast, 'describe', 'captured')}]"
        return text


class Backward:
    """The recorded backward pass (see the module docstring)."""
    __slots__ = ("plan", "root", "seed_slot", "seed", "retain")

    def __init__(self, plan: list[tuple[Any, int, Any]], root: int, seed_slot: int | None,
                 seed: Any, retain: bool) -> None:
        self.plan, self.root, self.seed_slot, self.seed, self.retain = \
            plan, root, seed_slot, seed, retain

    def run(self, slots: list[Any], args: tuple, externals: list[tuple[int, Tensor]]) -> None:
        self.write(self.gradients(slots), args, externals)
        self.release()

    def gradients(self, slots: list[Any]) -> list[tuple[Any, Any]]:
        """The chain rule, in the engine's order: [(leaf, its gradient)]."""
        seed = slots[self.seed_slot] if self.seed_slot is not None else self.seed
        grads = {self.root: seed}
        found = []
        for op, key, ins in self.plan:
            g = grads.pop(key, None)
            if g is None:
                continue
            if op is None:  # a leaf: ins says which tensor
                found.append((ins, g))
                continue
            gxs = op.fn.backward(g)
            for k, gx in zip(ins, gxs):
                if k is None or gx is None:
                    continue
                grads[k] = gx if k not in grads else grads[k] + gx
        return found

    @staticmethod
    def write(found: list[tuple[Any, Any]], args: tuple,
              externals: list[tuple[int, Tensor]]) -> None:
        """Into the leaves' .grad, as Tensor.backward writes them."""
        for (kind, i), g in found:
            t = args[i] if kind == "arg" else externals[i][1]
            if g.dtype != t._data.dtype:
                g = g.astype(t._data.dtype)
            t.grad = g.copy() if t.grad is None else t.grad + g
            if t.grad_graph is not None:
                t.grad_graph = None

    def release(self) -> None:
        if not self.retain:
            for op, _, _ in self.plan:
                if op is not None:
                    op.fn.__dict__.clear()  # what forward saved, freed as release() frees it

    def differs(self, other: Backward) -> str | None:
        mine = [(op.out if op else None, k, ins) for op, k, ins in self.plan]
        theirs = [(op.out if op else None, k, ins) for op, k, ins in other.plan]
        if mine != theirs or self.root != other.root or self.seed_slot != other.seed_slot \
                or self.retain != other.retain:
            return "backward() went through a different graph"
        if self.seed_slot is None and not same_value(self.seed, other.seed):
            return "backward() was given a different gradient"
        return None

    def describe(self, shapes: list[Any]) -> str:
        ops = [op for op, _, _ in self.plan if op is not None]
        leaves = sum(op is None for op, _, _ in self.plan)
        lines = [f"backward  ({len(ops)} ops, {leaves} leaves get .grad)"]
        lines += [f"    d%{op.out}: {type(op.fn).__name__}.backward" for op in ops]
        return "\n".join(lines)


def _shape(s: Any) -> str:
    if s is None:
        return ""
    shape, dtype, device = s
    return f"{dtype}{list(shape)}" + ("" if device == "cpu" else f" on {device}")


def _name(fn: Any) -> str:
    return getattr(fn, "__name__", None) or repr(fn).replace("operator.", "")


def _short(v: Any) -> str:
    if backend.is_array(v):
        return f"an array {v.shape} {v.dtype}"
    text = repr(v)
    return text if len(text) < 40 else text[:37] + "..."
