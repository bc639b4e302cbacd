"""optim.lr_find and `minigrad lr-find`: the range test leaves the model and optimizer bit for bit
as they were, stops at the explosion, and suggests rates where they should be."""
import os
import subprocess
import sys

import numpy as np
import pytest

import minigrad as mg
import minigrad.nn as nn
import minigrad.nn.functional as F
import optim
from models import lr_find as cli_lr_find
from models.tasks import make_task
from conftest import ROOT



def small_model():
    """BatchNorm (buffers) and dropout (the global generator): all the state a step can touch."""
    mg.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 3))


def data(seed=0):
    r = np.random.default_rng(seed)
    while True:
        X = r.normal(size=(32, 4)).astype(np.float32)
        yield X, (X[:, 0] > 0).astype(np.int64) + (X[:, 1] > 0)


def loss_fn(model, batch):
    return F.cross_entropy(model(mg.tensor(batch[0])), batch[1])


def train_steps(model, opt, batches, n):
    for _ in range(n):
        loss = loss_fn(model, next(batches))
        opt.zero_grad()
        loss.backward()
        opt.step()


@pytest.mark.parametrize("make_opt", [lambda ps: optim.Adam(ps, lr=1e-3), lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9),
                                      lambda ps: optim.Adagrad(ps, lr=0.05)], ids=["adam", "momentum", "adagrad"])
def test_model_optimizer_and_generator_are_left_bit_for_bit_as_they_were(make_opt):
    runs = []
    for test_first in (False, True):
        model = small_model()
        opt = make_opt(model.parameters())
        batches = data()
        train_steps(model, opt, batches, 5)  # some optimizer state to keep
        if test_first:
            result = optim.lr_find(model, opt, loss_fn, data(1), num_steps=60)
            assert len(result.lrs) > 20
        train_steps(model, opt, batches, 3)  # the same 3 steps, with dropout, as without the test
        runs.append((model.state_dict(), opt.state_dict(), mg.get_rng_state()))
    (m0, o0, r0), (m1, o1, r1) = runs
    for k in m0:
        np.testing.assert_array_equal(m0[k], m1[k])
    assert o0["param_groups"] == o1["param_groups"] and r0 == r1
    for i, s in o0["state"].items():
        for k, v in s.items():
            np.testing.assert_array_equal(v, o1["state"][i][k])


def test_grads_are_put_back_and_an_error_midway_still_restores():
    model = small_model()
    opt = optim.Adam(model.parameters(), lr=1e-3)
    loss_fn(model, next(data())).backward()
    grads = [p.grad.copy() for p in model.parameters()]
    before = {k: v.copy() for k, v in model.state_dict().items()}

    def failing(model, batch, calls=[0]):
        calls[0] += 1
        if calls[0] == 30:
            raise RuntimeError("boom")
        return loss_fn(model, batch)

    with pytest.raises(RuntimeError, match="boom"):
        optim.lr_find(model, opt, failing, data(), num_steps=50)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k])
    for p, g in zip(model.parameters(), grads):
        np.testing.assert_array_equal(p.grad, g)
    assert opt.state == {} and opt.param_groups[0]["lr"] == 1e-3


def test_on_a_quadratic_the_suggestions_lie_below_the_stability_limit():
    """Loss h x²/2 with SGD is stable for lr < 2/h: the loss falls fastest below that, its minimum
    is near it, and the test stops once the lr is past it."""
    h = 100.0
    x = mg.nn.Parameter(np.ones(10))

    class Point:
        def parameters(self):
            return [x]

        def state_dict(self):
            return {"x": x.data}

        def load_state_dict(self, sd):
            x.data[...] = sd["x"]

    opt = optim.SGD([x], lr=0.1)
    result = optim.lr_find(Point(), opt, lambda m, b: (x * x).sum() * (h / 2), iter(lambda: None, 1),
                           num_steps=200)
    assert "exploded" in result.stopped and len(result.lrs) < 200
    assert 1e-3 / h < result.lr_steep < 2 / h
    assert 0.1 / h < result.lr_min < 4 / h and result.lr_min10 == result.lr_min / 10
    np.testing.assert_array_equal(x.data, np.ones(10))
    lrs = np.asarray(result.lrs)
    np.testing.assert_allclose(lrs[1:] / lrs[:-1], (10 / 1e-7) ** (1 / 199), rtol=1e-9)  # exponential


@pytest.mark.parametrize("kw,message", [
    (dict(start_lr=1.0, end_lr=0.1), "0 < start_lr < end_lr"),
    (dict(start_lr=0.0), "0 < start_lr < end_lr"),
    (dict(num_steps=5), "num_steps must be an integer >= 20"),
    (dict(beta=1.0), "beta must be in"),
    (dict(diverge=1.0), "diverge must be > 1"),
])
def test_bad_arguments_are_refused_before_anything_runs(kw, message):
    model = small_model()
    opt = optim.Adam(model.parameters(), lr=1e-3)
    with pytest.raises(ValueError, match=message):
        optim.lr_find(model, opt, loss_fn, data(), **kw)
    assert opt.state == {}


def test_digits_suggestions_lie_within_10x_of_the_recommended_rate():
    task = make_task("digits")
    result = cli_lr_find.find(task, "adamw")
    recommended = task.lr_for("adamw")
    for lr in (result.lr_steep, result.lr_min10):
        assert recommended / 10 <= lr <= recommended * 10, (lr, recommended)


def test_the_command_prints_suggestions_and_writes_the_plot(tmp_path):
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    p = subprocess.run([sys.executable, "-m", "models", "lr-find", "--task", "rosenbrock", "--optimizer", "adam",
                        "--steps", "100", "--out", str(tmp_path)], capture_output=True, text=True, env=env,
                       cwd=ROOT, timeout=300)
    assert p.returncode == 0, p.stderr
    assert "steepest descent at lr" in p.stdout and "try --lr" in p.stdout
    assert (tmp_path / "lr_find.png").stat().st_size > 10_000
    p = subprocess.run([sys.executable, "-m", "models", "lr-find", "--task", "rosenbrock", "--start-lr", "1",
                        "--end-lr", "0.1", "--out", str(tmp_path)], capture_output=True, text=True, env=env,
                       cwd=ROOT, timeout=300)
    assert p.returncode == 2 and "--start-lr 1 must be below --end-lr 0.1" in p.stderr
