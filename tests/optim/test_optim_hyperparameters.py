"""Hyperparameters are checked as numbers: finite reals (NumPy scalars included, stored as Python
numbers), never strings or bools, pairs that are pairs; at construction, in add_param_group and in
load_state_dict, and nothing changes when one is refused."""
import copy
import inspect
import pickle

import numpy as np
import pytest

import minigrad as mg
import optim

from conftest import torch_or_skip

ALL = ["SGD", "Adagrad", "Adadelta", "RMSprop", "Adam", "AdamW", "AMSGrad", "Adamax", "NAdam",
       "RAdam", "Rprop", "Adafactor", "AdaBelief", "Lion", "LAMB", "Yogi", "SparseAdam"]


def params(name=None):
    """Two parameters, a matrix and a vector; Muon takes matrices only."""
    if name == "Muon":
        return [mg.nn.Parameter(np.ones((3, 2)))]
    return [mg.nn.Parameter(np.ones((3, 2))), mg.nn.Parameter(np.ones(2))]


def numeric_arguments(names):
    """(optimizer, argument, index in a pair or None) for every number each optimizer takes
    (an element of a tuple, such as betas, counts alone)."""
    rows = []
    for name in names:
        takes = inspect.signature(getattr(optim, name)).parameters
        for arg, value in getattr(optim, name)(params(name)).defaults.items():
            if arg not in takes:
                continue
            if isinstance(value, tuple):
                rows += [(name, arg, i) for i, v in enumerate(value) if v is not None]
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                rows.append((name, arg, None))
    return rows


NUMERIC = numeric_arguments(ALL)


def with_value(name, arg, i, value):
    """The keyword arguments that set `arg` (or element i of the tuple `arg`) to `value`."""
    if i is None:
        return {arg: value}
    values = list(getattr(optim, name)(params(name)).defaults[arg])
    values[i] = value
    return {arg: tuple(values)}


def test_the_table_covers_every_kind_of_number():
    args = {arg for _, arg, _ in NUMERIC}
    assert {"lr", "eps", "weight_decay", "betas", "momentum", "dampening", "rho", "etas",
            "step_sizes", "beta2_decay", "d", "lr_decay", "alpha", "momentum_decay",
            "initial_accumulator_value"} <= args


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf"), np.float32("nan")],
                         ids=["nan", "inf", "-inf", "float32-nan"])
@pytest.mark.parametrize("name, arg, i", NUMERIC)
def test_non_finite_numbers_are_refused_naming_the_argument(name, arg, i, bad):
    with pytest.raises(ValueError, match=rf"Invalid [^:]*{arg}[^:]*: .*(nan|inf).*finite number"):
        getattr(optim, name)(params(), **with_value(name, arg, i, bad))


@pytest.mark.parametrize("bad", ["0.1", True, None, [0.1]], ids=["str", "bool", "None", "list"])
@pytest.mark.parametrize("name, arg, i", NUMERIC)
def test_non_numbers_are_refused_naming_the_argument(name, arg, i, bad):
    with pytest.raises(TypeError, match=rf"Invalid [^:]*{arg}[^:]*: .*expected a real number, got "
                                        rf"{type(bad).__name__}"):
        getattr(optim, name)(params(), **with_value(name, arg, i, bad))


@pytest.mark.parametrize("name, arg", sorted({(n, a) for n, a, i in NUMERIC if i is not None}))
def test_a_number_where_a_pair_belongs_names_the_pair(name, arg):
    with pytest.raises(ValueError, match=rf"Invalid {arg}: 0\.9 \(expected a pair"):
        getattr(optim, name)(params(), **{arg: 0.9})


def test_numpy_scalars_are_checked_and_stored_as_python_numbers():
    with pytest.raises(ValueError, match=r"Invalid lr: .*-1\.0.*lr >= 0"):
        optim.Adam(params(), lr=np.float32(-1))
    with pytest.raises(ValueError, match=r"Invalid beta1 \(betas\[0\]\): .*1\.0"):
        optim.Adam(params(), betas=(np.float64(1.0), 0.999))
    opt = optim.Adam(params(), lr=np.float32(0.5), betas=[np.float64(0.8), 0.9],
                     weight_decay=np.int64(0))
    group = opt.param_groups[0]
    assert type(group["lr"]) is float and group["lr"] == 0.5
    assert group["betas"] == (0.8, 0.9) and all(type(b) is float for b in group["betas"])
    assert type(group["weight_decay"]) is int


def test_add_param_group_refuses_and_changes_nothing():
    opt = optim.Adam(params()[:1], lr=0.1)
    for bad, error in [({"lr": float("nan")}, ValueError), ({"lr": "0.1"}, TypeError),
                       ({"betas": (0.9, float("inf"))}, ValueError), ({"eps": np.inf}, ValueError)]:
        with pytest.raises(error, match=f"Invalid [^:]*{next(iter(bad))}"):
            opt.add_param_group({"params": params()[1:], **bad})
    assert len(opt.param_groups) == 1


@pytest.mark.parametrize("key, bad", [("lr", float("nan")), ("weight_decay", float("inf")),
                                      ("betas", (0.9, float("nan"))), ("lr", "0.1")])
def test_load_state_dict_refuses_and_changes_nothing(key, bad):
    ps = params()
    opt = optim.Adam(ps, lr=0.1)
    for p in ps:
        p.grad = np.ones(p.shape)
    opt.step()
    sd = opt.state_dict()
    before = pickle.dumps(sd)
    sd["param_groups"][0][key] = bad
    with pytest.raises((ValueError, TypeError), match=f"Invalid [^:]*{key}"):
        opt.load_state_dict(sd)
    assert pickle.dumps(opt.state_dict()) == before


@pytest.mark.parametrize("name, kw", [("SGD", dict(lr="0.1")), ("Adam", dict(lr=float("nan"))),
                                      ("Adam", dict(lr=np.float32(-1))),
                                      ("RMSprop", dict(alpha=float("nan"))),
                                      ("Adagrad", dict(eps=float("nan")))])
def test_the_error_type_is_torchs_where_torch_refuses(name, kw):
    torch = torch_or_skip()
    with pytest.raises((TypeError, ValueError)) as theirs:
        getattr(torch.optim, name)([torch.zeros(2, requires_grad=True)], **kw)
    with pytest.raises(theirs.type):
        getattr(optim, name)(params(), **kw)


# ============================================================================ beyond torch's catalog

EXTRA = ["ASGD", "Muon", "ScheduleFreeAdamW", "Prodigy", "AdaHessian", "Sophia", "SophiaG"]


# their group-level state (Prodigy's d, schedule-free's k) is checked when loaded:
# test_optim_state_checks.py
EXTRA_NUMERIC = numeric_arguments(EXTRA)


def test_the_extra_table_covers_their_numbers():
    assert {(n, a) for n, a, _ in EXTRA_NUMERIC} >= {
        ("ASGD", "lambd"), ("ASGD", "t0"), ("ASGD", "alpha"), ("Muon", "ns_coefficients"),
        ("Muon", "ns_steps"), ("ScheduleFreeAdamW", "r"), ("ScheduleFreeAdamW", "weight_lr_power"),
        ("ScheduleFreeAdamW", "warmup_steps"), ("Prodigy", "d0"), ("Prodigy", "d_coef"),
        ("Prodigy", "growth_rate"), ("Prodigy", "slice_p")}


@pytest.mark.parametrize("name, arg, i", NUMERIC + EXTRA_NUMERIC)
def test_an_int_too_large_for_a_float_is_refused_at_construction(name, arg, i):
    """lr=10**400 used to pass as an int and raise OverflowError at step()."""
    with pytest.raises(ValueError, match=rf"Invalid [^:]*{arg}[^:]*: 1000.*\(expected"):
        getattr(optim, name)(params(name), **with_value(name, arg, i, 10 ** 400))


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "0.1", None],
                         ids=["nan", "inf", "str", "None"])
@pytest.mark.parametrize("name, arg, i", EXTRA_NUMERIC)
def test_the_extra_optimizers_refuse_non_numbers_and_non_finite_numbers(name, arg, i, bad):
    if (name, arg) == ("Prodigy", "growth_rate") and bad == float("inf"):
        pytest.skip("inf is growth_rate's default: no limit")
    with pytest.raises((ValueError, TypeError), match=rf"Invalid [^:]*{arg}"):
        getattr(optim, name)(params(name), **with_value(name, arg, i, bad))


def test_large_finite_numbers_are_still_numbers():
    opt = optim.SGD(params(), lr=10 ** 300, weight_decay=np.int64(0))
    assert opt.param_groups[0]["lr"] == 10 ** 300
    optim.Prodigy(params(), growth_rate=float("inf"))


# ============================================================================ switches are bools

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


# ============================================================================ RMSprop's smoothing constant

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
