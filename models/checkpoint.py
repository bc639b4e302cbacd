"""Checkpoints of `minigrad train`: everything a run needs to continue bit for bit, in a file
that can only hold data (mg.save: safetensors + JSON), written atomically.

The file is `checkpoint.safetensors` (it was `checkpoint.pkl`, a pickle, until pickles were
found to run code on --resume): the new name says the format, and an old pickle lying in a run
directory is recognised and refused by name, never unpickled.
"""
import contextlib
import glob
import os
import socket
import stat

import numpy as np

from minigrad import serialization
from minigrad.serialization import (
    CheckpointError,  # one class: the CLI catches it (a ValueError)
)

FORMAT = "minigrad-checkpoint-2"
NAME = "checkpoint.safetensors"
LEGACY = "checkpoint.pkl"
LOCK = ".minigrad.lock"  # in --out; holds the PID of the run that has the folder
KEYS = ("format", "task", "data", "config", "step", "model", "optimizer", "scheduler", "rng", "history")
__all__ = [
    "CheckpointError",
    "OutInUse",
    "SaveError",
    "check_files",
    "check_like",
    "check_writable",
    "hold_out",
    "load",
    "lock_out",
    "prepare_out",
    "save",
    "saving",
]


class SaveError(OSError):
    """Writing a file of a run failed (a full disk, ...): the message names the file."""

    def __str__(self):
        return self.strerror


class OutInUse(ValueError):
    """Another process holds the output folder's lock."""


@contextlib.contextmanager
def saving(path, note=""):
    """Turn an OSError raised in the block into a SaveError that names path (and adds note)."""
    try:
        yield
    except SaveError:
        raise
    except OSError as e:
        raise SaveError(e.errno, f"saving {path} failed: {e.strerror or e}{note}") from None


def save(path, payload):
    """Write payload (the KEYS but format) through a temporary `.checkpoint-<pid>-*.tmp` beside
    path, fsynced and renamed into place: a crash, or a failed write (a full disk: SaveError,
    naming path), leaves the previous checkpoint as it was."""
    data = serialization.to_bytes({"format": FORMAT, **payload})
    with saving(path, "; the previous checkpoint, if any, is as it was"):
        serialization.write_atomic(path, data, prefix=".checkpoint-")


def load(path):
    """Read a checkpoint and check its top level; CheckpointError says what is wrong with it."""
    legacy = os.path.join(os.path.dirname(path), LEGACY)
    if not os.path.exists(path) and os.path.exists(legacy):
        raise CheckpointError(f"{legacy} is a checkpoint in the old pickle format, which is never "
                              "loaded (a pickle can run code): the format changed to safetensors; "
                              "start the run again (without --resume)")
    if not os.path.isfile(path):
        raise CheckpointError(f"no checkpoint at {path} to resume from"
                              + (" (it is a directory)" if os.path.isdir(path) else ""))
    try:
        payload = serialization.load(path)
    except CheckpointError as e:
        raise CheckpointError(f"checkpoint {e}" if str(e).startswith(path) else str(e)) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a {FORMAT} file")
    if set(payload) != set(KEYS):
        raise CheckpointError(f"checkpoint {path} has entries {sorted(payload)}, expected {sorted(KEYS)}")
    return payload


def prepare_out(out):
    """Make `out` a writable directory before any training, and remove the temporary files that
    a killed writer left there (`.checkpoint-<pid>-*.tmp` whose process is gone)."""
    check_writable(out)
    for tmp in glob.glob(os.path.join(glob.escape(out), ".checkpoint-*.tmp")):
        pid = os.path.basename(tmp)[len(".checkpoint-"):].partition("-")[0]
        if not (pid.isdigit() and _alive(int(pid))):
            os.unlink(tmp)


def check_writable(out):
    """Create `out` if needed; ValueError now, before any training, if it is a file or read-only."""
    if not out:
        raise ValueError("--out is empty: name a directory (the current one is '.')")
    if os.path.exists(out) and not os.path.isdir(out):
        raise ValueError(f"--out {out} is a file, not a directory")
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as e:
        raise ValueError(f"--out {out} cannot be created ({e.strerror})") from None
    probe = os.path.join(out, f".write-test-{os.getpid()}")
    try:
        with open(probe, "wb"):
            pass
        os.unlink(probe)
    except OSError as e:
        raise ValueError(f"--out {out} is not writable ({e.strerror})") from None


def check_files(out, names):
    """ValueError now, before any training, if a file the run will write in `out` exists as
    something that cannot be replaced by a file (a directory, a FIFO, ...)."""
    for name in names:
        path = os.path.join(out, name)
        if os.path.lexists(path) and not os.path.isfile(path):
            kind = "a directory" if os.path.isdir(path) else "not a regular file"
            raise ValueError(f"{path} is {kind}: the run would fail to write it; move it away or "
                             "choose another --out")


@contextlib.contextmanager
def hold_out(out):
    """The output folder of a command, held for the block (lock_out) by this process, or under
    mpirun by rank 0 for every rank; created and checked writable (check_writable) first."""
    from minigrad import distributed as dist
    check_writable(out)
    with lock_out(out) if dist.get_rank() == 0 else contextlib.nullcontext():
        yield


_held = {}  # real path of a locked folder -> [file descriptor, depth]: re-entrant in a process


@contextlib.contextmanager
def lock_out(out):
    """Hold the output folder `out` for the block: an advisory lock (flock) on `out/.minigrad.lock`,
    which the kernel releases when the process ends however it ends (kill -9 included). Another
    process asking for it is refused at once (OutInUse, naming the holder's PID); the same
    process may nest. Creates `out` (check_writable). Where flock does not exist (Windows), a
    no-op. The lock file stays: removing it would let two runs lock two different files."""
    check_writable(out)
    try:
        import fcntl
    except ImportError:
        yield
        return
    key = os.path.realpath(out)
    if key in _held:
        _held[key][1] += 1
        try:
            yield
        finally:
            _held[key][1] -= 1
        return
    path = os.path.join(out, LOCK)
    try:  # never through a symbolic link: the PID is written into the file
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
    except OSError as e:
        raise ValueError(f"--out {out}: cannot open its lock file {path} ({e.strerror})") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError(f"--out {out}: its lock file {path} is not a regular file; remove it")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").split()
            who = (f"PID {holder[0]}" + (f" on {holder[1]}" if len(holder) > 1 and holder[1].isprintable() else "")
                   if holder and holder[0].isdigit() else "a process that has not yet written its PID")
            raise OutInUse(f"--out {out} is in use by another run ({who}): wait for it to end, "
                           "or choose another --out") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
        _held[key] = [fd, 1]
        try:
            yield
        finally:
            del _held[key]
    finally:
        os.close(fd)  # releases the lock


def _alive(pid):
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, but is another user's
        return True
    return True


def check_like(value, template, where):
    """Raise CheckpointError unless value has template's structure and types: the same dict keys,
    list/tuple lengths, numbers where numbers are (an int where an int is), arrays of the same
    shape and dtype. A checkpoint that passes cannot make the loop fail on a wrong type later."""
    if isinstance(template, bool) or template is None or isinstance(template, str):
        ok = type(value) is type(template)
    elif isinstance(template, (int, np.integer)):
        ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    elif isinstance(template, (float, np.floating)):
        ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    elif isinstance(template, np.ndarray):
        ok = isinstance(value, np.ndarray) and value.shape == template.shape and value.dtype == template.dtype
        if not ok:
            raise CheckpointError(f"checkpoint {where}: expected a {template.dtype} array of shape "
                                  f"{template.shape}, got {_describe(value)}")
    elif isinstance(template, dict):
        if type(value) is not type(template) or set(value) != set(template):
            raise CheckpointError(f"checkpoint {where}: expected entries {sorted(map(str, template))}, "
                                  f"got {sorted(map(str, value)) if isinstance(value, dict) else _describe(value)}")
        for k in template:
            check_like(value[k], template[k], f"{where}[{k!r}]")
        return
    elif isinstance(template, (list, tuple)):
        if type(value) is not type(template) or len(value) != len(template):
            raise CheckpointError(f"checkpoint {where}: expected a {type(template).__name__} of "
                                  f"{len(template)}, got {_describe(value)}")
        for i, (v, t) in enumerate(zip(value, template)):
            check_like(v, t, f"{where}[{i}]")
        return
    else:
        raise TypeError(f"check_like: no rule for {type(template).__name__} at {where}")
    if not ok:
        raise CheckpointError(f"checkpoint {where}: expected {type(template).__name__}, got {_describe(value)}")


def _describe(value):
    if isinstance(value, np.ndarray):
        return f"a {value.dtype} array of shape {value.shape}"
    text = repr(value)
    return f"{type(value).__name__} {text[:40] + '...' if len(text) > 40 else text}"
