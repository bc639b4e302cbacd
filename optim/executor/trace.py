"""Tracing an update rule into straight-line code, as jax.jit traces a function.

An optimizer's rule is plain Python on elements: `rule(theta, g, *state, h)` returns the new
`(theta, *state)`, using + - * / (and `** 2`), comparisons, and the NumPy functions in FUNCTIONS.
Run once on symbols (a Sym for every array element and every number in h; h's flags stay real
bools, so `if h.amsgrad:` picks a branch), it records every operation in order, where in the
rule it was made, and which of the rule's variables held each value (labels.py). That record is
then printed as the body of a loop for Numba (`python_body`), of a CUDA kernel (`c_body`), or as
a NumPy program (numpy_program.py): the same operations in the same order, numbers in the
arrays' precision (as NumPy treats Python scalars), so every executor computes what the rule
computes on NumPy arrays, bit for bit; and each printed line is named and labelled as the rule.
"""
import functools
import inspect

import numpy as np

from ..scalars import Scalars
from . import labels

# NumPy function -> (arity, Python (Numba) spelling, C (CUDA) spelling); {0} {1} {2} the operands
FUNCTIONS = {
    np.sqrt: (1, "np.sqrt({0})", "sqrt({0})"),
    np.exp: (1, "np.exp({0})", "exp({0})"),
    np.log: (1, "np.log({0})", "log({0})"),
    np.absolute: (1, "np.abs({0})", "fabs({0})"),
    np.negative: (1, "-{0}", "-{0}"),
    np.sign: (1, "np.sign({0})", "({0} > 0 ? (T)1 : {0} < 0 ? (T)-1 : {0} == 0 ? (T)0 : {0})"),
    # NumPy's maximum and minimum return NaN if either operand is NaN
    np.maximum: (2, "np.maximum({0}, {1})", "(({0} > {1} || isnan({0})) ? {0} : {1})"),
    np.minimum: (2, "np.minimum({0}, {1})", "(({0} < {1} || isnan({0})) ? {0} : {1})"),
    np.where: (3, "({1} if {0} else {2})", "({0} ? {1} : {2})"),
}
_BINARY = {np.add: "+", np.subtract: "-", np.multiply: "*", np.true_divide: "/",
           np.greater: ">", np.less: "<", np.greater_equal: ">=", np.less_equal: "<="}
_COMPARISONS = {">", "<", ">=", "<="}


class Sym:
    """A value in a trace: an array element, a scalar of h, or an intermediate result."""

    __slots__ = ("trace", "name", "is_bool", "site")
    __array_priority__ = 1000  # np.float64(2.0) * sym -> Sym.__rmul__, not a NumPy scalar op

    def __init__(self, trace, name, is_bool=False, site=None):
        self.trace, self.name, self.is_bool, self.site = trace, name, is_bool, site

    def _op(self, symbol, a, b):
        return self.trace.emit((symbol, a, b), is_bool=symbol in _COMPARISONS)

    def __add__(self, other): return self._op("+", self, other)
    def __radd__(self, other): return self._op("+", other, self)
    def __sub__(self, other): return self._op("-", self, other)
    def __rsub__(self, other): return self._op("-", other, self)
    def __mul__(self, other): return self._op("*", self, other)
    def __rmul__(self, other): return self._op("*", other, self)
    def __truediv__(self, other): return self._op("/", self, other)
    def __rtruediv__(self, other): return self._op("/", other, self)
    def __gt__(self, other): return self._op(">", self, other)
    def __lt__(self, other): return self._op("<", self, other)
    def __ge__(self, other): return self._op(">=", self, other)
    def __le__(self, other): return self._op("<=", self, other)
    def __neg__(self): return self.trace.emit((np.negative, self))

    def __pow__(self, k):
        if k != 2:  # NumPy computes x ** 2 as x * x; other powers differ between libraries
            raise TypeError(f"a rule may square (x ** 2) but not raise to the power {k!r}")
        return self * self

    def __bool__(self):
        raise TypeError("a rule may branch only on the flags of h (bools), not on an array's "
                        "values or a number of h; use np.where for a choice per element")

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method != "__call__" or kwargs:
            return NotImplemented
        if ufunc in _BINARY:
            return self._op(_BINARY[ufunc], *inputs)
        return self.trace.call(ufunc, inputs)

    def __array_function__(self, func, types, args, kwargs):
        if kwargs:
            return NotImplemented
        return self.trace.call(func, args)


class Trace:
    """The operations of one rule, in order: (value, operation) pairs. Each new value is named
    later (labels.name_values) and knows its site: where in the rule it was made."""

    def __init__(self, site=lambda: None):
        self.lines, self.site = [], site

    def emit(self, operation, is_bool=False):
        out = Sym(self, None, is_bool, self.site())
        self.lines.append((out, operation))
        return out

    def call(self, func, args):
        if func not in FUNCTIONS:
            raise TypeError(f"a rule cannot use {getattr(func, '__name__', func)!r}: "
                            f"only + - * / ** 2, comparisons and {', '.join(f.__name__ for f in FUNCTIONS)}")
        arity = FUNCTIONS[func][0]
        if len(args) != arity:
            raise TypeError(f"{func.__name__} takes {arity} operands in a rule, got {len(args)}")
        return self.emit((func, *args), is_bool=False)


class Traced:
    """A rule traced for one choice of flags and of present arrays.

    arrays: the array arguments' names, the rule's own (theta, g, m, ...; absent ones are
    None); scalars: the names of h's numbers the rule reads, and scalar_names their names in
    the generated code (h's, unless one clashes); outputs: for each array argument, the Sym
    (or number) written back to it, or None where the rule leaves it as it was. Every value is
    named after the rule's variable that held it (labels.py), and `labelled` puts the rule
    line each statement came from above it."""

    def __init__(self, rule, n_arrays, present, h):
        recorder = labels.Recorder(rule, lambda x: isinstance(x, Sym))
        trace = Trace(recorder.site)
        taken = set(labels.RESERVED)
        self.arrays = [labels.unique(labels.identifier(name), taken) if ok else None
                       for name, ok in zip(_array_names(rule, n_arrays), present)]
        self.scalars = [name for name, value in h.items() if not isinstance(value, bool)]
        self.scalar_names = [labels.unique(labels.identifier(
            name if name not in taken else f"h_{name}"), taken) for name in self.scalars]
        self.flags = tuple((name, value) for name, value in h.items() if isinstance(value, bool))
        self.rule = f"{getattr(rule, '__qualname__', rule)} ({getattr(rule, '__module__', '?')})"
        args = [Sym(trace, name) if name else None for name in self.arrays]
        spelled = dict(zip(self.scalars, self.scalar_names))
        symbolic_h = Scalars(**{name: value if isinstance(value, bool) else Sym(trace, spelled[name])
                                for name, value in h.items()})
        with recorder:
            result = rule(*args, symbolic_h)
        updated, outs = written(rule, result, n_arrays)
        self.outputs = [None] * n_arrays
        for k, out in zip(updated, outs):
            if out is args[k]:
                continue  # unchanged: nothing to write
            if args[k] is None:
                if out is None:
                    continue
                raise TypeError(f"{rule.__name__} returned a value for argument {k}, which is absent")
            self.outputs[k] = out
            if isinstance(out, Sym) and out.name is None and out not in recorder.bound:
                recorder.bound[out] = self.arrays[k]  # returned unnamed: named for its array
        self.lines = trace.lines
        self._keep_read_scalars(symbolic_h)
        labels.name_values(self.lines, recorder.bound, taken)
        self.sites, self.functions = recorder.sites, recorder.functions

    def _keep_read_scalars(self, symbolic_h):
        """Keep only the numbers of h that the traced lines read: a compiled rule takes those
        as arguments (an explain-only number such as Adagrad's t costs nothing per step)."""
        read = {id(a) for _, (_, *args) in self.lines for a in args if isinstance(a, Sym)}
        read |= {id(out) for out in self.outputs if isinstance(out, Sym)}
        kept = [(name, spelled) for name, spelled in zip(self.scalars, self.scalar_names)
                if id(getattr(symbolic_h, name)) in read]
        self.scalars = [name for name, _ in kept]
        self.scalar_names = [spelled for _, spelled in kept]

    def header(self, what):
        """The first lines of a generated module: what it is, and the flags that chose its lines."""
        flags = ", ".join(f"{k}={v}" for k, v in self.flags) or "none"
        return [f"{self.rule}, traced into {what}", f"flags: {flags}"]

    def labelled(self, entries, comment="#", ascii_only=False):
        """The statements, with a comment line above each run of them that came from one rule
        line: that line's equation comment (or its code). entries: (value or a label, statement)
        pairs; a statement whose value has no site stays under the label above it."""
        out, current = [], None
        for key, statement in entries:
            where = key if isinstance(key, str) else (
                self.sites[key.site] if getattr(key, "site", None) is not None else current)
            if where is not None and where != current:
                text = where if isinstance(where, str) else labels.label(where)
                text = labels.ascii_text(text) if ascii_only else text
                out.append(f"{comment} {text.rstrip(chr(92))}")  # no \ ending a C comment
                current = where
            out.append(statement)
        return out

    def _operand(self, x, const):
        return x.name if isinstance(x, Sym) else const(float(x))

    def _body(self, spell, const, assign):
        out = []
        for sym, (op, *args) in self.lines:
            names = [self._operand(a, const) for a in args]
            if isinstance(op, str):
                expr = f"{names[0]} {op} {names[1]}"
            else:
                expr = spell(op).format(*names)
            out.append((sym, assign(sym, expr)))
        return out

    def python_body(self):
        """(value, statement) pairs for a Numba loop body (label them with `labelled`): the
        elements are named as the rule's arguments, the scalars as scalar_names, T is the
        arrays' NumPy scalar type; the results are named as in outputs."""
        return self._body(lambda op: FUNCTIONS[op][1], lambda v: f"T({v!r})",
                          lambda sym, expr: f"{sym.name} = {expr}")

    def c_body(self):
        """(value, statement) pairs in C for a CUDA elementwise kernel: T is the arrays' type."""
        return self._body(lambda op: FUNCTIONS[op][2], lambda v: f"(T){_c_float(v)}",
                          lambda sym, expr: f"{'bool' if sym.is_bool else 'T'} {sym.name} = {expr};")


def _array_names(rule, n_arrays):
    """The rule's names for its array arguments (theta, g, m, ...), or a0, a1, ... where its
    signature does not say them."""
    try:
        names = argument_names(rule)
    except (TypeError, ValueError):
        names = ()
    return names if len(names) == n_arrays else tuple(f"a{k}" for k in range(n_arrays))


def _c_float(v):
    if v != v or v in (float("inf"), float("-inf")):
        raise TypeError(f"a rule's constant {v!r} has no C literal; pass it in h")
    return repr(v)


@functools.cache
def argument_names(rule):
    """The names of a rule's array arguments: theta, g, then its state symbols (not h)."""
    return tuple(inspect.signature(rule).parameters)[:-1]


def written(rule, result, n_arrays):
    """(indices of the arguments a rule's result writes, their new values). A rule returns
    {name: new value} by its arguments' names: θ as "theta" (always), and the state arrays it
    changes (one left out keeps its array). Anything else is refused, so that a rule cannot
    write a value into the wrong array by its position."""
    names = argument_names(rule)
    if not isinstance(result, dict):
        raise TypeError(f"{rule.__name__} returned a {type(result).__name__}; a rule returns a "
                        f"dict of its new values by name, e.g. dict(theta=theta, "
                        f"{', '.join(f'{n}={n}' for n in names[2:])})")
    unknown = [k for k in result if k not in names[:1] + names[2:]]
    if unknown:
        raise TypeError(f"{rule.__name__} returned {', '.join(map(repr, unknown))}, which is "
                        f"not theta or one of its state arguments {names[2:]}")
    if "theta" not in result:
        raise TypeError(f"{rule.__name__} returned no 'theta': a rule returns the new θ "
                        "(dict(theta=theta, ...)), even where it leaves θ as it was")
    ks = [k for k, name in enumerate(names) if name in result]
    return ks, [result[names[k]] for k in ks]


_traced = {}  # (rule, present, flags) -> Traced


def traced(rule, arrays, h):
    """The rule traced for these flags and these present arrays (cached)."""
    present = tuple(a is not None for a in arrays)
    key = (rule, present, h.flags())
    if key not in _traced:
        _traced[key] = Traced(rule, len(arrays), present, dict(h.items()))
    return _traced[key]
