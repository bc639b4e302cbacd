"""Every scheduler against torch.optim.lr_scheduler, over enough steps to pass every phase."""
import copy
import json

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


class SideBySide:
    """Two schedulers stepping one optimizer with no ChainedScheduler: their changes compound."""

    def __init__(self, *schedulers):
        self.schedulers = schedulers

    def step(self):
        for s in self.schedulers:
            s.step()

    def get_last_lr(self):
        return self.schedulers[-1].get_last_lr()

    def state_dict(self):
        return [s.state_dict() for s in self.schedulers]

    def load_state_dict(self, states):
        for s, sd in zip(self.schedulers, states):
            s.load_state_dict(sd)


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
    ("LinearLR-decay-to-0", ("SGD", {}), lambda L, o: L.LinearLR(o, start_factor=1.0, end_factor=0.0, total_iters=25)),
    ("StepLR-default-gamma", ("SGD", {}), lambda L, o: L.StepLR(o, step_size=4)),
    ("MultiStepLR-milestone-0", ("SGD", {}), lambda L, o: L.MultiStepLR(o, milestones=[0, 33], gamma=0.5)),
    ("ConstantLR-defaults", ("SGD", {}), lambda L, o: L.ConstantLR(o)),
    ("PolynomialLR-to-0", ("SGD", {}), lambda L, o: L.PolynomialLR(o, total_iters=20, power=0.5)),
    ("CosineAnnealingLR-3-periods", ("SGD", {}), lambda L, o: L.CosineAnnealingLR(o, T_max=10)),
    ("CosineAnnealingWarmRestarts-Tmult3", ("SGD", {}), lambda L, o: L.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=3, eta_min=0.002)),
    ("CyclicLR-scale_fn-iterations", ("SGD", {"momentum": 0.9}), lambda L, o: L.CyclicLR(
        o, base_lr=0.01, max_lr=[0.1, 0.2], step_size_up=4, scale_fn=lambda x: 0.99 ** x, scale_mode="iterations",
        base_momentum=[0.8, 0.7], max_momentum=0.95)),
    ("CyclicLR-no-momentum", ("SGD", {}), lambda L, o: L.CyclicLR(o, 0.01, 0.1, step_size_up=3, cycle_momentum=False)),
    ("OneCycleLR-epochs-no-momentum", ("SGD", {"momentum": 0.9}), lambda L, o: L.OneCycleLR(
        o, max_lr=0.3, epochs=6, steps_per_epoch=11, pct_start=0.4, cycle_momentum=False, div_factor=10.0)),
    ("SequentialLR-3-phases-Multiplicative-first", ("SGD", {}), lambda L, o: L.SequentialLR(
        o, [L.MultiplicativeLR(o, lambda e: 0.9), L.StepLR(o, 5, 0.5), L.PolynomialLR(o, total_iters=12, power=2.0)],
        milestones=[8, 25])),
    ("SequentialLR-Constant-then-Cosine", ("SGD", {}), lambda L, o: L.SequentialLR(
        o, [L.ConstantLR(o, factor=0.1, total_iters=20), L.CosineAnnealingLR(o, T_max=12, eta_min=0.01)],
        milestones=[20])),
    ("Chained-Cosine-eta_min-Linear-MultiStep", ("SGD", {}), lambda L, o: L.ChainedScheduler(
        [L.LinearLR(o, start_factor=0.2, total_iters=8), L.CosineAnnealingLR(o, T_max=10, eta_min=0.004),
         L.MultiStepLR(o, [15, 40], 0.5)])),
    ("Chained-Cosine-eta_min-0-Exponential", ("SGD", {}), lambda L, o: L.ChainedScheduler(
        [L.CosineAnnealingLR(o, T_max=7), L.ExponentialLR(o, gamma=0.98)], optimizer=o)),
    ("Chained-Lambda-then-StepLR", ("SGD", {}), lambda L, o: L.ChainedScheduler(
        [L.LambdaLR(o, lambda e: 1 / (1 + e)), L.StepLR(o, 6, 0.5)])),
    ("SideBySide-Linear-Exponential", ("SGD", {}), lambda L, o: SideBySide(
        L.LinearLR(o, start_factor=0.25, total_iters=10), L.ExponentialLR(o, gamma=0.96))),
    ("SideBySide-Step-Polynomial-Cosine", ("SGD", {}), lambda L, o: SideBySide(
        L.StepLR(o, 9, 0.7), L.PolynomialLR(o, total_iters=40, power=1.5), L.CosineAnnealingLR(o, T_max=16, eta_min=1e-3))),
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


def plain_data(x):
    """True if x is only what JSON stores: numbers, strings, bools, None, lists, dicts of them."""
    if isinstance(x, dict):
        return all(isinstance(k, str) and plain_data(v) for k, v in x.items())
    if isinstance(x, (list, tuple)):
        return all(plain_data(v) for v in x)
    return x is None or type(x) in (bool, int, float, str)


PLATEAU = ("ReduceLROnPlateau", ("SGD", {}), lambda L, o: L.ReduceLROnPlateau(
    o, factor=0.5, patience=2, cooldown=1, min_lr=[1e-3, 1e-4]))


@pytest.mark.parametrize("name,opt_spec,make", CASES + [PLATEAU], ids=[c[0] for c in CASES + [PLATEAU]])
def test_state_dict_is_plain_data_and_resumes_bit_for_bit_through_json(name, opt_spec, make):
    """Checkpoints keep a scheduler's state as JSON (no pickle): it must hold plain data only
    (no functions, Counters, tuples of objects), and loading it must continue exactly."""
    metrics = iter(np.r_[np.linspace(1, 0.5, 6), np.full(60, 0.5)].tolist())  # for the plateau

    def step(scheduler, metric):
        scheduler.step(metric) if name == "ReduceLROnPlateau" else scheduler.step()

    a_opt = two_groups("ours", opt_spec[0], **opt_spec[1])
    a = make(ours_lr, a_opt)
    for _ in range(13):
        a_opt.step()
        step(a, next(metrics))
    state = a.state_dict()
    assert plain_data(state), state
    saved_opt, saved = copy.deepcopy(a_opt.state_dict()), json.loads(json.dumps(state))
    b_opt = two_groups("ours", opt_spec[0], **opt_spec[1])
    b = make(ours_lr, b_opt)
    b_opt.load_state_dict(saved_opt)
    b.load_state_dict(saved)
    for _ in range(20):
        m = next(metrics)
        for o, s in ((a_opt, a), (b_opt, b)):
            o.step()
            step(s, m)
        assert a.get_last_lr() == b.get_last_lr()
        assert [g["lr"] for g in a_opt.param_groups] == [g["lr"] for g in b_opt.param_groups]
    if name == "ReduceLROnPlateau":
        assert b.get_last_lr()[0] < saved["_last_lr"][0]  # it went on cutting after the reload


CLOSED_FORM = [c for c in CASES if not c[0].startswith(("Sequential", "Chained", "SideBySide", "MultiplicativeLR"))]


@pytest.mark.parametrize("name,opt_spec,make", CLOSED_FORM, ids=[c[0] for c in CLOSED_FORM])
def test_alone_a_scheduler_sets_its_closed_form_exactly(name, opt_spec, make):
    opt = two_groups("ours", opt_spec[0], **opt_spec[1])
    s = make(ours_lr, opt)
    for _ in range(STEPS):
        assert s.get_last_lr() == s.lr_at(s.last_epoch)  # bit for bit: no recursion ran
        assert not s.chained
        opt.step()
        s.step()


def test_closed_form_stays_within_1e_12_of_torchs_recursion_over_3000_steps():
    """The module docstring's claim: the drift of torch's recursive cosine over many periods."""
    torch = pytest.importorskip("torch", reason="PyTorch is not installed; parity tests skipped")
    ours_opt, torch_opt = two_groups("ours"), two_groups("torch")
    ours = ours_lr.CosineAnnealingLR(ours_opt, T_max=20, eta_min=1e-3)
    theirs = torch.optim.lr_scheduler.CosineAnnealingLR(torch_opt, T_max=20, eta_min=1e-3)
    worst = 0.0
    for _ in range(3000):
        worst = max(worst, float(np.max(np.abs(np.subtract(ours.get_last_lr(), theirs.get_last_lr()))
                                        / np.asarray(theirs.get_last_lr()))))
        torch_opt.step()
        theirs.step()
        ours.step()
    assert 1e-14 < worst < 1e-12  # torch's recursion does drift; not yet past 1e-12


def test_step_lr_follows_reduce_lr_on_plateau_on_the_same_optimizer_like_torch():
    """A hand other than the scheduler moves the lr: the scheduler switches to the recursive form."""
    torch = pytest.importorskip("torch", reason="PyTorch is not installed; parity tests skipped")
    lrs = {}
    for ns, L, opt in (("ours", ours_lr, two_groups("ours")), ("torch", torch.optim.lr_scheduler, two_groups("torch"))):
        step_lr, plateau = L.StepLR(opt, 7, 0.5), L.ReduceLROnPlateau(opt, factor=0.3, patience=2)
        lrs[ns] = []
        for t in range(40):
            opt.step()
            step_lr.step()
            plateau.step(1.0 if t > 10 else 1.0 - t)  # stalls after step 10
            lrs[ns].append([g["lr"] for g in opt.param_groups])
    np.testing.assert_allclose(lrs["ours"], lrs["torch"], rtol=1e-12)
    assert lrs["ours"][-1][0] < 0.1 * 0.5 ** 5 * 0.3  # both hands acted


def test_multiplicative_lr_as_a_later_sequential_phase_goes_on_from_the_previous_lr():
    """Documented difference: torch multiplies by lr_lambda(0) at the milestone; we do not."""
    opt = two_groups("ours")
    L = ours_lr
    s = L.SequentialLR(opt, [L.ConstantLR(opt, factor=0.5, total_iters=100), L.MultiplicativeLR(opt, lambda e: 0.5)],
                       milestones=[3])
    lrs = [s.get_last_lr()[0]]
    for _ in range(5):
        opt.step()
        s.step()
        lrs.append(s.get_last_lr()[0])
    assert lrs == pytest.approx([0.05, 0.05, 0.05, 0.05, 0.025, 0.0125])


@pytest.mark.parametrize("mode,threshold_mode,eps", [("min", "abs", 1e-8), ("max", "rel", 1e-8), ("min", "rel", 0.02)])
def test_reduce_lr_on_plateau_modes_and_eps_match_torch(mode, threshold_mode, eps):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed; parity tests skipped")
    kw = dict(mode=mode, factor=0.5, patience=1, threshold=0.05, threshold_mode=threshold_mode, cooldown=1,
              min_lr=0.004, eps=eps)
    ours_opt, torch_opt = two_groups("ours"), two_groups("torch")
    ours, theirs = ours_lr.ReduceLROnPlateau(ours_opt, **kw), torch.optim.lr_scheduler.ReduceLROnPlateau(torch_opt, **kw)
    metrics = [5, 4, 3.9, 3.85, 3.84, 3.0, 3.0, 3.0, 2.99, 2.5, 2.5, 2.5, 2.5, 2.5, 2.5, 2.5, 2.5, 2.5, 2.5, 2.5]
    for m in metrics:
        m = m if mode == "min" else 10 - m
        ours.step(m)
        theirs.step(m)
        np.testing.assert_allclose(ours.get_last_lr(), theirs.get_last_lr(), rtol=1e-12, err_msg=f"metric {m}")
    assert ours.state_dict()["num_bad_epochs"] == theirs.state_dict()["num_bad_epochs"]
    assert ours.get_last_lr() != [0.1, 0.05]


def test_scheduler_needs_an_optimizer():
    with pytest.raises(TypeError, match="not an Optimizer"):
        ours_lr.StepLR(object(), 3)
