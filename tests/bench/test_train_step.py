"""bench/train_step.py: its variants do one arithmetic. Three steps of each, from the same
weights on the same batches, give eager's losses: the NumPy floor and torch to float32 rounding,
mg.compile bit for bit. Nothing is timed; torch.compile is left out (compiling takes ~15 s)."""
import importlib.util
import os

import numpy as np
import pytest

import minigrad as mg

from conftest import ROOT, torch_or_skip


def _load():
    """The script as a module (bench/ is not a package)."""
    path = os.path.join(ROOT, "bench", "train_step.py")
    spec = importlib.util.spec_from_file_location("bench_train_step", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


train_step = _load()
STEPS = 3


@pytest.mark.parametrize("task", ["makemore", "mlp"])
def test_numpy_floor_matches_eager(task):
    losses, skipped = train_step.check(task, ["eager", "numpy"], n=STEPS)
    assert skipped == {}
    assert len(losses["numpy"]) == STEPS
    np.testing.assert_allclose(losses["numpy"], losses["eager"], rtol=0, atol=1e-5)


@pytest.mark.parametrize("task", ["makemore", "mlp", "gpt"])
def test_torch_matches_eager(task):
    torch_or_skip()
    losses, skipped = train_step.check(task, ["eager", "torch"], n=STEPS)
    assert skipped == {}
    np.testing.assert_allclose(losses["torch"], losses["eager"], rtol=0, atol=1e-5)


@pytest.mark.skipif(getattr(mg, "compile", None) is None, reason="minigrad has no mg.compile yet (issue 23)")
@pytest.mark.parametrize("task", ["makemore", "mlp", "gpt"])
def test_compiled_equals_eager_bit_for_bit(task):
    losses, skipped = train_step.check(task, ["eager", "compiled"], n=STEPS)
    assert skipped == {}
    assert losses["compiled"] == losses["eager"]


def test_rows_that_cannot_run_say_why():
    _, skipped = train_step.check("gpt", ["numpy", "compiled"], n=1)
    assert "no NumPy floor" in skipped["numpy"]
    if getattr(mg, "compile", None) is None:
        assert skipped["compiled"] == "not available (mg.compile missing)"


@pytest.mark.parametrize("argv, message", [
    (["--tasks", "makemore,cnn"], "unknown task 'cnn'"),
    (["--variants", "eager,jax"], "unknown variant 'jax'"),
    (["--steps", "0"], "--steps: must be a positive integer, got '0'"),
    (["--rounds", "two"], "--rounds: must be a positive integer, got 'two'"),
])
def test_bad_flags_are_refused(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        train_step.parser().parse_args(argv)
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err
