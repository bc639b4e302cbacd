"""Row-sparse embedding gradients and the lazy optimizers that use them."""
import pickle

import numpy as np
import pytest

import minigrad as mg
import minigrad.nn as nn
import minigrad.nn.functional as F
import optim
from minigrad.sparse import RowSparseGrad
from conftest import to_np, torch_or_skip

V, D = 12, 3


def batches(steps, seed=0, k=5, vocab=V):
    rng = np.random.default_rng(seed)
    return [(rng.integers(0, vocab, k), rng.standard_normal((k, D))) for _ in range(steps)]


def sparse_grad(idx, gy, padding_idx=None, shape=(V, D)):
    W = mg.nn.Parameter(np.zeros(shape))
    (F.embedding(idx, W, padding_idx=padding_idx, sparse=True) * mg.tensor(gy)).sum().backward()
    return W.grad


# ============================================================================ the gradient

def test_embedding_sparse_gradient_matches_torch():
    torch = torch_or_skip()
    idx = np.array([[3, 0, 3], [7, 3, 0]])
    w = np.random.default_rng(0).standard_normal((V, D))
    gy = np.random.default_rng(1).standard_normal((2, 3, D))
    ours = nn.Embedding(V, D, padding_idx=0, sparse=True, dtype=np.float64)
    ours.weight.data[:] = w
    (ours(idx) * mg.tensor(gy)).sum().backward()
    theirs = torch.nn.Embedding(V, D, padding_idx=0, sparse=True, dtype=torch.float64)
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor(w))
    (theirs(torch.tensor(idx)) * torch.tensor(gy)).sum().backward()
    tg = theirs.weight.grad.coalesce()
    keep = tg.indices()[0].numpy() != 0  # torch keeps a zero row for padding_idx; ours drops it
    np.testing.assert_array_equal(ours.weight.grad.indices, tg.indices()[0].numpy()[keep])
    np.testing.assert_allclose(ours.weight.grad.values, tg.values().numpy()[keep], rtol=1e-12)
    np.testing.assert_allclose(ours.weight.grad.to_dense(), tg.to_dense().numpy(), rtol=1e-12)


def test_repeated_indices_sum_and_padding_never_appears():
    g = sparse_grad(np.array([4, 4, 2, 9, 4]), np.ones((5, D)), padding_idx=9)
    assert isinstance(g, mg.RowSparseGrad) and g.shape == (V, D)
    np.testing.assert_array_equal(g.indices, [2, 4])
    np.testing.assert_array_equal(g.values[:, 0], [1, 3])


def test_two_backward_calls_merge_rows():
    W = mg.nn.Parameter(np.zeros((V, D)))
    (F.embedding(np.array([1, 5]), W, sparse=True)).sum().backward()
    (F.embedding(np.array([5, 7]), W, sparse=True) * 2).sum().backward()
    np.testing.assert_array_equal(W.grad.indices, [1, 5, 7])
    np.testing.assert_array_equal(W.grad.values[:, 0], [1, 3, 2])


def test_sparse_plus_dense_is_dense():
    W = mg.nn.Parameter(np.ones((V, D)))
    y = F.embedding(np.array([2]), W, sparse=True).sum() + (W * 3).sum()  # tied weight, used densely too
    y.backward()
    assert isinstance(W.grad, np.ndarray)
    expected = np.full((V, D), 3.0)
    expected[2] += 1
    np.testing.assert_array_equal(W.grad, expected)


# ============================================================================ lazy optimizers

LAZY = [("SGD", dict(lr=0.1)), ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
        ("Adagrad", dict(lr=0.1, lr_decay=0.01)), ("RMSprop", dict(centered=True, momentum=0.5)),
        ("Adam", dict(lr=0.01)), ("Adam", dict(lr=0.01, amsgrad=True, weight_decay=0.1)),
        ("AdamW", dict(lr=0.01, weight_decay=0.1)), ("AdaBelief", dict(lr=0.01)),
        ("Lion", dict(lr=1e-3, weight_decay=0.1)), ("Yogi", dict(lr=0.01)), ("Adadelta", {}),
        ("Adamax", {}), ("NAdam", {}), ("RAdam", {})]


@pytest.mark.parametrize("name,kw", LAZY, ids=[f"{n}-{i}" for i, (n, _) in enumerate(LAZY)])
def test_lazy_update_is_the_dense_update_restricted_to_touched_rows(name, kw):
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal((V, D))
    lazy_p, ref_p = mg.nn.Parameter(w0.copy()), mg.nn.Parameter(w0.copy())
    lazy, ref = getattr(optim, name)([lazy_p], **kw), getattr(optim, name)([ref_p], fused=False, **kw) \
        if name in ("Adam", "AdamW", "Adagrad", "RMSprop") else getattr(optim, name)([ref_p], **kw)
    for idx, gy in batches(25):
        lazy_p.grad = sparse_grad(idx, gy)
        ref_p.grad = lazy_p.grad.to_dense()
        touched = np.zeros(V, bool)
        touched[lazy_p.grad.indices] = True
        before = (ref_p.data.copy(), {k: v.copy() for k, v in ref.state.get(ref_p, {}).items()
                                       if isinstance(v, np.ndarray)})
        lazy.step()
        ref.step()
        # the reference: the dense update, with untouched rows of θ and state put back
        ref_p.data[~touched] = before[0][~touched]
        for k, v in ref.state[ref_p].items():
            if isinstance(v, np.ndarray) and v.shape == ref_p.shape:
                v[~touched] = before[1][k][~touched] if k in before[1] else 0
        np.testing.assert_allclose(lazy_p.data, ref_p.data, rtol=1e-12, atol=1e-14)
        for k, v in ref.state[ref_p].items():
            if isinstance(v, np.ndarray):
                np.testing.assert_allclose(lazy.state[lazy_p][k], v, rtol=1e-12, atol=1e-14)
            else:
                assert lazy.state[lazy_p][k] == v


@pytest.mark.parametrize("name,kw", [("SGD", dict(lr=0.1)), ("Adagrad", dict(lr=0.1, lr_decay=0.01))])
def test_sgd_and_adagrad_equal_their_dense_update_exactly(name, kw):
    w0 = np.random.default_rng(0).standard_normal((V, D))
    a, b = mg.nn.Parameter(w0.copy()), mg.nn.Parameter(w0.copy())
    oa, ob = getattr(optim, name)([a], **kw), getattr(optim, name)([b], **kw)
    for idx, gy in batches(30):
        a.grad = sparse_grad(idx, gy)
        b.grad = a.grad.to_dense()
        oa.step()
        ob.step()
    np.testing.assert_array_equal(a.data, b.data)


def test_untouched_rows_keep_stale_moments():
    p = mg.nn.Parameter(np.zeros((V, D)))
    opt = optim.Adam([p], lr=0.1)
    p.grad = sparse_grad(np.array([1]), np.ones((1, D)))
    opt.step()
    m1 = opt.state[p]["exp_avg"][1].copy()
    p.grad = sparse_grad(np.array([2]), np.ones((1, D)))
    opt.step()
    np.testing.assert_array_equal(opt.state[p]["exp_avg"][1], m1)  # row 1 not decayed
    assert opt.state[p]["step"] == 2 and (opt.state[p]["exp_avg"][3] == 0).all()


@pytest.mark.parametrize("name", ["LAMB", "Adafactor", "Rprop"])
def test_non_lazy_optimizers_raise_naming_an_alternative_and_change_nothing(name):
    emb, lin = nn.Embedding(V, D, sparse=True, dtype=np.float64), nn.Linear(D, 2, dtype=np.float64)
    opt = getattr(optim, name)(emb.parameters() + lin.parameters())
    lin(emb(np.array([1, 2]))).sum().backward()
    before = [p.data.copy() for p in emb.parameters() + lin.parameters()]
    with pytest.raises(TypeError, match="does not support sparse gradients.*Adam"):
        opt.step()
    for p, b in zip(emb.parameters() + lin.parameters(), before):
        np.testing.assert_array_equal(p.data, b)
    assert not opt.state


@pytest.mark.parametrize("indices, values_shape, error, match", [
    ([1, V], (2, D), IndexError, f"rows 1..{V} of a parameter with {V} rows"),
    ([-1, 2], (2, D), IndexError, "rows -1..2"),
    ([1, 2], (3, D), ValueError, "values of shape"),
    ([1.0, 2.0], (2, D), TypeError, "1-D integer array"),
])
@pytest.mark.parametrize("name", ["Adam", "SGD", "SparseAdam"])
def test_a_bad_sparse_gradient_fails_the_step_before_any_parameter_changes(
        indices, values_shape, error, match, name):
    # a big dense parameter first: its chunks would be running on the worker thread by the
    # time the sparse one is reached, if the rows were not checked up front
    big, emb = mg.nn.Parameter(np.ones(1 << 20)), mg.nn.Parameter(np.ones((V, D)))
    dense_ok = name != "SparseAdam"
    opt = getattr(optim, name)([big, emb] if dense_ok else [emb], lr=0.1)
    big.grad = np.ones(1 << 20) if dense_ok else None
    # the constructor refuses these (below): a gradient changed after it was made gets here
    emb.grad = RowSparseGrad(np.array([0, 1]), np.ones((2, D)), (V, D))
    emb.grad.indices, emb.grad.values = np.array(indices), np.ones(values_shape)
    with pytest.raises(error, match=match):
        opt.step()
    assert np.all(big.data == 1) and np.all(emb.data == 1) and not opt.state


@pytest.mark.parametrize("indices, values, shape, error, match", [
    (np.array([1, V]), np.ones((2, D)), (V, D), IndexError, f"index {V} is out of range for a table of {V} rows"),
    (np.array([-1, 2]), np.ones((2, D)), (V, D), IndexError, "index -1 is out of range"),
    (np.array([1, 2]), np.ones((3, D)), (V, D), ValueError, r"values of shape \(3, 3\) for 2 indices.*expected \(2, 3\)"),
    (np.array([1, 2]), np.ones((2, D + 1)), (V, D), ValueError, "values of shape"),
    (np.array([1.0, 2.0]), np.ones((2, D)), (V, D), TypeError, "indices must be a 1-D integer array, got float64"),
    (np.array([[1, 2]]), np.ones((2, D)), (V, D), TypeError, r"1-D integer array, got int64 of shape \(1, 2\)"),
    (np.array([True, False]), np.ones((2, D)), (V, D), TypeError, "1-D integer array, got bool"),
    ([1, 2], np.ones((2, D)), (V, D), TypeError, "indices must be a NumPy or CuPy array, got list"),
    (np.array([1, 2]), [[1.0] * D] * 2, (V, D), TypeError, "values must be a NumPy or CuPy array"),
    (np.array([1, 2]), np.ones((2, D), np.int64), (V, D), TypeError, "values must be a floating array"),
    (np.array([1, 2]), np.ones((2, D)), (), ValueError, "at least one axis"),
    (np.array([1, 2]), np.ones((2, D)), (V, -D), ValueError, "no negative size"),
    (np.array([1, 2]), np.ones((2, D)), V, TypeError, "shape must be a tuple of ints"),
])
def test_the_constructor_refuses_what_is_not_a_row_sparse_gradient(indices, values, shape, error, match):
    with pytest.raises(error, match=match):
        RowSparseGrad(indices, values, shape)


def test_the_constructor_sums_repeated_rows_and_sorts_them_as_torch_coalesce():
    idx = np.array([7, 2, 7, 0, 2, 7])
    rows = np.random.default_rng(0).standard_normal((6, D))
    g = RowSparseGrad(idx, rows, (V, D))
    np.testing.assert_array_equal(g.indices, [0, 2, 7])
    np.testing.assert_array_equal(g.values, [rows[3], rows[1] + rows[4], rows[0] + rows[2] + rows[5]])
    np.testing.assert_allclose(g.to_dense(), sparse_grad(idx, rows).to_dense(), rtol=1e-15)
    torch = torch_or_skip()
    t = torch.sparse_coo_tensor(torch.tensor(idx)[None], torch.tensor(rows), (V, D)).coalesce()
    np.testing.assert_array_equal(g.indices, t.indices()[0].numpy())
    np.testing.assert_allclose(g.values, t.values().numpy(), rtol=1e-15)


def test_a_coalesced_gradient_is_kept_as_given():
    idx, rows = np.array([1, 4, 9]), np.ones((3, D))
    g = RowSparseGrad(idx, rows, [V, D])
    assert g.indices is idx and g.values is rows and g.shape == (V, D)
    empty = RowSparseGrad(np.zeros(0, np.int64), np.zeros((0, D)), (V, D))
    assert empty.indices.shape == (0,) and not empty.to_dense().any()


def _sparse_optimizers():
    """Every optimizer in optim that takes a RowSparseGrad, with LAZY's options for it."""
    takes_sparse = [name for name in optim.__all__ if isinstance(getattr(optim, name), type)
                    and issubclass(getattr(optim, name), optim.Optimizer)
                    and (getattr(optim, name).lazy_sparse or name == "SparseAdam")]
    return [(name, kw) for name in sorted(takes_sparse)
            for kw in [kw for n, kw in LAZY if n == name] + [{}] * (name not in dict(LAZY))]


SPARSE_OPTIMIZERS = _sparse_optimizers() + [("SGD", dict(lr=0.1, momentum=0.9))]


def _dense_step_is_the_sparse_step(name, kw):
    """Where a zero gradient moves nothing (no momentum, no decay), the dense step on the
    dense gradient is the sparse step, exactly."""
    return name in ("SGD", "Adagrad") and not kw.get("momentum") and not kw.get("weight_decay")


@pytest.mark.parametrize("name,kw", SPARSE_OPTIMIZERS,
                         ids=[f"{n}-{i}" for i, (n, _) in enumerate(SPARSE_OPTIMIZERS)])
def test_repeated_rows_step_as_their_sum_for_every_sparse_optimizer(name, kw):
    rng = np.random.default_rng(1)
    w0 = rng.standard_normal((V, D))
    repeated, coalesced, dense = (mg.nn.Parameter(w0.copy()) for _ in range(3))
    opt_r, opt_c, opt_d = (getattr(optim, name)([p], **kw) for p in (repeated, coalesced, dense))
    for _ in range(4):
        idx = rng.integers(0, 4, 9)  # 9 lookups of 4 rows: every step repeats rows
        rows = rng.standard_normal((9, D))
        repeated.grad = RowSparseGrad(idx, rows, (V, D))
        coalesced.grad = sparse_grad(idx, rows)  # Embedding's own, summed as it is made
        dense.grad = coalesced.grad.to_dense()
        opt_r.step()
        opt_c.step()
        np.testing.assert_array_equal(repeated.data, coalesced.data)
        for k, v in opt_c.state[coalesced].items():
            np.testing.assert_array_equal(opt_r.state[repeated][k], v, err_msg=k)
        if _dense_step_is_the_sparse_step(name, kw):
            opt_d.step()
            np.testing.assert_array_equal(repeated.data, dense.data)


def test_every_optimizer_that_takes_sparse_gradients_is_in_the_table():
    assert {"SGD", "Adagrad", "RMSprop", "Adam", "AdamW", "SparseAdam", "ASGD"} \
        <= {name for name, _ in SPARSE_OPTIMIZERS}


def test_clipping_sees_repeated_rows_summed():
    idx, rows = np.array([3, 3, 5]), np.array([[1.0, 2, 2], [1, 2, 2], [0, 0, 1]])
    g = RowSparseGrad(idx, rows, (V, D))
    np.testing.assert_array_equal(g.values, [[2, 4, 4], [0, 0, 1]])
    p = mg.nn.Parameter(np.zeros((V, D)))
    p.grad = g
    assert optim.clip_grad_norm_([p], 100.0) == pytest.approx(np.sqrt(4 + 16 + 16 + 1))


def test_sparse_adam_rejects_dense_gradients():
    p = mg.nn.Parameter(np.zeros((V, D)))
    p.grad = np.ones((V, D))
    with pytest.raises(TypeError, match="SparseAdam does not support dense gradients"):
        optim.SparseAdam([p]).step()


# ============================================================================ against PyTorch

@pytest.mark.parametrize("name,kw", [("SGD", dict(lr=0.1)), ("Adagrad", dict(lr=0.1, lr_decay=0.01)),
                                     ("SparseAdam", dict(lr=0.01)), ("SparseAdam", dict(lr=0.02, betas=(0.8, 0.9), eps=1e-6))])
def test_sparse_trajectories_match_torch(name, kw):
    torch = torch_or_skip()
    w0 = np.random.default_rng(0).standard_normal((V, D))
    ours = nn.Embedding(V, D, padding_idx=0, sparse=True, dtype=np.float64)
    ours.weight.data[:] = w0
    theirs = torch.nn.Embedding(V, D, padding_idx=0, sparse=True, dtype=torch.float64)
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor(w0))
    o, t = getattr(optim, name)(ours.parameters(), **kw), getattr(torch.optim, name)(list(theirs.parameters()), **kw)
    for idx, gy in batches(60, k=8):
        o.zero_grad()
        t.zero_grad()
        (ours(idx) * mg.tensor(gy)).sum().backward()
        (theirs(torch.tensor(idx)) * torch.tensor(gy)).sum().backward()
        o.step()
        t.step()
        np.testing.assert_allclose(ours.weight.data, theirs.weight.detach().numpy(), rtol=1e-10, atol=1e-12)


# ============================================================================ clipping, mixing, saving

def test_clipping_a_sparse_gradient_equals_clipping_its_dense_form():
    g = sparse_grad(np.array([1, 3, 3, 8]), np.random.default_rng(0).standard_normal((4, D)) * 5)
    a, b = mg.nn.Parameter(np.zeros((V, D))), mg.nn.Parameter(np.zeros((V, D)))
    dense = mg.nn.Parameter(np.zeros(2))
    dense.grad = np.array([3.0, -4.0])
    a.grad, b.grad = g, g.to_dense()
    dense2 = mg.nn.Parameter(np.zeros(2))
    dense2.grad = dense.grad.copy()
    assert optim.clip_grad_norm_([a, dense], 1.0) == pytest.approx(optim.clip_grad_norm_([b, dense2], 1.0), rel=1e-12)
    np.testing.assert_allclose(a.grad.to_dense(), b.grad, rtol=1e-12)
    optim.clip_grad_value_([a], 0.01)
    assert np.abs(a.grad.values).max() <= 0.01


@pytest.mark.parametrize("name", ["Adam", "Adagrad", "SGD"])
def test_mixed_model_trains_and_resumes_bit_for_bit(name):
    def make():
        mg.manual_seed(0)
        emb, lin = nn.Embedding(50, 8, sparse=True, dtype=np.float64), nn.Linear(8, 3, dtype=np.float64)
        return emb, lin, getattr(optim, name)(emb.parameters() + lin.parameters(), lr=0.05, **(
            {"momentum": 0.9} if name == "SGD" else {}))
    rng = np.random.default_rng(0)
    xs = [rng.integers(0, 50, (16, 4)) for _ in range(40)]
    data = [(x, x[:, 0] % 3) for x in xs]  # learnable: the class of the first token

    def run(emb, lin, opt, part):
        losses = []
        for x, y in part:
            loss = F.cross_entropy(lin(emb(x).mean(axis=1)), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        return losses
    emb, lin, opt = make()
    losses = run(emb, lin, opt, data)
    assert np.mean(losses[-5:]) < np.mean(losses[:5])
    emb2, lin2, opt2 = make()
    run(emb2, lin2, opt2, data[:20])
    saved = pickle.loads(pickle.dumps((opt2.state_dict(), emb2.state_dict(), lin2.state_dict())))
    emb3, lin3, opt3 = make()
    opt3.load_state_dict(saved[0])
    emb3.load_state_dict(saved[1])
    lin3.load_state_dict(saved[2])
    run(emb3, lin3, opt3, data[20:])
    np.testing.assert_array_equal(emb3.weight.data, emb.weight.data)
    np.testing.assert_array_equal(lin3.weight.data, lin.weight.data)


def test_sparse_on_device(device):
    emb = nn.Embedding(V, D, sparse=True, dtype=np.float64).to(device)
    opt = optim.Adam(emb.parameters(), lr=0.1)
    idx = mg.backend.to_device(np.array([1, 2, 1]), device)
    emb(idx).sum().backward()
    assert emb.weight.grad.device.startswith(device)
    opt.step()
    np.testing.assert_array_equal(to_np(emb.weight.grad.indices), [1, 2])


LAZY_ON_DEVICE = LAZY + [("ASGD", dict(t0=3, lambd=0.1)), ("SparseAdam", dict(lr=0.01))]


@pytest.mark.parametrize("name,kw", LAZY_ON_DEVICE,
                         ids=[f"{n}-{i}" for i, (n, _) in enumerate(LAZY_ON_DEVICE)])
def test_sparse_training_on_the_device_follows_the_cpu(name, kw, device):
    """Embedding(sparse=True) with a padding row, repeated indices and two backward calls a
    step (rows merged on the device): each RowSparseGrad (its rows exactly, their sums) and
    each lazy step (θ and every state entry) are the CPU run's."""
    def setup(dev):
        mg.manual_seed(0)
        emb = nn.Embedding(V, D, padding_idx=0, sparse=True, dtype=np.float64).to(dev)
        return emb, getattr(optim, name)(emb.parameters(), **kw)
    runs = [setup("cpu"), setup(device)]
    tol = dict(rtol=0, atol=0) if device == "cpu" else dict(rtol=1e-12, atol=1e-14)
    data = batches(12, seed=3, k=6)
    for step in range(6):
        for emb, opt in runs:
            dev = emb.weight.device
            opt.zero_grad()
            for idx, gy in data[2 * step: 2 * step + 2]:  # two lookups: the rows merge
                (emb(mg.backend.to_device(idx, dev)) * mg.tensor(gy, device=dev)).sum().backward()
        (cpu, cpu_opt), (emb, opt) = runs
        g, ref = emb.weight.grad, cpu.weight.grad
        assert isinstance(g, RowSparseGrad) and g.device.startswith(device)
        np.testing.assert_array_equal(to_np(g.indices), ref.indices)
        assert 0 not in ref.indices  # the padding row never appears
        np.testing.assert_allclose(to_np(g.values), ref.values, **tol)
        cpu_opt.step()
        opt.step()
        np.testing.assert_allclose(to_np(emb.weight.data), cpu.weight.data, **tol)
        state, ref_state = opt.state[emb.weight], cpu_opt.state[cpu.weight]
        assert state.keys() == ref_state.keys()
        for k, v in ref_state.items():
            if isinstance(v, np.ndarray):
                assert mg.backend.device_of(state[k]).startswith(device), k
                np.testing.assert_allclose(to_np(state[k]), v, err_msg=k, **tol)
            else:
                assert type(state[k]) is type(v) and state[k] == v, (k, state[k], v)


# ============================================================================ RowSparseGrad's shape, and its indices written after it

@pytest.mark.parametrize("shape", [(4.7, 2), "42", (True, 2), (4, 2.0), 4])
def test_row_sparse_shape_must_be_integers(shape):
    """(4.7, 2) was cut to (4, 2), the string "42" read as (4, 2), True as 1."""
    with pytest.raises(TypeError, match="RowSparseGrad: shape must be a tuple of ints"):
        RowSparseGrad(np.array([0, 1]), np.ones((2, 2)), shape)


def test_row_sparse_shape_takes_numpy_integers():
    g = RowSparseGrad(np.array([0, 1]), np.ones((2, 2)), (np.int64(4), np.int32(2)))
    assert g.shape == (4, 2) and all(type(n) is int for n in g.shape)


@pytest.mark.parametrize("name", ["SGD", "Adam", "Adagrad", "RMSprop", "SparseAdam", "Lion"])
def test_indices_repeated_after_the_gradient_was_made_are_refused(name):
    """The indices array is kept as given; written afterwards to repeat a row, SGD applied the
    row once and the accumulating rules summed it (issue 19, item 6, by another door)."""
    first, p = mg.nn.Parameter(np.zeros((4, 2))), mg.nn.Parameter(np.zeros((4, 2)))
    opt = getattr(optim, name)([first, p], lr=0.1)
    idx = np.array([0, 1, 2])
    first.grad = RowSparseGrad(np.array([0]), np.ones((1, 2)), (4, 2))
    p.grad = RowSparseGrad(idx, np.ones((3, 2)), (4, 2))
    idx[:] = [2, 2, 2]
    with pytest.raises(ValueError, match=f"{name}: a sparse gradient's indices repeat a row"):
        opt.step()
    assert not first.data.any() and not p.data.any() and not opt.state
