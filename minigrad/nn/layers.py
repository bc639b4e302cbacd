"""Layers with torch.nn's arguments, shapes, initialisation and numerics."""
from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from .. import backend
from ..backend import Array, Device
from ..tensor import Tensor
from . import functional as F
from . import init
from .module import Module, Parameter

# ============================================================================ argument checks
# Each layer checks its arguments where it is built, naming the layer, the argument and the
# value: a negative size would otherwise fail deep inside an initialiser ("math domain error").

def _size(layer: str, arg: str, value: Any, minimum: float = 0) -> int:
    """value as an int >= minimum (sizes may be 0, as in torch: an empty layer), else
    TypeError (not an integer; a bool is not a size) or ValueError (too small)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{layer}: {arg} must be an integer, got {value!r} ({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{layer}: {arg} must be {'a non-negative' if minimum == 0 else 'a positive'} "
                         f"integer, got {value}")
    if value > np.iinfo(np.intp).max:  # NumPy's own "Maximum allowed dimension exceeded" named neither
        raise ValueError(f"{layer}: {arg} is {value}, larger than an array dimension can be "
                         f"({np.iinfo(np.intp).max})")
    return int(value)


def _number(layer: str, arg: str, value: Any, low: float, high: float = math.inf, low_open: bool = False) -> float:
    """value as a float in [low, high] ((low, high] with low_open), else TypeError/ValueError."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{layer}: {arg} must be a number, got {value!r} ({type(value).__name__})")
    value = float(value)
    if not (low < value if low_open else low <= value) or not value <= high:  # NaN fails both
        where = (f"> {low:g}" if low_open else f">= {low:g}") if high == math.inf else \
            f"between {low:g} and {high:g}"
        raise ValueError(f"{layer}: {arg} must be {where}, got {value}")
    return value


def _flag(layer: str, arg: str, value: Any) -> bool:
    """value as a bool; anything else (a string "False" is true) is a TypeError."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{layer}: {arg} must be True or False, got {value!r}")
    return bool(value)


def _float_dtype(layer: str, dtype: DTypeLike | None) -> np.dtype:
    """The floating dtype the layer's parameters get (the default dtype for None)."""
    if dtype is None:
        return np.dtype(backend.get_default_dtype())
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{layer}: dtype {dtype!r} is not a dtype") from None
    if dt.kind != "f":
        raise TypeError(f"{layer}: dtype must be a floating dtype (float16, float32, float64), got {dt}")
    return dt


class Linear(Module):
    """y = x Wᵀ + b. weight: (out_features, in_features); both weight and bias start
    U(-1/sqrt(in_features), 1/sqrt(in_features)), as torch.nn.Linear."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, dtype: DTypeLike | None = None,
                 device: Device = "cpu") -> None:
        in_features = _size("Linear", "in_features", in_features)
        out_features = _size("Linear", "out_features", out_features)
        bias, dtype = _flag("Linear", "bias", bias), _float_dtype("Linear", dtype)
        self.in_features, self.out_features = in_features, out_features
        # torch's kaiming_uniform(a=sqrt(5)) reduces to the bound 1/sqrt(fan_in)
        self.weight = Parameter(init.kaiming_uniform((out_features, in_features), a=math.sqrt(5),
                                                     dtype=dtype, device=device))
        bound = 1 / math.sqrt(in_features) if in_features else 0.0
        self.bias = Parameter(init.uniform((out_features,), -bound, bound, dtype, device)) \
            if bias else None

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, " \
               f"bias={self.bias is not None}"


class Embedding(Module):
    """A lookup table of num_embeddings rows of size embedding_dim, initialised N(0, 1);
    the padding_idx row starts at zero and never gets a gradient."""

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 max_norm: float | None = None, norm_type: float = 2.0, sparse: bool = False,
                 dtype: DTypeLike | None = None, device: Device = "cpu") -> None:
        num_embeddings = _size("Embedding", "num_embeddings", num_embeddings)
        embedding_dim = _size("Embedding", "embedding_dim", embedding_dim)
        if padding_idx is not None:
            padding_idx = _size("Embedding", "padding_idx", padding_idx, minimum=-math.inf)
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"Embedding: padding_idx {padding_idx} must be within "
                                 f"num_embeddings ({num_embeddings})")
            padding_idx %= num_embeddings
        if max_norm is not None:
            max_norm = _number("Embedding", "max_norm", max_norm, 0.0, low_open=True)
        # sum(|w|^p)^(1/p) is the norm computed, so p is finite and positive
        norm_type = _number("Embedding", "norm_type", norm_type, 0.0, math.inf, low_open=True)
        if norm_type == math.inf:
            raise ValueError("Embedding: norm_type must be finite, got inf")
        sparse, dtype = _flag("Embedding", "sparse", sparse), _float_dtype("Embedding", dtype)
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.padding_idx, self.max_norm, self.norm_type = padding_idx, max_norm, norm_type
        self.sparse = sparse
        W = init.normal((num_embeddings, embedding_dim), dtype=dtype)
        if padding_idx is not None:
            W[padding_idx] = 0
        self.weight = Parameter(backend.to_device(W, device))

    def forward(self, input: Tensor | Array) -> Tensor:
        return F.embedding(input, self.weight, self.padding_idx, self.max_norm, self.norm_type,
                           self.sparse)

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}" + (
            f", padding_idx={self.padding_idx}" if self.padding_idx is not None else "")


class BatchNorm1d(Module):
    """Batch normalisation over (N, C) or (N, C, L) input, as torch.nn.BatchNorm1d.

    Training normalises with the biased batch variance and stores the unbiased one in
    running_var; momentum=None keeps a cumulative average. Evaluation uses the running
    statistics (or batch statistics when track_running_stats=False).
    """

    _buffers = ("running_mean", "running_var", "num_batches_tracked")

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, dtype: DTypeLike | None = None, device: Device = "cpu") -> None:
        num_features = _size("BatchNorm1d", "num_features", num_features)
        eps = _number("BatchNorm1d", "eps", eps, 0.0, low_open=True)
        if momentum is not None:  # None: the cumulative average
            momentum = _number("BatchNorm1d", "momentum", momentum, 0.0, 1.0)
        affine = _flag("BatchNorm1d", "affine", affine)
        track_running_stats = _flag("BatchNorm1d", "track_running_stats", track_running_stats)
        dtype = _float_dtype("BatchNorm1d", dtype)
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        self.weight = Parameter(backend.to_device(np.ones(num_features, dtype), device)) \
            if affine else None
        self.bias = Parameter(backend.to_device(np.zeros(num_features, dtype), device)) \
            if affine else None
        if track_running_stats:
            self.running_mean = backend.to_device(np.zeros(num_features, dtype), device)
            self.running_var = backend.to_device(np.ones(num_features, dtype), device)
            self.num_batches_tracked = backend.to_device(np.zeros((), np.int64), device)
        else:
            self.running_mean = self.running_var = self.num_batches_tracked = None

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim not in (2, 3) or x.shape[1] != self.num_features:
            raise ValueError(f"BatchNorm1d({self.num_features}) expects input (N, "
                             f"{self.num_features}) or (N, {self.num_features}, L), got {x.shape}")
        use_batch_stats = self.training or not self.track_running_stats
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            training=use_batch_stats, momentum=self.momentum, eps=self.eps,
                            num_batches_tracked=self.num_batches_tracked
                            if self.training else None)

    def _check_state(self, name: str, value: Array) -> None:
        """Loaded running statistics must be ones training could have made: a mean that is
        finite, a variance that is finite and >= 0 (a negative one makes evaluation NaN), a
        count of batches >= 0 (momentum=None divides by it)."""
        xp = backend.get_array_module(value)
        if name in ("running_mean", "running_var") and not bool(xp.isfinite(value).all()):
            raise ValueError("holds inf or NaN; a running statistic must be finite")
        if name == "running_var" and bool((value < 0).any()):
            raise ValueError(f"holds a negative variance ({float(value.min()):g}); a variance is >= 0")
        if name == "num_batches_tracked" and bool((value < 0).any()):
            raise ValueError(f"is {int(value.min())}; a count of batches is >= 0")

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, " \
               f"affine={self.affine}, track_running_stats={self.track_running_stats}"


class Dropout(Module):
    """Zeroes elements with probability p in training (scaling the rest by 1/(1-p)); identity in eval."""

    def __init__(self, p: float = 0.5) -> None:
        if isinstance(p, (bool, np.bool_)) or not isinstance(p, (int, float, np.integer, np.floating)):
            raise TypeError(f"Dropout: p must be a number, got {p!r} ({type(p).__name__})")
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: dropout probability has to be between 0 and 1, but got {p}")
        self.p = float(p)

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class ReLU(Module):
    """max(x, 0), elementwise."""

    def forward(self, x: Tensor) -> Tensor:
        return x.relu()


class Tanh(Module):
    """tanh(x), elementwise."""

    def forward(self, x: Tensor) -> Tensor:
        return x.tanh()


class Sigmoid(Module):
    """1 / (1 + e^-x), elementwise."""

    def forward(self, x: Tensor) -> Tensor:
        return x.sigmoid()


class GELU(Module):
    """x Φ(x), exact (approximate='none') or with the tanh approximation ('tanh')."""

    def __init__(self, approximate: str = "none") -> None:
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x: Tensor) -> Tensor:
        return F.gelu(x, self.approximate)


class Flatten(Module):
    """Flatten axes start_dim..end_dim (default: all but the batch axis), as torch.nn.Flatten."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        self.start_dim = _size("Flatten", "start_dim", start_dim, minimum=-math.inf)
        self.end_dim = _size("Flatten", "end_dim", end_dim, minimum=-math.inf)

    def forward(self, x: Tensor) -> Tensor:
        return x.flatten(self.start_dim, self.end_dim)


class Sequential(Module):
    """Modules applied in order; their parameters are named by position: '0.weight'."""

    def __init__(self, *modules: Module) -> None:
        for i, m in enumerate(modules):
            if not isinstance(m, Module):
                raise TypeError(f"Sequential: argument {i} is a {type(m).__name__}, not a Module")
        self.layers = list(modules)

    def named_children(self) -> Iterator[tuple[str, Module]]:
        for i, m in enumerate(self.layers):
            yield str(i), m

    def __getitem__(self, i: int) -> Module:
        return self.layers[i]

    def __len__(self) -> int:
        return len(self.layers)

    def forward(self, x: Tensor) -> Tensor:
        for m in self.layers:
            x = m(x)
        return x


class LayerNorm(Module):
    """Normalise over the last dimensions (normalized_shape) of each example, as torch.nn.LayerNorm.

    μ and the biased σ² come from the example itself, so training and evaluation agree and
    there are no running statistics. weight starts at ones and bias at zeros (bias=False: no
    bias; elementwise_affine=False: neither).
    """

    def __init__(self, normalized_shape: int | tuple[int, ...] | list[int], eps: float = 1e-5,
                 elementwise_affine: bool = True, bias: bool = True, dtype: DTypeLike | None = None,
                 device: Device = "cpu") -> None:
        if isinstance(normalized_shape, np.ndarray) and normalized_shape.ndim == 0:
            normalized_shape = normalized_shape[()]  # np.array(3): a size, as 3 is
        if isinstance(normalized_shape, (int, np.integer, bool, np.bool_)):
            shape = (_size("LayerNorm", "normalized_shape", normalized_shape),)
        elif isinstance(normalized_shape, (tuple, list, np.ndarray)):
            shape = tuple(_size("LayerNorm", f"normalized_shape[{i}]", d)
                          for i, d in enumerate(normalized_shape))
        else:
            raise TypeError(f"LayerNorm: normalized_shape must be an integer or a tuple of them, "
                            f"got {normalized_shape!r}")
        eps = _number("LayerNorm", "eps", eps, 0.0, low_open=True)
        elementwise_affine = _flag("LayerNorm", "elementwise_affine", elementwise_affine)
        bias, dtype = _flag("LayerNorm", "bias", bias), _float_dtype("LayerNorm", dtype)
        self.normalized_shape, self.eps = shape, eps
        self.elementwise_affine = elementwise_affine
        self.weight = Parameter(backend.to_device(np.ones(shape, dtype), device)) \
            if elementwise_affine else None
        self.bias = Parameter(backend.to_device(np.zeros(shape, dtype), device)) \
            if elementwise_affine and bias else None

    def forward(self, x: Tensor) -> Tensor:
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, " \
               f"elementwise_affine={self.elementwise_affine}"


class ModuleList(Module):
    """A list of modules whose parameters are found and named by position ('0.weight'), as
    torch.nn.ModuleList. It has no forward: the owner decides how to call them."""

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        self.layers = []
        self.extend(modules or [])

    def named_children(self) -> Iterator[tuple[str, Module]]:
        for i, m in enumerate(self.layers):
            yield str(i), m

    def _check(self, module: Module) -> Module:
        if not isinstance(module, Module):
            raise TypeError(f"ModuleList holds Modules, got {type(module).__name__}")
        return module

    def append(self, module: Module) -> ModuleList:
        self.layers.append(self._check(module))
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        modules = list(modules)
        for m in modules:  # check all first: a failed extend changes nothing
            self._check(m)
        self.layers.extend(modules)
        return self

    def insert(self, index: int, module: Module) -> None:
        self.layers.insert(index, self._check(module))

    def __getitem__(self, i: int | slice) -> Module | ModuleList:
        if isinstance(i, slice):
            return ModuleList(self.layers[i])
        return self.layers[i]

    def __setitem__(self, i: int, module: Module) -> None:
        self.layers[i] = self._check(module)

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self) -> Iterator[Module]:
        return iter(self.layers)
