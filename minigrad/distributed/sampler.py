"""DistributedSampler: each rank's disjoint share of every global batch.

Every rank draws the same global batch (same seed, same generator), then keeps its slice:
rank r of N takes rows [r*B, (r+1)*B) of a global batch of N*B. The sequence of global batches
is thus the same whatever the number of ranks, and with a mean loss the mean of the per-rank
gradients is the global batch's gradient: N ranks train like one process on the global batch.

(PyTorch's DistributedSampler splits a dataset's indices per epoch, rank r taking every N-th;
here the unit is the batch, so that a run's batches do not depend on N.)
"""
from __future__ import annotations

from typing import Any

from . import comm


class DistributedSampler:
    """shard(batch) -> this rank's rows of a global batch (an array, or a tuple/list of them)."""

    def __init__(self, num_replicas: int | None = None, rank: int | None = None) -> None:
        num_replicas = comm.get_world_size() if num_replicas is None else num_replicas
        rank = comm.get_rank() if rank is None else rank
        if isinstance(num_replicas, bool) or not isinstance(num_replicas, int) or num_replicas < 1:
            raise ValueError(f"num_replicas must be a positive integer, got {num_replicas!r}")
        if isinstance(rank, bool) or not isinstance(rank, int) or not 0 <= rank < num_replicas:
            raise ValueError(f"rank must be an integer from 0 to {num_replicas - 1}, got {rank!r}")
        self.num_replicas, self.rank = num_replicas, rank

    def check_batch_size(self, global_batch_size: int) -> int:
        """Raise ValueError unless the global batch splits into equal shares; returns a share's size."""
        if global_batch_size % self.num_replicas:
            raise ValueError(f"a global batch of {global_batch_size} does not split into "
                             f"{self.num_replicas} equal shares; use a batch size divisible by "
                             f"{self.num_replicas}")
        return global_batch_size // self.num_replicas

    def shard(self, batch: Any) -> Any:
        """This rank's rows of `batch` (each array's first dimension is the global batch).
        None (a task without data) stays None."""
        if batch is None:
            return None
        if isinstance(batch, (tuple, list)):
            sizes = {len(a) for a in batch}
            if len(sizes) != 1:
                raise ValueError(f"shard: the batch's arrays have different lengths {sorted(sizes)}")
            return type(batch)(self.shard(a) for a in batch)
        b = self.check_batch_size(len(batch))
        return batch[self.rank * b:(self.rank + 1) * b]
