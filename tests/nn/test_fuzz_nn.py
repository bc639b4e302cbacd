"""Fuzzing the layers and nn.functional with hypothesis: random sizes (zero-size included),
batch shapes, indices, targets and modes, against NumPy references, gradcheck in float64, and
bad input failing with the library's own error while leaving every parameter and buffer as it
was. Helpers and settings are shared with tests/engine/test_fuzz_ops.py, through
tests/fuzzing.py."""
import numpy as np
from hypothesis import example, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad as mg
import minigrad.nn as nn
import minigrad.nn.functional as F
from fuzzing import DTYPES, SEEDS, TOL, check_op, fuzz, raises_own, values

BATCH = hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=3)


def _state(module):
    """Copies of every parameter and buffer, to check that a failed call changed nothing."""
    out = {k: np.array(v, copy=True) for k, v in module.state_dict().items()}
    out.update({f"{k}.grad": None if p.grad is None else np.array(p.grad, copy=True)
                for k, p in module.named_parameters()})
    return out


def _assert_same_state(before, module):
    after = _state(module)
    assert before.keys() == after.keys()
    for k in before:
        if before[k] is None or after[k] is None:
            assert before[k] is None and after[k] is None, k
        else:
            np.testing.assert_array_equal(before[k], after[k], err_msg=k)


# ============================================================================ Linear

@fuzz(60)
@given(seed=SEEDS, dtype=DTYPES, batch=BATCH, n_in=st.integers(0, 3), n_out=st.integers(0, 3),
       bias=st.booleans())
def test_linear(seed, dtype, batch, n_in, n_out, bias):
    x, W, b = values(seed, batch + (n_in,)), values(seed + 1, (n_out, n_in)), values(seed + 2, (n_out,))
    if bias:
        check_op(F.linear, lambda x, W, b: x @ W.T + b, [x, W, b], dtype)
    else:
        check_op(F.linear, lambda x, W: x @ W.T, [x, W], dtype)
    lin = nn.Linear(n_in, n_out, bias=bias, dtype=dtype)
    assert lin(mg.tensor(x.astype(dtype))).shape == batch + (n_out,)


@fuzz(40)
@example(seed=0, n_in=3, batch=(), kind="0-d")
@given(seed=SEEDS, n_in=st.integers(1, 4), batch=BATCH,
       kind=st.sampled_from(["features", "0-d", "int"]))
def test_bad_linear_input_is_the_libraries_own_error(seed, n_in, batch, kind):
    lin = nn.Linear(n_in, 2, dtype=np.float64)
    lin(mg.tensor(values(seed, (2, n_in)))).sum().backward()  # some gradient to keep
    before = _state(lin)
    if kind == "features":
        x = mg.tensor(values(seed, batch + (n_in + 1,)))
        raises_own(ValueError, lambda: lin(x), "linear", x.shape, lin.weight.shape)
    elif kind == "0-d":
        raises_own(ValueError, lambda: lin(mg.tensor(np.float64(1.0))), "linear", "0-d")
    else:
        raises_own(TypeError, lambda: lin(mg.tensor(np.ones(batch + (n_in,), np.int64))),
                   "linear", "int64")
    _assert_same_state(before, lin)


# ============================================================================ Embedding

@fuzz(80)
@given(seed=SEEDS, dtype=DTYPES, V=st.integers(1, 5), D=st.integers(0, 3), data=st.data(),
       padding=st.booleans(), max_norm=st.sampled_from([None, 0.5, 2.0]), sparse=st.booleans())
def test_embedding(seed, dtype, V, D, data, padding, max_norm, sparse):
    idx = data.draw(hnp.arrays(np.int64, hnp.array_shapes(min_dims=0, max_dims=2, min_side=0,
                                                           max_side=3),
                               elements=st.integers(0, V - 1)))
    padding_idx = data.draw(st.integers(-V, V - 1)) if padding else None
    emb = nn.Embedding(V, D, padding_idx=padding_idx, max_norm=max_norm, sparse=sparse, dtype=dtype)
    W = emb.weight.data.copy()
    if max_norm is not None:  # the looked-up rows are renormalised in place first
        for r in np.unique(idx):
            norm = np.linalg.norm(W[r].astype(np.float64))
            if norm > max_norm:
                W[r] *= dtype(max_norm / (norm + 1e-7))
    y = emb(idx)
    assert y.shape == idx.shape + (D,) and y.dtype == dtype
    np.testing.assert_allclose(y.data, W[idx], **TOL[dtype])
    np.testing.assert_allclose(emb.weight.data, W, **TOL[dtype])
    gy = values(seed, y.shape, dtype)
    y.backward(gy)
    expected = np.zeros((V, D), dtype)
    np.add.at(expected, idx.reshape(-1), gy.reshape(idx.size, D))
    if padding_idx is not None:
        expected[padding_idx % V] = 0
    grad = emb.weight.grad.to_dense() if sparse else emb.weight.grad
    assert grad.shape == (V, D) and grad.dtype == dtype
    np.testing.assert_allclose(grad, expected, **TOL[dtype])
    if max_norm is None and D and idx.size:
        W64 = mg.tensor(values(seed, (V, D)), requires_grad=True)
        assert mg.gradcheck(lambda w: F.embedding(idx, w, padding_idx=padding_idx), [W64])


@fuzz(40)
@example(V=5, bad=5, kind="index")
@given(V=st.integers(1, 5), bad=st.integers(0, 3),
       kind=st.sampled_from(["index", "negative", "float", "padding_idx"]))
def test_bad_embedding_input_is_the_libraries_own_error(V, bad, kind):
    emb = nn.Embedding(V, 2, dtype=np.float64)
    before = _state(emb)
    if kind == "index":
        raises_own(IndexError, lambda: emb(np.array([0, V + bad])), "embedding", f"index {V + bad}")
    elif kind == "negative":
        raises_own(IndexError, lambda: emb(np.array([[0], [-1 - bad]])), "embedding",
                   f"index {-1 - bad}")
    elif kind == "float":
        raises_own(TypeError, lambda: emb(np.array([0.0])), "embedding", "float64")
    else:
        raises_own(ValueError, lambda: F.embedding(np.array([0]), emb.weight, padding_idx=V + bad),
                   "embedding", f"padding_idx {V + bad}")
    _assert_same_state(before, emb)


# ============================================================================ BatchNorm1d

def _np_batch_norm(x, rm, rv, w, b, training, eps):
    axes = (0,) if x.ndim == 2 else (0, 2)
    shape = (1, -1) if x.ndim == 2 else (1, -1, 1)
    mean, var = (x.mean(axis=axes), x.var(axis=axes)) if training else (rm, rv)
    y = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps)
    return y * w.reshape(shape) + b.reshape(shape) if w is not None else y


@fuzz(60)
@given(seed=SEEDS, dtype=DTYPES, N=st.integers(2, 4), C=st.integers(0, 3),
       L=st.sampled_from([None, 1, 3]), affine=st.booleans(),
       momentum=st.sampled_from([0.1, None]), track=st.booleans())
def test_batchnorm1d_train_then_eval(seed, dtype, N, C, L, affine, momentum, track):
    shape = (N, C) if L is None else (N, C, L)
    bn = nn.BatchNorm1d(C, momentum=momentum, affine=affine, track_running_stats=track,
                        dtype=dtype)
    w = b = None
    if affine:
        w, b = values(seed + 1, (C,), dtype, "positive"), values(seed + 2, (C,), dtype)
        bn.weight.data[:], bn.bias.data[:] = w, b
    rm, rv = np.zeros(C), np.ones(C)
    for step in range(2):
        x = values(seed + step, shape, dtype) * 2 + 1
        y = bn(mg.tensor(x, requires_grad=True))
        assert y.dtype == dtype and y.shape == shape
        np.testing.assert_allclose(y.data, _np_batch_norm(x, rm, rv, w, b, True, bn.eps),
                                   rtol=1e-4 if dtype == np.float32 else 1e-10, atol=1e-5)
        if track:
            f = momentum if momentum is not None else 1 / (step + 1)
            axes = (0,) if L is None else (0, 2)
            rm = (1 - f) * rm + f * x.mean(axis=axes)
            rv = (1 - f) * rv + f * x.var(axis=axes, ddof=1)
            np.testing.assert_allclose(bn.running_mean, rm, rtol=1e-5 if dtype == np.float32 else 1e-12)
            np.testing.assert_allclose(bn.running_var, rv, rtol=1e-5 if dtype == np.float32 else 1e-12)
    bn.eval()
    x = values(seed + 5, shape, dtype)
    y = bn(mg.tensor(x))
    ref = _np_batch_norm(x, rm, rv, w, b, not track, bn.eps)
    np.testing.assert_allclose(y.data, ref, rtol=1e-4 if dtype == np.float32 else 1e-10, atol=1e-5)
    if C:  # gradcheck of the functional form, training and evaluation, in float64
        x64 = mg.tensor(values(seed, shape) * 2 + 1, requires_grad=True)
        params = [mg.tensor(values(seed + 1, (C,), kind="positive"), requires_grad=True),
                  mg.tensor(values(seed + 2, (C,)), requires_grad=True)] if affine else []
        for training in (True, False):
            fn = lambda x, *wb, t=training: F.batch_norm(  # noqa: E731
                x, np.zeros(C) + 0.5, np.ones(C) * 2, *wb, training=t) if not t else \
                F.batch_norm(x, None, None, *wb, training=True)
            assert mg.gradcheck(fn, [x64] + params)


@fuzz(50)
@example(seed=0, C=3, kind="N=1")
@given(seed=SEEDS, C=st.integers(1, 4),
       kind=st.sampled_from(["channels", "1-d", "4-d", "int", "N=1", "eval_channels"]))
def test_bad_batchnorm_input_changes_nothing(seed, C, kind):
    bn = nn.BatchNorm1d(C, dtype=np.float64)
    bn(mg.tensor(values(seed, (4, C)), requires_grad=True)).sum().backward()
    before = _state(bn)
    x = {"channels": values(seed, (4, C + 1)), "1-d": values(seed, (C,)),
         "4-d": values(seed, (2, C, 2, 2)), "int": np.ones((4, C), np.int64),
         "N=1": values(seed, (1, C)), "eval_channels": values(seed, (4, C + 2, 2))}[kind]
    if kind == "eval_channels":
        bn.eval()
    error = TypeError if kind == "int" else ValueError
    msg = {"int": "int64", "N=1": "more than 1 value"}.get(kind, f"BatchNorm1d({C})")
    raises_own(error, lambda: bn(mg.tensor(x)), msg, str(x.shape) if kind != "int" else "")
    _assert_same_state(before, bn)


# ============================================================================ Dropout, activations, Sequential

@fuzz(50)
@given(seed=SEEDS, dtype=DTYPES, shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0,
                                                        max_side=4),
       p=st.sampled_from([0.0, 0.3, 0.5, 1.0]), training=st.booleans())
def test_dropout(seed, dtype, shape, p, training):
    drop = nn.Dropout(p)
    drop.train(training)
    x = mg.tensor(values(seed, shape, dtype, "away"), requires_grad=True)
    y = drop(x)
    assert y.shape == shape and y.dtype == dtype
    kept = y.data != 0
    if not training or p == 0.0:
        np.testing.assert_array_equal(y.data, x.data)
    else:  # each element is zeroed or scaled by 1/(1-p)
        assert p < 1 or not kept.any()
        if p < 1:
            np.testing.assert_allclose(y.data[kept], x.data[kept] / dtype(1 - p), **TOL[dtype])
    y.backward(np.ones(shape, dtype))
    assert x.grad.shape == shape and x.grad.dtype == dtype
    np.testing.assert_allclose(x.grad * x.data, y.data, **TOL[dtype])  # the same mask and scale


ACTIVATIONS = {"ReLU": (nn.ReLU, "away"), "Tanh": (nn.Tanh, "normal"),
               "Sigmoid": (nn.Sigmoid, "normal"), "GELU": (nn.GELU, "normal"),
               "GELU_tanh": (lambda: nn.GELU("tanh"), "normal")}
FUNCTIONAL = {"ReLU": F.relu, "Tanh": F.tanh, "Sigmoid": F.sigmoid, "GELU": F.gelu,
              "GELU_tanh": lambda t: F.gelu(t, approximate="tanh")}


@fuzz(60)
@given(seed=SEEDS, dtype=DTYPES, name=st.sampled_from(sorted(ACTIVATIONS)),
       batch=hnp.array_shapes(min_dims=1, max_dims=1, min_side=0, max_side=3),
       rest=hnp.array_shapes(min_dims=1, max_dims=2, min_side=0, max_side=3),
       n_out=st.integers(1, 3))
def test_activations_in_a_sequential_with_flatten(seed, dtype, name, batch, rest, n_out):
    make, kind = ACTIVATIONS[name]
    n_in = int(np.prod(rest))
    x = values(seed, batch + rest, kind=kind)
    act = make()
    check_op(lambda t: act(t), lambda a: FUNCTIONAL[name](mg.tensor(a)).data, [x], dtype)
    model = nn.Sequential(nn.Flatten(), nn.Linear(n_in, n_out, dtype=np.float64), make())
    xm = mg.tensor(x, requires_grad=True)
    y = model(xm)
    lin = model[1]
    ref = FUNCTIONAL[name](mg.tensor(x.reshape(batch[0], n_in) @ lin.weight.data.T + lin.bias.data))
    np.testing.assert_allclose(y.data, ref.data, rtol=1e-12, atol=1e-13)
    if x.size:
        assert mg.gradcheck(lambda t: model(t), [xm])


# ============================================================================ losses

def _np_cross_entropy(z, t, ignore_index, reduction, eps):
    C = z.shape[1]
    zc = z - z.max(axis=1, keepdims=True)
    logp = zc - np.log(np.exp(zc).sum(axis=1, keepdims=True))
    if t.dtype.kind == "f":
        q = t * (1 - eps) + eps / C
        loss, count = -(q * logp).sum(axis=1), z.shape[0]
    else:
        valid = t != ignore_index
        safe = np.where(valid, t, 0)
        nll = -np.take_along_axis(logp, safe[:, None], axis=1)[:, 0]
        loss = ((1 - eps) * nll - eps / C * logp.sum(axis=1)) * valid
        count = valid.sum()
    if reduction == "none":
        return loss
    return loss.sum() if reduction == "sum" else loss.sum() / count


@fuzz(100)
@example(seed=0, dtype=np.float64, shape=(4,), probs=False, ignore=False,
         reduction="none", eps=0.0)
@given(seed=SEEDS, dtype=DTYPES,
       shape=st.sampled_from([(4,)]) | hnp.array_shapes(min_dims=2, max_dims=3, min_side=1,
                                                         max_side=3),
       probs=st.booleans(), ignore=st.booleans(),
       reduction=st.sampled_from(["mean", "sum", "none"]), eps=st.sampled_from([0.0, 0.1]))
def test_cross_entropy(seed, dtype, shape, probs, ignore, reduction, eps):
    rng = np.random.default_rng(seed)
    C = shape[0] if len(shape) == 1 else shape[1]
    t_shape = () if len(shape) == 1 else shape[:1] + shape[2:]
    if probs:
        p = rng.random(shape)
        target = p / p.sum(axis=0 if len(shape) == 1 else 1, keepdims=True)
    else:
        target = rng.integers(0, C, t_shape)
        if ignore and target.ndim:
            target[..., 0] = -100
        elif ignore:
            target = np.array(-100) if reduction != "mean" else target  # avoid 0/0
        if reduction == "mean" and target.size and (target == -100).all():
            target.reshape(-1)[0] = 0
    # the NumPy reference on (rows, C) logits, reshaped back like torch
    z_axes = (0,) + tuple(range(2, len(shape))) + (1,)

    def ref(z):
        z2 = z.reshape(1, -1) if z.ndim == 1 else z.transpose(z_axes).reshape(-1, C)
        t = target.astype(z.dtype) if probs else target
        t2 = (t.reshape(1, -1) if t.ndim == 1 else t.transpose(z_axes).reshape(-1, C)) \
            if probs else t.reshape(-1)
        out = _np_cross_entropy(z2, t2, -100, reduction, eps)
        return out.reshape(t_shape) if reduction == "none" else out

    fn = lambda z: F.cross_entropy(z, target, reduction=reduction, label_smoothing=eps)  # noqa: E731
    check_op(fn, ref, [values(seed, shape) * 3], dtype)


@fuzz(60)
@example(seed=0, shape=(4,), kind="target_shape")
@given(seed=SEEDS, shape=st.sampled_from([(4,)]) | hnp.array_shapes(min_dims=2, max_dims=3,
                                                                     min_side=1, max_side=3),
       kind=st.sampled_from(["target_shape", "prob_shape", "class", "float_logits_int", "0-d"]))
def test_bad_cross_entropy_is_the_libraries_own_error(seed, shape, kind):
    C = shape[0] if len(shape) == 1 else shape[1]
    z = mg.tensor(values(seed, shape), requires_grad=True)
    t_shape = () if len(shape) == 1 else shape[:1] + shape[2:]
    if kind == "target_shape":
        bad = t_shape + (2,)
        raises_own(ValueError, lambda: F.cross_entropy(z, np.zeros(bad, np.int64)),
                   "cross_entropy", bad, shape)
    elif kind == "prob_shape":
        bad = shape[:-1] + (shape[-1] + 1,)
        raises_own(ValueError, lambda: F.cross_entropy(z, np.ones(bad)), "cross_entropy", bad)
    elif kind == "class":
        target = np.zeros(t_shape, np.int64)
        target.reshape(-1)[-1] = C
        raises_own(IndexError, lambda: F.cross_entropy(z, target), "cross_entropy", f"target {C}",
                   f"{C} classes")
    elif kind == "float_logits_int":
        raises_own(TypeError, lambda: F.cross_entropy(mg.tensor(np.ones(shape, np.int64)),
                                                      np.zeros(t_shape, np.int64)),
                   "cross_entropy", "int64")
    else:
        raises_own(ValueError, lambda: F.cross_entropy(mg.tensor(np.float64(1.0)), np.array(0)),
                   "cross_entropy", "0-d")
    assert z.grad is None


@fuzz(60)
@given(seed=SEEDS, dtype=DTYPES, shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=1,
                                                        max_side=3),
       loss=st.sampled_from(["mse", "bce"]), reduction=st.sampled_from(["mean", "sum", "none"]))
def test_mse_and_bce_losses(seed, dtype, shape, loss, reduction):
    target = np.random.default_rng(seed).random(shape).astype(dtype)
    reduce = {"mean": np.mean, "sum": np.sum, "none": lambda a: a}[reduction]
    if loss == "mse":
        fn = lambda z: F.mse_loss(z, mg.tensor(target), reduction)  # noqa: E731
        ref = lambda z: reduce((z - target.astype(z.dtype)) ** 2)  # noqa: E731
    else:
        fn = lambda z: F.binary_cross_entropy_with_logits(z, target, reduction)  # noqa: E731
        ref = lambda z: reduce(np.maximum(z, 0) - z * target.astype(z.dtype)  # noqa: E731
                               + np.log1p(np.exp(-np.abs(z))))
    check_op(fn, ref, [values(seed, shape)], dtype)
    bad = shape + (2,)
    name = "mse_loss" if loss == "mse" else "binary_cross_entropy_with_logits"
    raises_own(ValueError, lambda: getattr(F, name)(mg.tensor(values(seed, shape)),
                                                     mg.tensor(np.ones(bad))), name, bad)
