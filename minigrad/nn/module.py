"""Module and Parameter: finding parameters by walking attributes, and saving/loading them.

A Module's parameters are the Parameters among its attributes, in definition order, with those
of its submodules (attributes that are Modules, and Modules or Parameters inside list, tuple and
dict attributes) named with dots: `layers.0.weight`. Buffers (running statistics) are the raw
arrays whose attribute names a class lists in `_buffers`; they are saved with the parameters.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, TypeVar

import numpy as np

from .. import backend, tracer
from ..backend import Array, Device
from ..tensor import Tensor, increment_version

_M = TypeVar("_M", bound="Module")  # train(), eval() and to() return the module they were called on


class Parameter(Tensor):
    """A leaf tensor that a Module owns and an optimizer updates; requires grad by default."""

    __slots__ = ()

    def __init__(self, data: Array | Tensor, requires_grad: bool = True) -> None:
        data = data.data if isinstance(data, Tensor) else data
        if not backend.is_array(data):
            raise TypeError(f"Parameter expects an array or Tensor, got {type(data).__name__}")
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class StateDictKeyError(KeyError, ValueError):
    """Missing or unexpected keys in load_state_dict: a KeyError (as it always was) and a
    ValueError (bad input), printed without KeyError's quotes."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class Module:
    """Base class of layers and models: subclasses set attributes and define forward()."""

    _buffers = ()  # names of attributes holding raw arrays saved in state_dict
    training = True

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if tracer.active is not None:  # mg.compile guards the layers a step runs
            tracer.active.module(self)
        return self.forward(*args, **kwargs)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    # ======================================================================== walking the tree

    def _named_attributes(self, kind: type) -> Iterator[tuple[str, Any]]:
        """(name, value) for attributes that are `kind`, and `kind`s inside list, tuple and
        dict attributes (named 'attr.0', 'attr.key'), in definition order."""
        for name, value in vars(self).items():
            if isinstance(value, kind):
                yield name, value
            elif isinstance(value, (list, tuple)):
                yield from ((f"{name}.{i}", v) for i, v in enumerate(value) if isinstance(v, kind))
            elif isinstance(value, dict):
                yield from ((f"{name}.{k}", v) for k, v in value.items() if isinstance(v, kind))

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """(name, module) for each direct submodule, in definition order."""
        return self._named_attributes(Module)

    def _named_own_parameters(self) -> Iterator[tuple[str, Parameter]]:
        return self._named_attributes(Parameter)

    def children(self) -> Iterator[Module]:
        return (m for _, m in self.named_children())

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """(dotted name, module) for this module and every module below it, depth first."""
        yield prefix, self
        for name, child in self.named_children():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self) -> Iterator[Module]:
        return (m for _, m in self.named_modules())

    def named_parameters(self) -> Iterator[tuple[str, Parameter]]:
        """(dotted name, Parameter), each parameter once, in definition order."""
        seen = set()
        for mod_name, mod in self.named_modules():
            for name, p in mod._named_own_parameters():
                if id(p) not in seen:
                    seen.add(id(p))
                    yield (f"{mod_name}.{name}" if mod_name else name), p

    def parameters(self) -> list[Parameter]:
        return [p for _, p in self.named_parameters()]

    def named_buffers(self) -> Iterator[tuple[str, Module, str]]:
        for mod_name, mod in self.named_modules():
            for name in mod._buffers:
                value = getattr(mod, name, None)
                if value is not None:
                    yield (f"{mod_name}.{name}" if mod_name else name), mod, name

    # ======================================================================== modes and grads

    def train(self: _M, mode: bool = True) -> _M:
        for m in self.modules():
            m.training = mode
        return self

    def eval(self: _M) -> _M:
        return self.train(False)

    @tracer.replayed(graph="before")  # outside the graph: mg.compile's replay calls it again
    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.parameters():
            if set_to_none or not backend.is_array(p.grad):
                p.grad = None  # a sparse gradient has no rows to zero in place
            else:
                p.grad[...] = 0

    # ======================================================================== devices

    def to(self: _M, device: Device) -> _M:
        """Move every parameter (with its grad) and buffer to `device`, in place; returns self."""
        device = backend.parse_device(device)
        moved = []
        # convert everything first, so that a failure (no GPU) leaves the module as it was
        for _, p in self.named_parameters():
            g = backend.to_device(p.grad, device) if p.grad is not None else None
            moved.append((p, backend.to_device(p.data, device), g))
        buffers = [(mod, name, backend.to_device(getattr(mod, name), device))
                   for _, mod, name in self.named_buffers()]
        for p, data, g in moved:
            p.data, p.grad = data, g
        for mod, name, value in buffers:
            setattr(mod, name, value)
        return self

    # ======================================================================== saving and loading

    def state_dict(self) -> dict[str, Array]:
        """{dotted name: raw array} for every parameter and buffer (the arrays themselves)."""
        state = {name: p.data for name, p in self.named_parameters()}
        for name, mod, attr in self.named_buffers():
            state[name] = getattr(mod, attr)
        return state

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True
                        ) -> tuple[list[str], list[str]]:
        """Copy arrays into the parameters and buffers, in place.

        strict: every key must match (missing and unexpected keys raise StateDictKeyError, a
        KeyError and a ValueError). Each entry is checked against what the module holds:
        - shape: must be equal;
        - dtype: a float entry takes floats of any precision, cast as torch's copy_ casts
          (float64 into float32 rounds; a value that overflows, 1e300 into float32, is
          refused); an integer entry (a count) takes integers that fit; bool, complex,
          object and string arrays are refused;
        - values: each module may check its own (`_check_state`): BatchNorm's running_mean
          must be finite, running_var finite and >= 0, num_batches_tracked >= 0. Parameters
          may hold any float, NaN included, as in torch;
        - device: the value is copied onto the entry's device.
        Values may be arrays (NumPy or CuPy), Tensors, NumPy scalars, Python numbers or lists of
        numbers. Everything is checked before anything is written, so a failure changes nothing;
        the values are copied, so one entry may hold another's array (a swap) safely.
        Returns (missing_keys, unexpected_keys).
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"load_state_dict expects a mapping of dotted names to arrays (what "
                            f"state_dict() returns), got {type(state_dict).__name__}")
        for key in state_dict:
            if type(key) is not str:
                raise TypeError(f"load_state_dict: key {key!r} is of type {type(key).__name__}; the keys "
                                "are dotted names such as '0.weight'")
        targets = self._state_targets()
        missing = [k for k in targets if k not in state_dict]
        unexpected = [k for k in state_dict if k not in targets]
        if strict and (missing or unexpected):
            raise StateDictKeyError("load_state_dict: " + "; ".join(
                f"{what} keys {keys}" for what, keys in (("missing", missing), ("unexpected", unexpected))
                if keys) + " (strict=False loads the keys that match)")
        plan = []
        for name, (mod, attr, current) in targets.items():
            if name in state_dict:
                value = _checked_value(name, state_dict[name], current)
                try:
                    mod._check_state(attr, value)
                except ValueError as e:
                    raise ValueError(f"load_state_dict: {name} {e}") from None
                plan.append((current, value, getattr(mod, attr)))
        for current, value, owner in plan:  # everything checked: now write
            current[...] = value
            increment_version(owner)  # a Parameter: a backward through its old values refuses
        return missing, unexpected

    def _state_targets(self) -> dict[str, tuple[Module, str, Array]]:
        """{dotted name: (module, attribute name, the array held)} for every state_dict entry."""
        targets, seen = {}, set()
        for mod_name, mod in self.named_modules():
            prefix = f"{mod_name}." if mod_name else ""
            for name, p in mod._named_own_parameters():
                if id(p) not in seen:  # a shared parameter, under its first name only
                    seen.add(id(p))
                    targets[prefix + name] = (mod, name, p.data)
            for name in mod._buffers:
                value = getattr(mod, name, None)
                if value is not None:
                    targets[prefix + name] = (mod, name, value)
        return targets

    def _check_state(self, name: str, value: Array) -> None:
        """Raise ValueError (saying what is wrong, to follow the entry's name) if value, about
        to be loaded into this module's parameter or buffer `name`, is out of range. A hook for
        modules whose state has bounds (BatchNorm's running variance is >= 0); by default,
        anything the dtype and shape checks let through is accepted."""

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        kids = list(self.named_children())
        if not kids:
            return lines[0] + ")"
        for name, child in kids:
            lines.append(f"  ({name}): " + repr(child).replace("\n", "\n  "))
        return "\n".join(lines) + "\n)"

    def extra_repr(self) -> str:
        return ""


def _checked_value(name: str, value: Any, current: Array) -> Array:
    """value as an array of current's dtype, shape and device (a fresh copy), or TypeError /
    ValueError naming the entry and what was wrong."""
    value = value.data if isinstance(value, Tensor) else value
    if not backend.is_array(value):
        if isinstance(value, (np.generic, int, float, bool, list, tuple)):
            try:
                value = np.asarray(value)
            except ValueError as e:  # a ragged list
                raise ValueError(f"load_state_dict: {name} is not an array of numbers ({e})") from None
        else:
            raise TypeError(f"load_state_dict: {name} is of type {type(value).__name__}; expected an array "
                            f"of {current.dtype} and shape {current.shape}")
    want, got = current.dtype, value.dtype
    if want.kind == "f":
        ok = got.kind == "f"
    elif want.kind in "iu":
        ok = got.kind in "iu"
    else:
        ok = got == want
    if not ok:
        raise TypeError(f"load_state_dict: {name} has dtype {got}; the module's is {want}"
                        + (" (a float entry takes floats of any precision)" if want.kind == "f" else
                           " (an integer entry takes integers)" if want.kind in "iu" else ""))
    if value.shape != current.shape:
        raise ValueError(f"load_state_dict: {name} has shape {value.shape} in the state dict, the "
                         f"module's has shape {current.shape}")
    value = backend.to_device(value, backend.device_of(current))
    xp = backend.get_array_module(value)
    if want.kind in "iu" and value.size:
        info = np.iinfo(want)
        low, high = int(value.min()), int(value.max())
        if low < info.min or high > info.max:
            raise ValueError(f"load_state_dict: {name} holds {low if low < info.min else high}, "
                             f"outside the range of {want}")
    with np.errstate(over="ignore"):  # an overflow is refused below, by name
        cast = value.astype(want, copy=True)  # a copy: the state dict may hold the module's own arrays
    if want.kind == "f" and got.itemsize > want.itemsize and not bool(
            (xp.isfinite(cast) | ~xp.isfinite(value)).all()):
        raise ValueError(f"load_state_dict: {name} holds values beyond the range of {want} "
                         f"(its dtype here is {got})")
    return cast
