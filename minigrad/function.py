"""The Function base class: every op's forward and backward, and the recording of the graph.

An op is a subclass with `forward(self, *arrays) -> array` and `backward(self, gy) -> tuple of
arrays` (one gradient per input, None where an input needs none; each of its input's shape and a
floating dtype, which Tensor.backward checks). Non-tensor arguments (an axis, a shape) go to
`__init__`. `Op(args).apply(x, y)` unwraps the tensors, runs forward on raw arrays
and, when grad mode is on and some input requires grad, records the op as the output's creator.
"""
import contextlib

import numpy as np

from . import backend

_grad_enabled = True
_detect_anomaly = False  # set by minigrad.anomaly; checked once per op below


def is_grad_enabled():
    """False inside no_grad()."""
    return _grad_enabled


class _GradMode(contextlib.ContextDecorator):
    enabled = True

    def _recreate_cm(self):
        return type(self)()  # a fresh one per decorated call, so nested calls restore correctly

    def __enter__(self):
        global _grad_enabled
        self._prev = _grad_enabled
        _grad_enabled = self.enabled

    def __exit__(self, *exc):
        global _grad_enabled
        _grad_enabled = self._prev
        return False


class no_grad(_GradMode):
    """Context manager and decorator: ops inside record no graph."""
    enabled = False


class enable_grad(_GradMode):
    """Context manager and decorator: turn grad mode back on inside a no_grad block."""
    enabled = True


def sum_to(g, shape):
    """Sum a broadcast gradient `g` back down to `shape` (the reverse of broadcasting)."""
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and g.shape[lead + i] != 1)
    g = g.sum(axis=axes, keepdims=True)
    if lead:
        g = g.reshape(shape)
    return g


class Function:
    """Base class of every op. See the module docstring for the protocol."""

    inputs = ()  # the input tensors, recorded only when the graph is built
    released = False  # True once a backward pass has freed what forward saved

    def apply(self, *inputs):
        from .tensor import Tensor
        xs = [t.data for t in inputs]
        if len(xs) > 1:
            _check_same_device(type(self).__name__, xs)
        y = self.forward(*xs)
        if type(y) is not np.ndarray and not backend.is_array(y):
            y = backend.get_array_module(*xs).asarray(y)  # NumPy turns 0-d results into scalars
        if _detect_anomaly:
            from . import anomaly
            anomaly.check_forward(self, xs, y)
        if _grad_enabled:
            for t in inputs:
                if t.requires_grad:
                    self.inputs = inputs
                    return Tensor._from_op(y, self)
        return Tensor._from_op(y, None)

    def forward(self, *xs):
        raise NotImplementedError

    def backward(self, gy):
        raise NotImplementedError

    def release(self):
        """Drop everything saved for backward (arrays, inputs) after a backward pass used it,
        so the graph's memory goes now rather than when the output does."""
        self.__dict__.clear()
        self.released = True

    @property
    def needs_input_grad(self):
        return tuple(t.requires_grad for t in self.inputs)


def _check_same_device(name, xs):
    kind = type(xs[0])
    for x in xs[1:]:
        if type(x) is not kind:
            devices = ", ".join(backend.device_of(x) for x in xs)
            raise RuntimeError(f"{name}: inputs are on different devices ({devices}); "
                               "move them to one device with .to(device)")
