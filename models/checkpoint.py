"""Checkpoints of `minigrad train`: everything a run needs to continue bit for bit, in a file
that can only hold data (mg.save: safetensors + JSON), written atomically.

The file is `checkpoint.safetensors` (it was `checkpoint.pkl`, a pickle, until pickles were
found to run code on --resume): the new name says the format, and an old pickle lying in a run
directory is recognised and refused by name, never unpickled.
"""
import glob
import os

import numpy as np

from minigrad import serialization
from minigrad.serialization import CheckpointError  # one class: the CLI catches it (a ValueError)

FORMAT = "minigrad-checkpoint-2"
NAME = "checkpoint.safetensors"
LEGACY = "checkpoint.pkl"
KEYS = ("format", "task", "data", "config", "step", "model", "optimizer", "scheduler", "rng", "history")
__all__ = ["CheckpointError", "save", "load", "prepare_out", "check_writable", "check_like"]


def save(path, payload):
    """Write payload (the KEYS but format) through a temporary `.checkpoint-<pid>-*.tmp` beside
    path, fsynced and renamed into place: a crash leaves the previous checkpoint as it was."""
    serialization.write_atomic(path, serialization.to_bytes({"format": FORMAT, **payload}),
                               prefix=".checkpoint-")


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
