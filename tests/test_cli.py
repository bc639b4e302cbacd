"""The command line end to end, in subprocesses, on tiny settings."""
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cli(*args, check=True):
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    p = subprocess.run([sys.executable, "-m", "models", *args], capture_output=True, text=True,
                       env=env, cwd=ROOT, timeout=300)
    if check and p.returncode != 0:
        raise AssertionError(f"exit {p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}")
    return p


def load(path):
    with open(path, "rb") as f:
        return pickle.load(f)


def test_train_digits_tiny(tmp_path):
    p = cli("train", "--task", "digits", "--steps", "40", "--out", str(tmp_path))  # with the progress bar
    assert "test_acc" in p.stdout
    ck = load(tmp_path / "checkpoint.pkl")
    assert ck["step"] == 40 and len(ck["history"]["loss"]) == 40
    assert ck["history"]["loss"][-1] < ck["history"]["loss"][0]


def test_train_names_tiny_samples_names(tmp_path):
    p = cli("train", "--task", "names", "--data", "first-names", "--steps", "30", "--out",
            str(tmp_path), "--quiet", "--optimizer", "adam", "--clip", "1.0")
    assert "samples:" in p.stdout and "val_loss" in p.stdout


@pytest.mark.parametrize("task,extra", [("digits", []), ("names", ["--data", "first-names", "--schedule", "step"])])
def test_resume_equals_uninterrupted(tmp_path, task, extra):
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    base = ["train", "--task", task, "--steps", "60", "--quiet", *extra]
    cli(*base, "--out", str(whole))
    cli(*base, "--out", str(parts), "--stop-after", "25")
    assert load(parts / "checkpoint.pkl")["step"] == 25
    cli(*base, "--out", str(parts), "--resume")
    a, b = load(whole / "checkpoint.pkl"), load(parts / "checkpoint.pkl")
    assert a["step"] == b["step"] == 60
    assert a["history"] == b["history"]
    for k in a["model"]:
        np.testing.assert_array_equal(a["model"][k], b["model"][k])
    for i, s in a["optimizer"]["state"].items():
        for k, v in s.items():
            np.testing.assert_array_equal(v, b["optimizer"]["state"][i][k])


def test_corrupt_checkpoint_is_rejected_and_left_alone(tmp_path):
    cli("train", "--task", "digits", "--steps", "10", "--out", str(tmp_path), "--quiet")
    path = tmp_path / "checkpoint.pkl"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # truncated, as by a crash mid-copy
    broken = path.read_bytes()
    p = cli("train", "--task", "digits", "--steps", "20", "--out", str(tmp_path), "--quiet", "--resume", check=False)
    assert p.returncode != 0
    assert p.stderr.strip().count("\n") == 0 and "corrupt" in p.stderr
    assert path.read_bytes() == broken


def test_mismatched_checkpoint_is_rejected(tmp_path):
    cli("train", "--task", "digits", "--steps", "10", "--out", str(tmp_path), "--quiet")
    before = (tmp_path / "checkpoint.pkl").read_bytes()
    p = cli("train", "--task", "digits", "--steps", "10", "--optimizer", "sgd", "--out", str(tmp_path),
            "--quiet", "--resume", check=False)
    assert p.returncode != 0 and "optimizer: checkpoint 'adamw', now 'sgd'" in p.stderr
    assert (tmp_path / "checkpoint.pkl").read_bytes() == before


@pytest.mark.parametrize("args,message", [
    (["train", "--task", "mnist"], "unknown task 'mnist'"),
    (["train", "--task", "digits", "--optimizer", "adamq"], "unknown optimizer 'adamq'"),
    (["train", "--task", "digits", "--steps", "-5"], "--steps must be positive"),
    (["train", "--task", "digits", "--lr", "-1"], "--lr must be positive"),
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
