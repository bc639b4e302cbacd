"""Every scheduler against torch.optim.lr_scheduler, over enough steps to pass every phase."""
import pickle

import numpy as np
import pytest

import minigrad as mg
import optim
from optim import lr_scheduler as ours_lr

STEPS = 60


def two_groups(ns, cls_name="SGD", **kw):
    """The same two-group optimizer in minigrad and (ns='torch') in PyTorch."""
    if ns == "torch":
        import torch
        ps = [torch.zeros(2, requires_grad=True), torch.zeros(3, requires_grad=True)]
        return getattr(torch.optim, cls_name)([{"params": ps[:1]}, {"params": ps[1:], "lr": 0.05}], lr=0.1, **kw)
    ps = [mg.nn.Parameter(np.zeros(2)), mg.nn.Parameter(np.zeros(3))]
    return getattr(optim, cls_name)([{"params": ps[:1]}, {"params": ps[1:], "lr": 0.05}], lr=0.1, **kw)


# (id, optimizer class and options, scheduler constructor taking (lr_scheduler module, optimizer))
CASES = [
    ("LambdaLR", ("SGD", {}), lambda L, o: L.LambdaLR(o, lambda e: 0.95 ** e)),
    ("LambdaLR-per-group", ("SGD", {}), lambda L, o: L.LambdaLR(o, [lambda e: 1 / (e + 1), lambda e: 0.9 ** e])),
    ("MultiplicativeLR", ("SGD", {}), lambda L, o: L.MultiplicativeLR(o, lambda e: 0.97)),
    ("StepLR", ("SGD", {}), lambda L, o: L.StepLR(o, step_size=7, gamma=0.5)),
    ("MultiStepLR", ("SGD", {}), lambda L, o: L.MultiStepLR(o, milestones=[5, 20, 20, 41], gamma=0.3)),
    ("ConstantLR", ("SGD", {}), lambda L, o: L.ConstantLR(o, factor=0.25, total_iters=9)),
    ("LinearLR", ("SGD", {}), lambda L, o: L.LinearLR(o, start_factor=0.1, end_factor=0.8, total_iters=17)),
    ("ExponentialLR", ("SGD", {}), lambda L, o: L.ExponentialLR(o, gamma=0.93)),
    ("PolynomialLR", ("SGD", {}), lambda L, o: L.PolynomialLR(o, total_iters=33, power=2.0)),
    ("CosineAnnealingLR", ("SGD", {}), lambda L, o: L.CosineAnnealingLR(o, T_max=20, eta_min=0.001)),
    ("CosineAnnealingWarmRestarts", ("SGD", {}), lambda L, o: L.CosineAnnealingWarmRestarts(o, T_0=5, T_mult=2, eta_min=1e-3)),
    ("CosineAnnealingWarmRestarts-1", ("SGD", {}), lambda L, o: L.CosineAnnealingWarmRestarts(o, T_0=8)),
    ("CyclicLR-triangular", ("SGD", {"momentum": 0.9}),
     lambda L, o: L.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=7, step_size_down=4)),
    ("CyclicLR-triangular2", ("SGD", {"momentum": 0.9}),
     lambda L, o: L.CyclicLR(o, base_lr=[0.01, 0.02], max_lr=0.1, step_size_up=5, mode="triangular2")),
    ("CyclicLR-exp_range-adam", ("Adam", {}),
     lambda L, o: L.CyclicLR(o, base_lr=0.001, max_lr=0.01, step_size_up=6, mode="exp_range", gamma=0.97)),
    ("OneCycleLR", ("SGD", {"momentum": 0.9}), lambda L, o: L.OneCycleLR(o, max_lr=0.5, total_steps=STEPS + 1)),
    ("OneCycleLR-linear-3phase-adam", ("Adam", {}),
     lambda L, o: L.OneCycleLR(o, max_lr=[0.5, 0.2], total_steps=STEPS + 1, anneal_strategy="linear",
                               three_phase=True, pct_start=0.25)),
    ("SequentialLR", ("SGD", {}), lambda L, o: L.SequentialLR(
        o, [L.LinearLR(o, start_factor=0.1, total_iters=10), L.ExponentialLR(o, gamma=0.9),
            L.CosineAnnealingLR(o, T_max=15)], milestones=[10, 30])),
    ("ChainedScheduler", ("SGD", {}), lambda L, o: L.ChainedScheduler(
        [L.ConstantLR(o, factor=0.5, total_iters=12), L.ExponentialLR(o, gamma=0.95), L.StepLR(o, 10, 0.5)])),
]


@pytest.mark.parametrize("name,opt_spec,make", CASES, ids=[c[0] for c in CASES])
def test_matches_torch(name, opt_spec, make):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed; parity tests skipped")
    ours_opt, torch_opt = two_groups("ours", opt_spec[0], **opt_spec[1]), two_groups("torch", opt_spec[0], **opt_spec[1])
    ours, theirs = make(ours_lr, ours_opt), make(torch.optim.lr_scheduler, torch_opt)
    key = "betas" if opt_spec[0] == "Adam" else "momentum"
    for step in range(STEPS):
        np.testing.assert_allclose(ours.get_last_lr(), theirs.get_last_lr(), rtol=1e-12, atol=1e-15,
                                   err_msg=f"{name} lr at step {step}")
        for g, h in zip(ours_opt.param_groups, torch_opt.param_groups):
            assert g["lr"] == pytest.approx(h["lr"], rel=1e-12, abs=1e-15)
            np.testing.assert_allclose(g[key], h[key], rtol=1e-12, err_msg=f"{name} {key} at step {step}")
        torch_opt.step()
        ours_opt.step()
        theirs.step()
        ours.step()


@pytest.mark.parametrize("mode,threshold_mode", [("min", "rel"), ("max", "abs")])
def test_reduce_lr_on_plateau_matches_torch(mode, threshold_mode):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed; parity tests skipped")
    ours_opt, torch_opt = two_groups("ours"), two_groups("torch")
    kw = dict(mode=mode, factor=0.5, patience=3, threshold=0.01, threshold_mode=threshold_mode,
              cooldown=2, min_lr=[0.001, 0.01])
    ours, theirs = ours_lr.ReduceLROnPlateau(ours_opt, **kw), torch.optim.lr_scheduler.ReduceLROnPlateau(torch_opt, **kw)
    rng = np.random.default_rng(0)
    metric = 1.0
    for step in range(80):  # improving, then plateaus long enough to cut several times
        metric = metric * 0.9 if step < 15 else metric + rng.normal(0, 1e-4)
        value = metric if mode == "min" else -metric
        ours.step(value)
        theirs.step(value)
        np.testing.assert_allclose(ours.get_last_lr(), theirs.get_last_lr(), rtol=1e-12)
    assert ours.get_last_lr()[0] < 0.1 / 4  # it did reduce, more than once


@pytest.mark.parametrize("warmup,total,min_lr", [(10, 50, 0.0), (5, 40, 1e-3), (1, 30, 0.01)])
def test_warmup_cosine_equals_torchs_hand_assembled_recipe(warmup, total, min_lr):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed; parity tests skipped")
    L = torch.optim.lr_scheduler
    torch_opt = two_groups("torch")
    first = L.LinearLR(torch_opt, start_factor=1 / warmup, end_factor=1.0, total_iters=max(warmup - 1, 1)) \
        if warmup > 1 else L.ConstantLR(torch_opt, factor=1.0, total_iters=0)
    theirs = L.SequentialLR(torch_opt, [first, L.CosineAnnealingLR(torch_opt, T_max=total - warmup, eta_min=min_lr)],
                            milestones=[warmup])
    ours_opt = two_groups("ours")
    ours = ours_lr.WarmupCosine(ours_opt, warmup_steps=warmup, total_steps=total, min_lr=min_lr)
    for step in range(total + 1):
        np.testing.assert_allclose(ours.get_last_lr(), theirs.get_last_lr(), rtol=1e-9, err_msg=f"step {step}")
        torch_opt.step()
        ours_opt.step()
        theirs.step()
        ours.step()
    for _ in range(5):  # past total_steps the rate stays at min_lr
        ours.step()
        np.testing.assert_allclose(ours.get_last_lr(), [min_lr, min_lr], atol=1e-15)


def test_warmup_cosine_shape_and_errors():
    opt = two_groups("ours")
    s = ours_lr.WarmupCosine(opt, warmup_steps=4, total_steps=12)
    lrs = [s.get_last_lr()[0]]
    for _ in range(12):
        s.step()
        lrs.append(s.get_last_lr()[0])
    assert lrs[:5] == pytest.approx([0.025, 0.05, 0.075, 0.1, 0.1])
    assert lrs[8] == pytest.approx(0.05) and lrs[12] == pytest.approx(0.0)
    with pytest.raises(ValueError, match="total_steps"):
        ours_lr.WarmupCosine(two_groups("ours"), warmup_steps=10, total_steps=10)
    with pytest.raises(ValueError, match="warmup_steps"):
        ours_lr.WarmupCosine(two_groups("ours"), warmup_steps=-1, total_steps=10)


@pytest.mark.parametrize("name,opt_spec,make", CASES, ids=[c[0] for c in CASES])
def test_state_dict_resumes_the_schedule(name, opt_spec, make):
    a_opt = two_groups("ours", opt_spec[0], **opt_spec[1])
    a = make(ours_lr, a_opt)
    for _ in range(13):
        a_opt.step()
        a.step()
    saved = pickle.loads(pickle.dumps((a_opt.state_dict(), a.state_dict())))
    b_opt = two_groups("ours", opt_spec[0], **opt_spec[1])
    b = make(ours_lr, b_opt)
    b_opt.load_state_dict(saved[0])
    b.load_state_dict(saved[1])
    for _ in range(20):
        for o, s in ((a_opt, a), (b_opt, b)):
            o.step()
            s.step()
        assert a.get_last_lr() == b.get_last_lr()


def test_scheduler_needs_an_optimizer():
    with pytest.raises(TypeError, match="not an Optimizer"):
        ours_lr.StepLR(object(), 3)
