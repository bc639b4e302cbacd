"""On a GPU: a replay's forward and backward pass as one CUDA graph, launched as one.

A small model on a GPU is bound by launches, not arithmetic: each op is a few kernels, each
kernel a few microseconds of launch, and the Python between them more. CuPy can record what a
stream would launch (stream capture) into a graph that one call launches again. A graph holds
pointers, so everything it reads and writes must stay where it was captured:

- the step's input arrays are copied into fixed buffers before each launch;
- the parameters are read where they are (the optimizer writes them in place; a replaced one
  fails the program's guards and the step records again);
- what the captured ops allocate stays allocated (the graph owns it), and the gradients and
  outputs are read from those arrays after each launch (outputs copied, so a kept loss does not
  change with the next launch).

Only device work with fixed numbers can be inside. The rest runs outside, in order: before the
launch, the calls marked `graph="before"` (dropout masks: drawn on the host generator, so
copied into fixed buffers; zero_grad) and the index checks (an op's `check`, which reads values
and so cannot run during capture); after it, the leaves' `.grad` writes, the calls marked
`graph="after"` (batch norm's running statistics, which read the batch statistics the graph
computed) and everything after the backward pass (the optimizer's step: its scalars change
every step). A program with any other call inside its forward or backward, or an op that draws
inside forward (attention dropout), is replayed without a graph.

The first replay on a GPU runs plainly (every kernel is then compiled and loaded: a capture
cannot compile one); the second captures, then launches. The capture allocates from a memory
pool of its own (CuPyStreams), which holds the graph's arrays for as long as the program lives.

A limit of CuPy, not of this module: CuPy refuses any cuBLAS call while a stream captures
(cupy_backends/cuda/libs/cublas.pyx, setStream: "calling cuBLAS API during stream capture is
currently unsupported"), and every floating-point matmul goes through cuBLAS. So a step with a
Linear layer fails its capture and is replayed without a graph (the replay still runs without
Tensors, graph building or checks, which is most of a small model's time on a GPU); the reason
is kept in the program's `why_no_graph` and printed under MINIGRAD_COMPILE_DEBUG=1. Capturing
matmuls would take calling cuBLAS directly with a workspace of the capture's pool.

Tests on the CPU exercise this module through a stand-in for CuPy's Stream and Graph
(tests/jit/test_cuda_graph.py); on a GPU, bench/gpu_check.sh runs the real one.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import backend
from ..tensor import Tensor
from .instructions import Backward, Call, Op, View
from .program import Program, _output_slots, rebuild


def plan(prog: Program) -> tuple[Any, str | None]:
    """(a GraphReplay for the program, None), or (None, why it is replayed without a graph)."""
    if prog.op_draws:
        return None, "an op draws inside its forward (attention dropout)"
    backward = next((k for k, i in enumerate(prog.instrs) if type(i) is Backward), None)
    if backward is None:
        return None, "the step has no backward pass"
    before, after = [], []
    for k, instr in enumerate(prog.instrs[:backward]):
        if type(instr) is Call:
            place = getattr(instr.fn, "graph", None)
            if place == "before":
                before.append(k)
            elif place == "after":
                after.append(k)
            else:
                return None, f"{instr.fn.__qualname__} runs inside the forward pass"
    # an op's check (before each launch) reads its bound arrays: they must hold this call's
    # values then: an input, a parameter, a hoisted call's result, or a view of an input
    fresh = {s for _, s in prog.inputs} | {s for s, _ in prog.externals}
    fresh |= {prog.instrs[k].out for k in before if prog.instrs[k].out is not None}
    for instr in prog.instrs[:backward]:
        if type(instr) is View and instr.base in fresh:
            fresh.add(instr.out)
        if type(instr) is Op and hasattr(instr.fn, "check"):
            late = [s for _, _, s in instr.bindings if s not in fresh]
            if late:
                return None, (f"{type(instr.fn).__name__} checks indices that the step computes "
                              "(they would be read before the launch computes them)")
    return GraphReplay(prog, backward, before, after), None


class GraphReplay:
    """A program's replay with its forward and backward pass as one CUDA graph."""

    def __init__(self, prog: Program, backward: int, before: list[int], after: list[int]):
        self.prog, self.backward, self.before, self.after = prog, backward, before, after
        self.graph = None
        self.calls = 0
        self.held: list[Any] = []
        self.inputs: dict[int, Any] = {}   # slot -> its fixed buffer
        self.slots: list[Any] = []
        self.found: list[tuple[Any, Any]] = []

    def run(self, args: tuple, stream_api: Any) -> Any:
        """This call, replayed: plainly the first time, then through the captured graph."""
        self.calls += 1
        if self.calls == 1:
            return self.prog.run(args)
        prog = self.prog
        if self.graph is None:
            try:
                self._capture(args, stream_api)
            except Exception as e:  # noqa: BLE001 (whatever the capture met: replay plainly)
                prog.graph, prog.why_no_graph = None, f"the capture failed ({type(e).__name__}: {e})"
                return prog.run(args)
        if any(t._data is not a for (_, t), a in zip(prog.externals, self.held)):
            # a parameter's array was replaced (p.data = ...): the graph holds the old pointer
            self.graph, self.calls = None, 0
            return prog.run(args)
        slots = self.slots
        for i, s in prog.inputs:  # this call's arguments, into the graph's fixed buffers
            a = args[i]
            self.inputs[s][...] = a._data if isinstance(a, Tensor) else a
        self._before(slots)
        self.graph.launch(stream_api.current())
        results: dict[int, Any] = {}
        Backward.write(self.found, args, prog.externals)
        for k in self.after:
            prog.instrs[k].run(slots)
        for k in range(self.backward + 1, len(prog.instrs)):
            instr = prog.instrs[k]
            results[k] = prog.run_one(instr, slots, args)
        out = list(slots)
        for s in _output_slots(prog.output):  # copies: the next launch rewrites the buffers
            out[s] = slots[s].copy()
        return rebuild(prog.output, out, results)

    def _before(self, slots: list[Any]) -> None:
        """What runs before each launch: hoisted calls (their results into fixed buffers), and
        the ops' checks of this call's values (an index out of range raises here)."""
        prog = self.prog
        for k in self.before:
            instr = prog.instrs[k]
            result = instr.fn(*instr.args, **instr.kwargs)
            if instr.out is not None:
                slots[instr.out][...] = result
        for instr in prog.instrs[:self.backward]:
            if type(instr) is Op and hasattr(instr.fn, "check"):
                instr.fn.check(*[slots[s] for s in instr.ins])

    def _capture(self, args: tuple, stream_api: Any) -> None:
        """Fixed buffers for the inputs and the hoisted calls' results, then the forward and
        backward ops captured on a stream of their own (which computes nothing yet)."""
        prog = self.prog
        slots: list[Any] = [None] * prog.slots
        for i, s in prog.inputs:
            a = args[i]
            a = a._data if isinstance(a, Tensor) else a
            slots[s] = self.inputs[s] = a.copy()
        for s, t in prog.externals:
            slots[s] = t._data
        for k in self.before:  # fixed buffers for what they return, filled before each launch
            out = prog.instrs[k].out
            if out is not None:
                shape, dtype, device = prog.shapes[out]
                slots[out] = backend.to_device(np.zeros(shape, dtype), device)
        self.slots = slots
        self.held = [t._data for _, t in prog.externals]  # the arrays whose pointers it bakes in
        # the checks read values (a sync): they run before each launch, never in the capture
        backend.capturing = True
        try:
            self.graph, self.found = stream_api.capture(lambda: self._segment(slots, args))
        finally:
            backend.capturing = False

    def _segment(self, slots: list[Any], args: tuple) -> list[tuple[Any, Any]]:
        prog = self.prog
        for k in range(self.backward):
            instr = prog.instrs[k]
            if type(instr) is not Call:
                instr.run(slots)
        return prog.instrs[self.backward].gradients(slots)


class CuPyStreams:
    """CuPy's stream capture as GraphReplay uses it: capture(fn) -> (graph, fn's result), and
    the stream to launch on (the current one, so that the launch is ordered with the copies
    before it and the optimizer's kernels after it).

    The capture allocates from a memory pool of its own, never used outside it: an array the
    captured ops free during capture (a temporary) goes back to that pool, so no allocation
    between launches can take memory the graph writes. Relaxed mode lets the pool grow
    (cudaMalloc) during capture."""

    def __init__(self, cp: Any) -> None:
        self.cp = cp
        self.stream = cp.cuda.Stream(non_blocking=True)
        self.pool = cp.cuda.MemoryPool()

    def capture(self, fn: Any) -> tuple[Any, Any]:
        cp = self.cp
        with cp.cuda.using_allocator(self.pool.malloc), self.stream:
            self.stream.begin_capture(cp.cuda.runtime.streamCaptureModeRelaxed)
            try:
                result = fn()
            except BaseException:
                try:  # end it, keeping the error that broke it (not "capture invalidated")
                    self.stream.end_capture()
                except Exception:  # noqa: BLE001
                    pass
                raise
            graph = self.stream.end_capture()
        return graph, result

    def current(self) -> Any:
        return self.cp.cuda.get_current_stream()
