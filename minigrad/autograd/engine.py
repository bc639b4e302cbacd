"""The backward pass: order the graph, then apply the chain rule from the outputs back.

One pass serves Tensor.backward() and mg.autograd.grad(), in either of two modes:

- first order (create_graph=False): the gradients are raw arrays and every op's backward runs on
  raw arrays; nothing is recorded. This is the hot path of training.
- recorded (create_graph=True): the gradients are Tensors and every op's backward runs the same
  formula on Tensors, grad mode on, so each gradient carries the graph of how it was computed
  and can be differentiated again (minigrad/function.py explains the once-written formulas).

What both modes check, once per op: a saved tensor written in place since forward (as torch), a
backward that returns the wrong number of gradients or one of the wrong shape or dtype, and in
anomaly mode a gradient that turns non-finite. This module never imports tensor.py (which
imports it): a constant Tensor is made with `_from_op`, as Function.apply does.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import anomaly, backend, function, threads, tracer
from ..function import enable_grad, recording

_SECOND_BACKWARD = (
    "Trying to backward through the graph a second time (through {0}, whose saved values were "
    "freed by the first backward()). Specify retain_graph=True in the first backward() if you "
    "need to backward through the graph a second time")

_MODIFIED = (
    "one of the variables needed for gradient computation has been modified by an inplace "
    "operation: {what} of {op} (shape {shape}, dtype {dtype}) is at version {now}; expected "
    "version {then} instead. It was written in place after {op} saved it in the forward pass (an "
    "assignment to .data, or a write counted by increment_version(): an optimizer step, "
    "load_state_dict); run backward() first, or compute from a copy. {hint}")


def topological_order(roots: Sequence[Any]) -> list[Any]:
    """The tensors that require grad and lead to `roots`, each after all the tensors it was
    made from: an iterative depth-first post-order (no recursion limit on deep graphs)."""
    order, seen, stack = [], set(), [(r, False) for r in reversed(roots)]
    while stack:
        t, done = stack.pop()
        if done:
            order.append(t)
            continue
        if id(t) in seen:
            continue
        seen.add(id(t))
        stack.append((t, True))
        if t.creator is not None:
            if t.creator.released:
                raise RuntimeError(_SECOND_BACKWARD.format(type(t.creator).__name__))
            for x in t.creator.inputs:
                if x.requires_grad and id(x) not in seen:
                    stack.append((x, False))
    return order


def run_backward(roots: Sequence[Any], seeds: Sequence[Any], create_graph: bool,
                 retain_graph: bool, targets: Sequence[Any] | None = None) -> list[tuple[Any, Any]]:
    """Backpropagate `seeds` (one gradient per root: raw arrays, or Tensors when create_graph)
    from `roots`. With `targets` None, return [(leaf, its gradient)] for the leaves reached
    (Tensor.backward writes them); otherwise the same for `targets` (any tensors of the graph,
    for grad()), and only the part of the graph that leads to a target is walked. Frees what the ops saved unless
    retain_graph. Raises before anything is freed if an op's backward misbehaves."""
    threads.refresh()  # the BLAS thread policy looks at the machine's load (at most every 0.5 s)
    order = topological_order(roots)
    if tracer.active is not None:  # mg.compile records this pass (minigrad/jit/)
        tracer.active.backward(order, roots, seeds, create_graph, retain_graph, targets)
    needed = None
    if targets is not None:  # the tensors from which some target is reached
        needed = {id(t) for t in targets}
        for t in order:  # each after the tensors it was made from
            if t.creator is not None and any(id(x) in needed for x in t.creator.inputs):
                needed.add(id(t))

    # 2. apply the chain rule from the outputs back to the leaves; every gradient an op
    # returns is checked against its input here, once, for every op
    if len(roots) == 1:
        grads = {id(roots[0]): seeds[0]}
    else:
        grads = {}
        for r, s in zip(roots, seeds):
            k = id(r)
            grads[k] = s if k not in grads else grads[k] + s
    found: list[tuple[Any, Any]] = []
    want = None if targets is None else {id(t) for t in targets}
    detect_anomaly = anomaly.enabled  # see minigrad/anomaly.py
    writes = function.writes  # in-place writes so far, for the check below
    mode = enable_grad() if create_graph else None  # the recorded pass records, even in no_grad
    if mode is not None:
        mode.__enter__()
    try:
        for t in reversed(order):
            g = grads.pop(id(t), None)
            if g is None:
                continue
            fn = t.creator
            if want is None:  # backward(): the leaves
                if fn is None:
                    found.append((t, g))
                    continue
            else:  # grad(): the targets, and only what leads to one
                if id(t) in want:
                    found.append((t, g))
                if fn is None or id(t) not in needed:
                    continue
            # refuse a saved tensor written in place since forward, as torch (function.py)
            if t._version_counter[0] or (fn.saves and fn.writes != writes):
                moved = function.saved_tensor_moved(fn, t)  # something moved: was it saved?
                if moved:
                    raise RuntimeError(_modified_in_place(fn, t, *moved))
            gxs = _recorded_backward(fn, g, detect_anomaly) if create_graph else fn.backward(g)
            if type(gxs) is not tuple or len(gxs) != len(fn.inputs):
                raise RuntimeError(f"{type(fn).__name__}.backward returned {_describe(gxs)}; "
                                   f"expected a tuple of {len(fn.inputs)} gradients (None for "
                                   "an input that needs none)")
            if detect_anomaly:
                anomaly.check_backward(fn, _raw(g), tuple(_raw(gx) for gx in gxs))
            for x, gx in zip(fn.inputs, gxs):
                if gx is None or not x.requires_grad:
                    continue
                if not _fits(gx, x):
                    raise RuntimeError(_bad_gradient(fn, gxs))
                k = id(x)
                if needed is not None and k not in needed:
                    continue
                grads[k] = gx if k not in grads else grads[k] + gx
    finally:
        if mode is not None:
            mode.__exit__(None, None, None)
    if not retain_graph:
        for t in order:
            if t.creator is not None:
                t.creator.release()
    return found


def _recorded_backward(fn: function.Function, g: Any, detect_anomaly: bool) -> Any:
    """fn.backward(g) on Tensors. A raw array it returns (a user's op may) is a constant, as
    torch's would be. In anomaly mode, an op of the formula that makes a NaN or an Inf raises
    (as in any forward pass): said to be in the backward pass of fn, where it was created."""
    try:
        gxs = fn.backward(g)
    except anomaly.AnomalyError as e:
        if not detect_anomaly:
            raise
        name = type(fn).__name__
        created = getattr(fn, "_anomaly_created", None)
        where = created and f"{created[-1].filename}:{created[-1].lineno} in {created[-1].name}"
        raise anomaly.AnomalyError(
            f"anomaly detected in the backward pass (recorded, create_graph=True) of {name}, "
            f"created in the forward pass at {where or '(unknown)'}: an op of its derivative "
            f"formula made it.\n{e}", name, "backward", where) from e
    if type(gxs) is not tuple:
        return gxs  # refused by the caller, which names it
    return tuple(gx if gx is None or recording(gx) else g._from_op(gx, None) for gx in gxs)


def grad(outputs: Any, inputs: Any, grad_outputs: Any = None, retain_graph: bool | None = None,
         create_graph: bool = False, allow_unused: bool = False) -> tuple[Any, ...]:
    """The gradients of `outputs` with respect to `inputs`, as torch.autograd.grad: a tuple with
    one Tensor per input (None for an input the outputs do not depend on, when allow_unused).

    outputs, inputs: a Tensor or a sequence of Tensors; every input must require grad, every
    output must depend on some tensor that requires grad. grad_outputs: one per output, the
    vector of the vector-Jacobian product (a Tensor, an array, or None for a one-element output,
    which seeds 1); a Tensor that requires grad is itself differentiable through the result when
    create_graph. retain_graph: keep what the ops saved for another backward (defaults to
    create_graph). create_graph: record the backward pass, so the gradients have a graph of
    their own and can be differentiated again (to any order); otherwise they require no grad.
    Nothing is written to any `.grad`.
    """
    outputs = _as_tuple(outputs, "outputs")
    inputs = _as_tuple(inputs, "inputs")
    if grad_outputs is None:
        grad_outputs = (None,) * len(outputs)
    else:
        grad_outputs = _as_tuple(grad_outputs, "grad_outputs", tensors_only=False)
    if len(grad_outputs) != len(outputs):
        raise ValueError(f"grad: grad_outputs has {len(grad_outputs)} entries for "
                         f"{len(outputs)} outputs; give one per output")
    for i, x in enumerate(inputs):
        if not x.requires_grad:
            raise RuntimeError(f"grad: input {i} does not require grad (set requires_grad=True "
                               "on the tensors to differentiate with respect to)")
    for i, y in enumerate(outputs):
        if not y.requires_grad:
            raise RuntimeError(f"grad: output {i} does not require grad and has no creator: it "
                               "does not depend on any tensor that requires grad")
    if retain_graph is None:
        retain_graph = create_graph
    seeds = [seed(y, g, create_graph, f"grad_outputs[{i}]")
             for i, (y, g) in enumerate(zip(outputs, grad_outputs))]
    found = {id(t): g for t, g in run_backward(outputs, seeds, create_graph, retain_graph,
                                               targets=inputs)}
    result = []
    for i, x in enumerate(inputs):
        g = found.get(id(x))
        if g is None:
            if not allow_unused:
                raise RuntimeError(f"grad: input {i} (shape {x.shape}) was not used to compute "
                                   "the outputs; pass allow_unused=True to get None for it")
            result.append(None)
        else:
            if hasattr(g, "to_dense"):  # a RowSparseGrad (Embedding(sparse=True)): as torch's dense
                g = g.to_dense()
            result.append(g if recording(g) else x._from_op(g, None))
    return tuple(result)


def seed(y: Any, g: Any, create_graph: bool, name: str) -> Any:
    """The gradient that starts backpropagation at output `y`: 1 for a one-element y when `g` is
    None, else `g` checked against y (shape, numbers, device); a Tensor when create_graph (a
    given Tensor as it is, so that it can be differentiated through), a raw array otherwise."""
    xp = backend.get_array_module(y._data)
    if g is None:
        if y._data.size != 1:
            raise RuntimeError(f"{name}: a gradient can be created implicitly only for a "
                               f"one-element output, got shape {y.shape}; pass one of that shape")
        g = xp.ones_like(y._data)
    elif recording(g) and create_graph:
        if g.shape != y.shape:
            raise ValueError(f"{name} has shape {g.shape}, the tensor has shape {y.shape}")
        if backend.device_of(g._data) != backend.device_of(y._data):
            raise RuntimeError(f"{name} is on {backend.device_of(g._data)} but the tensor is on "
                               f"{backend.device_of(y._data)}")
        return g
    else:  # an array, a number, a list; or a Tensor's values, when nothing is recorded
        g = _as_constant(g, y._data, name)
        if g.dtype.kind not in "biuf":
            raise TypeError(f"{name} must hold numbers, got dtype {g.dtype}")
        g = xp.asarray(g, dtype=y.dtype)
        if g.shape != y.shape:
            raise ValueError(f"{name} has shape {g.shape}, the tensor has shape {y.shape}")
    return y._from_op(g, None) if create_graph else g


def _as_constant(x: Any, like: Any, name: str) -> Any:
    """Host data on `like`'s device; an array on another device refused (as tensor.as_constant)."""
    device = backend.device_of(like)
    if recording(x):
        x = x._data
        if backend.device_of(x) != device:
            raise RuntimeError(f"{name} is on {backend.device_of(x)} but the tensor is on {device}")
        return x
    if backend.is_array(x) and type(x) is not np.ndarray:
        if backend.device_of(x) != device:
            raise RuntimeError(f"{name} is on {backend.device_of(x)} but the tensor is on {device}")
        return x
    return backend.to_device(np.asarray(x), device)


def _as_tuple(x: Any, name: str, tensors_only: bool = True) -> tuple[Any, ...]:
    items = tuple(x) if isinstance(x, (tuple, list)) else (x,)
    if tensors_only:
        for i, t in enumerate(items):
            if not recording(t):
                raise TypeError(f"grad: {name}[{i}] must be a Tensor, got {type(t).__name__}")
    if not items and tensors_only:
        raise ValueError(f"grad: {name} is empty")
    return items


def _raw(a: Any) -> Any:
    return a._data if a is not None and recording(a) else a


def _modified_in_place(fn: function.Function, out: Any, which: int | str, now: int, then: int) -> str:
    """The message for a tensor that `fn` saved and that moved before its backward: the op, which
    of its tensors, its shape and dtype, both versions, and where the op was created if known."""
    name = type(fn).__name__
    t = out if which == function.OUTPUT else fn.inputs[which]
    what = "the output" if which == function.OUTPUT else f"input {which}"
    created = getattr(fn, "_anomaly_created", None)  # recorded by anomaly mode in forward
    if created:
        hint = (f"The {name} was created in the forward pass at:\n"
                + "".join(created.format()).rstrip())
    else:
        hint = ("Hint: turn on mg.detect_anomaly() before the forward pass to see where the "
                f"{name} was created.")
    return _MODIFIED.format(what=what, op=name, shape=t.shape, dtype=t.dtype, now=now, then=then,
                            hint=hint)


def _describe(g: object) -> str:
    if hasattr(g, "shape") and hasattr(g, "dtype"):
        return f"shape {tuple(g.shape)}, dtype {g.dtype}"
    return f"a {type(g).__name__}"


def _fits(gx: Any, x: Any) -> bool:
    """A gradient fits an input that requires grad (so is floating) when it has its shape and
    a floating dtype: a tuple compare and a character compare, once per op in backward()."""
    return getattr(gx, "shape", None) == x._data.shape and gx.dtype.kind == "f"


def _bad_gradient(fn: function.Function, gxs: tuple[Any, ...]) -> str | None:
    """The message for the first gradient that does not fit its input: the op, the input's
    index, both shapes (or dtypes)."""
    name = type(fn).__name__
    for i, (x, gx) in enumerate(zip(fn.inputs, gxs)):
        if gx is None or not x.requires_grad or _fits(gx, x):
            continue
        if not hasattr(gx, "shape") or not hasattr(gx, "dtype"):
            return (f"{name}.backward returned {_describe(gx)} as the gradient for input {i}; "
                    f"expected an array of shape {x.shape}")
        if gx.shape != x.shape:
            return (f"{name}.backward returned a gradient of shape {tuple(gx.shape)} for "
                    f"input {i} of shape {x.shape}")
        return (f"{name}.backward returned a gradient of dtype {gx.dtype} for input {i} of "
                f"dtype {x.dtype} (expected a floating-point gradient)")
