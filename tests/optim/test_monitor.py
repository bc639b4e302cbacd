"""optim.TrainingMonitor: each symptom on synthetic loss sequences (fast) and provoked on small
tasks through `minigrad train`'s loop; a non-finite loss leaves a checkpoint of the last good step."""
import math
import os
import subprocess
import sys

import numpy as np
import pytest

import minigrad as mg
import minigrad.nn as nn
import minigrad.nn.functional as F
import optim
from models import checkpoint
from models.tasks import make_task
from models.train import Diverged, train
from conftest import ROOT



def feed(losses, grad_norms=None, lrs=None, **kw):
    m = optim.TrainingMonitor(**kw)
    for i, loss in enumerate(losses):
        m.update(loss, grad_norm=None if grad_norms is None else grad_norms[i],
                 lr=None if lrs is None else lrs[i])
    return m


def symptoms(m):
    return {f.symptom for f in m.findings}


rng = np.random.default_rng(0)
N = 1000
t = np.arange(N)
healthy = 2.0 * np.exp(-t / 100) + 0.3 + 0.02 * rng.standard_normal(N)
step_lr = np.where(t < 500, 0.1, 0.01)
step_loss = (2.0 * np.exp(-t / 100) + np.where(t < 500, 1.0, 0.7 + 0.3 * np.exp(-(t - 500) / 20))
             + 0.01 * rng.standard_normal(N))
cosine_lr = 0.1 * (1 + np.cos(np.pi * t / N)) / 2

SEQUENCES = [
    # (name, losses, grad norms, lrs, symptom expected (None: healthy), words of the remedy)
    ("healthy", healthy, np.ones(N), None, None, None),
    ("nan", np.r_[healthy[:300], np.nan], None, None, "non-finite loss", "--clip 1.0"),
    ("inf gradient", healthy[:300], np.r_[np.ones(299), np.inf], None, "non-finite gradient", "--clip 1.0"),
    ("rising", 2.0 + t / 100, None, None, "divergence", "--lr 0.01"),
    ("flat", 2.0 + 0.01 * rng.standard_normal(N), None, None, "no progress", "--lr 1"),
    ("jumped then flat", np.r_[0.7, np.full(N - 1, 5.0)], None, None, "no progress", "--lr 0.01"),
    ("straight and slow", 2.0 - t / 1000 + 0.005 * rng.standard_normal(N), None, None, "slow progress", "--lr 1"),
    ("wild swings", healthy + 0.8 * (-1) ** t, None, None, "oscillation", "--batch-size 128"),
    ("gradient spike", healthy, np.r_[np.ones(400), 1e3, np.ones(N - 401)], None, "exploding gradient", "--clip 1.0"),
    ("step decay", step_loss, None, step_lr, "plateau then drop", "--schedule warmup-cosine"),
    ("cosine to zero", healthy, None, cosine_lr, None, None),
]


@pytest.mark.parametrize("name,losses,norms,lrs,expected,remedy", SEQUENCES, ids=[s[0] for s in SEQUENCES])
def test_each_symptom_on_a_synthetic_sequence(name, losses, norms, lrs, expected, remedy):
    m = feed(losses, norms, lrs, steps=N, lr=0.1, batch_size=32)
    if expected is None:
        assert m.findings == [] and m.health() == "health: healthy", [str(f) for f in m.findings]
        return
    assert expected in symptoms(m), [str(f) for f in m.findings]
    f = next(f for f in m.findings if f.symptom == expected)
    assert remedy in f.remedy and f.evidence and f.cause
    assert (f.severity == "expected") == (expected == "plateau then drop")
    assert expected in m.health()
    assert ("healthy" in m.health()) == (f.severity == "expected")


def test_a_symptom_is_reported_once_at_its_first_step():
    m = feed(np.r_[np.ones(20), np.nan, np.nan, np.nan])
    assert [(f.symptom, f.step) for f in m.findings] == [("non-finite loss", 21)]


def test_update_returns_only_the_new_findings():
    m = optim.TrainingMonitor()
    assert [m.update(1.0) for _ in range(5)] == [[]] * 5
    new = m.update(math.inf)
    assert [f.symptom for f in new] == ["non-finite loss"] and m.update(1.0) == []


def test_the_monitor_keeps_no_history():
    """O(1) per step: after many steps its state is as large as after a few."""
    def size(m):
        return sum(len(v) if isinstance(v, (list, tuple, dict, set)) else 1 for v in vars(m).values())
    def smooth(n):
        return 2.0 * np.exp(-np.arange(n) / 100) + 0.3
    a, b = feed(smooth(20)), feed(smooth(20_000))
    assert b.findings == [] and b.t == 20_000
    assert size(a) == size(b)


def test_dying_adagrad_is_read_from_its_state_without_changing_it():
    p = mg.nn.Parameter(np.ones(100))
    opt = optim.Adagrad([p], lr=0.1)
    m = optim.TrainingMonitor(opt)
    noise = np.random.default_rng(1)
    for step in range(1, 6001):
        p.grad = noise.standard_normal(100)  # gradients of constant size: G grows like t
        opt.step()
        before = opt.state[p]["step"]
        m.update(1.0)
        assert opt.state[p]["step"] == before  # scalars() ran on a copy of the state
    f = next(f for f in m.findings if f.symptom == "dying learning rate")
    assert "--optimizer rmsprop" in f.remedy  # sqrt(t) / median|g_1| = 100 near t = 4500


NONFINITE_RUNS = {  # (losses, grad norms, final metrics): never "health: healthy"
    "nan val_loss": (healthy, None, {"train_loss": 0.3, "val_loss": math.nan, "val_acc": 0.9}),
    "inf val_loss": (healthy, None, {"val_loss": math.inf}),
    "-inf train_loss": (healthy, None, {"train_loss": -math.inf, "val_loss": 0.3}),
    "float32 nan": (healthy, None, {"val_loss": np.float32("nan")}),
    "0-d array nan": (healthy, None, {"val_loss": np.array(math.nan)}),
    "nan final loss": (np.r_[healthy[:-1], math.nan], None, {"val_loss": 0.3}),
    "inf final gradient": (healthy, np.r_[np.ones(N - 1), math.inf], {"val_loss": 0.3}),
    "nan first loss": (np.r_[math.nan, healthy[1:]], None, {"val_loss": 0.3}),
}


@pytest.mark.parametrize("losses,norms,metrics", NONFINITE_RUNS.values(), ids=NONFINITE_RUNS.keys())
def test_a_run_with_any_non_finite_loss_or_metric_is_never_healthy(losses, norms, metrics):
    m = feed(losses, norms, steps=N, lr=0.1)
    m.check_metrics(metrics)
    assert not m.health().startswith("health: healthy"), m.health()
    assert any(f.severity == "critical" and "non-finite" in f.symptom for f in m.findings)


def test_check_metrics_names_the_metric_and_ignores_what_is_not_a_number():
    m = feed(healthy, steps=N, lr=0.1)
    assert m.check_metrics({"val_loss": 0.31, "val_acc": 0.9, "note": "x", "ok": True, "v": [math.nan]}) == []
    assert m.health() == "health: healthy"
    new = m.check_metrics({"val_loss": math.nan})
    assert [(f.symptom, f.step, f.severity) for f in new] == [("non-finite val_loss", N, "critical")]
    assert "val_loss is nan" in new[0].evidence and "--overwrite" in new[0].remedy
    assert m.health() == f"health: 1 problem: non-finite val_loss (critical, step {N})"
    with pytest.raises(TypeError, match="expects a mapping"):
        m.check_metrics(math.nan)


def test_finite_training_losses_with_a_nan_evaluation_are_caught_by_the_metrics():
    """The issue's run: BatchNorm's running_var at -1 (written into the raw array, which no
    check sees) trains on batch statistics, finite losses, and evaluates to NaN."""
    net = nn.Sequential(nn.Linear(4, 3, dtype=np.float64), nn.BatchNorm1d(3, momentum=0.0, dtype=np.float64),
                        nn.Linear(3, 2, dtype=np.float64))
    net[1].running_var[...] = -1.0  # momentum 0: the running statistics never move
    opt = optim.SGD(net.parameters(), lr=0.1)
    m = optim.TrainingMonitor(opt, steps=50)
    data = np.random.default_rng(0)
    x, y = data.standard_normal((64, 4)), data.integers(0, 2, 64)
    for _ in range(50):
        loss = F.cross_entropy(net(mg.tensor(x)), y)
        opt.zero_grad()
        loss.backward()
        m.update(loss.item())
        opt.step()
    assert m.health() == "health: healthy"  # the training losses alone cannot tell
    net.eval()
    with np.errstate(invalid="ignore"):
        val_loss = F.cross_entropy(net(mg.tensor(x)), y).item()
    assert math.isnan(val_loss)
    m.check_metrics({"val_loss": val_loss})
    assert m.health().startswith("health: 1 problem: non-finite val_loss")


@pytest.mark.parametrize("bad", [0, -5, 2.5, "100"])
def test_bad_steps_are_refused(bad):
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        optim.TrainingMonitor(steps=bad)


# ============================================================================ provoked on tasks


class NoisyRegression:
    """y = X w* + noise with a linear model from zero: SGD's loss settles on a floor that its lr
    sets, so a step decay shows a drop; with w* = 0 the model starts at the optimum, the
    gradient is pure noise of constant size, and AdaGrad's accumulator grows like t."""
    name, data, kind = "noisy-regression", None, "nn"

    def __init__(self, w_star):
        self.w = np.full((8, 1), w_star, np.float32)

    def build(self, seed, variant=""):
        mg.manual_seed(seed)
        model = nn.Linear(8, 1)
        model.weight.data[...] = 0
        model.bias.data[...] = 0
        return model

    def batch(self, rng, batch_size):
        X = rng.normal(size=(batch_size, 8)).astype(np.float32)
        return X, (X @ self.w + rng.normal(size=(batch_size, 1))).astype(np.float32)

    def loss(self, model, batch):
        return F.mse_loss(model(mg.tensor(batch[0])), mg.tensor(batch[1]))

    def optimizer_params(self, model):
        return model.parameters()

    def check_batch_size(self, batch_size):
        """Every batch is drawn fresh: any size is a sample of the distribution, none repeats."""

    def evaluate(self, model):
        return {}


PROVOKED = [
    # (task, optimizer, lr, schedule, steps planned, run, batch size, expected symptom, in its remedy)
    ("sparse", "sgd", 1000.0, "none", 150, 150, 64, "no progress", "--lr 100"),            # lr far too high
    ("digits", "adamw", 3.0, "warmup-cosine", 600, 40, 64, "divergence", "--lr 0.3"),   # lr far too high
    ("sparse", "adagrad", 1e-5, "none", 150, 150, 64, "no progress", "--lr 1e-4"),      # far too low
    ("sparse", "adagrad", 0.1, "none", 150, 150, 2, "oscillation", "--batch-size 64"),   # batch size 2
    (NoisyRegression(1.0), "sgd", 0.1, "step", 600, 600, 16, "plateau then drop", "warmup-cosine"),
    ("rosenbrock", "sgd", 0.01, "none", 50, 50, 1, "exploding gradient", "--clip 1.0"),   # no clipping
    (NoisyRegression(0.0), "adagrad", 0.01, "none", 300, 300, 2, "dying learning rate", "rmsprop"),
]


@pytest.mark.parametrize("task,opt,lr,schedule,steps,run,bs,expected,remedy", PROVOKED,
                         ids=[f"{r[7]}-{r[0] if isinstance(r[0], str) else 'regression'}" for r in PROVOKED])
def test_each_symptom_provoked_on_a_small_task(task, opt, lr, schedule, steps, run, bs, expected, remedy):
    task = make_task(task) if isinstance(task, str) else task
    m = optim.TrainingMonitor(steps=steps)
    config = dict(optimizer=opt, lr=lr, schedule=schedule, clip=None, steps=steps, batch_size=bs, seed=0)
    with np.errstate(all="ignore"):
        try:
            train(task, config, progress=False, monitor=m, stop_after=run)
        except Diverged:
            pass
    assert expected in symptoms(m), m.health()
    f = next(f for f in m.findings if f.symptom == expected)
    assert remedy in f.remedy, str(f)
    if expected == "plateau then drop":
        assert m.health() == f"health: healthy (plateau then drop at step {f.step}, expected)"


def test_clipping_cures_the_exploding_gradient():
    m = optim.TrainingMonitor(steps=200)
    config = dict(optimizer="sgd", lr=0.01, schedule="none", clip=1.0, steps=200, batch_size=1, seed=0)
    train(make_task("rosenbrock"), config, progress=False, monitor=m)
    assert not {"exploding gradient", "non-finite loss", "divergence"} & symptoms(m), m.health()


# ============================================================================ the last good step


def digits_config(lr, steps):
    return dict(optimizer="sgd", lr=lr, schedule="none", clip=None, steps=steps, batch_size=16, seed=0)


def test_a_nonfinite_loss_saves_the_last_good_step_exactly(tmp_path):
    """digits (dropout, BatchNorm buffers, the data generator): the saved step is bit for bit
    the checkpoint of a run stopped there, so nothing of the abandoned step leaked into it."""
    task = make_task("digits")
    with np.errstate(all="ignore"), pytest.raises(Diverged, match="holds step 2, the last good one"):
        train(task, digits_config(1e10, 20), out=str(tmp_path / "a"), progress=False,
              monitor=optim.TrainingMonitor())
    train(task, digits_config(1e10, 20), out=str(tmp_path / "b"), progress=False, stop_after=2)
    a = checkpoint.load(str(tmp_path / "a" / checkpoint.NAME))
    b = checkpoint.load(str(tmp_path / "b" / checkpoint.NAME))
    assert a["step"] == b["step"] == 2 and a["rng"] == b["rng"]
    for part in ("model", "history"):
        for k in b[part]:
            np.testing.assert_array_equal(a[part][k], b[part][k])
            assert np.isfinite(a[part][k]).all()
    for i, s in b["optimizer"]["state"].items():
        for k, v in s.items():
            np.testing.assert_array_equal(a["optimizer"]["state"][i][k], v)


def test_a_nonfinite_gradient_stops_before_the_update(tmp_path):
    """sqrt at 0: the loss is 0, the gradient inf; the step is abandoned before opt.step."""
    class SqrtAtZero(NoisyRegression):
        def loss(self, model, batch):
            return (model.bias * model.bias).sum() ** 0.5  # d/db = b / |b|: 0/0 at b = 0

    m = optim.TrainingMonitor()
    with np.errstate(all="ignore"), pytest.raises(Diverged, match="gradient norm became"):
        train(SqrtAtZero(1.0), dict(digits_config(0.1, 5), batch_size=4), out=str(tmp_path), progress=False,
              monitor=m)
    saved = checkpoint.load(str(tmp_path / checkpoint.NAME))
    assert saved["step"] == 0 and (saved["model"]["bias"] == 0).all()
    assert [f.symptom for f in m.findings] == ["non-finite gradient"]


# ============================================================================ the command line


def cli(*args):
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-m", "models", *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=300)


def test_train_prints_a_health_line_unless_told_not_to(tmp_path):
    p = cli("train", "--task", "rosenbrock", "--steps", "200", "--quiet", "--out", str(tmp_path / "a"))
    assert p.returncode == 0 and "health: healthy" in p.stdout, p.stdout + p.stderr
    p = cli("train", "--task", "rosenbrock", "--steps", "200", "--quiet", "--out", str(tmp_path / "b"),
            "--no-monitor")
    assert p.returncode == 0 and "health:" not in p.stdout


def test_train_prints_a_critical_finding_at_once_and_the_health_line_on_divergence(tmp_path):
    p = cli("train", "--task", "rosenbrock", "--optimizer", "sgd", "--lr", "0.01", "--steps", "100",
            "--quiet", "--out", str(tmp_path))
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1, p.stderr
    out = p.stdout
    assert "[critical] exploding gradient at step" in out and "try: --clip 1.0" in out
    assert out.index("exploding gradient") < out.index("health: 2 problems")
    assert "holds step" in p.stderr and checkpoint.load(str(tmp_path / checkpoint.NAME))["step"] > 0


def test_a_resumed_run_catches_the_monitor_up_on_the_steps_already_run(tmp_path):
    task = make_task("rosenbrock")
    config = dict(optimizer="adagrad", lr=0.1, schedule="none", clip=None, steps=300, batch_size=1, seed=0)
    whole, parts = optim.TrainingMonitor(steps=300), optim.TrainingMonitor(steps=300)
    train(task, config, progress=False, monitor=whole)
    train(task, config, out=str(tmp_path), progress=False, stop_after=150)
    train(task, config, out=str(tmp_path), progress=False, resume=True, monitor=parts)
    assert parts.t == whole.t == 300 and parts.start == whole.start
    assert parts.health() == whole.health()


def test_dying_adagrad_on_the_device_is_found_as_on_the_cpu(device):
    """The monitor reads AdaGrad's accumulator where it lives: on the device it fires at the
    CPU run's step with the CPU run's numbers, and leaves the state as it was."""
    findings = []
    for dev in ("cpu", device):
        p = mg.nn.Parameter(mg.backend.to_device(np.ones(50), dev))
        opt = optim.Adagrad([p], lr=0.1, lr_decay=0.5)  # η_t falls like 1/t: dying by step 100
        m = optim.TrainingMonitor(opt)
        noise = np.random.default_rng(1)
        for step in range(1, 101):
            p.grad = mg.backend.to_device(noise.standard_normal(50), dev)
            opt.step()
            before = (opt.state[p]["step"], mg.backend.to_numpy(opt.state[p]["sum"]).copy())
            m.update(1.0)
            assert opt.state[p]["step"] == before[0]
            np.testing.assert_array_equal(mg.backend.to_numpy(opt.state[p]["sum"]), before[1])
        findings.append([(f.symptom, f.step, f.evidence) for f in m.findings])
    assert [f[:2] for f in findings[0]] == [("dying learning rate", 100)]
    assert findings[1] == findings[0]  # the same step, and the same numbers in its evidence
