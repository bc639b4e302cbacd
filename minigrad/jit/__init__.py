"""mg.compile: record a training step once, replay it without the framework in the way.

How a tracing JIT works
-----------------------
An eager training step pays for the framework at every op: a Tensor is made, the op is recorded
as its creator, the backward pass sorts the graph and checks every gradient, the optimizer looks
up each parameter's state and plans its update. For a small model that bookkeeping costs more
than the arithmetic. Yet a training step does the same work every time: the same ops, on arrays
of the same shapes, in the same order; only the numbers in the arrays change.

A tracing JIT (tinygrad's TinyJit, jax.jit, PyTorch's CUDA graphs) exploits that. It runs the
step once as usual and *records* what ran: each op's array work, in order, with which arrays it
read and wrote (recorder.py). The record is a program of instructions (instructions.py) over
numbered arrays (program.py). Later calls *replay* the program: each op's own forward and
backward, straight on the arrays, with no Tensor, no graph and no checks in between, so a
replayed step computes the same bits as the eager one, by construction. What the step does
outside the graph (the optimizer's update, zero_grad, batch norm's running statistics, the
dropout masks' draws) is marked in the library with `@tracer.replayed` (minigrad/tracer.py) and
called again at each replay, in the recorded order, so a learning-rate change or a schedule
takes effect and the masks come from the one generator in the same order. The optimizer's update
replays in its captured form: each parameter's compiled loop (optim/executor/) called directly,
its scalars computed anew.

A recording is only valid for what it saw, so three things keep a replay honest:

- *Guards.* A recording is looked up by the arguments' shapes, dtypes and devices, the grad
  mode and anomaly mode (other arguments by value). Before a replay, every layer the step ran
  must have the same training flag and the same parameter and buffer objects, and every tensor
  read from outside must have its recorded shape and dtype. A mismatch records again; at most
  `cache_size` recordings are kept per function (the least recently used goes), as
  torch.compile's recompiles.
- *Two recordings.* The first two calls with new shapes both run eagerly and are recorded; the
  second replays only if both ran the same work with the same constants. Control flow or a
  constant that depends on the data (or on Python state that changes) shows up as a difference.
- *Refusals.* What a replay cannot do again makes the step run eagerly, with a warning naming
  why: reading a value (`.item()`, `bool(t)`), backward(create_graph=True), autograd.grad, an
  in-place write outside a replayed call, an embedding with max_norm.

What it cannot see: Python in the step that reads `.data` and acts on it, or a value from a
closure that changes between calls, is baked into the recording (as in jax.jit). Pass such values
as arguments.

Fusion: the optimizer's update is one compiled loop per parameter (fused already). Ops are not
fused across each other here: Numba's tanh and exp round differently from NumPy's, and a replay
is bit-exact only if it calls the same NumPy functions. `compiled.show()` prints the program.
"""
from __future__ import annotations

import functools
import os
import sys
import warnings
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from .. import anomaly, backend, function, tracer
from ..tensor import Tensor
from . import cuda_graph, recorder
from .program import Program

__all__ = ["compile", "CompiledFunction"]


def compile(fn: Callable[..., Any] | None = None, *, cache_size: int = 8,
            debug: bool | None = None) -> Any:
    """Wrap a training step (forward, loss, backward(), the optimizer's step and zero_grad) so
    that its later calls replay the recorded work (see the module docstring). Use as
    `step = mg.compile(step)` or as the decorator `@mg.compile` / `@mg.compile(cache_size=16)`.

    cache_size: recordings kept (one per distinct argument shapes and modes). debug: print a
    line to stderr when a call records, re-records or falls back (default: the environment
    variable MINIGRAD_COMPILE_DEBUG=1).
    """
    if fn is None:
        return functools.partial(compile, cache_size=cache_size, debug=debug)
    if not callable(fn):
        raise TypeError(f"mg.compile expects a function, got {type(fn).__name__}")
    if isinstance(cache_size, bool) or not isinstance(cache_size, int) or cache_size < 1:
        raise ValueError(f"mg.compile: cache_size must be a positive integer, got {cache_size!r}")
    return CompiledFunction(fn, cache_size, debug)


class _Entry:
    """One argument signature's recordings: those ready to replay (each with its own guards: a
    model in training and in eval mode has one each), the one recorded once and waiting for
    its second call, or why the step runs eagerly."""
    __slots__ = ("programs", "first", "eager")

    def __init__(self) -> None:
        self.programs: list[Program] = []
        self.first: Program | None = None
        self.eager: str | None = None


class CompiledFunction:
    """A step wrapped by mg.compile: call it as the function; `.show()` prints what it replays,
    `.stats` counts calls by how they ran."""

    def __init__(self, fn: Callable[..., Any], cache_size: int = 8, debug: bool | None = None):
        functools.update_wrapper(self, fn)
        self.fn, self.cache_size = fn, cache_size
        self.debug = os.environ.get("MINIGRAD_COMPILE_DEBUG") == "1" if debug is None else debug
        self.entries: OrderedDict[Any, _Entry] = OrderedDict()
        self.stats = {"recorded": 0, "replayed": 0, "eager": 0, "re-recorded": 0}
        self._warned: set[str] = set()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if tracer.active is not None:  # inside another compiled step's recording: its work
            return self.fn(*args, **kwargs)
        flat = args + tuple(kwargs.values())
        key = _key(flat, tuple(kwargs))
        if key is None:
            self._fallback("an argument is neither a tensor nor a hashable value")
            return self.fn(*args, **kwargs)
        entry = self.entries.get(key)
        if entry is not None:
            for program in entry.programs:
                if program.guard_failure() is None:
                    self.entries.move_to_end(key)
                    self.stats["replayed"] += 1
                    return program.replay(flat)
            if entry.eager is not None:
                self.stats["eager"] += 1
                return self.fn(*args, **kwargs)
            if entry.programs:
                self._note(f"recording again: {entry.programs[-1].guard_failure()}")
                self.stats["re-recorded"] += 1
        else:
            entry = self._new_entry(key)
        return self._record(entry, args, kwargs, flat)

    def _new_entry(self, key: Any) -> _Entry:
        if len(self.entries) >= self.cache_size:
            self.entries.popitem(last=False)
            self._note(f"cache full ({self.cache_size}): dropped the least recently used recording")
        entry = self.entries[key] = _Entry()
        self._note(f"recording for {_describe(key)}")
        return entry

    def _record(self, entry: _Entry, args: tuple, kwargs: dict, flat: tuple) -> Any:
        """Run the step eagerly, recorded; the second recording that matches the first (made
        under the same guards) becomes a program to replay."""
        first = entry.first if entry.first is not None and entry.first.guard_failure() is None \
            else None
        watch = (entry.programs[-1].leaves if entry.programs
                 else entry.first.leaves if entry.first is not None else [])
        rec = recorder.start(flat, watch)
        try:
            result = self.fn(*args, **kwargs)
        finally:
            recorder.stop()
        self.stats["recorded"] += 1
        program = rec.finish(result)  # may find a reason too (a result with a graph)
        if rec.reason is not None:
            entry.eager = rec.reason
            self._fallback(rec.reason)
            return result
        if first is None:
            entry.first = program
            return result
        why = recorder.check_same(first, program)
        if why is not None:
            entry.eager = why
            self._fallback(why)
            return result
        program.prepare()
        streams = _streams(program)
        if streams is not None:  # on a GPU: the replay as a CUDA graph, where it can be one
            program.graph, program.why_no_graph = cuda_graph.plan(program)
            program.streams = streams
        if program.why_no_graph:
            self._note(f"replayed without a CUDA graph: {program.why_no_graph}")
        entry.first = None
        entry.programs = entry.programs[-(self.cache_size - 1):] + [program]
        return result

    def _fallback(self, why: str) -> None:
        self.stats["eager"] += 1
        if why not in self._warned:
            self._warned.add(why)
            warnings.warn(f"mg.compile({self.fn.__qualname__}) runs eagerly: {why}",
                          RuntimeWarning, stacklevel=3)

    def _note(self, text: str) -> None:
        if self.debug:
            print(f"mg.compile({self.fn.__qualname__}): {text}", file=sys.stderr)

    def show(self, file: Any = None) -> str:
        """The recorded programs, op by op (and print them, to `file` or stdout)."""
        parts = []
        for key, entry in self.entries.items():
            head = f"== {self.fn.__qualname__} for {_describe(key)}"
            for program in entry.programs:
                parts.append(f"{head}: replayed\n{program.show()}")
            if entry.eager is not None:
                parts.append(f"{head}: runs eagerly ({entry.eager})")
            elif not entry.programs:
                parts.append(f"{head}: recorded once; the next call records again to compare")
        text = "\n".join(parts) or f"{self.fn.__qualname__}: nothing recorded yet (call it first)"
        print(text, file=file)
        return text


def _streams(program: Program) -> Any:
    """CuPy's stream capture when the program's arrays are on a GPU, else None."""
    if not any(s is not None and s[2] != "cpu" for s in program.shapes):
        return None
    return cuda_graph.CuPyStreams(backend._import_cupy())


def _key(flat: tuple, names: tuple) -> Any:
    """The guard key: each argument's shape, dtype, device (and requires_grad), or its value;
    grad mode and anomaly mode. None if an argument can be neither."""
    # the same array passed twice is one slot of a recording: which arguments alias is guarded
    seen: dict[int, int] = {}
    aliases = tuple(seen.setdefault(id(a._data if isinstance(a, Tensor) else a), i)
                    for i, a in enumerate(flat))
    parts: list[Any] = [function.is_grad_enabled(), anomaly.enabled, names, aliases]
    for a in flat:
        if isinstance(a, Tensor):
            d = a._data
            parts.append(("tensor", d.shape, d.dtype.str, backend.device_of(d), a.requires_grad))
        elif backend.is_array(a):
            parts.append(("array", a.shape, a.dtype.str, backend.device_of(a)))
        else:
            try:
                hash(a)
            except TypeError:
                return None
            parts.append(("value", type(a), a))
    return tuple(parts)


def _describe(key: Any) -> str:
    args = []
    for part in key[4:]:
        if part[0] == "value":
            args.append(repr(part[2]))
        else:
            dtype = part[2].lstrip("<>|=")
            args.append(f"{part[0]} {list(part[1])} {dtype}" + ("" if part[3] == "cpu" else f" {part[3]}"))
    mode = "" if key[0] else ", no_grad"
    return f"({', '.join(args)}){mode}"
