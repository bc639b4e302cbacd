"""`mpirun -n N python tests/distributed/mpi/faults.py FAULT minigrad-arguments...`: the command
line with one failure injected on one rank, for tests/distributed/test_distributed.py to check
that every rank ends promptly with that rank's message and a non-zero exit.

    save-full   rank 0's checkpoint write fails as on a full disk (fsync: ENOSPC)
    batch-1     rank 1 raises while drawing its 3rd batch
    none        no fault: the command line as it is
"""
import errno
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", ".."))
import minigrad.distributed as dist
from models import cli, tasks


def full_disk(fd):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def bad_batch_on(rank, at):
    batch, calls = tasks.Task.batch, [0]

    def wrapped(self, rng, batch_size):
        calls[0] += 1
        if dist.get_rank() == rank and calls[0] == at:
            raise ValueError(f"made up: a bad batch on rank {rank}")
        return batch(self, rng, batch_size)
    return wrapped


if __name__ == "__main__":
    fault, argv = sys.argv[1], sys.argv[2:]
    if fault not in ("save-full", "batch-1", "none"):
        raise SystemExit(f"unknown fault {fault!r}")
    if fault == "save-full" and dist.get_rank() == 0:
        os.fsync = full_disk
    if fault == "batch-1":
        tasks.Task.batch = bad_batch_on(1, 3)
    sys.exit(cli.main(argv))
