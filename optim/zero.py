"""ZeroRedundancyOptimizer: the optimizer state sharded across data-parallel ranks (ZeRO-1).

Rajbhandari et al. 2020, "ZeRO: Memory Optimizations Toward Training Trillion Parameter
Models", §5.1 (stage 1, P_os). In data parallelism every rank holds the whole optimizer state:
for Adam two arrays (m, v) per parameter, twice the model again, N times over. But the state of
a parameter is needed only to update that parameter, and after DistributedDataParallel's
sync_gradients() every rank holds the same mean gradient. So:

1. each of the N ranks owns a share of the parameters (largest first, each to the rank with
   the fewest elements so far, as torch.distributed.optim.ZeroRedundancyOptimizer does), keeps
   optimizer state for those only, and steps only those;
2. every rank's updated parameters are then all-gathered, so each replica holds the new model.

The state per rank falls from S to about S/N; each step moves the parameters' bytes once more
(the all-gather). Each parameter is updated by the same optimizer from the same gradient on its
owner, then copied bit for bit: N ranks with ZeRO equal N ranks without it exactly.

Granularity is the whole parameter, as in torch: the balance can be no better than the largest
parameter allows (a model whose one matrix holds 80% of the elements keeps 80% of the state on
one rank). DeepSpeed's ZeRO shards a flat buffer element by element instead.

state_dict() is collective (every rank must call it): the ranks exchange their shards (as
mg.save bytes, never pickles) and each returns the whole state in the wrapped optimizer's own
layout, the dict one process would have, so a checkpoint written at N ranks loads at M ranks or
into the plain optimizer. load_state_dict(full) keeps this rank's share.
"""
import numpy as np

from minigrad import backend
from minigrad.distributed import comm
from minigrad.function import enable_grad

from .adamw import AdamW
from .optimizer import Optimizer


def partition(sizes, world_size):
    """The owning rank of each parameter, given their sizes (numbers of elements): largest
    first, each to the rank holding the fewest elements so far (ties: the lowest rank)."""
    load = [0] * world_size
    owner = [0] * len(sizes)
    for i in sorted(range(len(sizes)), key=lambda i: -sizes[i]):  # sorted() is stable
        r = min(range(world_size), key=lambda r: load[r])
        owner[i] = r
        load[r] += sizes[i]
    return owner


def state_bytes(optimizer):
    """Bytes of the arrays an optimizer keeps as state (for ZeRO: this rank's share)."""
    return sum(v.nbytes for s in optimizer.state.values() for v in s.values() if backend.is_array(v))


class ZeroRedundancyOptimizer(Optimizer):
    """ZeroRedundancyOptimizer(params, optimizer_class=optim.AdamW, **defaults).

    optimizer_class(param_groups, **defaults) builds the optimizer of this rank's share (a
    class, or any function returning an Optimizer). `param_groups`, `zero_grad` and the
    hyperparameters are global, as for any optimizer (schedulers work unchanged); `state` and
    `optim` are this rank's share. Use with DistributedDataParallel: step() expects every rank
    to hold the same (mean) gradients. Alone (world size 1) it is optimizer_class itself.
    """

    def __init__(self, params, optimizer_class=AdamW, **defaults):
        if not callable(optimizer_class):
            raise TypeError(f"optimizer_class must be an optimizer class (or a function returning "
                            f"an Optimizer), got {type(optimizer_class).__name__}")
        super().__init__(params, defaults)  # the global groups, their parameters checked
        self.rank, self.world_size = comm.get_rank(), comm.get_world_size()
        params = [p for g in self.param_groups for p in g["params"]]
        self.owner = partition([p.data.size for p in params], self.world_size)
        # the global index (state_dict's numbering) of each parameter this rank owns, in order
        self.local_indices = [i for i, r in enumerate(self.owner) if r == self.rank]
        self._owner_of = {id(p): r for p, r in zip(params, self.owner)}
        local_groups = [{**self._hyper(g), "params": self._mine(g["params"])}
                        for g in self.param_groups]
        self.optim = optimizer_class(local_groups, **defaults)
        if not isinstance(self.optim, Optimizer):
            raise TypeError(f"optimizer_class returned a {type(self.optim).__name__}, not an Optimizer")
        # the wrapped optimizer filled in its defaults: show them in the global groups too
        self.defaults = dict(self.optim.defaults)
        for g, local in zip(self.param_groups, self.optim.param_groups):
            for k, v in self._hyper(local).items():
                g.setdefault(k, v)
        # sparse gradients: whatever the wrapped optimizer accepts
        self.lazy_sparse, self.dense_only_reason = self.optim.lazy_sparse, self.optim.dense_only_reason
        self.state = self.optim.state

    @staticmethod
    def _hyper(group):
        return {k: v for k, v in group.items() if k != "params"}

    def _mine(self, params):
        return [p for p in params if self._owner_of[id(p)] == self.rank]

    def _check_group(self, group):
        # once the wrapped optimizer exists, its own rules (Adafactor's eps is a pair)
        (self.optim if hasattr(self, "optim") else super())._check_group(group)

    def add_param_group(self, param_group):
        if hasattr(self, "optim"):
            raise NotImplementedError("ZeroRedundancyOptimizer partitions its parameters once, at "
                                      "construction: pass every param group to the constructor")
        super().add_param_group(param_group)

    def __repr__(self):
        return f"ZeroRedundancyOptimizer(rank {self.rank} of {self.world_size}, " \
               f"{len(self.local_indices)} parameters here) of\n{self.optim!r}"

    # ======================================================================== stepping

    def step(self, closure=None):
        """Step this rank's parameters with the wrapped optimizer, then all-gather every rank's
        updated parameters. Returns closure()'s loss."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        # every gradient is checked here, on every rank, so that a bad one stops all ranks
        # alike (an error on the owner alone would leave the others waiting in the all-gather)
        for g in self.param_groups:
            for p in g["params"]:
                if p.grad is not None:
                    self._check_grad(p)
        for g, local in zip(self.param_groups, self.optim.param_groups):
            local.update(self._hyper(g))  # a scheduler may have changed lr in the global group
        self.optim.step()
        self._gather_parameters()
        return loss

    def _gather_parameters(self):
        """One all-gather per dtype and device: each rank sends its owned parameters, flat."""
        if self.world_size == 1:
            return
        params = [p for g in self.param_groups for p in g["params"]]
        for key in dict.fromkeys((p.dtype, p.device) for p in params):
            owned = [[p for p, r in zip(params, self.owner) if r == rank and (p.dtype, p.device) == key]
                     for rank in range(self.world_size)]
            sizes = [sum(p.data.size for p in ps) for ps in owned]
            xp = backend.get_array_module(params[0].data)
            mine = owned[self.rank]
            flat = xp.concatenate([p.data.reshape(-1) for p in mine]) if mine \
                else xp.empty(0, key[0])
            for rank, part in enumerate(comm.all_gather(flat, sizes)):
                if rank == self.rank:
                    continue
                offset = 0
                for p in owned[rank]:
                    p.data[...] = part[offset:offset + p.data.size].reshape(p.shape)
                    offset += p.data.size

    # ======================================================================== saving and loading

    def state_dict(self):
        """The whole optimizer's state dict, on every rank (collective: every rank must call
        it), in the wrapped optimizer's layout with global parameter indices."""
        local = self.optim.state_dict()["state"]
        shards = comm.all_gather_object({self.local_indices[i]: s for i, s in local.items()})
        state = {}
        for shard in shards:
            state.update(shard)
        index = 0
        groups = []
        for g in self.param_groups:
            groups.append({**self._hyper(g), "params": list(range(index, index + len(g["params"])))})
            index += len(g["params"])
        return {"state": dict(sorted(state.items())), "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Load a whole state dict (from state_dict(), at any number of ranks, or from the
        plain optimizer); this rank keeps its share. Invalid input changes nothing."""
        saved_groups = self._saved_groups(state_dict)
        local_index = {self.local_indices[i]: i for i in range(len(self.local_indices))}
        position, local_groups, new_groups = 0, [], []
        by_saved = {}  # the saved index of a parameter -> its global position here
        for saved, g in zip(saved_groups, self.param_groups):
            new = {**self.defaults, **self._hyper(saved), "params": g["params"]}
            self._check_group(new)
            for j, idx in enumerate(saved["params"]):
                by_saved[idx] = position + j
            local_groups.append({**self._hyper(new), "params": [
                local_index[position + j] for j in range(len(g["params"])) if position + j in local_index]})
            new_groups.append(new)
            position += len(g["params"])
        local_state = {}
        for idx, s in state_dict["state"].items():
            if idx not in by_saved:
                raise ValueError(f"loaded state for parameter index {idx}, which no group names")
            if by_saved[idx] in local_index:
                local_state[local_index[by_saved[idx]]] = s
        self.optim.load_state_dict({"state": local_state, "param_groups": local_groups})
        self.param_groups[:] = new_groups
        self.state = self.optim.state
