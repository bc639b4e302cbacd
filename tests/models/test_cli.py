"""The command line end to end, in subprocesses, on tiny settings."""
import os
import pickle
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import ROOT, assert_same_checkpoint, cli, requires_gpu


def load(path):
    from models import checkpoint
    return checkpoint.load(str(path))


CKPT = "checkpoint.safetensors"


def test_train_digits_tiny(tmp_path):
    p = cli("train", "--task", "digits", "--steps", "40", "--out", str(tmp_path))  # with the progress bar
    assert "test_acc" in p.stdout
    ck = load(tmp_path / CKPT)
    assert ck["step"] == 40 and len(ck["history"]["loss"]) == 40
    assert ck["history"]["loss"][-1] < ck["history"]["loss"][0]


def test_train_names_tiny_samples_names(tmp_path):
    p = cli("train", "--task", "names", "--data", "first-names", "--steps", "30", "--out",
            str(tmp_path), "--quiet", "--optimizer", "adam", "--clip", "1.0")
    assert "samples:" in p.stdout and "val_loss" in p.stdout


@pytest.mark.parametrize("task,extra", [("digits", []), ("names", ["--data", "first-names", "--schedule", "step"]),
                                        ("digits", ["--optimizer", "schedulefree"])])  # group counters
def test_resume_equals_uninterrupted(tmp_path, task, extra):
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    base = ["train", "--task", task, "--steps", "60", "--quiet", *extra]
    cli(*base, "--out", str(whole))
    cli(*base, "--out", str(parts), "--stop-after", "25")
    assert load(parts / CKPT)["step"] == 25
    cli(*base, "--out", str(parts), "--resume")
    a, b = load(whole / CKPT), load(parts / CKPT)
    assert a["step"] == b["step"] == 60
    assert_same_checkpoint(a, b)


def test_corrupt_checkpoint_is_rejected_and_left_alone(tmp_path):
    cli("train", "--task", "digits", "--steps", "10", "--out", str(tmp_path), "--quiet")
    path = tmp_path / CKPT
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # truncated, as by a crash mid-copy
    broken = path.read_bytes()
    p = cli("train", "--task", "digits", "--steps", "20", "--out", str(tmp_path), "--quiet", "--resume", check=False)
    assert p.returncode != 0
    assert p.stderr.strip().count("\n") == 0 and "truncated" in p.stderr
    assert path.read_bytes() == broken


def test_mismatched_checkpoint_is_rejected(tmp_path):
    cli("train", "--task", "digits", "--steps", "10", "--out", str(tmp_path), "--quiet")
    before = (tmp_path / CKPT).read_bytes()
    p = cli("train", "--task", "digits", "--steps", "10", "--optimizer", "sgd", "--out", str(tmp_path),
            "--quiet", "--resume", check=False)
    assert p.returncode != 0 and "optimizer: checkpoint 'adamw', now 'sgd'" in p.stderr
    assert (tmp_path / CKPT).read_bytes() == before


@pytest.mark.parametrize("args,message", [
    (["train", "--task", "mnist"], "unknown task 'mnist'"),
    (["train", "--task", "digits", "--optimizer", "adamq"], "unknown optimizer 'adamq'"),
    (["train", "--task", "digits", "--steps", "-5"], "--steps must be positive"),
    (["train", "--task", "digits", "--lr", "-1"], "--lr must be positive"),
    (["train", "--task", "digits", "--lr", "inf"], "--lr must be positive and finite, got inf"),
    (["train", "--task", "digits", "--lr", "nan"], "--lr must be positive and finite, got nan"),
    (["train", "--task", "digits", "--lr", "1e400"], "--lr must be positive and finite"),
    (["train", "--task", "digits", "--clip", "nan"], "--clip must be positive and finite, got nan"),
    (["compare", "--task", "rosenbrock", "--clip", "inf"], "--clip must be positive and finite"),
    (["compare", "--task", "rosenbrock", "--lr", "adam=inf"], "--lr adam must be positive and finite"),
    (["compare", "--task", "rosenbrock", "--lr", "adam"], "--lr expects name=value pairs"),
    (["train", "--task", "digits", "--checkpoint-every", "-1"], "--checkpoint-every must be >= 0"),
    (["train", "--task", "rosenbrock", "--data", "first-names"], "--data first-names applies only to --task names"),
    (["train", "--task", "digits", "--resume", "--overwrite"], "choose one"),
    (["train", "--task", "digits", "--out", ROOT + "/README.md"], "is a file, not a directory"),
    (["train", "--task", "digits", "--out", ROOT + "/README.md/sub"], "cannot be created"),
    (["compare", "--task", "rosenbrock", "--out", ROOT + "/README.md"], "is a file, not a directory"),
    (["compare", "--task", "rosenbrock", "--optimizers", "adam,nope"], "unknown optimizer 'nope'"),
    (["train", "--task", "digits", "--resume", "--out", "/nonexistent/dir"], "no checkpoint"),
    (["train", "--task", "digits", "--device", "tpu"], "unknown device 'tpu'"),
])
def test_bad_input_exits_nonzero_with_one_line(args, message):
    p = cli(*args, "--quiet", check=False)
    assert p.returncode != 0
    assert message in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1


def test_cuda_without_gpu_exits_with_the_reason():
    from minigrad import backend
    if backend.gpu_unavailable_reason() is None:
        pytest.skip("a GPU is available here, so there is no failure to check")
    p = cli("train", "--task", "digits", "--device", "cuda", "--quiet", check=False)
    assert p.returncode != 0 and "--device cuda" in p.stderr and len(p.stderr.strip().splitlines()) == 1


@requires_gpu
@pytest.mark.parametrize("task,extra", [
    ("digits", []), ("names", ["--data", "first-names", "--optimizer", "adam", "--clip", "1.0"]),
    ("names-gpt", []), ("sparse", []), ("digits", ["--optimizer", "schedulefree"])])
def test_training_on_cuda_follows_the_cpu_run_and_resumes(tmp_path, task, extra):
    """The same run on the GPU: the same losses as on the CPU up to float32 rounding (cuBLAS sums
    in another order), and a run stopped and resumed on the GPU ends where the whole one does
    (up to the GPU's atomic sums, whose order is not fixed)."""
    base = ["train", "--task", task, "--steps", "40", "--quiet", *extra]
    cli(*base, "--out", str(tmp_path / "cpu"))
    cli(*base, "--device", "cuda", "--out", str(tmp_path / "cuda"))
    cli(*base, "--device", "cuda", "--out", str(tmp_path / "parts"), "--stop-after", "15")
    cli(*base, "--device", "cuda", "--out", str(tmp_path / "parts"), "--resume")
    cpu, gpu, parts = (load(tmp_path / d / CKPT) for d in ("cpu", "cuda", "parts"))
    assert cpu["step"] == gpu["step"] == parts["step"] == 40
    np.testing.assert_allclose(gpu["history"]["loss"], cpu["history"]["loss"], rtol=2e-3)
    assert gpu["history"]["loss"][-1] < gpu["history"]["loss"][0]
    np.testing.assert_allclose(parts["history"]["loss"], gpu["history"]["loss"], rtol=1e-5)
    for k in cpu["model"]:
        np.testing.assert_allclose(gpu["model"][k], cpu["model"][k], rtol=2e-2, atol=2e-3,
                                   err_msg=k)


def test_compare_prints_a_table_for_every_optimizer(tmp_path):
    p = cli("compare", "--task", "rosenbrock", "--optimizers", "sgd,adam,adagrad", "--steps", "200",
            "--out", str(tmp_path), "--quiet")
    lines = p.stdout.splitlines()
    for name in ("sgd", "adam", "adagrad"):
        assert any(line.startswith(name) for line in lines)
    assert "train_loss" in p.stdout and "steps to" in p.stdout
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert "pip install 'minigrad[plot]'" in p.stdout
    else:
        assert (tmp_path / "compare-rosenbrock.png").stat().st_size > 10_000
        assert (tmp_path / "rosenbrock-trajectories.png").stat().st_size > 10_000


def test_compare_lr_sweep_reports_best_rates(tmp_path):
    p = cli("compare", "--task", "quadratic", "--optimizers", "sgd,adam", "--steps", "100", "--lr-sweep",
            "--out", str(tmp_path), "--quiet")
    assert "learning-rate sweep" in p.stdout and "best lr" in p.stdout


def test_compare_sparse_vocab_sparse_adagrad_equals_dense(tmp_path):
    p = cli("compare", "--task", "sparse-vocab", "--optimizers", "adagrad,adagrad+dense,adam", "--steps", "30",
            "--out", str(tmp_path), "--quiet")
    rows = {line.split()[0]: line.split() for line in p.stdout.splitlines()
            if line.startswith(("adagrad", "adam"))}
    assert set(rows) == {"adagrad", "adagrad+dense", "adam"}
    assert rows["adagrad"][2:5] == rows["adagrad+dense"][2:5]  # exactly the dense update: same losses
    bad = cli("compare", "--task", "digits", "--optimizers", "adam+dense", "--quiet", check=False)
    assert bad.returncode != 0 and "adam+dense" in bad.stderr


def test_an_existing_checkpoint_needs_resume_or_overwrite(tmp_path):
    cli("train", "--task", "rosenbrock", "--steps", "20", "--out", str(tmp_path), "--quiet")
    before = (tmp_path / CKPT).read_bytes()
    p = cli("train", "--task", "rosenbrock", "--steps", "30", "--out", str(tmp_path), "--quiet", check=False)
    assert p.returncode == 2 and "--resume" in p.stderr and "--overwrite" in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1 and (tmp_path / CKPT).read_bytes() == before
    cli("train", "--task", "rosenbrock", "--steps", "30", "--out", str(tmp_path), "--quiet", "--overwrite")
    assert load(tmp_path / CKPT)["step"] == 30


@pytest.mark.parametrize("first,second,message", [
    (["--task", "rosenbrock"], ["--task", "beale"], "from --task rosenbrock, this run is --task beale"),
    (["--task", "names", "--data", "first-names"], ["--task", "names", "--data", "surnames"],
     "from --data first-names, this run is --data surnames"),
])
def test_resume_refuses_a_checkpoint_of_another_task_or_data(tmp_path, first, second, message):
    cli("train", *first, "--steps", "10", "--out", str(tmp_path), "--quiet")
    p = cli("train", *second, "--steps", "10", "--out", str(tmp_path), "--quiet", "--resume", check=False)
    assert p.returncode == 2 and message in p.stderr and len(p.stderr.strip().splitlines()) == 1


class _RunsCode:
    """Under pickle, loading this calls open(marker, 'w'): code named by the file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("name", ["checkpoint.pkl", CKPT])
def test_a_pickled_checkpoint_is_refused_and_never_unpickled(tmp_path, name):
    marker = tmp_path / "ran"
    (tmp_path / name).write_bytes(pickle.dumps({"format": "minigrad-checkpoint-1", "model": _RunsCode(str(marker))}))
    p = cli("train", "--task", "digits", "--out", str(tmp_path), "--quiet", "--resume", check=False)
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1
    assert "format changed to safetensors" in p.stderr and "never" in p.stderr
    assert not marker.exists()


@pytest.fixture(scope="module")
def good_checkpoint(tmp_path_factory):
    """The arguments of a finished 6-step run, and the bytes of its checkpoint."""
    from models.cli import main
    out = tmp_path_factory.mktemp("good")
    args = ["train", "--task", "digits", "--steps", "6", "--schedule", "step", "--optimizer", "adam", "--quiet"]
    assert main(args + ["--out", str(out)]) == 0
    return args, (out / CKPT).read_bytes()


def _set(*path_and_value):
    *path, value = path_and_value

    def edit(payload):
        d = payload
        for k in path[:-1]:
            d = d[k]
        d[path[-1]] = value(d[path[-1]]) if callable(value) else value
    return edit


@pytest.mark.parametrize("edit,message", [
    (_set("optimizer", "param_groups", 0, "lr", "fast"), "optimizer param_groups[0]['lr']: expected float"),
    (_set("optimizer", "param_groups", 0, "betas", [0.9, 0.999]), "expected a tuple of 2"),
    (_set("optimizer", "param_groups", 0, "lr", -1.0), "Invalid lr"),
    (_set("optimizer", "state", 0, "step", "3"), "optimizer state[0]['step']: expected an array or a number"),
    (_set("optimizer", "state", 0, "exp_avg", np.zeros(3, np.float32)), "has shape (3,)"),
    (_set("optimizer", "state", 99, {}), "expected {index < 8: dict}"),
    (_set("optimizer", "state", None), "expected {index < 8: dict}"),
    (_set("rng", "minigrad", "seed"), "rng['minigrad']: expected entries"),
    (_set("rng", "data", "bit_generator", "MT19937"), "rng['data']: not a valid generator state"),
    (_set("rng", "data", "state", "inc", 1.5), "rng['data']['state']['inc']: expected int"),
    (_set("scheduler", "last_epoch", "x"), "scheduler['last_epoch']: expected int"),
    (_set("scheduler", "last_epoch", 3), "last_epoch 3 at step 6"),
    (_set("scheduler", None), "scheduler: expected entries"),
    (_set("scheduler", "milestones", {3: 1}), "scheduler['milestones']"),
    (_set("step", 2.5), "checkpoint step: expected an integer from 0 to 6, got 2.5"),
    (_set("step", True), "checkpoint step: expected an integer"),
    (_set("step", 7), "checkpoint step: expected an integer from 0 to 6, got 7"),
    (_set("history", "loss", lambda a: a[:-1]), "history['loss']: expected a float64 array of shape (6,)"),
    (_set("model", "net.0.weight", lambda a: a.astype(np.float64)), "expected a float32 array"),
    (lambda p: p["model"].pop("net.1.bias"), "model: expected entries"),
    (_set("config", "lr", "0.001"), "lr: checkpoint '0.001', now 0.001"),
    (_set("config", [1]), "config: expected a dict"),
    (_set("task", "beale"), "from --task beale, this run is --task digits"),
    (_set("history", 7), "history: expected entries"),
])
def test_wrong_typed_checkpoint_fields_exit_2_with_one_line(tmp_path, capsys, good_checkpoint, edit, message):
    from minigrad import serialization
    from models import checkpoint
    from models.cli import main
    args, data = good_checkpoint
    path = tmp_path / CKPT
    payload = serialization.from_bytes(data)
    edit(payload)
    payload.pop("format")
    checkpoint.save(str(path), payload)
    capsys.readouterr()
    assert main(args + ["--out", str(tmp_path), "--resume"]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err


def test_a_diverging_run_stops_with_one_line_and_keeps_the_last_checkpoint(tmp_path):
    cli("train", "--task", "digits", "--steps", "5", "--out", str(tmp_path), "--quiet")
    before = (tmp_path / CKPT).read_bytes()
    for every in ("1", "0"):
        p = cli("train", "--task", "digits", "--steps", "20", "--lr", "1e300", "--out", str(tmp_path), "--quiet",
                "--overwrite", "--checkpoint-every", every, check=False)
        assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1, p.stderr
        assert "inf or NaN" in p.stderr or "the loss became" in p.stderr
        assert (tmp_path / CKPT).read_bytes() == before


def test_stale_temporary_files_are_removed_at_start(tmp_path):
    dead, live = tmp_path / ".checkpoint-4194399-x.tmp", tmp_path / f".checkpoint-{os.getpid()}-y.tmp"
    legacy = tmp_path / ".checkpoint-abc.tmp"
    for f in (dead, live, legacy):
        f.write_bytes(b"half a checkpoint")
    cli("train", "--task", "rosenbrock", "--steps", "5", "--out", str(tmp_path), "--quiet")
    assert not dead.exists() and not legacy.exists()
    assert live.exists()  # a running writer's file (this test's pid) is left alone


@pytest.mark.parametrize("sig,code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_saves_at_a_step_boundary_and_resume_is_exact(tmp_path, sig, code):
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    base = ["train", "--task", "rosenbrock", "--steps", "20000", "--quiet", "--checkpoint-every", "500"]
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-m", "models", *base, "--out", str(parts)], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (parts / CKPT).exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    assert signal.Signals(sig).name in err and "continue with --resume" in err
    stopped = load(parts / CKPT)["step"]
    assert 0 < stopped < 20000 and len(load(parts / CKPT)["history"]["loss"]) == stopped
    cli(*base, "--out", str(parts), "--resume")
    cli(*base, "--out", str(whole))
    a, b = load(whole / CKPT), load(parts / CKPT)
    for part in ("model", "history"):
        for k in a[part]:
            np.testing.assert_array_equal(a[part][k], b[part][k])
