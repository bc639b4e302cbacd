"""optim.functional: every optimizer on raw arrays, the same definition as the classes."""
import numpy as np
import pytest

import minigrad as mg
import optim
from optim import functional as F
from optim.optimizer import ALGORITHMS as REGISTRY

from conftest import to_np


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


# the hyperparameters each algorithm is tested with (its defaults where it has no row): every
# algorithm that optim.functional runs gets a case, a new one with no edit here
SETTINGS = {"sgd": dict(lr=0.1, momentum=0.9, nesterov=True), "adagrad": dict(lr_decay=0.01),
            "rmsprop": dict(centered=True, momentum=0.5), "adam": dict(amsgrad=True),
            "adamw": dict(weight_decay=0.1), "lamb": dict(weight_decay=0.01)}
CASES = [(name, SETTINGS.get(name, {})) for name in sorted(F.ALGORITHMS)]
# the names optim.functional has served since it was written: they stay
NAMES = {"sgd", "adagrad", "adadelta", "rmsprop", "adam", "adamw", "amsgrad", "adamax", "nadam",
         "radam", "rprop", "adafactor", "adabelief", "lion", "lamb", "yogi"}


def test_the_names_of_today_stay_and_each_is_a_function():
    assert NAMES <= set(F.ALGORITHMS) and set(SETTINGS) <= set(F.ALGORITHMS)
    for name in F.ALGORITHMS:
        assert callable(getattr(F, name)) and name in dir(F) and getattr(F, name).__name__ == name
    with pytest.raises(AttributeError, match="no attribute 'adamm'"):
        _ = F.adamm


@pytest.mark.parametrize("fused", [None, False])
@pytest.mark.parametrize("name,kw", CASES)
def test_functional_equals_the_class_bit_for_bit(name, kw, fused, device):
    """The same declaration run by the class and by optim.functional: θ and every state entry
    equal bit for bit, with dense gradients and (for the lazy optimizers) sparse rows in turn;
    fused=False (the rule called once on the whole arrays) alike."""
    kw = dict(kw, fused=fused) if fused is False else kw
    rng = np.random.default_rng(0)
    theta0 = rng.standard_normal((6, 5))
    p = mg.nn.Parameter(mg.backend.to_device(theta0.copy(), device))
    opt = F.ALGORITHMS[name]([p], **kw)
    theta = mg.backend.to_device(theta0.copy(), device)
    state = F.init(name, theta, **kw)
    sparse = F.ALGORITHMS[name].lazy_sparse
    for step in range(10):
        g, rows = rng.standard_normal((6, 5)), np.sort(rng.choice(6, 3, replace=False))
        g = mg.RowSparseGrad(mg.backend.to_device(rows, device), mg.backend.to_device(g[rows], device),
                             (6, 5)) if sparse and step % 2 else mg.backend.to_device(g, device)
        p.grad = g
        opt.step()
        getattr(F, name)(theta, g, state, **kw)
    np.testing.assert_array_equal(to_np(theta), to_np(p.data))
    assert set(state) == set(opt.state[p])
    for k, v in opt.state[p].items():
        if mg.backend.is_array(v):
            np.testing.assert_array_equal(to_np(state[k]), to_np(v), err_msg=k)
        else:
            assert state[k] == v, k


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


# ================================================================ the registry and the declarations

def test_the_registry_names_each_declared_algorithm_once():
    assert REGISTRY["adam"] is optim.Adam and REGISTRY["amsgrad"] is optim.AMSGrad
    assert all(name == cls.__name__.lower() for name, cls in REGISTRY.items())  # none names itself yet
    assert optim.ZeroRedundancyOptimizer not in REGISTRY.values()  # a wrapper
    assert set(F.ALGORITHMS) <= set(REGISTRY)
    assert {"prodigy", "schedulefreeadamw"} <= set(REGISTRY) - set(F.ALGORITHMS)  # own step()


def test_a_class_made_outside_optim_registers_only_when_it_names_itself():

    class Mine(optim.Adam):
        pass

    assert "mine" not in REGISTRY and REGISTRY["adam"] is optim.Adam

    class Named(optim.Adam, name="test-functional-named"):
        pass

    try:
        assert REGISTRY["test-functional-named"] is Named
        theta, theta_class = np.ones(3), mg.nn.Parameter(np.ones(3))
        F.step("test-functional-named", theta, np.full(3, 0.5), {}, lr=0.1)
        theta_class.grad = np.full(3, 0.5)
        optim.Adam([theta_class], lr=0.1).step()
        np.testing.assert_array_equal(theta, theta_class.data)
        with pytest.raises(TypeError, match=r"'adam', which optim\.adam\.Adam already is"):
            class Adam(optim.Adam, name="adam"):
                pass
        assert REGISTRY["adam"] is optim.Adam
    finally:
        del REGISTRY["test-functional-named"]


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_no_optimizer_keeps_a_bare_signature(name):
    """What the class's __init__ makes of its arguments is what its signature declares: the
    defaults optim.functional (and the docs) read from `defaults_of()`, with the variant's fixed.
    Only an algorithm with a step() of its own may keep more in its groups: the group state it
    advances there (Prodigy's d, schedule-free's k and weight_sum, as their references do)."""
    cls = REGISTRY[name]
    defaults = cls([mg.nn.Parameter(np.zeros((3, 2)))]).defaults  # a matrix: Muon takes only those
    declared = cls.defaults_of()
    if cls.step is not optim.Optimizer.step:
        defaults = {k: v for k, v in defaults.items() if k in declared}
    assert defaults == declared


@pytest.mark.parametrize("name,kw,error", [
    ("adam", dict(lr=-0.1), ValueError), ("adam", dict(betas=(0.9, 1.0)), ValueError),
    ("adam", dict(eps=float("nan")), ValueError), ("adam", dict(maximize="no"), TypeError),
    ("adam", dict(capturable=True), ValueError), ("adamw", dict(weight_decay=-1.0), ValueError),
    ("amsgrad", dict(lr="x"), TypeError), ("sgd", dict(nesterov=True), ValueError),
    ("rmsprop", dict(alpha=1.5), ValueError)])
def test_hyperparameters_are_checked_as_the_class_checks_them(name, kw, error):
    with pytest.raises(error) as by_class:
        F.ALGORITHMS[name]([mg.nn.Parameter(np.zeros(2))], **kw)
    with pytest.raises(error) as by_functional:
        F.init(name, np.zeros(2), **kw)
    assert str(by_functional.value) == str(by_class.value)


def test_an_argument_the_class_does_not_take_is_a_type_error_naming_it():
    with pytest.raises(TypeError, match=r"optim\.functional\.amsgrad: AMSGrad.* 'amsgrad'"):
        F.amsgrad(np.ones(2), np.ones(2), {}, amsgrad=False)  # AMSGrad pins it: not an argument
    with pytest.raises(TypeError, match="'params'"):
        F.init("adam", np.ones(2), params=[])


def test_functional_imports_no_optimizer_module():
    """optim.functional serves every algorithm from the registry: no import of an optimizer's
    module (nor of minigrad.nn: no placeholder Parameter), at its top or inside a function."""
    import ast
    import inspect
    tree = ast.parse(inspect.getsource(F))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = "optim." * (node.level > 0) + (node.module or "")
            imported |= {base.rstrip(".")} | {f"{base}.{a.name}".replace("..", ".") for a in node.names}
        elif isinstance(node, ast.Import):
            imported |= {a.name for a in node.names}
    modules = {cls.__module__ for cls in REGISTRY.values()}
    assert modules and not imported & modules, imported & modules
    assert not any(name.startswith("minigrad.nn") for name in imported)


@pytest.mark.parametrize("name, kw, made_by, made_kw, message", [
    ("sgd", dict(momentum=0.9), "adam", {}, r"state has entries \['exp_avg', 'exp_avg_sq', 'step'\]"),
    ("adam", {}, "sgd", dict(momentum=0.9), r"state has entries \['momentum_buffer'\]"),
    ("rmsprop", {}, "adam", {}, r"expected \['square_avg', 'step'\]"),
])
def test_a_state_made_for_another_algorithm_is_refused_and_nothing_moves(name, kw, made_by, made_kw,
                                                                         message):
    theta, g = np.linspace(-1, 1, 4), np.ones(4)
    state = optim.functional.init(made_by, theta, **made_kw)
    before = theta.copy(), {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in state.items()}
    with pytest.raises(ValueError, match=message):
        getattr(optim.functional, name)(theta, g, state, **kw)
    assert np.array_equal(theta, before[0]) and state.keys() == before[1].keys()


@pytest.mark.parametrize("t", [-1, "3", 2.5, True])
def test_a_state_with_a_bad_step_count_is_refused(t):
    theta = np.ones(3)
    state = {**optim.functional.init("adam", theta), "step": t}
    with pytest.raises(ValueError, match=r"state 'step' is .*, expected an integer >= 0"):
        optim.functional.adam(theta, np.ones(3), state)
