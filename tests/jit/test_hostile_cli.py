"""A hostile user's tests of `python -m models train/compare --compile`: each runs the command
with and without --compile (or twice) and compares the checkpoints (every entry: model,
optimizer, scheduler, generators, history) and the printed metrics bit for bit.

The first half are holes (they fail on the code they were written against); each says, in one
line, what should happen. The second half are things that held, kept so that they stay held.
Each run is a few steps, to keep the file fast."""
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from models import checkpoint, plots
from models.compare import compare
from models.tasks import make_task
from models.train import train

from conftest import ROOT, cli

CKPT = "checkpoint.safetensors"
FUNCTION_TASKS = ("rosenbrock", "beale", "quadratic")


def flat(d, pre=""):
    if isinstance(d, dict):
        return {k2: v2 for k, v in d.items() for k2, v2 in flat(v, f"{pre}/{k}").items()}
    if isinstance(d, (list, tuple)):
        return {k2: v2 for i, v in enumerate(d) for k2, v2 in flat(v, f"{pre}[{i}]").items()}
    return {pre: d}


def assert_same_everything(a, b, ignore=()):
    """Two checkpoints hold the same entries, with the same values bit for bit (NaN equal)."""
    fa, fb = flat(a), flat(b)
    assert set(fa) == set(fb)
    for k in fa:
        if any(k.startswith(i) for i in ignore):
            continue
        x, y = fa[k], fb[k]
        if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
            x, y = np.asarray(x), np.asarray(y)
            assert x.dtype == y.dtype and x.shape == y.shape, k
            np.testing.assert_array_equal(x, y, err_msg=k)
        else:
            assert x == y or (x != x and y != y), (k, x, y)


def load(path):
    return checkpoint.load(str(path / CKPT))


def metrics(stdout):
    """The printed lines, less the timing and the run's own folder."""
    s = re.sub(r"step (\d+) in [\d.]+s, [\d.]+ steps/s( \(compiled\))?", r"step \1", stdout)
    return re.sub(r"(checkpoint|loss curves?|trajectories): .*", r"\1", s)


def ignored(task):
    # the function tasks never seed minigrad's generator (see the hole below): its state differs
    # between any two runs, eager or not
    return ("/rng/minigrad",) if task in FUNCTION_TASKS else ()


def both(tmp_path, *args, check=True):
    """The command without and with --compile, each in its own --out: (eager, compiled) outputs."""
    e = cli(*args, "--out", str(tmp_path / "e"), check=check)
    c = cli(*args, "--compile", "--out", str(tmp_path / "c"), check=check)
    return e, c


# ================================================================================== holes

def test_hole_compare_compiled_records_the_rosenbrock_trajectory_at_every_step(tmp_path, monkeypatch):
    # compare --compile must plot the whole path; task.loss's trace.append runs only at recording
    seen = {}

    def trajectories(fn, paths, png, title):
        seen.update(paths)
        return False
    monkeypatch.setattr(plots, "trajectories", trajectories)
    monkeypatch.setattr(plots, "loss_curves", lambda *a, **k: False)
    for compiled in (False, True):
        seen.clear()
        compare(make_task("rosenbrock"), ["adam"], 10, 1, 0, {}, "none", None, str(tmp_path / str(compiled)),
                progress=False, compiled=compiled)
        (path,) = seen.values()
        assert len(path) == 10, (compiled, len(path))


def test_hole_nan_in_a_parameter_makes_the_compiled_step_run_eagerly(tmp_path):
    # a NaN parameter must not read as "changed outside an op" (same_value: NaN != NaN) and
    # drop --compile for the rest of the run, with a warning blaming an assignment
    p = cli("compare", "--task", "digits", "--steps", "4", "--quiet", "--optimizers", "sgd",
            "--lr", "sgd=1e300", "--compile", "--out", str(tmp_path))
    assert "runs eagerly" not in p.stderr, p.stderr


def test_hole_second_order_optimizer_warning_is_one_clear_line(tmp_path):
    # --compile with adahessian: one line on stderr naming the optimizer and saying the step runs
    # eagerly (not a Python warning naming _step_functions.<locals>.loss_and_grads and its source
    # line), and no "(compiled)" claim in the report; the result is identical (that part holds)
    e, c = both(tmp_path, "train", "--task", "digits", "--steps", "3", "--quiet", "--no-monitor",
                "--optimizer", "adahessian")
    assert_same_everything(load(tmp_path / "e"), load(tmp_path / "c"))
    assert metrics(e.stdout) == metrics(c.stdout)
    lines = [line for line in c.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "adahessian" in lines[0], c.stderr
    assert "(compiled)" not in c.stdout


@pytest.mark.xfail(strict=True, reason="not --compile's: the resume check refuses the group keys "
                   "Prodigy adds at its first step (d_denom, d_hat, dlr), eagerly too; left for "
                   "an issue of its own (see the closing note of issue 23)")
@pytest.mark.parametrize("compiled", [[], ["--compile"]])
def test_hole_prodigy_checkpoint_cannot_be_resumed(tmp_path, compiled):
    # a prodigy run stopped with --stop-after must resume; the check of param_groups refuses the
    # keys ('d_denom', 'd_hat', 'dlr') that prodigy adds at its first step (eager too)
    base = ["train", "--task", "digits", "--steps", "4", "--quiet", "--no-monitor",
            "--optimizer", "prodigy", "--out", str(tmp_path), *compiled]
    cli(*base, "--stop-after", "2")
    p = cli(*base, "--resume", check=False)
    assert p.returncode == 0, p.stderr[-400:]


def test_hole_function_task_with_a_random_optimizer_is_not_reproducible(tmp_path):
    # the same --seed must give the same run; rosenbrock never seeds minigrad's generator, so
    # sophia's Hessian probes differ between any two runs (eager too), and so --compile cannot
    # be checked against eager there
    runs = [cli("train", "--task", "rosenbrock", "--steps", "6", "--quiet", "--no-monitor",
                "--optimizer", "sophia", "--out", str(tmp_path / str(i))) for i in range(2)]
    assert_same_everything(load(tmp_path / "0"), load(tmp_path / "1"))
    assert metrics(runs[0].stdout).replace("/1", "/0") == metrics(runs[1].stdout).replace("/1", "/0")


def test_hole_compare_lr_sweep_ignores_compile(tmp_path, monkeypatch):
    # compare --compile --lr-sweep must compile the sweep's runs too (it silently runs them eagerly)
    import models.compare as cmp
    calls = []

    def spy(*a, **k):
        calls.append(k.get("compiled", False))
        return train(*a, **k)
    monkeypatch.setattr(cmp, "train", spy)
    monkeypatch.setattr(cmp, "SWEEP", cmp.SWEEP[:1])
    monkeypatch.setattr(plots, "loss_curves", lambda *a, **k: False)
    monkeypatch.setattr(plots, "lr_sweep", lambda *a, **k: False, raising=False)
    from models.cli import main
    main(["compare", "--task", "quadratic", "--steps", "2", "--quiet", "--optimizers", "sgd",
          "--compile", "--lr-sweep", "--out", str(tmp_path)])
    assert calls and all(calls), calls


# ================================================================================== held

@pytest.mark.parametrize("task,extra", [
    ("names-gpt", ["--optimizer", "muon", "--batch-size", "3"]),
    ("digits", ["--optimizer", "schedulefree", "--clip", "0.5", "--schedule", "cosine",
                "--checkpoint-every", "2", "--seed", "5"]),
    ("sparse-vocab", ["--optimizer", "adam+dense"]),
    ("beale", ["--optimizer", "adagrad", "--clip", "0.3", "--schedule", "cosine"]),
])
def test_held_train_compiled_is_the_eager_run(tmp_path, task, extra):
    e, c = both(tmp_path, "train", "--task", task, "--steps", "4", "--quiet", *extra)
    assert "(compiled)" in c.stdout and not c.stderr.strip()
    assert metrics(e.stdout) == metrics(c.stdout)
    assert_same_everything(load(tmp_path / "e"), load(tmp_path / "c"), ignored(task))


def test_held_compare_compiled_prints_the_same_table(tmp_path):
    runs = both(tmp_path, "compare", "--task", "digits", "--steps", "4", "--quiet",
                "--optimizers", "adam,lion,muon")
    tables = [re.sub(r"\s+[\d.]+$", "", metrics(r.stdout), flags=re.M) for r in runs]
    assert tables[0] == tables[1] and "muon" in tables[0]


def test_held_divergence_stops_and_saves_as_eagerly(tmp_path):
    e, c = both(tmp_path, "train", "--task", "rosenbrock", "--steps", "30", "--quiet",
                "--optimizer", "sgd", "--lr", "10", check=False)
    assert e.returncode == c.returncode == 2 and "last good one" in c.stderr
    assert e.stderr.replace("/e/", "/c/") == c.stderr
    assert_same_everything(load(tmp_path / "e"), load(tmp_path / "c"), ignored("rosenbrock"))


def test_held_sigint_during_the_recordings_then_eager_resume_is_exact(tmp_path):
    base = ["train", "--task", "digits", "--steps", "40", "--quiet", "--no-monitor",
            "--checkpoint-every", "1"]
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    parts = tmp_path / "parts"
    proc = subprocess.Popen([sys.executable, "-m", "models", *base, "--compile", "--out", str(parts)],
                            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not (parts / CKPT).exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "continue with --resume" in err, err
    assert 0 < load(parts)["step"] < 40
    cli(*base, "--out", str(parts), "--resume")
    cli(*base, "--out", str(tmp_path / "whole"))
    assert_same_everything(load(tmp_path / "whole"), load(parts))


def test_held_stop_after_one_then_compiled_resumes(tmp_path):
    base = ["train", "--task", "digits", "--steps", "5", "--quiet", "--no-monitor", "--clip", "1"]
    cli(*base, "--out", str(tmp_path / "whole"))
    cli(*base, "--compile", "--stop-after", "1", "--out", str(tmp_path / "parts"))
    cli(*base, "--resume", "--stop-after", "3", "--out", str(tmp_path / "parts"))
    cli(*base, "--compile", "--resume", "--out", str(tmp_path / "parts"))
    assert_same_everything(load(tmp_path / "whole"), load(tmp_path / "parts"))


def test_held_compile_with_cuda_and_no_gpu_is_refused_as_without_it(tmp_path):
    from minigrad import backend
    if backend.gpu_unavailable_reason() is None:
        pytest.skip("a GPU is present")
    e, c = both(tmp_path, "train", "--task", "digits", "--steps", "2", "--quiet", "--device", "cuda",
                check=False)
    assert e.returncode == c.returncode != 0 and e.stderr == c.stderr and "--device cuda" in c.stderr
