"""DistributedDataParallel: one replica of the model per process, gradients averaged across them.

Data parallelism, as PyTorch's DDP does it:
1. At construction every rank copies rank 0's parameters and buffers (a broadcast), so the
   replicas start equal.
2. Each rank runs forward and backward on its own share of the global batch (see sampler.py).
3. `sync_gradients()` replaces every rank's gradient with the mean over ranks. With a mean loss
   and equal shares, the mean of the per-rank gradients is the gradient of the global batch, so
   each rank's optimizer takes the step one process would take, and the replicas stay equal.

Why buckets: each all-reduce pays a fixed latency (microseconds between processes on one
machine, tens of microseconds over a network) besides its bytes, so the gradients are copied
into flat buffers of about `bucket_cap_mb` and reduced a buffer at a time: a few large messages
per step, not one per parameter.

Why a call: PyTorch hooks its autograd engine so that buckets are reduced while backward is
still running (overlapping communication with computation); minigrad's backward has no hooks,
so the reduction is one visible line between `loss.backward()` and `opt.step()`.

Row-sparse gradients (Embedding(sparse=True)) are all-gathered as (row indices, rows) and
merged, never made dense: a step moves the rows the batches touched, not the whole table.

BatchNorm: each rank normalises with its own share's batch statistics (as PyTorch DDP without
SyncBatchNorm), so a model with BatchNorm trained on N ranks is not the same as one process on
the global batch. With broadcast_buffers (the default, as in PyTorch) rank 0's buffers (the
running statistics) are copied to every rank at each forward, so evaluation agrees everywhere.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from .. import backend
from ..nn.module import Module, Parameter
from ..sparse import RowSparseGrad
from . import comm


class DistributedDataParallel(Module):
    """Wrap `module` for data-parallel training; call sync_gradients() after backward().

        model = DistributedDataParallel(net)       # every rank now holds rank 0's weights
        loss = F.cross_entropy(model(x_shard), y_shard)
        loss.backward()
        model.sync_gradients()                     # grads := mean over ranks
        opt.step()

    Alone (world size 1) every step of this is a no-op. state_dict() names entries
    'module.<name>', as PyTorch's DDP does; save `model.module.state_dict()` to load them into
    the bare model.
    """

    def __init__(self, module: Module, bucket_cap_mb: float = 25, broadcast_buffers: bool = True) -> None:
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel wraps a Module, got {type(module).__name__}")
        if isinstance(bucket_cap_mb, bool) or not isinstance(bucket_cap_mb, (int, float)) \
                or not bucket_cap_mb > 0:
            raise ValueError(f"bucket_cap_mb must be a positive number, got {bucket_cap_mb!r}")
        self.module = module
        self.bucket_cap_mb = bucket_cap_mb
        self.broadcast_buffers = broadcast_buffers
        # the replicas start from rank 0's weights and statistics (once: cost does not matter)
        for p in module.parameters():
            comm.broadcast(p.data, src=0)
        self._broadcast_buffers()

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        if self.broadcast_buffers:
            self._broadcast_buffers()
        return self.module(*args, **kwargs)

    def _broadcast_buffers(self):
        for _, mod, name in self.module.named_buffers():
            comm.broadcast(getattr(mod, name), src=0)

    # ======================================================================== the gradient mean

    def sync_gradients(self) -> None:
        """Replace each parameter's gradient on every rank with the mean over ranks.

        A parameter without a gradient on some ranks (unused by their batches) counts as zero
        there; without one on every rank it keeps grad None. Dense gradients are reduced in
        flat buckets; row-sparse ones are all-gathered as rows.
        """
        n = comm.get_world_size()
        if n == 1:
            return
        params = [p for p in self.module.parameters() if p.requires_grad]
        # one small all-reduce first, so that every rank agrees on which parameters have which
        # kind of gradient (a rank whose batch missed a parameter has grad None)
        kinds = np.zeros((len(params), 2), np.int64)
        for i, p in enumerate(params):
            if isinstance(p.grad, RowSparseGrad):
                kinds[i, 1] = 1
            elif p.grad is not None:
                kinds[i, 0] = 1
        comm.all_reduce(kinds)
        mixed = [i for i in range(len(params)) if kinds[i].all()]
        if mixed:
            raise RuntimeError(f"parameters {mixed} have a dense gradient on some ranks and a "
                               "row-sparse one on others; a parameter's gradient must be of one kind")
        dense = [p for p, k in zip(params, kinds) if k[0]]
        for bucket in self.buckets(dense):
            self._reduce_bucket(bucket, n)
        for p, k in zip(params, kinds):
            if k[1]:
                p.grad = self._gather_rows(p, n)

    def buckets(self, params: Iterable[Parameter]) -> list[list[Parameter]]:
        """Consecutive runs of params with one dtype and device, each run's gradients at most
        bucket_cap_mb (one parameter larger than that is a bucket of its own)."""
        cap = self.bucket_cap_mb * 2 ** 20
        out, size = [], 0
        for p in params:
            key = (p.dtype, p.device)
            if out and (out[-1][0] == key and size + p.data.nbytes <= cap):
                out[-1][1].append(p)
                size += p.data.nbytes
            else:
                out.append((key, [p]))
                size = p.data.nbytes
        return [ps for _, ps in out]

    @staticmethod
    def _reduce_bucket(params, n):
        xp = backend.get_array_module(params[0].data)
        flat = xp.empty(sum(p.data.size for p in params), params[0].dtype)
        offsets = np.cumsum([0] + [p.data.size for p in params])
        for p, a, b in zip(params, offsets[:-1], offsets[1:]):
            flat[a:b] = 0 if p.grad is None else p.grad.reshape(-1)
        comm.all_reduce(flat)
        flat /= n  # sum, then divide: for n = 2 the mean is (g0 + g1) / 2 exactly rounded
        for p, a, b in zip(params, offsets[:-1], offsets[1:]):
            mean = flat[a:b].reshape(p.shape)
            if p.grad is None:
                p.grad = mean.copy()
            else:
                p.grad[...] = mean

    @staticmethod
    def _gather_rows(p, n):
        g = p.grad
        xp = backend.get_array_module(p.data)
        if g is None:  # this rank's batch missed the table: it contributes no rows
            indices = xp.zeros(0, np.int64)
            values = xp.zeros((0,) + tuple(p.shape[1:]), p.dtype)
        else:
            indices, values = g.indices.astype(np.int64), g.values
        indices = xp.concatenate(comm.all_gather(indices))
        values = xp.concatenate(comm.all_gather(values))
        # rows that several ranks touched are summed, in rank order, then divided like dense ones
        merged = RowSparseGrad.from_rows(indices, values, p.shape)
        merged.values /= n
        return merged
