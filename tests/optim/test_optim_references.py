"""ASGD, Muon, ScheduleFreeAdamW and Prodigy against their references, in float64.

ASGD and Muon against torch.optim over every configuration of PyTorch's own optimizer test
catalog (torch/testing/_internal/common_optimizers.py, optim_inputs_func_asgd and
optim_inputs_func_muon, CPU entries, copied here: that module needs `expecttest` to import),
plus rows of ours. ScheduleFreeAdamW against schedulefree.AdamWScheduleFree, with eval()/train()
swaps mid-run; Prodigy against prodigyopt.Prodigy. Each row: two param groups, gradient scales
over three orders of magnitude, some parameters without a gradient on some steps.

Then the rules of their own: a state_dict taken mid-run resumes bit for bit, bad
hyperparameters are refused by name, Muon takes matrices only, ScheduleFreeAdamW steps in
train mode only and eval() puts the average in θ, a group-level step checks every gradient
before it writes, and Prodigy's groups share lr and the d hyperparameters. (The command
line's entries for them: tests/models/test_models.py.)
"""
import contextlib
import inspect
import io

import numpy as np
import pytest

import minigrad as mg
import optim

from conftest import torch_or_skip

SHAPES = [(5, 4), (3,), (2, 3, 2), (4, 1)]
MATRICES = [(5, 4), (3, 7), (6, 6), (4, 1)]  # Muon takes 2-D parameters only

# torch's catalog: optim_inputs_func_asgd (CPU entries), then ours
ASGD_ROWS = [dict(), dict(lambd=0.1), dict(lr=0.02), dict(t0=100), dict(maximize=True),
             dict(weight_decay=0.1), dict(weight_decay=0.1, maximize=True),
             dict(t0=10, lambd=0.01, alpha=0.5)]
# torch's catalog: optim_inputs_func_muon ("Tensor lr" is lr=torch.tensor(0.001): a float here)
MUON_ROWS = [dict(), dict(lr=0.01), dict(lr="tensor 0.001"), dict(weight_decay=0.2),
             dict(momentum=0.8), dict(ns_steps=6), dict(ns_coefficients=(3.4, -4.7, 2.0)),
             dict(nesterov=False), dict(adjust_lr_fn="original"),
             dict(adjust_lr_fn="match_rms_adamw", lr=0.01, momentum=0.9, nesterov=False)]
SCHEDULEFREE_ROWS = [dict(), dict(lr=0.01), dict(weight_decay=0.1), dict(warmup_steps=20),
                     dict(r=1.0), dict(weight_lr_power=0.0), dict(betas=(0.8, 0.99), eps=1e-6),
                     dict(lr=0.01, warmup_steps=10, r=0.5, weight_lr_power=1.0, weight_decay=0.01)]
PRODIGY_ROWS = [dict(), dict(betas=(0.8, 0.99)), dict(betas=(0.0, 0.99)), dict(beta3=0.9),
                dict(d0=1e-4), dict(d_coef=0.5), dict(growth_rate=1.02), dict(weight_decay=0.1),
                dict(weight_decay=0.1, decouple=False), dict(use_bias_correction=True),
                dict(safeguard_warmup=True), dict(slice_p=3), dict(lr=0.5),
                dict(weight_decay=0.05, decouple=False, betas=(0.0, 0.99), slice_p=2,
                     use_bias_correction=True, safeguard_warmup=True, growth_rate=1.05)]


def reference(kind):
    """(our class, the reference's class, parameter shapes, steps) for one optimizer."""
    if kind in ("ASGD", "Muon"):
        torch = torch_or_skip()
        return getattr(optim, kind), getattr(torch.optim, kind), MATRICES if kind == "Muon" else SHAPES, 100
    if kind == "ScheduleFreeAdamW":
        sf = pytest.importorskip("schedulefree", reason="schedulefree is not installed")
        return optim.ScheduleFreeAdamW, sf.AdamWScheduleFree, SHAPES, 200
    prodigyopt = pytest.importorskip("prodigyopt", reason="prodigyopt is not installed")
    return optim.Prodigy, prodigyopt.Prodigy, SHAPES, 200


ROWS = [pytest.param(kind, kw, id=f"{kind}-{i}") for kind, rows in
        [("ASGD", ASGD_ROWS), ("Muon", MUON_ROWS), ("ScheduleFreeAdamW", SCHEDULEFREE_ROWS),
         ("Prodigy", PRODIGY_ROWS)] for i, kw in enumerate(rows)]


@pytest.fixture
def torch_float64(monkeypatch):
    """torch in float64: its scalar state (ASGD's η, μ) in float64, and Muon's Newton-Schulz
    kept in the gradient's dtype (torch casts it to bfloat16; minigrad runs it in the
    parameter's dtype: see optim/muon.py), by making Tensor.bfloat16 a copy."""
    torch = torch_or_skip()
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    monkeypatch.setattr(torch.Tensor, "bfloat16",
                        lambda self, memory_format=torch.preserve_format: self.clone())
    yield torch
    torch.set_default_dtype(before)


def gradients(rng, shapes, step, params):
    """Noise over three orders of magnitude plus a pull towards 0; None on some steps."""
    out = []
    for k, (shape, p) in enumerate(zip(shapes, params)):
        if (k == 1 and step % 3 == 2) or (k == 3 and step < 4):
            out.append(None)
        else:
            out.append(rng.standard_normal(shape) * 10.0 ** rng.uniform(-2, 1) + 0.3 * p)
    return out


def make_pair(kind, kw, torch):
    ours_cls, ref_cls, shapes, steps = reference(kind)
    rng = np.random.default_rng(0)
    init = [rng.standard_normal(s) for s in shapes]
    ps = [mg.nn.Parameter(a.copy()) for a in init]
    ts = [torch.tensor(a.copy(), requires_grad=True) for a in init]
    ours_kw, ref_kw = dict(kw), dict(kw)
    if kw.get("lr") == "tensor 0.001":
        ours_kw["lr"], ref_kw["lr"] = 0.001, torch.tensor(0.001)
    # the second group: half the lr (Prodigy: one lr for all groups, so another weight decay)
    second = {"weight_decay": 0.02} if kind == "Prodigy" else {}
    with contextlib.redirect_stdout(io.StringIO()):  # prodigyopt prints about weight decay
        ours = ours_cls([{"params": ps[:2]}, {"params": ps[2:], **second}], **ours_kw)
        theirs = ref_cls([{"params": ts[:2]}, {"params": ts[2:], **second}], **ref_kw)
    if kind != "Prodigy":
        lr1 = float(ours.defaults["lr"]) * 0.5
        ours.param_groups[1]["lr"] = lr1
        theirs.param_groups[1]["lr"] = lr1
    if kind == "ScheduleFreeAdamW":
        ours.train()
        theirs.train()
    return ours, theirs, ps, ts, shapes, steps


@pytest.mark.parametrize("kind,kw", ROWS)
def test_matches_reference_float64(kind, kw, torch_float64):
    torch = torch_float64
    ours, theirs, ps, ts, shapes, steps = make_pair(kind, kw, torch)
    rng = np.random.default_rng(1)

    def compare(when):
        for k, (p, t) in enumerate(zip(ps, ts)):
            np.testing.assert_allclose(p.data, t.detach().numpy(), rtol=1e-9, atol=1e-12,
                                       err_msg=f"{kind}{kw} parameter {k} {when}")

    for step in range(steps):
        for p, t, g in zip(ps, ts, gradients(rng, shapes, step, [p.data for p in ps])):
            p.grad = None if g is None else g.copy()
            t.grad = None if g is None else torch.tensor(g.copy())
        ours.step()
        theirs.step()
        compare(f"after step {step + 1}")
        if kind == "ScheduleFreeAdamW" and step % 7 == 3:  # evaluate at x, then back to y
            ours.eval()
            theirs.eval()
            compare(f"in eval mode after step {step + 1}")
            ours.train()
            theirs.train()
    if kind == "ASGD":  # the average θ̄ too
        for k, (p, t) in enumerate(zip(ps, ts)):
            np.testing.assert_allclose(ours.state[p]["ax"], theirs.state[t]["ax"].numpy(),
                                       rtol=1e-9, atol=1e-12, err_msg=f"ASGD{kw} ax {k}")
    if kind == "Prodigy":
        assert ours.param_groups[0]["d"] > 10 * ours.param_groups[0]["d0"]  # d did adapt
        np.testing.assert_allclose(ours.param_groups[0]["d"], theirs.param_groups[0]["d"],
                                   rtol=1e-9)


def test_muon_in_bfloat16_is_torch_up_to_precision():
    """Real torch.optim.Muon orthogonalizes in bfloat16; ours in float64: one step's update
    agrees to bfloat16's precision (about 1%), which pins that only the precision differs."""
    torch = torch_or_skip()
    rng = np.random.default_rng(2)
    for shape in [(8, 5), (5, 8), (6, 6)]:
        theta, g = rng.standard_normal(shape), rng.standard_normal(shape)
        p = mg.nn.Parameter(theta.copy())
        p.grad = g.copy()
        t = torch.tensor(theta.copy(), requires_grad=True)
        t.grad = torch.tensor(g.copy())
        optim.Muon([p], lr=0.02).step()
        torch.optim.Muon([t], lr=0.02).step()
        ours, theirs = p.data - theta, t.detach().numpy() - theta
        assert np.linalg.norm(ours - theirs) / np.linalg.norm(theirs) < 0.03


@pytest.mark.parametrize("kind", ["ASGD", "Muon", "ScheduleFreeAdamW", "Prodigy"])
def test_same_arguments_in_the_same_order_with_the_same_defaults_as_the_reference(kind):
    ours_cls, ref_cls, _, _ = reference(kind)
    ours = inspect.signature(ours_cls.__init__).parameters
    theirs = inspect.signature(ref_cls.__init__).parameters
    # ours may add fused (False: the rule run directly; see optim/executor/), last
    assert [k for k in ours if k != "fused"] == list(theirs)
    for k, p in theirs.items():
        if k == "foreach" and kind == "ScheduleFreeAdamW":
            continue  # the reference's default is "True if torch has it"; it changes nothing here
        assert ours[k].default == p.default, (k, ours[k].default, p.default)


# ============================================================================ resume mid-run

FACTORIES = {
    "ASGD": lambda ps: optim.ASGD(ps, lr=0.02, t0=5, weight_decay=0.01),
    "Muon": lambda ps: optim.Muon([p for p in ps if p.ndim == 2], lr=0.01),
    "ScheduleFreeAdamW": lambda ps: optim.ScheduleFreeAdamW(ps, lr=0.01, warmup_steps=10),
    "Prodigy": lambda ps: optim.Prodigy(ps, weight_decay=0.01, use_bias_correction=True,
                                        slice_p=2),
}


def _run(opt, ps, rng, steps):
    if hasattr(opt, "train"):
        opt.train()
    for _ in range(steps):
        for p in ps:
            p.grad = rng.standard_normal(p.shape) + 0.3 * p.data
        opt.step()


@pytest.mark.parametrize("kind", sorted(FACTORIES))
def test_state_dict_mid_run_resumes_bit_exact(kind):
    make = FACTORIES[kind]
    ps = [mg.nn.Parameter(np.random.default_rng(0).standard_normal(s)) for s in [(4, 3), (5, 2)]]
    ps.append(mg.nn.Parameter(np.ones(3)))
    opt = make(ps)
    _run(opt, ps, np.random.default_rng(1), 15)
    saved, weights = opt.state_dict(), [p.data.copy() for p in ps]
    _run(opt, ps, np.random.default_rng(2), 15)

    qs = [mg.nn.Parameter(w.copy()) for w in weights]
    resumed = make(qs)
    resumed.load_state_dict(saved)
    _run(resumed, qs, np.random.default_rng(2), 15)
    for p, q in zip(ps, qs):
        np.testing.assert_array_equal(p.data, q.data)
    assert resumed.state_dict()["param_groups"] == opt.state_dict()["param_groups"]


# ============================================================================ invalid input

INVALID = [
    (optim.ASGD, dict(lr=-0.1), "lr"), (optim.ASGD, dict(weight_decay=-0.5), "weight_decay"),
    (optim.ASGD, dict(lambd=-1e-4), "lambd"), (optim.ASGD, dict(alpha=-0.75), "alpha"),
    (optim.Muon, dict(lr=-1.0), "lr"), (optim.Muon, dict(momentum=-0.9), "momentum"),
    (optim.Muon, dict(weight_decay=-0.1), "weight_decay"),
    (optim.Muon, dict(adjust_lr_fn="arbitrary"), "Adjust learning rate function arbitrary"),
    (optim.Muon, dict(ns_steps=100), "ns_steps"), (optim.Muon, dict(ns_steps=2.5), "ns_steps"),
    (optim.Muon, dict(ns_coefficients=(1.0, 2.0)), "ns_coefficients"),
    (optim.ScheduleFreeAdamW, dict(lr=-1.0), "lr"),
    (optim.ScheduleFreeAdamW, dict(betas=(0.0, 0.999)), "beta1"),
    (optim.ScheduleFreeAdamW, dict(betas=(0.9, 1.0)), "beta2"),
    (optim.ScheduleFreeAdamW, dict(warmup_steps=-1), "warmup_steps"),
    (optim.ScheduleFreeAdamW, dict(weight_decay=-0.1), "weight_decay"),
    (optim.Prodigy, dict(lr=0.0), "lr"), (optim.Prodigy, dict(d0=0.0), "d0"),
    (optim.Prodigy, dict(eps=0.0), "eps"), (optim.Prodigy, dict(betas=(1.0, 0.999)), "beta1"),
    (optim.Prodigy, dict(beta3=1.5), "beta3"), (optim.Prodigy, dict(d_coef=0.0), "d_coef"),
    (optim.Prodigy, dict(slice_p=0), "slice_p"), (optim.Prodigy, dict(fsdp_in_use=True), "fsdp_in_use"),
    (optim.Prodigy, dict(growth_rate=0.0), "growth_rate"),
]


@pytest.mark.parametrize("cls,kw,name", INVALID,
                         ids=[f"{c.__name__}-{n}-{i}" for i, (c, _, n) in enumerate(INVALID)])
def test_invalid_hyperparameter_raises_naming_it(cls, kw, name):
    with pytest.raises(ValueError, match=name):
        cls([mg.nn.Parameter(np.ones((2, 3)))], **kw)


def test_muon_refuses_non_matrices_and_a_failed_add_changes_nothing():
    with pytest.raises(ValueError, match=r"Muon only supports 2D parameters.*\(2, 3, 4\)"):
        optim.Muon([mg.nn.Parameter(np.ones((2, 3, 4)))])
    opt = optim.Muon([mg.nn.Parameter(np.ones((2, 3)))])
    with pytest.raises(ValueError, match=r"only supports 2D.*\(3,\)"):
        opt.add_param_group({"params": [mg.nn.Parameter(np.ones((2, 2))), mg.nn.Parameter(np.ones(3))]})
    assert len(opt.param_groups) == 1


def test_schedulefree_step_in_eval_mode_raises_and_changes_nothing():
    p = mg.nn.Parameter(np.ones(3))
    opt = optim.ScheduleFreeAdamW([p])
    p.grad = np.ones(3)
    with pytest.raises(RuntimeError, match=r"opt\.train\(\)"):
        opt.step()  # a new optimizer is in eval mode, as the reference
    assert opt.state == {} and opt.param_groups[0]["k"] == 0
    np.testing.assert_array_equal(p.data, np.ones(3))


def test_schedulefree_eval_train_round_trip_and_x_is_the_average():
    """eval() puts x = the weighted average of the z's in θ; train() puts back y."""
    p = mg.nn.Parameter(np.array([1.0, -2.0]))
    opt = optim.ScheduleFreeAdamW([p], lr=0.1, weight_lr_power=0.0)  # c_t = 1/t: a plain mean
    opt.train()
    zs = []
    for g in ([1.0, 1.0], [-1.0, 3.0], [0.5, -2.0]):
        p.grad = np.array(g)
        opt.step()
        zs.append(opt.state[p]["z"].copy())
    y = p.data.copy()
    opt.eval()
    np.testing.assert_allclose(p.data, np.mean(zs, axis=0), rtol=1e-12)
    opt.train()
    np.testing.assert_allclose(p.data, y, rtol=1e-12)


@pytest.mark.parametrize("kind", ["ScheduleFreeAdamW", "Prodigy"])
def test_group_level_step_checks_every_gradient_before_writing(kind):
    ps = [mg.nn.Parameter(np.ones((2, 2))), mg.nn.Parameter(np.ones(3))]
    opt = FACTORIES[kind](ps)
    if kind == "ScheduleFreeAdamW":
        opt.train()
    ps[0].grad, ps[1].grad = np.ones((2, 2)), np.ones(4)  # the second is the wrong shape
    groups = [dict(g) for g in opt.param_groups]
    with pytest.raises(ValueError, match="shape"):
        opt.step()
    assert opt.state == {} and [dict(g) for g in opt.param_groups] == groups
    np.testing.assert_array_equal(ps[0].data, np.ones((2, 2)))


def test_prodigy_groups_must_share_lr_and_the_d_hyperparameters():
    a, b = mg.nn.Parameter(np.ones(2)), mg.nn.Parameter(np.ones(2))
    a.grad, b.grad = np.ones(2), np.ones(2)
    opt = optim.Prodigy([{"params": [a]}, {"params": [b], "lr": 0.5}])
    with pytest.raises(ValueError, match=r"lr 0\.5"):
        opt.step()
    opt = optim.Prodigy([{"params": [a]}, {"params": [b], "betas": (0.8, 0.99)}])
    with pytest.raises(ValueError, match="betas"):
        opt.step()
    opt = optim.Prodigy([{"params": [a]}, {"params": [b], "lr": 0.0}])  # a frozen group is fine
    opt.step()
    np.testing.assert_array_equal(b.data, np.ones(2))
    assert not np.array_equal(a.data, np.ones(2))
