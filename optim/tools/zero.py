"""ZeroRedundancyOptimizer: the optimizer state sharded across data-parallel ranks (ZeRO-1).

Rajbhandari et al. 2020, "ZeRO: Memory Optimizations Toward Training Trillion Parameter
Models", §5.1 (stage 1, P_os). In data parallelism every rank holds the whole optimizer state:
for Adam two arrays (m, v) per parameter, twice the model again, N times over. But the state of
an element is needed only to update that element, and after DistributedDataParallel's
sync_gradients() every rank holds the same mean gradient. So:

1. each of the N ranks owns a share of the parameters, keeps optimizer state for that share
   only, and steps only it;
2. every rank's updated share is then all-gathered, so each replica holds the new model.

The state per rank falls from S to S/N; each step moves the parameters' bytes once more (the
all-gather). Each element is updated by the same rule from the same gradient on its owner, then
copied bit for bit: N ranks with ZeRO equal N ranks without it exactly.

How the parameters are shared depends on the optimizer:
- an elementwise one (a `rule`: SGD, Adam, AdamW, Adagrad, ...) is sharded element by element,
  as DeepSpeed's ZeRO shards a flat buffer: the parameters laid end to end are cut into N runs
  of equal length, each cut between two rows (first-axis slices), so that a rank's piece of a
  matrix is a block of its rows (an embedding's rows stay whole for sparse gradients). Each
  rank's share is within one row of 1/N, whatever the sizes of the parameters.
- any other (Adafactor's factored statistics, Muon's orthogonalisation, LAMB's trust ratio: a
  parameter's update reads the whole parameter) by whole parameters, largest first, each to
  the rank with the fewest elements so far, as torch.distributed.optim.ZeroRedundancyOptimizer
  does; the balance can be no better than the largest parameter allows.
Prodigy is refused at more than one rank: its step size comes from sums over every parameter.

state_dict() is collective (every rank must call it): the ranks exchange their shards (as
mg.save bytes, never pickles) and each returns the whole state in the wrapped optimizer's own
layout, the dict one process would have, so a checkpoint written at N ranks loads at M ranks or
into the plain optimizer. load_state_dict(full) keeps this rank's share.
"""
from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from minigrad import backend, tracer
from minigrad.backend import Shape
from minigrad.distributed import comm
from minigrad.function import enable_grad
from minigrad.nn import Parameter
from minigrad.sparse import RowSparseGrad
from minigrad.tensor import Tensor, increment_version

from ..adamw import AdamW
from ..optimizer import Optimizer, Params


def partition(sizes: Sequence[int], world_size: int) -> list[int]:
    """The owning rank of each parameter, given their sizes (numbers of elements): largest
    first, each to the rank holding the fewest elements so far (ties: the lowest rank)."""
    load = [0] * world_size
    owner = [0] * len(sizes)
    for i in sorted(range(len(sizes)), key=lambda i: -sizes[i]):  # sorted() is stable
        r = min(range(world_size), key=lambda r: load[r])
        owner[i] = r
        load[r] += sizes[i]
    return owner


def rows(shape: Shape) -> tuple[int, int]:
    """(rows, elements per row) of a parameter: its first axis; a 0-d one is one row."""
    if len(shape) == 0:
        return 1, 1
    return shape[0], int(np.prod(shape[1:], dtype=np.int64))


def shard(shapes: Sequence[Shape], world_size: int) -> list[list[tuple[int, int, int]]]:
    """Each rank's pieces [(parameter index, first row, end row)], for elementwise sharding:
    the parameters laid end to end, cut into world_size runs of about equal elements, each cut
    at the row boundary nearest to k/world_size of the whole."""
    sizes = [n * per for n, per in map(rows, shapes)]
    starts = np.cumsum([0] + sizes).tolist()  # element offset of each parameter
    total = starts[-1]
    cuts = [0]
    for r in range(1, world_size):
        target = total * r / world_size
        i = min(bisect.bisect_right(starts, target) - 1, len(shapes) - 1)
        n, per = rows(shapes[i]) if shapes else (0, 1)
        row = min(max(round((target - starts[i]) / per), 0), n) if per else 0
        cuts.append(max(cuts[-1], starts[i] + row * per if shapes else 0))
    cuts.append(total)
    pieces = [[] for _ in range(world_size)]
    for i, shape in enumerate(shapes):
        n, per = rows(shape)
        if sizes[i] == 0:  # nothing to split: whole, to the rank whose run starts at or before it
            r = max(r for r in range(world_size) if cuts[r] <= starts[i])
            pieces[r].append((i, 0, n))
            continue
        for r in range(world_size):
            lo, hi = max(cuts[r], starts[i]), min(cuts[r + 1], starts[i] + sizes[i])
            if lo < hi:
                pieces[r].append((i, (lo - starts[i]) // per, (hi - starts[i]) // per))
    return pieces


def state_bytes(optimizer: Optimizer) -> int:
    """Bytes of the arrays an optimizer keeps as state (for ZeRO: this rank's share)."""
    return sum(v.nbytes for s in optimizer.state.values() for v in s.values() if backend.is_array(v))


def state_keys(optimizer: Optimizer) -> tuple[str, ...]:
    """The state_dict keys of an optimizer's state arrays: the values of its declaration's
    `symbols` (symbol -> key)."""
    return tuple(type(optimizer).symbols.values())


def _row_slice(a, r0, r1):
    """Rows r0:r1 of an array (a view; a 0-d array is its own single row)."""
    return a if a.ndim == 0 else a[r0:r1]


def _grad_rows(g, r0, r1):
    """Rows r0:r1 of a gradient: dense (a view), or a RowSparseGrad's rows in that range."""
    if g is None or not isinstance(g, RowSparseGrad):
        return g if g is None else _row_slice(g, r0, r1)
    keep = (g.indices >= r0) & (g.indices < r1)
    return RowSparseGrad(g.indices[keep] - r0, g.values[keep], (r1 - r0,) + tuple(g.shape[1:]))


class ZeroRedundancyOptimizer(Optimizer):
    """ZeroRedundancyOptimizer(params, optimizer_class=optim.AdamW, **defaults).

    optimizer_class(param_groups, **defaults) builds the optimizer of this rank's share (a
    class, or any function returning an Optimizer). `param_groups`, `zero_grad` and the
    hyperparameters are global, as for any optimizer (schedulers work unchanged); `state` and
    `optim` are this rank's share, whose parameters are blocks of rows of the global ones (views
    into them) or whole ones. `pieces[rank]` lists each rank's share as (parameter index, first
    row, end row). Use with DistributedDataParallel: step() expects every rank to hold the same
    (mean) gradients. Alone (world size 1) it is optimizer_class itself. A schedule-free
    optimizer's train() and eval() are passed through (each rank swaps its share, then all
    gather).
    """

    def __init__(self, params: Params, optimizer_class: Callable[..., Optimizer] = AdamW,
                 **defaults: Any) -> None:
        if not callable(optimizer_class):
            raise TypeError(f"optimizer_class must be an optimizer class (or a function returning "
                            f"an Optimizer), got {type(optimizer_class).__name__}")
        super().__init__(params, defaults)  # the global groups, their parameters checked
        self.rank, self.world_size = comm.get_rank(), comm.get_world_size()
        self._params = [p for g in self.param_groups for p in g["params"]]
        self._group_of = [k for k, g in enumerate(self.param_groups) for _ in g["params"]]
        shapes = [p.shape for p in self._params]
        owner = partition([p.data.size for p in self._params], self.world_size)
        self.pieces = [[(i, 0, rows(shapes[i])[0]) for i in range(len(shapes)) if owner[i] == r]
                       for r in range(self.world_size)]
        error = None
        try:
            self._build(optimizer_class, defaults)  # first by whole parameters: any optimizer can
            if self.world_size > 1 and self.optim.couples_parameters:
                raise ValueError(f"ZeroRedundancyOptimizer cannot shard {type(self.optim).__name__}: "
                                 f"{self.optim.couples_parameters}, and each rank would step its "
                                 "share alone; use it with DistributedDataParallel only")
            if type(self.optim).rule is not None and self.world_size > 1:
                self.pieces = shard(shapes, self.world_size)  # elementwise: 1/N to within a row
                self._build(optimizer_class, defaults)
        except Exception as e:  # noqa: BLE001 each rank builds from its own share: one may fail alone
            error = e
        self._agree(error, "building the optimizer")
        # the wrapped optimizer checked the groups and filled in its defaults: the global groups
        # hold what it made of them
        self.defaults = dict(self.optim.defaults)
        for g, local in zip(self.param_groups, self.optim.param_groups):
            g.update(self._hyper(local))
        # sparse gradients: whatever the wrapped optimizer accepts
        self.lazy_sparse, self.dense_only_reason = self.optim.lazy_sparse, self.optim.dense_only_reason
        self.state = self.optim.state
        if callable(getattr(self.optim, "train", None)) and callable(getattr(self.optim, "eval", None)):
            self.train = lambda: self._swap("train")  # schedule-free: θ ← y
            self.eval = lambda: self._swap("eval")    # schedule-free: θ ← x

    def _build(self, optimizer_class, defaults):
        """The wrapped optimizer over this rank's pieces: a parameter it owns whole is itself,
        a block of rows is a Parameter viewing them."""
        self._local = []  # (parameter index, first row, end row, the wrapped optimizer's tensor)
        local_groups = [{**self._hyper(g), "params": []} for g in self.param_groups]
        for i, r0, r1 in self.pieces[self.rank]:
            p = self._params[i]
            piece = p if (r0, r1) == (0, rows(p.shape)[0]) else Parameter(_row_slice(p.data, r0, r1))
            self._local.append((i, r0, r1, piece))
            local_groups[self._group_of[i]]["params"].append(piece)
        self.optim = optimizer_class(local_groups, **defaults)
        if not isinstance(self.optim, Optimizer):
            raise TypeError(f"optimizer_class returned a {type(self.optim).__name__}, not an Optimizer")
        if len(self.optim.param_groups) != len(local_groups):
            raise TypeError(f"optimizer_class returned an optimizer with {len(self.optim.param_groups)} "
                            f"param groups for the {len(local_groups)} it was given (several "
                            "optimizers in one?); ZeroRedundancyOptimizer shards one optimizer's "
                            "groups as they are")

    def _agree(self, error, what, undo=None):
        """Raise on every rank if any rank raised (error: this rank's, or None): a rank that
        failed alone would otherwise leave the others waiting in the next collective. A rank
        that did not fail first calls undo(), then raises ValueError naming the one that did."""
        if self.world_size > 1:
            notes = comm.all_gather_object(None if error is None else f"{type(error).__name__}: {error}")
            failed = [(r, note) for r, note in enumerate(notes) if note is not None]
            if failed and error is None:
                if undo is not None:
                    undo()
                raise ValueError(f"ZeroRedundancyOptimizer: {what} failed on rank {failed[0][0]} "
                                 f"({failed[0][1]}); no rank went ahead")
        if error is not None:
            raise error

    @staticmethod
    def _hyper(group):
        return {k: v for k, v in group.items() if k != "params"}

    def _check_group(self, group):
        # the wrapped optimizer's own rules (Adafactor's eps is a pair): at construction it is
        # built next, from these groups, and checks them then
        if hasattr(self, "optim"):
            self.optim._check_group(group)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        if hasattr(self, "optim"):
            raise NotImplementedError("ZeroRedundancyOptimizer partitions its parameters once, at "
                                      "construction: pass every param group to the constructor")
        super().add_param_group(param_group)

    def __repr__(self):
        n = sum(int(np.prod(piece.shape, dtype=np.int64)) for *_, piece in self._local)
        return f"ZeroRedundancyOptimizer(rank {self.rank} of {self.world_size}, " \
               f"{len(self._local)} pieces, {n} elements here) of\n{self.optim!r}"

    # ======================================================================== stepping

    @tracer.replayed  # outside the graph: a compiled step (mg.compile) calls it again
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Step this rank's pieces with the wrapped optimizer, then all-gather every rank's
        updated pieces. Returns closure()'s loss."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        # every gradient is checked here, on every rank, so that a bad one stops all ranks
        # alike (an error on the owner alone would leave the others waiting in the all-gather)
        self._checked_work()
        self._run(self.optim.step, grads=True)
        return loss

    def _run(self, method, grads):
        """method() of the wrapped optimizer on the pieces as the parameters now are, then the
        all-gather. Group entries flow both ways: a scheduler sets lr in the global groups, a
        step may advance counters in the wrapped ones (schedule-free's k)."""
        for g, local in zip(self.param_groups, self.optim.param_groups):
            local.update(self._hyper(g))
        for i, r0, r1, piece in self._local:
            p = self._params[i]
            if piece is not p:  # a view of the parameter's rows, whatever its array is now
                piece.data = _row_slice(p.data, r0, r1)
                piece.grad = _grad_rows(p.grad, r0, r1) if grads else None
        error = None
        try:
            method()
        except Exception as e:  # noqa: BLE001 any error: raised below, once every rank knows
            error = e
        finally:
            for i, _, _, piece in self._local:
                if piece is not self._params[i]:
                    piece.grad = None
        if self.world_size > 1:
            # bad input is refused on every rank before this (the same gradients everywhere);
            # an error here is one rank's alone, and the others must not wait for it in the
            # all-gather: every rank learns which failed, and raises
            failed = [int(f[0]) for f in comm.all_gather(np.array([error is not None], np.int64))]
            if any(failed) and error is None:
                ranks = ", ".join(str(r) for r, f in enumerate(failed) if f)
                raise RuntimeError(f"ZeroRedundancyOptimizer: the step failed on rank {ranks} (see "
                                   "its error); this rank's share was stepped, so the replicas now "
                                   "differ: restart from a checkpoint")
        if error is not None:
            raise error
        for g, local in zip(self.param_groups, self.optim.param_groups):
            g.update(self._hyper(local))
        self._gather_parameters()

    def _swap(self, name):
        self._run(getattr(self.optim, name), grads=False)

    def _gather_parameters(self):
        """One all-gather per dtype and device: each rank sends its pieces, flat, in order."""
        increment_version(self._params)  # every parameter is written in place below
        if self.world_size == 1:
            return
        params = self._params
        for key in dict.fromkeys((p.dtype, p.device) for p in params):
            parts = [[(i, r0, r1) for i, r0, r1 in share if (params[i].dtype, params[i].device) == key]
                     for share in self.pieces]
            sizes = [sum((r1 - r0) * rows(params[i].shape)[1] for i, r0, r1 in part) for part in parts]
            xp = backend.get_array_module(params[parts[self.rank][0][0]].data if parts[self.rank]
                                          else params[0].data)
            mine = [_row_slice(params[i].data, r0, r1).reshape(-1) for i, r0, r1 in parts[self.rank]]
            flat = xp.concatenate(mine) if mine else xp.empty(0, key[0])
            for rank, received in enumerate(comm.all_gather(flat, sizes)):
                if rank == self.rank:
                    continue
                offset = 0
                for i, r0, r1 in parts[rank]:
                    view = _row_slice(params[i].data, r0, r1)
                    view[...] = received[offset:offset + view.size].reshape(view.shape)
                    offset += view.size

    # ======================================================================== saving and loading

    def state_dict(self) -> dict[str, Any]:
        """The whole optimizer's state dict, on every rank (collective: every rank must call
        it), in the wrapped optimizer's layout with global parameter indices: the pieces of a
        parameter's state arrays joined along its rows."""
        local = self.optim.state_dict()["state"]
        mine = {}
        for j, s in local.items():
            i, r0, _, _ = self._local[j]
            mine.setdefault(i, {})[r0] = s
        pieces = {}
        for shard_ in comm.all_gather_object(mine):
            for i, by_row in shard_.items():
                pieces.setdefault(i, {}).update(by_row)
        arrays = set(state_keys(self.optim))
        state = {}
        for i, by_row in sorted(pieces.items()):
            parts = [by_row[r0] for r0 in sorted(by_row)]
            joined = {}
            for k, v in parts[0].items():
                if len(parts) > 1 and k in arrays and backend.is_array(v):
                    xp = backend.get_array_module(v)
                    v = xp.concatenate([part[k] for part in parts])
                joined[k] = v
            state[i] = joined
        index, groups = 0, []
        for g in self.param_groups:
            groups.append({**self._hyper(g), "params": list(range(index, index + len(g["params"])))})
            index += len(g["params"])
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a whole state dict (from state_dict(), at any number of ranks, or from the
        plain optimizer); this rank keeps its share. The layout and the hyperparameters are
        checked here, every rank alike; each rank's share of the state by the wrapped
        optimizer's load_state_dict (dtype, shape, finite values, counters in range). Invalid
        input changes nothing, on any rank."""
        saved_groups = self._saved_groups(state_dict)
        position, new_groups, by_saved = 0, [], {}  # by_saved: saved index -> global position
        for saved, g in zip(saved_groups, self.param_groups):
            new = {**self.defaults, **self._hyper(saved), "params": g["params"]}
            self._check_loaded_group(new)
            for j, idx in enumerate(saved["params"]):
                by_saved[idx] = position + j
            new_groups.append(new)
            position += len(g["params"])
        full = {by_saved[idx]: (idx, s) for idx, s in state_dict["state"].items()}  # layout checked
        # each rank loads its share, keyed by the saved indices (so that an error names them);
        # then the ranks compare notes: if any refused its share, the others put theirs back,
        # and every rank raises the same error
        arrays, saved_index = set(state_keys(self.optim)), {i: idx for idx, i in by_saved.items()}
        # a load replaces the wrapped optimizer's state dict and group dicts, never writes into
        # them: putting the old objects back undoes it exactly (even a state a load would refuse)
        before, error = (self.optim.state, list(self.optim.param_groups)), None
        try:
            local_state = {}
            for i, r0, r1, piece in self._local:
                if i not in full:
                    continue
                idx, s = full[i]
                if piece is not self._params[i]:
                    want = tuple(self._params[i].shape)
                    s = {k: v.data if isinstance(v, Tensor) else v for k, v in s.items()}
                    for k in arrays & set(s):  # whole, before this rank's rows are cut out
                        if s[k] is not None and tuple(getattr(s[k], "shape", ())) != want:
                            raise ValueError(f"state {k!r} of parameter {idx} has shape "
                                             f"{getattr(s[k], 'shape', None)}, expected {want}")
                        if s[k] is not None and not isinstance(s[k], np.ndarray) \
                                and not backend.is_array(s[k]):
                            raise ValueError(f"state {k!r} of parameter {idx} is a "
                                            f"{type(s[k]).__name__}, expected an array")
                    s = {k: _row_slice(v, r0, r1) if k in arrays and v is not None else v
                         for k, v in s.items()}
                local_state[idx] = s
            local_groups = [{**self._hyper(new), "params": []} for new in new_groups]
            for i, *_ in self._local:
                local_groups[self._group_of[i]]["params"].append(saved_index[i])
            self.optim.load_state_dict({"state": local_state, "param_groups": local_groups})
        except Exception as e:  # noqa: BLE001 any error: the other ranks must hear of it, not wait
            error = e
        self._agree(error, "loading the state dict", undo=lambda: self._put_back(*before))
        self.param_groups[:] = new_groups
        self.state = self.optim.state

    def _put_back(self, state, groups):
        self.optim.state = state
        self.optim.param_groups[:] = groups
