"""Plan and dispatch: how each task of a step runs, and running them.

A task is a rule (an optimizer's update written once, elementwise), its arrays (θ, g, then the
state arrays; None for an absent one) and its per-step scalars h. How it runs depends on the
arrays, never on a second copy of the rule:

- C-contiguous NumPy arrays: the task's plan (cached per rule, present arrays, flags and dtype)
  is the compiled loop (optim/executor/loop.py, when Numba imports) or else the NumPy program
  (optim/executor/numpy_program.py); the arrays are cut into chunks, the chunks are jobs, and
  the jobs run on this thread or are shared with the worker threads (optim/executor/pool.py).
- CuPy arrays: one CUDA kernel (optim/executor/cuda_kernel.py).
- `reference=True`, and arrays that are neither (strided views): the rule itself, called once
  on the whole arrays (`apply_rule`): the readable path, for tests, debuggers and fused=False.

Every form computes the same operations in the same order in the arrays' precision, so they
agree bit for bit on the CPU.
"""
import operator
from typing import NamedTuple

import numpy as np

from minigrad import backend

from ..scalars import Scalars
from . import loop, numpy_program, pool
from .loop import chunk_job as loop_job
from .trace import traced, written

_overlap = {"enabled": True}
_plans = {}               # (rule, present, flags, dtype, jit on) -> see _plan


class Task(NamedTuple):
    """One parameter's update: rule(*arrays, h) returns the new (θ, *state)."""
    rule: object
    arrays: list
    h: Scalars


def run(tasks, reference=False, overlap=False):
    """Run every task, in place. reference: the rule once on each whole array, nothing else.

    tasks may be any iterable (a step passes a generator). By default the CPU chunks start once
    every task is made, so a task that fails to be made leaves their arrays unwritten.
    overlap=True (a step whose arrays are all on the CPU): once this thread has made
    PARALLEL_MIN elements of chunks, a worker thread makes the remaining tasks while this
    thread runs those chunks; a task that then fails to be made starts no more chunks."""
    tasks, prepare = iter(tasks), _Preparer(reference)
    jobs, elements = [], 0
    for task in tasks:
        more, n = prepare(task)
        jobs += more
        elements += n
        if overlap and _overlap["enabled"] and elements >= pool.PARALLEL_MIN and prepare.workers > 1:
            pool.overlapped(jobs, tasks, prepare)
            return
    pool.execute(jobs, elements)


def set_overlap(enabled):
    """Let a worker thread make a CPU step's later tasks while its first chunks run (True, the
    default), or make every task before any chunk starts (False; for benchmarks and debugging)."""
    _overlap["enabled"] = bool(enabled)


class _Preparer:
    """Turns a task into its CPU jobs (job, fn, views, numbers) and its element count; a task
    that is not on C-contiguous NumPy arrays (CuPy, strided) or a reference one runs at once."""

    def __init__(self, reference):
        self.reference, self.last, self.workers = reference, (None,), pool.workers()

    def __call__(self, task):
        rule, arrays, h = task
        theta = arrays[0]
        if arrays[1] is theta:  # p.grad = p.data: the gradient is read after θ is written
            arrays = [theta, theta.copy(), *arrays[2:]]
        present = [a for a in arrays if a is not None]
        if self.reference or not all([type(a) is np.ndarray and a.flags.c_contiguous
                                      for a in present]):
            h = h.cast(theta.dtype)
            if not self.reference and backend.device_of(theta) != "cpu":
                from . import cuda_kernel
                cuda_kernel.run(traced(rule, arrays, h), arrays, h)
            else:
                apply_rule(rule, arrays, h)
            return [], 0
        # the parameters of a group usually share their scalars, the very same objects (the
        # group's, or the bias corrections' cache): then the last task's plan and cast
        # numbers serve again, and the flags are not looked at
        values = h.values()
        absent = len(present) < len(arrays) and tuple([a is None for a in arrays])
        key = (rule, theta.dtype, absent, len(values))
        last = self.last
        if key == last[0] and all(map(operator.is_, values, last[1])):
            job, fn, size, numbers = last[2]
        else:
            job, fn, names, size = _plan(rule, arrays, h)
            numbers = h.numbers(names, theta.dtype)
            self.last = (key, values, (job, fn, size, numbers))
        n = theta.size
        if job is loop_job:  # a loop's chunks only share work: no more than one per thread
            size = max(size, -(-n // self.workers))
        flats = [a.ravel() for a in present]  # views: the arrays are C-contiguous
        if n <= size:
            return [(job, fn, flats, numbers)], n
        return [(job, fn, [f[s:s + size] for f in flats], numbers) for s in range(0, n, size)], n


def _plan(rule, arrays, h):
    """How a task with these present arrays, flags and dtype runs on the CPU (cached): its job
    function, the compiled loop or NumPy program, the scalars it reads, and its chunk size."""
    dtype = arrays[0].dtype
    key = (rule, tuple([a is None for a in arrays]), h.flags(), dtype, loop.jit_enabled())
    plan = _plans.get(key)
    if plan is None:
        compiled = loop.compiled_loop(rule, arrays, h) if dtype in loop.LOOP_DTYPES else None
        if compiled is None:
            program = numpy_program.program(rule, arrays, h)
            plan = (numpy_program.chunk_job, program, program[3], numpy_program.CHUNK)
        else:
            plan = (loop_job, compiled[0], compiled[1], loop.LOOP_CHUNK)
        _plans[key] = plan
    return plan


def apply_rule(rule, arrays, h):
    """The rule on NumPy (or CuPy) arrays; each result is copied into its array.

    This is what fused=False runs: the rule's own Python, called once on the whole arrays. A
    breakpoint in an optimizer's rule stops here, with its arrays and h to inspect."""
    ks, results = written(rule, rule(*arrays, h), len(arrays))
    for k, new in zip(ks, results):
        if arrays[k] is not None and new is not arrays[k]:
            arrays[k][...] = new
