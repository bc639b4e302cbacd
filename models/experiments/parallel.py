"""Run an experiment's independent jobs (one per seed, per setting) in several processes.

The machine this course is written for has 2 cores; one training run of a toy model keeps one
core busy (its BLAS calls are small), so two processes halve a full run's time. Each job is a call
`fn(*args)` of a module-level function whose result depends only on its arguments (each seeds its
own model and data), so the results are the same, bit for bit, however many processes run them
and in whatever order they finish; they come back in the order of the jobs.

Processes: MINIGRAD_EXPERIMENT_PROCESSES if set (1 runs everything in this process), else the
cores this process may use. Workers are forked (the task's data loaded before is shared, not
copied) and keep their BLAS to one thread, so that two workers do not fight over two cores.
"""
import os


def processes():
    """How many worker processes map() uses."""
    given = os.environ.get("MINIGRAD_EXPERIMENT_PROCESSES")
    if given is not None:
        try:
            n = int(given)
        except ValueError:
            raise ValueError(f"MINIGRAD_EXPERIMENT_PROCESSES must be a whole number, got {given!r}") from None
        if n < 1:
            raise ValueError(f"MINIGRAD_EXPERIMENT_PROCESSES must be at least 1, got {n}")
        return n
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _worker_start():
    """A worker keeps its BLAS to one thread and leaves Ctrl-C to the parent, which stops the pool
    (else every worker prints its own KeyboardInterrupt traceback)."""
    import signal

    from threadpoolctl import threadpool_limits
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threadpool_limits(1)


def _call(job):
    fn, args = job
    return fn(*args)


def map(fn, jobs):
    """[fn(*args) for args in jobs], in several processes when there are several jobs and cores."""
    jobs = [tuple(args) for args in jobs]
    n = min(processes(), len(jobs))
    if n <= 1 or not hasattr(os, "fork"):
        return [fn(*args) for args in jobs]
    import multiprocessing
    with multiprocessing.get_context("fork").Pool(n, initializer=_worker_start) as pool:
        return pool.map(_call, [(fn, args) for args in jobs], chunksize=1)
