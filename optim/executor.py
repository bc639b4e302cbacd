"""Executors: one optimizer rule, run three ways.

A rule (see optim/trace.py) is an optimizer's update written once, elementwise. A task is a rule,
its arrays (θ, g, then the state arrays; None for an absent one) and its per-step scalars h. How
it runs depends on the arrays, never on a second copy of the rule:

- NumPy: the rule traced into in-place ufunc calls (optim/numpy_kernel.py), run on chunks of
  128K elements so that its work arrays stay in cache. `reference=True` calls the rule itself
  once on the whole arrays (also for arrays that are not C-contiguous NumPy or CuPy ones): the
  readable path, for tests and for fused=False.
- Numba (the `fast` extra): the rule traced into one loop over the elements, compiled with
  `nogil` and `error_model="numpy"` (x / 0 is inf, as in NumPy, and the loop vectorizes): one pass
  over memory.
- CuPy: the rule traced into one CUDA elementwise kernel per array (optim/cuda_kernel.py).

Every form computes the same operations in the same order in the arrays' precision, so they agree
bit for bit on the CPU. A large CPU step is shared among threads (NumPy's ufuncs and Numba's
nogil loops release the GIL). In a step on the CPU, this thread makes the first tasks (their
scalars, plans and views), then runs their chunks while a worker thread makes the rest and
queues their chunks; then both take chunks until none is left. Making a task is Python, about
5-10 µs a parameter; the chunks release the GIL, so the making hides behind them. (The other
way round, this thread making every task while workers run the chunks, was as fast or up to
13% slower: a worker needs the GIL between chunks, and the making thread holds it.)
"""
import contextvars
import hashlib
import importlib.util
import operator
import os
import queue
import sys
import tempfile
import threading
import warnings
from typing import NamedTuple

import numpy as np

from minigrad import backend

from . import numpy_kernel
from .trace import Scalars, Traced, written

CHUNK = 1 << 17           # elements per NumPy chunk: work arrays of 512 KB (float32), kept per thread
                          # (not smaller: each ufunc call takes the GIL to start; see docs/benchmarks.md)
LOOP_CHUNK = 1 << 20      # least elements per compiled-loop chunk (only to share work among threads)
PARALLEL_MIN = 1 << 19    # below this many elements in a step, threads cost more than they save
LOOP_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))

_jit = {"enabled": os.environ.get("MINIGRAD_JIT", "1") != "0"}
_overlap = {"enabled": True}
_compiled = {}            # (rule, present, flags, dtype) -> compiled loop, or None
_traced = {}              # (rule, present, flags) -> Traced
_numpy_kernels = {}       # (Traced, dtype) -> (kernel, work arrays, bool work arrays, scalar names)
_plans = {}               # (rule, present, flags, dtype, jit on) -> see _plan
_local = threading.local()
_pool = {"pid": None, "queue": None}  # this process's worker threads take jobs from the queue
_pool_lock = threading.Lock()


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
        if overlap and _overlap["enabled"] and elements >= PARALLEL_MIN and prepare.workers > 1:
            _overlapped(jobs, tasks, prepare)
            return
    _execute(jobs, elements)


class _Preparer:
    """Turns a task into its CPU jobs (job, fn, views, numbers) and its element count; a task
    that is not on C-contiguous NumPy arrays (CuPy, strided) or a reference one runs at once."""

    def __init__(self, reference):
        self.reference, self.last, self.workers = reference, (None,), _workers()

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
        if job is _loop_job:  # a loop's chunks only share work: no more than one per thread
            size = max(size, -(-n // self.workers))
        flats = [a.ravel() for a in present]  # views: the arrays are C-contiguous
        if n <= size:
            return [(job, fn, flats, numbers)], n
        return [(job, fn, [f[s:s + size] for f in flats], numbers) for s in range(0, n, size)], n


def _plan(rule, arrays, h):
    """How a task with these present arrays, flags and dtype runs on the CPU (cached): its job
    function, the compiled loop or NumPy program, the scalars it reads, and its chunk size."""
    dtype = arrays[0].dtype
    key = (rule, tuple([a is None for a in arrays]), h.flags(), dtype, _jit["enabled"])
    plan = _plans.get(key)
    if plan is None:
        compiled = compiled_loop(rule, arrays, h) if dtype in LOOP_DTYPES else None
        if compiled is None:
            kernel = _numpy_program(rule, arrays, h)
            plan = (_numpy_job, kernel, kernel[3], CHUNK)
        else:
            plan = (_loop_job, compiled[0], compiled[1], LOOP_CHUNK)
        _plans[key] = plan
    return plan


def apply_rule(rule, arrays, h):
    """The rule on NumPy (or CuPy) arrays; each result is copied into its array."""
    ks, results = written(rule, rule(*arrays, h), len(arrays))
    for k, new in zip(ks, results):
        if arrays[k] is not None and new is not arrays[k]:
            arrays[k][...] = new


# ============================================================== the compiled loop (Numba)

def jit_available():
    """True when rules compile into loops: Numba imports and MINIGRAD_JIT is not 0."""
    return jit_unavailable_reason() is None


def jit_unavailable_reason():
    """Why rules run as NumPy chunks instead of compiled loops (None when they compile)."""
    if not _jit["enabled"]:
        return "MINIGRAD_JIT=0"
    if "numba" not in _jit:
        try:
            import numba
            _jit["numba"], _jit["why_not"] = numba, None
        except Exception as e:  # not installed, or built for another NumPy
            _jit["numba"], _jit["why_not"] = None, (
                f"Numba is not usable ({type(e).__name__}: {e}); install the fast extra: "
                "pip install 'minigrad[fast]'")
    return _jit["why_not"]


def set_jit(enabled):
    """Compile rules into loops (True, when Numba imports) or run them as NumPy chunks (False)."""
    _jit["enabled"] = bool(enabled)


def set_overlap(enabled):
    """Let a worker thread make a CPU step's later tasks while its first chunks run (True, the
    default), or make every task before any chunk starts (False; for benchmarks and debugging)."""
    _overlap["enabled"] = bool(enabled)


def traced(rule, arrays, h):
    """The rule traced for these flags and these present arrays (cached)."""
    present = tuple(a is not None for a in arrays)
    key = (rule, present, h.flags())
    if key not in _traced:
        _traced[key] = Traced(rule, len(arrays), present, dict(h.items()))
    return _traced[key]


def compiled_loop(rule, arrays, h):
    """(loop, names of its scalar arguments) for these arrays' dtype, or None (no Numba, or
    compiling failed).

    Compiled, and run once on empty arrays, before any element is written: a rule that fails
    to compile leaves the step to the NumPy chunks instead of failing halfway."""
    if jit_unavailable_reason() is not None:
        return None
    dtype = arrays[0].dtype
    key = (rule, tuple(a is not None for a in arrays), h.flags(), dtype)
    if key not in _compiled:
        _compiled[key] = None
        t = traced(rule, arrays, h)
        source, empty = _loop_source(t, dtype), np.empty(0, dtype)
        args = [empty] * sum(a is not None for a in t.arrays) + [dtype.type(0)] * len(t.scalars)
        for cached in (True, False):  # a cache that cannot be written or read: compile anew
            try:
                loop = _compile(source, cached)
                loop(*args)
                _compiled[key] = (loop, t.scalars)
                break
            except Exception as e:
                error = e
        else:
            warnings.warn(f"optim: compiling {rule.__module__}.{rule.__name__} for {dtype} failed "
                          f"({type(error).__name__}: {error}); running it as NumPy chunks",
                          RuntimeWarning)
    return _compiled[key]


def _loop_source(t, dtype):
    """A Python module with one function: the traced rule inside a loop over the elements."""
    arrays = [f"x{name[1:]}" for name in t.arrays if name]
    params = arrays + [f"s_{name}" for name in t.scalars]
    lines = ["import numpy as np", f"T = np.{dtype.name}", "",
             f"def loop({', '.join(params)}):", f"    for i in range({arrays[0]}.size):"]
    lines += [f"        {name} = x{name[1:]}[i]" for name in t.arrays if name]
    lines += [f"        {s}" for s in t.python_body()]
    for k, out in enumerate(t.outputs):
        if out is not None:
            value = out.name if hasattr(out, "name") else f"T({float(out)!r})"
            lines.append(f"        x{k}[i] = {value}")
    return "\n".join(lines) + "\n"


def _compile(source, cached):
    """njit the module's loop; cached on disk (Numba's cache) when a cache directory is writable."""
    numba = _jit["numba"]
    options = dict(nogil=True, error_model="numpy")
    path = _cache_file(source) if cached else None
    if path is not None:
        name = os.path.basename(path)[:-3]
        module = sys.modules.get(name)
        if module is None:
            spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            sys.modules[name] = module  # Numba's cache finds the function through its module
        return numba.njit(module.loop, cache=True, **options)
    namespace = {}
    exec(compile(source, "<optim loop>", "exec"), namespace)
    return numba.njit(namespace["loop"], **options)


def _cache_file(source):
    """The loop's source written to MINIGRAD_CACHE_DIR (default ~/.cache/minigrad), named by its
    hash so that Numba can cache the compiled code beside it; None if nothing is writable."""
    directory = os.environ.get("MINIGRAD_CACHE_DIR") or os.path.join(
        os.path.expanduser("~"), ".cache", "minigrad", "loops")
    path = os.path.join(directory, f"loop_{hashlib.sha1(source.encode()).hexdigest()[:16]}.py")
    try:
        if not os.path.exists(path):
            os.makedirs(directory, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp")
            with os.fdopen(fd, "w") as f:
                f.write(source)
            os.replace(tmp, path)
        return path
    except OSError:
        return None


# ============================================================== chunks and threads

def _numpy_program(rule, arrays, h):
    t, dtype = traced(rule, arrays, h), arrays[0].dtype
    if (t, dtype) not in _numpy_kernels:
        _numpy_kernels[t, dtype] = (*numpy_kernel.build(t, dtype), t.scalars)
    return _numpy_kernels[t, dtype]


def _numpy_job(kernel, views, args):
    fn, n_work, n_mask, _ = kernel
    n, dtype = views[0].size, views[0].dtype
    fn(*views, *args, *[_work(dtype, n, j) for j in range(n_work)],
       *[_work(np.dtype(bool), n, j) for j in range(n_mask)])


def _work(dtype, n, slot):
    """This thread's work array number `slot` of dtype, n elements (kept for the thread's life)."""
    arrays = getattr(_local, "work", None)
    if arrays is None:
        arrays = _local.work = {}
    a = arrays.get((dtype, slot))
    if a is None or a.size < n:
        a = arrays[(dtype, slot)] = np.empty(max(n, CHUNK), dtype=dtype)
    return a[:n]


def _loop_job(loop, views, args):
    loop(*views, *args)


def _execute(jobs, elements):
    """Run the jobs: on this thread alone below PARALLEL_MIN elements (handing work to a thread
    costs more than it saves), else shared with the worker threads, largest first so that the
    threads end together."""
    if elements < PARALLEL_MIN or _workers() == 1:
        for job, fn, views, extra in jobs:
            job(fn, views, extra)
        return
    jobs.sort(key=lambda job: -job[2][0].size)
    batch = _Batch()
    batch.add(jobs)
    batch.join()


def _overlapped(jobs, tasks, prepare):
    """A worker makes the rest of the tasks while this thread runs the first PARALLEL_MIN
    elements of jobs; then both take the rest. The making goes first in the queue, and this
    thread keeps its first jobs, so that the worker that wakes up takes the making."""
    batch, mine, n = _Batch(), [], 0
    while n < PARALLEL_MIN:
        mine.append(jobs.pop(0))
        n += mine[-1][2][0].size
    try:
        batch.add([(_make_rest, batch, tasks, prepare)] + jobs)
        for job, fn, views, extra in mine:
            job(fn, views, extra)
    except BaseException:
        batch.cancel()
        raise
    batch.join()


def _make_rest(batch, tasks, prepare):
    try:
        for task in tasks:
            if batch.cancelled:
                return
            jobs, _ = prepare(task)
            batch.add(jobs)
    except BaseException:
        batch.cancelled = True  # a task could not be made: start no more chunks
        raise


class _Batch:
    """One run's jobs, queued for the worker threads (add() may be called while they run);
    join() has this thread take queued jobs too, and returns when every job has ended. Jobs run
    in the caller's context (NumPy's error state), wherever they run. An error in a job is
    raised by join(), after every job has ended. An interrupt (KeyboardInterrupt) starts no
    more jobs and waits for the running ones, so that none still writes when the step has
    returned; it stops the step of the thread it reached, even if the job it cut short was
    another thread's (whose step then fails too, with a RuntimeError)."""

    def __init__(self):
        self.pending, self.running, self.errors = 0, 0, []
        self.cancelled, self.waiting = False, False
        self.lock = threading.Lock()
        self.done = threading.Condition(self.lock)
        self.queued, self.context = _queue(), contextvars.copy_context()

    def add(self, jobs):
        with self.lock:
            self.pending += len(jobs)
            for job in jobs:
                self.queued.put((self, job))
            if self.waiting:
                self.done.notify_all()

    def run_one(self, job, caller=None):
        """Run a job of this batch; caller: the batch whose join() took it (None: a worker)."""
        started = False
        try:
            with self.lock:
                started = not self.cancelled
                self.running += started
            if started:
                self.context.copy().run(*job)
        except Exception as e:
            self.errors.append(e)
        except BaseException as e:  # KeyboardInterrupt, SystemExit: start no more jobs
            self.cancelled = True
            if caller is None:
                self.errors.append(e)
            else:  # it stops the step of the thread it reached
                if caller is not self:
                    self.errors.append(RuntimeError(
                        f"a chunk of this step was cut short by {type(e).__name__} in the "
                        "thread that ran it"))
                raise
        finally:
            with self.lock:
                self.running -= started
                self.pending -= 1
                if not self.pending or self.cancelled and not self.running:
                    self.done.notify_all()

    def join(self):
        try:
            while True:  # this thread works too, on whatever is queued, until every job has ended
                try:
                    batch, job = self.queued.get_nowait()
                except queue.Empty:
                    with self.lock:
                        if not self.pending:
                            break
                        if self.queued.empty():  # running elsewhere, or still being made
                            self.waiting = True
                            self.done.wait()
                            self.waiting = False
                    continue
                batch.run_one(job, caller=self)
        except BaseException:  # KeyboardInterrupt: no job may still run when the step returns
            self.cancel()
            raise
        if self.errors:
            raise self.errors[0]

    def cancel(self):
        """Start no more jobs (the queued ones are dropped as they are taken), and wait for the
        running ones."""
        self.cancelled = True
        with self.lock:
            while self.running:
                self.done.wait()


def _serve(jobs):
    while True:
        batch, job = jobs.get()
        batch.run_one(job)


def _workers():
    """Threads to share a step among: the cores this process may run on, at most 8 (counted
    once per process)."""
    if _pool.get("workers_pid") != os.getpid():
        try:
            n = len(os.sched_getaffinity(0))
        except AttributeError:
            n = os.cpu_count() or 1
        _pool["workers"], _pool["workers_pid"] = max(1, min(n, 8)), os.getpid()
    return _pool["workers"]


def _queue():
    """This process's job queue, served by one thread fewer than there are cores (the thread
    that queues the jobs works too). A forked child has the queue but not its threads: it
    makes its own."""
    with _pool_lock:
        if _pool["pid"] != os.getpid():
            jobs = queue.SimpleQueue()
            for k in range(_workers() - 1):
                threading.Thread(target=_serve, args=(jobs,), daemon=True,
                                 name=f"optim-executor-{k}").start()
            _pool["pid"], _pool["queue"] = os.getpid(), jobs
    return _pool["queue"]
