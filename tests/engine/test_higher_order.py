"""Higher-order gradients: the recorded backward (create_graph=True), mg.grad, gradgradcheck.

The op table is test_ops.OPS (every elementwise, arithmetic, reduction and shape op) plus the
fused layer ops below; each row is checked two ways: a Hessian-vector product of
sum(f(x)³) against PyTorch in float64, and gradgradcheck (second derivatives against finite
differences of the recorded backward). The cube makes every op's second derivative matter: for a
linear op (reshape, sum) it checks that its recorded backward is linear in the incoming gradient.
"""
import numpy as np
import pytest
from test_ops import OPS

import minigrad as mg
import minigrad.nn.functional as F
from minigrad.autograd import functional as AF

from conftest import to_np, torch_or_skip

rng = np.random.default_rng(22)


def randn(*shape):
    return rng.standard_normal(shape)


def _t():
    return __import__("torch")


def _tf():
    return __import__("torch").nn.functional


TARGET = np.array([0, 3, 1])
TARGET_IGNORED = np.array([2, -100, 4])
PROBS = rng.dirichlet(np.ones(5), 3)
EMB_IDX = np.array([[1, 4], [4, 0]])
BCE_Y = rng.uniform(0, 1, (2, 3))

# (id, minigrad fn, torch fn, input arrays): the fused ops of minigrad/ops/nn.py, layer_norm.py
# and attention.py, which test_ops.OPS leaves to tests/nn
NN_OPS = [
    ("linear", lambda x, W, b: F.linear(x, W, b), lambda x, W, b: _tf().linear(x, W, b),
     [randn(4, 3), randn(2, 3), randn(2)]),
    ("linear_3d_nobias", lambda x, W: F.linear(x, W), lambda x, W: _tf().linear(x, W),
     [randn(2, 2, 3), randn(4, 3)]),
    ("cross_entropy", lambda z: F.cross_entropy(z, TARGET), lambda z: _tf().cross_entropy(z, _t().tensor(TARGET)),
     [randn(3, 5)]),
    ("cross_entropy_smooth_ignore_sum",
     lambda z: F.cross_entropy(z, TARGET_IGNORED, label_smoothing=0.2, reduction="sum"),
     lambda z: _tf().cross_entropy(z, _t().tensor(TARGET_IGNORED), label_smoothing=0.2, reduction="sum"),
     [randn(3, 5)]),
    ("cross_entropy_probs_none", lambda z: F.cross_entropy(z, PROBS, reduction="none"),
     lambda z: _tf().cross_entropy(z, _t().tensor(PROBS), reduction="none"), [randn(3, 5)]),
    ("bce_with_logits_sum", lambda z: F.binary_cross_entropy_with_logits(z, BCE_Y, reduction="sum"),
     lambda z: _tf().binary_cross_entropy_with_logits(z, _t().tensor(BCE_Y), reduction="sum"),
     [randn(2, 3)]),
    ("layer_norm", lambda x, w, b: F.layer_norm(x, 4, w, b), lambda x, w, b: _tf().layer_norm(x, (4,), w, b),
     [randn(3, 4), randn(4), randn(4)]),
    ("layer_norm_2axes_plain", lambda x: F.layer_norm(x, (2, 3)), lambda x: _tf().layer_norm(x, (2, 3)),
     [randn(2, 2, 3)]),
    ("batch_norm_train", lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
     lambda x, w, b: _tf().batch_norm(x, None, None, w, b, training=True), [randn(5, 3), randn(3), randn(3)]),
    ("batch_norm_3d_plain", lambda x: F.batch_norm(x, None, None, training=True),
     lambda x: _tf().batch_norm(x, None, None, training=True), [randn(3, 2, 4)]),
    ("batch_norm_eval", lambda x, w, b: F.batch_norm(x, np.full(3, 0.1), np.full(3, 2.0), w, b),
     lambda x, w, b: _tf().batch_norm(x, _t().full((3,), 0.1, dtype=_t().float64),
                                      _t().full((3,), 2.0, dtype=_t().float64), w, b),
     [randn(4, 3), randn(3), randn(3)]),
    ("embedding_padding", lambda W: F.embedding(EMB_IDX, W, padding_idx=0),
     lambda W: _tf().embedding(_t().tensor(EMB_IDX), W, padding_idx=0), [randn(5, 3)]),
    ("sdpa_causal", lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
     lambda q, k, v: _tf().scaled_dot_product_attention(q, k, v, is_causal=True),
     [randn(2, 3, 4), randn(2, 3, 4), randn(2, 3, 2)]),
    ("sdpa_float_mask", lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, attn_mask=m),
     lambda q, k, v, m: _tf().scaled_dot_product_attention(q, k, v, attn_mask=m),
     [randn(1, 3, 2), randn(1, 4, 2), randn(1, 4, 2), randn(3, 4)]),
    ("sdpa_bool_mask_full_row", lambda q, k, v: F.scaled_dot_product_attention(
        q, k, v, attn_mask=np.array([[True, False], [False, False]])),
     lambda q, k, v: _tf().scaled_dot_product_attention(
         q, k, v, attn_mask=_t().tensor([[True, False], [False, False]])).nan_to_num(),
     [randn(2, 2), randn(2, 2), randn(2, 2)]),
    ("gelu_chain", lambda x: F.gelu(F.gelu(x, approximate="tanh")),
     lambda x: _tf().gelu(_tf().gelu(x, approximate="tanh")), [randn(3, 3)]),
]

# every row: (id, minigrad fn, torch fn, input arrays)
ROWS = [(r[0], r[1], r[3], r[4]) for r in OPS] + NN_OPS
IDS = [r[0] for r in ROWS]


def cubed_sum(y):
    return (y * y * y).sum()


def _hvp_minigrad(fn, arrays, vs):
    xs = [mg.tensor(a, requires_grad=True) for a in arrays]
    gs = mg.grad(cubed_sum(fn(*xs)), xs, create_graph=True)
    assert all(g.requires_grad for g in gs if g is not None)
    hs = mg.grad([g for g in gs], xs, [mg.tensor(v) for v in vs], allow_unused=True)
    return [g.data for g in gs], [None if h is None else h.data for h in hs]


@pytest.mark.parametrize("name,fn,tfn,arrays", ROWS, ids=IDS)
def test_hessian_vector_product_matches_torch(name, fn, tfn, arrays):
    torch = torch_or_skip()
    vs = [np.random.default_rng(3).standard_normal(a.shape) for a in arrays]
    gs, hs = _hvp_minigrad(fn, arrays, vs)
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    tgs = torch.autograd.grad(cubed_sum(tfn(*ts)), ts, create_graph=True)
    ths = torch.autograd.grad(tgs, ts, [torch.tensor(v) for v in vs], allow_unused=True)
    for i, (g, tg, h, th) in enumerate(zip(gs, tgs, hs, ths)):
        np.testing.assert_allclose(to_np(g), tg.detach().numpy(), rtol=1e-10, atol=1e-11,
                                   err_msg=f"{name}: gradient of input {i}")
        th = np.zeros(arrays[i].shape) if th is None else th.numpy()
        h = np.zeros(arrays[i].shape) if h is None else to_np(h)
        np.testing.assert_allclose(h, th, rtol=1e-9, atol=1e-10,
                                   err_msg=f"{name}: Hessian-vector product of input {i}")


# kinks and ties: a finite difference across one is not a derivative
NOT_SMOOTH = {"clip", "clip_min_only"}


@pytest.mark.parametrize("name,fn,tfn,arrays", [r for r in ROWS if r[0] not in NOT_SMOOTH],
                         ids=[i for i in IDS if i not in NOT_SMOOTH])
def test_gradgradcheck(name, fn, tfn, arrays):
    inputs = [mg.tensor(a, requires_grad=True) for a in arrays]
    assert mg.gradgradcheck(lambda *xs: cubed_sum(fn(*xs)), inputs, atol=1e-5, rtol=1e-4)


# ============================================================================ the protocol

class Cube(mg.Function):
    """x³ whose backward is right to first order but reads its saved raw array: in the recorded
    pass that array is a constant, so the second derivative misses 6x."""

    def forward(self, x):
        self.x = x
        return x * x * x

    def backward(self, gy):
        return (gy * 3 * self.x ** 2,)


class CubeRight(mg.Function):
    """The same op written to the protocol: the recorded pass reads the input Tensor."""

    def forward(self, x):
        self.x = x
        return x * x * x

    def backward(self, gy):
        x = self.inputs[0] if mg.function.recording(gy) else self.x
        return (gy * 3 * x * x,)


def test_gradgradcheck_catches_a_backward_that_reads_a_raw_array():
    x = mg.tensor(np.array([0.3, -1.2, 2.0]), requires_grad=True)
    assert mg.gradcheck(lambda t: Cube().apply(t), [x])  # right to first order
    with pytest.raises(mg.GradcheckError, match=r"(?s)gradgradcheck failed.*input 0 of fn.*"
                                                r"worst: d output0\[2\] / d input0\[2\]") as e:
        mg.gradgradcheck(lambda t: Cube().apply(t), [x])
    assert e.value.input == 0
    assert mg.gradgradcheck(lambda t: CubeRight().apply(t), [x])


def test_first_order_gradients_have_no_graph_and_recorded_ones_do():
    x = mg.tensor(np.array([0.5, -1.0]), requires_grad=True)
    (g,) = mg.grad((x.tanh() * x).sum(), x)
    assert not g.requires_grad and g.creator is None and x.grad is None
    (g,) = mg.grad((x.tanh() * x).sum(), x, create_graph=True)
    assert g.requires_grad and g.creator is not None and x.grad is None


def test_third_derivative_of_tanh_matches_closed_form_and_torch():
    a = np.linspace(-2, 2, 7)
    x = mg.tensor(a, requires_grad=True)
    (d1,) = mg.grad(x.tanh().sum(), x, create_graph=True)
    (d2,) = mg.grad(d1.sum(), x, create_graph=True)
    (d3,) = mg.grad(d2.sum(), x, create_graph=True)
    (d4,) = mg.grad(d3.sum(), x)
    t = np.tanh(a)
    np.testing.assert_allclose(d1.data, 1 - t ** 2, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(d2.data, -2 * t * (1 - t ** 2), rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(d3.data, -2 * (1 - t ** 2) * (1 - 3 * t ** 2), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(d4.data, 8 * t * (1 - t ** 2) * (2 - 3 * t ** 2), rtol=1e-12, atol=1e-13)
    torch = pytest.importorskip("torch")
    tx = torch.tensor(a, requires_grad=True)
    (t1,) = torch.autograd.grad(tx.tanh().sum(), tx, create_graph=True)
    (t2,) = torch.autograd.grad(t1.sum(), tx, create_graph=True)
    (t3,) = torch.autograd.grad(t2.sum(), tx)
    np.testing.assert_allclose(d3.data, t3.numpy(), rtol=1e-12, atol=1e-13)


def rosenbrock(p):
    return (1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2


def test_hessian_of_rosenbrock_at_minus_one_one_is_the_closed_form():
    # ∂²f/∂x² = 2 - 400 (y - x²) + 800 x², ∂²f/∂x∂y = -400 x, ∂²f/∂y² = 200
    H = AF.hessian(rosenbrock, mg.tensor(np.array([-1.0, 1.0])))
    np.testing.assert_array_equal(H.data, [[802.0, 400.0], [400.0, 200.0]])
    assert not H.requires_grad


def _functional_case(name):
    """(minigrad func, torch func, inputs, v for outputs, v for inputs) for one table row."""
    a, b = randn(3), randn(3)
    if name == "one":
        return (lambda x: (x.exp() * x.sum()), lambda x: (x.exp() * x.sum()), a, randn(3), randn(3))
    return (lambda x, y: ((x * y).tanh(), (x.exp() * y).sum() * x),
            lambda x, y: ((x * y).tanh(), (x.exp() * y).sum() * x), (a, b),
            (randn(3), randn(3)), (randn(3), randn(3)))


def _mg(x):
    return tuple(mg.tensor(a) for a in x) if isinstance(x, tuple) else mg.tensor(x)


def _torch(torch, x):
    return tuple(torch.tensor(a) for a in x) if isinstance(x, tuple) else torch.tensor(x)


def _close_nested(ours, theirs):
    if isinstance(theirs, tuple):
        assert isinstance(ours, tuple) and len(ours) == len(theirs)
        for o, t in zip(ours, theirs):
            _close_nested(o, t)
        return
    assert isinstance(ours, mg.Tensor) and ours.shape == tuple(theirs.shape)
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("case", ["one", "two"])
@pytest.mark.parametrize("what", ["vjp", "jvp", "jacobian"])
def test_functional_matches_torch(what, case):
    torch = torch_or_skip()
    f, tf, inputs, v_out, v_in = _functional_case(case)
    if what == "jacobian":
        _close_nested(AF.jacobian(f, _mg(inputs)), torch.autograd.functional.jacobian(tf, _torch(torch, inputs)))
        return
    v = v_out if what == "vjp" else v_in
    ours = getattr(AF, what)(f, _mg(inputs), _mg(v))
    theirs = getattr(torch.autograd.functional, what)(tf, _torch(torch, inputs), _torch(torch, v))
    _close_nested(ours, theirs)


@pytest.mark.parametrize("what", ["hvp", "vhp", "hessian"])
@pytest.mark.parametrize("case", ["one", "two"])
def test_second_order_functional_matches_torch(what, case):
    torch = torch_or_skip()
    if case == "one":
        f = lambda x: (x.tanh() * x.exp()).sum() * x.sum()  # noqa: E731
        inputs, v = randn(4), randn(4)
    else:
        f = lambda x, y: ((x * y).exp().sum() + (x ** 3).sum()) * y.sum()  # noqa: E731
        inputs, v = (randn(3), randn(3)), (randn(3), randn(3))
    if what == "hessian":
        _close_nested(AF.hessian(f, _mg(inputs)), torch.autograd.functional.hessian(f, _torch(torch, inputs)))
        return
    ours = getattr(AF, what)(f, _mg(inputs), _mg(v))
    theirs = getattr(torch.autograd.functional, what)(f, _torch(torch, inputs), _torch(torch, v))
    _close_nested(ours, theirs)


def test_functional_create_graph_differentiates_again():
    x = mg.tensor(np.array([0.3, -0.4]), requires_grad=True)
    _, hv = AF.hvp(lambda p: (p.tanh() ** 3).sum(), x, mg.tensor(np.array([1.0, 2.0])), create_graph=True)
    assert hv.requires_grad
    (g,) = mg.grad(hv.sum(), x)  # a third derivative, through hvp
    assert g.shape == (2,) and np.isfinite(g.data).all()


# ============================================================================ models

def test_hvp_through_an_mlp_matches_torch():
    torch = torch_or_skip()
    mg.set_default_dtype(np.float64)
    model = mg.nn.Sequential(mg.nn.Linear(3, 5), mg.nn.Tanh(), mg.nn.Linear(5, 4))
    x, y = randn(6, 3), rng.integers(0, 4, 6)
    params = model.parameters()
    loss = F.cross_entropy(model(mg.tensor(x)), y)
    vs = [randn(*p.shape) for p in params]
    _, hv = AF.hvp(lambda *ps: F.cross_entropy(_mlp(ps, mg.tensor(x)), y), tuple(params),
                   tuple(mg.tensor(v) for v in vs))
    tp = [torch.tensor(p.data, requires_grad=True) for p in params]
    tl = torch.nn.functional.cross_entropy(_mlp(tp, torch.tensor(x)), torch.tensor(y))
    np.testing.assert_allclose(loss.data, tl.detach().numpy(), rtol=1e-13)
    tg = torch.autograd.grad(tl, tp, create_graph=True)
    th = torch.autograd.grad(tg, tp, [torch.tensor(v) for v in vs])
    for h, t in zip(hv, th):
        np.testing.assert_allclose(h.data, t.numpy(), rtol=1e-10, atol=1e-12)


def _mlp(ps, x):
    W1, b1, W2, b2 = ps
    return ((x @ W1.T + b1).tanh()) @ W2.T + b2


def test_backward_create_graph_gives_grad_graph_for_a_gpt_hvp_matching_torch():
    torch = torch_or_skip()
    from models.gpt import GPT
    model = GPT(block_size=4, n_layer=1, n_head=2, n_embd=4, dtype=np.float64)
    idx = rng.integers(0, 27, (2, 4))
    target = rng.integers(0, 27, (2, 4))
    loss = F.cross_entropy(model(idx).reshape(8, 27), target.reshape(8))
    loss.backward(create_graph=True)
    names, params = zip(*model.named_parameters())
    for p in params:
        assert p.grad_graph is not None and p.grad_graph.requires_grad
        np.testing.assert_array_equal(p.grad, p.grad_graph.data)
    vs = [randn(*p.shape) for p in params]
    hv = mg.grad([p.grad_graph for p in params], list(params), [mg.tensor(v) for v in vs])
    P = {k: torch.tensor(v, requires_grad=True) for k, v in model.state_dict().items()}
    from torch.nn.attention import SDPBackend, sdpa_kernel
    with sdpa_kernel(SDPBackend.MATH):  # the flash kernel has no double backward on a CPU
        tlogits = _torch_gpt(torch, P, idx, n_layer=1, n_head=2)
    tloss = torch.nn.functional.cross_entropy(tlogits.reshape(8, 27), torch.tensor(target.reshape(8)))
    tg = torch.autograd.grad(tloss, [P[n] for n in names], create_graph=True)
    th = torch.autograd.grad(tg, [P[n] for n in names], [torch.tensor(v) for v in vs])
    for name, g, p, h, t in zip(names, tg, params, hv, th):
        np.testing.assert_allclose(p.grad, g.detach().numpy(), rtol=1e-9, atol=1e-12, err_msg=name)
        np.testing.assert_allclose(h.data, t.numpy(), rtol=1e-8, atol=1e-10, err_msg=name)


def _torch_gpt(torch, P, idx, n_layer, n_head):
    """models/gpt.py's forward in torch, from its parameters (as tests/nn/test_transformer.py)."""
    TF = torch.nn.functional
    idx = torch.tensor(idx)
    B, T = idx.shape
    x = P["wte.weight"][idx] + P["wpe.weight"][:T]
    C = x.shape[-1]
    for i in range(n_layer):
        p = lambda name, i=i: P[f"h.{i}.{name}"]  # noqa: E731
        h = TF.layer_norm(x, (C,), p("ln_1.weight"), p("ln_1.bias"))
        q, k, v = TF.linear(h, p("attn.c_attn.weight"), p("attn.c_attn.bias")).split(C, dim=2)
        q, k, v = (a.view(B, T, n_head, C // n_head).transpose(1, 2) for a in (q, k, v))
        y = TF.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(B, T, C)
        x = x + TF.linear(y, p("attn.c_proj.weight"), p("attn.c_proj.bias"))
        h = TF.layer_norm(x, (C,), p("ln_2.weight"), p("ln_2.bias"))
        h = TF.gelu(TF.linear(h, p("mlp.c_fc.weight"), p("mlp.c_fc.bias")), approximate="tanh")
        x = x + TF.linear(h, p("mlp.c_proj.weight"), p("mlp.c_proj.bias"))
    x = TF.layer_norm(x, (C,), P["ln_f.weight"], P["ln_f.bias"])
    return x @ P["lm_head.weight"].T


# ============================================================================ the engine's rules

def test_grad_checks_its_arguments_as_torch():
    x = mg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    unused = mg.tensor(np.array([3.0]), requires_grad=True)
    y = (x * x).sum()
    with pytest.raises(RuntimeError, match=r"input 1 .* was not used .* allow_unused=True"):
        mg.grad(y, [x, unused], retain_graph=True)
    gx, gu = mg.grad(y, [x, unused], allow_unused=True, retain_graph=True)
    np.testing.assert_array_equal(gx.data, [2.0, 4.0])
    assert gu is None
    with pytest.raises(RuntimeError, match="input 0 does not require grad"):
        mg.grad(y, mg.tensor(np.array([1.0])), retain_graph=True)
    with pytest.raises(RuntimeError, match="one-element output, got shape \\(2,\\)"):
        mg.grad(x * x, x)
    with pytest.raises(ValueError, match="grad_outputs\\[0\\] has shape \\(3,\\)"):
        mg.grad(x * x, x, np.ones(3))


def test_grad_with_respect_to_an_intermediate_tensor():
    x = mg.tensor(np.array([0.5, 1.5]), requires_grad=True)
    h = x.exp()
    y = (h * h).sum()
    gh, gx = mg.grad(y, [h, x])
    np.testing.assert_allclose(gh.data, 2 * np.exp([0.5, 1.5]))
    np.testing.assert_allclose(gx.data, 2 * np.exp([1.0, 3.0]))


def test_create_graph_keeps_the_graph_and_a_plain_grad_frees_it():
    x = mg.tensor(np.array([0.5, 1.5]), requires_grad=True)
    y = (x.tanh() ** 2).sum()
    (g,) = mg.grad(y, x, create_graph=True)  # retain_graph defaults to create_graph
    mg.grad(g.sum(), x, retain_graph=True)  # reads what y's ops saved: still there
    (g2,) = mg.grad(y, x)  # frees y's graph, as torch
    np.testing.assert_allclose(g2.data, g.data)
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        mg.grad(g.sum(), x)


def test_backward_create_graph_accumulates_grad_graph_and_starts_again_after_zeroing():
    x = mg.tensor(np.array([0.5, -1.0]), requires_grad=True)
    (x ** 3).sum().backward(create_graph=True)
    (x ** 3).sum().backward(create_graph=True)
    np.testing.assert_allclose(x.grad, 6 * x.data ** 2)
    (h,) = mg.grad(x.grad_graph.sum(), x)
    np.testing.assert_allclose(h.data, 12 * x.data)  # both backward passes are in the graph
    x.grad[...] = 0  # zeroed in place (optimizer.zero_grad(set_to_none=False)): start again
    (x ** 3).sum().backward(create_graph=True)
    (h,) = mg.grad(x.grad_graph.sum(), x)
    np.testing.assert_allclose(h.data, 6 * x.data)
    (x ** 3).sum().backward()
    assert x.grad_graph is None  # a plain backward leaves no graph behind


def test_jvp_through_a_grad_output_that_requires_grad():
    x = mg.tensor(np.array([0.2, 0.7]), requires_grad=True)
    u = mg.tensor(np.zeros(2), requires_grad=True)
    (g,) = mg.grad(x.exp() * x, x, u, create_graph=True)  # uᵀJ, linear in u
    (jv,) = mg.grad(g, u, mg.tensor(np.array([1.0, 2.0])))
    np.testing.assert_allclose(jv.data, (np.exp(x.data) * (1 + x.data)) * [1.0, 2.0])


def test_sparse_embedding_refuses_a_recorded_backward_naming_the_op():
    W = mg.tensor(randn(5, 2), requires_grad=True)
    y = (F.embedding(np.array([1, 3]), W, sparse=True) ** 2).sum()
    with pytest.raises(RuntimeError, match="Embedding with sparse=True: its second derivative"):
        mg.grad(y, W, create_graph=True)


def test_anomaly_mode_names_the_op_in_a_recorded_backward():
    x = mg.tensor(np.array([0.0, 1.0]), requires_grad=True)
    with mg.detect_anomaly():
        y = x.sqrt().sum()  # finite at 0, its gradient 1/(2 sqrt 0) is not
        with pytest.raises(mg.AnomalyError, match=r"(?s)backward pass.*Sqrt.*Div produced 1 Inf"):
            mg.grad(y, x, create_graph=True)


def test_a_recorded_backward_refuses_a_saved_tensor_written_in_place():
    x = mg.tensor(np.array([0.5, 1.0]), requires_grad=True)
    y = (x ** 3).sum()
    (g,) = mg.grad(y, x, create_graph=True)  # 3 x², its x saved by the ops that made it
    x.data = np.array([2.0, 3.0])
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        mg.grad(g.sum(), x)


def test_recorded_backward_on_the_device(device):
    x = mg.tensor(np.array([0.3, -0.8, 1.1]), requires_grad=True, device=device)
    (g,) = mg.grad((x.tanh() * x.exp()).sum(), x, create_graph=True)
    (h,) = mg.grad(g.sum(), x)
    assert h.device.startswith(device)
    xc = mg.tensor(np.array([0.3, -0.8, 1.1]), requires_grad=True)
    (gc,) = mg.grad((xc.tanh() * xc.exp()).sum(), xc, create_graph=True)
    (hc,) = mg.grad(gc.sum(), xc)
    np.testing.assert_allclose(to_np(h.data), hc.data, rtol=1e-12)
    if device != "cpu":
        with pytest.raises(RuntimeError, match=r"different devices|is on"):
            mg.grad(g, x, mg.tensor(np.ones(3)))


def test_grad_of_a_sparse_embedding_is_dense_and_a_tensor_seed_is_cast():
    W = mg.tensor(randn(5, 2), requires_grad=True)
    y = (F.embedding(np.array([1, 3, 1]), W, sparse=True) * 2.0).sum()
    (g,) = mg.grad(y, W)
    np.testing.assert_array_equal(g.data, np.array([[0, 0], [4, 4], [0, 0], [2, 2], [0, 0]]))
    x = mg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    (g,) = mg.grad(x * x, x, mg.tensor(np.array([1.0, 1.0], dtype=np.float32)))
    assert g.dtype == np.float64
    np.testing.assert_array_equal(g.data, [2.0, 4.0])


def test_a_leaf_made_by_an_op_under_no_grad_takes_gradients_of_both_kinds():
    x = mg.tensor(np.array([1.0, 2.0]))
    with mg.no_grad():
        w = x * 2  # made by an op, then a leaf of its own
    w.requires_grad_()
    (w * w).sum().backward()
    np.testing.assert_array_equal(w.grad, [4.0, 8.0])
    assert w.grad_graph is None
    w.grad = None
    (w * w * w).sum().backward(create_graph=True)
    np.testing.assert_array_equal(w.grad_graph.data, [12.0, 48.0])


@pytest.mark.parametrize("fn,kind", [
    (lambda x: x.sum(), "linear"),            # the gradient is a constant: its Jacobian is independent
    (lambda x: (x * x).sum(), "quadratic"),
])
def test_strict_refuses_an_independent_second_derivative_as_torch_does(fn, kind):
    """hessian(strict=True) of a linear function: torch raises (the Jacobian of the gradient is
    independent of the input); found returning zeros by a hostile review."""
    torch = torch_or_skip()
    x = mg.tensor(np.ones(3), requires_grad=True)
    if kind == "linear":
        with pytest.raises(RuntimeError, match="independent"):
            AF.hessian(fn, x, strict=True)
        with pytest.raises(RuntimeError, match="independent"):
            torch.autograd.functional.hessian(lambda t: t.sum(), torch.ones(3, dtype=torch.float64), strict=True)
        assert np.array_equal(to_np(AF.hessian(fn, x).data), np.zeros((3, 3)))
    else:
        h = AF.hessian(fn, x, strict=True)
        assert np.array_equal(to_np(h.data), 2 * np.eye(3))


@pytest.mark.parametrize("grad_outputs,error,match", [
    (np.ones(3), TypeError, r"grad_outputs\[0\] must be a Tensor .*got ndarray"),
    (mg.tensor(np.ones(4)), ValueError, r"grad_outputs\[0\] has shape \(4,\), but output 0 has shape \(3,\)"),
])
def test_gradgradcheck_names_a_bad_grad_outputs(grad_outputs, error, match):
    x = mg.tensor(np.linspace(0.1, 1.0, 3), requires_grad=True)
    with pytest.raises(error, match=match):
        mg.gradgradcheck(lambda t: t.tanh(), (x,), grad_outputs)
