"""Array backends: NumPy on the CPU, CuPy on CUDA GPUs.

This is the only module that imports CuPy. Everything else asks it for the array module
(`xp = get_array_module(x)`) and writes one code path for both devices.
"""
from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from types import ModuleType
from typing import Any, Union

import numpy as np
from numpy.typing import DTypeLike

from . import tracer

# The engine's raw arrays, in type hints: a numpy.ndarray, or a cupy.ndarray on a GPU (which a type
# checker cannot see without CuPy: the hints name NumPy's, and CuPy's are accepted as well).
Array = np.ndarray
Shape = tuple[int, ...]
Axis = Union[int, tuple[int, ...], None]  # an axis argument: one, several, or None for all
Device = Union[str, None]  # 'cpu', 'cuda', 'cuda:N' (None: 'cpu'); see parse_device

_cupy: Any = None  # the cupy module once imported, False when it cannot be
_cupy_error = None  # why not, as a sentence


def _import_cupy() -> ModuleType | None:
    """Import CuPy once; remember the reason when it cannot be used."""
    global _cupy, _cupy_error
    if _cupy is None:
        try:
            import cupy
            _cupy = cupy
        except Exception as e:  # noqa: BLE001 (ImportError, or a CUDA library that fails to load, said why)
            _cupy = False
            _cupy_error = (f"CuPy is not installed or failed to import ({type(e).__name__}: {e}); "
                           "install the GPU extra: pip install 'minigrad[gpu]'")
    return _cupy or None


def gpu_unavailable_reason() -> str | None:
    """None when a CUDA device can be used, else a sentence saying why not."""
    cp = _import_cupy()
    if cp is None:
        return _cupy_error
    try:
        n = cp.cuda.runtime.getDeviceCount()
    except Exception as e:  # noqa: BLE001 (no driver, or one older than the CUDA runtime: said why)
        return f"CUDA is not usable: {type(e).__name__}: {e} (is the NVIDIA driver installed and new enough?)"
    if n == 0:
        return "CuPy is installed but no CUDA device was found"
    return None


def cuda_is_available() -> bool:
    """True when a CUDA device can be used through CuPy."""
    return gpu_unavailable_reason() is None


# ============================================================================ arrays and devices

def is_array(x: object) -> bool:
    """True for a numpy.ndarray or a cupy.ndarray."""
    return type(x) is np.ndarray or _is_cupy(x)


def _is_cupy(x: object) -> bool:
    """True for a cupy.ndarray, also one made before minigrad first looked for CuPy (no CuPy
    array exists before CuPy is imported)."""
    if _cupy is None and "cupy" in sys.modules:
        _import_cupy()
    return bool(_cupy) and isinstance(x, _cupy.ndarray)


def get_array_module(*arrays: object) -> ModuleType:
    """numpy for NumPy arrays (and Python numbers), cupy for CuPy arrays."""
    for a in arrays:
        if type(a) is not np.ndarray and _is_cupy(a):
            return _cupy
    return np


def device_of(array: Array) -> str:
    """'cpu' or 'cuda:N'."""
    if type(array) is np.ndarray or not _is_cupy(array):
        return "cpu"
    return f"cuda:{array.device.id}"


def parse_device(device: Device) -> str:
    """Normalise 'cpu', 'cuda', 'cuda:N' to 'cpu' or 'cuda:N'; raise on anything else."""
    if device is None or device == "cpu":
        return "cpu"
    if isinstance(device, str) and device.startswith("cuda"):
        rest = device[4:]
        if rest == "":
            return "cuda:0"
        if rest[0] == ":" and rest[1:].isdigit():
            return device
    raise ValueError(f"unknown device {device!r}: expected 'cpu', 'cuda' or 'cuda:N'")


def to_device(array: Any, device: Device) -> Array:
    """Return `array` on `device` (the same object when it is already there)."""
    device = parse_device(device)
    if device == "cpu":
        if type(array) is np.ndarray:
            return array
        if _is_cupy(array):
            return _cupy.asnumpy(array)
        return np.asarray(array)
    reason = gpu_unavailable_reason()
    if reason is not None:
        raise RuntimeError(f"cannot move to {device}: {reason}")
    index = int(device.split(":")[1])
    if index >= _cupy.cuda.runtime.getDeviceCount():
        raise RuntimeError(f"cannot move to {device}: only "
                           f"{_cupy.cuda.runtime.getDeviceCount()} CUDA device(s) found")
    with _cupy.cuda.Device(index):
        return _cupy.asarray(array)


def to_numpy(array: Any) -> np.ndarray:
    """The array as a NumPy array (copied from the GPU if needed)."""
    return to_device(array, "cpu")


def scatter_add(a: Array, indices: Array, values: Array) -> Array:
    """a[indices] += values, accumulating repeated indices (in place)."""
    get_array_module(a).add.at(a, indices, values)  # on a GPU: atomic adds, in no fixed order
    return a


def erf(x: Any) -> Array:
    """The error function, elementwise, to full precision on either backend: an array of x's
    shape (0-d and empty included), of x's dtype when x is floating (float64 otherwise).

    SciPy is optional: without it, the standard library's math.erf runs on each element."""
    xp = get_array_module(x)
    if xp is not np:
        import cupyx.scipy.special
        return cupyx.scipy.special.erf(x)
    x = np.asarray(x)  # a NumPy scalar (0-d arithmetic gives one) becomes a 0-d array
    dtype = x.dtype if x.dtype.kind == "f" else np.dtype(np.float64)
    try:
        from scipy.special import erf as _erf
    except ImportError:
        return _erf_by_math(x, dtype)
    return np.asarray(_erf(x), dtype=dtype)  # SciPy computes float16 in float64 and gives 0-d as a scalar


_ERF_CHUNK = 1 << 16  # elements turned into Python floats at a time: memory stays small for any size


def _erf_by_math(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """erf by math.erf on each element (the path without SciPy), in chunks, computed in double."""
    flat = x.reshape(-1)
    out = np.empty(flat.shape, dtype=dtype)
    for start in range(0, flat.size, _ERF_CHUNK):
        part = flat[start:start + _ERF_CHUNK].tolist()
        out[start:start + len(part)] = np.fromiter(map(math.erf, part), np.float64, len(part))
    return out.reshape(x.shape)


# ============================================================================ graph capture

# True while mg.compile captures a replay as a CUDA graph (minigrad/jit/cuda_graph.py): nothing
# may read a device value then, so ops skip their checks of values (an index's range); the
# replay runs each op's `check` before every launch instead.
capturing = False


# ============================================================================ default dtype

_default_dtype = np.dtype(np.float32)


def set_default_dtype(dtype: DTypeLike) -> None:
    """Set the dtype that Python numbers, lists and new layers get (float32 or float64)."""
    global _default_dtype
    dtype = np.dtype(dtype)
    if dtype not in (np.float16, np.float32, np.float64):
        raise TypeError(f"default dtype must be a floating type (float16/32/64), got {dtype}")
    _default_dtype = dtype


def get_default_dtype() -> np.dtype:
    """The dtype Python numbers, lists and new layers get."""
    return _default_dtype


# ============================================================================ random numbers

_rng = np.random.default_rng()


def manual_seed(seed: int) -> None:
    """Seed minigrad's generator: every random value it makes, for any device, is drawn on it."""
    global _rng
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"manual_seed expects a non-negative integer, got {seed!r}")
    _rng = np.random.default_rng(int(seed))


def rng() -> np.random.Generator:
    """The global NumPy Generator (initialisation and dropout masks for every device, shuffling)."""
    if tracer.active is not None and not tracer.active.depth:
        tracer.active.cannot("the step draws from minigrad's generator directly (backend.rng()): "
                             "a replay would not draw again")
    return _rng


def get_rng_state() -> Mapping[str, Any]:
    """A picklable snapshot of the generator, for checkpoints."""
    return _rng.bit_generator.state


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore a snapshot taken by get_rng_state()."""
    _rng.bit_generator.state = state


# The generator draws float32 directly (half the memory and time of float64 draws cast down);
# float32 samples are therefore NOT the float64 samples rounded: a seed gives one stream per
# dtype. Other float dtypes (float16) are drawn in float32 and cast.
def _draw_dtype(dtype: DTypeLike) -> type[np.floating]:
    return np.float64 if np.dtype(dtype) == np.float64 else np.float32


@tracer.replayed(graph="before")  # drawn again at each replay of a compiled step, in order
def uniform(low: float, high: float, shape: int | Shape, dtype: DTypeLike, device: Device = "cpu") -> Array:
    """Uniform samples in [low, high) (float32 rounding may reach high) drawn on the CPU
    generator (so a seed gives the same values on every device), in float32 for float32 (see
    above), then moved to `device`."""
    a = _rng.random(shape, dtype=_draw_dtype(dtype))
    a *= a.dtype.type(high - low)  # in place: the peak is the result's size
    a += a.dtype.type(low)
    return to_device(a.astype(dtype, copy=False), device)


@tracer.replayed(graph="before")  # drawn again at each replay of a compiled step, in order
def normal(mean: float, std: float, shape: int | Shape, dtype: DTypeLike, device: Device = "cpu") -> Array:
    """Normal samples drawn on the CPU generator, in float32 for float32 (see above), then
    moved to `device`."""
    a = _rng.standard_normal(shape, dtype=_draw_dtype(dtype))
    a *= a.dtype.type(std)  # in place: the peak is the result's size
    a += a.dtype.type(mean)
    return to_device(a.astype(dtype, copy=False), device)


@tracer.replayed(graph="before")  # drawn again at each replay of a compiled step, in order
def keep_mask(shape: int | Shape, p: float, dtype: DTypeLike, device: Device = "cpu") -> Array:
    """Dropout's keep mask: u >= p for u uniform in [0, 1), drawn on the CPU generator (in
    float32 for float32 data, see above), then moved to `device` as bools.

    One generator for every device: a seed gives the same mask on the CPU and the GPU, and a
    checkpoint of get_rng_state() resumes a GPU run with the same masks. PyTorch draws on each
    device's own generator instead; here a GPU mask costs its draw on the CPU (about 2.5 ns an
    element) and a copy of a byte an element. float16 data is drawn in float32."""
    return to_device(_rng.random(shape, dtype=_draw_dtype(dtype)) >= p, device)
