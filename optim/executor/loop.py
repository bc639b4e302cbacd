"""The compiled loop (the `fast` extra): a traced rule inside one loop over the elements,
compiled by Numba with `nogil` (threads run chunks at once) and `error_model="numpy"` (x / 0 is
inf, as in NumPy, and the loop vectorizes). One pass over memory: each element of θ, g and the
state is read once and each updated one written once. The same operations in the same order and
precision as the rule on NumPy arrays (optim/executor/trace.py), so the results agree bit for bit.
"""
import hashlib
import importlib.util
import os
import sys
import tempfile
import warnings

import numpy as np

from .trace import traced

LOOP_CHUNK = 1 << 20      # least elements per compiled-loop chunk (only to share work among threads)
LOOP_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))

_jit = {"enabled": os.environ.get("MINIGRAD_JIT", "1") != "0"}
_compiled = {}            # (rule, present, flags, dtype) -> (compiled loop, scalar names), or None


def jit_available():
    """True when rules compile into loops: Numba imports and MINIGRAD_JIT is not 0."""
    return jit_unavailable_reason() is None


def jit_unavailable_reason():
    """Why rules run as NumPy chunks instead of compiled loops (None when they compile)."""
    if not _jit["enabled"]:
        return "MINIGRAD_JIT=0"
    if "numba" not in _jit:
        try:
            import numba
            _jit["numba"], _jit["why_not"] = numba, None
        except Exception as e:  # noqa: BLE001 (not installed, or built for another NumPy)
            _jit["numba"], _jit["why_not"] = None, (
                f"Numba is not usable ({type(e).__name__}: {e}); install the fast extra: "
                "pip install 'minigrad[fast]'")
    return _jit["why_not"]


def set_jit(enabled):
    """Compile rules into loops (True, when Numba imports) or run them as NumPy chunks (False)."""
    _jit["enabled"] = bool(enabled)


def jit_enabled():
    """Whether loops are switched on (set_jit, MINIGRAD_JIT), whether or not Numba imports."""
    return _jit["enabled"]


def compiled_loop(rule, arrays, h):
    """(loop, names of its scalar arguments) for these arrays' dtype, or None (no Numba, or
    compiling failed).

    Compiled, and run once on empty arrays, before any element is written: a rule that fails
    to compile leaves the step to the NumPy chunks instead of failing halfway."""
    if jit_unavailable_reason() is not None:
        return None
    dtype = arrays[0].dtype
    key = (rule, tuple(a is not None for a in arrays), h.flags(), dtype)
    if key not in _compiled:
        _compiled[key] = None
        t = traced(rule, arrays, h)
        source, empty = loop_source(t, dtype), np.empty(0, dtype)
        args = [empty] * sum(a is not None for a in t.arrays) + [dtype.type(0)] * len(t.scalars)
        for cached in (True, False):  # a cache that cannot be written or read: compile anew
            try:
                loop = _compile(source, cached)
                loop(*args)
                _compiled[key] = (loop, t.scalars)
                break
            except Exception as e:  # noqa: BLE001 (whatever fails, the NumPy program runs it)
                error = e
        else:
            warnings.warn(f"optim: compiling {rule.__module__}.{rule.__name__} for {dtype} failed "
                          f"({type(error).__name__}: {error}); running it as NumPy chunks",
                          RuntimeWarning, stacklevel=2)
    return _compiled[key]


def chunk_job(loop, views, numbers):
    """One chunk: the compiled loop over these views of the arrays, with the step's numbers."""
    loop(*views, *numbers)


def loop_source(t, dtype):
    """A Python module with one function: the traced rule inside a loop over the elements,
    its values named and its lines labelled as the rule's (`optim.show(..., form="numba")`)."""
    arrays = {k: f"{name}_array" for k, name in enumerate(t.arrays) if name}
    params = list(arrays.values()) + t.scalar_names
    lines = [f"# {line}" for line in t.header("one loop over the elements, compiled by Numba")]
    lines += ["import numpy as np", f"T = np.{np.dtype(dtype).name}", "",
              f"def loop({', '.join(params)}):", f"    for i in range({arrays[0]}.size):"]
    body = [("element i of each array", f"{t.arrays[k]} = {array}[i]") for k, array in arrays.items()]
    body += t.python_body()
    for k, out in enumerate(t.outputs):
        if out is not None:
            value = out.name if hasattr(out, "name") else f"T({float(out)!r})"
            body.append(("the new values, into their arrays", f"{arrays[k]}[i] = {value}"))
    lines += [f"        {s}" for s in t.labelled(body)]
    return "\n".join(lines) + "\n"


def _compile(source, cached):
    """njit the module's loop; cached on disk (Numba's cache) when a cache directory is writable."""
    numba = _jit["numba"]
    options = dict(nogil=True, error_model="numpy")
    path = _cache_file(source) if cached else None
    if path is not None:
        name = os.path.basename(path)[:-3]
        module = sys.modules.get(name)
        if module is None:
            spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            sys.modules[name] = module  # Numba's cache finds the function through its module
        return numba.njit(module.loop, cache=True, **options)
    namespace = {}
    exec(compile(source, "<optim loop>", "exec"), namespace)
    return numba.njit(namespace["loop"], **options)


def _cache_file(source):
    """The loop's source written to MINIGRAD_CACHE_DIR (default ~/.cache/minigrad), named by its
    hash so that Numba can cache the compiled code beside it; None if nothing is writable."""
    directory = os.environ.get("MINIGRAD_CACHE_DIR") or os.path.join(
        os.path.expanduser("~"), ".cache", "minigrad", "loops")
    path = os.path.join(directory, f"loop_{hashlib.sha1(source.encode()).hexdigest()[:16]}.py")
    try:
        if not os.path.exists(path):
            os.makedirs(directory, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(source)
            os.replace(tmp, path)
        return path
    except OSError:
        return None
