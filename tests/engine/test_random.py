"""minigrad's random numbers: seeded, drawn in the dtype asked for (float32 without a float64
intermediate), and the float64 stream is NumPy's own."""
import tracemalloc

import numpy as np
import pytest

import minigrad as mg
from minigrad import backend

N = 1_000_000

DRAWS = [  # (name, draw(dtype) on minigrad's generator, the same from a NumPy Generator)
    ("randn", lambda dtype: mg.randn(N, dtype=dtype).data,
     lambda g, dtype: g.standard_normal(N, dtype=dtype)),
    ("normal", lambda dtype: backend.normal(0.5, 2.0, (N,), dtype),
     lambda g, dtype: g.standard_normal(N, dtype=dtype) * dtype(2.0) + dtype(0.5)),
    ("uniform", lambda dtype: backend.uniform(-0.25, 0.75, (N,), dtype),
     lambda g, dtype: g.random(N, dtype=dtype) * dtype(1.0) + dtype(-0.25)),
]


@pytest.mark.parametrize("name, draw, numpy_draw", DRAWS, ids=[d[0] for d in DRAWS])
def test_float32_draws_use_no_more_memory_than_the_result(name, draw, numpy_draw):
    tracemalloc.start()
    try:
        a = draw(np.float32)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert a.dtype == np.float32 and a.shape == (N,)
    assert peak < 1.1 * a.nbytes, f"{name}: peak {peak} bytes for a {a.nbytes}-byte result"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name, draw, numpy_draw", DRAWS, ids=[d[0] for d in DRAWS])
def test_a_seed_gives_numpys_stream_for_the_dtype(name, draw, numpy_draw, dtype):
    mg.manual_seed(5)
    ours = draw(dtype)
    np.testing.assert_array_equal(ours, numpy_draw(np.random.default_rng(5), dtype))
    mg.manual_seed(5)
    np.testing.assert_array_equal(draw(dtype), ours)


def test_float64_streams_are_numpys_normal_and_uniform():
    # the values models were initialised with before float32 draws: unchanged in float64
    mg.manual_seed(9)
    np.testing.assert_array_equal(backend.normal(0.1, 0.02, (50,), np.float64),
                                  np.random.default_rng(9).normal(0.1, 0.02, 50))
    mg.manual_seed(9)
    np.testing.assert_array_equal(backend.uniform(-3.0, 2.0, (50,), np.float64),
                                  np.random.default_rng(9).uniform(-3.0, 2.0, 50))


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_distributions(dtype):
    x = backend.normal(2.0, 3.0, (200_000,), dtype).astype(np.float64)
    assert x.mean() == pytest.approx(2.0, abs=0.05) and x.std() == pytest.approx(3.0, rel=0.02)
    u = backend.uniform(-1.0, 3.0, (200_000,), dtype)
    assert u.dtype == dtype and u.min() >= -1.0 and u.max() <= 3.0
    assert u.astype(np.float64).mean() == pytest.approx(1.0, abs=0.02)
