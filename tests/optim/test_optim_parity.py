"""Every torch.optim optimizer we share, across its options, against PyTorch in float64.

Each case runs 50 steps on four parameters of different shapes in two param groups (the second
with half the learning rate), with gradient scales spanning six orders of magnitude and some
parameters without a gradient on some steps. Both sides get the same gradient sequence.
"""
import numpy as np
import pytest

import minigrad as mg
import optim
from conftest import torch_or_skip

SHAPES = [(5, 4), (3,), (2, 3, 2), (4, 1)]
STEPS = 50

# (our class, torch class name, options); each option set is one test case
CASES = {
    "SGD": [dict(lr=0.01), dict(lr=0.01, momentum=0.9), dict(lr=0.01, momentum=0.9, dampening=0.5),
            dict(lr=0.01, momentum=0.9, nesterov=True), dict(lr=0.01, weight_decay=0.1),
            dict(lr=0.01, maximize=True),
            dict(lr=0.01, momentum=0.8, nesterov=True, weight_decay=0.05, maximize=True)],
    "Adagrad": [dict(), dict(lr_decay=0.01), dict(weight_decay=0.1), dict(initial_accumulator_value=0.5),
                dict(eps=1e-4), dict(maximize=True), dict(lr=0.1, lr_decay=0.05, weight_decay=0.01, maximize=True)],
    "Adadelta": [dict(), dict(lr=0.5), dict(rho=0.5), dict(eps=1e-3), dict(weight_decay=0.1), dict(maximize=True)],
    "RMSprop": [dict(), dict(alpha=0.9), dict(eps=1e-4), dict(weight_decay=0.1), dict(momentum=0.5),
                dict(centered=True), dict(centered=True, momentum=0.9), dict(maximize=True),
                dict(lr=0.001, centered=True, momentum=0.3, weight_decay=0.01, maximize=True)],
    "Adam": [dict(), dict(betas=(0.8, 0.99)), dict(eps=1e-6), dict(weight_decay=0.1), dict(amsgrad=True),
             dict(maximize=True), dict(decoupled_weight_decay=True, weight_decay=0.1),
             dict(lr=0.01, amsgrad=True, weight_decay=0.05, maximize=True)],
    "AdamW": [dict(), dict(weight_decay=0.5), dict(amsgrad=True), dict(maximize=True),
              dict(lr=0.01, betas=(0.5, 0.9), eps=1e-5, amsgrad=True)],
    "Adamax": [dict(), dict(betas=(0.8, 0.99)), dict(eps=1e-4), dict(weight_decay=0.1), dict(maximize=True)],
    "NAdam": [dict(), dict(momentum_decay=1e-2), dict(weight_decay=0.1),
              dict(weight_decay=0.1, decoupled_weight_decay=True), dict(maximize=True),
              dict(betas=(0.8, 0.99), eps=1e-6)],
    "RAdam": [dict(), dict(weight_decay=0.1), dict(weight_decay=0.1, decoupled_weight_decay=True),
              dict(maximize=True), dict(betas=(0.9, 0.99), eps=1e-6)],
    "Rprop": [dict(), dict(lr=0.1), dict(etas=(0.3, 1.5)), dict(step_sizes=(1e-3, 0.05)), dict(maximize=True)],
    "Adafactor": [dict(), dict(lr=0.05), dict(beta2_decay=-0.5), dict(eps=(1e-20, 1e-2)), dict(d=2.0),
                  dict(weight_decay=0.1), dict(maximize=True)],
}
FAST = {"SGD", "Adadelta", "Adagrad", "RMSprop", "Adam", "AdamW", "Adamax", "NAdam", "RAdam", "Rprop", "Adafactor"}  # also run with fused=False (the reference path)

PARAMS = []
for name, options in CASES.items():
    for i, kw in enumerate(options):
        PARAMS.append(pytest.param(name, kw, None, id=f"{name}-{i}"))
        if name in FAST:
            PARAMS.append(pytest.param(name, kw, False, id=f"{name}-{i}-reference"))


def gradient_sequence(seed, dtype=np.float64):
    """Gradients whose scale varies over six orders of magnitude; None on some steps."""
    rng = np.random.default_rng(seed)
    seq = []
    for step in range(STEPS):
        grads = []
        for k, shape in enumerate(SHAPES):
            if (k == 1 and step % 3 == 2) or (k == 3 and step < 4):
                grads.append(None)
            else:
                scale = 10.0 ** rng.uniform(-3, 3)
                grads.append((rng.standard_normal(shape) * scale).astype(dtype))
        seq.append(grads)
    return seq


def initial_params(seed, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(dtype) for s in SHAPES]


def run_pair(name, kw, fused, dtype):
    torch = torch_or_skip()
    ours_cls, torch_cls = getattr(optim, name), getattr(torch.optim, name)
    init, grads = initial_params(0, dtype), gradient_sequence(1, dtype)
    ps = [mg.nn.Parameter(a.copy()) for a in init]
    ts = [torch.tensor(a.copy(), requires_grad=True) for a in init]
    extra = {} if fused is None else {"fused": fused}
    ours = ours_cls([{"params": ps[:2]}, {"params": ps[2:]}], **kw, **extra)
    lr1 = ours.defaults["lr"] * 0.5
    ours.param_groups[1]["lr"] = lr1
    theirs = torch_cls([{"params": ts[:2]}, {"params": ts[2:], "lr": lr1}], **kw)
    history = []
    for step_grads in grads:
        for p, t, g in zip(ps, ts, step_grads):
            p.grad = None if g is None else g.copy()
            t.grad = None if g is None else torch.tensor(g.copy())
        ours.step()
        theirs.step()
        history.append(([p.data.copy() for p in ps], [t.detach().numpy().copy() for t in ts]))
    return ours, history


@pytest.fixture
def torch_float64():
    torch = torch_or_skip()
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # torch keeps scalar state (NAdam's mu_product) in this dtype
    yield
    torch.set_default_dtype(before)


@pytest.mark.parametrize("name,kw,fused", PARAMS)
def test_matches_torch_float64(name, kw, fused, torch_float64):
    _, history = run_pair(name, kw, fused, np.float64)
    for step, (ours, theirs) in enumerate(history):
        for k, (a, b) in enumerate(zip(ours, theirs)):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12,
                                       err_msg=f"{name}{kw} parameter {k} after step {step + 1}")


@pytest.mark.parametrize("name", sorted(CASES))
def test_float32_stays_float32_and_tracks_torch(name):
    opt, history = run_pair(name, CASES[name][0], None, np.float32)
    for state in opt.state.values():
        for key, value in state.items():
            if isinstance(value, np.ndarray):
                assert value.dtype == np.float32, f"{name} state {key!r} is {value.dtype}"
    ours, theirs = history[-1]
    for a, b in zip(ours, theirs):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5)
