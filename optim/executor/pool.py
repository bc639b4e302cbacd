"""The worker threads that share a large CPU step, and the batches of chunk jobs they take.

A job is (job function, compiled loop or NumPy program, views of the arrays, numbers): a chunk of
one parameter's update. NumPy's ufuncs and Numba's nogil loops release the GIL, so one thread
per core (up to 8) runs chunks at once. In a step on the CPU, the stepping thread makes the
first tasks (their scalars, plans and views), then runs their chunks while a worker thread makes
the rest and queues their chunks (`overlapped`); then both take chunks until none is left.
Making a task is Python, about 5-10 µs a parameter; the chunks release the GIL, so the making
hides behind them. (The other way round, this thread making every task while workers run the
chunks, was as fast or up to 13% slower: a worker needs the GIL between chunks, and the making
thread holds it.)
"""
import contextvars
import os
import queue
import threading

PARALLEL_MIN = 1 << 19    # below this many elements in a step, threads cost more than they save

_pool = {"pid": None, "queue": None}  # this process's worker threads take jobs from the queue
_pool_lock = threading.Lock()


def execute(jobs, elements):
    """Run the jobs: on this thread alone below PARALLEL_MIN elements (handing work to a thread
    costs more than it saves), else shared with the worker threads, largest first so that the
    threads end together."""
    if elements < PARALLEL_MIN or workers() == 1:
        for job, fn, views, extra in jobs:
            job(fn, views, extra)
        return
    jobs.sort(key=lambda job: -job[2][0].size)
    batch = _Batch()
    batch.add(jobs)
    batch.join()


def overlapped(jobs, tasks, prepare):
    """A worker makes the rest of the tasks (prepare(task) -> (jobs, elements)) while this
    thread runs the first PARALLEL_MIN elements of jobs; then both take the rest. The making
    goes first in the queue, and this thread keeps its first jobs, so that the worker that
    wakes up takes the making."""
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
        except Exception as e:  # noqa: BLE001 (any error of a job is raised by join())
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
                if not self.pending or (self.cancelled and not self.running):
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


def workers():
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
            for k in range(workers() - 1):
                threading.Thread(target=_serve, args=(jobs,), daemon=True,
                                 name=f"optim-executor-{k}").start()
            _pool["pid"], _pool["queue"] = os.getpid(), jobs
    return _pool["queue"]
