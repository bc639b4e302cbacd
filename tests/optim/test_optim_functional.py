"""optim.functional: every optimizer on raw arrays, the same definition as the classes."""
import numpy as np
import pytest

import minigrad as mg
import optim
from conftest import to_np
from optim import functional as F


def rosenbrock_grad(theta):
    x, y = theta
    return np.array([-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)])


@pytest.mark.parametrize("name,end", [("adam", (0.98504, 0.97023)), ("sgd", (0.93983, 0.88302))])
def test_the_readme_rosenbrock_example(name, end):
    theta = np.array([-1.0, 1.0])
    state = F.init(name, theta)
    for _ in range(5000):
        getattr(F, name)(theta, rosenbrock_grad(theta), state, lr=1e-3)
    np.testing.assert_allclose(theta, end, atol=5e-6)


CASES = [("sgd", dict(lr=0.1, momentum=0.9, nesterov=True)), ("adagrad", dict(lr_decay=0.01)),
         ("adadelta", {}), ("rmsprop", dict(centered=True, momentum=0.5)), ("adam", dict(amsgrad=True)),
         ("adamw", dict(weight_decay=0.1)), ("amsgrad", {}), ("adamax", {}), ("nadam", {}),
         ("radam", {}), ("rprop", {}), ("adafactor", {}), ("adabelief", {}), ("lion", {}),
         ("lamb", dict(weight_decay=0.01)), ("yogi", {})]


@pytest.mark.parametrize("name,kw", CASES)
def test_functional_equals_the_class_bit_for_bit(name, kw, device):
    rng = np.random.default_rng(0)
    theta0 = rng.standard_normal((6, 5))
    p = mg.nn.Parameter(mg.backend.to_device(theta0.copy(), device))
    opt = F.ALGORITHMS[name]([p], **kw)
    theta = mg.backend.to_device(theta0.copy(), device)
    state = F.init(name, theta, **kw)
    for _ in range(10):
        g = mg.backend.to_device(rng.standard_normal((6, 5)), device)
        p.grad = g
        opt.step()
        getattr(F, name)(theta, g, state, **kw)
    np.testing.assert_array_equal(to_np(theta), to_np(p.data))
    assert set(state) == set(opt.state[p])


@pytest.mark.parametrize("call,error,message", [
    (lambda th, st: F.adam(th, np.ones(3), st), ValueError, r"grad of shape \(3,\)"),
    (lambda th, st: F.adam(th, np.ones((2, 2), np.float32), st), ValueError, "dtype float32"),
    (lambda th, st: F.adam(th, np.ones((2, 2)), st, lr=-1.0), ValueError, "lr"),
    (lambda th, st: F.adam(th, np.ones((2, 2)), st, momentum=0.9), TypeError, "momentum"),
    (lambda th, st: F.adam(th, np.ones((2, 2)), [1, 2]), TypeError, "state must be the dict"),
    (lambda th, st: F.adam(th, np.ones((2, 2)), F.init("adam", np.ones(5))), ValueError, "made by init"),
    (lambda th, st: F.step("adamm", th, np.ones((2, 2)), st), ValueError, "unknown optimizer 'adamm'"),
    (lambda th, st: F.adam(th.astype(int), np.ones((2, 2), int), st), TypeError, "floating-point"),
])
def test_bad_calls_are_refused_and_change_nothing(call, error, message):
    theta = np.ones((2, 2))
    state = F.init("adam", theta)
    before = (theta.copy(), {k: np.copy(v) for k, v in state.items()})
    with pytest.raises(error, match=message):
        call(theta, state)
    np.testing.assert_array_equal(theta, before[0])
    assert all(np.array_equal(state[k], v) for k, v in before[1].items())


def test_an_empty_state_dict_is_started_on_the_first_call():
    theta, state = np.ones(3), {}
    F.adam(theta, np.ones(3), state, lr=0.1)
    assert state["step"] == 1 and set(state) == {"step", "exp_avg", "exp_avg_sq"}
    np.testing.assert_allclose(theta, 0.9)


@pytest.mark.parametrize("name,kw", CASES)
def test_device_arrays_follow_the_cpu_dense_and_sparse(name, kw, device):
    """optim.functional on device arrays, with dense gradients and (for the lazy optimizers)
    row-sparse ones in turn: θ and every state entry are the CPU's, and stay on the device."""
    rng = np.random.default_rng(0)
    theta0 = rng.standard_normal((6, 5))
    thetas = [mg.backend.to_device(theta0.copy(), d) for d in ("cpu", device)]
    states = [F.init(name, theta, **kw) for theta in thetas]
    sparse = F.ALGORITHMS[name].lazy_sparse
    for step in range(8):
        g, rows = rng.standard_normal((6, 5)), np.sort(rng.choice(6, 3, replace=False))
        for theta, state in zip(thetas, states):
            d = mg.backend.device_of(theta)
            grad = mg.RowSparseGrad(mg.backend.to_device(rows, d), mg.backend.to_device(g[rows], d), (6, 5)) \
                if sparse and step % 2 else mg.backend.to_device(g, d)
            getattr(F, name)(theta, grad, state, **kw)
    if device == "cpu":
        rtol = atol = 0.0
    else:  # to rounding; Adafactor and LAMB take norms, summed in another order on a GPU
        rtol, atol = (1e-12, 1e-14) if F.ALGORITHMS[name].rule is not None else (1e-10, 1e-12)
    (theta, state), (ref, ref_state) = (thetas[1], states[1]), (thetas[0], states[0])
    assert mg.backend.device_of(theta).startswith(device) and state.keys() == ref_state.keys()
    np.testing.assert_allclose(to_np(theta), ref, rtol=rtol, atol=atol)
    for k, v in ref_state.items():
        if isinstance(v, np.ndarray):
            assert mg.backend.device_of(state[k]).startswith(device), k
            np.testing.assert_allclose(to_np(state[k]), v, rtol=rtol, atol=atol, err_msg=k)
        else:
            assert type(state[k]) is type(v) and state[k] == v, (k, state[k], v)
