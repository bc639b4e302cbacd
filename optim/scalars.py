"""The per-step numbers a rule reads: `h` in `rule(theta, g, <state...>, h)`.

A declaration's `scalars(t, group, state)` returns one of these each step (optim/adam.py is the
model); the rule reads `h.lr`, `h.beta1`, ... and branches on its flags (`if h.amsgrad:`).
"""


class Scalars:
    """The per-step numbers of an update, by name (h.lr, h.beta1, ...), read-only.

    Numbers are computed once per step, not per element; bools are flags that choose which
    lines of a rule run (they are fixed when a rule is compiled)."""

    __slots__ = ("_values",)

    def __init__(self, **values):
        _set_values(self, values)  # (self._values = values is refused by __setattr__)

    def __getattr__(self, name):
        if name == "_values":  # not set: an object that __init__ did not make
            raise AttributeError(name)
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(f"the rule's scalars have no {name!r} "
                                 f"(they are: {', '.join(self._values)})") from None

    def __setattr__(self, name, value):
        raise AttributeError("Scalars are read-only")

    def __reduce__(self):  # copy and pickle
        return _scalars, (dict(self._values),)

    def items(self):
        return self._values.items()

    def values(self):
        """The values, in order, as a tuple (the executor compares them by identity)."""
        return tuple(self._values.values())

    def flags(self):
        """The bools, which select a compiled form of a rule."""
        return tuple([(k, v) for k, v in self._values.items() if v is True or v is False])

    def numbers(self, names, dtype):
        """The named numbers, in order, as NumPy scalars of dtype (a compiled rule's arguments)."""
        t, values = dtype.type, self._values
        return tuple([t(values[name]) for name in names])

    def cast(self, dtype):
        """The numbers in the arrays' precision (NumPy scalars of dtype); bools stay bools."""
        t = dtype.type
        return Scalars(**{k: v if isinstance(v, bool) else t(v) for k, v in self._values.items()})

    def __repr__(self):
        return "Scalars(" + ", ".join(f"{k}={v!r}" for k, v in self._values.items()) + ")"


_set_values = Scalars._values.__set__


def _scalars(values):
    return Scalars(**values)
