"""explain(optimizer): what an optimizer is doing, parameter by parameter, changing nothing.

    before = optim.snapshot(opt)           # optional: makes |Δθ|/|θ| exact for any optimizer
    opt.step()
    report = optim.explain(opt, model, previous=before)
    print(report)                          # a table, one row per parameter
    report.rows, report["fc1.weight"]      # the same numbers as dicts, for code

Every row has: the step count t, lr, the gradient norm (of the stored rows, for a sparse
gradient, with their count), ||θ||, the update-to-weight ratio ||Δθ|| / ||θ|| of the last step
(healthy training is often near 1e-3), the weight decay and the factor it shrinks θ by per step,
and, where the optimizer's declaration says how, the effective per-element step size as
min / median / max over the elements (for a sparse gradient, over its rows), the bias
corrections and the optimizer's own quantities (RAdam's ρ_t and r_t, Lion's sign agreement, ...).

A row's keys: name, index (state_dict's), group, shape, step (t; None before the first step, and
for SGD, which counts none), lr, grad_norm, grad_rows (a sparse gradient's row count), param_norm,
update_ratio, update_from, step_size ((min, median, max) or None), step_size_rule, weight_decay,
decay ('decoupled', 'L2' or None), shrink (1 - lr λ, or None where L2 decay is rescaled per
element), scalars (every number of the last step's scalars) and other (the specific columns).

Nothing here knows an algorithm: every number that is specific to one comes from its
declaration (optim/optimizer.py; optim/adam.py is the model), type(optimizer) below:

- the last step's scalars h: those the step computed (`optimizer.last_scalars`), so the bias
  corrections, r_t, μ_t, η_t and the lr are the step's own. Where the step made none (after
  load_state_dict, or a step that was not one task of the rule: a sparse gradient's rows, an
  update that is not elementwise), the declaration's pure `scalars(t, group, state)` with the
  state's t, which are the last step's exactly unless the declaration carries numbers from
  step to step (`carry`, as NAdam's Π_t: then the state holds the advanced ones, and there are
  no scalars to show).
- `explain(theta, g, <symbols...>, h)`: called by the names of its arguments: θ, the gradient g
  (dense: a sparse gradient is given as its dense array; None if the parameter has none now),
  each state array by its symbol (`symbols` maps it to its state_dict key; None where the state
  lacks it), and h. It returns a dict:
    "step_size"  the effective per-element step size, an array or a number (required);
    "step_size_rule"  the formula of this step's step size, where it is not the declaration's
                 `step_size_rule` (optional: a rule with phases may name the one it took);
    "update"     the last step's Δθ as the state determines it, before any decoupled decay
                 (θ ← θ (1 - lr λ), undone here from h.decoupled, h.lr and h.weight_decay);
                 omitted where the state does not determine it (then pass previous=);
    any other    a column of `other`: a boolean array becomes the share of its True elements,
                 any other array its median, a number (or a 0-d array) a Python number, and
                 None stays None.
  The declaration's `step_size_rule` is the step size's formula, shown under the table.
- weight decay: λ is group["weight_decay"]; its kind, by default, the group's
  decoupled_weight_decay ('decoupled', shrinking θ by 1 - lr λ per step, or 'L2', rescaled per
  element by the rule: no one factor), as optim/common.py's weight_decay_scalars says. A
  declaration whose decay is always decoupled says `decay = "decoupled"` (Lion, Adafactor,
  LAMB), or, where a flag of its own chooses, `@staticmethod decay(group) -> str` (Prodigy's
  decouple); one whose factor is not the default's says it with
  `@staticmethod shrink(group) -> float | None` (LAMB's decay is scaled by the trust ratio with
  the update: None; SGD's L2 without momentum is exactly θ (1 - lr λ) - lr g: 1 - lr λ).

The last update Δθ: with `previous` (from `snapshot`, taken before the step), exactly θ - θ_prev,
for any optimizer. Without it, derived from the state where the declaration's explain gives an
"update": that assumes the parameter took part in the last step (for a sparse gradient, only its
rows moved) and, where h is not the step's own, that the group's lr has not changed since (a
scheduler stepped after it changes lr: pass `previous`). Elsewhere the ratio is None. The row's
`update_from` says which ('previous', 'state' or None).

Nothing is written: no state array, step count or parameter changes (the tests compare both
bit for bit, and a following step with the same result). Works on NumPy and CuPy arrays through
`xp` (the tests' cuda cases run where a GPU is) and on dense and RowSparseGrad gradients.
"""
from __future__ import annotations

import inspect

import numpy as np

from minigrad import backend
from minigrad.sparse import RowSparseGrad
from minigrad.tensor import Tensor

from ..common import weight_decay_scalars
from ..optimizer import Optimizer

Array = np.ndarray  # a NumPy or a CuPy array


def snapshot(optimizer: Optimizer) -> list[Array]:
    """Copies of every parameter's θ, in the optimizer's order (state_dict's indices): pass it
    to explain(previous=) after the step to get the exact update of that step."""
    return [p.data.copy() for group in optimizer.param_groups for p in group["params"]]


def explain(optimizer: Optimizer, model: object | None = None,
            previous: list[Array] | None = None) -> Explanation:
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


def step_size(optimizer: Optimizer, p: Tensor) -> Array | None:
    """Parameter p's per-element effective step size in its last step, shaped like θ, as its
    declaration's explain() computes it (the numbers explain's step_size column summarises);
    None before its first step, or where the declaration gives none. Changes nothing."""
    state = optimizer.state.get(p)
    if not state:
        return None
    group = next(g for g in optimizer.param_groups if any(q is p for q in g["params"]))
    h = _last_scalars(optimizer, p, state, group)
    said = None if h is None else _explained(type(optimizer), p.data, p.grad, state, h)
    if said is None or said.get("step_size") is None:
        return None
    xp = backend.get_array_module(p.data)
    return xp.broadcast_to(xp.asarray(said["step_size"], dtype=p.dtype), p.shape)


class Explanation:
    """explain()'s result: `rows` (one dict per parameter), `str()` a table, `[name]` one row."""

    def __init__(self, optimizer: str, rows: list[dict]) -> None:
        self.optimizer, self.rows = optimizer, rows

    def __getitem__(self, name: str) -> dict:
        for row in self.rows:
            if row["name"] == name:
                return row
        raise KeyError(f"no parameter named {name!r}; the names are "
                       f"{', '.join(r['name'] for r in self.rows)}")

    def to_dict(self) -> dict[str, dict]:
        """{name: row}."""
        return {row["name"]: row for row in self.rows}

    def __str__(self) -> str:
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
           **_decay_columns(type(opt), group), "scalars": {}, "other": {}}
    if previous is not None:
        row["update_ratio"] = _ratio(_norm(theta - xp.asarray(previous)), row["param_norm"])
        row["update_from"] = "previous"
    if not state:
        return row  # no step taken yet
    row["step"] = state.get("step")
    h = _last_scalars(opt, p, state, group)
    if h is None:
        return row
    row["scalars"] = {k: v for k, v in h.items() if not isinstance(v, bool)}
    for k in ("bias_correction1", "bias_correction2"):
        if k in row["scalars"]:
            row["other"][k] = row["scalars"][k]
    said = _explained(type(opt), theta, g, state, h)
    if said is None:
        return row
    rule = said.pop("step_size_rule", type(opt).step_size_rule)
    size, update = said.pop("step_size", None), said.pop("update", None)
    if size is not None:
        size = xp.broadcast_to(xp.asarray(size, dtype=theta.dtype), theta.shape)
        if sparse:  # the rows the step moved; rows never touched have no step size to speak of
            size = size[g.indices]
        row["step_size"] = (float(size.min()), float(xp.median(size)), float(size.max()))
        row["step_size_rule"] = rule
    row["other"].update({k: _column(v) for k, v in said.items()})
    if update is not None and previous is None:
        update = _undo_decay(theta, update, h)
        if sparse:  # a lazy step moved the gradient's rows only
            update = update[g.indices]
        row["update_ratio"] = _ratio(_norm(update), row["param_norm"])
        row["update_from"] = "state"
    return row


def _last_scalars(opt, p, state, group):
    """The scalars of the parameter's last step: those the step made, else the declaration's
    pure scalars() for the state's t, where they are the last step's (no carried numbers)."""
    h = opt.last_scalars.get(p)
    if h is not None:
        return h
    cls = type(opt)
    if state.get("step", 1) < 1:
        return None
    if cls.carry:
        return None  # the state holds the numbers the last step advanced, not those it used
    return cls.scalars(state.get("step"), group, state)


def _explained(cls, theta, g, state, h):
    """The declaration's explain(), its arguments given by name; None where it has none."""
    if cls.explain is None:
        return None
    if isinstance(g, RowSparseGrad):
        g = g.to_dense()
    given = {"theta": theta, "g": g, "h": h}
    args = {name: given[name] if name in given else state.get(cls.symbols[name])
            for name in inspect.signature(cls.explain).parameters}
    return dict(cls.explain(**args))


def _column(v):
    """An explain() column as the row shows it: a share, a median, or a Python number."""
    if backend.is_array(v) and v.ndim > 0:
        if v.dtype.kind == "b":
            return float(v.mean()) if v.size else None
        return float(backend.get_array_module(v).median(v))
    if backend.is_array(v) or hasattr(v, "item"):  # a 0-d array or a NumPy scalar
        v = v.item()
    return v


# ============================================================================ weight decay

def _decay_columns(cls, group):
    """weight_decay λ, its kind, and the factor θ shrinks by per step where that is one number
    (see the module docstring: the group's flag, or what the declaration says)."""
    wd, lr = group.get("weight_decay", 0.0), group.get("lr")
    if not wd:
        return {"weight_decay": wd, "decay": None, "shrink": 1.0}
    kind = getattr(cls, "decay", None)
    if callable(kind):
        kind = kind(group)
    if kind is None:
        kind = "decoupled" if weight_decay_scalars(group)["decoupled"] else "L2"
    shrink = getattr(cls, "shrink", None)
    if shrink is not None:
        return {"weight_decay": wd, "decay": kind, "shrink": shrink(group)}
    # decoupled: θ (1 - lr λ); L2 through an adaptive or momentum rule: rescaled per element
    return {"weight_decay": wd, "decay": kind, "shrink": 1 - lr * wd if kind == "decoupled" else None}


def _undo_decay(theta, adaptive, h):
    """The whole last update from its adaptive part: with decoupled decay the step was
    θ = θ_prev (1 - lr λ) + adaptive, so θ_prev = (θ - adaptive) / (1 - lr λ)."""
    if not getattr(h, "decoupled", False):
        return adaptive
    # shrink_by: where the step's decay is not lr λ (pytorch_optimizer's fixed_decay: λ alone)
    return theta - (theta - adaptive) / (1 - getattr(h, "shrink_by", h.lr * h.weight_decay))


# ============================================================================ helpers

def _norm(a):
    return float(backend.get_array_module(a).linalg.norm(a.ravel()))


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

