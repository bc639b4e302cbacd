"""Loaded optimizer state is checked against what the optimizer would have made: the layout of
the dict, each group's hyperparameters, and each state entry (dtype, shape, finite values, >= 0
where it is a sum or average of squares, counters of the right type and range). A refused load
raises ValueError naming the entry, whatever is wrong with it (never a TypeError, KeyError or
AttributeError from deep inside: callers catch one kind), and changes nothing."""
import math
import pickle

import numpy as np
import pytest

import minigrad as mg
import optim
from minigrad.sparse import RowSparseGrad

# (optimizer, options that make every kind of state it has)
OPTIMIZERS = [
    ("SGD", dict(lr=0.01, momentum=0.9)), ("Adagrad", {}), ("Adadelta", {}),
    ("RMSprop", dict(momentum=0.5, centered=True)), ("Adam", dict(amsgrad=True)),
    ("AdamW", dict(amsgrad=True)), ("Adamax", {}), ("NAdam", {}), ("RAdam", {}), ("Rprop", {}),
    ("Adafactor", {}), ("AdaBelief", {}), ("Lion", {}), ("LAMB", {}), ("Yogi", {}),
    ("ASGD", dict(t0=1)), ("Muon", {}), ("ScheduleFreeAdamW", {}), ("Prodigy", {}),
    ("SparseAdam", {}), ("AdaHessian", {}), ("Sophia", dict(update_period=2)), ("SophiaG", {}),
]
NAMES = [name for name, _ in OPTIMIZERS]


def make(name, seed=0):
    """(parameters, optimizer) after three steps: every state entry exists."""
    rng = np.random.default_rng(seed)
    shapes = [(4, 3), (3, 2)] if name == "Muon" else [(4, 3), (3,), (2, 2, 2)]
    ps = [mg.nn.Parameter(rng.standard_normal(s)) for s in shapes]
    opt = getattr(optim, name)(ps, **dict(OPTIMIZERS)[name])
    if hasattr(opt, "train"):
        opt.train()
    for _ in range(3):
        for p in ps:
            g = rng.standard_normal(p.shape)
            p.grad = RowSparseGrad(np.array([0, 1]), g[[0, 1]], p.shape) if name == "SparseAdam" \
                else g
        if name == "SophiaG":
            opt.update_hessian()  # its estimate: squared gradients
        # AdaHessian, Sophia: an estimate of the Hessian's diagonal given, as pytorch_optimizer's
        opt.step(**({"hessian": [rng.standard_normal(p.shape) for p in ps]}
                    if name in ("AdaHessian", "Sophia") else {}))
    return ps, opt


def snapshot(opt):
    return pickle.dumps((opt.state_dict(), [sorted((k, repr(v)) for k, v in g.items())
                                            for g in opt.param_groups]))


def refused(opt, sd, match):
    """Loading sd raises a ValueError matching `match` (and nothing else), and changes nothing."""
    before = snapshot(opt)
    with pytest.raises(ValueError, match=match) as info:
        opt.load_state_dict(sd)
    assert type(info.value) is ValueError
    assert snapshot(opt) == before
    return info.value


def entries(kind):
    """(optimizer, parameter index, entry name) for every array entry, or every number entry."""
    rows = []
    for name in NAMES:
        _, opt = make(name)
        for idx, state in opt.state_dict()["state"].items():
            for key, value in state.items():
                if (kind == "array") == mg.backend.is_array(value):
                    rows.append((name, idx, key))
            break  # the first parameter's entries: the others have the same
    return rows


ARRAYS, NUMBERS = entries("array"), entries("number")


def test_the_tables_cover_every_kind_of_state():
    assert {k for _, _, k in ARRAYS} >= {"exp_avg", "exp_avg_sq", "max_exp_avg_sq", "sum",
                                        "square_avg", "acc_delta", "momentum_buffer", "grad_avg",
                                        "exp_inf", "exp_avg_var", "prev", "step_size", "row_var",
                                        "col_var", "ax", "z", "s", "p0"}
    assert {k for _, _, k in NUMBERS} == {"step", "mu_product", "eta", "mu", "hessian_step"}


# ============================================================================ state arrays

def bad_arrays(a):
    """(what, a wrong value for the entry a, the message's words)."""
    return [("bool", a > 0, r"has dtype bool, expected a floating-point array"),
            ("int", a.astype(np.int64), r"has dtype int64, expected a floating-point"),
            ("complex", a.astype(np.complex128), r"has dtype complex128"),
            ("object", a.astype(object), r"has dtype object"),
            ("nan", np.full_like(a, np.nan), r"holds nan or inf"),
            ("inf", np.full_like(a, np.inf), r"holds nan or inf"),
            ("shape", np.zeros(a.shape + (2,)), r"has shape .*, expected"),
            ("list", a.tolist(), r"is a list, expected an array"),
            ("string", "abc", r"is a str, expected an array"),
            ("number", 0.5, r"is a float, expected an array")]


@pytest.mark.parametrize("name, idx, key", ARRAYS)
def test_a_wrong_state_array_is_refused_naming_it_and_changes_nothing(name, idx, key):
    _, opt = make(name)
    for _, bad, message in bad_arrays(opt.state_dict()["state"][idx][key]):
        sd = opt.state_dict()
        sd["state"][idx][key] = bad
        refused(opt, sd, rf"state '{key}' of parameter {idx} {message}")


NON_NEGATIVE = [(n, i, k) for n, i, k in ARRAYS if k in getattr(optim, n).never_negative]


def test_the_non_negative_table_names_the_second_moments():
    assert {k for _, _, k in NON_NEGATIVE} == {
        "exp_avg_sq", "max_exp_avg_sq", "sum", "square_avg", "acc_delta", "exp_inf",
        "exp_avg_var", "step_size", "row_var", "col_var", "variance", "exp_hessian_diag_sq",
        "hessian"} - {"variance"}  # hessian: SophiaG's average of squared gradients


@pytest.mark.parametrize("name, idx, key", NON_NEGATIVE)
def test_a_negative_second_moment_is_refused(name, idx, key):
    _, opt = make(name)
    sd = opt.state_dict()
    sd["state"][idx][key] = sd["state"][idx][key] - 10.0
    refused(opt, sd, rf"state '{key}' of parameter {idx} holds negative values")


def test_the_vector_entry_of_adafactor_is_checked_too():
    _, opt = make("Adafactor")
    sd = opt.state_dict()
    assert "variance" in sd["state"][1]
    sd["state"][1]["variance"] = -sd["state"][1]["variance"] - 1
    refused(opt, sd, r"state 'variance' of parameter 1 holds negative values")


def test_another_float_dtype_is_cast_to_the_parameters_and_an_overflow_refused():
    ps, opt = make("Adam")
    sd = opt.state_dict()
    sd["state"][0] = {k: v.astype(np.float16) if isinstance(v, np.ndarray) else v
                      for k, v in sd["state"][0].items()}
    opt.load_state_dict(sd)
    assert all(v.dtype == np.float64 for v in opt.state[ps[0]].values()
               if isinstance(v, np.ndarray))
    ps32 = [mg.nn.Parameter(p.data.astype(np.float32)) for p in ps]
    opt32 = optim.Adam(ps32, amsgrad=True)
    sd = opt.state_dict()
    sd["state"][2]["exp_avg"] = np.full((2, 2, 2), 1e300)  # beyond float32
    refused(opt32, sd, r"state 'exp_avg' of parameter 2 holds nan or inf \(in float32\)")


def test_loaded_arrays_are_copies():
    ps, opt = make("Adam")
    sd = opt.state_dict()
    opt.load_state_dict(sd)
    sd["state"][0]["exp_avg"][...] = 7.0
    assert not (opt.state[ps[0]]["exp_avg"] == 7.0).any()


def test_sgd_momentum_buffer_may_be_none_but_not_anything_else():
    _, opt = make("SGD")
    sd = opt.state_dict()
    sd["state"][0]["momentum_buffer"] = None  # not made yet: the next step starts it
    opt.load_state_dict(sd)
    sd["state"][0]["momentum_buffer"] = np.ones((4, 3), bool)
    refused(opt, sd, r"state 'momentum_buffer' of parameter 0 has dtype bool")


# ============================================================================ scalar state

BAD_NUMBERS = [(-1, r"is -1(\.0)?, expected"), (float("nan"), r"finite number"),
               (float("inf"), r"finite number"), (10 ** 400, r"finite"), ("3", r"expected a number"),
               (True, r"expected a number"), (None, r"expected a number"),
               (np.ones(2), r"expected a number"), (1 + 2j, r"expected a number")]


@pytest.mark.parametrize("name, idx, key", NUMBERS)
@pytest.mark.parametrize("bad, message", BAD_NUMBERS,
                         ids=["negative", "nan", "inf", "huge", "str", "bool", "None", "array",
                              "complex"])
def test_a_wrong_counter_is_refused_naming_it(name, idx, key, bad, message):
    _, opt = make(name)
    sd = opt.state_dict()
    sd["state"][idx][key] = bad
    refused(opt, sd, rf"state '{key}' of parameter {idx} .*{message}")


@pytest.mark.parametrize("name", sorted({n for n, _, k in NUMBERS if k == "step"}))
def test_step_is_a_non_negative_integer_and_torchs_forms_of_it_load(name):
    ps, opt = make(name)
    for bad, message in [(2.5, "expected an integer"), (-3, r"0 <= step"),
                         (2 ** 60, r"step <= 2\*\*53")]:
        sd = opt.state_dict()
        sd["state"][0]["step"] = bad
        refused(opt, sd, rf"state 'step' of parameter 0 is .*{message}")
    for good in [3.0, np.float32(3), np.int64(3), np.array(3.0)]:  # torch: float, 0-d tensors
        sd = opt.state_dict()
        sd["state"][0]["step"] = good
        opt.load_state_dict(sd)
        assert type(opt.state[ps[0]]["step"]) is int and opt.state[ps[0]]["step"] == 3


@pytest.mark.parametrize("name, key, bad, message", [
    ("NAdam", "mu_product", 1.5, r"0 <= mu_product <= 1"),
    ("ASGD", "eta", -0.1, r"eta >= 0"), ("ASGD", "mu", 0.0, r"0 < mu <= 1"),
    ("ASGD", "mu", 2.0, r"0 < mu <= 1")])
def test_other_counters_are_held_to_their_ranges(name, key, bad, message):
    _, opt = make(name)
    sd = opt.state_dict()
    sd["state"][1][key] = bad
    refused(opt, sd, rf"state '{key}' of parameter 1 is {bad}, expected {message}")


# ============================================================================ the layout

def layouts(sd):
    """(what, a malformed state dict, the error's words) built from a good one, sd."""
    groups, state = sd["param_groups"], sd["state"]
    n = len(groups[0]["params"])
    return [
        ("empty", {}, r"no 'state' or 'param_groups' entry"),
        ("no state", {"param_groups": groups}, r"no 'state' entry"),
        ("no groups", {"state": state}, r"no 'param_groups' entry"),
        ("None", None, r"expects a dict .*got a NoneType"),
        ("list", [state, groups], r"got a list"),
        ("groups None", {"state": state, "param_groups": None}, r"'param_groups' is a NoneType"),
        ("groups dict", {"state": state, "param_groups": groups[0]}, r"'param_groups' is a dict"),
        ("two groups", {"state": state, "param_groups": groups * 2}, r"2 parameter groups"),
        ("group a list", {"state": state, "param_groups": [[0, 1, 2]]}, r"group 0 is a list"),
        ("group without params", {"state": state, "param_groups": [{"lr": 0.1}]},
         r"group 0 has 'params' None"),
        ("params a number", {"state": state, "param_groups": [{**groups[0], "params": 3}]},
         r"group 0 has 'params' 3"),
        ("too few", {"state": state, "param_groups": [{**groups[0], "params": list(range(n - 1))}]},
         rf"group 0 has {n - 1} parameters"),
        ("index twice", {"state": {}, "param_groups": [{**groups[0], "params": [0] * n}]},
         r"parameter index 0 twice"),
        ("index a string", {"state": {}, "param_groups": [{**groups[0], "params": ["a"] * n}]},
         r"names parameter 'a', expected an integer"),
        ("index a float", {"state": {}, "param_groups": [{**groups[0], "params": [0.0] * n}]},
         r"names parameter 0.0, expected an integer"),
        ("state a list", {"state": [state[0]], "param_groups": groups}, r"'state' is a list"),
        ("unknown index", {"state": {**state, 9: state[0]}, "param_groups": groups},
         r"parameter index 9, which no group names"),
        ("state entry a list", {"state": {0: [1, 2]}, "param_groups": groups},
         r"state of parameter 0 is a list"),
        ("missing entry", {"state": {0: {k: v for k, v in list(state[0].items())[1:]}},
                           "param_groups": groups}, r"state of parameter 0 has entries"),
        ("extra entry", {"state": {0: {**state[0], "bogus": 1.0}}, "param_groups": groups},
         r"state of parameter 0 has entries"),
    ]


@pytest.mark.parametrize("name", NAMES)
def test_a_malformed_state_dict_is_refused_with_a_clear_error_and_changes_nothing(name):
    _, opt = make(name)
    for what, sd, message in layouts(opt.state_dict()):
        if what == "missing entry" and name == "SGD":
            continue  # its one entry, the momentum buffer, add_state makes again: that loads
        refused(opt, sd, message)


@pytest.mark.parametrize("key, bad, message", [
    ("lr", "abc", r"Invalid lr: 'abc' \(expected a real number"),
    ("lr", -1, r"Invalid lr: -1 \(expected lr >= 0"),
    ("lr", 10 ** 400, r"Invalid lr: 1000.*\(expected a finite number"),
    ("lr", float("inf"), r"Invalid lr: inf"), ("weight_decay", None, r"Invalid weight_decay: None"),
    ("differentiable", True, r"differentiable=True is not supported")])
@pytest.mark.parametrize("name", [n for n in NAMES if n not in ("SparseAdam",)])
def test_a_wrong_hyperparameter_in_a_loaded_group_is_refused(name, key, bad, message):
    _, opt = make(name)
    sd = opt.state_dict()
    if key not in sd["param_groups"][0] and key != "lr":
        pytest.skip(f"{name} has no {key}")
    sd["param_groups"][0][key] = bad
    refused(opt, sd, message)


@pytest.mark.parametrize("name, key, bad, message", [
    ("Prodigy", "d", -1.0, r"Invalid d: -1\.0 \(expected d > 0"),
    ("Prodigy", "d", float("nan"), r"Invalid d: nan"),
    ("Prodigy", "d_max", 0.0, r"Invalid d_max"),
    ("Prodigy", "d_numerator", float("inf"), r"Invalid d_numerator: inf"),
    ("Prodigy", "k", -1, r"Invalid k: -1"), ("Prodigy", "k", 1.5, r"Invalid k: 1\.5"),
    ("Prodigy", "growth_rate", float("nan"), r"Invalid growth_rate: nan"),
    ("ScheduleFreeAdamW", "k", -2, r"Invalid k: -2"),
    ("ScheduleFreeAdamW", "ckp1", 1.5, r"Invalid ckp1: 1\.5"),
    ("ScheduleFreeAdamW", "weight_sum", -1.0, r"Invalid weight_sum"),
    ("ScheduleFreeAdamW", "lr_max", -0.5, r"Invalid lr_max"),
    ("ScheduleFreeAdamW", "scheduled_lr", float("nan"), r"Invalid scheduled_lr"),
    ("ScheduleFreeAdamW", "train_mode", "yes", r"Invalid train_mode"),
    ("Muon", "ns_coefficients", (1.0, float("nan"), 2.0), r"Invalid ns_coefficients\[1\]: nan"),
    ("Muon", "ns_steps", True, r"Invalid ns_steps: True")])
def test_group_level_state_is_checked_when_loaded(name, key, bad, message):
    _, opt = make(name)
    sd = opt.state_dict()
    sd["param_groups"][0][key] = bad
    refused(opt, sd, message)


@pytest.mark.parametrize("name", NAMES)
def test_a_good_state_dict_still_loads_and_continues(name):
    ps, opt = make(name)
    sd = pickle.loads(pickle.dumps(opt.state_dict()))
    ps2, opt2 = make(name, seed=1)
    for p, q in zip(ps2, ps):
        p.data[...] = q.data
    opt2.load_state_dict(sd)
    assert snapshot(opt2) == snapshot(opt)


def test_an_index_of_numpy_integer_type_is_an_index():
    ps, opt = make("Adam")
    sd = opt.state_dict()
    sd["param_groups"][0]["params"] = [np.int64(i) for i in sd["param_groups"][0]["params"]]
    opt.load_state_dict(sd)
    assert all(p in opt.state for p in ps)


# ============================================================================ torch's state dicts

TORCH_ROWS = [("SGD", dict(lr=0.01, momentum=0.9)), ("Adagrad", {}), ("Adadelta", {}),
              ("RMSprop", dict(momentum=0.5, centered=True)), ("Adam", dict(amsgrad=True)),
              ("AdamW", {}), ("Adamax", {}), ("NAdam", {}), ("RAdam", {}), ("Rprop", {}),
              ("ASGD", {}), ("Adafactor", {})]


@pytest.mark.parametrize("name, kw", TORCH_ROWS, ids=[r[0] for r in TORCH_ROWS])
def test_torchs_state_dict_loads_with_its_0d_tensors_and_continues_as_torch(name, kw):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # torch keeps some scalar state in it (NAdam, ASGD)
    try:
        rng = np.random.default_rng(0)
        init = [rng.standard_normal(s) for s in [(4, 3), (3,)]]
        grads = [[rng.standard_normal(a.shape) for a in init] for _ in range(4)]
        ts = [torch.tensor(a.copy(), requires_grad=True) for a in init]
        topt = getattr(torch.optim, name)(ts, **kw)
        for gs in grads[:2]:
            for t, g in zip(ts, gs):
                t.grad = torch.tensor(g)
            topt.step()
        tsd = topt.state_dict()
        sd = {"state": {i: {k: v.numpy() if torch.is_tensor(v) else v for k, v in s.items()}
                        for i, s in tsd["state"].items()},
              "param_groups": [dict(g) for g in tsd["param_groups"]]}
        ps = [mg.nn.Parameter(t.detach().numpy().copy()) for t in ts]
        opt = getattr(optim, name)(ps, **kw)
        opt.load_state_dict(sd)
        for gs in grads[2:]:
            for t, p, g in zip(ts, ps, gs):
                t.grad, p.grad = torch.tensor(g), g.copy()
            topt.step()
            opt.step()
        for t, p in zip(ts, ps):
            np.testing.assert_allclose(p.data, t.detach().numpy(), rtol=1e-10, atol=1e-12)
    finally:
        torch.set_default_dtype(default)


# ============================================================================ ZeRO, alone

def test_zero_alone_checks_loaded_state_as_its_optimizer_and_changes_nothing():
    ps = [mg.nn.Parameter(np.ones((4, 3))), mg.nn.Parameter(np.ones(3))]
    opt = optim.ZeroRedundancyOptimizer(ps, optim.Adam, lr=0.01)
    for p in ps:
        p.grad = np.ones(p.shape)
    opt.step()
    good = opt.state_dict()
    for part, value, message in [
            ("exp_avg", np.ones((4, 3), bool), r"state 'exp_avg' of parameter 0 has dtype bool"),
            ("step", -1, r"state 'step' of parameter 0 is -1"),
            ("exp_avg_sq", -np.ones((4, 3)), r"state 'exp_avg_sq' of parameter 0 holds negative"),
            ("exp_avg", np.ones((4, 3), complex), r"dtype complex128")]:
        sd = pickle.loads(pickle.dumps(good))
        sd["state"][0][part] = value
        refused(opt, sd, message)
    for sd, message in [({}, r"no 'state' or 'param_groups'"),
                        ({"state": [], "param_groups": good["param_groups"]}, r"'state' is a list"),
                        ({"state": {}, "param_groups": [{"lr": 0.1}]}, r"'params' None"),
                        ({"state": {}, "param_groups": [{**good["param_groups"][0], "lr": "x"}]},
                         r"Invalid lr: 'x'")]:
        refused(opt, sd, message)
    opt.load_state_dict(good)
    assert opt.state_dict()["state"][0]["step"] == 1 and not math.isnan(opt.param_groups[0]["lr"])


@pytest.mark.parametrize("name, kw, key, value", [
    ("SGD", dict(lr=0.1), "momentum", 0.9),              # a buffer add_state makes at the next step
    ("RMSprop", {}, "momentum", 0.9),
    ("RMSprop", {}, "centered", True),
    ("SGD", dict(lr=0.1, momentum=0.9), "momentum", 0.0),  # a buffer left behind, kept as torch keeps it
])
def test_a_state_saved_after_a_flag_changed_loads_and_steps_as_the_original(name, kw, key, value):
    cls = getattr(optim, name)
    p = mg.nn.Parameter(np.linspace(-1, 1, 6))
    p.grad = np.full(6, 0.5)
    opt = cls([p], **kw)
    opt.step()
    opt.param_groups[0][key] = value  # as a schedule (OneCycleLR) sets momentum
    q = mg.nn.Parameter(p.data.copy())
    again = cls([q], **kw)
    again.load_state_dict(opt.state_dict())
    q.grad = p.grad.copy()
    opt.step()
    again.step()
    assert np.array_equal(p.data, q.data)


def test_a_state_missing_an_array_no_flag_makes_is_still_refused():
    p = mg.nn.Parameter(np.ones(3))
    p.grad = np.ones(3)
    opt = optim.Adam([p])
    opt.step()
    sd = opt.state_dict()
    del sd["state"][0]["exp_avg"]
    refused(opt, sd, r"state of parameter 0 has entries \['exp_avg_sq', 'step'\]")
