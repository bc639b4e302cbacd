"""A hostile review of issue 19's fixes: each test here failed before its fix."""
import copy

import numpy as np
import pytest

import minigrad as mg
import optim

# every optimizer that has the switch, with the options it needs to be made
SWITCHES = [("SGD", dict(lr=0.1, momentum=0.9), "maximize"), ("SGD", dict(lr=0.1, momentum=0.9), "nesterov"),
            ("Adam", {}, "amsgrad"), ("AdamW", {}, "maximize"), ("RMSprop", {}, "centered"),
            ("NAdam", {}, "decoupled_weight_decay"), ("Prodigy", {}, "safeguard_warmup"),
            ("Adam", {}, "foreach"), ("Adam", {}, "fused")]


@pytest.mark.parametrize("name,kw,flag", SWITCHES)
@pytest.mark.parametrize("value", ["no", "False", 2, [True]])
def test_switch_must_be_a_bool(name, kw, flag, value):
    """maximize="no" is truthy: it maximized the loss, silently; a loaded group the same."""
    p = mg.nn.Parameter(np.ones((3, 3)))
    with pytest.raises(TypeError, match=f"Invalid {flag}: "):
        getattr(optim, name)([p], **kw, **{flag: value})
    opt = getattr(optim, name)([p], **kw)
    if hasattr(opt, "train"):
        opt.train()
    p.grad = np.ones((3, 3))
    opt.step()
    saved = opt.state_dict()
    before = copy.deepcopy(saved)
    bad = copy.deepcopy(saved)
    bad["param_groups"][0][flag] = value
    with pytest.raises(ValueError, match=f"Invalid {flag}: "):
        opt.load_state_dict(bad)
    after = opt.state_dict()
    assert after["param_groups"] == before["param_groups"]


def test_switch_accepts_numpy_bool_and_none_where_torch_does():
    p = mg.nn.Parameter(np.ones(3))
    opt = optim.Adam([p], maximize=np.bool_(True), foreach=None, fused=np.bool_(False))
    g = opt.param_groups[0]
    assert g["maximize"] is True and g["foreach"] is None and g["fused"] is False
    with pytest.raises(TypeError, match="Invalid maximize: None"):
        optim.Adam([p], maximize=None)


# ---------------------------------------------------------------- schedules: a lr that is no number
from optim import lr_scheduler  # noqa: E402


def _sgd():
    return optim.SGD([mg.nn.Parameter(np.ones(3))], lr=0.1, momentum=0.9)


@pytest.mark.parametrize("make", [
    lambda o: lr_scheduler.LambdaLR(o, lambda t: float("nan")),
    lambda o: lr_scheduler.LambdaLR(o, lambda t: float("inf")),
    lambda o: lr_scheduler.LambdaLR(o, lambda t: "1e-3"),
    lambda o: lr_scheduler.LambdaLR(o, lambda t: 10 ** 400),
], ids=["nan", "inf", "str", "huge-int"])
def test_lambda_lr_that_is_no_number_refused_at_construction(make):
    """The lr went into the group as nan (weights nan) or failed later with a raw TypeError;
    the refused constructor left initial_lr behind."""
    opt = _sgd()
    before = dict(opt.param_groups[0])
    with pytest.raises(ValueError, match=r"LambdaLR\.step: .*step 0"):
        make(opt)
    assert opt.param_groups[0] == before


def test_schedule_whose_lr_turns_non_finite_refuses_the_step_changing_nothing():
    opt = _sgd()
    sched = lr_scheduler.MultiplicativeLR(opt, lambda t: float("nan") if t == 3 else 0.5)
    sched.step(), sched.step()
    lr, state = opt.param_groups[0]["lr"], sched.state_dict()
    with pytest.raises(ValueError, match=r"MultiplicativeLR\.step: the lr of param group 0 at step 3 would be nan"):
        sched.step()
    assert opt.param_groups[0]["lr"] == lr and sched.state_dict() == state


def test_exponential_lr_past_the_largest_float_is_a_clear_error():
    """ExponentialLR(gamma=1e308) raised a bare OverflowError from gamma ** t at step 2."""
    opt = _sgd()
    sched = lr_scheduler.ExponentialLR(opt, 1e308)
    sched.step()
    lr = opt.param_groups[0]["lr"]
    with pytest.raises(ValueError, match=r"ExponentialLR\.step: the lr at step 2"):
        sched.step()
    assert opt.param_groups[0]["lr"] == lr and sched.last_epoch == 1


# ---------------------------------------------------------------- RowSparseGrad: shapes, later writes
from minigrad.sparse import RowSparseGrad  # noqa: E402


@pytest.mark.parametrize("shape", [(4.7, 2), "42", (True, 2), (4, 2.0), 4])
def test_row_sparse_shape_must_be_integers(shape):
    """(4.7, 2) was cut to (4, 2), the string "42" read as (4, 2), True as 1."""
    with pytest.raises(TypeError, match="RowSparseGrad: shape must be a tuple of ints"):
        RowSparseGrad(np.array([0, 1]), np.ones((2, 2)), shape)


def test_row_sparse_shape_takes_numpy_integers():
    g = RowSparseGrad(np.array([0, 1]), np.ones((2, 2)), (np.int64(4), np.int32(2)))
    assert g.shape == (4, 2) and all(type(n) is int for n in g.shape)


@pytest.mark.parametrize("name", ["SGD", "Adam", "Adagrad", "RMSprop", "SparseAdam", "Lion"])
def test_indices_repeated_after_the_gradient_was_made_are_refused(name):
    """The indices array is kept as given; written afterwards to repeat a row, SGD applied the
    row once and the accumulating rules summed it (issue 19, item 6, by another door)."""
    first, p = mg.nn.Parameter(np.zeros((4, 2))), mg.nn.Parameter(np.zeros((4, 2)))
    opt = getattr(optim, name)([first, p], lr=0.1)
    idx = np.array([0, 1, 2])
    first.grad = RowSparseGrad(np.array([0]), np.ones((1, 2)), (4, 2))
    p.grad = RowSparseGrad(idx, np.ones((3, 2)), (4, 2))
    idx[:] = [2, 2, 2]
    with pytest.raises(ValueError, match=f"{name}: a sparse gradient's indices repeat a row"):
        opt.step()
    assert not first.data.any() and not p.data.any() and not opt.state


# ---------------------------------------------------------------- the CLI: SIGTERM, then Ctrl-C
import os  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_a_ctrl_c_while_a_sigterm_unwinds_reports_the_sigterm(capsys):
    """A Ctrl-C landing after the loop stopped for SIGTERM raised a KeyboardInterrupt during
    the unwinding: the run reported "minigrad: interrupted" (130), not the SIGTERM and its
    saved checkpoint; and once reported, signals are ignored until the exit."""
    import models.cli as cli
    from models.train import Interrupted

    def run(args):
        try:
            raise Interrupted(signal.SIGTERM, 7, "out/checkpoint.safetensors")
        except Interrupted:
            raise KeyboardInterrupt  # noqa: B904 (the later Ctrl-C, with the first as context)

    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    real_run = cli.run
    cli.run = run
    try:
        capsys.readouterr()
        code = cli.main(["train", "--task", "quadratic"])
        ignored = [signal.getsignal(s) for s in saved]
    finally:
        cli.run = real_run
        for s, h in saved.items():
            signal.signal(s, h)
    err = capsys.readouterr().err
    assert code == 143, err
    assert "interrupted by SIGTERM at step 7" in err and "out/checkpoint.safetensors" in err
    assert ignored == [signal.SIG_IGN, signal.SIG_IGN]


@pytest.mark.parametrize("gap", [0.02, 0.1, 0.3])
def test_sigterm_then_sigint_ends_as_sigterm(tmp_path, gap):
    """After SIGTERM, a Ctrl-C `gap` s later ended the process by SIGINT (status -2, a shell's
    130) after it had printed "interrupted by SIGTERM", or replaced that line by "interrupted"."""
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "models", "train", "--task", "rosenbrock", "--steps", "1000000",
         "--quiet", "--checkpoint-every", "500", "--out", str(out)], env=env, cwd=ROOT,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # as from a terminal
    deadline = time.time() + 120
    while not (out / "checkpoint.safetensors").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    time.sleep(gap)
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert "interrupted by SIGTERM" in err and "continue with --resume" in err, err


# ---------------------------------------------------------------- mpirun: ranks given different arguments
from test_distributed import mpirun_command, needs_mpi  # noqa: E402


@needs_mpi
def test_ranks_started_with_different_arguments_are_refused_at_once(tmp_path):
    """mpirun -n 1 minigrad train --steps 40 : -n 1 minigrad train --steps 60 hung for ever:
    rank 0 finished its 40 steps while rank 1 waited in its 41st all-reduce."""
    out = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMPI_", "PMIX_"))}
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    common = [sys.executable, "-m", "models", "train", "--task", "digits", "--quiet", "--out", str(out)]
    cmd = mpirun_command(1, *common, "--steps", "40") + [":", "-n", "1", *common, "--steps", "60"]
    start = time.time()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=90, env=env, cwd=ROOT)
    except subprocess.TimeoutExpired:
        pytest.fail("the job hung: ranks with different --steps waited for each other")
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert time.time() - start < 60
    err = proc.stderr
    assert err.count("minigrad: error: the ranks were started with different arguments") == 1, err
    assert "rank 1: steps 60 where rank 0 has 40" in err
    assert not out.exists()  # refused before --out was made


# ---------------------------------------------------------------- RMSprop's smoothing constant
@pytest.mark.parametrize("alpha", [1.5, 2, 1.0000001])
def test_rmsprop_alpha_above_one_is_refused(alpha):
    """RMSprop(alpha=1.5) was accepted (as torch accepts it): v <- 1.5 v - 0.5 g² went negative
    and the weights were NaN from the third step, silently; a loaded group the same."""
    p = mg.nn.Parameter(np.ones(3))
    with pytest.raises(ValueError, match=r"Invalid alpha: .*0 <= alpha <= 1"):
        optim.RMSprop([p], alpha=alpha)
    opt = optim.RMSprop([p])
    saved = opt.state_dict()
    saved["param_groups"][0]["alpha"] = alpha
    with pytest.raises(ValueError, match="Invalid alpha"):
        opt.load_state_dict(saved)
    assert opt.param_groups[0]["alpha"] == 0.99
    optim.RMSprop([p], alpha=1.0)  # the edge: v stays as it starts


# ---------------------------------------------------------------- assigning .data
@pytest.mark.parametrize("value", ["abc", [1.0, 2.0, 3.0], None, 5.0, np.ones(3, int), np.ones(3, complex)],
                         ids=["str", "list", "None", "float", "int-array", "complex-array"])
def test_assigning_data_that_is_no_float_array_is_refused(value):
    """x.data = "abc" (or a list, None, int data on a tensor that requires grad) was accepted and
    failed later inside backward with AttributeError or a dtype message about Sum.backward."""
    x = mg.Tensor(np.ones(3), requires_grad=True)
    version = x._version
    with pytest.raises(TypeError, match="assigned data"):
        x.data = value
    assert x._version == version and x.data.dtype == np.float64 and (x.data == 1).all()


def test_assigning_a_numpy_scalar_or_other_float_array_is_a_write():
    x = mg.Tensor(np.ones(3), requires_grad=True)
    x.data = x.data.sum()  # np.float64: a 0-d array
    assert type(x.data) is np.ndarray and x.data.shape == () and x._version == 1
    y = mg.Tensor(np.ones(3, int))  # no grad: any dtype
    y.data = np.arange(4)
    assert y._version == 1


def test_compare_lr_naming_an_optimizer_twice_is_refused(capsys):
    """--lr adam=1,adam=2 ran adam at 2, silently."""
    from models.cli import main
    with pytest.raises(SystemExit) as e:
        main(["compare", "--task", "quadratic", "--steps", "5", "--lr", "adam=1,adam=2", "--out", "unused"])
    assert e.value.code == 2
    assert "--lr gives adam twice" in capsys.readouterr().err


@pytest.mark.parametrize("pct", [np.float32(0.3), np.float16(0.25), np.float64(0.5)])
def test_one_cycle_takes_a_numpy_float_pct_start(pct):
    """OneCycleLR(pct_start=np.float32(0.3)) raised TypeError "expected a float in [0, 1]",
    though every other number a schedule takes may be a NumPy scalar."""
    from optim.lr_cyclic import OneCycleLR
    s = OneCycleLR(_sgd(), 0.1, total_steps=10, pct_start=pct)
    assert s.state_dict()  # made, and its state plain data


# ---------------------------------------------------------------- layer sizes
from minigrad import nn  # noqa: E402


@pytest.mark.parametrize("make,words", [
    (lambda: nn.Linear(10 ** 20, 3), "Linear: in_features is 100000000000000000000, larger than"),
    (lambda: nn.LayerNorm(10 ** 30), "LayerNorm: normalized_shape is"),
    (lambda: nn.Embedding(5, 2 ** 70), "Embedding: embedding_dim is"),
])
def test_a_size_beyond_any_array_is_named(make, words):
    """NumPy's "Maximum allowed dimension exceeded" named neither the layer nor the argument."""
    with pytest.raises(ValueError, match=words):
        make()


def test_layer_norm_takes_a_0d_array_as_a_size():
    """LayerNorm(np.array(3)) raised NumPy's "iteration over a 0-d array"."""
    assert nn.LayerNorm(np.array(3)).normalized_shape == (3,)
    with pytest.raises(TypeError, match="LayerNorm: normalized_shape"):
        nn.LayerNorm(np.array(3.5))
