"""The MPI primitives: which process am I, how many of us are there, and the collectives that
data parallelism needs (all_reduce, broadcast, all_gather) on NumPy and CuPy arrays.

A process started by `mpirun -n N` joins the job's N processes through mpi4py (MPI's
COMM_WORLD); a process started alone is rank 0 of a world of size 1, where every collective
returns its input unchanged, so one training script runs alone or under mpirun.

CuPy arrays travel through host copies (device -> host, MPI, host -> device). NCCL
(`cupy.cuda.nccl`) would keep them on the GPUs; it is not implemented, and the host path has not
been run on GPUs here.
"""
from __future__ import annotations

import os
from typing import Any, NoReturn

import numpy as np

from .. import backend
from ..backend import Array

# what an MPI launcher sets in each process it starts (Open MPI, PMIx, MPICH/Hydra)
LAUNCHER_VARIABLES = ("OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE", "PMI_RANK")
RANK_VARIABLES = ("OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK")
OPS = ("sum", "max", "min")

_comm = None        # mpi4py's COMM_WORLD inside an MPI job; None alone
_initialized = False


def launched_by_mpi() -> bool:
    """True when an MPI launcher (mpirun, mpiexec) started this process."""
    return any(v in os.environ for v in LAUNCHER_VARIABLES)


def launcher_rank() -> int:
    """This process's rank as its launcher set it in the environment, without joining the job
    (0 without a launcher): for deciding who prints before, or without, initialising MPI."""
    for v in RANK_VARIABLES:
        if os.environ.get(v, "").isdigit():
            return int(os.environ[v])
    return 0


def init() -> tuple[int, int]:
    """Join the MPI job this process was started in; alone, become rank 0 of a world of 1.

    Idempotent, and called by every function here on first use. Returns (rank, world_size).
    Importing mpi4py starts MPI, so it is imported only when a launcher started the process.
    """
    global _comm, _initialized
    if not _initialized:
        if launched_by_mpi():
            try:
                from mpi4py import MPI
            except ImportError:
                raise RuntimeError("this process was started by an MPI launcher, but mpi4py is "
                                   "not installed: pip install 'minigrad[mpi]'") from None
            _comm = MPI.COMM_WORLD
        _initialized = True
    return _rank_and_size()


def is_initialized() -> bool:
    return _initialized


def get_rank() -> int:
    """This process's rank, 0 .. world_size - 1."""
    return init()[0]


def get_world_size() -> int:
    """The number of processes in the job (1 without MPI)."""
    return init()[1]


def _rank_and_size() -> tuple[int, int]:
    return (0, 1) if _comm is None else (_comm.Get_rank(), _comm.Get_size())


def abort(code: int) -> NoReturn:
    """End every process of the job now, with exit status `code` (MPI_Abort): what a rank does
    when it cannot go on, since the others would otherwise wait for it in their next collective
    for ever. Alone, this process exits with `code`. Never returns; nothing is flushed or
    finalised (flush what must be seen first; files being written stay as they were: see
    serialization.write_atomic)."""
    if get_world_size() > 1:
        _comm.Abort(code)
    os._exit(code)


def barrier() -> None:
    """Wait until every rank has called barrier()."""
    if get_world_size() > 1:
        _comm.Barrier()


# ============================================================================ collectives

def all_reduce(array: Array, op: str = "sum") -> Array:
    """Combine `array` elementwise over all ranks (op: 'sum', 'max' or 'min'), in place on every
    rank; returns it. Every rank passes an array of the same shape and dtype."""
    _check_array(array, "all_reduce")
    if op not in OPS:
        raise ValueError(f"all_reduce: op must be one of {', '.join(OPS)}, got {op!r}")
    if get_world_size() == 1:
        return array
    from mpi4py import MPI
    host = _host(array)
    _comm.Allreduce(MPI.IN_PLACE, host, op={"sum": MPI.SUM, "max": MPI.MAX, "min": MPI.MIN}[op])
    _write_back(array, host)
    return array


def broadcast(array: Array, src: int = 0) -> Array:
    """Overwrite `array` on every rank with rank `src`'s, in place; returns it."""
    _check_array(array, "broadcast")
    _check_rank(src, "src")
    if get_world_size() == 1:
        return array
    host = _host(array)
    _comm.Bcast(host, root=src)
    _write_back(array, host)
    return array


def all_gather(array: Array, sizes: list[int] | None = None) -> list[Array]:
    """Every rank's `array`, as a list indexed by rank, on every rank.

    The arrays may differ in their first dimension (rows); the rest of the shape and the dtype
    must agree. `sizes`, each rank's number of rows, saves one small collective when every rank
    already knows them; without it they are gathered first.
    """
    _check_array(array, "all_gather")
    if array.ndim == 0:
        raise ValueError("all_gather: expected an array with at least one dimension, got a 0-d "
                         "array (reshape it to (1,))")
    n = get_world_size()
    if n == 1:
        return [array]
    host = np.ascontiguousarray(backend.to_numpy(array))
    rows = host.shape[0]
    if sizes is None:
        counts = np.empty(n, np.int64)
        _comm.Allgather(np.array([rows], np.int64), counts)
        sizes = counts.tolist()
    elif len(sizes) != n or sizes[get_rank()] != rows:
        raise ValueError(f"all_gather: sizes {list(sizes)} must list {n} ranks' row counts, with "
                         f"{rows} for this rank ({get_rank()})")
    row_shape = host.shape[1:]
    width = int(np.prod(row_shape, dtype=np.int64))
    counts = [int(s) * width for s in sizes]
    displs = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(int).tolist()
    out = np.empty(sum(counts), host.dtype)
    from mpi4py.util.dtlib import from_numpy_dtype
    mpi_type = from_numpy_dtype(host.dtype)
    _comm.Allgatherv([host.reshape(-1), mpi_type], [out, counts, displs, mpi_type])
    xp = backend.get_array_module(array)
    return [xp.asarray(out[d:d + c].reshape((int(s),) + row_shape))
            for d, c, s in zip(displs, counts, sizes)]


def all_gather_object(obj: Any) -> list[Any]:
    """Every rank's `obj` (nested dicts/lists of arrays, numbers, strings), as a list by rank.

    Objects travel as mg.save bytes (safetensors + JSON), never as pickles: what a rank receives
    can only be data.
    """
    from .. import serialization
    if get_world_size() == 1:
        return [obj]
    data = np.frombuffer(serialization.to_bytes(obj), np.uint8)
    return [serialization.from_bytes(part.tobytes(), name=f"rank {r}'s object")
            for r, part in enumerate(all_gather(data))]


# ============================================================================ helpers

def _check_array(array, fn):
    if not backend.is_array(array):
        raise TypeError(f"{fn}: expected a NumPy or CuPy array, got {type(array).__name__}")


def _check_rank(r, name):
    n = get_world_size()
    if isinstance(r, bool) or not isinstance(r, (int, np.integer)) or not 0 <= r < n:
        raise ValueError(f"{name} must be a rank from 0 to {n - 1}, got {r!r}")


def _host(array):
    """A C-contiguous NumPy array with array's values, which MPI reads and writes."""
    return np.ascontiguousarray(backend.to_numpy(array))


def _write_back(array, host):
    if host is not array:  # a CuPy array, or a non-contiguous view: copy the result into it
        array[...] = backend.get_array_module(array).asarray(host)
