"""A recorded step and its replay: instructions (instructions.py) over numbered arrays (slots).

A replay fills the slots of the step's inputs and of the tensors it reads from outside, runs
the instructions in order, drops each array after its last use, and rebuilds the step's result
from its slots (a Tensor without a graph).

Before a replay, the guards: every layer of the models the step ran still holds what it held
(its training flag and settings by value; its parameters, buffers and sublayers by identity),
each optimizer it stepped has the same parameters, and every tensor read from outside has its
recorded shape, dtype, device and requires_grad. A guard that fails makes the caller record
again.
"""
from __future__ import annotations

from typing import Any

from .. import backend
from ..tensor import Tensor
from .instructions import Backward, Call, Compute, Op, View, _shape, same_value


class Program:
    """One recorded call: its instructions, slots, guards and how to rebuild its result."""

    def __init__(self, instrs: list[Any], inputs: list[tuple[int, int]],
                 externals: list[tuple[int, Tensor]], slots: int, shapes: list[Any],
                 where: list[str], guards: list[tuple[Any, tuple]], output: Any,
                 leaves: list[Tensor], op_draws: bool = False) -> None:
        self.instrs, self.inputs, self.externals = instrs, inputs, externals
        self.slots, self.shapes, self.where = slots, shapes, where
        self.guards, self.output, self.leaves = guards, output, leaves
        self.requires_grad = [t.requires_grad for _, t in externals]
        self.free_after = _last_uses(instrs, slots, output)
        self.op_draws = op_draws
        # on a GPU: a cuda_graph.GraphReplay and the CuPy streams it captures on (set by
        # minigrad/jit/__init__.py), or why there is no graph
        self.graph: Any = None
        self.streams: Any = None
        self.why_no_graph: str | None = None
        self.ops = [i.fn for i in instrs if type(i) is Op]

    def prepare(self) -> None:
        """Make the captured forms of the calls that have one (an optimizer's step)."""
        for instr in self.instrs:
            if type(instr) is Call:
                instr.prepare()

    def run_one(self, instr: Any, slots: list[Any], args: tuple) -> Any:
        kind = type(instr)
        if kind is Backward:
            return instr.run(slots, args, self.externals)
        return instr.run(slots)

    def guard_failure(self) -> str | None:
        """Why this recording no longer fits the model (None when it does)."""
        for m, held in self.guards:
            if hasattr(m, "param_groups"):
                if parameters_of(m) != held:
                    return f"the parameters of {type(m).__name__} changed"
            elif attributes(m) != held:
                changed = [k for (k, v), (_, w) in zip(attributes(m), held) if v != w]
                return f"{type(m).__name__}'s {', '.join(changed) or 'attributes'} changed"
        for (s, t), requires_grad in zip(self.externals, self.requires_grad):
            a, (shape, dtype, device) = t._data, self.shapes[s]
            if a.shape != shape or a.dtype != dtype or backend.device_of(a) != device:
                return f"a tensor the step reads changed to {a.shape} {a.dtype} on {backend.device_of(a)}"
            if t.requires_grad is not requires_grad:
                return f"a tensor of shape {a.shape} now has requires_grad={t.requires_grad}"
        return None

    def replay(self, args: tuple) -> Any:
        """This call, replayed: through its CUDA graph where it has one."""
        if self.graph is not None:
            return self.graph.run(args, self.streams)
        return self.run(args)

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
            for k, (instr, free) in enumerate(zip(self.instrs, self.free_after)):
                kind = type(instr)
                if kind is Op or kind is View or kind is Compute:
                    instr.run(slots)
                elif kind is Backward:
                    instr.run(slots, args, self.externals)
                else:
                    results[k] = instr.run(slots)
                for s in free:  # read by nothing later: dropped now, as eager drops a tensor
                    slots[s] = None
        finally:
            for fn in self.ops:  # nothing an op saved outlives the step (as after backward)
                fn.__dict__.clear()
        return rebuild(self.output, slots, results)

    def show(self) -> str:
        lines = [f"inputs: {', '.join(f'%{s} {_shape(self.shapes[s])}' for _, s in self.inputs)}"]
        ext = [f"%{s} {_shape(self.shapes[s])}" for s, _ in self.externals]
        lines.append(f"read from outside ({len(ext)}): {', '.join(ext)}")
        for k, instr in enumerate(self.instrs):
            lines.append(f"{k:4d}  {instr.describe(self.shapes)}")
        return "\n".join(lines)


def _last_uses(instrs: list[Any], n: int, output: Any) -> list[list[int]]:
    """For each instruction, the slots that no later instruction and no output reads."""
    last = [-1] * n

    def reads(k: int, slots: Any) -> None:
        for s in slots:
            if s is not None:
                last[s] = k
    for k, instr in enumerate(instrs):
        kind = type(instr)
        if kind is Op:
            reads(k, [*instr.ins, *[s for _, _, s in instr.bindings]])
        elif kind is View:
            reads(k, [instr.base])
        elif kind is Compute:
            reads(k, [v for is_slot, v in instr.spec if is_slot])
        elif kind is Backward:
            reads(k, [instr.seed_slot])
    for s in _output_slots(output):
        last[s] = len(instrs)
    free: list[list[int]] = [[] for _ in instrs]
    for s, k in enumerate(last):
        if 0 <= k < len(instrs):
            free[k].append(s)
    return free


def _output_slots(spec: tuple[str, Any]) -> list[int]:
    kind, value = spec
    if kind in ("tensor", "array"):
        return [value]
    if kind in ("tuple", "list"):
        return [s for v in value for s in _output_slots(v)]
    if kind == "dict":
        return [s for v in value.values() for s in _output_slots(v)]
    return []


def attributes(m: Any) -> tuple:
    """What a layer holds, to compare at replay: its training flag and settings by value, its
    parameters, buffers and sublayers by identity (inside lists and dicts too)."""
    out = []
    for name, v in vars(m).items():
        if isinstance(v, (list, tuple)):
            out.append((name, tuple(map(_ident, v))))
        elif isinstance(v, dict):
            out.append((name, tuple((k, _ident(x)) for k, x in v.items())))
        else:
            out.append((name, _ident(v)))
    return tuple(out)


def parameters_of(opt: Any) -> tuple:
    """An optimizer's parameters, group by group, by identity."""
    return tuple(tuple(map(id, g["params"])) for g in opt.param_groups)


def _ident(v: Any) -> Any:
    """A number, string or flag by value; anything else by identity."""
    if v is None or isinstance(v, (bool, int, float, str, complex)):
        return (type(v), v)
    return id(v)


def same_output(a: tuple[str, Any], b: tuple[str, Any]) -> bool:
    """Two recordings rebuild the step's result the same way (and return the same values)."""
    if a[0] != b[0]:
        return False
    if a[0] in ("tuple", "list"):
        return len(a[1]) == len(b[1]) and all(map(same_output, a[1], b[1]))
    if a[0] == "dict":
        return a[1].keys() == b[1].keys() and all(same_output(a[1][k], b[1][k]) for k in a[1])
    if a[0] == "value":
        return same_value(a[1], b[1])
    return a[1] == b[1]


def rebuild(spec: tuple[str, Any], slots: list[Any], results: dict[int, Any]) -> Any:
    """The step's result from this call's slots and call results."""
    kind, value = spec
    if kind == "tensor":
        return Tensor._from_op(slots[value], None)
    if kind == "array":
        return slots[value]
    if kind in ("tuple", "list"):
        items = [rebuild(s, slots, results) for s in value]
        return tuple(items) if kind == "tuple" else items
    if kind == "dict":
        return {k: rebuild(s, slots, results) for k, s in value.items()}
    if kind == "call":
        return results[value]
    return value
