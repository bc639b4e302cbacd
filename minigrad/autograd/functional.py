"""Derivatives of a function as functions: vjp, jvp, hvp, vhp, jacobian, hessian.

As torch.autograd.functional, with its signatures and return conventions: `func` takes the
inputs (a Tensor, or a tuple of Tensors unpacked as its arguments) and returns a Tensor or a
tuple of Tensors; the results have the structure of what they are derivatives with respect to
(a Tensor for a Tensor, a tuple for a tuple). With create_graph=False the inputs are detached
copies and the results require no grad; with create_graph=True an input that requires grad is
used as it is, and the results carry graphs through which they can be differentiated again.

Everything here is built from `grad` (reverse mode, minigrad/autograd/engine.py):

    vjp(f, x, v)     = vᵀ J                         one backward pass
    jvp(f, x, v)     = J v                          the double-vjp trick: u ↦ uᵀJ is linear
                                                    in u, and its gradient in u is J v
    vhp(f, x, v)     = vᵀ H = ∇ₓ (∇ₓf · v)          a backward pass of a recorded backward
    hvp(f, x, v)     = H v                          the same, as H is symmetric (f twice
                                                    continuously differentiable)
    jacobian(f, x)   one backward pass per output element (torch's "reverse-mode" strategy)
    hessian(f, x)    the jacobian of x ↦ ∇f(x), the gradient recorded
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .. import backend
from ..creation import stack
from ..function import enable_grad
from ..tensor import Tensor
from .engine import grad

Inputs = Any  # a Tensor or a tuple of Tensors


def _as_tuple(x: Any, name: str, fn: str) -> tuple[bool, tuple[Tensor, ...]]:
    """(whether x was a tuple, x as a tuple of Tensors), refusing anything else."""
    is_tuple = isinstance(x, (tuple, list))
    items = tuple(x) if is_tuple else (x,)
    for i, t in enumerate(items):
        if not isinstance(t, Tensor):
            where = f"{name}[{i}]" if is_tuple else name
            raise TypeError(f"{fn}: {where} must be a Tensor, got {type(t).__name__}")
    return is_tuple, items


def _prepare(inputs: tuple[Tensor, ...], create_graph: bool, fn: str) -> tuple[Tensor, ...]:
    """The inputs to differentiate at: each a fresh leaf that requires grad (a detached copy),
    or, with create_graph, an input that already requires grad as it is (so that the result's
    graph reaches back through it)."""
    out = []
    for i, x in enumerate(inputs):
        if x.dtype.kind != "f":
            raise TypeError(f"{fn}: inputs[{i}] must be floating-point, got dtype {x.dtype}")
        out.append(x if create_graph and x.requires_grad else Tensor(x.data, requires_grad=True))
    return tuple(out)


def _outputs(func: Callable[..., Any], inputs: tuple[Tensor, ...], fn: str) -> tuple[bool, tuple[Tensor, ...]]:
    with enable_grad():
        out = func(*inputs)
    return _as_tuple(out, "the output of func", fn)


def _vector(v: Any, like: tuple[Tensor, ...], name: str, fn: str) -> tuple[Tensor, ...]:
    """`v` (a Tensor or tuple matching `like` in number and shapes), or ones when None and every
    one of `like` has one element."""
    if v is None:
        if any(t.size != 1 for t in like):
            raise RuntimeError(f"{fn}: v may be omitted only when {name} have a single element; "
                               f"got shapes {[t.shape for t in like]}")
        return tuple(Tensor(backend.get_array_module(t.data).ones_like(t.data)) for t in like)
    _, vs = _as_tuple(v, "v", fn)
    if len(vs) != len(like):
        raise RuntimeError(f"{fn}: v has {len(vs)} entries, {name} have {len(like)}")
    for i, (a, t) in enumerate(zip(vs, like)):
        if a.shape != t.shape:
            raise RuntimeError(f"{fn}: v[{i}] has shape {a.shape}, {name}[{i}] has shape {t.shape}")
    return vs


def _fill(grads: tuple[Any, ...], like: tuple[Tensor, ...], strict: bool, fn: str,
          what: str) -> tuple[Tensor, ...]:
    """Zeros where an input was not used (None), or an error when strict."""
    out = []
    for i, (g, t) in enumerate(zip(grads, like)):
        if g is None:
            if strict:
                raise RuntimeError(f"{fn}: the output is independent of input {i} (strict=True); "
                                   f"{what}")
            g = Tensor(backend.get_array_module(t.data).zeros_like(t.data))
        out.append(g)
    return tuple(out)


def _result(items: tuple[Tensor, ...], is_tuple: bool, create_graph: bool) -> Any:
    items = tuple(t if create_graph else t.detach() for t in items)
    return items if is_tuple else items[0]


def _differentiable(outs: tuple[Tensor, ...], strict: bool, fn: str) -> list[int]:
    """The indices of the outputs that depend on some input; strict refuses the others."""
    keep = [i for i, y in enumerate(outs) if y.requires_grad]
    if strict and len(keep) != len(outs):
        raise RuntimeError(f"{fn}: output {next(i for i in range(len(outs)) if i not in keep)} "
                           "does not depend on the inputs (strict=True)")
    return keep


def vjp(func: Callable[..., Any], inputs: Inputs, v: Inputs = None, create_graph: bool = False,
        strict: bool = False) -> tuple[Any, Any]:
    """(func(inputs), vᵀ J): the vector-Jacobian product, v shaped as the outputs."""
    in_tuple, xs = _as_tuple(inputs, "inputs", "vjp")
    xs = _prepare(xs, create_graph, "vjp")
    out_tuple, outs = _outputs(func, xs, "vjp")
    vs = _vector(v, outs, "the outputs", "vjp")
    keep = _differentiable(outs, strict, "vjp")
    grads: tuple[Any, ...] = (None,) * len(xs)
    if keep:
        grads = grad([outs[i] for i in keep], xs, [vs[i] for i in keep],
                     create_graph=create_graph, allow_unused=True)
    grads = _fill(grads, xs, strict, "vjp", "its vjp would be 0")
    return _result(outs, out_tuple, create_graph), _result(grads, in_tuple, create_graph)


def jvp(func: Callable[..., Any], inputs: Inputs, v: Inputs = None, create_graph: bool = False,
        strict: bool = False) -> tuple[Any, Any]:
    """(func(inputs), J v): the Jacobian-vector product, v shaped as the inputs, by two reverse
    passes: g(u) = uᵀJ is linear in u, so ∂(g · v)/∂u = J v."""
    _, xs = _as_tuple(inputs, "inputs", "jvp")
    xs = _prepare(xs, create_graph, "jvp")
    vs = _vector(v, xs, "the inputs", "jvp")
    out_tuple, outs = _outputs(func, xs, "jvp")
    keep = _differentiable(outs, strict, "jvp")
    zeros = [Tensor(backend.get_array_module(y.data).zeros_like(y.data)) for y in outs]
    results: list[Any] = list(zeros)
    if keep:
        us = [Tensor(zeros[i].data.copy(), requires_grad=True) for i in keep]
        g = grad([outs[i] for i in keep], xs, us, create_graph=True, allow_unused=True)
        used = [(gi, vi) for gi, vi in zip(g, vs) if gi is not None and gi.requires_grad]
        if strict and len(used) != len(xs):
            raise RuntimeError("jvp: the output is independent of some input (strict=True)")
        if used:
            jv = grad([gi for gi, _ in used], us, [vi for _, vi in used],
                      create_graph=create_graph, allow_unused=True)
            for i, r in zip(keep, jv):
                if r is not None:
                    results[i] = r
    return _result(outs, out_tuple, create_graph), _result(tuple(results), out_tuple, create_graph)


def vhp(func: Callable[..., Any], inputs: Inputs, v: Inputs = None, create_graph: bool = False,
        strict: bool = False) -> tuple[Any, Any]:
    """(func(inputs), vᵀ H) for a func with one single-element output: the gradient of
    ∇f · v, the first gradient recorded."""
    return _second("vhp", func, inputs, v, create_graph, strict)


def hvp(func: Callable[..., Any], inputs: Inputs, v: Inputs = None, create_graph: bool = False,
        strict: bool = False) -> tuple[Any, Any]:
    """(func(inputs), H v) for a func with one single-element output. H is symmetric (func twice
    continuously differentiable), so H v = (vᵀ H)ᵀ: computed as vhp (torch computes the same
    number by a slower double-backward trick)."""
    return _second("hvp", func, inputs, v, create_graph, strict)


def _second(fn: str, func: Callable[..., Any], inputs: Inputs, v: Inputs, create_graph: bool,
            strict: bool) -> tuple[Any, Any]:
    in_tuple, xs = _as_tuple(inputs, "inputs", fn)
    xs = _prepare(xs, create_graph, fn)
    vs = _vector(v, xs, "the inputs", fn)
    out_tuple, outs = _outputs(func, xs, fn)
    if out_tuple or outs[0].size != 1:
        raise RuntimeError(f"{fn}: func must return a single-element Tensor, got "
                           f"{'a tuple' if out_tuple else f'shape {outs[0].shape}'}")
    y = outs[0]
    if not y.requires_grad:
        if strict:
            raise RuntimeError(f"{fn}: the output does not depend on the inputs (strict=True)")
        zeros = _fill((None,) * len(xs), xs, False, fn, "")
        return y.detach(), _result(zeros, in_tuple, create_graph)
    g = grad(y, xs, create_graph=True, allow_unused=True)
    used = [(gi, vi) for gi, vi in zip(g, vs) if gi is not None and gi.requires_grad]
    h: tuple[Any, ...] = (None,) * len(xs)
    if used:
        h = grad([gi for gi, _ in used], xs, [vi for _, vi in used], create_graph=create_graph,
                 allow_unused=True)
    h = _fill(h, xs, strict, fn, "its second derivative is 0")
    return _result(outs, False, create_graph), _result(h, in_tuple, create_graph)


def jacobian(func: Callable[..., Any], inputs: Inputs, create_graph: bool = False,
             strict: bool = False, vectorize: bool = False,
             strategy: str = "reverse-mode") -> Any:
    """The Jacobian of func at inputs: for output i and input j, a Tensor of shape
    output_i.shape + input_j.shape; nested as torch does (a Tensor for one input and one
    output, a tuple over inputs or over outputs, a tuple over outputs of tuples over inputs).
    One backward pass per output element (reverse mode; vectorize is accepted and ignored)."""
    if strategy != "reverse-mode":
        raise ValueError(f"jacobian: only strategy='reverse-mode' is supported, got {strategy!r}")
    in_tuple, xs = _as_tuple(inputs, "inputs", "jacobian")
    xs = _prepare(xs, create_graph, "jacobian")
    out_tuple, outs = _outputs(func, xs, "jacobian")
    blocks = []
    for k, y in enumerate(outs):
        rows: list[list[Any]] = [[] for _ in xs]
        for r in range(y.size):
            if y.requires_grad:
                seed = np.zeros(y.size, dtype=y.dtype)
                seed[r] = 1
                seed = backend.to_device(seed.reshape(y.shape), y.device)
                g = grad(y, xs, seed, retain_graph=True, create_graph=create_graph,
                         allow_unused=True)
            else:
                g = (None,) * len(xs)
            if strict and any(gi is None for gi in g):
                raise RuntimeError(f"jacobian: output {k} is independent of some input "
                                   "(strict=True)")
            for j, gi in enumerate(_fill(g, xs, False, "jacobian", "")):
                rows[j].append(gi)
        block = []
        for j, x in enumerate(xs):
            if rows[j]:
                J = stack(rows[j]) if create_graph else Tensor(
                    backend.get_array_module(x.data).stack([t.data for t in rows[j]]))
            else:  # an empty output: no rows
                J = Tensor(backend.get_array_module(x.data).zeros((0,) + x.shape, dtype=x.dtype))
            block.append(J.reshape(y.shape + x.shape))
        blocks.append(_result(tuple(block), in_tuple, create_graph))
    return tuple(blocks) if out_tuple else blocks[0]


def hessian(func: Callable[..., Any], inputs: Inputs, create_graph: bool = False,
            strict: bool = False, vectorize: bool = False,
            outer_jacobian_strategy: str = "reverse-mode") -> Any:
    """The Hessian of a func with one single-element output: for inputs i and j, a Tensor of
    shape input_i.shape + input_j.shape (a Tensor for one input, a tuple of tuples for a
    tuple), as torch: the Jacobian of the recorded gradient."""
    in_tuple, xs = _as_tuple(inputs, "inputs", "hessian")

    def gradient(*args: Tensor) -> Any:
        out_tuple, outs = _outputs(func, args, "hessian")
        if out_tuple or outs[0].size != 1:
            raise RuntimeError("hessian: func must return a single-element Tensor")
        if not outs[0].requires_grad:
            g = (None,) * len(args)
        else:
            g = grad(outs[0], args, create_graph=True, allow_unused=True)
        if strict and any(gi is None for gi in g):
            raise RuntimeError("hessian: the output is independent of some input (strict=True)")
        g = _fill(g, args, False, "hessian", "")
        return g if in_tuple else g[0]

    return jacobian(gradient, xs if in_tuple else xs[0], create_graph=create_graph,
                    strict=strict, strategy=outer_jacobian_strategy)
