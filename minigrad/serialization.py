"""mg.save / mg.load: state dicts and nested data in a file whose loading can only produce data.

Why not pickle: unpickling calls whatever the file names (a crafted file runs `os.system`).
Here the file is a safetensors file: the arrays are safetensors tensors, and everything else
(the nesting, numbers, strings) is JSON in its metadata. Loading parses JSON and copies bytes
into arrays of a fixed list of dtypes: nothing named by the file is imported or called.

The metadata has two entries:
    "minigrad":        {"format": "minigrad-1", "tree": <node>}   (JSON)
    "minigrad.sha256": SHA-256 of the whole file, read with these 64 hex digits as zeros
so a flipped byte anywhere (header, arrays, the digest itself) fails the load.

A node is JSON: null, true/false, a string, a finite number, or a list (a Python list); or
an object with one key: {"tuple": [...]}, {"dict": [[key, value], ...]} (keys str or int, so
an optimizer's integer indices come back as ints), {"counter": [[key, count], ...]}
(collections.Counter, which MultiStepLR keeps), {"array": name} (a tensor of the file),
{"scalar": name} (a NumPy scalar, kept as a 0-d tensor: np.float32(1.5) loads as np.float32(1.5)),
{"float": "nan" | "inf" | "-inf"} and {"int": "<digits>"} for |int| >= 2**53 (JSON readers
other than Python's lose those digits; RNG states hold 128-bit ints).

Tensor names are the dotted paths of the arrays ("0.weight", "state.0.exp_avg"), so a saved
module state_dict is a plain safetensors file that PyTorch's `safetensors.torch.load_file`
reads into `load_state_dict`. A safetensors file without minigrad's metadata (saved by PyTorch,
say) loads as a flat {name: array} dict.
"""
from __future__ import annotations

import collections
import hashlib
import json
import math
import os
import stat
import struct
import tempfile
from typing import Any, Union

import numpy as np

from . import backend
from .backend import Device

Path = Union[str, os.PathLike]  # in the hints: a file name

FORMAT = "minigrad-1"
MAX_DEPTH = 100  # nesting deeper than this is refused (a cycle, or a hostile file)
MAX_HEADER = 100_000_000  # safetensors' own limit on the JSON header
CHUNK = 1 << 20  # bytes read (and hashed) at a time
_DIGEST_KEY = "minigrad.sha256"
_ZERO_DIGEST = "0" * 64
_DTYPES = {np.dtype(t) for t in (np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8,
                                 np.uint16, np.uint32, np.uint64, np.float16, np.float32, np.float64)}
_SAFETENSORS_DTYPES = {"BOOL", "I8", "I16", "I32", "I64", "U8", "U16", "U32", "U64", "F16", "F32", "F64"}
_BIG_INT = 2 ** 53


class CheckpointError(ValueError):
    """A file that is not a readable minigrad save file (corrupt, truncated, crafted, pickled)."""


# ============================================================================ saving

def save(obj: Any, path: Path) -> None:
    """Save obj (a state_dict, or nested dicts/lists/tuples of arrays, numbers, strings, bools,
    None) to path, atomically: a temporary file beside it, fsynced, renamed into place.

    CuPy arrays are copied to the host. Dict subclasses other than Counter load as dict.
    Raises TypeError/ValueError naming the offending entry (and writes nothing) for anything else.
    """
    write_atomic(path, to_bytes(obj))


def to_bytes(obj: Any) -> bytes:
    """The bytes mg.save writes for obj."""
    arrays = {}
    tree = _encode(obj, [], arrays, 0)
    from safetensors.numpy import save as st_save
    meta = {"minigrad": json.dumps({"format": FORMAT, "tree": tree}, allow_nan=False, separators=(",", ":")),
            _DIGEST_KEY: _ZERO_DIGEST}
    data = bytearray(st_save(arrays, metadata=meta))
    start = _digest_position(data, _ZERO_DIGEST)
    data[start:start + 64] = _digest(data, start).encode()
    return bytes(data)


def _where(path):
    return "obj" + "".join(f"[{p!r}]" for p in path)


def _encode(x, path, arrays, depth):
    if depth > MAX_DEPTH:
        raise ValueError(f"mg.save: {_where(path)} is nested more than {MAX_DEPTH} levels deep "
                         "(a structure that contains itself?)")
    if x is None or type(x) is bool or type(x) is str:
        return x
    if backend.is_array(x) or isinstance(x, np.generic):
        if isinstance(x, np.str_):
            return str(x)
        a = backend.to_numpy(x) if backend.is_array(x) else np.asarray(x)
        a = a if a.flags.c_contiguous else a.copy(order="C")  # (ascontiguousarray makes 0-d 1-d)
        if a.dtype.newbyteorder("=") not in _DTYPES:
            raise ValueError(f"mg.save: {_where(path)} has dtype {a.dtype}; safetensors stores "
                             f"bool, int8-64, uint8-64, float16/32/64")
        name = _name(path, arrays)
        arrays[name] = a.astype(a.dtype.newbyteorder("<"), copy=False)
        return {"scalar" if isinstance(x, np.generic) else "array": name}
    if isinstance(x, int) and not isinstance(x, bool):
        return int(x) if abs(x) < _BIG_INT else {"int": str(int(x))}
    if isinstance(x, float):
        return float(x) if math.isfinite(x) else {"float": str(float(x))}
    if isinstance(x, list):
        return [_encode(v, path + [i], arrays, depth + 1) for i, v in enumerate(x)]
    if isinstance(x, tuple):
        return {"tuple": [_encode(v, path + [i], arrays, depth + 1) for i, v in enumerate(x)]}
    if isinstance(x, dict):
        pairs = []
        for k, v in x.items():
            if isinstance(k, (int, np.integer)) and not isinstance(k, (bool, np.bool_)):
                k = int(k)
            elif type(k) is not str:
                raise TypeError(f"mg.save: {_where(path)} has a key {k!r} of type {type(k).__name__}; "
                                "dict keys must be str or int")
            pairs.append([_encode(k, path, {}, depth + 1), _encode(v, path + [k], arrays, depth + 1)])
        return {"counter" if isinstance(x, collections.Counter) else "dict": pairs}
    raise TypeError(f"mg.save: {_where(path)} is a {type(x).__name__}; mg.save stores dicts, lists, "
                    "tuples, arrays, NumPy scalars, numbers, strings, bools and None"
                    + (" (save tensor.data)" if hasattr(x, "data") and hasattr(x, "grad") else ""))


def _name(path, arrays):
    """The tensor's dotted path, made unique ('a.b' from {'a.b'} and from {'a': {'b'}})."""
    base = ".".join(str(p) for p in path) or "tensor"
    name, n = base, 1
    while name in arrays or name == "__metadata__":
        name, n = f"{base}#{n}", n + 1
    return name


def write_atomic(path: Path, data: bytes, prefix: str | None = None) -> None:
    """Write data to a temporary file beside path, fsync it, rename it over path, fsync the
    directory: a crash leaves either the old file or the new one, never a mix. The temporary
    file's name carries our pid, so a later run can tell a dead writer's leftovers."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    prefix = prefix or f".{os.path.basename(path)}-"
    fd, tmp = tempfile.mkstemp(prefix=f"{prefix}{os.getpid()}-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    if os.name == "posix":  # make the rename itself durable
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


# ============================================================================ loading

def load(path: Path, map_location: Device = None) -> Any:
    """Load what mg.save saved. Arrays load onto the CPU, or onto map_location ('cuda', 'cuda:N').

    Raises CheckpointError (a ValueError) for a file that is not one: corrupt, truncated,
    tampered with, a pickle, or not a regular file (a FIFO, a device, a directory). Loading
    never imports or calls anything named by the file.

    The file is read in the order that keeps a hostile one cheap: its kind (a FIFO is never
    waited on), then the 8-byte length and the JSON header (at most MAX_HEADER bytes), which
    must describe exactly the file's size; then, for a minigrad file, the checksum, computed
    in chunks of CHUNK bytes; only then is the data read into memory.
    """
    device = backend.parse_device(map_location)
    name = os.fspath(path)
    with _open_regular(name) as f:
        size = os.fstat(f.fileno()).st_size
        prefix = _read_up_to(f, min(size, 9))
        if len(prefix) >= 8:
            (n,) = struct.unpack("<Q", prefix[:8])
            if 2 <= n <= MAX_HEADER and 8 + n <= size:  # a plausible header: read all of it
                prefix += _read_up_to(f, 8 + n - len(prefix))
        _, meta = _read_header(prefix, name, size)
        checked = _expected_digest(meta, prefix, name)
        if checked is not None:  # a minigrad file: the checksum before any data is kept
            digest, start = checked
            h = _hasher(prefix, start)
            for chunk in iter(lambda: f.read(CHUNK), b""):
                h.update(chunk)
            if h.hexdigest() != digest:
                raise CheckpointError(f"{name}: checksum mismatch: the file was changed or damaged "
                                      "after it was written")
        f.seek(0)
        data = _read_up_to(f, size)
    if len(data) != size:
        raise CheckpointError(f"{name}: the file shrank from {size} to {len(data)} bytes while "
                              "it was read")
    return from_bytes(data, device, name=name)


def _open_regular(name):
    """The file `name`, opened for reading, or CheckpointError if it is not a regular file.

    Checked before opening (a device is never opened) and again on the open descriptor (the
    path may have been swapped in between); O_NONBLOCK makes opening a FIFO return at once
    instead of waiting for a writer."""
    _check_regular(os.stat(name), name)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) \
        | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(name, flags)
    try:
        _check_regular(os.fstat(fd), name)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"))


def _check_regular(st, name):
    if not stat.S_ISREG(st.st_mode):
        kind = next((k for test, k in _KINDS if test(st.st_mode)), "not a regular file")
        raise CheckpointError(f"{name} is {kind}; mg.load reads only regular files")


def _read_up_to(f, n):
    """Up to n bytes from f (fewer only at the end of the file)."""
    parts, left = [], n
    while left > 0:
        chunk = f.read(min(left, CHUNK))
        if not chunk:
            break
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def from_bytes(data: bytes, map_location: Device = None, name: str = "<bytes>") -> Any:
    """The object that to_bytes(obj) encoded; CheckpointError for anything else."""
    device = backend.parse_device(map_location)
    _, meta = _read_header(data, name)
    checked = _expected_digest(meta, data, name)
    if checked is not None:
        digest, start = checked
        if _digest(data, start) != digest:
            raise CheckpointError(f"{name}: checksum mismatch: the file was changed or damaged "
                                  "after it was written")
    arrays = _read_arrays(data, name)
    if checked is None:
        return {k: backend.to_device(v, device) for k, v in sorted(arrays.items())}  # foreign file
    try:
        info = json.loads(meta["minigrad"], parse_constant=_no_constant)
    except (ValueError, RecursionError) as e:
        raise CheckpointError(f"{name}: unreadable metadata ({type(e).__name__})") from None
    if not isinstance(info, dict) or info.get("format") != FORMAT or set(info) != {"format", "tree"}:
        raise CheckpointError(f"{name}: not a {FORMAT} file")
    used = set()
    obj = _decode(info["tree"], arrays, used, device, name, 0)
    if used != set(arrays):
        raise CheckpointError(f"{name}: tensors {sorted(set(arrays) - used)[:5]} are not part of the saved object")
    return obj


def _expected_digest(meta, prefix, name):
    """(digest, where it sits) for a minigrad file, None for a foreign one (no minigrad
    metadata); CheckpointError for damaged minigrad metadata. prefix: at least the header."""
    if meta is None or not any(k.startswith("minigrad") for k in meta):
        return None
    if set(meta) - {"minigrad", _DIGEST_KEY} or "minigrad" not in meta or _DIGEST_KEY not in meta:
        raise CheckpointError(f"{name}: damaged minigrad metadata (keys {sorted(meta)})")
    digest = meta[_DIGEST_KEY]
    start = _digest_position(prefix, digest) if len(digest) == 64 else None
    if start is None or not all(c in "0123456789abcdef" for c in digest):
        raise CheckpointError(f"{name}: checksum mismatch: the file was changed or damaged after it was written")
    return digest, start


def _no_constant(text):
    raise ValueError(f"non-standard JSON constant {text}")


def _read_header(data, name, size=None):
    """Check the framing and the header ourselves, before the safetensors library sees the bytes.

    data: the file's bytes, or (with size, the file's length) its first bytes: the 8-byte
    length and, when that length is plausible, the header it gives."""
    size = len(data) if size is None else size
    # safetensors framing first: a header of 640 bytes begins b"\x80\x02", as a pickle does
    framed = size > 8 and data[8:9] == b"{" and 8 + struct.unpack("<Q", data[:8])[0] <= size
    pickled = data[:1] == b"\x80" and data[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05")
    if not framed and (pickled or data[:4] == b"PK\x03\x04"):
        raise CheckpointError(f"{name} is a pickle (an old minigrad checkpoint, or a torch.save file); "
                              "the format changed to safetensors and pickles are never loaded, "
                              "since loading one can run code")
    if size < 8:
        raise CheckpointError(f"{name}: {size} bytes is too short for a safetensors file")
    (n,) = struct.unpack("<Q", data[:8])
    if n < 2 or n > MAX_HEADER or 8 + n > size:
        raise CheckpointError(f"{name}: not a safetensors file, or truncated (header of {n} bytes, "
                              f"file of {size})")
    try:
        header = json.loads(data[8:8 + n].decode("utf-8"), parse_constant=_no_constant)
    except (ValueError, RecursionError) as e:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise CheckpointError(f"{name}: corrupt safetensors header ({type(e).__name__})") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{name}: corrupt safetensors header (not a JSON object)")
    meta = header.get("__metadata__")
    if meta is not None and not (isinstance(meta, dict) and all(isinstance(v, str) for v in meta.values())):
        raise CheckpointError(f"{name}: corrupt safetensors metadata")
    end = 0
    for key, t in sorted(((k, v) for k, v in header.items() if k != "__metadata__"),
                         key=lambda kv: _offsets(kv[1])):
        ok = (isinstance(t, dict) and set(t) == {"dtype", "shape", "data_offsets"}
              and t["dtype"] in _SAFETENSORS_DTYPES and isinstance(t["shape"], list)
              and all(type(d) is int and d >= 0 for d in t["shape"]))
        if not ok or _offsets(t)[0] != end:
            raise CheckpointError(f"{name}: corrupt safetensors header at tensor {key!r}")
        itemsize = 1 if t["dtype"] in ("BOOL", "I8", "U8") else int(t["dtype"][1:]) // 8
        if _offsets(t)[1] - end != math.prod(t["shape"]) * itemsize:
            raise CheckpointError(f"{name}: tensor {key!r} has {_offsets(t)[1] - end} bytes for shape {t['shape']}")
        end = _offsets(t)[1]
    if 8 + n + end != size:
        raise CheckpointError(f"{name}: {size - 8 - n} bytes of tensor data, the header describes "
                              f"{end} (truncated or padded)")
    return header, meta


def _offsets(t):
    o = t.get("data_offsets") if isinstance(t, dict) else None
    if isinstance(o, list) and len(o) == 2 and all(type(v) is int for v in o) and 0 <= o[0] <= o[1]:
        return o[0], o[1]
    return -1, -1  # sorts first, then fails the check


def _read_arrays(data, name):
    from safetensors.numpy import load as st_load
    try:
        arrays = st_load(bytes(data))
    except Exception as e:  # noqa: BLE001 (the library's own checks, after ours: re-raised as ours)
        raise CheckpointError(f"{name}: safetensors refused the file ({type(e).__name__}: {e})") from None
    return {k: np.array(v) for k, v in arrays.items()}  # writable copies, not views of the file


def _decode(node, arrays, used, device, name, depth):
    if depth > MAX_DEPTH:
        raise CheckpointError(f"{name}: nested more than {MAX_DEPTH} levels deep")
    if node is None or type(node) in (bool, str, int):
        return node
    if type(node) is float:
        if not math.isfinite(node):  # 1e999 parses as inf; non-finite floats have their own tag
            raise CheckpointError(f"{name}: a number overflows in the metadata")
        return node
    if type(node) is list:
        return [_decode(v, arrays, used, device, name, depth + 1) for v in node]
    if type(node) is not dict or len(node) != 1:
        raise CheckpointError(f"{name}: unknown node {str(node)[:60]!r} in the metadata")
    (tag, value), = node.items()
    if tag in ("array", "scalar"):
        if type(value) is not str or value not in arrays or value in used:
            raise CheckpointError(f"{name}: the metadata names tensor {str(value)[:60]!r}, which is "
                                  "missing or named twice")
        used.add(value)
        a = arrays[value]
        if tag == "scalar":
            if a.shape != ():
                raise CheckpointError(f"{name}: scalar {value!r} has shape {a.shape}")
            return a[()]
        return backend.to_device(a, device)
    if tag == "tuple" and type(value) is list:
        return tuple(_decode(v, arrays, used, device, name, depth + 1) for v in value)
    if tag in ("dict", "counter") and type(value) is list:
        out = {} if tag == "dict" else collections.Counter()
        for pair in value:
            if type(pair) is not list or len(pair) != 2:
                raise CheckpointError(f"{name}: a dict entry is not a [key, value] pair")
            k = _decode(pair[0], arrays, used, device, name, depth + 1)
            if type(k) not in (str, int) or k in out:
                raise CheckpointError(f"{name}: bad or repeated dict key {str(k)[:60]!r}")
            out[k] = _decode(pair[1], arrays, used, device, name, depth + 1)
        return out
    if tag == "float" and value in ("nan", "inf", "-inf"):
        return float(value)
    if tag == "int" and type(value) is str and value.isascii() and len(value) < 1000 \
            and value[value.startswith("-"):].isdigit():
        return int(value)
    raise CheckpointError(f"{name}: unknown node {str(node)[:60]!r} in the metadata")


def _digest_position(data, digest):
    """Where the digest's 64 characters sit in the header; None unless exactly once."""
    n = struct.unpack("<Q", bytes(data[:8]))[0]
    pattern = f'"{_DIGEST_KEY}":"{digest}"'.encode()
    at = bytes(data[8:8 + n]).find(pattern)
    if at < 0 or bytes(data[8:8 + n]).find(pattern, at + 1) >= 0:
        return None
    return 8 + at + len(pattern) - 65


def _hasher(prefix, start):
    """SHA-256 fed with prefix (at least the header), its digest read as zeros."""
    h = hashlib.sha256()
    h.update(memoryview(prefix)[:start])
    h.update(_ZERO_DIGEST.encode())
    h.update(memoryview(prefix)[start + 64:])
    return h


def _digest(data, start):
    return _hasher(data, start).hexdigest()
