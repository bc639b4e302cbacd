"""AdaHessian, Sophia and SophiaG against their references, in float64, fed the same estimates.

AdaHessian and Sophia against pytorch_optimizer's AdaHessian and SophiaH, which take external
Hessian estimates (step(hessian=[...])); SophiaG against the authors' SophiaG (sophia-opt),
whose estimate goes through update_hessian() from the gradients of a sampled-label loss: both
are handed the same gradients there. Each row runs 30 steps over two param groups, a
convolution-shaped parameter among them, estimates given on the steps update_period makes due.
Then: the estimate made here from `backward(create_graph=True)` is torch's z ⊙ (Hz) for the same
z; a gradient without a graph, a sparse gradient and a bad `hessian` are refused by name, before
anything is written; a state_dict taken mid-run resumes bit for bit; and SophiaG in the
authors' loop, its estimates from labels sampled from the model's softmax, against the reference.
"""
import inspect

import numpy as np
import pytest

import minigrad as mg
import optim
from optim.hutchinson import draw, hutchinson, spatial_average

from conftest import torch_or_skip

SHAPES = [(4, 3), (3,), (2, 3, 2, 2)]
STEPS = 30
ADAHESSIAN_ROWS = [dict(), dict(lr=0.01, betas=(0.8, 0.99)), dict(weight_decay=0.1),
                   dict(weight_decay=0.1, fixed_decay=True),
                   dict(weight_decay=0.1, weight_decouple=False), dict(hessian_power=0.5),
                   dict(update_period=3), dict(eps=1e-4, maximize=True),
                   dict(lr=0.05, hessian_power=0.7, update_period=2, weight_decay=0.01)]
SOPHIA_ROWS = [dict(), dict(p=1.0), dict(p=1.0, update_period=1), dict(weight_decay=0.1),
               dict(weight_decay=0.1, fixed_decay=True, p=0.5),
               dict(weight_decay=0.1, weight_decouple=False, p=1.0), dict(eps=0.3, p=2.0),
               dict(maximize=True, p=1.0, update_period=3), dict(betas=(0.9, 0.95), p=0.2)]
SOPHIAG_ROWS = [dict(bs=8), dict(), dict(bs=8, rho=0.1), dict(bs=8, weight_decay=0.0),
                dict(bs=8, betas=(0.9, 0.95)), dict(bs=8, maximize=True), dict(bs=2, lr=1e-2)]


def reference(kind):
    """(our class, the reference's class)."""
    torch_or_skip()
    if kind == "SophiaG":
        sophia_opt = pytest.importorskip("sophia_opt", reason="sophia-opt is not installed")
        return optim.SophiaG, sophia_opt.SophiaG
    po = pytest.importorskip("pytorch_optimizer", reason="pytorch_optimizer is not installed")
    return (optim.AdaHessian, po.AdaHessian) if kind == "AdaHessian" else (optim.Sophia, po.SophiaH)


ROWS = [pytest.param(kind, kw, id=f"{kind}-{i}") for kind, rows in
        [("AdaHessian", ADAHESSIAN_ROWS), ("Sophia", SOPHIA_ROWS), ("SophiaG", SOPHIAG_ROWS)]
        for i, kw in enumerate(rows)]


@pytest.fixture
def torch64():
    torch = torch_or_skip()
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield torch
    torch.set_default_dtype(before)


def make_pair(kind, kw, torch):
    ours_cls, ref_cls = reference(kind)
    rng = np.random.default_rng(0)
    init = [rng.standard_normal(s) for s in SHAPES]
    ps = [mg.nn.Parameter(a.copy()) for a in init]
    ts = [torch.tensor(a.copy(), requires_grad=True) for a in init]
    ours = ours_cls([{"params": ps[:2]}, {"params": ps[2:]}], **kw)
    ref_kw = {k: v for k, v in kw.items() if k != "bs"}  # SophiaG's: a step() argument there
    theirs = ref_cls([{"params": ts[:2]}, {"params": ts[2:]}], **ref_kw)
    lr1 = ours.defaults["lr"] * 0.5  # the second group: half the lr
    ours.param_groups[1]["lr"] = theirs.param_groups[1]["lr"] = lr1
    return ours, theirs, ps, ts


def set_grads(ps, ts, grads, torch):
    for p, t, g in zip(ps, ts, grads):
        p.grad = g.copy()
        t.grad = torch.tensor(g.copy())  # the references write into their gradients


@pytest.mark.parametrize("kind,kw", ROWS)
def test_matches_reference_fed_the_same_estimates(kind, kw, torch64):
    torch = torch64
    ours, theirs, ps, ts = make_pair(kind, kw, torch)
    rng = np.random.default_rng(1)
    period = ours.defaults.get("update_period", 3)  # SophiaG: the loop refreshes h every 3 steps
    for step in range(STEPS):
        due = step % period == 0
        if kind == "SophiaG" and due:  # the estimate: gradients of a sampled-label loss
            set_grads(ps, ts, [rng.standard_normal(s) for s in SHAPES], torch)
            ours.update_hessian()
            theirs.update_hessian()
        set_grads(ps, ts, [rng.standard_normal(s) + 0.3 * p.data for s, p in zip(SHAPES, ps)], torch)
        if kind == "SophiaG":
            ours.step()
            theirs.step(bs=ours.defaults["bs"])
        else:  # an estimate on the due steps only, as the reference's update_period makes them
            D = [rng.standard_normal(s) * 10.0 ** rng.uniform(-2, 1) for s in SHAPES] if due else None
            ours.step(hessian=D)
            theirs.step(hessian=None if D is None else [torch.tensor(d) for d in D])
        for k, (p, t) in enumerate(zip(ps, ts)):
            np.testing.assert_allclose(p.data, t.detach().numpy(), rtol=1e-8, atol=1e-10,
                                       err_msg=f"{kind}{kw} parameter {k} after step {step + 1}")
    for p, t in zip(ps, ts):  # the moments too
        for key, value in theirs.state[t].items():
            if key in ours.state[p] and torch.is_tensor(value) and value.shape == t.shape:
                np.testing.assert_allclose(ours.state[p][key], value.numpy(), rtol=1e-8,
                                           atol=1e-10, err_msg=f"{kind}{kw} state {key}")


@pytest.mark.parametrize("kind", ["AdaHessian", "Sophia", "SophiaG"])
def test_same_arguments_in_the_same_order_with_the_same_defaults_as_the_reference(kind):
    ours_cls, ref_cls = reference(kind)
    ours = inspect.signature(ours_cls.__init__).parameters
    theirs = inspect.signature(ref_cls.__init__).parameters
    for name, param in theirs.items():
        if param.kind is inspect.Parameter.VAR_KEYWORD:
            continue
        assert name in ours, f"{kind} lacks the reference's argument {name!r}"
        assert ours[name].default == param.default, (kind, name)
    names = [n for n in theirs if theirs[n].kind is not inspect.Parameter.VAR_KEYWORD]
    assert list(ours)[:len(names)] == names


# ================================================================ the estimate made here

def model_params():
    rng = np.random.default_rng(3)
    return [mg.nn.Parameter(rng.standard_normal(s) * 0.5) for s in SHAPES]


def loss_of(W, b, K, x, lib):
    """A small loss that uses all three parameters, with cross terms between them."""
    y = lib.tanh(x @ W + b)
    return (y * y).sum() + (K * K * K).sum() * 0.1 + (K * K).sum() * (b * b).sum()


class _MG:
    tanh = staticmethod(lambda t: t.tanh())


@pytest.mark.parametrize("kind", ["AdaHessian", "Sophia"])
def test_the_estimate_from_create_graph_is_torchs_z_hz_for_the_same_z(kind, torch64):
    """Ours estimates D from backward(create_graph=True) with z drawn from minigrad's generator;
    the reference is fed torch's z ⊙ (Hz) for those same z (spatially averaged for the 4-D
    parameter, for AdaHessian): the runs agree."""
    torch = torch64
    ours_cls, ref_cls = reference(kind)
    kw = dict(num_samples=2, update_period=2, lr=0.01) | (dict(p=1.0) if kind == "Sophia" else {})
    ps = model_params()
    ts = [torch.tensor(p.data.copy(), requires_grad=True) for p in ps]
    ours, theirs = ours_cls(ps, **kw), ref_cls(ts, **kw)
    rng = np.random.default_rng(4)
    dist = ours.defaults["hessian_distribution"]
    for step in range(8):
        x = rng.standard_normal((5, 4))
        ours.zero_grad()
        loss_of(*ps, mg.tensor(x), _MG).backward(create_graph=True)
        theirs.zero_grad()
        grads = torch.autograd.grad(loss_of(*ts, torch.tensor(x), torch), ts, create_graph=True)
        D = None
        if step % 2 == 0:
            mg.manual_seed(100 + step)
            zs = [[draw(p.shape, p.dtype, p.device, dist) for p in ps] for _ in range(2)]
            D = [0.0] * 3
            for z in zs:
                Hz = torch.autograd.grad(grads, ts, [torch.tensor(a) for a in z], retain_graph=True)
                D = [d + a * h.detach().numpy() / 2 for d, a, h in zip(D, z, Hz)]
            if kind == "AdaHessian":
                D = [spatial_average(d) for d in D]
            mg.manual_seed(100 + step)
        for t, g in zip(ts, grads):
            t.grad = g.detach().clone()
        ours.step()
        theirs.step(hessian=None if D is None else [torch.tensor(d) for d in D])
        for k, (p, t) in enumerate(zip(ps, ts)):
            np.testing.assert_allclose(p.data, t.detach().numpy(), rtol=1e-8, atol=1e-10,
                                       err_msg=f"{kind} parameter {k} after step {step + 1}")


def test_rademacher_estimates_are_unbiased_for_the_diagonal():
    """The mean of many z ⊙ (Hz) is diag(H): on x·Ax/2 + Σx⁴, H = A + 12 diag(x²)."""
    rng = np.random.default_rng(5)
    A = rng.standard_normal((4, 4))
    A = A + A.T
    x = mg.nn.Parameter(rng.standard_normal(4))
    loss = (x * (mg.tensor(A) @ x)).sum() * 0.5 + (x * x * x * x).sum()
    loss.backward(create_graph=True)
    D = hutchinson([x], 4000, "rademacher")[0]
    np.testing.assert_allclose(D, np.diag(A) + 12 * x.data ** 2, rtol=0.05, atol=0.05)


# ================================================================ refusals

@pytest.mark.parametrize("cls", [optim.AdaHessian, optim.Sophia])
def test_a_gradient_without_a_graph_is_refused_naming_create_graph(cls):
    ps = model_params()
    opt = cls(ps, update_period=1)
    loss_of(*ps, mg.tensor(np.ones((2, 4))), _MG).backward()
    before = [p.data.copy() for p in ps]
    with pytest.raises(RuntimeError, match=r"parameter 0 \(shape \(4, 3\)\).*"
                                           r"loss\.backward\(create_graph=True\)"):
        opt.step()
    assert all(np.array_equal(p.data, b) for p, b in zip(ps, before)) and not opt.state


@pytest.mark.parametrize("cls", [optim.AdaHessian, optim.Sophia])
def test_a_gradient_that_depends_on_no_parameter_is_refused_not_thrown_to_1e15(cls):
    """A loss linear in w: H = 0, so D = 0 and AdaHessian's lr m/(0 + 1e-16) would send w to -3e15
    (found by a hostile review); the references raise here too."""
    w = mg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    opt = cls([w], update_period=1)
    (3 * w).sum().backward(create_graph=True)
    with pytest.raises(RuntimeError, match=r"parameter 0 \(shape \(2,\)\).*depends on no parameter"):
        opt.step()
    assert np.array_equal(w.data, [1.0, 2.0]) and not opt.state


@pytest.mark.parametrize("cls", [optim.AdaHessian, optim.Sophia, optim.SophiaG])
def test_sparse_gradients_are_refused(cls):
    emb = mg.nn.Embedding(5, 3, sparse=True)
    emb(np.array([1, 2])).sum().backward()
    with pytest.raises(TypeError, match=f"{cls.__name__} does not support sparse gradients"):
        cls(emb.parameters()).step(**({} if cls is optim.SophiaG else {"hessian": [np.ones((5, 3))]}))
    if cls is optim.SophiaG:
        with pytest.raises(TypeError, match="does not support sparse gradients"):
            cls(emb.parameters()).update_hessian()


@pytest.mark.parametrize("hessian,error,match", [
    ([np.ones((4, 3))], ValueError, "1 entries for 3 parameters"),
    ([np.ones((4, 3)), np.ones(4), np.ones((2, 3, 2, 2))], ValueError, r"hessian\[1\] has shape \(4,\)"),
    ([np.ones((4, 3)), np.ones(3, dtype=int), np.ones((2, 3, 2, 2))], TypeError, "dtype int"),
    (np.ones((4, 3)), TypeError, "a single array"),
    ([np.ones((4, 3)), "x", np.ones((2, 3, 2, 2))], TypeError, r"hessian\[1\] is a str")])
def test_a_bad_hessian_argument_is_refused_before_anything_is_written(hessian, error, match):
    ps = model_params()
    for p in ps:
        p.grad = np.ones(p.shape)
    opt = optim.AdaHessian(ps)
    with pytest.raises(error, match=match):
        opt.step(hessian=hessian)
    assert not opt.state


def test_a_hessian_for_every_parameter_as_the_reference_takes_it_works_too():
    ps = model_params()
    for p in ps[::2]:
        p.grad = np.ones(p.shape)
    opt = optim.AdaHessian(ps)
    opt.step(hessian=[np.full(p.shape, 2.0) for p in ps])  # one per parameter, gradient or not
    assert set(opt.state) == {ps[0], ps[2]} and (opt.state[ps[0]]["hessian"] == 2).all()


# ================================================================ state_dict

@pytest.mark.parametrize("cls,kw", [(optim.AdaHessian, dict(update_period=2, lr=0.01)),
                                    (optim.Sophia, dict(update_period=3, p=1.0))])
def test_a_state_dict_taken_mid_run_resumes_bit_for_bit(cls, kw):
    def run(opt, ps, steps, seed):
        rng = np.random.default_rng(seed)
        for _ in range(steps):
            opt.zero_grad()
            loss_of(*ps, mg.tensor(rng.standard_normal((5, 4))), _MG).backward(create_graph=True)
            opt.step()

    ps = model_params()
    opt = cls(ps, **kw)
    run(opt, ps, 5, 0)
    saved, params_then, rng_then = opt.state_dict(), [p.data.copy() for p in ps], mg.backend.get_rng_state()
    run(opt, ps, 5, 1)
    qs = [mg.nn.Parameter(a.copy()) for a in params_then]
    other = cls(qs, **kw)
    other.load_state_dict(saved)
    mg.backend.set_rng_state(rng_then)
    run(other, qs, 5, 1)
    for p, q in zip(ps, qs):
        np.testing.assert_array_equal(p.data, q.data)
    last_estimate = 1 + (5 - 1) // kw["update_period"] * kw["update_period"]  # of steps 1..5
    assert saved["state"][0]["hessian_step"] == last_estimate and "hessian" in saved["state"][0]


def test_sophiag_update_hessian_averages_squared_gradients_and_moves_nothing():
    p = mg.nn.Parameter(np.ones(3))
    opt = optim.SophiaG([p], betas=(0.9, 0.5))
    p.grad = np.array([1.0, 2.0, -3.0])
    opt.update_hessian()
    np.testing.assert_array_equal(opt.state[p]["hessian"], 0.5 * p.grad ** 2)
    assert opt.state[p]["step"] == 0 and (p.data == 1).all()


def test_sophiag_with_gauss_newton_bartlett_estimates_from_sampled_labels(torch64):
    """The authors' loop end to end, ours in minigrad and the reference in torch: softmax
    regression; every 3rd step the loss on labels sampled from the model's own softmax is
    backpropagated and update_hessian() takes its squared gradient; then a step on the data's
    labels. The same labels for both (drawn once from the model's probabilities)."""
    torch = torch64
    ours_cls, ref_cls = reference("SophiaG")
    F = mg.nn.functional
    rng = np.random.default_rng(6)
    W0, b0 = rng.standard_normal((4, 3)) * 0.1, np.zeros(3)
    ps = [mg.nn.Parameter(W0.copy()), mg.nn.Parameter(b0.copy())]
    ts = [torch.tensor(W0.copy(), requires_grad=True), torch.tensor(b0.copy(), requires_grad=True)]
    ours, theirs = ours_cls(ps, lr=0.05, bs=16), ref_cls(ts, lr=0.05)

    def backward(x, y):
        for opt in (ours, theirs):
            opt.zero_grad()
        F.cross_entropy(mg.tensor(x) @ ps[0] + ps[1], y).backward()
        torch.nn.functional.cross_entropy(torch.tensor(x) @ ts[0] + ts[1], torch.tensor(y)).backward()

    for step in range(30):
        x = rng.standard_normal((16, 4))
        if step % 3 == 0:  # ŷ ~ softmax(logits), the model's own labels
            logits = x @ ps[0].data + ps[1].data
            prob = np.exp(logits - logits.max(1, keepdims=True))
            prob /= prob.sum(1, keepdims=True)
            y_hat = np.array([rng.choice(3, p=row) for row in prob])
            backward(x, y_hat)
            ours.update_hessian()
            theirs.update_hessian()
        backward(x, (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0))
        ours.step()
        theirs.step(bs=16)
        for p, t in zip(ps, ts):
            np.testing.assert_allclose(p.data, t.detach().numpy(), rtol=1e-8, atol=1e-10,
                                       err_msg=f"after step {step + 1}")
    assert np.abs(ps[0].data - W0).max() > 0.1  # it moved


def test_lr_find_gives_them_the_graph_they_read():
    """optim.lr_find backpropagates with create_graph=True for an optimizer that needs_graph."""
    model = mg.nn.Linear(3, 2)
    rng = np.random.default_rng(7)
    batches = [(rng.standard_normal((8, 3)), rng.standard_normal((8, 2))) for _ in range(20)]
    result = optim.lr_find(model, optim.AdaHessian(model.parameters()),
                           lambda m, b: ((m(mg.tensor(b[0])).tanh() - mg.tensor(b[1])) ** 2).mean(),
                           batches, num_steps=20)
    assert len(result.losses) == 20 and not optim.SGD.needs_graph and optim.Sophia.needs_graph
