"""The optimizer protocol: groups, closures, skipped parameters, bad input that changes nothing,
state_dict round trips, devices (the fast paths: test_optim_executor.py)."""
import inspect
import pickle

import numpy as np
import pytest

import minigrad as mg
import optim

ALL = ["SGD", "Adagrad", "Adadelta", "RMSprop", "Adam", "AdamW", "AMSGrad", "Adamax", "NAdam",
       "RAdam", "Rprop", "Adafactor", "AdaBelief", "Lion", "LAMB", "Yogi"]
# options that create every kind of state an optimizer has
RICH = {"SGD": dict(lr=0.01, momentum=0.9), "RMSprop": dict(momentum=0.5, centered=True),
        "Adam": dict(amsgrad=True), "AdamW": dict(amsgrad=True)}


def make(name, params, **kw):
    return getattr(optim, name)(params, **{**RICH.get(name, {}), **kw})


def params(seed=0, dtype=np.float64, device="cpu"):
    rng = np.random.default_rng(seed)
    return [mg.nn.Parameter(mg.backend.to_device(rng.standard_normal(s).astype(dtype), device))
            for s in [(4, 3), (3,), (2, 2, 2)]]


def set_grads(ps, seed):
    rng = np.random.default_rng(seed)
    for p in ps:
        p.grad = mg.backend.to_device(rng.standard_normal(p.shape).astype(p.dtype), p.device)


# ============================================================================ construction

BAD_HYPERPARAMETERS = [  # (optimizer, arguments, what the message must say: the name and the value)
    ("SGD", dict(lr=-0.1), r"lr: -0\.1"), ("SGD", dict(momentum=-1), r"momentum: -1"),
    ("SGD", dict(nesterov=True), r"Nesterov.*momentum=0\.0"),
    ("SGD", dict(weight_decay=-1e-4), r"weight_decay: -0\.0001"),
    ("Adam", dict(betas=(1.0, 0.999)), r"beta1.*: 1\.0"), ("Adam", dict(betas=(0.9, -0.1)), r"beta2.*: -0\.1"),
    ("Adam", dict(eps=-1e-8), r"eps: -1e-08"), ("AdamW", dict(weight_decay=-0.1), r"weight_decay: -0\.1"),
    ("Adagrad", dict(lr_decay=-1), r"lr_decay: -1"),
    ("Adagrad", dict(initial_accumulator_value=-1), r"initial_accumulator_value: -1"),
    ("Adadelta", dict(rho=1.5), r"rho: 1\.5"), ("RMSprop", dict(alpha=-0.1), r"alpha: -0\.1"),
    ("NAdam", dict(momentum_decay=-1), r"momentum_decay: -1"),
    ("Rprop", dict(etas=(1.2, 0.5)), r"etas: \(1\.2, 0\.5\)"),
    ("Rprop", dict(step_sizes=(1.0, 0.1)), r"step_sizes: \(1\.0, 0\.1\)"), ("Adafactor", dict(d=0.5), r"d: 0\.5"),
    ("Adafactor", dict(beta2_decay=0.5), r"beta2_decay: 0\.5"), ("Lion", dict(betas=(0.9, 1.0)), r"beta2.*: 1\.0"),
    ("LAMB", dict(eps=-1.0), r"eps: -1\.0"),
    ("Yogi", dict(initial_accumulator_value=-1), r"initial_accumulator_value: -1"),
]


@pytest.mark.parametrize("name,kw,message", BAD_HYPERPARAMETERS)
def test_invalid_hyperparameters_raise_naming_argument_and_value(name, kw, message):
    with pytest.raises(ValueError, match=message):
        getattr(optim, name)(params(), **kw)


TORCH_NAMED = ["SGD", "Adagrad", "Adadelta", "RMSprop", "Adam", "AdamW", "Adamax", "NAdam", "RAdam",
               "Rprop", "Adafactor", "SparseAdam"]


@pytest.mark.parametrize("name", TORCH_NAMED)
def test_same_arguments_in_the_same_order_with_the_same_defaults_as_torch(name):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    theirs = inspect.signature(getattr(torch.optim, name).__init__).parameters
    ours = inspect.signature(getattr(optim, name).__init__).parameters

    def positional(ps):
        return [k for k, p in ps.items() if p.kind == p.POSITIONAL_OR_KEYWORD]

    assert positional(ours) == positional(theirs)
    for k, p in theirs.items():
        assert k in ours, f"{name} lacks torch's argument {k!r}"
        assert ours[k].default == p.default, (k, ours[k].default, p.default)
    assert set(ours) - set(theirs) <= {"fused"}  # ours: fused=False runs the reference update


def test_torch_implementation_switches_are_accepted_or_refused_by_name():
    ps = params()
    a = optim.Adam(ps, lr=0.1, foreach=True)  # changes nothing
    b_ps = params()
    b = optim.Adam(b_ps, lr=0.1)
    for opt, group_ps in ((a, ps), (b, b_ps)):
        set_grads(group_ps, 0)
        opt.step()
    for p, q in zip(ps, b_ps):
        np.testing.assert_array_equal(p.data, q.data)
    with pytest.raises(ValueError, match="differentiable=True is not supported"):
        optim.SGD(params(), differentiable=True)
    with pytest.raises(ValueError, match=r"capturable=True \(CUDA graph capture\) is not supported"):
        optim.AdamW(params(), capturable=True)


def test_parameter_in_two_groups_raises():
    ps = params()
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.SGD([{"params": ps[:2]}, {"params": ps[1:]}], lr=0.1)
    opt = optim.SGD(ps[:1], lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": ps[:2]})
    assert len(opt.param_groups) == 1


def test_add_param_group_fills_defaults_and_checks_values():
    ps = params()
    opt = optim.Adam(ps[:1], lr=0.1, betas=(0.8, 0.9))
    opt.add_param_group({"params": ps[1:], "lr": 0.5})
    assert opt.param_groups[1]["lr"] == 0.5 and opt.param_groups[1]["betas"] == (0.8, 0.9)
    with pytest.raises(ValueError, match="lr"):
        opt.add_param_group({"params": [mg.nn.Parameter(np.zeros(2))], "lr": -1})


def test_bad_params_argument():
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="single Tensor"):
        optim.SGD(params()[0], lr=0.1)
    with pytest.raises(TypeError, match="floating-point"):
        optim.SGD([mg.tensor([1, 2])], lr=0.1)


# ============================================================================ stepping

@pytest.mark.parametrize("name", ALL)
def test_step_returns_closure_loss_and_skips_params_without_grad(name):
    ps = params()
    opt = make(name, ps)
    before = ps[1].data.copy()
    set_grads(ps, 1)
    ps[1].grad = None
    calls = []

    def closure():
        calls.append(mg.is_grad_enabled())
        return 42.0
    with mg.no_grad():
        assert opt.step(closure) == 42.0
    assert calls == [True]  # the closure runs with grad enabled
    np.testing.assert_array_equal(ps[1].data, before)
    assert ps[1] not in opt.state and ps[0] in opt.state


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("bad", ["shape", "dtype"])
def test_bad_gradient_raises_before_anything_is_written(name, bad):
    ps = params()
    opt = make(name, ps)
    set_grads(ps, 1)
    opt.step()
    snapshot = pickle.dumps((opt.state_dict(), [p.data for p in ps]))
    set_grads(ps, 2)
    ps[2].grad = np.ones((5,)) if bad == "shape" else ps[2].grad.astype(np.float32)
    with pytest.raises((ValueError, TypeError), match="shape \\(5,\\)" if bad == "shape" else "float32"):
        opt.step()
    assert pickle.dumps((opt.state_dict(), [p.data for p in ps])) == snapshot


def test_zero_grad():
    ps = params()
    opt = optim.SGD(ps, lr=0.1)
    set_grads(ps, 0)
    opt.zero_grad(set_to_none=False)
    assert all((p.grad == 0).all() for p in ps)
    opt.zero_grad()
    assert all(p.grad is None for p in ps)


# ============================================================================ state_dict

def run(opt, ps, seeds):
    for s in seeds:
        set_grads(ps, s)
        opt.step()


@pytest.mark.parametrize("name", ALL)
def test_state_dict_round_trip_mid_run_continues_bit_for_bit(name):
    ps_a = params()
    opt_a = make(name, ps_a)
    run(opt_a, ps_a, range(10))
    saved = pickle.loads(pickle.dumps(opt_a.state_dict()))  # as a checkpoint would
    saved_params = [p.data.copy() for p in ps_a]
    run(opt_a, ps_a, range(10, 20))

    ps_b = [mg.nn.Parameter(a) for a in saved_params]
    opt_b = make(name, ps_b, lr=0.123)  # the loaded groups replace these hyperparameters
    opt_b.load_state_dict(saved)
    assert opt_b.param_groups[0]["lr"] == opt_a.param_groups[0]["lr"]
    run(opt_b, ps_b, range(10, 20))
    for a, b in zip(ps_a, ps_b):
        np.testing.assert_array_equal(a.data, b.data)


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("corrupt", ["groups", "count", "shape", "entries", "index"])
def test_mismatched_state_dict_is_rejected_and_changes_nothing(name, corrupt):
    ps = params()
    opt = make(name, ps)
    run(opt, ps, range(3))
    sd = opt.state_dict()
    before = pickle.dumps(opt.state_dict())
    if corrupt == "groups":
        sd["param_groups"] = sd["param_groups"] * 2
    elif corrupt == "count":
        sd["param_groups"][0]["params"] = sd["param_groups"][0]["params"][:2]
    elif corrupt == "shape":
        key = next(k for k, v in sd["state"][0].items() if isinstance(v, np.ndarray))
        sd["state"][0][key] = np.zeros((9, 9))
    elif corrupt == "entries":
        sd["state"][0]["bogus"] = 1.0
    else:
        sd["state"][7] = sd["state"][0]
    with pytest.raises(ValueError):
        opt.load_state_dict(sd)
    assert pickle.dumps(opt.state_dict()) == before


def test_state_dict_layout_is_torchs():
    ps = params()
    opt = optim.Adam([{"params": ps[:1]}, {"params": ps[1:], "lr": 0.5}])
    run(opt, ps, [0])
    sd = opt.state_dict()
    assert [g["params"] for g in sd["param_groups"]] == [[0], [1, 2]]
    assert set(sd["state"]) == {0, 1, 2}
    assert set(sd["state"][0]) == {"step", "exp_avg", "exp_avg_sq"} and sd["state"][0]["step"] == 1
    assert sd["param_groups"][1]["lr"] == 0.5


def test_loaded_state_takes_the_parameter_dtype():
    ps = params()
    opt = optim.Adam(ps)
    run(opt, ps, [0])
    sd = opt.state_dict()
    ps32 = [mg.nn.Parameter(p.data.astype(np.float32)) for p in ps]
    opt32 = optim.Adam(ps32)
    opt32.load_state_dict(sd)
    assert all(s["exp_avg"].dtype == np.float32 for s in opt32.state.values())


def test_state_dict_from_torch_loads():
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    init = [np.random.default_rng(0).standard_normal(3)]
    t = torch.tensor(init[0].copy(), requires_grad=True)
    topt = torch.optim.Adam([t], lr=0.01)
    t.grad = torch.ones(3, dtype=torch.float64)
    topt.step()
    tsd = topt.state_dict()
    sd = {"state": {i: {k: (v.item() if k == "step" else v.numpy()) for k, v in s.items()}
                    for i, s in tsd["state"].items()},
          "param_groups": [{k: v for k, v in g.items() if k not in ("foreach", "capturable",
                            "differentiable", "fused")} for g in tsd["param_groups"]]}
    p = mg.nn.Parameter(t.detach().numpy().copy())
    opt = optim.Adam([p], lr=0.5)
    opt.load_state_dict(sd)
    p.grad = np.ones(3)
    t.grad = torch.ones(3, dtype=torch.float64)
    opt.step()
    topt.step()
    np.testing.assert_allclose(p.data, t.detach().numpy(), rtol=1e-12)


@pytest.mark.parametrize("name", ALL)
def test_state_lives_on_the_parameters_device(name, device):
    ps = params(device=device)
    opt = make(name, ps)
    run(opt, ps, range(3))
    for state in opt.state.values():
        for v in state.values():
            if mg.backend.is_array(v):
                assert mg.backend.device_of(v).startswith(device)


# ============================================================================ the helper

def test_param_groups_helper_keeps_biases_and_norms_undecayed():
    class Net(mg.nn.Module):
        def __init__(self):
            self.emb = mg.nn.Embedding(10, 4)
            self.fc = mg.nn.Linear(4, 4)
            self.bn = mg.nn.BatchNorm1d(4)
            self.out = mg.nn.Linear(4, 2)
    net = Net()
    groups = optim.param_groups(net, weight_decay=0.1)
    decay = {id(p) for p in groups[0]["params"]}
    assert groups[0]["weight_decay"] == 0.1 and groups[1]["weight_decay"] == 0.0
    assert decay == {id(net.emb.weight), id(net.fc.weight), id(net.out.weight)}
    assert len(groups[0]["params"]) + len(groups[1]["params"]) == len(net.parameters())
    by_name = optim.param_groups(net, 0.1, no_decay=("out",))
    assert {id(p) for p in by_name[0]["params"]} == {id(net.emb.weight), id(net.fc.weight)}
    everything = optim.param_groups(net, 0.1, no_decay=(), no_decay_1d=False)
    assert len(everything) == 1 and len(everything[0]["params"]) == len(net.parameters())
    opt = optim.AdamW(groups, lr=1e-3)
    assert opt.param_groups[1]["weight_decay"] == 0.0


# ============================================================================ the same run on every device

# every optimizer that takes dense gradients: ALL, and those beyond torch.optim's catalog
ON_DEVICE = ALL + ["ASGD", "Muon", "ScheduleFreeAdamW", "Prodigy", "AdaHessian", "Sophia",
                   "SophiaG"]
EXTRA = {"ASGD": dict(t0=3, lambd=0.1), "Muon": dict(lr=0.01),
         "ScheduleFreeAdamW": dict(lr=0.01, warmup_steps=3),
         "Prodigy": dict(weight_decay=0.01, use_bias_correction=True, slice_p=2),
         "AdaHessian": dict(update_period=2, weight_decay=0.01), "Sophia": dict(update_period=3),
         "SophiaG": dict(bs=4)}


def device_run(name, device, arrays=None):
    """(parameters, optimizer, its scheduler) on `device`; Muon gets the matrices only."""
    ps = params(device=device) if arrays is None else [mg.nn.Parameter(a) for a in arrays]
    if name == "Muon":
        ps = [p for p in ps if p.ndim == 2]
    opt = make(name, ps, **EXTRA.get(name, {}))
    if hasattr(opt, "train"):  # ScheduleFreeAdamW takes its steps at y
        opt.train()
    return ps, opt, optim.lr_scheduler.ExponentialLR(opt, gamma=0.8)


def run_scheduled(opt, ps, sched, seeds):
    for s in seeds:
        set_grads(ps, s)
        if hasattr(opt, "update_hessian") and s % 3 == 0:
            opt.update_hessian()  # SophiaG's estimate, from these gradients
        # AdaHessian and Sophia: the Hessian's diagonal given (here, the gradient squared)
        given = {"hessian": [p.grad * p.grad for p in ps]} \
            if "hessian" in inspect.signature(opt.step).parameters else {}
        opt.step(**given)
        sched.step()  # a new lr every step: it must reach the device's update too


def assert_close_tree(x, y, rtol, atol, where="state_dict"):
    """x (from any device) equals y (from the CPU) to the tolerance: arrays of the same dtype
    and shape, numbers of the same Python type (never an array where the CPU has a number)."""
    if mg.backend.is_array(y):
        assert mg.backend.is_array(x) and x.dtype == y.dtype and x.shape == y.shape, (where, x, y)
        np.testing.assert_allclose(mg.backend.to_numpy(x), y, rtol=rtol, atol=atol, err_msg=where)
    elif isinstance(y, dict):
        assert isinstance(x, dict) and list(x) == list(y), (where, list(x), list(y))
        for k in y:
            assert_close_tree(x[k], y[k], rtol, atol, f"{where}[{k!r}]")
    elif isinstance(y, (list, tuple)):
        assert type(x) is type(y) and len(x) == len(y), (where, x, y)
        for k, (a, b) in enumerate(zip(x, y)):
            assert_close_tree(a, b, rtol, atol, f"{where}[{k}]")
    else:
        assert type(x) is type(y), (where, type(x), type(y))
        if isinstance(y, float):
            assert x == pytest.approx(y, rel=rtol, abs=atol), (where, x, y)
        else:
            assert x == y, (where, x, y)


def tolerance(name, device):
    """Bit for bit on the CPU; elementwise rules to rounding on a GPU; the optimizers with norms
    or matrix products (summed in another order on a GPU) a little looser."""
    if device == "cpu":
        return 0.0, 0.0
    return (1e-12, 1e-14) if getattr(optim, name).rule is not None else (1e-10, 1e-12)


@pytest.mark.parametrize("name", ON_DEVICE)
def test_a_run_on_the_device_follows_the_cpu_run(name, device):
    """Ten scheduled steps on the device: the parameters, every state entry and the param groups
    are the CPU run's (scalar state stays a Python number, arrays stay on the device)."""
    ref_ps, ref_opt, ref_sched = device_run(name, "cpu")
    run_scheduled(ref_opt, ref_ps, ref_sched, range(10))
    ps, opt, sched = device_run(name, device)
    run_scheduled(opt, ps, sched, range(10))
    for o in (opt, ref_opt):
        if hasattr(o, "eval"):
            o.eval()  # ScheduleFreeAdamW: to x, the average, from the state's z
    rtol, atol = tolerance(name, device)
    for p, q in zip(ps, ref_ps):
        assert p.device.startswith(device)
        np.testing.assert_allclose(mg.backend.to_numpy(p.data), q.data, rtol=rtol, atol=atol)
    sd = opt.state_dict()
    assert_close_tree(sd, ref_opt.state_dict(), rtol, atol)
    assert all(mg.backend.device_of(v).startswith(device)
               for s in sd["state"].values() for v in s.values() if mg.backend.is_array(v))


@pytest.mark.parametrize("name", ON_DEVICE)
def test_a_checkpoint_moves_between_the_device_and_the_cpu(name, device, tmp_path):
    """Five steps on one device, mg.save of parameters, optimizer and scheduler, mg.load onto
    the other (map_location), five more steps there: the uninterrupted CPU run, both ways."""
    ref_ps, ref_opt, ref_sched = device_run(name, "cpu")
    run_scheduled(ref_opt, ref_ps, ref_sched, range(10))
    if hasattr(ref_opt, "eval"):
        ref_opt.eval()
    rtol, atol = tolerance(name, device)
    for first, second in ((device, "cpu"), ("cpu", device)):
        ps, opt, sched = device_run(name, first)
        run_scheduled(opt, ps, sched, range(5))
        mg.save({"params": [p.data for p in ps], "optimizer": opt.state_dict(),
                 "scheduler": sched.state_dict()}, tmp_path / "ckpt")
        ck = mg.load(tmp_path / "ckpt", map_location=second)
        ps2, opt2, sched2 = device_run(name, second, arrays=ck["params"])
        opt2.load_state_dict(ck["optimizer"])
        sched2.load_state_dict(ck["scheduler"])
        assert all(mg.backend.device_of(v).startswith(second)
                   for s in opt2.state.values() for v in s.values() if mg.backend.is_array(v))
        run_scheduled(opt2, ps2, sched2, range(5, 10))
        if hasattr(opt2, "eval"):
            opt2.eval()
        for p, q in zip(ps2, ref_ps):
            assert p.device.startswith(second)
            np.testing.assert_allclose(mg.backend.to_numpy(p.data), q.data, rtol=rtol, atol=atol,
                                       err_msg=f"{first} -> {second}")
        assert_close_tree(opt2.state_dict(), ref_opt.state_dict(), rtol, atol)


# ============================================================================ a user's declaration

DECLARATION_MISTAKES = [  # (class body, what the error must say), each refused when the class is made
    ("""
    @staticmethod
    def rule(theta, g, exp_avg, exp_avg_sq, max_exp_avg_sq, h):
        return dict(theta=theta)""", r"must take \(theta, g, m, v, v_max, h\): its symbols by name"),
    ("""
    @staticmethod
    def explain(theta, mm, h):
        return {}""", r"takes \['mm'\], which are not theta, g, h or its symbols"),
    ("""
    @staticmethod
    def check(group):
        pass""", r"the hook for relations between hyperparameters is validate\(group\)"),
]


@pytest.mark.parametrize("body, message", DECLARATION_MISTAKES)
def test_a_declaration_mistake_is_refused_when_the_class_is_made(body, message):
    source = f"class Mine(optim.Adam, name='mine_{abs(hash(body))}'):{body}\n"
    with pytest.raises(TypeError, match=message):
        exec(source, {"optim": optim})


@pytest.mark.parametrize("returned, message", [
    ("b, theta", "returned a tuple; a rule returns a dict of its new values by name"),
    ("dict(b=b)", "returned no 'theta'"),
])
def test_a_rule_that_returns_by_position_or_forgets_theta_is_refused(returned, message):
    namespace = {"optim": optim}
    exec(f"""
class Mine(optim.SGD):
    @staticmethod
    def rule(theta, g, b, h):
        return {returned}
""", namespace)
    p = mg.nn.Parameter(np.ones(3))
    p.grad = np.ones(3)
    opt = namespace["Mine"]([p], lr=0.1, momentum=0.9)
    with pytest.raises(TypeError, match=message):
        opt.step()


def test_amsgrad_switched_on_after_a_step_starts_its_maximum_at_v():
    ps = [mg.nn.Parameter(np.linspace(-1, 1, 5)) for _ in range(2)]
    opt = optim.Adam([{"params": [ps[0]]}, {"params": [ps[1]]}], lr=0.1)
    for p in ps:
        p.grad = np.full(5, 0.5)
    opt.step()
    opt.param_groups[1]["amsgrad"] = True
    opt.step()
    state = opt.state[ps[1]]
    assert state["step"] == 2 and np.array_equal(state["max_exp_avg_sq"], state["exp_avg_sq"])


def test_scalars_that_return_a_dict_are_refused_before_the_step_is_counted():
    class Mine(optim.Adam, name="mine_scalars_dict"):
        @staticmethod
        def scalars(t, group, state):
            return {"lr": group["lr"]}
    p = mg.nn.Parameter(np.ones(3))
    p.grad = np.ones(3)
    opt = Mine([p])
    with pytest.raises(TypeError, match=r"Mine.scalars returned a dict; it returns Scalars\("):
        opt.step()
    assert opt.state[p]["step"] == 0
