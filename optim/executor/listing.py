"""optim.show: the code each form of an optimizer's rule runs, named and labelled as the rule.

    optim.show(optim.Adam)                          # the rule itself (form="reference")
    optim.show(optim.Adam, "numpy", amsgrad=True)   # the NumPy program for these hyperparameters
    optim.show(opt, "numba")                        # an optimizer's next step, as it stands

The forms:
- "reference": the rule's own source, and that of the functions it calls (weight_decay in
  optim/common.py): what fused=False runs, once on the whole arrays (executor.apply_rule);
- "numpy": the NumPy program that runs on chunks of the arrays without Numba (numpy_program.py);
- "numba": the loop that Numba compiles (loop.py), the CPU's path when Numba imports;
- "cuda": the CUDA kernel's parameters and body, as CuPy is given them (cuda_kernel.py).
A generated form is printed exactly as it is compiled, and needs neither Numba nor CuPy to be
printed. Its lines are those the hyperparameters' flags choose (amsgrad=True adds the max line).
"""
import inspect
import os
import textwrap

import numpy as np

from minigrad.backend import get_array_module
from minigrad.sparse import RowSparseGrad
from minigrad.tensor import Tensor

from ..optimizer import Optimizer
from . import cuda_kernel, loop, numpy_program
from .trace import traced

FORMS = ("reference", "numpy", "numba", "cuda")
_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def show(optimizer, form: str = "reference", *, dtype=np.float32, step: int = 1, echo: bool = True,
         **hyperparameters) -> str:
    """Print, and return, the code that `form` runs for one step of an optimizer.

    optimizer: an optimizer class (then **hyperparameters are its arguments, dtype the
    parameter's and step the step t to show: a flag such as RAdam's rectification may depend
    on t), or an optimizer (then its first parameter's next step, as its state stands).
    form: "reference", "numpy", "numba" or "cuda" (see the module's docstring). echo=False
    returns the text without printing it."""
    if form not in FORMS:
        raise ValueError(f"form must be one of {', '.join(map(repr, FORMS))}, got {form!r}")
    if not (isinstance(optimizer, Optimizer) or
            (isinstance(optimizer, type) and issubclass(optimizer, Optimizer))):
        raise TypeError("show() takes an optimizer class (optim.Adam) or an optimizer, got "
                        f"{type(optimizer).__name__} {optimizer!r:.60}")
    if isinstance(step, bool) or not isinstance(step, int) or step < 1:
        raise ValueError(f"step must be an integer >= 1 (the step t to show), got {step!r}")
    task = _next_task(optimizer, np.dtype(dtype), step, hyperparameters)
    if task.rule is None:  # not elementwise: its update hook is all there is
        if form != "reference":
            raise ValueError(f"{type(task.optimizer).__name__} has no elementwise rule (its "
                             "update is not elementwise): only form='reference' shows its code")
        cls = type(task.optimizer)
        update = getattr(cls, "update", None) or getattr(cls, "_update", None)
        if update is None:
            raise ValueError(f"{cls.__name__} declares neither a rule nor an update: it runs "
                             "another optimizer's (show that one)")
        text = _source(update, "its update, on whole arrays")
    else:
        t = traced(task.rule, task.arrays, task.h)
        dtype = task.arrays[0].dtype
        if form == "reference":
            text = _source(task.rule, "what fused=False runs, once on the whole arrays "
                           "(optim.executor.apply_rule); the other forms are traced from it")
            for code in t.functions[1:]:
                text += "\n" + _source(code, "which the rule calls")
        elif form == "numpy":
            text = numpy_program.program_source(t, dtype)[0]
        elif form == "numba":
            if dtype not in loop.LOOP_DTYPES:
                raise ValueError(f"Numba's loop is compiled for float32 and float64 only; {dtype} "
                                 "runs as the NumPy program (form='numpy')")
            text = loop.loop_source(t, dtype)
        else:
            text = cuda_kernel.listing(t, dtype)
    if echo:
        print(text, end="")
    return text


class _Task:
    def __init__(self, optimizer, rule, arrays, h):
        self.optimizer, self.rule, self.arrays, self.h = optimizer, rule, arrays, h


def _next_task(optimizer, dtype, step, hyperparameters):
    """The next step's task for the first parameter of an optimizer (made of a class with a
    2 x 2 parameter of zeros, which every optimizer takes, stepped step - 1 times), computed on
    a copy of its state."""
    if isinstance(optimizer, type):
        p = Tensor(np.zeros((2, 2), dtype))
        opt = optimizer([p], **hyperparameters)
        if hasattr(opt, "train"):  # schedule-free: its steps are taken in train mode
            opt.train()
        # an optimizer that reads the Hessian's diagonal (AdaHessian) is given one of ones
        given = {"hessian": [np.ones(p.shape, dtype)]} \
            if "hessian" in inspect.signature(opt.step).parameters else {}
        for _ in range(step - 1):
            p.grad = _gradient(opt, p)
            opt.step(**given)
    elif hyperparameters:
        raise TypeError("show(optimizer) shows the optimizer's own hyperparameters; pass the "
                        "class to choose them: show(optim.Adam, amsgrad=True)")
    else:
        opt = optimizer
    params = [p for group in opt.param_groups for p in group["params"]]
    if not params:
        raise ValueError(f"{type(opt).__name__} has no parameters to show a step of")
    group = next(g for g in opt.param_groups if g["params"])
    p = group["params"][0]
    cls = type(opt)
    if cls.rule is None:
        return _Task(opt, None, [p.data], None)
    state, g = opt.state.get(p), get_array_module(p.data).zeros_like(p.data)
    state = dict(state) if state is not None else cls.start_state(p.data, group)
    task = cls.task(p.data, g, state, group)
    return _Task(opt, task.rule, task.arrays, task.h)


def _gradient(opt, p):
    """A gradient of ones for p: dense, or every row as a sparse one for an optimizer that
    takes only those (SparseAdam)."""
    g = np.ones(p.shape, p.dtype)
    try:
        opt._check_grad(_Probe(p, g))
    except TypeError:
        return RowSparseGrad(np.arange(p.shape[0]), g, p.shape)
    return g


class _Probe:
    """p with another gradient, for asking an optimizer whether it takes that gradient."""

    def __init__(self, p, g):
        self.grad, self.data, self.shape, self.dtype, self.device = g, p.data, p.shape, p.dtype, p.device


def _source(fn, what):
    """A function's source, dedented, under a line that says where it is and what it is."""
    code = getattr(fn, "__code__", fn)
    path = os.path.abspath(code.co_filename)
    where = os.path.relpath(path, _ROOT) if path.startswith(_ROOT + os.sep) else path
    name = getattr(fn, "__qualname__", getattr(code, "co_qualname", code.co_name))
    head = textwrap.wrap(f"{name} ({where}): {what}", 96)
    return "".join(f"# {line}\n" for line in head) + textwrap.dedent(inspect.getsource(fn))
