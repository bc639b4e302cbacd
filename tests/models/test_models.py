"""Models, data and tasks: shapes, a few steps reduce the loss, reproducible sampling."""
import numpy as np
import pytest

import minigrad as mg
import minigrad.nn.functional as F
import optim
from models.char_mlp import CharMLP
from models.digits import load_digits
from models.mlp import MLP
from models.names import ALPHABET, build_dataset, load_names, split
from models.tasks import TASKS, make_task
from models.train import train


@pytest.mark.parametrize("kw", [{}, {"batchnorm": True}, {"dropout": 0.2, "activation": "tanh"}])
def test_mlp_shapes_and_layers(kw):
    m = MLP([64, 32, 16, 10], **kw)
    assert m(mg.tensor(np.zeros((5, 64), np.float32))).shape == (5, 10)
    kinds = [type(layer).__name__ for layer in m.net.layers]
    assert kinds.count("Linear") == 3 and ("BatchNorm1d" in kinds) == bool(kw.get("batchnorm"))
    with pytest.raises(ValueError, match="unknown activation"):
        MLP([2, 2], activation="swish")


def test_a_few_steps_reduce_the_loss():
    (X, y), _, _ = load_digits()
    mg.manual_seed(0)
    model = MLP([64, 64, 10])
    opt = optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        loss = F.cross_entropy(model(mg.tensor(X[:256])), y[:256])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_digits_split_is_fixed_stratified_and_disjoint():
    (a, _), (b, yb), (c, yc) = load_digits()
    assert len(a) + len(b) + len(c) == 1797
    assert set(np.unique(yb)) == set(range(10)) and set(np.unique(yc)) == set(range(10))
    assert a.dtype == np.float32 and a.max() == 1.0
    (a2, _), _, _ = load_digits()
    np.testing.assert_array_equal(a, a2)


def test_names_data_and_dataset():
    surnames, first = load_names("surnames"), load_names("first-names")
    assert len(surnames) == 88_799 and len(first) == 5_163
    assert all(set(w) <= set(ALPHABET[1:]) for w in surnames[:1000])
    X, Y = build_dataset(["ab"], block_size=3)
    np.testing.assert_array_equal(X, [[0, 0, 0], [0, 0, 1], [0, 1, 2]])
    np.testing.assert_array_equal(Y, [1, 2, 0])
    tr, va, te = split(first, seed=1)
    assert len(tr) + len(va) + len(te) == len(first) and not set(va) & set(te)


def test_char_mlp_sampling_is_reproducible_by_seed():
    mg.manual_seed(0)
    m = CharMLP(block_size=3)
    a, b, c = m.sample(5, seed=1), m.sample(5, seed=1), m.sample(5, seed=2)
    assert a == b and a != c
    assert m.training  # sampling leaves the mode as it was
    assert all(set(n) <= set(ALPHABET[1:]) for n in a)


@pytest.mark.parametrize("name", sorted(TASKS))
def test_every_task_trains_a_few_steps(name):
    task = make_task(name, **({"data": "first-names"} if name == "names" else {}))
    config = dict(optimizer="adam", lr=task.lr_for("adam"), schedule="none", clip=1.0, steps=20,
                  batch_size=min(task.batch_size, 32), seed=0)
    result = train(task, config, progress=False)
    assert result["step"] == 20 and len(result["history"]["loss"]) == 20
    first, last = np.mean(result["history"]["loss"][:3]), np.mean(result["history"]["loss"][-3:])
    assert last < first, f"{name}: {first} -> {last}"
    assert np.isfinite(list(v for v in result["metrics"].values() if isinstance(v, float))).all()


@pytest.mark.parametrize("name", ["asgd", "muon", "schedulefree", "prodigy", "adahessian",
                                  "sophia"])
def test_cli_entries_train_and_schedule_free_ones_get_no_schedule(name, monkeypatch):
    calls = []
    backward = mg.Tensor.backward
    graphs = []  # create_graph of every backward: True for the second-order ones only
    monkeypatch.setattr(mg.Tensor, "backward", lambda self, *a, create_graph=False, **kw:
                        graphs.append(create_graph) or backward(self, *a, create_graph=create_graph, **kw))
    monkeypatch.setattr(optim.ScheduleFreeAdamW, "train",
                        lambda self, f=optim.ScheduleFreeAdamW.train: calls.append("train") or f(self))
    monkeypatch.setattr(optim.ScheduleFreeAdamW, "eval",
                        lambda self, f=optim.ScheduleFreeAdamW.eval: calls.append("eval") or f(self))
    task = make_task("sparse")  # logistic regression: a (1, 500) matrix and a bias, fast
    lr = task.lr_for(name)
    config = dict(optimizer=name, lr=lr, schedule="warmup-cosine", clip=None, steps=60,
                  batch_size=64, seed=0)
    result = train(task, config, progress=False)
    losses, lrs = result["history"]["loss"], result["history"]["lr"]
    assert np.mean(losses[-10:]) < np.mean(losses[:10]), f"{name}: {losses[:10]} -> {losses[-10:]}"
    if name in ("schedulefree", "prodigy"):
        assert lrs == [lr] * 60  # no warmup-cosine: the optimizer sets its own step size
    else:
        assert lrs[0] < lrs[2] and max(lrs) == pytest.approx(lr) and lrs[-1] < 0.5 * lr  # warmup, cosine
    assert calls == (["train", "eval"] if name == "schedulefree" else [])
    assert graphs == [name in ("adahessian", "sophia")] * 60


def test_the_optimizers_that_read_the_graph_are_trained_with_one():
    from models.optimizers import OPTIMIZERS, SECOND_ORDER, make_optimizer
    ps = [mg.nn.Parameter(np.zeros((2, 2)))]
    assert {n for n in OPTIMIZERS if make_optimizer(n, ps, 0.1).needs_graph} == SECOND_ORDER


def test_sparse_problem_has_rare_features():
    task = make_task("sparse")
    X, _ = task.train
    freq = X.mean(axis=0)
    assert freq[0] > 0.3 and (freq < 0.01).mean() > 0.5  # a few common features, most rare


def _signal_on_call(fn, k, signum=None):
    """fn, but its k-th call sends this process SIGINT in the middle (before fn returns)."""
    import os
    import signal
    calls = [0]

    def wrapped(*a, **kw):
        calls[0] += 1
        out = fn(*a, **kw)
        if calls[0] == k:
            os.kill(os.getpid(), signum or signal.SIGINT)
        return out
    return wrapped


@pytest.mark.parametrize("phase", ["batch", "loss", "backward", "optimizer.step", "scheduler.step"])
def test_an_interrupt_in_any_phase_of_a_step_resumes_bit_for_bit(tmp_path, monkeypatch, phase):
    import models.train as tr
    from models import checkpoint
    task = make_task("digits")
    config = dict(optimizer="adam", lr=1e-2, schedule="warmup-cosine", clip=1.0, steps=12, batch_size=16, seed=3)
    train(task, config, out=str(tmp_path / "whole"), progress=False)
    k = 5
    if phase in ("batch", "loss"):
        monkeypatch.setattr(task, phase, _signal_on_call(getattr(task, phase), k))
    elif phase == "backward":
        monkeypatch.setattr(mg.Tensor, "backward", _signal_on_call(mg.Tensor.backward, k))
    else:
        maker = "make_optimizer" if phase == "optimizer.step" else "make_schedule"
        original = getattr(tr, maker)  # before the patch below replaces it with make

        def make(*a):
            obj = original(*a)  # patched on the class: an instance attribute would land in state_dict()
            monkeypatch.setattr(type(obj), "step", _signal_on_call(type(obj).step, k))
            return obj
        monkeypatch.setattr(tr, maker, make)
    with pytest.raises(tr.Interrupted) as e:
        train(task, config, out=str(tmp_path / "parts"), progress=False)
    assert e.value.step == k  # the step in flight was finished, then saved
    monkeypatch.undo()
    assert checkpoint.load(str(tmp_path / "parts" / checkpoint.NAME))["step"] == k
    train(task, config, out=str(tmp_path / "parts"), resume=True, progress=False)
    a, b = (checkpoint.load(str(tmp_path / d / checkpoint.NAME)) for d in ("whole", "parts"))
    for part in ("model", "history"):
        for name in a[part]:
            np.testing.assert_array_equal(a[part][name], b[part][name], err_msg=f"{part} {name}")
    for i, s in a["optimizer"]["state"].items():
        for name, v in s.items():
            np.testing.assert_array_equal(v, b["optimizer"]["state"][i][name])
    assert a["rng"] == b["rng"] and a["scheduler"] == b["scheduler"]


def test_the_signal_handlers_are_restored_after_training():
    import signal
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    task = make_task("rosenbrock")
    train(task, dict(optimizer="adam", lr=1e-2, schedule="none", clip=None, steps=3, batch_size=1, seed=0),
          progress=False)
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


@pytest.mark.parametrize("every,saves", [(0, [10]), (4, [4, 8, 10])])
def test_checkpoint_every(tmp_path, monkeypatch, every, saves):
    import models.train as tr
    seen = []
    monkeypatch.setattr(tr, "_save", lambda path, run, config, step, *a: seen.append(step))
    task = make_task("rosenbrock")
    train(task, dict(optimizer="adam", lr=1e-2, schedule="none", clip=None, steps=10, batch_size=1, seed=0),
          out=str(tmp_path), progress=False, checkpoint_every=every)
    assert seen == saves
    with pytest.raises(ValueError, match="checkpoint_every must be >= 0"):
        train(task, dict(optimizer="adam", lr=1e-2, schedule="none", clip=None, steps=10, batch_size=1, seed=0),
              out=str(tmp_path), progress=False, checkpoint_every=-1, overwrite=True)


def _muon_adamw():
    from models.optimizers import muon_with_adamw
    model = MLP([4, 8, 3])
    opt = muon_with_adamw(model.parameters(), lr=1e-2)
    x, y = mg.tensor(np.random.default_rng(0).standard_normal((6, 4))), np.arange(6) % 3
    F.cross_entropy(model(x), y).backward()
    opt.step()
    return opt


def _shifted(sd):
    """sd with the first part's parameter 0 renumbered to an index of the second part."""
    groups = [dict(g, params=list(g["params"])) for g in sd["param_groups"]]
    groups[0]["params"][0], groups[-1]["params"][0] = groups[-1]["params"][0], groups[0]["params"][0]
    return {"state": sd["state"], "param_groups": groups}


@pytest.mark.parametrize("make_bad, message", [
    (lambda sd: {}, "no 'state' or 'param_groups'"),
    (lambda sd: {"state": {}, "param_groups": "x"}, "expected a list of dicts"),
    (lambda sd: {**sd, "param_groups": sd["param_groups"][:1]}, "parameter groups"),
    (lambda sd: {**sd, "param_groups": [dict(g, params=["a"] * len(g["params"]))
                                         for g in sd["param_groups"]]}, "integer index"),
    (_shifted, "expected"),
    # the second part (AdamW) refuses its share after the first (Muon) loaded its own
    (lambda sd: {**sd, "state": {**sd["state"], max(sd["state"]): {
        **sd["state"][max(sd["state"])], "exp_avg": np.ones(1, dtype=bool)}}}, "exp_avg"),
])
def test_combined_load_state_dict_refuses_bad_dicts_and_changes_nothing(make_bad, message):
    opt = _muon_adamw()
    before = opt.state_dict()
    objects = [(part.state, list(part.param_groups)) for part in opt.parts]
    with pytest.raises(ValueError, match=message):
        opt.load_state_dict(make_bad(opt.state_dict()))
    assert [(part.state, list(part.param_groups)) for part in opt.parts] == objects
    after = opt.state_dict()
    assert after["param_groups"] == before["param_groups"]
    for i, s in before["state"].items():
        for k, v in s.items():
            np.testing.assert_array_equal(after["state"][i][k], v)


def test_combined_load_state_dict_round_trips():
    opt, other = _muon_adamw(), _muon_adamw()
    other.load_state_dict(opt.state_dict())
    for i, s in opt.state_dict()["state"].items():
        for k, v in s.items():
            np.testing.assert_array_equal(other.state_dict()["state"][i][k], v)


def test_muon_entry_splits_parameters_and_resumes_bit_exact():
    from models.optimizers import make_optimizer
    ps = [mg.nn.Parameter(np.random.default_rng(0).standard_normal(s)) for s in [(4, 3), (3,), (5, 4)]]
    opt = make_optimizer("muon", ps, 1e-2)
    muon, adamw = opt.parts
    assert isinstance(muon, optim.Muon) and [p.shape for p in muon.param_groups[0]["params"]] == [(4, 3), (5, 4)]
    assert isinstance(adamw, optim.AdamW) and [p.shape for p in adamw.param_groups[0]["params"]] == [(3,)]
    sched = optim.lr_scheduler.StepLR(opt, step_size=5, gamma=0.5)

    def run(opt, sched, ps, seed):
        rng = np.random.default_rng(seed)
        for _ in range(10):
            for p in ps:
                p.grad = rng.standard_normal(p.shape)
            opt.step()
            sched.step()

    run(opt, sched, ps, 1)
    assert [g["lr"] for g in opt.param_groups] == [2.5e-3, 2.5e-3]  # the schedule reaches both parts
    saved, sched_saved, weights = opt.state_dict(), sched.state_dict(), [p.data.copy() for p in ps]
    assert sorted(saved["state"]) == [0, 1, 2] and [g["params"] for g in saved["param_groups"]] == [[0, 1], [2]]
    run(opt, sched, ps, 2)
    qs = [mg.nn.Parameter(w.copy()) for w in weights]
    resumed = make_optimizer("muon", qs, 1e-2)
    resumed_sched = optim.lr_scheduler.StepLR(resumed, step_size=5, gamma=0.5)
    resumed.load_state_dict(saved)
    resumed_sched.load_state_dict(sched_saved)
    run(resumed, resumed_sched, qs, 2)
    for p, q in zip(ps, qs):
        np.testing.assert_array_equal(p.data, q.data)
    bad = {"state": {**saved["state"], 7: saved["state"][0]}, "param_groups": saved["param_groups"]}
    with pytest.raises(ValueError, match="parameter index 7, which no group names"):
        resumed.load_state_dict(bad)


def test_a_non_finite_final_validation_loss_is_never_healthy(monkeypatch):
    """Training losses all finite, evaluation NaN (weights or statistics that are not finite):
    train() hands the final metrics to the monitor, whose health line says so."""
    task = make_task("digits")
    monkeypatch.setattr(task, "evaluate", lambda model: {"val_loss": float("nan"), "val_acc": 0.1})
    monitor = optim.TrainingMonitor()
    config = dict(optimizer="adam", lr=task.lr_for("adam"), schedule="none", clip=1.0, steps=5,
                  batch_size=32, seed=0)
    train(task, config, progress=False, monitor=monitor)
    assert "healthy" != monitor.health() and "val_loss" in monitor.health()
