"""An optimizer's step as mg.compile replays it (minigrad/jit/): the plan made once.

An eager step (Optimizer.step) finds, for every parameter, its state, its rule's plan and its
compiled loop, cuts its arrays into chunks and hands them out (plan.py): bookkeeping that for a
small model costs more than the update. A compiled training step does the same update every
time, so its replay keeps what does not change: each parameter's compiled loop, its θ and
state arrays flattened, the names of the scalars the loop reads. What does change is done
anew at each step, as eagerly: the step count and the scalars (next_scalars: a new learning
rate or a schedule takes effect), the gradient's array, the version count. The loop is the
same compiled function the eager step calls, on the same arrays: the same bits.

Only the common case is captured: an optimizer whose step is Optimizer.step, with an
elementwise rule compiled into a loop (Numba), on C-contiguous CPU arrays, with fewer elements
than the worker threads would share (pool.PARALLEL_MIN). Otherwise, and at any step where the
parameters, their gradients, their state arrays or the groups' switches are not what they were,
the replay calls the eager step itself.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from minigrad.tensor import increment_version

from . import loop, plan, pool


def capture(opt: Any, raw_step: Any, base_add_state: Any) -> CapturedStep | None:
    """The captured step of `opt` as it stands after an eager step, or None where it does not
    apply (see the module docstring)."""
    cls = type(opt)
    if cls.rule is None or not loop.jit_available():
        return None
    work = [(p, group) for group in opt.param_groups for p in group["params"] if p.grad is not None]
    if not work or sum(p._data.size for p, _ in work) >= pool.PARALLEL_MIN:
        return None
    keys = cls._state_keys()
    entries = []
    for p, group in work:
        state, h, theta, g = opt.state.get(p), opt.last_scalars.get(p), p._data, p.grad
        if state is None or h is None or group.get("fused") is False:
            return None
        arrays = [theta, g, *[state.get(k) for k in keys]]
        present = [a for a in arrays if a is not None]
        if g is theta or not all([type(a) is np.ndarray and a.flags.c_contiguous for a in present]):
            return None
        job, fn, names, _ = plan._plan(cls.rule, arrays, h)
        if job is not loop.chunk_job:
            return None
        held = tuple((k, state[k]) for k in keys if state.get(k) is not None)
        flats = [a.ravel() for _, a in held]
        entries.append((p, group, state, theta, held, theta.ravel(), flats, fn, names, h.flags()))
    return CapturedStep(opt, raw_step, base_add_state, entries)


class CapturedStep:
    """Called with no arguments: one step of the optimizer, as the eager step takes it."""

    def __init__(self, opt: Any, raw_step: Any, base_add_state: Any, entries: list[tuple]) -> None:
        self.opt, self.raw_step, self.entries = opt, raw_step, entries
        cls = type(opt)
        # the parameters of a group share one step's scalars when the scalars read no state
        # (no carried numbers: NAdam's and ASGD's do) and they have taken as many steps
        self.share = not cls.carry
        self.add_state = None if cls.add_state is base_add_state else cls.add_state
        self.params = [e[0] for e in entries]
        self.switches = [_switches(g) for g in _groups(entries)]
        self.describe = (f"captured: {len(entries)} parameters, each one compiled loop of "
                         f"{type(opt).__name__}.rule (fused)")

    def __call__(self) -> None:
        if not self._fits():
            return self.raw_step(self.opt)
        cls, last = type(self.opt), self.opt.last_scalars
        increment_version(self.params)  # counted as written, as the eager step counts them
        made = {}  # (group, dtype) -> (t, h, numbers): a group's scalars, made once per step
        for p, group, state, theta, _, theta_flat, state_flats, fn, names, flags in self.entries:
            key = (id(group), theta.dtype)
            shared = made.get(key) if self.share else None
            if shared is not None and (shared[0] is None or shared[0] == state["step"] + 1):
                t, h, numbers = shared  # what next_scalars would compute again, unchanged
                if t is not None:
                    state["step"] = t
                if self.add_state is not None:
                    self.add_state(theta, state, group)
            else:
                h = cls.next_scalars(theta, state, group)  # the step count and its scalars
                if h.flags() != flags:  # a switch that a number turned (weight_decay 0 -> 0.1)
                    arrays = [theta, p.grad, *[state.get(k) for k in cls._state_keys()]]
                    plan.run([plan.Task(cls.rule, arrays, h)])  # its own plan, this once
                    last[p] = h
                    continue
                numbers = h.numbers(names, theta.dtype)
                made[key] = (state.get("step"), h, numbers)
            last[p] = h
            fn(theta_flat, p.grad.ravel(), *state_flats, *numbers)

    def _fits(self) -> bool:
        """The parameters with a gradient, their arrays and the groups' switches are as captured."""
        opt = self.opt
        n = 0
        for group in opt.param_groups:
            for p in group["params"]:
                n += p.grad is not None
        if n != len(self.entries):
            return False
        for p, _, state, theta, held, _, _, _, _, _ in self.entries:
            g = p.grad
            if type(g) is not np.ndarray or p._data is not theta or g.shape != theta.shape \
                    or g.dtype != theta.dtype or not g.flags.c_contiguous or g is theta \
                    or opt.state.get(p) is not state:
                return False
            for k, a in held:
                if state.get(k) is not a:
                    return False
        return [_switches(g) for g in _groups(self.entries)] == self.switches


def _groups(entries: list[tuple]) -> list[dict]:
    seen: dict[int, dict] = {}
    for e in entries:
        seen.setdefault(id(e[1]), e[1])
    return list(seen.values())


def _switches(group: dict) -> tuple:
    """A group's switches (amsgrad, maximize, ...), which select the compiled loop."""
    return tuple([(k, v) for k, v in group.items() if v is True or v is False or v is None])
