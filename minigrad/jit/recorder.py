"""Recording one call of a step: what ran, on which arrays, into which arrays.

While a call runs eagerly, the hooks of minigrad/tracer.py report to a Recorder. It names every
array the step touches by a *slot* (an index): the step's inputs, the tensors it reads from
outside (parameters, constants), each op's result and each replayed call's result. An op is
written down with the slots it reads and writes and with what its constructor gave it (its
`__dict__` before forward); an array there that is a slot (the indices of an embedding, a
dropout mask) is a *binding*, filled from that slot at replay. The result is a Program
(program.py), made by `finish()`.
"""
from __future__ import annotations

import threading
from typing import Any

from .. import backend, function, tracer
from ..nn.module import Module
from ..tensor import Tensor
from .instructions import Backward, Call, Compute, Input, Op, View, same_value
from .program import Program, attributes, parameters_of, same_output


class Recorder:
    """Collects one eager call's work into a Program (see the module docstring)."""

    def __init__(self, args: tuple[Any, ...], watch: list[Tensor] = ()) -> None:
        self.thread = threading.get_ident()  # the thread running the step: only its work counts
        self.depth = 0          # > 0 inside a replayed call: its own work is not recorded
        self.in_op = 0          # > 0 inside an op's apply
        self.pending_backward: Backward | None = None  # a backward pass not yet finished
        self.op_draws = False   # an op drew from the generator inside its forward
        self.reason: str | None = None  # why this call cannot be replayed, once known
        self.arrays: list[Any] = []     # slot -> the array it held in this call
        self.where: list[str] = []      # slot -> what made it (for show())
        self.slot_of: dict[int, int] = {}   # id(array) -> slot
        self.owned: dict[int, int] = {}     # id(the array owning a slot's memory) -> first slot
        self.instrs: list[Any] = []
        self.externals: list[tuple[int, Tensor]] = []  # (slot, tensor read from outside)
        self.ext_of: dict[int, int] = {}    # id(tensor) -> index in externals
        self.op_of: dict[int, Op] = {}    # id(fn) -> its instruction
        self.pending: dict[int, dict] = {}  # id(fn) -> its __dict__ before forward
        self.modules: dict[int, Module] = {}
        self.calls: dict[int, int] = {}     # id(result of a replayed call) -> its instruction
        self.args = args
        # the leaves an earlier recording of this step wrote: their .data and .grad may change
        # only in ops, backward and replayed calls; anything else a replay would not do again
        self.watch, self.seen = list(watch), None
        self._snap()
        self.inputs: list[tuple[int, int]] = []  # (argument index, slot)
        self.arg_tensor: dict[int, int] = {}     # id(Tensor argument) -> argument index
        for i, a in enumerate(args):
            if isinstance(a, Tensor):
                self.arg_tensor[id(a)] = i
                self.inputs.append((i, self._new_slot(a._data, f"argument {i}")))
            elif backend.is_array(a):
                self.inputs.append((i, self._new_slot(a, f"argument {i}")))

    # ------------------------------------------------------------------ the hooks' side

    def cannot(self, why: str) -> None:
        if threading.get_ident() != self.thread:
            return  # another thread's work: not this step's
        if self.reason is None:
            self.reason = why

    def before_op(self, fn: function.Function) -> None:
        if threading.get_ident() != self.thread:
            return  # another thread's work: not this step's
        if not self.depth:
            self.pending[id(fn)] = dict(fn.__dict__)
        self.depth += 1  # what forward draws (attention's dropout mask) belongs to the op
        self.in_op += 1

    def after_op(self, fn: function.Function, inputs: tuple[Tensor, ...], out: Tensor) -> None:
        if threading.get_ident() != self.thread:
            return  # another thread's work: not this step's
        self.depth -= 1
        self.in_op -= 1
        if self.depth:
            return
        init = self.pending.pop(id(fn))
        ins = [self._tensor_slot(t) for t in inputs]
        bindings = []
        for name, value in init.items():
            if backend.is_array(value) and self._find(value) is not None:
                bindings.append((name, None, self._find(value)))
            elif type(value) is tuple:
                bindings += [(name, i, self._find(v)) for i, v in enumerate(value)
                             if backend.is_array(v) and self._find(v) is not None]
        if out.requires_grad:  # what backward reads of its inputs: only whether they need grad
            init["inputs"] = tuple(Input(t.requires_grad) for t in inputs)
        op = Op(fn, init, ins, self._new_slot(out._data, type(fn).__name__), bindings)
        self.op_of[id(fn)] = op
        self.instrs.append(op)

    def _snap(self) -> None:
        self.seen = [(t._data, t._data.copy(), t.grad, None if t.grad is None or not
                      backend.is_array(t.grad) else t.grad.copy()) for t in self.watch]

    def check_unseen_writes(self, where: str) -> None:
        """Refuse the recording if a watched leaf's .data or .grad changed since the last
        recorded event: a write this recording did not see (`p.grad = None`, `p.grad *= 2`)."""
        for t, (data, value, grad, gvalue) in zip(self.watch, self.seen):
            if t._data is not data or t.grad is not grad or not same_value(t._data, value) or (
                    gvalue is not None and not same_value(t.grad, gvalue)):
                self.cannot(f"a parameter's .data or .grad changed {where}, outside an op and "
                            "outside a replayed call (an assignment or a NumPy write in the "
                            "step): a replay would not do it again")
                return

    def before_call(self) -> None:
        if threading.get_ident() != self.thread:
            return  # another thread's work: not this step's
        if self.watch:
            self.check_unseen_writes("in the step")

    def call(self, fn: Any, capture: Any, args: tuple, kwargs: dict, result: Any) -> None:
        if threading.get_ident() != self.thread:
            return  # another thread's work: not this step's
        if self.watch:
            self._snap()
        for a in (*args, *kwargs.values()):
            if isinstance(a, Tensor) and id(a._data) in self.slot_of and id(a) not in self.ext_of:
                self.cannot(f"{fn.__qualname__} is given a tensor computed in the step")
        out = None
        if backend.is_array(result):
            out = self._new_slot(result, fn.__qualname__)
        instr = Call(fn, capture, args, kwargs, out)
        if result is not None and not isinstance(result, (bool, int)):
            self.calls[id(result)] = len(self.instrs)
        self.instrs.append(instr)

    def computed(self, fn: Any, args: tuple, out: Tensor) -> None:
        """A value computed outside the graph (a comparison, argmax), recorded to compute again."""
        if threading.get_ident() != self.thread:
            return  # another thread's work: not this step's
        if self.depth:
            return
        spec = []
        for a in args:
            if isinstance(a, Tensor):
                spec.append((True, self._tensor_slot(a)))
            elif backend.is_array(a) and self._find(a) is not None:
                spec.append((True, self._find(a)))
            else:
                spec.append((False, a))
        self.instrs.append(Compute(fn, spec, self._new_slot(out._data, "a value")))

    def module(self, m: Module) -> None:
        if threading.get_ident() != self.thread:
            return  # another thread's work: not this step's
        if not self.depth:
            self.modules.setdefault(id(m), m)

    def backward(self, order: list[Tensor], roots: Any, seeds: Any, create_graph: bool,
                 retain_graph: bool, targets: Any) -> None:
        if threading.get_ident() != self.thread:
            return  # another thread's work: not this step's
        if self.depth:
            return
        if self.watch:
            self.check_unseen_writes("before backward()")
        if create_graph:
            return self.cannot("backward(create_graph=True) records a graph of the backward "
                               "pass (a second-order optimizer's Hessian)")
        if targets is not None or len(roots) != 1:
            return self.cannot("autograd.grad() in the step (only loss.backward() is replayed)")
        key = {id(t): k for k, t in enumerate(order)}
        seed = seeds[0]
        seed_slot = self.slot_of.get(id(seed))
        plan = []
        for t in reversed(order):
            fn = t.creator
            if fn is None:
                plan.append((None, key[id(t)], self._leaf(t)))
                continue
            op = self.op_of.get(id(fn))
            if op is None:
                return self.cannot(f"backward() reaches {type(fn).__name__}, an op made "
                                   "before the step began (run the forward pass inside it)")
            ins = tuple(key[id(x)] if x.requires_grad else None for x in fn.inputs)
            plan.append((op, key[id(t)], ins))
        root = key[id(roots[0])]
        # kept once the pass has written the leaves (after_backward): a pass that raises, and
        # that the step catches, is not replayed
        self.pending_backward = Backward(plan, root, seed_slot, None if seed_slot is not None
                                         else seed.copy(), retain_graph)

    def after_backward(self) -> None:
        """Tensor.backward wrote the leaves' .grad: the pass is recorded, and the new values
        are the expected ones."""
        if threading.get_ident() != self.thread:
            return  # another thread's work: not this step's
        if self.depth:
            return
        if self.pending_backward is not None:
            self.instrs.append(self.pending_backward)
            self.pending_backward = None
        if self.watch:
            self._snap()

    # ------------------------------------------------------------------ slots

    def _new_slot(self, a: Any, where: str) -> int:
        if backend.is_array(a):
            self.owned.setdefault(id(a.base if a.base is not None else a), len(self.arrays))
        self.slot_of[id(a)] = len(self.arrays)
        self.arrays.append(a)
        self.where.append(where)
        return len(self.arrays) - 1

    def _find(self, a: Any) -> int | None:
        """The slot of array `a`: its own, or a new one for a view of a slot's array that the
        Python of the step made (`y.reshape(-1)` on an input), re-made at replay; or None."""
        s = self.slot_of.get(id(a))
        if s is not None:
            return s
        owner = a.base if a.base is not None else a  # NumPy and CuPy: the array that owns the memory
        s = self.owned.get(id(owner))
        if s is None:
            return None
        base = self.arrays[s]
        offset, rem = divmod(_address(a) - _address(base), a.itemsize)
        if base.dtype != a.dtype or not a.flags.c_contiguous or not base.flags.c_contiguous \
                or rem or offset < 0 or offset + a.size > base.size:
            return None
        view = View(s, offset, a.shape, self._new_slot(a, "a view"))
        self.instrs.append(view)
        return view.out

    def _tensor_slot(self, t: Tensor) -> int:
        s = self._find(t._data)
        return s if s is not None else self._external(t)

    def _external(self, t: Tensor) -> int:
        """A tensor the step reads from outside: a parameter, or a constant made in the step."""
        s = self._new_slot(t._data, f"tensor {tuple(t.shape)} from outside the step")
        self.ext_of[id(t)] = len(self.externals)
        self.externals.append((s, t))
        return s

    def _leaf(self, t: Tensor) -> tuple[str, int]:
        if id(t) in self.arg_tensor:
            return ("arg", self.arg_tensor[id(t)])
        if id(t) not in self.ext_of:
            self._external(t)
        return ("ext", self.ext_of[id(t)])

    # ------------------------------------------------------------------ the result

    def output(self, result: Any) -> Any:
        """How to rebuild the step's result at replay: slots, call results and constants."""
        if isinstance(result, Tensor):
            if id(result) in self.ext_of:  # a parameter: itself
                return ("value", result)
            s = self.slot_of.get(id(result._data))
            return ("tensor", s) if s is not None else ("value", result)
        if backend.is_array(result) and id(result) in self.slot_of:
            return ("array", self.slot_of[id(result)])
        if isinstance(result, (tuple, list)):
            return (type(result).__name__, [self.output(r) for r in result])
        if isinstance(result, dict):
            return ("dict", {k: self.output(v) for k, v in result.items()})
        if id(result) in self.calls:
            return ("call", self.calls[id(result)])
        return ("value", result)

    def finish(self, result: Any) -> Program:
        if self.in_op:  # an op raised and the step caught it: nothing after it was recorded
            self.cannot("an op raised inside the step and the step went on (a caught error): "
                        "the recording missed what followed")
        if self.watch:
            self.check_unseen_writes("after the last recorded work")
        done = {id(op.fn) for i in self.instrs if type(i) is Backward for op, _, _ in i.plan if op}
        if _needs_grad(result, done):
            self.cannot("the step returns a tensor that requires grad: a replay returns no graph "
                        "(put backward() inside the compiled step)")
        modules: dict[int, Module] = {}
        for m in self.modules.values():  # every layer of every model the step ran
            for sub in m.modules():
                modules.setdefault(id(sub), sub)
        guards = [(m, attributes(m)) for m in modules.values()]
        for instr in self.instrs:  # an optimizer's parameters, by identity (a replaced one)
            if type(instr) is Call:
                for a in instr.args:
                    if hasattr(a, "param_groups") and not any(g[0] is a for g in guards):
                        guards.append((a, parameters_of(a)))
        leaves: dict[int, None] = {}  # the externals that backward gives a .grad, in order
        for instr in self.instrs:
            if type(instr) is Backward:
                for op, _, leaf in instr.plan:
                    if op is None and leaf[0] == "ext":
                        leaves.setdefault(leaf[1])
        return Program(self.instrs, self.inputs, self.externals, len(self.arrays),
                         [(tuple(a.shape), a.dtype, backend.device_of(a)) if backend.is_array(a)
                          else None for a in self.arrays],
                         self.where, guards, self.output(result),
                         [self.externals[i][1] for i in leaves], self.op_draws)


def check_same(p1: Program, p2: Program) -> str | None:
    """Why two recordings of one step with the same input shapes differ (control flow or
    values that depend on the data, or Python state that changed), or None when the second can
    be replayed: the same instructions on the same slots, and every constant the same."""
    if len(p1.instrs) != len(p2.instrs) or p1.slots != p2.slots:
        return (f"the two recorded calls ran different work ({len(p1.instrs)} and "
                f"{len(p2.instrs)} steps): Python control flow depends on something that changes")
    for i, (a, b) in enumerate(zip(p1.instrs, p2.instrs)):
        why = a.differs(b)
        if why:
            return f"step {i} of the recording differs between two calls: {why}"
    if not same_output(p1.output, p2.output):
        return ("the step returns a value that no op made (a Python number, .data, .grad, an "
                "optimizer's lr) and it differs between two calls: a replay would return the "
                "recorded one")
    for (s1, t1), (s2, t2) in zip(p1.externals, p2.externals):
        if s1 != s2:
            return "the tensors read from outside the step changed between two calls"
        if t1 is not t2 and not same_value(t1._data, t2._data):
            return (f"a tensor of shape {t1.shape} made inside the step holds different values "
                    "on two calls (made from data or from changing Python state): pass it as an "
                    "argument")
    return None


def start(args: tuple[Any, ...], watch: list[Tensor] = ()) -> Recorder:
    if tracer.active is not None:
        raise RuntimeError("mg.compile: a compiled step called while another is being recorded")
    rec = tracer.active = Recorder(args, watch)
    return rec


def _needs_grad(result: Any, done: set[int]) -> bool:
    """Whether the result holds a tensor with a graph that no recorded backward went through
    (a forward's output, for a backward outside the step)."""
    if isinstance(result, Tensor):
        fn = result.creator
        return fn is not None and not fn.released and id(fn) not in done
    if isinstance(result, (tuple, list)):
        return any(_needs_grad(r, done) for r in result)
    if isinstance(result, dict):
        return any(_needs_grad(r, done) for r in result.values())
    return False


def stop() -> None:
    tracer.active = None


def _address(a: Any) -> int:
    """Where an array's first element is (NumPy and CuPy)."""
    return a.data.ptr if hasattr(a.data, "ptr") else a.__array_interface__["data"][0]
