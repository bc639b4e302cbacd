"""Finite-difference gradient checking, with a report that says where and by how much.

gradcheck builds the full Jacobian of `fn` twice: analytically, one backward pass per output
element, and numerically, by central differences (f(x + eps) - f(x - eps)) / 2 eps per input
element. Both in float64: in float32 the rounding error of the difference quotient (~1e-7 / eps)
swamps any tolerance worth having, so float32 inputs are refused.

gradgradcheck checks the second derivatives the same way: gradcheck of the recorded backward
(create_graph=True), as torch.autograd.gradgradcheck.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import backend
from .autograd.engine import grad
from .function import enable_grad, no_grad
from .tensor import Tensor


class GradcheckError(AssertionError):
    """Raised by gradcheck when an analytic gradient disagrees with the numeric one; `input` is
    the index of the input whose gradient failed (None for an error in the backward pass)."""

    def __init__(self, *args: Any) -> None:
        self.input = args[0] if len(args) == 2 and isinstance(args[0], int) else None
        super().__init__(args[-1] if self.input is not None else (args[0] if args else ""))


def _outputs(fn, inputs):
    out = fn(*inputs)
    outs = out if isinstance(out, (tuple, list)) else (out,)
    for k, o in enumerate(outs):
        if not isinstance(o, Tensor):
            raise TypeError(f"gradcheck: fn must return a Tensor or a tuple of Tensors, "
                            f"output {k} is {type(o).__name__}")
    return outs


def gradcheck(fn: Callable[..., Tensor | Sequence[Tensor]], inputs: Tensor | Sequence[Any], eps: float = 1e-6,
              atol: float = 1e-5, rtol: float = 1e-3) -> bool:
    """Check the gradients of `fn(*inputs)` with respect to every input that requires grad.

    Passes when |analytic - numeric| <= atol + rtol * |numeric| for every Jacobian element;
    returns True. Otherwise raises GradcheckError naming the input, the worst element (output
    index and input index), both values and the error; or, when an op's backward returns a
    gradient of the wrong shape or dtype, the engine's message naming the op, input and shapes.
    Inputs' data and .grad are left as found.
    """
    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    checked = []
    for i, x in enumerate(inputs):
        if isinstance(x, Tensor) and x.requires_grad:
            if x.dtype != np.float64:
                raise TypeError(f"gradcheck: input {i} has dtype {x.dtype}; use float64 inputs "
                                "(finite differences in lower precision are too noisy to check)")
            checked.append(i)
    if not checked:
        raise ValueError("gradcheck: no input requires grad, so there is nothing to check")

    saved_grads = [x.grad if isinstance(x, Tensor) else None for x in inputs]
    try:
        outs = _outputs(fn, inputs)
        analytic = _analytic_jacobians(inputs, checked, outs)
        numeric = _numeric_jacobians(fn, inputs, checked, eps)
    finally:
        for x, g in zip(inputs, saved_grads):
            if isinstance(x, Tensor):
                x.grad = g

    for i in checked:
        a, n = analytic[i], numeric[i]
        err = np.abs(a - n)
        excess = err - (atol + rtol * np.abs(n))
        if (excess.size and (excess > 0).any()) or not np.isfinite(a).all():
            bad = np.where(np.isfinite(excess), excess, np.inf)
            r, c = np.unravel_index(int(np.argmax(bad)), a.shape)
            out_k, out_idx = _locate_output(outs, r)
            in_idx = np.unravel_index(c, inputs[i].shape) if inputs[i].ndim else ()
            n_bad = int((bad > 0).sum())
            raise GradcheckError(
                i, f"gradcheck failed for input {i} (shape {inputs[i].shape}): "
                f"{n_bad} of {a.size} Jacobian elements out of tolerance.\n"
                f"  worst: d output{out_k}[{', '.join(map(str, out_idx))}] / "
                f"d input{i}[{', '.join(map(str, in_idx))}]\n"
                f"  analytic = {float(a[r, c])!r}\n  numeric  = {float(n[r, c])!r}\n"
                f"  |error|  = {float(err[r, c]):.6g} > atol + rtol*|numeric| = "
                f"{atol + rtol * abs(float(n[r, c])):.6g} (atol={atol}, rtol={rtol}, eps={eps})")
    return True


def _locate_output(outs, row):
    for k, o in enumerate(outs):
        if row < o.size:
            return k, np.unravel_index(row, o.shape) if o.ndim else ()
        row -= o.size
    raise IndexError(row)


def _analytic_jacobians(inputs, checked, outs):
    """One backward pass per output element: row r of J is d out[r] / d input."""
    n_out = sum(o.size for o in outs)
    J = {i: np.zeros((n_out, inputs[i].size)) for i in checked}
    row = 0
    for o in outs:
        xp = backend.get_array_module(o.data)
        for j in range(o.size):
            for i in checked:
                inputs[i].grad = None
            if o.requires_grad:
                seed = xp.zeros(o.shape, dtype=o.dtype)
                seed.reshape(-1)[j] = 1
                try:
                    o.backward(seed, retain_graph=True)  # one graph, one pass per row
                except RuntimeError as e:  # an op's backward returned a misfit gradient
                    raise GradcheckError(f"gradcheck failed in the backward pass: {e}") from e
            for i in checked:
                g = inputs[i].grad
                if g is not None:
                    J[i][row] = backend.to_numpy(g).reshape(-1)
            row += 1
    return J


def _numeric_jacobians(fn, inputs, checked, eps):
    """Central differences: column c of J is (f(x + eps e_c) - f(x - eps e_c)) / 2 eps."""
    J = {}
    with no_grad():
        n_out = _flat_outputs(fn, inputs).size
        for i in checked:
            x = inputs[i].data
            cols = []
            for c in range(x.size):
                idx = np.unravel_index(c, x.shape) if x.ndim else ()
                orig = x[idx].copy()
                x[idx] = orig + eps
                plus = _flat_outputs(fn, inputs)
                x[idx] = orig - eps
                minus = _flat_outputs(fn, inputs)
                x[idx] = orig
                cols.append((plus - minus) / (2 * eps))
            J[i] = np.stack(cols, axis=1) if cols else np.zeros((n_out, 0))  # an empty input
    return J


def _flat_outputs(fn, inputs):
    return np.concatenate([backend.to_numpy(o.data).astype(np.float64).reshape(-1)
                           for o in _outputs(fn, inputs)])


def gradgradcheck(fn: Callable[..., Tensor | Sequence[Tensor]], inputs: Tensor | Sequence[Any],
                  grad_outputs: Tensor | Sequence[Tensor] | None = None, eps: float = 1e-6,
                  atol: float = 1e-5, rtol: float = 1e-3, seed: int = 0) -> bool:
    """Check the second derivatives of `fn(*inputs)`, as torch.autograd.gradgradcheck: gradcheck
    of the vector-Jacobian product (x, v) ↦ vᵀ ∂fn/∂x, computed by a recorded backward
    (create_graph=True), against finite differences of that backward.

    Its derivative in x is the second derivative of fn (a Hessian-vector product for a scalar
    fn); its derivative in v checks that the recorded backward is linear in v with the right
    coefficients. `grad_outputs` (the v, one per output of fn) default to random float64 values
    drawn with `seed`. Passes and returns True, or raises GradcheckError naming which input of
    the vjp failed (an input of fn, or a grad_output), the worst element, both values and the
    error. An op whose backward reads a raw array where it should read a Tensor (right to first
    order, a constant in the recorded pass) fails here, in x.
    """
    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    with enable_grad():
        outs = _outputs(fn, inputs)
    checked = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not checked:
        raise ValueError("gradgradcheck: no input requires grad, so there is nothing to check")
    if grad_outputs is None:
        rng = np.random.default_rng(seed)
        vs = [Tensor(backend.to_device(rng.standard_normal(o.shape), o.device), requires_grad=True)
              for o in outs]
    else:
        vs = list(grad_outputs) if isinstance(grad_outputs, (tuple, list)) else [grad_outputs]
        if len(vs) != len(outs):
            raise ValueError(f"gradgradcheck: {len(vs)} grad_outputs for {len(outs)} outputs")
        for k, (v, o) in enumerate(zip(vs, outs)):
            if not isinstance(v, Tensor):
                raise TypeError(f"gradgradcheck: grad_outputs[{k}] must be a Tensor (mg.tensor(...)), "
                                f"got {type(v).__name__}")
            if v.shape != o.shape:
                raise ValueError(f"gradgradcheck: grad_outputs[{k}] has shape {v.shape}, but output {k} "
                                 f"has shape {o.shape}")
        vs = [v if v.requires_grad else Tensor(v.data, requires_grad=True) for v in vs]
    n = len(inputs)

    def first_derivative(*args: Any) -> tuple[Tensor, ...]:
        xs, v = args[:n], args[n:]
        with enable_grad():
            ys = _outputs(fn, xs)
            live = [k for k, y in enumerate(ys) if y.requires_grad]
            grads: tuple[Any, ...] = (None,) * len(checked)
            if live:
                grads = grad([ys[k] for k in live], [xs[i] for i in checked],
                             [v[k] for k in live], create_graph=True, allow_unused=True)
        return tuple(g if g is not None else Tensor(backend.get_array_module(xs[i].data)
                                                    .zeros_like(xs[i].data))
                     for g, i in zip(grads, checked))

    try:
        return gradcheck(first_derivative, inputs + tuple(vs), eps=eps, atol=atol, rtol=rtol)
    except GradcheckError as e:
        k = e.input
        if k is None:
            raise
        what = f"input {k} of fn" if k < n else f"grad_outputs[{k - n}] (the v of the vjp)"
        outputs = ", ".join(f"output{j} is fn's gradient for its input {i}"
                            for j, i in enumerate(checked))
        raise GradcheckError(
            k, f"gradgradcheck failed: the derivative of the first derivative vᵀ∂fn/∂x with "
            f"respect to {what} disagrees with finite differences of the recorded backward "
            f"(below, {outputs}; input {n} on are the grad_outputs).\n{e}") from None
