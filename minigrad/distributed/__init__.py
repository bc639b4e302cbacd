"""minigrad.distributed: data-parallel training over MPI (mpirun + mpi4py).

    comm.py     init, get_rank, get_world_size, all_reduce, broadcast, all_gather, abort
    ddp.py      DistributedDataParallel: replicas of a model, gradients averaged across ranks
    sampler.py  DistributedSampler: each rank's share of every global batch

The optimizer side, ZeroRedundancyOptimizer (optimizer state sharded across ranks), is
optim.ZeroRedundancyOptimizer. Without an MPI launcher a process is a world of one and all of
this is a no-op. Install with `pip install 'minigrad[mpi]'` (mpi4py and Open MPI) and run
`mpirun -n 2 python train.py`; see docs/distributed.md.
"""
from .comm import (
                   abort,
                   all_gather,
                   all_gather_object,
                   all_reduce,
                   barrier,
                   broadcast,
                   get_rank,
                   get_world_size,
                   init,
                   is_initialized,
                   launched_by_mpi,
                   launcher_rank,
)
from .ddp import DistributedDataParallel
from .sampler import DistributedSampler

__all__ = [
                   "DistributedDataParallel",
                   "DistributedSampler",
                   "abort",
                   "all_gather",
                   "all_gather_object",
                   "all_reduce",
                   "barrier",
                   "broadcast",
                   "get_rank",
                   "get_world_size",
                   "init",
                   "is_initialized",
                   "launched_by_mpi",
                   "launcher_rank",
]
