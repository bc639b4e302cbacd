"""How many threads NumPy's BLAS may use: as many as there are cores that other work leaves free.

Why. OpenBLAS (NumPy's BLAS) splits each matrix product evenly among its threads, one per core,
and after a product its threads keep spinning for a while (about 0.1 s, a compile-time setting)
waiting for the next one. In a training loop the next product comes within a millisecond, so the
threads never sleep: they hold every core. On an idle machine that costs nothing. Beside other
CPU-bound work it costs a lot: a product waits for its slowest share, and that share's thread
is queued behind the other process, while the spinning threads take time from both.
bench/busy_machine.py measured it on a loaded 2-core machine (docs/benchmarks.md, "On a busy
machine"): beside one more CPU hog, a step of `--task digits` took 124 ms with two BLAS threads
against 11 ms with one, names 114 against 10. One thread per free core gives the run its share
of the machine and no less: on an idle machine nothing changes (large products, as in an MLP
784-512-512-10, keep both cores).

The policy (choose_threads): `cores` are those this process may run on (os.sched_getaffinity,
as optim's executor counts them); `busy` is how many of them other processes kept busy lately;
the BLAS gets round(cores - busy) threads (a half rounds down), at least 1 and at most what it
chose itself at start. So on 2 cores: two threads while other work uses less than half a core,
else one.

How busy is measured (Linux; elsewhere the policy does nothing): at import, by the threads
runnable at that moment (/proc/loadavg, less this one; the least of five looks in 5 ms); after
that, by /proc/stat's busy time on this process's cores less this process's own CPU time
(os.times), over the time since the last look. Not os.getloadavg(): a one-minute average that
also counts this process's own threads (and a run that ended seconds ago), so it would call an
idle machine busy.

When: `import minigrad` looks once, and changes the BLAS's limit only if the machine is busy
right then. BLAS state is global to the process, so a library changing it at import is a big
step; it is taken because the alternative (leave it, as NumPy does) makes every minigrad run on
a shared machine 3-8x slower, and because it can only lower the thread count, never raise it
past the BLAS's own choice. `refresh()` looks again, at most every REFRESH_S seconds (a clock
read otherwise), so that a run adapts when other work starts or stops: Tensor.backward calls
it, so every training loop does, once a step. It only ever acts in the thread that calls it:
changing a BLAS's thread count while another thread is inside a product is not safe, so there
is no background thread.

Numerics: a product large enough to be split among threads can round differently with another
thread count (OpenBLAS 0.3.31: an MLP 784-512-512-10's products do; every bundled task's are bit
for bit the same with 1 and 2 threads). So under this policy a large model's bits depend on the
machine's load; fix the count (below) where a run must repeat bit for bit.

The user's setting wins, always:
- OPENBLAS_NUM_THREADS, OMP_NUM_THREADS, MKL_NUM_THREADS (or the others in ENV_VARS) set in the
  environment: the policy never touches the BLAS (models/ sets them to 1 under mpirun);
- `set_num_threads(n)` (as torch.set_num_threads): n threads from now on, the policy off;
  `set_num_threads(None)` turns it back on;
- a limit set by anyone else (threadpoolctl.threadpool_limits, numpy's own controls): the policy
  leaves the BLAS alone while its limit differs from the one the policy last set. (A limit
  equal to the policy's own choice cannot be told apart from it; use set_num_threads.)

threadpoolctl (a small pure-Python library) is what reads and sets the BLAS's thread count, for
OpenBLAS, MKL, BLIS and FlexiBLAS alike. Without it the policy does nothing (status() says so)
and set_num_threads raises, naming the package.
"""
from __future__ import annotations

import math
import os
import time

import numpy  # noqa: F401  (loads the BLAS before threadpoolctl looks for it)

ENV_VARS = ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
            "BLIS_NUM_THREADS")
REFRESH_S = 0.5           # least time between two looks at the machine's load
_BUSY_FIELDS = (0, 1, 2, 5, 6)   # /proc/stat: user nice system irq softirq (not idle iowait steal)

_state = {
    "fixed": None,        # set_num_threads(n): n; None: the policy decides
    "blas": None,         # threadpoolctl's controllers for the BLAS libraries; False: none usable
    "why_not": None,      # why the policy cannot act (no threadpoolctl, no BLAS found)
    "default": None,      # the BLAS's own thread count when minigrad first looked
    "left": None,         # the limit the policy (or set_num_threads) last set
    "next": 0.0,          # time.monotonic() of the next look
    "meter": None,        # _LoadMeter, per process
    "busy": None,         # the last measured load of other processes, in cores
}


def choose_threads(cores: int, busy: float, default: int) -> int:
    """BLAS threads for a process that may run on `cores` cores while other processes keep `busy`
    of them busy: round(cores - busy) (a half rounds down), at least 1 and at most `default` (the
    BLAS's own count).
    E.g. on 2 cores: busy < 0.5 gives 2 (today's behaviour), busy >= 0.5 gives 1."""
    free = cores - max(0.0, busy)
    return max(1, min(default, math.ceil(free - 0.5)))  # halves round down


def cores() -> int:
    """The cores this process may run on (its affinity mask; the CPU count where there is none)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def user_setting() -> str | None:
    """What the user set that the policy yields to (a sentence), or None."""
    env = [f"{v}={os.environ[v]}" for v in ENV_VARS if os.environ.get(v, "").strip()]
    if env:
        return f"{', '.join(env)} in the environment"
    if _state["fixed"] is not None:
        return f"set_num_threads({_state['fixed']})"
    return None


def set_num_threads(n: int | None) -> None:
    """Use n BLAS threads from now on; the policy stops adjusting (as torch.set_num_threads).
    None hands the count back to the policy, starting from the BLAS's own count."""
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise ValueError(f"set_num_threads: expected a positive int or None, got {n!r}")
    blas = _blas()
    if not blas:
        raise RuntimeError(f"set_num_threads: cannot set the BLAS's threads: {_state['why_not']}")
    _state["fixed"] = n
    _set(blas, n if n is not None else _state["default"])
    _state["next"] = 0.0  # the policy looks again at the next refresh


def get_num_threads() -> int:
    """The BLAS's thread count now (the largest, if several BLAS libraries are loaded); without
    threadpoolctl, the cores this process may run on."""
    blas = _blas()
    return _current(blas) if blas else cores()


def status() -> dict:
    """What the policy sees and did: threads, default, cores, busy, and who decides (a sentence)."""
    blas = _blas()
    who = user_setting() or (f"nobody: {_state['why_not']}" if not blas else "the policy")
    return {"threads": get_num_threads(), "default": _state["default"], "cores": cores(),
            "busy": _state["busy"], "decided_by": who}


def refresh() -> None:
    """Look at the machine's load and apply the policy, if REFRESH_S has passed since the last
    look (otherwise a clock read). Call it from the thread that runs the matrix products."""
    now = time.monotonic()
    if now < _state["next"]:
        return
    _state["next"] = now + REFRESH_S
    if user_setting() is not None or not _blas():
        return
    meter = _state["meter"]
    if meter is None or meter.pid != os.getpid():  # first look, or a forked child
        meter = _state["meter"] = _LoadMeter()
        busy = meter.runnable_others()
    else:
        busy = meter.others_busy()
    if busy is not None:
        apply(busy)


def apply(busy: float) -> int:
    """Set the BLAS to choose_threads(cores(), busy, its default) threads, unless the user has
    set a count or someone else's limit holds; returns the BLAS's thread count afterwards."""
    _state["busy"] = busy
    blas = _blas()
    if not blas:
        return cores()
    current = _current(blas)
    if user_setting() is not None or (_state["left"] is not None and current != _state["left"]):
        return current
    n = choose_threads(cores(), busy, _state["default"])
    if n != current:
        _set(blas, n)
    _state["left"] = n
    return n


# ============================================================== the BLAS, through threadpoolctl

def _blas():
    """threadpoolctl's controllers for the loaded BLAS libraries (found once), or False."""
    if _state["blas"] is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            _state["blas"], _state["why_not"] = False, (
                "threadpoolctl is not installed (pip install threadpoolctl)")
            return False
        libs = ThreadpoolController().select(user_api="blas").lib_controllers
        if not libs:
            _state["blas"], _state["why_not"] = False, "threadpoolctl found no BLAS library loaded"
            return False
        _state["blas"] = libs
        _state["default"] = max(lib.get_num_threads() or 1 for lib in libs)
    return _state["blas"]


def _current(blas):
    return max(lib.get_num_threads() or 1 for lib in blas)


def _set(blas, n):
    for lib in blas:
        lib.set_num_threads(n)
    _state["left"] = n


# ============================================================== the load of other processes

class _LoadMeter:
    """Cores kept busy by other processes: the busy time of this process's cores (/proc/stat)
    less this process's own CPU time, over the time since the previous reading (Linux)."""

    def __init__(self) -> None:
        self.pid, self.cpus = os.getpid(), _affinity()
        self.tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100  # not on Windows
        self.last = self._read()

    def _read(self):
        """(wall s, busy s of our cores, our own CPU s), or None where /proc/stat is missing."""
        try:
            with open("/proc/stat") as f:
                lines = [line.split() for line in f if line.startswith("cpu") and line[3] != " "]
        except OSError:
            return None
        own = os.times()
        busy = sum(int(fields[1 + k]) for fields in lines if int(fields[0][3:]) in self.cpus
                   for k in _BUSY_FIELDS)
        return time.monotonic(), busy / self.tick, own.user + own.system

    def others_busy(self) -> float | None:
        """Cores the others kept busy since the last reading, or None (too soon, or no /proc)."""
        new = self._read()
        if new is None or self.last is None:
            return None
        wall = new[0] - self.last[0]
        if wall < REFRESH_S / 2:  # a few clock ticks: too coarse to tell
            return None
        busy = (new[1] - self.last[1] - (new[2] - self.last[2])) / wall
        self.last = new
        return max(0.0, busy)

    def runnable_others(self, looks: int = 5, gap_s: float = 0.001) -> float | None:
        """Other threads runnable now: /proc/loadavg's count less the one reading it, the least
        of a few looks a millisecond apart (a kernel thread that ran for an instant is not
        load), scaled to this process's share of the CPUs; None without /proc/loadavg."""
        counts = []
        for k in range(looks):
            try:
                with open("/proc/loadavg") as f:
                    counts.append(int(f.read().split()[3].split("/")[0]))
            except (OSError, IndexError, ValueError):
                return None
            if k < looks - 1:
                time.sleep(gap_s)
        return max(0, min(counts) - 1) * len(self.cpus) / (os.cpu_count() or len(self.cpus))


def _affinity():
    try:
        return set(os.sched_getaffinity(0))
    except AttributeError:
        return set(range(os.cpu_count() or 1))


refresh()  # the look at import (see the module docstring): changes nothing on an idle machine
