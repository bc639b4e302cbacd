"""Layers and functional forms against PyTorch (float64), plus their edge cases."""
import numpy as np
import pytest

import minigrad as mg
import minigrad.nn as nn
import minigrad.nn.functional as F

from conftest import to_np, torch_or_skip

rng = np.random.default_rng(0)


def test_linear_matches_torch():
    torch = torch_or_skip()
    lin = nn.Linear(4, 3, dtype=np.float64)
    tlin = torch.nn.Linear(4, 3, dtype=torch.float64)
    with torch.no_grad():
        tlin.weight.copy_(torch.tensor(lin.weight.data))
        tlin.bias.copy_(torch.tensor(lin.bias.data))
    x = rng.standard_normal((5, 2, 4))
    xm, xt = mg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, ty = lin(xm), tlin(xt)
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-12)
    g = rng.standard_normal(ty.shape)
    y.backward(g)
    ty.backward(torch.tensor(g))
    for a, b in [(xm.grad, xt.grad), (lin.weight.grad, tlin.weight.grad), (lin.bias.grad, tlin.bias.grad)]:
        np.testing.assert_allclose(a, b.numpy(), rtol=1e-12, atol=1e-14)


def test_linear_init_and_shapes():
    lin = nn.Linear(100, 20)
    assert lin.weight.shape == (20, 100) and lin.bias.shape == (20,)
    assert lin.weight.dtype == np.float32
    assert np.abs(lin.weight.data).max() <= 0.1 and np.abs(lin.weight.data).max() > 0.09
    assert nn.Linear(3, 2, bias=False).bias is None
    with pytest.raises(ValueError, match=r"\(2, 5\).*\(20, 100\)"):
        lin(mg.tensor(np.ones((2, 5), np.float32)))


@pytest.mark.parametrize("padding_idx,max_norm", [(None, None), (0, None), (-1, None), (None, 1.0)])
def test_embedding_matches_torch(padding_idx, max_norm):
    torch = torch_or_skip()
    emb = nn.Embedding(6, 3, padding_idx=padding_idx, max_norm=max_norm, dtype=np.float64)
    temb = torch.nn.Embedding(6, 3, padding_idx=padding_idx, max_norm=max_norm, dtype=torch.float64)
    with torch.no_grad():
        temb.weight.copy_(torch.tensor(emb.weight.data))
    idx = np.array([[1, 0, 1], [5, 1, 0]])  # repeated indices and the padding row
    y, ty = emb(idx), temb(torch.tensor(idx))
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(emb.weight.data, temb.weight.detach().numpy(), rtol=1e-12)  # max_norm renorm
    g = rng.standard_normal(ty.shape)
    y.backward(g)
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(emb.weight.grad, temb.weight.grad.numpy(), rtol=1e-12)


def test_embedding_padding_row_and_bad_indices():
    emb = nn.Embedding(5, 2, padding_idx=2)
    np.testing.assert_array_equal(emb.weight.data[2], [0, 0])
    emb(mg.tensor([2, 2, 1])).sum().backward()
    np.testing.assert_array_equal(emb.weight.grad[2], [0, 0])
    np.testing.assert_array_equal(emb.weight.grad[1], [1, 1])
    with pytest.raises(IndexError, match="index 5 is out of range for 5"):
        emb(np.array([0, 5]))
    with pytest.raises(IndexError, match="index -1"):
        emb(np.array([-1]))
    with pytest.raises(TypeError, match="integers"):
        emb(np.array([0.5]))


def test_embedding_gradcheck():
    emb = nn.Embedding(4, 3, dtype=np.float64)
    idx = np.array([0, 3, 3, 1])
    assert mg.gradcheck(lambda W: F.embedding(idx, W), [emb.weight])


def _bn_pair(torch, C, **kw):
    bn = nn.BatchNorm1d(C, dtype=np.float64, **kw)
    tbn = torch.nn.BatchNorm1d(C, dtype=torch.float64, **kw)
    if bn.affine:
        bn.weight.data[:] = rng.uniform(0.5, 1.5, C)
        bn.bias.data[:] = rng.standard_normal(C)
        with torch.no_grad():
            tbn.weight.copy_(torch.tensor(bn.weight.data))
            tbn.bias.copy_(torch.tensor(bn.bias.data))
    return bn, tbn


@pytest.mark.parametrize("shape", [(8, 3), (4, 3, 5)])
@pytest.mark.parametrize("kw", [{}, {"momentum": None}, {"momentum": 0.3}, {"affine": False},
                                {"track_running_stats": False}])
def test_batchnorm_matches_torch_over_steps_then_eval(shape, kw):
    torch = torch_or_skip()
    bn, tbn = _bn_pair(torch, shape[1], **kw)
    for step in range(4):
        x = rng.standard_normal(shape) * 3 + 1
        xm, xt = mg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        y, ty = bn(xm), tbn(xt)
        np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-10, atol=1e-12)
        g = rng.standard_normal(shape)
        y.backward(g)
        ty.backward(torch.tensor(g))
        np.testing.assert_allclose(xm.grad, xt.grad.numpy(), rtol=1e-9, atol=1e-12)
        if bn.affine:
            np.testing.assert_allclose(bn.weight.grad, tbn.weight.grad.numpy(), rtol=1e-10)
            np.testing.assert_allclose(bn.bias.grad, tbn.bias.grad.numpy(), rtol=1e-10)
            bn.zero_grad()
            tbn.zero_grad()
        if bn.track_running_stats:
            np.testing.assert_allclose(bn.running_mean, tbn.running_mean.numpy(), rtol=1e-12)
            np.testing.assert_allclose(bn.running_var, tbn.running_var.numpy(), rtol=1e-12)
            assert int(bn.num_batches_tracked) == int(tbn.num_batches_tracked) == step + 1
    bn.eval()
    tbn.eval()
    x = rng.standard_normal(shape)
    xm, xt = mg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, ty = bn(xm), tbn(xt)
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    y.sum().backward()
    ty.sum().backward()
    np.testing.assert_allclose(xm.grad, xt.grad.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("training", [True, False])
def test_batchnorm_gradcheck(training):
    bn = nn.BatchNorm1d(3, dtype=np.float64)
    bn.running_mean[:] = [0.1, -0.2, 0.3]
    x = mg.tensor(rng.standard_normal((5, 3)), requires_grad=True)

    def f(x, w, b):
        return F.batch_norm(x, None, None, w, b, training=True) if training else \
            F.batch_norm(x, bn.running_mean, bn.running_var, w, b, training=False)
    assert mg.gradcheck(f, [x, bn.weight, bn.bias])


def test_batchnorm_one_value_per_channel_raises_and_changes_nothing():
    bn = nn.BatchNorm1d(3)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        bn(mg.tensor(np.ones((1, 3), np.float32)))
    np.testing.assert_array_equal(bn.running_mean, 0)
    assert int(bn.num_batches_tracked) == 0
    bn.eval()
    assert bn(mg.tensor(np.ones((1, 3), np.float32))).shape == (1, 3)  # fine in eval
    with pytest.raises(ValueError, match=r"expects input \(N, 3\)"):
        bn(mg.tensor(np.ones((4, 2), np.float32)))


@pytest.mark.parametrize("kw", [{}, {"ignore_index": 2}, {"label_smoothing": 0.1},
                                {"ignore_index": 0, "label_smoothing": 0.25},
                                {"reduction": "sum"}, {"reduction": "none", "label_smoothing": 0.2}])
def test_cross_entropy_matches_torch(kw):
    torch = torch_or_skip()
    z = rng.standard_normal((7, 5)) * 2
    t = np.array([0, 2, 4, 2, 1, 3, 0])
    zm, zt = mg.tensor(z, requires_grad=True), torch.tensor(z, requires_grad=True)
    loss, tloss = F.cross_entropy(zm, t, **kw), torch.nn.functional.cross_entropy(zt, torch.tensor(t), **kw)
    np.testing.assert_allclose(loss.data, tloss.detach().numpy(), rtol=1e-12)
    g = rng.standard_normal(tloss.shape)
    loss.backward(g)
    tloss.backward(torch.tensor(g))
    np.testing.assert_allclose(zm.grad, zt.grad.numpy(), rtol=1e-12, atol=1e-14)
    assert mg.gradcheck(lambda x: F.cross_entropy(x, t, **kw), [mg.tensor(z, requires_grad=True)])


@pytest.mark.parametrize("case", ["probabilities", "spatial", "single"])
def test_cross_entropy_other_target_forms_match_torch(case):
    torch = torch_or_skip()
    if case == "probabilities":
        z, t = rng.standard_normal((4, 3)), rng.dirichlet(np.ones(3), 4)
    elif case == "spatial":
        z, t = rng.standard_normal((2, 3, 4)), rng.integers(0, 3, (2, 4))
    else:
        z, t = rng.standard_normal(5), np.array(3)
    zm, zt = mg.tensor(z, requires_grad=True), torch.tensor(z, requires_grad=True)
    loss = F.cross_entropy(zm, t, label_smoothing=0.1)
    tloss = torch.nn.functional.cross_entropy(zt, torch.tensor(t), label_smoothing=0.1)
    np.testing.assert_allclose(loss.data, tloss.detach().numpy(), rtol=1e-12)
    loss.backward()
    tloss.backward()
    np.testing.assert_allclose(zm.grad, zt.grad.numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_is_stable_for_huge_logits(dtype):
    z = mg.tensor(np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 999.0]], dtype), requires_grad=True)
    loss = F.cross_entropy(z, np.array([0, 2]))
    loss.backward()
    assert np.isfinite(loss.item()) and np.isfinite(z.grad).all()
    assert loss.item() == pytest.approx((0 + 1 + np.log1p(np.exp(-1.0))) / 2, rel=1e-5)


def test_cross_entropy_bad_targets():
    z = mg.tensor(np.zeros((2, 3), np.float32))
    with pytest.raises(IndexError, match="target 3 is out of bounds for 3 classes"):
        F.cross_entropy(z, np.array([0, 3]))
    with pytest.raises(ValueError, match=r"target has shape \(3,\)"):
        F.cross_entropy(z, np.array([0, 1, 2]))


def test_dropout_is_reproducible_and_scaled():
    x = mg.tensor(np.ones((200, 50), np.float32), requires_grad=True)
    mg.manual_seed(3)
    a = F.dropout(x, 0.3)
    mg.manual_seed(3)
    b = F.dropout(x, 0.3)
    np.testing.assert_array_equal(a.data, b.data)
    kept = a.data != 0
    assert 0.65 < kept.mean() < 0.75
    np.testing.assert_allclose(a.data[kept], 1 / 0.7, rtol=1e-6)
    a.sum().backward()
    np.testing.assert_allclose(x.grad, a.data, rtol=1e-6)  # d/dx = mask / (1 - p)
    drop = nn.Dropout(0.5).eval()
    assert drop(x) is x


@pytest.mark.parametrize("layer,tname", [(nn.ReLU(), "ReLU"), (nn.Tanh(), "Tanh"), (nn.Sigmoid(), "Sigmoid"),
                                         (nn.GELU(), "GELU"), (nn.Flatten(), "Flatten")])
def test_activation_layers_match_torch(layer, tname):
    torch = torch_or_skip()
    x = rng.standard_normal((3, 2, 4))
    np.testing.assert_allclose(layer(mg.tensor(x)).data, getattr(torch.nn, tname)()(torch.tensor(x)).numpy(),
                               rtol=1e-12, atol=1e-15)


def test_every_layer_takes_dtype():
    for layer in (nn.Linear(2, 3, dtype=np.float64), nn.Embedding(4, 2, dtype=np.float64),
                  nn.BatchNorm1d(3, dtype=np.float64)):
        assert all(p.dtype == np.float64 for p in layer.parameters())


def test_seed_makes_init_reproducible():
    mg.manual_seed(7)
    a = nn.Sequential(nn.Embedding(5, 2), nn.Linear(2, 2))
    mg.manual_seed(7)
    b = nn.Sequential(nn.Embedding(5, 2), nn.Linear(2, 2))
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_array_equal(p.data, q.data)


def test_binary_cross_entropy_with_logits_matches_torch():
    torch = torch_or_skip()
    z = np.array([-800.0, -3.0, -0.2, 0.0, 0.7, 5.0, 900.0])
    y = np.array([1.0, 0.0, 1.0, 0.5, 1.0, 0.0, 0.0])
    zm, zt = mg.tensor(z, requires_grad=True), torch.tensor(z, requires_grad=True)
    loss = F.binary_cross_entropy_with_logits(zm, y)
    tloss = torch.nn.functional.binary_cross_entropy_with_logits(zt, torch.tensor(y))
    np.testing.assert_allclose(loss.data, tloss.detach().numpy(), rtol=1e-12)
    loss.backward()
    tloss.backward()
    np.testing.assert_allclose(zm.grad, zt.grad.numpy(), rtol=1e-12, atol=1e-15)


# ============================================================================ on every device

_d = np.random.default_rng(5)
X = {k: _d.standard_normal(s) for k, s in [("x524", (5, 2, 4)), ("bn0", (6, 3)), ("bn1", (6, 3)),
                                             ("bn2", (6, 3)), ("bn3d", (4, 3, 5)), ("ln", (2, 3, 4)),
                                             ("ln_w", (4,)), ("ln_b", (4,)), ("z75", (7, 5)),
                                             ("z43", (4, 3)), ("z234", (2, 3, 4)), ("q", (2, 4, 3)),
                                             ("k", (2, 4, 3)), ("v", (2, 4, 3)), ("mask", (4, 4)),
                                             ("x258", (2, 5, 8))]}
PROBS = _d.dirichlet(np.ones(3), 4)
BCE_Y = _d.uniform(0, 1, (7, 5))


def _leaf(a, dev):
    return mg.tensor(a, device=dev, requires_grad=True)


def _on(a, dev):
    return mg.backend.to_device(a, dev)


def _linear(dev):
    mg.manual_seed(0)  # the same initial weights on every device: drawn on the CPU generator
    lin, x = nn.Linear(4, 3, dtype=np.float64, device=dev), _leaf(X["x524"], dev)
    return lin(x), [x, lin.weight, lin.bias], {}


def _embedding(dev):
    mg.manual_seed(0)
    emb = nn.Embedding(6, 3, padding_idx=0, max_norm=1.0, dtype=np.float64, device=dev)
    y = emb(_on(np.array([[1, 0, 1], [5, 1, 0]]), dev))  # a CuPy index array on the GPU
    return y, [emb.weight], {"weight renormed in place": emb.weight.data}


def _batch_norm_eval(dev):
    bn = nn.BatchNorm1d(3, momentum=None, dtype=np.float64, device=dev)
    bn.weight.data[...] = _on(np.array([0.5, 1.0, 1.5]), dev)
    bn(mg.tensor(X["bn0"] * 3 + 1, device=dev))
    bn(mg.tensor(X["bn1"], device=dev))  # the cumulative average over two batches
    bn.eval()
    x = _leaf(X["bn2"], dev)
    return bn(x), [x, bn.weight, bn.bias], {"running_mean": bn.running_mean,
                                             "running_var": bn.running_var,
                                             "num_batches_tracked": bn.num_batches_tracked}


def _batch_norm_train(dev):
    bn = nn.BatchNorm1d(3, momentum=0.3, dtype=np.float64, device=dev)
    x = _leaf(X["bn3d"] * 2 - 1, dev)
    return bn(x), [x, bn.weight, bn.bias], {"running_mean": bn.running_mean,
                                             "running_var": bn.running_var}


def _layer_norm(dev):
    x, w, b = _leaf(X["ln"], dev), _leaf(X["ln_w"], dev), _leaf(X["ln_b"], dev)
    return F.layer_norm(x, (4,), w, b), [x, w, b], {}


def _cross_entropy(dev):
    z = _leaf(X["z75"] * 2, dev)
    t = _on(np.array([0, 2, 4, 2, 1, 3, 0]), dev)
    return F.cross_entropy(z, t, ignore_index=2, label_smoothing=0.1), [z], {}


def _cross_entropy_probabilities(dev):
    z = _leaf(X["z43"], dev)
    return F.cross_entropy(z, _on(PROBS, dev), label_smoothing=0.1), [z], {}


def _cross_entropy_spatial(dev):
    z = _leaf(X["z234"], dev)
    t = _on(np.array([[0, 2, 1, 1], [2, 2, 0, 1]]), dev)
    return F.cross_entropy(z, t, reduction="none"), [z], {}


def _bce_numpy_target(dev):
    z = _leaf(X["z75"], dev)
    return F.binary_cross_entropy_with_logits(z, BCE_Y), [z], {}  # a raw NumPy target


def _attention(dev):
    q, k, v, m = (_leaf(X[n], dev) for n in ("q", "k", "v", "mask"))
    return F.scaled_dot_product_attention(q, k, v, attn_mask=m, is_causal=True), [q, k, v, m], {}


def _causal_self_attention(dev):
    mg.manual_seed(0)  # the weights, then the dropout masks: one generator for every device
    attn, x = nn.CausalSelfAttention(8, 2, dropout=0.2, dtype=np.float64, device=dev), _leaf(X["x258"], dev)
    return attn(x), [x] + attn.parameters(), {}


ON_DEVICE = [_linear, _embedding, _batch_norm_eval, _batch_norm_train, _layer_norm, _cross_entropy,
             _cross_entropy_probabilities, _cross_entropy_spatial, _bce_numpy_target, _attention,
             _causal_self_attention]


@pytest.mark.parametrize("build", ON_DEVICE, ids=[f.__name__[1:] for f in ON_DEVICE])
def test_layers_on_the_device_match_the_cpu(build, device):
    """Each layer and loss built on the device (its weights, targets and masks there too):
    output, every gradient and every buffer written in place are the CPU's (float64; to
    1e-10 where the GPU sums in another order)."""
    (y, leaves, extras), (yd, leaves_d, extras_d) = build("cpu"), build(device)
    assert yd.device.startswith(device) and yd.dtype == y.dtype == np.float64
    np.testing.assert_allclose(to_np(yd.data), y.data, rtol=1e-10, atol=1e-12)
    seed = np.random.default_rng(1).standard_normal(y.shape)
    y.backward(seed)
    yd.backward(mg.tensor(seed, device=device))
    for k, (a, b) in enumerate(zip(leaves_d, leaves)):
        assert mg.backend.device_of(a.grad).startswith(device), k
        np.testing.assert_allclose(to_np(a.grad), b.grad, rtol=1e-10, atol=1e-12, err_msg=f"leaf {k}")
    for name, b in extras.items():
        assert mg.backend.device_of(extras_d[name]).startswith(device), name
        np.testing.assert_allclose(to_np(extras_d[name]), b, rtol=1e-10, atol=1e-12, err_msg=name)


# ============================================================================ constructor arguments

NAN = float("nan")
BAD_ARGUMENTS = [  # (layer, args, kwargs, error, message): each names the layer, argument and value
    (nn.Linear, (-1, 3), {}, ValueError, "Linear: in_features must be a non-negative integer, got -1"),
    (nn.Linear, (3, -2), {}, ValueError, "Linear: out_features must be a non-negative integer, got -2"),
    (nn.Linear, (2.5, 3), {}, TypeError, r"Linear: in_features must be an integer, got 2.5 \(float\)"),
    (nn.Linear, (True, 3), {}, TypeError, r"Linear: in_features must be an integer, got True \(bool\)"),
    (nn.Linear, (3, "4"), {}, TypeError, "Linear: out_features must be an integer, got '4'"),
    (nn.Linear, (2, 3), {"bias": "False"}, TypeError, "Linear: bias must be True or False, got 'False'"),
    (nn.Linear, (2, 3), {"dtype": np.int64}, TypeError, "Linear: dtype must be a floating dtype.*int64"),
    (nn.Linear, (2, 3), {"dtype": "nonsense"}, TypeError, "Linear: dtype 'nonsense' is not a dtype"),
    (nn.Embedding, (-3, 2), {}, ValueError, "Embedding: num_embeddings must be a non-negative integer, got -3"),
    (nn.Embedding, (3, -2), {}, ValueError, "Embedding: embedding_dim must be a non-negative integer, got -2"),
    (nn.Embedding, (3, 2), {"padding_idx": 3}, ValueError,
     r"Embedding: padding_idx 3 must be within num_embeddings \(3\)"),
    (nn.Embedding, (3, 2), {"padding_idx": -4}, ValueError, "Embedding: padding_idx -4 must be within"),
    (nn.Embedding, (3, 2), {"padding_idx": 1.0}, TypeError, "Embedding: padding_idx must be an integer, got 1.0"),
    (nn.Embedding, (3, 2), {"padding_idx": True}, TypeError, "Embedding: padding_idx must be an integer, got True"),
    (nn.Embedding, (3, 2), {"max_norm": 0}, ValueError, "Embedding: max_norm must be > 0, got 0"),
    (nn.Embedding, (3, 2), {"max_norm": NAN}, ValueError, "Embedding: max_norm must be > 0, got nan"),
    (nn.Embedding, (3, 2), {"norm_type": -1}, ValueError, "Embedding: norm_type must be > 0, got -1"),
    (nn.Embedding, (3, 2), {"norm_type": float("inf")}, ValueError, "Embedding: norm_type must be finite"),
    (nn.Embedding, (3, 2), {"sparse": 1}, TypeError, "Embedding: sparse must be True or False, got 1"),
    (nn.BatchNorm1d, (-3,), {}, ValueError, "BatchNorm1d: num_features must be a non-negative integer, got -3"),
    (nn.BatchNorm1d, (3.0,), {}, TypeError, "BatchNorm1d: num_features must be an integer, got 3.0"),
    (nn.BatchNorm1d, (3,), {"eps": 0}, ValueError, "BatchNorm1d: eps must be > 0, got 0"),
    (nn.BatchNorm1d, (3,), {"eps": -1e-5}, ValueError, "BatchNorm1d: eps must be > 0, got -1e-05"),
    (nn.BatchNorm1d, (3,), {"eps": NAN}, ValueError, "BatchNorm1d: eps must be > 0, got nan"),
    (nn.BatchNorm1d, (3,), {"momentum": 1.5}, ValueError, "BatchNorm1d: momentum must be between 0 and 1, got 1.5"),
    (nn.BatchNorm1d, (3,), {"momentum": -0.1}, ValueError, "BatchNorm1d: momentum must be between 0 and 1, got -0.1"),
    (nn.BatchNorm1d, (3,), {"momentum": "0.1"}, TypeError, "BatchNorm1d: momentum must be a number, got '0.1'"),
    (nn.BatchNorm1d, (3,), {"affine": None}, TypeError, "BatchNorm1d: affine must be True or False, got None"),
    (nn.BatchNorm1d, (3,), {"track_running_stats": "no"}, TypeError, "BatchNorm1d: track_running_stats must be"),
    (nn.LayerNorm, ((2, -1),), {}, ValueError,
     r"LayerNorm: normalized_shape\[1\] must be a non-negative integer, got -1"),
    (nn.LayerNorm, (-4,), {}, ValueError, "LayerNorm: normalized_shape must be a non-negative integer, got -4"),
    (nn.LayerNorm, ("3",), {}, TypeError, "LayerNorm: normalized_shape must be an integer or a tuple"),
    (nn.LayerNorm, (3,), {"eps": 0.0}, ValueError, "LayerNorm: eps must be > 0, got 0"),
    (nn.LayerNorm, (3,), {"bias": "yes"}, TypeError, "LayerNorm: bias must be True or False"),
    (nn.Dropout, (1.5,), {}, ValueError, "Dropout: dropout probability has to be between 0 and 1, but got 1.5"),
    (nn.Dropout, (-0.1,), {}, ValueError, "Dropout: dropout probability has to be between 0 and 1, but got -0.1"),
    (nn.Dropout, (NAN,), {}, ValueError, "Dropout: dropout probability has to be between 0 and 1, but got nan"),
    (nn.Dropout, ("0.5",), {}, TypeError, "Dropout: p must be a number, got '0.5'"),
    (nn.Dropout, (True,), {}, TypeError, "Dropout: p must be a number, got True"),
    (nn.GELU, ("fast",), {}, ValueError, "GELU: approximate must be 'none' or 'tanh', got 'fast'"),
    (nn.Flatten, (1.5,), {}, TypeError, "Flatten: start_dim must be an integer, got 1.5"),
    (nn.Sequential, (nn.ReLU(), "relu"), {}, TypeError, "Sequential: argument 1 is a str, not a Module"),
    (nn.CausalSelfAttention, (8, 0), {}, ValueError, "CausalSelfAttention: n_head must be a positive integer, got 0"),
    (nn.CausalSelfAttention, (8, 3), {}, ValueError, r"n_embd \(8\) must be a positive multiple of n_head \(3\)"),
    (nn.CausalSelfAttention, (-8, 2), {}, ValueError, "CausalSelfAttention: n_embd must be a non-negative integer"),
    (nn.CausalSelfAttention, (8, 2.0), {}, TypeError, "CausalSelfAttention: n_head must be an integer, got 2.0"),
    (nn.CausalSelfAttention, (8, 2), {"dropout": 2}, ValueError,
     "CausalSelfAttention: dropout must be between 0 and 1"),
    (nn.CausalSelfAttention, (8, 2), {"bias": None}, TypeError, "CausalSelfAttention: bias must be True or False"),
]


@pytest.mark.parametrize("layer,args,kwargs,error,message", BAD_ARGUMENTS,
                         ids=[f"{c[0].__name__}{c[1]}{c[2] or ''}" for c in BAD_ARGUMENTS])
def test_bad_constructor_arguments_are_refused_naming_the_argument(layer, args, kwargs, error, message):
    with pytest.raises(error, match=message):
        layer(*args, **kwargs)


GOOD_ARGUMENTS = [  # what torch accepts stays accepted: zero sizes, NumPy integers, edge values
    (nn.Linear, (0, 0), {}), (nn.Linear, (np.int64(2), np.int32(3)), {"dtype": "float64"}),
    (nn.Embedding, (3, 0), {"padding_idx": np.int64(-1)}), (nn.Embedding, (0, 2), {}),
    (nn.BatchNorm1d, (0,), {"momentum": None}), (nn.BatchNorm1d, (3,), {"momentum": 0.0}),
    (nn.BatchNorm1d, (3,), {"momentum": 1, "eps": 1e-30}), (nn.LayerNorm, ([2, 3],), {}),
    (nn.LayerNorm, (np.array([2, 3]),), {}),
    (nn.Dropout, (0,), {}), (nn.Dropout, (1,), {}), (nn.Flatten, (0, -1), {}),
    (nn.CausalSelfAttention, (0, 1), {}), (nn.CausalSelfAttention, (8, 8), {"dropout": 1.0}),
]


@pytest.mark.parametrize("layer,args,kwargs", GOOD_ARGUMENTS,
                         ids=[f"{c[0].__name__}{c[1]}{c[2] or ''}" for c in GOOD_ARGUMENTS])
def test_edge_constructor_arguments_that_torch_accepts_are_accepted(layer, args, kwargs):
    layer(*args, **kwargs)


@pytest.mark.parametrize("make,words", [
    (lambda: nn.Linear(10 ** 20, 3), "Linear: in_features is 100000000000000000000, larger than"),
    (lambda: nn.LayerNorm(10 ** 30), "LayerNorm: normalized_shape is"),
    (lambda: nn.Embedding(5, 2 ** 70), "Embedding: embedding_dim is"),
])
def test_a_size_beyond_any_array_is_named(make, words):
    """NumPy's "Maximum allowed dimension exceeded" named neither the layer nor the argument."""
    with pytest.raises(ValueError, match=words):
        make()


def test_layer_norm_takes_a_0d_array_as_a_size():
    """LayerNorm(np.array(3)) raised NumPy's "iteration over a 0-d array"."""
    assert nn.LayerNorm(np.array(3)).normalized_shape == (3,)
    with pytest.raises(TypeError, match="LayerNorm: normalized_shape"):
        nn.LayerNorm(np.array(3.5))


@pytest.mark.parametrize("given", ["weight", "bias"])
def test_batch_norm_takes_a_weight_or_a_bias_alone_as_torch(given):
    torch = torch_or_skip()
    rng = np.random.default_rng(0)
    x, a = rng.standard_normal((5, 3)), rng.standard_normal(3)
    tx, ta = torch.tensor(x, requires_grad=True), torch.tensor(a, requires_grad=True)
    mx, ma = mg.Tensor(x, requires_grad=True), mg.Tensor(a, requires_grad=True)
    kw = {given: ta}
    ty = torch.nn.functional.batch_norm(tx, None, None, training=True, **kw)
    my = F.batch_norm(mx, None, None, training=True, **{given: ma})
    (ty ** 2).sum().backward()
    (my ** 2).sum().backward()
    np.testing.assert_allclose(my.data, ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(mx.grad, tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ma.grad, ta.grad.numpy(), rtol=1e-10, atol=1e-12)
