"""Running the fast paths: in-place kernels over cache-sized chunks, on worker threads.

A fast path (`_update_fast`) does the scalar work of a step (counters, bias corrections) and
returns a task: an elementwise kernel, the same-shaped arrays it updates in place, and its
scalars. The kernel writes the reference equations as in-place ufuncs on one scratch array.
Large contiguous CPU arrays are cut into chunks of CHUNK elements (the chunk's arrays stay in
cache across the kernel's dozen passes, instead of streaming 40 MB per pass) and the chunks are
shared among threads (NumPy releases the GIL inside ufuncs). Everything else, CuPy arrays
included, runs as one chunk.
"""
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

CHUNK = 1 << 18           # elements per chunk: 1 MB of float32 per array
PARALLEL_MIN = 4 * CHUNK  # below this many elements in a step, threads cost more than they save

_pool = None
_pool_lock = threading.Lock()
_local = threading.local()


def _workers():
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:
        n = os.cpu_count() or 1
    return max(1, min(n, 8))


def _get_pool():
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(_workers(), thread_name_prefix="optim-kernel")
    return _pool


def _scratch(dtype, n):
    """This thread's chunk-sized work array (kept for the life of the thread)."""
    bufs = getattr(_local, "bufs", None)
    if bufs is None:
        bufs = _local.bufs = {}
    buf = bufs.get(dtype)
    if buf is None or buf.size < n:
        buf = bufs[dtype] = np.empty(max(n, CHUNK), dtype=dtype)
    return buf[:n]


def _run_chunks(jobs):
    for kernel, views, c in jobs:
        kernel(c, *views, _scratch(views[0].dtype, views[0].size))


def run(tasks, whole_scratch):
    """Run (kernel, arrays, scalars) tasks; whole_scratch(array) gives a persistent work array
    for arrays that are not chunked."""
    jobs, total = [], 0
    for kernel, arrays, c in tasks:
        if all(type(a) is np.ndarray and a.flags.c_contiguous for a in arrays):
            flats = [a.reshape(-1) for a in arrays]
            n = flats[0].size
            total += n
            for s in range(0, n, CHUNK):
                jobs.append((kernel, [f[s:s + CHUNK] for f in flats], c))
        else:
            kernel(c, *arrays, whole_scratch(arrays[0]))
    workers = _workers()
    if total < PARALLEL_MIN or workers == 1:
        _run_chunks(jobs)
        return
    # interleave chunks so each worker gets a share of every tensor; this thread takes one share
    futures = [_get_pool().submit(_run_chunks, jobs[k::workers]) for k in range(1, workers)]
    _run_chunks(jobs[0::workers])
    for f in futures:
        f.result()
