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
import warnings

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad as mg
import minigrad.nn as nn
import minigrad.nn.functional as F

from fuzzing import DTYPES, SEEDS, TOL, check_op, fuzz, raises_own, values

SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3)


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


@pytest.fixture
def no_scipy(monkeypatch):
    """`from scipy.special import ...` fails, as on a machine with only the test extra."""
    import sys
    monkeypatch.setitem(sys.modules, "scipy.special", None)
    monkeypatch.setitem(sys.modules, "scipy", None)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("shape", [(), (0,), (3, 0), (1,), (2, 3), (70_001,)])
def test_erf_without_scipy_is_math_erf_for_every_shape(no_scipy, shape, dtype):
    # (70_001,) spans two of the chunks the no-SciPy path converts at a time
    x = values(3, shape).astype(dtype) * 2
    y = mg.backend.erf(x)
    assert isinstance(y, np.ndarray) and y.shape == shape and y.dtype == dtype
    expected = np.array([math.erf(v) for v in x.astype(np.float64).ravel()]).reshape(shape)
    np.testing.assert_array_equal(y, expected.astype(dtype))  # computed in double, rounded once
    # 0-d arithmetic gives NumPy scalars, not arrays: what GELU passes for a 0-d tensor
    s = mg.backend.erf(dtype(0.5))
    assert s.dtype == dtype and s == dtype(math.erf(0.5))


def test_erf_without_scipy_keeps_the_edges(no_scipy):
    x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 30.0, -1e-300])
    y = mg.backend.erf(x)
    np.testing.assert_array_equal(y, [0.0, -0.0, 1.0, -1.0, np.nan, 1.0, math.erf(-1e-300)])
    assert np.signbit(y[1])


@pytest.mark.parametrize("shape", [(), (0,), (4,), (2, 3)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gelu_without_scipy_matches_math_erf_and_torch(no_scipy, shape, dtype):
    x = np.asarray(values(5, shape, dtype=dtype) * 3)  # an array, also 0-d
    t = mg.tensor(x, requires_grad=True)
    y = F.gelu(t)
    y.backward(np.ones(shape, dtype))
    assert y.dtype == dtype and y.shape == shape and t.grad.dtype == dtype
    np.testing.assert_allclose(y.data, _gelu_ref(x), **TOL[dtype])
    try:
        import torch
    except ImportError:
        return
    tx = torch.tensor(x, requires_grad=True)
    ty = torch.nn.functional.gelu(tx)
    ty.sum().backward()
    np.testing.assert_allclose(y.data, ty.detach().numpy(), **TOL[dtype])
    np.testing.assert_allclose(t.grad, tx.grad.numpy(), **TOL[dtype])


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


# ============================================================================ shape ops

def _reshape_target(shape):
    """A shape of the same size: the dims shuffled, 1s inserted, one replaced by -1."""
    return st.permutations(list(shape)).flatmap(lambda dims: st.tuples(
        st.just(tuple(dims)), st.integers(0, len(dims)), st.booleans(),
        st.integers(0, max(len(dims) - 1, 0)))).map(_with_ones_and_minus_one)


def _with_ones_and_minus_one(t):
    dims, where_one, minus_one, k = t
    dims = dims[:where_one] + (1,) + dims[where_one:]
    rest = dims[:k] + dims[k + 1:]
    if minus_one and int(np.prod(rest)) != 0:  # -1 is ambiguous when the rest is empty
        dims = dims[:k] + (-1,) + dims[k + 1:]
    return dims


@fuzz(80)
@given(seed=SEEDS, dtype=DTYPES, data_shape=SHAPES.flatmap(
    lambda s: st.tuples(st.just(s), _reshape_target(s))))
def test_reshape(seed, dtype, data_shape):
    shape, target = data_shape
    check_op(lambda t: t.reshape(target), lambda a: a.reshape(target), [values(seed, shape)], dtype)


@fuzz(80)
@example(seed=0, dtype=np.float64, how="flatten1", data_shape=((0, 2, 3), (0, 1, 2), False))
@given(seed=SEEDS, dtype=DTYPES, how=st.sampled_from(["perm", "T", "flatten", "flatten1"]),
       data_shape=SHAPES.flatmap(lambda s: st.tuples(st.just(s), st.permutations(range(len(s))),
                                                     st.booleans())))
def test_transpose_T_flatten(seed, dtype, how, data_shape):
    shape, perm, negative = data_shape
    axes = tuple(a - len(shape) for a in perm) if negative else tuple(perm)
    fn, ref = {
        "perm": (lambda t: t.transpose(*axes), lambda a: a.transpose(axes)),
        "T": (lambda t: t.T, lambda a: a.T),
        "flatten": (lambda t: t.flatten(), lambda a: a.reshape(a.size)),
        "flatten1": (lambda t: nn.Flatten()(t), lambda a: a.reshape(a.shape[:1] + (-1,))
                     if a.ndim > 1 and a.shape[0] else a.reshape(a.shape[:1] + (int(np.prod(a.shape[1:])),))),
    }[how]
    if how == "flatten1" and len(shape) < 2:
        raises_own(IndexError, lambda: nn.Flatten()(mg.tensor(values(seed, shape))), "flatten")
        return
    check_op(fn, ref, [values(seed, shape)], dtype)


@fuzz(40)
@given(shape=SHAPES, data=st.data())
def test_bad_transpose_is_the_libraries_own_error(shape, data):
    x = mg.tensor(np.ones(shape))
    n = len(shape)
    wrong_len = data.draw(st.lists(st.integers(0, max(n - 1, 0)), min_size=0, max_size=4)
                          .filter(lambda a: len(a) not in (0, n)))
    raises_own(ValueError, lambda: x.transpose(*wrong_len), "transpose", shape)
    if n >= 2:
        bad = data.draw(st.integers(n, n + 3))
        raises_own(IndexError, lambda: x.transpose(*range(n - 1), bad), "transpose", f"axis {bad}")
        raises_own(ValueError, lambda: x.transpose(*([0] * n)), "transpose", "repeats")


# ============================================================================ indexing

def _index_arrays(shape):
    """Integer arrays (one shared shape, in bounds, negative ones too) for the leading axes,
    optionally followed by basic indices on the rest."""
    lead = st.integers(1, len(shape)).filter(lambda k: all(shape[:k]))
    return lead.flatmap(lambda k: st.tuples(
        hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=3),
        st.just(k), st.booleans())).flatmap(lambda t: st.tuples(
            *[hnp.arrays(np.int64, t[0], elements=st.integers(-shape[i], shape[i] - 1))
              for i in range(t[1])], st.just(t[2]))).map(
                  lambda parts: parts[:-1] + ((slice(None, None, -1),) if parts[-1]
                                              and len(parts) - 1 < len(shape) else ()))


@fuzz(100)
@example(seed=0, dtype=np.float64, shape_index=((4, 3), (np.array([0, 2, 0, 0]),)))
@given(seed=SEEDS, dtype=DTYPES, shape_index=SHAPES.flatmap(lambda s: st.tuples(
    st.just(s), hnp.basic_indices(s, min_dims=0, allow_newaxis=True, allow_ellipsis=True)
    | (_index_arrays(s) if any(s) and all(s[:1]) else hnp.basic_indices(s)))))
def test_getitem_basic_and_integer_arrays(seed, dtype, shape_index):
    shape, index = shape_index
    x = values(seed, shape)
    check_op(lambda t: t[index], lambda a: a[index], [x], dtype)
    # repeated indices accumulate: the gradient equals np.add.at of the seed into zeros
    t = mg.tensor(x, requires_grad=True)
    y = t[index]
    gy = np.random.default_rng(seed).standard_normal(y.shape)
    y.backward(gy)
    expected = np.zeros(shape)
    np.add.at(expected, index, gy)
    np.testing.assert_allclose(t.grad, expected, rtol=1e-12, atol=1e-13)


@fuzz(80)
@example(shape=(4, 3), data=None, kind="int")
@given(shape=SHAPES.filter(lambda s: len(s) > 0), data=st.data(),
       kind=st.sampled_from(["int", "array", "float_array", "float", "too_many", "mismatch"]))
def test_bad_index_is_the_libraries_own_error(shape, data, kind):
    x = mg.tensor(np.ones(shape), requires_grad=True)
    size = shape[0]
    draw = data.draw if data is not None else (lambda s: size)
    bad = draw(st.integers(size, size + 3) | st.integers(-size - 3, -size - 1))
    if kind == "int":
        raises_own(IndexError, lambda: x[bad], "getitem", f"index {bad}", f"size {size}")
    elif kind == "array":
        raises_own(IndexError, lambda: x[np.array([0, bad] if size else [bad])], "getitem",
                   f"index {bad}")
    elif kind == "float_array":
        raises_own(TypeError, lambda: x[np.array([0.0])], "getitem", "float64")
        raises_own(TypeError, lambda: x[mg.tensor([0.5, 1.0])], "getitem", "float")
    elif kind == "float":
        raises_own(TypeError, lambda: x[1.5], "getitem", "float")
    elif kind == "too_many":
        raises_own(IndexError, lambda: x[(0,) * (len(shape) + 1)], "getitem", "too many", shape)
    elif len(shape) >= 2 and shape[0] and shape[1]:
        raises_own(IndexError, lambda: x[np.zeros(2, np.int64), np.zeros(3, np.int64)],
                   "getitem", "(2,)", "(3,)")
    assert x.grad is None


# ============================================================================ matmul

@fuzz(100)
@example(seed=0, dtype=np.float64, batch=hnp.BroadcastableShapes(((2,), (1,)), (2,)), n=0, k=3,
         m=2, vec="none")
@given(seed=SEEDS, dtype=DTYPES,
       batch=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=2, min_side=0,
                                               max_side=3),
       n=st.integers(0, 3), k=st.integers(0, 3), m=st.integers(0, 3),
       vec=st.sampled_from(["none", "left", "right", "both"]))
def test_matmul(seed, dtype, batch, n, k, m, vec):
    a_shape = (k,) if vec in ("left", "both") else batch.input_shapes[0] + (n, k)
    b_shape = (k,) if vec in ("right", "both") else batch.input_shapes[1] + (k, m)
    check_op(lambda a, b: a @ b, lambda a, b: a @ b,
             [values(seed, a_shape), values(seed + 1, b_shape)], dtype)


@fuzz(60)
@example(a_shape=(2, 3, 4), b_shape=(5, 4, 2))
@given(a_shape=hnp.array_shapes(min_dims=1, max_dims=4, max_side=4),
       b_shape=hnp.array_shapes(min_dims=1, max_dims=4, max_side=4))
def test_bad_matmul_is_the_libraries_own_error(a_shape, b_shape):
    a, b = np.ones(a_shape), np.ones(b_shape)
    try:
        np.matmul(a, b)
        return  # compatible: covered by test_matmul
    except ValueError:
        pass
    x, w = mg.tensor(a, requires_grad=True), mg.tensor(b, requires_grad=True)
    raises_own(ValueError, lambda: x @ w, "matmul", a_shape, b_shape)
    raises_own(ValueError, lambda: a @ w, "matmul", a_shape, b_shape)
    assert x.grad is None and w.grad is None


# ============================================================================ concatenate, stack, where

@fuzz(80)
@given(seed=SEEDS, dtype=DTYPES, fn=st.sampled_from(["concatenate", "stack"]),
       data=st.data(), shape=SHAPES, count=st.integers(1, 3))
def test_concatenate_and_stack(seed, dtype, fn, data, shape, count):
    if fn == "concatenate":
        if not shape:
            raises_own(ValueError, lambda: mg.concatenate([mg.tensor(np.ones(()))] * 2),
                       "concatenate", "zero-dimensional")
            return
        axis = data.draw(st.integers(-len(shape), len(shape) - 1))
        sizes = data.draw(st.lists(st.integers(0, 3), min_size=count, max_size=count))
        shapes = [shape[:axis % len(shape)] + (s,) + shape[axis % len(shape) + 1:] for s in sizes]
        ref = lambda *a: np.concatenate(a, axis=axis)  # noqa: E731
        fun = lambda *t: mg.concatenate(t, axis=axis)  # noqa: E731
    else:
        axis = data.draw(st.integers(-len(shape) - 1, len(shape)))
        shapes = [shape] * count
        ref = lambda *a: np.stack(a, axis=axis)  # noqa: E731
        fun = lambda *t: mg.stack(t, axis=axis)  # noqa: E731
    check_op(fun, ref, [values(seed + i, s) for i, s in enumerate(shapes)], dtype)
    bad = data.draw(st.integers(len(shape) + 1, len(shape) + 3))
    raises_own(IndexError, lambda: getattr(mg, fn)([mg.tensor(np.ones(shape))] * 2, axis=bad),
               fn, f"axis {bad}")


@fuzz(60)
@given(seed=SEEDS, dtype=DTYPES,
       shapes=hnp.mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=3,
                                                min_side=0, max_side=3))
def test_where(seed, dtype, shapes):
    c_shape, a_shape, b_shape = shapes.input_shapes
    cond = np.random.default_rng(seed).random(c_shape) < 0.5
    check_op(lambda a, b: mg.where(cond, a, b), lambda a, b: np.where(cond, a, b),
             [values(seed, a_shape), values(seed + 1, b_shape)], dtype)
