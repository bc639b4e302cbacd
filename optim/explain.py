"""explain(optimizer): what an optimizer is doing, parameter by parameter, changing nothing.

    before = optim.snapshot(opt)           # optional: makes |Δθ|/|θ| exact for any optimizer
    opt.step()
    report = optim.explain(opt, model, previous=before)
    print(report)                          # a table, one row per parameter
    report.rows, report["fc1.weight"]      # the same numbers as dicts, for code

Every row has: the step count t, lr, the gradient norm (of the stored rows, for a sparse
gradient, with their count), ||θ||, the update-to-weight ratio ||Δθ|| / ||θ|| of the last step
(healthy training is often near 1e-3), the weight decay and the factor it shrinks θ by per step,
and, where the optimizer's rule makes it meaningful, the effective per-element step size as
min / median / max over the elements (for a sparse gradient, over its rows), the bias corrections and the optimizer's own quantities:

    Adam, AdamW, AMSGrad  lr / (sqrt(v̂) + ε); AMSGrad: the share of elements where v_max > v
    NAdam                 lr / (sqrt(v̂) + ε); μ_t and the product Π_t
    RAdam                 lr r_t sqrt(1 - β2^t) / (sqrt(v) + ε), or lr in its SGD phase; ρ_t, r_t
    AdaBelief, Yogi       lr / (sqrt(ŝ) + ε), lr / (sqrt(v) + ε)
    Adamax                lr / ((1 - β1^t) u)
    Adagrad               η_t / (sqrt(G) + ε); G, and how far the step fell since step 1
    RMSprop               lr / (sqrt(v) + ε) (centered: sqrt(v - ḡ²))
    Adadelta              lr sqrt(E[Δθ²] + ε) / sqrt(E[g²] + ε)
    SGD, Lion             lr (Lion: every coordinate moves by lr); Lion: sign agreement
    Rprop                 its per-element step sizes η

A row's keys: name, index (state_dict's), group, shape, step (t; None before the first step, and
for SGD, which counts none), lr, grad_norm, grad_rows (a sparse gradient's row count), param_norm,
update_ratio, update_from, step_size ((min, median, max) or None), step_size_rule, weight_decay,
decay ('decoupled', 'L2' or None), shrink (1 - lr λ, or None where L2 decay is rescaled per
element), scalars (every number of the last step's scalars()) and other (the specific columns).

The step's numbers are the optimizer's own: `scalars()` (which advances the step count) is called
on a copy of the parameter's state rewound by one step, so the bias corrections, r_t, μ_t, η_t are
those of the last step, computed by the code the step ran.

The last update Δθ: with `previous` (from `snapshot`, taken before the step), exactly θ - θ_prev,
for any optimizer. Without it, derived from the state where the state alone determines it:
Adam/AdamW/AMSGrad, AdaBelief, RAdam, Adamax, Yogi (Δθ = -lr m̂ / (sqrt(v̂) + ε) and their
forms, the decoupled decay undone from the current θ), SGD and RMSprop with momentum (-lr b),
Rprop (-sign(g_prev) η). That assumes the group's lr has not changed since the step (a scheduler
stepped after it changes lr: pass `previous`) and that the parameter took part in it (for a
sparse gradient, only its rows moved). Elsewhere the ratio is None: pass `previous`. The row's
`update_from` says which ('previous', 'state' or None).

Adagrad's fall since step 1 is an estimate: the median over elements of step_1 / step_t, where
step_1 = η_1 / (sqrt(G_0 + (G - G_0) / t) + ε) supposes the first gradient was as large as the
average so far (G_0 the initial accumulator value).

Lion's sign agreement: the share of elements, among those where both are nonzero, where the
momentum m and the current gradient have the same sign.

Nothing is written: no state array, step count or parameter changes (the tests compare both
bit for bit, and a following step with the same result). Works on NumPy and CuPy arrays through
`xp` (the tests' cuda cases run where a GPU is) and on dense and RowSparseGrad gradients.
"""
import math

from minigrad import backend
from minigrad.sparse import RowSparseGrad

from .adabelief import AdaBelief
from .adadelta import Adadelta
from .adafactor import Adafactor
from .adagrad import Adagrad
from .adam import Adam
from .adamax import Adamax
from .lamb import LAMB
from .lion import Lion
from .nadam import NAdam
from .radam import RAdam
from .rmsprop import RMSprop
from .rprop import Rprop
from .sgd import SGD
from .yogi import Yogi


def snapshot(optimizer):
    """Copies of every parameter's θ, in the optimizer's order (state_dict's indices): pass it
    to explain(previous=) after the step to get the exact update of that step."""
    return [p.data.copy() for group in optimizer.param_groups for p in group["params"]]


def explain(optimizer, model=None, previous=None):
    """An Explanation of `optimizer`: one row per parameter, named from `model` (any object
    with named_parameters()) when given. See the module docstring for every column."""
    params = [(gi, p) for gi, group in enumerate(optimizer.param_groups) for p in group["params"]]
    if previous is not None:
        if len(previous) != len(params):
            raise ValueError(f"explain(previous=): {len(previous)} arrays for an optimizer with "
                             f"{len(params)} parameters; take it with optim.snapshot(optimizer)")
        for i, ((_, p), old) in enumerate(zip(params, previous)):
            if tuple(old.shape) != p.shape:
                raise ValueError(f"explain(previous=): array {i} has shape {tuple(old.shape)}, "
                                 f"parameter {i} has shape {p.shape}")
    names = {}
    if model is not None:
        names = {id(p): name for name, p in model.named_parameters()}
    rows = []
    for i, (gi, p) in enumerate(params):
        group = optimizer.param_groups[gi]
        row = _row(optimizer, p, optimizer.state.get(p), group,
                   None if previous is None else previous[i])
        rows.append({"name": names.get(id(p), f"param{i}"), "index": i, "group": gi, **row})
    return Explanation(type(optimizer).__name__, rows)


class Explanation:
    """explain()'s result: `rows` (one dict per parameter), `str()` a table, `[name]` one row."""

    def __init__(self, optimizer, rows):
        self.optimizer, self.rows = optimizer, rows

    def __getitem__(self, name):
        for row in self.rows:
            if row["name"] == name:
                return row
        raise KeyError(f"no parameter named {name!r}; the names are "
                       f"{', '.join(r['name'] for r in self.rows)}")

    def to_dict(self):
        """{name: row}."""
        return {row["name"]: row for row in self.rows}

    def __str__(self):
        head = ["parameter", "shape", "t", "lr", "|g|", "|Δθ|/|θ|", "step size min/med/max",
                "decay", "other"]
        body = [[r["name"], "x".join(map(str, r["shape"])) or "()", _fmt(r["step"]), _fmt(r["lr"]),
                 _fmt(r["grad_norm"]) + (f" ({r['grad_rows']} rows)" if r["grad_rows"] is not None
                                        else ""),
                 _fmt(r["update_ratio"]) + ("" if r["update_from"] != "state" else "*"),
                 "-" if r["step_size"] is None else "/".join(_fmt(v) for v in r["step_size"]),
                 _decay(r), "  ".join(f"{k}={_fmt(v)}" for k, v in r["other"].items())]
                for r in self.rows]
        widths = [max(len(line[k]) for line in [head, *body]) for k in range(len(head))]
        lines = [f"{self.optimizer}: what each parameter's last step did"]
        lines += ["  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip()
                  for line in [head, *body]]
        rule = {r["step_size_rule"] for r in self.rows if r["step_size_rule"]}
        if rule:
            lines.append(f"step size = {', '.join(sorted(rule))} per element")
        if any(r["update_from"] == "state" for r in self.rows):
            lines.append("* derived from the state with the current lr (pass previous= for the "
                         "exact update)")
        return "\n".join(lines)

    __repr__ = __str__


# ============================================================================ one row

def _row(opt, p, state, group, previous):
    theta, g = p.data, p.grad
    xp = backend.get_array_module(theta)
    sparse = isinstance(g, RowSparseGrad)
    row = {"shape": p.shape, "step": None, "lr": group.get("lr"),
           "grad_norm": None if g is None else _norm(g.values if sparse else g),
           "grad_rows": int(g.indices.shape[0]) if sparse else None,
           "param_norm": _norm(theta), "update_ratio": None, "update_from": None,
           "step_size": None, "step_size_rule": None,
           **_decay_columns(opt, group), "scalars": {}, "other": {}}
    if previous is not None:
        row["update_ratio"] = _ratio(_norm(theta - xp.asarray(previous)), row["param_norm"])
        row["update_from"] = "previous"
    if not state:
        return row  # no step taken yet
    row["step"] = state.get("step")
    h = _last_scalars(opt, theta, state, group)
    if h is not None:
        row["scalars"] = {k: v for k, v in h.items() if not isinstance(v, bool)}
        for k in ("bias_correction1", "bias_correction2"):
            if k in row["scalars"]:
                row["other"][k] = row["scalars"][k]
    specific = _specific(opt, theta, g, state, group, h, xp)
    if specific is None:
        return row
    size, rule, update, other = specific
    if size is not None:
        size = xp.broadcast_to(xp.asarray(size, dtype=theta.dtype), theta.shape)
        if sparse:  # the rows the step moved; rows never touched have no step size to speak of
            size = size[g.indices]
        row["step_size"] = (float(size.min()), float(xp.median(size)), float(size.max()))
        row["step_size_rule"] = rule
    row["other"].update(other)
    if update is not None and previous is None:
        if sparse:  # a lazy step moved the gradient's rows only
            update = update[g.indices]
        row["update_ratio"] = _ratio(_norm(update), row["param_norm"])
        row["update_from"] = "state"
    return row


def _last_scalars(opt, theta, state, group):
    """The scalars of the parameter's last step, by the optimizer's own scalars(), run on a
    copy of its state rewound by one step (the copy is shallow: scalars() only rebinds keys)."""
    if opt.rule is None or state.get("step", 1) < 1:
        return None
    if opt._declared():  # (transition) a declaration's scalars are pure
        return type(opt).scalars(state.get("step"), group, state)
    rewound = dict(state)
    if "step" in rewound:
        rewound["step"] -= 1
    if "mu_product" in rewound:  # NAdam's Π_t = Π_{t-1} μ_t: divide the last μ back out
        rewound["mu_product"] = state["mu_product"] / opt.scalars(theta, dict(rewound), group).mu
    return opt.scalars(theta, rewound, group)


def _specific(opt, theta, g, state, group, h, xp):
    """(step size array or number, its formula, the last update derived from the state or None,
    {column: value}) for the optimizers whose rule gives them a meaning; None otherwise."""
    lr, eps = group.get("lr"), group.get("eps")
    if h is None:
        return None
    if isinstance(opt, Adam) or isinstance(opt, AdaBelief):
        ams = isinstance(opt, Adam) and group["amsgrad"]
        v = state["max_exp_avg_sq"] if ams else state.get("exp_avg_sq", state.get("exp_avg_var"))
        size = lr / (xp.sqrt(v / h.bias_correction2) + eps)
        update = _undo_decay(theta, -size * (state["exp_avg"] / h.bias_correction1), h)
        other = {"vmax_share": _share(state["max_exp_avg_sq"] > state["exp_avg_sq"])} if ams else {}
        return size, "lr/(√v̂+ε)" if isinstance(opt, Adam) else "lr/(√ŝ+ε)", update, other
    if isinstance(opt, NAdam):
        size = lr / (xp.sqrt(state["exp_avg_sq"] / h.bias_correction2) + eps)
        return size, "lr/(√v̂+ε)", None, {"mu": h.mu, "mu_product": h.mu_product}
    if isinstance(opt, RAdam):
        other = {"rho_t": h.rho_t, "r_t": h.r, "sgd_phase": not h.rectified}
        m_hat = state["exp_avg"] / h.bias_correction1
        if h.rectified:
            size = lr * h.r * math.sqrt(h.bias_correction2) / (xp.sqrt(state["exp_avg_sq"]) + eps)
            return size, "lr·r·√(1-β2^t)/(√v+ε)", _undo_decay(theta, -size * m_hat, h), other
        return lr, "lr (SGD phase)", _undo_decay(theta, -lr * m_hat, h), other
    if isinstance(opt, Yogi):
        size = lr / (xp.sqrt(state["exp_avg_sq"]) + eps)
        return size, "lr/(√v+ε)", -size * state["exp_avg"], {}
    if isinstance(opt, Adamax):
        # u >= ε on any element a step touched (u ← max(β2 u, |g| + ε)); 0 only on untouched rows
        size = lr / h.bias_correction1 / xp.maximum(state["exp_inf"], eps)
        return size, "lr/((1-β1^t)u)", -size * state["exp_avg"], {}
    if isinstance(opt, Adagrad):
        G, G0, t = state["sum"], group["initial_accumulator_value"], state["step"]
        size = h.eta / (xp.sqrt(G) + eps)
        first = group["lr"] / (xp.sqrt(G0 + (G - G0) / t) + eps)       # η_1 = lr
        return size, "η_t/(√G+ε)", None, {"G_min": float(G.min()), "G_median": float(xp.median(G)),
                                          "G_max": float(G.max()),
                                          "fall_since_step1": float(xp.median(first / size))}
    if isinstance(opt, RMSprop):
        v = state["square_avg"]
        if group["centered"]:
            v = v - state["grad_avg"] * state["grad_avg"]
        size = lr / (xp.sqrt(v) + eps)
        update = -lr * state["momentum_buffer"] if group["momentum"] > 0 else None
        return size, "lr/(√v+ε)", update, {}
    if isinstance(opt, Adadelta):
        size = lr * xp.sqrt(state["acc_delta"] + eps) / xp.sqrt(state["square_avg"] + eps)
        return size, "lr·√(E[Δθ²]+ε)/√(E[g²]+ε)", None, {}
    if isinstance(opt, SGD):
        b = state.get("momentum_buffer")
        update = -lr * b if b is not None and not group["nesterov"] else None
        return lr, "lr", update, {}
    if isinstance(opt, Lion):
        return lr, "lr", None, {"sign_agreement": _sign_agreement(state["exp_avg"], g, xp)}
    if isinstance(opt, Rprop):
        eta = state["step_size"]
        return eta, "η (Rprop)", -xp.sign(state["prev"]) * eta, {}
    return None


# ============================================================================ helpers

def _decay_columns(opt, group):
    """weight_decay λ, its kind, and the factor θ shrinks by per step where that is one number."""
    wd, lr = group.get("weight_decay", 0.0), group.get("lr")
    if not wd:
        return {"weight_decay": wd, "decay": None, "shrink": 1.0}
    if isinstance(opt, LAMB):  # decoupled, but scaled by the trust ratio with the update
        return {"weight_decay": wd, "decay": "decoupled", "shrink": None}
    if isinstance(opt, (Lion, Adafactor)) or group.get("decoupled_weight_decay"):
        return {"weight_decay": wd, "decay": "decoupled", "shrink": 1 - lr * wd}  # θ (1 - lr λ)
    if isinstance(opt, SGD) and not group.get("momentum"):
        return {"weight_decay": wd, "decay": "L2", "shrink": 1 - lr * wd}  # θ - lr (g + λθ)
    # L2 through an adaptive or momentum rule: rescaled per element, no one factor
    return {"weight_decay": wd, "decay": "L2", "shrink": None}


def _undo_decay(theta, adaptive, h):
    """The whole last update from its adaptive part: with decoupled decay the step was
    θ = θ_prev (1 - lr λ) + adaptive, so θ_prev = (θ - adaptive) / (1 - lr λ)."""
    if not getattr(h, "decoupled", False):
        return adaptive
    return theta - (theta - adaptive) / (1 - h.lr * h.weight_decay)


def _sign_agreement(m, g, xp):
    if g is None:
        return None
    if isinstance(g, RowSparseGrad):
        m, g = m[g.indices], g.values
    both = (m != 0) & (g != 0)
    n = int(both.sum())
    return None if n == 0 else float(((xp.sign(m) == xp.sign(g)) & both).sum()) / n


def _norm(a):
    return float(backend.get_array_module(a).linalg.norm(a.ravel()))


def _share(mask):
    return float(mask.mean()) if mask.size else None


def _ratio(num, den):
    return num / den if den > 0 else None


def _decay(r):
    if r["decay"] is None:
        return "-"
    shrink = "" if r["shrink"] is None else f" x{r['shrink']:.6g}"
    return f"{r['decay']} {_fmt(r['weight_decay'])}{shrink}"


def _fmt(v):
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return str(v)
    return f"{v:.3g}"
