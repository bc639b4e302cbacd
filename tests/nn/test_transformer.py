"""What a decoder-only transformer needs: LayerNorm, scaled dot-product attention, causal
self-attention and ModuleList, against PyTorch in float64 (forward and gradients), gradcheck,
random shapes, and causal masking that lets nothing from the future through."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad as mg
import minigrad.nn as nn
import minigrad.nn.functional as F
from conftest import torch_or_skip

rng = np.random.default_rng(0)


def _leaf(a):
    return mg.tensor(a, requires_grad=True)


def _close(a, b, what=""):
    np.testing.assert_allclose(a, b.detach().numpy(), rtol=1e-10, atol=1e-12, err_msg=what)


# ============================================================================ LayerNorm

LN_CASES = [  # input shape, normalized_shape, elementwise_affine, bias
    ((4, 6), 6, True, True),
    ((2, 3, 5), (5,), True, True),
    ((2, 3, 4), (3, 4), True, True),
    ((2, 3, 5), 5, True, False),
    ((2, 3, 5), 5, False, True),
    ((7,), 7, True, True),
    ((3, 1), 1, True, True),  # one value per example: x̂ = 0, y = β
]


@pytest.mark.parametrize("shape,normalized_shape,affine,bias", LN_CASES)
def test_layer_norm_matches_torch(shape, normalized_shape, affine, bias):
    torch = torch_or_skip()
    ln = nn.LayerNorm(normalized_shape, elementwise_affine=affine, bias=bias, dtype=np.float64)
    tln = torch.nn.LayerNorm(normalized_shape, elementwise_affine=affine, bias=bias,
                             dtype=torch.float64)
    assert (ln.weight is None) == (tln.weight is None) and (ln.bias is None) == (tln.bias is None)
    params = [(p, tp) for p, tp in ((ln.weight, tln.weight), (ln.bias, tln.bias)) if p is not None]
    for p, tp in params:  # the initial values are torch's (ones, zeros); then make them general
        _close(p.data, tp)
        p.data[...] = rng.standard_normal(p.shape)
        with torch.no_grad():
            tp.copy_(torch.tensor(p.data))
    x = rng.standard_normal(shape) * 3 + 1
    xm, xt = _leaf(x), torch.tensor(x, requires_grad=True)
    y, ty = ln(xm), tln(xt)
    _close(y.data, ty, "forward")
    g = rng.standard_normal(shape)
    y.backward(g)
    ty.backward(torch.tensor(g))
    _close(xm.grad, xt.grad, "input grad")
    for p, tp in params:
        _close(p.grad, tp.grad, "parameter grad")


def test_layer_norm_gradcheck():
    x = _leaf(rng.standard_normal((3, 2, 4)))
    w, b = _leaf(rng.standard_normal(4)), _leaf(rng.standard_normal(4))
    assert mg.gradcheck(lambda x, w, b: F.layer_norm(x, (4,), w, b, eps=1e-3), [x, w, b])
    assert mg.gradcheck(lambda x: F.layer_norm(x, (2, 4)), [x])


def test_layer_norm_defaults_and_errors():
    ln = nn.LayerNorm(5)
    assert ln.eps == 1e-5 and ln.weight.dtype == np.float32
    np.testing.assert_array_equal(ln.weight.data, np.ones(5))
    np.testing.assert_array_equal(ln.bias.data, np.zeros(5))
    assert [n for n, _ in ln.named_parameters()] == ["weight", "bias"]
    assert nn.LayerNorm(5, elementwise_affine=False).parameters() == []
    with pytest.raises(ValueError, match=r"normalized_shape \(5,\).*\(2, 4\)"):
        ln(mg.tensor(np.ones((2, 4), np.float32)))
    with pytest.raises(ValueError, match=r"weight has shape \(3,\), expected \(4,\)"):
        F.layer_norm(mg.tensor(np.ones((2, 4))), 4, mg.tensor(np.ones(3)))
    with pytest.raises(TypeError, match="floating-point"):
        ln(mg.tensor(np.ones((2, 5), np.int64)))


# ============================================================================ attention

def _masks(torch, kind, L, S, batch):
    """(minigrad attn_mask, torch attn_mask, is_causal) for each kind of mask."""
    if kind == "none":
        return None, None, False
    if kind == "causal":
        return None, None, True
    b = rng.random((L, S)) < 0.7
    b[:, 0] = True  # every query may attend somewhere
    if kind in ("bool", "bool+causal"):
        return b, torch.tensor(b), kind.endswith("causal")
    if kind == "fully-masked-row":
        b[1] = False
        return b, torch.tensor(b), False
    f = rng.standard_normal(batch + (L, S))  # a float mask, batched: it gets a gradient
    if kind in ("float", "float+causal"):
        return _leaf(f), torch.tensor(f, requires_grad=True), kind.endswith("causal")
    raise AssertionError(kind)


SDPA_CASES = [  # batch, L, S, E, Ev, mask kind, scale
    ((2, 3), 4, 4, 5, 5, "none", None),
    ((2, 3), 5, 5, 4, 6, "causal", None),
    ((2,), 3, 6, 4, 2, "causal", 0.3),      # L != S: top-left aligned, as torch
    ((3,), 6, 3, 4, 2, "causal", None),
    ((2, 2), 4, 5, 3, 3, "bool", None),
    ((2, 2), 4, 4, 3, 3, "bool+causal", None),  # both masks apply, as torch
    ((2, 2), 4, 5, 3, 3, "fully-masked-row", None),  # zeros, not NaN, as torch
    ((2, 2), 4, 5, 3, 3, "float", None),
    ((1, 2), 4, 4, 3, 3, "float+causal", 2.0),
    ((), 4, 4, 3, 2, "causal", None),        # no batch axes at all
]


@pytest.mark.parametrize("batch,L,S,E,Ev,kind,scale", SDPA_CASES)
def test_sdpa_matches_torch(batch, L, S, E, Ev, kind, scale):
    torch = torch_or_skip()
    TF = torch.nn.functional
    q, k, v = (rng.standard_normal(batch + s) for s in ((L, E), (S, E), (S, Ev)))
    qm, km, vm = _leaf(q), _leaf(k), _leaf(v)
    qt, kt, vt = (torch.tensor(a, requires_grad=True) for a in (q, k, v))
    mask, tmask, causal = _masks(torch, kind, L, S, batch)
    y = F.scaled_dot_product_attention(qm, km, vm, attn_mask=mask, is_causal=causal, scale=scale)
    if kind == "float+causal":  # torch refuses both when the float mask needs a gradient:
        # give it the two combined, which is what its other paths do (and what minigrad does)
        tmask_all, tcausal = tmask.masked_fill(~torch.ones(L, S, dtype=torch.bool).tril(),
                                               -float("inf")), False
    else:
        tmask_all, tcausal = tmask, causal
    ty = TF.scaled_dot_product_attention(qt, kt, vt, attn_mask=tmask_all, is_causal=tcausal,
                                         scale=scale)
    assert y.shape == tuple(ty.shape) == batch + (L, Ev)
    _close(y.data, ty, "forward")
    g = rng.standard_normal(y.shape)
    y.backward(g)
    ty.backward(torch.tensor(g))
    for name, a, b in (("q", qm, qt), ("k", km, kt), ("v", vm, vt)) + (
            (("mask", mask, tmask),) if kind.startswith("float") else ()):
        _close(a.grad, b.grad, f"grad of {name}")


@settings(max_examples=30, deadline=None)
@given(batch=st.lists(st.integers(1, 3), min_size=0, max_size=2).map(tuple),
       L=st.integers(1, 6), S=st.integers(1, 6), E=st.integers(1, 5), Ev=st.integers(1, 5),
       causal=st.booleans(), seed=st.integers(0, 2**16))
def test_sdpa_shapes_match_torch(batch, L, S, E, Ev, causal, seed):
    torch = torch_or_skip()
    r = np.random.default_rng(seed)
    q, k, v = (r.standard_normal(batch + s) for s in ((L, E), (S, E), (S, Ev)))
    qm, km, vm = _leaf(q), _leaf(k), _leaf(v)
    qt, kt, vt = (torch.tensor(a, requires_grad=True) for a in (q, k, v))
    y = F.scaled_dot_product_attention(qm, km, vm, is_causal=causal)
    ty = torch.nn.functional.scaled_dot_product_attention(qt, kt, vt, is_causal=causal)
    _close(y.data, ty)
    (y * y).sum().backward()
    (ty * ty).sum().backward()
    for a, b in ((qm, qt), (km, kt), (vm, vt)):
        _close(a.grad, b.grad)


@pytest.mark.parametrize("kind", ["none", "causal", "float+causal", "fully-masked-row"])
def test_sdpa_gradcheck(kind):
    torch = torch_or_skip() if kind.startswith("float") or kind == "fully-masked-row" else None
    L = S = 4
    q, k, v = (_leaf(rng.standard_normal((2, L, 3))) for _ in range(3))
    mask, _, causal = _masks(torch, kind, L, S, (2,)) if torch else (None, None, kind == "causal")
    inputs = [q, k, v] + ([mask] if kind.startswith("float") else [])

    def f(q, k, v, m=mask):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=m, is_causal=causal)
    assert mg.gradcheck(f, inputs)


def test_sdpa_dropout_drops_attention_weights():
    """dropout_p zeroes attention weights and scales the rest by 1/(1-p), with a mask drawn from
    minigrad's generator; gradcheck with the generator reseeded so each call draws the same mask."""
    q, k, v = (_leaf(rng.standard_normal((2, 5, 3))) for _ in range(3))
    p = 0.4
    mg.manual_seed(7)
    y = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=True)
    mg.manual_seed(7)
    keep = mg.backend.keep_mask((2, 5, 5), p, np.float64)
    s = q.data @ k.data.swapaxes(-1, -2) / np.sqrt(3) + np.where(np.tril(np.ones((5, 5))), 0, -np.inf)
    w = np.exp(s - s.max(-1, keepdims=True))
    w /= w.sum(-1, keepdims=True)
    assert 0 < keep.mean() < 1
    np.testing.assert_allclose(y.data, (w * keep / (1 - p)) @ v.data, rtol=1e-12)

    def f(q, k, v):
        mg.manual_seed(7)
        return F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=True)
    assert mg.gradcheck(f, [q, k, v])


def test_sdpa_errors():
    q = mg.tensor(np.ones((2, 3, 4)))
    with pytest.raises(ValueError, match=r"\(2, 3, 4\), \(2, 3, 5\)"):
        F.scaled_dot_product_attention(q, mg.tensor(np.ones((2, 3, 5))), q)
    with pytest.raises(ValueError, match=r"attn_mask of shape \(4, 3\)"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=np.ones((4, 3), bool))
    with pytest.raises(TypeError, match="attn_mask must be boolean or of the query's dtype"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=np.ones((3, 3), np.int64))
    with pytest.raises(ValueError, match="dropout_p must be in"):
        F.scaled_dot_product_attention(q, q, q, dropout_p=1.0)


# ============================================================================ causality

def _future_changes_nothing(fn, x, T):
    """fn(x)[:, :t] is bit-identical after changing x[:, t:], for every t; and the gradient of the
    earlier outputs with respect to the later inputs is exactly zero."""
    base = fn(mg.tensor(x)).data
    for t in range(1, T):
        x2 = x.copy()
        x2[:, t:] += rng.standard_normal(x2[:, t:].shape) * 10
        np.testing.assert_array_equal(fn(mg.tensor(x2)).data[:, :t], base[:, :t])
        xm = _leaf(x)
        fn(xm)[:, :t].sum().backward()
        assert np.all(xm.grad[:, t:] == 0) and np.any(xm.grad[:, :t] != 0)


def test_causal_sdpa_lets_nothing_from_the_future_through():
    x = rng.standard_normal((2, 6, 4))
    _future_changes_nothing(lambda x: F.scaled_dot_product_attention(x, x * 2, x - 1,
                                                                      is_causal=True), x, 6)


def test_causal_self_attention_lets_nothing_from_the_future_through():
    attn = nn.CausalSelfAttention(8, 2, dtype=np.float64)
    _future_changes_nothing(attn, rng.standard_normal((3, 7, 8)), 7)


def test_no_causal_mask_does_see_the_future():
    """The check above can fail: without the mask, changing the last position changes the first."""
    x = rng.standard_normal((1, 4, 3))
    f = lambda x: F.scaled_dot_product_attention(x, x, x)  # noqa: E731
    x2 = x.copy()
    x2[:, -1] += 1
    assert not np.allclose(f(mg.tensor(x)).data[:, 0], f(mg.tensor(x2)).data[:, 0])


# ============================================================================ CausalSelfAttention

@pytest.mark.parametrize("n_embd,n_head,T,bias", [(8, 2, 5, True), (12, 3, 4, True), (6, 1, 3, False)])
def test_causal_self_attention_matches_torch_multihead_attention(n_embd, n_head, T, bias):
    """The same function as torch.nn.MultiheadAttention(batch_first=True) on (x, x, x) with a
    causal mask, with c_attn as in_proj and c_proj as out_proj."""
    torch = torch_or_skip()
    attn = nn.CausalSelfAttention(n_embd, n_head, bias=bias, dtype=np.float64)
    mha = torch.nn.MultiheadAttention(n_embd, n_head, bias=bias, batch_first=True,
                                      dtype=torch.float64)
    with torch.no_grad():
        mha.in_proj_weight.copy_(torch.tensor(attn.c_attn.weight.data))
        mha.out_proj.weight.copy_(torch.tensor(attn.c_proj.weight.data))
        if bias:
            mha.in_proj_bias.copy_(torch.tensor(attn.c_attn.bias.data))
            mha.out_proj.bias.copy_(torch.tensor(attn.c_proj.bias.data))
    x = rng.standard_normal((2, T, n_embd))
    xm, xt = _leaf(x), torch.tensor(x, requires_grad=True)
    future = torch.ones(T, T, dtype=torch.bool).triu(1)  # MultiheadAttention: True = masked
    y = attn(xm)
    ty, _ = mha(xt, xt, xt, attn_mask=future, need_weights=False, is_causal=True)
    _close(y.data, ty, "forward")
    g = rng.standard_normal(y.shape)
    y.backward(g)
    ty.backward(torch.tensor(g))
    _close(xm.grad, xt.grad, "input grad")
    _close(attn.c_attn.weight.grad, mha.in_proj_weight.grad, "in_proj grad")
    _close(attn.c_proj.weight.grad, mha.out_proj.weight.grad, "out_proj grad")
    if bias:
        _close(attn.c_attn.bias.grad, mha.in_proj_bias.grad, "in_proj bias grad")


def test_causal_self_attention_checks():
    with pytest.raises(ValueError, match=r"n_embd \(10\) must be a positive multiple of n_head \(3\)"):
        nn.CausalSelfAttention(10, 3)
    attn = nn.CausalSelfAttention(8, 2)
    with pytest.raises(ValueError, match=r"expects input \(B, T, 8\), got shape \(2, 8\)"):
        attn(mg.tensor(np.ones((2, 8), np.float32)))
    assert [n for n, _ in attn.named_parameters()] == [
        "c_attn.weight", "c_attn.bias", "c_proj.weight", "c_proj.bias"]


def test_causal_self_attention_gradcheck():
    attn = nn.CausalSelfAttention(4, 2, dtype=np.float64)
    x = _leaf(rng.standard_normal((2, 3, 4)))
    assert mg.gradcheck(lambda x, w: attn(x), [x, attn.c_attn.weight])


# ============================================================================ ModuleList

def test_module_list_names_like_torch():
    torch = torch_or_skip()
    ml = nn.ModuleList([nn.Linear(2, 3), nn.LayerNorm(3)])
    ml.append(nn.Linear(3, 1))
    tml = torch.nn.ModuleList([torch.nn.Linear(2, 3), torch.nn.LayerNorm(3)])
    tml.append(torch.nn.Linear(3, 1))
    assert [n for n, _ in ml.named_parameters()] == [n for n, _ in tml.named_parameters()]
    assert list(ml.state_dict()) == list(tml.state_dict())
    assert len(ml) == 3 and isinstance(ml[-1], nn.Linear) and len(ml[1:]) == 2
    assert [type(m) for m in ml] == [nn.Linear, nn.LayerNorm, nn.Linear]


def test_module_list_edits_and_errors():
    a, b, c = nn.Linear(1, 1), nn.Linear(1, 1), nn.ReLU()
    ml = nn.ModuleList()
    ml.extend([a, b])
    ml.insert(1, c)
    assert list(ml) == [a, c, b]
    ml[1] = nn.Tanh()
    assert isinstance(ml[1], nn.Tanh)
    with pytest.raises(TypeError, match="ModuleList holds Modules, got int"):
        ml.extend([nn.ReLU(), 3])
    assert len(ml) == 3  # the failed extend added nothing
    with pytest.raises(TypeError, match="got Parameter"):
        ml.append(a.weight)
    parent = nn.Module()
    parent.blocks = ml
    assert [n for n, _ in parent.named_parameters()] == [
        "blocks.0.weight", "blocks.0.bias", "blocks.2.weight", "blocks.2.bias"]
    ml.eval()
    assert not a.training


# ============================================================================ GPT and its task

def _torch_gpt(torch, model, idx):
    """The GPT's forward written out in torch from the model's own arrays (float64): the check
    that the blocks are wired as documented (pre-LN, residuals, positions, causal heads)."""
    TF = torch.nn.functional
    P = {k: torch.tensor(v, requires_grad=True) for k, v in model.state_dict().items()}
    H = model.h[0].attn.n_head
    idx = torch.tensor(idx)
    B, T = idx.shape
    x = P["wte.weight"][idx] + P["wpe.weight"][:T]
    C = x.shape[-1]
    for i in range(len(model.h)):
        p = lambda name: P[f"h.{i}.{name}"]  # noqa: E731
        h = TF.layer_norm(x, (C,), p("ln_1.weight"), p("ln_1.bias"))
        q, k, v = TF.linear(h, p("attn.c_attn.weight"), p("attn.c_attn.bias")).split(C, dim=2)
        q, k, v = (a.view(B, T, H, C // H).transpose(1, 2) for a in (q, k, v))
        y = TF.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(B, T, C)
        x = x + TF.linear(y, p("attn.c_proj.weight"), p("attn.c_proj.bias"))
        h = TF.layer_norm(x, (C,), p("ln_2.weight"), p("ln_2.bias"))
        h = TF.gelu(TF.linear(h, p("mlp.c_fc.weight"), p("mlp.c_fc.bias")), approximate="tanh")
        x = x + TF.linear(h, p("mlp.c_proj.weight"), p("mlp.c_proj.bias"))
    x = TF.layer_norm(x, (C,), P["ln_f.weight"], P["ln_f.bias"])
    head = P["wte.weight"] if "lm_head.weight" not in P else P["lm_head.weight"]
    return x @ head.T, P


@pytest.mark.parametrize("tie_weights", [False, True])
def test_gpt_matches_torch(tie_weights):
    torch = torch_or_skip()
    from models.gpt import GPT
    model = GPT(block_size=8, n_layer=2, n_head=2, n_embd=8, tie_weights=tie_weights,
                dtype=np.float64)
    idx = rng.integers(0, 27, (3, 6))
    logits = model(idx)
    tlogits, P = _torch_gpt(torch, model, idx)
    _close(logits.data, tlogits, "logits")
    g = rng.standard_normal(logits.shape)
    logits.backward(g)
    tlogits.backward(torch.tensor(g))
    for name, p in model.named_parameters():
        _close(p.grad, P[name].grad, f"grad of {name}")
    assert (model.lm_head.weight is model.wte.weight) == tie_weights


def test_gpt_init_shapes_and_causality():
    from models.gpt import GPT
    model = GPT(block_size=6, n_layer=3, n_head=2, n_embd=8, dtype=np.float64)
    # torch's default initialisation, layer by layer
    np.testing.assert_allclose(model.wte.weight.data.std(), 1.0, rtol=0.3)
    assert np.abs(model.h[2].mlp.c_proj.weight.data).max() <= 1 / np.sqrt(32)
    assert np.all(model.h[0].ln_1.weight.data == 1) and np.all(model.ln_f.bias.data == 0)
    assert model.lm_head.bias is None
    idx = rng.integers(0, 27, (4, 6))
    base = model(idx).data
    assert base.shape == (4, 6, 27)
    for t in range(1, 6):  # a different future leaves every earlier position's logits as they were
        idx2 = idx.copy()
        idx2[:, t:] = (idx2[:, t:] + 1 + rng.integers(0, 25, idx2[:, t:].shape)) % 27
        np.testing.assert_array_equal(model(idx2).data[:, :t], base[:, :t])
        assert not np.allclose(model(idx2).data[:, t:], base[:, t:])
    with pytest.raises(ValueError, match=r"1 <= T <= block_size \(6\), got shape \(2, 7\)"):
        model(np.zeros((2, 7), np.int64))


def test_gpt_samples_names():
    from models.gpt import GPT
    model = GPT(block_size=16, n_layer=1, n_head=2, n_embd=8)
    names = model.sample(20, seed=3)
    assert len(names) == 20 and names == model.sample(20, seed=3)
    assert all(set(n) <= set("abcdefghijklmnopqrstuvwxyz") and len(n) <= 15 for n in names)
    assert model.training  # sampling restores the mode


def test_names_gpt_task_data_split_and_groups():
    from models.names import build_dataset, load_names, split
    from models.tasks import make_task
    task = make_task("names-gpt")
    X, Y, lengths = task.val
    _, val_w, _ = split(load_names("surnames"), seed=42)
    # the same targets as the names task's validation set, name by name
    assert lengths.sum() == len(build_dataset(val_w, 5)[1])
    np.testing.assert_array_equal(Y[Y != -100], build_dataset(val_w, 5)[1])
    np.testing.assert_array_equal(X[:, 1:][Y[:, :-1] != -100], Y[:, :-1][Y[:, :-1] != -100])
    assert np.all(X[:, 0] == 0)
    x, y = task.batch(np.random.default_rng(0), 8)
    assert x.shape == y.shape and x.shape[1] == (y != -100).sum(1).max()
    model = task.build(0)
    decay, keep = task.optimizer_params(model)
    names = {id(p): n for n, p in model.named_parameters()}
    assert decay["weight_decay"] == task.weight_decay and keep["weight_decay"] == 0.0
    assert all(names[id(p)].endswith("weight") and p.ndim == 2 for p in decay["params"])
    assert {names[id(p)] for p in keep["params"]} >= {"ln_f.weight", "h.0.ln_1.bias",
                                                      "h.1.attn.c_attn.bias"}
    with pytest.raises(ValueError, match="block_size 4 holds at most 3"):
        task.encode(["abcd"], 4)


def test_names_gpt_trains_from_the_command_line(tmp_path, capsys, monkeypatch):
    from models.cli import main
    from models.tasks import NamesGPTTask
    for attr, value in (("n_layer", 1), ("n_head", 2), ("n_embd", 16)):  # a small one, for speed
        monkeypatch.setattr(NamesGPTTask, attr, value)
    assert main(["train", "--task", "names-gpt", "--steps", "40", "--quiet",
                 "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "names-gpt: adamw lr 0.003, warmup-cosine schedule, 40 steps of 64" in out
    val = float(out.split("val_loss ")[1].split()[0].rstrip(","))
    assert val < 3.0  # from log(27) = 3.30 at the start
    assert "samples: " in out
    # the optimizer had the two groups: decayed matrices, and the undecayed norms and biases
    from models.checkpoint import NAME, load
    groups = load(str(tmp_path / NAME))["optimizer"]["param_groups"]
    assert [g["weight_decay"] for g in groups] == [0.1, 0.0]
    assert len(groups[1]["params"]) == 2 + 8  # ln_f; in the block 2 LayerNorms (2 each), 4 biases
