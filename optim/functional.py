"""Every optimizer on raw arrays: no Tensors, no modules, no parameter groups.

    import numpy as np, optim

    theta = np.array([-1.0, 1.0])                   # any NumPy or CuPy float array
    state = optim.functional.init("adam", theta)    # the optimizer's state for it: a dict
    for _ in range(5000):
        optim.functional.adam(theta, grad(theta), state, lr=1e-3)   # updates theta and state in place

Hyperparameters are the optimizer class's arguments, with its defaults and its checks (a bad one
raises ValueError naming it). Each call runs the same definition as the class (its rule through
optim/executor.py, or its `_update`), so `optim.Adam` and `optim.functional.adam` agree bit for
bit; the class adds parameter groups, state bookkeeping and state_dict around it. `state` is the
dict that the class keeps per parameter (optimizer.state[p]), so it can be saved with mg.save.
"""
from minigrad import backend
from minigrad.sparse import RowSparseGrad

from . import executor
from .adabelief import AdaBelief
from .adadelta import Adadelta
from .adafactor import Adafactor
from .adagrad import Adagrad
from .adam import AMSGrad, Adam
from .adamax import Adamax
from .adamw import AdamW
from .lamb import LAMB
from .lion import Lion
from .nadam import NAdam
from .radam import RAdam
from .rmsprop import RMSprop
from .rprop import Rprop
from .sgd import SGD
from .yogi import Yogi

ALGORITHMS = {"sgd": SGD, "adagrad": Adagrad, "adadelta": Adadelta, "rmsprop": RMSprop,
              "adam": Adam, "adamw": AdamW, "amsgrad": AMSGrad, "adamax": Adamax, "nadam": NAdam,
              "radam": RAdam, "rprop": Rprop, "adafactor": Adafactor, "adabelief": AdaBelief,
              "lion": Lion, "lamb": LAMB, "yogi": Yogi}
_configured = {}  # (name, hyperparameters) -> an optimizer holding the one group they make


def _optimizer(name, hyperparameters):
    """The class's own constructor builds (and checks) the group, on a placeholder parameter."""
    if name not in ALGORITHMS:
        raise ValueError(f"unknown optimizer {name!r}; choose from {', '.join(ALGORITHMS)}")
    key = (name, tuple(sorted((k, repr(v)) for k, v in hyperparameters.items())))
    if key not in _configured:
        from minigrad.nn import Parameter
        import numpy as np
        try:
            _configured[key] = ALGORITHMS[name]([Parameter(np.zeros(1))], **hyperparameters)
        except TypeError as e:  # an argument the class does not take
            raise TypeError(f"optim.functional.{name}: {e}") from None
    return _configured[key]


def init(name, theta, **hyperparameters):
    """A fresh state dict for θ under optimizer `name` (the hyperparameters that shape the
    state matter: amsgrad, momentum, centered, initial_accumulator_value, lr for Rprop)."""
    opt = _optimizer(name, hyperparameters)
    if not backend.is_array(theta) or theta.dtype.kind != "f":
        raise TypeError(f"optim.functional.init: theta must be a floating-point NumPy or CuPy "
                        f"array, got {type(theta).__name__} {getattr(theta, 'dtype', '')}")
    return opt._init_state(theta, opt.param_groups[0])


def step(name, theta, grad, state, **hyperparameters):
    """One step of optimizer `name` on θ, in place; `state` comes from init() and is updated."""
    opt = _optimizer(name, hyperparameters)
    group = opt.param_groups[0]
    _check(name, theta, grad, state, elementwise=opt.rule is not None)
    if not state:  # an empty dict: start it here
        state.update(opt._init_state(theta, group))
    if isinstance(grad, RowSparseGrad):
        if not opt.lazy_sparse:
            raise TypeError(f"optim.functional.{name} does not take sparse gradients")
        opt._update_sparse(theta, grad, state, group)
    elif opt.rule is None:
        opt._update(theta, grad, state, group)
    else:
        executor.run([opt._task(theta, grad, state, group)], reference=group.get("fused") is False)


def _check(name, theta, grad, state, elementwise):
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
    if not isinstance(state, dict):
        raise TypeError(f"{where}: state must be the dict from optim.functional.init, got "
                        f"{type(state).__name__}")
    for k, v in state.items():  # an elementwise rule's state arrays are all shaped like θ
        if elementwise and backend.is_array(v) and v.shape != theta.shape:
            raise ValueError(f"{where}: state {k!r} has shape {v.shape}, theta {theta.shape}: "
                             "was it made by init() for this theta?")


def _algorithm(name):
    def update(theta, grad, state, **hyperparameters):
        step(name, theta, grad, state, **hyperparameters)
    update.__name__ = update.__qualname__ = name
    update.__doc__ = (f"One {ALGORITHMS[name].__name__} step on raw arrays, in place: "
                      f"step({name!r}, theta, grad, state, **hyperparameters). The equations: "
                      f"help(optim.{ALGORITHMS[name].__name__}).")
    return update


sgd = _algorithm("sgd")
adagrad = _algorithm("adagrad")
adadelta = _algorithm("adadelta")
rmsprop = _algorithm("rmsprop")
adam = _algorithm("adam")
adamw = _algorithm("adamw")
amsgrad = _algorithm("amsgrad")
adamax = _algorithm("adamax")
nadam = _algorithm("nadam")
radam = _algorithm("radam")
rprop = _algorithm("rprop")
adafactor = _algorithm("adafactor")
adabelief = _algorithm("adabelief")
lion = _algorithm("lion")
lamb = _algorithm("lamb")
yogi = _algorithm("yogi")
