"""The hypothesis settings, value makers and checks that tests/engine/test_fuzz_ops.py and
tests/nn/test_fuzz_nn.py share (test_fuzz_ops.py's docstring says what each check is for).
Importable by name because pytest puts tests/, the folder of the root conftest.py, on sys.path."""
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

import minigrad as mg

MINIGRAD_DIR = os.path.dirname(mg.__file__)


def fuzz(n):
    """Settings for one fuzz test: n examples, reproducible, no deadline (CI machines vary)."""
    return settings(max_examples=n, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


DTYPES = st.sampled_from([np.float32, np.float64])
SEEDS = st.integers(0, 2**32 - 1)
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
