"""Gradient clipping against torch.nn.utils, above and below the threshold."""
import math

import numpy as np
import pytest

import minigrad as mg
import optim
from conftest import to_np


def grads_pair(scale, torch=None, dtype=np.float64):
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s).astype(dtype) * scale for s in [(4, 3), (5,), (2, 2, 2)]]
    ps = [mg.nn.Parameter(np.zeros(a.shape, dtype)) for a in arrays]
    for p, a in zip(ps, arrays):
        p.grad = a.copy()
    ts = None
    if torch is not None:
        ts = [torch.zeros(a.shape, dtype=torch.float64, requires_grad=True) for a in arrays]
        for t, a in zip(ts, arrays):
            t.grad = torch.tensor(a.astype(np.float64))
    return ps, ts


@pytest.mark.parametrize("norm_type", [1.0, 2.0, 3.0, math.inf])
@pytest.mark.parametrize("scale", [0.01, 10.0])  # below and above max_norm
def test_clip_grad_norm_matches_torch(norm_type, scale):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed; parity tests skipped")
    ps, ts = grads_pair(scale, torch)
    total = optim.clip_grad_norm_(ps, max_norm=1.0, norm_type=norm_type)
    ttotal = torch.nn.utils.clip_grad_norm_(ts, max_norm=1.0, norm_type=norm_type)
    assert total == pytest.approx(float(ttotal), rel=1e-12)
    for p, t in zip(ps, ts):
        np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=1e-12)
    if scale == 0.01:  # below the threshold nothing changes
        fresh, _ = grads_pair(scale)
        for p, q in zip(ps, fresh):
            np.testing.assert_array_equal(p.grad, q.grad)


def test_clip_grad_norm_accumulates_in_float64():
    g = np.full(10_000_000, 0.1, dtype=np.float32)
    p = mg.nn.Parameter(np.zeros_like(g))
    p.grad = g
    total = optim.clip_grad_norm_([p], max_norm=1e9)
    exact = math.sqrt(10_000_000 * float(np.float32(0.1)) ** 2)
    assert total == pytest.approx(exact, rel=1e-9)


@pytest.mark.parametrize("norm_type", [1.0, 2.0, math.inf, np.float32(math.inf)])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # inf - inf and nan on purpose
def test_a_non_finite_norm_without_the_error_clips_as_torch(norm_type, bad):
    """An infinite norm zeroes the gradients, a NaN one makes them NaN: PyTorch's arithmetic."""
    torch = pytest.importorskip("torch", reason="PyTorch is not installed; parity tests skipped")
    ps, ts = grads_pair(10.0, torch)
    for g in (ps[1].grad, ts[1].grad.numpy()):
        g.flat[2] = bad
    total = optim.clip_grad_norm_(ps, 1.0, norm_type)
    ttotal = float(torch.nn.utils.clip_grad_norm_(ts, 1.0, norm_type=float(norm_type)))
    assert total == ttotal or math.isnan(total) and math.isnan(ttotal)
    for p, t in zip(ps, ts):
        np.testing.assert_array_equal(p.grad, t.grad.numpy())


@pytest.mark.parametrize("norm_type", [1.0, 2.0, math.inf])
@pytest.mark.parametrize("where", [0, 1])  # the first gradient or a later one
def test_non_finite_norm_raises_and_leaves_grads_untouched(norm_type, where):
    ps, _ = grads_pair(1.0)
    ps[where].grad.flat[2] = np.nan
    assert math.isnan(optim.grad_norm(ps, norm_type))
    before = [p.grad.copy() for p in ps]
    with pytest.raises(RuntimeError, match="non-finite"):
        optim.clip_grad_norm_(ps, 1.0, norm_type, error_if_nonfinite=True)
    for p, b in zip(ps, before):
        np.testing.assert_array_equal(p.grad, b)


def test_skips_params_without_grad_and_keeps_dtype():
    ps, _ = grads_pair(10.0, dtype=np.float32)
    ps[0].grad = None
    total = optim.clip_grad_norm_(ps, 1.0)
    assert total > 1.0 and all(p.grad.dtype == np.float32 for p in ps[1:])
    assert math.sqrt(sum(float((p.grad.astype(np.float64) ** 2).sum()) for p in ps[1:])) == pytest.approx(1.0, rel=1e-5)


def test_clip_grad_value_matches_torch():
    torch = pytest.importorskip("torch", reason="PyTorch is not installed; parity tests skipped")
    ps, ts = grads_pair(3.0, torch)
    optim.clip_grad_value_(ps, 1.5)
    torch.nn.utils.clip_grad_value_(ts, 1.5)
    for p, t in zip(ps, ts):
        np.testing.assert_array_equal(p.grad, t.grad.numpy())
        assert np.abs(p.grad).max() <= 1.5


@pytest.mark.parametrize("call", [lambda ps: optim.clip_grad_norm_(ps, -1.0),
                                  lambda ps: optim.clip_grad_norm_(ps, 1.0, norm_type=0),
                                  lambda ps: optim.clip_grad_value_(ps, -0.1)])
def test_bad_arguments(call):
    ps, _ = grads_pair(1.0)
    with pytest.raises(ValueError, match="Invalid"):
        call(ps)


@pytest.mark.parametrize("call, name", [(optim.clip_grad_norm_, "max_norm"),
                                        (optim.clip_grad_value_, "clip_value")])
@pytest.mark.parametrize("bad, error", [(float("nan"), ValueError), (float("inf"), ValueError),
                                        (-float("inf"), ValueError), (np.float32("nan"), ValueError),
                                        (0.0, ValueError), (-1e-3, ValueError), ("1.0", TypeError),
                                        (None, TypeError)],
                         ids=["nan", "inf", "-inf", "float32-nan", "zero", "negative", "str", "None"])
def test_limits_must_be_finite_and_positive_and_nothing_changes(call, name, bad, error):
    ps, _ = grads_pair(10.0)
    before = [p.grad.copy() for p in ps]
    with pytest.raises(error, match=f"Invalid {name}"):
        call(ps, bad)
    for p, b in zip(ps, before):
        np.testing.assert_array_equal(p.grad, b)


@pytest.mark.parametrize("norm_type, error", [(float("nan"), ValueError), (-math.inf, ValueError),
                                              ("2", TypeError)])
def test_norm_type_must_be_a_positive_number_or_inf(norm_type, error):
    ps, _ = grads_pair(10.0)
    with pytest.raises(error, match="Invalid norm_type"):
        optim.clip_grad_norm_(ps, 1.0, norm_type=norm_type)


def test_numpy_scalar_limits_work():
    ps, _ = grads_pair(10.0)
    optim.clip_grad_value_(ps, np.float32(0.5))
    assert max(np.abs(p.grad).max() for p in ps) == 0.5
    total = optim.clip_grad_norm_(ps, np.float64(1.0), norm_type=np.float64(2))
    assert total > 1.0


def test_grad_norm_measures_without_clipping():
    ps = [mg.nn.Parameter(np.zeros(2)), mg.nn.Parameter(np.zeros(1))]
    ps[0].grad, ps[1].grad = np.array([3.0, 0.0]), np.array([4.0])
    assert optim.grad_norm(iter(ps)) == 5.0 and optim.grad_norm(ps, math.inf) == 4.0
    np.testing.assert_array_equal(ps[0].grad, [3.0, 0.0])
    assert optim.clip_grad_norm_(iter(ps), 1.0) == 5.0  # a generator is read once
    np.testing.assert_allclose(ps[1].grad, [4.0 / (5.0 + 1e-6)])


def device_grads(scale, device, dtype):
    """grads_pair's dense gradients and a table's row-sparse gradient, on `device`."""
    ps, _ = grads_pair(scale, dtype=dtype)
    rows = (np.random.default_rng(1).standard_normal((2, 2)) * scale).astype(dtype)
    table = mg.nn.Parameter(np.zeros((6, 2), dtype))
    table.grad = mg.RowSparseGrad(np.array([1, 4]), rows, (6, 2))
    on = mg.backend.to_device
    for p in ps + [table]:
        p.data, g = on(p.data, device), p.grad
        p.grad = mg.RowSparseGrad(on(g.indices, device), on(g.values, device), g.shape) \
            if isinstance(g, mg.RowSparseGrad) else on(g, device)
    return ps + [table]


def grad_values(p):
    return p.grad.values if isinstance(p.grad, mg.RowSparseGrad) else p.grad


@pytest.mark.parametrize("norm_type", [1.0, 2.0, 3.0, math.inf])
def test_clipping_on_the_device_equals_the_cpu(norm_type, device):
    """grad_norm, clip_grad_norm_ (below and above max_norm, float32 and float64, dense and
    row-sparse gradients) and clip_grad_value_ on the device: the CPU's norm, as a Python float,
    and the CPU's gradients, in place on the device and in their dtype; a non-finite 1-, 2- or
    3-norm with error_if_nonfinite raises there too and changes nothing."""
    for scale, dtype in [(0.01, np.float64), (10.0, np.float64), (10.0, np.float32)]:
        cpu, dev = device_grads(scale, "cpu", dtype), device_grads(scale, device, dtype)
        assert optim.grad_norm(dev, norm_type) == pytest.approx(optim.grad_norm(cpu, norm_type), rel=1e-12)
        total, ref = optim.clip_grad_norm_(dev, 1.0, norm_type), optim.clip_grad_norm_(cpu, 1.0, norm_type)
        assert type(total) is float and total == pytest.approx(ref, rel=1e-12)
        assert (total > 1.0) == (scale == 10.0)  # clipped, or left alone
        rtol = 1e-12 if dtype == np.float64 else 1e-6
        for p, q in zip(dev, cpu):
            g = grad_values(p)
            assert mg.backend.device_of(g).startswith(device) and g.dtype == dtype
            np.testing.assert_allclose(to_np(g), grad_values(q), rtol=rtol, atol=0)
        cpu, dev = device_grads(scale, "cpu", dtype), device_grads(scale, device, dtype)
        optim.clip_grad_value_(dev, 0.05)
        optim.clip_grad_value_(cpu, 0.05)
        for p, q in zip(dev, cpu):
            assert mg.backend.device_of(grad_values(p)).startswith(device)
            np.testing.assert_array_equal(to_np(grad_values(p)), grad_values(q))
    dev = device_grads(1.0, device, np.float64)
    dev[1].grad[2] = np.nan
    before = [to_np(grad_values(p)).copy() for p in dev]
    with pytest.raises(RuntimeError, match="non-finite"):
        optim.clip_grad_norm_(dev, 1.0, norm_type, error_if_nonfinite=True)
    for p, b in zip(dev, before):
        np.testing.assert_array_equal(to_np(grad_values(p)), b)
