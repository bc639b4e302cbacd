"""Fuzzing the tensor ops with hypothesis: random shapes (0-d and zero-size included),
broadcasting, axes, indices and dtypes.

Each family checks the same four things: the forward pass equals NumPy's in float32 and float64,
the dtype is kept, every gradient has its input's shape, and gradcheck passes in float64. Bad
input must fail with the library's own error (raised from minigrad's source, naming the op and
the shapes or values), never with an error from inside NumPy.

Values come from a NumPy generator seeded by hypothesis (hypothesis explores shapes, axes and
indices; smooth random values keep gradcheck away from kinks and ties). derandomize=True makes
every run draw the same examples, so CI is reproducible.
"""
import math
import os
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad as mg
import minigrad.nn.functional as F

MINIGRAD_DIR = os.path.dirname(mg.__file__)


def fuzz(n):
    """Settings for one fuzz test: n examples, reproducible, no deadline (CI machines vary)."""
    return settings(max_examples=n, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


DTYPES = st.sampled_from([np.float32, np.float64])
SEEDS = st.integers(0, 2**32 - 1)
SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3)
TOL = {np.float32: dict(rtol=2e-5, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-13)}


def values(seed, shape, dtype=np.float64, kind="normal"):
    """Random values for `shape`: normal, positive (0.5..2), or away from zero (|x| in 0.2..1.5)."""
    rng = np.random.default_rng(seed)
    if kind == "positive":
        x = rng.uniform(0.5, 2.0, shape)
    elif kind == "away":
        x = rng.uniform(0.2, 1.5, shape) * rng.choice([-1.0, 1.0], shape)
    else:
        x = rng.standard_normal(shape)
    return np.asarray(x, dtype=dtype)


def check_op(fn, ref, arrays, dtype):
    """Forward against NumPy in `dtype`, dtype kept, gradient shapes; gradcheck in float64."""
    xs = [mg.tensor(a.astype(dtype), requires_grad=True) for a in arrays]
    y = fn(*xs)
    expected = np.asarray(ref(*[a.astype(dtype) for a in arrays]))
    assert y.shape == expected.shape
    assert y.dtype == dtype, f"{y.dtype} != {dtype}"
    np.testing.assert_allclose(y.data, expected, **TOL[dtype])
    y.backward(np.ones(y.shape, dtype))
    for x in xs:
        assert x.grad is not None and x.grad.shape == x.shape and x.grad.dtype == dtype
    if all(a.size for a in arrays):  # an empty input has an empty Jacobian: nothing to check
        x64 = [mg.tensor(a.astype(np.float64), requires_grad=True) for a in arrays]
        assert mg.gradcheck(fn, x64)


def raises_own(exc_type, fn, *fragments):
    """fn() raises exc_type from minigrad's own code, with every fragment in its message."""
    with pytest.raises(exc_type) as info:
        fn()
    where = info.traceback[-1].path
    assert str(where).startswith(MINIGRAD_DIR), f"{exc_type.__name__} raised in {where}: {info.value}"
    for f in fragments:
        assert str(f) in str(info.value), f"{f!r} not in {str(info.value)!r}"
    return info.value


# ============================================================================ elementwise binary

BINARY = {
    "add": (lambda a, b: a + b, "normal", "normal"),
    "sub": (lambda a, b: a - b, "normal", "normal"),
    "mul": (lambda a, b: a * b, "normal", "normal"),
    "div": (lambda a, b: a / b, "normal", "away"),
    "pow": (lambda a, b: a ** b, "positive", "normal"),
}


@fuzz(120)
@given(op=st.sampled_from(sorted(BINARY)), seed=SEEDS, dtype=DTYPES,
       shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3,
                                                min_side=0, max_side=3))
def test_binary_broadcasting(op, seed, dtype, shapes):
    fn, kind_a, kind_b = BINARY[op]
    a_shape, b_shape = shapes.input_shapes
    check_op(fn, fn, [values(seed, a_shape, kind=kind_a), values(seed + 1, b_shape, kind=kind_b)],
             dtype)


@fuzz(60)
@given(op=st.sampled_from(sorted(BINARY)), seed=SEEDS, dtype=DTYPES, shape=SHAPES,
       c=st.sampled_from([0.5, 2.0, -1.5, 3]), left=st.booleans())
def test_binary_with_a_python_scalar(op, seed, dtype, shape, c, left):
    fn, kind_a, kind_b = BINARY[op]
    if left:  # c (op) x: x plays the second operand
        x = values(seed, shape, kind=kind_b)
        g = (lambda t: fn(abs(c), t)) if op == "pow" else (lambda t: fn(c, t))
    else:
        x = values(seed, shape, kind=kind_a)
        g = lambda t: fn(t, c)  # noqa: E731
    check_op(g, g, [x], dtype)


def _incompatible_pair():
    """Two shapes that cannot broadcast: one axis has sizes n != m, both > 1."""
    return st.tuples(SHAPES.filter(lambda s: len(s) > 0), st.integers(2, 4), st.integers(2, 4),
                     st.data()).filter(lambda t: t[1] != t[2])


@fuzz(40)
@example(op="add", pair=((2, 3), 2, 4, None))
@given(op=st.sampled_from(sorted(BINARY) + ["where"]), pair=_incompatible_pair())
def test_incompatible_broadcast_is_the_libraries_own_error(op, pair):
    shape, n, m, data = pair
    axis = data.draw(st.integers(0, len(shape) - 1)) if data is not None else 0
    a_shape = shape[:axis] + (n,) + shape[axis + 1:]
    b_shape = shape[:axis] + (m,) + shape[axis + 1:]
    a = mg.tensor(np.ones(a_shape), requires_grad=True)
    b = mg.tensor(np.ones(b_shape), requires_grad=True)
    if op == "where":
        raises_own(ValueError, lambda: mg.where(np.ones(a_shape, bool), a, b), "where",
                   a_shape, b_shape)
    else:
        raises_own(ValueError, lambda: BINARY[op][0](a, b), op, a_shape, b_shape)
    assert a.grad is None and b.grad is None


# ============================================================================ unary

def _gelu_ref(a):
    erf = np.vectorize(math.erf, otypes=[np.float64])
    return (a * 0.5 * (1 + erf(a.astype(np.float64) / math.sqrt(2)))).astype(a.dtype)


UNARY = {  # name: (minigrad, numpy reference, kind of values)
    "neg": (lambda a: -a, lambda a: -a, "normal"),
    "exp": (lambda a: a.exp(), np.exp, "normal"),
    "log": (lambda a: a.log(), np.log, "positive"),
    "sqrt": (lambda a: a.sqrt(), np.sqrt, "positive"),
    "tanh": (lambda a: a.tanh(), np.tanh, "normal"),
    "sigmoid": (lambda a: a.sigmoid(), lambda a: 1 / (1 + np.exp(-a)), "normal"),
    "relu": (lambda a: a.relu(), lambda a: np.maximum(a, 0), "away"),
    "abs": (lambda a: a.abs(), np.abs, "away"),
    "clip": (lambda a: a.clip(-0.5, 0.7), lambda a: np.clip(a, -0.5, 0.7), "away"),
    "gelu": (F.gelu, _gelu_ref, "normal"),
    "gelu_tanh": (lambda a: F.gelu(a, approximate="tanh"),
                  lambda a: 0.5 * a * (1 + np.tanh(math.sqrt(2 / math.pi) * (a + 0.044715 * a ** 3))),
                  "normal"),
    "pow_3": (lambda a: a ** 3, lambda a: a ** 3, "normal"),
    "pow_half": (lambda a: a ** 0.5, lambda a: a ** 0.5, "positive"),
    "pow_neg": (lambda a: a ** -2, lambda a: a ** -2.0, "away"),
    "rpow": (lambda a: 2.0 ** a, lambda a: 2.0 ** a, "normal"),
}


@fuzz(120)
@given(name=st.sampled_from(sorted(UNARY)), seed=SEEDS, dtype=DTYPES, shape=SHAPES)
def test_unary(name, seed, dtype, shape):
    fn, ref, kind = UNARY[name]
    x = values(seed, shape, kind=kind)
    if name == "clip":  # keep away from the bounds, where the gradient is a kink
        x = np.where(np.abs(x + 0.5) < 0.05, x - 0.1, np.where(np.abs(x - 0.7) < 0.05, x + 0.1, x))
    check_op(fn, ref, [x], dtype)


def test_integer_tensor_to_a_negative_power_is_the_libraries_own_error():
    raises_own(ValueError, lambda: mg.tensor([2, 3]) ** -1, "pow", "-1")


# ============================================================================ reductions

def _axes(shape):
    """None, an int or a tuple of distinct ints, negative ones included; 0 or -1 for 0-d."""
    nd = len(shape)
    if nd == 0:
        return st.sampled_from([None, 0, -1, (0,)])
    one = st.integers(-nd, nd - 1)
    many = st.lists(st.integers(0, nd - 1), unique=True, max_size=nd).flatmap(
        lambda axes: st.tuples(*[st.sampled_from([a, a - nd]) for a in axes]))
    return st.none() | one | many


def _np_reduce(name, a, axis, keepdims, correction=1):
    if a.ndim == 0:  # numpy has no axis 0 on a 0-d array; torch reduces over nothing
        axis = None if axis is None else ()
    if name == "var":
        axes = tuple(range(a.ndim)) if axis is None else axis
        n = int(np.prod([a.shape[i] for i in np.atleast_1d(axes)])) if a.ndim else 1
        xc = a - a.mean(axis=axis, keepdims=True)
        return (xc * xc).sum(axis=axis, keepdims=keepdims) / max(n - correction, 0)
    return {"sum": np.sum, "mean": np.mean, "max": np.max, "min": np.min}[name](
        a, axis=axis, keepdims=keepdims)


@fuzz(150)
@example(name="sum", seed=0, dtype=np.float64, data_shape=((), 0, False))
@example(name="max", seed=0, dtype=np.float64, data_shape=((0, 3), 1, False))
@given(name=st.sampled_from(["sum", "mean", "max", "min", "var"]), seed=SEEDS, dtype=DTYPES,
       data_shape=SHAPES.flatmap(lambda s: st.tuples(st.just(s), _axes(s), st.booleans())))
def test_reductions(name, seed, dtype, data_shape):
    shape, axis, keepdims = data_shape
    axes = () if not shape else tuple(range(len(shape))) if axis is None else \
        tuple(a % len(shape) for a in np.atleast_1d(axis))
    n = int(np.prod([shape[a] for a in axes])) if axes else 1
    fn = lambda t: getattr(t, name)(axis=axis, keepdims=keepdims)  # noqa: E731
    x = values(seed, shape)
    if name in ("max", "min") and n == 0:
        raises_own(ValueError, lambda: fn(mg.tensor(x)), name, shape)
        return
    if (name == "mean" and n == 0) or (name == "var" and n <= 1):
        with warnings.catch_warnings(), np.errstate(all="ignore"):  # 0/0: NaN, as torch
            warnings.simplefilter("ignore", RuntimeWarning)
            y = fn(mg.tensor(x.astype(dtype)))
        assert y.shape == np.shape(_np_reduce("sum", x, axis, keepdims)) and y.dtype == dtype
        return
    check_op(fn, lambda a: _np_reduce(name, a, axis, keepdims), [x], dtype)


@fuzz(60)
@given(name=st.sampled_from(["sum", "mean", "max", "min", "var", "softmax", "log_softmax"]),
       shape=SHAPES, data=st.data())
def test_bad_axis_is_the_libraries_own_error(name, shape, data):
    nd = max(len(shape), 1)
    bad = data.draw(st.integers(nd, nd + 3) | st.integers(-nd - 3, -nd - 1))
    x = mg.tensor(np.ones(shape))
    raises_own(IndexError, lambda: getattr(x, name)(axis=bad), name, f"axis {bad}")
    if name not in ("softmax", "log_softmax") and len(shape) >= 1:
        raises_own(ValueError, lambda: getattr(x, name)(axis=(0, -len(shape))), name, "repeats")
    raises_own(TypeError, lambda: getattr(x, name)(axis=1.0), name, "axis")


# ============================================================================ softmax

def _np_softmax(a, axis, log):
    if a.ndim == 0:
        return np.zeros_like(a) if log else np.ones_like(a)
    if a.size == 0:
        return a.copy()
    z = a - a.max(axis=axis, keepdims=True)
    lse = np.log(np.exp(z).sum(axis=axis, keepdims=True))
    return z - lse if log else np.exp(z - lse)


@fuzz(80)
@given(log=st.booleans(), seed=SEEDS, dtype=DTYPES,
       data_shape=SHAPES.flatmap(lambda s: st.tuples(
           st.just(s), st.integers(-max(len(s), 1), max(len(s), 1) - 1))))
def test_softmax_and_log_softmax(log, seed, dtype, data_shape):
    shape, axis = data_shape
    fn = (lambda t: t.log_softmax(axis)) if log else (lambda t: t.softmax(axis))
    check_op(fn, lambda a: _np_softmax(a, axis, log), [np.asarray(values(seed, shape) * 3)], dtype)
