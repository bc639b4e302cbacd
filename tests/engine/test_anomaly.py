"""mg.detect_anomaly: a NaN/Inf is caught where it is born, in forward and in backward, naming
the op and the user's line; the mode is off by default and always restored."""
import os
import warnings

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn

HERE = os.path.basename(__file__)


def t(values, requires_grad=True):
    return mg.tensor(np.asarray(values, dtype=np.float64), requires_grad=requires_grad)


# (case, the op that must be named, the forward computation: one line, whose number is checked)
FORWARD = [
    ("log of a negative number", "Log", lambda: t([1.0, -2.0]).log()),
    ("0/0", "Div", lambda: t([0.0, 1.0]) / t([0.0, 2.0])),
    ("overflowing exp", "Exp", lambda: t([1.0, 1000.0]).exp()),
    ("sqrt of a negative number", "Sqrt", lambda: t([-1.0]).sqrt()),
    # an op inside nn.functional: the line named is the caller's, not minigrad's
    ("overflow inside mse_loss", "Mul", lambda: nn.functional.mse_loss(t([1e200]), t([-1e200]))),
]


@pytest.fixture(autouse=True)
def _quiet_and_off():
    """NumPy warns about the very values these tests provoke; the mode must end off."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield
    assert not mg.is_anomaly_enabled()


@pytest.mark.parametrize("case, op, compute", FORWARD, ids=[c[0] for c in FORWARD])
def test_forward_names_the_op_the_inputs_and_the_line(case, op, compute):
    with mg.detect_anomaly():
        with pytest.raises(mg.AnomalyError) as info:
            compute()
    e = info.value
    assert e.phase == "forward"
    assert e.op == op
    message = str(e)
    assert f"{e.op} produced" in message
    assert "input 0: shape" in message and "finite values in [" in message
    # the line of user code that called the op: this file, the line of the lambda
    assert e.where == f"{__file__}:{compute.__code__.co_firstlineno} in <lambda>"
    assert f"called at {e.where}" in message


@pytest.mark.parametrize("case, op, compute", FORWARD, ids=[c[0] for c in FORWARD])
def test_forward_is_silent_when_off(case, op, compute):
    y = compute()  # off by default: the NaN or Inf goes through, as before
    assert not np.isfinite(y.data).all()


def _sqrt_at_zero():
    x = t([0.0, 4.0])
    return x, x.sqrt().sum()                    # SQRT_LINE


def _pow_half_at_zero():
    x = t([0.0, 1.0])
    return x, (x ** 0.5).sum()                  # POW_LINE


BACKWARD = [("sqrt at 0", "Sqrt", _sqrt_at_zero, "SQRT_LINE"),
            ("x ** 0.5 at 0", "PowScalar", _pow_half_at_zero, "POW_LINE")]


def _line_of(marker):
    with open(__file__) as f:
        return next(i for i, line in enumerate(f, 1) if line.rstrip().endswith(f"# {marker}"))


@pytest.mark.parametrize("case, op, build, marker", BACKWARD, ids=[c[0] for c in BACKWARD])
def test_backward_names_the_op_and_where_it_was_created(case, op, build, marker):
    with mg.detect_anomaly():
        x, y = build()  # forward is finite: sqrt(0) = 0
        with pytest.raises(mg.AnomalyError) as info:
            y.backward()
    e = info.value
    assert (e.phase, e.op) == ("backward", op)
    assert e.where == f"{__file__}:{_line_of(marker)} in {build.__name__}"
    message = str(e)
    assert f"{op}.backward turned a finite gradient into 1 Inf" in message
    assert f"created in the forward pass at {e.where}" in message
    assert "test_backward_names_the_op" in message  # the creation stack, outward from there


@pytest.mark.parametrize("case, op, build, marker", BACKWARD, ids=[c[0] for c in BACKWARD])
def test_backward_is_silent_when_off(case, op, build, marker):
    x, y = build()
    y.backward()
    assert np.isinf(x.grad).any()


def test_backward_of_an_op_created_while_off_says_so():
    x = t([0.0, 1.0])
    y = x.sqrt().sum()
    with mg.detect_anomaly():
        with pytest.raises(mg.AnomalyError, match="not recorded: the op was created while"):
            y.backward()


def test_a_nan_born_outside_is_not_blamed_on_the_next_op():
    """Only the birth is reported: an op fed a NaN raises nothing, in forward or backward."""
    x = t([np.nan, 1.0])
    with mg.detect_anomaly():
        y = (x * 2.0).exp().sum()
        y.backward()
    assert np.isnan(x.grad[0]) and np.isfinite(x.grad[1])


def test_under_no_grad_forward_is_still_checked():
    with mg.no_grad(), mg.detect_anomaly():
        with pytest.raises(mg.AnomalyError, match="Log produced 1 NaN"):
            t([-1.0], requires_grad=False).log()


def test_finite_training_is_unchanged_in_anomaly_mode():
    """No false alarm on an ordinary model, and bit-identical results, dense and sparse."""
    def run(anomaly):
        mg.manual_seed(0)
        emb, lin = nn.Embedding(10, 4, sparse=True, dtype=np.float64), nn.Linear(4, 3, dtype=np.float64)
        with mg.set_detect_anomaly(anomaly):
            h = emb(np.array([[1, 2], [2, 7]])).mean(axis=1)
            loss = nn.functional.cross_entropy(lin(h).tanh(), np.array([0, 2]))
            loss.backward()
        return loss.item(), emb.weight.grad.values, lin.weight.grad

    (l0, e0, w0), (l1, e1, w1) = run(False), run(True)
    assert l0 == l1 and np.array_equal(e0, e1) and np.array_equal(w0, w1)


# ============================================================================ the mode

def test_off_by_default_and_nested_managers_restore_the_previous_mode():
    assert not mg.is_anomaly_enabled()
    with mg.detect_anomaly():
        assert mg.is_anomaly_enabled()
        with mg.set_detect_anomaly(False):
            assert not mg.is_anomaly_enabled()
            with mg.detect_anomaly():
                assert mg.is_anomaly_enabled()
            assert not mg.is_anomaly_enabled()
        assert mg.is_anomaly_enabled()
    assert not mg.is_anomaly_enabled()


def test_an_exception_inside_restores_the_mode():
    with pytest.raises(mg.AnomalyError):
        with mg.detect_anomaly():
            t([-1.0]).log()
    assert not mg.is_anomaly_enabled()
    with pytest.raises(KeyError):
        with mg.set_detect_anomaly(True):
            raise KeyError("unrelated")
    assert not mg.is_anomaly_enabled()


def test_set_detect_anomaly_as_a_call_and_as_a_decorator():
    mg.set_detect_anomaly(True)
    try:
        assert mg.is_anomaly_enabled()
    finally:
        mg.set_detect_anomaly(False)
    assert not mg.is_anomaly_enabled()

    @mg.detect_anomaly()
    def inner(depth):
        assert mg.is_anomaly_enabled()
        return inner(depth - 1) if depth else "done"

    assert inner(3) == "done" and not mg.is_anomaly_enabled()


@pytest.mark.parametrize("mode", [1, None, "yes"])
def test_set_detect_anomaly_takes_a_bool(mode):
    with pytest.raises(TypeError, match="mode must be a bool"):
        mg.set_detect_anomaly(mode)
    assert not mg.is_anomaly_enabled()
