"""Module and Parameter: finding parameters by walking attributes, and saving/loading them.

A Module's parameters are the Parameters among its attributes, in definition order, with those
of its submodules (attributes that are Modules, and Modules or Parameters inside list, tuple and
dict attributes) named with dots: `layers.0.weight`. Buffers (running statistics) are the raw
arrays whose attribute names a class lists in `_buffers`; they are saved with the parameters.
"""
from .. import backend
from ..tensor import Tensor


class Parameter(Tensor):
    """A leaf tensor that a Module owns and an optimizer updates; requires grad by default."""

    __slots__ = ()

    def __init__(self, data, requires_grad=True):
        data = data.data if isinstance(data, Tensor) else data
        if not backend.is_array(data):
            raise TypeError(f"Parameter expects an array or Tensor, got {type(data).__name__}")
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


class Module:
    """Base class of layers and models: subclasses set attributes and define forward()."""

    _buffers = ()  # names of attributes holding raw arrays saved in state_dict
    training = True

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    # ======================================================================== walking the tree

    def _named_attributes(self, kind):
        """(name, value) for attributes that are `kind`, and `kind`s inside list, tuple and
        dict attributes (named 'attr.0', 'attr.key'), in definition order."""
        for name, value in vars(self).items():
            if isinstance(value, kind):
                yield name, value
            elif isinstance(value, (list, tuple)):
                yield from ((f"{name}.{i}", v) for i, v in enumerate(value) if isinstance(v, kind))
            elif isinstance(value, dict):
                yield from ((f"{name}.{k}", v) for k, v in value.items() if isinstance(v, kind))

    def named_children(self):
        """(name, module) for each direct submodule, in definition order."""
        return self._named_attributes(Module)

    def _named_own_parameters(self):
        return self._named_attributes(Parameter)

    def children(self):
        return (m for _, m in self.named_children())

    def named_modules(self, prefix=""):
        """(dotted name, module) for this module and every module below it, depth first."""
        yield prefix, self
        for name, child in self.named_children():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self):
        return (m for _, m in self.named_modules())

    def named_parameters(self):
        """(dotted name, Parameter), each parameter once, in definition order."""
        seen = set()
        for mod_name, mod in self.named_modules():
            for name, p in mod._named_own_parameters():
                if id(p) not in seen:
                    seen.add(id(p))
                    yield (f"{mod_name}.{name}" if mod_name else name), p

    def parameters(self):
        return [p for _, p in self.named_parameters()]

    def named_buffers(self):
        for mod_name, mod in self.named_modules():
            for name in mod._buffers:
                value = getattr(mod, name, None)
                if value is not None:
                    yield (f"{mod_name}.{name}" if mod_name else name), mod, name

    # ======================================================================== modes and grads

    def train(self, mode=True):
        for m in self.modules():
            m.training = mode
        return self

    def eval(self):
        return self.train(False)

    def zero_grad(self, set_to_none=True):
        for p in self.parameters():
            if set_to_none or not backend.is_array(p.grad):
                p.grad = None  # a sparse gradient has no rows to zero in place
            else:
                p.grad[...] = 0

    # ======================================================================== devices

    def to(self, device):
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

    def state_dict(self):
        """{dotted name: raw array} for every parameter and buffer (the arrays themselves)."""
        state = {name: p.data for name, p in self.named_parameters()}
        for name, mod, attr in self.named_buffers():
            state[name] = getattr(mod, attr)
        return state

    def load_state_dict(self, state_dict, strict=True):
        """Copy arrays into the parameters and buffers, in place.

        strict: every key must match (missing and unexpected keys raise). Shapes must always
        match. Everything is checked before anything is written, so a failure changes nothing.
        Returns (missing_keys, unexpected_keys).
        """
        targets = {name: (p, None) for name, p in self.named_parameters()}
        for name, mod, attr in self.named_buffers():
            targets[name] = (mod, attr)
        missing = [k for k in targets if k not in state_dict]
        unexpected = [k for k in state_dict if k not in targets]
        if strict and (missing or unexpected):
            raise KeyError(f"load_state_dict: missing keys {missing}, unexpected keys {unexpected}")
        plan = []
        for name, (obj, attr) in targets.items():
            if name not in state_dict:
                continue
            value = state_dict[name]
            value = value.data if isinstance(value, Tensor) else value
            current = obj.data if attr is None else getattr(obj, attr)
            if not backend.is_array(value):
                import numpy as np
                value = np.asarray(value)
            if value.shape != current.shape:
                raise ValueError(f"load_state_dict: {name} has shape {value.shape} in the state "
                                 f"dict, the module's has shape {current.shape}")
            plan.append((current, backend.to_device(value, backend.device_of(current))))
        for current, value in plan:
            current[...] = value
        return missing, unexpected

    def __repr__(self):
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        kids = list(self.named_children())
        if not kids:
            return lines[0] + ")"
        for name, child in kids:
            lines.append(f"  ({name}): " + repr(child).replace("\n", "\n  "))
        return "\n".join(lines) + "\n)"

    def extra_repr(self):
        return ""
