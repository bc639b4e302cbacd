"""The points through which mg.compile watches a training step run (minigrad/jit/).

While mg.compile records a step, `active` holds its recorder; otherwise it is None and every
hook below costs one attribute read. The library calls these hooks where a step does something a
recording must know about:

- Function.apply (function.py): an op ran, on these inputs, with this result;
- the backward pass (autograd/engine.py): which gradients flow where; and Tensor.backward,
  once it has written the leaves' .grad (what the recording expects them to hold next);
- Module.__call__ (nn/module.py): a layer ran, so it and its sublayers are guarded at replay;
- a value computed outside the graph (tensor.py `_computed`: comparisons, argmax), recorded
  to compute again;
- `reads_value` (Tensor.item, bool(tensor), .numpy(), .tolist()): the step reads a number out
  of a tensor, which the recording cannot replay (the Python that follows may branch on it);
- `wrote_in_place` (increment_version, `.data = ...`): something wrote a tensor's array
  outside an op; and backend.rng(): a draw the library does not make itself;
- `@replayed` functions: work done outside the graph that the replay must do again, each time
  (an optimizer's step, zero_grad, a scheduler's step, batch norm's running statistics, the
  random draws of dropout masks). The recorder notes the call; the replay makes it again.

Anything else a step does in Python (reading `.data` and acting on it, a counter in a closure)
is not seen: it is baked into the recording, as jax.jit bakes in a closed-over value.
"""
from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

active: Any = None  # the Recorder while mg.compile records a call, else None


def replayed(fn: Callable[..., Any] | None = None, *, capture: Callable[..., Any] | None = None,
             graph: str | None = None) -> Any:
    """Decorator: a function (or method) whose work happens outside the graph and must happen
    again at every replay of a compiled step. Outside a recording it is called as it is.

    capture(*args, **kwargs), if given, returns a faster callable of no arguments that does the
    same work for these arguments at replay (an optimizer's step with its plan made once), or
    None to replay the function itself. graph: where a call made during the forward pass may
    run when the replay is a CUDA graph (minigrad/jit/cuda_graph.py): "before" the launch (a
    draw, zero_grad) or "after" it (batch norm's running statistics); None: not moved, so a
    forward pass that makes the call is replayed without a graph."""
    if fn is None:
        return functools.partial(replayed, capture=capture, graph=graph)
    fn.graph = graph  # type: ignore[attr-defined]

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        rec = active
        # not recording, inside another replayed call, or another thread's call
        if rec is None or rec.depth or rec.thread != threading.get_ident():
            if rec is not None and rec.in_op and graph == "before":
                rec.op_draws = True  # a draw inside an op's forward: no CUDA graph
            return fn(*args, **kwargs)
        rec.before_call()
        rec.depth += 1
        try:
            result = fn(*args, **kwargs)
        finally:
            rec.depth -= 1
        rec.call(fn, capture, args, kwargs, result)
        return result

    call.replayed = fn  # type: ignore[attr-defined]
    return call


def reads_value(what: str) -> None:
    """The step reads a tensor's value into Python (`what`: 'item()', 'bool()', ...)."""
    rec = active
    if rec is not None and not rec.depth:
        rec.cannot(f"the step reads a tensor's value with {what}: Python that follows may "
                   "depend on it, and a replay would not read it again")


def wrote_in_place() -> None:
    """Something wrote into a tensor's array outside an op (increment_version)."""
    rec = active
    if rec is not None and not rec.depth:
        rec.cannot("a tensor's array was written or assigned outside an op and outside a "
                   "replayed call (.data = ..., increment_version): a replay would not write it "
                   "again")
