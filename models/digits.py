"""The bundled 8x8 handwritten digits (UCI optical digits, as scikit-learn ships them)."""
from pathlib import Path

import numpy as np

DATA = Path(__file__).parent / "data" / "digits.npz"


def load_digits(seed=0, fractions=(0.7, 0.15)):
    """(X_train, y_train), (X_val, y_val), (X_test, y_test): pixels scaled to [0, 1] as float32
    vectors of 64, labels int64; a fixed shuffle by `seed`, stratified by class."""
    with np.load(DATA) as f:
        X = f["images"].reshape(-1, 64).astype(np.float32) / 16.0
        y = f["labels"].astype(np.int64)
    rng = np.random.default_rng(seed)
    parts = [[], [], []]
    for c in range(10):
        idx = rng.permutation(np.flatnonzero(y == c))
        # int(): on NumPy 1.x, round() of a NumPy float (fractions may be) is a NumPy float
        n1 = int(round(fractions[0] * len(idx)))  # noqa: RUF046 (see above)
        n2 = n1 + int(round(fractions[1] * len(idx)))  # noqa: RUF046 (see above)
        for part, chunk in zip(parts, (idx[:n1], idx[n1:n2], idx[n2:])):
            part.append(chunk)
    out = []
    for part in parts:
        idx = rng.permutation(np.concatenate(part))
        out.append((X[idx], y[idx]))
    return tuple(out)
