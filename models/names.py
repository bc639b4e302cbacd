"""The bundled name lists, and the (context, next character) dataset built from them."""
import gzip
from pathlib import Path

import numpy as np

DATA = Path(__file__).parent / "data"
FILES = {"surnames": "surnames.txt.gz", "first-names": "first_names.txt.gz"}
ALPHABET = "." + "abcdefghijklmnopqrstuvwxyz"  # '.' (index 0) marks the start and the end
STOI = {c: i for i, c in enumerate(ALPHABET)}


def load_names(which="surnames"):
    """The bundled list: 'surnames' (88,799) or 'first-names' (5,163), lower-cased."""
    if which not in FILES:
        raise ValueError(f"unknown name list {which!r}; choose from {', '.join(FILES)}")
    with gzip.open(DATA / FILES[which], "rt") as f:
        return [line.strip() for line in f if line.strip()]


def build_dataset(words, block_size):
    """X: (n, block_size) indices of the previous characters; Y: (n,) the next character."""
    X, Y = [], []
    for w in words:
        context = [0] * block_size
        for ch in w + ".":
            ix = STOI[ch]
            X.append(context)
            Y.append(ix)
            context = context[1:] + [ix]
    return np.array(X, dtype=np.int64), np.array(Y, dtype=np.int64)


def split(words, seed=42, fractions=(0.8, 0.1)):
    """Shuffle by seed and cut into train / validation / test word lists."""
    words = list(words)
    np.random.default_rng(seed).shuffle(words)
    n1 = int(fractions[0] * len(words))
    n2 = int((fractions[0] + fractions[1]) * len(words))
    return words[:n1], words[n1:n2], words[n2:]
