"""Anomaly detection: where a NaN or Inf was born, in the forward pass or the backward pass.

As torch.autograd.detect_anomaly. Inside `with mg.detect_anomaly():` (or after
`mg.set_detect_anomaly(True)`):

- forward: an op whose inputs are all finite but whose output holds a NaN or an Inf raises
  AnomalyError at once, naming the op, its inputs' shapes, dtypes and value ranges, and the line
  of user code that called it (the first frame outside the minigrad package);
- backward: an op whose backward turns a finite incoming gradient into a non-finite gradient for
  one of its inputs (all finite in the forward pass) raises AnomalyError naming the op, the
  input, and the line of user code that created the op in the forward pass (recorded at
  creation, only while the mode is on).

Only the first non-finite value is reported: an op fed a NaN by an earlier op stays quiet, so the
error points at the birth, not at the spread. Two gradients that are finite apart but overflow
when added (a tensor used twice) are not checked.

Cost. Off (the default): one check of a global flag per op in Function.apply and one per
backward() call (tens of nanoseconds against an op's microseconds), which
bench/anomaly_overhead.py cannot tell apart from its noise. On: every op scans its output once
(isfinite) and records up to 8 frames of where it was called, and backward scans every gradient:
on a chain of 4x4 ops about 4x slower, forward and forward + backward (bench/anomaly_overhead.py
on a 2-core CPU); on large tensors, the cost of a few extra passes over memory per op. A
debugging tool: turn it on to find where a NaN comes from, then off.
"""
from __future__ import annotations

import contextlib
import os
import sys
import traceback
from typing import Any, Literal

from . import backend
from .backend import Array

# the mode: read once per op by Function.apply and once per backward by Tensor.backward, both of
# which import this module (it imports neither); set only by the switches below
enabled = False
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


class AnomalyError(RuntimeError):
    """A NaN or Inf appeared. `op` is the op's class name, `phase` 'forward' or 'backward',
    `where` the user code's frame ('file:line in function'), or None if unknown."""

    def __init__(self, message: str, op: str, phase: str, where: str | None) -> None:
        super().__init__(message)
        self.op, self.phase, self.where = op, phase, where


def is_anomaly_enabled() -> bool:
    """True while anomaly detection is on."""
    return enabled


class set_detect_anomaly:
    """Turn anomaly detection on or off now; as a context manager, the previous mode comes
    back on exit (as torch.autograd.set_detect_anomaly)."""

    def __init__(self, mode: bool) -> None:
        if not isinstance(mode, bool):
            raise TypeError(f"set_detect_anomaly(mode): mode must be a bool, got {mode!r}")
        global enabled
        self._prev, enabled = enabled, mode

    def __enter__(self) -> set_detect_anomaly:
        return self

    def __exit__(self, *exc: object) -> Literal[False]:
        global enabled
        enabled = self._prev
        return False


class detect_anomaly(contextlib.ContextDecorator):
    """Context manager and decorator: anomaly detection on inside (see the module docstring for
    what it checks and what it costs); the previous mode comes back on exit, also on an error."""

    def _recreate_cm(self) -> detect_anomaly:
        return type(self)()  # a fresh one per decorated call, so nested calls restore correctly

    def __enter__(self) -> detect_anomaly:
        global enabled
        self._prev, enabled = enabled, True
        return self

    def __exit__(self, *exc: object) -> Literal[False]:
        global enabled
        enabled = self._prev
        return False


# ============================================================================ the checks

def check_forward(fn: Any, xs: list[Array], y: Array) -> None:
    """Called by Function.apply in anomaly mode: record where `fn` was created (for its
    backward), and raise if it made a non-finite `y` out of finite inputs `xs`."""
    frame = _user_frame()
    fn._anomaly_created = traceback.StackSummary.from_list(list(reversed(
        traceback.StackSummary.extract(traceback.walk_stack(frame), limit=8, lookup_lines=False)
    ))) if frame else None  # outermost first, as a traceback prints; the user's line last
    if not _is_float(y) or _all_finite(y):
        return
    if not all(_all_finite(x) for x in xs if _is_float(x)):
        return  # the NaN was born earlier (outside anomaly mode): not this op's doing
    name, where = type(fn).__name__, _where(fn._anomaly_created)
    inputs = "\n".join(f"  input {i}: {_describe(x)}" for i, x in enumerate(xs))
    raise AnomalyError(
        f"anomaly detected in the forward pass: {name} produced {_count_bad(y)} from finite "
        f"inputs\n{inputs}\n  output: {_describe(y)}\n  called at {where or '(unknown)'}",
        name, "forward", where)


def check_backward(fn: Any, gy: Any, gxs: tuple[Any, ...]) -> None:
    """Called by Tensor.backward in anomaly mode after fn.backward(gy) returned gxs: raise if a
    finite gy became a non-finite gradient for one of fn's inputs."""
    if not _all_finite(gy):
        return  # an earlier op's doing (or a non-finite seed grad)
    for i, gx in enumerate(gxs):
        if gx is None or _all_finite(gx):
            continue
        if not all(_all_finite(x.data) for x in fn.inputs):
            return  # fed a NaN or Inf in the forward pass: born there, not here
        name = type(fn).__name__
        created = getattr(fn, "_anomaly_created", None)
        where = _where(created)
        if created:
            origin = "".join(created.format()).rstrip()
        else:
            origin = ("  (not recorded: the op was created while anomaly detection was off; "
                      "turn it on before the forward pass)")
        inputs = "\n".join(f"  input {k}: {_describe(x.data)}" for k, x in enumerate(fn.inputs))
        raise AnomalyError(
            f"anomaly detected in the backward pass: {name}.backward turned a finite gradient "
            f"into {_count_bad(_values(gx))} in the gradient of its input {i}\n"
            f"  incoming gradient: {_describe(_values(gy))}\n{inputs}\n"
            f"  the {name} was created in the forward pass at {where or '(unknown)'}:\n{origin}",
            name, "backward", where)


# ============================================================================ helpers

def _user_frame():
    """The innermost frame whose code is outside the minigrad package (None if there is none)."""
    f = sys._getframe(2)
    while f is not None and f.f_code.co_filename.startswith(_PACKAGE_DIR):
        f = f.f_back
    return f


def _where(stack):
    if not stack:
        return None
    top = stack[-1]
    return f"{top.filename}:{top.lineno} in {top.name}"


def _values(a):
    return a.values if hasattr(a, "indices") else a  # a RowSparseGrad's stored rows


def _is_float(a):
    return a.dtype.kind == "f"


def _all_finite(a):
    a = _values(a)
    if not _is_float(a):
        return True
    return bool(backend.get_array_module(a).isfinite(a).all())


def _count_bad(a):
    xp = backend.get_array_module(a)
    n_nan = int(xp.isnan(a).sum())
    n_inf = int(xp.isinf(a).sum())
    parts = ([f"{n_nan} NaN"] if n_nan else []) + ([f"{n_inf} Inf"] if n_inf else [])
    return " and ".join(parts) + f" (of {a.size} elements)"


def _describe(a):
    """shape, dtype and value range of an array, for an error message."""
    text = f"shape {tuple(a.shape)}, dtype {a.dtype}"
    if a.size == 0 or a.dtype.kind not in "fiub":
        return text
    xp = backend.get_array_module(a)
    if a.dtype.kind == "f":
        finite = a[xp.isfinite(a)]
        bad = a.size - finite.size
        if finite.size:
            text += f", finite values in [{_num(finite.min())}, {_num(finite.max())}]"
        return text + (f", {bad} non-finite" if bad else "")
    return text + f", values in [{_num(a.min())}, {_num(a.max())}]"


def _num(v):
    return f"{float(v):.6g}"
