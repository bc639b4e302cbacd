"""Checkpoints: everything a run needs to continue bit for bit, written atomically."""
import os
import pickle
import tempfile

FORMAT = "minigrad-checkpoint-1"


class CheckpointError(Exception):
    """A checkpoint that cannot be read or does not fit the run."""


def save(path, payload):
    """Write to a temporary file beside `path`, flush it to disk, then rename it into place:
    a crash or a full disk leaves the previous checkpoint as it was."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".checkpoint-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            pickle.dump({"format": FORMAT, **payload}, f, protocol=pickle.HIGHEST_PROTOCOL)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load(path):
    """Read and check a checkpoint; CheckpointError says what is wrong with it."""
    if not os.path.exists(path):
        raise CheckpointError(f"no checkpoint at {path} to resume from")
    try:
        with open(path, "rb") as f:
            payload = pickle.load(f)
    except Exception as e:
        raise CheckpointError(f"checkpoint {path} is corrupt or not a minigrad checkpoint "
                              f"({type(e).__name__}: {e})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a {FORMAT} file")
    missing = [k for k in ("config", "step", "model", "optimizer", "rng") if k not in payload]
    if missing:
        raise CheckpointError(f"checkpoint {path} lacks {', '.join(missing)}")
    return payload
