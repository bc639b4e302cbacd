"""optim.explain: per-parameter introspection of every optimizer, dense and sparse, that
changes nothing; its numbers against the papers' formulas and against the exact update."""
import copy
import math

import numpy as np
import pytest

import minigrad as mg
import optim
from minigrad import backend
from minigrad.nn import Parameter
from optim.checks import flag, non_negative
from optim.common import weight_decay, weight_decay_scalars
from optim.scalars import Scalars

SHAPES = [(6, 4), (4,)]

def given_hessian(cls):
    """cls, stepping with the Hessian's diagonal given as g ⊙ g where none is passed: AdaHessian
    and Sophia take an estimate in step() (explain reads only the state it leaves)."""
    class Given(cls):
        def step(self, closure=None, hessian=None):
            if hessian is None:
                hessian = [p.grad * p.grad for group in self.param_groups for p in group["params"]
                           if p.grad is not None]
            return super().step(closure, hessian)
    Given.__name__ = cls.__name__
    return Given


# every optimizer in optim, with hyperparameters that switch on its options
OPTIMIZERS = [
    ("SGD", lambda ps: optim.SGD(ps, lr=0.1)),
    ("SGD momentum wd", lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.01)),
    ("SGD nesterov", lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True)),
    ("Adam", lambda ps: optim.Adam(ps, lr=0.01)),
    ("Adam L2", lambda ps: optim.Adam(ps, lr=0.01, weight_decay=0.1)),
    ("AdamW", lambda ps: optim.AdamW(ps, lr=0.01, weight_decay=0.1)),
    ("AMSGrad", lambda ps: optim.AMSGrad(ps, lr=0.01)),
    ("Adamax", lambda ps: optim.Adamax(ps)),
    ("NAdam", lambda ps: optim.NAdam(ps)),
    ("RAdam", lambda ps: optim.RAdam(ps, betas=(0.9, 0.9))),
    ("RAdam decoupled", lambda ps: optim.RAdam(ps, betas=(0.9, 0.9), weight_decay=0.1,
                                              decoupled_weight_decay=True)),
    ("Adagrad", lambda ps: optim.Adagrad(ps, lr_decay=0.1, initial_accumulator_value=0.1)),
    ("Adadelta", lambda ps: optim.Adadelta(ps)),
    ("RMSprop", lambda ps: optim.RMSprop(ps)),
    ("RMSprop centered momentum", lambda ps: optim.RMSprop(ps, momentum=0.9, centered=True)),
    ("Rprop", lambda ps: optim.Rprop(ps)),
    ("Adafactor", lambda ps: optim.Adafactor(ps, weight_decay=0.1)),
    ("AdaBelief", lambda ps: optim.AdaBelief(ps, weight_decay=0.1, decoupled_weight_decay=True)),
    ("Lion", lambda ps: optim.Lion(ps, weight_decay=0.1)),
    ("LAMB", lambda ps: optim.LAMB(ps, weight_decay=0.01)),
    ("Yogi", lambda ps: optim.Yogi(ps)),
    ("AdaHessian", lambda ps: given_hessian(optim.AdaHessian)(ps, weight_decay=0.1)),
    ("AdaHessian L2 power", lambda ps: given_hessian(optim.AdaHessian)(
        ps, weight_decay=0.1, weight_decouple=False, hessian_power=0.5)),
    ("AdaHessian fixed decay", lambda ps: given_hessian(optim.AdaHessian)(
        ps, lr=0.05, weight_decay=0.1, fixed_decay=True)),
    ("Sophia", lambda ps: given_hessian(optim.Sophia)(ps, p=1.0, update_period=2)),
    ("SophiaG", lambda ps: optim.SophiaG(ps, lr=0.01, bs=4)),
]
LAZY = [(name, make) for name, make in OPTIMIZERS if make([Parameter(np.zeros(1))]).lazy_sparse]
LAZY.append(("SparseAdam", lambda ps: optim.SparseAdam(ps)))

# the optimizers whose last update explain derives from the state (the others need previous=)
DERIVED = {"SGD momentum wd", "Adam", "Adam L2", "AdamW", "AMSGrad", "Adamax", "RAdam",
           "RAdam decoupled", "RMSprop centered momentum", "Rprop", "AdaBelief", "Yogi",
           "AdaHessian", "AdaHessian L2 power", "AdaHessian fixed decay", "Sophia", "SophiaG"}


def make_params(device="cpu", shapes=SHAPES, seed=0):
    rng = np.random.default_rng(seed)
    return [Parameter(backend.to_device(rng.standard_normal(s), device)) for s in shapes]


def set_grads(params, rng, sparse=False, scale=1.0):
    for p in params:
        g = scale * rng.standard_normal(p.shape)
        if sparse and len(p.shape) == 2:
            rows = np.sort(rng.choice(p.shape[0], size=3, replace=False))
            p.grad = mg.RowSparseGrad(backend.to_device(rows, p.device),
                                      backend.to_device(g[rows], p.device), p.shape)
        else:
            p.grad = backend.to_device(g, p.device)


def snapshot_all(opt, params):
    return [p.data.copy() for p in params], copy.deepcopy(
        {i: opt.state[p] for i, p in enumerate(params) if p in opt.state})


def assert_identical(a, b):
    (pa, sa), (pb, sb) = a, b
    for x, y in zip(pa, pb):
        assert np.array_equal(backend.to_numpy(x), backend.to_numpy(y))
    assert sa.keys() == sb.keys()
    for i in sa:
        assert sa[i].keys() == sb[i].keys()
        for k in sa[i]:
            x, y = sa[i][k], sb[i][k]
            if backend.is_array(x):
                assert x.dtype == y.dtype and np.array_equal(backend.to_numpy(x), backend.to_numpy(y))
            else:
                assert type(x) is type(y) and x == y, (k, x, y)


# ============================================================================ it changes nothing

@pytest.mark.parametrize("name, make", OPTIMIZERS, ids=[o[0] for o in OPTIMIZERS])
def test_changes_nothing_dense(name, make, device):
    run_twins(make, device, sparse=False)


@pytest.mark.parametrize("name, make", LAZY, ids=[o[0] for o in LAZY])
def test_changes_nothing_sparse(name, make, device):
    run_twins(make, device, sparse=True)


def run_twins(make, device, sparse):
    """Two identical runs, one explained before and after every step: every parameter and
    state entry stays bit-identical, before/after each explain and at the end."""
    watched, plain = make_params(device), make_params(device)
    opt_w, opt_p = make(watched), make(plain)
    rng_w, rng_p = np.random.default_rng(1), np.random.default_rng(1)
    if isinstance(opt_w, optim.SparseAdam):
        watched, plain = watched[:1], plain[:1]  # its vector would get a dense gradient
        opt_w, opt_p = make(watched), make(plain)
    for _ in range(4):
        set_grads(watched, rng_w, sparse), set_grads(plain, rng_p, sparse)
        before = snapshot_all(opt_w, watched)
        str(optim.explain(opt_w))                                    # before the step
        assert_identical(before, snapshot_all(opt_w, watched))
        previous = optim.snapshot(opt_w)
        opt_w.step(), opt_p.step()
        after = snapshot_all(opt_w, watched)
        report = optim.explain(opt_w, previous=previous)
        str(report)
        assert_identical(after, snapshot_all(opt_w, watched))
        assert_identical(after, snapshot_all(opt_p, plain))
        assert all(r["step_size"] is None or all(map(math.isfinite, r["step_size"]))
                   for r in report.rows)


# ============================================================================ the last update

@pytest.mark.parametrize("name, make", OPTIMIZERS, ids=[o[0] for o in OPTIMIZERS])
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
def test_update_ratio_from_state_is_the_exact_last_update(name, make, sparse):
    """Where explain derives |Δθ|/|θ| from the state, it equals θ - θ_prev's (float64, many
    steps, RAdam through both phases); elsewhere it says None and previous= gives it."""
    params = make_params()
    opt = make(params)
    if sparse and not opt.lazy_sparse:
        pytest.skip(f"{name} takes dense gradients only")
    rng = np.random.default_rng(2)
    for _ in range(8):
        set_grads(params, rng, sparse)
        previous = optim.snapshot(opt)
        opt.step()
        derived, exact = optim.explain(opt), optim.explain(opt, previous=previous)
        for d, e, p, old in zip(derived.rows, exact.rows, params, previous):
            want = np.linalg.norm(p.data - old) / np.linalg.norm(p.data)
            assert e["update_from"] == "previous" and e["update_ratio"] == pytest.approx(want, rel=1e-12)
            if name in DERIVED:
                assert d["update_from"] == "state"
                assert d["update_ratio"] == pytest.approx(want, rel=1e-9, abs=1e-15)
            else:
                assert d["update_from"] is None and d["update_ratio"] is None


def test_radam_goes_through_both_phases_in_that_test():
    params = make_params()
    opt = optim.RAdam(params, betas=(0.9, 0.9))
    rng, phases = np.random.default_rng(2), []
    for _ in range(8):
        set_grads(params, rng)
        opt.step()
        phases.append(optim.explain(opt).rows[0]["other"]["sgd_phase"])
    assert phases[0] and not phases[-1]


# ============================================================================ the numbers

def stepped(make, steps=5, seed=3, grad_scale=None):
    params = make_params()
    opt = make(params)
    rng = np.random.default_rng(seed)
    for k in range(steps):
        set_grads(params, rng, scale=1.0 if grad_scale is None else grad_scale(k))
        opt.step()
    return params, opt


def test_adam_row_is_the_papers_formulas():
    lr, (b1, b2), eps, t = 0.01, (0.9, 0.999), 1e-8, 5
    params, opt = stepped(lambda ps: optim.Adam(ps, lr=lr))
    row = optim.explain(opt).rows[0]
    v_hat = opt.state[params[0]]["exp_avg_sq"] / (1 - b2 ** t)
    size = lr / (np.sqrt(v_hat) + eps)
    assert row["step"] == t
    assert row["step_size"] == (size.min(), np.median(size), size.max())
    assert row["other"]["bias_correction1"] == pytest.approx(1 - b1 ** t, rel=1e-15)
    assert row["other"]["bias_correction2"] == pytest.approx(1 - b2 ** t, rel=1e-15)
    assert row["grad_norm"] == pytest.approx(np.linalg.norm(params[0].grad))
    assert row["param_norm"] == pytest.approx(np.linalg.norm(params[0].data))
    assert (row["decay"], row["shrink"]) == (None, 1.0)


def test_radam_rho_and_r_are_the_papers():
    b2 = 0.9
    rho_inf = 2 / (1 - b2) - 1
    for t in (1, 4, 5, 6, 20):
        _, opt = stepped(lambda ps: optim.RAdam(ps, betas=(0.9, b2)), steps=t)
        other = optim.explain(opt).rows[0]["other"]
        rho = rho_inf - 2 * t * b2 ** t / (1 - b2 ** t)
        r = math.sqrt((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho)) \
            if rho > 5 else 0.0
        assert other["rho_t"] == pytest.approx(rho, rel=1e-12)
        assert other["r_t"] == pytest.approx(r, rel=1e-12)
        assert other["sgd_phase"] == (rho <= 5)


def test_nadam_shows_the_last_steps_mu_and_product():
    b1, psi, t = 0.9, 4e-3, 6
    _, opt = stepped(lambda ps: optim.NAdam(ps), steps=t)
    other = optim.explain(opt).rows[0]["other"]
    mus = [b1 * (1 - 0.5 * 0.96 ** (k * psi)) for k in range(1, t + 1)]
    assert other["mu"] == pytest.approx(mus[-1], rel=1e-15)
    assert other["mu_product"] == pytest.approx(math.prod(mus), rel=1e-14)


def test_adagrad_accumulator_and_fall():
    """Gradients of one size: G = G0 + t g², η_t = lr / (1 + (t-1) lr_decay), and the step
    fell by sqrt(t) times η_1/η_t (exactly the estimate's assumption)."""
    lr, decay, G0, t = 0.1, 0.05, 0.0, 9
    params = [Parameter(np.zeros(3))]
    opt = optim.Adagrad(params, lr=lr, lr_decay=decay, initial_accumulator_value=G0)
    for _ in range(t):
        params[0].grad = np.array([1.0, -2.0, 0.5])
        opt.step()
    row = optim.explain(opt).rows[0]
    eta = lr / (1 + (t - 1) * decay)
    G = G0 + t * np.array([1.0, 4.0, 0.25])
    size = eta / (np.sqrt(G) + 1e-10)
    assert row["step_size"] == pytest.approx((size.min(), np.median(size), size.max()), rel=1e-14)
    assert (row["other"]["G_min"], row["other"]["G_max"]) == pytest.approx((0.25 * t, 4.0 * t))
    assert row["other"]["fall_since_step1"] == pytest.approx(math.sqrt(t) * lr / eta, rel=1e-8)


def test_amsgrad_share_where_vmax_exceeds_v():
    # large gradients first, then small ones: v decays below its running max everywhere
    _, opt = stepped(lambda ps: optim.AMSGrad(ps), steps=10,
                     grad_scale=lambda k: 100.0 if k < 3 else 0.01)
    assert optim.explain(opt).rows[0]["other"]["vmax_share"] == 1.0
    _, opt = stepped(lambda ps: optim.AMSGrad(ps), steps=1)
    assert optim.explain(opt).rows[0]["other"]["vmax_share"] == 0.0


def test_lion_sign_agreement():
    params = [Parameter(np.zeros(4))]
    opt = optim.Lion(params)
    for _ in range(3):
        params[0].grad = np.array([1.0, -1.0, 2.0, -2.0])
        opt.step()
    assert optim.explain(opt).rows[0]["other"]["sign_agreement"] == 1.0
    params[0].grad = np.array([-1.0, 1.0, 2.0, -2.0])  # half of them flip against m
    assert optim.explain(opt).rows[0]["other"]["sign_agreement"] == 0.5


@pytest.mark.parametrize("make, decay, shrink", [
    (lambda ps: optim.AdamW(ps, lr=0.01, weight_decay=0.1), "decoupled", 1 - 0.01 * 0.1),
    (lambda ps: optim.Lion(ps, lr=0.01, weight_decay=0.1), "decoupled", 1 - 0.01 * 0.1),
    (lambda ps: optim.SGD(ps, lr=0.01, weight_decay=0.1), "L2", 1 - 0.01 * 0.1),
    (lambda ps: optim.Adam(ps, lr=0.01, weight_decay=0.1), "L2", None),
    (lambda ps: optim.LAMB(ps, lr=0.01, weight_decay=0.1), "decoupled", None),
    (lambda ps: optim.Adam(ps, lr=0.01), None, 1.0),
    (lambda ps: optim.SGD(ps, lr=0.01, momentum=0.9, weight_decay=0.1), "L2", None),
    # Prodigy's decay: decoupled with its dlr = d lr (d = d0 = 1e-6 on the first step), or L2
    (lambda ps: optim.Prodigy(ps, weight_decay=0.1), "decoupled", 1 - 0.1 * 1e-6),
    (lambda ps: optim.Prodigy(ps, weight_decay=0.1, decouple=False), "L2", None),
])
def test_weight_decay_shrink_factor(make, decay, shrink):
    _, opt = stepped(make, steps=1)
    row = optim.explain(opt).rows[0]
    assert (row["decay"], row["shrink"]) == (decay, shrink)


def test_sparse_gradient_rows_and_norm():
    params, opt = make_params(), None
    opt = optim.Adam(params)
    set_grads(params, np.random.default_rng(4), sparse=True)
    opt.step()
    row = optim.explain(opt).rows[0]
    assert row["grad_rows"] == 3
    assert row["grad_norm"] == pytest.approx(np.linalg.norm(params[0].grad.to_dense()))
    # the step size over the gradient's rows, not the untouched rows (v = 0: lr / ε)
    rows = params[0].grad.indices
    size = 1e-3 / (np.sqrt(opt.state[params[0]]["exp_avg_sq"][rows] / (1 - 0.999)) + 1e-8)
    assert row["step_size"] == pytest.approx((size.min(), np.median(size), size.max()), rel=1e-14)


# ============================================================================ the report

def test_names_table_and_dict():
    model = mg.nn.Sequential(mg.nn.Linear(3, 4, dtype=np.float64), mg.nn.Tanh(),
                             mg.nn.Linear(4, 2, dtype=np.float64))
    opt = optim.Adam(model.parameters(), lr=1e-3)
    fresh = optim.explain(opt, model)  # before any step: generic rows, nothing computed
    assert [r["step"] for r in fresh.rows] == [None] * 4
    loss = (model(mg.tensor(np.ones((5, 3)))) ** 2).mean()
    loss.backward()
    opt.step()
    report = optim.explain(opt, model)
    names = ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert [r["name"] for r in report.rows] == names and list(report.to_dict()) == names
    assert report["2.bias"]["shape"] == (2,) and report["2.bias"]["step"] == 1
    text = str(report)
    assert text.splitlines()[0].startswith("Adam:")
    assert all(n in text for n in names) and "lr/(√v̂+ε)" in text
    assert [r["name"] for r in optim.explain(opt).rows] == [f"param{i}" for i in range(4)]
    with pytest.raises(KeyError, match="no parameter named 'nope'"):
        report["nope"]


@pytest.mark.parametrize("previous, message", [
    (lambda ps: [p.data.copy() for p in ps[:1]], "1 arrays for an optimizer with 2 parameters"),
    (lambda ps: [np.zeros(3), ps[1].data.copy()], r"array 0 has shape \(3,\), parameter 0 has shape \(6, 4\)"),
])
def test_previous_is_checked(previous, message):
    params, opt = stepped(lambda ps: optim.Adam(ps), steps=1)
    with pytest.raises(ValueError, match=message):
        optim.explain(opt, previous=previous(params))


def assert_row_close(x, y, where):
    """Report values: numbers to 1e-10 (norms and medians sum in another order on a GPU), the
    rest (names, shapes, steps, formulas, None) equal, and of the same Python type."""
    assert type(x) is type(y), (where, x, y)
    if isinstance(y, dict):
        assert list(x) == list(y), where
        for k in y:
            assert_row_close(x[k], y[k], f"{where}[{k!r}]")
    elif isinstance(y, (list, tuple)):
        assert len(x) == len(y), where
        for k, (a, b) in enumerate(zip(x, y)):
            assert_row_close(a, b, f"{where}[{k}]")
    elif isinstance(y, float):
        assert x == pytest.approx(y, rel=1e-10, abs=1e-14), (where, x, y)
    else:
        assert x == y, (where, x, y)


EVERY = OPTIMIZERS + [o for o in LAZY if o[0] == "SparseAdam"]


@pytest.mark.parametrize("name, make", EVERY, ids=[o[0] for o in EVERY])
def test_the_report_on_the_device_is_the_cpus(name, make, device):
    """explain after three steps on the device (dense gradients, then sparse ones where the
    optimizer takes them), from the state and with previous=: every row is the CPU run's, its
    numbers Python numbers."""
    reports = []
    for dev in ("cpu", device):
        params = make_params(dev)
        opt = make(params)
        if isinstance(opt, optim.SparseAdam):
            params = params[:1]
            opt = make(params)
        rng = np.random.default_rng(1)
        only_sparse = isinstance(opt, optim.SparseAdam)
        for step in range(3):
            set_grads(params, rng, sparse=opt.lazy_sparse and (step > 0 or only_sparse))
            previous = optim.snapshot(opt)
            opt.step()
        reports.append((optim.explain(opt).rows, optim.explain(opt, previous=previous).rows))
    assert_row_close(reports[1], reports[0], "rows")


# ============================================================================ it asks the declaration

def test_explain_imports_no_optimizer_module():
    """explain.py knows no algorithm: no module it imports declares one, and it names no
    optimizer class (an isinstance chain would)."""
    import ast
    import importlib.util
    import inspect

    module = importlib.import_module("optim.tools.explain")  # (optim.explain is the function)
    tree = ast.parse(inspect.getsource(module))
    modules = [a.name for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names]
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = importlib.util.resolve_name("." * node.level + (node.module or ""), "optim.tools")
            # `from . import x` imports the module x; `from .m import x` the module m
            modules += [f"{base}.{a.name}" for a in node.names] if node.module is None else [base]
    for module in modules:
        found = importlib.import_module(module)
        algorithms = [k for k, v in vars(found).items() if isinstance(v, type)
                      and issubclass(v, optim.Optimizer) and v is not optim.Optimizer]
        assert not algorithms, f"explain.py imports {module}, which declares {algorithms}"
    classes = {k for k, v in vars(optim).items() if isinstance(v, type) and issubclass(v, optim.Optimizer)}
    named = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    assert not (named & (classes - {"Optimizer"}))


class NormalizedMomentum(optim.Optimizer):
    """A toy declared in a test: m ← β m + (1 - β) g; θ ← θ (1 - lr λ) - lr m / (|m| + 1)."""

    def __init__(self, params, lr=0.1, beta=0.9, weight_decay=0.0, decoupled_weight_decay=True):
        super().__init__(params, dict(lr=lr, beta=beta, weight_decay=weight_decay,
                                      decoupled_weight_decay=decoupled_weight_decay, maximize=False))

    hyperparameters = {"lr": non_negative, "beta": non_negative, "weight_decay": non_negative,
                       "decoupled_weight_decay": flag, "maximize": flag}
    symbols = {"m": "momentum"}
    lazy_sparse = True

    @staticmethod
    def init(theta, group):
        return {"momentum": np.zeros_like(theta)}

    @staticmethod
    def scalars(t, group, state):
        return Scalars(beta=group["beta"], **weight_decay_scalars(group))

    @staticmethod
    def rule(theta, g, m, h):
        theta, g = weight_decay(theta, g, h)
        m = h.beta * m + (1 - h.beta) * g
        theta = theta - h.lr * m / (np.absolute(m) + 1)
        return dict(theta=theta, m=m)

    step_size_rule = "lr/(|m|+1)"

    @staticmethod
    def explain(h, m, theta):  # any order: by name
        step_size = h.lr / (np.absolute(m) + 1)
        return dict(step_size=step_size, update=-step_size * m, rising=m > 0, beta=h.beta)


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
def test_a_new_declaration_is_explained_without_a_change_to_explain(sparse):
    params = make_params()
    opt = NormalizedMomentum(params, lr=0.01, weight_decay=0.1)
    rng = np.random.default_rng(5)
    for _ in range(4):
        set_grads(params, rng, sparse)
        previous = optim.snapshot(opt)
        opt.step()
    report = optim.explain(opt)
    row, m = report.rows[0], opt.state[params[0]]["momentum"]
    rows = params[0].grad.indices if sparse else slice(None)
    size = 0.01 / (np.abs(m[rows]) + 1)
    assert row["step_size"] == (size.min(), np.median(size), size.max())
    assert row["step_size_rule"] == "lr/(|m|+1)" and "lr/(|m|+1)" in str(report)
    assert row["other"] == {"rising": float((m > 0).mean()), "beta": 0.9}
    assert (row["decay"], row["shrink"]) == ("decoupled", 1 - 0.01 * 0.1)
    exact = np.linalg.norm(params[0].data - previous[0]) / np.linalg.norm(params[0].data)
    assert row["update_from"] == "state" and row["update_ratio"] == pytest.approx(exact, rel=1e-12)


def test_a_declaration_says_its_decay_kind_and_shrink():
    class Always(NormalizedMomentum):
        decay = "decoupled"

        @staticmethod
        def shrink(group):
            return None

    _, opt = stepped(lambda ps: Always(ps, weight_decay=0.1, decoupled_weight_decay=False))
    row = optim.explain(opt).rows[0]
    assert (row["decay"], row["shrink"]) == ("decoupled", None)


@pytest.mark.parametrize("name, make", OPTIMIZERS, ids=[o[0] for o in OPTIMIZERS])
def test_a_loaded_optimizer_explains_its_last_step_as_the_one_that_took_it(name, make):
    """After load_state_dict the step's scalars are gone: the declaration's pure scalars give
    them again (a declaration that carries numbers from step to step shows none)."""
    params, opt = stepped(make, steps=3)
    loaded = make(params)
    loaded.load_state_dict(opt.state_dict())
    assert not loaded.last_scalars
    got, want = optim.explain(loaded).rows, optim.explain(opt).rows
    if type(opt).carry:
        assert all(r["scalars"] == {} and r["step_size"] is None for r in got)
    else:
        assert_row_close(got, want, "rows")




@pytest.mark.parametrize("then", ["sparse step", "load"])
def test_the_scalars_shown_are_the_last_steps_after_a_sparse_step_or_a_load(then):
    params, opt = stepped(lambda ps: optim.Adam(ps), steps=2)
    if then == "load":
        _, other = stepped(lambda ps: optim.Adam(ps), steps=4)
        opt.load_state_dict(other.state_dict())
    else:
        set_grads(params, np.random.default_rng(6), sparse=True)
        opt.step()
    t = opt.state[params[0]]["step"]
    assert optim.explain(opt).rows[0]["other"]["bias_correction1"] == pytest.approx(1 - 0.9 ** t)
