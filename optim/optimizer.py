"""The one generic owner of every optimizer: parameter groups, the step count, the step loop,
sparse rows, the executors, state_dict. An algorithm is one declaration, in its own file; this
class runs every one of them the same way.

An algorithm declares, in the order a reader meets them (optim/adam.py is the model):

- its hyperparameters: `__init__` with torch's signature and defaults, `hyperparameters`, a table
  name -> check (optim/checks.py), `fixed`, the values a variant pins (AdamW's decoupled decay),
  and `validate(group)` for a relation between hyperparameters;
- its state: `symbols`, the rule's name for each state array (the paper's symbol) -> its key in
  state_dict (torch's name); `init(theta, group)`, the arrays and numbers a parameter starts
  with; `counts_steps` (the owner keeps state["step"] = t); `carry`, the numbers of the state
  that the scalars advance (state key -> the scalars' name for its new value); `add_state`, the
  arrays a group's flags switch on mid-run (momentum under OneCycleLR); `group_state`, the
  numbers an algorithm with a step() of its own keeps in its groups (Prodigy's d), checked
  like the hyperparameters; `never_negative` and `carried_ranges`, what a loaded state's
  arrays and carried numbers must satisfy;
- `scalars(t, group, state)`: the step's numbers, computed once per parameter, not per element
  (bias corrections, decay factors), and its flags. Pure: it reads the state and writes nothing;
  t is the step being taken (1 on the first);
- `rule(theta, g, <symbols...>, h)`: the update, elementwise, one line per equation; the state
  arrives by name (the rule's argument names are the symbols) and leaves by name (it returns a
  dict {name: new value}, θ as "theta"). optim/executor/ runs it: on NumPy chunks, compiled by
  Numba, or as one CUDA kernel; `fused=False` calls it once on the whole arrays;
- `explain(theta, g, <symbols...>, h)` (optional): what optim.explain shows, elementwise like the
  rule: {"step_size": ..., "update": ..., other columns}; `step_size_rule` says the formula.

An algorithm that is not elementwise (Adafactor's factored moments, LAMB's trust ratio, Muon's
orthogonalization) has `rule = None` and an `update(theta, g, state, group)` hook instead.

torch's `foreach` is accepted and changes nothing; `capturable` and `differentiable` are accepted
as False.
"""
from __future__ import annotations

import inspect
import numbers
from collections.abc import Callable, Iterable
from typing import Any, Union

import numpy as np

from minigrad import backend, tracer
from minigrad.backend import Array
from minigrad.function import enable_grad
from minigrad.sparse import RowSparseGrad, _is_coalesced
from minigrad.tensor import Tensor, increment_version

from . import executor
from .checks import check, flag, is_finite, non_negative, optional_flag, real, short_repr
from .executor import captured
from .scalars import Scalars

# what an optimizer is given, as in torch: parameters, or param groups (dicts with a "params" entry)
Params = Union[Iterable[Tensor], Iterable[dict[str, Any]]]

# ============================================================ the registry
# every declared algorithm by name ("adam" -> Adam), filled in as each class is made:
# optim.functional serves them from here and imports no optimizer module
ALGORITHMS: dict[str, type] = {}


def _is_algorithm(cls: type) -> bool:
    """A declared algorithm: not an abstract base, nor a wrapper that runs another optimizer
    (ZeroRedundancyOptimizer), which declare no hyperparameters."""
    return bool(cls.hyperparameters)


def _register(name: str, cls: type) -> None:
    taken = ALGORITHMS.get(name)
    if taken is not None and (taken.__module__, taken.__qualname__) != (cls.__module__, cls.__qualname__):
        raise TypeError(f"{cls.__module__}.{cls.__qualname__} is named {name!r}, which "
                        f"{taken.__module__}.{taken.__qualname__} already is: give it name=...")
    ALGORITHMS[name] = cls  # (the same class made again, by a reload, replaces itself)


class Optimizer:
    """Base class of all optimizers, with torch.optim.Optimizer's protocol.

    Sparse gradients (minigrad.RowSparseGrad, from Embedding(sparse=True)): an optimizer whose
    update is elementwise sets `lazy_sparse = True`, and then a sparse gradient updates only the
    touched rows: the rule runs on those rows of θ and of every state array, exactly the dense
    update restricted to them, and untouched rows keep their (stale) state. Scalar state (the
    step count t) advances once per step of the parameter, touched or not. Other optimizers
    raise for a sparse gradient, before anything is written.
    """

    # ============================================================ the declaration (see above)
    hyperparameters = {}  # name -> check (optim/checks.py): the algorithm's own arguments
    fixed = {}            # hyperparameters a variant pins: AdamW's decoupled_weight_decay=True
    group_state = {}      # numbers a step() of its own keeps in the group (Prodigy's d): name -> check
    symbols = {}          # the rule's symbol for each state array -> its state_dict key
    counts_steps = True   # keep state["step"], the t of scalars() (torch's SGD keeps none)
    carry = {}            # state numbers the scalars advance: state key -> the scalars' name
    carried_ranges = {}   # a carried number's range, checked when loaded: key -> (ok, expected)
    never_negative = ()   # state keys never negative (sums of squares, step sizes): checked when loaded
    rule = None           # the elementwise update, or None (then: update)
    step_size_rule = None  # the formula of explain()'s "step_size", for explain's table
    explain = None        # (theta, g, <symbols...>, h) -> {"step_size", "update", ...}
    lazy_sparse = False   # a sparse gradient updates its rows only (elementwise rules)
    dense_only_reason = "its update is not elementwise"
    couples_parameters = None  # why a step reads across parameters (Prodigy's d), if it does
    needs_graph = False   # step() reads the gradient's graph: backward(create_graph=True) first

    @staticmethod
    def validate(group: dict[str, Any]) -> None:
        """Raise for hyperparameters that are valid alone but not together (ValueError)."""

    @staticmethod
    def init(theta: Array, group: dict[str, Any]) -> dict[str, Any]:
        """The state a parameter starts with, by state_dict key (the step count is added)."""
        return {}

    @staticmethod
    def add_state(theta: Array, state: dict[str, Any], group: dict[str, Any]) -> None:
        """Add, before a step, the arrays its group's flags need that the state lacks."""

    @staticmethod
    def scalars(t: int | None, group: dict[str, Any], state: dict[str, Any]) -> Scalars:
        """The step's numbers and flags (a Scalars), for step t; reads, never writes, state."""
        return Scalars()

    # torch's implementation switches, the owner's business, not an algorithm's: accepted so
    # that torch code runs unchanged (foreach changes nothing; the other two cannot be had)
    SWITCHES = {"foreach": optional_flag, "fused": optional_flag, "capturable": flag,
                "differentiable": flag}
    # the keys schedulers keep in a group (optim/lr_scheduler.py), as torch's do
    SCHEDULED = {"initial_lr": non_negative, "max_lr": non_negative, "min_lr": non_negative,
                 "base_momentum": real, "max_momentum": real}

    def __init_subclass__(cls, name: str | None = None, **kwargs: Any) -> None:
        """A declaration is checked once, when its class is made: the rule's arguments after θ
        and g must be exactly its symbols (by name), and explain's a subset of them. Then it is
        registered (ALGORITHMS) under `name`: `class AMSGrad(Adam, name="amsgrad")`; by default
        the class name in lowercase, for the classes of the optim package (a class made
        elsewhere, a test's subclass, is registered only when it names itself)."""
        super().__init_subclass__(**kwargs)
        declared = {"rule", "symbols", "explain"} & set(cls.__dict__)
        if declared and cls.rule is not None:
            cls._rule_symbols()
        if declared and cls.explain is not None:
            names = list(inspect.signature(cls.explain).parameters)
            unknown = [n for n in names if n not in ("theta", "g", "h", *cls.symbols)]
            if unknown:
                raise TypeError(f"{cls.__name__}.explain{tuple(names)} takes {unknown}, which "
                                f"are not theta, g, h or its symbols {tuple(cls.symbols)}")
        if "check" in cls.__dict__ and "validate" not in cls.__dict__:
            raise TypeError(f"{cls.__name__} defines check(); the hook for relations between "
                            "hyperparameters is validate(group)")
        if name is None and cls.__module__.partition(".")[0] == "optim":
            name = cls.__name__.lower()
        if name is not None and _is_algorithm(cls):
            _register(name, cls)

    @classmethod
    def _rule_symbols(cls):
        """The rule's state arguments, in its order (checked against `symbols` by name)."""
        names = list(inspect.signature(cls.rule).parameters)
        if names[:2] != ["theta", "g"] or names[-1] != "h" or set(names[2:-1]) != set(cls.symbols):
            raise TypeError(f"{cls.__name__}.rule{tuple(names)} must take (theta, g, "
                            f"{', '.join(cls.symbols)}, h): its symbols by name")
        return names[2:-1]

    @classmethod
    def defaults_of(cls) -> dict[str, Any]:
        """The hyperparameters' defaults: __init__'s, with the variant's fixed values."""
        signature = inspect.signature(cls.__init__)
        defaults = {name: p.default for name, p in signature.parameters.items()
                    if p.default is not inspect.Parameter.empty}
        return {**defaults, **cls.fixed}

    def __init__(self, params: Params, defaults: dict[str, Any]) -> None:
        self.defaults = {**defaults, **type(self).fixed}  # a variant's pinned values win
        self.last_scalars = {}  # parameter -> the scalars of its last step, for optim.explain
        self.state = {}
        self.param_groups = []
        if isinstance(params, Tensor):
            raise TypeError("params must be an iterable of Parameters or of dicts, got a single "
                            "Tensor; pass [tensor]")
        params = list(params)
        if not params:
            raise ValueError("optimizer got an empty parameter list")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        for group in groups:
            self.add_param_group(group)

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, g in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in sorted(g.items()) if k != "params"]
        return "\n".join(lines) + "\n)"

    # ======================================================================== groups

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters with its own hyperparameters (defaults fill the rest)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"a param group must be a dict, got {type(param_group).__name__}")
        group = dict(param_group)
        params = group.get("params")
        if params is None:
            raise ValueError("a param group needs a 'params' entry")
        params = [params] if isinstance(params, Tensor) else list(params)
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, but params[{i}] is a "
                                f"{type(p).__name__}")
            if p.dtype.kind != "f":
                raise TypeError(f"params[{i}] has dtype {p.dtype}; only floating-point "
                                "parameters can be optimized")
            if not p.is_leaf:
                raise ValueError(f"params[{i}] is not a leaf tensor (it was computed by an op); "
                                 "optimize leaves such as Parameters")
        if len({id(p) for p in params}) != len(params):
            raise ValueError("a parameter appears twice in one param group")
        taken = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in taken for p in params):
            raise ValueError("some parameters appear in more than one parameter group")
        for k, v in self.defaults.items():
            group.setdefault(k, v)
        self._check_group(group)
        group["params"] = params
        self.param_groups.append(group)

    MAY_BE_INFINITE = ()  # hyperparameters for which inf means "no limit" (Prodigy's growth_rate)

    def _check_group(self, group):
        """Raise for an invalid hyperparameter (TypeError for a non-number, ValueError for a bad
        value): the shared rules here; subclasses add their own. Writes the checked values back
        into `group` as Python numbers and tuples. Whatever else a group holds that this
        optimizer declares (a key of its defaults) and is a number must be finite too: no inf,
        nan or 10**400 reaches a step."""
        type(self)._check_declared(group, self.defaults)

    @classmethod
    def _check_declared(cls, group, defaults):
        """The declaration's checks, table by table, then its relations (see _check_group)."""
        for table in (cls.hyperparameters, cls.group_state, cls.SWITCHES, cls.SCHEDULED):
            for name, checked in table.items():
                if name in group:
                    group[name] = checked(name, group[name])
        for name, value in group.items():
            if name in defaults and name not in cls.MAY_BE_INFINITE \
                    and isinstance(value, numbers.Real) and not isinstance(value, bool):
                check(is_finite(value), name, value, "a finite number")
        cls._refuse_switches(group)
        cls.validate(group)

    @staticmethod
    def _refuse_switches(group):
        # torch's implementation switches, accepted so torch code runs unchanged: foreach
        # changes nothing here (the fast path is the multi-tensor one); these two cannot be had
        if group.get("differentiable"):
            raise ValueError("differentiable=True is not supported: minigrad's optimizers update "
                             "parameters in place, outside the autograd graph")
        if group.get("capturable"):
            raise ValueError("capturable=True (CUDA graph capture) is not supported")

    # ======================================================================== stepping

    @tracer.replayed(graph="before")  # outside the graph: mg.compile's replay calls it again
    def zero_grad(self, set_to_none: bool = True) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                p.grad_graph = None  # the recorded gradient's graph (create_graph=True): freed
                if set_to_none or not backend.is_array(p.grad):
                    p.grad = None
                else:
                    p.grad[...] = 0

    def _capture_step(self, closure: Callable[[], Any] | None = None) -> Any:
        """The step's captured form for a compiled training step (optim/executor/captured.py),
        or None: then the step itself is called again at each replay."""
        if closure is not None or type(self).step is not Optimizer.step:
            return None
        return captured.capture(self, Optimizer.step.replayed, Optimizer.add_state)

    @tracer.replayed(capture=_capture_step)  # outside the graph: a compiled step replays it
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every parameter that has a gradient; returns closure()'s loss.

        Every gradient is checked (shape, device, dtype) before any parameter or state is
        written, so a bad gradient leaves everything as it was.
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        work = self._checked_work()
        reference = []
        # on the CPU a worker thread makes the later tasks while this one runs the first chunks
        on_cpu = all([type(p.data) is np.ndarray for p, _ in work])
        executor.run(self._tasks(work, reference), overlap=on_cpu)
        executor.run(reference, reference=True)
        return loss

    def _tasks(self, work, reference):
        """The executor's tasks for the (parameter, group) pairs of a step, one at a time; the
        updates that are not tasks (sparse, not elementwise) run on the way, and fused=False
        tasks are put aside in `reference`. Each parameter's scalars are kept for explain."""
        cls, last = type(self), self.last_scalars
        for p, group in work:
            state = self.state.get(p)
            if state is None:
                state = self.state[p] = cls.start_state(p.data, group)
            if isinstance(p.grad, RowSparseGrad):
                last[p] = cls.update_rows(p.data, p.grad, state, group)
            elif cls.rule is None:
                last.pop(p, None)  # its numbers live inside the update
                cls.update(p.data, p.grad, state, group)
            else:
                task = cls.task(p.data, p.grad, state, group)
                last[p] = task.h
                if group.get("fused") is False:
                    reference.append(task)
                else:
                    yield task

    # ============================================================ one parameter's step
    # classmethods: optim.functional runs a declaration through them without an instance

    @classmethod
    def start_state(cls, theta: Array, group: dict[str, Any]) -> dict[str, Any]:
        """A parameter's first state: the step count t = 0 (if counted), then init()'s."""
        return {"step": 0, **cls.init(theta, group)} if cls.counts_steps else cls.init(theta, group)

    @classmethod
    def next_scalars(cls, theta: Array, state: dict[str, Any], group: dict[str, Any]) -> Scalars:
        """Count the step and compute its scalars: t advances, the carried numbers take their
        new values, add_state adds what the group's flags need. Everything that can fail (the
        scalars) runs before the state is written."""
        t = state["step"] + 1 if cls.counts_steps else None
        h = cls.scalars(t, group, state)
        if type(h) is not Scalars:
            raise TypeError(f"{cls.__name__}.scalars returned a {type(h).__name__}; it returns "
                            "Scalars(name=value, ...) (optim.scalars)")
        if cls.counts_steps:
            state["step"] = t
        if cls.carry:
            for key, name in cls.carry.items():
                state[key] = getattr(h, name)
        if cls.add_state is not Optimizer.add_state:
            cls.add_state(theta, state, group)
        return h

    @classmethod
    def task(cls, theta: Array, g: Array, state: dict[str, Any],
             group: dict[str, Any]) -> executor.Task:
        """The rule's task for one parameter: its arrays in the rule's order of arguments, each
        found by its symbol's state key; computing its scalars counts the step."""
        h = cls.next_scalars(theta, state, group)
        keys = cls.__dict__.get("_keys") or cls._state_keys()
        return executor.Task(cls.rule, [theta, g, *[state.get(k) for k in keys]], h)

    @classmethod
    def _state_keys(cls):
        """The state keys of the rule's arguments after θ and g, in its order (made once)."""
        cls._keys = tuple([cls.symbols[s] for s in cls._rule_symbols()])
        return cls._keys

    def _checked_work(self):
        """The (parameter, group) pairs that have a gradient, every gradient checked first, so
        that a bad one fails the step before anything is written; each is then counted as
        written (its version), so that a backward through its old values refuses, as torch."""
        work = [(p, group) for group in self.param_groups for p in group["params"] if p.grad is not None]
        for p, _ in work:
            self._check_grad(p)
        increment_version([p for p, _ in work])
        return work

    def _check_grad(self, p):
        g = p.grad
        if type(g) is np.ndarray and type(p.data) is np.ndarray and g.shape == p.data.shape \
                and g.dtype == p.data.dtype:
            return  # the common case, at a glance: a CPU gradient that fits
        if isinstance(g, RowSparseGrad):
            if not self.lazy_sparse:
                lazy = [c.__name__ for c in ALGORITHMS.values() if c.lazy_sparse]
                raise TypeError(f"{type(self).__name__} does not support sparse gradients "
                                f"({self.dense_only_reason}); use a lazy optimizer "
                                f"({', '.join(lazy)}) or Embedding(sparse=False)")
            _check_rows(type(self).__name__, g, p.shape)
        elif not backend.is_array(g):
            raise TypeError(f"{type(self).__name__}: a parameter's grad is a "
                            f"{type(g).__name__}, expected an array")
        if g.shape != p.shape:
            raise ValueError(f"{type(self).__name__}: gradient of shape {g.shape} for a "
                             f"parameter of shape {p.shape}")
        g_device = g.device if isinstance(g, RowSparseGrad) else backend.device_of(g)
        if g_device != p.device:
            raise RuntimeError(f"{type(self).__name__}: gradient on {g_device} for a "
                               f"parameter on {p.device}")
        if g.dtype != p.dtype:
            raise TypeError(f"{type(self).__name__}: gradient of dtype {g.dtype} for a "
                            f"parameter of dtype {p.dtype}")

    def _init_state(self, theta, group):
        return type(self).start_state(theta, group)

    @classmethod
    def update_rows(cls, theta: Array, grad: RowSparseGrad, state: dict[str, Any],
                    group: dict[str, Any]) -> Scalars:
        """The lazy update of a declaration: its rule on the touched rows of θ and of the state
        arrays, gathered into small arrays, then written back; returns the step's scalars."""
        i = grad.indices
        xp = backend.get_array_module(theta)
        h = cls.next_scalars(theta, state, group)  # first: add_state may add arrays
        keys = cls.__dict__.get("_keys") or cls._state_keys()
        rows = [xp.take(theta, i, axis=0), grad.values]
        rows += [None if state.get(k) is None else xp.take(state[k], i, axis=0) for k in keys]
        executor.run([executor.Task(cls.rule, rows, h)], reference=group.get("fused") is False)
        theta[i] = rows[0]
        for k, r in zip(keys, rows[2:]):
            if r is not None:
                state[k][i] = r
        return h

    # ======================================================================== saving and loading

    def state_dict(self) -> dict[str, Any]:
        """{'state': {index: {name: array or number}}, 'param_groups': [{..., 'params': [index]}]}
        in torch's layout; arrays are copies, so later steps do not change a saved dict."""
        index = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = [index.setdefault(id(p), len(index)) for p in group["params"]]
            groups.append(packed)
        state = {}
        for group in self.param_groups:
            for p in group["params"]:
                if p in self.state:
                    state[index[id(p)]] = {k: v.copy() if backend.is_array(v) else v
                                           for k, v in self.state[p].items()}
        return {"state": state, "param_groups": groups}

    def _saved_groups(self, state_dict):
        """state_dict's param groups, once its layout fits this optimizer's: a dict with 'state'
        (a dict of dicts keyed by parameter index) and 'param_groups' (a list of as many dicts as
        this optimizer has groups, each with a 'params' list of as many integer indices as the
        group has parameters, no index twice), and state only for indices the groups name.
        ValueError naming what does not fit (of the wrong kind or value alike: the state dict
        is one argument, of the wrong value)."""
        if not isinstance(state_dict, dict):
            raise ValueError("load_state_dict expects a dict with 'state' and 'param_groups', got "
                            f"a {type(state_dict).__name__}")
        missing = [repr(k) for k in ("state", "param_groups") if k not in state_dict]
        if missing:
            raise ValueError(f"loaded state dict has no {' or '.join(missing)} entry: "
                             "load_state_dict expects a dict with 'state' and 'param_groups'")
        saved_groups, state = state_dict["param_groups"], state_dict["state"]
        if not isinstance(saved_groups, (list, tuple)):
            raise ValueError("loaded state dict's 'param_groups' is a "
                            f"{type(saved_groups).__name__}, expected a list of dicts")
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"loaded state dict has {len(saved_groups)} parameter groups, "
                             f"the optimizer has {len(self.param_groups)}")
        named = set()
        for i, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            if not isinstance(saved, dict):
                raise ValueError(f"loaded param group {i} is a {type(saved).__name__}, expected a dict")
            ids = saved.get("params")
            if not isinstance(ids, (list, tuple)):
                raise ValueError(f"loaded param group {i} has 'params' {ids!r}, expected a list of "
                                "parameter indices")
            if len(ids) != len(group["params"]):
                raise ValueError(f"loaded param group {i} has {len(ids)} parameters, "
                                 f"the optimizer's has {len(group['params'])}")
            for idx in ids:
                if isinstance(idx, bool) or not isinstance(idx, numbers.Integral):
                    raise ValueError(f"loaded param group {i} names parameter {idx!r}, expected "
                                    "an integer index")
                if idx in named:
                    raise ValueError(f"loaded param groups name parameter index {idx} twice")
                named.add(idx)
        if not isinstance(state, dict):
            raise ValueError(f"loaded state dict's 'state' is a {type(state).__name__}, expected "
                            "a dict {parameter index: {name: value}}")
        for idx, saved in state.items():
            if idx not in named:
                raise ValueError(f"loaded state for parameter index {idx!r}, which no group names")
            if not isinstance(saved, dict):
                raise ValueError(f"state of parameter {idx} is a {type(saved).__name__}, expected "
                                "a dict {name: value}")
        return saved_groups

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore state and hyperparameters saved by state_dict() (or by torch.optim's same
        optimizer, its tensors as NumPy arrays).

        Everything is checked before anything is written, and a refused dict (ValueError naming
        the part, whether of the wrong kind or value) changes nothing: the layout (groups, parameter counts,
        indices), each group's hyperparameters (as at construction), and each parameter's state
        against what this optimizer would have made for it (`_init_state`): the same entries;
        arrays of the shape it would make, floating point (bool, integer, complex and object
        arrays are refused; other float dtypes are cast to the parameter's dtype, as torch
        does, and moved to its device), finite, and >= 0 where they are sums or averages of
        squares (the declaration's never_negative); numbers finite, within their ranges (the step
        count t a non-negative integer; torch's 0-d tensors and float steps load as numbers).
        """
        saved_groups = self._saved_groups(state_dict)
        by_index, new_groups = {}, []
        for saved, group in zip(saved_groups, self.param_groups):
            new = dict(self.defaults)
            new.update({k: v for k, v in saved.items() if k != "params"})
            new["params"] = group["params"]
            self._check_loaded_group(new)
            for idx, p in zip(saved["params"], group["params"]):
                by_index[idx] = (p, new)
            new_groups.append(new)
        new_state = {}
        for idx, saved in state_dict["state"].items():
            p, group = by_index[idx]
            new_state[p] = self._restore_state(idx, p, saved, self.loaded_template(p.data, group, saved))
        self.state = new_state
        self.last_scalars = {}  # the loaded state's last step was not taken here
        self.param_groups[:] = new_groups

    def _check_loaded_group(self, group):
        """_check_group for a loaded group: a hyperparameter of the wrong type is a ValueError
        here, like every other fault of a loaded state dict (callers catch one kind)."""
        try:
            self._check_group(group)
        except TypeError as e:
            raise ValueError(str(e)) from None

    # loaded state: the step count's range (a declaration adds its own: never_negative, the state
    # keys that are sums or averages of squares; carried_ranges, its carried numbers' ranges)
    STEP_RANGE = (lambda t: 0 <= t <= 2 ** 53, "an integer 0 <= step <= 2**53")

    @classmethod
    def loaded_template(cls, theta, group, saved):
        """The entries a loaded state may hold: init's, less the arrays add_state adds when a
        flag asks for them (switched on after the last step, the state saved then lacks them),
        plus the state arrays a switched-off flag leaves behind (the state saved then keeps
        them, as torch's does)."""
        template = cls.start_state(theta, group)
        arrays = set(cls.symbols.values())
        if cls.add_state is not Optimizer.add_state:
            bare = {k: v for k, v in template.items() if k not in arrays}
            cls.add_state(theta, bare, group)
            for k in (set(bare) & arrays) - set(saved):
                del template[k]  # add_state makes it again before the next step
        for k in (arrays & set(saved)) - set(template):
            template[k] = None  # an array, if one was saved: checked as p's shape
        return template

    def _restore_state(self, idx, p, saved, template):
        """Parameter idx's loaded state, checked against `template`, the state _init_state makes:
        new arrays (on p's device, in p's dtype) and Python numbers; raises naming the entry."""
        if set(saved) != set(template):
            raise ValueError(f"state of parameter {idx} has entries {sorted(map(str, saved))}, "
                             f"expected {sorted(template)}")
        out = {}
        for name, want in template.items():
            value, where = saved[name], f"state {name!r} of parameter {idx}"
            if backend.is_array(want) or (want is None and value is not None):
                out[name] = self._restore_array(where, name, value, p,
                                                p.shape if want is None else want.shape)
            elif isinstance(want, numbers.Real) and not isinstance(want, bool):
                out[name] = self._restore_number(where, name, value, type(want))
            else:
                out[name] = value
        return out

    def _restore_array(self, where, name, value, p, shape):
        value = value.data if isinstance(value, Tensor) else value
        if not (isinstance(value, np.ndarray) or backend.is_array(value)):
            raise ValueError(f"{where} is a {type(value).__name__}, expected an array of shape "
                            f"{tuple(shape)}")
        if tuple(value.shape) != tuple(shape):
            raise ValueError(f"{where} has shape {tuple(value.shape)}, expected {tuple(shape)}")
        if value.dtype.kind != "f":
            raise ValueError(f"{where} has dtype {value.dtype}, expected a floating-point array "
                            f"(the parameter's dtype, {p.dtype})")
        with np.errstate(over="ignore"):  # an overflow becomes inf, refused just below
            value = backend.to_device(value, p.device).astype(p.dtype)  # a copy, as torch casts
        xp = backend.get_array_module(value)
        if not bool(xp.isfinite(value).all()):
            raise ValueError(f"{where} holds nan or inf (in {p.dtype}): an optimizer's state is "
                             "finite")
        if name in type(self).never_negative and not bool((value >= 0).all()):
            raise ValueError(f"{where} holds negative values: it is never negative (a sum or "
                             "average of squares, or a step size)")
        return value

    def _restore_number(self, where, name, value, kind):
        if (isinstance(value, np.ndarray) or backend.is_array(value)) and value.shape == ():
            value = value.item()  # torch keeps scalar state as 0-d tensors
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
            raise ValueError(f"{where} is {short_repr(value)}, expected a number ({kind.__name__})")
        if not is_finite(value):
            raise ValueError(f"{where} is {short_repr(value)}, expected a finite number")
        if kind is int:
            if not float(value).is_integer():
                raise ValueError(f"{where} is {short_repr(value)}, expected an integer")
            value = int(value)  # torch's float steps, 1.0, load as 1
        else:
            value = kind(value)
        ok, expected = self.STEP_RANGE if name == "step" else \
            type(self).carried_ranges.get(name, (lambda v: True, ""))
        if not ok(value):
            raise ValueError(f"{where} is {short_repr(value)}, expected {expected}")
        return value


def _check_rows(name, g, shape):
    """A RowSparseGrad's rows must name rows of the parameter: checked before any update, so
    that an index out of range fails the step before it writes anything."""
    i, values = g.indices, g.values
    if getattr(i, "ndim", None) != 1 or i.dtype.kind not in "iu":
        raise TypeError(f"{name}: a sparse gradient's indices must be a 1-D integer array, got "
                        f"{type(i).__name__} of shape {getattr(i, 'shape', None)}")
    if len(shape) == 0 or tuple(values.shape) != (i.shape[0],) + tuple(shape[1:]):
        raise ValueError(f"{name}: sparse gradient values of shape {tuple(values.shape)} for "
                         f"{i.shape[0]} rows of a parameter of shape {tuple(shape)}")
    if i.size and (int(i.min()) < 0 or int(i.max()) >= shape[0]):
        raise IndexError(f"{name}: a sparse gradient names rows {int(i.min())}..{int(i.max())} of a "
                         f"parameter with {shape[0]} rows")
    if not _is_coalesced(i):  # its arrays are kept as given: written into after it was made
        raise ValueError(f"{name}: a sparse gradient's indices repeat a row or are out of order "
                         "(its indices array was changed after the RowSparseGrad was made); "
                         "make a new RowSparseGrad, which sums repeated rows")
