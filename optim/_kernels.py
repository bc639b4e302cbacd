"""Running the fast paths: compiled loops when Numba is installed, in-place ufuncs otherwise.

A fast path (`_update_fast`) does the scalar work of a step (counters, bias corrections) and
returns a task: an elementwise kernel, the same-shaped arrays it updates in place (None for an
absent optional state), and its scalars. Each kernel comes in two forms, written side by side
in the optimizer's file and tested equal to each other and to the reference `_update`:

- the ufunc kernel: the equations as in-place NumPy/CuPy ufuncs on preallocated work arrays
  (its arguments after the state: kernel(c, *arrays, *work)), 5 to 15 passes over the arrays.
  It runs everywhere (CuPy arrays and non-contiguous arrays included, as one piece).
- the loop (`@loop_form(kernel)`): the same operations in the same order, element by element,
  compiled by Numba (the `fast` extra) into one pass over memory. It runs on C-contiguous
  float32/float64 NumPy arrays when Numba imports and MINIGRAD_JIT is not 0. Same operations in
  the same precision, so it gives the ufunc kernel's results bit for bit.

Large CPU arrays are cut into chunks, shared among threads by element count (NumPy's ufuncs and
Numba's nogil loops release the GIL). Ufunc chunks are cache-sized (the chunk's arrays stay in
cache across the kernel's passes); loop chunks only balance the threads, as a loop makes one
pass anyway.
"""
import os
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from minigrad.backend import get_array_module

CHUNK = 1 << 17           # elements per ufunc chunk: 512 KB of float32 per array, in L2
LOOP_CHUNK = 1 << 20      # elements per compiled-loop chunk
PARALLEL_MIN = 4 * CHUNK  # below this many elements in a step, threads cost more than they save
LOOP_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))

_pool, _pool_pid = None, None
_pool_lock = threading.Lock()
_local = threading.local()
_loops = {}               # ufunc kernel -> its loop (a plain Python function)
_compiled = {}            # (ufunc kernel, dtype) -> the loop compiled, or None
_jit = {"enabled": os.environ.get("MINIGRAD_JIT", "1") != "0", "why_not": None}


# ============================================================== building blocks of ufunc kernels

def ema_(avg, x, weight, tmp):
    """avg ← avg + weight (x - avg), the moving average (1 - weight) avg + weight x, in place."""
    get_array_module(avg).subtract(x, avg, out=tmp)
    tmp *= weight
    avg += tmp


def ema_square_(avg, x, decay, weight, tmp):
    """avg ← decay avg + weight x², in place."""
    avg *= decay
    get_array_module(avg).multiply(x, x, out=tmp)
    tmp *= weight
    avg += tmp


# ============================================================== loops, threads, chunks

def loop_form(kernel):
    """Register the decorated function as `kernel`'s loop form (compiled on first use)."""
    def register(loop):
        _loops[kernel] = loop
        return loop
    return register


def jit_available():
    """True when loops compile: Numba imports and MINIGRAD_JIT is not 0."""
    if not _jit["enabled"]:
        return False
    _numba()
    return _jit["why_not"] is None


def jit_unavailable_reason():
    """Why loops are not used (None when they are)."""
    if not _jit["enabled"]:
        return "MINIGRAD_JIT=0"
    _numba()
    return _jit["why_not"]


def set_jit(enabled):
    """Use compiled loops (True, when Numba imports) or the ufunc kernels only (False)."""
    _jit["enabled"] = bool(enabled)


def _numba():
    if "numba" not in _jit:
        try:
            import numba
        except Exception as e:  # not installed, or built for another NumPy
            numba, _jit["why_not"] = None, (f"Numba is not usable ({type(e).__name__}: {e}); "
                                       "install the fast extra: pip install 'minigrad[fast]'")
        _jit["numba"] = numba
    return _jit["numba"]


def _compiled_loop(kernel, dtype, n_arrays, scalars):
    """kernel's loop compiled for arrays of dtype, or None (no loop, no Numba, or it failed).

    Compiled here, on empty arrays, before any element is written: a loop that fails to
    compile leaves the step to the ufunc kernel instead of failing halfway."""
    key = (kernel, dtype)
    if key not in _compiled:
        _compiled[key] = None
        loop, numba = _loops.get(kernel), _numba()
        if loop is not None and numba is not None:
            empty = np.empty(0, dtype)
            for cache in (True, False):  # no writable cache directory: compile every run
                try:
                    # error_model="numpy": x / 0 gives inf as in NumPy (and lets the loop vectorize)
                    jitted = numba.njit(loop, nogil=True, cache=cache, error_model="numpy")
                    jitted(*[empty] * n_arrays, *scalars)
                    _compiled[key] = jitted
                    break
                except Exception as e:
                    error = e
            else:
                warnings.warn(f"optim: compiling {loop.__name__} for {dtype} failed "
                              f"({type(error).__name__}: {error}); using the ufunc kernel",
                              RuntimeWarning)
    return _compiled[key]


def _workers():
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:
        n = os.cpu_count() or 1
    return max(1, min(n, 8))


def _get_pool():
    global _pool, _pool_pid
    with _pool_lock:
        # a forked child has the pool but not its threads: it makes its own
        if _pool is None or _pool_pid != os.getpid():
            _pool = ThreadPoolExecutor(_workers(), thread_name_prefix="optim-kernel")
            _pool_pid = os.getpid()
    return _pool


def _scratch(dtype, n, slot):
    """This thread's chunk-sized work array number `slot` (kept for the life of the thread)."""
    bufs = getattr(_local, "bufs", None)
    if bufs is None:
        bufs = _local.bufs = {}
    buf = bufs.get((dtype, slot))
    if buf is None or buf.size < n:
        buf = bufs[(dtype, slot)] = np.empty(max(n, CHUNK), dtype=dtype)
    return buf[:n]


def n_scratch(kernel, n_arrays):
    """How many work arrays a kernel takes: it is kernel(c, *arrays, *work_arrays)."""
    return kernel.__code__.co_argcount - 1 - n_arrays


def _run_jobs(jobs):
    for kernel, loop, views, c in jobs:
        if loop is not None:
            loop(*views, *c)
        else:
            n, dtype = views[0].size, views[0].dtype
            kernel(c, *views, *[_scratch(dtype, n, k) for k in range(n_scratch(kernel, len(views)))])


def _chunks(kernel, loop, arrays, c, size):
    flats = [None if a is None else a.reshape(-1) for a in arrays]
    return [(kernel, loop, [None if f is None else f[s:s + size] for f in flats], c)
            for s in range(0, flats[0].size, size)]


def balance(sizes, workers):
    """Indices of the jobs for each worker, with about equal elements each: each job, largest
    first, goes to the least loaded worker (loads then differ by at most the largest job)."""
    shares, loads = [[] for _ in range(workers)], [0] * workers
    for i in sorted(range(len(sizes)), key=sizes.__getitem__, reverse=True):
        k = loads.index(min(loads))
        shares[k].append(i)
        loads[k] += sizes[i]
    return shares


def run(tasks, whole_scratch):
    """Run (kernel, arrays, scalars) tasks; whole_scratch(array, k) gives persistent work array
    number k for arrays that are not chunked."""
    jobs, total = [], 0
    for kernel, arrays, c in tasks:
        present = [a for a in arrays if a is not None]
        if not all(type(a) is np.ndarray and a.flags.c_contiguous for a in present):
            work = [whole_scratch(arrays[0], k) for k in range(n_scratch(kernel, len(arrays)))]
            kernel(c, *arrays, *work)
            continue
        total += arrays[0].size
        dtype = arrays[0].dtype
        loop = None
        if _jit["enabled"] and dtype in LOOP_DTYPES:
            # numbers in the arrays' precision, as the ufuncs see them; flags stay bool
            scalars = tuple(x if isinstance(x, bool) else dtype.type(x) for x in c)
            loop = _compiled_loop(kernel, dtype, len(arrays), scalars)
        if loop is None:
            jobs += _chunks(kernel, None, arrays, c, CHUNK)
        else:
            # an absent array is empty
            filled = [np.empty(0, dtype) if a is None else a for a in arrays]
            jobs += _chunks(kernel, loop, filled, scalars, LOOP_CHUNK)
    workers = _workers()
    if total < PARALLEL_MIN or workers == 1:
        _run_jobs(jobs)
        return
    shares = [[jobs[i] for i in share] for share in balance([job[2][0].size for job in jobs], workers)]
    futures = [_get_pool().submit(_run_jobs, share) for share in shares[1:]]
    _run_jobs(shares[0])  # this thread takes one share
    for f in futures:
        f.result()
