"""The op table: one row per op (and edge case). Each row is checked three ways: forward
against a NumPy reference, gradcheck in float64, and values and gradients against PyTorch."""
import math

import numpy as np
import pytest

import minigrad as mg
import minigrad.nn.functional as F

from conftest import to_np, torch_or_skip

rng = np.random.default_rng(0)


def randn(*shape):
    return rng.standard_normal(shape)


def positive(*shape):
    return rng.uniform(0.5, 2.0, shape)


def away_from_zero(*shape):
    x = rng.uniform(0.2, 1.5, shape)
    return x * rng.choice([-1.0, 1.0], shape)


BCE_TARGET = rng.uniform(0, 1, (3, 4))

# (id, minigrad fn, numpy reference, torch fn, input arrays)
OPS = [
    ("add", lambda a, b: a + b, lambda a, b: a + b, lambda a, b: a + b, [randn(3, 4), randn(3, 4)]),
    ("add_bcast_row", lambda a, b: a + b, lambda a, b: a + b, lambda a, b: a + b, [randn(3, 4), randn(4)]),
    ("add_bcast_both", lambda a, b: a + b, lambda a, b: a + b, lambda a, b: a + b, [randn(3, 1), randn(1, 4)]),
    ("add_scalar_left", lambda a: 2.5 + a, lambda a: 2.5 + a, lambda a: 2.5 + a, [randn(2, 3)]),
    ("sub_bcast", lambda a, b: a - b, lambda a, b: a - b, lambda a, b: a - b, [randn(2, 3, 4), randn(3, 1)]),
    ("rsub_scalar", lambda a: 1.0 - a, lambda a: 1.0 - a, lambda a: 1.0 - a, [randn(5)]),
    ("mul_bcast", lambda a, b: a * b, lambda a, b: a * b, lambda a, b: a * b, [randn(4, 1, 3), randn(2, 1)]),
    ("mul_same_input", lambda a: a * a, lambda a: a * a, lambda a: a * a, [randn(3)]),
    ("div", lambda a, b: a / b, lambda a, b: a / b, lambda a, b: a / b, [randn(3, 4), away_from_zero(4)]),
    ("rdiv_scalar", lambda a: 2.0 / a, lambda a: 2.0 / a, lambda a: 2.0 / a, [away_from_zero(3, 2)]),
    ("neg", lambda a: -a, lambda a: -a, lambda a: -a, [randn(2, 2)]),
    ("pow_scalar", lambda a: a ** 3, lambda a: a ** 3, lambda a: a ** 3, [randn(3, 3)]),
    ("pow_frac", lambda a: a ** 0.5, lambda a: a ** 0.5, lambda a: a ** 0.5, [positive(4)]),
    ("rpow", lambda a: 2.0 ** a, lambda a: 2.0 ** a, lambda a: 2.0 ** a, [randn(4)]),
    ("pow_tensor", lambda a, b: a ** b, lambda a, b: a ** b, lambda a, b: a ** b, [positive(3, 2), randn(2)]),
    ("matmul", lambda a, b: a @ b, lambda a, b: a @ b, lambda a, b: a @ b, [randn(3, 4), randn(4, 5)]),
    ("matmul_vec_right", lambda a, b: a @ b, lambda a, b: a @ b, lambda a, b: a @ b, [randn(3, 4), randn(4)]),
    ("matmul_vec_left", lambda a, b: a @ b, lambda a, b: a @ b, lambda a, b: a @ b, [randn(4), randn(4, 2)]),
    ("matmul_dot", lambda a, b: a @ b, lambda a, b: a @ b, lambda a, b: a @ b, [randn(4), randn(4)]),
    ("matmul_batch_bcast", lambda a, b: a @ b, lambda a, b: a @ b, lambda a, b: a @ b, [randn(2, 3, 4), randn(4, 2)]),
    ("sum_all", lambda a: a.sum(), lambda a: a.sum(), lambda a: a.sum(), [randn(3, 4)]),
    ("sum_axis", lambda a: a.sum(axis=1), lambda a: a.sum(axis=1), lambda a: a.sum(dim=1), [randn(3, 4, 2)]),
    ("sum_axes_keep", lambda a: a.sum(axis=(0, 2), keepdims=True), lambda a: a.sum(axis=(0, 2), keepdims=True),
     lambda a: a.sum(dim=(0, 2), keepdim=True), [randn(3, 4, 2)]),
    ("mean_all", lambda a: a.mean(), lambda a: a.mean(), lambda a: a.mean(), [randn(3, 4)]),
    ("mean_neg_axis", lambda a: a.mean(axis=-1), lambda a: a.mean(axis=-1), lambda a: a.mean(dim=-1), [randn(3, 4)]),
    ("max_all", lambda a: a.max(), lambda a: a.max(), lambda a: a.max(), [randn(3, 4)]),
    ("max_axis", lambda a: a.max(axis=0), lambda a: a.max(axis=0), lambda a: a.amax(dim=0), [randn(3, 4)]),
    ("min_axis_keep", lambda a: a.min(axis=1, keepdims=True), lambda a: a.min(axis=1, keepdims=True),
     lambda a: a.amin(dim=1, keepdim=True), [randn(3, 4)]),
    ("var_all", lambda a: a.var(), lambda a: a.var(ddof=1), lambda a: a.var(), [randn(3, 4)]),
    ("var_axis_biased", lambda a: a.var(axis=0, correction=0), lambda a: a.var(axis=0),
     lambda a: a.var(dim=0, correction=0), [randn(5, 3)]),
    ("exp", lambda a: a.exp(), np.exp, lambda a: a.exp(), [randn(3, 4)]),
    ("log", lambda a: a.log(), np.log, lambda a: a.log(), [positive(3, 4)]),
    ("sqrt", lambda a: a.sqrt(), np.sqrt, lambda a: a.sqrt(), [positive(3, 4)]),
    ("tanh", lambda a: a.tanh(), np.tanh, lambda a: a.tanh(), [randn(3, 4)]),
    ("sigmoid", lambda a: a.sigmoid(), lambda a: 1 / (1 + np.exp(-a)), lambda a: a.sigmoid(), [randn(3, 4)]),
    ("relu", lambda a: a.relu(), lambda a: np.maximum(a, 0), lambda a: a.relu(), [away_from_zero(3, 4)]),
    ("abs", lambda a: a.abs(), np.abs, lambda a: a.abs(), [away_from_zero(3, 4)]),
    ("clip", lambda a: a.clip(-0.5, 0.5), lambda a: np.clip(a, -0.5, 0.5), lambda a: a.clamp(-0.5, 0.5),
     [np.array([-1.3, -0.7, -0.2, 0.1, 0.4, 0.9])]),
    ("clip_min_only", lambda a: a.clip(min=0.3), lambda a: np.clip(a, 0.3, None), lambda a: a.clamp(min=0.3),
     [np.array([-1.3, 0.1, 0.45, 0.9])]),
    ("gelu", lambda a: F.gelu(a), lambda a: a * 0.5 * (1 + np.vectorize(math.erf)(a / math.sqrt(2))),
     lambda a: __import__("torch").nn.functional.gelu(a), [randn(3, 4)]),
    ("gelu_tanh", lambda a: F.gelu(a, approximate="tanh"),
     lambda a: 0.5 * a * (1 + np.tanh(math.sqrt(2 / math.pi) * (a + 0.044715 * a ** 3))),
     lambda a: __import__("torch").nn.functional.gelu(a, approximate="tanh"), [randn(3, 4)]),
    ("softmax", lambda a: a.softmax(axis=-1), lambda a: np.exp(a) / np.exp(a).sum(-1, keepdims=True),
     lambda a: a.softmax(dim=-1), [randn(3, 5)]),
    ("softmax_axis0", lambda a: a.softmax(axis=0), lambda a: np.exp(a) / np.exp(a).sum(0, keepdims=True),
     lambda a: a.softmax(dim=0), [randn(3, 5)]),
    ("log_softmax", lambda a: a.log_softmax(), lambda a: a - np.log(np.exp(a).sum(-1, keepdims=True)),
     lambda a: a.log_softmax(dim=-1), [randn(4, 6)]),
    ("reshape", lambda a: a.reshape(4, -1), lambda a: a.reshape(4, -1), lambda a: a.reshape(4, -1), [randn(2, 6)]),
    ("transpose", lambda a: a.transpose(2, 0, 1), lambda a: a.transpose(2, 0, 1), lambda a: a.permute(2, 0, 1),
     [randn(2, 3, 4)]),
    ("T", lambda a: a.T, lambda a: a.T, lambda a: a.T, [randn(2, 3)]),
    ("flatten", lambda a: a.flatten(1), lambda a: a.reshape(2, -1), lambda a: a.flatten(1), [randn(2, 3, 4)]),
    ("getitem_slice", lambda a: a[1:, ::2], lambda a: a[1:, ::2], lambda a: a[1:, ::2], [randn(4, 5)]),
    ("getitem_int", lambda a: a[2], lambda a: a[2], lambda a: a[2], [randn(4, 5)]),
    ("getitem_array_repeats", lambda a: a[np.array([0, 2, 0, 0])], lambda a: a[np.array([0, 2, 0, 0])],
     lambda a: a[__import__("torch").tensor([0, 2, 0, 0])], [randn(4, 3)]),
    ("getitem_2d_arrays", lambda a: a[np.array([0, 1, 1]), np.array([2, 0, 2])],
     lambda a: a[np.array([0, 1, 1]), np.array([2, 0, 2])],
     lambda a: a[__import__("torch").tensor([0, 1, 1]), __import__("torch").tensor([2, 0, 2])], [randn(3, 3)]),
    ("concatenate", lambda a, b: mg.concatenate([a, b], axis=1), lambda a, b: np.concatenate([a, b], 1),
     lambda a, b: __import__("torch").cat([a, b], dim=1), [randn(2, 3), randn(2, 2)]),
    ("stack", lambda a, b: mg.stack([a, b], axis=1), lambda a, b: np.stack([a, b], 1),
     lambda a, b: __import__("torch").stack([a, b], dim=1), [randn(2, 3), randn(2, 3)]),
    ("where", lambda a, b: mg.where(np.array([True, False, True]), a, b),
     lambda a, b: np.where(np.array([True, False, True]), a, b),
     lambda a, b: __import__("torch").where(__import__("torch").tensor([True, False, True]), a, b),
     [randn(2, 3), randn(3)]),
    ("mse_loss", lambda a, b: F.mse_loss(a, b), lambda a, b: ((a - b) ** 2).mean(),
     lambda a, b: __import__("torch").nn.functional.mse_loss(a, b), [randn(3, 4), randn(3, 4)]),
    ("bce_with_logits", lambda a: F.binary_cross_entropy_with_logits(a, BCE_TARGET),
     lambda a: np.mean(np.maximum(a, 0) - a * BCE_TARGET + np.log1p(np.exp(-np.abs(a)))),
     lambda a: __import__("torch").nn.functional.binary_cross_entropy_with_logits(
         a, __import__("torch").tensor(BCE_TARGET)), [randn(3, 4)]),
    ("composite_diamond", lambda a: (a.exp() * a.tanh() + a).sum(), lambda a: (np.exp(a) * np.tanh(a) + a).sum(),
     lambda a: (a.exp() * a.tanh() + a).sum(), [randn(5)]),
]
IDS = [row[0] for row in OPS]


@pytest.mark.parametrize("name,fn,ref,tfn,arrays", OPS, ids=IDS)
def test_forward_matches_numpy(name, fn, ref, tfn, arrays):
    out = fn(*[mg.tensor(a) for a in arrays])
    np.testing.assert_allclose(to_np(out.data), ref(*arrays), rtol=1e-12, atol=1e-12)
    assert out.dtype == np.float64


@pytest.mark.parametrize("name,fn,ref,tfn,arrays", OPS, ids=IDS)
def test_gradcheck(name, fn, ref, tfn, arrays):
    inputs = [mg.tensor(a, requires_grad=True) for a in arrays]
    assert mg.gradcheck(fn, inputs)


@pytest.mark.parametrize("name,fn,ref,tfn,arrays", OPS, ids=IDS)
def test_matches_torch(name, fn, ref, tfn, arrays):
    torch = torch_or_skip()
    xs = [mg.tensor(a, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    y, ty = fn(*xs), tfn(*ts)
    np.testing.assert_allclose(to_np(y.data), ty.detach().numpy(), rtol=1e-12, atol=1e-13)
    seed = np.random.default_rng(1).standard_normal(ty.shape)
    y.backward(seed)
    ty.backward(torch.tensor(seed))
    for x, t in zip(xs, ts):
        np.testing.assert_allclose(x.grad, t.grad.numpy(), rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,fn,ref,tfn,arrays", OPS, ids=IDS)
def test_dtype_is_kept(name, fn, ref, tfn, arrays, dtype):
    xs = [mg.tensor(a.astype(dtype), requires_grad=True) for a in arrays]
    y = fn(*xs)
    assert y.dtype == dtype
    y.backward(np.ones(y.shape, dtype))
    assert all(x.grad.dtype == dtype and x.grad.shape == x.shape for x in xs)


@pytest.mark.parametrize("name,fn,ref,tfn,arrays", OPS, ids=IDS)
def test_same_values_and_gradients_on_every_device(name, fn, ref, tfn, arrays, device):
    xs = [mg.tensor(a, requires_grad=True) for a in arrays]
    ds = [mg.tensor(a, device=device, requires_grad=True) for a in arrays]
    y, yd = fn(*xs), fn(*ds)
    assert yd.device.startswith(device)
    np.testing.assert_allclose(to_np(yd.data), y.data, rtol=1e-12, atol=1e-13)
    seed = np.random.default_rng(2).standard_normal(y.shape)
    y.backward(seed)
    yd.backward(mg.tensor(seed, device=device))
    for x, d in zip(xs, ds):
        np.testing.assert_allclose(to_np(d.grad), x.grad, rtol=1e-12, atol=1e-13)


# ============================================================================ x ** e at x = 0

# bases and exponents where a gradient formula meets 0 · inf: a zero base (with positive, zero,
# negative, fractional exponents), a negative base (integer and fractional exponents), a zero
# exponent; torch takes the limit 0 where it exists (d/de where x = 0 and e >= 0; d/dx where
# e = 0) and keeps inf and NaN elsewhere
POW_X = np.array([0.0, 0.0, 0.0, 0.0, 0.0, -0.0, -2.0, -2.0, -2.0, 2.0, 0.0, 3.0])
POW_E = np.array([2.0, 0.0, -1.0, 0.5, -0.5, 2.0, 2.0, 0.5, 3.0, 0.5, 1.0, 0.0])
POW_CASES = [
    ("tensor ** tensor", lambda x, e: x ** e, [POW_X, POW_E]),
    ("tensor ** tensor, broadcast", lambda x, e: x ** e, [POW_X, np.array(0.0)]),
    # not at -0.0: there d(x^0.5)/dx is +inf by NumPy's pow, -inf by torch's
    *[(f"tensor ** {c}", lambda x, c=c: x ** c, [np.delete(POW_X, 5)])
      for c in [0.0, 0, 1.0, 2.0, 0.5, -1.0]],
    *[(f"{c} ** tensor", lambda e, c=c: c ** e, [POW_E]) for c in [0.0, 1.0, 2.0, -2.0]],
]


@pytest.mark.parametrize("fn, arrays", [c[1:] for c in POW_CASES], ids=[c[0] for c in POW_CASES])
def test_pow_gradients_at_zero_match_torch_including_inf_and_nan(fn, arrays):
    torch = torch_or_skip()
    xs = [mg.tensor(a, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    with np.errstate(all="ignore"):  # log 0, 0 ** -1: the infinities are the point
        y, ty = fn(*xs), fn(*ts)
        y.backward(np.ones(y.shape))
    ty.backward(torch.ones_like(ty))
    # the same inf and nan, and values within an ulp: NumPy >= 2.4 computes x ** 0.5 as a correctly
    # rounded sqrt (2 ** 0.5 = 1.4142135623730951), torch's pow an ulp below it
    t = ty.detach().numpy()
    np.testing.assert_array_equal(np.isnan(y.data), np.isnan(t))
    finite = np.isfinite(t)
    np.testing.assert_array_equal(y.data[~finite & ~np.isnan(t)], t[~finite & ~np.isnan(t)])
    np.testing.assert_array_max_ulp(y.data[finite], t[finite], maxulp=1)
    for x, t in zip(xs, ts):
        g, tg = x.grad, t.grad.numpy()
        np.testing.assert_allclose(g, tg, rtol=1e-14, atol=0)  # NaN and ±inf where torch has them
        numbers = ~np.isnan(tg)
        np.testing.assert_array_equal(np.signbit(g[numbers]), np.signbit(tg[numbers]))  # ±0


@pytest.mark.filterwarnings("error")
def test_d_pow_d_exponent_at_a_zero_base_is_zero_not_nan():
    x = mg.tensor(np.array([0.0, 0.0, 0.0]), requires_grad=True)
    e = mg.tensor(np.array([2.0, 0.5, 0.0]), requires_grad=True)
    (x ** e).sum().backward()  # and no warning: the masked 0 · inf is not the user's
    np.testing.assert_array_equal(e.grad, [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(x.grad, [0.0, np.inf, 0.0])  # d/dx of x^0 is 0 at x = 0
