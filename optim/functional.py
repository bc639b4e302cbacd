"""Every optimizer on raw arrays: no Tensors, no modules, no parameter groups.

    import numpy as np, optim

    theta = np.array([-1.0, 1.0])                   # any NumPy or CuPy float array
    state = optim.functional.init("adam", theta)    # the optimizer's state for it: a dict
    for _ in range(5000):
        optim.functional.adam(theta, grad(theta), state, lr=1e-3)   # updates theta and state in place

`optim.functional.<name>(theta, grad, state, **hyperparameters)` is `step(name, ...)`, for each
name of `optim.functional.ALGORITHMS`: every declared algorithm (optim/optimizer.py's registry,
"adam" for optim.Adam, "amsgrad" for optim.AMSGrad) that steps one array alone. Those with a
step() or checks of a parameter or gradient of their own (Prodigy, whose d reads across
parameters; schedule-free AdamW; Muon, for matrices; SparseAdam, for sparse gradients) are not.

Each call runs the declaration itself, the class's own parts with no instance made: its
hyperparameters (the class's arguments and defaults, `defaults_of()`; an argument the class does
not take is a TypeError, a bad value a ValueError naming it, by the class's own checks), its
`start_state`, and its rule through optim/executor/ (`task`), its `update_rows` for a sparse
gradient, or its `update` where the algorithm is not elementwise. So `optim.Adam` and
`optim.functional.adam` agree bit for bit; the class adds parameter groups, state bookkeeping
and state_dict around the same parts. `state` is the dict that the class keeps per parameter
(optimizer.state[p]), so it can be saved with mg.save. (np.ndarray in the signatures stands for
a CuPy array too.)
"""
from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from minigrad import backend
from minigrad.sparse import RowSparseGrad

from . import executor
from .optimizer import ALGORITHMS as _REGISTRY
from .optimizer import Optimizer, _check_rows

_groups: dict = {}  # (name, hyperparameters) -> the checked group they make
_steps: dict = {}   # name -> optim.functional.<name>


def algorithms() -> dict[str, type]:
    """{name: class} of the algorithms optim.functional runs, in the registry's order."""
    return {name: cls for name, cls in _REGISTRY.items() if _runs_alone(cls)}


def _runs_alone(cls: type) -> bool:
    """The generic owner runs it, one parameter at a time: no step(), parameter checks or
    gradient checks of its own (Prodigy's step couples parameters; Muon takes matrices only)."""
    return all(getattr(cls, hook) is getattr(Optimizer, hook)
               for hook in ("step", "add_param_group", "_check_grad"))


def _declaration(name: str) -> type:
    cls = _REGISTRY.get(name) if isinstance(name, str) else None
    if cls is None or not _runs_alone(cls):
        raise ValueError(f"unknown optimizer {name!r}; choose from {', '.join(algorithms())}")
    return cls


def _arguments(cls: type) -> set[str]:
    """The hyperparameters a user may give: the class's keyword arguments."""
    parameters = list(inspect.signature(cls.__init__).parameters.values())[2:]  # self, params
    return {p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def _group(name: str, cls: type, hyperparameters: dict) -> dict:
    """The one parameter group that `hyperparameters` make for the declaration `cls` (without
    "params"): its declared defaults, then the values given, checked as the class checks them."""
    key = (name, tuple(sorted((k, repr(v)) for k, v in hyperparameters.items())))
    group = _groups.get(key)
    if group is None:
        unknown = [k for k in hyperparameters if k not in _arguments(cls)]
        if unknown:
            raise TypeError(f"optim.functional.{name}: {cls.__name__}() got an unexpected keyword "
                            f"argument {unknown[0]!r}")
        group = {**cls.defaults_of(), **hyperparameters, **cls.fixed}
        cls._check_declared(group, dict(group))
        if len(_groups) > 256:  # a schedule makes a new lr every step
            _groups.clear()
        _groups[key] = group
    return group


def init(name: str, theta: np.ndarray, **hyperparameters: Any) -> dict:
    """A fresh state dict for θ under optimizer `name` (the hyperparameters that shape the
    state matter: amsgrad, momentum, centered, initial_accumulator_value, lr for Rprop)."""
    cls = _declaration(name)
    group = _group(name, cls, hyperparameters)
    if not backend.is_array(theta) or theta.dtype.kind != "f":
        raise TypeError(f"optim.functional.init: theta must be a floating-point NumPy or CuPy "
                        f"array, got {type(theta).__name__} {getattr(theta, 'dtype', '')}")
    return cls.start_state(theta, group)


def step(name: str, theta: np.ndarray, grad: np.ndarray | RowSparseGrad, state: dict,
         **hyperparameters: Any) -> None:
    """One step of optimizer `name` on θ, in place; `state` comes from init() (or is an empty
    dict, started here) and is updated. Everything is checked before anything is written."""
    cls = _declaration(name)
    group = _group(name, cls, hyperparameters)
    _check(name, cls, theta, grad, state, group)
    if not state:  # an empty dict: start it here
        state.update(cls.start_state(theta, group))
    if isinstance(grad, RowSparseGrad):
        cls.update_rows(theta, grad, state, group)
    elif cls.rule is None:
        cls.update(theta, grad, state, group)
    else:
        executor.run([cls.task(theta, grad, state, group)], reference=group.get("fused") is False)


def _check(name: str, cls: type, theta: Any, grad: Any, state: Any, group: dict) -> None:
    """Refuse, before anything is written, a gradient that does not fit θ, or a foreign state."""
    where = f"optim.functional.{name}"
    if not backend.is_array(theta) or theta.dtype.kind != "f":
        raise TypeError(f"{where}: theta must be a floating-point NumPy or CuPy array, got "
                        f"{type(theta).__name__}")
    if not isinstance(grad, RowSparseGrad) and not backend.is_array(grad):
        raise TypeError(f"{where}: grad must be an array, got {type(grad).__name__}")
    if grad.shape != theta.shape or grad.dtype != theta.dtype:
        raise ValueError(f"{where}: grad of shape {grad.shape} and dtype {grad.dtype} for theta "
                         f"of shape {theta.shape} and dtype {theta.dtype}")
    g_device = grad.device if isinstance(grad, RowSparseGrad) else backend.device_of(grad)
    if g_device != backend.device_of(theta):
        raise ValueError(f"{where}: grad on {g_device}, theta on {backend.device_of(theta)}")
    if isinstance(grad, RowSparseGrad):
        if not cls.lazy_sparse:
            raise TypeError(f"{where} does not take sparse gradients ({cls.dense_only_reason})")
        _check_rows(where, grad, theta.shape)
    if not isinstance(state, dict):
        raise TypeError(f"{where}: state must be the dict from optim.functional.init, got "
                        f"{type(state).__name__}")
    if state:  # the entries this algorithm keeps for these hyperparameters, as a loaded state
        expected = cls.loaded_template(theta, group, state)
        if set(state) != set(expected):
            raise ValueError(f"{where}: state has entries {sorted(map(str, state))}, expected "
                             f"{sorted(expected)}: was it made by init({name!r}, theta, ...) with "
                             "these hyperparameters?")
        t = state.get("step", 0)
        if isinstance(t, bool) or not isinstance(t, (int, np.integer)) or t < 0:
            raise ValueError(f"{where}: state 'step' is {t!r}, expected an integer >= 0")
    for k, v in state.items():  # an elementwise rule's state arrays are all shaped like θ
        if cls.rule is not None and backend.is_array(v) and v.shape != theta.shape:
            raise ValueError(f"{where}: state {k!r} has shape {v.shape}, theta {theta.shape}: "
                             "was it made by init() for this theta?")


def _step_function(name: str) -> Callable[..., None]:
    cls = _declaration(name)

    def update(theta: np.ndarray, grad: np.ndarray | RowSparseGrad, state: dict,
               **hyperparameters: Any) -> None:
        step(name, theta, grad, state, **hyperparameters)
    update.__name__ = update.__qualname__ = name
    update.__module__ = __name__
    update.__doc__ = (f"One {cls.__name__} step on raw arrays, in place: "
                      f"step({name!r}, theta, grad, state, **hyperparameters). The equations: "
                      f"help(optim.{cls.__name__}).")
    return update


def __getattr__(name: str) -> Any:
    """optim.functional.adam and the others: one step function per algorithm; ALGORITHMS."""
    if name == "ALGORITHMS":
        return algorithms()
    if name in _steps:
        return _steps[name]
    if name in algorithms():
        _steps[name] = _step_function(name)
        return _steps[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | {"ALGORITHMS"} | set(algorithms()))
