"""A recorded step, and its replay: a list of instructions over numbered arrays (slots).

Four kinds of instruction, each run by the same code that ran it eagerly, so that a replay
computes the same bits:

- Op: an op's forward on the arrays in its input slots, into its output slot. The op object
  is the one recorded; its `__dict__` is put back to what its constructor made, the bindings
  filled from their slots, and `forward` runs: no Tensor is made and no graph is recorded.
- Backward: the recorded pass's plan, in the engine's order (autograd/engine.py): each op's
  `backward` on the gradient of its output, the gradients summed per tensor in the same order,
  then written into the leaves' `.grad` as Tensor.backward writes them. The order is the one
  the engine found; no graph is walked and nothing is checked again.
- Call: a function marked `@tracer.replayed` (an optimizer's step, zero_grad, batch norm's
  running statistics, a dropout mask's draw), called again with the same arguments; or, where
  the function gave one, its faster `capture` form.
- the outputs: the step's result rebuilt from its slots (a Tensor without a graph).

Before a replay, the guards: every layer the step ran still has its training flag and holds
the same parameters and buffers, and every tensor read from outside has its recorded shape,
dtype and device. A guard that fails makes the caller record again.
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
        return (backend.is_array(a) and backend.is_array(b) and a.shape == b.shape
                and a.dtype == b.dtype and type(a) is type(b) and bool((a == b).all()))
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
        seed = slots[self.seed_slot] if self.seed_slot is not None else self.seed
        grads = {self.root: seed}
        found = []
        for op, key, ins in self.plan:  # the chain rule, in the engine's order
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
        for (kind, i), g in found:  # as Tensor.backward writes them
            t = args[i] if kind == "arg" else externals[i][1]
            if g.dtype != t._data.dtype:
                g = g.astype(t._data.dtype)
            t.grad = g.copy() if t.grad is None else t.grad + g
            if t.grad_graph is not None:
                t.grad_graph = None
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


class Program:
    """One recorded call: its instructions, slots, guards and how to rebuild its result."""

    def __init__(self, instrs: list[Any], inputs: list[tuple[int, int]],
                 externals: list[tuple[int, Tensor]], slots: int, shapes: list[Any],
                 where: list[str], guards: list[tuple[Any, bool, tuple]], output: Any) -> None:
        self.instrs, self.inputs, self.externals = instrs, inputs, externals
        self.slots, self.shapes, self.where = slots, shapes, where
        self.guards, self.output = guards, output
        self.ops = [i.fn for i in instrs if type(i) is Op]

    def prepare(self) -> None:
        """Make the captured forms of the calls that have one (an optimizer's step)."""
        for instr in self.instrs:
            if type(instr) is Call:
                instr.prepare()

    def guard_failure(self) -> str | None:
        """Why this recording no longer fits the model (None when it does)."""
        for m, training, held in self.guards:
            if m.training is not training:
                return f"{type(m).__name__}.training is now {m.training}"
            d = vars(m)
            for name, v in held:
                if d.get(name) is not v:
                    return f"{type(m).__name__}.{name} was replaced"
        for s, t in self.externals:
            a, (shape, dtype, device) = t._data, self.shapes[s]
            if a.shape != shape or a.dtype != dtype or backend.device_of(a) != device:
                return f"a tensor the step reads changed to {a.shape} {a.dtype} on {backend.device_of(a)}"
        return None

    def run(self, args: tuple) -> Any:
        """Replay: the instructions in order on this call's arrays; the result, rebuilt."""
        slots: list[Any] = [None] * self.slots
        for i, s in self.inputs:
            a = args[i]
            slots[s] = a._data if isinstance(a, Tensor) else a
        for s, t in self.externals:
            slots[s] = t._data
        results: dict[int, Any] = {}
        try:
            for k, instr in enumerate(self.instrs):
                kind = type(instr)
                if kind is Op or kind is View:
                    instr.run(slots)
                elif kind is Backward:
                    instr.run(slots, args, self.externals)
                else:
                    results[k] = instr.run(slots)
        finally:
            for fn in self.ops:  # nothing an op saved outlives the step (as after backward)
                fn.__dict__.clear()
        return _rebuild(self.output, slots, results)

    def show(self) -> str:
        lines = [f"inputs: {', '.join(f'%{s} {_shape(self.shapes[s])}' for _, s in self.inputs)}"]
        ext = [f"%{s} {_shape(self.shapes[s])}" for s, _ in self.externals]
        lines.append(f"read from outside ({len(ext)}): {', '.join(ext)}")
        for k, instr in enumerate(self.instrs):
            lines.append(f"{k:4d}  {instr.describe(self.shapes)}")
        return "\n".join(lines)


def _rebuild(spec: tuple[str, Any], slots: list[Any], results: dict[int, Any]) -> Any:
    kind, value = spec
    if kind == "tensor":
        return Tensor._from_op(slots[value], None)
    if kind == "array":
        return slots[value]
    if kind in ("tuple", "list"):
        items = [_rebuild(s, slots, results) for s in value]
        return tuple(items) if kind == "tuple" else items
    if kind == "dict":
        return {k: _rebuild(s, slots, results) for k, s in value.items()}
    if kind == "call":
        return results[value]
    return value


def _shape(s: Any) -> str:
    if s is None:
        return ""
    shape, dtype, device = s
    return f"{dtype}{list(shape)}" + ("" if device == "cpu" else f" on {device}")


def _short(v: Any) -> str:
    if backend.is_array(v):
        return f"an array {v.shape} {v.dtype}"
    text = repr(v)
    return text if len(text) < 40 else text[:37] + "..."
